//! The main job on real input: index every `.rs` file under the cargo
//! registry's source folder (`$CARGO_HOME/registry/src`, present on any
//! machine that built this project) while memscope records every allocation,
//! then replay the recording and export it to JSON.
//!
//! ```text
//! cargo run --release --example index_registry [-- SOURCE_DIR [OUT_DIR]]
//! ```
//!
//! Worker threads read files and count identifiers into per-file `HashMap`s
//! (`String`, `Vec` and `HashMap` growth: reallocations); they send the maps
//! over a channel to an aggregator thread, which merges and drops them, so
//! much of the memory is deallocated on another thread than allocated it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

#[global_allocator]
static GLOBAL: memscope::TrackingAllocator = memscope::TrackingAllocator::system();

const WORKERS: usize = 4;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let source = args.next().map(PathBuf::from).unwrap_or_else(registry_src);
    let out_dir = args.next().map(PathBuf::from).unwrap_or_else(|| {
        // Cargo's target folder, wherever CARGO_TARGET_DIR puts it.
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"), PathBuf::from);
        target.join("memscope")
    });
    std::fs::create_dir_all(&out_dir)?;
    let recording_path = out_dir.join("index_registry.memscope");
    let json_path = out_dir.join("index_registry.json");
    let html_path = out_dir.join("index_registry.html");

    // Knobs for measuring what recording costs this job (benches/main_job.sh, benches/README.md):
    // MEMSCOPE_STACKS=0 records without call stacks; MEMSCOPE_RECORD=0 runs the job with no
    // recording at all (the allocator stays installed, idle) and stops there; MEMSCOPE_REPLAY=0
    // records, finishes and stops before the replay and the exports; MEMSCOPE_SAMPLING=BYTES
    // samples allocations by bytes (`Recorder::sampling_interval_bytes`; 0, the default: every event).
    let sampling: u64 = std::env::var("MEMSCOPE_SAMPLING").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let stacks = match std::env::var("MEMSCOPE_STACKS").as_deref() {
        Ok("0") => memscope::CallStacks::Off,
        _ => memscope::CallStacks::FramePointers,
    };
    let record = std::env::var("MEMSCOPE_RECORD").as_deref() != Ok("0");
    let then_replay = std::env::var("MEMSCOPE_REPLAY").as_deref() != Ok("0");
    let started = Instant::now();
    let recording = if record {
        Some(memscope::Recorder::new(&recording_path).call_stacks(stacks).sampling_interval_bytes(sampling).start()?)
    } else {
        None
    };
    let job_started = Instant::now();
    let index = run_job(&source)?;
    let job_time = job_started.elapsed();
    let Some(recording) = recording else {
        print_indexed(&index, &source);
        println!("  with {WORKERS} workers and 1 aggregator in {:.2} s, not recording (MEMSCOPE_RECORD=0)", job_time.as_secs_f64());
        return Ok(());
    };
    let summary = recording.finish()?;
    let recorded_time = started.elapsed();
    if !then_replay {
        print_indexed(&index, &source);
        println!("  with {WORKERS} workers and 1 aggregator in {:.2} s", job_time.as_secs_f64());
        println!("{summary}");
        println!("recorded in {:.3} s from start() to finish() returning; not replayed (MEMSCOPE_REPLAY=0)", recorded_time.as_secs_f64());
        return Ok(());
    }

    let replay_started = Instant::now();
    let replay = memscope::replay::replay_file(&recording_path)?;
    let replay_time = replay_started.elapsed();
    let symbolize_started = Instant::now();
    let profile = memscope::export::profile::Profile::build(&replay, &Default::default());
    let symbolize_time = symbolize_started.elapsed();
    memscope::export::json_to_path(&replay, &json_path)?;
    memscope::export::html_to_path(&replay, &html_path)?;

    let t = &replay.summary;
    print_indexed(&index, &source);
    println!("  with {WORKERS} workers and 1 aggregator in {:.2} s; most common identifiers:", job_time.as_secs_f64());
    let mut top: Vec<_> = index.idents.iter().collect();
    top.sort_unstable_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let line: Vec<String> = top.iter().take(8).map(|(k, v)| format!("{k} {v}")).collect();
    println!("  {}", line.join(", "));
    println!();
    println!("{summary}");
    println!("replayed in {:.2} s ({:.1} M events/s):", replay_time.as_secs_f64(), t.events as f64 / replay_time.as_secs_f64() / 1e6);
    println!("  allocations    {:>12}   {:>14} bytes allocated", t.total_allocations, t.total_allocated_bytes);
    println!("  deallocations  {:>12}   {:>14} bytes deallocated", t.total_deallocations, t.total_deallocated_bytes);
    println!("  reallocations  {:>12}", t.total_reallocations);
    println!("  peak live      {:>12} bytes at {:.3} s", t.peak_live_bytes, t.peak_at_ns as f64 / 1e9);
    println!("  live at end    {:>12} bytes in {} allocations (the index the job returned, still held)", t.live_bytes, t.live_count);
    println!("  threads        {:>12}", t.threads);
    println!("  lost events    {:>12}", t.lost_events);
    println!("  tracked        {:>12} variables, {} scope nodes", replay.variables.len(), replay.scopes.len());
    if !replay.damage.is_empty() {
        println!("  DAMAGE: {} damaged stretches in the recording", replay.damage.len());
    }
    println!();
    let sites = &profile.sites;
    let complete: Vec<_> = sites.iter().filter(|s| !s.truncated).collect();
    let calls = |s: &memscope::export::profile::Site| s.stats.allocations + s.stats.reallocations;
    let all_calls: u64 = sites.iter().map(calls).sum();
    println!(
        "call stacks: {} sites, {:.2}% reach main or their thread's entry ({:.2}% of allocations and reallocations); symbolized in {:.2} s",
        sites.len(),
        100.0 * complete.len() as f64 / sites.len().max(1) as f64,
        100.0 * complete.iter().map(|s| calls(s)).sum::<u64>() as f64 / all_calls.max(1) as f64,
        symbolize_time.as_secs_f64()
    );
    for w in &profile.warnings {
        println!("  warning: {w}");
    }
    type Key = fn(&memscope::replay::SiteStats) -> u64;
    let tables: [(&str, Key); 2] = [("at the peak", |s| s.peak_bytes), ("live at the end", |s| s.live_bytes_end)];
    for (title, key) in tables {
        println!("  top 5 sites by bytes {title}:");
        for i in profile.top_sites(5, key) {
            let site = &sites[i];
            println!("    {:>12} bytes  {:>8} allocations  {}", key(&site.stats), calls(site), profile.site_label(site));
        }
    }
    println!();
    println!("recording: {}", recording_path.display());
    println!("json:      {}", json_path.display());
    println!("report:    {} (open it in a browser; it works offline)", html_path.display());
    println!("inspect:   cargo run --release -- info {}", recording_path.display());
    Ok(())
}

/// `$CARGO_HOME/registry/src`, defaulting `CARGO_HOME` to `~/.cargo`.
fn registry_src() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo"));
    home.join("registry/src")
}

#[derive(Default)]
struct Index {
    files: u64,
    lines: u64,
    bytes: u64,
    idents: HashMap<String, u64>,
}

/// One file's result, built on a worker and dropped on the aggregator.
struct FileCounts {
    lines: u64,
    bytes: u64,
    idents: HashMap<String, u32>,
}

/// The job's first line of output: what it indexed.
fn print_indexed(index: &Index, source: &Path) {
    println!("memscope: indexed {} .rs files ({} lines, {} MiB) under {}", index.files, index.lines, index.bytes >> 20, source.display());
}

fn run_job(source: &Path) -> Result<Index, Box<dyn std::error::Error>> {
    let mut files = Vec::new();
    {
        let _scope = memscope::track_scope!("collect_files");
        collect_rs_files(source, &mut files);
    }
    memscope::track_var!(files);
    if files.is_empty() {
        return Err(format!(
            "no .rs files under {} (build the project once so cargo fills its registry, or pass a folder)",
            source.display()
        )
        .into());
    }
    let (result_tx, result_rx) = mpsc::channel::<FileCounts>();
    let aggregator = std::thread::Builder::new().name("aggregator".into()).spawn(move || {
        let _scope = memscope::track_scope!("aggregate");
        let mut index = Index::default();
        for counts in result_rx {
            index.files += 1;
            index.lines += counts.lines;
            index.bytes += counts.bytes;
            for (ident, n) in counts.idents {
                *index.idents.entry(ident).or_default() += u64::from(n);
            }
        }
        memscope::track_var!(index.idents);
        index
    })?;
    let mut work_txs = Vec::new();
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let (tx, rx) = mpsc::channel::<PathBuf>();
        let result_tx = result_tx.clone();
        work_txs.push(tx);
        workers.push(std::thread::Builder::new().name(format!("worker-{w}")).spawn(move || {
            let _scope = memscope::track_scope!("worker");
            for path in rx {
                let _file = memscope::track_scope!("count_identifiers");
                if let Ok(text) = std::fs::read_to_string(&path) {
                    let _ = result_tx.send(count_identifiers(&text));
                }
            }
        })?);
    }
    drop(result_tx);
    for (i, path) in files.into_iter().enumerate() {
        work_txs[i % WORKERS].send(path)?;
    }
    drop(work_txs);
    for w in workers {
        w.join().map_err(|_| "a worker panicked")?;
    }
    aggregator.join().map_err(|_| "the aggregator panicked".into())
}

fn collect_rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => collect_rs_files(&path, out),
            Ok(t) if t.is_file() && path.extension().is_some_and(|e| e == "rs") => out.push(path),
            _ => {}
        }
    }
}

fn count_identifiers(text: &str) -> FileCounts {
    let mut idents: HashMap<String, u32> = HashMap::new();
    let mut current = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() || c == '_' {
            current.push(c);
        } else if !current.is_empty() {
            if !current.starts_with(|c: char| c.is_ascii_digit()) {
                *idents.entry(std::mem::take(&mut current)).or_default() += 1;
            }
            current.clear();
        }
    }
    FileCounts { lines: text.lines().count() as u64, bytes: text.len() as u64, idents }
}
