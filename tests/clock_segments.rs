//! A process's first recording, segmented: its clock rate is measured on
//! the drainer after `start` (FORMAT.md, "The clock"), and every segment,
//! the first and those opened at rotations, starts with the Clock record
//! of that rate (no placeholder left), as its last Clock record says.

mod common;

use common::CountingAlloc;
use memscope::format::{self, Reader, Record};
use memscope::replay::{list_segments, replay_file};
use memscope::TrackingAllocator;
use std::hint::black_box;

#[global_allocator]
static A: TrackingAllocator<CountingAlloc> = TrackingAllocator::new(CountingAlloc::new());

#[test]
fn every_segment_starts_with_the_measured_clock() {
    let dir = std::env::temp_dir().join(format!("memscope-clock-segments-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    common::quiesce_harness();
    let rec = memscope::Recorder::new(&dir).segment_bytes(16 << 10).start().expect("start");
    let mut kept = Vec::new();
    for r in 0..150 {
        for i in 0..64usize {
            let b = black_box(vec![r as u8; 16 + (i * 37 + r * 11) % 700].into_boxed_slice());
            if i % 4 == 0 {
                kept.push(b);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let written = rec.finish().expect("finish");
    drop(kept);
    let segments = list_segments(&dir).unwrap();
    assert!(segments.len() >= 3, "want several segments, got {segments:?}");
    assert_eq!(written.segments, segments.len() as u64);
    let r = replay_file(&dir).expect("replay the directory");
    assert!(r.damage.is_empty() && r.finished, "damage: {:?}", r.damage);
    assert_eq!(r.summary.lost_events, 0);

    let mut rate = None;
    for (i, path) in &segments {
        let mut reader = Reader::new(std::fs::File::open(path).unwrap()).unwrap();
        let epoch_ns = reader.header().start_monotonic_ns;
        let mut clocks = Vec::new();
        while let Some(rec) = reader.next_record().unwrap() {
            if let Record::Clock(c) = rec.expect("no damage") {
                clocks.push(c);
            }
        }
        let [start, end] = clocks[..] else { panic!("segment {i}: two Clock records: {clocks:?}") };
        assert_eq!((start.at, end.at), (format::CLOCK_AT_START, format::CLOCK_AT_END), "segment {i}");
        assert_eq!((start.mult, start.shift, start.epoch_ticks), (end.mult, end.shift, end.epoch_ticks), "segment {i}");
        assert!(start.mult != 0, "segment {i}: a placeholder Clock record");
        assert_eq!(*rate.get_or_insert((start, epoch_ns)), (start, epoch_ns), "segment {i}: the same head as segment 0");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
