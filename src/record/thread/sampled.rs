//! The hot path of a sampling recording (`Recorder::sampling_interval_bytes`):
//! every call counts itself in its thread's slot (exact totals); an
//! allocation draws on the thread's byte countdown and is recorded only
//! when it crosses it; a deallocation is recorded only when its address is
//! in the sampled-address set (`record::sample`). FORMAT.md, "Sampling
//! record", gives the argument; benches/README.md, "Issue 11", the cost.

use super::*;
use crate::format::sampling::{next_gap, thread_seed};
use crate::record::clock::Order;
use crate::record::sample::{groups, AddressSet, BUCKET};
use crate::sync::AtomicU8;
use core::sync::atomic::AtomicPtr as StdAtomicPtr;
use std::alloc::{Layout, System};

/// The sampled-address set's table: [`BUCKET`] header cells (the first
/// holds the number `n` of cells, the second the group mask
/// `sample::groups(n) - 1`), then the `sample::groups(n)` bytes of group counts (rounded up to
/// whole buckets, so that the cells stay aligned to cache lines), then the
/// `n` cells; null before the first sampling recording. The counts sit at a
/// fixed offset from the start, so that [`may_be_sampled`], on every
/// deallocation, reads the mask and one count byte and nothing else.
/// Allocated from `System` at `start`, never through the global allocator,
/// and never freed (a thread of an earlier recording may still read it); a
/// later recording reuses it when it is large enough. One pointer, so that
/// the length always comes with its table.
static SET: StdAtomicPtr<AtomicU64> = StdAtomicPtr::new(ptr::null_mut());

/// `SET`'s header cell holding the group mask.
const MASK_CELL: usize = 1;

/// The number of cells the group counts of a set of `cells` cells take
/// (whole buckets: a cell holds 8 counts).
const fn count_cells(cells: usize) -> usize {
    groups(cells).div_ceil(8 * BUCKET) * BUCKET
}

/// The sampled-address set, if a sampling recording ever started.
#[inline(always)]
fn set() -> Option<AddressSet<'static>> {
    // Acquire: pairs with the Release store in `prepare_set`, so the
    // header and the zeroed cells are visible.
    let base = SET.load(std::sync::atomic::Ordering::Acquire);
    if base.is_null() {
        return None;
    }
    // SAFETY: `prepare_set` stored a pointer to a live, never-freed table
    // laid out as `SET` says, whose first cell holds `n` (written before the
    // Release store); all zeroed memory or as `AddressSet` left it, valid
    // atomics.
    unsafe {
        let n = (*base).load(std::sync::atomic::Ordering::Relaxed) as usize;
        let counts = base.add(BUCKET).cast::<AtomicU8>();
        let cells = base.add(BUCKET + count_cells(n));
        Some(AddressSet::new(core::slice::from_raw_parts(cells, n), core::slice::from_raw_parts(counts, groups(n))))
    }
}

/// `start`, while no recording runs: a set of at least `cells` cells (a
/// power of two, at least [`BUCKET`]), empty. False if its memory cannot be
/// allocated.
pub(crate) fn prepare_set(cells: usize) -> bool {
    if let Some(s) = set().filter(|s| s.capacity() >= cells) {
        s.clear();
        return true;
    }
    // Aligned to 64 by hand, one cache line more: `System.alloc_zeroed` with
    // an alignment above 16 takes `posix_memalign` and zeroes every byte
    // itself (2 MiB at 512 KiB: 1.4 ms of page faults at start, and the
    // whole table resident), where at 16 it is `calloc`, whose fresh mapping
    // is zero already and takes memory only for the pages touched.
    let Ok(layout) = Layout::array::<AtomicU64>(BUCKET + count_cells(cells) + cells + 8) else {
        return false;
    };
    // SAFETY: `layout` has a non-zero size. Zeroed memory is a valid
    // `AtomicU64` array (all 0: empty cells, zero counts).
    let raw = unsafe { System.alloc_zeroed(layout) };
    if raw.is_null() {
        return false;
    }
    // SAFETY: at most 56 bytes past `raw` (it is 8-aligned), within the 64
    // extra bytes of the allocation, which is never freed.
    let base = unsafe { raw.add(raw.align_offset(64)) }.cast::<AtomicU64>();
    debug_assert_eq!(base as usize % 64, 0);
    // SAFETY: `base` holds the header's `BUCKET` zeroed cells, aligned to 64.
    unsafe {
        (*base).store(cells as u64, std::sync::atomic::Ordering::Relaxed);
        (*base.add(MASK_CELL)).store((groups(cells) - 1) as u64, std::sync::atomic::Ordering::Relaxed);
    }
    // Release: pairs with the Acquire in `set` and `may_be_sampled`. The
    // old table, if any, is kept: a thread of an earlier recording may
    // still read it.
    SET.store(base, std::sync::atomic::Ordering::Release);
    true
}

/// Addresses in the sampled-address set now (for tests).
pub(crate) fn set_len() -> usize {
    set().map_or(0, |s| s.count())
}

/// Removes `ptr` from the sampled-address set: whether it was a sampled
/// block. Before its memory goes back to the inner allocator (it may then
/// be handed to another thread, which may insert it).
#[inline(always)]
pub(crate) fn take_sampled(ptr: usize) -> bool {
    set().is_some_and(|s| s.may_hold(ptr as u64) && s.remove(ptr as u64))
}

/// Whether `ptr` may be a sampled block: false settles that it is not
/// (its bucket's group of the set is empty), with one byte load.
#[inline(always)]
pub(crate) fn may_be_sampled(ptr: usize) -> bool {
    // As `set().may_hold(ptr)`, without building the set's slices (this
    // runs on every deallocation).
    // Acquire: as in `set`.
    let base = SET.load(std::sync::atomic::Ordering::Acquire);
    if base.is_null() {
        return false;
    }
    // SAFETY: as in `set`: the mask cell holds `groups(n) - 1`, and the
    // count of group `g <= mask` is the byte at `BUCKET` cells plus `g`.
    unsafe {
        let mask = (*base.add(MASK_CELL)).load(std::sync::atomic::Ordering::Relaxed) as usize;
        let g = crate::record::sample::group_of(ptr as u64, mask);
        // Relaxed: see `AddressSet::may_hold`.
        (*base.add(BUCKET).cast::<AtomicU8>().add(g)).load(std::sync::atomic::Ordering::Relaxed) != 0
    }
}

/// The whole work of an unsampled allocation, inline: this thread is set
/// up in sampling recording `session` (nonzero; `Local::fast_session`) and
/// the allocation of `size` bytes does not cross its countdown; counts the
/// call. False, having done nothing, when the out-of-line path must run: a
/// full recording (whose threads are never set up so), registration, a
/// sample, or the thread already inside the recorder.
#[inline(always)]
pub(crate) fn unsampled_alloc_fast(session: u32, size: u64) -> bool {
    unsampled_countdown_fast(session, size, |slot| slot.count_allocation(size))
}

/// The common body of [`unsampled_alloc_fast`] and
/// [`unsampled_realloc_fast`]: when this thread is set up in `session`,
/// outside the recorder, and `size` bytes do not cross its countdown,
/// draws them from it and counts the call with `count` on this thread's
/// slot; false, having done nothing, otherwise.
#[inline(always)]
fn unsampled_countdown_fast(session: u32, size: u64, count: impl FnOnce(&Slot)) -> bool {
    LOCAL
        .try_with(|l| {
            if l.fast_session.get() != session || l.busy.get() != OUTSIDE {
                return false;
            }
            // The guard first: a signal handler's call from here on is counted lost.
            l.busy.set(RECORDING);
            let left = l.countdown.get();
            let done = size < left;
            if done {
                l.countdown.set(left - size);
                // SAFETY: `fast_session` is this recording's, so `slot` is
                // non-null, OWNED by this thread (see `Local::slot`); slots
                // live for the whole process.
                count(unsafe { &*l.slot.get() });
            }
            l.busy.set(OUTSIDE);
            done
        })
        .unwrap_or(false)
}

/// The whole work of an unsampled deallocation of `ptr` (`size` bytes),
/// inline: as [`unsampled_alloc_fast`], and the block is not sampled (its
/// bucket of the set is empty); counts the call. False, having done
/// nothing, when the out-of-line path must run (also when the block may
/// be sampled).
#[inline(always)]
pub(crate) fn unsampled_dealloc_fast(session: u32, ptr: usize, size: u64) -> bool {
    LOCAL
        .try_with(|l| {
            if l.fast_session.get() != session || may_be_sampled(ptr) || l.busy.get() != OUTSIDE {
                return false;
            }
            // The guard first, as in `unsampled_countdown_fast`.
            l.busy.set(RECORDING);
            // SAFETY: as in `unsampled_countdown_fast`.
            unsafe { &*l.slot.get() }.count_deallocation(size);
            l.busy.set(OUTSIDE);
            true
        })
        .unwrap_or(false)
}

/// The counting of a reallocation from `old_size` to `new_size` bytes that
/// succeeded, inline, when its new block is not sampled: as
/// [`unsampled_alloc_fast`] (the new size draws on the countdown without
/// crossing it); counts the call. False, having done nothing, when
/// [`sampled_realloc_counts`] must run.
#[inline(always)]
pub(crate) fn unsampled_realloc_fast(session: u32, old_size: u64, new_size: u64) -> bool {
    unsampled_countdown_fast(session, new_size, |slot| slot.count_reallocation(old_size, new_size))
}

/// Puts back a sampled block whose reallocation failed (it is still live),
/// counting it untracked if its bucket filled meanwhile (as
/// [`track_sampled`]): its deallocation will then not be recorded.
pub(crate) fn untake_sampled(ptr: usize) {
    track_sampled(ptr);
}

/// Whether an allocation of `size` bytes crosses this thread's countdown
/// (is sampled); sets the countdown up on the thread's first call in
/// recording `session`. The caller owns the thread's slot in `session`.
#[inline(always)]
fn crosses(l: &Local, session: u32, interval: u64, size: u64) -> bool {
    if l.sample_session.get() != session {
        // Relaxed: published with `session` (the caller's Acquire).
        let mut rng = thread_seed(CONTROL.sample_seed.load(Ordering::Relaxed), l.thread_id.get());
        l.countdown.set(next_gap(&mut rng, interval));
        l.rng.set(rng);
        l.sample_session.set(session);
    }
    // The caller owns this recording's slot: the inline paths may run from
    // now on (until the exit hook forgets the slot).
    l.fast_session.set(session);
    let left = l.countdown.get();
    if size < left {
        l.countdown.set(left - size);
        return false;
    }
    // Crossed: the next gap starts at the end of this allocation (a
    // Poisson process is memoryless: whatever points fell inside it).
    let mut rng = l.rng.get();
    l.countdown.set(next_gap(&mut rng, interval));
    l.rng.set(rng);
    true
}

/// This thread's slot in recording `session`, registering it if needed.
#[inline(always)]
fn owned_slot<A: GlobalAlloc>(l: &Local, inner: &A, session: u32) -> Option<&'static Slot> {
    let slot = l.slot.get();
    if l.session.get() == session && !slot.is_null() {
        // SAFETY: a non-null `slot` is OWNED by this thread (see
        // `Local::slot`); slots live for the whole process.
        Some(unsafe { &*slot })
    } else {
        enter(l, inner, session)
    }
}

/// An allocation at `ptr` of `layout` returned by the inner allocator, in
/// sampling recording `session` at `interval` bytes.
#[inline(never)]
pub(crate) fn sampled_alloc<A: GlobalAlloc>(inner: &A, session: u32, interval: u64, ptr: usize, layout: Layout, zeroed: bool) {
    let _ = LOCAL.try_with(|l| {
        if !try_enter_recorder(l, 1) {
            return;
        }
        if let Some(slot) = owned_slot(l, inner, session) {
            let size = layout.size() as u64;
            slot.count_allocation(size);
            if crosses(l, session, interval, size) {
                if !set().is_some_and(|s| s.insert(ptr as u64)) {
                    slot.count_untracked_sample();
                }
                push_event(l, slot, inner, session, true, Order::AfterCall, |ts, stack| {
                    RawEvent::alloc(ts, ptr, layout.size(), layout.align(), zeroed, stack)
                });
            }
        }
        l.busy.set(OUTSIDE);
    });
}

/// A deallocation of `ptr` (`layout`), before the inner allocator gets it
/// back; `sampled`: [`take_sampled`] found it in the set.
#[inline(never)]
pub(crate) fn sampled_dealloc<A: GlobalAlloc>(inner: &A, session: u32, ptr: usize, layout: Layout, sampled: bool) {
    let _ = LOCAL.try_with(|l| {
        if !try_enter_recorder(l, 1) {
            return;
        }
        if let Some(slot) = owned_slot(l, inner, session) {
            slot.count_deallocation(layout.size() as u64);
            if sampled {
                push_event(l, slot, inner, session, false, Order::BeforeCall, |ts, _| {
                    RawEvent::dealloc(ts, ptr, layout.size(), layout.align())
                });
            }
        }
        l.busy.set(OUTSIDE);
    });
}

/// A reallocation from `old_size` to `new_size` bytes that succeeded:
/// counts it and draws the new size on the countdown; whether the new
/// block is sampled (`None`: not counted, the thread is inside the
/// recorder or has no slot).
#[inline(never)]
pub(crate) fn sampled_realloc_counts<A: GlobalAlloc>(
    inner: &A,
    session: u32,
    interval: u64,
    old_size: usize,
    new_size: usize,
) -> Option<bool> {
    LOCAL
        .try_with(|l| {
            if !try_enter_recorder(l, 1) {
                return None;
            }
            let sampled = owned_slot(l, inner, session).map(|slot| {
                slot.count_reallocation(old_size as u64, new_size as u64);
                crosses(l, session, interval, new_size as u64)
            });
            l.busy.set(OUTSIDE);
            sampled
        })
        .ok()
        .flatten()
}

/// Adds the new block of a sampled reallocation to the set, counting it
/// untracked if its bucket is full.
pub(crate) fn track_sampled(ptr: usize) {
    if set().is_some_and(|s| s.insert(ptr as u64)) {
        return;
    }
    let _ = LOCAL.try_with(|l| {
        let slot = l.slot.get();
        if !slot.is_null() && l.busy.get() == OUTSIDE {
            // SAFETY: a non-null `slot` is OWNED by this thread (see `Local::slot`).
            unsafe { &*slot }.count_untracked_sample();
        }
    });
}

/// Pushes `event` (no call stack, no StackNext) at a stamp taken by
/// [`stamp`] before a call, unless that recording has stopped since; clears
/// the stamp's in-flight mark. For a sampled block that a reallocation
/// released into an unsampled one: a deallocation at the reallocation's
/// first stamp.
pub(crate) fn record_stamped_plain(stamp: Stamp, event: RawEvent) {
    // Acquire: as in `stamp`.
    if CONTROL.running() == stamp.session {
        let _ = LOCAL.try_with(|l| {
            if !try_enter_recorder(l, 1) {
                return;
            }
            let slot = l.slot.get();
            if l.session.get() == stamp.session && !slot.is_null() {
                // SAFETY: a non-null `slot` is OWNED by this thread (see `Local::slot`).
                push(unsafe { &*slot }, event, stamp.session);
            }
            l.busy.set(OUTSIDE);
        });
    }
    cancel_stamp(stamp);
}
