//! The full-ring policy: drop and count, or wait for the drainer. The wait
//! itself (and the stop gate that keeps its counts in the recording) is
//! `record::full`, shared with the loom models.

use super::*;

/// Waits until `slot`'s ring has room for `n` events, the earliest stamped
/// at `ticks`. Gives up (false), counting `lost` events, at once under
/// `OnFull::Drop` unless `wait`, and when the recording stops (see `full::Gate`).
pub(super) fn wait_for_room(slot: &Slot, n: usize, lost: u64, session: u32, wait: bool, ticks: u64) -> bool {
    const _: () = assert!(MAX_GROUP <= crate::record::MIN_RING_CAPACITY, "a group always fits in an empty ring");
    let cap = slot.ring.capacity();
    // SAFETY: the caller owns `slot`, so this thread is the ring's only producer.
    let room = || unsafe { cap - slot.ring.len_upper_bound() >= n || cap - slot.ring.refresh_len() >= n };
    if room() {
        return true;
    }
    // Relaxed: set with `session`, published by the caller's Acquire.
    if !wait && CONTROL.on_full.load(Ordering::Relaxed) == on_full_code(OnFull::Drop) {
        slot.add_dropped(lost);
        return false;
    }
    wake_drainer();
    slot.publish_waiting(ticks);
    let pushed = full::wait_for_room(&SHARED.gate, &CONTROL.session, session, slot, lost, room, |tries| backoff(slot, n, tries));
    slot.clear_waiting();
    pushed
}

/// A full ring: drop and count the event (`OnFull::Drop`, unless `wait`),
/// or wait for the drainer to make room (`OnFull::Block`), giving up and
/// counting the event if the recording stops meanwhile (see `full::Gate`).
#[cold]
#[inline(never)]
pub(super) fn push_full(slot: &Slot, event: RawEvent, session: u32, wait: bool) {
    // Relaxed: set with `session`, published by the caller's Acquire.
    if !wait && CONTROL.on_full.load(Ordering::Relaxed) == on_full_code(OnFull::Drop) {
        slot.add_dropped(1);
        return;
    }
    wake_drainer();
    // SAFETY: as in `push`: the caller owns the slot, so this thread is the
    // ring's only producer.
    let try_push = || unsafe { slot.ring.push(event) };
    // The drainer may hold its watermark at this event's stamp meanwhile.
    slot.publish_waiting(event.ts_ns());
    full::wait_for_room(&SHARED.gate, &CONTROL.session, session, slot, 1, try_push, |tries| backoff(slot, 1, tries));
    slot.clear_waiting();
}

/// Between two tries of a waiting producer, which needs room for `n`
/// events in `slot`'s ring: spin a little, then sleep until the drainer
/// pops from the ring (`Slot::sleep_for_room`), waking the drainer first.
/// Sleeping, not yielding: a yielding producer stays runnable, and on a
/// machine with fewer cores than busy threads it took the drainer's CPU.
/// The timeout only bounds how late a stop is noticed (the drainer wakes
/// a sleeping producer whenever it pops from its ring).
fn backoff(slot: &Slot, n: usize, tries: u32) {
    if tries < 64 {
        core::hint::spin_loop();
    } else {
        wake_drainer();
        let cap = slot.ring.capacity();
        // SAFETY: the caller owns `slot`, so this thread is the ring's only producer.
        let has_room = || unsafe { cap - slot.ring.refresh_len() >= n };
        slot.sleep_for_room(has_room, ROOM_TIMEOUT);
    }
}

/// The longest a producer sleeps for room before it looks again (and at
/// the session: a stop).
const ROOM_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(2);

pub(crate) const fn on_full_code(p: OnFull) -> u8 {
    match p {
        OnFull::Block => 0,
        OnFull::Drop => 1,
    }
}
