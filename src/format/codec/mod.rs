//! The chunk payload codec (FORMAT.md, "On disk: the chunk payload"): since
//! version 5 a bit stream of events coded against a per-chunk model
//! ([`encode_payload`]); versions 1 to 4 delta and varint encoding
//! ([`encode_payload_v4`], decode-only for files). The payload is what LZ4
//! compresses.

use super::event::*;

mod bits;
#[cfg(test)]
mod tests;
mod v4;
mod v5;

use bits::{bit_len, BitReader, BitWriter, RICE_ESCAPE, RICE_MAX_K};
#[doc(hidden)]
pub use v4::encode_payload_v4;
pub use v4::{
    PAYLOAD_ALLOC_REUSE, PAYLOAD_ALLOC_REUSE_STACK0, PAYLOAD_ALLOC_REUSE_STACK1, PAYLOAD_ALLOC_STACK0, PAYLOAD_ALLOC_STACK1,
    PAYLOAD_ALLOC_ZEROED_REUSE, PAYLOAD_DEALLOC_LAST, PAYLOAD_ESCAPE,
};

/// Why a payload did not decode. `offset` is the byte offset inside the
/// decompressed payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at payload byte {offset}")]
pub struct PayloadError {
    /// Byte offset in the decompressed payload.
    pub offset: usize,
    /// What was wrong.
    pub what: &'static str,
}

/// The most bytes one event takes in a payload: a Realloc with a 2-byte
/// tag, a 10-byte timestamp delta, two 10-byte address deltas, two
/// 5-byte sizes, a 5-byte stack operand (version 3) and a 9-byte return
/// stamp operand (version 4: at most 2^56, so 57 bits). A version-5 event
/// takes at most 55 bytes of bit stream (FORMAT.md), after the payload's
/// header ([`MAX_PAYLOAD_HEADER_BYTES`]).
pub const MAX_EVENT_BYTES: usize = 2 + 10 + 10 + 10 + 5 + 5 + 5 + 9;

/// The first format version whose allocations and reallocations carry a stack id.
pub const STACKS_SINCE_VERSION: u32 = 3;

/// The first format version whose reallocations carry a return stamp (the
/// second timestamp of a reallocation that moved) and whose Round
/// watermarks are exact (FORMAT.md, "Round record").
pub const EXACT_ORDER_SINCE_VERSION: u32 = 4;

/// Appends `v` as an unsigned LEB128 varint (at most 10 bytes).
#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline]
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// How many recent stack ids a chunk's payload refers to by position.
pub const RECENT_STACKS: usize = 8;

/// The stack ids a chunk used last, most recent first (version 3): a stack
/// operand is a position in it, or [`RECENT_STACKS`] plus the id.
#[derive(Debug, Default, Clone, Copy)]
struct RecentStacks([u32; RECENT_STACKS]);

impl RecentStacks {
    /// Moves `id` to the front (from position `at`, or in from the back).
    #[inline]
    fn touch(&mut self, at: usize, id: u32) {
        // A loop, not `copy_within`: a call to memmove costs more than these few moves.
        for i in (1..=at.min(RECENT_STACKS - 1)).rev() {
            self.0[i] = self.0[i - 1];
        }
        self.0[0] = id;
    }
}

/// Which of a tracking event's operands (`a`, `b`, `c`, as bits 0, 1, 2)
/// the payload stores, as varints in that order; the others are 0.
const fn tracking_operands(kind: u8) -> Option<u8> {
    Some(match kind {
        KIND_VAR | KIND_FOREIGN_ALLOC => 0b111,
        KIND_VAR_MORE | KIND_SHARED | KIND_SCOPE_EXIT => 0b011,
        KIND_VAR_TYPE | KIND_CLONE_OF | KIND_SCOPE_ENTER | KIND_FOREIGN_FREE => 0b001,
        KIND_HANDOFF => 0b101,
        _ => return None,
    })
}

/// Reads varints from a byte slice (payloads and v3 record bodies).
pub(crate) struct Cursor<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
}

impl Cursor<'_> {
    fn err(&self, what: &'static str) -> PayloadError {
        PayloadError { offset: self.pos, what }
    }

    pub(crate) fn varint(&mut self) -> Result<u64, PayloadError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(self.err("payload ends inside a varint"));
            };
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(self.err("varint overflows 64 bits"));
            }
            v |= u64::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err("varint longer than 10 bytes"))
    }
}

/// The first format version whose payloads are the bit-packed model
/// (FORMAT.md, "On disk: the chunk payload").
pub const BITS_SINCE_VERSION: u32 = 5;

/// The first format version whose payloads code the descriptor before the
/// timestamp, with nine timestamp contexts, and reallocations against the
/// chunk's live allocations (FORMAT.md, "On disk: the chunk payload").
pub const MODEL8_SINCE_VERSION: u32 = 8;

/// The most bytes a bit-stream payload's header takes (version 8: nine
/// timestamp contexts and the sizes, each a varint base and a parameter
/// byte; three contexts in versions 5 to 7).
pub const MAX_PAYLOAD_HEADER_BYTES: usize = 9 * (10 + 1) + (10 + 1);

/// Decodes a payload of exactly `count` events, written by format
/// `version`, into `out`, undoing [`encode_payload`] (or, for versions 1
/// to 4, the encoders of those versions). Never panics on hostile bytes.
///
/// # Errors
/// A [`PayloadError`] naming the byte offset when the payload is malformed,
/// holds fewer or more bytes than `count` events, or an event's timestamp
/// exceeds [`TS_MAX`].
pub fn decode_payload(payload: &[u8], count: u32, first_ts_ns: u64, version: u32, out: &mut Vec<Event>) -> Result<(), PayloadError> {
    if version >= MODEL8_SINCE_VERSION {
        v5::decode::decode_payload_v5::<true>(payload, count, first_ts_ns, out)
    } else if version >= BITS_SINCE_VERSION {
        v5::decode::decode_payload_v5::<false>(payload, count, first_ts_ns, out)
    } else {
        v4::decode_payload_v4(payload, count, first_ts_ns, version, out)
    }
}

/// Appends the payload encoding of `events` to `out` (format version 5,
/// FORMAT.md "On disk: the chunk payload"): a short header of coding
/// parameters chosen for this chunk, then a bit stream of events.
/// Unknown kinds are skipped; the caller only passes events built by
/// [`RawEvent`]'s constructors.
///
/// Each allocation and reallocation carries the stack id `stacks[i]` (the
/// file's ids, not the ring's); `stacks` is empty (every id 0) or as long
/// as `events`. Likewise `returned` gives each reallocation's return
/// stamp, the timestamp taken after a moving reallocation returned (0:
/// none; a stamp below the event's own timestamp is written as equal to
/// it).
pub fn encode_payload(events: &[RawEvent], stacks: &[u32], returned: &[u64], first_ts_ns: u64, out: &mut Vec<u8>) {
    v5::encode::encode_v5(events, stacks, returned, first_ts_ns, out, &mut ());
}

/// [`encode_payload`], adding to `bits` how many bits each part of the
/// payload took (for `examples/payload_bytes.rs` and benches/README.md).
#[doc(hidden)]
pub fn encode_payload_counted(
    events: &[RawEvent],
    stacks: &[u32],
    returned: &[u64],
    first_ts_ns: u64,
    out: &mut Vec<u8>,
    bits: &mut PayloadBits,
) {
    v5::encode::encode_v5(events, stacks, returned, first_ts_ns, out, bits);
}

/// The parts of a payload that [`PayloadBits`] counts.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The payload header (coding parameters) and the final padding.
    Header,
    /// Event descriptors (kind and which compact forms apply).
    Tags,
    /// Timestamp deltas.
    Timestamps,
    /// Addresses.
    Addresses,
    /// Sizes and alignments.
    Sizes,
    /// Stack ids.
    Stacks,
    /// Everything else: return stamps, thread starts, lost counts, tracking operands.
    Other,
}

/// Bits per [`Part`] of the payloads encoded by [`encode_payload_counted`].
#[doc(hidden)]
#[derive(Debug, Default, Clone, Copy)]
pub struct PayloadBits(pub [u64; 7]);

trait Tally {
    /// Whether [`Tally::add`] counts anything (else the bit positions it
    /// would be given are not even computed: [`BitWriter::pos_if`]).
    const COUNTS: bool;
    fn add(&mut self, part: Part, bits: u64);
}

impl Tally for () {
    const COUNTS: bool = false;
    #[inline(always)]
    fn add(&mut self, _: Part, _: u64) {}
}

impl Tally for PayloadBits {
    const COUNTS: bool = true;
    fn add(&mut self, part: Part, bits: u64) {
        self.0[part as usize] += bits;
    }
}
