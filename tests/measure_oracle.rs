//! `memscope::measure` against an independent counter: the inner allocator
//! wrapped by `TrackingAllocator` counts, per thread, every call it serves
//! while the thread's counting is on, with its own peak. Over workloads whose
//! figures nobody knows in advance (maps, strings, sorting, trait objects),
//! the measurement equals the counter figure for figure, on several threads
//! at once (the default parallel runner).

use memscope::{measure, HeapStats, TrackingAllocator};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;

/// Counts per thread while `ON` is set. Const-initialised thread-locals
/// without `Drop`, so usable from inside the allocator.
struct PerThreadCounter;

#[derive(Clone, Copy, Default, Debug)]
struct Tally {
    allocations: u64,
    deallocations: u64,
    reallocations: u64,
    allocated_bytes: u64,
    deallocated_bytes: u64,
    live_bytes: i64,
    peak_bytes: i64,
}

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static TALLY: Cell<Tally> = const { Cell::new(Tally {
        allocations: 0, deallocations: 0, reallocations: 0, allocated_bytes: 0, deallocated_bytes: 0, live_bytes: 0, peak_bytes: 0,
    }) };
}

fn count(f: impl FnOnce(&mut Tally)) {
    if ON.try_with(Cell::get).unwrap_or(false) {
        let _ = TALLY.try_with(|t| {
            let mut v = t.get();
            f(&mut v);
            v.peak_bytes = v.peak_bytes.max(v.live_bytes);
            t.set(v);
        });
    }
}

// SAFETY: forwards every call to `System` unchanged; counting only reads the
// arguments and touches thread-locals.
unsafe impl GlobalAlloc for PerThreadCounter {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, forwarded.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(|t| {
                t.allocations += 1;
                t.allocated_bytes += layout.size() as u64;
                t.live_bytes += layout.size() as i64;
            });
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, forwarded.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(|t| {
                t.allocations += 1;
                t.allocated_bytes += layout.size() as u64;
                t.live_bytes += layout.size() as i64;
            });
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(|t| {
            t.deallocations += 1;
            t.deallocated_bytes += layout.size() as u64;
            t.live_bytes -= layout.size() as i64;
        });
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, forwarded.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(|t| {
                t.reallocations += 1;
                t.allocated_bytes += new_size as u64;
                t.deallocated_bytes += layout.size() as u64;
                t.live_bytes += new_size as i64 - layout.size() as i64;
            });
        }
        p
    }
}

#[global_allocator]
static A: TrackingAllocator<PerThreadCounter> = TrackingAllocator::new(PerThreadCounter);

/// Measures `work` with counting on around the whole `measure` call (so the
/// measurement's own calls, if any, would show as a difference) and asserts
/// the two agree on every figure.
#[track_caller]
fn assert_matches_counter<R>(work: impl FnOnce() -> R) -> R {
    let _ = measure(|| ()); // the once-per-process check, outside the counting
    TALLY.with(|t| t.set(Tally::default()));
    ON.with(|on| on.set(true));
    let (r, stats) = measure(work);
    ON.with(|on| on.set(false));
    let t = TALLY.with(Cell::get);
    let mut expected = HeapStats::default();
    expected.allocations = t.allocations;
    expected.deallocations = t.deallocations;
    expected.reallocations = t.reallocations;
    expected.allocated_bytes = t.allocated_bytes;
    expected.deallocated_bytes = t.deallocated_bytes;
    expected.peak_bytes = t.peak_bytes as u64;
    expected.live_bytes = t.live_bytes;
    expected.live_count = t.allocations as i64 - t.deallocations as i64;
    assert_eq!(stats, expected, "measured (left) against the per-thread counter (right)");
    assert!(stats.allocations > 0, "the workload allocated: {stats}");
    r
}

#[test]
fn maps_and_strings() {
    let kept = assert_matches_counter(|| {
        let mut m: HashMap<String, Vec<u32>> = HashMap::new();
        for i in 0..2000u32 {
            m.entry(format!("key-{}", i % 700)).or_default().push(i);
        }
        m.retain(|k, _| k.len() % 2 == 0);
        m.shrink_to_fit();
        let mut b: BTreeMap<u32, String> = (0..500).map(|i| (i * 7 % 501, i.to_string().repeat(3))).collect();
        b.retain(|k, _| k % 3 != 0);
        (m.len(), b)
    });
    black_box(kept);
}

#[test]
fn sorting_and_trait_objects() {
    assert_matches_counter(|| {
        let mut words: Vec<String> = (0..3000).map(|i| format!("{:x}", (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))).collect();
        words.sort();
        words.dedup();
        let shapes: Vec<Box<dyn Fn(u64) -> u64>> = (0..200u64).map(|i| Box::new(move |x| x * i) as Box<dyn Fn(u64) -> u64>).collect();
        let total: u64 = shapes.iter().map(|f| f(3)).sum();
        std::mem::forget(black_box(words.split_off(words.len() / 2)));
        black_box((words, total))
    });
}

#[test]
fn growth_shrink_and_zeroed() {
    assert_matches_counter(|| {
        let mut v: Vec<u64> = Vec::new();
        for i in 0..10_000 {
            v.push(i);
            if i % 1000 == 999 {
                v.shrink_to_fit();
            }
        }
        let z = vec![0u8; 1 << 16]; // zeroed
        let s: String = v.iter().take(100).map(|x| x.to_string()).collect::<Vec<_>>().join(",");
        drop(v);
        (z, s)
    });
}

#[test]
fn nested_measurements_inside_count_like_the_rest() {
    assert_matches_counter(|| {
        let mut kept = Vec::new();
        for i in 0..50 {
            let (s, inner) = measure(|| "x".repeat(i * 10));
            assert_eq!(inner.allocations, u64::from(i > 0));
            kept.push(s);
        }
        kept
    });
}
