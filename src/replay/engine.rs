//! The [`Replayer`]: buffers events per drain round, puts them in timestamp
//! order and applies them to the live set and the statistics.

use super::live::{FastMap, Live, LiveSet, IN_SCOPE, RESIZED};
use super::sites::{Gain, Sites, Stacks};
use super::stats::{Log2Hist, Timeline};
use super::track::{
    AllocAcc, ForeignAcc, Handoff, ScopeInterval, Tracker, VarAcc, MAX_FOREIGN, MAX_INTERIOR_OFFSET, MAX_SCOPE_INTERVALS,
    MAX_UNLINKED_NOTES, MAX_VARIABLES,
};
use super::{EndRecord, Leak, Replay, SiteStats, ThreadStats, ThreadTimeline, Totals, MAX_DAMAGE_LISTED, MAX_LEAKS, MAX_THREAD_TIMELINES};
use crate::format::event::*;
use crate::format::stacks::MARK_TABLE_FULL;
use crate::format::{Damage, Event, Record, SegmentHeader, SITE_CLONE};
use std::collections::VecDeque;

/// What an [`Op`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpKind {
    Alloc,
    Dealloc,
    /// Both sizes fit in 32 bits: `c` is `old_size | new_size << 32`.
    Realloc,
    /// The old size is not stored: `c` is the new size.
    ReallocLarge,
    /// A tracking event (`a`, `b`, `c` as in its ring form); its kind code.
    Track(u8),
    /// The first half of a reallocation that moved (version 4), at its
    /// first stamp: the release of the old address `a`. `b` links it to its
    /// [`OpKind::MoveIn`]; `c` as for `Realloc` (`large`: as for `ReallocLarge`).
    MoveOut {
        large: bool,
    },
    /// The second half, at the return stamp: the acquisition of the new
    /// address `b`. `a` is the link.
    MoveIn {
        large: bool,
    },
}

/// An event that touches the live set, in a compact sortable form.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Op {
    /// `ts_ns << 1 | class`: class 0 for deallocations and reallocations,
    /// 1 for allocations, so frees sort first at equal timestamps.
    key: u64,
    /// Alloc, Dealloc: the address. Realloc: the old address.
    a: u64,
    /// Alloc, Dealloc: the size. Realloc: the new address.
    b: u64,
    /// Realloc: the sizes (see [`OpKind`]).
    c: u64,
    /// Index of the calling thread in [`Replayer::threads`].
    thread: u32,
    /// Alloc, Realloc: the call stack id (0: none).
    stack: u32,
    kind: OpKind,
}

/// Class bit of allocations in [`Op::key`].
const CLASS_ALLOC: u64 = 1;

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
pub(super) const WINDOW_LIMIT: usize = 1 << 17;
/// Bytes read per event the bound on buffered events grows by.
pub(super) const WINDOW_BYTES_PER_EVENT: u64 = 4;

impl Op {
    #[inline]
    fn ts(&self) -> u64 {
        self.key >> 1
    }
}

/// A reallocation's (old size, new size) from [`Op::c`]: packed, or (`large`) the new size alone.
#[inline]
fn sizes(large: bool, c: u64) -> (Option<u64>, u64) {
    if large {
        (None, c)
    } else {
        (Some(c & 0xFFFF_FFFF), c >> 32)
    }
}

/// Calls `f` on the ops of two sorted slices in merged order; among equal
/// keys, `a`'s go first.
#[inline]
fn merge(a: &[Op], b: &[Op], mut f: impl FnMut(&Op)) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if j == b.len() || (i < a.len() && a[i].key <= b[j].key) {
            f(&a[i]);
            i += 1;
        } else {
            f(&b[j]);
            j += 1;
        }
    }
}

/// Calls `f` on the ops of sorted slices in merged order: by key, and among
/// equal keys in the order of the slices (each slice keeps its own order).
/// Two slices take the plain two-way merge; more, a heap of their heads,
/// applying a run of one slice at a time while it stays below the others.
fn merge_runs(runs: &[&[Op]], mut f: impl FnMut(&Op)) {
    use std::cmp::Reverse;
    let runs: Vec<&[Op]> = runs.iter().copied().filter(|r| !r.is_empty()).collect();
    match runs.len() {
        0 => {}
        1 => runs[0].iter().for_each(f),
        2 => merge(runs[0], runs[1], f),
        _ => {
            let mut pos = vec![0usize; runs.len()];
            // (key, slice index): the smallest pops first, ties by slice order.
            let mut heap: std::collections::BinaryHeap<Reverse<(u64, usize)>> =
                runs.iter().enumerate().map(|(i, r)| Reverse((r[0].key, i))).collect();
            while let Some(Reverse((_, i))) = heap.pop() {
                let run = runs[i];
                let mut p = pos[i];
                // The next head of another slice: ops of `i` go first while
                // they sort before it.
                let next = heap.peek().map(|&Reverse(h)| h);
                loop {
                    f(&run[p]);
                    p += 1;
                    if p == run.len() {
                        break;
                    }
                    if next.is_some_and(|n| (run[p].key, i) > n) {
                        heap.push(Reverse((run[p].key, i)));
                        break;
                    }
                }
                pos[i] = p;
            }
        }
    }
}

/// One chunk's events as [`Op`]s, made by a [`Converter`] (on the reading
/// thread of [`super::Replay::from_reader`], or in [`Replayer::events`]).
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// The recorder thread id, and its index in [`Replayer::threads`]
    /// (given in the order threads are first seen).
    thread: u32,
    index: u32,
    /// The ops that touch the live set, in file order.
    ops: Vec<Op>,
    /// Whether `ops` are in key order (always, in a healthy recording).
    sorted: bool,
    /// The smallest timestamp of `ops` (`u64::MAX` if none).
    min_ts: u64,
    /// The largest timestamp of the chunk's events (0 if none).
    max_ts: u64,
    /// The chunk's thread start, exit and lost-events events.
    facts: Vec<Event>,
    /// Events in the chunk, of every kind.
    events: u64,
}

/// Turns chunks of events into [`Batch`]es of sortable [`Op`]s. Keeps what
/// that needs across chunks: thread indexes, each thread's last timestamp
/// and class, and the links of moved reallocations. It does not depend on
/// what replay applied, so it runs ahead of replay on the reading thread.
#[derive(Debug, Default)]
pub(crate) struct Converter {
    index: FastMap<u32, u32>,
    /// Per thread index: timestamp and class of the thread's previous
    /// live-set event: a later event with the same timestamp never sorts
    /// before it.
    last: Vec<(u64, u64)>,
    next_link: u64,
}

impl Batch {
    /// An empty batch whose ops go in `ops` (cleared: a buffer to reuse).
    pub(crate) fn with_ops(ops: Vec<Op>) -> Self {
        Batch { ops, ..Batch::default() }
    }
}

impl Converter {
    /// Converts `events` of recorder thread `thread` into `out` (whose
    /// buffers are reused).
    pub(crate) fn convert(&mut self, thread: u32, events: &[Event], out: &mut Batch) {
        let last = &mut self.last;
        let t = *self.index.entry(thread).or_insert_with(|| {
            last.push((0, 0));
            (last.len() - 1) as u32
        });
        out.thread = thread;
        out.index = t;
        out.ops.clear();
        out.facts.clear();
        out.ops.reserve(events.len());
        out.events = events.len() as u64;
        let (mut max_ts, mut min_key, mut prev_key, mut sorted) = (0u64, u64::MAX, 0u64, true);
        let (mut last_ts, mut last_class) = self.last[t as usize];
        let mut push = |ops: &mut Vec<Op>, op: Op| {
            sorted &= op.key >= prev_key;
            prev_key = op.key;
            min_key = min_key.min(op.key);
            ops.push(op);
        };
        for ev in events {
            let ts = ev.ts_ns();
            max_ts = max_ts.max(ts);
            let stack = ev.stack();
            let (kind, class, a, b, c) = match *ev {
                // A reallocation that moved, with its return stamp: the old
                // address is released at the first stamp, the new one
                // acquired at the second, each where a deallocation and an
                // allocation would be.
                Event::Realloc { old_ptr, new_ptr, old_size, new_size, returned_ns: Some(returned), .. } if old_ptr != new_ptr => {
                    let (large, c) = match old_size {
                        Some(old) if (old | new_size) >> 32 == 0 => (false, old | new_size << 32),
                        _ => (true, new_size),
                    };
                    let link = self.next_link;
                    self.next_link += 1;
                    let class = if ts == last_ts { last_class } else { 0 };
                    let out_op = Op { key: ts << 1 | class, a: old_ptr, b: link, c, thread: t, stack, kind: OpKind::MoveOut { large } };
                    // Its class is the allocations' (the highest), so the
                    // thread's push order holds at equal timestamps.
                    let returned = returned.max(ts);
                    (last_ts, last_class) = (returned, CLASS_ALLOC);
                    max_ts = max_ts.max(returned);
                    let back =
                        Op { key: returned << 1 | CLASS_ALLOC, a: link, b: new_ptr, c, thread: t, stack, kind: OpKind::MoveIn { large } };
                    push(&mut out.ops, out_op);
                    push(&mut out.ops, back);
                    continue;
                }
                Event::Alloc { ptr, size, .. } => (OpKind::Alloc, CLASS_ALLOC, ptr, size, 0),
                Event::Dealloc { ptr, size, .. } => (OpKind::Dealloc, 0, ptr, size, 0),
                Event::Realloc { old_ptr, new_ptr, old_size, new_size, .. } => match old_size {
                    Some(old) if (old | new_size) >> 32 == 0 => (OpKind::Realloc, 0, old_ptr, new_ptr, old | new_size << 32),
                    _ => (OpKind::ReallocLarge, 0, old_ptr, new_ptr, new_size),
                },
                Event::ThreadStart { .. } | Event::ThreadExit { .. } | Event::Lost { .. } => {
                    out.facts.push(*ev);
                    continue;
                }
                Event::Var { ptr, size, site, .. } => (OpKind::Track(KIND_VAR), CLASS_ALLOC, ptr, size, site),
                Event::VarMore { ptr, size, .. } => (OpKind::Track(KIND_VAR_MORE), CLASS_ALLOC, ptr, size, 0),
                Event::VarType { type_key, .. } => (OpKind::Track(KIND_VAR_TYPE), CLASS_ALLOC, type_key, 0, 0),
                Event::Shared { strong, weak, .. } => (OpKind::Track(KIND_SHARED), CLASS_ALLOC, strong, weak, 0),
                Event::CloneOf { source_ptr, .. } => (OpKind::Track(KIND_CLONE_OF), CLASS_ALLOC, source_ptr, 0, 0),
                Event::ScopeEnter { site, .. } => (OpKind::Track(KIND_SCOPE_ENTER), CLASS_ALLOC, site, 0, 0),
                Event::ScopeExit { site, unwinding, .. } => (OpKind::Track(KIND_SCOPE_EXIT), CLASS_ALLOC, site, unwinding.into(), 0),
                Event::ForeignAlloc { ptr, size, label, .. } => (OpKind::Track(KIND_FOREIGN_ALLOC), CLASS_ALLOC, ptr, size, label),
                Event::ForeignFree { ptr, .. } => (OpKind::Track(KIND_FOREIGN_FREE), CLASS_ALLOC, ptr, 0, 0),
                Event::Handoff { ptr, label, .. } => (OpKind::Track(KIND_HANDOFF), CLASS_ALLOC, ptr, 0, label),
            };
            // A thread's own events with equal timestamps keep push order:
            // its free right after its allocation must not sort first.
            let class = if ts == last_ts { class.max(last_class) } else { class };
            (last_ts, last_class) = (ts, class);
            push(&mut out.ops, Op { key: ts << 1 | class, a, b, c, thread: t, stack, kind });
        }
        self.last[t as usize] = (last_ts, last_class);
        out.sorted = sorted;
        out.min_ts = min_key >> 1;
        out.max_ts = max_ts;
    }
}

/// A sorted run of buffered ops: one chunk's, those from `pos` on not yet applied.
#[derive(Debug, Default)]
struct Run {
    ops: Vec<Op>,
    pos: usize,
}

impl Run {
    #[inline]
    fn rest(&self) -> &[Op] {
        &self.ops[self.pos..]
    }
}

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
/// then call [`Replayer::finish`]. [`Replay::from_reader`] does exactly this.
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
            merge_runs(&slices, |op| self.apply(op));
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
        merge_runs(&slices, |op| out.push(*op));
        out
    }

    #[inline]
    fn apply(&mut self, op: &Op) {
        let ts = op.ts();
        if ts < self.max_applied {
            self.totals.late_events += 1;
        } else {
            self.max_applied = ts;
        }
        match op.kind {
            OpKind::Alloc => {
                let t = &mut self.totals;
                t.total_allocations += 1;
                t.total_allocated_bytes = t.total_allocated_bytes.wrapping_add(op.b);
                let s = &mut self.threads[op.thread as usize].stats;
                s.allocations += 1;
                s.allocated_bytes = s.allocated_bytes.wrapping_add(op.b);
                let (bytes, units) = self.sites.weigh(op.b);
                self.sizes.add_units(op.b, units, bytes);
                let scope = self.threads[op.thread as usize].scope;
                if scope != 0 {
                    self.track.scope_allocated(scope - 1, op.b, true);
                    self.track.scope_grow(scope - 1, op.b);
                }
                self.owner_live(ts, op.thread, op.b, 0, op.b);
                let site = self.site_of(op.stack);
                self.sites.gained(site, ts, op.b, Gain::Allocation);
                self.threads[op.thread as usize].last_alloc = op.a;
                self.land(ts, op.a, Live::new(op.b, ts, op.thread, scope, site), false);
            }
            OpKind::Dealloc => match self.live.free(op.a) {
                Some(freed) => {
                    if freed.size != op.b {
                        self.totals.size_mismatches += 1;
                    }
                    self.totals.total_deallocations += 1;
                    self.totals.live_count -= 1;
                    self.threads[op.thread as usize].stats.deallocations += 1;
                    self.release_bytes(op.thread, freed.size);
                    let owner = self.owner(&freed);
                    self.discharge(ts, &freed);
                    self.free_charge(freed.charge);
                    let lifetime = ts.saturating_sub(freed.start_ns);
                    let (bytes, units) = self.sites.weigh(freed.size);
                    self.lifetimes.add_units(lifetime, units, bytes);
                    let last = &mut self.threads[owner as usize].last_alloc;
                    let temporary = *last == op.a;
                    if temporary {
                        *last = 0;
                    }
                    self.sites.released(freed.site, ts, freed.size, Some(lifetime), temporary);
                    if let Some(n) = freed.scope() {
                        self.track.scope_shrink(n, freed.size, true);
                    }
                    if freed.tag != 0 {
                        let a = &mut self.track.allocs[freed.tag as usize - 1];
                        a.freed_at_ns = Some(ts);
                        a.step(ts, "deallocation");
                    }
                    self.note(ts);
                }
                None => {
                    let t = &mut self.totals;
                    t.prerecording_deallocations += 1;
                    t.prerecording_deallocated_bytes = t.prerecording_deallocated_bytes.wrapping_add(op.b);
                    self.threads[op.thread as usize].stats.prerecording_deallocations += 1;
                }
            },
            OpKind::Realloc | OpKind::ReallocLarge => self.realloc(ts, op),
            OpKind::MoveOut { large } => {
                let (old_size, _) = sizes(large, op.c);
                let taken = self.take_old(ts, op.thread, op.a, old_size);
                self.moving.insert(op.b, taken);
                self.note(ts);
            }
            OpKind::MoveIn { large } => {
                let (_, new_size) = sizes(large, op.c);
                // A link with no first half cannot come from a reader (both
                // halves come from one event); treat it as a reallocation of
                // an address that was not live.
                let taken = self.moving.remove(&op.a).flatten();
                let site = self.reallocated(op.thread, op.stack, op.b, new_size);
                // Stamped after the call, as an allocation: landing on a
                // held address is disorder, as for an allocation.
                self.put_new(ts, op.thread, op.b, new_size, site, taken, false);
            }
            OpKind::Track(kind) => self.apply_track(ts, kind, op),
        }
    }

    /// The counts of a reallocation by thread index `thread` to `new_size`
    /// bytes at `new_ptr` with stack `stack`; returns its site.
    fn reallocated(&mut self, thread: u32, stack: u32, new_ptr: u64, new_size: u64) -> u32 {
        let t = &mut self.totals;
        t.total_reallocations += 1;
        t.total_allocated_bytes = t.total_allocated_bytes.wrapping_add(new_size);
        let (bytes, units) = self.sites.weigh(new_size);
        self.sizes.add_units(new_size, units, bytes);
        let acc = &mut self.threads[thread as usize];
        acc.stats.reallocations += 1;
        acc.stats.allocated_bytes = acc.stats.allocated_bytes.wrapping_add(new_size);
        acc.last_alloc = new_ptr;
        let caller_scope = acc.scope;
        if caller_scope != 0 {
            self.track.scope_allocated(caller_scope - 1, new_size, false);
        }
        self.site_of(stack)
    }

    /// The release of a reallocation's old address `old_ptr` by thread
    /// index `thread`: returns the allocation it held (no longer live), or
    /// `None` (counted) if replay did not hold it.
    fn take_old(&mut self, ts: u64, thread: u32, old_ptr: u64, old_size: Option<u64>) -> Option<Live> {
        match self.live.free(old_ptr) {
            Some(freed) => {
                if old_size.is_some_and(|s| s != freed.size) {
                    self.totals.size_mismatches += 1;
                }
                self.totals.live_count -= 1;
                self.release_bytes(thread, freed.size);
                self.discharge(ts, &freed);
                self.sites.released(freed.site, ts, freed.size, None, false);
                Some(freed)
            }
            None => {
                let t = &mut self.totals;
                t.prerecording_reallocations += 1;
                t.prerecording_deallocated_bytes = t.prerecording_deallocated_bytes.wrapping_add(old_size.unwrap_or(0));
                None
            }
        }
    }

    /// The acquisition of a reallocation's new address `new_ptr` by thread
    /// index `thread`: `taken` (from [`Replayer::take_old`]) continues there
    /// at `new_size` bytes and site `site`, its growth charged to `thread`;
    /// or, if `None`, a new allocation of `thread` starts there.
    #[allow(clippy::too_many_arguments)]
    fn put_new(&mut self, ts: u64, thread: u32, new_ptr: u64, new_size: u64, site: u32, taken: Option<Live>, by_reallocation: bool) {
        self.sites.gained(site, ts, new_size, Gain::Reallocation { old_size: taken.as_ref().map(|l| l.size) });
        let live = match taken {
            Some(freed) => {
                let mut live = Live { size: new_size, site, first: freed.first | RESIZED, ..freed };
                self.regrow(&freed, &mut live, thread);
                self.charge_live(ts, &live);
                self.resized(ts, &live, freed.size, new_ptr);
                live
            }
            None => {
                let caller_scope = self.threads[thread as usize].scope;
                if caller_scope != 0 {
                    self.track.scope_grow(caller_scope - 1, new_size);
                }
                self.owner_live(ts, thread, new_size, 0, new_size);
                Live::new(new_size, ts, thread, caller_scope, site)
            }
        };
        self.land(ts, new_ptr, live, by_reallocation);
    }

    /// How many of `live`'s bytes are charged to its allocating thread, and
    /// the rest's thread index and bytes.
    fn split(&self, live: &Live) -> (u64, Option<Charge>) {
        match live.charge.checked_sub(1) {
            None => (live.size, None),
            Some(i) => {
                let c = self.charges[i as usize];
                (live.size.wrapping_sub(c.bytes), Some(c))
            }
        }
    }

    /// Removes `live`'s bytes from the live bytes of the threads charged for them.
    fn discharge(&mut self, ts: u64, live: &Live) {
        let (base, other) = self.split(live);
        self.owner_live(ts, self.owner(live), 0, base, live.size);
        if let Some(c) = other {
            self.owner_live(ts, c.thread, 0, c.bytes, live.size);
        }
    }

    /// Adds `live`'s bytes to the live bytes of the threads charged for them.
    fn charge_live(&mut self, ts: u64, live: &Live) {
        let (base, other) = self.split(live);
        self.owner_live(ts, self.owner(live), base, 0, live.size);
        if let Some(c) = other {
            self.owner_live(ts, c.thread, c.bytes, 0, live.size);
        }
    }

    fn free_charge(&mut self, charge: u32) {
        if let Some(i) = charge.checked_sub(1) {
            self.free_charges.push(i);
        }
    }

    /// Charges the growth of a reallocation by thread index `by` from
    /// `before` to `after` (same allocation, new size; `after.charge` is
    /// `before.charge`): growth goes to `by` (the allocating thread's own
    /// part, or the part of another thread, which `by` then takes over); a
    /// shrink comes off `by`'s part first, then the other. No part goes
    /// below zero, and the parts always sum to the size.
    fn regrow(&mut self, before: &Live, after: &mut Live, by: u32) {
        let (base, other) = self.split(before);
        let (g, grower) = other.map_or((0, None), |c| (c.bytes, Some(c.thread)));
        let owner = self.owner(before);
        let (new, was) = (after.size, before.size);
        let (g, grower) = if new >= was {
            let d = new - was;
            if by == owner {
                (g, grower)
            } else {
                (g + d, Some(by))
            }
        } else {
            let s = was - new;
            if by == owner {
                let from_base = s.min(base);
                (g - (s - from_base), grower)
            } else {
                (g - s.min(g), grower)
            }
        };
        match (grower.filter(|_| g != 0), after.charge.checked_sub(1)) {
            (Some(thread), Some(i)) => self.charges[i as usize] = Charge { thread, bytes: g },
            (Some(thread), None) => {
                let c = Charge { thread, bytes: g };
                let i = match self.free_charges.pop() {
                    Some(i) => {
                        self.charges[i as usize] = c;
                        i
                    }
                    None => {
                        self.charges.push(c);
                        self.charges.len() as u32 - 1
                    }
                };
                after.charge = i + 1;
            }
            (None, Some(i)) => {
                self.free_charges.push(i);
                after.charge = 0;
            }
            (None, None) => {}
        }
    }

    /// A reallocation with one stamp: in place, or (before version 4, or
    /// without a return stamp) moved, both halves at that stamp.
    fn realloc(&mut self, ts: u64, op: &Op) {
        let (old_ptr, new_ptr) = (op.a, op.b);
        let (old_size, new_size) = sizes(op.kind == OpKind::ReallocLarge, op.c);
        let site = self.reallocated(op.thread, op.stack, new_ptr, new_size);
        if old_ptr == new_ptr {
            if let Some(before) = self.live.resize(old_ptr, new_size, site) {
                let was = before.size;
                let mut held = Live { size: new_size, site, first: before.first | RESIZED, ..before };
                if old_size.is_some_and(|s| s != was) {
                    self.totals.size_mismatches += 1;
                }
                self.totals.live_bytes = self.totals.live_bytes.wrapping_add(new_size);
                self.release_bytes(op.thread, was);
                self.discharge(ts, &before);
                self.regrow(&before, &mut held, op.thread);
                self.live.update(old_ptr, |l| {
                    l.charge = held.charge;
                    l.first = held.first;
                });
                self.charge_live(ts, &held);
                self.sites.released(before.site, ts, was, None, false);
                self.sites.gained(site, ts, new_size, Gain::Reallocation { old_size: Some(was) });
                self.resized(ts, &held, was, new_ptr);
                self.note(ts);
                return;
            }
        }
        let taken = self.take_old(ts, op.thread, old_ptr, old_size);
        // Stamped before the call: the new address may be one another
        // thread deallocated during it, stamped later (a reordered
        // reallocation, not disorder).
        self.put_new(ts, op.thread, new_ptr, new_size, site, taken, true);
    }

    /// The scope and tracking side of a reallocation of `live` (already at
    /// its new size) from `was` bytes to its new address `new_ptr`.
    fn resized(&mut self, ts: u64, live: &Live, was: u64, new_ptr: u64) {
        if let Some(n) = live.scope() {
            self.track.scope_shrink(n, was, false);
            self.track.scope_grow(n, live.size);
        }
        if live.tag != 0 {
            let a = &mut self.track.allocs[live.tag as usize - 1];
            a.ptr = new_ptr;
            a.size = live.size;
            a.peak_size = a.peak_size.max(live.size);
            a.reallocations += 1;
            a.step(ts, "reallocation");
        }
    }

    /// The site of an allocation or reallocation with stack id `stack`,
    /// counting stacks that are unknown or were not captured.
    #[inline]
    fn site_of(&mut self, stack: u32) -> u32 {
        let stack = match self.stacks.nodes.get((stack as usize).wrapping_sub(1)) {
            _ if stack == 0 => 0,
            Some(n) => {
                if n.address == MARK_TABLE_FULL && n.parent == 0 {
                    self.stacks.table_full_allocations += 1;
                }
                stack
            }
            None => {
                self.stacks.unknown_stack_allocations += 1;
                0
            }
        };
        self.sites.site_of(stack)
    }

    /// The thread index that made `live`.
    #[inline]
    fn owner(&self, live: &Live) -> u32 {
        match live.scope() {
            None => live.origin,
            Some(n) => self.track.nodes[n as usize].thread_index,
        }
    }

    /// Moves the live bytes of allocations made by thread index `owner`
    /// (`add` and `sub` are parts of an allocation of `size` bytes; when
    /// sampling, they are weighted as it is, for the timeline).
    #[inline]
    fn owner_live(&mut self, ts: u64, owner: u32, add: u64, sub: u64, size: u64) {
        let (add, sub) = if self.sites.interval == 0 { (add, sub) } else { (self.sites.scale(add, size), self.sites.scale(sub, size)) };
        let acc = &mut self.threads[owner as usize];
        acc.live_bytes = acc.live_bytes.wrapping_add(add).wrapping_sub(sub);
        if let Some(t) = &mut acc.timeline {
            t.note(ts, acc.live_bytes, 0);
        }
    }

    /// The live allocation containing `ptr`: the one starting there, else
    /// one of 4 KiB or more containing it (kept in address order), else one
    /// starting at an 8-byte-aligned address at most [`MAX_INTERIOR_OFFSET`]
    /// bytes below it.
    fn containing(&self, ptr: u64) -> Option<u64> {
        if ptr == 0 {
            return None;
        }
        if self.live.get(ptr).is_some() {
            return Some(ptr);
        }
        if let Some(start) = self.live.large_containing(ptr) {
            return Some(start);
        }
        let mut start = ptr & !7;
        let lowest = ptr.saturating_sub(MAX_INTERIOR_OFFSET);
        while start >= lowest && start > 0 {
            if let Some(l) = self.live.get(start) {
                if start != ptr && start.wrapping_add(l.size) > ptr {
                    return Some(start);
                }
            }
            start -= 8;
        }
        None
    }

    /// The tracked-allocation index of the live allocation at `start`, made
    /// on first use (at `ts`): its history starts with its allocation, at
    /// the size it had then, and, if it was reallocated since, its size at
    /// `ts` (the steps in between were not followed).
    fn tag(&mut self, ts: u64, start: u64) -> Option<u32> {
        let live = self.live.get(start)?;
        if live.tag == 0 {
            let mut a = AllocAcc {
                ptr: start,
                size: live.size,
                allocated_at_ns: live.start_ns,
                freed_at_ns: None,
                reallocations: 0,
                peak_size: live.size,
                history: Vec::new(),
                history_truncated: false,
                vars: Vec::new(),
                handoffs: Vec::new(),
            };
            if live.resized() {
                if let Some(first) = live.first_size() {
                    a.size = first;
                    a.step(live.start_ns, "allocation");
                    a.size = live.size;
                }
                a.step(ts, "tracked");
            } else {
                a.step(live.start_ns, "allocation");
            }
            self.track.allocs.push(a);
            let tag = self.track.allocs.len() as u32;
            self.live.update(start, |l| l.tag = tag);
            return Some(tag - 1);
        }
        Some(live.tag - 1)
    }

    /// Links variable `v` to the allocation that starts at `start` (the one
    /// [`Replayer::containing`] found for `ptr`), or notes why there is none.
    fn link(&mut self, ts: u64, v: u32, ptr: u64, start: Option<u64>) {
        let Some(start) = start else {
            let var = &mut self.track.vars[v as usize];
            var.unlinked_addresses += 1;
            if var.unlinked_addresses <= MAX_UNLINKED_NOTES {
                var.notes.push(format!(
                    "no live allocation contains {ptr:#x}: allocated before the recording started, freed already, or not on the heap"
                ));
            }
            return;
        };
        let Some(a) = self.tag(ts, start) else { return };
        let alloc = &mut self.track.allocs[a as usize];
        if !alloc.vars.contains(&v) {
            alloc.vars.push(v);
            let size = alloc.size;
            let var = &mut self.track.vars[v as usize];
            var.allocs.push(a);
            var.size = var.size.wrapping_add(size);
        }
    }

    /// Applies a tracking event of thread index `op.thread`.
    fn apply_track(&mut self, ts: u64, kind: u8, op: &Op) {
        let t = op.thread;
        let thread_id = self.threads[t as usize].stats.thread;
        let last_var = self.track.thread(t).last_var;
        match kind {
            KIND_VAR => {
                let (ptr, site) = (op.a, op.c);
                let start = self.containing(ptr);
                // The same site naming this allocation again: no new variable
                // (but each clone is one: clones of an `Rc` share its allocation).
                let clone_site = self.track.sites.get(&site).is_some_and(|s| s.kind == SITE_CLONE);
                if let Some(a) = start.and_then(|start| self.live.get(start)).map(|l| l.tag).filter(|&tag| tag != 0 && !clone_site) {
                    let existing =
                        self.track.allocs[a as usize - 1].vars.iter().copied().find(|&v| self.track.vars[v as usize].site == site);
                    if let Some(v) = existing {
                        self.track.totals.retracked += 1;
                        self.track.vars[v as usize].retracked += 1;
                        self.track.thread(t).last_var = Some(v);
                        return;
                    }
                }
                self.track.totals.variables += 1;
                if self.track.vars.len() >= MAX_VARIABLES {
                    self.track.thread(t).last_var = None;
                    return;
                }
                let scope = self.threads[t as usize].scope.checked_sub(1);
                let v = self.track.vars.len() as u32;
                self.track.vars.push(VarAcc {
                    site,
                    type_key: None,
                    thread: thread_id,
                    scope,
                    tracked_at_ns: ts,
                    size: 0,
                    allocs: Vec::new(),
                    reported_addresses: ptr != 0,
                    counts: None,
                    clone_of: None,
                    retracked: 0,
                    notes: Vec::new(),
                    unlinked_bytes: 0,
                    regions_truncated: false,
                    unlinked_addresses: 0,
                });
                self.track.thread(t).last_var = Some(v);
                if ptr != 0 {
                    self.link(ts, v, ptr, start);
                }
            }
            KIND_VAR_MORE => {
                let Some(v) = last_var else { return };
                if op.a == VAR_MORE_PAST_BOUND {
                    let var = &mut self.track.vars[v as usize];
                    var.reported_addresses = true;
                    var.regions_truncated = true;
                    var.unlinked_bytes = var.unlinked_bytes.saturating_add(op.b);
                    var.notes.push(format!(
                        "owns more heap allocations than one value reports by address ({}): {} bytes in the others are counted, not linked",
                        MAX_VAR_REGIONS, op.b
                    ));
                } else if op.a != 0 {
                    self.track.vars[v as usize].reported_addresses = true;
                    self.link(ts, v, op.a, self.containing(op.a));
                } else {
                    let var = &mut self.track.vars[v as usize];
                    var.reported_addresses = true;
                    var.unlinked_bytes = var.unlinked_bytes.saturating_add(op.b);
                    var.notes.push(if op.b == 0 {
                        "holds heap memory whose address and size the value does not expose".to_owned()
                    } else {
                        format!("holds {} bytes of heap memory whose address the value does not expose", op.b)
                    });
                }
            }
            KIND_VAR_TYPE => {
                if let Some(v) = last_var {
                    self.track.vars[v as usize].type_key = Some(op.a);
                }
            }
            KIND_SHARED => {
                if let Some(v) = last_var {
                    self.track.vars[v as usize].counts = Some((op.a, op.b));
                }
            }
            KIND_CLONE_OF => {
                let Some(v) = last_var else { return };
                let source = self.containing(op.a).and_then(|s| self.live.get(s)).map(|l| l.tag).filter(|&tag| tag != 0);
                let from = source.and_then(|a| self.track.allocs[a as usize - 1].vars.iter().rev().copied().find(|&w| w != v));
                let var = &mut self.track.vars[v as usize];
                match from {
                    Some(w) => var.clone_of = Some(w),
                    None if op.a == 0 => var.notes.push("cloned from a value with no heap allocation".to_owned()),
                    None => var.notes.push(format!("cloned from an untracked value at {:#x}", op.a)),
                }
            }
            KIND_SCOPE_ENTER => {
                self.track.totals.scope_entries += 1;
                let parent = self.track.thread(t).stack.last().map(|&(n, _)| n);
                let node = match self.track.node(t, thread_id, parent, op.a) {
                    Some(n) => n,
                    None => {
                        self.track.totals.scopes_collapsed += 1;
                        match parent {
                            Some(p) => p,
                            None => return,
                        }
                    }
                };
                self.track.nodes[node as usize].node.entries += 1;
                self.track.thread(t).stack.push((node, ts));
                self.threads[t as usize].scope = node + 1;
            }
            KIND_SCOPE_EXIT => {
                self.track.thread(t);
                let nodes = &self.track.nodes;
                let tt = &mut self.track.threads[t as usize];
                let Some(i) = tt.stack.iter().rposition(|&(n, _)| nodes[n as usize].site == op.a) else {
                    self.track.totals.unmatched_scope_exits += 1;
                    return;
                };
                let closing: Vec<(u32, u64)> = tt.stack.drain(i..).collect();
                let top = tt.stack.last().map_or(0, |&(n, _)| n + 1);
                self.threads[t as usize].scope = top;
                for (k, &(n, entered)) in closing.iter().enumerate() {
                    let node = &mut self.track.nodes[n as usize].node;
                    let d = ts.saturating_sub(entered);
                    node.total_duration_ns = node.total_duration_ns.saturating_add(d);
                    node.max_duration_ns = node.max_duration_ns.max(d);
                    if op.b != 0 {
                        node.unwound += 1;
                    }
                    self.track.totals.scope_intervals += 1;
                    if self.track.intervals.len() < MAX_SCOPE_INTERVALS {
                        self.track.intervals.push(ScopeInterval { scope: n, enter_ns: entered, exit_ns: ts });
                    }
                    if k > 0 {
                        self.track.totals.unmatched_scope_exits += 1;
                    }
                }
            }
            KIND_FOREIGN_ALLOC => {
                self.track.totals.foreign_regions += 1;
                if let Some(old) = self.track.foreign_live.remove(&op.a) {
                    self.track.foreign[old as usize].released_at_ns = Some(ts);
                }
                if self.track.foreign.len() < MAX_FOREIGN {
                    self.track.foreign.push(ForeignAcc {
                        label: op.c,
                        ptr: op.a,
                        size: op.b,
                        thread: thread_id,
                        tracked_at_ns: ts,
                        released_at_ns: None,
                    });
                    self.track.foreign_live.insert(op.a, self.track.foreign.len() as u32 - 1);
                }
            }
            KIND_FOREIGN_FREE => match self.track.foreign_live.remove(&op.a) {
                Some(i) => self.track.foreign[i as usize].released_at_ns = Some(ts),
                None => self.track.totals.unknown_foreign_releases += 1,
            },
            KIND_HANDOFF => {
                self.track.totals.handoffs += 1;
                let label = self.track.texts.get(&op.c).cloned().unwrap_or_else(|| "<unknown label>".to_owned());
                match self.containing(op.a).and_then(|s| self.tag(ts, s)) {
                    Some(a) => self.track.allocs[a as usize].handoffs.push(Handoff { label, at_ns: ts, thread: thread_id }),
                    None => self.track.totals.unlinked_handoffs += 1,
                }
            }
            _ => {}
        }
    }

    /// Counts `size` bytes freed by a call of thread `thread`: deallocated
    /// by it, no longer live (the caller counts the allocation itself).
    #[inline]
    fn release_bytes(&mut self, thread: u32, size: u64) {
        let t = &mut self.totals;
        t.total_deallocated_bytes = t.total_deallocated_bytes.wrapping_add(size);
        t.live_bytes = t.live_bytes.wrapping_sub(size);
        let s = &mut self.threads[thread as usize].stats;
        s.deallocated_bytes = s.deallocated_bytes.wrapping_add(size);
    }

    /// Puts `live` at `ptr` (deferring it if `ptr` is held) and counts it live.
    ///
    /// A reallocation is stamped before its call, so the address it returns
    /// can be one another thread deallocated during the call, stamped later:
    /// its landing waits for that deallocation and is counted in
    /// `reordered_reallocations`, which is expected. An allocation is stamped
    /// after its call, so for one to land on a held address is real disorder
    /// (`address_conflicts`).
    #[inline]
    fn land(&mut self, ts: u64, ptr: u64, live: Live, by_reallocation: bool) {
        let t = &mut self.totals;
        t.live_count += 1;
        t.live_bytes = t.live_bytes.wrapping_add(live.size);
        if !self.live.land(ptr, live) {
            if by_reallocation {
                self.totals.reordered_reallocations += 1;
            } else {
                self.totals.address_conflicts += 1;
            }
        }
        self.note(ts);
    }

    /// Updates the peak and the timeline after a change of the live bytes at `ts`.
    #[inline]
    fn note(&mut self, ts: u64) {
        let t = &mut self.totals;
        // Sampling: the sites' peak and the timeline follow the estimates
        // (the weighted live), not the samples' own bytes.
        let weighted = self.sites.weighted_live();
        if t.live_bytes > t.peak_live_bytes {
            t.peak_live_bytes = t.live_bytes;
            t.peak_at_ns = ts;
            if weighted.is_none() {
                self.sites.new_peak();
            }
        }
        let (bytes, count) = match weighted {
            Some((bytes, count)) => {
                self.sites.weighted_peak(bytes, ts);
                (bytes, count)
            }
            None => (t.live_bytes, t.live_count),
        };
        self.timeline.note(ts, bytes, count);
        self.sites.follow_shift(self.timeline.shift());
    }

    fn finished_cleanly(&self) -> bool {
        self.end.is_some() && self.damage_count == 0
    }

    /// Timestamps of the buffered events, in the order they will apply.
    #[cfg(test)]
    pub(super) fn buffered(&self) -> Vec<u64> {
        self.pending().iter().map(Op::ts).collect()
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
        let suggestions = super::suggest::suggestions(
            &self.totals,
            &tracked,
            &self.lifetimes.buckets(),
            match self.end {
                Some(e) if finished && e.ended_at_exit => Some(super::suggest::Leaks::AtExit),
                Some(e) if finished && e.leaks_asked => Some(super::suggest::Leaks::Asked),
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

/// What one live allocation is, for [`Replayer::view`]: its size and its
/// site's stack id.
type Held = (u64, u32);

impl Replayer {
    /// The totals and the figures of every site as they stand once every
    /// event read so far is applied, without applying the events still
    /// buffered (those stamped at or after the last release): a live view
    /// of a recording still being written ([`super::Follow`]), whose last
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
                    realloc_of[i] += super::sites::reallocations_weight(old_size, size, interval);
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
                let gains = u[0] as f64 / super::sites::COUNT_UNITS as f64;
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

#[cfg(test)]
mod merge_tests {
    use super::*;

    fn op(key: u64, tag: u64) -> Op {
        Op { key, a: tag, b: 0, c: 0, thread: 0, stack: 0, kind: OpKind::Alloc }
    }

    /// The merge of sorted runs is the stable sort of their concatenation:
    /// by key, equal keys in run order then in order within a run.
    #[test]
    fn merged_runs_are_the_stable_sort_of_their_concatenation() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for case in 0..2000 {
            let k = (next() % 9) as usize;
            // Few distinct keys: many ties within and across runs.
            let span = 1 + next() % if case % 2 == 0 { 8 } else { 1000 };
            let mut tag = 0;
            let runs: Vec<Vec<Op>> = (0..k)
                .map(|_| {
                    let mut keys: Vec<u64> = (0..next() % 20).map(|_| next() % span).collect();
                    keys.sort_unstable();
                    keys.into_iter()
                        .map(|key| {
                            tag += 1;
                            op(key, tag)
                        })
                        .collect()
                })
                .collect();
            let mut want: Vec<Op> = runs.iter().flatten().copied().collect();
            want.sort_by_key(|op| op.key);
            let slices: Vec<&[Op]> = runs.iter().map(Vec::as_slice).collect();
            let mut got = Vec::new();
            merge_runs(&slices, |op| got.push(*op));
            let tags = |v: &[Op]| v.iter().map(|op| (op.key, op.a)).collect::<Vec<_>>();
            assert_eq!(tags(&got), tags(&want), "case {case}: {k} runs");
        }
    }
}
