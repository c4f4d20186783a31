//! `OnFull::Drop` with 64-event rings and a slow drainer: two threads burst
//! allocations and events are lost, but every counted call is accounted
//! for: recorded allocation events + lost events = counted calls (+ the
//! threads' own start/exit events, which can be lost too), and `finish()`
//! reports the same losses as the file.

mod common;

use common::{counted, raw_fold, replay, spawn_counted, temp_path, CountingAlloc, Counts};
use memscope::{OnFull, TrackingAllocator};
use std::hint::black_box;
use std::time::Duration;

#[global_allocator]
static A: TrackingAllocator<CountingAlloc> = TrackingAllocator::new(CountingAlloc::new());

const WORKERS: u64 = 2;
const BURST: usize = 30_000;

#[test]
fn dropped_events_are_all_accounted_for() {
    let path = temp_path("drop_policy");
    common::quiesce_harness();
    let rec = memscope::Recorder::new(&path)
        .on_full(OnFull::Drop)
        .ring_capacity(64)
        .drain_interval(Duration::from_millis(200))
        .start()
        .expect("start");

    let before = Counts::now();
    counted(|| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                spawn_counted(move || {
                    let mut keep = Vec::with_capacity(64);
                    for i in 0..BURST {
                        let b = black_box(Box::new([w as u8; 24]));
                        if i % 64 == 0 {
                            keep.clear();
                        }
                        keep.push(b);
                        let mut v = black_box(Vec::<u16>::with_capacity(1));
                        v.extend_from_slice(&[1, 2, 3]);
                        drop(v);
                    }
                })
            })
            .collect();
        for w in workers {
            w.join();
        }
    });
    let c = Counts::now().since(&before);
    let written = rec.finish().expect("finish");

    let r = replay(&path);
    let s = &r.summary;
    assert!(r.finished, "no End record");
    assert!(r.damage.is_empty(), "damage: {:?}", r.damage);
    assert_eq!(written.events_lost, s.lost_events, "finish() and the file disagree on lost events");
    assert_eq!(
        Some((written.events_written, written.events_lost)),
        r.end.map(|e| (e.events_written, e.events_lost)),
        "finish() vs the End record"
    );
    assert!(s.lost_events > 0, "a 64-event ring and a 200 ms drainer lost nothing: the test did not test Drop");
    assert!(c.calls() > WORKERS * BURST as u64 * 4, "too little work: {c:?}");

    // Each thread's ThreadStart is pushed into an empty ring, so it is never
    // lost; each worker's ThreadExit can be. Main + the workers started;
    // the workers exited while recording.
    let f = raw_fold(&path);
    assert_eq!(f.thread_starts, 1 + WORKERS, "thread starts");
    assert!(f.thread_exits <= WORKERS);
    let lost_thread_events = WORKERS - f.thread_exits;
    // A free whose allocation was lost is a "prerecording" deallocation to replay.
    let recorded_calls = s.total_allocations + s.total_deallocations + s.prerecording_deallocations + s.total_reallocations;
    assert_eq!(
        recorded_calls + s.lost_events,
        c.calls() + lost_thread_events,
        "recorded + lost must be every counted call: counted {c:?}, replay {s:?}"
    );
    // And nothing was recorded twice or invented: each kind is bounded by the count.
    assert!(s.total_allocations <= c.allocs && s.total_deallocations + s.prerecording_deallocations <= c.deallocs);
    assert!(s.total_reallocations <= c.reallocs);
    assert!(s.total_allocated_bytes <= c.alloc_bytes && s.total_deallocated_bytes + s.prerecording_deallocated_bytes <= c.dealloc_bytes);
    assert_eq!(s.live_bytes, s.total_allocated_bytes - s.total_deallocated_bytes);
    assert_eq!(r.threads.iter().map(|t| t.lost_events).sum::<u64>(), s.lost_events, "lost events per thread");
    let _ = std::fs::remove_file(&path);
}
