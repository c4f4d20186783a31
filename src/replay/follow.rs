//! Following a recording while it is written: [`Follow`], the replay
//! behind `memscope top`.

use super::engine::{Replayer, WINDOW_BYTES_PER_EVENT, WINDOW_LIMIT};
use super::segments::{list_segments, seed, seed_events, SegmentsReport};
use super::{max_events, max_live, EndRecord, Replay, SiteStats, Stacks, Totals};
use crate::format::{segment_file_name, Damage, DamageKind, HeaderError, Reader, Record, SegmentHeader, END_CONTINUED};
use crate::Error;
use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A recording followed while it is written: the replay behind `memscope top`.
///
/// ```no_run
/// let mut follow = memscope::replay::Follow::open("run.memscope".as_ref())?;
/// while !follow.is_finished() {
///     follow.poll(std::time::Duration::from_millis(500))?;
///     let now = follow.snapshot(5);
///     println!("{} bytes live in {} allocations", now.summary.live_bytes, now.summary.live_count);
///     std::thread::sleep(std::time::Duration::from_secs(1));
/// }
/// # Ok::<(), memscope::Error>(())
/// ```
///
/// Each [`Follow::poll`] reads the records appended since the last one
/// ([`Reader::follow`]: a record not yet written whole is waited for, not
/// taken for damage; FORMAT.md, "Following a recording") and feeds them to
/// one [`Replayer`], so memory is the replay's (the live set, a round or two
/// of events), never the file's, and the file is read once. A [`Snapshot`]
/// counts the events read but not yet applied (replay applies a round's
/// events once a later Round record proves their order, and a paused
/// program writes none) on top of the replay's state, without changing it:
/// it shows everything the file holds so far.
#[derive(Debug)]
pub struct Follow {
    path: PathBuf,
    /// `None` until the file holds its 48-byte segment header.
    reader: Option<Reader<File>>,
    replayer: Option<Replayer>,
    /// The records so far broke a limit of FORMAT.md's "Limits": nothing
    /// more is read.
    stopped: bool,
    /// Following a directory of segments (`None`: one file).
    segments: Option<Segments>,
}

/// Where a [`Follow`] of a directory of segments is: it starts at the
/// newest segment, seeded from its checkpoint, and goes on to the next
/// segment at each rotation's End record, as `replay_file` reads a
/// directory (FORMAT.md, "Replay of a directory").
#[derive(Debug)]
struct Segments {
    dir: PathBuf,
    /// The index of the segment followed now.
    index: u64,
    /// Whether it is the first followed (its checkpoint seeds the live set;
    /// a later one's repeats what its predecessor built).
    first: bool,
    /// A rotation's End record was read: the next segment is opened once it exists.
    next: bool,
    /// The highest stack node id fed to replay (each segment repeats the tree).
    nodes_fed: u64,
    /// Modules fed to replay (each segment repeats the map).
    modules_fed: HashSet<(u64, u64, u64, String)>,
    /// Bytes of the segments read before the current one (for the limits).
    read_before: u64,
    /// What the checkpoint seeded.
    report: SegmentsReport,
    /// The follow fell behind the budget's deletions and skipped segments.
    history_lost: Option<HistoryLost>,
}

/// Segments a [`Follow`] of a directory could not read: it fell behind the
/// recording, whose `keep_bytes` budget deleted them before they were
/// read (FORMAT.md, "Following a recording"). The follow skipped to the
/// oldest segment still there and started again from its checkpoint: the
/// figures from then on are that segment's, as if replayed alone (the
/// totals restart; what was live is seeded), and the history between is
/// lost.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HistoryLost {
    /// The index of the last segment read before the latest skip (`None`:
    /// the segment the follow started at was deleted before it was read).
    pub last_read: Option<u64>,
    /// The index of the segment the follow went on from, seeded from its checkpoint.
    pub resumed_at: u64,
    /// Segments skipped (deleted before they were read), over every skip.
    pub segments_skipped: u64,
    /// How many times the follow skipped.
    pub skips: u64,
}

impl Segments {
    /// Feeds one record of the current segment to `replayer`; returns
    /// whether it was a rotation's End record (read nothing more of this
    /// segment).
    fn feed(&mut self, replayer: &mut Replayer, record: Record) -> bool {
        match record {
            Record::Checkpoint(c) => {
                if self.first {
                    seed(replayer, &c, &mut self.report);
                }
            }
            Record::CheckpointEvents(c) => {
                if self.first {
                    seed_events(replayer, &c, &mut self.report);
                }
            }
            Record::Clock(_) | Record::Sampling(_) | Record::Segment(_) if !self.first => {}
            Record::Stack { first_id, nodes } => {
                let last = (u64::from(first_id) + nodes.len() as u64).saturating_sub(1);
                if last > self.nodes_fed {
                    replayer.record(&Record::Stack { first_id, nodes });
                    self.nodes_fed = last;
                }
            }
            Record::Module(m) => {
                if self.modules_fed.insert((m.start, m.end, m.load_bias, m.path.clone())) {
                    replayer.record(&Record::Module(m));
                }
            }
            Record::End { flags, .. } if flags & END_CONTINUED != 0 => {
                self.next = true;
                return true;
            }
            record => replayer.record(&record),
        }
        false
    }
}

/// What [`Follow::snapshot_by`] ranks sites by.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SiteOrder {
    /// Bytes live now.
    #[default]
    LiveBytes,
    /// Bytes allocated so far (reallocations' new sizes included).
    AllocatedBytes,
    /// Allocations and reallocations made so far.
    Allocations,
}

/// What a followed recording holds so far: every event read, applied.
#[non_exhaustive]
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The totals over the events read so far, as [`Replay::summary`] would
    /// give them were the recording to end here (`duration_ns`: the latest
    /// timestamp read, or the End record's).
    pub summary: Totals,
    /// The first sites in the order asked ([`Follow::snapshot`]: the most
    /// bytes live now first), at most as many as asked. `live_count_end`
    /// and `live_bytes_end` are the live figures now; `peak_count` and
    /// `peak_bytes` are 0.
    pub top_sites: Vec<SiteStats>,
    /// How many sites have allocated so far.
    pub site_count: u64,
    /// The `End` record, once read: the recording is finished.
    pub end: Option<EndRecord>,
    /// Damaged stretches read so far.
    pub damage_count: u64,
    /// `Round` records read so far.
    pub rounds: u64,
    /// Bytes of the file read, up to the end of its last complete record.
    pub read_bytes: u64,
    /// Bytes after that: the start of a record not yet written whole.
    pub pending_bytes: u64,
    /// The sampling interval in bytes when the recording samples
    /// (`Recorder::sampling_interval_bytes`): the summary's counts and
    /// bytes of calls and bytes live are then exact (its Totals records, as
    /// of the last one read), the sites' figures estimates.
    pub sampling_interval_bytes: Option<u64>,
    /// A follow of a directory that fell behind the recording's deletions:
    /// which segments it could not read. The figures then start from
    /// [`HistoryLost::resumed_at`]'s checkpoint.
    pub history_lost: Option<HistoryLost>,
}

impl Follow {
    /// Starts following the recording at `path`, which may still be
    /// shorter than its segment header. Nothing is read until [`Follow::poll`].
    ///
    /// `path` may be a directory of segments (`Recorder::segment_bytes`):
    /// the follow starts at its newest segment, seeded from that segment's
    /// checkpoint (what was live when it started; the history before it is
    /// not read), and goes on to each next segment as the recording rotates.
    ///
    /// # Errors
    /// [`Error::Open`] when the file cannot be opened, or the directory
    /// cannot be listed or holds no segment.
    pub fn open(path: &Path) -> Result<Follow, Error> {
        let open_error = |source| Error::Open { path: path.to_path_buf(), source };
        if path.is_dir() {
            let newest = list_segments(path).map_err(open_error)?.pop();
            let Some((index, file)) = newest else {
                let none = std::io::Error::new(std::io::ErrorKind::NotFound, "no memscope segment (NNNNNN.memscope) in this directory");
                return Err(open_error(none));
            };
            File::open(&file).map_err(|source| Error::Open { path: file.clone(), source })?;
            let segments = Segments {
                dir: path.to_path_buf(),
                index,
                first: true,
                next: false,
                nodes_fed: 0,
                modules_fed: HashSet::new(),
                read_before: 0,
                report: SegmentsReport::default(),
                history_lost: None,
            };
            return Ok(Follow { path: file, reader: None, replayer: None, stopped: false, segments: Some(segments) });
        }
        File::open(path).map_err(open_error)?;
        Ok(Follow { path: path.to_path_buf(), reader: None, replayer: None, stopped: false, segments: None })
    }

    /// The file followed now: the one given to [`Follow::open`], or the
    /// directory's current segment.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the next segment once a rotation's End record was read and
    /// the segment exists; returns whether the follow waits for it. When it
    /// is not there but a later one is, the budget deleted it before it was
    /// read: the follow skips to the oldest segment still there
    /// ([`Follow::skip_to_oldest`]).
    ///
    /// # Errors
    /// [`Error::Open`] when the directory is gone.
    fn next_segment(&mut self) -> Result<bool, Error> {
        let Some(s) = self.segments.as_mut().filter(|s| s.next) else { return Ok(false) };
        let next = s.dir.join(segment_file_name(s.index + 1));
        if !next.is_file() {
            let (from, last_read) = (s.index + 1, s.index);
            return self.skip_to_oldest(from, Some(last_read));
        }
        s.read_before += self.reader.as_ref().map_or(0, Reader::offset);
        s.index += 1;
        s.first = false;
        s.next = false;
        self.path = next;
        self.reader = None;
        Ok(false)
    }

    /// Goes on from the oldest segment of the directory whose index is at
    /// least `from`, when the one the follow needs is not there; returns
    /// whether the follow waits (no such segment yet). `last_read`: the
    /// last segment read (`None`: nothing read yet, and nothing is lost: the
    /// follow just starts at a newer segment). A later segment means the
    /// ones before it were deleted unread: the replay starts again from its
    /// checkpoint, and [`HistoryLost`] says so.
    ///
    /// # Errors
    /// [`Error::Open`] when the directory is gone (deleted while followed).
    fn skip_to_oldest(&mut self, from: u64, last_read: Option<u64>) -> Result<bool, Error> {
        let Some(s) = self.segments.as_mut() else { return Ok(false) };
        let gone = |dir: &Path, e: std::io::Error| Error::Open {
            path: dir.to_path_buf(),
            source: std::io::Error::new(
                e.kind(),
                format!(
                    "the segment directory cannot be listed ({e}): deleted while it was followed? Shown up to {}",
                    segment_file_name(s.index)
                ),
            ),
        };
        let listed = list_segments(&s.dir).map_err(|e| gone(&s.dir, e))?;
        let Some((index, path)) = listed.into_iter().find(|&(i, _)| i >= from) else { return Ok(true) };
        if index == from && s.next {
            // Written between the two looks: no gap.
            return self.next_segment();
        }
        if let Some(last) = last_read {
            let lost = s.history_lost.get_or_insert_with(HistoryLost::default);
            lost.last_read = Some(last);
            lost.resumed_at = index;
            lost.segments_skipped += index.saturating_sub(last + 1);
            lost.skips += 1;
        }
        // Start again, as a follow opened at this segment would.
        s.index = index;
        s.first = true;
        s.next = false;
        s.nodes_fed = 0;
        s.modules_fed.clear();
        s.read_before = 0;
        s.report = SegmentsReport::default();
        self.path = path;
        self.reader = None;
        self.replayer = None;
        Ok(false)
    }

    /// Reads and replays the complete records written since the last call,
    /// up to the end the file had when the call began, or until `budget`
    /// has passed (a file written faster than it replays, or a long file
    /// read for the first time, is read over several calls); returns how
    /// many it read (damaged stretches included). Call it again to read
    /// what is written later; after the `End` record it reads only what may
    /// follow (`Symbols` records).
    ///
    /// # Errors
    /// [`Error::Open`] when the file can no longer be opened before its
    /// header is read; [`Error::Header`] when it is not a recording this
    /// version can read; [`Error::Read`] when reading fails.
    pub fn poll(&mut self, budget: Duration) -> Result<u64, Error> {
        if self.stopped || self.next_segment()? {
            return Ok(0);
        }
        // No deadline for a budget too long to add to now.
        let until = Instant::now().checked_add(budget);
        let path = &self.path;
        // Where the file ends now: what is written during this call waits for the next.
        let len = std::fs::metadata(path).map_or(u64::MAX, |m| m.len());
        if self.reader.is_none() {
            let file = match File::open(path) {
                Ok(file) => file,
                // Deleted for the budget before it was read: go on from the oldest there.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && self.segments.is_some() => {
                    let (from, last_read) = self.segments.as_ref().map_or((0, None), |s| (s.index + 1, (!s.first).then(|| s.index - 1)));
                    if self.skip_to_oldest(from, last_read)? {
                        return Ok(0);
                    }
                    return self.poll(budget);
                }
                Err(source) => return Err(Error::Open { path: path.clone(), source }),
            };
            match Reader::follow(file) {
                Ok(reader) => {
                    // A directory's next segment goes on with the same replay.
                    if self.replayer.is_none() {
                        self.replayer = Some(Replayer::new(*reader.header()));
                    }
                    self.reader = Some(reader);
                }
                // The header is not all written yet.
                Err(HeaderError::TooShort(_)) => return Ok(0),
                Err(source) => return Err(Error::Header { path: path.clone(), source }),
            }
        }
        let (Some(reader), Some(replayer)) = (self.reader.as_mut(), self.replayer.as_mut()) else {
            return Ok(0);
        };
        let mut read = 0;
        loop {
            let next = reader.next_record().map_err(|source| Error::Read { path: path.clone(), offset: reader.offset(), source })?;
            let rotated = match (next, self.segments.as_mut()) {
                (None, _) => break,
                (Some(Ok(record)), Some(segments)) => segments.feed(replayer, record),
                (Some(Ok(record)), None) => {
                    replayer.record(&record);
                    false
                }
                (Some(Err(damage)), _) => {
                    replayer.damage(damage);
                    false
                }
            };
            read += 1;
            if rotated {
                break;
            }
            // The limits of `Replay::from_reader`: memory stays bounded by
            // the bytes read, whatever the records claim.
            let read_bytes = self.segments.as_ref().map_or(0, |s| s.read_before) + reader.offset();
            replayer.window_limit = WINDOW_LIMIT.saturating_add((read_bytes / WINDOW_BYTES_PER_EVENT) as usize);
            let over =
                [("events", replayer.totals.events, max_events(read_bytes)), ("live allocations", replayer.held(), max_live(read_bytes))]
                    .into_iter()
                    .find(|&(_, count, max)| count > max);
            if let Some((what, count, max)) = over {
                let kind = DamageKind::OverLimit { what, count, read_bytes, max };
                replayer.damage(Damage { offset: read_bytes, kind, skipped_bytes: reader.pending_bytes() });
                self.stopped = true;
                break;
            }
            // The end the current file had (not the bytes of the segments
            // before it: with them a next segment was read a record a call).
            if reader.offset() >= len || until.is_some_and(|u| Instant::now() >= u) {
                break;
            }
        }
        replayer.set_header(*reader.header());
        if read == 0 && replayer.progress().0.is_none() {
            // Nothing new, and no End yet: a segment directory deleted under
            // the recording leaves its last segment without one, forever.
            if let Some(s) = self.segments.as_ref().filter(|s| !s.dir.is_dir()) {
                let why = format!("the segment directory was deleted while it was followed; shown up to {}", segment_file_name(s.index));
                return Err(Error::Open { path: s.dir.clone(), source: std::io::Error::new(std::io::ErrorKind::NotFound, why) });
            }
        }
        // A rotation: go on in the next segment, within the budget.
        if self.segments.as_ref().is_some_and(|s| s.next) && until.is_none_or(|u| Instant::now() < u) {
            let rest = until.map_or(Duration::MAX, |u| u.saturating_duration_since(Instant::now()));
            return Ok(read + self.poll(rest)?);
        }
        Ok(read)
    }

    /// Bytes of the file read so far: up to the end of its last complete
    /// record, plus those of a record not yet whole. A file found shorter
    /// than this was truncated (recorded again to the same path).
    pub fn bytes_read(&self) -> u64 {
        self.reader.as_ref().map_or(0, |r| r.offset() + r.pending_bytes())
    }

    /// The segment header, once written.
    pub fn header(&self) -> Option<&SegmentHeader> {
        self.reader.as_ref().map(Reader::header)
    }

    /// Whether the `End` record was read: the recording is finished.
    pub fn is_finished(&self) -> bool {
        self.replayer.as_ref().is_some_and(|r| r.progress().0.is_some())
    }

    /// The call-stack tree and module map read so far (to symbolize the
    /// sites of a [`Snapshot`]); `Stacks::sites` is empty until
    /// [`Follow::into_replay`].
    pub fn stacks(&self) -> Option<&Stacks> {
        self.replayer.as_ref().map(Replayer::stacks)
    }

    /// The figures of every event read so far, with the `top` sites by
    /// live bytes (as [`Follow::snapshot_by`] with [`SiteOrder::LiveBytes`]).
    pub fn snapshot(&self, top: usize) -> Snapshot {
        self.snapshot_by(top, SiteOrder::LiveBytes)
    }

    /// The figures of every event read so far, with the `top` sites by
    /// `order` (most first; ties: then by live bytes, then by allocated
    /// bytes, then the lower stack id; sites where the key is 0 are left
    /// out). Time and memory: one pass over the sites and over the events
    /// read but not yet applied (a round or two).
    pub fn snapshot_by(&self, top: usize, order: SiteOrder) -> Snapshot {
        let (Some(replayer), Some(reader)) = (&self.replayer, &self.reader) else { return Snapshot::default() };
        let (summary, mut sites) = replayer.view();
        let (end, damage_count, rounds) = replayer.progress();
        let site_count = sites.len() as u64;
        let key = |s: &SiteStats| match order {
            SiteOrder::LiveBytes => s.live_bytes_end,
            SiteOrder::AllocatedBytes => s.allocated_bytes,
            SiteOrder::Allocations => s.allocations + s.reallocations,
        };
        let order = |a: &SiteStats, b: &SiteStats| {
            key(b)
                .cmp(&key(a))
                .then(b.live_bytes_end.cmp(&a.live_bytes_end))
                .then(b.allocated_bytes.cmp(&a.allocated_bytes))
                .then(a.stack.cmp(&b.stack))
        };
        sites.retain(|s| key(s) > 0);
        if sites.len() > top && top > 0 {
            sites.select_nth_unstable_by(top - 1, order);
        }
        sites.truncate(top);
        sites.sort_unstable_by(order);
        Snapshot {
            summary,
            top_sites: sites,
            site_count,
            end,
            damage_count,
            rounds,
            read_bytes: reader.offset(),
            pending_bytes: reader.pending_bytes(),
            sampling_interval_bytes: replayer.sampling_interval(),
            history_lost: self.segments.as_ref().and_then(|s| s.history_lost),
        }
    }

    /// The replay of everything read so far, as [`Replay::from_reader`]
    /// gives it for a file that ends here; `None` before the header is read.
    pub fn into_replay(self) -> Option<Replay> {
        let (reader, replayer) = (self.reader?, self.replayer?);
        Some(replayer.finish(reader.offset()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::stacks::StackNode;
    use crate::format::{Event, OnFull, Record, VERSION};

    fn header() -> SegmentHeader {
        SegmentHeader { version: VERSION, start_unix_ns: 1, start_monotonic_ns: 2, pid: 3, ring_capacity: 64, on_full: OnFull::Block }
    }

    /// Records of two threads allocating, reallocating (in place, and
    /// moving with a return stamp) and deallocating each other's memory,
    /// with Round records whose watermarks leave events buffered.
    fn records() -> Vec<Record> {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut rand = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let nodes = (1..=4).map(|i| StackNode { parent: i - 1, address: 0x1000 + u64::from(i) }).collect();
        let mut out = vec![Record::Stack { first_id: 1, nodes }];
        let mut live: Vec<(u64, u64)> = Vec::new();
        let (mut ts, mut next_ptr, mut seq) = (10u64, 0x10_0000u64, 0u64);
        for round in 0..40u64 {
            for thread in 1..=2u32 {
                let mut events = Vec::new();
                for _ in 0..rand(6) {
                    ts += 1 + rand(3);
                    let stack = rand(5) as u32;
                    match rand(4) {
                        0 | 1 => {
                            next_ptr += 64;
                            let size = 1 + rand(200);
                            live.push((next_ptr, size));
                            events.push(Event::Alloc { ts_ns: ts, ptr: next_ptr, size, align: 8, zeroed: false, stack });
                        }
                        2 if !live.is_empty() => {
                            let (ptr, size) = live.swap_remove(rand(live.len() as u64) as usize);
                            events.push(Event::Dealloc { ts_ns: ts, ptr, size, align: 8 });
                        }
                        _ if !live.is_empty() => {
                            let i = rand(live.len() as u64) as usize;
                            let (old_ptr, old_size) = live[i];
                            let new_size = 1 + rand(300);
                            let (new_ptr, returned_ns) = if rand(2) == 0 {
                                (old_ptr, None)
                            } else {
                                next_ptr += 64;
                                (next_ptr, Some(ts + rand(2)))
                            };
                            live[i] = (new_ptr, new_size);
                            events.push(Event::Realloc {
                                ts_ns: ts,
                                old_ptr,
                                new_ptr,
                                old_size: Some(old_size),
                                new_size,
                                stack,
                                returned_ns,
                            });
                            ts = returned_ns.unwrap_or(ts);
                        }
                        _ => {}
                    }
                }
                if !events.is_empty() {
                    out.push(Record::Events(crate::format::EventChunk { offset: 0, thread, sequence: seq, events, len_bytes: 0 }));
                    seq += 1;
                }
            }
            // Watermarks lag the events: some stay buffered at every point.
            out.push(Record::Round { round, watermark_ns: ts.saturating_sub(rand(40)) });
        }
        out.push(Record::End { events_written: 0, events_lost: 0, end_ns: ts + 1, flags: 0 });
        out
    }

    /// The snapshot after every record equals the finished replay of the
    /// records up to there: the buffered events are counted exactly.
    #[test]
    fn a_view_counts_the_buffered_events_as_the_replay_will() {
        view_equals_replay(records());
    }

    /// The same in a sampling recording: the buffered samples are weighted
    /// as replay weighs them, and the sites' counts are events, not units.
    /// Before, the buffered samples counted unweighted (their bytes as
    /// sampled, one event each) and every count was in 1/65,536 units.
    #[test]
    fn a_sampling_view_weighs_the_buffered_events_as_the_replay_will() {
        let mut records = records();
        records.insert(0, Record::Sampling(crate::format::SamplingRecord { interval_bytes: 64, seed: 1 }));
        view_equals_replay(records);
    }

    fn view_equals_replay(records: Vec<Record>) {
        let sampled = matches!(records[0], Record::Sampling(_));
        let mut follower = Replayer::new(header());
        let mut buffered_seen = false;
        for (n, record) in records.iter().enumerate() {
            follower.record(record);
            let (totals, mut sites) = follower.view();
            let mut prefix = Replayer::new(header());
            for r in &records[..=n] {
                prefix.record(r);
            }
            buffered_seen |= prefix.totals != totals;
            let done = prefix.finish(0);
            let mut want = done.summary.clone();
            if sampled {
                // A sampling recording's peak is the most live at a drain
                // round (from its Totals records, which these lack): not
                // what a view of the buffered events can say.
                (want.peak_live_bytes, want.peak_at_ns) = (totals.peak_live_bytes, totals.peak_at_ns);
            }
            assert_eq!(totals, want, "record {n}");
            let mut want_sites = done.stacks.sites.clone();
            for s in &mut want_sites {
                (s.peak_count, s.peak_bytes, s.max_live_bytes, s.max_live_at_ns) = (0, 0, 0, 0);
                (s.temporary, s.total_lifetime_ns) = (0, 0);
                // The view's error bounds cover the applied events only.
                s.estimate = None;
            }
            for s in &mut sites {
                (s.max_live_bytes, s.max_live_at_ns, s.temporary, s.total_lifetime_ns) = (0, 0, 0, 0);
                s.estimate = None;
            }
            want_sites.sort_by_key(|s| s.stack);
            sites.sort_by_key(|s| s.stack);
            assert_eq!(sites, want_sites, "record {n}");
        }
        assert!(buffered_seen, "the test must leave events buffered");
    }
}
