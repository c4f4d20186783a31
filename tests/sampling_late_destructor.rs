//! A sampling recording whose threads allocate in pthread key destructors
//! after the recorder's exit hook has released their ring: the exit hook
//! must close the inline unsampled path (`Local::fast_session`) together
//! with the slot, so that such a call registers the thread again instead of
//! counting into a slot it no longer owns. Totals stay exact against an
//! independent counter, and nothing is lost.

mod common;

use common::{counted, quiesce_harness, spawn_counted, temp_path, CountingAlloc, Counts};
use memscope::TrackingAllocator;
use std::hint::black_box;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

#[global_allocator]
static A: TrackingAllocator<CountingAlloc> = TrackingAllocator::new(CountingAlloc::new());

static KEY: AtomicU32 = AtomicU32::new(0);
/// Destructor runs, over all threads.
static RUNS: AtomicU64 = AtomicU64::new(0);

/// Runs in each of glibc's destructor rounds, after the recorder's exit hook
/// (its key is created later): a small block (almost never sampled at 4 KiB)
/// and a large one (sampled with p ≈ 0.86), both freed at once.
extern "C" fn late_destructor(_: *mut libc::c_void) {
    RUNS.fetch_add(1, Ordering::Relaxed);
    black_box(vec![7u8; 100]);
    black_box(vec![9u8; 8192]);
    // SAFETY: KEY holds a live key; a non-null value makes glibc run the
    // destructors another round (at most PTHREAD_DESTRUCTOR_ITERATIONS).
    unsafe { libc::pthread_setspecific(KEY.load(Ordering::Relaxed), std::ptr::dangling::<libc::c_void>()) };
}

const THREADS: u64 = 8;

#[test]
fn allocations_after_the_exit_hook_are_counted_exactly() {
    let path = temp_path("sampling_late_destructor");
    quiesce_harness();
    let rec = memscope::Recorder::new(&path).sampling_interval_bytes(4096).sampling_seed(11).start().expect("start");
    let before = Counts::now();
    counted(|| {
        // The first registration creates the recorder's key; ours comes after.
        black_box(Box::new(1u64));
        let mut key: libc::pthread_key_t = 0;
        // SAFETY: `key` is writable; the destructor is a valid `extern "C" fn`.
        assert_eq!(unsafe { libc::pthread_key_create(&mut key, Some(late_destructor)) }, 0);
        KEY.store(key, Ordering::Relaxed);
        for i in 0..THREADS {
            spawn_counted(move || {
                // Unsampled and sampled calls first, so the thread's inline
                // path is open when its exit hook runs.
                for n in 0..200u64 {
                    black_box(vec![i; 8 + (n as usize % 64)]);
                }
                // SAFETY: `key` is live.
                unsafe { libc::pthread_setspecific(key, std::ptr::dangling::<libc::c_void>()) };
            })
            .join();
        }
    });
    let c = Counts::now().since(&before);
    rec.finish().expect("finish");
    assert_eq!(RUNS.load(Ordering::Relaxed), THREADS * 4, "glibc runs the destructor in each of its 4 rounds");
    let r = memscope::replay::replay_file(&path).expect("replay");
    let s = &r.summary;
    assert!(r.sampling.as_ref().is_some_and(|x| x.exact_totals));
    assert_eq!(s.lost_events, 0);
    assert!(r.finished && r.damage_count == 0, "{:?}", r.damage);
    common::assert_totals(s, &c);
    let _ = std::fs::remove_file(&path);
}
