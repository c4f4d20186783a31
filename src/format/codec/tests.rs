//! Round trips, compact forms and damage of the payload codecs.

use super::*;
use proptest::prelude::*;
use v5::size_class;

/// A return stamp at or after `ts_ns` (never 0, which means none).
fn returned(ts_ns: u64, r: Option<u64>) -> Option<u64> {
    r.map(|r| ts_ns.saturating_add(r % 1_000_000_000_000).min(TS_MAX)).filter(|&r| r != 0)
}

fn arb_event() -> impl Strategy<Value = Event> {
    let ts = 0..=TS_MAX;
    prop_oneof![
        (ts.clone(), any::<u64>(), any::<u64>(), 0u32..30, any::<bool>(), any::<u32>())
            .prop_map(|(ts_ns, ptr, size, l, zeroed, stack)| Event::Alloc { ts_ns, ptr, size, align: 1 << l, zeroed, stack }),
        (ts.clone(), any::<u64>(), any::<u64>(), 0u32..30).prop_map(|(ts_ns, ptr, size, l)| Event::Dealloc {
            ts_ns,
            ptr,
            size,
            align: 1 << l
        }),
        (ts.clone(), any::<u64>(), any::<u64>(), any::<u32>(), any::<u32>(), any::<u32>(), prop::option::of(any::<u64>())).prop_map(
            |(ts_ns, old_ptr, new_ptr, o, n, stack, r)| Event::Realloc {
                ts_ns,
                old_ptr,
                new_ptr,
                old_size: Some(o.into()),
                new_size: n.into(),
                stack,
                returned_ns: returned(ts_ns, r),
            }
        ),
        (ts.clone(), any::<u64>(), any::<u64>(), (1u64 << 32)..u64::MAX, any::<u32>(), prop::option::of(any::<u64>())).prop_map(
            |(ts_ns, old_ptr, new_ptr, new_size, stack, r)| Event::Realloc {
                ts_ns,
                old_ptr,
                new_ptr,
                old_size: None,
                new_size,
                stack,
                returned_ns: returned(ts_ns, r)
            }
        ),
        (ts.clone(), any::<u64>(), "[a-z0-9-]{0,16}").prop_map(|(ts_ns, os_tid, s)| {
            let mut name = [0u8; 16];
            name[..s.len()].copy_from_slice(s.as_bytes());
            Event::ThreadStart { ts_ns, os_tid, name }
        }),
        ts.clone().prop_map(|ts_ns| Event::ThreadExit { ts_ns }),
        (ts.clone(), any::<u64>()).prop_map(|(ts_ns, count)| Event::Lost { ts_ns, count }),
        (ts.clone(), KIND_VAR..=KIND_MAX, any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(ts, kind, a, b, c)| {
            // Operands a kind does not store are 0 on the way back.
            let ops = tracking_operands(kind).unwrap();
            let keep = |bit: u8, v: u64| if ops & bit != 0 { v } else { 0 };
            RawEvent::with_kind(kind, ts, keep(1, a), keep(2, b), keep(4, c)).decode().unwrap()
        }),
    ]
}

proptest! {
    #[test]
    fn payload_round_trip(events in prop::collection::vec(arb_event(), 0..200), first in 0..=TS_MAX) {
        let raw: Vec<RawEvent> = events.iter().map(Event::to_raw).collect();
        // The ring form carries a reallocation's stack in a separate
        // event, which the drainer folds back: the encoder takes the
        // file's stack ids beside the events.
        let stacks: Vec<u32> = events.iter().map(Event::stack).collect();
        // So is its return stamp (version 4).
        let returns: Vec<u64> = events.iter().map(Event::returned_ns).collect();
        let decoded_raw: Vec<Event> = raw.iter().map(|r| r.decode().unwrap()).collect();
        let ring_view: Vec<Event> = events
            .iter()
            .map(|e| match *e {
                Event::Realloc { ts_ns, old_ptr, new_ptr, old_size, new_size, .. } => {
                    Event::Realloc { ts_ns, old_ptr, new_ptr, old_size, new_size, stack: 0, returned_ns: None }
                }
                e => e,
            })
            .collect();
        prop_assert_eq!(&decoded_raw, &ring_view);
        let mut buf = Vec::new();
        encode_payload(&raw, &stacks, &returns, first, &mut buf);
        let mut out = Vec::new();
        decode_payload(&buf, events.len() as u32, first, crate::format::VERSION, &mut out).unwrap();
        prop_assert_eq!(&out, &events);
        // Version 4 stays decodable: its encoder's bytes round-trip too.
        buf.clear();
        encode_payload_v4(&raw, &stacks, &returns, first, &mut buf);
        out.clear();
        decode_payload(&buf, events.len() as u32, first, 4, &mut out).unwrap();
        prop_assert_eq!(out, events);
    }

    /// Addresses and sizes from small pools, so that frees of the last
    /// allocation and reuses of the last freed address (the compact
    /// forms) are common, mixed with the long forms.
    #[test]
    fn payload_round_trip_with_address_reuse(
        ops in prop::collection::vec((0u8..4, 0usize..4, 0usize..4, 0u32..5, any::<bool>()), 0..300),
        first in 0..1_000_000u64,
    ) {
        let ptrs = [0x5555_0000_1000usize, 0x5555_0000_1040, 0x7f00_0000_0000, 0x10];
        // The last one makes a large reallocation (no old size).
        let sizes = [24usize, 64, 1 << 20, 1 << 33];
        let mut ts = first;
        let mut raw = Vec::new();
        for (op, p, s, align_log2, zeroed) in ops {
            ts += u64::from(align_log2) * 37;
            let (ptr, size, align) = (ptrs[p], sizes[s], 1usize << align_log2);
            raw.push(match op {
                0 => RawEvent::alloc(ts, ptr, size, align, zeroed, align_log2),
                1 => RawEvent::dealloc(ts, ptr, size, align),
                // In place or moved, to twice the size or another (version 8's compact forms).
                2 => {
                    let new_ptr = if zeroed { ptr } else { ptrs[(p + 1) % 4] };
                    let new_size = if align_log2 % 2 == 0 { size * 2 } else { sizes[(s + 1) % 4] };
                    RawEvent::realloc(ts, ptr, size, new_ptr, new_size)
                }
                _ => RawEvent::thread_exit(ts),
            });
        }
        let events: Vec<Event> = raw.iter().map(|r| r.decode().unwrap()).collect();
        let stacks: Vec<u32> = events.iter().map(Event::stack).collect();
        let mut buf = Vec::new();
        encode_payload(&raw, &stacks, &[], first, &mut buf);
        let mut out = Vec::new();
        decode_payload(&buf, raw.len() as u32, first, crate::format::VERSION, &mut out).unwrap();
        prop_assert_eq!(out, events);
    }

    #[test]
    fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256), count in 0u32..64) {
        let _ = decode_payload(&bytes, count, 0, crate::format::VERSION, &mut Vec::new());
    }
}

#[test]
fn a_return_stamp_follows_the_stack_and_is_checked() {
    let r = RawEvent::realloc(100, 0x1000, 16, 0x2000, 32);
    let mut buf = Vec::new();
    encode_payload_v4(&[r], &[0], &[130], 100, &mut buf);
    // tag 3, ts delta 0, old addr +0x1000, new addr +0x1000, sizes 16 and 32, stack 0 (position 0 of
    // the recent stacks, which start as zeros), return 1 + 30.
    assert_eq!(buf, [3, 0, 0x80, 0x40, 0x80, 0x40, 16, 32, 0, 31]);
    let mut out = Vec::new();
    decode_payload(&buf, 1, 100, 4, &mut out).unwrap();
    assert!(matches!(out[0], Event::Realloc { returned_ns: Some(130), .. }));
    // Version 3 has no return operand: the same bytes hold one too many.
    assert!(decode_payload(&buf, 1, 100, 3, &mut Vec::new()).is_err());
    // A return stamp of 2^56 or more is damage.
    let mut big = buf[..9].to_vec();
    put_varint(&mut big, 1 + TS_MAX);
    let err = decode_payload(&big, 1, 100, 4, &mut Vec::new()).unwrap_err();
    assert_eq!(err.what, "return stamp exceeds 56 bits");
}

/// Version 5's compact forms: a free of the last allocation is the
/// folded descriptor and its delta, an allocation at its size class's
/// freed address writes no address.
#[test]
fn v5_compact_forms_are_used_and_shorter() {
    let bits = |events: &[RawEvent]| {
        let mut b = PayloadBits::default();
        encode_payload_counted(events, &[], &[], 0, &mut Vec::new(), &mut b);
        b
    };
    let mut pairs = Vec::new();
    for i in 0..100u64 {
        let size = 8 + (i * 37) % 500;
        // glibc: one block per size class, handed back at once.
        let ptr = 0x5555_0000_0000 + (((size + 23) >> 4) << 12) as usize;
        pairs.push(RawEvent::alloc(i * 100, ptr, size as usize, 1, false, 0));
        pairs.push(RawEvent::dealloc(i * 100 + 40, ptr, size as usize, 1));
    }
    let b = bits(&pairs);
    // Each size class's first allocation writes its address; the later ones none.
    let classes = pairs.iter().filter(|e| e.kind() == KIND_ALLOC).map(|e| size_class(e.b)).collect::<std::collections::HashSet<_>>().len();
    assert!(b.0[Part::Addresses as usize] <= classes as u64 * 60, "{b:?}");
    // Descriptors: a miss (9 bits and a delta) at most when an allocation
    // finds its class empty or after one that did, else none.
    assert!(b.0[Part::Tags as usize] <= 2 * 9 * (classes as u64 + 2), "{b:?}");
    let mut buf = Vec::new();
    encode_payload(&pairs, &[], &[], 0, &mut buf);
    assert!(buf.len() < pairs.len() * 2, "{} bytes for {} events", buf.len(), pairs.len());
    let mut back = Vec::new();
    decode_payload(&buf, pairs.len() as u32, 0, crate::format::VERSION, &mut back).unwrap();
    assert!(back.iter().map(Event::to_raw).eq(pairs.iter().copied()));
}

/// Every prefix of a valid version-5 payload, and every byte flipped,
/// is an error naming an offset inside the payload, never a panic.
#[test]
fn v5_damage_is_an_error_with_its_offset() {
    let events = [
        RawEvent::thread_start(5, 77, *b"worker\0\0\0\0\0\0\0\0\0\0"),
        RawEvent::alloc(10, 0x5555_0000_1000, 48, 8, false, 0),
        RawEvent::realloc(20, 0x5555_0000_1000, 48, 0x5555_0000_2000, 96),
        RawEvent::dealloc(30, 0x5555_0000_2000, 96, 1),
        RawEvent::with_kind(KIND_VAR, 31, 0x5555_0000_3000, 24, 0x1234),
        RawEvent::lost(32, 9),
        RawEvent::thread_exit(40),
    ];
    let mut buf = Vec::new();
    encode_payload(&events, &[0, 7, 3, 0, 0, 0, 0], &[0, 0, 25, 0, 0, 0, 0], 5, &mut buf);
    let mut out = Vec::new();
    decode_payload(&buf, 7, 5, crate::format::VERSION, &mut out).unwrap();
    assert_eq!(out.len(), 7);
    for len in 0..buf.len() {
        let err = decode_payload(&buf[..len], 7, 5, crate::format::VERSION, &mut Vec::new()).unwrap_err();
        assert!(err.offset <= len, "prefix {len}: {err:?}");
    }
    let err = decode_payload(&buf, 8, 5, crate::format::VERSION, &mut Vec::new()).unwrap_err();
    assert_eq!(err.what, "payload ends inside an event");
    let mut long = buf.clone();
    long.push(0);
    let err = decode_payload(&long, 7, 5, crate::format::VERSION, &mut Vec::new()).unwrap_err();
    assert_eq!((err.what, err.offset), ("payload holds bytes after its last event", buf.len()));
    // A Rice parameter above 40 in the header.
    let mut bad_k = buf.clone();
    bad_k[1] = 41;
    let err = decode_payload(&bad_k, 7, 5, crate::format::VERSION, &mut Vec::new()).unwrap_err();
    assert_eq!((err.what, err.offset), ("coding parameter above 40", 1));
    for at in 0..buf.len() {
        for flip in [0x01u8, 0x10, 0x80, 0xFF] {
            let mut bad = buf.clone();
            bad[at] ^= flip;
            if let Err(e) = decode_payload(&bad, 7, 5, crate::format::VERSION, &mut Vec::new()) {
                assert!(e.offset <= bad.len(), "{e:?}");
            }
        }
    }
    // An explicit descriptor of class 6 (none): version 8 (00, the
    // descriptor, the timestamp) and versions 5 to 7 (a Rice-coded 0, the
    // descriptor, the timestamp; a header of three contexts).
    let mut w = Vec::new();
    encode_payload(&[], &[], &[], 0, &mut w);
    let header = w.len();
    let mut bits = BitWriter { out: &mut w, acc: 0, n: 0 };
    bits.put(6 << 2, 10);
    bits.rice(0, 0);
    bits.finish();
    let err = decode_payload(&w, 1, 0, crate::format::VERSION, &mut Vec::new()).unwrap_err();
    assert_eq!((err.what, err.offset), ("unknown event class", header + 1));
    let mut w = vec![0u8; 8];
    let mut bits = BitWriter { out: &mut w, acc: 0, n: 0 };
    bits.rice(0, 0);
    bits.put(6, 8);
    bits.rice(0, 0);
    bits.finish();
    let err = decode_payload(&w, 1, 0, 7, &mut Vec::new()).unwrap_err();
    assert_eq!((err.what, err.offset), ("unknown event class", 8 + 1));
}

#[test]
fn small_reallocation_uses_the_packed_form() {
    let r = RawEvent::realloc(5, 0x1000, 16, 0x2000, 32);
    assert_eq!(r.kind(), KIND_REALLOC);
    let big = RawEvent::realloc(5, 0x1000, 16, 0x2000, 1 << 32);
    assert_eq!(big.kind(), KIND_REALLOC_LARGE);
    assert_eq!(
        big.decode(),
        Some(Event::Realloc { ts_ns: 5, old_ptr: 0x1000, new_ptr: 0x2000, old_size: None, new_size: 1 << 32, stack: 0, returned_ns: None })
    );
}

#[test]
fn no_event_encodes_to_more_than_max_event_bytes() {
    let worst = [
        RawEvent::realloc(TS_MAX, usize::MAX, u32::MAX as usize, 0, u32::MAX as usize),
        RawEvent::realloc(TS_MAX, usize::MAX, 0, 0, usize::MAX),
        RawEvent::alloc(TS_MAX, usize::MAX, usize::MAX, 1 << 29, true, 0),
        RawEvent::thread_start(TS_MAX, u64::MAX, [b'x'; 16]),
        RawEvent::lost(TS_MAX, u64::MAX),
        RawEvent::with_kind(KIND_VAR, TS_MAX, u64::MAX, u64::MAX, u64::MAX),
        RawEvent::with_kind(KIND_FOREIGN_ALLOC, TS_MAX, u64::MAX, u64::MAX, u64::MAX),
    ];
    for e in worst {
        let mut buf = Vec::new();
        encode_payload_v4(&[e], &[], &[], 0, &mut buf);
        assert!(buf.len() <= MAX_EVENT_BYTES, "{e:?} took {} bytes in version 4", buf.len());
        // Version 5: the worst stack id and return stamp, and a chunk
        // whose other contexts make the header as long as it gets.
        let first = RawEvent::thread_exit(0);
        let alloc = RawEvent::alloc(TS_MAX, 1, 0, 1, false, 0);
        let dealloc = RawEvent::dealloc(0, 0, usize::MAX, 1);
        let chunk = [first, alloc, dealloc, e];
        let stacks = [0, 0, 0, u32::MAX];
        let returned = [0, 0, 0, TS_MAX];
        let mut alone = Vec::new();
        encode_payload(&chunk[..3], &stacks[..3], &returned[..3], TS_MAX, &mut alone);
        let mut buf = Vec::new();
        encode_payload(&chunk, &stacks, &returned, TS_MAX, &mut buf);
        assert!(alone.len() <= MAX_PAYLOAD_HEADER_BYTES + 3 * MAX_EVENT_BYTES);
        assert!(buf.len() - alone.len() <= MAX_EVENT_BYTES, "{e:?} took {} bytes in version 5", buf.len() - alone.len());
        let mut back = Vec::new();
        decode_payload(&buf, 4, TS_MAX, crate::format::VERSION, &mut back).unwrap();
        assert_eq!(back.len(), 4);
    }
}

#[test]
fn compact_forms_are_used_and_shorter() {
    let long = [RawEvent::alloc(10, 0x5555_0000_1000, 48, 8, false, 0), RawEvent::dealloc(20, 0x5555_0000_2000, 48, 8)];
    let compact = [RawEvent::alloc(10, 0x5555_0000_1000, 48, 8, false, 0), RawEvent::dealloc(20, 0x5555_0000_1000, 48, 8)];
    let reuse = [RawEvent::dealloc(10, 0x5555_0000_1000, 48, 8), RawEvent::alloc(20, 0x5555_0000_1000, 48, 8, false, 0)];
    let enc = |events: &[RawEvent]| {
        let mut buf = Vec::new();
        encode_payload_v4(events, &[], &[], 0, &mut buf);
        buf
    };
    let (l, c, r) = (enc(&long), enc(&compact), enc(&reuse));
    let alloc_only = enc(&long[..1]).len();
    assert_eq!(l.len() - alloc_only, 5, "a long-form free: tag, timestamp, 2-byte address delta, size");
    assert_eq!(c.len() - alloc_only, 2, "a free of the last allocation: tag and timestamp only");
    assert_eq!(c[c.len() - 2], PAYLOAD_DEALLOC_LAST);
    assert_eq!(r[r.len() - 3] & 0xF, PAYLOAD_ALLOC_REUSE_STACK0, "reuse of the last freed address at the last stack: tag, timestamp, size");
    // A stack that is neither of the two most recent takes an operand.
    let other = [RawEvent::dealloc(10, 0x5555_0000_1000, 48, 8), RawEvent::alloc(20, 0x5555_0000_1000, 48, 8, false, 7)];
    let mut o = Vec::new();
    encode_payload_v4(&other, &[0, 7], &[], 0, &mut o);
    assert_eq!(o[o.len() - 4] & 0xF, PAYLOAD_ALLOC_REUSE, "tag, timestamp, size, stack");
    assert_eq!(o[o.len() - 1], RECENT_STACKS as u8 + 7, "a stack not among the recent ones: 8 + its id");
    let mut back = Vec::new();
    decode_payload(&o, 2, 0, 4, &mut back).unwrap();
    assert_eq!(back[1].stack(), 7);
    // Version 2 has no stack codes: code 12 is damage there.
    assert!(decode_payload(&[PAYLOAD_ALLOC_STACK0, 0, 0, 8], 1, 0, 2, &mut Vec::new()).is_err());
    let mut out = Vec::new();
    decode_payload(&c, 2, 0, 4, &mut out).unwrap();
    assert_eq!(out[1], Event::Dealloc { ts_ns: 20, ptr: 0x5555_0000_1000, size: 48, align: 8 });
    // A compact form with nothing to refer to is damage, not a panic.
    assert!(decode_payload(&[PAYLOAD_DEALLOC_LAST, 0], 1, 0, 4, &mut Vec::new()).is_err());
    assert!(decode_payload(&[PAYLOAD_ALLOC_REUSE, 0, 8], 1, 0, 4, &mut Vec::new()).is_err());
}

#[test]
fn trailing_bytes_are_an_error() {
    let mut buf = Vec::new();
    encode_payload_v4(&[RawEvent::thread_exit(3)], &[], &[], 0, &mut buf);
    buf.push(0);
    let err = decode_payload(&buf, 1, 0, 4, &mut Vec::new()).unwrap_err();
    assert_eq!(err.offset, 2);
}

/// Version 8: a reallocation of one of the chunk's live allocations takes
/// its old address and size from it; twice the old size is one bit; the
/// new address is one bit in place, two at the address its size class
/// freed last. The deallocation of the reallocated allocation is a live
/// one. (Each figure was larger in version 7: 7-bit address deltas, two
/// sizes of at least 7 bits each.)
#[test]
fn v8_reallocation_of_a_live_allocation_is_compact() {
    let (a, b) = (0x5555_0000_1000usize, 0x5555_0000_8000usize);
    let start = [RawEvent::alloc(10, a, 24, 8, false, 3), RawEvent::alloc(11, b, 48, 8, false, 3), RawEvent::dealloc(12, b, 48, 8)];
    let mut raw = start.to_vec();
    // Moved to b, which size class 48 freed last; then in place, doubling.
    raw.push(RawEvent::realloc(20, a, 24, b, 48));
    let mut size = 48;
    for i in 0..16 {
        raw.push(RawEvent::realloc(21 + i, b, size, b, size * 2));
        size *= 2;
    }
    raw.push(RawEvent::dealloc(100, b, size, 8));
    let count = |events: &[RawEvent]| {
        let mut bits = PayloadBits::default();
        encode_payload_counted(events, &[], &[], 0, &mut Vec::new(), &mut bits);
        bits
    };
    let (before, after) = (count(&start), count(&raw));
    let grew = |part: Part| after.0[part as usize] - before.0[part as usize];
    // a is the live allocation of rank 1 (b's deallocated entry keeps rank 0): 3 bits.
    assert_eq!(grew(Part::Addresses), 3 + 2 + 16, "addresses");
    assert_eq!(grew(Part::Sizes), 1 + 16, "sizes");
    let events: Vec<Event> = raw.iter().map(|r| r.decode().unwrap()).collect();
    let stacks: Vec<u32> = events.iter().map(Event::stack).collect();
    let mut buf = Vec::new();
    encode_payload(&raw, &stacks, &[], 0, &mut buf);
    let mut out = Vec::new();
    decode_payload(&buf, raw.len() as u32, 0, crate::format::VERSION, &mut out).unwrap();
    assert_eq!(out, events);
}

/// The parts `encode_payload_counted` tallies add up to the payload's
/// bits: no part counted twice (a reallocation's new address and a missed
/// descriptor's timestamp were, before).
#[test]
fn payload_bits_add_up_to_the_payload() {
    let (a, b) = (0x5555_0000_1000usize, 0x5555_0000_8000usize);
    let raw = [
        RawEvent::thread_start(5, 77, *b"worker\0\0\0\0\0\0\0\0\0\0"),
        RawEvent::alloc(10, a, 24, 8, false, 0),
        RawEvent::alloc(11, a + 32, 40, 8, false, 0),
        RawEvent::alloc(12, 0x7f00_0000_0000, 1 << 20, 4096, true, 0),
        RawEvent::dealloc(13, a + 32, 40, 8),
        RawEvent::realloc(20, a, 24, b, 100),
        RawEvent::realloc(21, 0x6000_0000, 7, 0x6100_0000, 1 << 33),
        RawEvent::dealloc(30, 0x1234_5678, 24, 8),
        RawEvent::with_kind(KIND_VAR, 31, b as u64, 100, 0x1234),
        RawEvent::lost(32, 9),
        RawEvent::thread_exit(40),
    ];
    let returned = [0, 0, 0, 0, 0, 25, 22, 0, 0, 0, 0];
    let mut bits = PayloadBits::default();
    let mut buf = Vec::new();
    encode_payload_counted(&raw, &[0, 1, 2, 3, 0, 1, 9, 0, 0, 0, 0], &returned, 5, &mut buf, &mut bits);
    assert_eq!(bits.0.iter().sum::<u64>(), buf.len() as u64 * 8, "{bits:?}");
}
