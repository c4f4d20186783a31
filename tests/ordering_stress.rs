//! Many threads on few cores, unthrottled, with a drain interval of 100 µs:
//! threads are preempted between a stamp and its push all the time, and
//! reallocations race deallocations of the memory they return. Workers grow
//! and shrink Vecs (moving reallocations), hand buffers to each other, and
//! grow buffers another thread allocated. Every Round watermark must be
//! exact, and replay must need no repair: no late event, no address
//! conflict, no size mismatch, no reordered reallocation, and every figure
//! equal to the counter's (issue 9, items 7 and 7b).

mod common;

use common::{assert_exact, assert_watermarks_exact, counted, raw_fold, spawn_counted, temp_path, CountingAlloc, Counts};
use memscope::TrackingAllocator;
use std::hint::black_box;
use std::sync::mpsc;
use std::time::Duration;

#[global_allocator]
static A: TrackingAllocator<CountingAlloc> = TrackingAllocator::new(CountingAlloc::new());

const THREADS: usize = 8;
const ROUNDS: usize = 1000;

#[test]
fn unthrottled_threads_replay_with_no_ordering_repair() {
    let path = temp_path("ordering_stress");
    common::quiesce_harness();
    let rec = memscope::Recorder::new(&path).drain_interval(Duration::from_micros(100)).start().expect("start");

    let before = Counts::now();
    counted(|| {
        let mut txs = Vec::new();
        let mut rxs = Vec::new();
        for _ in 0..THREADS {
            let (tx, rx) = mpsc::channel::<Vec<u8>>();
            txs.push(tx);
            rxs.push(rx);
        }
        let workers: Vec<_> = rxs
            .into_iter()
            .enumerate()
            .map(|(i, rx)| {
                let next = txs[(i + 1) % THREADS].clone();
                spawn_counted(move || {
                    let mut kept: Vec<Vec<u8>> = Vec::new();
                    for n in 0..ROUNDS {
                        // Grow a buffer of our own by pushes (moving reallocations).
                        let mut v: Vec<u8> = Vec::new();
                        for k in 0..(64 + (n * 37 + i * 11) % 2000) {
                            v.push(k as u8);
                        }
                        // Grow a buffer another thread allocated, then shrink it.
                        while let Ok(mut theirs) = rx.try_recv() {
                            theirs.extend_from_slice(&v[..v.len() / 2]);
                            theirs.shrink_to_fit();
                            kept.push(theirs);
                        }
                        if kept.len() > 8 {
                            kept.drain(..4).for_each(|b| drop(black_box(b)));
                        }
                        let _ = next.send(v);
                    }
                    drop(next);
                    kept.len()
                })
            })
            .collect();
        drop(txs);
        for w in workers {
            w.join();
        }
    });
    let c = Counts::now().since(&before);
    let written = rec.finish().expect("finish");

    assert_watermarks_exact(&path);
    let f = raw_fold(&path);
    assert!(f.moves_with_return_stamp > 0, "moving reallocations carry a return stamp");
    assert!(f.conflicts.is_empty(), "the fold by stamps sees no disorder: {:#?}", &f.conflicts[..f.conflicts.len().min(5)]);
    let r = assert_exact(&path, &c, &written);
    let s = &r.summary;
    assert_eq!((s.late_events, s.address_conflicts, s.size_mismatches, s.reordered_reallocations, s.unresolved_conflicts), (0, 0, 0, 0, 0));
    let _ = std::fs::remove_file(&path);
}
