//! Session and epoch publication: the recorder state every event reads,
//! written only when a recording starts or stops. Compiled under
//! `cfg(loom)` too, so the loom models check the publication as it ships.
//!
//! ```text
//!  start (launch):  configure(epoch, clock, policy, …)   Relaxed stores
//!  drainer, after emptying old events:  publish(session)   Release
//!  hot path:        running() → session ≠ 0        Acquire, then epoch() etc. Relaxed
//!  stop:            stop(session)                  CAS to 0, Release
//! ```

use crate::sync::{AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

/// Kept on its own cache line so that the hot path never shares a line
/// that anything writes per event.
#[derive(Debug)]
#[repr(align(128))]
pub struct Control {
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

/// The one body of both `Control::new`s.
macro_rules! control_new {
    () => {
        Control {
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
        self.session.compare_exchange(session, 0, Ordering::Release, Ordering::Relaxed).is_ok()
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
