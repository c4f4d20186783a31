//! Versions 1 to 4 of the chunk payload (FORMAT.md, "Chunk payload
//! (versions 1 to 4)"): a tag varint per event, delta and varint
//! operands; both directions (files of these versions are decode-only, the
//! encoder stays for the byte accounting and benches).

use super::*;

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

impl Cursor<'_> {
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
pub(super) fn decode_payload_v4(
    payload: &[u8],
    count: u32,
    first_ts_ns: u64,
    version: u32,
    out: &mut Vec<Event>,
) -> Result<(), PayloadError> {
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
