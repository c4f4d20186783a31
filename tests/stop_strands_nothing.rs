//! Issue 9, "nothing vanishes silently": an event a thread began while a
//! recording ran is written or counted, even when the recording stops while
//! the thread is between its check that a recording runs and its push.
//! Such an event used to be pushed after the drainer's last round and sat in
//! the ring until the next recording's start threw it away, counted nowhere.

mod common;

use common::{temp_path, CountingAlloc};
use memscope::TrackingAllocator;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[global_allocator]
static GLOBAL: TrackingAllocator<CountingAlloc> = TrackingAllocator::new(CountingAlloc);

#[test]
fn recordings_stopped_under_load_strand_no_event() {
    let stop = Arc::new(AtomicBool::new(false));
    // More busy threads than cores: threads are preempted everywhere,
    // between the session check and the push included.
    let workers: Vec<_> = (0..6)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    for i in 0..64usize {
                        black_box(vec![0u8; 16 + i]);
                    }
                }
            })
        })
        .collect();
    let path = temp_path("stop_strands_nothing");
    for _ in 0..60 {
        let recording = memscope::Recorder::new(&path).drain_interval(std::time::Duration::from_micros(200)).start().expect("start");
        std::thread::sleep(std::time::Duration::from_millis(3));
        recording.finish().expect("finish");
    }
    // The last recording's stragglers are found by one more start.
    memscope::Recorder::new(&path).start().expect("start").finish().expect("finish");
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("worker");
    }
    let _ = std::fs::remove_file(&path);
    assert_eq!(memscope::record::events_stranded(), 0, "events pushed after their recording's last round, written and counted nowhere");
}
