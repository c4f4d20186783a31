//! What recording costs the program: the peer workload (`benches/common`)
//! timed per allocation+deallocation pair, at 1 and 2 threads, with
//!
//! - `system_direct`: `std::alloc::System` called through `GlobalAlloc`, no
//!   global allocator in between (the pure baseline);
//! - `tracking_direct`: a `TrackingAllocator::system()` called through
//!   `GlobalAlloc` directly, like `system_direct`, with no recording running
//!   and nothing measured: what the wrapper adds to `System` per pair (one
//!   relaxed load of `Control::active` and a branch per call);
//! - `tracking_idle`: the bench's global allocator, `TrackingAllocator::system()`,
//!   with no recording running: `System` plus one atomic load (a plain `mov`
//!   on x86-64) and a branch per call;
//! - `tracking_measured`: the same inside `memscope::measure` (a one-thread
//!   measurement's counters updated on every call);
//! - `tracking_recording`: the same with a recording running (`OnFull::Block`,
//!   default config, call stacks on) and the `memscope-drain` thread writing
//!   chunks to a temporary file;
//! - `tracking_recording_no_stacks`: the same with `CallStacks::Off`, so the
//!   difference is what call stacks cost. Each recording's `Summary` is printed after its bench, so
//!   the run shows the events written, the events lost and the bytes/event.
//!
//! Each thread runs `iters` pairs after a `Barrier`; the reported time is the
//! slowest thread's, so criterion's time per iteration is the time per pair
//! per thread. A pair is two events: ns added per event = (recording - idle) / 2.
//!
//! `pair_cpu/*` repeats the idle cases on one thread timed by its CPU clock
//! (robust to a loaded machine).
//!
//! `realloc/*`: one thread, per iteration an allocation, a reallocation and
//! a deallocation (three events), through the global allocator: `moving`
//! grows 64 → 1024 bytes past a neighbour that keeps it from growing in
//! place (glibc moves it; a moving reallocation takes a second clock
//! reading, format version 4), `in_place` shrinks 1024 → 512 (glibc keeps
//! the address). Idle, recording with call stacks, recording without.
//!
//! Also: our SPSC ring (`OwnedRing`) against `crossbeam_queue::ArrayQueue`, push+pop on
//! one thread, and the parts of an event's cost (clock reads).
//!
//! Run: `cargo bench --bench overhead` (`-- --quick` while developing).

use criterion::{BenchmarkId, Criterion, Throughput};
use memscope::format::RawEvent;
use memscope::record::OwnedRing;
use memscope::{CallStacks, Recorder, TrackingAllocator};
use std::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

#[path = "common/mod.rs"]
mod common;

#[global_allocator]
static GLOBAL: TrackingAllocator = TrackingAllocator::system();

/// Runs `work(iters, thread_index)` on `threads` fresh threads released
/// together by a barrier, and returns the slowest thread's time.
fn parallel(threads: usize, iters: u64, work: fn(u64, u64)) -> Duration {
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                // The thread's first event registers it (a cold path with
                // syscalls): keep it out of the timed loop.
                drop(black_box(Vec::<u8>::with_capacity(8)));
                barrier.wait();
                let start = Instant::now();
                work(iters, t as u64);
                start.elapsed()
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().expect("bench thread panicked")).max().unwrap_or_default()
}

/// A second `TrackingAllocator`, called directly (not as the global allocator).
static DIRECT: TrackingAllocator = TrackingAllocator::system();

/// `common::run_system_direct` through `DIRECT` instead of `System`: the
/// same sizes, the same calls, plus the wrapper's checks.
#[inline(never)]
fn run_tracking_direct(pairs: u64, thread: u64) {
    let mut rng = common::Xorshift64::for_thread(thread);
    for _ in 0..pairs {
        let size = rng.size();
        // `size` is from 8 to 511 and the alignment 1, so the layout is valid.
        let Ok(layout) = Layout::from_size_align(size, 1) else { unreachable!() };
        // SAFETY: `layout` has a non-zero size.
        let ptr = unsafe { DIRECT.alloc(layout) };
        if ptr.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        // SAFETY: `ptr` was just allocated by `DIRECT` with `layout` and is not used after.
        unsafe { DIRECT.dealloc(black_box(ptr), layout) };
    }
}

/// `common::run_global` inside `memscope::measure`; checks the count.
#[inline(never)]
fn run_global_measured(pairs: u64, thread: u64) {
    let ((), stats) = memscope::measure(|| common::run_global(pairs, thread));
    assert_eq!(stats.allocations, pairs, "{stats}");
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("memscope-bench-{}-{name}.memscope", std::process::id()))
}

fn pairs(c: &mut Criterion) {
    let mut group = c.benchmark_group("pair");
    for threads in [1usize, 2] {
        group.bench_with_input(BenchmarkId::new("system_direct", threads), &threads, |b, &t| {
            b.iter_custom(|iters| parallel(t, iters, common::run_system_direct))
        });
        group.bench_with_input(BenchmarkId::new("tracking_direct", threads), &threads, |b, &t| {
            b.iter_custom(|iters| parallel(t, iters, run_tracking_direct))
        });
        group.bench_with_input(BenchmarkId::new("tracking_idle", threads), &threads, |b, &t| {
            b.iter_custom(|iters| parallel(t, iters, common::run_global))
        });
        group.bench_with_input(BenchmarkId::new("tracking_measured", threads), &threads, |b, &t| {
            b.iter_custom(|iters| parallel(t, iters, run_global_measured))
        });
        for (name, stacks) in [("tracking_recording", CallStacks::FramePointers), ("tracking_recording_no_stacks", CallStacks::Off)] {
            let path = temp_path(&format!("pair-{name}-{threads}"));
            let recording = Recorder::new(&path).call_stacks(stacks).start().expect("start a recording");
            group.bench_with_input(BenchmarkId::new(name, threads), &threads, |b, &t| {
                b.iter_custom(|iters| parallel(t, iters, common::run_global))
            });
            match recording.finish() {
                Ok(s) => eprintln!(
                    "pair/{name}/{threads}: {} events written, {} lost, {:.3} bytes/event on disk",
                    s.events_written,
                    s.events_lost,
                    s.bytes_per_event()
                ),
                Err(e) => eprintln!("pair/{name}/{threads}: finish failed: {e}"),
            }
            let _ = std::fs::remove_file(&path);
        }
    }
    group.finish();
}

/// The calling thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), in ns.
fn thread_cpu_ns() -> u64 {
    clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// `work(pairs, thread_index)`.
type Workload = fn(u64, u64);

/// The idle cases again, on the bench thread, timed by the thread's CPU
/// clock instead of the wall clock: time the thread spends descheduled (a
/// machine shared with other work) is left out, so the few ns that separate
/// these cases stay visible under load.
fn pairs_cpu(c: &mut Criterion) {
    let mut group = c.benchmark_group("pair_cpu");
    let cases: [(&str, Workload); 4] = [
        ("system_direct", common::run_system_direct),
        ("tracking_direct", run_tracking_direct),
        ("tracking_idle", common::run_global),
        ("tracking_measured", run_global_measured),
    ];
    for (name, work) in cases {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = thread_cpu_ns();
                work(iters, 0);
                Duration::from_nanos(thread_cpu_ns() - start)
            })
        });
    }
    group.finish();
}

/// `iters` times: allocate 64 bytes, allocate a neighbour, grow the first to
/// 1024 bytes (it moves), free both.
fn realloc_moving(iters: u64) {
    let small = std::alloc::Layout::from_size_align(64, 8).expect("valid");
    for _ in 0..iters {
        // SAFETY: non-zero sizes; each pointer is freed once with its layout.
        unsafe {
            let p = std::alloc::alloc(small);
            let keep = std::alloc::alloc(small);
            let q = std::alloc::realloc(black_box(p), small, 1024);
            std::alloc::dealloc(black_box(q), std::alloc::Layout::from_size_align(1024, 8).expect("valid"));
            std::alloc::dealloc(black_box(keep), small);
        }
    }
}

/// `iters` times: allocate 1024 bytes, shrink to 512 (in place), free.
fn realloc_in_place(iters: u64) {
    let big = std::alloc::Layout::from_size_align(1024, 8).expect("valid");
    for _ in 0..iters {
        // SAFETY: non-zero sizes; the pointer is freed once with its layout.
        unsafe {
            let p = std::alloc::alloc(big);
            let q = std::alloc::realloc(black_box(p), big, 512);
            std::alloc::dealloc(black_box(q), std::alloc::Layout::from_size_align(512, 8).expect("valid"));
        }
    }
}

/// One `realloc/*` case: its name and its loop.
struct Case {
    name: &'static str,
    work: fn(u64),
}

fn reallocs(c: &mut Criterion) {
    let mut group = c.benchmark_group("realloc");
    let cases = [Case { name: "moving", work: realloc_moving }, Case { name: "in_place", work: realloc_in_place }];
    for Case { name: case, work } in cases {
        group.bench_function(format!("{case}/tracking_idle"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                work(iters);
                start.elapsed()
            })
        });
        for (name, stacks) in [("tracking_recording", CallStacks::FramePointers), ("tracking_recording_no_stacks", CallStacks::Off)] {
            let path = temp_path(&format!("realloc-{case}-{name}"));
            let recording = Recorder::new(&path).call_stacks(stacks).start().expect("start a recording");
            group.bench_function(format!("{case}/{name}"), |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    work(iters);
                    start.elapsed()
                })
            });
            if let Err(e) = recording.finish() {
                eprintln!("realloc/{case}/{name}: finish failed: {e}");
            }
            let _ = std::fs::remove_file(&path);
        }
    }
    group.finish();
}

/// `n` allocation events, built before the timed loops so that only the
/// queue's own work is timed.
fn events(n: usize) -> Vec<RawEvent> {
    (0..n).map(|i| RawEvent::alloc(i as u64, 0x7f00_0000_0000 + i * 64, 8 + i % 504, 1, false, 0)).collect()
}

fn ring(c: &mut Criterion) {
    const CAPACITY: usize = memscope::record::DEFAULT_RING_CAPACITY;
    const BATCH: usize = 256;
    let evs = events(BATCH);
    let mut group = c.benchmark_group("ring");
    group.throughput(Throughput::Elements(1));

    group.bench_function("memscope_ring/push_pop_1", |b| {
        let mut r = OwnedRing::new(CAPACITY);
        let mut out = Vec::with_capacity(BATCH);
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % BATCH;
            assert!(r.push(*black_box(&evs[i])));
            r.pop_into(&mut out, 1);
            black_box(out.pop());
        })
    });
    group.bench_function("crossbeam_array_queue/push_pop_1", |b| {
        let q = crossbeam_queue::ArrayQueue::<RawEvent>::new(CAPACITY);
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % BATCH;
            assert!(q.push(*black_box(&evs[i])).is_ok());
            black_box(q.pop());
        })
    });

    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function(format!("memscope_ring/push_pop_{BATCH}"), |b| {
        let mut r = OwnedRing::new(CAPACITY);
        let mut out = Vec::with_capacity(BATCH);
        b.iter(|| {
            for e in black_box(&evs) {
                assert!(r.push(*e));
            }
            r.pop_into(&mut out, usize::MAX);
            black_box(&out);
            out.clear();
        })
    });
    group.bench_function(format!("crossbeam_array_queue/push_pop_{BATCH}"), |b| {
        let q = crossbeam_queue::ArrayQueue::<RawEvent>::new(CAPACITY);
        let mut out = Vec::with_capacity(BATCH);
        b.iter(|| {
            for e in black_box(&evs) {
                assert!(q.push(*e).is_ok());
            }
            while let Some(e) = q.pop() {
                out.push(e);
            }
            black_box(&out);
            out.clear();
        })
    });
    group.finish();
}

fn clock(id: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(id, &mut ts) };
    (ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64)
}

/// The parts of one event's cost: the timestamp is the largest.
fn parts(c: &mut Criterion) {
    let mut group = c.benchmark_group("parts");
    group.bench_function("clock_gettime_monotonic", |b| b.iter(|| clock(black_box(libc::CLOCK_MONOTONIC))));
    group.bench_function("clock_gettime_monotonic_coarse", |b| b.iter(|| clock(black_box(libc::CLOCK_MONOTONIC_COARSE))));
    group.bench_function("instant_now", |b| b.iter(Instant::now));
    #[cfg(target_arch = "x86_64")]
    group.bench_function("rdtsc", |b| {
        // SAFETY: `rdtsc` exists on every x86-64 CPU.
        b.iter(|| unsafe { core::arch::x86_64::_rdtsc() })
    });
    // What an allocation's stamp reads (`record::clock`, `Order::AfterCall`).
    #[cfg(target_arch = "x86_64")]
    group.bench_function("lfence_rdtsc", |b| {
        // SAFETY: `lfence` and `rdtsc` exist on every x86-64 CPU.
        b.iter(|| unsafe {
            core::arch::x86_64::_mm_lfence();
            core::arch::x86_64::_rdtsc()
        })
    });
    #[cfg(target_arch = "x86_64")]
    group.bench_function("rdtscp", |b| {
        let mut aux = 0u32;
        // SAFETY: `rdtscp` exists on every x86-64 CPU this runs on (the `rdtscp` cpuinfo flag).
        b.iter(|| unsafe { core::arch::x86_64::__rdtscp(&mut aux) })
    });
    group.finish();
}

fn main() {
    // What `criterion_group!`/`criterion_main!` expand to, without their undocumented `pub fn`.
    let mut c = Criterion::default().configure_from_args();
    pairs(&mut c);
    pairs_cpu(&mut c);
    reallocs(&mut c);
    ring(&mut c);
    parts(&mut c);
    c.final_summary();
}
