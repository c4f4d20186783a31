//! Registration on a thread's first event in a recording: a slot claimed,
//! recycled or created, and slots of threads gone without releasing theirs
//! reclaimed.

use super::*;

/// Cold path of a thread's first event in a recording: claims or creates its
/// slot, arms the exit hook and pushes ThreadStart.
///
/// A thread whose exit hook already ran (a later destructor allocated) gets a
/// slot again without a second ThreadStart, and the hook is re-armed: glibc
/// runs key destructors again while any key holds a value (up to
/// `PTHREAD_DESTRUCTOR_ITERATIONS` rounds), so the slot is released again,
/// without a second ThreadExit. If that was the last round, the slot stays
/// OWNED by a thread that is gone, until the drainer or a registering thread
/// reclaims it ([`reclaim_dead`]).
#[cold]
#[inline(never)]
pub(super) fn enter<A: GlobalAlloc>(l: &Local, inner: &A, session: u32) -> Option<&'static Slot> {
    if l.thread_id.get() == 0 {
        // Relaxed: only uniqueness matters.
        l.thread_id.set(SHARED.next_thread_id.fetch_add(1, Ordering::Relaxed));
    }
    if l.os_tid.get() == 0 {
        l.os_tid.set(os_thread_id() as u32);
    }
    if l.stack_high.get() == 0 {
        let (low, high) = crate::record::stack::thread_stack_bounds();
        l.stack_low.set(low);
        l.stack_high.set(high);
    }
    let slot = match NonNull::new(l.slot.get().cast_mut()) {
        // SAFETY: a non-null `Local::slot` is OWNED by this thread and lives forever.
        Some(s) => unsafe { &*s.as_ptr() },
        None => {
            let Some(slot) = acquire_slot(inner, l.thread_id.get(), l.os_tid.get()) else {
                // Relaxed: a count, read after the recording stops.
                SHARED.unregistered_lost.fetch_add(1, Ordering::Relaxed);
                return None;
            };
            l.slot.set(slot);
            arm_exit_hook(slot);
            slot
        }
    };
    let exited = l.exited.replace(false);
    if l.session.get() != session || !exited {
        // In flight, as any event (`begin_event`): a recording stopped
        // since the caller's check gets no ThreadStart and no event.
        if !begin_event(slot, session) {
            return None;
        }
        l.session.set(session);
        push_structural(slot, RawEvent::thread_start(now_ticks(), l.os_tid.get().into(), os_thread_name()), session);
        slot.end_event();
    }
    Some(slot)
}

/// Claims a free slot, or creates one from `inner` (the inner allocator, or
/// `System` when called from the tracking API).
pub(super) fn acquire_slot<A: GlobalAlloc>(inner: &A, thread_id: u32, os_tid: u32) -> Option<&'static Slot> {
    let slot = match claim_or_wait_for_recycle(os_tid) {
        Some(slot) => slot,
        None => {
            // Relaxed: set before `session`, published by its Release store.
            let capacity = CONTROL.ring_capacity.load(Ordering::Relaxed);
            let (layout, _) = Slot::layout(capacity);
            // SAFETY: the layout has a non-zero size (it holds a `Slot`).
            let mem = NonNull::new(unsafe { inner.alloc(layout) })?;
            let index = REGISTRY.next_index();
            // SAFETY: `mem` was just allocated with `Slot::layout(capacity)` and is
            // never freed (nor may `A` reclaim it: see `TrackingAllocator`'s
            // requirements); `capacity` is a power of two (checked by
            // `Recorder::start`), and
            // the new slot is in no registry yet.
            unsafe { REGISTRY.insert(Slot::init(mem, capacity, index, os_tid)) }
        }
    };
    slot.set_thread(thread_id);
    Some(slot)
}

/// Claims a FREE slot; if there is none, first reclaims the slots of threads
/// that are gone without releasing theirs ([`reclaim_dead`]), and if some
/// slot is EXITED (its owner gone, its last events not yet drained), wakes
/// the drainer and waits a little for it to recycle one, rather than growing
/// the registry (`Registry::claim_or_wait`). Without this wait, threads
/// started faster than the drain interval would each add a ring, and
/// recorder memory would grow with the thread churn instead of the peak
/// number of live threads (`tests/ring_reuse_churn.rs`). A cold path: it
/// runs once per thread, and yields (a syscall) only while waiting.
pub(super) fn claim_or_wait_for_recycle(os_tid: u32) -> Option<&'static Slot> {
    /// How long a starting thread waits for the drainer to recycle a ring
    /// before it allocates a new one (a starved drainer must not stall it).
    const PATIENCE_NS: u64 = 100_000_000;
    let mut deadline = 0;
    let wait = |tries: u32| {
        // Relaxed: as in `push_full`, we only need to notice a stop eventually.
        if CONTROL.session.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let now = monotonic_ns();
        if deadline == 0 {
            deadline = now + PATIENCE_NS;
        } else if now > deadline {
            return false;
        }
        if tries % 64 == 0 {
            wake_drainer();
        }
        std::thread::yield_now();
        true
    };
    let pid = std::process::id() as libc::pid_t;
    // SAFETY: `thread_alive` says false only on ESRCH: the thread is gone.
    unsafe { REGISTRY.claim_or_wait(os_tid, |tid| thread_alive(pid, tid), wait) }
}

/// Marks EXITED every OWNED slot whose owner's OS thread is gone (`tgkill`
/// says ESRCH), so the drainer empties and recycles it: a thread whose
/// exit hook did not run last (a destructor allocated in glibc's last
/// destructor round), or did not run at all (`pthread_key_create` failed),
/// and a forked child's copies of its parent's slots. Off the hot path: the
/// drainer calls it every [`RECLAIM_INTERVAL_NS`], and a registering thread
/// that finds no FREE slot calls it once. Returns how many it reclaimed.
pub(crate) fn reclaim_dead() -> usize {
    let pid = std::process::id() as libc::pid_t;
    // SAFETY: `thread_alive` says false only on ESRCH: the thread is gone.
    unsafe { REGISTRY.reclaim_dead(|tid| thread_alive(pid, tid)) }
}

/// How often the drainer looks for slots of threads that are gone, in ns.
pub(crate) const RECLAIM_INTERVAL_NS: u64 = 20_000_000;
