//! The exit hook: a pthread key destructor that pushes ThreadExit and
//! releases the thread's slot.

use super::*;

/// The pthread key whose destructor runs [`on_thread_exit`], plus one (0: not created yet).
pub(super) static EXIT_KEY: AtomicU32 = AtomicU32::new(0);

pub(super) fn arm_exit_hook(slot: &Slot) {
    // Acquire: pairs with the AcqRel CAS below that published the key.
    let mut key = EXIT_KEY.load(Ordering::Acquire);
    if key == 0 {
        let mut k: libc::pthread_key_t = 0;
        // SAFETY: `k` is writable; the destructor is a valid `extern "C" fn`.
        if unsafe { libc::pthread_key_create(&mut k, Some(on_thread_exit)) } != 0 {
            return; // No exit hook: the slot stays owned until the process ends.
        }
        // AcqRel: publishes the key to other threads; Acquire on failure reads theirs.
        key = match EXIT_KEY.compare_exchange(0, k + 1, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => k + 1,
            Err(theirs) => {
                // SAFETY: `k` was created above and never used.
                unsafe { libc::pthread_key_delete(k) };
                theirs
            }
        };
    }
    // SAFETY: `key - 1` is a live key; the value is only read back by `on_thread_exit`.
    unsafe { libc::pthread_setspecific(key - 1, (slot as *const Slot).cast()) };
}

/// The pthread key destructor: pushes ThreadExit and releases the slot so
/// the drainer can empty and reuse it.
pub(super) extern "C" fn on_thread_exit(value: *mut libc::c_void) {
    let _ = LOCAL.try_with(|l| {
        let was_busy = l.busy.replace(RECORDING);
        let slot = l.slot.get();
        if !slot.is_null() && slot == value.cast_const().cast() {
            // SAFETY: `slot` is OWNED by this thread (see `Local::slot`).
            let slot = unsafe { &*slot };
            // Acquire: as in `record`.
            let session = CONTROL.running();
            if session != 0 && l.session.get() == session && l.exit_session.get() != session && begin_event(slot, session) {
                l.exit_session.set(session);
                push_structural(slot, RawEvent::thread_exit(now_ticks()), session);
                slot.end_event();
            }
            // Forget the slot before releasing it: a signal handler that
            // allocates from here on counts its call without a slot
            // (`reentered`), never in a slot another thread may own.
            l.fast_session.set(0);
            l.slot.set(ptr::null());
            // SAFETY: this thread owns `slot` and, having forgotten it, never
            // touches it again.
            unsafe { slot.release() };
            l.exited.set(true);
        }
        l.busy.set(was_busy);
    });
}
