//! Session and epoch publication: the recorder state every event reads,
//! written only when a recording starts or stops. Compiled under
//! `cfg(loom)` too, so the loom models check the publication as it ships.
//!
//! ```text
//!  start (launch):  configure(epoch, clock, policy, …)   Relaxed stores
//!  drainer, after emptying old events:  publish(session)   active += 1, then Release
//!  hot path:        active() ≠ 0 → running() → session ≠ 0   Relaxed, Acquire, then epoch() etc. Relaxed
//!  stop:            stop(session)                  CAS to 0, Release; then active −= 1
//! ```
//!
//! `active` is the allocator's first and, when nothing runs, only load: a
//! filter in front of `session`, never a substitute for it. It is raised
//! before a recording's session is published and lowered after it is
//! cleared, so a thread that sees a recording running (or that a recording's
//! start happens before) also sees `active` nonzero.

use crate::sync::{AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

/// Kept on its own cache line so that the hot path never shares a line
/// that anything writes per event.
#[derive(Debug)]
#[repr(align(128))]
pub struct Control {
    /// Why an allocator call must look past this word: [`ACTIVE_RECORDING`]
    /// per recording published and not yet stopped (at most one, two for an
    /// instant at a stop racing a start), plus [`ACTIVE_MEASURE`] per
    /// measurement in progress on any thread (`record::measure`). 0: the
    /// call forwards to the inner allocator and does nothing else. Counts,
    /// not flags, so that a late decrement never clears a newer increment.
    pub active: AtomicU64,
    /// Id of the running recording, or 0 when none is running.
    pub session: AtomicU32,
    /// The clock at the start of the running recording, in its ticks
    /// (`record::clock`: TSC ticks, or `CLOCK_MONOTONIC` ns).
    pub epoch: AtomicU64,
    /// Whether the running recording's clock is the TSC (1) or `CLOCK_MONOTONIC` (0).
    pub tsc: AtomicU8,
    /// The running recording's `OnFull`, as 0 (Block) or 1 (Drop).
    pub on_full: AtomicU8,
    /// Capacity of rings created from now on, in events (a power of two).
    pub ring_capacity: AtomicUsize,
    /// Whether allocations carry call stacks: 1 (frame-pointer walk) or 0.
    pub stacks: AtomicU8,
    /// The running recording's sampling interval in bytes; 0: every event
    /// is recorded.
    pub sample_interval: AtomicU64,
    /// The running recording's sampling seed (FORMAT.md, "Sampling record").
    pub sample_seed: AtomicU64,
}

/// `Control::active`: one recording published and not yet stopped.
pub const ACTIVE_RECORDING: u64 = 1;
/// `Control::active`: one measurement in progress (the high 32 bits count them).
pub const ACTIVE_MEASURE: u64 = 1 << 32;

/// The one body of both `Control::new`s.
macro_rules! control_new {
    () => {
        Control {
            active: AtomicU64::new(0),
            session: AtomicU32::new(0),
            epoch: AtomicU64::new(0),
            tsc: AtomicU8::new(0),
            on_full: AtomicU8::new(0),
            ring_capacity: AtomicUsize::new(super::DEFAULT_RING_CAPACITY),
            stacks: AtomicU8::new(1),
            sample_interval: AtomicU64::new(0),
            sample_seed: AtomicU64::new(0),
        }
    };
}

impl Control {
    /// No recording running; rings of the default capacity; stacks on.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        control_new!()
    }

    /// No recording running; rings of the default capacity; stacks on
    /// (loom's atomics have no `const fn new`).
    #[cfg(loom)]
    pub fn new() -> Self {
        control_new!()
    }

    /// Starting, before the drainer exists: the next recording's settings.
    pub fn configure(&self, epoch: u64, tsc: bool, on_full: u8, ring_capacity: usize, stacks: u8) {
        // Relaxed: these happen before the drainer's spawn, whose Release
        // store in `publish` publishes them to the hot path.
        self.epoch.store(epoch, Ordering::Relaxed);
        self.tsc.store(u8::from(tsc), Ordering::Relaxed);
        self.on_full.store(on_full, Ordering::Relaxed);
        self.ring_capacity.store(ring_capacity, Ordering::Relaxed);
        self.stacks.store(stacks, Ordering::Relaxed);
    }

    /// Starting, before the drainer exists: the next recording's sampling
    /// interval (0: none) and seed.
    pub fn configure_sampling(&self, interval: u64, seed: u64) {
        // Relaxed: published by `publish`, as in `configure`.
        self.sample_interval.store(interval, Ordering::Relaxed);
        self.sample_seed.store(seed, Ordering::Relaxed);
    }

    /// The running recording's sampling interval in bytes (0: none).
    #[inline(always)]
    pub fn sample_interval(&self) -> u64 {
        // Relaxed: published by `publish`, which the caller's `running` saw.
        self.sample_interval.load(Ordering::Relaxed)
    }

    /// Drainer, once it has emptied the rings of older events: the
    /// recording `session` (non-zero) runs from now on.
    pub fn publish(&self, session: u32) {
        // Relaxed: ordered before the session by the Release store below
        // (sequenced before it), so whoever sees the session sees this.
        self.active.fetch_add(ACTIVE_RECORDING, Ordering::Relaxed);
        // Release: pairs with the Acquire load in `running`: the settings of
        // `configure` (and the drainer's reset) are visible to every thread
        // that sees this recording running.
        self.session.store(session, Ordering::Release);
    }

    /// The running recording's id, or 0: the hot path's first load.
    #[inline(always)]
    pub fn running(&self) -> u32 {
        // Acquire: pairs with the Release store in `publish`.
        self.session.load(Ordering::Acquire)
    }

    /// Stops `session` if it is the running recording (a stale guard's call
    /// leaves a newer one alone); whether it did.
    pub fn stop(&self, session: u32) -> bool {
        // Release: pairs with the Acquire loads in `running` (which then see
        // 0 and record nothing more).
        let stopped = self.session.compare_exchange(session, 0, Ordering::Release, Ordering::Relaxed).is_ok();
        if stopped {
            // Relaxed: a call that races with the stop may be recorded or not
            // either way; one that sees the count gone records nothing, as
            // one that sees the session 0.
            self.active.fetch_sub(ACTIVE_RECORDING, Ordering::Relaxed);
        }
        stopped
    }

    /// In a forked child, on its only thread: no recording runs (the
    /// parent's drainer is not in the child).
    pub fn clear_after_fork(&self) {
        // Relaxed: the child is single-threaded here.
        self.session.store(0, Ordering::Relaxed);
        // Relaxed: as above. Measurements of the parent's other threads stay
        // counted: the child's calls then look further for nothing, harmlessly.
        let measures = self.active.load(Ordering::Relaxed) & !(ACTIVE_MEASURE - 1);
        self.active.store(measures, Ordering::Relaxed);
    }

    /// Why an allocator call must look further (`Control::active`); 0: it
    /// need not. The hot path's first load.
    #[inline(always)]
    pub fn active(&self) -> u64 {
        // Relaxed: a filter; `running` (Acquire) is what publishes a
        // recording's settings, and the increment in `publish` happens before
        // the session it filters for.
        self.active.load(Ordering::Relaxed)
    }

    /// A measurement starts on this thread (`record::measure`).
    pub fn measure_begins(&self) {
        // Relaxed: this thread's own calls see it in program order; a thread
        // spawned into the measurement sees it through the spawn.
        self.active.fetch_add(ACTIVE_MEASURE, Ordering::Relaxed);
    }

    /// A measurement of this thread ends.
    pub fn measure_ends(&self) {
        // Relaxed: as in `measure_begins`.
        self.active.fetch_sub(ACTIVE_MEASURE, Ordering::Relaxed);
    }

    /// The running recording's epoch, in its clock's ticks.
    #[inline(always)]
    pub fn epoch(&self) -> u64 {
        // Relaxed: published by `publish`, which the caller's `running` saw.
        self.epoch.load(Ordering::Relaxed)
    }

    /// Whether the running recording's clock is the TSC.
    #[inline(always)]
    pub fn tsc(&self) -> bool {
        // Relaxed: published by `publish`, which the caller's `running` saw.
        self.tsc.load(Ordering::Relaxed) != 0
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// `active` is 0 exactly when nothing runs: a recording counts from
    /// `publish` to its `stop` (a stale guard's stop changes nothing), a
    /// measurement from its start to its end, and a forked child keeps only
    /// the measurements.
    #[test]
    fn active_counts_recordings_and_measurements() {
        let c = Control::new();
        assert_eq!(c.active(), 0);
        c.publish(3);
        assert_eq!(c.active(), ACTIVE_RECORDING);
        c.measure_begins();
        c.measure_begins();
        assert_eq!(c.active(), ACTIVE_RECORDING + 2 * ACTIVE_MEASURE);
        assert!(!c.stop(2), "a stale guard's stop");
        assert_eq!(c.active(), ACTIVE_RECORDING + 2 * ACTIVE_MEASURE);
        assert!(c.stop(3));
        assert!(!c.stop(3), "stopped once");
        assert_eq!(c.active(), 2 * ACTIVE_MEASURE);
        c.measure_ends();
        c.publish(4);
        c.clear_after_fork();
        assert_eq!((c.running(), c.active()), (0, ACTIVE_MEASURE), "the child keeps the measurement, not the recording");
        c.measure_ends();
        assert_eq!(c.active(), 0);
    }
}
