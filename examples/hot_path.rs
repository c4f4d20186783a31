//! The peers workload (benches/common: N allocation+deallocation pairs,
//! split across T threads) recorded by this crate, for the hot path's A/B
//! in `benches/peers/hot_path_ab.sh` without the peers crate's build:
//!
//!   cargo run --release --example hot_path -- N T
//!
//! Prints `loop_s=… loop_cpu_s=… events_lost=…`: `loop_cpu_s` is the CPU
//! time of the workload threads over their loops (the drainer's left out).
//! `MEMSCOPE_HOT_RECORD=0` runs with no recording (the tracking allocator
//! idle: one load and one branch per call); `MEMSCOPE_HOT_STACKS=0` records
//! without call stacks; `MEMSCOPE_HOT_ON_FULL=drop` with `OnFull::Drop`.
//! `MEMSCOPE_CLOCK=monotonic` picks the fallback clock.

#[path = "../benches/common/mod.rs"]
mod common;

#[global_allocator]
static GLOBAL: memscope::TrackingAllocator = memscope::TrackingAllocator::system();

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn main() -> Result<(), memscope::Error> {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().map_or(5_000_000, |a| a.parse().expect("N"));
    let t: usize = args.next().map_or(1, |a| a.parse().expect("T"));
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    let path = std::env::temp_dir().join(format!("memscope-hot-path-{}.memscope", std::process::id()));
    let recording = if env("MEMSCOPE_HOT_RECORD") == "0" {
        None
    } else {
        let on_full = if env("MEMSCOPE_HOT_ON_FULL") == "drop" { memscope::OnFull::Drop } else { memscope::OnFull::Block };
        let stacks = if env("MEMSCOPE_HOT_STACKS") == "0" { memscope::CallStacks::Off } else { memscope::CallStacks::FramePointers };
        Some(memscope::Recorder::new(&path).on_full(on_full).call_stacks(stacks).start()?)
    };
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(t));
    let handles: Vec<_> = (0..t)
        .map(|i| {
            let barrier = barrier.clone();
            let share = n / t as u64;
            std::thread::spawn(move || {
                barrier.wait();
                let start = std::time::Instant::now();
                let cpu = thread_cpu_ns();
                common::run_global(share, i as u64);
                (start, std::time::Instant::now(), thread_cpu_ns() - cpu)
            })
        })
        .collect();
    let spans: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let first = spans.iter().map(|s| s.0).min().unwrap();
    let last = spans.iter().map(|s| s.1).max().unwrap();
    let cpu: u64 = spans.iter().map(|s| s.2).sum();
    let lost = match recording {
        Some(r) => r.finish()?.events_lost,
        None => 0,
    };
    let _ = std::fs::remove_file(&path);
    println!("loop_s={:.6} loop_cpu_s={:.6} events_lost={lost}", (last - first).as_secs_f64(), cpu as f64 / 1e9);
    Ok(())
}
