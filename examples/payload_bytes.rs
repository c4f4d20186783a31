//! Where the bytes of a recording go, and what the payload codec costs
//! (benches/README.md, "Issue 10: bytes per event").
//!
//! ```text
//! cargo run --release --example payload_bytes -- peers PAIRS THREADS OUT.memscope
//! cargo run --release --example payload_bytes -- load THREADS SECONDS OUT.memscope
//! cargo run --release --example payload_bytes -- dump FILE.memscope OUT.events
//! cargo run --release --example payload_bytes -- FILE.memscope|FILE.events [PASSES]
//! cargo run --release --example payload_bytes -- encode FILE.memscope|FILE.events [PASSES]
//! ```
//!
//! - `peers` records the peer workload (`benches/common/mod.rs`: a random
//!   size from 8 to 511 bytes, allocated and freed at once) with call
//!   stacks on, `PAIRS` pairs split over `THREADS` threads.
//! - `load` records the same pairs on `THREADS` threads, as fast as they
//!   go, for `SECONDS` seconds (the "unthrottled load").
//! - `dump FILE.memscope OUT.events` writes the chunks' events in a
//!   layout no format version changes (per chunk: the event count as u32,
//!   then per event the 32-byte ring event, its stack id as u32 and its
//!   return stamp as u64, all little-endian), so that one recording can be
//!   re-encoded by later versions of the codec. `FILE` may be such a file.
//! - `FILE` re-encodes every chunk of a recording with the version-4 and
//!   the current (version-8; "now") payload codec and prints, per event: the
//!   payload bytes of each, what LZ4 leaves of them, the estimated file
//!   size, and the current payload split into its parts (descriptors,
//!   timestamps, addresses, sizes, stacks, other, header). Then it times
//!   encode, LZ4 and decode of both, alternating v4 and v5 `PASSES` times
//!   (default 5), and prints medians in ns per event.
//! - `encode FILE [PASSES]` only encodes every chunk with the current
//!   codec, `PASSES` times (default 1), and prints the payload bytes and a
//!   hash of them: the encoder alone, for `valgrind --tool=callgrind`
//!   (instructions per event) and for checking that a change to the
//!   encoder leaves its bytes as they were.

use memscope::format::codec::{decode_payload, encode_payload, encode_payload_counted, encode_payload_v4, Part, PayloadBits};
use memscope::format::{Event, RawEvent, Reader, Record};
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: memscope::TrackingAllocator = memscope::TrackingAllocator::system();

#[path = "../benches/common/mod.rs"]
mod common;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("peers") if args.len() == 4 => {
            let (pairs, threads): (u64, u64) = (args[1].replace('_', "").parse()?, args[2].parse()?);
            record(&args[3], threads, move |t| common::run_global(pairs / threads, t))
        }
        Some("load") if args.len() == 4 => {
            let (threads, secs): (u64, f64) = (args[1].parse()?, args[2].parse()?);
            let until = Duration::from_secs_f64(secs);
            record(&args[3], threads, move |t| {
                let start = Instant::now();
                let mut rng = common::Xorshift64::for_thread(t);
                let mut i = 0u64;
                while start.elapsed() < until {
                    for _ in 0..4096 {
                        common::pair(i, &mut rng);
                        i += 1;
                    }
                }
            })
        }
        Some("dump") if args.len() == 3 => dump(&args[1], &args[2]),
        Some("encode") if (2..=3).contains(&args.len()) => encode_only(&args[1], args.get(2).map_or(Ok(1), |p| p.parse())?),
        Some(file) if args.len() <= 2 && !file.is_empty() => {
            let passes = args.get(1).map_or(Ok(5), |p| p.parse())?;
            breakdown(file, passes)
        }
        _ => Err("usage: payload_bytes (peers PAIRS THREADS OUT | load THREADS SECONDS OUT | dump FILE OUT | encode FILE [PASSES] | FILE [PASSES])".into()),
    }
}

fn record(out: &str, threads: u64, work: impl Fn(u64) + Send + Sync + Copy + 'static) -> Result<(), Box<dyn std::error::Error>> {
    let recording = memscope::Recorder::new(out).call_stacks(memscope::CallStacks::FramePointers).start()?;
    let start = Instant::now();
    let handles: Vec<_> = (0..threads).map(|t| std::thread::spawn(move || work(t))).collect();
    for h in handles {
        h.join().map_err(|_| "a worker panicked")?;
    }
    let elapsed = start.elapsed();
    let s = recording.finish()?;
    println!(
        "{out}: {} events written, {} lost, {} bytes, {:.3} bytes/event, {} chunks, {:.2} s",
        s.events_written,
        s.events_lost,
        s.bytes_written,
        s.bytes_per_event(),
        s.chunks,
        elapsed.as_secs_f64()
    );
    Ok(())
}

/// One chunk in the encoder's input form.
struct Chunk {
    events: Vec<RawEvent>,
    stacks: Vec<u32>,
    returned: Vec<u64>,
    first_ts: u64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A file's bytes, its chunks, and the length of its Events records.
type Chunks = (Vec<u8>, Vec<Chunk>, u64);

/// An encoder of one version.
type Encoder = fn(&[RawEvent], &[u32], &[u64], u64, &mut Vec<u8>);

/// The chunks of a recording, or of a file written by [`dump`]; the total
/// length of the Events records (all of the file for a dump).
fn read_chunks(path: &str) -> Result<Chunks, Box<dyn std::error::Error>> {
    let bytes = std::fs::read(path)?;
    let mut chunks = Vec::new();
    if path.ends_with(".events") {
        let mut at = 0;
        let mut take = |n: usize| -> Result<&[u8], Box<dyn std::error::Error>> {
            let s = bytes.get(at..at + n).ok_or("truncated .events file")?;
            at += n;
            Ok(s)
        };
        let le = |s: &[u8]| s.iter().rev().fold(0u64, |v, &b| v << 8 | u64::from(b));
        while let Ok(count) = take(4).map(le) {
            let mut c = Chunk { events: Vec::new(), stacks: Vec::new(), returned: Vec::new(), first_ts: 0 };
            for _ in 0..count {
                let e = take(44)?;
                c.events.push(RawEvent { head: le(&e[0..8]), a: le(&e[8..16]), b: le(&e[16..24]), c: le(&e[24..32]) });
                c.stacks.push(le(&e[32..36]) as u32);
                c.returned.push(le(&e[36..44]));
            }
            c.first_ts = c.events.first().map_or(0, RawEvent::ts_ns);
            chunks.push(c);
        }
        let len = bytes.len() as u64;
        return Ok((bytes, chunks, len));
    }
    let mut reader = Reader::new(&bytes[..])?;
    let mut events_record_bytes = 0u64;
    while let Some(record) = reader.next_record()? {
        if let Err(damage) = &record {
            eprintln!("damage: {damage:?}");
        }
        if let Ok(Record::Events(chunk)) = record {
            events_record_bytes += chunk.len_bytes;
            let events: Vec<RawEvent> = chunk.events.iter().map(Event::to_raw).collect();
            let stacks = chunk.events.iter().map(Event::stack).collect();
            let returned = chunk.events.iter().map(Event::returned_ns).collect();
            let first_ts = events.first().map_or(0, RawEvent::ts_ns);
            chunks.push(Chunk { events, stacks, returned, first_ts });
        }
    }
    Ok((bytes, chunks, events_record_bytes))
}

fn dump(path: &str, out: &str) -> Result<(), Box<dyn std::error::Error>> {
    let (_, chunks, _) = read_chunks(path)?;
    let mut bytes = Vec::new();
    for c in &chunks {
        bytes.extend_from_slice(&(c.events.len() as u32).to_le_bytes());
        for ((e, s), r) in c.events.iter().zip(&c.stacks).zip(&c.returned) {
            for v in [e.head, e.a, e.b, e.c] {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
            bytes.extend_from_slice(&s.to_le_bytes());
            bytes.extend_from_slice(&r.to_le_bytes());
        }
    }
    std::fs::write(out, bytes)?;
    Ok(())
}

fn encode_only(path: &str, passes: usize) -> Result<(), Box<dyn std::error::Error>> {
    let (_, chunks, _) = read_chunks(path)?;
    let n: usize = chunks.iter().map(|c| c.events.len()).sum();
    let (mut payload, mut bytes, mut hash) = (Vec::new(), 0u64, 0xcbf2_9ce4_8422_2325u64);
    let t0 = cpu();
    for pass in 0..passes {
        for c in &chunks {
            payload.clear();
            encode_payload(&c.events, &c.stacks, &c.returned, c.first_ts, &mut payload);
            if pass == 0 {
                bytes += payload.len() as u64;
                // FNV-1a over every payload, in order.
                for &b in &payload {
                    hash = (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
                }
            }
        }
    }
    let ns = (cpu() - t0).as_secs_f64() * 1e9 / (n * passes) as f64;
    println!("{path}: {n} events, {} chunks, payload {bytes} bytes ({:.4} bytes/event), FNV-1a {hash:016x}; encode {ns:.2} ns/event (thread CPU, hash included in the first pass)", chunks.len(), bytes as f64 / n as f64);
    Ok(())
}

fn breakdown(path: &str, passes: usize) -> Result<(), Box<dyn std::error::Error>> {
    let (bytes, chunks, events_record_bytes) = read_chunks(path)?;
    let n: usize = chunks.iter().map(|c| c.events.len()).sum();
    let per = |b: u64| b as f64 / n as f64;
    let other_records = bytes.len() as u64 - events_record_bytes;
    // An Events record is a 16-byte header, 32 bytes of fields and the LZ4 body.
    let record_overhead = 48 * chunks.len() as u64;

    let (mut raw4, mut lz4_4, mut raw5, mut lz4_5) = (0u64, 0u64, 0u64, 0u64);
    let mut bits = PayloadBits::default();
    let mut buf = Vec::new();
    for c in &chunks {
        buf.clear();
        encode_payload_v4(&c.events, &c.stacks, &c.returned, c.first_ts, &mut buf);
        raw4 += buf.len() as u64;
        lz4_4 += lz4_flex::block::compress(&buf).len() as u64;
        buf.clear();
        encode_payload_counted(&c.events, &c.stacks, &c.returned, c.first_ts, &mut buf, &mut bits);
        raw5 += buf.len() as u64;
        lz4_5 += lz4_flex::block::compress(&buf).len() as u64;
        let mut back = Vec::new();
        decode_payload(&buf, c.events.len() as u32, c.first_ts, memscope::format::VERSION, &mut back)?;
        assert!(back.iter().map(Event::to_raw).eq(c.events.iter().copied()), "version 5 round trip");
    }
    println!(
        "{path}: {} bytes, {n} events, {:.3} bytes/event on disk; {} chunks ({:.0} events each); \
         records other than events {:.3} bytes/event, events record headers {:.3} bytes/event",
        bytes.len(),
        per(bytes.len() as u64),
        chunks.len(),
        n as f64 / chunks.len() as f64,
        per(other_records),
        per(record_overhead)
    );
    // "now": the current version's bit-stream codec (version 8; versions 5 to 7 before).
    for (name, raw, lz4) in [("v4", raw4, lz4_4), ("now", raw5, lz4_5)] {
        println!(
            "  {name}: payload {:.3} bytes/event, after LZ4 {:.3} ({:+.1}%), file {:.3} bytes/event",
            per(raw),
            per(lz4),
            100.0 * (lz4 as f64 / raw as f64 - 1.0),
            per(other_records + record_overhead + lz4)
        );
    }
    let parts = [
        ("descriptors", Part::Tags),
        ("timestamps", Part::Timestamps),
        ("addresses", Part::Addresses),
        ("sizes+align", Part::Sizes),
        ("stacks", Part::Stacks),
        ("other", Part::Other),
        ("header+pad", Part::Header),
    ];
    print!("  now payload bits/event:");
    for (name, part) in parts {
        print!(" {name} {:.3}", bits.0[part as usize] as f64 / n as f64);
    }
    println!();

    if std::env::var_os("PAYLOAD_BYTES_DT").is_some() {
        dt_distribution(&chunks);
    }

    // Timing, alternating v4 and v5, with buffers reused as `ChunkEncoder` does.
    let mut t: [Vec<f64>; 6] = Default::default();
    let ns = |d: Duration| d.as_secs_f64() * 1e9 / n as f64;
    let (mut payload, mut compressed, mut out) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..passes {
        for v5 in [false, true] {
            let enc: Encoder = if v5 { encode_payload } else { encode_payload_v4 };
            let o = if v5 { 3 } else { 0 };
            let t0 = cpu();
            for c in &chunks {
                payload.clear();
                enc(&c.events, &c.stacks, &c.returned, c.first_ts, &mut payload);
            }
            t[o].push(ns(cpu() - t0));
            // LZ4 alone, and the bodies kept for the decode pass (outside the timings).
            let mut payloads = Vec::with_capacity(chunks.len());
            for c in &chunks {
                payload.clear();
                enc(&c.events, &c.stacks, &c.returned, c.first_ts, &mut payload);
                payloads.push(payload.clone());
            }
            let mut bodies = Vec::with_capacity(chunks.len());
            let mut lz4 = Duration::ZERO;
            for p in &payloads {
                compressed.resize(lz4_flex::block::get_maximum_output_size(p.len()), 0);
                let t0 = cpu();
                let k = lz4_flex::block::compress_into(p, &mut compressed)?;
                lz4 += cpu() - t0;
                bodies.push(compressed[..k].to_vec());
            }
            t[o + 1].push(ns(lz4));
            let version = if v5 { memscope::format::VERSION } else { 4 };
            let t0 = cpu();
            for ((body, p), c) in bodies.iter().zip(&payloads).zip(&chunks) {
                payload.resize(p.len(), 0);
                lz4_flex::block::decompress_into(body, &mut payload)?;
                out.clear();
                decode_payload(&payload, c.events.len() as u32, c.first_ts, version, &mut out)?;
            }
            t[o + 2].push(ns(cpu() - t0));
        }
    }
    let [e4, l4, d4, e5, l5, d5] = t.map(median);
    println!("  ns/event, medians of {passes} alternated passes (thread CPU time): encode v4 {e4:.2} now {e5:.2} ({:.2}x); LZ4 v4 {l4:.2} now {l5:.2} ({:.2}x); LZ4 decompress + decode v4 {d4:.2} now {d5:.2} ({:.2}x)", e5 / e4, l5 / l4, d5 / d4);
    Ok(())
}

/// Percentiles of the timestamp deltas, by the kinds of the event before and the event itself.
fn dt_distribution(chunks: &[Chunk]) {
    let mut by: std::collections::BTreeMap<(u8, u8), Vec<i64>> = Default::default();
    for c in chunks {
        let mut prev = (0u8, c.first_ts);
        for e in &c.events {
            by.entry((prev.0, e.kind())).or_default().push(e.ts_ns().wrapping_sub(prev.1) as i64);
            prev = (e.kind(), e.ts_ns());
        }
    }
    for ((a, b), mut v) in by {
        v.sort_unstable();
        let q = |f: f64| v[((v.len() - 1) as f64 * f) as usize];
        let mut counts: std::collections::HashMap<i64, u64> = Default::default();
        for &x in &v {
            *counts.entry(x).or_default() += 1;
        }
        let h: f64 = counts
            .values()
            .map(|&c| {
                let p = c as f64 / v.len() as f64;
                -p * p.log2()
            })
            .sum();
        println!(
            "  dt {a}->{b}: n {} min {} p1 {} p10 {} p25 {} p50 {} p75 {} p90 {} p99 {} max {} entropy {h:.2} bits",
            v.len(),
            v[0],
            q(0.01),
            q(0.1),
            q(0.25),
            q(0.5),
            q(0.75),
            q(0.9),
            q(0.99),
            v[v.len() - 1]
        );
    }
}

/// The calling thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`): the timings
/// leave out time spent waiting for a core on a shared machine.
fn cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
