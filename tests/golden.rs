//! Golden files: a committed recording of each format version must keep
//! decoding to the same records, and today's encoder must keep producing the
//! same bytes for the current version (FORMAT.md: a layout change bumps the
//! version). Regenerate with `MEMSCOPE_BLESS=1 cargo test --test golden`
//! only together with a version bump.

use memscope::format::{self, ChunkEncoder, Event, OnFull, RawEvent, Reader, Record, SegmentHeader};

const GOLDEN_V1: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/v1.memscope");

fn name(s: &str) -> [u8; 16] {
    let mut n = [0u8; 16];
    n[..s.len()].copy_from_slice(s.as_bytes());
    n
}

/// The content of the version-1 golden file: every event kind, two threads,
/// one reallocation of each form, each compact payload form (a free of the
/// chunk's last allocation, an allocation at the last freed address), a Lost
/// event, a Round and an End.
fn v1_records() -> (SegmentHeader, Vec<(u32, Vec<RawEvent>)>) {
    let header = SegmentHeader {
        version: 1,
        start_unix_ns: 1_763_700_000_000_000_000,
        start_monotonic_ns: 123_456_789,
        pid: 4242,
        ring_capacity: 8192,
        on_full: OnFull::Drop,
    };
    let t1 = vec![
        RawEvent::thread_start(10, 5001, name("main")),
        RawEvent::alloc(20, 0x5555_0000_1000, 48, 8, false),
        RawEvent::alloc(25, 0x5555_0000_2000, 4096, 4096, true),
        RawEvent::realloc(30, 0x5555_0000_1000, 48, 0x5555_0000_3000, 96),
        RawEvent::realloc(31, 0x5555_0000_3000, 96, 0x5555_0000_3000, 1 << 33),
        RawEvent::dealloc(40, 0x5555_0000_2000, 4096, 4096),
        RawEvent::alloc(45, 0x5555_0000_2000, 64, 16, false),
    ];
    let t2 = vec![
        RawEvent::thread_start(12, 5002, name("worker-with-a-lo")),
        RawEvent::alloc(22, 0x7f00_0000_0010, 24, 8, false),
        RawEvent::dealloc(41, 0x5555_0000_3000, 1 << 33, 8),
        RawEvent::thread_exit(50),
        RawEvent::lost(50, 7),
    ];
    (header, vec![(1, t1), (2, t2)])
}

fn encode_v1() -> Vec<u8> {
    let (header, chunks) = v1_records();
    let mut out = header.encode().to_vec();
    let mut enc = ChunkEncoder::default();
    for (seq, (thread, events)) in chunks.iter().enumerate() {
        enc.put_events(&mut out, *thread, seq as u64, events);
    }
    format::put_round(&mut out, 0, 35);
    format::put_end(&mut out, 11, 7, 60);
    out
}

#[test]
fn golden_v1_decodes_and_encoder_is_stable() {
    let fresh = encode_v1();
    if std::env::var_os("MEMSCOPE_BLESS").is_some() {
        std::fs::write(GOLDEN_V1, &fresh).unwrap();
    }
    let golden = std::fs::read(GOLDEN_V1).expect("tests/golden/v1.memscope is committed");
    assert_eq!(fresh, golden, "the encoder's bytes changed: that is a format change (bump VERSION, add a golden file)");

    let (header, chunks) = v1_records();
    let mut reader = Reader::new(&golden[..]).unwrap();
    assert_eq!(*reader.header(), header);
    let mut records = Vec::new();
    while let Some(item) = reader.next_record().unwrap() {
        records.push(item.expect("golden file has no damage"));
    }
    assert_eq!(records.len(), 4);
    for (i, (thread, events)) in chunks.iter().enumerate() {
        let Record::Events(chunk) = &records[i] else { panic!("record {i} is not a chunk") };
        assert_eq!((chunk.thread, chunk.sequence), (*thread, i as u64));
        let expected: Vec<Event> = events.iter().map(|e| e.decode().unwrap()).collect();
        assert_eq!(chunk.events, expected);
    }
    assert_eq!(records[2], Record::Round { round: 0, watermark_ns: 35 });
    assert_eq!(records[3], Record::End { events_written: 11, events_lost: 7, end_ns: 60 });
    // Spot-check decoded values against FORMAT.md's tables, independent of the encoder.
    let Record::Events(c) = &records[0] else { unreachable!() };
    assert_eq!(
        c.events[3],
        Event::Realloc { ts_ns: 30, old_ptr: 0x5555_0000_1000, new_ptr: 0x5555_0000_3000, old_size: Some(48), new_size: 96 }
    );
    assert_eq!(
        c.events[4],
        Event::Realloc { ts_ns: 31, old_ptr: 0x5555_0000_3000, new_ptr: 0x5555_0000_3000, old_size: None, new_size: 1 << 33 }
    );
    assert_eq!(&golden[0..8], b"MEMSCOPE");
    assert_eq!(u32::from_le_bytes(golden[8..12].try_into().unwrap()), 1);
    assert_eq!(&golden[48..52], b"MSrc");
}
