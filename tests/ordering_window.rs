//! Issue 9, item 7: a healthy recording needs no ordering repair, even when
//! one round holds more events than replay's initial window (131,072): a
//! drainer slowed by busy threads writes such rounds (the main job's own
//! recording showed 2 late events from it). The window grows with the bytes
//! read (FORMAT.md, "Limits"), so a round of a genuine file is buffered
//! whole and merged exactly.

use memscope::format::{self, ChunkEncoder, OnFull, RawEvent, SegmentHeader, MAX_CHUNK_EVENTS, VERSION};
use memscope::replay::Replay;

/// `n` allocations of thread-specific parity (`odd`): timestamps interleave
/// with the other thread's; sizes and address steps vary so that the
/// payload compresses as a real one does (bytes read make the window grow).
fn allocations(n: u64, odd: bool, seed: u64) -> Vec<RawEvent> {
    let mut x = seed;
    let mut addr = if odd { 0x7000_0000_0000 } else { 0x5000_0000_0000 };
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            addr += 16 + (x % 4096) * 16;
            RawEvent::alloc(1_000 + 2 * i + u64::from(odd), addr as usize, 1 + (x >> 20) as usize % 100_000, 8, false, 0)
        })
        .collect()
}

#[test]
fn a_round_larger_than_the_initial_window_replays_with_no_repair() {
    let header =
        SegmentHeader { version: VERSION, start_unix_ns: 1, start_monotonic_ns: 1, pid: 7, ring_capacity: 8192, on_full: OnFull::Block };
    let mut out = header.encode().to_vec();
    let mut enc = ChunkEncoder::default();
    let n = 140_000;
    let mut sequence = 0;
    for (thread, odd, seed) in [(1, false, 0x9E37_79B9_7F4A_7C15), (2, true, 0xD1B5_4A32_D192_ED03)] {
        let mut events = vec![RawEvent::thread_start(900 + u64::from(thread), 100 + u64::from(thread), [0; 16])];
        events.extend(allocations(n, odd, seed));
        for part in events.chunks(MAX_CHUNK_EVENTS as usize) {
            enc.put_events(&mut out, thread, sequence, part, &vec![0; part.len()]);
            sequence += 1;
        }
    }
    // One round: thread 1's events (more than 131,072) arrive before thread
    // 2's, which interleave with them in time.
    format::put_round(&mut out, 0, 1_000 + 2 * n + 10);
    format::put_end(&mut out, 2 * (n + 1), 0, 1_000 + 2 * n + 20, 0);
    assert!(out.len() < 8 << 20, "{} bytes", out.len());

    let r = Replay::from_reader(&out[..], "window.memscope".as_ref()).expect("replays");
    let s = &r.summary;
    assert_eq!(r.damage_count, 0, "{:?}", r.damage);
    assert_eq!(s.total_allocations, 2 * n);
    assert_eq!((s.late_events, s.address_conflicts, s.size_mismatches), (0, 0, 0), "{s:?}");
}
