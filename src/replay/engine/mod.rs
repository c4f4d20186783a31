//! The [`Replayer`]: buffers events per drain round, puts them in timestamp
//! order and applies them to the live set and the statistics.
//!
//! One concern a file: `ops` turns chunks of events into sortable ops (the
//! reading thread's part), `merge` merges the buffered runs of ops in
//! timestamp order, `apply` applies an op to the live set and the
//! statistics (`tracking` for the tracking events), `finish` builds the
//! [`Replay`](super::Replay), and `view` counts the buffered ops on top of the replay for
//! a live view. This file holds the replayer's state and the release of
//! buffered ops at each drain round.

mod apply;
mod finish;
mod merge;
mod ops;
mod tracking;
mod view;

pub(crate) use ops::{Batch, Converter, Op};

use super::live::{FastMap, Live, LiveSet};
use super::sites::{Sites, Stacks};
use super::stats::{Log2Hist, Timeline};
use super::track::Tracker;
use super::{EndRecord, ThreadStats, Totals, MAX_DAMAGE_LISTED, MAX_THREAD_TIMELINES};
use crate::format::{Damage, Event, Record, SegmentHeader};
use merge::{merge_runs, Run};
use std::collections::VecDeque;

/// How far behind the newest watermark replay applies events, in ns (and
/// at least one round): longer than a scheduler time slice, so that an event
/// whose thread was preempted between its stamp and its push still arrives
/// before replay passes its timestamp.
pub(crate) const RELEASE_LAG_NS: u64 = 20_000_000;

/// How far the release bound must move before replay releases again, in ns:
/// each release merges the held-back window, so releasing every round would
/// cost the window's length per round.
pub(crate) const RELEASE_STEP_NS: u64 = 5_000_000;

/// The bound on buffered events before any byte is read (128 Ki events,
/// 6 MiB): a file whose `Round` records are missing must not buffer all of
/// itself, and a crafted one must not make replay hold more than its own
/// budget (FORMAT.md, "Limits"). It grows by one event per
/// [`WINDOW_BYTES_PER_EVENT`] bytes read (`Replay::from_reader`): a round of
/// a genuine recording can hold more than 128 Ki events (the main job: up
/// to about 170 Ki, a drainer slowed by four busy threads on two cores), and
/// releasing early would make a healthy file need ordering repairs.
pub(in crate::replay) const WINDOW_LIMIT: usize = 1 << 17;
/// Bytes read per event the bound on buffered events grows by.
pub(in crate::replay) const WINDOW_BYTES_PER_EVENT: u64 = 4;

/// One thread's statistics plus the ordering state of its event stream.
#[derive(Debug, Clone, Default)]
struct ThreadAcc {
    stats: ThreadStats,
    /// The thread's innermost open scope node, plus one (0: none).
    scope: u32,
    /// Bytes live now of the allocations this thread made.
    live_bytes: u64,
    /// Its live bytes over time (the first [`MAX_THREAD_TIMELINES`] threads).
    timeline: Option<Box<Timeline>>,
    /// The address of its last allocation, until deallocated (heaptrack's
    /// temporary-allocation rule); 0: none.
    last_alloc: u64,
}

/// A streaming replay: feed it the records of one segment in file order
/// with [`Replayer::record`] (and the damage with [`Replayer::damage`]),
/// then call [`Replayer::finish`]. [`Replay::from_reader`](super::Replay::from_reader) does exactly this.
///
/// Memory grows with the live set and with the events of about two drain
/// rounds, not with the length of the recording.
#[derive(Debug)]
pub struct Replayer {
    header: SegmentHeader,
    pub(super) totals: Totals,
    threads: Vec<ThreadAcc>,
    thread_index: FastMap<u32, u32>,
    live: LiveSet,
    /// Buffered events, every one stamped at or after `frontier`: one
    /// sorted run per chunk, in file order. Applying them in key order, and
    /// among equal keys in run order, is applying them in key then file order.
    runs: VecDeque<Run>,
    /// How many of `runs` (the first) were buffered at the last release.
    ready_runs: usize,
    /// Ops buffered in `runs`.
    buffered: usize,
    /// Emptied run buffers kept for their capacity (a few).
    spare: Vec<Vec<Op>>,
    /// Converts the chunks given to [`Replayer::events`].
    converter: Converter,
    /// Watermarks of the recent `Round` records not yet used as a release
    /// bound, oldest first.
    watermarks: VecDeque<u64>,
    /// Every event stamped before this has been applied (events arriving
    /// below it are applied at once).
    frontier: u64,
    /// The largest timestamp applied so far.
    max_applied: u64,
    /// The largest timestamp read so far.
    max_ts: u64,
    pub(super) window_limit: usize,
    lifetimes: Log2Hist,
    sizes: Log2Hist,
    timeline: Timeline,
    damage: Vec<Damage>,
    damage_count: u64,
    damaged_bytes: u64,
    end: Option<EndRecord>,
    rounds: u64,
    track: Tracker,
    sites: Sites,
    /// The stack tree, the module map and the stack counters so far.
    stacks: Stacks,
    /// The file's Round watermarks are exact (version 4): release up to
    /// the newest, with no lag.
    exact_watermarks: bool,
    /// Reallocations between their two halves: link → the allocation
    /// taken from the old address (`None`: the old address was not live).
    moving: FastMap<u64, Option<Live>>,
    /// Bytes of live allocations charged to a thread other than the
    /// allocating one ([`Live::charge`] − 1 indexes this), and free entries.
    charges: Vec<Charge>,
    free_charges: Vec<u32>,
    /// A sampling recording's Sampling and Totals records (`sampled.rs`).
    sampling: super::sampled::SamplingState,
}

/// Bytes of one live allocation that a reallocating thread is charged for.
#[derive(Debug, Clone, Copy)]
struct Charge {
    /// Index of that thread in [`Replayer::threads`].
    thread: u32,
    bytes: u64,
}

impl Replayer {
    /// A replayer for the segment with this header.
    pub fn new(header: SegmentHeader) -> Self {
        Replayer {
            header,
            totals: Totals::default(),
            threads: Vec::new(),
            thread_index: FastMap::default(),
            live: LiveSet::default(),
            runs: VecDeque::new(),
            ready_runs: 0,
            buffered: 0,
            spare: Vec::new(),
            converter: Converter::default(),
            watermarks: VecDeque::new(),
            frontier: 0,
            max_applied: 0,
            max_ts: 0,
            window_limit: WINDOW_LIMIT,
            lifetimes: Log2Hist::default(),
            sizes: Log2Hist::default(),
            timeline: Timeline::default(),
            damage: Vec::new(),
            damage_count: 0,
            damaged_bytes: 0,
            end: None,
            rounds: 0,
            track: Tracker::default(),
            sites: Sites::default(),
            stacks: Stacks::default(),
            exact_watermarks: header.version >= crate::format::codec::EXACT_ORDER_SINCE_VERSION,
            moving: FastMap::default(),
            charges: Vec::new(),
            free_charges: Vec::new(),
            sampling: Default::default(),
        }
    }

    /// Feeds the next good record of the segment.
    pub fn record(&mut self, record: &Record) {
        if let Record::Round { watermark_ns, .. } = record {
            self.sampling.round(*watermark_ns);
        }
        match record {
            Record::Events(chunk) => self.events(chunk.thread, &chunk.events),
            Record::Round { watermark_ns, .. } if self.exact_watermarks => {
                // Every event stamped before the watermark is in a record
                // before this one (FORMAT.md, "Round record"): no lag.
                self.rounds += 1;
                if *watermark_ns >= self.frontier.saturating_add(RELEASE_STEP_NS) {
                    self.release(*watermark_ns);
                }
            }
            Record::Round { watermark_ns, .. } => {
                self.rounds += 1;
                // Release up to the newest earlier watermark that is at
                // least RELEASE_LAG_NS older than this one: a thread
                // preempted between its stamp and its push lands in a later
                // round, and rounds can be far shorter than a time slice.
                let mut bound = None;
                while let Some(&w) = self.watermarks.front() {
                    if w.saturating_add(RELEASE_LAG_NS) > *watermark_ns {
                        break;
                    }
                    bound = Some(w);
                    self.watermarks.pop_front();
                }
                self.watermarks.push_back(*watermark_ns);
                // Releasing copies the held-back window, so do it once the
                // bound has moved RELEASE_STEP_NS, not every round (rounds can
                // be a few hundred microseconds apart).
                if let Some(bound) = bound.filter(|&b| b >= self.frontier.saturating_add(RELEASE_STEP_NS)) {
                    self.release(bound);
                }
            }
            &Record::End { events_written, events_lost, end_ns, flags } => {
                self.end = Some(EndRecord {
                    events_written,
                    events_lost,
                    end_ns,
                    ended_at_exit: flags & crate::format::END_AT_EXIT != 0,
                    no_tracking_allocator: flags & crate::format::END_NO_TRACKING_ALLOCATOR != 0,
                    leaks_asked: flags & crate::format::END_LEAKS_ASKED != 0,
                    continued: flags & crate::format::END_CONTINUED != 0,
                });
                self.release(u64::MAX);
            }
            Record::Site(site) => {
                self.track.sites.insert(site.key, site.clone());
            }
            Record::Text { key, text } => {
                self.track.texts.insert(*key, text.clone());
            }
            Record::Stack { first_id, nodes } => {
                // Nodes come in id order; a record that does not continue
                // the tree (a damaged file) is left out: the stacks above it
                // replay as unknown.
                if *first_id as usize == self.stacks.nodes.len() + 1 {
                    self.stacks.nodes.extend_from_slice(nodes);
                } else {
                    self.stacks.records_out_of_order += 1;
                }
            }
            Record::Module(m) => self.stacks.modules.push(m.clone()),
            Record::Symbols(entries) => self.stacks.symbols.extend(entries.iter().cloned()),
            // Timestamps are ns already; the record says how they were derived.
            Record::Clock(_) => {}
            // Read by the segment layer (`segments.rs`), which seeds the
            // live set from a checkpoint with `events`.
            Record::Segment(_) | Record::Checkpoint(_) | Record::CheckpointEvents(_) => {}
            Record::Sampling(s) => {
                // Before any event (it follows the header): sites weigh every sample.
                self.sites.interval = s.interval_bytes;
                self.sizes.set_units(super::sites::COUNT_UNITS);
                self.lifetimes.set_units(super::sites::COUNT_UNITS);
                self.sampling.record = Some(*s);
            }
            Record::Totals(t) => self.sampling.totals(t),
        }
    }

    /// Replaces the segment header: the reader may learn a lost version
    /// from the first chunk (FORMAT.md, "Segment header").
    pub(crate) fn set_header(&mut self, header: SegmentHeader) {
        self.header = header;
    }

    /// Damaged stretches noted so far.
    pub(crate) fn damage_count(&self) -> u64 {
        self.damage_count
    }

    /// Allocations held now: live, and deferred until their address is freed.
    pub(crate) fn held(&self) -> u64 {
        (self.live.len() + self.live.deferred_len()) as u64
    }

    /// Notes a damaged stretch of the segment; replay goes on with the next record.
    pub fn damage(&mut self, damage: Damage) {
        self.damage_count += 1;
        self.damaged_bytes = self.damaged_bytes.saturating_add(damage.skipped_bytes);
        if self.damage.len() < MAX_DAMAGE_LISTED {
            self.damage.push(damage);
        }
    }

    /// Feeds one chunk: `events` of recorder thread `thread`, in push order.
    ///
    /// Events come from [`crate::format::Reader`]; a reallocation event
    /// built by hand with an old size of 4 GiB or more is taken as one whose
    /// old size is not stored, as the format does.
    pub fn events(&mut self, thread: u32, events: &[Event]) {
        let mut batch = Batch { ops: self.spare.pop().unwrap_or_default(), ..Batch::default() };
        let mut converter = std::mem::take(&mut self.converter);
        converter.convert(thread, events, &mut batch);
        self.converter = converter;
        self.batch(batch);
    }

    /// Feeds one chunk converted by a [`Converter`] that was given every
    /// earlier chunk (and checkpoint) of the segment, in file order, as
    /// [`Replayer::events`] does.
    pub(crate) fn batch(&mut self, batch: Batch) {
        let Batch { thread, index: t, mut ops, sorted, min_ts, max_ts, facts, events } = batch;
        if t as usize == self.threads.len() {
            let timeline = (self.threads.len() < MAX_THREAD_TIMELINES).then(Box::default);
            self.threads.push(ThreadAcc { stats: ThreadStats { thread, ..ThreadStats::default() }, timeline, ..ThreadAcc::default() });
            self.thread_index.insert(thread, t);
        }
        debug_assert_eq!(self.thread_index.get(&thread), Some(&t), "batches come from one converter, in file order");
        self.totals.events += events;
        self.max_ts = self.max_ts.max(max_ts);
        for ev in &facts {
            self.thread_event(t, ev);
        }
        if min_ts < self.frontier {
            // Stamped before events already applied: applied at once, in file order.
            let frontier = self.frontier;
            ops.retain(|op| {
                let late = op.ts() < frontier;
                if late {
                    self.apply(op);
                }
                !late
            });
        }
        if !sorted {
            ops.sort_by_key(|op| op.key);
        }
        if ops.is_empty() {
            self.recycle(ops);
        } else {
            self.buffered += ops.len();
            self.runs.push_back(Run { ops, pos: 0 });
        }
        if self.buffered > self.window_limit {
            // No Round record for too long: release at least a quarter,
            // the older half of the larger part (those buffered at the last
            // release, or those since).
            let ready: usize = self.runs.iter().take(self.ready_runs).map(|r| r.rest().len()).sum();
            let part = if ready >= self.buffered - ready { 0..self.ready_runs } else { self.ready_runs..self.runs.len() };
            let mut keys: Vec<u64> = self.runs.range(part).flat_map(|r| r.rest().iter().map(|op| op.key)).collect();
            let mid = keys.len() / 2;
            let (_, &mut key, _) = keys.select_nth_unstable(mid);
            self.release((key >> 1) + 1);
        }
    }

    /// Hands the emptied run buffers kept to `f` (to the converter that
    /// makes the batches, on another thread).
    pub(crate) fn spent(&mut self, f: &mut impl FnMut(Vec<Op>)) {
        self.spare.drain(..).for_each(f);
    }

    /// Keeps an emptied run buffer for reuse (a few of them).
    fn recycle(&mut self, mut ops: Vec<Op>) {
        if self.spare.len() < 4 {
            ops.clear();
            self.spare.push(ops);
        }
    }

    /// A thread's start, exit or lost-events event: per-thread facts, in no particular order.
    fn thread_event(&mut self, t: u32, ev: &Event) {
        let s = &mut self.threads[t as usize].stats;
        match *ev {
            Event::ThreadStart { ts_ns, os_tid, name } => {
                let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
                s.os_tid = Some(os_tid);
                s.name = Some(String::from_utf8_lossy(&name[..len]).into_owned());
                s.start_ns.get_or_insert(ts_ns);
            }
            Event::ThreadExit { ts_ns } => s.exit_ns = Some(ts_ns),
            Event::Lost { count, .. } => {
                s.lost_events = s.lost_events.wrapping_add(count);
                self.totals.lost_events = self.totals.lost_events.wrapping_add(count);
            }
            _ => {}
        }
    }

    /// Applies, in order, every buffered event stamped before `bound`:
    /// a merge of the buffered runs (one per chunk, each sorted), by key and
    /// among equal keys in file order.
    fn release(&mut self, bound: u64) {
        if bound <= self.frontier {
            return;
        }
        self.frontier = bound;
        if self.buffered == 0 {
            return;
        }
        let mut runs = std::mem::take(&mut self.runs);
        let ends: Vec<usize> = runs.iter().map(|r| r.pos + r.rest().partition_point(|op| op.ts() < bound)).collect();
        {
            let slices: Vec<&[Op]> = runs.iter().zip(&ends).map(|(r, &e)| &r.ops[r.pos..e]).collect();
            merge_runs(&slices, |stretch| stretch.iter().for_each(|op| self.apply(op)));
        }
        for (r, &e) in runs.iter_mut().zip(&ends) {
            self.buffered -= e - r.pos;
            r.pos = e;
        }
        // Emptied runs go; the rest, in file order, are the next window's first.
        let mut kept = VecDeque::with_capacity(runs.len());
        for r in runs {
            if r.pos == r.ops.len() {
                self.recycle(r.ops);
            } else {
                kept.push_back(r);
            }
        }
        // Runs that arrived while applying (none: apply adds none) follow.
        kept.append(&mut self.runs);
        self.ready_runs = kept.len();
        self.runs = kept;
    }

    /// The buffered ops, in the order they will apply.
    fn pending(&self) -> Vec<Op> {
        let slices: Vec<&[Op]> = self.runs.iter().map(Run::rest).collect();
        let mut out = Vec::with_capacity(self.buffered);
        merge_runs(&slices, |stretch| out.extend_from_slice(stretch));
        out
    }

    /// Timestamps of the buffered events, in the order they will apply.
    #[cfg(test)]
    pub(in crate::replay) fn buffered(&self) -> Vec<u64> {
        self.pending().iter().map(Op::ts).collect()
    }
}
