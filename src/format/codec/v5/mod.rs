//! Version 5 of the chunk payload (FORMAT.md, "On disk: the chunk
//! payload"): the shared constants, the coding parameters and how a chunk's
//! are chosen; the model in [`model`], the two directions in [`encode`] and
//! [`decode`].

use super::*;

pub(super) mod decode;
pub(super) mod encode;
mod model;

use model::Model5;

/// Timestamp contexts of versions 5 to 7: the delta before an event is
/// coded with the parameters of the previous event's context.
const TS_CONTEXTS_V5: usize = 3;
/// Timestamp contexts since version 8: the pair (the previous event's
/// context, the event's own), `3 × previous + own`.
const TS_CONTEXTS: usize = 9;
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

/// The version-8 timestamp context of an event of `kind` after one of `prev_kind`.
#[inline(always)]
fn pair_context(prev_kind: u8, kind: u8) -> usize {
    ts_context(prev_kind) * 3 + ts_context(kind)
}

/// [`ts_context`] of a descriptor class (7: the chunk's start), as a
/// table: one load, where the `match` was a chain of branches three times
/// per event.
#[inline(always)]
fn class_context(class: usize) -> usize {
    const BY_CLASS: [usize; 8] = [CTX_ALLOC, CTX_ALLOC, CTX_DEALLOC, CTX_OTHER, CTX_OTHER, CTX_OTHER, CTX_OTHER, CTX_OTHER];
    BY_CLASS[class & 7]
}

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
/// Descriptor bit 6 of a reallocation (version 8): the old address (and a
/// small reallocation's old size) is one of the chunk's live allocations.
const D_OLD_LIVE: u8 = 1 << 6;
/// Descriptor bit 7 of a reallocation (version 8): with [`D_OLD_LIVE`], the
/// most recent one.
const D_OLD_FIRST: u8 = 1 << 7;

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
pub(super) fn size_class(size: u64) -> usize {
    (size.saturating_add(23) >> 4).clamp(2, SIZE_CLASSES as u64 - 1) as usize
}

/// The largest Rice parameter of a pair context at which the predicted
/// descriptor rides on the timestamp (version 8, FORMAT.md): above it a
/// wrong guess's Rice-coded 0 costs more than a bit per correct guess.
const RIDE_MAX_K: u32 = 3;

/// Where glibc's chunk for a request of `size` bytes at `ptr` ends (its
/// size: the request plus 8, rounded up to 16, at least 32): the address a
/// new block cut from the top of the heap gets next (version 8).
#[inline(always)]
fn chunk_end(ptr: u64, size: u64) -> u64 {
    ptr.wrapping_add(size.saturating_add(8 + 15).max(32) & !15)
}

/// The bit length an address delta is coded against before the chunk's
/// first (version 8).
const ADDR_LEN_START: u32 = 16;
/// The Rice parameter of the change in an address delta's bit length.
const ADDR_LEN_K: u32 = 1;

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
    // Pass 1: the bases, per pair of contexts.
    let mut min_dt = [i64::MAX; TS_CONTEXTS];
    let mut min_size = u64::MAX;
    let (mut prev, mut prev_ctx) = (first_ts_ns, ts_context(KIND_THREAD_EXIT));
    for e in events {
        let (ts, kind) = (e.ts_ns(), e.kind());
        let ctx = ts_context(kind);
        let pair = &mut min_dt[prev_ctx * 3 + ctx];
        *pair = (*pair).min(ts.wrapping_sub(prev) as i64);
        prev = ts;
        prev_ctx = ctx;
        let size = if is_sized(kind) { e.b } else { u64::MAX };
        min_size = min_size.min(size);
    }
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
        let ctx = pair_context(prev_kind, e.kind());
        ts_hist[ctx][bit_len(e.ts_ns().wrapping_sub(prev_ts).wrapping_sub(p.ts_base[ctx] as u64))] += 1;
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
