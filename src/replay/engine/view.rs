//! A live view ([`crate::replay::Follow`]): the replay's figures with the
//! buffered ops counted on top, the replay itself unchanged.

use super::ops::{sizes, OpKind};
use super::Replayer;
use crate::replay::live::FastMap;
use crate::replay::sites::Stacks;
use crate::replay::{EndRecord, SiteStats, Totals};

/// What one live allocation is, for [`Replayer::view`]: its size and its
/// site's stack id.
type Held = (u64, u32);

impl Replayer {
    /// The totals and the figures of every site as they stand once every
    /// event read so far is applied, without applying the events still
    /// buffered (those stamped at or after the last release): a live view
    /// of a recording still being written ([`crate::replay::Follow`]), whose last
    /// round may wait long for the Round record that releases it.
    ///
    /// The buffered events are counted on top of the replay's state in the
    /// order they will apply (they are one or two rounds' worth); the
    /// replay itself does not change. The figures are the replay's own once
    /// the buffered events are released, in a healthy file: the counting
    /// rules are those of [`Replayer::record`] (an address freed twice or
    /// taken while live is disorder the buffered part does not repair).
    /// `duration_ns` is the latest timestamp read, `threads` the threads
    /// seen; `peak_*` of the sites are 0, and their `max_live_*`,
    /// `temporary`, `total_lifetime_ns` and the sampling error bounds (`estimate`)
    /// count the applied events only.
    pub(crate) fn view(&self) -> (Totals, Vec<SiteStats>) {
        let mut t = self.totals.clone();
        t.duration_ns = self.end.map_or(self.max_ts, |e| e.end_ns);
        t.threads = self.thread_index.keys().filter(|&&id| id != 0).count() as u64;
        let mut sites: Vec<SiteStats> = self.sites.now().collect();
        let mut by_stack: FastMap<u32, usize> = sites.iter().enumerate().map(|(i, s)| (s.stack, i)).collect();
        // Allocations made by buffered events, and addresses of the live
        // set they freed.
        let mut made: FastMap<u64, Held> = FastMap::default();
        let mut freed: FastMap<u64, ()> = FastMap::default();
        let stack_of = |stack: u32| if stack != 0 && (stack as usize) <= self.stacks.nodes.len() { stack } else { 0 };
        let mut site = |stack: u32| -> usize {
            *by_stack.entry(stack).or_insert_with(|| {
                sites.push(SiteStats { stack, ..SiteStats::default() });
                sites.len() - 1
            })
        };
        // (site, +1 gained or -1 released, bytes, 1: an allocation or a
        // deallocation, 0: a reallocation's part).
        // (site, sign, bytes, whole: 1 an allocation or deallocation, 0 a
        // reallocation's part; a reallocation's gain: its old size, if known).
        let mut deltas: Vec<(usize, i8, u64, u8, Option<u64>)> = Vec::new();
        self.pending().iter().for_each(|op| {
            // Takes the allocation at `ptr` out of the live set (as seen).
            let mut take = |ptr: u64| -> Option<Held> {
                if let Some(h) = made.remove(&ptr) {
                    return Some(h);
                }
                if freed.contains_key(&ptr) {
                    return None;
                }
                let l = self.live.get(ptr)?;
                freed.insert(ptr, ());
                Some((l.size, self.sites.sites[l.site as usize].stats.stack))
            };
            // Counts the allocation `held` no longer live: a deallocation,
            // or the old size of a reallocation.
            let mut out = |t: &mut Totals, (size, stack): Held, deallocation: bool| {
                t.live_count -= 1;
                t.live_bytes = t.live_bytes.wrapping_sub(size);
                t.total_deallocated_bytes = t.total_deallocated_bytes.wrapping_add(size);
                deltas.push((site(stack), -1, size, u8::from(deallocation), None));
            };
            match op.kind {
                OpKind::Alloc => {
                    t.total_allocations += 1;
                    t.total_allocated_bytes = t.total_allocated_bytes.wrapping_add(op.b);
                    made.insert(op.a, (op.b, stack_of(op.stack)));
                    deltas.push((site(stack_of(op.stack)), 1, op.b, 1, None));
                    t.live_count += 1;
                    t.live_bytes = t.live_bytes.wrapping_add(op.b);
                }
                OpKind::Dealloc => match take(op.a) {
                    Some(h) => {
                        t.total_deallocations += 1;
                        out(&mut t, h, true);
                    }
                    None => {
                        t.prerecording_deallocations += 1;
                        t.prerecording_deallocated_bytes = t.prerecording_deallocated_bytes.wrapping_add(op.b);
                    }
                },
                OpKind::Realloc | OpKind::ReallocLarge | OpKind::MoveOut { .. } | OpKind::MoveIn { .. } => {
                    let large = matches!(op.kind, OpKind::ReallocLarge | OpKind::MoveOut { large: true } | OpKind::MoveIn { large: true });
                    let (old_size, new_size) = sizes(large, op.c);
                    let (old_ptr, new_ptr) = match op.kind {
                        OpKind::MoveOut { .. } => (Some(op.a), None),
                        OpKind::MoveIn { .. } => (None, Some(op.b)),
                        _ => (Some(op.a), Some(op.b)),
                    };
                    let mut taken_size = None;
                    if let Some(old_ptr) = old_ptr {
                        match take(old_ptr) {
                            Some(h) => {
                                taken_size = Some(h.0);
                                out(&mut t, h, false);
                            }
                            None => {
                                t.prerecording_reallocations += 1;
                                t.prerecording_deallocated_bytes = t.prerecording_deallocated_bytes.wrapping_add(old_size.unwrap_or(0));
                            }
                        }
                    }
                    if let Some(new_ptr) = new_ptr {
                        t.total_reallocations += 1;
                        t.total_allocated_bytes = t.total_allocated_bytes.wrapping_add(new_size);
                        t.live_count += 1;
                        t.live_bytes = t.live_bytes.wrapping_add(new_size);
                        made.insert(new_ptr, (new_size, stack_of(op.stack)));
                        deltas.push((site(stack_of(op.stack)), 1, new_size, 0, taken_size.or(old_size)));
                    }
                }
                OpKind::Track(_) => {}
            }
            if t.live_bytes > t.peak_live_bytes {
                t.peak_live_bytes = t.live_bytes;
                t.peak_at_ns = op.ts();
            }
        });
        // Weighted as replay weighs them (a sampling recording: bytes by
        // 1/p, counts in units). `now()` gives counts in events already, so
        // the buffered counts are summed in units apart and rounded once, as
        // `finish` rounds them, before they are added.
        // Per site: allocations, reallocations, deallocations, live count.
        // Sampling, as `Sites::figures`: every gain counts in allocations and
        // the reallocations estimate (`realloc_of`) comes off at the end.
        let interval = self.sites.interval();
        let mut units_of: Vec<[i128; 4]> = vec![[0; 4]; sites.len()];
        let mut realloc_of: Vec<f64> = vec![0.0; sites.len()];
        for (i, sign, size, whole, old_size) in deltas {
            let (bytes, units) = self.sites.weigh(size);
            let (s, u) = (&mut sites[i], &mut units_of[i]);
            let units = i128::from(units);
            if sign > 0 {
                u[3] += units;
                s.live_bytes_end = s.live_bytes_end.wrapping_add(bytes);
                s.allocated_bytes = s.allocated_bytes.wrapping_add(bytes);
                if interval == 0 || whole == 1 {
                    u[usize::from(whole == 0)] += units;
                } else {
                    u[0] += units;
                    realloc_of[i] += crate::replay::sites::reallocations_weight(old_size, size, interval);
                }
            } else {
                u[3] -= units;
                s.live_bytes_end = s.live_bytes_end.wrapping_sub(bytes);
                s.deallocated_bytes = s.deallocated_bytes.wrapping_add(bytes);
                if whole == 1 {
                    u[2] += units;
                }
            }
        }
        let events = |units: i128| -> i128 {
            let magnitude = i128::from(self.sites.count(u64::try_from(units.unsigned_abs()).unwrap_or(u64::MAX)));
            if units < 0 {
                -magnitude
            } else {
                magnitude
            }
        };
        let add = |c: &mut u64, units: i128| *c = u64::try_from((i128::from(*c) + events(units)).max(0)).unwrap_or(u64::MAX);
        for ((s, u), &realloc) in sites.iter_mut().zip(&units_of).zip(&realloc_of) {
            (s.peak_count, s.peak_bytes) = (0, 0);
            if realloc > 0.0 {
                // Sampling: the buffered gains less their reallocations estimate.
                let gains = u[0] as f64 / crate::replay::sites::COUNT_UNITS as f64;
                s.allocations = s.allocations.saturating_add((gains - realloc).max(0.0).round() as u64);
                s.reallocations = s.reallocations.saturating_add(realloc.round() as u64);
            } else {
                add(&mut s.allocations, u[0]);
            }
            add(&mut s.reallocations, u[1]);
            add(&mut s.deallocations, u[2]);
            add(&mut s.live_count_end, u[3]);
        }
        // A sampling recording: its calls' exact counts, as `finish` gives them.
        self.sampling.exact_figures(&mut t);
        (t, sites)
    }

    /// The sampling interval in bytes, when the recording samples.
    pub(crate) fn sampling_interval(&self) -> Option<u64> {
        self.sampling.record.map(|r| r.interval_bytes)
    }

    /// The `End` record, if read; damaged stretches so far; `Round` records read.
    pub(crate) fn progress(&self) -> (Option<EndRecord>, u64, u64) {
        (self.end, self.damage_count, self.rounds)
    }

    /// The stack tree and module map read so far.
    pub(crate) fn stacks(&self) -> &Stacks {
        &self.stacks
    }
}
