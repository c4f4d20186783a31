//! A pthread key destructor that allocates in glibc's last destructor round,
//! after the recorder's exit hook, makes its thread claim a ring again that
//! no exit hook releases. The recorder reclaims such rings once the thread
//! is gone (`tgkill(pid, tid, 0)` says ESRCH), so ring memory stays bounded
//! by the threads alive at once; and each thread still has one ThreadExit.
//!
//! The key is created after the recorder's own (which it creates at the
//! first thread registration), so in every round its destructor runs after
//! the recorder's exit hook; it sets its value again each time, so glibc
//! runs all `PTHREAD_DESTRUCTOR_ITERATIONS` rounds.

mod common;

use memscope::TrackingAllocator;
use std::hint::black_box;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

#[global_allocator]
static A: TrackingAllocator = TrackingAllocator::system();

static KEY: AtomicU32 = AtomicU32::new(0);
/// Destructor runs, over all threads.
static RUNS: AtomicU64 = AtomicU64::new(0);

extern "C" fn late_destructor(_: *mut libc::c_void) {
    RUNS.fetch_add(1, Ordering::Relaxed);
    black_box(vec![7u8; 100]);
    // SAFETY: KEY holds a live key; a non-null value makes glibc run the
    // destructors another round (at most PTHREAD_DESTRUCTOR_ITERATIONS).
    unsafe { libc::pthread_setspecific(KEY.load(Ordering::Relaxed), std::ptr::dangling::<libc::c_void>()) };
}

const THREADS: u32 = 30;

#[test]
fn late_destructors_do_not_keep_rings() {
    let path = common::temp_path("late_thread_destructor");
    common::quiesce_harness();
    let rec = memscope::Recorder::new(&path).drain_interval(std::time::Duration::from_millis(1)).start().expect("start");
    // The first registration creates the recorder's key; ours comes after.
    black_box(Box::new(1u64));
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: `key` is writable; the destructor is a valid `extern "C" fn`.
    assert_eq!(unsafe { libc::pthread_key_create(&mut key, Some(late_destructor)) }, 0);
    KEY.store(key, Ordering::Relaxed);
    let rings_before = memscope::record::rings_allocated();
    for i in 0..THREADS {
        std::thread::spawn(move || {
            black_box(vec![i; 8]);
            // SAFETY: `key` is live.
            unsafe { libc::pthread_setspecific(key, std::ptr::dangling::<libc::c_void>()) };
        })
        .join()
        .unwrap();
    }
    let rings = memscope::record::rings_allocated() - rings_before;
    let summary = rec.finish().expect("finish");
    let runs = RUNS.load(Ordering::Relaxed);
    let fold = common::raw_fold(&path);
    let workers: Vec<_> = fold.threads.values().filter(|t| t.starts == 1 && t.exits > 0).collect();
    eprintln!("{rings} new rings for {THREADS} threads, {runs} destructor runs, {summary}");
    assert_eq!(runs, u64::from(THREADS) * 4, "glibc runs the destructor in each of its 4 rounds");
    assert_eq!(workers.len(), THREADS as usize, "every thread started and exited: {:?}", fold.threads);
    for t in &workers {
        assert_eq!(t.exits, 1, "a thread has one ThreadExit: {t:?}");
    }
    assert_eq!(fold.thread_exits, u64::from(THREADS), "ThreadExit events");
    // At most 2 threads are alive at once (this one and one worker); a new
    // worker may find the last one's ring not reclaimed yet (the drainer
    // looks every 20 ms; a registering thread looks when it finds no free
    // ring, but the last worker may not be gone yet then): allow 2 spares.
    assert!(rings <= 4, "{rings} rings allocated for {THREADS} threads, at most 2 of them alive at once");
    let _ = std::fs::remove_file(&path);
}
