//! The bit-stream decoder, versions 5 to 8 (`V8`: the version-8 head and
//! reallocations); never panics on hostile bytes.

use super::*;

pub(in crate::format::codec) fn decode_payload_v5<const V8: bool>(
    payload: &[u8],
    count: u32,
    first_ts_ns: u64,
    out: &mut Vec<Event>,
) -> Result<(), PayloadError> {
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
    for ctx in 0..if V8 { TS_CONTEXTS } else { TS_CONTEXTS_V5 } {
        p.ts_base[ctx] = unzigzag(c.varint()?);
        p.ts_k[ctx] = k(&mut c)?;
    }
    p.size_base = c.varint()?;
    p.size_k = k(&mut c)?;
    let bits = &payload[c.pos..];
    let mut r = BitReader { buf: bits, base: c.pos, pos: 0, end: bits.len() as u64 * 8 };
    let mut m = Model5::new(first_ts_ns);
    for _ in 0..count {
        let prev = usize::from(m.prev_d);
        let (d, ctx, v) = if V8 {
            let guess = m.predicted[prev];
            let pc = class_context(prev & 7) * 3;
            let cg = pc + class_context(usize::from(guess & 7));
            let riding = p.ts_k[cg] <= RIDE_MAX_K;
            let x = if riding { r.rice(p.ts_k[cg])? } else { 0 };
            if x != 0 {
                (guess, cg, x - 1)
            } else {
                let bits = r.peek();
                let (at, d, used) = if riding {
                    match bits & 1 {
                        1 => (1, m.predicted2[prev], 1),
                        _ => (2, (bits >> 1) as u8, 9),
                    }
                } else {
                    match bits & 3 {
                        0b01 | 0b11 => (0, guess, 1),
                        0b10 => (1, m.predicted2[prev], 2),
                        _ => (2, (bits >> 2) as u8, 10),
                    }
                };
                r.skip(used)?;
                m.touch_descriptor(m.prev_d, at, d);
                let ctx = pc + class_context(usize::from(d & 7));
                (d, ctx, r.rice(p.ts_k[ctx])?)
            }
        } else {
            let ctx = class_context(prev & 7);
            let k = p.ts_k[ctx];
            match r.rice(k)? {
                0 => {
                    let d = r.take(8)? as u8;
                    m.predicted[prev] = d;
                    (d, ctx, r.rice(k)?)
                }
                x => (m.predicted[prev], ctx, x - 1),
            }
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
                let ptr = if d & D_HIT != 0 {
                    m.freed[size_class(size)]
                } else if !V8 {
                    read_addr(&mut r, m.prev_addr)?
                } else if r.take(1)? == 1 {
                    m.top
                } else {
                    read_addr8(&mut r, &mut m.addr_len, m.prev_addr)?
                };
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
                    let ptr = if V8 { read_addr8(&mut r, &mut m.addr_len, m.prev_addr)? } else { read_addr(&mut r, m.prev_addr)? };
                    (ptr, size, align)
                };
                m.deallocated(ptr, size, align);
                Event::Dealloc { ts_ns, ptr, size, align }
            }
            CLASS_REALLOC | CLASS_REALLOC_LARGE if V8 => read_realloc8(&mut r, &mut m, d, ts_ns)?,
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

/// A version-8 reallocation after its head (`put_realloc` in encode.rs).
#[inline(never)]
fn read_realloc8(r: &mut BitReader<'_>, m: &mut Model5, d: u8, ts_ns: u64) -> Result<Event, PayloadError> {
    let live = if d & D_OLD_LIVE != 0 {
        let at = if d & D_OLD_FIRST != 0 { 0 } else { r.take(3)? as usize };
        Some(m.take_live(at).ok_or_else(|| r.err("reallocation of a live allocation the chunk does not hold"))?)
    } else {
        None
    };
    let old_ptr = match live {
        Some((ptr, _, _)) => ptr,
        None => read_addr8(r, &mut m.addr_len, m.prev_addr)?,
    };
    let (old_size, new_size) = if d & 7 == CLASS_REALLOC {
        let old = match live {
            Some((_, size, _)) => size,
            None => r.long()?,
        };
        if old >> 32 != 0 {
            return Err(r.err("size of a small reallocation exceeds 32 bits"));
        }
        let new = if r.take(1)? == 1 { 2 * old } else { r.long()? };
        if new >> 32 != 0 {
            return Err(r.err("size of a small reallocation exceeds 32 bits"));
        }
        (Some(old), new)
    } else {
        (None, r.long()?)
    };
    let new_ptr = if r.take(1)? == 1 {
        old_ptr
    } else if r.take(1)? == 1 {
        m.freed[size_class(new_size)]
    } else {
        read_addr8(r, &mut m.addr_len, old_ptr)?
    };
    let stack = read_stack(r, m, d >> D_STACK_SHIFT & 3)?;
    let returned_ns = if d & D_HIT != 0 {
        match ts_ns.checked_add(r.long()?).filter(|&v| v <= TS_MAX) {
            Some(v) => Some(v),
            None => return Err(r.err("return stamp exceeds 56 bits")),
        }
    } else {
        None
    };
    let align = live.map_or(m.last_align, |(_, _, align)| align);
    m.reallocated8(old_ptr, old_size, new_ptr, new_size, align);
    Ok(Event::Realloc { ts_ns, old_ptr, new_ptr, old_size, new_size, stack, returned_ns })
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

/// What `put_addr_delta` (encode.rs) wrote: version 8's address delta.
#[inline(always)]
fn read_addr8(r: &mut BitReader<'_>, last_len: &mut u32, from: u64) -> Result<u64, PayloadError> {
    let n = i64::from(*last_len).saturating_add(unzigzag(r.rice(ADDR_LEN_K)?));
    let v = match n {
        0 | 1 => n as u64,
        2..=64 => 1 << (n - 1) | r.take_wide(n as u32 - 1)?,
        _ => return Err(r.err("address delta longer than 64 bits")),
    };
    *last_len = n as u32;
    Ok(from.wrapping_add(unzigzag(v) as u64))
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
