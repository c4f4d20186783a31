//! This thread's recorder state (`LOCAL`), its re-entrancy guard, and the
//! calls counted when the guard finds the thread already inside.

use super::*;

/// This thread's recorder state. Const-initialised, no `Drop`.
pub(super) struct Local {
    /// The re-entrancy guard: [`OUTSIDE`], [`RECORDING`] while the thread is
    /// inside the hot path or the exit hook, [`IGNORED`] while it does the
    /// recorder's own work (and forever on the drainer thread). A call made
    /// while RECORDING (a signal handler that allocates) is not recorded but
    /// counted as lost; one made while IGNORED is the recorder's own.
    pub(super) busy: GuardCell,
    /// The slot this thread owns, or null. Non-null implies the slot is OWNED by us.
    pub(super) slot: Cell<*const Slot>,
    /// The OS thread id (`gettid`), or 0 before its first registration.
    pub(super) os_tid: Cell<u32>,
    /// The recording for which this thread has pushed its ThreadExit (one
    /// per thread, however often late destructors bring it back).
    pub(super) exit_session: Cell<u32>,
    /// The recording for which this thread has pushed its ThreadStart.
    pub(super) session: Cell<u32>,
    /// This thread's recorder id, or 0 before its first event.
    pub(super) thread_id: Cell<u32>,
    /// Set by the exit hook; a later event re-enters through `enter`.
    pub(super) exited: Cell<bool>,
    /// The thread's stack, `[low, high)`, for the frame-pointer walk; set
    /// at its first registration (`high` 0 before).
    pub(super) stack_low: Cell<usize>,
    pub(super) stack_high: Cell<usize>,
    /// Sampling: the recording for which `countdown` and `rng` were set up.
    pub(super) sample_session: Cell<u32>,
    /// Sampling: the recording in which the inline paths
    /// (`unsampled_alloc_fast`) may run, or 0: the countdown is set up and
    /// `slot` is non-null and registered in it. Cleared with `slot`.
    pub(super) fast_session: Cell<u32>,
    /// Sampling: bytes this thread allocates before its next sample (≥ 1).
    pub(super) countdown: Cell<u64>,
    /// Sampling: the state of this thread's generator (splitmix64).
    pub(super) rng: Cell<u64>,
}

/// `Local::busy`: not inside the recorder.
pub(super) const OUTSIDE: u8 = 0;
/// `Local::busy`: inside the hot path or the exit hook.
pub(super) const RECORDING: u8 = 1;
/// `Local::busy`: doing the recorder's own work; never recorded.
pub(super) const IGNORED: u8 = 2;

/// The re-entrancy guard's state. A signal handler on the same thread
/// reads it, so it is an atomic (Relaxed: one thread writes and reads it),
/// and every write sits between signal fences (`compiler_fence`), so the
/// compiler keeps it in program order with the recorder's work: a handler
/// never sees OUTSIDE while the interrupted code is still inside the ring.
pub(super) struct GuardCell(core::sync::atomic::AtomicU8);

impl GuardCell {
    const fn new(state: u8) -> Self {
        GuardCell(core::sync::atomic::AtomicU8::new(state))
    }

    #[inline(always)]
    pub(super) fn get(&self) -> u8 {
        self.0.load(core::sync::atomic::Ordering::Relaxed)
    }

    #[inline(always)]
    pub(super) fn set(&self, state: u8) {
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
        self.0.store(state, core::sync::atomic::Ordering::Relaxed);
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
    }

    #[inline(always)]
    pub(super) fn replace(&self, state: u8) -> u8 {
        let was = self.get();
        self.set(state);
        was
    }
}

thread_local! {
    pub(super) static LOCAL: Local = const {
        Local {
            busy: GuardCell::new(OUTSIDE),
            slot: Cell::new(ptr::null()),
            os_tid: Cell::new(0),
            exit_session: Cell::new(0),
            session: Cell::new(0),
            thread_id: Cell::new(0),
            exited: Cell::new(false),
            stack_low: Cell::new(0),
            stack_high: Cell::new(0),
            sample_session: Cell::new(0),
            fast_session: Cell::new(0),
            countdown: Cell::new(0),
            rng: Cell::new(0),
        }
    };
}

/// Enters the recorder for an event: true, with the guard set to
/// RECORDING, if the thread was outside it; otherwise (a re-entry, e.g. a
/// signal handler) counts the `lost` events in [`reentered`] and returns
/// false. The caller sets the guard back to OUTSIDE when done.
#[inline(always)]
pub(super) fn try_enter_recorder(l: &Local, lost: u64) -> bool {
    if l.busy.get() != OUTSIDE {
        reentered(l, lost);
        return false;
    }
    l.busy.set(RECORDING);
    true
}

/// An allocator call or tracking group made while this thread is already
/// inside the recorder: a signal handler interrupted the hot path (or the
/// exit hook) and called the allocator. Pushing from here could corrupt the
/// ring the interrupted code is writing (it is single-producer), so the `n`
/// events are counted as lost instead: in the thread's slot, which the
/// drainer reports as a Lost event of this thread, or with no slot yet in
/// the count of threads without one. Calls made while the thread does the
/// recorder's own work (`ignored`, the drainer) are not counted.
#[cold]
#[inline(never)]
pub(super) fn reentered(l: &Local, n: u64) {
    if l.busy.get() != RECORDING {
        return;
    }
    let slot = l.slot.get();
    if slot.is_null() {
        // Relaxed: a count, read by the drainer.
        SHARED.unregistered_lost.fetch_add(n, Ordering::Relaxed);
    } else {
        // SAFETY: a non-null `slot` is OWNED by this thread (see `Local::slot`),
        // and `add_dropped` is an RMW, so counting from a signal handler that
        // interrupted another count of the same slot loses neither.
        unsafe { &*slot }.add_dropped(n);
    }
}

/// Runs `f` with this thread's events unrecorded (the recorder's own work).
pub(crate) fn ignored<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(u8);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0;
            let _ = LOCAL.try_with(|l| l.busy.set(prev));
        }
    }
    let _restore = Restore(LOCAL.try_with(|l| l.busy.replace(IGNORED)).unwrap_or(IGNORED));
    f()
}

/// Marks the calling thread (the drainer) as never recorded.
pub(crate) fn ignore_this_thread() {
    let _ = LOCAL.try_with(|l| l.busy.set(IGNORED));
}

/// In a forked child, on its only thread: forgets the slot the thread owned
/// in the parent (the slot's owner id is the parent thread's, which the
/// child's drainer will find gone and reclaim); the thread registers afresh
/// on its next recorded event.
pub(crate) fn forget_slot_after_fork() {
    let _ = LOCAL.try_with(|l| {
        l.slot.set(ptr::null());
        l.session.set(0);
        l.exit_session.set(0);
        l.exited.set(false);
        l.os_tid.set(0);
        l.thread_id.set(0);
        l.sample_session.set(0);
        l.fast_session.set(0);
    });
}
