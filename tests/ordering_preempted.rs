//! A thread stamps an event and is held up before pushing it for longer
//! than replay's old release lag (20 ms), while other threads keep the
//! drainer writing rounds: the inner allocator's realloc of a marked size
//! sleeps 60 ms between the reallocation's first stamp and its push, as a
//! thread preempted for several time slices (or waiting on an arena lock)
//! would. The drainer's watermarks must stay exact (the event in flight
//! holds them back), and replay must apply everything in order: no late
//! event, nothing repaired, nothing for the report to warn about.

mod common;

use common::{assert_exact, assert_watermarks_exact, counted, raw_fold, spawn_counted, temp_path, CountingAlloc, Counts};
use memscope::TrackingAllocator;
use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;

/// The new size whose realloc is held up.
const MARK: usize = 7777;
const HELD: Duration = Duration::from_millis(60);

struct Slow(CountingAlloc);

// SAFETY: forwards every call to CountingAlloc unchanged; it only sleeps first.
unsafe impl GlobalAlloc for Slow {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded.
        unsafe { self.0.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded.
        unsafe { self.0.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size == MARK {
            std::thread::sleep(HELD);
        }
        // SAFETY: forwarded.
        unsafe { self.0.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static A: TrackingAllocator<Slow> = TrackingAllocator::new(Slow(CountingAlloc::new()));

static STOP: AtomicBool = AtomicBool::new(false);

#[test]
fn an_event_held_between_its_stamp_and_its_push_is_never_late() {
    let path = temp_path("ordering_preempted");
    common::quiesce_harness();
    let rec = memscope::Recorder::new(&path).drain_interval(Duration::from_micros(200)).start().expect("start");

    let before = Counts::now();
    counted(|| {
        let workers: Vec<_> = (0..2)
            .map(|i| {
                spawn_counted(move || {
                    let mut n = 0u64;
                    while !STOP.load(SeqCst) {
                        let v: Vec<u64> = (0..(16 + i * 8 + (n % 7) as usize) as u64).collect();
                        std::hint::black_box(&v);
                        n += 1;
                        std::thread::sleep(Duration::from_micros(50));
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(10));
        let small = Layout::from_size_align(16, 8).unwrap();
        // SAFETY: non-zero size.
        let p = unsafe { std::alloc::alloc(small) };
        // Stamped now, pushed 60 ms later.
        // SAFETY: `p` was allocated with `small`; MARK is non-zero.
        let q = unsafe { std::alloc::realloc(p, small, MARK) };
        assert!(!q.is_null());
        std::thread::sleep(Duration::from_millis(10));
        // SAFETY: from the realloc above.
        unsafe { std::alloc::dealloc(q, Layout::from_size_align(MARK, 8).unwrap()) };
        STOP.store(true, SeqCst);
        for w in workers {
            w.join();
        }
    });
    let c = Counts::now().since(&before);
    let written = rec.finish().expect("finish");

    let rounds = assert_watermarks_exact(&path);
    assert!(rounds > 20, "the drainer wrote rounds while the event was in flight ({rounds})");
    let r = assert_exact(&path, &c, &written);
    let s = &r.summary;
    // What the report's ordering banner adds up (src/export/report/overview.js): all 0.
    assert_eq!((s.late_events, s.address_conflicts, s.size_mismatches), (0, 0, 0));
    assert_eq!((s.reordered_reallocations, s.unresolved_conflicts), (0, 0));
    let f = raw_fold(&path);
    assert!(f.conflicts.is_empty(), "{:#?}", f.conflicts);
    let _ = std::fs::remove_file(&path);
}
