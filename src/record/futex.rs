//! Waking the drainer: a word that is 1 while a wake-up is pending, and a
//! futex on it under std; and the futex a producer sleeps on while its ring
//! is full (`Slot::sleep_for_room`). Compiled under `cfg(loom)` too. There
//! the drainer's futex wait is a yield (a wait that times out at once) and
//! the producers' wake of it does nothing, so the models check the flag
//! protocol that decides who calls the futex, with every wake-up late; a
//! producer's wait for room sleeps on a loom condition variable until the
//! drainer's wake, with no timeout, so a lost wake-up there is a deadlock.

use crate::sync::{AtomicU32, Ordering};
use std::time::Duration;

/// Producer: wakes the drainer sleeping on `word` unless a wake-up is
/// already pending.
pub fn wake(word: &AtomicU32) {
    // The Relaxed load keeps producers from writing the shared line while a
    // wake-up is already pending (a stale 1 delays the drainer by at most
    // one interval; a waiting producer wakes it again before each sleep for
    // room, at least every 2 ms).
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

/// A producer whose ring is full, having announced itself in `word` (see
/// `Slot::sleep_for_room`): sleeps while `word` holds `seen`, at most
/// `timeout`. Returns at once if it holds anything else.
pub fn wait_while(word: &AtomicU32, seen: u32, timeout: Duration) {
    futex_wait_value(word, seen, timeout);
}

/// Drainer: wakes one thread sleeping in [`wait_while`] on `word` (the
/// caller changed `word` first).
pub fn wake_one(word: &AtomicU32) {
    futex_wake_room(word);
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
    futex_wait_value(word, 0, timeout);
}

#[cfg(not(loom))]
fn futex_wait_value(word: &AtomicU32, value: u32, timeout: Duration) {
    let ts = libc::timespec { tv_sec: timeout.as_secs() as libc::time_t, tv_nsec: timeout.subsec_nanos() as libc::c_long };
    // SAFETY: FUTEX_WAIT on a valid, aligned u32 that outlives the call, with
    // a valid relative timeout; it returns at once if the word is not `value`.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG, value, &ts as *const libc::timespec);
    }
}

#[cfg(loom)]
fn futex_wake(_word: &AtomicU32) {}

#[cfg(loom)]
fn futex_wake_room(_word: &AtomicU32) {
    let (lock, sleepers) = &*ROOM_BUCKET;
    let _held = lock.lock().unwrap_or_else(|e| e.into_inner());
    sleepers.notify_all();
}

#[cfg(not(loom))]
fn futex_wake_room(word: &AtomicU32) {
    futex_wake(word);
}

#[cfg(loom)]
fn futex_wait(_word: &AtomicU32, _timeout: Duration) {
    loom::thread::yield_now();
}

#[cfg(loom)]
loom::lazy_static! {
    /// Under loom, the one futex bucket every producer's wait for room
    /// sleeps in: the kernel's bucket lock, and its queue of sleepers.
    static ref ROOM_BUCKET: (loom::sync::Mutex<()>, loom::sync::Condvar) =
        (loom::sync::Mutex::new(()), loom::sync::Condvar::new());
}

/// Under loom, a producer's wait for room sleeps as the kernel's futex
/// does, without the timeout: the value is compared under the bucket's
/// lock, and only a wake ([`wake_one`], which takes the lock after the
/// waker changed the word) ends the sleep. A lost wake-up is a sleeper
/// nobody wakes, which loom reports as a deadlock.
#[cfg(loom)]
fn futex_wait_value(word: &AtomicU32, value: u32, _timeout: Duration) {
    let (lock, sleepers) = &*ROOM_BUCKET;
    let held = lock.lock().unwrap_or_else(|e| e.into_inner());
    // Relaxed, as the kernel's read of the word: the bucket lock orders it
    // after a waker's change of the word that took the lock first.
    if word.load(Ordering::Relaxed) == value {
        drop(sleepers.wait(held).unwrap_or_else(|e| e.into_inner()));
    }
}
