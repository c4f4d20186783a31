//! Replay of a directory of segments (FORMAT.md, "Replay of a directory"):
//! the segments of one recording, in index order, as one recording.
//!
//! Contiguous segments feed one [`Replayer`]: the tables each segment
//! repeats for its own sake (stack tree, modules) are fed once, its
//! checkpoint is skipped (the events before it built that live set
//! already), and a rotation's End record is held back. Where the
//! predecessor is missing (deleted for the budget, or gone), the segment's
//! checkpoint seeds the live set. A missing, foreign, unreadable or
//! truncated segment is named as damage; the rest replays.
//!
//! After a gap (a missing segment in the middle), the segment's start
//! seeds only what the segments before did not leave live or open, and
//! ends what they left and it no longer holds (`gap`).
//!
//! A skipped checkpoint is still checked: a mirror of the drainer's live
//! table (`format::live::LiveTable`, the same code), fed the same events
//! in the same (file) order, must hold exactly the checkpoint's
//! allocations; a disagreement is damage.

mod gap;

use super::engine::Replayer;
use super::{max_events, max_live, Replay};
use crate::format::live::LiveTable;
use crate::format::{
    segment_file_index, segment_file_name, CheckpointEntry, CheckpointRecord, Damage, DamageKind, Event, EventChunk, Reader, Record,
    SegmentRecord, END_CONTINUED,
};
use crate::Error;
use gap::Open;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// The segments a replay read, and what their checkpoints seeded.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SegmentsReport {
    /// The recording's id, from its Segment records (`None`: a file of an
    /// unsegmented recording).
    pub recording_id: Option<u64>,
    /// The segments replayed, in index order.
    pub segments: Vec<SegmentFile>,
    /// Whether the recording's history before the first segment replayed
    /// is not there (its index is above 0: the oldest segments were
    /// deleted for the budget, or replay read one segment alone). The
    /// figures then start from that segment's checkpoint.
    pub history_missing: bool,
    /// Allocations seeded from checkpoints (live when their segment
    /// started, allocated in a segment that is not there). They count in
    /// the totals as allocations, at the time they were made.
    pub seeded_allocations: u64,
    /// Their bytes, in bytes.
    pub seeded_bytes: u64,
    /// Events seeded from Checkpoint events records (version 7): the
    /// start of each thread still running (or owning a seeded allocation),
    /// and the tracking events of what was open or live when the segment
    /// started (scopes, variables, foreign memory, handoffs). They count in
    /// the tracking totals as the events they repeat.
    pub seeded_events: u64,
}

/// One segment replayed.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SegmentFile {
    /// Its file name (`000042.memscope`; empty for a file replayed alone
    /// under another name).
    pub name: String,
    /// Its index in the recording, from 0.
    pub index: u64,
    /// Its length in bytes.
    pub bytes: u64,
    /// Damaged stretches found in it.
    pub damage_count: u64,
    /// Whether its checkpoint seeded the live set (its predecessor was not replayed).
    pub seeded: bool,
    /// Whether it ends with a rotation's End record (the recording went on).
    pub continued: bool,
}

impl SegmentsReport {
    /// A file replayed alone opened with this Segment record.
    pub(super) fn open_one(&mut self, s: &SegmentRecord) {
        if self.recording_id.is_none() {
            self.recording_id = Some(s.recording_id);
            self.history_missing = s.index > 0;
            self.segments.push(SegmentFile { index: s.index, seeded: true, ..SegmentFile::default() });
        }
    }
}

/// The segment files of `dir`, by index: the files named `NNNNNN.memscope`
/// (six digits or more), whatever they hold. For a reader that follows a
/// recording as it is written: the last is the newest segment.
///
/// # Errors
/// When `dir` cannot be read.
pub fn list_segments(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut v = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(index) = entry.file_name().to_str().and_then(segment_file_index) {
            v.push((index, entry.path()));
        }
    }
    v.sort_unstable();
    Ok(v)
}

/// Seeds `replayer`'s live set with a checkpoint's allocations: each is
/// applied as an allocation by its thread at its time.
pub(super) fn seed(replayer: &mut Replayer, c: &CheckpointRecord, report: &mut SegmentsReport) {
    seed_entries(replayer, &c.entries, report);
}

/// Seeds `replayer`'s live set with checkpoint allocations, as [`seed`].
fn seed_entries(replayer: &mut Replayer, entries: &[CheckpointEntry], report: &mut SegmentsReport) {
    let chunks = entry_chunks(entries, report);
    unlimited(replayer, |r| chunks.iter().for_each(|(thread, events)| r.events(*thread, events)));
}

/// Runs `f` (which seeds `replayer`) with the window limit lifted: not
/// released in part for the window (FORMAT.md, "Limits"), so that the
/// Checkpoint events record that follows (a scope still open, a variable)
/// finds every seeded allocation still to be applied, at its time. The
/// checkpoint is bounded by the bytes read (`max_live`).
pub(super) fn unlimited(replayer: &mut Replayer, f: impl FnOnce(&mut Replayer)) {
    let limit = std::mem::replace(&mut replayer.window_limit, usize::MAX);
    f(replayer);
    replayer.window_limit = limit;
}

/// A checkpoint's allocations as chunks of allocation events, one per
/// thread (in thread order, by time), counted in `report`.
pub(super) fn seed_chunks(c: &CheckpointRecord, report: &mut SegmentsReport) -> Vec<(u32, Vec<Event>)> {
    entry_chunks(&c.entries, report)
}

fn entry_chunks(entries: &[CheckpointEntry], report: &mut SegmentsReport) -> Vec<(u32, Vec<Event>)> {
    let mut by_thread: BTreeMap<u32, Vec<Event>> = BTreeMap::new();
    for e in entries {
        report.seeded_allocations += 1;
        report.seeded_bytes = report.seeded_bytes.saturating_add(e.size);
        by_thread.entry(e.thread).or_default().push(Event::Alloc {
            ts_ns: e.ts_ns,
            ptr: e.ptr,
            size: e.size,
            align: 1,
            zeroed: false,
            stack: e.stack,
        });
    }
    let mut chunks: Vec<(u32, Vec<Event>)> = by_thread.into_iter().collect();
    for (_, events) in &mut chunks {
        events.sort_by_key(Event::ts_ns);
    }
    chunks
}

/// Seeds `replayer` with a Checkpoint events record's events (version 7):
/// applied as the thread's events at their times, so that a variable links
/// to its seeded allocation and a scope still open holds what was
/// allocated in it.
pub(super) fn seed_events(replayer: &mut Replayer, c: &EventChunk, report: &mut SegmentsReport) {
    report.seeded_events += c.events.len() as u64;
    unlimited(replayer, |r| r.events(c.thread, &c.events));
}

type SegReader = Reader<BufReader<File>>;

/// An opened segment: its reader after the Segment record, the record, and
/// what came before it (the Clock and Sampling records, damage).
type Probed = (SegReader, SegmentRecord, Vec<Result<Record, Damage>>);

/// Opens segment `path` and reads up to its Segment record.
fn probe(path: &Path) -> Result<Probed, String> {
    let file = File::open(path).map_err(|e| format!("cannot be opened: {e}"))?;
    let mut reader = Reader::new(BufReader::new(file)).map_err(|e| format!("not readable: {e}"))?;
    let mut before = Vec::new();
    loop {
        match reader.next_record() {
            Ok(Some(Ok(Record::Segment(s)))) => return Ok((reader, s, before)),
            Ok(Some(Ok(r @ (Record::Clock(_) | Record::Sampling(_))))) => before.push(Ok(r)),
            Ok(Some(Err(d))) if before.len() < 4 => before.push(Err(d)),
            Ok(Some(_)) => return Err("not a segment of a segmented recording (no Segment record at its start)".into()),
            Ok(None) => return Err("holds no Segment record (empty, or cut short)".into()),
            Err(e) => return Err(format!("reading failed: {e}")),
        }
    }
}

/// The drainer's live table as the events read so far build it: under
/// this drainer's rule, and (until a checkpoint tells them apart) under the
/// older drainer's, whose directories have the same format version
/// ([`LiveTable::older`]).
struct Mirror {
    now: LiveTable,
    older: Option<LiveTable>,
}

impl Mirror {
    fn new() -> Mirror {
        Mirror { now: LiveTable::default(), older: Some(LiveTable::older()) }
    }

    fn apply(&mut self, e: &crate::format::RawEvent, thread: u32, stack: u32) {
        self.now.apply(e, thread, stack);
        if let Some(o) = &mut self.older {
            o.apply(e, thread, stack);
        }
    }

    fn round_end(&mut self, watermark_ns: u64) {
        self.now.round_end(watermark_ns);
        if let Some(o) = &mut self.older {
            o.round_end(watermark_ns);
        }
    }

    /// Whether `entries` (a checkpoint) is the table under either rule.
    /// The first check settles the rule (the older one only when it alone
    /// agrees), so the older table costs only until then; an older
    /// directory whose first checkpoint agrees under both rules is checked
    /// under this drainer's from then on.
    fn agrees(&mut self, entries: &[CheckpointEntry], scratch: &mut Vec<CheckpointEntry>) -> bool {
        self.now.entries(scratch);
        let now = scratch.as_slice() == entries;
        let older = self.older.take();
        if now {
            return true;
        }
        let Some(older) = older else { return false };
        older.entries(scratch);
        let agrees = scratch.as_slice() == entries;
        if agrees {
            self.now = older;
        }
        agrees
    }
}

/// Compares a contiguous segment's checkpoint with the mirror of the
/// drainer's live table; a disagreement is damage naming the segment.
fn check_checkpoint(r: &mut Replayer, name: &str, entries: &[CheckpointEntry], mirror: &mut Mirror, scratch: &mut Vec<CheckpointEntry>) {
    if !mirror.agrees(entries, scratch) {
        mirror.now.entries(scratch);
        let bytes = |v: &[CheckpointEntry]| v.iter().fold(0u64, |b, e| b.saturating_add(e.size));
        let problem = format!(
            "its checkpoint disagrees with the segments before it: {} live allocations ({} bytes) in the checkpoint, {} ({} bytes) replayed",
            entries.len(),
            bytes(entries),
            scratch.len(),
            bytes(scratch)
        );
        segment_damage(r, name.to_string(), problem, 0);
    }
}

/// Seeds a segment's start (its checkpoint and Checkpoint events), and
/// starts the mirrors (`kept`) from it. `across`: what the segments before
/// a gap left live and open; then only what they did not leave is seeded,
/// and what they left and the start does not hold ends (`gap::bridge`).
fn seed_start(
    r: &mut Replayer,
    across: Option<(Mirror, Open)>,
    (entries, events): (Vec<CheckpointEntry>, Vec<EventChunk>),
    report: &mut SegmentsReport,
    kept: Option<(&mut Mirror, &mut Open)>,
) {
    match &across {
        Some((live, open)) => {
            let b = gap::bridge(&live.now, open, &entries, &events);
            unlimited(r, |r| b.ends.iter().for_each(|(thread, ends)| r.events(*thread, ends)));
            seed_entries(r, &b.seed, report);
            b.events.iter().for_each(|c| seed_events(r, c, report));
        }
        None => {
            seed_entries(r, &entries, report);
            events.iter().for_each(|c| seed_events(r, c, report));
        }
    }
    if let Some((m, o)) = kept {
        for e in &entries {
            m.apply(&crate::format::RawEvent::alloc(e.ts_ns, e.ptr as usize, e.size as usize, 1, false, e.stack), e.thread, e.stack);
        }
        for c in &events {
            c.events.iter().for_each(|e| o.event(c.thread, e));
        }
    }
}

fn segment_damage(replayer: &mut Replayer, name: String, problem: String, skipped_bytes: u64) {
    replayer.damage(Damage { offset: 0, kind: DamageKind::Segment { name, problem }, skipped_bytes });
}

/// Replays the segments of `dir` as one recording.
pub(super) fn replay_dir(dir: &Path) -> Result<Replay, Error> {
    let open_error = |source| Error::Open { path: dir.to_path_buf(), source };
    let listed = list_segments(dir).map_err(open_error)?;
    // The Segment record of each file; the others are named and skipped.
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (index, path) in listed {
        let name = segment_file_name(index);
        let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
        match probe(&path) {
            Ok((_, s, _)) => good.push((index, path, s, bytes)),
            Err(problem) => bad.push((name, format!("{problem}; skipped"), bytes)),
        }
    }
    // The recording: the id most segments carry (ties: the newest).
    let mut counts: HashMap<u64, (usize, u64)> = HashMap::new();
    for (index, _, s, _) in &good {
        let c = counts.entry(s.recording_id).or_default();
        c.0 += 1;
        c.1 = c.1.max(*index);
    }
    let Some((&recording_id, _)) = counts.iter().max_by_key(|(_, &c)| c) else {
        let what = match bad.first() {
            Some((name, problem, _)) => format!("no readable segment: {name} {problem}"),
            None => "no memscope segment (NNNNNN.memscope) in this directory".to_string(),
        };
        return Err(open_error(std::io::Error::new(std::io::ErrorKind::NotFound, what)));
    };
    for (index, _, s, bytes) in &good {
        let problem = if s.recording_id != recording_id {
            format!("belongs to another recording (id {:#018x}, not {recording_id:#018x}); skipped", s.recording_id)
        } else if s.index != *index {
            format!("its Segment record says it is segment {}; skipped", s.index)
        } else {
            continue;
        };
        bad.push((segment_file_name(*index), problem, *bytes));
    }
    good.retain(|g| g.2.recording_id == recording_id && g.2.index == g.0);
    bad.sort();

    let mut report = SegmentsReport { recording_id: Some(recording_id), ..SegmentsReport::default() };
    let mut replayer: Option<Replayer> = None;
    // Bytes of the segments read before the current one.
    let mut read_before = 0u64;
    let mut nodes_fed = 0u64;
    let mut modules_fed = HashSet::new();
    // The previous segment replayed: its index, and whether it ended with a rotation's End.
    let mut prev: Option<(u64, bool)> = None;
    let mut stopped = false;
    // The drainer's live table as the events read so far build it, while
    // the next segment is there to check its checkpoint against (`None`
    // after damage: its checkpoint cannot be expected to agree).
    let indexes: HashSet<u64> = good.iter().map(|g| g.0).collect();
    let mut mirror: Option<Mirror> = None;
    // What the segments read so far leave open, kept with the mirror.
    let mut open: Option<Open> = None;
    let mut mirrored = Vec::new();
    for (index, path, _, _) in good {
        let name = segment_file_name(index);
        let (mut reader, _, before) = match probe(&path) {
            Ok(p) => p,
            Err(problem) => {
                // Changed since the first look (a recording rotates and deletes as we read).
                bad.push((name, format!("{problem}; skipped"), 0));
                continue;
            }
        };
        let r = replayer.get_or_insert_with(|| Replayer::new(*reader.header()));
        let contiguous = match prev {
            None => {
                report.history_missing = index > 0;
                false
            }
            Some((p, continued)) if p + 1 == index => {
                if !continued {
                    segment_damage(
                        r,
                        segment_file_name(p),
                        "ends without a rotation's End record (cut short, or damaged): events at its end may be missing".into(),
                        0,
                    );
                }
                true
            }
            Some((p, _)) => {
                let problem = if p + 2 == index {
                    format!("missing: the recording's segment {} is not in the directory; replay goes on from {name}'s checkpoint", p + 1)
                } else {
                    format!(
                        "missing: the recording's segments {} to {} are not in the directory; replay goes on from {name}'s checkpoint",
                        p + 1,
                        index - 1
                    )
                };
                segment_damage(r, segment_file_name(p + 1), problem, 0);
                false
            }
        };
        let first = prev.is_none();
        let damage_before = r.damage_count();
        // Across a gap: what the segments before it left live and open.
        let mut across = if !contiguous && !first { mirror.take().zip(open.take()) } else { None };
        if !contiguous {
            (mirror, open) = (None, None);
        }
        // Checked against the mirror once the checkpoint's records are read.
        let mut checkpoint: Option<Vec<CheckpointEntry>> = mirror.as_ref().map(|_| Vec::new());
        // Kept while a later segment may follow (contiguous, or after a gap).
        let keep_mirror = indexes.iter().any(|&i| i > index);
        if !contiguous && keep_mirror {
            (mirror, open) = (Some(Mirror::new()), Some(Open::default()));
        }
        // A seeded segment's start, seeded once its records are read.
        let mut start: Option<(Vec<CheckpointEntry>, Vec<EventChunk>)> = (!contiguous).then(Default::default);
        let mut file = SegmentFile { name: name.clone(), index, seeded: !contiguous, ..SegmentFile::default() };
        let mut continued = false;
        for rec in before {
            match rec {
                Ok(rec) if first => r.record(&rec),
                Ok(_) => {}
                Err(d) => r.damage(d),
            }
        }
        loop {
            let next = match reader.next_record() {
                Ok(Some(next)) => next,
                Ok(None) => break,
                Err(source) => return Err(Error::Read { path: path.clone(), offset: reader.offset(), source }),
            };
            // The checkpoint's records, and the tables before it, are read.
            let start_record = matches!(
                next,
                Ok(Record::Checkpoint(_)
                    | Record::CheckpointEvents(_)
                    | Record::Stack { .. }
                    | Record::Module(_)
                    | Record::Site(_)
                    | Record::Text { .. }
                    | Record::Clock(_))
            );
            if next.is_ok() && !start_record {
                if let (Some(entries), Some(m)) = (&checkpoint, &mut mirror) {
                    check_checkpoint(r, &name, entries, m, &mut mirrored);
                    checkpoint = None;
                }
                if let Some((entries, events)) = start.take() {
                    seed_start(r, across.take(), (entries, events), &mut report, mirror.as_mut().zip(open.as_mut()));
                }
            }
            if !keep_mirror && checkpoint.is_none() && start.is_none() {
                (mirror, open) = (None, None);
            }
            match next {
                Err(d) => {
                    // The drainer saw events the damage hides.
                    (mirror, open) = (None, None);
                    checkpoint = None;
                    r.damage(d)
                }
                Ok(Record::Checkpoint(c)) => {
                    if let Some((entries, _)) = &mut start {
                        entries.extend_from_slice(&c.entries);
                    } else if let Some(entries) = &mut checkpoint {
                        entries.extend_from_slice(&c.entries);
                    }
                }
                Ok(rec @ Record::Round { watermark_ns, .. }) => {
                    if let Some(m) = &mut mirror {
                        m.round_end(watermark_ns);
                    }
                    if let Some(o) = &mut open {
                        o.round(watermark_ns);
                    }
                    r.record(&rec);
                }
                Ok(Record::CheckpointEvents(c)) => {
                    // A contiguous segment's repeat what the segments before built.
                    if let Some((_, events)) = &mut start {
                        events.push(c);
                    }
                }
                Ok(Record::Events(chunk)) => {
                    if let Some(m) = &mut mirror {
                        for e in &chunk.events {
                            m.apply(&e.to_raw(), chunk.thread, e.stack());
                        }
                    }
                    if let Some(o) = &mut open {
                        for e in &chunk.events {
                            o.event(chunk.thread, e);
                        }
                    }
                    r.record(&Record::Events(chunk));
                }
                Ok(Record::Stack { first_id, nodes }) => {
                    let last = u64::from(first_id) + nodes.len() as u64 - 1;
                    if last > nodes_fed {
                        r.record(&Record::Stack { first_id, nodes });
                        nodes_fed = last;
                    }
                }
                Ok(Record::Module(m)) => {
                    if modules_fed.insert((m.start, m.end, m.load_bias, m.path.clone())) {
                        r.record(&Record::Module(m));
                    }
                }
                Ok(Record::Clock(_) | Record::Segment(_)) if !first => {}
                Ok(Record::End { flags, .. }) if flags & END_CONTINUED != 0 => continued = true,
                Ok(rec) => r.record(&rec),
            }
            let read = read_before + reader.offset();
            let (events, live) = (r.totals.events, r.held());
            let over = if events > max_events(read) {
                Some(("events", events, max_events(read)))
            } else if live > max_live(read) {
                Some(("live allocations", live, max_live(read)))
            } else {
                None
            };
            if let Some((what, count, max)) = over {
                let offset = reader.offset();
                let skipped = reader.skip_to_end().unwrap_or(0);
                r.damage(Damage { offset, kind: DamageKind::OverLimit { what, count, read_bytes: read, max }, skipped_bytes: skipped });
                stopped = true;
                break;
            }
        }
        if let (Some(entries), Some(m)) = (&checkpoint, &mut mirror) {
            check_checkpoint(r, &name, entries, m, &mut mirrored);
        }
        if let Some((entries, events)) = start.take() {
            seed_start(r, across.take(), (entries, events), &mut report, mirror.as_mut().zip(open.as_mut()));
        }
        if !continued {
            // Cut short: the next checkpoint follows events not in the file.
            (mirror, open) = (None, None);
        }
        file.bytes = reader.offset();
        file.damage_count = r.damage_count() - damage_before;
        file.continued = continued;
        read_before += reader.offset();
        report.segments.push(file);
        prev = Some((index, continued));
        if stopped {
            break;
        }
    }
    let Some(mut r) = replayer else {
        let what = bad
            .first()
            .map_or_else(|| "no readable segment".to_string(), |(name, problem, _)| format!("no readable segment: {name} {problem}"));
        return Err(open_error(std::io::Error::new(std::io::ErrorKind::NotFound, what)));
    };
    if let Some((p, true)) = prev.filter(|_| !stopped) {
        segment_damage(
            &mut r,
            segment_file_name(p + 1),
            format!("missing: {} ends with a rotation, but no later segment of the recording is in the directory", segment_file_name(p)),
            0,
        );
    }
    for (name, problem, bytes) in bad {
        segment_damage(&mut r, name, problem, bytes);
    }
    let mut replay = r.finish(read_before);
    replay.segments = report;
    Ok(replay)
}
