//! Times replay, the code `memscope info` and `memscope json` run
//! (`memscope::replay::replay_file`: call stacks and per-site tables
//! included), on recordings given as arguments, and prints events per second
//! and the process's peak RSS.
//!
//! ```text
//! cargo run --release --example replay_time -- FILE.memscope...
//! ```
//!
//! One line per file: `file=… events=… live_end=… s=… events_per_s=… maxrss_kb=…`
//! (`maxrss_kb` is the process's peak so far, so give one file per run to
//! measure memory). With `--json`, each replay is also written as JSON to
//! `FILE.memscope.json` (untimed), to compare replays before and after a change.

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    for path in args.into_iter().filter(|a| a != "--json") {
        let start = Instant::now();
        let replay = memscope::replay::replay_file(path.as_ref())?;
        let s = start.elapsed().as_secs_f64();
        let e = replay.summary.events;
        println!(
            "file={path} events={e} live_end={} late={} s={s:.4} events_per_s={:.2}M maxrss_kb={}",
            replay.summary.live_count,
            replay.summary.late_events,
            e as f64 / s / 1e6,
            maxrss_kb()
        );
        if json {
            memscope::export::json(&replay, std::io::BufWriter::new(std::fs::File::create(format!("{path}.json"))?))?;
        }
    }
    Ok(())
}

/// The process's peak resident set size so far, in KiB (`VmHWM`).
fn maxrss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0)
}
