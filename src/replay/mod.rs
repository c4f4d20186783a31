//! Replay: folds a recording back into totals, per-thread statistics, the
//! allocations still live at the end, histograms and a timeline.
//!
//! ```no_run
//! let replay = memscope::replay::replay_file("run.memscope".as_ref())?;
//! println!("{} bytes live at the end", replay.summary.live_bytes);
//! # Ok::<(), memscope::Error>(())
//! ```
//!
//! The counting rules (what an allocation, a deallocation and a
//! reallocation are, and which bytes each adds to which total) are the
//! glossary of FORMAT.md; the doc comments of [`Totals`] repeat them. The
//! order of replay is FORMAT.md's "Replay" section, summarised below.
//!
//! # Order
//!
//! Events are applied in global timestamp order with bounded memory: the
//! [`Replayer`] buffers events and, when it reads a `Round` record, applies
//! every buffered event stamped before its watermark. In format version 4
//! the watermark is exact (every event stamped before it is in an earlier
//! record), so this is the exact merge. Before version 4, it applies only
//! what was stamped before the newest earlier watermark at least 20 ms older
//! (the release lag: an event stamped just before a round began may be
//! pushed after the drainer looked at its ring, and its thread may be
//! preempted in between while rounds go on). `End`, or the end of the file,
//! releases everything. A version-4 reallocation that moved applies in two
//! steps: the old address is released at its first stamp, the new one
//! acquired at its return stamp. At equal timestamps deallocations and
//! reallocations go before allocations, so a free on one thread and the
//! reuse of the address on another stamped in the same nanosecond apply
//! free-first; events of one thread with equal timestamps keep the order the
//! thread pushed them in; other ties keep file order.
//!
//! Two repairs keep a disordered recording replayable, and are counted
//! (none is needed in a healthy version-4 file): an allocation landing on
//! an address the replay still holds live is deferred until that address is
//! freed ([`Totals::address_conflicts`]); an event stamped earlier than one
//! already applied is applied at once ([`Totals::late_events`]).

mod engine;
mod follow;
mod live;
mod sampled;
mod segments;
mod sites;
mod stats;
mod suggest;
#[cfg(test)]
mod tests;
mod track;

pub use engine::Replayer;
pub use follow::{Follow, HistoryLost, SiteOrder, Snapshot};
pub use sampled::Sampling;
pub use segments::{list_segments, SegmentFile, SegmentsReport};
pub use sites::{SiteEstimate, SitePoint, SiteStats, Stacks};
pub use track::{
    ForeignRegion, HandedOver, Handoff, HistoryEntry, ScopeInterval, ScopeNode, Suggestion, TrackedAllocation, TrackingTotals, Variable,
    MAX_FOREIGN, MAX_HANDOFFS, MAX_HISTORY, MAX_INTERIOR_OFFSET, MAX_SCOPE_DEPTH, MAX_SCOPE_INTERVALS, MAX_SCOPE_NODES, MAX_UNLINKED_NOTES,
    MAX_VARIABLES,
};

use crate::format::{Damage, DamageKind, Reader, SegmentHeader};
use crate::Error;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::mpsc;

/// Everything a replay learns from one recording.
///
/// Its JSON form is the document [`crate::export::json`] writes, described
/// field by field in docs/JSON.md.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct Replay {
    /// The segment header.
    pub header: SegmentHeader,
    /// The totals over the whole recording.
    pub summary: Totals,
    /// One entry per recorder thread id seen in the file (including thread
    /// 0, which carries lost events not attributable to a thread), sorted by
    /// thread id.
    pub threads: Vec<ThreadStats>,
    /// Up to [`MAX_LEAKS`] allocations still live at the end, largest first
    /// (ties: earliest allocated first, then lowest address).
    pub largest_leaks: Vec<Leak>,
    /// Lifetimes of the freed allocations in nanoseconds, in log2 buckets.
    pub lifetime_histogram: Vec<Bucket>,
    /// Sizes of the allocations and the new sizes of the reallocations, in
    /// bytes, in log2 buckets.
    pub size_histogram: Vec<Bucket>,
    /// Live bytes over time, downsampled to at most [`TIMELINE_POINTS`] points.
    pub timeline: Vec<TimelinePoint>,
    /// Live bytes over time per allocating thread, at the points of
    /// `timeline`: the first [`MAX_THREAD_TIMELINES`] threads seen that ever
    /// held live bytes, sorted by thread id.
    pub thread_timelines: Vec<ThreadTimeline>,
    /// Variables named by `track_var!` and `track_clone!`, in the order
    /// tracked (at most [`MAX_VARIABLES`]).
    pub variables: Vec<Variable>,
    /// The scope trees of every thread, as nodes with parent links, in the
    /// order first entered.
    pub scopes: Vec<ScopeNode>,
    /// Closed scope entries with their times, in the order closed (at most
    /// [`MAX_SCOPE_INTERVALS`]; [`TrackingTotals::scope_intervals`] counts them all).
    pub scope_intervals: Vec<ScopeInterval>,
    /// Foreign memory tracked with `memscope::ffi`, in the order tracked
    /// (at most [`MAX_FOREIGN`]).
    pub foreign: Vec<ForeignRegion>,
    /// Allocations handed to foreign code (`memscope::ffi::handed_over`,
    /// `into_raw`), tracked by a variable or not, in the order handed over
    /// (at most [`MAX_HANDOFFS`]).
    pub handoffs: Vec<HandedOver>,
    /// Counts over the tracking events.
    pub tracking: TrackingTotals,
    /// Suggestions drawn from the figures above, each naming the figures it rests on.
    pub suggestions: Vec<Suggestion>,
    /// Call stacks: the stack tree, the module map and exact figures per site.
    pub stacks: Stacks,
    /// Damaged stretches of the file, in file order; at most
    /// [`MAX_DAMAGE_LISTED`] (the rest are counted in `damage_count`).
    pub damage: Vec<Damage>,
    /// How many damaged stretches the file has (the length of `damage`
    /// unless more than [`MAX_DAMAGE_LISTED`]).
    pub damage_count: u64,
    /// Bytes of the file skipped as damaged, in bytes.
    pub damaged_bytes: u64,
    /// Whether an `End` record was read: the recording finished cleanly.
    pub finished: bool,
    /// The `End` record's fields, when one was read.
    pub end: Option<EndRecord>,
    /// `Round` records read.
    pub rounds: u64,
    /// Length of the file in bytes (of the segments read, for a directory).
    pub file_bytes: u64,
    /// The segments replayed (version 6): which recording, which segments,
    /// whether the history before the first one is missing, and what its
    /// checkpoint seeded. Empty for a file of an unsegmented recording.
    pub segments: SegmentsReport,
    /// Set when the recording sampled allocations by bytes (format version
    /// 6, `Recorder::sampling_interval_bytes`): then the per-site figures
    /// ([`Stacks::sites`]) and what derives from them are estimates; the
    /// summary's counts and bytes of calls and `live_bytes` are exact;
    /// `summary.peak_live_bytes` is the most bytes live at the end of a
    /// drain round (exact at those instants, so a lower bound of the peak);
    /// the histograms and timelines are estimates too (each sample
    /// weighted as the sites weigh it), and each leak listed is a sample
    /// that says what it stands for ([`Leak::stands_for`]). Each site's
    /// [`SiteStats::estimate`] gives its samples and standard errors.
    pub sampling: Option<Sampling>,
}

impl Replay {
    /// Whether what is live at the end leaked: the recording ended at
    /// process exit (the `atexit` hook finished it) or the program asked to
    /// treat it so, and no event was lost. Otherwise it is only *live at
    /// the end*: the program still held it when it called `finish()` (or
    /// events were lost, so the live set may hold allocations whose
    /// deallocation was not recorded).
    pub fn live_at_end_is_leak(&self) -> bool {
        self.end.is_some_and(|e| e.ended_at_exit || e.leaks_asked) && self.summary.lost_events == 0
    }

    /// Replays a recording read from `r`; `path_for_errors` names it in errors.
    ///
    /// Damaged records are skipped, listed in [`Replay::damage`], and replay
    /// goes on with the next good record; a file without an `End` record
    /// replays up to its last good record with [`Replay::finished`] false.
    /// A file whose records claim more events than [`max_events`] or hold
    /// more allocations than [`max_live`] of the bytes read so far was not
    /// written by memscope: replay stops there, and the rest is reported as
    /// damage ([`DamageKind::OverLimit`]). This bounds replay's time and
    /// memory by the file's length.
    ///
    /// # Errors
    /// [`Error::Header`] when `r` is not a recording this version can read;
    /// [`Error::Read`] when reading fails part-way (with the byte offset).
    ///
    /// Reading, decompressing, decoding and turning each chunk's events
    /// into sortable operations run on a second thread (`memscope-read`), at
    /// most [`READ_AHEAD`] records ahead of replay, which merges them in
    /// timestamp order and applies them on the calling thread; if that
    /// thread cannot be started, the calling thread does both.
    pub fn from_reader<R: Read + Send>(r: R, path_for_errors: &Path) -> Result<Replay, Error> {
        let reader = Reader::new(r).map_err(|source| Error::Header { path: path_for_errors.to_path_buf(), source })?;
        let mut replayer = Replayer::new(*reader.header());
        let mut report = SegmentsReport::default();
        let read_error = |offset, source| Error::Read { path: path_for_errors.to_path_buf(), offset, source };
        let (tx, rx) = mpsc::sync_channel::<Next>(READ_AHEAD);
        let (back_tx, back_rx) = mpsc::sync_channel::<Vec<engine::Op>>(READ_AHEAD + 2);
        // The reader goes to the worker and comes back when it stops; if the
        // worker cannot start, it comes back at once.
        let slot = std::sync::Mutex::new(Some(reader));
        let (stopped, mut reader) = std::thread::scope(|scope| {
            let worker = std::thread::Builder::new().name("memscope-read".into()).spawn_scoped(scope, || {
                let back_rx = back_rx;
                let mut reader = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some(reader) = &mut reader {
                    read_ahead(reader, &tx, &back_rx);
                }
                drop(tx);
                reader
            });
            match worker {
                Ok(worker) => {
                    let stopped = drive(
                        &mut replayer,
                        &mut report,
                        || rx.recv().unwrap_or((Ok(None), 0)),
                        |ops| {
                            // The worker reuses emptied run buffers; when it has enough, they are dropped.
                            let _ = back_tx.try_send(ops);
                        },
                    );
                    // Dropping the receiver stops a worker that reads ahead.
                    drop(rx);
                    let reader = worker.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
                    (stopped, reader)
                }
                Err(_) => {
                    let mut reader = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
                    let stopped = match &mut reader {
                        Some(reader) => drive(
                            &mut replayer,
                            &mut report,
                            || (reader.next_record().map(|r| r.map(|r| r.map(Item::Record))), reader.offset()),
                            drop,
                        ),
                        None => Ok(None),
                    };
                    (stopped, reader)
                }
            }
        });
        let Some(reader) = reader.as_mut() else {
            unreachable!("the reader comes back from the worker");
        };
        match stopped {
            Err((offset, source)) => return Err(read_error(offset, source)),
            Ok(None) => {}
            Ok(Some((read_bytes, what, count, max))) => {
                // The worker read ahead of `read_bytes`: those bytes are skipped too.
                let ahead = reader.offset() - read_bytes;
                let skipped = reader.skip_to_end().map_err(|source| read_error(reader.offset(), source))?;
                let skipped_bytes = ahead + skipped;
                replayer.damage(Damage { offset: read_bytes, kind: DamageKind::OverLimit { what, count, read_bytes, max }, skipped_bytes });
            }
        }
        replayer.set_header(*reader.header());
        let mut replay = replayer.finish(reader.offset());
        if let Some(file) = report.segments.first_mut() {
            file.bytes = replay.file_bytes;
            file.damage_count = replay.damage_count;
            file.continued = replay.end.is_some_and(|e| e.continued);
        }
        replay.segments = report;
        Ok(replay)
    }

    /// Whether the file is damaged or truncated: some record was skipped or
    /// the `End` record is missing. The replay covers every good record.
    pub fn is_incomplete(&self) -> bool {
        self.damage_count > 0 || !self.finished
    }
}

/// Records the reading thread of [`Replay::from_reader`] decodes at most
/// ahead of replay: each holds at most [`crate::format::MAX_CHUNK_EVENTS`]
/// events, so the read-ahead costs a few MB at most.
pub const READ_AHEAD: usize = 4;

/// What the reading thread sends: a record, or an Events record's chunk
/// already converted to ops, or a checkpoint's allocations so converted
/// (with how many allocations and bytes it seeds).
enum Item {
    Record(crate::format::Record),
    Batch(engine::Batch),
    Seed(u64, u64, Vec<engine::Batch>),
    /// A Checkpoint events record's events so converted (how many).
    SeedEvents(u64, engine::Batch),
}

/// A record read, or the end, or a read error; and the offset after it.
type Next = (std::io::Result<Option<Result<Item, Damage>>>, u64);

/// Reads records and sends them until the end, a read error, or the
/// receiver is gone. Chunks of events (and checkpoints) go as ops, made by
/// one converter in file order, in buffers from `back` when there are some.
fn read_ahead<R: Read>(reader: &mut Reader<R>, tx: &mpsc::SyncSender<Next>, back: &mpsc::Receiver<Vec<engine::Op>>) {
    let mut converter = engine::Converter::default();
    let mut convert = |thread: u32, events: &[crate::format::Event]| {
        let mut batch = engine::Batch::with_ops(back.try_recv().unwrap_or_default());
        converter.convert(thread, events, &mut batch);
        batch
    };
    loop {
        let next = match reader.next_record() {
            Ok(Some(Ok(crate::format::Record::Events(chunk)))) => {
                let batch = convert(chunk.thread, &chunk.events);
                reader.recycle(chunk.events);
                Ok(Some(Ok(Item::Batch(batch))))
            }
            Ok(Some(Ok(crate::format::Record::Checkpoint(c)))) => {
                let mut counts = SegmentsReport::default();
                let batches = segments::seed_chunks(&c, &mut counts).iter().map(|(thread, events)| convert(*thread, events)).collect();
                Ok(Some(Ok(Item::Seed(counts.seeded_allocations, counts.seeded_bytes, batches))))
            }
            Ok(Some(Ok(crate::format::Record::CheckpointEvents(c)))) => {
                let batch = convert(c.thread, &c.events);
                Ok(Some(Ok(Item::SeedEvents(c.events.len() as u64, batch))))
            }
            other => other.map(|r| r.map(|r| r.map(Item::Record))),
        };
        let last = !matches!(next, Ok(Some(_)));
        if tx.send((next, reader.offset())).is_err() || last {
            return;
        }
    }
}

/// What stopped replay early: a read error (offset, error), or a limit of
/// FORMAT.md's "Limits" (bytes read, what, how many, the most allowed).
type Stopped = Result<Option<(u64, &'static str, u64, u64)>, (u64, std::io::Error)>;

/// Feeds `replayer` the records `next` gives, checking the limits after
/// each; run buffers it empties go to `spent`. One file is one segment:
/// its checkpoint seeds the live set.
fn drive(
    replayer: &mut Replayer,
    report: &mut SegmentsReport,
    mut next: impl FnMut() -> Next,
    mut spent: impl FnMut(Vec<engine::Op>),
) -> Stopped {
    loop {
        let (record, read_bytes) = next();
        match record {
            Ok(None) => return Ok(None),
            Ok(Some(Ok(Item::Record(crate::format::Record::Segment(s))))) => report.open_one(&s),
            Ok(Some(Ok(Item::Record(crate::format::Record::Checkpoint(c))))) => segments::seed(replayer, &c, report),
            Ok(Some(Ok(Item::Record(crate::format::Record::CheckpointEvents(c))))) => segments::seed_events(replayer, &c, report),
            Ok(Some(Ok(Item::Record(record)))) => replayer.record(&record),
            Ok(Some(Ok(Item::Batch(batch)))) => replayer.batch(batch),
            Ok(Some(Ok(Item::Seed(allocations, bytes, batches)))) => {
                report.seeded_allocations += allocations;
                report.seeded_bytes = report.seeded_bytes.saturating_add(bytes);
                segments::unlimited(replayer, |r| batches.into_iter().for_each(|b| r.batch(b)));
            }
            Ok(Some(Ok(Item::SeedEvents(events, batch)))) => {
                report.seeded_events += events;
                segments::unlimited(replayer, |r| r.batch(batch));
            }
            Ok(Some(Err(damage))) => replayer.damage(damage),
            Err(source) => return Err((read_bytes, source)),
        }
        replayer.spent(&mut spent);
        replayer.window_limit = engine::WINDOW_LIMIT.saturating_add((read_bytes / engine::WINDOW_BYTES_PER_EVENT) as usize);
        let (events, live) = (replayer.totals.events, replayer.held());
        if events > max_events(read_bytes) {
            return Ok(Some((read_bytes, "events", events, max_events(read_bytes))));
        }
        if live > max_live(read_bytes) {
            return Ok(Some((read_bytes, "live allocations", live, max_live(read_bytes))));
        }
    }
}

/// Opens the recording at `path` and replays it (see [`Replay::from_reader`]).
/// `path` may be a directory of segments (`Recorder::segment_bytes`): its
/// segments replay in order as one recording, and a missing, truncated or
/// foreign segment is named in [`Replay::damage`] while the rest replays
/// (FORMAT.md, "Replay of a directory").
///
/// # Errors
/// [`Error::Open`] when the file cannot be opened, or a directory cannot
/// be listed or holds no segment of a recording; otherwise as
/// [`Replay::from_reader`]. Every error names `path` (or the segment).
pub fn replay_file(path: &Path) -> Result<Replay, Error> {
    if path.is_dir() {
        return segments::replay_dir(path);
    }
    let file = File::open(path).map_err(|source| Error::Open { path: path.to_path_buf(), source })?;
    Replay::from_reader(file, path)
}

/// Events replay reads at most whatever the file's length
/// ([`Replay::from_reader`]; FORMAT.md, "Limits").
pub const MAX_EVENTS_FLOOR: u64 = 1 << 22;
/// Events replay reads at most per byte of the file read, above
/// [`MAX_EVENTS_FLOOR`]. A recording takes a byte per event or more (its
/// timestamps do not compress well); a file claiming far more was crafted.
pub const MAX_EVENTS_PER_BYTE: u64 = 8;

/// The most events replay reads from the first `read_bytes` bytes of a
/// file: [`MAX_EVENTS_FLOOR`] plus [`MAX_EVENTS_PER_BYTE`] per byte.
pub const fn max_events(read_bytes: u64) -> u64 {
    MAX_EVENTS_FLOOR.saturating_add(read_bytes.saturating_mul(MAX_EVENTS_PER_BYTE))
}

/// Allocations replay holds at most whatever the file's length
/// ([`Replay::from_reader`]; FORMAT.md, "Limits").
pub const MAX_LIVE_FLOOR: u64 = 1 << 19;
/// Allocations replay holds at most per byte of the file's first MiB read,
/// above [`MAX_LIVE_FLOOR`]. A recording takes about 2 bytes per allocation
/// or more (its timestamps do not compress); a small file claiming more live
/// allocations per byte was crafted.
pub const MAX_LIVE_PER_BYTE: u64 = 1;
/// Allocations replay holds at most per byte read past the first MiB: looser,
/// so that a dense genuine recording (a coarse clock, repetitive work) is not
/// cut short, while memory stays bounded by the file's length.
pub const MAX_LIVE_PER_BYTE_PAST_1_MIB: u64 = 4;

/// The most allocations replay holds (live, or waiting for their address)
/// after reading `read_bytes` bytes of a file: [`MAX_LIVE_FLOOR`], plus
/// [`MAX_LIVE_PER_BYTE`] per byte of the first MiB, plus
/// [`MAX_LIVE_PER_BYTE_PAST_1_MIB`] per byte after it.
pub const fn max_live(read_bytes: u64) -> u64 {
    const MIB: u64 = 1 << 20;
    let first = if read_bytes < MIB { read_bytes } else { MIB };
    let rest = read_bytes.saturating_sub(MIB);
    MAX_LIVE_FLOOR.saturating_add(first.saturating_mul(MAX_LIVE_PER_BYTE)).saturating_add(rest.saturating_mul(MAX_LIVE_PER_BYTE_PAST_1_MIB))
}

/// The most leaks [`Replay::largest_leaks`] lists.
pub const MAX_LEAKS: usize = 100;
/// The most points [`Replay::timeline`] holds.
pub const TIMELINE_POINTS: usize = 1024;
/// The most threads [`Replay::thread_timelines`] covers.
pub const MAX_THREAD_TIMELINES: usize = 64;
/// The most damaged stretches [`Replay::damage`] lists.
pub const MAX_DAMAGE_LISTED: usize = 1000;

/// Totals over the whole recording. Bytes are in bytes, times in
/// nanoseconds since the recording's epoch (FORMAT.md glossary).
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    /// Calls of `alloc` and `alloc_zeroed`.
    pub total_allocations: u64,
    /// Calls of `dealloc` that freed an allocation the replay knew (see
    /// `prerecording_deallocations` for the others).
    pub total_deallocations: u64,
    /// Calls of `realloc`; counted neither as allocations nor deallocations.
    pub total_reallocations: u64,
    /// Bytes: the size of every allocation plus the new size of every reallocation.
    pub total_allocated_bytes: u64,
    /// Bytes: the size of every counted deallocation plus the old size of
    /// every reallocation of a known address. The size counted is the one
    /// the replay holds for the address (the one its allocation or last
    /// reallocation gave), which equals the size the call passed in every
    /// well-formed recording (see `size_mismatches`).
    pub total_deallocated_bytes: u64,
    /// Allocations live at the end.
    pub live_count: u64,
    /// Bytes live at the end: always `total_allocated_bytes − total_deallocated_bytes`.
    pub live_bytes: u64,
    /// The largest number of bytes live at once, in bytes.
    pub peak_live_bytes: u64,
    /// When `peak_live_bytes` was first reached, ns since the epoch.
    pub peak_at_ns: u64,
    /// Events dropped by the recorder (sum of the `Lost` events' counts).
    pub lost_events: u64,
    /// Length of the recording in ns: the `End` record's time, else the
    /// latest event timestamp.
    pub duration_ns: u64,
    /// Distinct recorder threads (ids other than 0) with events in the file.
    pub threads: u64,
    /// Calls of `dealloc` on an address the replay did not hold live
    /// (allocated before recording started, or its allocation was lost).
    pub prerecording_deallocations: u64,
    /// Bytes: the sizes of those deallocations plus the old sizes of
    /// `prerecording_reallocations` (0 for a reallocation whose old size
    /// is not stored, one of 4 GiB or more).
    pub prerecording_deallocated_bytes: u64,
    /// Reallocations of an address the replay did not hold live; they count
    /// in `total_reallocations` and their new size in `total_allocated_bytes`.
    pub prerecording_reallocations: u64,
    /// Events read from the file, of every kind.
    pub events: u64,
    /// Events applied after an event with a later timestamp had already been
    /// applied: the recording's order guarantee was broken (0 in a healthy
    /// file of format version 4; before, a thread held up between a stamp
    /// and its push for more than the 20 ms release lag).
    pub late_events: u64,
    /// Allocations that landed on an address still live in the replay, and
    /// were deferred until it was freed: disorder (0 in a healthy file).
    pub address_conflicts: u64,
    /// Reallocations whose new address was still live in the replay when
    /// they applied, deferred until its deallocation (stamped later) applied.
    /// Before format version 4, expected now and then: a reallocation was
    /// stamped only before its call, and the allocator may return memory
    /// another thread freed during the call. 0 in a version-4 file.
    pub reordered_reallocations: u64,
    /// Of `address_conflicts` and `reordered_reallocations`, the ones whose
    /// address was never freed: they are counted live at the end next to the
    /// allocation that held the address.
    pub unresolved_conflicts: u64,
    /// Deallocations and reallocations whose stated old size differs from
    /// the size the replay holds for the address (0 in a healthy file).
    pub size_mismatches: u64,
}

/// What one recorder thread did. Bytes in bytes, times in ns since the epoch.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ThreadStats {
    /// The recorder's thread id (0: lost events not attributable to a thread).
    pub thread: u32,
    /// The OS thread id, from the thread's `ThreadStart` event (`None` if unread).
    pub os_tid: Option<u64>,
    /// The thread's name (NUL-trimmed, lossy UTF-8), from its `ThreadStart` event.
    pub name: Option<String>,
    /// When the thread started recording, ns since the epoch.
    pub start_ns: Option<u64>,
    /// When the thread exited, ns since the epoch.
    pub exit_ns: Option<u64>,
    /// Allocations this thread made.
    pub allocations: u64,
    /// Counted deallocations this thread made.
    pub deallocations: u64,
    /// Reallocations this thread made.
    pub reallocations: u64,
    /// Bytes this thread's calls allocated (as in [`Totals::total_allocated_bytes`]).
    pub allocated_bytes: u64,
    /// Bytes this thread's calls freed (as in [`Totals::total_deallocated_bytes`]).
    pub deallocated_bytes: u64,
    /// Deallocations this thread made of addresses the replay did not hold live.
    pub prerecording_deallocations: u64,
    /// Events of this thread the recorder dropped.
    pub lost_events: u64,
    /// Allocations live at the end that this thread allocated (a
    /// reallocation continues its allocation, whichever thread made it).
    pub live_count: u64,
    /// Bytes live at the end charged to this thread: those of its
    /// allocations, except that the bytes a reallocation added are charged
    /// to the thread that made it (docs/JSON.md, `threads[]`).
    pub live_bytes: u64,
}

/// An allocation still live at the end of the recording.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    /// Its address.
    pub ptr: u64,
    /// Its size in bytes.
    pub size: u64,
    /// When it was allocated, ns since the epoch (a reallocation keeps the time).
    pub allocated_at_ns: u64,
    /// The recorder id of the thread that allocated it.
    pub thread: u32,
    /// In a sampling recording (where this is a sample), the estimate of
    /// what it stands for: `1/p` allocations of `size/p` bytes in all, `p =
    /// 1 − exp(−size/interval)` (FORMAT.md, "Sampling record"); `None`
    /// when every event was recorded.
    pub stands_for: Option<Weight>,
}

/// What one sample stands for, in a sampling recording: estimates.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Weight {
    /// Allocations (`1/p`, rounded; at least 1).
    pub count: u64,
    /// Bytes (`size/p`, rounded).
    pub bytes: u64,
}

impl serde::Serialize for Leak {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Leak", 5 + usize::from(self.stands_for.is_some()))?;
        st.serialize_field("ptr", &self.ptr)?;
        st.serialize_field("ptr_hex", &format!("{:#x}", self.ptr))?;
        st.serialize_field("size", &self.size)?;
        st.serialize_field("allocated_at_ns", &self.allocated_at_ns)?;
        st.serialize_field("thread", &self.thread)?;
        if let Some(w) = &self.stands_for {
            st.serialize_field("stands_for", w)?;
        }
        st.end()
    }
}

/// One log2 histogram bucket: values `lower..=upper`. Bucket 0 holds the
/// value 0; bucket *i* ≥ 1 holds `2^(i−1) ..= 2^i − 1`.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Bucket {
    /// The smallest value in the bucket (ns or bytes, as the histogram says).
    pub lower: u64,
    /// The largest value in the bucket, inclusive.
    pub upper: u64,
    /// Allocations in the bucket.
    pub count: u64,
    /// Their sizes summed, in bytes (for lifetimes: the sizes when freed).
    pub bytes: u64,
}

/// One point of the downsampled timeline: the interval starting at `ts_ns`.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TimelinePoint {
    /// Start of the interval, ns since the epoch.
    pub ts_ns: u64,
    /// Length of the interval in ns (every point has the same).
    pub width_ns: u64,
    /// The most bytes live at any moment in the interval, in bytes.
    pub live_bytes: u64,
    /// The most allocations live at any moment in the interval.
    pub live_count: u64,
}

/// One thread's live bytes over time.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ThreadTimeline {
    /// The recorder's thread id.
    pub thread: u32,
    /// Bytes live of the allocations this thread made, one value per point
    /// of [`Replay::timeline`]: the most in that interval.
    pub live_bytes: Vec<u64>,
}

/// The fields of the `End` record that closes a finished recording.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct EndRecord {
    /// Events the drainer wrote, over all threads (not counting `Lost` events).
    pub events_written: u64,
    /// Events the recorder dropped, over all threads.
    pub events_lost: u64,
    /// When the recording ended, ns since the epoch.
    pub end_ns: u64,
    /// Whether the `atexit` hook finished the recording, at process exit
    /// (version 4): then what is live at the end leaked. Otherwise
    /// (`finish()`, the guard dropped) the program still held it.
    pub ended_at_exit: bool,
    /// Whether the global allocator was not `memscope::TrackingAllocator`
    /// when the recording started (version 4): no allocation could be
    /// recorded.
    pub no_tracking_allocator: bool,
    /// Whether the program asked to treat what is live at the end as leaks
    /// (`Recorder::treat_live_at_end_as_leaks`, version 4).
    pub leaks_asked: bool,
    /// Whether the segment was closed at a rotation and the recording goes
    /// on in the next segment (version 6, End flag 8).
    pub continued: bool,
}
