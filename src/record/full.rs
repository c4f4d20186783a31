//! The full-ring protocol between producers and the drainer, compiled under
//! `cfg(loom)` too so that `loom-tests/` checks the code that ships: a
//! producer waiting for room in its ring, giving up when the recording
//! stops, and the stopping drainer's last count ([`Gate`]).
//!
//! ```text
//!  producer, ring full (Block)          drainer, stopping (session already 0)
//!  gate.begin_wait()  ─ CLOSED? → give up, count nothing (after the stop)
//!  loop: try_push → end_wait            drain until rounds are empty
//!        session≠ours → count, end_wait gate.close()
//!                                       drain until gate.waiters() == 0
//!                                       last round: every count is in
//! ```

use super::registry::Slot;
use crate::sync::{AtomicU32, Ordering};

/// Producers waiting for room in their ring (who may still count an event
/// as lost), and whether the stopping drainer has closed the recording's
/// count.
#[derive(Debug)]
pub struct Gate {
    /// The number of waiters, plus [`Gate::CLOSED`] once closed.
    waiting: AtomicU32,
}

impl Gate {
    /// `waiting`: the stopping drainer has taken its last count.
    const CLOSED: u32 = 1 << 31;

    /// An open gate with no waiter.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Gate { waiting: AtomicU32::new(0) }
    }

    /// An open gate with no waiter.
    #[cfg(loom)]
    pub fn new() -> Self {
        Gate { waiting: AtomicU32::new(0) }
    }

    /// Producer: starts waiting for room. Returns false, and the producer
    /// must neither push nor count its event, once the drainer has closed
    /// the count ([`Gate::close`]): the stop came first, so the event belongs
    /// to no recording. Otherwise the drainer waits for the matching
    /// [`Gate::end_wait`] before its last count, so an event this wait gives
    /// up on is in the End record and the `Summary`. A shared RMW, but only
    /// on a full ring (already a spin-then-sleep path).
    pub fn begin_wait(&self) -> bool {
        // Relaxed: every write of `waiting` is an RMW, so its modification
        // order alone decides whether this wait began before the `fetch_or`
        // in `close` (and is waited for) or after (and sees CLOSED).
        if self.waiting.fetch_add(1, Ordering::Relaxed) & Self::CLOSED == 0 {
            return true;
        }
        self.end_wait();
        false
    }

    /// Producer: ends a wait begun by a successful [`Gate::begin_wait`],
    /// after its last push or count.
    pub fn end_wait(&self) {
        // Release: pairs with the Acquire load in `waiters`: the push or the
        // drop count made before this is visible to the drainer's last round.
        self.waiting.fetch_sub(1, Ordering::Release);
    }

    /// Drainer, stopping (the session is already zeroed): closes the count;
    /// producers that begin waiting from now on count nothing.
    pub fn close(&self) {
        // Relaxed: see `begin_wait`; the drainer then waits with `waiters`.
        self.waiting.fetch_or(Self::CLOSED, Ordering::Relaxed);
    }

    /// Drainer, before a recording starts: reopens the count.
    pub fn open(&self) {
        // Relaxed: published to producers by the Release store of `session`.
        self.waiting.fetch_and(!Self::CLOSED, Ordering::Relaxed);
    }

    /// In a forked child (one thread): no producer waits, whatever the
    /// parent's copy counted.
    pub fn clear_after_fork(&self) {
        // Relaxed: the child is single-threaded here.
        self.waiting.store(0, Ordering::Relaxed);
    }

    /// Drainer: producers still in a wait begun before the count was closed.
    pub fn waiters(&self) -> u32 {
        // Acquire: pairs with the Release `fetch_sub` in `end_wait`.
        self.waiting.load(Ordering::Acquire) & !Self::CLOSED
    }
}

/// Producer, its ring full under `OnFull::Block` (or for an event that must
/// not be dropped): retries `try_push` until it succeeds, or until `session`
/// no longer holds `ours` (the recording stopped), counting `lost` events in
/// `slot` then. Between tries it calls `backoff(tries)` (spin, then wake
/// the drainer and sleep for room). Returns whether the push succeeded.
///
/// The caller must own `slot` (`add_dropped` is the owner's), and
/// `try_push` must push into its ring.
pub fn wait_for_room(
    gate: &Gate,
    session: &AtomicU32,
    ours: u32,
    slot: &Slot,
    lost: u64,
    mut try_push: impl FnMut() -> bool,
    mut backoff: impl FnMut(u32),
) -> bool {
    if !gate.begin_wait() {
        return false;
    }
    let mut tries = 0u32;
    loop {
        if try_push() {
            gate.end_wait();
            return true;
        }
        // Relaxed: a stop (or a failed drainer) zeroes `session`; we only
        // need to notice eventually, and the gate orders the count.
        if session.load(Ordering::Relaxed) != ours {
            slot.add_dropped(lost);
            gate.end_wait();
            return false;
        }
        tries = tries.wrapping_add(1);
        backoff(tries);
    }
}

/// Drainer, stopping (the session already zeroed): runs rounds until one
/// takes nothing, closes `gate`, runs rounds until every producer that
/// began waiting before has pushed or given up, then one last round, which
/// reads every count they made. `round` returns the most events it took
/// from one ring; `idle` runs between rounds that took nothing.
pub fn drain_to_close<E>(gate: &Gate, mut round: impl FnMut() -> Result<usize, E>, mut idle: impl FnMut()) -> Result<(), E> {
    // Events stamped just before the stop may still be landing.
    while round()? > 0 {}
    gate.close();
    while gate.waiters() > 0 {
        if round()? == 0 {
            idle();
        }
    }
    round()?;
    Ok(())
}
