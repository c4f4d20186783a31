//! `Summary::drainer_cpu_ns`: the drainer thread's CPU time, in ns, is
//! reported, and is plausible: above a floor no drainer can beat for the
//! events it wrote (1 ns each), and below the wall time of the recording
//! (one thread cannot use more CPU time than has passed).

mod common;

use memscope::TrackingAllocator;
use std::hint::black_box;
use std::time::Instant;

#[global_allocator]
static A: TrackingAllocator = TrackingAllocator::system();

#[test]
fn drainer_cpu_time_is_reported_in_ns() {
    let path = common::temp_path("drainer_cpu");
    common::quiesce_harness();
    let started = Instant::now();
    let rec = memscope::Recorder::new(&path).start().expect("start");
    for i in 0..200_000u64 {
        drop(black_box(Box::new(i)));
    }
    let s = rec.finish().expect("finish");
    let wall_ns = started.elapsed().as_nanos() as u64;
    assert_eq!(s.events_lost, 0);
    assert!(s.events_written >= 400_000, "{s:?}");
    assert!(s.drainer_cpu_ns >= s.events_written, "drainer CPU {} ns for {} events: not in ns?", s.drainer_cpu_ns, s.events_written);
    assert!(s.drainer_cpu_ns <= wall_ns, "drainer CPU {} ns over a wall time of {wall_ns} ns", s.drainer_cpu_ns);
    let per_event = s.drainer_cpu_ns_per_event();
    assert!((per_event - s.drainer_cpu_ns as f64 / s.events_written as f64).abs() < 1e-9);
    let _ = std::fs::remove_file(&path);
}
