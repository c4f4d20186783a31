//! How small could a recording be? Reads a memscope recording, takes its
//! events back to ring form, and re-encodes every chunk with the current
//! payload codec and with alternatives, compressed with LZ4 (as memscope
//! does) and with zstd, printing bytes per event of each. Also prints the
//! zeroth-order entropy of the parts the workload makes random, a floor no
//! coder of those parts gets below.
//!
//! `cargo run --release --bin codec_alternatives -- FILE.memscope`
//!
//! The alternatives are prototypes for a format discussion, not a format:
//! - "no dealloc size": a deallocation stores no size (replay holds it in its live set);
//! - "ts/16", "ts/64": timestamps in units of 16 or 64 ns instead of 1 ns;
//! - "mru": a deallocation of the chunk's latest allocation stores no
//!   address; an allocation at one of the 15 addresses freed last stores
//!   their index instead of an address delta.

use memscope::format::event::{KIND_ALLOC, KIND_ALLOC_ZEROED, KIND_DEALLOC};
use memscope::format::{codec, RawEvent, Reader, Record};
use std::collections::HashMap;

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// The current codec's layout, optionally without the deallocation size and
/// with coarser timestamps.
fn encode_plain(events: &[RawEvent], dealloc_size: bool, ts_shift: u32, out: &mut Vec<u8>) {
    let mut prev_ts = events[0].ts_ns() >> ts_shift;
    let mut prev_ptr = 0u64;
    for e in events {
        let kind = e.kind();
        varint(out, u64::from(kind) | (u64::from(e.c.trailing_zeros()) << 4));
        let ts = e.ts_ns() >> ts_shift;
        varint(out, zigzag(ts.wrapping_sub(prev_ts) as i64));
        prev_ts = ts;
        match kind {
            KIND_ALLOC | KIND_ALLOC_ZEROED | KIND_DEALLOC => {
                varint(out, zigzag(e.a.wrapping_sub(prev_ptr) as i64));
                prev_ptr = e.a;
                if kind != KIND_DEALLOC || dealloc_size {
                    varint(out, e.b);
                }
            }
            _ => varint(out, e.a),
        }
    }
}

/// Addresses by recency: see the crate docs ("mru").
fn encode_mru(events: &[RawEvent], ts_shift: u32, out: &mut Vec<u8>) {
    let mut prev_ts = events[0].ts_ns() >> ts_shift;
    let mut prev_ptr = 0u64;
    let mut last_alloc = None;
    let mut freed: Vec<u64> = Vec::with_capacity(16);
    for e in events {
        let ts = e.ts_ns() >> ts_shift;
        let dts = zigzag(ts.wrapping_sub(prev_ts) as i64);
        prev_ts = ts;
        match e.kind() {
            KIND_ALLOC | KIND_ALLOC_ZEROED => {
                match freed.iter().position(|&a| a == e.a) {
                    Some(i) => {
                        out.push(0x10 | i as u8);
                        freed.remove(i);
                        varint(out, dts);
                    }
                    None => {
                        out.push(0x01);
                        varint(out, dts);
                        varint(out, zigzag(e.a.wrapping_sub(prev_ptr) as i64));
                    }
                }
                prev_ptr = e.a;
                varint(out, e.b);
                last_alloc = Some(e.a);
            }
            KIND_DEALLOC => {
                if last_alloc == Some(e.a) {
                    out.push(0x05);
                    varint(out, dts);
                } else {
                    out.push(0x06);
                    varint(out, dts);
                    varint(out, zigzag(e.a.wrapping_sub(prev_ptr) as i64));
                }
                prev_ptr = e.a;
                freed.insert(0, e.a);
                freed.truncate(15);
                last_alloc = None;
            }
            kind => {
                out.push(kind);
                varint(out, dts);
                varint(out, e.a);
            }
        }
    }
}

fn entropy_bits<K>(counts: &HashMap<K, u64>) -> f64 {
    let total: u64 = counts.values().sum();
    counts
        .values()
        .map(|&c| {
            let p = c as f64 / total as f64;
            -p * p.log2()
        })
        .sum()
}

type Encoder = fn(&[RawEvent], &mut Vec<u8>);

fn main() {
    let path = std::env::args().nth(1).expect("usage: codec_alternatives FILE.memscope");
    let bytes = std::fs::read(&path).expect("read the recording");
    let mut reader = Reader::new(&bytes[..]).expect("a memscope recording");
    let mut chunks: Vec<Vec<RawEvent>> = Vec::new();
    while let Some(record) = reader.next_record().expect("read the recording") {
        if let Ok(Record::Events(chunk)) = record {
            chunks.push(chunk.events.iter().map(|e| e.to_raw()).collect());
        }
    }
    let events: usize = chunks.iter().map(Vec::len).sum();
    let n = events as f64;
    println!(
        "{path}: {} bytes, {events} events, {:.3} bytes/event on disk; {} chunks, {:.0} events per chunk",
        bytes.len(),
        bytes.len() as f64 / n,
        chunks.len(),
        n / chunks.len() as f64
    );

    let (mut dts, mut sizes, mut recency) = (HashMap::new(), HashMap::new(), HashMap::new());
    for chunk in &chunks {
        for w in chunk.windows(2) {
            *dts.entry(w[1].ts_ns().wrapping_sub(w[0].ts_ns())).or_insert(0u64) += 1;
        }
        let mut freed: Vec<u64> = Vec::new();
        for e in chunk {
            match e.kind() {
                KIND_ALLOC | KIND_ALLOC_ZEROED => {
                    *sizes.entry(e.b).or_insert(0u64) += 1;
                    let i = freed.iter().position(|&a| a == e.a);
                    *recency.entry(i).or_insert(0u64) += 1;
                    if let Some(i) = i {
                        freed.remove(i);
                    }
                }
                KIND_DEALLOC => {
                    freed.insert(0, e.a);
                    freed.truncate(64);
                }
                _ => {}
            }
        }
    }
    let (h_ts, h_size, h_addr) = (entropy_bits(&dts), entropy_bits(&sizes), entropy_bits(&recency));
    println!(
        "zeroth-order entropy: timestamp delta {h_ts:.2} bits per event, size {h_size:.2} bits per allocation, \
         address as recency among the last 64 freed {h_addr:.2} bits per allocation; \
         per event for this workload (pairs): {:.3} bytes",
        (2.0 * h_ts + h_size + h_addr) / 2.0 / 8.0
    );

    let variants: [(&str, Encoder); 7] = [
        ("current codec", |c, o| codec::encode_payload(c, &[], &[], c[0].ts_ns(), o)),
        ("no dealloc size", |c, o| encode_plain(c, false, 0, o)),
        ("no dealloc size, ts/16", |c, o| encode_plain(c, false, 4, o)),
        ("no dealloc size, ts/64", |c, o| encode_plain(c, false, 6, o)),
        ("mru", |c, o| encode_mru(c, 0, o)),
        ("mru, ts/16", |c, o| encode_mru(c, 4, o)),
        ("mru, ts/64", |c, o| encode_mru(c, 6, o)),
    ];
    println!();
    println!("| payload | raw | LZ4 per chunk | zstd -1 per chunk | zstd -3 per chunk | zstd -3 per 1 MiB |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (name, encode) in variants {
        let (mut raw, mut lz4, mut z1, mut z3) = (0, 0, 0, 0);
        let mut all = Vec::new();
        for chunk in &chunks {
            let mut p = Vec::new();
            encode(chunk, &mut p);
            raw += p.len();
            lz4 += lz4_flex::block::compress(&p).len();
            z1 += zstd::bulk::compress(&p, 1).expect("zstd").len();
            z3 += zstd::bulk::compress(&p, 3).expect("zstd").len();
            all.extend_from_slice(&p);
        }
        let big: usize = all.chunks(1 << 20).map(|b| zstd::bulk::compress(b, 3).expect("zstd").len()).sum();
        println!(
            "| {name} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            raw as f64 / n,
            lz4 as f64 / n,
            z1 as f64 / n,
            z3 as f64 / n,
            big as f64 / n
        );
    }
    println!();
    println!("Bytes per event of the chunk payloads alone (the record headers add about 48 bytes per chunk).");

    let payloads: Vec<Vec<u8>> = chunks
        .iter()
        .map(|c| {
            let mut p = Vec::new();
            codec::encode_payload(c, &[], &[], c[0].ts_ns(), &mut p);
            p
        })
        .collect();
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = std::time::Instant::now();
        let mut keep = 0;
        for c in &chunks {
            let mut p = Vec::with_capacity(c.len() * 8);
            codec::encode_payload(c, &[], &[], c[0].ts_ns(), &mut p);
            keep += p.len();
        }
        let encode = t.elapsed();
        let t = std::time::Instant::now();
        for p in &payloads {
            keep += lz4_flex::block::compress(p).len();
        }
        let lz4 = t.elapsed();
        let t = std::time::Instant::now();
        for p in &payloads {
            keep += zstd::bulk::compress(p, 1).expect("zstd").len();
        }
        let zstd1 = t.elapsed();
        std::hint::black_box(keep);
        times.push((encode.as_nanos() as f64 / n, lz4.as_nanos() as f64 / n, zstd1.as_nanos() as f64 / n));
    }
    times.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (e, l, z) = times[times.len() / 2];
    println!("CPU per event (median of 5 passes, by LZ4 time): encode_payload {e:.1} ns, LZ4 (lz4_flex) {l:.1} ns, zstd -1 {z:.1} ns");
}
