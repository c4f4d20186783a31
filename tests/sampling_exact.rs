//! Sampling by bytes (`Recorder::sampling_interval_bytes`): the totals stay
//! exact against an independent counter while only samples are written;
//! sampled blocks freed on another thread are matched; a full
//! sampled-address set is counted, never silent.

mod common;

use common::{counted, quiesce_harness, raw_fold, spawn_counted, temp_path, CountingAlloc, Counts};
use memscope::replay::{replay_file, Replay};
use memscope::TrackingAllocator;
use std::alloc::{alloc, dealloc, realloc, Layout};

#[global_allocator]
static A: TrackingAllocator<CountingAlloc> = TrackingAllocator::new(CountingAlloc::new());

/// A block sent to another thread to be freed there.
struct Sent(*mut u8, Layout);
// SAFETY: a raw heap block, owned by whoever holds it.
unsafe impl Send for Sent {}

fn block(size: usize) -> Sent {
    let layout = Layout::from_size_align(size, 8).unwrap();
    // SAFETY: non-zero size.
    let p = unsafe { alloc(layout) };
    assert!(!p.is_null());
    Sent(p, layout)
}

fn free(b: Sent) {
    // SAFETY: allocated with this layout.
    unsafe { dealloc(b.0, b.1) }
}

/// Mixed work on one thread: small and large allocations, reallocations
/// that grow (moving or not) and shrink, frees; returns blocks kept.
fn churn(seed: usize) -> Vec<Sent> {
    let mut kept = Vec::new();
    let mut v: Vec<u64> = Vec::new();
    for i in 0..20_000 {
        let size = [8, 24, 100, 700, 3000, 40_000][(i + seed) % 6];
        let b = block(size);
        if i % 7 == 0 {
            kept.push(b);
        } else {
            free(b);
        }
        v.push(i as u64); // a growing Vec: reallocations
        if i % 1000 == 999 {
            v.truncate(10);
            v.shrink_to_fit(); // a shrinking reallocation
        }
    }
    // Raw reallocations, down to one byte and back.
    let layout = Layout::from_size_align(5000, 8).unwrap();
    // SAFETY: non-zero sizes; each call gets the block's current layout.
    unsafe {
        let p = alloc(layout);
        let p = realloc(p, layout, 1);
        let p = realloc(p, Layout::from_size_align(1, 8).unwrap(), 90_000);
        dealloc(p, Layout::from_size_align(90_000, 8).unwrap());
    }
    drop(v);
    kept
}

fn replay(path: &std::path::Path) -> Replay {
    replay_file(path).unwrap_or_else(|e| panic!("replay {}: {e}", path.display()))
}

#[test]
fn sampling_totals_are_exact_and_cross_thread_frees_match() {
    let path = temp_path("sampling_exact");
    quiesce_harness();
    let rec = memscope::Recorder::new(&path).sampling_interval_bytes(4096).sampling_seed(7).start().expect("start");
    let before = Counts::now();
    let big = 64;
    let kept = counted(|| {
        // Thread 1 allocates large blocks (sampled with p ≈ 1 at 4 KiB) and
        // hands them to thread 2, which frees them.
        let (tx, rx) = std::sync::mpsc::channel::<Sent>();
        let producer = spawn_counted(move || {
            let kept = churn(1);
            for _ in 0..big {
                tx.send(block(1 << 20)).unwrap();
            }
            kept
        });
        let consumer = spawn_counted(move || {
            let mut n = 0;
            while let Ok(b) = rx.recv() {
                free(b);
                n += 1;
            }
            n
        });
        let mut kept = churn(0);
        kept.extend(producer.join());
        assert_eq!(consumer.join(), big);
        kept
    });
    let c = Counts::now().since(&before);
    let in_set = memscope::record::sampled_addresses();
    let summary = rec.finish().expect("finish");
    let r = replay(&path);
    let s = &r.summary;
    let sampling = r.sampling.as_ref().expect("a sampling recording says so");
    assert_eq!(sampling.interval_bytes, 4096);
    assert!(sampling.exact_totals);
    assert_eq!(sampling.untracked_samples, 0);
    assert_eq!(s.lost_events, 0);
    assert!(r.finished && r.damage_count == 0, "{:?}", r.damage);
    common::assert_totals(s, &c);
    assert_eq!(s.live_bytes, c.live_bytes(), "live bytes");
    assert_eq!(s.live_count, c.live_count(), "live count");
    // Per thread too: the threads' exact counts add up to the totals.
    let sum = |f: fn(&memscope::replay::ThreadStats) -> u64| r.threads.iter().map(f).sum::<u64>();
    assert_eq!(sum(|t| t.allocations), c.allocs);
    assert_eq!(sum(|t| t.allocated_bytes), c.alloc_bytes);
    // Only samples were written: far fewer events than calls.
    let sampled = &sampling.sampled;
    assert!(
        sampled.total_allocations > 0 && sampled.total_allocations * 3 < c.allocs,
        "{} samples of {} allocations",
        sampled.total_allocations,
        c.allocs
    );
    assert!(summary.events_written * 2 < c.calls());
    // Every sampled deallocation and reallocation found its allocation.
    assert_eq!(sampled.prerecording_deallocations, 0);
    assert_eq!(sampled.prerecording_reallocations, 0);
    assert_eq!(sampled.address_conflicts, 0);
    // What replay holds live of the samples is what the set holds.
    assert_eq!(sampled.live_count, in_set as u64, "sampled blocks live in replay vs in the set");
    // The large blocks were freed on the consumer thread, and recorded there.
    let f = raw_fold(&path);
    assert!(f.threads.values().any(|t| t.deallocs >= big as u64 && t.allocs < 10), "consumer's deallocations: {:?}", f.threads);
    for b in kept {
        free(b);
    }
    let _ = std::fs::remove_file(&path);
}
