//! A process's first recording measures its clock rate on the drainer, at
//! least 5 ms after the epoch, instead of waiting in `start` (FORMAT.md,
//! "The clock"): a recording that ends sooner than that (here a few hundred
//! calls on two threads, then `finish`) is still exact, its timestamps
//! order every address's life and rise on each thread, and its first Clock
//! record holds the rate measured from the epoch to that later reading.

mod common;

use common::{assert_exact, assert_no_conflicts, counted, CountingAlloc, Counts};
use memscope::format::{self, Reader, Record};
use memscope::TrackingAllocator;
use std::hint::black_box;

#[global_allocator]
static A: TrackingAllocator<CountingAlloc> = TrackingAllocator::new(CountingAlloc::new());

#[test]
fn a_recording_shorter_than_the_calibration_is_exact_and_in_order() {
    let path = common::temp_path("clock_short");
    common::quiesce_harness();
    let rec = memscope::Recorder::new(&path).start().expect("start");
    let before = Counts::now();
    counted(|| {
        let v: Vec<Vec<u8>> = (0..200).map(|i| vec![i as u8; i % 61 + 1]).collect();
        let other = common::spawn_counted(move || black_box(v).into_iter().map(|b| b.len()).sum::<usize>());
        assert!(other.join() > 0);
        let mut grown = Vec::new();
        for i in 0..100u32 {
            grown.push(i);
        }
        black_box(grown);
    });
    let c = Counts::now().since(&before);
    let summary = rec.finish().expect("finish");
    let replay = assert_exact(&path, &c, &summary);
    assert_no_conflicts(&path, &replay);

    let mut reader = Reader::new(std::fs::File::open(&path).unwrap()).unwrap();
    let epoch_ns = reader.header().start_monotonic_ns;
    let end_ns = replay.end.expect("End").end_ns;
    let (mut clocks, mut last) = (Vec::new(), std::collections::HashMap::new());
    while let Some(r) = reader.next_record().unwrap() {
        match r.expect("no damage") {
            Record::Clock(c) => clocks.push(c),
            Record::Events(chunk) => {
                assert_eq!(clocks.len(), 1, "the first Clock record comes before the first chunk");
                for e in &chunk.events {
                    let ts = e.ts_ns();
                    let prev = last.insert(chunk.thread, ts).unwrap_or(0);
                    assert!(ts >= prev && ts <= end_ns, "thread {}: {ts} ns after {prev} ns (end {end_ns})", chunk.thread);
                }
            }
            _ => {}
        }
    }
    assert!(last.len() >= 2, "two threads' events: {last:?}");
    let [start, end] = clocks[..] else { panic!("two Clock records: {clocks:?}") };
    assert_eq!((start.at, end.at), (format::CLOCK_AT_START, format::CLOCK_AT_END));
    assert_eq!((start.mult, start.shift, start.epoch_ticks), (end.mult, end.shift, end.epoch_ticks));
    if start.source == format::CLOCK_TSC {
        // Measured by the drainer from the epoch to a pair at least 5 ms later.
        assert!(start.ticks > start.epoch_ticks && start.monotonic_ns >= epoch_ns + 5_000_000, "{start:?}, epoch {epoch_ns}");
        let (dt, dns) = (start.ticks - start.epoch_ticks, start.monotonic_ns - epoch_ns);
        assert_eq!(start.mult, (((u128::from(dns) << start.shift) + u128::from(dt / 2)) / u128::from(dt)) as u64);
        let by_clock = end.ticks_to_ns(end.ticks);
        let by_monotonic = end.monotonic_ns - epoch_ns;
        assert!(by_clock.abs_diff(by_monotonic) < 50_000 + by_monotonic / 1000, "end: {by_clock} ns converted, {by_monotonic} ns");
    }
    let _ = std::fs::remove_file(&path);
}
