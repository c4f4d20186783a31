//! The chunk payload codec (FORMAT.md, "On disk: the chunk payload"): since
//! version 5 a bit stream of events coded against a per-chunk model
//! ([`encode_payload`]); versions 1 to 4 delta and varint encoding
//! ([`encode_payload_v4`], decode-only for files). The payload is what LZ4
//! compresses.

use super::event::*;

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

/// A stack id as its position among the recent ones, or `RECENT_STACKS + id`.
#[inline]
fn put_stack(out: &mut Vec<u8>, recent: &mut RecentStacks, id: u32) {
    match recent.0.iter().position(|&r| r == id) {
        Some(i) => {
            put_varint(out, i as u64);
            recent.touch(i, id);
        }
        None => {
            put_varint(out, RECENT_STACKS as u64 + u64::from(id));
            recent.touch(RECENT_STACKS - 1, id);
        }
    }
}

#[inline]
fn put_delta(out: &mut Vec<u8>, prev: &mut u64, v: u64) {
    put_varint(out, zigzag(v.wrapping_sub(*prev) as i64));
    *prev = v;
}

/// Payload-only kind: a deallocation of the chunk's last allocation (same
/// address, size and alignment); no operands (FORMAT.md, "Chunk payload").
pub const PAYLOAD_DEALLOC_LAST: u8 = 9;
/// Payload-only kind: an allocation at the chunk's last deallocated address;
/// one operand, the size.
pub const PAYLOAD_ALLOC_REUSE: u8 = 10;
/// Payload-only kind: as [`PAYLOAD_ALLOC_REUSE`], for a zeroed allocation.
pub const PAYLOAD_ALLOC_ZEROED_REUSE: u8 = 11;

/// Payload-only kind (version 3): an allocation (long form) whose stack is
/// the chunk's most recent one; no stack operand.
pub const PAYLOAD_ALLOC_STACK0: u8 = 12;
/// Payload-only kind (version 3): an allocation at the chunk's last
/// deallocated address whose stack is the most recent one; no stack operand.
pub const PAYLOAD_ALLOC_REUSE_STACK0: u8 = 13;
/// Payload-only kind (version 3): as [`PAYLOAD_ALLOC_REUSE_STACK0`], with the
/// second most recent stack.
pub const PAYLOAD_ALLOC_REUSE_STACK1: u8 = 14;
/// Payload-only kind (version 3): as [`PAYLOAD_ALLOC_STACK0`], with the
/// second most recent stack.
pub const PAYLOAD_ALLOC_STACK1: u8 = 0;

/// Payload-only tag code: the event's kind is a tracking kind (16 and up),
/// stored as `kind − 16` in the tag's upper bits (FORMAT.md, "Chunk payload").
pub const PAYLOAD_ESCAPE: u8 = 15;

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

/// What encoder and decoder both remember while walking one chunk; each
/// event updates it the same way on both sides.
#[derive(Debug, Default)]
struct Model {
    prev_ts: u64,
    prev_ptr: u64,
    /// The stack ids of the chunk's last allocations and reallocations (version 3).
    recent_stacks: RecentStacks,
    /// The chunk's last allocation (address, size, alignment), until it is
    /// deallocated or reallocated.
    last_alloc: Option<(u64, u64, u64)>,
    /// The address of the chunk's last deallocation (or moved reallocation).
    last_freed: Option<u64>,
}

impl Model {
    fn new(first_ts_ns: u64) -> Self {
        Model { prev_ts: first_ts_ns, ..Model::default() }
    }

    fn allocated(&mut self, ptr: u64, size: u64, align: u64) {
        self.prev_ptr = ptr;
        self.last_alloc = Some((ptr, size, align));
    }

    fn deallocated(&mut self, ptr: u64) {
        self.prev_ptr = ptr;
        if self.last_alloc.is_some_and(|(p, _, _)| p == ptr) {
            self.last_alloc = None;
        }
        self.last_freed = Some(ptr);
    }

    fn reallocated(&mut self, old_ptr: u64, new_ptr: u64) {
        if self.last_alloc.is_some_and(|(p, _, _)| p == old_ptr) {
            self.last_alloc = None;
        }
        if old_ptr != new_ptr {
            self.last_freed = Some(old_ptr);
        }
    }
}

/// Appends the version-4 payload encoding of `events` to `out` (files of
/// version 4 are decode-only; this encoder stays for the byte accounting
/// and benches that compare the two models). Timestamps are deltas
/// from `first_ts_ns` (the chunk header's field), addresses deltas from the
/// previous address in the chunk, and the two commonest patterns take
/// compact forms: freeing the chunk's last allocation, and allocating at the
/// address last freed (an allocator's free list is last-in first-out).
/// Unknown kinds are skipped; the caller only passes events built by
/// [`RawEvent`]'s constructors.
///
/// Each allocation and
/// reallocation carries the stack id `stacks[i]` (the file's ids, not the
/// ring's), as its position among the chunk's 8 most recent ones or as
/// 8 + the id; `stacks` is empty (every id 0) or as long as `events`.
/// Likewise `returned` gives each reallocation's return stamp, the
/// timestamp taken after a moving reallocation returned (0: none; a stamp
/// below the event's own timestamp is written as equal to it).
#[doc(hidden)]
pub fn encode_payload_v4(events: &[RawEvent], stacks: &[u32], returned: &[u64], first_ts_ns: u64, out: &mut Vec<u8>) {
    debug_assert!(stacks.is_empty() || stacks.len() == events.len());
    debug_assert!(returned.is_empty() || returned.len() == events.len());
    let mut m = Model::new(first_ts_ns);
    for (i, e) in events.iter().enumerate() {
        let kind = e.kind();
        let align = e.align();
        let align_bits = u64::from(align.trailing_zeros()) << 4;
        let stack = stacks.get(i).copied().unwrap_or(0);
        match kind {
            KIND_ALLOC | KIND_ALLOC_ZEROED => {
                let reuse = m.last_freed == Some(e.a);
                // A plain allocation at one of the two most recent stacks
                // says so in its code and has no stack operand.
                let recent = m.recent_stacks.0[..2].iter().position(|&r| r == stack).filter(|_| kind == KIND_ALLOC);
                let code = match (reuse, recent, kind) {
                    (false, Some(0), _) => PAYLOAD_ALLOC_STACK0,
                    (false, Some(_), _) => PAYLOAD_ALLOC_STACK1,
                    (true, Some(0), _) => PAYLOAD_ALLOC_REUSE_STACK0,
                    (true, Some(_), _) => PAYLOAD_ALLOC_REUSE_STACK1,
                    (false, None, _) => kind,
                    (true, None, KIND_ALLOC) => PAYLOAD_ALLOC_REUSE,
                    (true, None, _) => PAYLOAD_ALLOC_ZEROED_REUSE,
                };
                put_varint(out, u64::from(code) | align_bits);
                put_delta(out, &mut m.prev_ts, e.ts_ns());
                if !reuse {
                    put_delta(out, &mut m.prev_ptr, e.a);
                }
                put_varint(out, e.b);
                match recent {
                    Some(i) => m.recent_stacks.touch(i, stack),
                    None => put_stack(out, &mut m.recent_stacks, stack),
                }
                m.allocated(e.a, e.b, align);
            }
            KIND_DEALLOC if m.last_alloc == Some((e.a, e.b, align)) => {
                put_varint(out, u64::from(PAYLOAD_DEALLOC_LAST));
                put_delta(out, &mut m.prev_ts, e.ts_ns());
                m.deallocated(e.a);
            }
            KIND_DEALLOC => {
                put_varint(out, u64::from(kind) | align_bits);
                put_delta(out, &mut m.prev_ts, e.ts_ns());
                put_delta(out, &mut m.prev_ptr, e.a);
                put_varint(out, e.b);
                m.deallocated(e.a);
            }
            KIND_REALLOC | KIND_REALLOC_LARGE => {
                put_varint(out, u64::from(kind));
                put_delta(out, &mut m.prev_ts, e.ts_ns());
                put_delta(out, &mut m.prev_ptr, e.a);
                put_delta(out, &mut m.prev_ptr, e.b);
                if kind == KIND_REALLOC {
                    put_varint(out, e.c & 0xFFFF_FFFF);
                    put_varint(out, e.c >> 32);
                } else {
                    put_varint(out, e.c);
                }
                put_stack(out, &mut m.recent_stacks, stack);
                // Version 4: 0, or 1 + (return stamp − timestamp).
                match returned.get(i).copied().unwrap_or(0) {
                    0 => put_varint(out, 0),
                    r => put_varint(out, 1 + r.saturating_sub(e.ts_ns()).min(TS_MAX)),
                }
                m.reallocated(e.a, e.b);
            }
            KIND_THREAD_START => {
                put_varint(out, u64::from(kind));
                put_delta(out, &mut m.prev_ts, e.ts_ns());
                put_varint(out, e.a);
                let mut name = [0u8; 16];
                name[..8].copy_from_slice(&e.b.to_le_bytes());
                name[8..].copy_from_slice(&e.c.to_le_bytes());
                let len = name.iter().position(|&b| b == 0).unwrap_or(16);
                out.push(len as u8);
                out.extend_from_slice(&name[..len]);
            }
            KIND_THREAD_EXIT => {
                put_varint(out, u64::from(kind));
                put_delta(out, &mut m.prev_ts, e.ts_ns());
            }
            KIND_LOST => {
                put_varint(out, u64::from(kind));
                put_delta(out, &mut m.prev_ts, e.ts_ns());
                put_varint(out, e.a);
            }
            _ => {
                let Some(operands) = tracking_operands(kind) else { continue };
                put_varint(out, u64::from(PAYLOAD_ESCAPE) | (u64::from(kind - 16) << 4));
                put_delta(out, &mut m.prev_ts, e.ts_ns());
                // A scope exit's `b` is a flag: the decoder yields 0 or 1.
                let b = if kind == KIND_SCOPE_EXIT { u64::from(e.b != 0) } else { e.b };
                for (bit, v) in [(0b001, e.a), (0b010, b), (0b100, e.c)] {
                    if operands & bit != 0 {
                        put_varint(out, v);
                    }
                }
            }
        }
    }
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

    fn delta(&mut self, prev: &mut u64) -> Result<u64, PayloadError> {
        let v = prev.wrapping_add(unzigzag(self.varint()?) as u64);
        *prev = v;
        Ok(v)
    }

    /// A stack operand (version 3), or 0 in older versions.
    fn stack(&mut self, recent: &mut RecentStacks, version: u32) -> Result<u32, PayloadError> {
        if version < STACKS_SINCE_VERSION {
            return Ok(0);
        }
        let v = self.varint()?;
        let (at, id) = match usize::try_from(v) {
            Ok(i) if i < RECENT_STACKS => (i, recent.0[i]),
            _ => (RECENT_STACKS - 1, u32::try_from(v - RECENT_STACKS as u64).map_err(|_| self.err("stack id out of range"))?),
        };
        recent.touch(at, id);
        Ok(id)
    }

    /// A reallocation's return stamp operand (version 4): `None` for 0 or
    /// an older version, else the event's timestamp plus the operand − 1.
    fn returned(&mut self, ts_ns: u64, version: u32) -> Result<Option<u64>, PayloadError> {
        if version < EXACT_ORDER_SINCE_VERSION {
            return Ok(None);
        }
        match self.varint()? {
            0 => Ok(None),
            v => match ts_ns.checked_add(v - 1).filter(|&r| r <= TS_MAX) {
                Some(r) => Ok(Some(r)),
                None => Err(self.err("return stamp exceeds 56 bits")),
            },
        }
    }

    fn u32_varint(&mut self) -> Result<u64, PayloadError> {
        let v = self.varint()?;
        if v >> 32 != 0 {
            return Err(self.err("size of a small reallocation exceeds 32 bits"));
        }
        Ok(v)
    }
}

/// Decodes a payload of versions 1 to 4 (see [`decode_payload`]).
fn decode_payload_v4(payload: &[u8], count: u32, first_ts_ns: u64, version: u32, out: &mut Vec<Event>) -> Result<(), PayloadError> {
    let mut c = Cursor { buf: payload, pos: 0 };
    let mut m = Model::new(first_ts_ns);
    for _ in 0..count {
        let tag = c.varint()?;
        let kind = (tag & 0xF) as u8;
        let align_log2 = tag >> 4;
        let ts_ns = c.delta(&mut m.prev_ts)?;
        if ts_ns > TS_MAX {
            return Err(c.err("timestamp exceeds 56 bits"));
        }
        if kind == PAYLOAD_ESCAPE {
            let Some(kind) = u8::try_from(align_log2 + 16).ok().filter(|&k| k <= KIND_MAX) else {
                return Err(c.err("unknown tracking event kind"));
            };
            let operands = tracking_operands(kind).ok_or_else(|| c.err("unknown tracking event kind"))?;
            let mut v = [0u64; 3];
            for (i, slot) in v.iter_mut().enumerate() {
                if operands & (1 << i) != 0 {
                    *slot = c.varint()?;
                }
            }
            let raw = RawEvent::with_kind(kind, ts_ns, v[0], v[1], v[2]);
            out.push(raw.decode().ok_or_else(|| c.err("unknown tracking event kind"))?);
            continue;
        }
        let stack_codes = version >= STACKS_SINCE_VERSION
            && matches!(kind, PAYLOAD_ALLOC_STACK0 | PAYLOAD_ALLOC_STACK1 | PAYLOAD_ALLOC_REUSE_STACK0 | PAYLOAD_ALLOC_REUSE_STACK1);
        let has_align =
            stack_codes || matches!(kind, KIND_ALLOC | KIND_ALLOC_ZEROED | KIND_DEALLOC | PAYLOAD_ALLOC_REUSE | PAYLOAD_ALLOC_ZEROED_REUSE);
        if align_log2 != 0 && !has_align || align_log2 > 63 {
            return Err(c.err("bad alignment field"));
        }
        let align = 1u64 << align_log2;
        let ev = match kind {
            _ if stack_codes => {
                let reuse = kind == PAYLOAD_ALLOC_REUSE_STACK0 || kind == PAYLOAD_ALLOC_REUSE_STACK1;
                let ptr = if reuse {
                    m.last_freed.ok_or_else(|| c.err("reuse of a freed address before any deallocation in the chunk"))?
                } else {
                    c.delta(&mut m.prev_ptr)?
                };
                let size = c.varint()?;
                let at = usize::from(kind == PAYLOAD_ALLOC_STACK1 || kind == PAYLOAD_ALLOC_REUSE_STACK1);
                let stack = m.recent_stacks.0[at];
                m.recent_stacks.touch(at, stack);
                m.allocated(ptr, size, align);
                Event::Alloc { ts_ns, ptr, size, align, zeroed: false, stack }
            }
            KIND_ALLOC | KIND_ALLOC_ZEROED | PAYLOAD_ALLOC_REUSE | PAYLOAD_ALLOC_ZEROED_REUSE => {
                let ptr = if kind == KIND_ALLOC || kind == KIND_ALLOC_ZEROED {
                    c.delta(&mut m.prev_ptr)?
                } else {
                    m.last_freed.ok_or_else(|| c.err("reuse of a freed address before any deallocation in the chunk"))?
                };
                let size = c.varint()?;
                let stack = c.stack(&mut m.recent_stacks, version)?;
                m.allocated(ptr, size, align);
                Event::Alloc { ts_ns, ptr, size, align, zeroed: kind == KIND_ALLOC_ZEROED || kind == PAYLOAD_ALLOC_ZEROED_REUSE, stack }
            }
            KIND_DEALLOC => {
                let ptr = c.delta(&mut m.prev_ptr)?;
                let size = c.varint()?;
                m.deallocated(ptr);
                Event::Dealloc { ts_ns, ptr, size, align }
            }
            PAYLOAD_DEALLOC_LAST => {
                let (ptr, size, align) = m.last_alloc.ok_or_else(|| c.err("deallocation of the last allocation, but there is none"))?;
                m.deallocated(ptr);
                Event::Dealloc { ts_ns, ptr, size, align }
            }
            KIND_REALLOC | KIND_REALLOC_LARGE => {
                let old_ptr = c.delta(&mut m.prev_ptr)?;
                let new_ptr = c.delta(&mut m.prev_ptr)?;
                let (old_size, new_size) =
                    if kind == KIND_REALLOC { (Some(c.u32_varint()?), c.u32_varint()?) } else { (None, c.varint()?) };
                let stack = c.stack(&mut m.recent_stacks, version)?;
                let returned_ns = c.returned(ts_ns, version)?;
                m.reallocated(old_ptr, new_ptr);
                Event::Realloc { ts_ns, old_ptr, new_ptr, old_size, new_size, stack, returned_ns }
            }
            KIND_THREAD_START => {
                let os_tid = c.varint()?;
                let len = usize::from(*c.buf.get(c.pos).ok_or_else(|| c.err("payload ends inside a thread name"))?);
                c.pos += 1;
                if len > 16 {
                    return Err(c.err("thread name longer than 16 bytes"));
                }
                let bytes = c.buf.get(c.pos..c.pos + len).ok_or_else(|| c.err("payload ends inside a thread name"))?;
                let mut name = [0u8; 16];
                name[..len].copy_from_slice(bytes);
                c.pos += len;
                Event::ThreadStart { ts_ns, os_tid, name }
            }
            KIND_THREAD_EXIT => Event::ThreadExit { ts_ns },
            KIND_LOST => Event::Lost { ts_ns, count: c.varint()? },
            _ => return Err(c.err("unknown event kind")),
        };
        out.push(ev);
    }
    if c.pos != payload.len() {
        return Err(c.err("payload holds bytes after its last event"));
    }
    Ok(())
}

/// The first format version whose payloads are the bit-packed model
/// (FORMAT.md, "On disk: the chunk payload").
pub const BITS_SINCE_VERSION: u32 = 5;

/// The most bytes a version-5 payload's header takes (three timestamp
/// contexts and the sizes, each a varint base and a parameter byte).
pub const MAX_PAYLOAD_HEADER_BYTES: usize = 3 * (10 + 1) + (10 + 1);

/// Decodes a payload of exactly `count` events, written by format
/// `version`, into `out`, undoing [`encode_payload`] (or, for versions 1
/// to 4, the encoders of those versions). Never panics on hostile bytes.
///
/// # Errors
/// A [`PayloadError`] naming the byte offset when the payload is malformed,
/// holds fewer or more bytes than `count` events, or an event's timestamp
/// exceeds [`TS_MAX`].
pub fn decode_payload(payload: &[u8], count: u32, first_ts_ns: u64, version: u32, out: &mut Vec<Event>) -> Result<(), PayloadError> {
    if version >= BITS_SINCE_VERSION {
        decode_payload_v5(payload, count, first_ts_ns, out)
    } else {
        decode_payload_v4(payload, count, first_ts_ns, version, out)
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
    encode_v5(events, stacks, returned, first_ts_ns, out, &mut ());
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
    encode_v5(events, stacks, returned, first_ts_ns, out, bits);
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

/// Timestamp contexts: the delta before an event is coded with the
/// parameters of the event's own context.
const TS_CONTEXTS: usize = 3;
const CTX_ALLOC: usize = 0;
const CTX_DEALLOC: usize = 1;
const CTX_OTHER: usize = 2;

/// The timestamp context after an event of `kind` (the chunk's first
/// event: after [`KIND_THREAD_EXIT`], any kind of the other context).
#[inline(always)]
fn ts_context(kind: u8) -> usize {
    match kind {
        KIND_ALLOC | KIND_ALLOC_ZEROED => CTX_ALLOC,
        KIND_DEALLOC => CTX_DEALLOC,
        _ => CTX_OTHER,
    }
}

/// [`ts_context`] of a descriptor class (7: the chunk's start).
#[inline(always)]
fn class_context(class: usize) -> usize {
    match class as u8 {
        CLASS_ALLOC | CLASS_ALLOC_ZEROED => CTX_ALLOC,
        CLASS_DEALLOC => CTX_DEALLOC,
        _ => CTX_OTHER,
    }
}

/// A Rice code's quotient at which it escapes to a [`BitWriter::long`] value.
const RICE_ESCAPE: u32 = 12;
/// The largest Rice parameter a payload may name.
const RICE_MAX_K: u32 = 40;

/// Event classes: bits 0..3 of a descriptor.
const CLASS_ALLOC: u8 = 0;
const CLASS_ALLOC_ZEROED: u8 = 1;
const CLASS_DEALLOC: u8 = 2;
const CLASS_REALLOC: u8 = 3;
const CLASS_REALLOC_LARGE: u8 = 4;
const CLASS_OTHER: u8 = 5;
/// Descriptor bit 3: an allocation at the address its size class freed
/// last; a deallocation of one of the chunk's live allocations; a
/// reallocation with a return stamp.
const D_HIT: u8 = 1 << 3;
/// Descriptor bits 4..6 (allocations and reallocations): the stack mode; a
/// deallocation's bit 4: the live allocation is the most recent one.
const D_STACK_SHIFT: u32 = 4;
const D_LIVE_FIRST: u8 = 1 << 4;
/// Descriptor bit 6 (allocations and deallocations): the layout is one of
/// the chunk's recent layouts.
const D_LAYOUT_HIT: u8 = 1 << 6;
/// Descriptor bit 7: with [`D_LAYOUT_HIT`], the most recent layout; without,
/// the alignment is the previous allocation's or deallocation's.
const D_LAYOUT_FIRST: u8 = 1 << 7;

/// The descriptor the chunk's first event follows (class 7: no event's).
const CHUNK_START: u8 = 0xFF;

/// Stack modes (descriptor bits 4..6).
const STACK_RECENT0: u8 = 0;
const STACK_RECENT1: u8 = 1;
const STACK_RECENT_N: u8 = 2;
const STACK_NEW: u8 = 3;

/// Live allocations a chunk remembers, most recent first.
const LIVE: usize = 8;
/// Layouts (size, alignment) a chunk remembers, most recent first.
const LAYOUTS: usize = 4;
// `Model5::touch_layout_at` moves them one by one.
const _: () = assert!(LAYOUTS == 4);
/// Size classes of the freed-address table.
const SIZE_CLASSES: usize = 64;

/// glibc's small-bin index of a request of `size` bytes (its chunk size /
/// 16, at least 2), capped: the allocator hands a request the block of its
/// class freed last, so that is the address to predict.
#[inline(always)]
fn size_class(size: u64) -> usize {
    (size.saturating_add(23) >> 4).clamp(2, SIZE_CLASSES as u64 - 1) as usize
}

/// An alignment in bytes as its log2 in 6 bits, and back.
#[inline(always)]
fn align_log2(align: u64) -> u32 {
    align.trailing_zeros() & 63
}

/// Coding parameters of one chunk: the payload header.
#[derive(Debug, Default, Clone, Copy)]
struct Params {
    ts_base: [i64; TS_CONTEXTS],
    ts_k: [u32; TS_CONTEXTS],
    size_base: u64,
    size_k: u32,
}

/// The Rice parameter with the fewest bits for values whose bit lengths
/// `hist` counts (an estimate: a length's values are taken as evenly spread).
fn best_rice_k(hist: &[u64; 65]) -> u32 {
    let Some(lo) = hist.iter().position(|&n| n != 0) else { return 0 };
    let hi = hist.iter().rposition(|&n| n != 0).unwrap_or(lo);
    let mut best = (u64::MAX, 0);
    // A parameter above the longest length only adds bits.
    for k in 0..=(hi as u32).min(RICE_MAX_K) {
        let mut cost = 0u64;
        for (len, &n) in hist.iter().enumerate().take(hi + 1).skip(lo) {
            let len = len as u32;
            let bits = if len <= k {
                1 + u64::from(k)
            } else {
                // Quotients from 2^(len-k-1) to 2^(len-k) − 1.
                let shift = len - k - 1;
                let q = if shift >= RICE_ESCAPE { u64::MAX } else { (3u64 << shift) / 2 };
                if q >= u64::from(RICE_ESCAPE) {
                    u64::from(RICE_ESCAPE + 7 + len - 1)
                } else {
                    q + 1 + u64::from(k)
                }
            };
            cost = cost.saturating_add(bits.saturating_mul(n));
        }
        if cost < best.0 {
            best = (cost, k);
        }
    }
    best.1
}

#[inline(always)]
fn bit_len(v: u64) -> usize {
    64 - v.leading_zeros() as usize
}

/// Whether an event of `kind` has a size the payload codes with the
/// chunk's size parameters (allocations and deallocations), as a bit per
/// kind below 64.
const SIZED_KINDS: u64 = 1 << KIND_ALLOC | 1 << KIND_ALLOC_ZEROED | 1 << KIND_DEALLOC;

#[inline(always)]
fn is_sized(kind: u8) -> bool {
    kind < 64 && SIZED_KINDS >> kind & 1 != 0
}

/// Chooses the chunk's parameters: per timestamp context the smallest
/// delta as the base, and the Rice parameter for what is above it; the
/// same for sizes.
fn choose_params(events: &[RawEvent], first_ts_ns: u64) -> Params {
    let mut p = Params::default();
    // Pass 1: the bases. The three minima stay in registers (selects, not
    // an array indexed by the context, which lives in memory).
    let (mut min_alloc, mut min_dealloc, mut min_other) = (i64::MAX, i64::MAX, i64::MAX);
    let mut min_size = u64::MAX;
    let (mut prev, mut prev_kind) = (first_ts_ns, KIND_THREAD_EXIT);
    for e in events {
        let (ts, kind) = (e.ts_ns(), e.kind());
        let dt = ts.wrapping_sub(prev) as i64;
        match ts_context(prev_kind) {
            CTX_ALLOC => min_alloc = min_alloc.min(dt),
            CTX_DEALLOC => min_dealloc = min_dealloc.min(dt),
            _ => min_other = min_other.min(dt),
        }
        prev = ts;
        prev_kind = kind;
        let size = if is_sized(kind) { e.b } else { u64::MAX };
        min_size = min_size.min(size);
    }
    let min_dt = [min_alloc, min_dealloc, min_other];
    for (ctx, &m) in min_dt.iter().enumerate() {
        p.ts_base[ctx] = if m == i64::MAX { 0 } else { m };
    }
    p.size_base = if min_size == u64::MAX { 0 } else { min_size };
    let mut ts_hist = [[0u64; 65]; TS_CONTEXTS];
    let mut size_hist = [0u64; 65];
    // The parameters only decide how many bits the chunk takes, not what
    // it decodes to: a long chunk's every third event is sample enough (an
    // odd stride: a loop of two events is sampled in both its phases).
    let stride = if events.len() > 256 { 3 } else { 1 };
    let mut sample = |prev_kind: u8, prev_ts: u64, e: &RawEvent| {
        let ctx = ts_context(prev_kind);
        // Plus one: a predicted descriptor (FORMAT.md).
        ts_hist[ctx][bit_len(e.ts_ns().wrapping_sub(prev_ts).wrapping_sub(p.ts_base[ctx] as u64).wrapping_add(1))] += 1;
        if is_sized(e.kind()) {
            size_hist[bit_len(e.b - p.size_base)] += 1;
        }
    };
    if let Some(e) = events.first() {
        sample(KIND_THREAD_EXIT, first_ts_ns, e);
    }
    // Windows at 0, stride, 2 × stride...: the event after each is sampled.
    let mut i = 0;
    while i + 1 < events.len() {
        sample(events[i].kind(), events[i].ts_ns(), &events[i + 1]);
        i += stride;
    }
    p.ts_k = ts_hist.map(|h| best_rice_k(&h));
    p.size_k = best_rice_k(&size_hist);
    p
}

/// Writes bits least significant first into a byte vector, through a
/// 64-bit accumulator that goes out eight bytes at a time.
struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    /// Bits not yet in `out`, the first in bit 0; those above `n` are zero.
    acc: u64,
    /// How many bits `acc` holds (below 64).
    n: u32,
}

impl BitWriter<'_> {
    /// Bits written so far, counted from the vector's start.
    #[inline(always)]
    fn pos(&self) -> u64 {
        self.out.len() as u64 * 8 + u64::from(self.n)
    }

    /// [`Self::pos`] when `T` counts bits, else 0.
    #[inline(always)]
    fn pos_if<T: Tally>(&self) -> u64 {
        if T::COUNTS {
            self.pos()
        } else {
            0
        }
    }

    /// Appends the low `bits` bits of `v` (`bits` ≤ 64, `v` < 2^bits).
    #[inline(always)]
    fn put(&mut self, v: u64, bits: u32) {
        debug_assert!(bits <= 64 && (bits == 64 || v >> bits == 0));
        debug_assert!(self.n < 64);
        let n = self.n + bits;
        if n < 64 {
            self.acc |= v << self.n;
            self.n = n;
        } else {
            self.out.extend_from_slice(&(self.acc | v << self.n).to_le_bytes());
            // The bits of `v` that did not fit (none when `n` was 0: a
            // shift by 64 is not a shift in Rust, hence two).
            self.acc = (v >> 1) >> (63 - self.n);
            self.n = n - 64;
        }
    }

    /// A number of any size: its bit length n in 7 bits, then its low n − 1
    /// bits (the top one is implied).
    #[inline(always)]
    fn long(&mut self, v: u64) {
        let n = bit_len(v) as u32;
        if n <= 57 {
            // One write: the length, then the bits below the top one.
            let low = v & !(1u64 << n >> 1);
            self.put(low << 7 | u64::from(n), 7 + n.saturating_sub(1));
        } else {
            self.put(u64::from(n), 7);
            self.put(v & !(1u64 << (n - 1)), n - 1);
        }
    }

    /// A Rice code with parameter `k`: the quotient `v >> k` in unary (ones
    /// ended by a zero), then the low `k` bits; a quotient of
    /// [`RICE_ESCAPE`] or more is that many ones and then `v` as [`Self::long`].
    #[inline(always)]
    fn rice(&mut self, v: u64, k: u32) {
        debug_assert!(k <= RICE_MAX_K);
        let q = v >> k;
        if q < u64::from(RICE_ESCAPE) {
            // One write of at most 12 + 40 bits: the ones, the zero, the low bits.
            let q = q as u32;
            let low = v & ((1u64 << k) - 1);
            self.put(low << (q + 1) | ((1u64 << q) - 1), q + 1 + k);
        } else {
            self.put((1 << RICE_ESCAPE) - 1, RICE_ESCAPE);
            self.long(v);
        }
    }

    /// Pads the last byte with zero bits.
    fn finish(self) {
        let bytes = self.n.div_ceil(8) as usize;
        self.out.extend_from_slice(&self.acc.to_le_bytes()[..bytes]);
    }
}

/// Reads what [`BitWriter`] wrote; every read past the end is an error.
struct BitReader<'a> {
    buf: &'a [u8],
    /// Bytes before `buf` in the payload (for error offsets).
    base: usize,
    pos: u64,
    end: u64,
}

impl BitReader<'_> {
    fn err(&self, what: &'static str) -> PayloadError {
        PayloadError { offset: self.base + (self.pos.min(self.end) / 8) as usize, what }
    }

    /// The next 57 bits or more (zeros past the end).
    #[inline(always)]
    fn peek(&self) -> u64 {
        let at = (self.pos / 8) as usize;
        let mut word = [0u8; 8];
        match self.buf.get(at..at + 8) {
            Some(s) => word.copy_from_slice(s),
            None => {
                let rest = self.buf.get(at..).unwrap_or_default();
                word[..rest.len()].copy_from_slice(rest);
            }
        }
        u64::from_le_bytes(word) >> (self.pos % 8)
    }

    #[inline(always)]
    fn skip(&mut self, bits: u32) -> Result<(), PayloadError> {
        self.pos += u64::from(bits);
        if self.pos > self.end {
            return Err(self.err("payload ends inside an event"));
        }
        Ok(())
    }

    /// The next `bits` bits (≤ 56).
    #[inline(always)]
    fn take(&mut self, bits: u32) -> Result<u64, PayloadError> {
        let v = self.peek() & ((1u64 << bits) - 1);
        self.skip(bits)?;
        Ok(v)
    }

    /// The next `bits` bits (≤ 64).
    #[inline(always)]
    fn take_wide(&mut self, bits: u32) -> Result<u64, PayloadError> {
        if bits > 32 {
            let lo = self.take(32)?;
            Ok(lo | self.take(bits - 32)? << 32)
        } else {
            self.take(bits)
        }
    }

    #[inline]
    fn long(&mut self) -> Result<u64, PayloadError> {
        let n = self.take(7)? as u32;
        match n {
            0 | 1 => Ok(u64::from(n)),
            2..=64 => Ok(1 << (n - 1) | self.take_wide(n - 1)?),
            _ => Err(self.err("number longer than 64 bits")),
        }
    }

    #[inline(always)]
    fn rice(&mut self, k: u32) -> Result<u64, PayloadError> {
        let q = (!self.peek()).trailing_zeros();
        if q >= RICE_ESCAPE {
            self.skip(RICE_ESCAPE)?;
            return self.long();
        }
        self.skip(q + 1)?;
        Ok(u64::from(q) << k | self.take_wide(k)?)
    }
}

/// What encoder and decoder both remember while walking one chunk
/// (version 5); each event updates it the same way on both sides.
#[derive(Debug)]
struct Model5 {
    prev_ts: u64,
    prev_addr: u64,
    stacks: RecentStacks,
    /// The chunk's last [`LIVE`] allocations (address, size, alignment), a
    /// ring: the i-th most recent is at `live_head − 1 − i` (mod [`LIVE`]),
    /// still live when its bit in `live_ok` is set.
    live: [(u64, u64, u64); LIVE],
    live_ok: u8,
    live_head: usize,
    /// Recent layouts (size, alignment), most recent first.
    layouts: [(u64, u64); LAYOUTS],
    /// The alignment of the last allocation or deallocation.
    last_align: u64,
    /// Per size class, the address its last deallocation freed (0: none).
    freed: [u64; SIZE_CLASSES],
    /// Per descriptor, the descriptor that followed it last.
    predicted: [u8; 256],
    prev_d: u8,
}

impl Model5 {
    fn new(first_ts_ns: u64) -> Self {
        Model5 {
            prev_ts: first_ts_ns,
            prev_addr: 0,
            stacks: RecentStacks::default(),
            live: [(0, 0, 0); LIVE],
            live_ok: 0,
            live_head: 0,
            layouts: [(0, 1); LAYOUTS],
            last_align: 1,
            freed: [0; SIZE_CLASSES],
            predicted: [0; 256],
            prev_d: CHUNK_START,
        }
    }

    #[inline(always)]
    fn touch_layout(&mut self, size: u64, align: u64) {
        let at = self.layouts.iter().position(|&l| l == (size, align));
        self.touch_layout_at(at, size, align);
    }

    /// [`Self::touch_layout`] when the layout's position among the recent
    /// ones is known (`None`: not among them).
    #[inline(always)]
    fn touch_layout_at(&mut self, at: Option<usize>, size: u64, align: u64) {
        debug_assert_eq!(at, self.layouts.iter().position(|&l| l == (size, align)));
        // Moves written out: LLVM turns a loop of them into a call to
        // memmove, which costs more than the moves (once per allocation of
        // a new layout).
        let l = &mut self.layouts;
        match at.unwrap_or(LAYOUTS - 1) {
            0 => {}
            1 => l[1] = l[0],
            2 => [l[1], l[2]] = [l[0], l[1]],
            _ => [l[1], l[2], l[3]] = [l[0], l[1], l[2]],
        }
        l[0] = (size, align);
        self.last_align = align;
    }

    #[inline(always)]
    fn live_slot(&self, i: usize) -> usize {
        (self.live_head + LIVE - 1 - i) % LIVE
    }

    #[inline(always)]
    fn push_live(&mut self, entry: (u64, u64, u64)) {
        self.live[self.live_head] = entry;
        self.live_ok |= 1 << self.live_head;
        self.live_head = (self.live_head + 1) % LIVE;
    }

    /// The recency rank of a live allocation equal to `entry`.
    #[inline(always)]
    fn find_live(&self, entry: (u64, u64, u64)) -> Option<usize> {
        // The address first: it alone tells almost every entry apart.
        (0..LIVE).find(|&i| {
            let s = self.live_slot(i);
            self.live[s].0 == entry.0 && self.live_ok >> s & 1 != 0 && self.live[s] == entry
        })
    }

    /// Takes the live allocation of recency rank `i` out of the ring.
    #[inline(always)]
    fn take_live(&mut self, i: usize) -> Option<(u64, u64, u64)> {
        let s = self.live_slot(i);
        if self.live_ok >> s & 1 == 0 {
            return None;
        }
        self.live_ok &= !(1 << s);
        Some(self.live[s])
    }

    /// Forgets a live allocation at `ptr` (reallocated).
    #[inline(always)]
    fn forget_live(&mut self, ptr: u64) {
        for s in 0..LIVE {
            if self.live[s].0 == ptr {
                self.live_ok &= !(1 << s);
            }
        }
    }

    #[inline(always)]
    fn allocated(&mut self, ptr: u64, size: u64, align: u64) {
        self.prev_addr = ptr;
        self.push_live((ptr, size, align));
        self.touch_layout(size, align);
    }

    #[inline(always)]
    fn deallocated(&mut self, ptr: u64, size: u64, align: u64) {
        self.prev_addr = ptr;
        self.freed[size_class(size)] = ptr;
        self.touch_layout(size, align);
    }

    #[inline(always)]
    fn reallocated(&mut self, old_ptr: u64, old_size: Option<u64>, new_ptr: u64) {
        self.prev_addr = new_ptr;
        self.forget_live(old_ptr);
        if let Some(size) = old_size.filter(|_| old_ptr != new_ptr) {
            self.freed[size_class(size)] = old_ptr;
        }
    }

    /// The stack mode of `id` and its position among the recent stacks.
    #[inline(always)]
    fn stack_mode(&self, id: u32) -> (u8, usize) {
        match self.stacks.0.iter().position(|&r| r == id) {
            Some(0) => (STACK_RECENT0, 0),
            Some(1) => (STACK_RECENT1, 1),
            Some(i) => (STACK_RECENT_N, i),
            None => (STACK_NEW, RECENT_STACKS - 1),
        }
    }
}

/// An event's descriptor and timestamp together: the timestamp delta
/// above the context's base, plus one, when the descriptor is the one
/// predicted after the previous event's class; else a 0, the descriptor in
/// 8 bits, and the delta. The context is the previous event's class.
#[inline(always)]
fn put_head<T: Tally>(w: &mut BitWriter<'_>, m: &mut Model5, p: &Params, d: u8, ts: u64, t: &mut T) {
    let ctx = class_context(usize::from(m.prev_d & 7));
    let v = ts.wrapping_sub(m.prev_ts).wrapping_sub(p.ts_base[ctx] as u64);
    let k = p.ts_k[ctx];
    let p0 = w.pos_if::<T>();
    if m.predicted[usize::from(m.prev_d)] == d {
        w.rice(v + 1, k);
    } else {
        // A Rice-coded 0 (k + 1 zero bits), then the descriptor.
        w.put(u64::from(d) << (k + 1), k + 9);
        t.add(Part::Tags, w.pos_if::<T>() - p0);
        m.predicted[usize::from(m.prev_d)] = d;
        w.rice(v, k);
    }
    t.add(Part::Timestamps, w.pos_if::<T>() - p0);
    m.prev_ts = ts;
    m.prev_d = d;
}

#[inline(always)]
fn put_addr_delta<T: Tally>(w: &mut BitWriter<'_>, from: u64, to: u64, t: &mut T) {
    let p0 = w.pos_if::<T>();
    w.long(zigzag(to.wrapping_sub(from) as i64));
    t.add(Part::Addresses, w.pos_if::<T>() - p0);
}

/// The layout part of a descriptor, and how to write what it leaves out.
#[inline(always)]
fn layout_bits(m: &Model5, size: u64, align: u64) -> (u8, Option<usize>) {
    match m.layouts.iter().position(|&l| l == (size, align)) {
        Some(0) => (D_LAYOUT_HIT | D_LAYOUT_FIRST, Some(0)),
        Some(i) => (D_LAYOUT_HIT, Some(i)),
        None if align == m.last_align => (D_LAYOUT_FIRST, None),
        None => (0, None),
    }
}

#[inline(always)]
fn put_layout<T: Tally>(w: &mut BitWriter<'_>, p: &Params, d: u8, at: Option<usize>, size: u64, align: u64, t: &mut T) {
    let p0 = w.pos_if::<T>();
    match at {
        Some(0) => {}
        Some(i) => w.put(i as u64, 2),
        None => {
            w.rice(size - p.size_base, p.size_k);
            if d & D_LAYOUT_FIRST == 0 {
                w.put(u64::from(align_log2(align)), 6);
            }
        }
    }
    t.add(Part::Sizes, w.pos_if::<T>() - p0);
}

#[inline(always)]
fn put_stack5<T: Tally>(w: &mut BitWriter<'_>, m: &mut Model5, mode: u8, at: usize, id: u32, t: &mut T) {
    let p0 = w.pos_if::<T>();
    match mode {
        STACK_RECENT_N => w.put(at as u64, 3),
        STACK_NEW => w.long(u64::from(id)),
        _ => {}
    }
    m.stacks.touch(at, id);
    t.add(Part::Stacks, w.pos_if::<T>() - p0);
}

/// A reallocation (kind `KIND_REALLOC` or `KIND_REALLOC_LARGE`) with
/// stack id `stack` and return stamp `r` (0: none). Out of the encoder's
/// loop, as [`put_other`]: rare events whose code would crowd the
/// registers of the common ones.
#[inline(never)]
fn put_realloc<T: Tally>(w: &mut BitWriter<'_>, m: &mut Model5, p: &Params, e: &RawEvent, stack: u32, r: u64, t: &mut T) {
    let (kind, ts) = (e.kind(), e.ts_ns());
    let (mode, stack_at) = m.stack_mode(stack);
    let class = if kind == KIND_REALLOC { CLASS_REALLOC } else { CLASS_REALLOC_LARGE };
    let d = class | if r != 0 { D_HIT } else { 0 } | mode << D_STACK_SHIFT;
    put_head(w, m, p, d, ts, t);
    put_addr_delta(w, m.prev_addr, e.a, t);
    put_addr_delta(w, e.a, e.b, t);
    let p0 = w.pos_if::<T>();
    let old_size = if kind == KIND_REALLOC {
        w.long(e.c & 0xFFFF_FFFF);
        w.long(e.c >> 32);
        Some(e.c & 0xFFFF_FFFF)
    } else {
        w.long(e.c);
        None
    };
    t.add(Part::Sizes, w.pos_if::<T>() - p0);
    put_stack5(w, m, mode, stack_at, stack, t);
    if r != 0 {
        let p0 = w.pos_if::<T>();
        w.long(r.saturating_sub(ts).min(TS_MAX));
        t.add(Part::Other, w.pos_if::<T>() - p0);
    }
    m.reallocated(e.a, old_size, e.b);
}

/// Any event but an allocation, deallocation or reallocation; unknown
/// kinds are skipped.
#[inline(never)]
fn put_other<T: Tally>(w: &mut BitWriter<'_>, m: &mut Model5, p: &Params, e: &RawEvent, t: &mut T) {
    let (kind, ts) = (e.kind(), e.ts_ns());
    let operands = tracking_operands(kind);
    if operands.is_none() && !matches!(kind, KIND_THREAD_START | KIND_THREAD_EXIT | KIND_LOST) {
        return;
    }
    put_head(w, m, p, CLASS_OTHER | kind << 3, ts, t);
    let p0 = w.pos_if::<T>();
    match kind {
        KIND_THREAD_START => {
            w.long(e.a);
            let mut name = [0u8; 16];
            name[..8].copy_from_slice(&e.b.to_le_bytes());
            name[8..].copy_from_slice(&e.c.to_le_bytes());
            let len = name.iter().position(|&b| b == 0).unwrap_or(16);
            w.put(len as u64, 5);
            for &b in &name[..len] {
                w.put(u64::from(b), 8);
            }
        }
        KIND_THREAD_EXIT => {}
        KIND_LOST => w.long(e.a),
        _ => {
            let operands = operands.unwrap_or(0);
            // A scope exit's `b` is a flag: the decoder yields 0 or 1.
            let b = if kind == KIND_SCOPE_EXIT { u64::from(e.b != 0) } else { e.b };
            for (bit, v) in [(0b001, e.a), (0b010, b), (0b100, e.c)] {
                if operands & bit != 0 {
                    w.long(v);
                }
            }
        }
    }
    t.add(Part::Other, w.pos_if::<T>() - p0);
}

fn encode_v5<T: Tally>(events: &[RawEvent], stacks: &[u32], returned: &[u64], first_ts_ns: u64, out: &mut Vec<u8>, t: &mut T) {
    debug_assert!(stacks.is_empty() || stacks.len() == events.len());
    debug_assert!(returned.is_empty() || returned.len() == events.len());
    let p = choose_params(events, first_ts_ns);
    let start = out.len();
    for ctx in 0..TS_CONTEXTS {
        put_varint(out, zigzag(p.ts_base[ctx]));
        out.push(p.ts_k[ctx] as u8);
    }
    put_varint(out, p.size_base);
    out.push(p.size_k as u8);
    t.add(Part::Header, (out.len() - start) as u64 * 8);
    let mut m = Model5::new(first_ts_ns);
    let mut w = BitWriter { out, acc: 0, n: 0 };
    for (i, e) in events.iter().enumerate() {
        let kind = e.kind();
        let ts = e.ts_ns();
        let stack = stacks.get(i).copied().unwrap_or(0);
        match kind {
            KIND_ALLOC | KIND_ALLOC_ZEROED => {
                // An allocation's `c` holds its alignment's log2 (`RawEvent::alloc`).
                let (ptr, size, align) = (e.a, e.b, 1u64 << (e.c & 63));
                let class = if kind == KIND_ALLOC { CLASS_ALLOC } else { CLASS_ALLOC_ZEROED };
                let hit = m.freed[size_class(size)] == ptr;
                let (layout, at) = layout_bits(&m, size, align);
                let (mode, stack_at) = m.stack_mode(stack);
                let d = class | if hit { D_HIT } else { 0 } | mode << D_STACK_SHIFT | layout;
                put_head(&mut w, &mut m, &p, d, ts, t);
                put_layout(&mut w, &p, d, at, size, align, t);
                if !hit {
                    put_addr_delta(&mut w, m.prev_addr, ptr, t);
                }
                put_stack5(&mut w, &mut m, mode, stack_at, stack, t);
                // As `Model5::allocated`, with the layout's position found above.
                m.prev_addr = ptr;
                m.push_live((ptr, size, align));
                m.touch_layout_at(at, size, align);
            }
            KIND_DEALLOC => {
                let (ptr, size, align) = (e.a, e.b, 1u64 << align_log2(e.align()));
                let layout_at = match m.find_live((ptr, size, align)) {
                    Some(at) => {
                        let d = CLASS_DEALLOC | D_HIT | if at == 0 { D_LIVE_FIRST } else { 0 };
                        put_head(&mut w, &mut m, &p, d, ts, t);
                        if at != 0 {
                            w.put(at as u64, 3);
                            t.add(Part::Addresses, 3);
                        }
                        m.take_live(at);
                        m.layouts.iter().position(|&l| l == (size, align))
                    }
                    None => {
                        let (layout, at) = layout_bits(&m, size, align);
                        let d = CLASS_DEALLOC | layout;
                        put_head(&mut w, &mut m, &p, d, ts, t);
                        put_layout(&mut w, &p, d, at, size, align, t);
                        put_addr_delta(&mut w, m.prev_addr, ptr, t);
                        at
                    }
                };
                // As `Model5::deallocated`, with the layout's position found above.
                m.prev_addr = ptr;
                m.freed[size_class(size)] = ptr;
                m.touch_layout_at(layout_at, size, align);
            }
            KIND_REALLOC | KIND_REALLOC_LARGE => put_realloc(&mut w, &mut m, &p, e, stack, returned.get(i).copied().unwrap_or(0), t),
            _ => put_other(&mut w, &mut m, &p, e, t),
        }
    }
    t.add(Part::Header, (8 - w.pos() % 8) % 8);
    w.finish();
}

fn decode_payload_v5(payload: &[u8], count: u32, first_ts_ns: u64, out: &mut Vec<Event>) -> Result<(), PayloadError> {
    let mut c = Cursor { buf: payload, pos: 0 };
    let mut p = Params::default();
    let k = |c: &mut Cursor<'_>| -> Result<u32, PayloadError> {
        let k = *c.buf.get(c.pos).ok_or_else(|| c.err("payload ends inside its header"))?;
        if u32::from(k) > RICE_MAX_K {
            return Err(c.err("coding parameter above 40"));
        }
        c.pos += 1;
        Ok(u32::from(k))
    };
    for ctx in 0..TS_CONTEXTS {
        p.ts_base[ctx] = unzigzag(c.varint()?);
        p.ts_k[ctx] = k(&mut c)?;
    }
    p.size_base = c.varint()?;
    p.size_k = k(&mut c)?;
    let bits = &payload[c.pos..];
    let mut r = BitReader { buf: bits, base: c.pos, pos: 0, end: bits.len() as u64 * 8 };
    let mut m = Model5::new(first_ts_ns);
    for _ in 0..count {
        let ctx = class_context(usize::from(m.prev_d & 7));
        let k = p.ts_k[ctx];
        let (d, v) = match r.rice(k)? {
            0 => {
                let d = r.take(8)? as u8;
                m.predicted[usize::from(m.prev_d)] = d;
                (d, r.rice(k)?)
            }
            x => (m.predicted[usize::from(m.prev_d)], x - 1),
        };
        let class = d & 7;
        if class > CLASS_OTHER {
            return Err(r.err("unknown event class"));
        }
        m.prev_d = d;
        let ts_ns = m.prev_ts.wrapping_add(p.ts_base[ctx] as u64).wrapping_add(v);
        if ts_ns > TS_MAX {
            return Err(r.err("timestamp exceeds 56 bits"));
        }
        m.prev_ts = ts_ns;
        let ev = match class {
            CLASS_ALLOC | CLASS_ALLOC_ZEROED => {
                let (size, align) = read_layout(&mut r, &m, &p, d)?;
                let ptr = if d & D_HIT != 0 { m.freed[size_class(size)] } else { read_addr(&mut r, m.prev_addr)? };
                let stack = read_stack(&mut r, &mut m, d >> D_STACK_SHIFT & 3)?;
                m.allocated(ptr, size, align);
                Event::Alloc { ts_ns, ptr, size, align, zeroed: class == CLASS_ALLOC_ZEROED, stack }
            }
            CLASS_DEALLOC => {
                let (ptr, size, align) = if d & D_HIT != 0 {
                    let at = if d & D_LIVE_FIRST != 0 { 0 } else { r.take(3)? as usize };
                    m.take_live(at).ok_or_else(|| r.err("deallocation of a live allocation the chunk does not hold"))?
                } else {
                    let (size, align) = read_layout(&mut r, &m, &p, d)?;
                    (read_addr(&mut r, m.prev_addr)?, size, align)
                };
                m.deallocated(ptr, size, align);
                Event::Dealloc { ts_ns, ptr, size, align }
            }
            CLASS_REALLOC | CLASS_REALLOC_LARGE => {
                let old_ptr = read_addr(&mut r, m.prev_addr)?;
                let new_ptr = read_addr(&mut r, old_ptr)?;
                let (old_size, new_size) = if class == CLASS_REALLOC {
                    let (o, n) = (r.long()?, r.long()?);
                    if (o | n) >> 32 != 0 {
                        return Err(r.err("size of a small reallocation exceeds 32 bits"));
                    }
                    (Some(o), n)
                } else {
                    (None, r.long()?)
                };
                let stack = read_stack(&mut r, &mut m, d >> D_STACK_SHIFT & 3)?;
                let returned_ns = if d & D_HIT != 0 {
                    match ts_ns.checked_add(r.long()?).filter(|&v| v <= TS_MAX) {
                        Some(v) => Some(v),
                        None => return Err(r.err("return stamp exceeds 56 bits")),
                    }
                } else {
                    None
                };
                m.reallocated(old_ptr, old_size, new_ptr);
                Event::Realloc { ts_ns, old_ptr, new_ptr, old_size, new_size, stack, returned_ns }
            }
            _ => {
                let kind = d >> 3;
                match kind {
                    KIND_THREAD_START => {
                        let os_tid = r.long()?;
                        let len = r.take(5)? as usize;
                        if len > 16 {
                            return Err(r.err("thread name longer than 16 bytes"));
                        }
                        let mut name = [0u8; 16];
                        for b in &mut name[..len] {
                            *b = r.take(8)? as u8;
                        }
                        Event::ThreadStart { ts_ns, os_tid, name }
                    }
                    KIND_THREAD_EXIT => Event::ThreadExit { ts_ns },
                    KIND_LOST => Event::Lost { ts_ns, count: r.long()? },
                    _ => {
                        let operands = tracking_operands(kind).ok_or_else(|| r.err("unknown event kind"))?;
                        let mut v = [0u64; 3];
                        for (i, slot) in v.iter_mut().enumerate() {
                            if operands & (1 << i) != 0 {
                                *slot = r.long()?;
                            }
                        }
                        RawEvent::with_kind(kind, ts_ns, v[0], v[1], v[2]).decode().ok_or_else(|| r.err("unknown event kind"))?
                    }
                }
            }
        };
        out.push(ev);
    }
    if r.pos.div_ceil(8) != r.end / 8 {
        let offset = r.base + r.pos.div_ceil(8) as usize;
        return Err(PayloadError { offset, what: "payload holds bytes after its last event" });
    }
    Ok(())
}

#[inline(always)]
fn read_layout(r: &mut BitReader<'_>, m: &Model5, p: &Params, d: u8) -> Result<(u64, u64), PayloadError> {
    if d & D_LAYOUT_HIT != 0 {
        let at = if d & D_LAYOUT_FIRST != 0 { 0 } else { r.take(2)? as usize };
        return Ok(m.layouts[at]);
    }
    let size = p.size_base.checked_add(r.rice(p.size_k)?).ok_or_else(|| r.err("size exceeds 64 bits"))?;
    let align = if d & D_LAYOUT_FIRST != 0 { m.last_align } else { 1 << r.take(6)? };
    Ok((size, align))
}

#[inline(always)]
fn read_addr(r: &mut BitReader<'_>, from: u64) -> Result<u64, PayloadError> {
    Ok(from.wrapping_add(unzigzag(r.long()?) as u64))
}

#[inline(always)]
fn read_stack(r: &mut BitReader<'_>, m: &mut Model5, mode: u8) -> Result<u32, PayloadError> {
    let (at, id) = match mode {
        STACK_RECENT0 => (0, m.stacks.0[0]),
        STACK_RECENT1 => (1, m.stacks.0[1]),
        STACK_RECENT_N => {
            let at = r.take(3)? as usize;
            (at, m.stacks.0[at])
        }
        _ => (RECENT_STACKS - 1, u32::try_from(r.long()?).map_err(|_| r.err("stack id out of range"))?),
    };
    m.stacks.touch(at, id);
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
            ops in prop::collection::vec((0u8..4, 0usize..4, 0usize..3, 0u32..5, any::<bool>()), 0..300),
            first in 0..1_000_000u64,
        ) {
            let ptrs = [0x5555_0000_1000usize, 0x5555_0000_1040, 0x7f00_0000_0000, 0x10];
            let sizes = [24usize, 64, 1 << 20];
            let mut ts = first;
            let mut raw = Vec::new();
            for (op, p, s, align_log2, zeroed) in ops {
                ts += u64::from(align_log2) * 37;
                let (ptr, size, align) = (ptrs[p], sizes[s], 1usize << align_log2);
                raw.push(match op {
                    0 => RawEvent::alloc(ts, ptr, size, align, zeroed, align_log2),
                    1 => RawEvent::dealloc(ts, ptr, size, align),
                    2 => RawEvent::realloc(ts, ptr, size, ptrs[(p + 1) % 4], sizes[(s + 1) % 3]),
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
        let classes =
            pairs.iter().filter(|e| e.kind() == KIND_ALLOC).map(|e| size_class(e.b)).collect::<std::collections::HashSet<_>>().len();
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
        // An explicit descriptor of class 6 (none).
        let mut w = Vec::new();
        encode_payload(&[], &[], &[], 0, &mut w);
        let header = w.len();
        let mut bits = BitWriter { out: &mut w, acc: 0, n: 0 };
        bits.rice(0, 0);
        bits.put(6, 8);
        bits.rice(0, 0);
        bits.finish();
        let err = decode_payload(&w, 1, 0, crate::format::VERSION, &mut Vec::new()).unwrap_err();
        assert_eq!((err.what, err.offset), ("unknown event class", header + 1));
    }

    #[test]
    fn small_reallocation_uses_the_packed_form() {
        let r = RawEvent::realloc(5, 0x1000, 16, 0x2000, 32);
        assert_eq!(r.kind(), KIND_REALLOC);
        let big = RawEvent::realloc(5, 0x1000, 16, 0x2000, 1 << 32);
        assert_eq!(big.kind(), KIND_REALLOC_LARGE);
        assert_eq!(
            big.decode(),
            Some(Event::Realloc {
                ts_ns: 5,
                old_ptr: 0x1000,
                new_ptr: 0x2000,
                old_size: None,
                new_size: 1 << 32,
                stack: 0,
                returned_ns: None
            })
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
        assert_eq!(
            r[r.len() - 3] & 0xF,
            PAYLOAD_ALLOC_REUSE_STACK0,
            "reuse of the last freed address at the last stack: tag, timestamp, size"
        );
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
}
