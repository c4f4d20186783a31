//! Replay by site: exact figures per call stack (estimates in a sampling
//! recording: each sample weighted by `1/p`, FORMAT.md "Sampling record").
//!
//! A *site* is one distinct call stack (FORMAT.md glossary), identified by
//! the stack id its allocations carry.
//!
//! A reallocation moves its allocation to the reallocation's site (as
//! heaptrack and memray count it): its old size counts as deallocated bytes
//! at the site that held the allocation, its new size as allocated bytes at
//! the reallocation's site. So, per site, `allocated_bytes −
//! deallocated_bytes = live_bytes_end`, and the sums over all sites equal
//! FORMAT.md's total allocated and deallocated bytes.

use serde::Serialize;

/// Exact figures of one site over the recording (in a sampling recording,
/// [`crate::replay::Replay::sampling`], estimates: each sample of `size`
/// bytes counts for `1/p` allocations and `size/p` bytes, and a lifetime
/// for `1/p` lifetimes). Bytes are bytes, times nanoseconds.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SiteStats {
    /// The site's stack id (its innermost node; 0: allocations with no stack).
    pub stack: u32,
    /// Allocations made here.
    pub allocations: u64,
    /// Bytes of those allocations plus the new sizes of the reallocations made here.
    pub allocated_bytes: u64,
    /// Reallocations made here.
    pub reallocations: u64,
    /// Deallocations of allocations made here.
    pub deallocations: u64,
    /// Bytes of those deallocations, plus the old sizes of allocations held
    /// here that a reallocation moved to its own site.
    pub deallocated_bytes: u64,
    /// Allocations made here still live at the end.
    pub live_count_end: u64,
    /// Their bytes.
    pub live_bytes_end: u64,
    /// Allocations made here live at the global peak (`peak_at_ns`).
    pub peak_count: u64,
    /// Their bytes.
    pub peak_bytes: u64,
    /// The most bytes this site ever held live at once.
    pub max_live_bytes: u64,
    /// When it first held `max_live_bytes`, ns since the epoch.
    pub max_live_at_ns: u64,
    /// Temporary allocations: deallocated before their thread's next
    /// allocation (heaptrack's rule).
    pub temporary: u64,
    /// Sum of the lifetimes of the deallocated ones, ns.
    pub total_lifetime_ns: u64,
}

use super::live::FastMap;
use crate::format::stacks::{Line, ModuleRecord, StackNode};

/// The most points of one site's timeline: its slots are four times as
/// wide as the global timeline's.
pub(crate) const SITE_SLOT_FACTOR_LOG2: u32 = 2;

/// Stack ids below this find their site by index, not by hashing (a
/// damaged file's larger ids, which replay does not trust, use a map).
const DIRECT_STACKS: usize = 1 << 24;

/// One point of a site's timeline: its figures at the end of a slot of
/// time (while replaying, `slot` is the slot's index; in a finished
/// [`Stacks`], the slot's end in ns since the epoch).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SitePoint {
    /// The end of the slot, ns since the epoch.
    pub slot: u64,
    /// Bytes live at the end of the slot.
    pub live_bytes: u64,
    /// Bytes allocated here so far (as [`SiteStats::allocated_bytes`]).
    pub allocated_bytes: u64,
    /// Allocations and reallocations made here so far.
    pub allocations: u64,
}

/// What a replay learns of call stacks: the stack tree, the module map,
/// and exact figures per site.
#[non_exhaustive]
#[derive(Debug, Clone, Default)]
pub struct Stacks {
    /// Whether the recording has call stacks (format version 3 with stacks on).
    pub recorded: bool,
    /// The stack tree: node id `i` is `nodes[i − 1]` (FORMAT.md, "Stack record").
    pub nodes: Vec<StackNode>,
    /// The loaded objects, as recorded.
    pub modules: Vec<ModuleRecord>,
    /// Every site, sorted by `peak_bytes`, then `allocated_bytes`, both
    /// descending, then by stack id.
    pub sites: Vec<SiteStats>,
    /// The timeline of each site, parallel to `sites`: points at the ends
    /// of slots four times as wide as the global timeline's, only where the
    /// site changed.
    pub site_timelines: Vec<Vec<SitePoint>>,
    /// Allocations and reallocations whose stack was not captured because
    /// their thread's stack table was full.
    pub table_full_allocations: u64,
    /// Allocations and reallocations whose stack id names no node of the
    /// file (a damaged file): replayed with an unknown stack.
    pub unknown_stack_allocations: u64,
    /// `Stack` records that did not continue the tree (a damaged file); the
    /// stacks they hold are unknown.
    pub records_out_of_order: u64,
    /// Symbols embedded in the file by `memscope symbolize`: return address
    /// → its lines, innermost first (a later record's entry wins).
    pub symbols: std::collections::HashMap<u64, Vec<Line>>,
}

impl Stacks {
    /// The frames of stack `id`, innermost first (markers included), or
    /// nothing for 0 or an unknown id. Stops at 4096 frames.
    pub fn frames(&self, id: u32) -> Vec<u64> {
        let mut out = Vec::new();
        let mut id = id as usize;
        while id != 0 && out.len() < 4096 {
            let Some(n) = self.nodes.get(id - 1) else { break };
            out.push(n.address);
            id = n.parent as usize;
        }
        out
    }
}

/// A site being replayed.
#[derive(Debug, Clone, Default)]
pub(crate) struct SiteAcc {
    pub(crate) stats: SiteStats,
    /// Live now.
    live_count: u64,
    live_bytes: u64,
    /// The figures at peak number `snap_gen` (see [`Sites::touch`]).
    snap_gen: u64,
    snap_count: u64,
    snap_bytes: u64,
    /// The timeline, at slots of `2^shift` ns (`Sites::shift`).
    pub(crate) timeline: Vec<SitePoint>,
}

/// Every site of a replay, with the bookkeeping for "live at the global
/// peak" and the site timelines.
///
/// Live at the peak is exact and O(1) per event: every new global peak
/// starts a generation; before a site changes, if its snapshot is of an
/// older generation, its current figures (unchanged since the peak) become
/// the snapshot of this one. At the end, a site whose snapshot is of the
/// last generation holds its figures at the last peak in it; any other
/// has not changed since, and its current figures are those at the peak.
#[derive(Debug, Default)]
pub(crate) struct Sites {
    pub(crate) sites: Vec<SiteAcc>,
    /// Stack id → its site plus one (0: none yet), for ids below
    /// [`DIRECT_STACKS`]: ids are dense (the file's node ids, which replay
    /// checks against the nodes read), so this costs 4 bytes per node.
    direct: Vec<u32>,
    /// The same for larger ids.
    index: FastMap<u32, u32>,
    /// Peaks so far (the current generation).
    gen: u64,
    /// Site timeline slots are `2^shift` ns wide.
    pub(crate) shift: u32,
    /// A sampling recording's interval in bytes (0: every event recorded).
    /// Then each event stands for `1/p` events of its size (FORMAT.md,
    /// "Sampling record"): bytes are weighted as they come, counts kept in
    /// units of `1/COUNT_UNITS` and rounded at the end.
    pub(crate) interval: u64,
}

/// Sampling: counts are kept in units of `1/COUNT_UNITS` of an event while
/// replaying (a sample stands for a fraction of events above 1).
const COUNT_UNITS: u64 = 1 << 16;

impl Sites {
    /// The site of stack id `stack`, made on first use.
    #[inline]
    pub(crate) fn site_of(&mut self, stack: u32) -> u32 {
        let i = stack as usize;
        if let Some(&s) = self.direct.get(i) {
            if s != 0 {
                return s - 1;
            }
        }
        self.new_site(stack)
    }

    /// [`Sites::site_of`] for a stack id not in `direct` yet.
    #[cold]
    fn new_site(&mut self, stack: u32) -> u32 {
        let i = stack as usize;
        let sites = &mut self.sites;
        let mut make = || {
            sites.push(SiteAcc { stats: SiteStats { stack, ..SiteStats::default() }, ..SiteAcc::default() });
            (sites.len() - 1) as u32
        };
        if i >= DIRECT_STACKS {
            return *self.index.entry(stack).or_insert_with(make);
        }
        if i >= self.direct.len() {
            self.direct.resize(i + 1, 0);
        }
        let site = make();
        self.direct[i] = site + 1;
        site
    }

    /// A new global peak was just reached.
    #[inline]
    pub(crate) fn new_peak(&mut self) {
        self.gen += 1;
    }

    /// Follows the global timeline's width (`2^global_shift` ns slots):
    /// site timelines are [`SITE_SLOT_FACTOR_LOG2`] steps coarser.
    #[inline]
    pub(crate) fn follow_shift(&mut self, global_shift: u32) {
        let want = global_shift + SITE_SLOT_FACTOR_LOG2;
        if want > self.shift {
            self.coarsen(want);
        }
    }

    /// Widens the site timelines' slots to `2^want` ns.
    #[cold]
    fn coarsen(&mut self, want: u32) {
        let by = want - self.shift;
        self.shift = want;
        for s in &mut self.sites {
            // Merge points that now share a slot, keeping the last (a
            // point holds the figures at the end of its slot).
            let mut out = 0;
            for i in 0..s.timeline.len() {
                let mut p = s.timeline[i];
                p.slot >>= by;
                if out > 0 && s.timeline[out - 1].slot == p.slot {
                    s.timeline[out - 1] = p;
                } else {
                    s.timeline[out] = p;
                    out += 1;
                }
            }
            s.timeline.truncate(out);
        }
    }

    /// Every site's figures now, as [`Sites::finish`] gives them at the end
    /// (`live_*_end` are the live figures now; `peak_*` are left 0).
    pub(crate) fn now(&self) -> impl Iterator<Item = SiteStats> + '_ {
        self.sites.iter().map(|s| SiteStats { live_count_end: s.live_count, live_bytes_end: s.live_bytes, ..s.stats.clone() })
    }

    #[inline]
    fn touch(&mut self, site: u32) -> &mut SiteAcc {
        let gen = self.gen;
        let s = &mut self.sites[site as usize];
        if s.snap_gen != gen {
            (s.snap_gen, s.snap_count, s.snap_bytes) = (gen, s.live_count, s.live_bytes);
        }
        s
    }

    #[inline]
    fn point(shift: u32, s: &mut SiteAcc, ts: u64) {
        let p = SitePoint {
            slot: ts >> shift,
            live_bytes: s.live_bytes,
            allocated_bytes: s.stats.allocated_bytes,
            allocations: s.stats.allocations.wrapping_add(s.stats.reallocations),
        };
        match s.timeline.last_mut() {
            Some(last) if last.slot == p.slot => *last = p,
            _ => s.timeline.push(p),
        }
    }

    /// The bytes and the count (in units: 1, or `COUNT_UNITS` per event
    /// when sampling) one event of `size` bytes stands for.
    #[inline]
    pub(crate) fn weigh(&self, size: u64) -> (u64, u64) {
        if self.interval == 0 {
            return (size, 1);
        }
        let w = crate::format::sampling::sample_count_weight(size, self.interval);
        (crate::format::sampling::sample_bytes_weight(size, self.interval), (w * COUNT_UNITS as f64).round() as u64)
    }

    /// A count kept in units ([`Sites::weigh`]) as events, rounded as
    /// [`Sites::finish`] rounds them.
    pub(crate) fn count(&self, units: u64) -> u64 {
        if self.interval == 0 {
            units
        } else {
            (units + COUNT_UNITS / 2) / COUNT_UNITS
        }
    }

    #[inline]
    fn grow(s: &mut SiteAcc, ts: u64, size: u64, units: u64) {
        s.live_count += units;
        s.live_bytes = s.live_bytes.wrapping_add(size);
        if s.live_bytes > s.stats.max_live_bytes {
            s.stats.max_live_bytes = s.live_bytes;
            s.stats.max_live_at_ns = ts;
        }
    }

    /// An allocation of `size` bytes made at `site`, or a reallocation to
    /// `size` bytes made there (`reallocation`; the allocation's old size
    /// left its old site with [`Sites::released`]).
    #[inline]
    pub(crate) fn gained(&mut self, site: u32, ts: u64, size: u64, reallocation: bool) {
        let shift = self.shift;
        let (size, units) = self.weigh(size);
        let s = self.touch(site);
        if reallocation {
            s.stats.reallocations += units;
        } else {
            s.stats.allocations += units;
        }
        s.stats.allocated_bytes = s.stats.allocated_bytes.wrapping_add(size);
        Self::grow(s, ts, size, units);
        Self::point(shift, s, ts);
    }

    /// `size` bytes held at `site` stop being live there: a deallocation
    /// (`lifetime_ns` given, `temporary` when heaptrack's rule says so) or
    /// the old size of a reallocation (`None`).
    #[inline]
    pub(crate) fn released(&mut self, site: u32, ts: u64, size: u64, lifetime_ns: Option<u64>, temporary: bool) {
        let shift = self.shift;
        let (size, units) = self.weigh(size);
        let sampling = self.interval != 0;
        let s = self.touch(site);
        s.live_count = s.live_count.saturating_sub(units);
        s.live_bytes = s.live_bytes.wrapping_sub(size);
        s.stats.deallocated_bytes = s.stats.deallocated_bytes.wrapping_add(size);
        if let Some(l) = lifetime_ns {
            s.stats.deallocations += units;
            // Sampling: the lifetimes of the events this one stands for.
            let l =
                if sampling { ((u128::from(l) * u128::from(units)) / u128::from(COUNT_UNITS)).min(u128::from(u64::MAX)) as u64 } else { l };
            s.stats.total_lifetime_ns = s.stats.total_lifetime_ns.saturating_add(l);
            s.stats.temporary += if temporary { units } else { 0 };
        }
        Self::point(shift, s, ts);
    }

    /// The final figures, in the order sites were first seen, with their
    /// timelines (points at slots of `2^self.shift` ns).
    pub(crate) fn finish(mut self) -> (Vec<SiteStats>, Vec<Vec<SitePoint>>, u32) {
        let gen = self.gen;
        let mut stats = Vec::with_capacity(self.sites.len());
        let mut timelines = Vec::with_capacity(self.sites.len());
        // Sampling: counts back from units to events, rounded.
        let count = |units: u64| if self.interval == 0 { units } else { (units + COUNT_UNITS / 2) / COUNT_UNITS };
        for mut s in self.sites.drain(..) {
            let mut st = s.stats;
            st.live_count_end = count(s.live_count);
            st.live_bytes_end = s.live_bytes;
            (st.peak_count, st.peak_bytes) = if s.snap_gen == gen { (s.snap_count, s.snap_bytes) } else { (s.live_count, s.live_bytes) };
            st.peak_count = count(st.peak_count);
            for c in [&mut st.allocations, &mut st.reallocations, &mut st.deallocations, &mut st.temporary] {
                *c = count(*c);
            }
            for p in &mut s.timeline {
                p.allocations = count(p.allocations);
            }
            stats.push(st);
            timelines.push(s.timeline);
        }
        (stats, timelines, self.shift)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_are_numbered_in_first_seen_order_for_small_and_large_stack_ids() {
        let mut s = Sites::default();
        let big = DIRECT_STACKS as u32 + 3;
        assert_eq!([s.site_of(5), s.site_of(big), s.site_of(0), s.site_of(5), s.site_of(big), s.site_of(0)], [0, 1, 2, 0, 1, 2]);
        let stacks: Vec<u32> = s.sites.iter().map(|a| a.stats.stack).collect();
        assert_eq!(stacks, [5, big, 0]);
        assert!(s.direct.len() <= 6, "large ids are not indexed directly");
    }
}
