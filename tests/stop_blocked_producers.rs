//! At stop, producers waiting for room under `OnFull::Block` give up and
//! count their event as lost. Every such count must be in the End record and
//! the `Summary`: the stopping drainer closes the count, waits for every
//! producer that began waiting before, and only then takes its last count
//! (a producer that begins waiting after the close counts nothing: its
//! event came after the stop). The loom model `stop_gate` checks the same
//! protocol exhaustively; this runs it for real, many times.
//!
//! The independent count: the recorder's own per-ring counters
//! (`memscope::record::lost_counted`), read after every producer is joined.

mod common;

use memscope::{OnFull, TrackingAllocator};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[global_allocator]
static A: TrackingAllocator = TrackingAllocator::system();

#[test]
fn lost_at_stop_is_in_the_summary() {
    let path = common::temp_path("stop_blocked_producers");
    common::quiesce_harness();
    let mut total_lost = 0;
    for round in 0..20 {
        let before = memscope::record::lost_counted();
        let rec = memscope::Recorder::new(&path).on_full(OnFull::Block).ring_capacity(64).start().expect("start");
        let stop = Arc::new(AtomicBool::new(false));
        let producers: Vec<_> = (0..8)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        black_box(Box::new([0u8; 24]));
                    }
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let summary = rec.finish().expect("finish");
        stop.store(true, Ordering::Relaxed);
        for p in producers {
            p.join().unwrap();
        }
        let counted = memscope::record::lost_counted() - before;
        let fold = common::raw_fold(&path);
        assert_eq!(fold.end.map(|e| e.1), Some(summary.events_lost), "round {round}: the End record vs finish()");
        assert_eq!(fold.lost, summary.events_lost, "round {round}: the Lost events vs finish()");
        assert_eq!(counted, summary.events_lost, "round {round}: events counted lost by producers vs finish()");
        total_lost += counted;
    }
    eprintln!("{total_lost} events given up at stop in 20 recordings");
    let _ = std::fs::remove_file(&path);
}
