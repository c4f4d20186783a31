//! The allocator hot path: timestamps, one event, a stamped reallocation,
//! and the push with the wake-up at the high-water mark.

use super::*;
use crate::record::clock::{self, Order};

/// A timestamp taken for an event that the same thread pushes after a call
/// (a reallocation is stamped before its call, pushed after it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamp {
    /// The recording the stamp belongs to.
    pub(super) session: u32,
    /// Clock ticks since that recording's epoch (`record::clock`; the
    /// drainer converts them to ns).
    pub(crate) ts: u64,
    /// The slot whose in-flight mark the stamp set (`Slot::begin_event`),
    /// owned by this thread; [`record_stamped`] or [`cancel_stamp`] clears it.
    slot: *const Slot,
}

/// Clears the in-flight mark of a stamp whose call failed (nothing to push).
#[inline(always)]
pub(crate) fn cancel_stamp(stamp: Stamp) {
    // SAFETY: `stamp.slot` is the slot this thread owned when it stamped; a
    // slot is released only by this thread's exit hook, never during an
    // allocator call, and slots live for the whole process.
    unsafe { &*stamp.slot }.end_event();
}

/// Registers the calling thread if it has no ring in this recording yet,
/// then takes a timestamp; `None` when nothing is recorded now. Registering
/// first keeps a thread's first event from being stamped before its
/// ThreadStart (registration can wait for a ring to be recycled).
#[inline(always)]
pub(crate) fn stamp<A: GlobalAlloc>(inner: &A) -> Option<Stamp> {
    // Acquire: pairs with the drainer's Release store of `session` at start,
    // so the epoch and the policy of this recording are visible.
    let session = CONTROL.running();
    if session == 0 {
        return None;
    }
    stamp_in(inner, session)
}

/// The body of [`stamp`], out of line for the same reason as `record_in`.
#[inline(never)]
pub(super) fn stamp_in<A: GlobalAlloc>(inner: &A, session: u32) -> Option<Stamp> {
    LOCAL
        .try_with(|l| {
            if !try_enter_recorder(l, 1) {
                return None;
            }
            let ready = (l.session.get() == session && !l.slot.get().is_null()) || enter(l, inner, session).is_some();
            let stamp = ready.then(|| l.slot.get()).and_then(|slot| {
                // SAFETY: a non-null `slot` is OWNED by this thread (see `Local::slot`).
                let owned = unsafe { &*slot };
                if !begin_event(owned, session) {
                    return None;
                }
                Some(Stamp { session, ts: clock::now_ticks(Order::BeforeCall), slot })
            });
            l.busy.set(OUTSIDE);
            stamp
        })
        .ok()
        .flatten()
}

/// Pushes a reallocation stamped by [`stamp`], unless that recording has
/// stopped since (the event then belongs to no recording), and clears the
/// stamp's in-flight mark. With call stacks on, or when the reallocation
/// moved (`returned`, its second stamp in ticks, is nonzero), a StackNext event
/// carrying the stack and the return stamp goes first, and the two are
/// pushed together or not at all.
#[inline(always)]
pub(crate) fn record_stamped<A: GlobalAlloc>(inner: &A, stamp: Stamp, event: RawEvent, returned: u64) {
    // Acquire: as in `stamp`.
    if CONTROL.running() == stamp.session {
        record_stamped_in(inner, stamp, event, returned);
    }
    cancel_stamp(stamp);
}

/// The body of [`record_stamped`].
#[inline(always)]
fn record_stamped_in<A: GlobalAlloc>(inner: &A, stamp: Stamp, event: RawEvent, returned: u64) {
    let _ = LOCAL.try_with(|l| {
        if !try_enter_recorder(l, 1) {
            return;
        }
        let slot = l.slot.get();
        if l.session.get() == stamp.session && !slot.is_null() {
            // SAFETY: a non-null `slot` is OWNED by this thread (see `Local::slot`).
            let slot = unsafe { &*slot };
            // Relaxed: set with `session`, published by the caller's Acquire.
            let stacks = CONTROL.stacks.load(Ordering::Relaxed) != 0;
            if stacks || returned != 0 {
                let stack = if stacks {
                    // SAFETY: this thread owns `slot`.
                    unsafe { crate::record::stack::capture(slot, inner, (l.stack_low.get(), l.stack_high.get())) }
                } else {
                    0
                };
                let pair = [RawEvent::stack_next(stamp.ts, stack, returned), event];
                if wait_for_room(slot, 2, 1, stamp.session, false, stamp.ts) {
                    push(slot, pair[0], stamp.session);
                    push(slot, pair[1], stamp.session);
                }
            } else {
                push(slot, event, stamp.session);
            }
        }
        l.busy.set(OUTSIDE);
    });
}

/// Records one event from the allocator: `make` receives the timestamp
/// (clock ticks since the epoch, read as `order` says) and the call
/// stack's id in the slot's stack table (0 unless `with_stack` and stacks
/// are on) and builds the event.
#[inline(always)]
pub(crate) fn record<A: GlobalAlloc>(inner: &A, with_stack: bool, order: Order, make: impl FnOnce(u64, u32) -> RawEvent) {
    // Acquire: pairs with the drainer's Release store of `session` at start,
    // so the epoch and the policy of this recording are visible.
    let session = CONTROL.running();
    if session == 0 {
        return;
    }
    record_in(inner, session, with_stack, order, make);
}

/// The body of [`record`], kept out of line so that, with no recording
/// running, an allocator call costs one load and one branch on top of `A`
/// (inlined, this body made every call save and restore registers).
#[inline(never)]
pub(crate) fn record_in<A: GlobalAlloc>(inner: &A, session: u32, with_stack: bool, order: Order, make: impl FnOnce(u64, u32) -> RawEvent) {
    let _ = LOCAL.try_with(|l| {
        if !try_enter_recorder(l, 1) {
            return;
        }
        let slot = l.slot.get();
        let slot = if l.session.get() == session && !slot.is_null() {
            // SAFETY: a non-null `slot` is OWNED by this thread (see `Local::slot`);
            // slots live for the whole process.
            Some(unsafe { &*slot })
        } else {
            enter(l, inner, session)
        };
        if let Some(slot) = slot {
            push_event(l, slot, inner, session, with_stack, order, make);
        }
        l.busy.set(OUTSIDE);
    });
}

/// Pushes one event on `slot` (owned by this thread, which is inside the
/// recorder): stamped as `order` says, with the call stack when
/// `with_stack` and stacks are on. For [`record_in`] and sampled calls.
#[inline(always)]
pub(super) fn push_event<A: GlobalAlloc>(
    l: &Local,
    slot: &Slot,
    inner: &A,
    session: u32,
    with_stack: bool,
    order: Order,
    make: impl FnOnce(u64, u32) -> RawEvent,
) {
    // Relaxed: set with `session`, published by the caller's Acquire.
    let stack = if with_stack && CONTROL.stacks.load(Ordering::Relaxed) != 0 {
        // SAFETY: this thread owns `slot` (the caller's contract).
        unsafe { crate::record::stack::capture(slot, inner, (l.stack_low.get(), l.stack_high.get())) }
    } else {
        0
    };
    if begin_event(slot, session) {
        push(slot, make(clock::now_ticks(order), stack), session);
        slot.end_event();
    }
}

/// Pushes `event` onto `slot`'s ring, applying the full-ring policy and
/// waking the drainer at the high-water mark (half the ring).
///
/// The mark is checked when the producer's bound on the queued events
/// reaches half the ring, and then every [`HIGH_WATER_EVERY`] pushes while
/// it stays above: a drainer that lags keeps the bound above half, and
/// checking on every push read the drainer's `head` line (`refresh_len`)
/// and called `wake_drainer` on every event (benches/README.md, "What
/// dominates", item 4). A full ring wakes the drainer in `push_full`.
#[inline(always)]
pub(super) fn push(slot: &Slot, event: RawEvent, session: u32) {
    // SAFETY: the caller owns `slot` (claimed by this thread and not yet
    // released), so this thread is the ring's only producer.
    unsafe {
        if !slot.ring.push(event) {
            push_full(slot, event, session, false);
        } else {
            let half = slot.ring.capacity() / 2;
            let bound = slot.ring.len_upper_bound();
            if bound >= half && (bound == half || bound % HIGH_WATER_EVERY == 0) && slot.ring.refresh_len() >= half {
                wake_drainer();
            }
        }
    }
}

/// While a ring stays above its high-water mark, how many pushes go
/// between two checks of it.
const HIGH_WATER_EVERY: usize = 64;

/// Pushes a ThreadStart or ThreadExit: these wait for room even under
/// `OnFull::Drop` (twice per thread), so replay always knows the threads.
pub(super) fn push_structural(slot: &Slot, event: RawEvent, session: u32) {
    // SAFETY: as in `push`: the caller owns `slot`.
    if !unsafe { slot.ring.push(event) } {
        push_full(slot, event, session, true);
    }
}

/// Marks an event in flight on `slot` (owned by this thread), then checks
/// that recording `session` still runs: false (nothing in flight) if it
/// stopped meanwhile, and the event is not made. The mark comes first, so a
/// stopping drainer either sees it and waits for the push
/// (`drain::Drainer::run`), or this check sees the stop: no event is pushed
/// after the last round and left in the ring, counted nowhere.
#[inline(always)]
pub(super) fn begin_event(slot: &Slot, session: u32) -> bool {
    slot.begin_event();
    // Acquire: as the caller's first check; ordered after the mark by the
    // fence in `Slot::begin_event`, paired with the drainer's heavy barrier.
    if CONTROL.running() == session {
        return true;
    }
    slot.end_event();
    false
}
