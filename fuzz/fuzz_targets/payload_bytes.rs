//! Any bytes as a chunk payload, of any format version and event count:
//! decoding returns events or an error, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memscope::format::{codec, MAX_CHUNK_EVENTS};

fuzz_target!(|data: &[u8]| {
    if data.len() < 13 {
        return;
    }
    let count = u32::from_le_bytes(data[0..4].try_into().unwrap()) % (MAX_CHUNK_EVENTS + 1);
    // Versions 0 and 9..=255 are not this reader's: they must fail cleanly too.
    let version = u32::from(data[4]);
    let first_ts_ns = u64::from_le_bytes(data[5..13].try_into().unwrap());
    let mut out = Vec::new();
    let _ = codec::decode_payload(&data[13..], count, first_ts_ns, version, &mut out);
});
