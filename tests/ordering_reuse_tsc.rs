//! Cross-thread address reuse at full speed: thread B deallocates blocks
//! onto a pool that thread A's allocations take them from, about two
//! million times, both threads running at once (B frees one batch while A
//! allocates the next, from what B is freeing). Each reuse is ordered by the
//! pool's atomics only; the recording must stamp every deallocation before
//! the allocation that reuses its address (issue 10: with the TSC as the
//! clock, the allocation's stamp is fenced, `clock::Order::AfterCall`).
//! Replay must find no address conflict, no late event, and the exact totals.
//!
//! Built with `RUSTFLAGS="--cfg memscope_unfenced"` the allocation's stamp
//! is a plain `rdtsc`, and this test counts the violations instead of
//! failing on them (FORMAT.md, "The clock"; benches/README.md, issue 10).
//!
//! `MEMSCOPE_REUSES` sets the number of allocations (default 2,000,000 in a
//! release build, 200,000 in a debug one); `MEMSCOPE_CLOCK=monotonic` runs
//! it on the fallback clock.

mod common;

use common::{assert_exact, counted, spawn_counted, temp_path, CountingAlloc, Counts};
use memscope::TrackingAllocator;
use std::alloc::{GlobalAlloc, Layout};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering::*};

/// The size class that goes through the pool.
const SIZE: usize = 4040;
/// Blocks per handoff batch.
const BATCH: usize = 256;

/// The pool: a stack of deallocated blocks of `SIZE` bytes, linked through
/// their first word. Only B pushes (deallocates) and only A pops
/// (allocates) while the test runs, so a pop's next pointer is never stale.
static POOL: AtomicPtr<u8> = AtomicPtr::new(null_mut());
/// Allocations served from the pool: cross-thread reuses.
static REUSES: AtomicUsize = AtomicUsize::new(0);
/// Whether the pool is in use (only during the test's loop).
static POOLING: AtomicBool = AtomicBool::new(false);

/// `CountingAlloc`, with a pool for `SIZE` while the test loops.
struct Pool(CountingAlloc);

fn pooled(layout: Layout) -> bool {
    layout.size() == SIZE && layout.align() <= 16 && POOLING.load(Relaxed)
}

// SAFETY: forwards to CountingAlloc; a pooled block was allocated by it with
// a layout of `SIZE` bytes and align ≤ 16, is handed to one owner at a time
// (pushed by the deallocating thread, popped by the allocating one, both
// with a CAS), and blocks left in the pool are never freed.
unsafe impl GlobalAlloc for Pool {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if pooled(layout) {
            loop {
                // Acquire: pairs with the Release CAS of `dealloc` (the next pointer).
                let head = POOL.load(Acquire);
                if head.is_null() {
                    break;
                }
                // SAFETY: `head` is a pooled block; only this thread pops, so it
                // stays in the pool until our CAS.
                let next = unsafe { head.cast::<*mut u8>().read() };
                if POOL.compare_exchange(head, next, Acquire, Relaxed).is_ok() {
                    REUSES.fetch_add(1, Relaxed);
                    common::count_alloc(layout, false);
                    return head;
                }
            }
        }
        // SAFETY: forwarded.
        unsafe { self.0.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if pooled(layout) {
            common::count_dealloc(layout);
            loop {
                let head = POOL.load(Relaxed);
                // SAFETY: `ptr` is a block of SIZE bytes we own now.
                unsafe { ptr.cast::<*mut u8>().write(head) };
                // Release: pairs with the Acquire load in `alloc`.
                if POOL.compare_exchange(head, ptr, Release, Relaxed).is_ok() {
                    return;
                }
            }
        }
        // SAFETY: forwarded.
        unsafe { self.0.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static A: TrackingAllocator<Pool> = TrackingAllocator::new(Pool(CountingAlloc::new()));

/// Two handoff batches from A to B, each full or empty.
static BUF: [[AtomicPtr<u8>; BATCH]; 2] = [const { [const { AtomicPtr::new(null_mut()) }; BATCH] }; 2];
static FULL: [AtomicBool; 2] = [const { AtomicBool::new(false) }; 2];

fn wait_until(f: impl Fn() -> bool) {
    while !f() {
        std::thread::yield_now();
    }
}

#[test]
fn two_million_cross_thread_reuses_replay_in_order() {
    let n: usize = std::env::var("MEMSCOPE_REUSES").ok().and_then(|v| v.parse().ok()).unwrap_or(if cfg!(debug_assertions) {
        200_000
    } else {
        2_000_000
    });
    let path = temp_path("ordering_reuse_tsc");
    common::quiesce_harness();
    let rec = memscope::Recorder::new(&path).start().expect("start");
    let layout = Layout::from_size_align(SIZE, 8).unwrap();
    let before = Counts::now();
    let reuses_before = REUSES.load(Relaxed);
    POOLING.store(true, Relaxed);
    let rounds = n.div_ceil(BATCH);
    counted(|| {
        let b = spawn_counted(move || {
            for k in 0..rounds {
                let i = k % 2;
                // Acquire: pairs with A's Release store of FULL[i].
                wait_until(|| FULL[i].load(Acquire));
                for slot in &BUF[i] {
                    // SAFETY: A allocated it with `layout` and handed it over.
                    unsafe { std::alloc::dealloc(slot.load(Relaxed), layout) };
                }
                // Release: pairs with A's Acquire load; we are done with BUF[i].
                FULL[i].store(false, Release);
            }
        });
        for k in 0..rounds {
            let i = k % 2;
            // Acquire: pairs with B's Release store: BUF[i] is ours again.
            wait_until(|| !FULL[i].load(Acquire));
            for slot in &BUF[i] {
                // SAFETY: non-zero size.
                let p = unsafe { std::alloc::alloc(layout) };
                assert!(!p.is_null());
                slot.store(p, Relaxed);
            }
            // Release: pairs with B's Acquire load.
            FULL[i].store(true, Release);
        }
        b.join();
    });
    POOLING.store(false, Relaxed);
    let c = Counts::now().since(&before);
    let reuses = REUSES.load(Relaxed) - reuses_before;
    let summary = rec.finish().expect("finish");
    let replay = common::replay(&path);
    let t = &replay.summary;
    let violations = (t.address_conflicts, t.late_events, t.size_mismatches);
    eprintln!("{reuses} cross-thread reuses of {n} allocations; address conflicts, late events, size mismatches: {violations:?}");
    assert!(reuses >= n / 2, "only {reuses} of {n} allocations reused a block the other thread deallocated");
    if cfg!(memscope_unfenced) {
        // The experiment: report, do not fail.
        let _ = std::fs::remove_file(&path);
        return;
    }
    assert_eq!(violations, (0, 0, 0), "a reuse replayed before the deallocation it follows");
    assert_exact(&path, &c, &summary);
    let _ = std::fs::remove_file(&path);
}
