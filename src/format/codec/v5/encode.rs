//! The bit-stream encoder (version 8): one chunk's events into a bit stream.

use super::*;

/// An event's descriptor and timestamp (version 8). Let *g* be the
/// descriptor predicted after the previous event's and *cg* the context of
/// the pair (previous class, *g*'s class). When `ts_k[cg]` ≤ [`RIDE_MAX_K`]
/// the descriptor rides on the timestamp: a correct guess is the delta + 1,
/// Rice-coded with `cg`'s parameters (no bit of its own); else a Rice-coded
/// 0 with them, then 1 for the second guess or 0 and the descriptor's 8
/// bits, then the delta. Otherwise (long deltas, where a 0 would cost
/// many bits) the descriptor comes first: 1 for the guess, 01 for the
/// second, else 00 and its 8 bits; then the delta. The delta is above the
/// base of the event's own pair context.
#[inline(always)]
fn put_head<T: Tally>(w: &mut BitWriter<'_>, m: &mut Model5, p: &Params, d: u8, ts: u64, t: &mut T) {
    let p0 = w.pos_if::<T>();
    let prev = usize::from(m.prev_d);
    let guess = m.predicted[prev];
    let pc = class_context(prev & 7) * 3;
    let cg = pc + class_context(usize::from(guess & 7));
    let ctx = pc + class_context(usize::from(d & 7));
    let v = ts.wrapping_sub(m.prev_ts).wrapping_sub(p.ts_base[ctx] as u64);
    let at = if p.ts_k[cg] <= RIDE_MAX_K {
        if guess == d {
            // The base is the context's least delta: `v` < 2^56, `v` + 1 ≠ 0.
            w.rice(v + 1, p.ts_k[ctx]);
            t.add(Part::Timestamps, w.pos_if::<T>() - p0);
            m.prev_ts = ts;
            m.prev_d = d;
            return;
        }
        w.rice(0, p.ts_k[cg]);
        if m.predicted2[prev] == d {
            w.put(1, 1);
            1
        } else {
            w.put(u64::from(d) << 1, 9);
            2
        }
    } else if guess == d {
        w.put(1, 1);
        0
    } else if m.predicted2[prev] == d {
        w.put(0b10, 2);
        1
    } else {
        w.put(u64::from(d) << 2, 10);
        2
    };
    m.touch_descriptor(m.prev_d, at, d);
    let p1 = w.pos_if::<T>();
    t.add(Part::Tags, p1 - p0);
    w.rice(v, p.ts_k[ctx]);
    t.add(Part::Timestamps, w.pos_if::<T>() - p1);
    m.prev_ts = ts;
    m.prev_d = d;
}

/// An address delta (version 8): the change of its zigzag value's bit
/// length n from the last delta's, zigzag and Rice-coded, then its low
/// n − 1 bits (the top one implied).
#[inline(always)]
fn put_addr_delta<T: Tally>(w: &mut BitWriter<'_>, last_len: &mut u32, from: u64, to: u64, t: &mut T) {
    let p0 = w.pos_if::<T>();
    let v = zigzag(to.wrapping_sub(from) as i64);
    let n = bit_len(v) as u32;
    w.rice(zigzag(i64::from(n) - i64::from(*last_len)), ADDR_LEN_K);
    if n >= 2 {
        w.put(v & !(1u64 << (n - 1)), n - 1);
    }
    *last_len = n;
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
/// stack id `stack` and return stamp `r` (0: none), version 8: the old
/// address as a live allocation's rank when the chunk holds it (its size
/// then left out), a small reallocation's new size as one bit when it is
/// twice the old, and the new address as one bit when it is the old, two
/// when it is the one its size class freed last. Out of the encoder's
/// loop, as [`put_other`]: rare events whose code would crowd the
/// registers of the common ones.
#[inline(never)]
fn put_realloc<T: Tally>(w: &mut BitWriter<'_>, m: &mut Model5, p: &Params, e: &RawEvent, stack: u32, r: u64, t: &mut T) {
    let (kind, ts) = (e.kind(), e.ts_ns());
    let (mode, stack_at) = m.stack_mode(stack);
    let (old_size, new_size) = if kind == KIND_REALLOC { (Some(e.c & 0xFFFF_FFFF), e.c >> 32) } else { (None, e.c) };
    let live_at = m.find_live_ptr(e.a, old_size);
    let class = if kind == KIND_REALLOC { CLASS_REALLOC } else { CLASS_REALLOC_LARGE };
    let live = match live_at {
        Some(0) => D_OLD_LIVE | D_OLD_FIRST,
        Some(_) => D_OLD_LIVE,
        None => 0,
    };
    let d = class | if r != 0 { D_HIT } else { 0 } | mode << D_STACK_SHIFT | live;
    put_head(w, m, p, d, ts, t);
    let align = match live_at {
        Some(at) => {
            if at != 0 {
                w.put(at as u64, 3);
                t.add(Part::Addresses, 3);
            }
            m.take_live(at).map_or(m.last_align, |(_, _, align)| align)
        }
        None => {
            put_addr_delta(w, &mut m.addr_len, m.prev_addr, e.a, t);
            m.last_align
        }
    };
    let p0 = w.pos_if::<T>();
    match old_size {
        Some(old) => {
            if live_at.is_none() {
                w.long(old);
            }
            if new_size == 2 * old {
                w.put(1, 1);
            } else {
                w.put(0, 1);
                w.long(new_size);
            }
        }
        None => w.long(new_size),
    }
    t.add(Part::Sizes, w.pos_if::<T>() - p0);
    if e.b == e.a {
        w.put(1, 1);
        t.add(Part::Addresses, 1);
    } else if e.b == m.freed[size_class(new_size)] {
        w.put(0b10, 2);
        t.add(Part::Addresses, 2);
    } else {
        w.put(0, 2);
        t.add(Part::Addresses, 2);
        put_addr_delta(w, &mut m.addr_len, e.a, e.b, t);
    }
    put_stack5(w, m, mode, stack_at, stack, t);
    if r != 0 {
        let p0 = w.pos_if::<T>();
        w.long(r.saturating_sub(ts).min(TS_MAX));
        t.add(Part::Other, w.pos_if::<T>() - p0);
    }
    m.reallocated8(e.a, old_size, e.b, new_size, align);
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

pub(in crate::format::codec) fn encode_v5<T: Tally>(
    events: &[RawEvent],
    stacks: &[u32],
    returned: &[u64],
    first_ts_ns: u64,
    out: &mut Vec<u8>,
    t: &mut T,
) {
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
                    // 1: the top of the heap; else 0 and the delta.
                    if ptr == m.top {
                        w.put(1, 1);
                        t.add(Part::Addresses, 1);
                    } else {
                        w.put(0, 1);
                        t.add(Part::Addresses, 1);
                        put_addr_delta(&mut w, &mut m.addr_len, m.prev_addr, ptr, t);
                    }
                }
                put_stack5(&mut w, &mut m, mode, stack_at, stack, t);
                // As `Model5::allocated`, with the layout's position found above.
                m.prev_addr = ptr;
                m.top = chunk_end(ptr, size);
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
                        put_addr_delta(&mut w, &mut m.addr_len, m.prev_addr, ptr, t);
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
