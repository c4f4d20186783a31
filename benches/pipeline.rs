//! Throughput of the pipeline behind the allocator: recording end to end
//! (events/s written and bytes/event on disk), the drainer's encoding alone,
//! decoding, and replay.
//!
//! - `drain/record_end_to_end`: one iteration is a whole recording
//!   (`OnFull::Block`, default config) to a temporary file while this thread
//!   does `PAIRS` pairs of the peer workload: from `start()` to `finish()`
//!   returning (so the last drain round and the `fsync` are included).
//!   Throughput is the events written. After the bench, the events lost over
//!   all runs, the bytes/event on disk, and the split of the time between
//!   `start()`, the workload and `finish()` are printed (medians).
//! - `drain/encode_chunks`: `ChunkEncoder::put_events` (delta+varint, LZ4,
//!   CRC) on the events of a real recording, in ring-sized batches: the
//!   drainer's CPU per event, apart from the file system.
//! - `drain/encode_payload_v4` and `drain/encode_payload_v5`: the payload
//!   codec alone (no LZ4) of version 4 and 5 on the same events;
//!   `drain/decode_payload_v4` and `drain/decode_payload_v5` decode those
//!   payloads.
//! - `replay/decode`: `format::Reader` over an in-memory recording, every
//!   record read and decoded.
//! - `replay/replay`: `Replay::from_reader` over the same bytes.
//!
//! The in-memory recording is made once at setup from a real run of the
//! workload. `cargo bench` uses 1,000,000 pairs; `cargo test --benches`
//! (criterion's test mode, which runs each bench once) 10,000.
//!
//! Run: `cargo bench --bench pipeline` (`-- --quick` while developing).

use criterion::{Criterion, SamplingMode, Throughput};
use memscope::format::{codec, ChunkEncoder, RawEvent, Reader, Record};
use memscope::replay::Replay;
use memscope::{Recorder, Summary, TrackingAllocator};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[path = "common/mod.rs"]
mod common;

#[global_allocator]
static GLOBAL: TrackingAllocator = TrackingAllocator::system();

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("memscope-bench-{}-{name}.memscope", std::process::id()))
}

/// Pairs per recording: the full size under `cargo bench` (which passes
/// `--bench`), a small one in criterion's test mode.
fn pairs_per_run() -> u64 {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test") {
        1_000_000
    } else {
        10_000
    }
}

/// One recording: its summary and where its time went.
struct Run {
    summary: Summary,
    /// From `start()` to `finish()` returning.
    total: Duration,
    /// `start()` alone.
    start: Duration,
    /// The workload alone.
    work: Duration,
}

/// Records `pairs` pairs on this thread.
fn record_run(path: &Path, pairs: u64) -> Run {
    let t0 = Instant::now();
    let recording = Recorder::new(path).start().expect("start a recording");
    let t1 = Instant::now();
    common::run_global(pairs, 0);
    let t2 = Instant::now();
    let summary = recording.finish().expect("finish the recording");
    Run { summary, total: t0.elapsed(), start: t1 - t0, work: t2 - t1 }
}

fn drain(c: &mut Criterion) {
    let pairs = pairs_per_run();
    let path = temp_path("drain");
    let mut group = c.benchmark_group("drain");
    group.sample_size(10).sampling_mode(SamplingMode::Flat).throughput(Throughput::Elements(2 * pairs));
    let mut runs: Vec<Run> = Vec::new();
    group.bench_function(format!("record_end_to_end/{pairs}_pairs"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let run = record_run(&path, pairs);
                total += run.total;
                runs.push(run);
            }
            total
        })
    });
    report_runs(&runs);
    let _ = std::fs::remove_file(&path);

    // The drainer's encoding alone, on the events of a real recording.
    let (_, bytes) = recording_bytes(pairs);
    let events = raw_events(&bytes);
    let batch = memscope::record::DEFAULT_RING_CAPACITY / 2;
    group.throughput(Throughput::Elements(events.len() as u64)).sample_size(20);
    group.bench_function(format!("encode_chunks/{}_events", events.len()), |b| {
        let mut encoder = ChunkEncoder::default();
        let mut out = Vec::new();
        b.iter(|| {
            out.clear();
            for (seq, chunk) in events.chunks(batch).enumerate() {
                encoder.put_events(&mut out, 1, seq as u64, chunk, &[]);
            }
            black_box(out.len())
        })
    });
    // The payload codec alone, version 4 against version 5 (benches/README.md, "Issue 10").
    for (name, enc) in [("encode_payload_v4", codec::encode_payload_v4 as Encoder), ("encode_payload", codec::encode_payload)] {
        group.bench_function(format!("{name}/{}_events", events.len()), |b| {
            let mut payload = Vec::new();
            b.iter(|| {
                let mut n = 0;
                for chunk in events.chunks(batch) {
                    payload.clear();
                    enc(chunk, &[], &[], chunk[0].ts_ns(), &mut payload);
                    n += payload.len();
                }
                black_box(n)
            })
        });
    }
    for (name, enc, version) in [
        ("decode_payload_v4", codec::encode_payload_v4 as Encoder, 4),
        ("decode_payload", codec::encode_payload, memscope::format::VERSION),
    ] {
        let payloads: Vec<(Vec<u8>, u32, u64)> = events
            .chunks(batch)
            .map(|chunk| {
                let mut p = Vec::new();
                enc(chunk, &[], &[], chunk[0].ts_ns(), &mut p);
                (p, chunk.len() as u32, chunk[0].ts_ns())
            })
            .collect();
        group.bench_function(format!("{name}/{}_events", events.len()), |b| {
            let mut out = Vec::new();
            b.iter(|| {
                for (p, count, first) in &payloads {
                    out.clear();
                    codec::decode_payload(p, *count, *first, version, &mut out).expect("decodes");
                }
                black_box(out.len())
            })
        });
    }
    group.finish();
}

/// A payload encoder of one version.
type Encoder = fn(&[RawEvent], &[u32], &[u64], u64, &mut Vec<u8>);

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn report_runs(runs: &[Run]) {
    let Some(first) = runs.first() else { return };
    let lost: u64 = runs.iter().map(|r| r.summary.events_lost).sum();
    let bpe: Vec<f64> = runs.iter().map(|r| r.summary.bytes_per_event()).collect();
    let (min, max) = bpe.iter().fold((f64::MAX, 0f64), |(lo, hi), &b| (lo.min(b), hi.max(b)));
    let ms = |f: fn(&Run) -> Duration| median(runs.iter().map(|r| f(r).as_secs_f64() * 1e3).collect());
    eprintln!(
        "drain/record_end_to_end: {} runs, {} events written in the first; events lost over all runs: {lost}; \
         bytes/event on disk: median {:.3} (min {min:.3}, max {max:.3}); median ms: total {:.1} = start {:.1} + workload {:.1} + finish {:.1}; \
         median events/s written: {:.3e} over the total, {:.3e} over the workload alone",
        runs.len(),
        first.summary.events_written,
        median(bpe.clone()),
        ms(|r| r.total),
        ms(|r| r.start),
        ms(|r| r.work),
        ms(|r| r.total - r.start - r.work),
        median(runs.iter().map(|r| r.summary.events_written as f64 / r.total.as_secs_f64()).collect()),
        median(runs.iter().map(|r| r.summary.events_written as f64 / r.work.as_secs_f64()).collect()),
    );
}

/// A real recording of `pairs` pairs, read back into memory.
fn recording_bytes(pairs: u64) -> (Summary, Vec<u8>) {
    let path = temp_path("replay");
    let summary = record_run(&path, pairs).summary;
    let bytes = std::fs::read(&path).expect("read the recording back");
    let _ = std::fs::remove_file(&path);
    (summary, bytes)
}

/// Every event of a recording, in file order, in ring form.
fn raw_events(bytes: &[u8]) -> Vec<RawEvent> {
    let mut reader = Reader::new(bytes).expect("a recording");
    let mut events = Vec::new();
    while let Some(record) = reader.next_record().expect("reading memory cannot fail") {
        if let Ok(Record::Events(chunk)) = record {
            events.extend(chunk.events.iter().map(|e| e.to_raw()));
        }
    }
    events
}

fn replay(c: &mut Criterion) {
    let (summary, bytes) = recording_bytes(pairs_per_run());
    let path = Path::new("in-memory.memscope");
    let events = Replay::from_reader(&bytes[..], path).expect("replay the recording").summary.events;
    eprintln!(
        "replay: setup recording of {} events written ({} lost), {} bytes ({:.3} bytes/event); replay reads {events} events",
        summary.events_written,
        summary.events_lost,
        bytes.len(),
        summary.bytes_per_event()
    );
    let mut group = c.benchmark_group("replay");
    group.sample_size(20).throughput(Throughput::Elements(events));
    group.bench_function(format!("decode/{events}_events"), |b| {
        b.iter(|| {
            let mut reader = Reader::new(&bytes[..]).expect("a recording");
            let mut n = 0usize;
            while let Some(record) = reader.next_record().expect("reading memory cannot fail") {
                if let Ok(Record::Events(chunk)) = record {
                    n += chunk.events.len();
                }
            }
            black_box(n)
        })
    });
    group.bench_function(format!("replay/{events}_events"), |b| {
        b.iter(|| black_box(Replay::from_reader(&bytes[..], path).expect("replay the recording").summary.events))
    });
    group.finish();
}

fn main() {
    // What `criterion_group!`/`criterion_main!` expand to, without their undocumented `pub fn`.
    let mut c = Criterion::default().configure_from_args();
    drain(&mut c);
    replay(&mut c);
    c.final_summary();
}
