//! Continuous recording into a directory of segments (issue 11, item 2):
//! rotation, each segment replaying alone from its checkpoint, the
//! directory replaying as one recording with exact figures (against the
//! counting allocator, and against a single-file recording of the same
//! workload site by site), the disk budget, missing and foreign segments
//! named, and a second recorder refused.

mod common;

use common::{counted, CountingAlloc, Counts};
use memscope::format::{Reader, Record};
use memscope::replay::{list_segments, replay_file, Replay};
use memscope::TrackingAllocator;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[global_allocator]
static A: TrackingAllocator<CountingAlloc> = TrackingAllocator::new(CountingAlloc::new());

/// One recording at a time in this process.
static SERIAL: Mutex<()> = Mutex::new(());

/// Takes the turn, and lets the previous test's thread and the harness
/// finish what they allocate before this test records.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    std::thread::sleep(std::time::Duration::from_millis(100));
    common::quiesce_harness();
    guard
}

fn temp_dir(test: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("memscope-seg-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

/// A deterministic workload: `rounds` rounds of allocations of varied
/// sizes at two sites, half freed at once, a quarter kept to the end, the
/// rest freed one round later; a growing Vec reallocates. Returns what it
/// keeps. Sleeps a little between rounds so that drain rounds (and
/// rotations) happen in between.
#[inline(never)]
fn workload(rounds: usize) -> (Vec<Box<[u8]>>, Vec<u64>) {
    let mut kept = Vec::new();
    let mut grown = Vec::new();
    let mut previous: Vec<Box<[u8]>> = Vec::new();
    for r in 0..rounds {
        let mut this = Vec::with_capacity(64);
        for i in 0..64 {
            let size = 16 + (i * 37 + r * 11) % 700;
            let b = site_a(size);
            match i % 4 {
                0 => kept.push(b),
                1 => this.push(b),
                _ => drop(b),
            }
            if i % 8 == 0 {
                drop(site_b(size * 3));
            }
        }
        grown.push(r as u64);
        drop(std::mem::replace(&mut previous, this));
        std::thread::sleep(std::time::Duration::from_micros(300));
    }
    drop(previous);
    (kept, grown)
}

#[inline(never)]
fn site_a(size: usize) -> Box<[u8]> {
    vec![1u8; size].into_boxed_slice()
}

#[inline(never)]
fn site_b(size: usize) -> Box<[u8]> {
    vec![2u8; size].into_boxed_slice()
}

/// Per-site figures, sorted: comparable across recordings whose stack ids differ.
fn site_figures(r: &Replay) -> Vec<(u64, u64, u64, u64, u64, u64)> {
    let mut v: Vec<_> = r
        .stacks
        .sites
        .iter()
        .map(|s| (s.allocations, s.allocated_bytes, s.reallocations, s.deallocations, s.live_count_end, s.live_bytes_end))
        .collect();
    v.sort_unstable();
    v
}

fn checkpoint_total(path: &Path) -> (u64, u64) {
    let mut reader = Reader::new(std::io::BufReader::new(std::fs::File::open(path).unwrap())).unwrap();
    let (mut count, mut bytes) = (0, 0);
    while let Some(rec) = reader.next_record().unwrap() {
        if let Ok(Record::Checkpoint(c)) = rec {
            count += c.entries.len() as u64;
            bytes += c.entries.iter().map(|e| e.size).sum::<u64>();
        }
    }
    (count, bytes)
}

fn dir_bytes(dir: &Path) -> Vec<u64> {
    list_segments(dir).unwrap().iter().map(|(_, p)| std::fs::metadata(p).map_or(0, |m| m.len())).collect()
}

#[test]
fn rotation_segments_replay_alone_and_together_exactly() {
    let _serial = serial();
    let dir = temp_dir("rotation");
    common::quiesce_harness();
    let rec = memscope::Recorder::new(&dir).segment_bytes(16 << 10).start().expect("start");
    let before = Counts::now();
    // Enough events for several 16 KiB segments at version 8's 1–2 bytes per event.
    let kept = counted(|| workload(120));
    let c = Counts::now().since(&before);
    let written = rec.finish().expect("finish");

    let segments = list_segments(&dir).unwrap();
    assert!(segments.len() >= 3, "want several segments, got {segments:?}");
    assert_eq!(written.segments, segments.len() as u64);
    assert_eq!(written.segments_deleted, 0);
    assert!(segments.iter().enumerate().all(|(i, s)| s.0 == i as u64), "indexes 0, 1, 2, …: {segments:?}");

    // The directory replays as one recording, exactly.
    let r = replay_file(&dir).expect("replay the directory");
    assert!(r.damage.is_empty(), "damage: {:?}", r.damage);
    assert!(r.finished);
    let s = &r.summary;
    assert!(!r.segments.history_missing);
    assert_eq!(r.segments.segments.len(), segments.len());
    assert_eq!((r.segments.seeded_allocations, r.segments.seeded_bytes), (0, 0), "contiguous segments seed nothing");
    assert_eq!(s.lost_events, 0);
    assert_eq!(s.total_allocations, c.allocs, "allocations");
    assert_eq!(s.total_deallocations, c.deallocs, "deallocations");
    assert_eq!(s.total_reallocations, c.reallocs, "reallocations");
    assert_eq!(s.total_allocated_bytes, c.alloc_bytes, "allocated bytes");
    assert_eq!(s.total_deallocated_bytes, c.dealloc_bytes, "deallocated bytes");
    assert_eq!((s.live_count, s.live_bytes), (c.live_count(), c.live_bytes()), "live at the end");
    assert_eq!((s.prerecording_deallocations, s.address_conflicts, s.late_events), (0, 0, 0));
    assert_eq!(r.stacks.records_out_of_order, 0, "each stack node fed once");
    let sum: u64 = r.stacks.sites.iter().map(|s| s.allocated_bytes).sum();
    assert_eq!(sum, s.total_allocated_bytes, "per-site bytes add up");

    // Each segment replays alone, undamaged; it ends with the live set the
    // next one's checkpoint holds, and the last with the counted live set.
    for (i, (index, path)) in segments.iter().enumerate() {
        let alone = replay_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(alone.damage.is_empty(), "{}: {:?}", path.display(), alone.damage);
        assert!(alone.finished, "{}: End record", path.display());
        assert_eq!(alone.segments.history_missing, *index > 0);
        let end = (alone.summary.live_count, alone.summary.live_bytes);
        match segments.get(i + 1) {
            Some((_, next)) => {
                assert!(alone.end.unwrap().continued, "{} says the recording goes on", path.display());
                assert_eq!(end, checkpoint_total(next), "{} ends with the live set {} starts with", path.display(), next.display());
            }
            None => {
                assert!(!alone.end.unwrap().continued);
                assert_eq!(end, (c.live_count(), c.live_bytes()), "the last segment alone ends with the counted live set");
            }
        }
    }

    // The same workload into one file: the same figures, site by site.
    let file = dir.join("single.memscope.file");
    let rec = memscope::Recorder::new(&file).start().expect("start");
    let kept2 = workload(120);
    rec.finish().expect("finish");
    let single = replay_file(&file).expect("replay the file");
    assert_eq!(site_figures(&single), site_figures(&r), "per-site figures, one file vs segments");
    assert_eq!(single.summary.total_allocations, s.total_allocations);
    assert_eq!(single.summary.live_bytes, s.live_bytes);
    drop((kept, kept2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn keep_bytes_bounds_the_directory_and_the_checkpoint_replaces_the_history() {
    let _serial = serial();
    let dir = temp_dir("budget");
    const SEGMENT: u64 = 8 << 10;
    const KEEP: u64 = 40 << 10;
    common::quiesce_harness();
    let rec = memscope::Recorder::new(&dir).segment_bytes(SEGMENT).keep_bytes(KEEP).start().expect("start");
    let before = Counts::now();
    let mut worst_closed = 0;
    let kept = counted(|| {
        let mut all = Vec::new();
        for _ in 0..20 {
            all.push(workload(10));
            // Every segment but the newest is closed: they and one full
            // segment fit in the budget.
            let sizes = dir_bytes(&dir);
            let closed: u64 = sizes[..sizes.len().saturating_sub(1)].iter().sum();
            worst_closed = worst_closed.max(closed);
        }
        all
    });
    let c = Counts::now().since(&before);
    let written = rec.finish().expect("finish");
    assert!(written.segments_deleted > 0, "the budget deleted segments: {written:?}");
    assert_eq!(written.segment_delete_errors, 0);
    assert!(worst_closed + SEGMENT <= KEEP, "closed segments {worst_closed} + one segment {SEGMENT} > keep_bytes {KEEP}");
    let sizes = dir_bytes(&dir);
    let closed: u64 = sizes[..sizes.len() - 1].iter().sum();
    assert!(closed + SEGMENT <= KEEP, "at the end: closed {closed} + {SEGMENT} > {KEEP}");
    assert_eq!(sizes.len() as u64, written.segments - written.segments_deleted);

    // The oldest are gone: replay starts from the first one's checkpoint,
    // says so, and still ends with the exact live set.
    let r = replay_file(&dir).expect("replay");
    assert!(r.damage.is_empty(), "deleted-oldest is not damage: {:?}", r.damage);
    assert!(r.finished);
    assert!(r.segments.history_missing);
    assert!(r.segments.segments[0].seeded && r.segments.segments[0].index > 0);
    assert!(r.segments.seeded_allocations > 0);
    // This thread's live set (the harness's threads may allocate while it
    // records): its checkpoint entries carry its id.
    let mine = r.threads.iter().max_by_key(|t| t.allocations).expect("threads");
    assert_eq!((mine.live_count, mine.live_bytes), (c.live_count(), c.live_bytes()), "live at the end, from the checkpoint on");
    assert_eq!(r.summary.prerecording_deallocations, 0, "every deallocation finds its allocation in the checkpoint");
    drop(kept);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_truncated_and_foreign_segments_are_named_and_the_rest_replays() {
    let _serial = serial();
    let dir = temp_dir("damaged");
    let rec = memscope::Recorder::new(&dir).segment_bytes(8 << 10).start().expect("start");
    // Until six segments: how many rounds that takes depends on the load
    // (fewer drain rounds write fewer bytes) and on each segment's start
    // (checkpoint, thread names), which grows with what is kept.
    let mut kept = vec![workload(80)];
    while list_segments(&dir).unwrap().len() < 6 && kept.len() < 100 {
        kept.push(workload(10));
    }
    rec.finish().expect("finish");
    let segments = list_segments(&dir).unwrap();
    assert!(segments.len() >= 5, "{segments:?}");
    let whole = replay_file(&dir).unwrap();

    // Another recording's segment, a file that is not a recording, a
    // missing middle segment, and a truncated one.
    let other = temp_dir("damaged-other");
    let rec = memscope::Recorder::new(&other).segment_bytes(8 << 10).start().expect("start");
    drop(workload(2));
    rec.finish().expect("finish");
    std::fs::copy(other.join("000000.memscope"), dir.join("000090.memscope")).unwrap();
    std::fs::write(dir.join("000091.memscope"), b"not a recording at all, but long enough to have a header......").unwrap();
    std::fs::remove_file(&segments[2].1).unwrap();
    let cut = &segments[3].1;
    let len = std::fs::metadata(cut).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(cut).unwrap();
    f.set_len(len - 7).unwrap();
    drop(f);

    let r = replay_file(&dir).expect("replays the rest");
    let text: Vec<String> = r.damage.iter().map(|d| d.to_string()).collect();
    let named = |what: &str| text.iter().any(|t| t.contains(what));
    assert!(named("segment 000002.memscope: missing"), "{text:#?}");
    assert!(named("segment 000090.memscope: belongs to another recording"), "{text:#?}");
    assert!(named("segment 000091.memscope: not readable"), "{text:#?}");
    assert!(named("truncated"), "the cut segment: {text:#?}");
    assert!(named("segment 000003.memscope: ends without a rotation's End record"), "{text:#?}");
    assert!(r.finished, "the last segment is there");
    assert!(
        r.summary.total_allocations > 0 && r.summary.total_allocations < whole.summary.total_allocations + r.segments.seeded_allocations
    );
    assert!(r.segments.segments.iter().any(|s| s.index == 3 && s.seeded), "replay goes on from 000003's checkpoint");
    // A directory with no segment at all is an error that names it.
    let empty = temp_dir("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = replay_file(&empty).unwrap_err().to_string();
    assert!(e.contains("no memscope segment") && e.contains(&*empty.to_string_lossy()), "{e}");
    drop(kept);
    for d in [dir, other, empty] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn a_second_recorder_into_one_directory_is_refused() {
    use std::os::unix::io::AsRawFd;
    let _serial = serial();
    let dir = temp_dir("locked");
    std::fs::create_dir_all(&dir).unwrap();
    // Another process's lock, as a second open file description holding it.
    let lock = std::fs::OpenOptions::new().create(true).truncate(false).read(true).write(true).open(dir.join("lock")).unwrap();
    std::fs::write(dir.join("lock"), "4242\n").unwrap();
    // SAFETY: flock takes a descriptor of an open file.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }, 0);
    match memscope::Recorder::new(&dir).segment_bytes(8 << 10).start() {
        Err(memscope::Error::DirectoryLocked { path, pid }) => {
            assert_eq!((path, pid), (dir.clone(), Some(4242)));
        }
        other => panic!("want DirectoryLocked, got {other:?}"),
    }
    // A lock whose holder is gone (its file closed) is taken over.
    drop(lock);
    let rec = memscope::Recorder::new(&dir).segment_bytes(8 << 10).start().expect("the stale lock is taken over");
    let pid = std::fs::read_to_string(dir.join("lock")).unwrap();
    assert_eq!(pid.trim(), std::process::id().to_string());
    rec.finish().expect("finish");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_segment_configurations_are_refused() {
    let _serial = serial();
    let dir = temp_dir("config");
    for (r, what) in [
        (memscope::Recorder::new(&dir).segment_bytes(100), "segment_bytes"),
        (memscope::Recorder::new(&dir).keep_bytes(1 << 20), "keep_bytes needs"),
        (memscope::Recorder::new(&dir).segment_bytes(1 << 20).keep_bytes(1 << 19), "keep_bytes must"),
    ] {
        match r.start() {
            Err(memscope::Error::InvalidConfig(m)) => assert!(m.contains(what), "{m}"),
            other => panic!("want InvalidConfig({what}), got {other:?}"),
        }
    }
    assert!(!dir.exists(), "nothing created");
    // A path that is a file cannot be a segment directory.
    let file = std::env::temp_dir().join(format!("memscope-seg-file-{}", std::process::id()));
    std::fs::write(&file, b"x").unwrap();
    assert!(matches!(memscope::Recorder::new(&file).segment_bytes(8 << 10).start(), Err(memscope::Error::Create { .. })));
    let _ = std::fs::remove_file(&file);
}

#[test]
fn a_deleted_directory_stops_the_recording_cleanly() {
    let _serial = serial();
    let dir = temp_dir("deleted");
    let rec = memscope::Recorder::new(&dir).segment_bytes(8 << 10).start().expect("start");
    let kept = workload(5);
    std::fs::remove_dir_all(&dir).unwrap();
    // The segment being written is unlinked; the next rotation cannot create its file.
    let kept2 = workload(40);
    match rec.finish() {
        Err(e @ memscope::Error::Write { .. }) => {
            let memscope::Error::Write { path, .. } = &e else { unreachable!() };
            assert!(path.starts_with(&dir), "{}", path.display());
            assert!(e.to_string().contains("events lost"), "the events not on disk are counted: {e}");
        }
        other => panic!("want Error::Write naming a segment of the deleted directory, got {other:?}"),
    }
    // Recording stopped cleanly: the next one starts.
    let again = temp_dir("deleted-again");
    let rec = memscope::Recorder::new(&again).segment_bytes(8 << 10).start().expect("a new recording starts");
    rec.finish().expect("finish");
    assert!(replay_file(&again).expect("replay").damage.is_empty());
    drop((kept, kept2));
    let _ = std::fs::remove_dir_all(&again);
}

/// Segments built with the format API: segment 0 allocates two blocks and
/// frees one; segment 1's checkpoint is `checkpoint`.
fn crafted(dir: &Path, checkpoint: &[memscope::format::CheckpointEntry]) {
    use memscope::format::{self, ChunkEncoder, OnFull, RawEvent, SegmentHeader, SegmentRecord, VERSION};
    std::fs::create_dir_all(dir).unwrap();
    let header =
        SegmentHeader { version: VERSION, start_unix_ns: 1, start_monotonic_ns: 1, pid: 9, ring_capacity: 64, on_full: OnFull::Block };
    let mut enc = ChunkEncoder::default();
    let mut s0 = header.encode().to_vec();
    format::put_segment(&mut s0, &SegmentRecord { recording_id: 7, index: 0, first_sequence: 0, first_round: 0 });
    format::put_checkpoint(&mut s0, &[], &mut Vec::new());
    let events = [
        RawEvent::alloc(10, 0x1000, 64, 8, false, 0),
        RawEvent::alloc(20, 0x2000, 1000, 8, false, 0),
        RawEvent::dealloc(25, 0x1000, 64, 8),
    ];
    enc.put_events(&mut s0, 1, 0, &events, &[]);
    format::put_round(&mut s0, 0, 30);
    format::put_end(&mut s0, 3, 0, 30, format::END_CONTINUED);
    let mut s1 = header.encode().to_vec();
    format::put_segment(&mut s1, &SegmentRecord { recording_id: 7, index: 1, first_sequence: 1, first_round: 1 });
    format::put_checkpoint(&mut s1, checkpoint, &mut Vec::new());
    enc.put_events(&mut s1, 1, 1, &[RawEvent::dealloc(40, 0x2000, 1000, 8)], &[]);
    format::put_round(&mut s1, 1, 45);
    format::put_end(&mut s1, 1, 0, 50, 0);
    std::fs::write(dir.join("000000.memscope"), s0).unwrap();
    std::fs::write(dir.join("000001.memscope"), s1).unwrap();
}

#[test]
fn a_checkpoint_that_disagrees_with_the_segments_before_it_is_damage() {
    use memscope::format::CheckpointEntry;
    let dir = temp_dir("checkpoint-agrees");
    let right = CheckpointEntry { ptr: 0x2000, size: 1000, thread: 1, ts_ns: 20, stack: 0 };
    crafted(&dir, &[right]);
    let r = replay_file(&dir).unwrap();
    assert!(r.damage.is_empty(), "{:?}", r.damage);
    assert_eq!((r.summary.live_count, r.summary.total_allocations), (0, 2));
    // A checkpoint that also holds the freed block, or another size.
    for wrong in [
        vec![CheckpointEntry { ptr: 0x1000, size: 64, thread: 1, ts_ns: 10, stack: 0 }, right],
        vec![CheckpointEntry { size: 999, ..right }],
    ] {
        let _ = std::fs::remove_dir_all(&dir);
        crafted(&dir, &wrong);
        let r = replay_file(&dir).unwrap();
        let text: Vec<String> = r.damage.iter().map(|d| d.to_string()).collect();
        assert!(text.iter().any(|t| t.starts_with("segment 000001.memscope: its checkpoint disagrees")), "{text:?}");
        assert_eq!(r.summary.total_allocations, 2, "a contiguous checkpoint seeds nothing, agreeing or not");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Polls `follow` until it has read the End record (at most 30 s).
fn follow_to_end(follow: &mut memscope::replay::Follow) -> memscope::replay::Snapshot {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !follow.is_finished() && std::time::Instant::now() < until {
        follow.poll(std::time::Duration::from_secs(1)).expect("poll");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(follow.is_finished(), "the follow reached the recording's End record");
    follow.snapshot(10)
}

#[test]
fn a_follow_of_the_directory_goes_on_across_rotations_and_starts_from_the_newest_checkpoint() {
    let _serial = serial();
    let dir = temp_dir("follow");
    common::quiesce_harness();
    let rec = memscope::Recorder::new(&dir).segment_bytes(16 << 10).start().expect("start");
    // Followed while it is written, from its first segment.
    let mut follow = memscope::replay::Follow::open(&dir).expect("follow the directory");
    let mut kept = Vec::new();
    for _ in 0..6 {
        kept.push(workload(10));
        follow.poll(std::time::Duration::from_secs(1)).expect("poll");
    }
    rec.finish().expect("finish");
    let live = follow_to_end(&mut follow);
    let segments = list_segments(&dir).unwrap();
    assert!(segments.len() >= 3, "want several rotations, got {segments:?}");
    assert_eq!(follow.path(), segments.last().unwrap().1, "the follow went on to the last segment");
    // What it shows is what the directory replays to (before the change, a
    // follow stopped at the first rotation's End record).
    let whole = replay_file(&dir).expect("replay the directory");
    let figures = |s: &memscope::replay::Totals| {
        (s.total_allocations, s.total_deallocations, s.total_reallocations, s.total_allocated_bytes, s.live_count, s.live_bytes)
    };
    assert_eq!(figures(&live.summary), figures(&whole.summary), "follow across rotations vs the directory's replay");

    // Opened after the fact, a follow starts at the newest segment, seeded
    // from its checkpoint: the figures of that segment replayed alone.
    let mut late = memscope::replay::Follow::open(&dir).expect("follow the directory");
    let newest = follow_to_end(&mut late);
    let alone = replay_file(&segments.last().unwrap().1).expect("replay the newest segment");
    assert_eq!(figures(&newest.summary), figures(&alone.summary), "a late follow vs the newest segment alone");
    assert_eq!((newest.summary.live_count, newest.summary.live_bytes), (whole.summary.live_count, whole.summary.live_bytes));
    drop(kept);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_sampling_recording_in_segments_keeps_its_interval_and_exact_totals_in_each_segment() {
    let _serial = serial();
    let dir = temp_dir("sampled");
    common::quiesce_harness();
    let rec = memscope::Recorder::new(&dir).segment_bytes(16 << 10).sampling_interval_bytes(1024).start().expect("start");
    let before = Counts::now();
    let kept = counted(|| workload(200));
    let c = Counts::now().since(&before);
    rec.finish().expect("finish");
    let segments = list_segments(&dir).unwrap();
    assert!(segments.len() >= 2, "want a rotation, got {segments:?}");
    let exact = |r: &Replay, what: &str| {
        let s = &r.summary;
        assert_eq!(
            (s.total_allocations, s.total_deallocations, s.total_reallocations, s.total_allocated_bytes, s.total_deallocated_bytes),
            (c.allocs, c.deallocs, c.reallocs, c.alloc_bytes, c.dealloc_bytes),
            "{what}: exact totals from the Totals records"
        );
        assert_eq!(s.live_bytes, c.live_bytes(), "{what}: exact bytes in use");
    };
    let whole = replay_file(&dir).expect("replay the directory");
    assert!(whole.damage.is_empty(), "{:?}", whole.damage);
    assert_eq!(whole.sampling.as_ref().map(|s| s.interval_bytes), Some(1024));
    exact(&whole, "the directory");
    // Each segment alone says it samples, at which interval; the last alone
    // has every thread's exact counts (each segment starts with them).
    for (_, path) in &segments {
        let alone = replay_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(alone.sampling.as_ref().map(|s| s.interval_bytes), Some(1024), "{}: a sampling segment", path.display());
    }
    exact(&replay_file(&segments.last().unwrap().1).unwrap(), "the last segment alone");
    drop(kept);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Replay, the format and the exporters never depend on the record side
/// (house style, "Layout"): no path into `crate::record` in their sources.
/// Before the checkpoint's live table moved to `format::live`, directory
/// replay used `record::segment::LiveTable` and this failed.
#[test]
fn replay_format_and_export_do_not_use_the_record_side() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut offenders = Vec::new();
    let mut todo: Vec<PathBuf> = ["replay", "format", "export"].iter().map(|d| root.join(d)).collect();
    while let Some(p) = todo.pop() {
        if p.is_dir() {
            todo.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else if p.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&p).unwrap();
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                if code.contains("crate::record") || code.contains("super::record") || code.contains("unsafe ") {
                    offenders.push(format!("{}:{}: {}", p.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(offenders.is_empty(), "replay/format/export reach into record or use unsafe:\n{}", offenders.join("\n"));
}

/// A follow that falls behind the budget's deletions skips to the oldest
/// segment still there, seeds from its checkpoint, says which segments it
/// lost, and ends with the directory's live set. Before, it waited for the
/// deleted segment forever (`follow_to_end` timed out).
#[test]
fn a_follow_that_falls_behind_the_budget_skips_to_the_oldest_segment_and_says_so() {
    let _serial = serial();
    let dir = temp_dir("follow-behind");
    common::quiesce_harness();
    let rec = memscope::Recorder::new(&dir).segment_bytes(8 << 10).keep_bytes(40 << 10).start().expect("start");
    let mut follow = memscope::replay::Follow::open(&dir).expect("follow the directory");
    let mut kept = vec![workload(2)];
    follow.poll(std::time::Duration::from_secs(1)).expect("poll");
    assert_eq!(follow.snapshot(1).history_lost, None);
    // The recording rotates and deletes while the follow does not read.
    for _ in 0..20 {
        kept.push(workload(10));
    }
    let written = rec.finish().expect("finish");
    assert!(written.segments_deleted > 2, "the budget deleted segments: {written:?}");
    let end = follow_to_end(&mut follow);
    let lost = end.history_lost.expect("the follow says it lost history");
    let first = list_segments(&dir).unwrap()[0].0;
    let last_read = lost.last_read.expect("it had read a segment");
    assert!(lost.resumed_at >= first && lost.resumed_at > last_read + 1, "{lost:?}, oldest on disk {first}");
    assert_eq!(lost.segments_skipped, lost.resumed_at - last_read - 1, "{lost:?}");
    assert_eq!(lost.skips, 1, "{lost:?}");
    // From the checkpoint on, it agrees with the directory's replay.
    let whole = replay_file(&dir).expect("replay");
    assert_eq!((end.summary.live_count, end.summary.live_bytes), (whole.summary.live_count, whole.summary.live_bytes));
    drop(kept);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A directory deleted while it is followed ends the follow with an error
/// that says so, once everything written is read; before, the follow
/// waited for an End record that never comes.
#[test]
fn a_follow_of_a_deleted_directory_ends_with_an_error() {
    let _serial = serial();
    let dir = temp_dir("follow-deleted");
    let rec = memscope::Recorder::new(&dir).segment_bytes(8 << 10).start().expect("start");
    let mut follow = memscope::replay::Follow::open(&dir).expect("follow the directory");
    let kept = workload(5);
    follow.poll(std::time::Duration::from_secs(1)).expect("poll");
    std::fs::remove_dir_all(&dir).unwrap();
    let kept2 = workload(40);
    assert!(rec.finish().is_err(), "the recording stops: its directory is gone");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let err = loop {
        match follow.poll(std::time::Duration::from_secs(1)) {
            Err(e) => break e.to_string(),
            Ok(_) if std::time::Instant::now() > until => panic!("the follow still waits after 30 s"),
            Ok(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
        }
    };
    assert!(err.contains("deleted while it was followed") && err.contains(&*dir.to_string_lossy()), "{err}");
    assert!(follow.snapshot(1).summary.total_allocations > 0, "what was read is still shown");
    drop((kept, kept2));
}

/// A live variable as the names test compares it: name, type, size,
/// tracking time, thread, and its live allocations (address, size).
type LiveVar = (String, String, u64, u64, u32, Vec<(u64, u64)>);

/// Each segment replays alone with the names of what is live in it (issue
/// 11, item 2): thread names (a thread still running, one gone that left an
/// allocation live), tracked variables whose allocations are live (moved by
/// a reallocation too), an open scope with what was allocated in it, live
/// foreign memory and a handoff, as the whole directory's replay shows
/// them. Before the Checkpoint events record (version 7), the last segment
/// alone showed no variable, scope, foreign region, handoff or thread name
/// from before it.
#[test]
fn a_segment_replayed_alone_shows_the_names_and_tracked_variables_of_what_is_live_in_it() {
    let _serial = serial();
    let dir = temp_dir("names");
    common::quiesce_harness();
    let rec = memscope::Recorder::new(&dir).segment_bytes(8 << 10).start().expect("start");
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let stays = std::thread::Builder::new()
        .name("carried-stays".into())
        .spawn(move || {
            let b = vec![7u8; 3000];
            rx.recv().ok();
            drop(b);
        })
        .unwrap();
    let gone: Vec<u8> = std::thread::Builder::new().name("carried-gone".into()).spawn(|| vec![9u8; 2500]).unwrap().join().unwrap();
    let scope = memscope::track_scope!("carried-scope");
    let named: Vec<u64> = vec![1u64; 300];
    memscope::track_var!(named);
    let shared = std::rc::Rc::new(vec![5u8; 600]);
    memscope::track_var!(shared);
    let mut grows: Vec<u32> = Vec::with_capacity(10);
    grows.push(1);
    memscope::track_var!(grows);
    let freed = vec![0u8; 100];
    memscope::track_var!(freed);
    drop(freed);
    let in_scope = vec![3u8; 1200];
    memscope::ffi::track_foreign(0x7000_0000usize as *const u8, 4096, "carried-foreign");
    memscope::ffi::track_foreign(0x7100_0000usize as *const u8, 64, "carried-foreign-released");
    memscope::ffi::untrack_foreign(0x7100_0000usize as *const u8);
    memscope::ffi::handed_over(in_scope.as_ptr(), "carried-handoff");
    // Enough events for several 8 KiB segments at version 8's 1–2 bytes per event.
    let kept = workload(60);
    // A reallocation that moves a tracked variable's allocation, segments later.
    grows.extend(0..5000);
    let kept2 = workload(60);
    rec.finish().expect("finish");
    tx.send(()).unwrap();
    stays.join().unwrap();
    drop(scope);

    let segments = list_segments(&dir).unwrap();
    assert!(segments.len() >= 4, "want several rotations, got {segments:?}");
    let whole = replay_file(&dir).expect("replay the directory");
    let alone = replay_file(&segments.last().unwrap().1).expect("replay the last segment");
    assert!(whole.damage.is_empty() && alone.damage.is_empty(), "{:?} {:?}", whole.damage, alone.damage);
    assert!(alone.segments.history_missing && alone.segments.seeded_events > 0, "{:?}", alone.segments);
    // A thread reusing another's address: before the live table resolved
    // an address held twice by time, `grows`' reallocation took the
    // identity (time, so scope) of the exited thread's allocation there,
    // and the scope's live bytes below differed by 19,957.
    // The same live set, no conflict: before the live table kept a round's
    // deallocations that found nothing, another thread's deallocation
    // drained before the allocation it frees (here the spawn's closure and
    // packet, freed by the child) left the checkpoint holding it (3
    // allocations, 88 bytes, and 3 address conflicts alone).
    assert_eq!((alone.summary.live_count, alone.summary.live_bytes), (whole.summary.live_count, whole.summary.live_bytes));
    assert_eq!((alone.summary.address_conflicts, whole.summary.address_conflicts), (0, 0));

    // Thread names: every thread alone shows has the name the whole replay gives it.
    let name = |r: &Replay, n: &str| r.threads.iter().find(|t| t.name.as_deref() == Some(n)).map(|t| t.thread);
    for n in ["carried-stays", "carried-gone"] {
        assert!(name(&whole, n).is_some(), "{n} in the whole replay");
        assert_eq!(name(&alone, n), name(&whole, n), "thread {n} named in the last segment alone");
    }
    for t in &alone.threads {
        let w = whole.threads.iter().find(|w| w.thread == t.thread).expect("the same thread ids");
        assert_eq!(t.name, w.name, "thread {}", t.thread);
    }
    // Variables live at the end: the same names, types, sizes, times and allocations.
    let live_vars = |r: &Replay| {
        let mut v: Vec<_> = r
            .variables
            .iter()
            .filter(|v| v.state == "live")
            .map(|v| {
                let allocs: Vec<_> = v.allocations.iter().filter(|a| a.freed_at_ns.is_none()).map(|a| (a.ptr, a.size)).collect();
                (v.name.clone(), v.type_name.clone(), v.size, v.tracked_at_ns, v.thread, allocs)
            })
            .collect();
        v.sort();
        v
    };
    let want = live_vars(&whole);
    assert_eq!(want.len(), 3, "named, shared and grows are live: {want:#?}");
    // A variable's size is its allocations' when it is linked: when it was
    // tracked in the whole replay, when the segment started alone (`grows`
    // was reallocated in between; FORMAT.md, "Checkpoint events record").
    let no_size = |v: Vec<LiveVar>| {
        v.into_iter().map(|(n, t, size, at, th, a)| (n.clone(), t, if n == "grows" { 0 } else { size }, at, th, a)).collect::<Vec<_>>()
    };
    assert_eq!(no_size(live_vars(&alone)), no_size(want.clone()), "live variables, last segment alone vs the directory");
    let grows_alone = live_vars(&alone).into_iter().find(|v| v.0 == "grows").unwrap();
    assert_eq!(grows_alone.2, grows_alone.5.iter().map(|a| a.1).sum::<u64>(), "alone: its size at the segment's start");
    assert!(!alone.variables.iter().any(|v| v.name == "freed"), "a variable whose allocation is gone is not carried");
    // The open scope: the same node, open at the end, with the same live bytes.
    let scope_of = |r: &Replay| {
        r.scopes.iter().find(|s| s.name == "carried-scope").map(|s| (s.open_at_end, s.live_bytes, s.depth)).expect("the scope")
    };
    assert_eq!(scope_of(&alone), scope_of(&whole), "the open scope and what is live in it");
    assert_eq!(scope_of(&whole).0, 1);
    // Live foreign memory and the handoff of a live allocation.
    let foreign = |r: &Replay| r.foreign.iter().filter(|f| f.state == "live").map(|f| (f.label.clone(), f.ptr, f.size)).collect::<Vec<_>>();
    assert_eq!(foreign(&whole), vec![("carried-foreign".to_string(), 0x7000_0000, 4096)]);
    assert_eq!(foreign(&alone), foreign(&whole));
    let handoffs =
        |r: &Replay| r.handoffs.iter().filter(|h| h.state == "live").map(|h| (h.label.clone(), h.ptr, h.size, h.at_ns)).collect::<Vec<_>>();
    assert_eq!(handoffs(&whole).len(), 1);
    assert_eq!(handoffs(&alone), handoffs(&whole));
    drop((kept, kept2, named, shared, grows, in_scope, gone));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The child of [`a_full_disk_stops_the_segmented_recording_cleanly`]:
/// records into `dir` in 8 KiB segments, and once three segments exist
/// lets no file of this process grow past 2 KiB (RLIMIT_FSIZE: writes
/// past it fail with EFBIG, as on a full disk).
fn full_disk_child(dir: &Path) {
    let rec = memscope::Recorder::new(dir).segment_bytes(8 << 10).start().expect("start");
    let mut kept = Vec::new();
    while list_segments(dir).unwrap().len() < 3 {
        kept.push(workload(5));
    }
    // SAFETY: plain libc calls on valid arguments; SIGXFSZ would otherwise kill the child.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let mut old = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut old), 0);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &libc::rlimit { rlim_cur: 2048, rlim_max: old.rlim_max }), 0);
    }
    for _ in 0..10 {
        kept.push(workload(10));
    }
    let started = std::time::Instant::now();
    match rec.finish() {
        Err(e @ memscope::Error::Write { .. }) => {
            let memscope::Error::Write { source, events_lost, path, offset } = &e else { unreachable!() };
            assert_eq!(source.raw_os_error(), Some(libc::EFBIG), "{e}");
            // The offset is in the segment written (before, the recording's
            // bytes over all segments: past the end of the file).
            let len = std::fs::metadata(path).unwrap().len();
            assert!(*offset <= len, "{e}: the file holds {len} bytes");
            // (0: the failure was the new segment's first write.)
            if *offset > 0 {
                let bytes = std::fs::read(path).unwrap();
                let mut reader = Reader::new(&bytes[..*offset as usize]).expect("header");
                while let Some(item) = reader.next_record().unwrap() {
                    assert!(item.is_ok(), "damage before the failure offset: {item:?}");
                }
            }
            // The failed write held a round's chunks: their events are counted.
            assert!(*events_lost > 0, "{e}");
            assert!(e.to_string().contains(&format!("({events_lost} events lost)")), "{e}");
            println!("CHILD-WRITE-ERROR {e}");
        }
        other => panic!("want Error::Write, got {other:?}"),
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "finish returned at once");
    // Recording stopped cleanly: a new one starts (and fails at its first write past the limit, not before).
    let again = dir.with_extension("again");
    let rec = memscope::Recorder::new(&again).segment_bytes(8 << 10).start().expect("a new recording starts");
    drop(rec.finish());
    let _ = std::fs::remove_dir_all(&again);
    drop(kept);
}

/// A full disk during segmented recording (simulated in a child process
/// with RLIMIT_FSIZE) stops the recording with `Error::Write`, and every
/// complete segment (closed by a rotation's End record) replays alone
/// without damage; the directory replays up to the cut.
#[test]
fn a_full_disk_stops_the_segmented_recording_cleanly() {
    if let Some(dir) = std::env::var_os("MEMSCOPE_SEG_FULL_CHILD") {
        full_disk_child(Path::new(&dir));
        return;
    }
    let dir = temp_dir("full");
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "a_full_disk_stops_the_segmented_recording_cleanly", "--nocapture", "--test-threads=1"])
        .env("MEMSCOPE_SEG_FULL_CHILD", &dir)
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains("CHILD-WRITE-ERROR"), "{out:?}");
    let segments = list_segments(&dir).unwrap();
    assert!(segments.len() >= 3, "{segments:?}");
    let mut complete = 0;
    for (_, path) in &segments {
        let alone = replay_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if alone.end.is_some_and(|e| e.continued) {
            complete += 1;
            assert!(alone.damage.is_empty(), "{}: a complete segment replays without damage: {:?}", path.display(), alone.damage);
        } else {
            assert!(path == &segments.last().unwrap().1, "only the last segment is cut: {}", path.display());
            assert!(!alone.finished);
        }
    }
    assert!(complete >= 2, "{complete} complete segments");
    let whole = replay_file(&dir).expect("the directory replays");
    assert!(!whole.finished, "the recording was cut");
    assert_eq!(whole.segments.segments.len(), segments.len());
    assert!(whole.summary.total_allocations > 0);
    let _ = std::fs::remove_dir_all(&dir);
}
