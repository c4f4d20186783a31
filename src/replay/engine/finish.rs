//! The end of a replay: everything still buffered applied, the live set
//! at the end turned into leaks and per-thread figures, the [`Replay`].

use super::Replayer;
use crate::replay::live::IN_SCOPE;
use crate::replay::{Leak, Replay, ThreadStats, ThreadTimeline, MAX_LEAKS};

impl Replayer {
    fn finished_cleanly(&self) -> bool {
        self.end.is_some() && self.damage_count == 0
    }

    /// Applies everything still buffered and returns the replay;
    /// `file_bytes` is the length of the segment in bytes.
    pub fn finish(mut self, file_bytes: u64) -> Replay {
        self.release(u64::MAX);
        let t = &mut self.totals;
        t.unresolved_conflicts = self.live.deferred_len() as u64;
        t.duration_ns = self.end.map_or(self.max_ts, |e| e.end_ns);
        t.threads = self.thread_index.keys().filter(|&&id| id != 0).count() as u64;
        debug_assert_eq!(t.live_count, (self.live.len() + self.live.deferred_len()) as u64);
        debug_assert_eq!(t.live_bytes, t.total_allocated_bytes.wrapping_sub(t.total_deallocated_bytes));

        let order = |a: &Leak, b: &Leak| {
            b.size.cmp(&a.size).then(a.allocated_at_ns.cmp(&b.allocated_at_ns)).then(a.ptr.cmp(&b.ptr)).then(a.thread.cmp(&b.thread))
        };
        // The largest MAX_LEAKS, kept in a buffer of twice that cut back
        // whenever full: memory stays small however large the live set.
        let mut leaks = Vec::with_capacity(2 * MAX_LEAKS);
        let mut live_bytes = 0u64;
        for (ptr, l) in self.live.iter() {
            let owner = if l.origin & IN_SCOPE == 0 { l.origin } else { self.track.nodes[(l.origin & !IN_SCOPE) as usize].thread_index };
            let (base, other) = match l.charge.checked_sub(1) {
                None => (l.size, None),
                Some(i) => {
                    let c = self.charges[i as usize];
                    (l.size.wrapping_sub(c.bytes), Some(c))
                }
            };
            if let Some(c) = other {
                let acc = &mut self.threads[c.thread as usize].stats;
                acc.live_bytes = acc.live_bytes.wrapping_add(c.bytes);
            }
            let acc = &mut self.threads[owner as usize].stats;
            acc.live_count += 1;
            acc.live_bytes = acc.live_bytes.wrapping_add(base);
            live_bytes = live_bytes.wrapping_add(l.size);
            leaks.push(Leak { ptr, size: l.size, allocated_at_ns: l.start_ns, thread: acc.thread, stands_for: None });
            if leaks.len() == 2 * MAX_LEAKS {
                leaks.select_nth_unstable_by(MAX_LEAKS - 1, order);
                leaks.truncate(MAX_LEAKS);
            }
        }
        debug_assert_eq!(self.totals.live_bytes, live_bytes);
        if leaks.len() > MAX_LEAKS {
            leaks.select_nth_unstable_by(MAX_LEAKS - 1, order);
            leaks.truncate(MAX_LEAKS);
        }
        leaks.sort_unstable_by(order);

        let finished = self.finished_cleanly();
        let timeline = self.timeline.points();
        let mut thread_timelines: Vec<ThreadTimeline> = self
            .threads
            .iter()
            .filter_map(|a| {
                let live_bytes = a.timeline.as_ref()?.aligned(&self.timeline, &timeline);
                live_bytes.iter().any(|&b| b > 0).then_some(ThreadTimeline { thread: a.stats.thread, live_bytes })
            })
            .collect();
        thread_timelines.sort_unstable_by_key(|t| t.thread);
        let mut threads: Vec<ThreadStats> = self.threads.into_iter().map(|a| a.stats).collect();
        threads.sort_unstable_by_key(|s| s.thread);
        let tracked = self.track.finish();
        let mut stacks = self.stacks;
        stacks.recorded = self.header.version >= crate::format::codec::STACKS_SINCE_VERSION && !stacks.nodes.is_empty();
        let estimated_peak = self.sites.estimated_peak();
        let (sites, timelines, shift) = self.sites.finish();
        let mut order: Vec<usize> = (0..sites.len()).collect();
        order.sort_unstable_by(|&a, &b| {
            let (a, b) = (&sites[a], &sites[b]);
            b.peak_bytes.cmp(&a.peak_bytes).then(b.allocated_bytes.cmp(&a.allocated_bytes)).then(a.stack.cmp(&b.stack))
        });
        let mut timelines: Vec<Option<Vec<_>>> = timelines.into_iter().map(Some).collect();
        stacks.site_timelines = order
            .iter()
            .map(|&i| {
                let mut t = timelines[i].take().unwrap_or_default();
                for p in &mut t {
                    p.slot = (p.slot + 1) << shift;
                }
                t
            })
            .collect();
        stacks.sites = order.iter().map(|&i| sites[i].clone()).collect();
        let suggestions = crate::replay::suggest::suggestions(
            &self.totals,
            &tracked,
            &self.lifetimes.buckets(),
            match self.end {
                Some(e) if finished && e.ended_at_exit => Some(crate::replay::suggest::Leaks::AtExit),
                Some(e) if finished && e.leaks_asked => Some(crate::replay::suggest::Leaks::Asked),
                _ => None,
            },
        );
        let mut replay = Replay {
            header: self.header,
            summary: self.totals,
            threads,
            largest_leaks: leaks,
            lifetime_histogram: self.lifetimes.buckets(),
            size_histogram: self.sizes.buckets(),
            timeline,
            thread_timelines,
            variables: tracked.variables,
            scopes: tracked.scopes,
            scope_intervals: tracked.intervals,
            foreign: tracked.foreign,
            handoffs: tracked.handoffs,
            tracking: tracked.totals,
            suggestions,
            stacks,
            damage: self.damage,
            damage_count: self.damage_count,
            damaged_bytes: self.damaged_bytes,
            finished: self.end.is_some(),
            end: self.end,
            rounds: self.rounds,
            file_bytes,
            segments: Default::default(),
            sampling: None,
        };
        self.sampling.apply(&mut replay, estimated_peak);
        replay
    }
}
