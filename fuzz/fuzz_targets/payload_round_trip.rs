//! Structured round trip: events the recorder can produce, encoded as a
//! chunk payload of the current version, decode to the same events.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use memscope::format::codec::{decode_payload, encode_payload};
use memscope::format::event::TS_MAX;
use memscope::format::{Event, RawEvent, VERSION};

#[derive(Arbitrary, Debug)]
enum Input {
    Alloc { ts: u64, ptr: u64, size: u64, align_log2: u8, zeroed: bool, stack: u32 },
    Dealloc { ts: u64, ptr: u64, size: u64, align_log2: u8 },
    Realloc { ts: u64, old_ptr: u64, new_ptr: u64, old_size: u32, new_size: u32, stack: u32, returned: Option<u64> },
    ReallocLarge { ts: u64, old_ptr: u64, new_ptr: u64, new_size: u64, stack: u32, returned: Option<u64> },
    ThreadStart { ts: u64, os_tid: u64, name_len: u8 },
    ThreadExit { ts: u64 },
    Lost { ts: u64, count: u64 },
}

/// A return stamp at or after `ts` (never 0, which means none), as the
/// recorder writes it.
fn returned(ts: u64, r: Option<u64>) -> Option<u64> {
    r.map(|r| ts.saturating_add(r % 1_000_000_000_000).min(TS_MAX)).filter(|&r| r != 0)
}

impl Input {
    fn event(&self) -> Event {
        match *self {
            Input::Alloc { ts, ptr, size, align_log2, zeroed, stack } => {
                Event::Alloc { ts_ns: ts & TS_MAX, ptr, size, align: 1 << (align_log2 % 30), zeroed, stack }
            }
            Input::Dealloc { ts, ptr, size, align_log2 } => Event::Dealloc { ts_ns: ts & TS_MAX, ptr, size, align: 1 << (align_log2 % 30) },
            Input::Realloc { ts, old_ptr, new_ptr, old_size, new_size, stack, returned: r } => Event::Realloc {
                ts_ns: ts & TS_MAX,
                old_ptr,
                new_ptr,
                old_size: Some(old_size.into()),
                new_size: new_size.into(),
                stack,
                returned_ns: returned(ts & TS_MAX, r),
            },
            Input::ReallocLarge { ts, old_ptr, new_ptr, new_size, stack, returned: r } => Event::Realloc {
                ts_ns: ts & TS_MAX,
                old_ptr,
                new_ptr,
                old_size: None,
                new_size: new_size.max(1 << 32),
                stack,
                returned_ns: returned(ts & TS_MAX, r),
            },
            Input::ThreadStart { ts, os_tid, name_len } => {
                let mut name = [0u8; 16];
                for (i, b) in name.iter_mut().take(usize::from(name_len % 17)).enumerate() {
                    *b = b'a' + (i as u8);
                }
                Event::ThreadStart { ts_ns: ts & TS_MAX, os_tid, name }
            }
            Input::ThreadExit { ts } => Event::ThreadExit { ts_ns: ts & TS_MAX },
            Input::Lost { ts, count } => Event::Lost { ts_ns: ts & TS_MAX, count },
        }
    }
}

fuzz_target!(|input: (u64, Vec<Input>)| {
    let (first, inputs) = input;
    let first = first & TS_MAX;
    let events: Vec<Event> = inputs.iter().map(Input::event).collect();
    let raw: Vec<RawEvent> = events.iter().map(Event::to_raw).collect();
    // The encoder takes the file's stack ids and return stamps beside the
    // events, as the drainer passes them.
    let stacks: Vec<u32> = events.iter().map(Event::stack).collect();
    let returns: Vec<u64> = events.iter().map(Event::returned_ns).collect();
    let mut payload = Vec::new();
    encode_payload(&raw, &stacks, &returns, first, &mut payload);
    let mut out = Vec::new();
    decode_payload(&payload, events.len() as u32, first, VERSION, &mut out).expect("an encoded payload decodes");
    assert_eq!(out, events);
});
