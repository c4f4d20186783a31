//! Grouped pushes from the tracking API: all of a group's events or none.

use super::*;

/// The most events one call of [`record_group`] pushes.
pub(crate) const MAX_GROUP: usize = 24;

/// Events from the tracking API (`track_var!`, scopes, `ffi`), pushed
/// together: the first event and the ones that belong to it.
#[derive(Debug)]
pub(crate) struct Group {
    events: [RawEvent; MAX_GROUP],
    len: usize,
}

impl Group {
    pub(crate) const fn new() -> Self {
        Group { events: [RawEvent { head: 0, a: 0, b: 0, c: 0 }; MAX_GROUP], len: 0 }
    }

    /// Adds an event of `kind` with its operands; the timestamp is set when
    /// the group is recorded. Returns false (adding nothing) when full.
    pub(crate) fn add(&mut self, kind: u8, a: u64, b: u64, c: u64) -> bool {
        let Some(e) = self.events.get_mut(self.len) else { return false };
        *e = RawEvent::with_kind(kind, 0, a, b, c);
        self.len += 1;
        true
    }
}

/// Records a group of tracking events with one timestamp, all or none:
/// under `OnFull::Drop` a group that does not fit in the ring is dropped
/// whole and counted, so that no event is attached to the wrong variable.
/// Returns the recording's id when the group was pushed, else 0. With
/// `only` nonzero, the group goes only to that recording (a scope's exit
/// goes where its entry went).
///
/// Called from user code, not from the allocator; a thread with no ring in
/// this recording yet gets one from the system allocator (a cold path that
/// allocates and makes syscalls, once per thread, as for an allocator call).
pub(crate) fn record_group(group: &mut Group, only: u32) -> u32 {
    // Acquire: as in `record`.
    let session = CONTROL.running();
    if session == 0 || group.len == 0 || (only != 0 && session != only) {
        return 0;
    }
    LOCAL
        .try_with(|l| {
            if !try_enter_recorder(l, group.len as u64) {
                return 0;
            }
            let slot = l.slot.get();
            let slot = if l.session.get() == session && !slot.is_null() {
                // SAFETY: a non-null `slot` is OWNED by this thread (see `Local::slot`).
                Some(unsafe { &*slot })
            } else {
                enter(l, &std::alloc::System, session)
            };
            let pushed = match slot {
                Some(slot) if begin_event(slot, session) => {
                    let ts = now_ticks();
                    let events = &mut group.events[..group.len];
                    for e in events.iter_mut() {
                        *e = RawEvent::with_kind(e.kind(), ts, e.a, e.b, e.c);
                    }
                    let pushed = push_group(slot, events, session);
                    slot.end_event();
                    pushed
                }
                _ => false,
            };
            l.busy.set(OUTSIDE);
            if pushed {
                session
            } else {
                0
            }
        })
        .unwrap_or(0)
}

/// Pushes `events` onto `slot`'s ring once it has room for all of them;
/// see [`record_group`]. A scope exit waits for room even under
/// `OnFull::Drop` (as ThreadStart and ThreadExit do): a dropped exit would
/// leave its scope open for the rest of the thread.
pub(super) fn push_group(slot: &Slot, events: &[RawEvent], session: u32) -> bool {
    let wait = events.first().is_some_and(|e| e.kind() == crate::format::event::KIND_SCOPE_EXIT);
    let earliest = events.iter().map(RawEvent::ts_ns).min().unwrap_or(0);
    if !wait_for_room(slot, events.len(), events.len() as u64, session, wait, earliest) {
        return false;
    }
    for &e in events {
        // Cannot fail: the room is there, and only this thread pushes.
        push(slot, e, session);
    }
    true
}
