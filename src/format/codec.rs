//! The chunk payload codec: per-thread delta and varint encoding of events
//! (FORMAT.md, "Chunk payload"). The payload is what LZ4 compresses.

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
/// stamp operand (version 4: at most 2^56, so 57 bits).
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
        self.0.copy_within(0..at, 1);
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

/// Appends the payload encoding of `events` to `out`. Timestamps are deltas
/// from `first_ts_ns` (the chunk header's field), addresses deltas from the
/// previous address in the chunk, and the two commonest patterns take
/// compact forms: freeing the chunk's last allocation, and allocating at the
/// address last freed (an allocator's free list is last-in first-out).
/// Unknown kinds are skipped; the caller only passes events built by
/// [`RawEvent`]'s constructors.
///
/// Writes the current format version's payload: each allocation and
/// reallocation carries the stack id `stacks[i]` (the file's ids, not the
/// ring's), as its position among the chunk's 8 most recent ones or as
/// 8 + the id; `stacks` is empty (every id 0) or as long as `events`.
/// Likewise `returned` gives each reallocation's return stamp, the
/// timestamp taken after a moving reallocation returned (0: none; a stamp
/// below the event's own timestamp is written as equal to it).
pub fn encode_payload(events: &[RawEvent], stacks: &[u32], returned: &[u64], first_ts_ns: u64, out: &mut Vec<u8>) {
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

/// Decodes a payload of exactly `count` events, written by format
/// `version`, into `out`, undoing [`encode_payload`]. Never panics on
/// hostile bytes.
///
/// # Errors
/// A [`PayloadError`] naming the byte offset when the payload is malformed,
/// holds fewer or more bytes than `count` events, or an event's timestamp
/// exceeds [`TS_MAX`].
pub fn decode_payload(payload: &[u8], count: u32, first_ts_ns: u64, version: u32, out: &mut Vec<Event>) -> Result<(), PayloadError> {
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
            let returns: Vec<u64> = events
                .iter()
                .map(|e| match *e {
                    Event::Realloc { returned_ns, .. } => returned_ns.unwrap_or(0),
                    _ => 0,
                })
                .collect();
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
        encode_payload(&[r], &[0], &[130], 100, &mut buf);
        // tag 3, ts delta 0, old addr +0x1000, new addr +0x1000, sizes 16 and 32, stack 0 (position 0 of
        // the recent stacks, which start as zeros), return 1 + 30.
        assert_eq!(buf, [3, 0, 0x80, 0x40, 0x80, 0x40, 16, 32, 0, 31]);
        let mut out = Vec::new();
        decode_payload(&buf, 1, 100, crate::format::VERSION, &mut out).unwrap();
        assert!(matches!(out[0], Event::Realloc { returned_ns: Some(130), .. }));
        // Version 3 has no return operand: the same bytes hold one too many.
        assert!(decode_payload(&buf, 1, 100, 3, &mut Vec::new()).is_err());
        // A return stamp of 2^56 or more is damage.
        let mut big = buf[..9].to_vec();
        put_varint(&mut big, 1 + TS_MAX);
        let err = decode_payload(&big, 1, 100, crate::format::VERSION, &mut Vec::new()).unwrap_err();
        assert_eq!(err.what, "return stamp exceeds 56 bits");
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
            encode_payload(&[e], &[], &[], 0, &mut buf);
            assert!(buf.len() <= MAX_EVENT_BYTES, "{e:?} took {} bytes", buf.len());
        }
    }

    #[test]
    fn compact_forms_are_used_and_shorter() {
        let long = [RawEvent::alloc(10, 0x5555_0000_1000, 48, 8, false, 0), RawEvent::dealloc(20, 0x5555_0000_2000, 48, 8)];
        let compact = [RawEvent::alloc(10, 0x5555_0000_1000, 48, 8, false, 0), RawEvent::dealloc(20, 0x5555_0000_1000, 48, 8)];
        let reuse = [RawEvent::dealloc(10, 0x5555_0000_1000, 48, 8), RawEvent::alloc(20, 0x5555_0000_1000, 48, 8, false, 0)];
        let enc = |events: &[RawEvent]| {
            let mut buf = Vec::new();
            encode_payload(events, &[], &[], 0, &mut buf);
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
        encode_payload(&other, &[0, 7], &[], 0, &mut o);
        assert_eq!(o[o.len() - 4] & 0xF, PAYLOAD_ALLOC_REUSE, "tag, timestamp, size, stack");
        assert_eq!(o[o.len() - 1], RECENT_STACKS as u8 + 7, "a stack not among the recent ones: 8 + its id");
        let mut back = Vec::new();
        decode_payload(&o, 2, 0, crate::format::VERSION, &mut back).unwrap();
        assert_eq!(back[1].stack(), 7);
        // Version 2 has no stack codes: code 12 is damage there.
        assert!(decode_payload(&[PAYLOAD_ALLOC_STACK0, 0, 0, 8], 1, 0, 2, &mut Vec::new()).is_err());
        let mut out = Vec::new();
        decode_payload(&c, 2, 0, crate::format::VERSION, &mut out).unwrap();
        assert_eq!(out[1], Event::Dealloc { ts_ns: 20, ptr: 0x5555_0000_1000, size: 48, align: 8 });
        // A compact form with nothing to refer to is damage, not a panic.
        assert!(decode_payload(&[PAYLOAD_DEALLOC_LAST, 0], 1, 0, crate::format::VERSION, &mut Vec::new()).is_err());
        assert!(decode_payload(&[PAYLOAD_ALLOC_REUSE, 0, 8], 1, 0, crate::format::VERSION, &mut Vec::new()).is_err());
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let mut buf = Vec::new();
        encode_payload(&[RawEvent::thread_exit(3)], &[], &[], 0, &mut buf);
        buf.push(0);
        let err = decode_payload(&buf, 1, 0, crate::format::VERSION, &mut Vec::new()).unwrap_err();
        assert_eq!(err.offset, 2);
    }
}
