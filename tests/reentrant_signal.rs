//! An allocator call made while its thread is already inside the recorder
//! (a signal handler that allocates, interrupting the hot path) cannot be
//! pushed (the ring is single-producer, and the interrupted push is half
//! done), so it is counted as lost: replay's totals plus its lost count
//! cover every call the handler made.
//!
//! A SIGUSR1 handler allocates and deallocates a block of a size nothing
//! else uses, and counts its calls itself, while the test thread allocates
//! in a loop and another thread sends it SIGUSR1 as fast as it can. The
//! inner allocator is a bump allocator (one atomic add, no lock), so
//! allocating from the handler cannot deadlock on a lock the interrupted
//! call holds, as it could in glibc's malloc.

mod common;

use memscope::format::{Event, Reader, Record};
use memscope::{OnFull, TrackingAllocator};
use std::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;
use std::io::BufReader;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// A lock-free allocator that never reuses memory: async-signal-safe.
struct Bump;

const ARENA_BYTES: usize = 1 << 30;

struct Arena(std::cell::UnsafeCell<[u8; ARENA_BYTES]>);
// SAFETY: every byte is handed out once, to one caller, by the atomic `NEXT`.
unsafe impl Sync for Arena {}
static ARENA: Arena = Arena(std::cell::UnsafeCell::new([0; ARENA_BYTES]));
static NEXT: AtomicUsize = AtomicUsize::new(0);

// SAFETY: each allocation is a distinct, suitably aligned range of the
// arena (never reused: `dealloc` does nothing), or null when it is full.
unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let base = ARENA.0.get() as usize;
        let mut cur = NEXT.load(Ordering::Relaxed);
        loop {
            let start = (base + cur).next_multiple_of(layout.align()) - base;
            let end = start + layout.size();
            if end > ARENA_BYTES {
                return std::ptr::null_mut();
            }
            match NEXT.compare_exchange_weak(cur, end, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return (base + start) as *mut u8,
                Err(now) => cur = now,
            }
        }
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}

#[global_allocator]
static A: TrackingAllocator<Bump> = TrackingAllocator::new(Bump);

/// The size of the handler's blocks; nothing else allocates it.
const HANDLER_SIZE: usize = 4093;
/// Whether the handler allocates: only inside the recording window.
static ARMED: AtomicBool = AtomicBool::new(false);
/// Allocations (each followed by its deallocation) the handler made.
static HANDLER_CALLS: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_sigusr1(_: libc::c_int) {
    if !ARMED.load(Ordering::Relaxed) {
        return;
    }
    let layout = Layout::from_size_align(HANDLER_SIZE, 1).unwrap();
    // SAFETY: a non-zero size; the block is deallocated with its layout.
    unsafe {
        let p = std::alloc::alloc(layout);
        assert!(!p.is_null());
        black_box(p).write(1);
        std::alloc::dealloc(p, layout);
    }
    HANDLER_CALLS.fetch_add(1, Ordering::Relaxed);
}

#[test]
fn handler_allocations_are_recorded_or_counted() {
    // SAFETY: a zeroed sigaction is valid; the handler is an `extern "C" fn(c_int)`.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigusr1 as extern "C" fn(libc::c_int) as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
    let path = common::temp_path("reentrant_signal");
    common::quiesce_harness();
    let rec = memscope::Recorder::new(&path).on_full(OnFull::Block).start().expect("start");
    black_box(Box::new(0u64)); // registers this thread before the handler can run
                               // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() } as usize;
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let sender = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut sent = 0u64;
            while !done.load(Ordering::Relaxed) {
                // SAFETY: `me` is the test thread, alive until it joins us.
                unsafe { libc::pthread_kill(me as libc::pthread_t, libc::SIGUSR1) };
                sent += 1;
                if sent % 16 == 0 {
                    std::thread::yield_now();
                }
            }
            sent
        })
    };
    ARMED.store(true, Ordering::Relaxed);
    let t0 = std::time::Instant::now();
    while HANDLER_CALLS.load(Ordering::Relaxed) < 20_000 && t0.elapsed() < std::time::Duration::from_secs(20) {
        for i in 0..64u64 {
            black_box(Box::new([i; 6]));
        }
    }
    // The handler runs on this thread, so once this store is done no handler
    // is half-way: every call it made came before.
    ARMED.store(false, Ordering::Relaxed);
    done.store(true, Ordering::Relaxed);
    let sent = sender.join().unwrap();
    let calls = HANDLER_CALLS.load(Ordering::Relaxed);
    let summary = rec.finish().expect("finish");

    let mut reader = Reader::new(BufReader::new(std::fs::File::open(&path).unwrap())).unwrap();
    let (mut allocs, mut deallocs, mut lost) = (0u64, 0u64, 0u64);
    while let Some(record) = reader.next_record().unwrap() {
        if let Ok(Record::Events(chunk)) = record {
            for e in chunk.events {
                match e {
                    Event::Alloc { size, .. } if size == HANDLER_SIZE as u64 => allocs += 1,
                    Event::Dealloc { size, .. } if size == HANDLER_SIZE as u64 => deallocs += 1,
                    Event::Lost { count, .. } => lost += count,
                    _ => {}
                }
            }
        }
    }
    eprintln!("{sent} signals, {calls} handler calls: {allocs} allocations and {deallocs} deallocations recorded, {lost} lost");
    assert!(calls > 1000, "only {calls} handler calls in 20 s");
    assert_eq!(summary.events_lost, lost, "finish() vs the file's Lost events");
    // Under Block nothing else is lost: every lost event is a handler call.
    assert_eq!(allocs + deallocs + lost, 2 * calls, "recorded + lost handler calls vs the calls made");
    assert_eq!(allocs, deallocs, "an allocation and its deallocation are both recorded, or both lost");
    assert!(lost > 0, "no handler call interrupted the recorder: the test did not test re-entry");
    let _ = std::fs::remove_file(&path);
}
