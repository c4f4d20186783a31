//! Issue 9.5: crafted files with valid checksums, each under 1 MB, must not
//! make replay use more than 200 MB or 10 s, nor panic. Each file is built
//! with the crate's own encoder (so every checksum is right) to claim as
//! much work as its bytes allow: one chunk beyond the writer's limits,
//! then many chunks at the limit holding distinct live allocations (with
//! and without Round records), allocations piling up on one address,
//! allocation/deallocation churn, and stacks spread over many sites.
//!
//! Peak memory is the high-water mark (`VmHWM` of /proc/self/status) of a
//! fresh process replaying one file (this test binary run again), an
//! independent measure of what replay held. Set MEMSCOPE_HOSTILE_DIR to
//! keep the files (to measure `memscope info` on them with /usr/bin/time),
//! MEMSCOPE_HOSTILE_ONLY to a comma-separated list of names to replay only those.

use memscope::format::stacks::StackNode;
use memscope::format::{self, ChunkEncoder, DamageKind, OnFull, RawEvent, SegmentHeader};
use std::time::{Duration, Instant};

/// The budget of issue 9.5 for a file under 1 MB.
const MAX_FILE: usize = 1 << 20;
const MAX_RSS_BYTES: u64 = 200 << 20;
const MAX_TIME: Duration = Duration::from_secs(10);

fn header() -> Vec<u8> {
    SegmentHeader {
        version: format::VERSION,
        start_unix_ns: 1,
        start_monotonic_ns: 2,
        pid: 3,
        ring_capacity: 1 << 16,
        on_full: OnFull::Block,
    }
    .encode()
    .to_vec()
}

/// Appends chunks made by `chunk(i)` (each followed by a Round record when
/// `rounds`) while the file stays under 1 MB; returns the chunks written.
///
/// Past [`DISTINCT`] chunks, the last one is repeated with new sequence
/// numbers (only its fields and header checksum change): replay stops at
/// its limits long before, and encoding millions of events is slow in a
/// debug build.
fn fill(out: &mut Vec<u8>, rounds: bool, mut chunk: impl FnMut(u64) -> Vec<RawEvent>) -> u64 {
    let mut enc = ChunkEncoder::default();
    let mut next = Vec::new();
    let mut seq = 0;
    let mut last_ts = 0;
    loop {
        if seq < DISTINCT {
            next.clear();
            let events = chunk(seq);
            enc.put_events(&mut next, 1, seq, &events, &[]);
            last_ts = events.last().map_or(0, RawEvent::ts_ns);
        } else {
            next.truncate(next.len() - if rounds { format::RECORD_HEADER_LEN + format::ROUND_FIELDS_LEN } else { 0 });
            let fields = format::RECORD_HEADER_LEN;
            next[fields + 8..fields + 16].copy_from_slice(&seq.to_le_bytes());
            let mut h = crc32fast::Hasher::new();
            h.update(&next[..12]);
            h.update(&next[fields..fields + format::EVENTS_FIELDS_LEN]);
            next[12..16].copy_from_slice(&h.finalize().to_le_bytes());
        }
        if rounds {
            format::put_round(&mut next, seq, last_ts + 1);
        }
        if out.len() + next.len() + 64 > MAX_FILE {
            return seq;
        }
        out.extend_from_slice(&next);
        seq += 1;
    }
}

const BASE: usize = 0x1000_0000;
/// Chunks encoded one by one before [`fill`] repeats the last.
const DISTINCT: u64 = 64;
const PER_CHUNK: u64 = format::MAX_CHUNK_EVENTS as u64;

/// Distinct live allocations, 16 bytes apart, one nanosecond apart.
fn live_chunk(seq: u64) -> Vec<RawEvent> {
    (0..PER_CHUNK)
        .map(|i| {
            let n = seq * PER_CHUNK + i;
            RawEvent::alloc(n + 1, BASE + n as usize * 16, 16, 8, false, 0)
        })
        .collect()
}

fn files() -> Vec<(&'static str, Vec<u8>)> {
    let mut files = Vec::new();

    // One chunk claiming as many allocations as 16 MiB of payload holds.
    let mut f = header();
    let n = (format::MAX_BODY_LEN as usize / 5) as u64;
    let events: Vec<RawEvent> = (0..n).map(|i| RawEvent::alloc(i + 1, BASE + i as usize * 16, 16, 8, false, 0)).collect();
    ChunkEncoder::default().put_events(&mut f, 1, 0, &events, &[]);
    files.push(("one_huge_chunk", f));

    let mut f = header();
    fill(&mut f, true, live_chunk);
    files.push(("live_with_rounds", f));

    let mut f = header();
    fill(&mut f, false, live_chunk);
    files.push(("live_without_rounds", f));

    // Every allocation at one address: all but the first wait for it to be freed.
    let mut f = header();
    fill(&mut f, true, |seq| (0..PER_CHUNK).map(|i| RawEvent::alloc(seq * PER_CHUNK + i + 1, BASE, 16, 8, false, 0)).collect());
    files.push(("one_address", f));

    let mut f = header();
    fill(&mut f, true, churn_chunk);
    files.push(("churn", f));

    // Deallocations of addresses never allocated (pre-recording).
    let mut f = header();
    fill(&mut f, true, |seq| {
        (0..PER_CHUNK).map(|i| RawEvent::dealloc(seq * PER_CHUNK + i + 1, BASE + ((seq * PER_CHUNK + i) as usize) * 16, 16, 8)).collect()
    });
    files.push(("unknown_frees", f));

    // Stack records with as many nodes as fit, then live allocations each
    // at a different site.
    let mut f = header();
    let nodes: Vec<StackNode> = (0..format::MAX_STACK_NODES as u64).map(|i| StackNode { parent: 0, address: 0x40_0000 + i }).collect();
    let mut node_count = 0u32;
    while f.len() < MAX_FILE / 2 {
        format::put_stack_nodes(&mut f, node_count + 1, &nodes);
        node_count += nodes.len() as u32;
    }
    let mut enc = ChunkEncoder::default();
    let mut seq = 0u64;
    loop {
        let events: Vec<RawEvent> = (0..PER_CHUNK)
            .map(|i| {
                let n = seq * PER_CHUNK + i;
                RawEvent::alloc(n + 1, BASE + n as usize * 16, 16, 8, false, 0)
            })
            .collect();
        let stacks: Vec<u32> = (0..PER_CHUNK).map(|i| 1 + ((seq * PER_CHUNK + i) % u64::from(node_count)) as u32).collect();
        let mut next = Vec::new();
        enc.put_events(&mut next, 1, seq, &events, &stacks);
        format::put_round(&mut next, seq, (seq + 1) * PER_CHUNK + 1);
        if f.len() + next.len() + 64 > MAX_FILE {
            break;
        }
        f.extend_from_slice(&next);
        seq += 1;
    }
    files.push(("many_sites", f));

    // Live allocations and churn padded with incompressible Text records to
    // stay just under replay's limits (FORMAT.md, "Limits") to the end of
    // the file: the most work and memory a file under 1 MB can ask for.
    // The limits' floors are used up first, without padding.
    use memscope::replay::{MAX_EVENTS_FLOOR, MAX_EVENTS_PER_BYTE, MAX_LIVE_FLOOR, MAX_LIVE_PER_BYTE};
    let mut f = header();
    fill_padded(&mut f, MAX_LIVE_FLOOR / PER_CHUNK - 1, PER_CHUNK as usize / MAX_LIVE_PER_BYTE as usize + 1024, live_chunk);
    files.push(("live_at_the_limit", f));
    let mut f = header();
    fill_padded(&mut f, MAX_EVENTS_FLOOR / PER_CHUNK - 1, PER_CHUNK as usize / MAX_EVENTS_PER_BYTE as usize + 1024, churn_chunk);
    files.push(("churn_at_the_limit", f));
    files
}

/// As [`fill`] with rounds, with a Text record of `pad` random bytes after
/// each chunk but the first `unpadded`.
fn fill_padded(out: &mut Vec<u8>, unpadded: u64, pad: usize, mut chunk: impl FnMut(u64) -> Vec<RawEvent>) {
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut enc = ChunkEncoder::default();
    let mut seq = 0u64;
    loop {
        let mut next = Vec::new();
        let events = chunk(seq);
        enc.put_events(&mut next, 1, seq, &events, &[]);
        format::put_round(&mut next, seq, events.last().map_or(0, RawEvent::ts_ns) + 1);
        let pad = if seq < unpadded { 0 } else { pad };
        let text: String = (0..pad)
            .map(|_| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                char::from(b'!' + (rng % 90) as u8)
            })
            .collect();
        format::put_text(&mut next, seq + 1, &text);
        if out.len() + next.len() + 64 > MAX_FILE {
            return;
        }
        out.extend_from_slice(&next);
        seq += 1;
    }
}

/// Allocation and deallocation of one address in turn (compact forms).
fn churn_chunk(seq: u64) -> Vec<RawEvent> {
    (0..PER_CHUNK)
        .map(|i| {
            let ts = seq * PER_CHUNK + i + 1;
            if i % 2 == 0 {
                RawEvent::alloc(ts, BASE, 16, 8, false, 0)
            } else {
                RawEvent::dealloc(ts, BASE, 16, 8)
            }
        })
        .collect()
}

/// The process's peak resident memory, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM");
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

/// In the child process: replays the file named by MEMSCOPE_HOSTILE_CHILD
/// and prints its figures, peak memory being this fresh process's own.
fn child(path: &str) {
    let start = Instant::now();
    let r = memscope::replay::replay_file(path.as_ref()).expect("the header is intact");
    let took = start.elapsed();
    let first = r.damage.first().map(|d| d.kind.to_string()).unwrap_or_default();
    println!(
        "HOSTILE {} {} {} {} {} {}",
        r.summary.events,
        r.summary.live_count,
        r.damage_count,
        peak_rss(),
        took.as_nanos(),
        first.replace(' ', "_")
    );
}

#[test]
fn no_file_under_1_mb_makes_replay_use_more_than_200_mb_or_10_s() {
    if let Ok(path) = std::env::var("MEMSCOPE_HOSTILE_CHILD") {
        return child(&path);
    }
    let dir = std::env::temp_dir().join(format!("memscope-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let keep = std::env::var_os("MEMSCOPE_HOSTILE_DIR");
    let files = files();
    let mut report = Vec::new();
    let only = std::env::var("MEMSCOPE_HOSTILE_ONLY").ok();
    for (name, bytes) in &files {
        if let Some(dir) = &keep {
            std::fs::write(std::path::Path::new(dir).join(format!("{name}.memscope")), bytes).unwrap();
        }
        if only.as_deref().is_some_and(|o| !o.split(',').any(|o| o == *name)) {
            continue;
        }
        assert!(bytes.len() < MAX_FILE, "{name}: {} bytes", bytes.len());
        // Each file in a fresh process (this test binary again), so that its
        // peak memory is the replay's alone.
        let path = dir.join(format!("{name}.memscope"));
        std::fs::write(&path, bytes).unwrap();
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "no_file_under_1_mb_makes_replay_use_more_than_200_mb_or_10_s", "--nocapture", "--test-threads=1"])
            .env("MEMSCOPE_HOSTILE_CHILD", &path)
            .output()
            .expect("run the child");
        let _ = std::fs::remove_file(&path);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name}: the replay failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        let line =
            stdout.lines().find_map(|l| l.split_once("HOSTILE ").map(|(_, f)| f)).unwrap_or_else(|| panic!("{name}: no figures: {stdout}"));
        let f: Vec<&str> = line.split(' ').collect();
        let num = |i: usize| f[i].parse::<u64>().unwrap();
        let (events, live, damage, rss, took) = (num(0), num(1), num(2), num(3), Duration::from_nanos(num(4)));
        let first_damage = f.get(5).map(|d| d.replace('_', " ")).unwrap_or_default();
        report.push(format!(
            "{name}: {} bytes, {events} events, {live} live at the end, damage {damage}, {} MB peak, {:.2} s {first_damage}",
            bytes.len(),
            rss >> 20,
            took.as_secs_f64()
        ));
        eprintln!("{}", report.last().unwrap());
        assert!(rss <= MAX_RSS_BYTES, "{name}: replay used {} MB", rss >> 20);
        // Time is the budget of an optimised build (as users run the CLI):
        // `cargo test --release --test hostile_files`.
        if !cfg!(debug_assertions) {
            assert!(took <= MAX_TIME, "{name}: replay took {took:?}");
        }
        if *name == "one_huge_chunk" {
            assert_eq!(damage, 1);
            let want = DamageKind::TooManyEvents { count: format::MAX_BODY_LEN / 5, max: format::MAX_CHUNK_EVENTS };
            assert_eq!(first_damage, want.to_string());
        }
    }
}
