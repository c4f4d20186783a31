//! What recording costs the program: the peer workload (`benches/common`)
//! timed per allocation+deallocation pair, at 1 and 2 threads, with
//!
//! - `system_direct`: `std::alloc::System` called through `GlobalAlloc`, no
//!   global allocator in between (the pure baseline);
//! - `tracking_idle`: the bench's global allocator, `TrackingAllocator::system()`,
//!   with no recording running: `System` plus one atomic load (a plain `mov`
//!   on x86-64) per call;
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
//! Also: our SPSC ring (`OwnedRing`) against `crossbeam_queue::ArrayQueue`, push+pop on
//! one thread, and the parts of an event's cost (clock reads).
//!
//! Run: `cargo bench --bench overhead` (`-- --quick` while developing).

use criterion::{BenchmarkId, Criterion, Throughput};
use memscope::format::RawEvent;
use memscope::record::OwnedRing;
use memscope::{CallStacks, Recorder, TrackingAllocator};
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

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("memscope-bench-{}-{name}.memscope", std::process::id()))
}

fn pairs(c: &mut Criterion) {
    let mut group = c.benchmark_group("pair");
    for threads in [1usize, 2] {
        group.bench_with_input(BenchmarkId::new("system_direct", threads), &threads, |b, &t| {
            b.iter_custom(|iters| parallel(t, iters, common::run_system_direct))
        });
        group.bench_with_input(BenchmarkId::new("tracking_idle", threads), &threads, |b, &t| {
            b.iter_custom(|iters| parallel(t, iters, common::run_global))
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
    group.finish();
}

fn main() {
    // What `criterion_group!`/`criterion_main!` expand to, without their undocumented `pub fn`.
    let mut c = Criterion::default().configure_from_args();
    pairs(&mut c);
    ring(&mut c);
    parts(&mut c);
    c.final_summary();
}
