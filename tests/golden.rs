//! Golden files: a committed recording of each format version must keep
//! decoding to the same records, and today's encoder must keep producing the
//! same bytes for the current version (FORMAT.md: a layout change bumps the
//! version). Regenerate the current version's files (`v8.memscope`,
//! `v8-segment.memscope`) with
//! `MEMSCOPE_BLESS=1 cargo test --test golden` only together with a version
//! bump; older versions' files are never rewritten (the encoder writes only
//! the current version).

use memscope::format::event::*;
use memscope::format::stacks::{ModuleRecord, StackNode, MARK_ENDED_EARLY, MARK_TABLE_FULL, MARK_TRUNCATED};
use memscope::format::{self, ChunkEncoder, Event, OnFull, RawEvent, Reader, Record, SegmentHeader, SiteRecord};

const GOLDEN_V1: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/v1.memscope");
const GOLDEN_V2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/v2.memscope");
const GOLDEN_V3: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/v3.memscope");
const GOLDEN_V4: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/v4.memscope");
const GOLDEN_V5: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/v5.memscope");
const GOLDEN_V6_SEGMENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/v6-segment.memscope");
const GOLDEN_V7: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/v7.memscope");
const GOLDEN_V7_SEGMENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/v7-segment.memscope");
const GOLDEN_V8: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/v8.memscope");
const GOLDEN_V8_SEGMENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/v8-segment.memscope");

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
        RawEvent::alloc(20, 0x5555_0000_1000, 48, 8, false, 0),
        RawEvent::alloc(25, 0x5555_0000_2000, 4096, 4096, true, 0),
        RawEvent::realloc(30, 0x5555_0000_1000, 48, 0x5555_0000_3000, 96),
        RawEvent::realloc(31, 0x5555_0000_3000, 96, 0x5555_0000_3000, 1 << 33),
        RawEvent::dealloc(40, 0x5555_0000_2000, 4096, 4096),
        RawEvent::alloc(45, 0x5555_0000_2000, 64, 16, false, 0),
    ];
    let t2 = vec![
        RawEvent::thread_start(12, 5002, name("worker-with-a-lo")),
        RawEvent::alloc(22, 0x7f00_0000_0010, 24, 8, false, 0),
        RawEvent::dealloc(41, 0x5555_0000_3000, 1 << 33, 8),
        RawEvent::thread_exit(50),
        RawEvent::lost(50, 7),
    ];
    (header, vec![(1, t1), (2, t2)])
}

#[test]
fn golden_v1_decodes() {
    let golden = std::fs::read(GOLDEN_V1).expect("tests/golden/v1.memscope is committed");

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
    assert_eq!(records[3], Record::End { events_written: 11, events_lost: 7, end_ns: 60, flags: 0 });
    // Spot-check decoded values against FORMAT.md's tables, independent of the encoder.
    let Record::Events(c) = &records[0] else { unreachable!() };
    assert_eq!(
        c.events[3],
        Event::Realloc {
            ts_ns: 30,
            old_ptr: 0x5555_0000_1000,
            new_ptr: 0x5555_0000_3000,
            old_size: Some(48),
            new_size: 96,
            stack: 0,
            returned_ns: None
        }
    );
    assert_eq!(
        c.events[4],
        Event::Realloc {
            ts_ns: 31,
            old_ptr: 0x5555_0000_3000,
            new_ptr: 0x5555_0000_3000,
            old_size: None,
            new_size: 1 << 33,
            stack: 0,
            returned_ns: None
        }
    );
    assert_eq!(&golden[0..8], b"MEMSCOPE");
    assert_eq!(u32::from_le_bytes(golden[8..12].try_into().unwrap()), 1);
    assert_eq!(&golden[48..52], b"MSrc");
}

/// The content of the version-2 golden file: version 1's kinds plus every
/// tracking event kind, a `Site` record of each site kind and `Text` records
/// (a type name and a label with non-ASCII and markup in it).
type V2Records = (SegmentHeader, Vec<SiteRecord>, Vec<(u64, &'static str)>, Vec<RawEvent>);

fn v2_records() -> V2Records {
    let header = SegmentHeader {
        version: 2,
        start_unix_ns: 1_763_700_000_000_000_000,
        start_monotonic_ns: 123_456_789,
        pid: 4343,
        ring_capacity: 1024,
        on_full: OnFull::Block,
    };
    let (var, clone, scope, ty, label) =
        (0x5555_0000_9000u64, 0x5555_0000_9040, 0x5555_0000_9080, 0x0014_5555_0000_a000, 0x000b_5555_0000_b000);
    let sites = vec![
        SiteRecord {
            key: var,
            kind: format::SITE_VAR,
            name: "numbers".into(),
            file: "src/main.rs".into(),
            line: 7,
            column: 5,
            type_key: ty,
        },
        SiteRecord {
            key: clone,
            kind: format::SITE_CLONE,
            name: "numbers".into(),
            file: "src/main.rs".into(),
            line: 9,
            column: 16,
            type_key: ty,
        },
        SiteRecord {
            key: scope,
            kind: format::SITE_SCOPE,
            name: "parse </script>".into(),
            file: "src/main.rs".into(),
            line: 5,
            column: 17,
            type_key: 0,
        },
    ];
    let texts = vec![(ty, "alloc::vec::Vec<u64>"), (label, "größe <b>")];
    let events = vec![
        RawEvent::thread_start(10, 5001, name("main")),
        RawEvent::with_kind(KIND_SCOPE_ENTER, 15, scope, 0, 0),
        RawEvent::alloc(20, 0x5555_0000_1000, 80, 8, false, 0),
        RawEvent::with_kind(KIND_VAR, 21, 0x5555_0000_1000, 80, var),
        RawEvent::with_kind(KIND_VAR_MORE, 21, 0, 16, 0),
        RawEvent::with_kind(KIND_VAR_TYPE, 21, ty, 0, 0),
        RawEvent::alloc(22, 0x5555_0000_2000, 80, 8, false, 0),
        RawEvent::with_kind(KIND_VAR, 23, 0x5555_0000_2000, 80, clone),
        RawEvent::with_kind(KIND_SHARED, 23, 2, 1, 0),
        RawEvent::with_kind(KIND_CLONE_OF, 23, 0x5555_0000_1000, 0, 0),
        RawEvent::with_kind(KIND_HANDOFF, 24, 0x5555_0000_2000, 0, label),
        RawEvent::with_kind(KIND_FOREIGN_ALLOC, 25, 0x7f00_0000_0000, 4096, label),
        RawEvent::with_kind(KIND_FOREIGN_FREE, 26, 0x7f00_0000_0000, 0, 0),
        RawEvent::dealloc(27, 0x5555_0000_1000, 80, 8),
        RawEvent::with_kind(KIND_SCOPE_EXIT, 28, scope, 1, 0),
    ];
    (header, sites, texts, events)
}

#[test]
fn golden_v2_decodes() {
    let golden = std::fs::read(GOLDEN_V2).expect("tests/golden/v2.memscope is committed");

    let (header, sites, texts, events) = v2_records();
    let mut reader = Reader::new(&golden[..]).unwrap();
    assert_eq!(*reader.header(), header);
    let mut records = Vec::new();
    while let Some(item) = reader.next_record().unwrap() {
        records.push(item.expect("golden file has no damage"));
    }
    assert_eq!(records.len(), sites.len() + texts.len() + 3);
    for (i, s) in sites.iter().enumerate() {
        assert_eq!(records[i], Record::Site(s.clone()));
    }
    for (i, (key, text)) in texts.iter().enumerate() {
        assert_eq!(records[sites.len() + i], Record::Text { key: *key, text: (*text).to_owned() });
    }
    let Record::Events(chunk) = &records[sites.len() + texts.len()] else { panic!("expected the chunk") };
    let expected: Vec<Event> = events.iter().map(|e| e.decode().unwrap()).collect();
    assert_eq!(chunk.events, expected);
    // Spot-check against FORMAT.md's tables, independent of the encoder.
    assert_eq!(chunk.events[3], Event::Var { ts_ns: 21, ptr: 0x5555_0000_1000, size: 80, site: 0x5555_0000_9000 });
    assert_eq!(chunk.events[14], Event::ScopeExit { ts_ns: 28, site: 0x5555_0000_9080, unwinding: true });
    assert_eq!(u32::from_le_bytes(golden[8..12].try_into().unwrap()), 2);

    // And it replays: names, link, clone, handoff, foreign region, scope.
    let replay = memscope::replay::Replay::from_reader(&golden[..], "v2.memscope".as_ref()).unwrap();
    let v = &replay.variables;
    assert_eq!(v.len(), 2);
    assert_eq!((v[0].name.as_str(), v[0].type_name.as_str(), v[0].state), ("numbers", "alloc::vec::Vec<u64>", "freed"));
    assert_eq!((v[0].freed_at_ns, v[0].lifetime_ns, v[0].scope), (Some(27), Some(7), Some(0)));
    assert_eq!((v[1].origin, v[1].clone_of, v[1].strong, v[1].weak), ("clone", Some(0), Some(2), Some(1)));
    assert_eq!(v[1].handoffs[0].label, "größe <b>");
    assert_eq!(replay.foreign[0].label, "größe <b>");
    assert_eq!((replay.foreign[0].size, replay.foreign[0].state), (4096, "released"));
    let s = &replay.scopes[0];
    assert_eq!((s.name.as_str(), s.entries, s.unwound, s.allocations, s.allocated_bytes), ("parse </script>", 1, 1, 2, 160));
    assert_eq!((s.deallocations, s.live_bytes, s.peak_live_bytes, s.total_duration_ns), (1, 80, 160, 13));
}

/// The content of the version-3 golden file: the module map (an executable
/// and a library, one without a build id), the stack tree (two stacks
/// sharing their outer frames, a stack cut at the depth cap, one that ended
/// at a broken link, and the table-full marker), and allocations, a zeroed
/// allocation and both reallocation forms carrying stack ids, next to a
/// deallocation (which carries none).
type V3Records = (SegmentHeader, Vec<ModuleRecord>, Vec<StackNode>, Vec<RawEvent>, Vec<u32>);

fn v3_records() -> V3Records {
    let header = SegmentHeader {
        version: 3,
        start_unix_ns: 1_763_700_000_000_000_000,
        start_monotonic_ns: 123_456_789,
        pid: 4444,
        ring_capacity: 8192,
        on_full: OnFull::Block,
    };
    let modules = vec![
        ModuleRecord {
            load_bias: 0x5555_0000_0000,
            start: 0x5555_0000_0000,
            end: 0x5555_0010_0000,
            build_id: vec![0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
            path: "/usr/bin/myapp".into(),
        },
        ModuleRecord {
            load_bias: 0x7f00_0000_0000,
            start: 0x7f00_0000_0000,
            end: 0x7f00_0020_0000,
            build_id: vec![],
            path: "/lib/libü.so".into(),
        },
    ];
    let nodes = vec![
        StackNode { parent: 0, address: 0x5555_0000_1100 }, // 1: main
        StackNode { parent: 1, address: 0x5555_0000_2200 }, // 2: main → parse
        StackNode { parent: 2, address: 0x5555_0000_3300 }, // 3: main → parse → read (a stack)
        StackNode { parent: 2, address: 0x5555_0000_4400 }, // 4: main → parse → grow (a stack)
        StackNode { parent: 0, address: MARK_TRUNCATED },   // 5: cut at the depth cap
        StackNode { parent: 5, address: 0x7f00_0000_0500 }, // 6: … → libü (a stack)
        StackNode { parent: 0, address: MARK_ENDED_EARLY }, // 7: ended at a broken link
        StackNode { parent: 7, address: 0x5555_0000_3300 }, // 8 (a stack)
        StackNode { parent: 0, address: MARK_TABLE_FULL },  // 9: not captured
    ];
    let events = vec![
        RawEvent::thread_start(10, 5001, name("main")),
        RawEvent::alloc(20, 0x5555_1000_1000, 48, 8, false, 0),
        RawEvent::alloc(21, 0x5555_1000_2000, 4096, 4096, true, 0),
        RawEvent::realloc(30, 0x5555_1000_1000, 48, 0x5555_1000_3000, 96),
        RawEvent::realloc(31, 0x5555_1000_3000, 96, 0x5555_1000_3000, 1 << 33),
        RawEvent::dealloc(40, 0x5555_1000_2000, 4096, 4096),
        RawEvent::alloc(45, 0x5555_1000_2000, 64, 16, false, 0),
        RawEvent::alloc(46, 0x5555_1000_4000, 8, 8, false, 0),
        RawEvent::alloc(47, 0x5555_1000_5000, 8, 8, false, 0),
        RawEvent::alloc(48, 0x5555_1000_6000, 8, 8, false, 0),
    ];
    // The file's stack id of each event (the ring carries its own ids).
    let stacks = vec![0, 3, 3, 4, 4, 0, 6, 8, 9, 0];
    (header, modules, nodes, events, stacks)
}

/// Version 3 is decode-only since version 4 (the encoder writes the
/// current version's payload): the committed file keeps decoding to
/// `v3_records`.
#[test]
fn golden_v3_decodes() {
    let golden = std::fs::read(GOLDEN_V3).expect("tests/golden/v3.memscope is committed");

    let (header, modules, nodes, events, stacks) = v3_records();
    let mut reader = Reader::new(&golden[..]).unwrap();
    assert_eq!(*reader.header(), header);
    let mut records = Vec::new();
    while let Some(item) = reader.next_record().unwrap() {
        records.push(item.expect("golden file has no damage"));
    }
    assert_eq!(records.len(), modules.len() + 2 + 3);
    for (i, m) in modules.iter().enumerate() {
        assert_eq!(records[i], Record::Module(m.clone()));
    }
    assert_eq!(records[2], Record::Stack { first_id: 1, nodes: nodes[..4].to_vec() });
    assert_eq!(records[3], Record::Stack { first_id: 5, nodes: nodes[4..].to_vec() });
    let Record::Events(chunk) = &records[4] else { panic!("expected the chunk") };
    let got: Vec<u32> = chunk.events.iter().map(Event::stack).collect();
    assert_eq!(got, stacks);
    assert_eq!(chunk.events.len(), events.len());
    for (got, raw) in chunk.events.iter().zip(&events) {
        assert_eq!(got.ts_ns(), raw.ts_ns());
    }
    // Spot-check against FORMAT.md's tables, independent of the encoder.
    assert_eq!(chunk.events[2], Event::Alloc { ts_ns: 21, ptr: 0x5555_1000_2000, size: 4096, align: 4096, zeroed: true, stack: 3 });
    assert_eq!(
        chunk.events[4],
        Event::Realloc {
            ts_ns: 31,
            old_ptr: 0x5555_1000_3000,
            new_ptr: 0x5555_1000_3000,
            old_size: None,
            new_size: 1 << 33,
            stack: 4,
            returned_ns: None
        }
    );
    assert_eq!(u32::from_le_bytes(golden[8..12].try_into().unwrap()), 3);

    // And it replays: per-site figures and the counters of stacks not captured.
    let replay = memscope::replay::Replay::from_reader(&golden[..], "v3.memscope".as_ref()).unwrap();
    let st = &replay.stacks;
    assert!(st.recorded);
    assert_eq!((st.nodes.len(), st.modules.len(), st.table_full_allocations, st.unknown_stack_allocations), (9, 2, 1, 0));
    assert_eq!(st.frames(3), vec![0x5555_0000_3300, 0x5555_0000_2200, 0x5555_0000_1100]);
    let site = |id: u32| st.sites.iter().find(|s| s.stack == id).unwrap_or_else(|| panic!("site {id}"));
    // Stack 3: the 4096-byte zeroed allocation (freed) and the 48 bytes that
    // the reallocation moved to stack 4.
    let s3 = site(3);
    assert_eq!((s3.allocations, s3.allocated_bytes, s3.deallocations, s3.deallocated_bytes, s3.live_bytes_end), (2, 4144, 1, 4144, 0));
    assert_eq!((s3.max_live_bytes, s3.total_lifetime_ns), (4144, 19));
    // Stack 4: two reallocations, 96 then 8 GiB bytes in place.
    let s4 = site(4);
    assert_eq!(
        (s4.allocations, s4.reallocations, s4.allocated_bytes, s4.deallocated_bytes, s4.live_bytes_end),
        (0, 2, 96 + (1 << 33), 96, 1 << 33)
    );
    assert_eq!((s4.peak_bytes, s4.peak_count), (1 << 33, 1));
    assert_eq!(site(9).live_bytes_end, 8);
}

/// A damaged Stack or Module record costs the stacks (or names) it holds,
/// never the rest: totals stay those of the intact file, the allocations
/// whose stacks were in it count as unknown, and the damage is reported.
#[test]
fn damaged_stack_and_module_records_leave_the_rest_replayable() {
    let golden = std::fs::read(GOLDEN_V3).expect("tests/golden/v3.memscope is committed");
    let intact = memscope::replay::Replay::from_reader(&golden[..], "v3.memscope".as_ref()).unwrap();
    // Find the records by walking the file.
    let mut reader = Reader::new(&golden[..]).unwrap();
    let mut offsets = Vec::new();
    loop {
        let at = reader.offset();
        match reader.next_record().unwrap() {
            Some(Ok(r)) => offsets.push((at, r)),
            Some(Err(d)) => panic!("{d}"),
            None => break,
        }
    }
    let first_stack = offsets.iter().find(|(_, r)| matches!(r, Record::Stack { .. })).unwrap().0 as usize;
    let first_module = offsets.iter().find(|(_, r)| matches!(r, Record::Module(_))).unwrap().0 as usize;
    for (what, at) in [("stack", first_stack), ("module", first_module)] {
        let mut bad = golden.clone();
        // The last byte of the record's fixed part + 1: inside its body.
        let body = at + format::RECORD_HEADER_LEN + if what == "stack" { format::STACK_FIELDS_LEN } else { format::MODULE_FIELDS_LEN };
        bad[body] ^= 0xFF;
        let r = memscope::replay::Replay::from_reader(&bad[..], "bad.memscope".as_ref()).unwrap();
        assert_eq!(r.damage_count, 1, "{what}: the damage is reported");
        assert_eq!(r.summary.total_allocations, intact.summary.total_allocations, "{what}");
        assert_eq!(r.summary.total_allocated_bytes, intact.summary.total_allocated_bytes, "{what}");
        assert_eq!(r.summary.live_bytes, intact.summary.live_bytes, "{what}");
        let site_bytes: u64 = r.stacks.sites.iter().map(|s| s.allocated_bytes).sum();
        assert_eq!(site_bytes, r.summary.total_allocated_bytes, "{what}: every byte is in some site");
        if what == "stack" {
            // Nodes 1–4 are gone, and the record of 5–9 no longer continues the tree.
            assert_eq!(r.stacks.records_out_of_order, 1);
            assert_eq!(r.stacks.unknown_stack_allocations, 7, "every allocation and reallocation that had a stack");
        } else {
            assert_eq!(r.stacks.modules.len(), 1);
            assert_eq!(r.stacks.unknown_stack_allocations, 0);
        }
    }
}

/// The content of the version-4 golden file: version 3's (module map,
/// stack tree, events with stack ids), with a reallocation that moved
/// carrying its return stamp, one that moved with a return stamp equal to
/// its first stamp, and one in place (no return stamp); closed by an End
/// record with flags (the recording ended at process exit).
type V4Records = (SegmentHeader, Vec<ModuleRecord>, Vec<StackNode>, Vec<RawEvent>, Vec<u32>, Vec<u64>);

fn v4_records() -> V4Records {
    let (header, modules, nodes, mut events, mut stacks) = v3_records();
    let header = SegmentHeader { version: 4, pid: 4545, ..header };
    events.push(RawEvent::realloc(50, 0x5555_1000_4000, 8, 0x5555_1000_7000, 4000));
    events.push(RawEvent::realloc(60, 0x5555_1000_7000, 4000, 0x5555_1000_8000, 9000));
    stacks.extend([4, 3]);
    // Event 3 moved during [30, 31] (and event 4, stamped at 31 too, resizes
    // its result in place: push order holds at equal timestamps); event 10
    // moved during [50, 57]; event 11 returned within its first nanosecond.
    let mut returned = vec![0; events.len()];
    (returned[3], returned[10], returned[11]) = (31, 57, 60);
    (header, modules, nodes, events, stacks, returned)
}

/// The last Events record of a golden file, after checking its header.
fn header_and_last_chunk(golden: &[u8], header: &SegmentHeader) -> memscope::format::EventChunk {
    let mut reader = Reader::new(golden).unwrap();
    assert_eq!(reader.header(), header);
    let mut chunk = None;
    while let Some(item) = reader.next_record().unwrap() {
        if let Record::Events(c) = item.expect("golden file has no damage") {
            chunk = Some(c);
        }
    }
    chunk.expect("the chunk")
}

/// Version 4 is decode-only since version 5 (the encoder writes the
/// current version's payload): the committed file keeps decoding to
/// `v4_records`.
#[test]
fn golden_v4_decodes() {
    let golden = std::fs::read(GOLDEN_V4).expect("tests/golden/v4.memscope is committed");
    assert_eq!(u32::from_le_bytes(golden[8..12].try_into().unwrap()), 4);
    // FORMAT.md, End record: 32 bytes of fields, the flags at offset 24.
    let end = golden.len() - (16 + 32);
    assert_eq!(&golden[end..end + 4], b"MSrc");
    assert_eq!((golden[end + 4], u16::from_le_bytes([golden[end + 6], golden[end + 7]])), (3, 32));
    assert_eq!(u64::from_le_bytes(golden[end + 16 + 24..].try_into().unwrap()), 1);
    let mut reader = Reader::new(&golden[..]).unwrap();
    let mut last = None;
    while let Some(item) = reader.next_record().unwrap() {
        last = Some(item.expect("golden file has no damage"));
    }
    assert_eq!(last, Some(Record::End { events_written: 12, events_lost: 0, end_ns: 80, flags: format::END_AT_EXIT }));
    let replay = memscope::replay::Replay::from_reader(&golden[..], "v4.memscope".as_ref()).unwrap();
    let e = replay.end.expect("End");
    assert!(e.ended_at_exit && !e.no_tracking_allocator);
    assert!(replay.live_at_end_is_leak());
    // The older versions' End records carry no flags.
    let v3 = memscope::replay::Replay::from_reader(&std::fs::read(GOLDEN_V3).unwrap()[..], "v3.memscope".as_ref()).unwrap();
    assert!(!v3.end.expect("End").ended_at_exit && !v3.live_at_end_is_leak());

    let (header, _, _, events, stacks, returned) = v4_records();
    let chunk = header_and_last_chunk(&golden, &header);
    assert_eq!(chunk.events.len(), events.len());
    assert_eq!(chunk.events.iter().map(Event::stack).collect::<Vec<_>>(), stacks);
    let got: Vec<u64> =
        chunk.events.iter().map(|e| if let Event::Realloc { returned_ns, .. } = *e { returned_ns.unwrap_or(0) } else { 0 }).collect();
    assert_eq!(got, returned);
    // Spot-check against FORMAT.md's tables, independent of the encoder:
    // the return stamp operand follows the stack operand.
    assert_eq!(
        chunk.events[10],
        Event::Realloc {
            ts_ns: 50,
            old_ptr: 0x5555_1000_4000,
            new_ptr: 0x5555_1000_7000,
            old_size: Some(8),
            new_size: 4000,
            stack: 4,
            returned_ns: Some(57)
        }
    );
    // And it replays with no repair: both halves of each moving reallocation.
    let replay = memscope::replay::Replay::from_reader(&golden[..], "v4.memscope".as_ref()).unwrap();
    let t = &replay.summary;
    assert_eq!((t.address_conflicts, t.reordered_reallocations, t.size_mismatches, t.late_events), (0, 0, 0, 0));
    assert_eq!((t.total_reallocations, t.live_count), (4, 5));
    assert_eq!(t.live_bytes, 64 + (1 << 33) + 8 + 8 + 9000);
}

/// The content of the version-5 golden file: version 4's, and events for
/// the forms version 5 adds (FORMAT.md, "On disk: the chunk payload"): a
/// deallocation of a live allocation that is not the last one, an
/// allocation at the address its size class freed last with a new layout,
/// one with a recent layout, a zeroed one, a tracking event and a
/// ThreadExit.
fn v5_records() -> V4Records {
    let (header, modules, nodes, mut events, mut stacks, mut returned) = v4_records();
    let header = SegmentHeader { version: 5, pid: 5555, ..header };
    let more = [
        (RawEvent::alloc(62, 0x5555_1000_9000, 24, 8, false, 0), 3),
        (RawEvent::alloc(63, 0x5555_1000_9040, 40, 8, false, 0), 3),
        (RawEvent::dealloc(64, 0x5555_1000_9000, 24, 8), 0),
        (RawEvent::alloc(65, 0x5555_1000_9000, 20, 8, false, 0), 4),
        (RawEvent::dealloc(66, 0x5555_1000_9040, 40, 8), 0),
        (RawEvent::alloc(67, 0x5555_1000_9040, 40, 8, true, 0), 3),
        (RawEvent::with_kind(KIND_SCOPE_ENTER, 68, 0x1234, 0, 0), 0),
        (RawEvent::thread_exit(70), 0),
    ];
    for (e, s) in more {
        events.push(e);
        stacks.push(s);
        returned.push(0);
    }
    (header, modules, nodes, events, stacks, returned)
}

/// The Clock records of the version-5 golden file: a 2 GHz TSC (0.5 ns
/// per tick), calibrated from a reading 5 ms before the epoch; the end's
/// reading 90 ns (180 ticks) after it.
fn v5_clocks() -> [format::ClockRecord; 2] {
    let start = format::ClockRecord {
        source: format::CLOCK_TSC,
        at: format::CLOCK_AT_START,
        shift: 32,
        mult: 1 << 31,
        epoch_ticks: 1_000_000_000,
        ticks: 1_000_000_000 - 10_000_000,
        monotonic_ns: 7_000_000_000 - 5_000_000,
    };
    let end = format::ClockRecord { at: format::CLOCK_AT_END, ticks: 1_000_000_180, monotonic_ns: 7_000_000_090, ..start };
    [start, end]
}

// Version 5's file was written (by the encoder of version 5, now gone) as
// `encode_v6` writes version 6's, without the Sampling and Totals records.

/// The version-5 golden file's Clock records, by their bytes (FORMAT.md,
/// "Clock record") and decoded, and the conversion they state.
#[test]
fn golden_v5_clock_records() {
    let golden = std::fs::read(GOLDEN_V5).expect("tests/golden/v5.memscope is committed");
    // Tag 9, 40 bytes of fields, right after the header.
    let at = format::SEGMENT_HEADER_LEN;
    assert_eq!(&golden[at..at + 4], b"MSrc");
    assert_eq!((golden[at + 4], u16::from_le_bytes([golden[at + 6], golden[at + 7]])), (9, 40));
    assert_eq!(&golden[at + 16..at + 19], &[1, 0, 32]);
    let mut reader = Reader::new(&golden[..]).unwrap();
    let mut records = Vec::new();
    while let Some(item) = reader.next_record().unwrap() {
        records.push(item.expect("golden file has no damage"));
    }
    let [start, end] = v5_clocks();
    assert_eq!(records[0], Record::Clock(start));
    assert_eq!(records[records.len() - 2], Record::Clock(end));
    assert_eq!(records.last(), Some(&Record::End { events_written: 20, events_lost: 0, end_ns: 90, flags: format::END_AT_EXIT }));
    // 180 ticks after the epoch are 90 ns, as CLOCK_MONOTONIC saw; the
    // calibration's anchor 5 ms before it.
    assert_eq!(end.ticks_to_ns(end.ticks), 90);
    assert_eq!(end.monotonic_ns - 7_000_000_000, 90);
    assert_eq!(start.ticks_to_ns(start.epoch_ticks + 10_000_000), 5_000_000);
}

/// Version 5 is decode-only since version 6: the encoder now writes 6 in
/// each Events record (FORMAT.md, "Events record").
#[test]
fn golden_v5_decodes() {
    let golden = std::fs::read(GOLDEN_V5).expect("tests/golden/v5.memscope is committed");
    assert_eq!(u32::from_le_bytes(golden[8..12].try_into().unwrap()), 5);
    let (header, _, _, events, stacks, returned) = v5_records();
    let chunk = header_and_last_chunk(&golden, &header);
    // Every event back exactly, with its stack and return stamp.
    // (An allocation's ring form carries the ring's stack id in `c`; the file's is compared below.)
    let no_stack = |e: RawEvent| match e.kind() {
        KIND_ALLOC | KIND_ALLOC_ZEROED => RawEvent { c: e.c & 0xFFFF_FFFF, ..e },
        _ => e,
    };
    let got: Vec<RawEvent> = chunk.events.iter().map(|e| no_stack(e.to_raw())).collect();
    assert_eq!(got, events.iter().copied().map(no_stack).collect::<Vec<_>>());
    assert_eq!(chunk.events.iter().map(Event::stack).collect::<Vec<_>>(), stacks);
    let got: Vec<u64> =
        chunk.events.iter().map(|e| if let Event::Realloc { returned_ns, .. } = *e { returned_ns.unwrap_or(0) } else { 0 }).collect();
    assert_eq!(got, returned);
    assert_eq!(chunk.events[17], Event::Alloc { ts_ns: 67, ptr: 0x5555_1000_9040, size: 40, align: 8, zeroed: true, stack: 3 });
    let replay = memscope::replay::Replay::from_reader(&golden[..], "v5.memscope".as_ref()).unwrap();
    assert_eq!(replay.damage_count, 0);
    let t = &replay.summary;
    assert_eq!((t.address_conflicts, t.reordered_reallocations, t.size_mismatches, t.late_events), (0, 0, 0, 0));
}

/// Version 6 (and 7 and 8, the same records; 8 with three more events):
/// version 5's records as a sampling recording at 64 bytes: a Sampling
/// record after the Clock record, and a Totals record of thread 1 before
/// the Round record. Versions 6 and 7 were written by their encoders as
/// this writes version 8's.
fn encode_v8() -> Vec<u8> {
    let (header, modules, nodes, events, stacks, returned) = v8_records();
    let [start, end] = v5_clocks();
    let mut out = header.encode().to_vec();
    format::put_clock(&mut out, &start);
    format::sampling::put_sampling(&mut out, &V6_SAMPLING);
    for m in &modules {
        format::put_module(&mut out, m);
    }
    format::put_stack_nodes(&mut out, 1, &nodes[..4]);
    format::put_stack_nodes(&mut out, 5, &nodes[4..]);
    ChunkEncoder::default().put_events_returned(&mut out, 1, 0, &events, &stacks, &returned);
    format::sampling::put_totals(&mut out, &V6_TOTALS);
    format::put_round(&mut out, 0, 80);
    format::put_clock(&mut out, &end);
    format::put_end(&mut out, events.len() as u64, 0, 90, format::END_AT_EXIT);
    out
}

/// Version 5's records and, before the ThreadExit, version 8's forms of a
/// reallocation: one of the chunk's live allocations (rank 0) doubled in
/// place; another (rank 1) moved to an address not predicted, to a size
/// not doubled, with a return stamp; the deallocation of the first, now a
/// live allocation of rank 1.
fn v8_records() -> V4Records {
    let (header, modules, nodes, mut events, mut stacks, mut returned) = v5_records();
    let header = SegmentHeader { version: 8, pid: 8888, ..header };
    let exit = events.pop().unwrap();
    let (s, r) = (stacks.pop().unwrap(), returned.pop().unwrap());
    for (e, stack, ret) in [
        (RawEvent::realloc(68, 0x5555_1000_9040, 40, 0x5555_1000_9040, 80), 3, 0),
        (RawEvent::realloc(69, 0x5555_1000_9000, 20, 0x5555_1000_a000, 33), 4, 69),
        (RawEvent::dealloc(69, 0x5555_1000_9040, 80, 8), 0, 0),
        (exit, s, r),
    ] {
        events.push(e);
        stacks.push(stack);
        returned.push(ret);
    }
    (header, modules, nodes, events, stacks, returned)
}

const V6_SAMPLING: format::SamplingRecord = format::SamplingRecord { interval_bytes: 64, seed: 0x0123_4567_89AB_CDEF };
const V6_TOTALS: format::TotalsRecord = format::TotalsRecord {
    thread: 1,
    allocations: 1000,
    deallocations: 900,
    reallocations: 50,
    allocated_bytes: 64_000,
    deallocated_bytes: 60_000,
    untracked_samples: 2,
};

const GOLDEN_V6: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/v6.memscope");

/// Version 7 wrote version 6's records with version 7 in the header and
/// in each Events record: the same replay. Decode-only since version 8.
#[test]
fn golden_v7_decodes() {
    let golden = std::fs::read(GOLDEN_V7).expect("tests/golden/v7.memscope is committed");
    assert_eq!(u32::from_le_bytes(golden[8..12].try_into().unwrap()), 7);
    let v7 = memscope::replay::Replay::from_reader(&golden[..], "v7.memscope".as_ref()).unwrap();
    let v6 = memscope::replay::Replay::from_reader(&std::fs::read(GOLDEN_V6).unwrap()[..], "v6.memscope".as_ref()).unwrap();
    assert_eq!(v7.damage_count, 0);
    assert_eq!((v7.summary, v7.sampling, v7.stacks.sites), (v6.summary, v6.sampling, v6.stacks.sites));
}

/// Version 8 (FORMAT.md, "On disk: the chunk payload"): the encoder's bytes
/// are the committed file's, which decodes to `v8_records` exactly and
/// replays as version 7's file plus its three events.
#[test]
fn golden_v8_decodes_and_encoder_is_stable() {
    let fresh = encode_v8();
    if std::env::var_os("MEMSCOPE_BLESS").is_some() {
        std::fs::write(GOLDEN_V8, &fresh).unwrap();
    }
    let golden = std::fs::read(GOLDEN_V8).expect("tests/golden/v8.memscope is committed");
    assert_eq!(fresh, golden, "the encoder's bytes changed: that is a format change (bump VERSION, add a golden file)");
    assert_eq!(u32::from_le_bytes(golden[8..12].try_into().unwrap()), 8);
    let (header, _, _, events, stacks, returned) = v8_records();
    let chunk = header_and_last_chunk(&golden, &header);
    let no_stack = |e: RawEvent| match e.kind() {
        KIND_ALLOC | KIND_ALLOC_ZEROED => RawEvent { c: e.c & 0xFFFF_FFFF, ..e },
        _ => e,
    };
    let got: Vec<RawEvent> = chunk.events.iter().map(|e| no_stack(e.to_raw())).collect();
    assert_eq!(got, events.iter().copied().map(no_stack).collect::<Vec<_>>());
    assert_eq!(chunk.events.iter().map(Event::stack).collect::<Vec<_>>(), stacks);
    assert_eq!(chunk.events.iter().map(Event::returned_ns).collect::<Vec<_>>(), returned);
    // Spot-check against FORMAT.md, independent of the encoder: the in-place doubling.
    assert_eq!(
        chunk.events[19],
        Event::Realloc {
            ts_ns: 68,
            old_ptr: 0x5555_1000_9040,
            new_ptr: 0x5555_1000_9040,
            old_size: Some(40),
            new_size: 80,
            stack: 3,
            returned_ns: None
        }
    );
    let v8 = memscope::replay::Replay::from_reader(&golden[..], "v8.memscope".as_ref()).unwrap();
    let v7 = memscope::replay::Replay::from_reader(&std::fs::read(GOLDEN_V7).unwrap()[..], "v7.memscope".as_ref()).unwrap();
    assert_eq!(v8.damage_count, 0);
    let (a, b) = (&v8.sampling.as_ref().unwrap().sampled, &v7.sampling.as_ref().unwrap().sampled);
    assert_eq!((a.total_reallocations, a.total_deallocations), (b.total_reallocations + 2, b.total_deallocations + 1));
}

/// Version 6 is decode-only since version 7.
#[test]
fn golden_v6_decodes() {
    let golden = std::fs::read(GOLDEN_V6).expect("tests/golden/v6.memscope is committed");
    assert_eq!(u32::from_le_bytes(golden[8..12].try_into().unwrap()), 6);
    // The Sampling record: tag 10, 16 bytes of fields, after the Clock record.
    let at = format::SEGMENT_HEADER_LEN + format::RECORD_HEADER_LEN + format::CLOCK_FIELDS_LEN;
    assert_eq!(&golden[at..at + 4], b"MSrc");
    assert_eq!((golden[at + 4], u16::from_le_bytes([golden[at + 6], golden[at + 7]])), (10, 16));
    assert_eq!(u64::from_le_bytes(golden[at + 16..at + 24].try_into().unwrap()), 64);
    let mut reader = Reader::new(&golden[..]).unwrap();
    let mut records = Vec::new();
    while let Some(item) = reader.next_record().unwrap() {
        records.push(item.expect("golden file has no damage"));
    }
    assert_eq!(records[1], Record::Sampling(V6_SAMPLING));
    assert!(records.contains(&Record::Totals(V6_TOTALS)));
    let replay = memscope::replay::Replay::from_reader(&golden[..], "v6.memscope".as_ref()).unwrap();
    assert_eq!(replay.damage_count, 0);
    let sampling = replay.sampling.as_ref().expect("a sampling recording");
    assert_eq!(
        (sampling.interval_bytes, sampling.seed, sampling.exact_totals, sampling.untracked_samples),
        (64, V6_SAMPLING.seed, true, 2)
    );
    // The totals are the Totals record's; the samples' own are kept apart.
    let t = &replay.summary;
    assert_eq!((t.total_allocations, t.total_deallocations, t.total_reallocations), (1000, 900, 50));
    assert_eq!((t.total_allocated_bytes, t.total_deallocated_bytes, t.live_bytes, t.live_count), (64_000, 60_000, 4000, 100));
    assert_eq!(sampling.sampled.total_allocations, 10);
    // The peak: the exact bytes live at the round (the Totals record's), at its watermark.
    assert_eq!((t.peak_live_bytes, t.peak_at_ns), (4000, 80));
    // A 24-byte sample at 64 bytes stands for 24 / (1 − e^(−24/64)) = 76.7 bytes.
    let weighted: u64 = replay.stacks.sites.iter().map(|s| s.allocated_bytes).sum();
    assert!(weighted > sampling.sampled.total_allocated_bytes, "{weighted}");
    assert_eq!(format::sampling::sample_bytes_weight(24, 64), 77);
    // The JSON document says the mode and the interval, and which figures are estimates.
    let mut json = Vec::new();
    memscope::export::json(&replay, &mut json).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["sampling"]["mode"], "sampled");
    assert_eq!(v["sampling"]["interval_bytes"], 64);
    assert_eq!(v["sampling"]["sampled"]["total_allocations"], 10);
    assert!(v["sampling"]["estimated"].as_array().is_some_and(|a| a.iter().any(|f| f == "sites[]")));
    // DHAT's command line carries the note (no other field would show in dh_view).
    let profile = memscope::export::profile::Profile::build_unsymbolized(&replay);
    let mut dhat = Vec::new();
    memscope::export::dhat::write(&profile, &mut dhat).unwrap();
    let d: serde_json::Value = serde_json::from_slice(&dhat).unwrap();
    assert!(d["cmd"].as_str().is_some_and(|c| c.contains("sampled every 64 bytes")), "{}", d["cmd"]);
}

/// The version-6 golden file's Segment record: segment 1 of recording
/// 0x1122334455667788, its chunks numbered from 3 and its rounds from 2.
const V6_SEGMENT: format::SegmentRecord =
    format::SegmentRecord { recording_id: 0x1122_3344_5566_7788, index: 1, first_sequence: 3, first_round: 2 };

/// The version-6 golden file's checkpoint: two allocations live when the
/// segment started, made before it (one by thread 2, at a stack of the tree).
fn v6_checkpoint() -> Vec<format::CheckpointEntry> {
    vec![
        format::CheckpointEntry { ptr: 0x5555_2000_0000, size: 4096, thread: 2, ts_ns: 3, stack: 4 },
        format::CheckpointEntry { ptr: 0x5555_2000_2000, size: 100, thread: 1, ts_ns: 5, stack: 0 },
    ]
}

/// Versions 7 and 8: version 5's content as the second segment of a segmented
/// recording (FORMAT.md, "Segments"): Clock, Segment, the tables,
/// Checkpoint, the Checkpoint events of thread 2 (version 7: its start,
/// named, and a variable naming its live allocation), the chunk (sequence
/// 3), Round 2, Clock and an End record whose flag says the recording goes
/// on. Version 6's segment was written as this, without the Checkpoint
/// events record; version 7's as this (with 7 for 8).
fn encode_v8_segment() -> Vec<u8> {
    let (header, modules, nodes, events, stacks, returned) = v5_records();
    let header = SegmentHeader { version: 8, pid: 6666, ..header };
    let [start, end] = v5_clocks();
    let mut out = header.encode().to_vec();
    format::put_clock(&mut out, &start);
    format::put_segment(&mut out, &V6_SEGMENT);
    format::put_stack_nodes(&mut out, 1, &nodes);
    for m in &modules {
        format::put_module(&mut out, m);
    }
    format::put_checkpoint(&mut out, &v6_checkpoint(), &mut Vec::new());
    let mut encoder = ChunkEncoder::default();
    encoder.put_checkpoint_events(&mut out, 2, &v7_checkpoint_events());
    encoder.put_events_returned(&mut out, 1, 3, &events, &stacks, &returned);
    format::put_round(&mut out, 2, 80);
    format::put_clock(&mut out, &end);
    format::put_end(&mut out, events.len() as u64, 0, 90, format::END_CONTINUED);
    out
}

/// The version-7 segment's Checkpoint events of thread 2: its start (named
/// `golden-worker`) and a variable (site key 0x99, no Site record) naming
/// its allocation at 0x5555_2000_0000, live in the checkpoint.
fn v7_checkpoint_events() -> Vec<RawEvent> {
    vec![RawEvent::thread_start(1, 4242, name("golden-worker")), RawEvent::with_kind(KIND_VAR, 4, 0x5555_2000_0000, 4096, 0x99)]
}

#[test]
fn golden_v7_and_v8_segments_decode_and_encoder_is_stable() {
    let fresh = encode_v8_segment();
    if std::env::var_os("MEMSCOPE_BLESS").is_some() {
        std::fs::write(GOLDEN_V8_SEGMENT, &fresh).unwrap();
    }
    let golden = std::fs::read(GOLDEN_V8_SEGMENT).expect("tests/golden/v8-segment.memscope is committed");
    assert_eq!(fresh, golden, "the encoder's bytes changed: that is a format change (bump VERSION, add a golden file)");
    assert_eq!(u32::from_le_bytes(golden[8..12].try_into().unwrap()), 8);
    // Version 7's segment (decode-only since version 8) and version 8's: the same checks.
    let v7 = std::fs::read(GOLDEN_V7_SEGMENT).expect("tests/golden/v7-segment.memscope is committed");
    assert_eq!(u32::from_le_bytes(v7[8..12].try_into().unwrap()), 7);
    for golden in [golden, v7] {
        check_v7_segment(&golden);
    }
}

fn check_v7_segment(golden: &[u8]) {
    let mut reader = Reader::new(golden).unwrap();
    let mut records = Vec::new();
    while let Some(item) = reader.next_record().unwrap() {
        records.push(item.expect("golden file has no damage"));
    }
    // Tag 14 after the Checkpoint: an Events record's layout, sequence 0.
    let i = records.iter().position(|r| matches!(r, Record::CheckpointEvents(_))).expect("a Checkpoint events record");
    assert!(matches!(records[i - 1], Record::Checkpoint(_)));
    let Record::CheckpointEvents(c) = &records[i] else { unreachable!() };
    assert_eq!((c.thread, c.sequence), (2, 0));
    assert_eq!(c.events.iter().map(Event::to_raw).collect::<Vec<_>>(), v7_checkpoint_events());
    // Alone, it names thread 2 and links the variable to its seeded allocation.
    let replay = memscope::replay::Replay::from_reader(golden, "segment.memscope".as_ref()).unwrap();
    assert_eq!(replay.damage_count, 0, "{:?}", replay.damage);
    assert_eq!(replay.segments.seeded_events, 2);
    let t2 = replay.threads.iter().find(|t| t.thread == 2).expect("thread 2");
    assert_eq!((t2.name.as_deref(), t2.os_tid), (Some("golden-worker"), Some(4242)));
    assert_eq!(replay.variables.len(), 1);
    let v = &replay.variables[0];
    assert_eq!((v.state, v.size, v.tracked_at_ns, v.thread), ("live", 4096, 4, 2));
    assert_eq!(v.allocations.iter().map(|a| a.ptr).collect::<Vec<_>>(), vec![0x5555_2000_0000]);
    // The rest is version 6's segment: the same figures.
    let v6 = memscope::replay::Replay::from_reader(&std::fs::read(GOLDEN_V6_SEGMENT).unwrap()[..], "v6-segment.memscope".as_ref()).unwrap();
    assert_eq!(replay.summary.live_bytes, v6.summary.live_bytes);
    assert_eq!(replay.summary.total_allocations, v6.summary.total_allocations);
}

/// Version 6's segment is decode-only since version 7.
#[test]
fn golden_v6_segment_decodes() {
    let golden = std::fs::read(GOLDEN_V6_SEGMENT).expect("tests/golden/v6-segment.memscope is committed");
    assert_eq!(u32::from_le_bytes(golden[8..12].try_into().unwrap()), 6);
    // FORMAT.md, "Segment record": after the Clock record, tag 12, 32 bytes
    // of fields: id, index, first sequence, first round.
    let at = format::SEGMENT_HEADER_LEN + 16 + format::CLOCK_FIELDS_LEN;
    assert_eq!(&golden[at..at + 4], b"MSrc");
    assert_eq!((golden[at + 4], u16::from_le_bytes([golden[at + 6], golden[at + 7]])), (12, 32));
    let f = &golden[at + 16..at + 48];
    assert_eq!(u64::from_le_bytes(f[0..8].try_into().unwrap()), 0x1122_3344_5566_7788);
    assert_eq!((u64::from_le_bytes(f[8..16].try_into().unwrap()), u64::from_le_bytes(f[16..24].try_into().unwrap())), (1, 3));
    let mut reader = Reader::new(&golden[..]).unwrap();
    let mut records = Vec::new();
    while let Some(item) = reader.next_record().unwrap() {
        records.push(item.expect("golden file has no damage: its chunk numbering starts where the Segment record says"));
    }
    assert_eq!(records[1], Record::Segment(V6_SEGMENT));
    let checkpoint = records.iter().find_map(|r| if let Record::Checkpoint(c) = r { Some(c.clone()) } else { None });
    assert_eq!(checkpoint, Some(format::CheckpointRecord { total: 2, entries: v6_checkpoint() }));
    assert_eq!(records.last(), Some(&Record::End { events_written: 20, events_lost: 0, end_ns: 90, flags: format::END_CONTINUED }));
    // Alone, it replays from its checkpoint: both allocations live at the
    // end, with the file's events on top; the history before it is missing.
    let replay = memscope::replay::Replay::from_reader(&golden[..], "v6-segment.memscope".as_ref()).unwrap();
    assert_eq!(replay.damage_count, 0, "{:?}", replay.damage);
    assert!(replay.end.unwrap().continued && replay.segments.history_missing);
    assert_eq!((replay.segments.seeded_allocations, replay.segments.seeded_bytes), (2, 4196));
    let v5 = memscope::replay::Replay::from_reader(&std::fs::read(GOLDEN_V5).unwrap()[..], "v5.memscope".as_ref()).unwrap();
    assert_eq!(replay.summary.live_count, v5.summary.live_count + 2);
    assert_eq!(replay.summary.live_bytes, v5.summary.live_bytes + 4196);
    assert_eq!(replay.summary.prerecording_deallocations, v5.summary.prerecording_deallocations);
}

/// Issue 9.6: a damaged header byte of any version's golden file costs
/// nothing (the header checksum gives it back); a header damaged in many
/// bytes, version included, still replays every record, the version
/// inferred from the first chunk.
#[test]
fn damaged_header_bytes_leave_every_record_replayable() {
    use memscope::format::DamageKind;
    use memscope::replay::Replay;
    for (path, version) in [
        (GOLDEN_V1, 1),
        (GOLDEN_V2, 2),
        (GOLDEN_V3, 3),
        (GOLDEN_V4, 4),
        (GOLDEN_V5, 5),
        (GOLDEN_V6, 6),
        (GOLDEN_V6_SEGMENT, 6),
        (GOLDEN_V7, 7),
        (GOLDEN_V7_SEGMENT, 7),
        (GOLDEN_V8, 8),
        (GOLDEN_V8_SEGMENT, 8),
    ] {
        let golden = std::fs::read(path).expect("golden files are committed");
        let intact = Replay::from_reader(&golden[..], path.as_ref()).unwrap();
        assert_eq!(intact.damage_count, 0);
        for at in 0..format::SEGMENT_HEADER_LEN {
            let mut bad = golden.clone();
            bad[at] ^= 0xA5;
            let r = Replay::from_reader(&bad[..], "bad.memscope".as_ref()).unwrap_or_else(|e| panic!("v{version} byte {at}: {e}"));
            assert_eq!(r.header, intact.header, "v{version} byte {at}");
            assert_eq!(r.summary, intact.summary, "v{version} byte {at}");
            assert_eq!(r.damage_count, 1, "v{version} byte {at}");
            assert_eq!(r.damage[0].kind, DamageKind::HeaderDamaged { repaired_byte: Some(at as u8), unverified: vec![], lost: vec![] });
            assert!(r.finished && r.is_incomplete());
        }
        // Version, length, start times and pid gone.
        let mut bad = golden.clone();
        for b in &mut bad[8..36] {
            *b ^= 0xFF;
        }
        let r = Replay::from_reader(&bad[..], "bad.memscope".as_ref()).unwrap();
        assert_eq!(r.summary, intact.summary, "v{version}: every record replayed");
        // Version 1 and 2 payloads are alike: a lost version 1 reads as 2.
        assert_eq!(r.header.version, version.max(2), "v{version}: version inferred from the first chunk");
        let DamageKind::HeaderDamaged { repaired_byte: None, lost, .. } = &r.damage[0].kind else { panic!("{:?}", r.damage) };
        assert!(lost[0].starts_with("version"), "{lost:?}");
    }
}

/// `memscope top`'s view of a sampling recording (`Follow`) gives the
/// exact figures of its Totals records and the peak at a drain round, as
/// the finished replay does, and says it samples.
#[test]
fn golden_v6_followed_gives_the_exact_totals_of_the_replay() {
    let replay = memscope::replay::Replay::from_reader(&std::fs::read(GOLDEN_V6).unwrap()[..], "v6.memscope".as_ref()).unwrap();
    let mut follow = memscope::replay::Follow::open(GOLDEN_V6.as_ref()).unwrap();
    follow.poll(std::time::Duration::MAX).unwrap();
    assert!(follow.is_finished());
    let snap = follow.snapshot(5);
    assert_eq!(snap.sampling_interval_bytes, Some(64));
    let figures = |t: &memscope::replay::Totals| {
        (
            t.total_allocations,
            t.total_deallocations,
            t.total_reallocations,
            t.total_allocated_bytes,
            t.live_count,
            t.live_bytes,
            t.peak_live_bytes,
        )
    };
    assert_eq!(figures(&snap.summary), figures(&replay.summary));
    // The Totals record's, not the samples' (1000 allocations, 64,000 B).
    assert_eq!((snap.summary.total_allocations, snap.summary.total_allocated_bytes), (1000, 64_000));
}
