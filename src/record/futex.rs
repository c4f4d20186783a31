//! Waking the drainer: a word that is 1 while a wake-up is pending, and a
//! futex on it under std. Compiled under `cfg(loom)` too, where the futex
//! wait is a yield (a wait that times out at once: loom cannot block on a
//! word) and the wake does nothing, so the models check the flag protocol
//! that decides who calls the futex, with every wake-up late.

use crate::sync::{AtomicU32, Ordering};
use std::time::Duration;

/// Producer: wakes the drainer sleeping on `word` unless a wake-up is
/// already pending.
pub fn wake(word: &AtomicU32) {
    // The Relaxed load keeps producers from writing the shared line while a
    // wake-up is already pending (a stale 1 delays the drainer by at most
    // one interval; a waiting producer wakes it again every 64 spins).
    // AcqRel swap: pairs with the drainer's swap in `wait`: either it sees
    // our 1 (and our pushes), or we see its 0 and issue the futex wake.
    if word.load(Ordering::Relaxed) == 0 && word.swap(1, Ordering::AcqRel) == 0 {
        futex_wake(word);
    }
}

/// Drainer: clears the pending wake-up; if there was none, sleeps until a
/// producer wakes it or `timeout` passes.
pub fn wait(word: &AtomicU32, timeout: Duration) {
    // AcqRel: see `wake`.
    if word.swap(0, Ordering::AcqRel) != 0 {
        return;
    }
    futex_wait(word, timeout);
}

#[cfg(not(loom))]
fn futex_wake(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE on a valid, aligned u32 that outlives the call.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, 1);
    }
}

#[cfg(not(loom))]
fn futex_wait(word: &AtomicU32, timeout: Duration) {
    let ts = libc::timespec { tv_sec: timeout.as_secs() as libc::time_t, tv_nsec: timeout.subsec_nanos() as libc::c_long };
    // SAFETY: FUTEX_WAIT on a valid, aligned u32 that outlives the call, with
    // a valid relative timeout; it returns at once if the word is not 0.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG, 0u32, &ts as *const libc::timespec);
    }
}

#[cfg(loom)]
fn futex_wake(_word: &AtomicU32) {}

#[cfg(loom)]
fn futex_wait(_word: &AtomicU32, _timeout: Duration) {
    loom::thread::yield_now();
}
