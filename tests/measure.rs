//! `memscope::measure`, as a test author uses it: many `#[test]`s in one
//! file, run by the default parallel test runner, each asserting exact heap
//! figures for its own thread while the others allocate at the same time.
//!
//! The expected figures are known from the code: `Vec::with_capacity`,
//! `Box` and `String` sizes and growth (std's `RawVec` gives a non-empty
//! byte buffer at least 8 bytes and at least doubles it on growth). One test
//! compares the figures with a recording's replay of the same calls.

use memscope::{assert_heap, measure, measure_with_threads, unmeasured, HeapStats};
use std::hint::black_box;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Barrier;

#[global_allocator]
static A: memscope::TrackingAllocator = memscope::TrackingAllocator::system();

/// The panic message of `f`, which must panic.
fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("the assertion should have panicked");
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p.downcast::<&str>().map(|s| s.to_string()).unwrap_or_default(),
    }
}

#[test]
fn vec_with_capacity_is_one_allocation_of_its_exact_bytes() {
    // The case: a test that makes 8,000 bytes sees 8,000 bytes,
    // whatever the other tests of this binary allocate meanwhile.
    let (v, stats) = measure(|| Vec::<u64>::with_capacity(1000));
    assert_eq!(
        (stats.allocations, stats.deallocations, stats.reallocations, stats.allocated_bytes, stats.deallocated_bytes),
        (1, 0, 0, 8000, 0),
        "{stats}"
    );
    assert_heap!(stats, peak_bytes == 8000, live_bytes == 8000, live_count == 1);
    drop(v);
}

#[test]
fn a_box_allocated_and_dropped_inside_leaves_nothing_live() {
    let ((), stats) = measure(|| {
        let b = black_box(Box::new([7u8; 100]));
        drop(b);
        // `vec![0; n]` asks for zeroed memory: also an allocation.
        drop(black_box(vec![0u32; 256]));
    });
    assert_eq!(
        stats,
        stats_of(Figures {
            allocations: 2,
            deallocations: 2,
            allocated_bytes: 1124,
            deallocated_bytes: 1124,
            peak_bytes: 1024,
            ..Figures::ZERO
        })
    );
    stats.assert_no_leaks();
}

#[test]
fn string_growth_is_reallocations() {
    let (s, stats) = measure(|| {
        let mut s = String::new(); // no allocation yet
        s.push_str(black_box("abcde")); // allocates 8 bytes
        s.push_str(black_box("fghij")); // 10 bytes: grows to 16
        s.push_str(black_box("klmnopqrst")); // 20 bytes: grows to 32
        s
    });
    assert_eq!(s.capacity(), 32);
    // Allocated 8, then 16 and 32 (new sizes); deallocated 8 and 16 (old sizes).
    assert_eq!(
        stats,
        stats_of(Figures {
            allocations: 1,
            reallocations: 2,
            allocated_bytes: 56,
            deallocated_bytes: 24,
            peak_bytes: 32,
            live_bytes: 32,
            live_count: 1,
            ..Figures::ZERO
        })
    );
    // Shrinking is a reallocation too, downwards: the peak stays.
    let mut v = Vec::<u8>::with_capacity(100);
    v.extend_from_slice(b"0123456789");
    let ((), stats) = measure(|| v.shrink_to_fit());
    assert_heap!(
        stats,
        reallocations == 1,
        allocated_bytes == 10,
        deallocated_bytes == 100,
        peak_bytes == 0,
        live_bytes == -90,
        live_count == 0
    );
}

#[test]
fn forgotten_memory_is_live_at_the_end_and_fails_no_leaks() {
    let ((), stats) = measure(|| {
        std::mem::forget(black_box(vec![1u8; 1000]));
        drop(black_box(vec![2u8; 500]));
    });
    assert_heap!(stats, allocations == 2, deallocations == 1, live_bytes == 1000, live_count == 1, peak_bytes == 1500);
    stats.assert_live_at_most(1000);
    let msg = panic_message(|| stats.assert_no_leaks());
    assert_eq!(
        msg,
        "memscope: heap assertion failed: 1000 bytes in 1 allocations live at the end\n  measured: allocations 2, deallocations 1, \
         reallocations 0, allocated_bytes 1500, deallocated_bytes 500, peak_bytes 1500, live_bytes 1000, live_count 1"
    );
    let msg = panic_message(|| stats.assert_live_at_most(999));
    assert!(msg.starts_with("memscope: heap assertion failed: live_bytes 1000 > 999\n  measured: allocations 2,"), "{msg}");
}

#[test]
fn the_peak_counts_temporaries() {
    let ((), stats) = measure(|| {
        let a = black_box(Vec::<u8>::with_capacity(1000)); // live 1000
        let b = black_box(Vec::<u8>::with_capacity(3000)); // 4000: the peak
        drop(a); // 3000
        let c = black_box(Vec::<u8>::with_capacity(500)); // 3500
        drop(b); // 500
        drop(c); // 0
    });
    assert_heap!(stats, allocations == 3, deallocations == 3, allocated_bytes == 4500, peak_bytes == 4000, live_bytes == 0);
    stats.assert_peak_at_most(4000);
    let msg = panic_message(|| stats.assert_peak_at_most(3999));
    assert_eq!(
        msg,
        "memscope: heap assertion failed: peak_bytes 4000 > 3999\n  measured: allocations 3, deallocations 3, reallocations 0, \
         allocated_bytes 4500, deallocated_bytes 4500, peak_bytes 4000, live_bytes 0, live_count 0"
    );
}

#[test]
fn nested_measurements_each_see_their_own_calls() {
    let ((kept, inner), outer) = measure(|| {
        let first = black_box(Vec::<u8>::with_capacity(100)); // outer only
        let (kept, inner) = measure(|| {
            drop(black_box(Vec::<u8>::with_capacity(200))); // both
            black_box(Vec::<u8>::with_capacity(50)) // both, kept
        });
        drop(first); // outer only
        (kept, inner)
    });
    assert_eq!(
        inner,
        stats_of(Figures {
            allocations: 2,
            deallocations: 1,
            allocated_bytes: 250,
            deallocated_bytes: 200,
            peak_bytes: 200,
            live_bytes: 50,
            live_count: 1,
            ..Figures::ZERO
        })
    );
    // Outer: 100 live, then 300 while the inner 200 lived: the peak.
    assert_eq!(
        outer,
        stats_of(Figures {
            allocations: 3,
            deallocations: 2,
            allocated_bytes: 350,
            deallocated_bytes: 300,
            peak_bytes: 300,
            live_bytes: 50,
            live_count: 1,
            ..Figures::ZERO
        })
    );
    drop(kept);
}

#[test]
fn threads_count_only_when_spawned_through_the_scope() {
    // A thread spawned with std::thread::spawn is not measured: its
    // 1 MiB is nowhere in the figures (std's own bookkeeping for the spawn,
    // made on this thread, is, so the bound is loose on purpose).
    let ((), plain) = measure(|| {
        std::thread::spawn(|| drop(black_box(vec![0u8; 1 << 20]))).join().unwrap();
    });
    assert!(plain.allocated_bytes < 1 << 20, "{plain}");

    // Through the scope: both threads hold their allocation at the barrier,
    // so the peak of the sum is exactly 100 + 200, and the one from a thread
    // spawned by a spawned thread (the scope is `Copy`) counts too.
    let barrier = &Barrier::new(2);
    let (kept, stats) = measure_with_threads(|scope| {
        let a = scope.spawn(move || {
            let v = black_box(Vec::<u8>::with_capacity(100));
            barrier.wait();
            drop(v);
        });
        let b = scope.spawn(move || {
            let v = black_box(Vec::<u8>::with_capacity(200));
            barrier.wait();
            drop(v);
            scope.spawn(|| black_box(Box::new([5u8; 40]))).join().unwrap()
        });
        a.join().unwrap();
        b.join().unwrap()
    });
    assert_eq!(*kept, [5u8; 40]);
    assert_eq!(
        stats,
        stats_of(Figures {
            allocations: 3,
            deallocations: 2,
            allocated_bytes: 340,
            deallocated_bytes: 300,
            peak_bytes: 300,
            live_bytes: 40,
            live_count: 1,
            ..Figures::ZERO
        })
    );
}

#[test]
fn an_outer_measurement_counts_the_threads_of_an_inner_one_exactly() {
    // The outer measurement is this thread's; once the inner one shares its
    // counters with threads, the outer's are updated from three threads at
    // once, and no update may be lost.
    const N: u64 = 20_000;
    let (inner, outer) = measure(|| {
        let kept = black_box(Box::new(0u64));
        let ((), inner) = measure_with_threads(|scope| {
            let churn = move || {
                for i in 0..N {
                    drop(black_box(Box::new(i)));
                }
            };
            let a = scope.spawn(churn);
            let b = scope.spawn(churn);
            churn();
            a.join().unwrap();
            b.join().unwrap();
        });
        drop(kept);
        inner
    });
    assert_heap!(inner, allocations == 3 * N, deallocations == 3 * N, allocated_bytes == 24 * N, live_bytes == 0);
    assert!((8..=24).contains(&inner.peak_bytes), "at most one 8-byte box per thread at a time: {inner}");
    assert_heap!(outer, allocations == 3 * N + 1, deallocations == 3 * N + 1, allocated_bytes == 24 * N + 8, live_bytes == 0);
    assert!((16..=32).contains(&outer.peak_bytes), "{outer}");
}

#[test]
fn the_measurement_itself_counts_nothing() {
    let ((), empty) = measure(|| ());
    assert_eq!(empty, HeapStats::default());
    // Spawning, joining and dropping measured threads, and the scope itself.
    let ((), threads) = measure_with_threads(|scope| {
        scope.spawn(|| ()).join().unwrap();
        drop(scope.spawn(|| ()));
        let _unjoined = scope.spawn(|| ());
    });
    assert_eq!(threads, HeapStats::default());
    // `unmeasured` excludes its calls; a measurement inside still counts its own.
    let ((inner, s), stats) = measure(|| {
        unmeasured(|| {
            let (b, inner) = measure(|| Box::new(1u64));
            (inner, b.to_string() + "!")
        })
    });
    assert_eq!(stats, HeapStats::default());
    assert_heap!(inner, allocations == 1, allocated_bytes == 8, live_bytes == 8);
    assert_eq!(s, "1!");
}

#[test]
fn deallocating_older_memory_counts_and_lowers_live() {
    let older = black_box(vec![9u8; 300]);
    let ((), stats) = measure(move || drop(older));
    assert_eq!(stats, stats_of(Figures { deallocations: 1, deallocated_bytes: 300, live_bytes: -300, live_count: -1, ..Figures::ZERO }));
    stats.assert_no_leaks();
}

#[test]
#[should_panic(expected = "memscope: heap assertion failed: `allocations == 2` (allocations is 1)\n  measured: allocations 1, \
                            deallocations 0, reallocations 0, allocated_bytes 100, deallocated_bytes 0, peak_bytes 100, \
                            live_bytes 100, live_count 1")]
fn a_failing_assert_heap_names_the_condition_and_every_figure() {
    let (b, stats) = measure(|| Box::new([0u8; 100]));
    black_box(b);
    assert_heap!(stats, allocated_bytes == 100, allocations == 2);
}

#[test]
fn a_panicking_closure_ends_its_measurement_and_not_the_outer_one() {
    let (kept, outer) = measure(|| {
        let r = catch_unwind(|| {
            measure(|| {
                drop(black_box(Box::new([0u8; 64])));
                // No panic hook, no message: the unwinder's exception
                // object is the only allocation of the panic itself.
                resume_unwind(Box::new(()));
            })
        });
        assert!(r.is_err());
        // Counted in `outer` only if the inner measurement was uninstalled.
        black_box(Box::new([0u8; 32]))
    });
    assert_eq!(outer.live_bytes, 32, "{outer}");
    assert_eq!(outer.live_count, 1, "{outer}");
    assert_eq!(outer.allocations, 3, "the 64, the exception object, the 32: {outer}");
    drop(kept);
}

#[test]
fn parallel_measurements_do_not_see_each_other() {
    // Four threads measure different work at once, many times.
    std::thread::scope(|s| {
        for t in 1..=4usize {
            s.spawn(move || {
                for round in 0..200 {
                    let n = t * 100 + round;
                    let (v, stats) = measure(|| {
                        let mut v = Vec::<u32>::with_capacity(n);
                        v.push(1);
                        drop(black_box(Box::new(round)));
                        v
                    });
                    let bytes = 4 * n as u64;
                    assert_eq!(
                        stats,
                        stats_of(Figures {
                            allocations: 2,
                            deallocations: 1,
                            allocated_bytes: bytes + 8,
                            deallocated_bytes: 8,
                            peak_bytes: bytes + 8,
                            live_bytes: bytes as i64,
                            live_count: 1,
                            ..Figures::ZERO
                        }),
                        "thread {t}, round {round}"
                    );
                    drop(v);
                }
            });
        }
    });
}

#[test]
fn a_recording_running_at_the_same_time_sees_the_same_calls() {
    use memscope::replay::Replay;
    let path = std::env::temp_dir().join(format!("memscope-measure-{}.memscope", std::process::id()));
    let recording = memscope::Recorder::new(&path).start().expect("start a recording (the only one in this binary)");
    let stats = std::thread::Builder::new()
        .name("measured".into())
        .spawn(|| {
            let _ = measure(|| ()); // the first measurement's check, out of the scope
            let _scope = memscope::track_scope!("measured");
            let (kept, stats) = measure(|| {
                let mut words = Vec::new();
                for i in 0..300 {
                    words.push(format!("word {i}"));
                }
                words.retain(|w| w.len() % 2 == 0);
                words.shrink_to_fit();
                words
            });
            drop(_scope);
            drop(kept);
            stats
        })
        .unwrap()
        .join()
        .unwrap();
    let summary = recording.finish().expect("finish");
    assert_eq!(summary.events_lost, 0);
    let file = std::fs::File::open(&path).expect("open the recording");
    let replay = Replay::from_reader(std::io::BufReader::new(file), &path).expect("replay");
    let _ = std::fs::remove_file(&path);
    let node = replay.scopes.iter().find(|n| n.name == "measured").expect("the scope is in the replay");
    // The scope's figures count the allocations made inside it (all freed
    // later, after the scope closed, by `drop(kept)`).
    assert_eq!(
        (node.allocations, node.reallocations, node.allocated_bytes, node.peak_live_bytes),
        (stats.allocations, stats.reallocations, stats.allocated_bytes, stats.peak_bytes),
        "replay's scope node {node:?} against the measurement {stats}"
    );
    assert!(stats.allocations > 300 && stats.reallocations > 5, "{stats}");
}

/// Figures for `stats_of` (`HeapStats` is `#[non_exhaustive]`).
#[derive(Clone, Copy)]
struct Figures {
    allocations: u64,
    deallocations: u64,
    reallocations: u64,
    allocated_bytes: u64,
    deallocated_bytes: u64,
    peak_bytes: u64,
    live_bytes: i64,
    live_count: i64,
}

impl Figures {
    const ZERO: Figures = Figures {
        allocations: 0,
        deallocations: 0,
        reallocations: 0,
        allocated_bytes: 0,
        deallocated_bytes: 0,
        peak_bytes: 0,
        live_bytes: 0,
        live_count: 0,
    };
}

/// A `HeapStats` with these figures.
fn stats_of(f: Figures) -> HeapStats {
    let mut s = HeapStats::default();
    s.allocations = f.allocations;
    s.deallocations = f.deallocations;
    s.reallocations = f.reallocations;
    s.allocated_bytes = f.allocated_bytes;
    s.deallocated_bytes = f.deallocated_bytes;
    s.peak_bytes = f.peak_bytes;
    s.live_bytes = f.live_bytes;
    s.live_count = f.live_count;
    s
}
