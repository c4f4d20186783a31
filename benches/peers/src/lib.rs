//! The peer workload (`benches/common/mod.rs`, shared with memscope's own
//! benches) and the harness every binary of this crate runs: `N` pairs split
//! across `T` threads released together by a barrier.
//!
//! Every binary takes `N T` as arguments and prints one line to stdout,
//! `loop_s=<seconds> loop_cpu_s=<seconds> pairs=<N> threads=<T>`, plus
//! whatever the tool reports. `loop_s` is wall time; `loop_cpu_s` is the CPU
//! time the workload threads themselves used over their loops, summed
//! (`CLOCK_THREAD_CPUTIME_ID`): it leaves out time spent waiting for a core,
//! so it moves less than wall time on a shared machine, and it leaves out
//! the work of any other thread (memscope's drainer, for one).

#[path = "../../common/mod.rs"]
pub mod common;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// `N` and `T` from the command line (defaults 5,000,000 and 1).
pub fn args() -> (u64, usize) {
    let mut args = std::env::args().skip(1);
    let n = args.next().map_or(5_000_000, |a| a.replace('_', "").parse().expect("N: a number of pairs"));
    let t = args.next().map_or(1, |a| a.parse().expect("T: a number of threads"));
    assert!(t >= 1, "T must be at least 1");
    (n, t)
}

/// Runs `n` pairs through the global allocator split across `t` threads
/// released together by a barrier; returns the time from the first thread's
/// start to the last thread's end (each thread reads the clock itself, so a
/// late-scheduled main thread cannot shorten it).
pub fn run(n: u64, t: usize) -> Duration {
    let barrier = Arc::new(Barrier::new(t));
    let handles: Vec<_> = (0..t)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            let share = n / t as u64 + u64::from((i as u64) < n % t as u64);
            std::thread::spawn(move || {
                barrier.wait();
                let start = Instant::now();
                let cpu = thread_cpu_ns();
                common::run_global(share, i as u64);
                (start, Instant::now(), thread_cpu_ns() - cpu)
            })
        })
        .collect();
    let spans: Vec<(Instant, Instant, u64)> = handles.into_iter().map(|h| h.join().expect("workload thread panicked")).collect();
    let first = spans.iter().map(|s| s.0).min().expect("at least one thread");
    let last = spans.iter().map(|s| s.1).max().expect("at least one thread");
    let cpu_ns: u64 = spans.iter().map(|s| s.2).sum();
    let elapsed = last - first;
    println!("loop_s={:.6} loop_cpu_s={:.6} pairs={n} threads={t}", elapsed.as_secs_f64(), cpu_ns as f64 / 1e9);
    elapsed
}

/// CPU time the calling thread has used, in ns.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
