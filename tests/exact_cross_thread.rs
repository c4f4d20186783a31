//! Cross-thread frees: producer threads allocate Boxes and growing Vecs and
//! send them over mpsc channels to consumer threads, which free them (and
//! pass some on to a second hop first). Replay's totals equal the counter
//! exactly, every block is freed, and every thread is in the recording.

mod common;

use common::{assert_exact, counted, spawn_counted, temp_path, CountingAlloc, Counts};
use memscope::TrackingAllocator;
use std::hint::black_box;
use std::sync::mpsc;

#[global_allocator]
static A: TrackingAllocator<CountingAlloc> = TrackingAllocator::new(CountingAlloc::new());

#[allow(dead_code)] // The payloads are only there to be allocated and freed.
enum Item {
    Boxed(Box<[u64; 16]>),
    Grown(Vec<u32>),
    Text(String),
}

const PRODUCERS: usize = 4;
const CONSUMERS: usize = 2;
const ITEMS: usize = 2000;

#[test]
fn cross_thread_frees_are_exact() {
    let path = temp_path("exact_cross_thread");
    common::quiesce_harness();
    let rec = memscope::Recorder::new(&path).start().expect("start");

    let before = Counts::now();
    let (freed, passed) = counted(|| {
        // Second hop: consumers pass every 7th item on to this thread, which frees it.
        let (hop_tx, hop_rx) = mpsc::channel::<Item>();
        let mut consumer_txs = Vec::new();
        let mut consumers = Vec::new();
        for _ in 0..CONSUMERS {
            let (tx, rx) = mpsc::channel::<Item>();
            consumer_txs.push(tx);
            let hop_tx = hop_tx.clone();
            consumers.push(spawn_counted(move || {
                let mut n = 0usize;
                for item in rx {
                    n += 1;
                    if n % 7 == 0 {
                        hop_tx.send(item).unwrap();
                    } else {
                        drop(black_box(item));
                    }
                }
                n
            }));
        }
        drop(hop_tx);
        let last_hop = spawn_counted(move || hop_rx.into_iter().map(black_box).count());

        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let txs = consumer_txs.clone();
                spawn_counted(move || {
                    for i in 0..ITEMS {
                        let item = match i % 3 {
                            0 => Item::Boxed(Box::new([i as u64; 16])),
                            1 => {
                                // Grows by reallocation, on this thread.
                                let mut v = Vec::new();
                                for j in 0..(i % 97) as u32 {
                                    v.push(black_box(j));
                                }
                                Item::Grown(v)
                            }
                            _ => Item::Text(format!("producer {p} item {i}")),
                        };
                        txs[(p + i) % CONSUMERS].send(item).unwrap();
                    }
                })
            })
            .collect();
        drop(consumer_txs);
        for p in producers {
            p.join();
        }
        let freed: usize = consumers.into_iter().map(|c| c.join()).sum();
        (freed, last_hop.join())
    });
    let c = Counts::now().since(&before);
    let written = rec.finish().expect("finish");

    assert_eq!(freed, PRODUCERS * ITEMS);
    assert!(passed > 0);
    assert!(c.reallocs > 1000, "the Vecs did not grow: {c:?}");
    // A producer's Vec growth can be handed an address a consumer is freeing
    // at that moment, which the recorder stamps realloc-first (see
    // realloc_stamp_order.rs); replay repairs it as a reordered reallocation.
    // Allocations, stamped after they return, never conflict.
    let r = assert_exact(&path, &c, &written);
    assert_eq!((r.summary.address_conflicts, r.summary.unresolved_conflicts), (0, 0));
    // Everything sent was freed; what is left live is the main thread's own
    // lazily created state (at most a few blocks), identical to the counter's.
    assert!(r.summary.live_count <= 4, "live blocks: {}", r.summary.live_count);
    // Main, producers, consumers, last hop.
    assert_eq!(r.summary.threads, (1 + PRODUCERS + CONSUMERS + 1) as u64);
    let _ = std::fs::remove_file(&path);
}
