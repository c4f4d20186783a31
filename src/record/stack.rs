//! Call stacks on the hot path: a frame-pointer walk, and a per-slot stack
//! table that turns a stack into a small id.
//!
//! Rules (those of `alloc.rs` and `thread/`): no allocation through the
//! global allocator (a table comes from the inner allocator, once per slot),
//! no lock, no syscall, no unwinding, and never a read outside the calling
//! thread's own stack: every frame pointer is checked against the thread's
//! stack bounds, its alignment and its predecessor before it is followed.
//!
//! # The walk
//! With frame pointers, each frame starts with the caller's frame pointer
//! and the return address into the caller (`[fp]`, `[fp + 8]` on x86-64 and
//! aarch64). The walk follows that chain from the allocator's own frame and
//! stops at the first of:
//! - a null frame pointer: the outermost frame (`_start` and glibc's thread
//!   start clear it), a complete stack;
//! - a frame pointer outside the thread's stack, misaligned, or not above
//!   the previous one; or a return address outside every loaded object's
//!   code: the chain is broken (code built without frame pointers uses the
//!   register for data), so nothing past it is read. The stack is kept,
//!   flagged [`ENDED_EARLY`]; replay drops the flag when its outermost
//!   frame is a thread's entry, where glibc's frames (built without frame
//!   pointers) always end the chain;
//! - [`MAX_DEPTH`] frames: flagged [`CUT_AT_DEPTH`].
//!
//! A function built without frame pointers links no frame of its own: its
//! callee's frame links straight to its caller's, so the return address
//! into its caller (the caller's line) is missing from the stack, while
//! the function itself appears (as its callee's return address). If it used
//! the register for data, the link is not a frame and the walk ends there.
//! Return addresses are accepted only inside the executable segments of
//! the loaded objects: checked first against the executable's and against
//! the one the thread's previous walk ended in (a published range never
//! changes, so remembering one is exact), then against all of them.
//!
//! # The table
//! Per slot, fixed size, allocated from the inner allocator on the slot's
//! first stack: an open-addressing index of stack hashes (producer only) and
//! an append-only list of stacks (the producer appends, the drainer reads).
//! A stack's id is its position in the list, from 1. The producer writes a
//! stack's frames before it pushes the first event carrying the id, and the
//! push's Release store publishes them to the drainer's Acquire pop. An
//! entry is never changed once written, so the drainer may read any id it
//! popped while the producer appends more. In front of the index, a few
//! recently looked-up stacks are compared frame by frame with the walk
//! (`StackTable::lookup`): the common case of a program allocating again
//! where it just did costs no hash and no probe, and gives the same id.
//! When the table is full, new
//! stacks get [`LOCAL_FULL`] (counted by replay, never lost silently).
//! Tables stay with their slot for the life of the process: stacks are
//! process-wide addresses, so a later owner of the slot reuses them.

use super::registry::Slot;
use crate::sync::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use core::mem::MaybeUninit;
use core::ptr::NonNull;
use std::alloc::{GlobalAlloc, Layout};

/// The most frames a stack holds; deeper stacks are cut, outermost part dropped.
pub(crate) const MAX_DEPTH: usize = 128;
/// Stacks per slot table (ids 1..TABLE_STACKS).
pub(crate) const TABLE_STACKS: usize = 4096;
/// Frames per slot table, over all its stacks.
pub(crate) const TABLE_FRAMES: usize = 1 << 15;
/// Index buckets: twice the stacks, so a probe always meets an empty bucket.
const BUCKETS: usize = 2 * TABLE_STACKS;

/// The local stack id of an event whose stack was not captured because its
/// slot's table is full.
pub(crate) const LOCAL_FULL: u32 = u32::MAX;

/// Entry flag: the walk stopped at a broken link before a null frame pointer.
pub(crate) const ENDED_EARLY: u8 = 1;
/// Entry flag: the walk stopped at [`MAX_DEPTH`] frames.
pub(crate) const CUT_AT_DEPTH: u8 = 2;

/// One stack of a table.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct Entry {
    /// Index of its innermost frame in `frames`.
    offset: u32,
    /// Number of frames.
    len: u16,
    /// [`ENDED_EARLY`], [`CUT_AT_DEPTH`].
    flags: u16,
}

/// A slot's stack table. Lives in memory from the inner allocator, zeroed at
/// creation, never freed.
///
/// # Reset
/// A full table is emptied rather than left full: the producer asks for a
/// reset (bumps `requested`, Release) and from then on gives every stack
/// [`LOCAL_FULL`] without touching the table. The drainer, having loaded
/// `requested` (Acquire) before it empties the slot's ring, has then
/// resolved every id pushed before the request; it forgets its own ids for
/// the slot and acknowledges (`acked`, Release). The producer, seeing the
/// acknowledgement (Acquire), empties the table and hands out ids from 1
/// again. So an id is never resolved against a table reset since it was
/// pushed, and memory stays bounded.
#[repr(C)]
pub(crate) struct StackTable {
    /// Resets asked for by the producer, ever.
    requested: AtomicU32,
    /// Resets the drainer acknowledged, ever (≤ `requested`).
    acked: AtomicU32,
    /// Producer only: the last reset it carried out (= `requested` when
    /// none is pending).
    reset_done: u32,
    /// Producer only: entries used, including the unused entry 0.
    len: usize,
    /// Producer only: frames used.
    frames_used: usize,
    /// Producer only: the walk's second code range ([`CodeHint`]).
    code_hint: CodeHint,
    /// Producer only: the stacks looked up last, by [`recent_key`]; id 0
    /// for none. Emptied with the table at a reset.
    recent: [Recent; RECENT],
    /// Producer only: `(tag << 32) | id`, 0 for an empty bucket.
    buckets: [u64; BUCKETS],
    /// Written by the producer before an id is published, then read-only.
    entries: [Entry; TABLE_STACKS],
    /// As `entries`.
    frames: [u64; TABLE_FRAMES],
}

/// A stack the producer looked up lately: its id and a copy of its entry.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct Recent {
    id: u32,
    entry: Entry,
}

/// Slots of [`StackTable::recent`] (a power of two).
const RECENT: usize = 8;

/// Which slot of [`StackTable::recent`] a stack goes in: a mix of its
/// innermost frame (which says through which allocator call it came), a
/// frame from its middle and its depth. Any key would be exact (a hit is
/// checked frame by frame); this one keeps a program's few hot stacks apart.
#[inline(always)]
fn recent_key(frames: &[u64]) -> usize {
    let n = frames.len();
    let (first, middle) = match frames {
        [] => (0, 0),
        _ => (frames[0], frames[n / 2]),
    };
    ((first ^ middle.rotate_left(23) ^ n as u64).wrapping_mul(K) >> (64 - RECENT.trailing_zeros())) as usize
}

/// Code address ranges of the loaded objects, for checking return
/// addresses on the hot path: written at `start` and by the drainer when
/// the set of objects grows (append only), read by every walk.
pub(crate) struct CodeRanges {
    /// `[start, end)` pairs; the first is the executable's.
    ranges: [(AtomicU64, AtomicU64); MAX_RANGES],
    /// Pairs published.
    len: AtomicUsize,
}

/// The most objects whose code the walk accepts.
pub(crate) const MAX_RANGES: usize = 256;

#[allow(clippy::declare_interior_mutable_const)]
const RANGE: (AtomicU64, AtomicU64) = (AtomicU64::new(0), AtomicU64::new(0));

pub(crate) static CODE: CodeRanges = CodeRanges { ranges: [RANGE; MAX_RANGES], len: AtomicUsize::new(0) };

impl CodeRanges {
    /// Publishes `[start, end)` unless it is already there; returns false when full.
    /// Called only by the thread that starts recordings or by the drainer,
    /// one at a time (`record::STATE`).
    pub(crate) fn add(&self, start: u64, end: u64) -> bool {
        // Relaxed: this thread is the only writer (see above).
        let n = self.len.load(Ordering::Relaxed);
        for (s, e) in &self.ranges[..n] {
            // Relaxed: written by this same single writer.
            if s.load(Ordering::Relaxed) == start && e.load(Ordering::Relaxed) == end {
                return true;
            }
        }
        let Some((s, e)) = self.ranges.get(n) else { return false };
        // Relaxed: published by the Release store of `len` below.
        s.store(start, Ordering::Relaxed);
        e.store(end, Ordering::Relaxed);
        // Release: pairs with the Acquire load in `contains`: a walker that
        // sees the new length sees the pair.
        self.len.store(n + 1, Ordering::Release);
        true
    }

    /// The ranges published so far, for one walk: a range published during
    /// the walk is not seen by it (as if the walk had run a moment before).
    /// `other` is a range of these published before (see [`CodeHint`]).
    #[inline(always)]
    fn view(&self, other: CodeHint) -> CodeView<'_> {
        // Acquire: pairs with the Release store in `add`: the pairs below
        // `len` are seen written.
        let n = self.len.load(Ordering::Acquire).min(MAX_RANGES);
        let (lo, hi) = if n > 0 { self.range(0) } else { (0, 0) };
        CodeView { ranges: self, n, lo, span: hi.saturating_sub(lo), other }
    }

    /// Range `i` (below a length loaded with Acquire).
    #[inline(always)]
    fn range(&self, i: usize) -> (u64, u64) {
        let (s, e) = &self.ranges[i];
        // Relaxed: ordered by the Acquire load of `len` (`view`).
        (s.load(Ordering::Relaxed), e.load(Ordering::Relaxed))
    }
}

/// What one walk knows of [`CODE`] (or of other [`CodeRanges`], in tests):
/// how many ranges it looks at, and two ranges checked before the others,
/// each as its start and length so that a check is one subtraction and one
/// compare: the executable's (where most frames are) and `other`, the last
/// other range a return address fell in (for a thread, usually the C
/// library, where its outermost frame returns to). The caller keeps `other`
/// from one walk to the next ([`CodeView::other`]).
struct CodeView<'a> {
    ranges: &'a CodeRanges,
    n: usize,
    lo: u64,
    span: u64,
    other: CodeHint,
}

/// A range of [`CODE`] as `(start, length)`, `(0, 0)` for none: a
/// thread's guess of where the next walk's last frame returns to. Any
/// range once published stays published unchanged (`CodeRanges::add` only
/// appends), so a hint from an earlier walk is a range this walk may accept.
pub(crate) type CodeHint = (u64, u64);

impl CodeView<'_> {
    /// Whether `addr` is inside one of the ranges; on a hit outside the
    /// first two, that range becomes `other`.
    #[inline(always)]
    fn contains(&mut self, addr: u64) -> bool {
        // One unsigned compare for `lo <= addr < lo + span`.
        addr.wrapping_sub(self.lo) < self.span || addr.wrapping_sub(self.other.0) < self.other.1 || self.find(addr)
    }

    /// [`CodeView::contains`] past the first two ranges: a scan of them all.
    #[inline(never)]
    fn find(&mut self, addr: u64) -> bool {
        for i in 0..self.n {
            let (lo, hi) = self.ranges.range(i);
            if lo <= addr && addr < hi {
                self.other = (lo, hi - lo);
                return true;
            }
        }
        false
    }

    /// The range to check second in the next walk.
    fn other(&self) -> CodeHint {
        self.other
    }
}

/// The stack pointer.
#[inline(always)]
fn stack_pointer() -> usize {
    let sp: usize;
    // SAFETY: reads a register into a local; touches no memory or flags.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags))
    };
    // SAFETY: as above.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        core::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags))
    };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        sp = usize::MAX;
    }
    sp
}

/// The frame pointer of the calling function.
#[inline(always)]
fn frame_pointer() -> usize {
    let fp: usize;
    // SAFETY: reads a register into a local; touches no memory or flags.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::asm!("mov {}, rbp", out(reg) fp, options(nomem, nostack, preserves_flags))
    };
    // SAFETY: as above (x29 is the frame pointer on aarch64).
    #[cfg(target_arch = "aarch64")]
    unsafe {
        core::arch::asm!("mov {}, x29", out(reg) fp, options(nomem, nostack, preserves_flags))
    };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        fp = 1; // Misaligned: the walk ends at once, marked ended early.
    }
    fp
}

/// Frames are at least this aligned: 16 on x86-64 (the ABI keeps the stack
/// 16-byte aligned at a call, and the pushed frame pointer lands on it) and
/// on aarch64 (sp is always 16-byte aligned).
const FP_ALIGN: usize = 16;

/// The frame pointers a walk may follow: `FP_ALIGN`-aligned and inside
/// `[low, high - 16]` (the two words read at a frame pointer end at or below
/// `high`), checked with one subtraction, one rotation and one compare.
#[derive(Debug, Clone, Copy)]
struct FrameBounds {
    /// `low` rounded up to `FP_ALIGN`.
    base: usize,
    /// The accepted pointers are `base + FP_ALIGN * k` for `k <= steps`.
    steps: usize,
}

impl FrameBounds {
    /// The bounds of `[low, high)`, or `None` when it holds no frame.
    #[inline(always)]
    fn new(low: usize, high: usize) -> Option<Self> {
        let base = low.checked_add(FP_ALIGN - 1)? & !(FP_ALIGN - 1);
        let top = high.checked_sub(16)?;
        (top >= base).then(|| FrameBounds { base, steps: (top - base) / FP_ALIGN })
    }

    /// Whether `fp` is aligned and inside the bounds. With `d = fp - base`
    /// (wrapping), `d.rotate_right(4) <= steps` holds exactly when `d` is a
    /// multiple of 16 (otherwise its low bits land in the top bits) and
    /// `d / 16 <= steps` (an `fp` below `base` wraps to a huge `d`).
    #[inline(always)]
    fn accepts(&self, fp: usize) -> bool {
        const _: () = assert!(FP_ALIGN == 16);
        fp.wrapping_sub(self.base).rotate_right(4) <= self.steps
    }
}

/// A multiplier of the FxHash family.
const K: u64 = 0x517c_c1b7_2722_0a95;

/// Walks the calling thread's frame-pointer chain into `out`, innermost
/// frame first; returns the number of frames and the entry flags. `stack`
/// is the thread's stack, `[low, high)`; `hint` the range the previous walk
/// found its last return address in, updated ([`CodeHint`]).
#[inline(always)]
fn walk(out: &mut [MaybeUninit<u64>; MAX_DEPTH], stack: (usize, usize), hint: &mut CodeHint) -> (usize, u16) {
    walk_checked(out, stack, true, hint)
}

/// [`walk`], with the check of return addresses against the loaded code
/// optional (`check_code`: a constant at every call, so it costs nothing).
///
/// A frame pointer is followed only if [`FrameBounds`] accepts it (aligned,
/// inside `[max(low, sp), high - 16]`) and it is above the previous one, so
/// every read is inside the live part of the stack.
#[inline(always)]
fn walk_checked(out: &mut [MaybeUninit<u64>; MAX_DEPTH], stack: (usize, usize), check_code: bool, hint: &mut CodeHint) -> (usize, u16) {
    // Nothing below the stack pointer is a live frame, and for the main
    // thread the range glibc reports reaches far below the mapped stack
    // (down to the previous mapping): never read there.
    let (low, high) = (stack.0.max(stack_pointer()), stack.1);
    let bounds = FrameBounds::new(low, high);
    let mut fp = frame_pointer();
    let mut n = 0;
    let mut code = CODE.view(*hint);
    if fp == 0 {
        return (0, 0);
    }
    let Some(bounds) = bounds.filter(|b| b.accepts(fp)) else {
        return (0, u16::from(ENDED_EARLY));
    };
    let flags = loop {
        // SAFETY: `[fp, fp + 16)` lies inside this thread's own stack, at or
        // above the stack pointer and below the stack's top (`FrameBounds`,
        // checked before `fp` was taken, against the stack's bounds taken at
        // registration): memory that is mapped and readable for as long as
        // the thread runs; the reads are aligned. Stale data there can make a
        // wrong chain, never a fault, and every link is checked again before
        // it is followed.
        let (next, ret) = unsafe { ((fp as *const usize).read(), ((fp + 8) as *const u64).read()) };
        if check_code && !code.contains(ret) {
            break u16::from(ENDED_EARLY);
        }
        if n == MAX_DEPTH {
            break u16::from(CUT_AT_DEPTH);
        }
        out[n] = MaybeUninit::new(ret);
        n += 1;
        if next <= fp || !bounds.accepts(next) {
            // A null link ends a complete stack; any other is broken.
            break if next == 0 { 0 } else { u16::from(ENDED_EARLY) };
        }
        fp = next;
    };
    *hint = code.other();
    (n, flags)
}

/// The hash of a stack (its frames, their number and its flags) that the
/// table's index uses.
#[inline(always)]
fn hash_of(frames: &[u64], flags: u16) -> u64 {
    let mut hash = 0u64;
    for &ret in frames {
        hash = (hash.rotate_left(5) ^ ret).wrapping_mul(K);
    }
    (hash.rotate_left(5) ^ (frames.len() as u64) ^ (u64::from(flags) << 32)).wrapping_mul(K)
}

/// Captures the calling thread's stack and returns its id in `slot`'s
/// table (creating the table from `inner` on first use), or [`LOCAL_FULL`].
/// `stack` is the thread's stack bounds.
///
/// # Safety
/// The calling thread must own `slot` (be its ring's producer).
#[inline(always)]
pub(crate) unsafe fn capture<A: GlobalAlloc>(slot: &Slot, inner: &A, stack: (usize, usize)) -> u32 {
    let Some(table) = table_of(slot, inner) else { return LOCAL_FULL };
    let t = table.as_ptr();
    // SAFETY: the caller owns `slot`, so this thread is the table's only
    // writer (its producer-only fields are this thread's); the table lives
    // forever; `requested` and `acked` are atomics.
    unsafe {
        // Relaxed: `requested` is written by this thread only.
        let requested = (*t).requested.load(Ordering::Relaxed);
        // While a reset is pending every stack gets LOCAL_FULL: no walk.
        if requested != (*t).reset_done && !finish_reset(t, requested) {
            return LOCAL_FULL;
        }
    }
    let mut frames = [MaybeUninit::<u64>::uninit(); MAX_DEPTH];
    // SAFETY: as above: `code_hint` is one of this thread's fields.
    let (n, flags) = walk(&mut frames, stack, unsafe { &mut *core::ptr::addr_of_mut!((*t).code_hint) });
    // SAFETY: `walk` initialised the first `n` elements.
    let frames = unsafe { core::slice::from_raw_parts(frames.as_ptr().cast::<u64>(), n) };
    // SAFETY: as above.
    unsafe { StackTable::lookup(t, frames, flags) }
}

/// Carries out a reset the drainer has acknowledged; false while it has not.
///
/// # Safety
/// As [`StackTable::intern`].
#[cold]
#[inline(never)]
unsafe fn finish_reset(t: *mut StackTable, requested: u32) -> bool {
    // SAFETY: `t` is live; `acked` is an atomic.
    // Acquire: pairs with the drainer's Release store of `acked` (in
    // `drainer_reset_check`), made after it resolved every id pushed before
    // the request: nothing will read the old entries after this.
    if unsafe { (*t).acked.load(Ordering::Acquire) } != requested {
        return false;
    }
    // SAFETY: the producer-only fields are this thread's, and no reader
    // looks at any entry until an event carrying a new id is pushed.
    unsafe {
        core::ptr::addr_of_mut!((*t).buckets).write_bytes(0, 1);
        core::ptr::addr_of_mut!((*t).recent).write_bytes(0, 1);
        (*t).len = 1;
        (*t).frames_used = 0;
        (*t).reset_done = requested;
    }
    true
}

/// Asks the drainer to let this full table be emptied.
///
/// # Safety
/// As [`StackTable::intern`].
#[cold]
#[inline(never)]
unsafe fn request_reset(t: *mut StackTable) {
    // SAFETY: `t` is live; `requested` is an atomic written only by this thread.
    unsafe {
        // Relaxed load: this thread's own value. Release store: pairs with
        // the drainer's Acquire load in `drainer_reset_check`: every event
        // this thread pushed before (carrying old ids) is then visible in
        // the ring to the drainer's next pop.
        let r = (*t).requested.load(Ordering::Relaxed);
        (*t).requested.store(r.wrapping_add(1), Ordering::Release);
    }
}

/// Drainer, before emptying `slot`'s ring: a reset the producer asked for,
/// or `None`. After emptying the ring it passes the value to
/// [`drainer_ack_reset`], having forgotten its ids for the slot.
pub(crate) fn drainer_reset_check(slot: &Slot) -> Option<u32> {
    let t = published_table(slot)?;
    // SAFETY: a published table lives forever; these fields are atomics.
    let (requested, acked) = unsafe {
        // Acquire: pairs with the Release store in `request_reset`.
        // Relaxed: `acked` is written by the drainer only.
        ((*t.as_ptr()).requested.load(Ordering::Acquire), (*t.as_ptr()).acked.load(Ordering::Relaxed))
    };
    (requested != acked).then_some(requested)
}

/// Drainer: acknowledges reset `requested` of `slot`'s table (see
/// [`StackTable`]); the caller has emptied the ring since
/// [`drainer_reset_check`] and forgotten its ids for the slot.
pub(crate) fn drainer_ack_reset(slot: &Slot, requested: u32) {
    if let Some(t) = published_table(slot) {
        // SAFETY: a published table lives forever; `acked` is an atomic.
        // Release: pairs with the producer's Acquire load in `finish_reset`.
        unsafe { (*t.as_ptr()).acked.store(requested, Ordering::Release) };
    }
}

/// `slot`'s table as the drainer sees it, if there is one.
fn published_table(slot: &Slot) -> Option<NonNull<StackTable>> {
    // Acquire: pairs with the Release store in `create_table`: the table
    // is seen initialised.
    let p = slot.stacks.load(Ordering::Acquire);
    NonNull::new(p.cast::<StackTable>()).filter(|_| p != NO_TABLE)
}

/// What `Slot::stacks` holds after the inner allocator refused a table:
/// that slot captures no stacks (every event gets [`LOCAL_FULL`]) rather
/// than retrying a 352 KiB allocation on every call.
const NO_TABLE: *mut u8 = core::ptr::dangling_mut::<u8>();

/// `slot`'s table, created on first use.
#[inline(always)]
fn table_of<A: GlobalAlloc>(slot: &Slot, inner: &A) -> Option<NonNull<StackTable>> {
    // Relaxed: only the owner stores the pointer (in `create_table`), and a
    // later owner sees it through the registry's claim/recycle pairs.
    let p = slot.stacks.load(Ordering::Relaxed);
    if p == NO_TABLE {
        return None;
    }
    match NonNull::new(p.cast::<StackTable>()) {
        Some(t) => Some(t),
        None => create_table(slot, inner),
    }
}

#[cold]
#[inline(never)]
fn create_table<A: GlobalAlloc>(slot: &Slot, inner: &A) -> Option<NonNull<StackTable>> {
    // SAFETY: the layout has a non-zero size. A zeroed table is a valid
    // empty one (all counts 0, all buckets empty, no reset pending).
    let Some(mem) = NonNull::new(unsafe { inner.alloc_zeroed(Layout::new::<StackTable>()) }) else {
        // Relaxed: read back by this thread (and later owners, through the
        // registry's claim/recycle pairs); the drainer skips it as no table.
        slot.stacks.store(NO_TABLE, Ordering::Relaxed);
        return None;
    };
    let mem = mem.cast::<StackTable>();
    // SAFETY: `mem` is valid for a `StackTable` and this thread owns it.
    unsafe { (*mem.as_ptr()).len = 1 };
    // Release: pairs with the drainer's Acquire loads (`frames_of`,
    // `drainer_reset_check`): it sees the table initialised.
    slot.stacks.store(mem.as_ptr().cast::<u8>(), Ordering::Release);
    Some(mem)
}

/// Whether the `frames.len()` frames at `at` equal `frames`: every pair
/// is compared (no early exit), which the compiler turns into a few wide
/// compares instead of a call to `bcmp`.
///
/// # Safety
/// `at` is valid for reading `frames.len()` frames, none of which is being
/// written.
#[inline(always)]
unsafe fn same_frames(at: *const u64, frames: &[u64]) -> bool {
    // SAFETY: the caller's contract.
    let stored = unsafe { core::slice::from_raw_parts(at, frames.len()) };
    stored.iter().zip(frames).fold(0, |d, (a, b)| d | (a ^ b)) == 0
}

impl StackTable {
    /// The id of the stack `frames` with `flags` in the table at `t`,
    /// adding it if new: first from [`StackTable::recent`], else from the
    /// index ([`StackTable::intern`]).
    ///
    /// Exact: a hit in `recent` is an entry of this table whose frames,
    /// depth and flags all equal the walk's, compared here one by one; the
    /// table holds each stack once and never changes an entry until a
    /// reset, which empties `recent` too; so the id is the one the index
    /// would give.
    ///
    /// # Safety
    /// As [`StackTable::intern`].
    #[inline(always)]
    unsafe fn lookup(t: *mut StackTable, frames: &[u64], flags: u16) -> u32 {
        let k = recent_key(frames);
        // SAFETY: `recent` is touched by the writer only (the caller); entry
        // `r.id`'s frames lie inside the table (checked by `insert`) and
        // are never written again before a reset empties `recent`.
        unsafe {
            let recent = core::ptr::addr_of_mut!((*t).recent).cast::<Recent>().add(k);
            let r = recent.read();
            if r.id != 0
                && r.entry.flags == flags
                && usize::from(r.entry.len) == frames.len()
                && same_frames(core::ptr::addr_of!((*t).frames).cast::<u64>().add(r.entry.offset as usize), frames)
            {
                return r.id;
            }
            let id = Self::intern(t, frames, flags, hash_of(frames, flags));
            if id != LOCAL_FULL {
                let entry = core::ptr::addr_of!((*t).entries).cast::<Entry>().add(id as usize).read();
                recent.write(Recent { id, entry });
            }
            id
        }
    }

    /// The id of the stack `frames` with `flags` in the table at `t`, adding
    /// it if new.
    ///
    /// # Safety
    /// `t` points to a live table and the caller is its only writer. The
    /// drainer may be reading published entries meanwhile, so this never
    /// makes a reference covering `entries` or `frames`: it reads and writes
    /// them through raw pointers, and writes only past the published ones.
    #[inline(always)]
    unsafe fn intern(t: *mut StackTable, frames: &[u64], flags: u16, hash: u64) -> u32 {
        // SAFETY: `buckets` is touched by the writer only (the caller).
        let buckets = unsafe { &mut *core::ptr::addr_of_mut!((*t).buckets) };
        let tag = (hash >> 32) | 1;
        let mut b = hash as usize & (BUCKETS - 1);
        loop {
            let v = buckets[b];
            if v == 0 {
                // SAFETY: the caller's contract, passed on.
                return unsafe { Self::insert(t, buckets, b, tag, frames, flags) };
            }
            if v >> 32 == tag {
                let id = v as u32;
                // SAFETY: a bucket holds only ids of written entries, whose
                // frames lie inside the table (checked by `insert`).
                let same = unsafe {
                    let e = core::ptr::addr_of!((*t).entries).cast::<Entry>().add(id as usize).read();
                    e.flags == flags
                        && usize::from(e.len) == frames.len()
                        && same_frames(core::ptr::addr_of!((*t).frames).cast::<u64>().add(e.offset as usize), frames)
                };
                if same {
                    return id;
                }
            }
            b = (b + 1) & (BUCKETS - 1);
        }
    }

    /// # Safety
    /// As [`StackTable::intern`]; `buckets` is the table's own.
    #[cold]
    #[inline(never)]
    unsafe fn insert(t: *mut StackTable, buckets: &mut [u64; BUCKETS], bucket: usize, tag: u64, frames: &[u64], flags: u16) -> u32 {
        // SAFETY: `len` and `frames_used` are touched by the writer only.
        let (len, used) = unsafe { (&mut *core::ptr::addr_of_mut!((*t).len), &mut *core::ptr::addr_of_mut!((*t).frames_used)) };
        let (id, off) = (*len, *used);
        if id >= TABLE_STACKS || off + frames.len() > TABLE_FRAMES {
            // SAFETY: the caller's contract, passed on.
            unsafe { request_reset(t) };
            return LOCAL_FULL;
        }
        // SAFETY: entry `id` and frames `off..off + len` are past every
        // published one (ids and frames are handed out in order), so no
        // reader looks at them until an event carrying `id` is pushed; both
        // are in bounds (checked above).
        unsafe {
            core::ptr::addr_of_mut!((*t).frames).cast::<u64>().add(off).copy_from_nonoverlapping(frames.as_ptr(), frames.len());
            core::ptr::addr_of_mut!((*t).entries).cast::<Entry>().add(id).write(Entry {
                offset: off as u32,
                len: frames.len() as u16,
                flags,
            });
        }
        buckets[bucket] = (tag << 32) | id as u64;
        *len = id + 1;
        *used = off + frames.len();
        id as u32
    }
}

/// The frames (innermost first) and flags of stack `id` of `slot`'s table.
///
/// # Safety
/// The caller must be the drainer (the slot's ring's consumer), and `id`
/// must come from an event it popped from that ring, other than 0 and
/// [`LOCAL_FULL`]: the producer wrote the entry before pushing the event.
pub(crate) unsafe fn frames_of(slot: &Slot, id: u32) -> Option<(&[u64], u16)> {
    let table = published_table(slot)?;
    let t = table.as_ptr();
    let id = id as usize;
    if id == 0 || id >= TABLE_STACKS {
        return None;
    }
    // SAFETY: entry `id` and its frames were written before the push that
    // published `id` (the caller's contract), and are never written again;
    // the producer only writes entries and frames past them. Reads go
    // through raw pointers to those fields only, never through a reference
    // to the whole table, which the producer may be appending to.
    unsafe {
        let e = core::ptr::addr_of!((*t).entries).cast::<Entry>().add(id).read();
        let (off, len) = (e.offset as usize, usize::from(e.len));
        if off + len > TABLE_FRAMES {
            return None;
        }
        let frames = core::slice::from_raw_parts(core::ptr::addr_of!((*t).frames).cast::<u64>().add(off), len);
        Some((frames, e.flags))
    }
}

/// Whether the frame-pointer walk works in this build: a probe two calls
/// deep must find the return address into its caller. It does not when
/// memscope itself was built without frame pointers (the register then
/// holds data; the crate's `.cargo/config.toml` does not apply to a
/// program that depends on it): stacks are then turned off for the
/// recording and the `Summary` says why, rather than recording empty stacks.
/// Runs on the drainer thread at start, after the module map is loaded.
pub(crate) fn walk_works() -> bool {
    core::hint::black_box(probe_outer())
}

#[inline(never)]
fn probe_outer() -> bool {
    let ret = core::hint::black_box(probe_inner());
    let outer = probe_outer as fn() -> bool as usize as u64;
    // The return address lies just past the call inside this function.
    ret > outer && ret - outer < 4096
}

#[inline(never)]
fn probe_inner() -> u64 {
    let mut frames = [MaybeUninit::<u64>::uninit(); MAX_DEPTH];
    let (n, _) = walk(&mut frames, thread_stack_bounds(), &mut (0, 0));
    if n == 0 {
        return 0;
    }
    // SAFETY: `walk` initialised the first `n` elements.
    unsafe { frames[0].assume_init() }
}

/// Up to `n` return addresses of the calling thread, innermost first: the
/// first is in the caller of this function. The allocator's walk, without
/// its check against the loaded code (which is only filled while a
/// recording runs): for tests that symbolize the running binary.
#[inline(never)]
pub(crate) fn return_addresses(n: usize) -> Vec<u64> {
    let mut frames = [MaybeUninit::<u64>::uninit(); MAX_DEPTH];
    let (got, _) = walk_checked(&mut frames, thread_stack_bounds(), false, &mut (0, 0));
    // SAFETY: `walk_checked` initialised the first `got` elements.
    let frames = unsafe { core::slice::from_raw_parts(frames.as_ptr().cast::<u64>(), got) };
    frames.iter().take(n).copied().collect()
}

/// The calling thread's stack, `[low, high)`, or `(0, 0)` when unknown
/// (every walk then stops at once). Cold: registration only. Allocates
/// inside glibc for the main thread (it reads /proc/self/maps); the caller
/// is inside the recorder, so that is not recorded.
pub(crate) fn thread_stack_bounds() -> (usize, usize) {
    let mut attr = MaybeUninit::<libc::pthread_attr_t>::uninit();
    // SAFETY: `attr` is writable; on success it is initialised and destroyed below.
    unsafe {
        if libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) != 0 {
            return (0, 0);
        }
        let mut addr: *mut libc::c_void = core::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let ok = libc::pthread_attr_getstack(attr.as_ptr(), &mut addr, &mut size) == 0;
        libc::pthread_attr_destroy(attr.as_mut_ptr());
        if !ok {
            return (0, 0);
        }
        (addr as usize, (addr as usize).saturating_add(size))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A walk's view of the code ranges finds an address in any range, the
    /// last one hit first, and nothing outside them; ranges published after
    /// the view was taken are not seen by it.
    #[test]
    fn a_walk_sees_the_code_ranges_published_before_it() {
        let ranges = CodeRanges { ranges: [RANGE; MAX_RANGES], len: AtomicUsize::new(0) };
        assert!(!ranges.view((0, 0)).contains(0x1000), "no range yet");
        assert!(ranges.add(0x1000, 0x2000) && ranges.add(0x5000, 0x6000) && ranges.add(0x9000, 0x9100));
        let mut view = ranges.view((0, 0));
        for (addr, inside) in [
            (0x1000, true),
            (0x1fff, true),
            (0x2000, false),
            (0x5800, true),
            (0x1800, true),
            (0x9000, true),
            (0x90ff, true),
            (0x9100, false),
            (0xfff, false),
            (0x5000, true),
            (0, false),
        ] {
            assert_eq!(view.contains(addr), inside, "{addr:#x}");
        }
        assert!(ranges.add(0x20000, 0x21000));
        assert!(!view.contains(0x20000), "published after the view");
        assert!(ranges.view((0, 0)).contains(0x20000));
        assert_eq!(view.other(), (0x5000, 0x1000), "the last range found past the first");
        let mut next = ranges.view((0x9000, 0x100));
        assert!(next.contains(0x9050) && next.other() == (0x9000, 0x100), "the hint is accepted and kept");
        assert!(ranges.add(0x1000, 0x2000), "already there");
        assert_eq!(ranges.len.load(Ordering::Relaxed), 4);
    }

    /// `FrameBounds` accepts exactly the frame pointers the walk's three
    /// separate checks did (at or above `low`, at or below `high - 16`,
    /// 16-aligned), at the edges and far outside them. A null frame pointer
    /// is not asked about: the walk ends at it before any bounds check.
    #[test]
    fn frame_bounds_accept_what_the_three_checks_accept() {
        let old = |low: usize, high: usize, fp: usize| !(fp < low || fp > high.saturating_sub(16) || fp % FP_ALIGN != 0);
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng as usize
        };
        let mut cases = vec![(0, 0), (0, 15), (0, 16), (0, 17), (1, 40), (15, 48), (16, 32), (17, 33), (usize::MAX - 40, usize::MAX)];
        cases.extend((0..200).map(|_| {
            let low = next() >> 4;
            (low, low + next() % 100_000)
        }));
        let mut checked = 0;
        for (low, high) in cases {
            let bounds = FrameBounds::new(low, high);
            let mut fps: Vec<usize> = (0..200).map(|i| low.wrapping_add(i).wrapping_sub(100)).collect();
            fps.extend((0..200).map(|i| high.wrapping_add(i).wrapping_sub(100)));
            fps.extend((0..50).map(|_| next()));
            fps.extend([1, 16, usize::MAX, usize::MAX - 15, usize::MAX & !15]);
            for fp in fps.into_iter().filter(|&fp| fp != 0) {
                assert_eq!(bounds.is_some_and(|b| b.accepts(fp)), old(low, high, fp), "low {low:#x} high {high:#x} fp {fp:#x}");
                checked += 1;
            }
        }
        assert!(checked > 90_000);
    }

    /// Looking stacks up through the recent stacks gives the ids the index
    /// alone gives (in order of first appearance, from 1), for stacks that
    /// share their first frame, their middle frame, their depth, or all
    /// their frames but differ in flags; and after a reset, the ids of the
    /// emptied table (an id remembered from before the reset would be
    /// wrong: the stacks come back in another order).
    #[test]
    fn recent_stacks_give_the_ids_the_index_gives() {
        use std::collections::HashMap;
        let layout = Layout::new::<StackTable>();
        // SAFETY: a non-zero size; a zeroed table is an empty one but for `len`.
        let t = unsafe { std::alloc::System.alloc_zeroed(layout) }.cast::<StackTable>();
        assert!(!t.is_null());
        // SAFETY: `t` is a live table and this test its only user.
        unsafe { (*t).len = 1 };
        let mut pool: Vec<(Vec<u64>, u16)> = Vec::new();
        for depth in [0, 1, 2, 5, 9, 30, MAX_DEPTH] {
            for variant in 0..6u64 {
                let mut frames: Vec<u64> = (0..depth as u64).map(|i| 0x40_0000 + i * 0x100).collect();
                match (variant, depth) {
                    (_, 0) => {}
                    (1, _) => frames[depth - 1] += 8,    // differs at the outermost frame only
                    (2, _) => frames[depth / 2] ^= 0x10, // differs at the key's middle frame
                    (3, _) => frames[0] += 4,            // differs at the innermost frame
                    _ => {}
                }
                let flags = match variant {
                    4 => u16::from(ENDED_EARLY),
                    5 => u16::from(CUT_AT_DEPTH),
                    _ => 0,
                };
                if !pool.contains(&(frames.clone(), flags)) {
                    pool.push((frames, flags));
                }
            }
        }
        let mut rng = 12345u64;
        for round in 0..2 {
            let mut model: HashMap<(Vec<u64>, u16), u32> = HashMap::new();
            if round == 1 {
                pool.reverse();
            }
            for i in 0..5_000 {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                // Runs of one stack, and stacks taking turns, as programs do.
                let k = if i % 7 < 3 { (rng >> 33) as usize % pool.len() } else { i % 3 };
                let (frames, flags) = &pool[k];
                let next_id = model.len() as u32 + 1;
                let want = *model.entry((frames.clone(), *flags)).or_insert(next_id);
                // SAFETY: as above.
                let got = unsafe { StackTable::lookup(t, frames, *flags) };
                assert_eq!(got, want, "round {round}, lookup {i}: stack {k} of depth {}", frames.len());
            }
            // A reset the drainer acknowledged, carried out as `capture` does.
            // SAFETY: as above.
            unsafe {
                (*t).requested.store(1, Ordering::Relaxed);
                (*t).acked.store(1, Ordering::Relaxed);
                assert!(finish_reset(t, 1));
            }
        }
        // SAFETY: allocated above with this layout; no reference to it remains.
        unsafe { std::alloc::System.dealloc(t.cast(), layout) };
    }
}
