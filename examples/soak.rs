//! Continuous recording under a disk budget, for `benches/soak.sh`: two
//! threads churn a pool of live blocks while the recording rotates
//! segments and deletes the oldest; every `--every` seconds it prints the
//! process's resident memory and the directory's size.
//!
//! ```text
//! cargo run --release --example soak -- DIR SECONDS [SEGMENT_BYTES [KEEP_BYTES [LIVE [OPS_PER_SEC]]]]
//! ```
//!
//! SEGMENT_BYTES 0 records into one file `DIR/single.memscope` (for A/B of
//! the drainer's cost); defaults: 8 MiB segments, 64 MiB budget, 50,000
//! live blocks per thread, 200,000 replacements per second per thread (0:
//! as fast as it goes). The last line is the recording's summary with the
//! drainer's CPU time per event.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: memscope::TrackingAllocator = memscope::TrackingAllocator::system();

fn arg(args: &[String], i: usize, default: u64) -> u64 {
    args.get(i).map_or(default, |a| a.replace('_', "").parse().unwrap_or_else(|e| panic!("argument {i} ({a:?}): {e}")))
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0)
}

fn dir_bytes(dir: &std::path::Path) -> (u64, usize) {
    let segments = memscope::replay::list_segments(dir).unwrap_or_default();
    (segments.iter().map(|(_, p)| std::fs::metadata(p).map_or(0, |m| m.len())).sum(), segments.len())
}

/// One worker: replaces a pseudo-random block of its pool `ops` times a second.
fn churn(live: usize, ops_per_sec: u64, stop: &AtomicBool) -> u64 {
    let mut pool: Vec<Vec<u8>> = (0..live).map(|i| vec![0u8; 16 + i % 200]).collect();
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ live as u64;
    let mut ops = 0u64;
    let start = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..1000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let size = if x % 64 == 0 { 1024 + (x >> 8) % 32768 } else { 8 + (x >> 8) % 256 };
            pool[(x >> 32) as usize % live] = vec![1u8; size as usize];
        }
        ops += 1000;
        if ops_per_sec > 0 {
            let due = Duration::from_secs_f64(ops as f64 / ops_per_sec as f64);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    ops
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(args.first().ok_or("usage: soak DIR SECONDS [SEGMENT_BYTES [KEEP_BYTES [LIVE [OPS_PER_SEC]]]]")?);
    let seconds = arg(&args, 1, 60);
    let segment_bytes = arg(&args, 2, 8 << 20);
    let keep_bytes = arg(&args, 3, 64 << 20);
    let live = arg(&args, 4, 50_000) as usize;
    let ops_per_sec = arg(&args, 5, 200_000);
    let every = Duration::from_secs(if seconds >= 600 { 60 } else { 5.min(seconds.max(1)) });
    let recorder = if segment_bytes == 0 {
        std::fs::create_dir_all(&dir)?;
        memscope::Recorder::new(dir.join("single.memscope"))
    } else {
        memscope::Recorder::new(&dir).segment_bytes(segment_bytes).keep_bytes(keep_bytes)
    };
    let recording = recorder.start()?;
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let ops = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2).map(|_| s.spawn(|| churn(live, ops_per_sec, &stop))).collect();
        let mut next = every;
        while start.elapsed() < Duration::from_secs(seconds) {
            std::thread::sleep(Duration::from_millis(100));
            if start.elapsed() >= next {
                let (bytes, n) = dir_bytes(&dir);
                println!("t={}s rss_kib={} dir_bytes={bytes} segments={n}", next.as_secs(), rss_kib());
                next += every;
            }
        }
        stop.store(true, Ordering::Relaxed);
        workers.into_iter().map(|w| w.join().unwrap_or(0)).sum::<u64>()
    });
    let summary = recording.finish()?;
    let (bytes, n) = dir_bytes(&dir);
    println!("end rss_kib={} dir_bytes={bytes} segments={n} replacements={ops}", rss_kib());
    println!(
        "summary events={} lost={} segments={} deleted={} delete_errors={} drainer_cpu_ns_per_event={:.1}",
        summary.events_written,
        summary.events_lost,
        summary.segments,
        summary.segments_deleted,
        summary.segment_delete_errors,
        summary.drainer_cpu_ns_per_event()
    );
    Ok(())
}
