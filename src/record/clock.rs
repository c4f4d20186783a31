//! The recorder's clock: what the hot path reads for a timestamp, and how
//! the drainer turns it into the nanoseconds the file holds.
//!
//! Where the CPU's time-stamp counter is invariant (x86-64 with the
//! `constant_tsc` and `nonstop_tsc` flags, and the kernel itself keeping
//! time with it), an event's timestamp is the raw TSC minus the epoch's
//! reading (*ticks*), about 9 ns cheaper than `clock_gettime` per event.
//! Elsewhere, or when `MEMSCOPE_CLOCK=monotonic` is set, it is
//! `CLOCK_MONOTONIC` in ns, as before version 5 (then one tick is one ns).
//!
//! The drainer converts every popped event's ticks to ns with a fixed-point
//! multiply, `ns = (ticks × mult) >> shift`, calibrated against
//! `CLOCK_MONOTONIC` when the recording starts ([`calibrate`]); the
//! conversion is monotonic, so it keeps every order the ticks had. The
//! calibration goes into the file (a Clock record, FORMAT.md).
//!
//! Which reading needs a fence (FORMAT.md, "The clock"): a stamp taken
//! *after* a call that may have acquired memory another thread released
//! (an allocation, a moved reallocation's return stamp) must not be read
//! before the loads that found that memory, so `lfence` goes first
//! ([`Order::AfterCall`]); a stamp taken *before* a call that releases
//! memory is read before that call's stores commit (they commit after it
//! retires, in order), so it needs none ([`Order::BeforeCall`]).

use super::thread::{monotonic_ns, CONTROL};
use crate::format::{ClockRecord, RawEvent};
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// [`Calibration::source`]: `CLOCK_MONOTONIC`, ticks are ns.
pub(crate) const SOURCE_MONOTONIC: u8 = crate::format::CLOCK_MONOTONIC;
/// [`Calibration::source`]: the invariant TSC.
pub(crate) const SOURCE_TSC: u8 = crate::format::CLOCK_TSC;

/// The fixed-point shift of the tick → ns multiplier.
const SHIFT: u8 = 32;

/// The shortest span a TSC calibration is measured over (5 ms: with pair
/// readings good to ±20 ns, the rate is good to about 10 ppm). Only a
/// process's first recording waits for it; later ones measure from the
/// same first reading, over a longer span.
const MIN_CALIBRATION_NS: u64 = 5_000_000;

/// How a stamp is ordered with the allocator call next to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// Before a call that releases memory (a deallocation, a
    /// reallocation's first stamp): the reading cannot move after the
    /// call's stores, so no fence.
    BeforeCall,
    /// After a call that acquired memory (an allocation, a moved
    /// reallocation's return stamp), and everything that is not an
    /// allocator call: `lfence` first, so the reading follows every load
    /// before it.
    AfterCall,
}

/// Reads the TSC, fenced as `order` says.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn rdtsc(order: Order) -> u64 {
    // SAFETY: `lfence` and `rdtsc` exist on every x86-64 CPU (SSE2 is part
    // of the baseline) and touch no memory.
    unsafe {
        // `--cfg memscope_unfenced`: an experiment only (tests/ordering_reuse_tsc.rs).
        if order == Order::AfterCall && !cfg!(memscope_unfenced) {
            core::arch::x86_64::_mm_lfence();
        }
        core::arch::x86_64::_rdtsc()
    }
}

/// The running recording's clock in ticks since its epoch, read as
/// `order` says. Call only after `CONTROL.running()` returned the recording.
#[inline(always)]
pub(crate) fn now_ticks(order: Order) -> u64 {
    // Relaxed (both): published before `session` by the Release store in
    // `Control::publish`, which the caller's Acquire load of it pairs with.
    let epoch = CONTROL.epoch();
    #[cfg(target_arch = "x86_64")]
    if CONTROL.tsc() {
        return rdtsc(order).saturating_sub(epoch);
    }
    let _ = order;
    monotonic_ns().saturating_sub(epoch)
}

/// The raw clock of source `source` (no epoch), fenced on both sides: the
/// drainer's own readings and the calibration's.
fn raw(source: u8) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if source == SOURCE_TSC {
        let t = rdtsc(Order::AfterCall);
        // SAFETY: as in `rdtsc`: keeps later instructions (the drainer's
        // membarrier) from starting before the reading is taken.
        unsafe { core::arch::x86_64::_mm_lfence() };
        return t;
    }
    monotonic_ns()
}

/// How ticks became nanoseconds in one recording: the Clock record's
/// fields (FORMAT.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Calibration {
    /// [`SOURCE_MONOTONIC`] or [`SOURCE_TSC`].
    pub(crate) source: u8,
    /// `ns = (ticks × mult) >> shift`.
    pub(crate) mult: u64,
    /// See `mult`.
    pub(crate) shift: u8,
    /// The raw clock at the epoch.
    pub(crate) epoch_ticks: u64,
    /// `CLOCK_MONOTONIC` at the epoch (the segment header's `start_monotonic_ns`).
    pub(crate) epoch_ns: u64,
    /// The other (raw clock, `CLOCK_MONOTONIC`) pair `mult` was measured
    /// with, the epoch's being one: an earlier one (the process's first
    /// reading), or one the drainer read at least [`MIN_CALIBRATION_NS`]
    /// after the epoch ([`complete`]); the epoch's own for `CLOCK_MONOTONIC`.
    pub(crate) anchor: (u64, u64),
    /// The rate is not measured yet (`mult` is 0): the drainer measures it
    /// ([`complete`]) before it converts any event.
    pub(crate) pending: bool,
}

impl Calibration {
    /// Ticks since the epoch → ns since the epoch.
    #[cfg(test)]
    fn ns_of(&self, ticks: u64) -> u64 {
        ((u128::from(ticks) * u128::from(self.mult)) >> self.shift) as u64
    }

    /// The Clock record of this calibration, written `at` the start.
    pub(crate) fn record(&self, at: u8) -> ClockRecord {
        ClockRecord {
            source: self.source,
            at,
            shift: self.shift,
            mult: self.mult,
            epoch_ticks: self.epoch_ticks,
            ticks: self.anchor.0,
            monotonic_ns: self.anchor.1,
        }
    }

    /// A (raw clock, `CLOCK_MONOTONIC`) pair read now: the clock
    /// read around `CLOCK_MONOTONIC`, the midpoint of the closest of a few tries.
    pub(crate) fn pair(source: u8) -> (u64, u64) {
        if source == SOURCE_MONOTONIC {
            // The clock is CLOCK_MONOTONIC: one reading is both (a midpoint of
            // two readings around a third could differ from it by rounding).
            let ns = monotonic_ns();
            return (ns, ns);
        }
        let mut best = (u64::MAX, 0, 0);
        for _ in 0..5 {
            let a = raw(source);
            let ns = monotonic_ns();
            let b = raw(source);
            if b >= a && b - a < best.0 {
                best = (b - a, a + (b - a) / 2, ns);
            }
        }
        (best.1, best.2)
    }
}

/// Per process: the source in use (0: not chosen yet, else source + 1).
static SOURCE: AtomicU8 = AtomicU8::new(0);
/// Per process: the first TSC calibration reading (raw, ns); a later
/// recording measures its rate from it, over a longer span.
static ANCHOR_TICKS: AtomicU64 = AtomicU64::new(0);
static ANCHOR_NS: AtomicU64 = AtomicU64::new(0);
/// The running recording's `mult` and `shift` (shift in bits 0..8, mult
/// shifted left 8 would overflow, so two words), for the drainer.
static RUNNING_MULT: AtomicU64 = AtomicU64::new(1);
static RUNNING_SHIFT: AtomicU8 = AtomicU8::new(0);

/// Whether this machine's TSC can stamp events: x86-64, the CPU says it is
/// invariant (`constant_tsc`, `nonstop_tsc` in /proc/cpuinfo), the kernel
/// keeps time with it (its clocksource is `tsc`, so it found the TSCs of
/// all CPUs in step), and `MEMSCOPE_CLOCK` does not say `monotonic`.
fn tsc_usable() -> bool {
    if !cfg!(target_arch = "x86_64") {
        return false;
    }
    if std::env::var_os("MEMSCOPE_CLOCK").is_some_and(|v| v == "monotonic") {
        return false;
    }
    let flags = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let Some(flags) = flags.lines().find(|l| l.starts_with("flags")) else {
        return false;
    };
    let has = |f: &str| flags.split_whitespace().any(|w| w == f);
    if !(has("constant_tsc") && has("nonstop_tsc")) {
        return false;
    }
    let source = std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource").unwrap_or_default();
    source.trim() == "tsc"
}

/// At `start`, before the recording runs: chooses the clock (once per
/// process), reads the epoch, and measures the tick rate against
/// `CLOCK_MONOTONIC` from the process's first reading, if that is at least
/// [`MIN_CALIBRATION_NS`] old. If it is not (a process's first recording),
/// `defer` says what to do: wait here for the rest of the span (false), or
/// return a [`Calibration::pending`] one whose rate the drainer measures
/// later with [`complete`] (true), before it converts any event. Sets the
/// drainer's conversion when the rate is known; the caller publishes
/// `epoch_ticks` and the source in `CONTROL`.
pub(crate) fn calibrate(defer: bool) -> Calibration {
    // Relaxed (all statics here): written and read by `start`, one at a
    // time (`record::STATE`), and read by the drainer it then spawns (or by
    // `complete`, on that drainer, before `start` can run again).
    let mut source = SOURCE.load(Ordering::Relaxed);
    if source == 0 {
        source = if tsc_usable() { SOURCE_TSC } else { SOURCE_MONOTONIC } + 1;
        SOURCE.store(source, Ordering::Relaxed);
    }
    let source = source - 1;
    let cal = if source == SOURCE_TSC { calibrate_tsc(defer) } else { None };
    let cal = cal.unwrap_or_else(|| {
        let ns = monotonic_ns();
        Calibration { source: SOURCE_MONOTONIC, mult: 1, shift: 0, epoch_ticks: ns, epoch_ns: ns, anchor: (ns, ns), pending: false }
    });
    if !cal.pending {
        set_running(&cal);
    }
    cal
}

/// Makes `cal` the running recording's conversion (the drainer's).
fn set_running(cal: &Calibration) {
    // Relaxed: read by the drainer, which `start` spawns after this, or
    // which sets them itself (`complete`) before it converts an event.
    RUNNING_MULT.store(cal.mult, Ordering::Relaxed);
    RUNNING_SHIFT.store(cal.shift, Ordering::Relaxed);
}

/// The TSC's calibration, or `None` (and `CLOCK_MONOTONIC` for the rest of
/// the process) if its rate is implausible. Pending (`defer`) when the
/// process's first reading is less than [`MIN_CALIBRATION_NS`] old.
fn calibrate_tsc(defer: bool) -> Option<Calibration> {
    if ANCHOR_NS.load(Ordering::Relaxed) == 0 {
        let (t, ns) = Calibration::pair(SOURCE_TSC);
        ANCHOR_TICKS.store(t, Ordering::Relaxed);
        ANCHOR_NS.store(ns, Ordering::Relaxed);
    }
    let anchor = (ANCHOR_TICKS.load(Ordering::Relaxed), ANCHOR_NS.load(Ordering::Relaxed));
    let wait = (anchor.1 + MIN_CALIBRATION_NS).saturating_sub(monotonic_ns());
    if wait > 0 && defer {
        // The epoch now; its rate from the epoch to a reading at least
        // MIN_CALIBRATION_NS later, taken by the drainer (`complete`).
        let (epoch_ticks, epoch_ns) = Calibration::pair(SOURCE_TSC);
        return Some(Calibration {
            source: SOURCE_TSC,
            mult: 0,
            shift: SHIFT,
            epoch_ticks,
            epoch_ns,
            anchor: (epoch_ticks, epoch_ns),
            pending: true,
        });
    }
    if wait > 0 {
        std::thread::sleep(std::time::Duration::from_nanos(wait));
    }
    let (epoch_ticks, epoch_ns) = Calibration::pair(SOURCE_TSC);
    let Some(mult) = rate(anchor, (epoch_ticks, epoch_ns)) else {
        SOURCE.store(SOURCE_MONOTONIC + 1, Ordering::Relaxed);
        return None;
    };
    Some(Calibration { source: SOURCE_TSC, mult, shift: SHIFT, epoch_ticks, epoch_ns, anchor, pending: false })
}

/// The fixed-point rate (ns per tick × 2^[`SHIFT`]) between an earlier and
/// a later (TSC, `CLOCK_MONOTONIC`) pair; `None` unless it lies between 50
/// MHz and 20 GHz and neither clock went back.
fn rate(earlier: (u64, u64), later: (u64, u64)) -> Option<u64> {
    let (dt, dns) = (later.0.wrapping_sub(earlier.0), later.1.wrapping_sub(earlier.1));
    let plausible = later.0 > earlier.0 && later.1 > earlier.1 && dt / 20 <= dns && dns <= dt.saturating_mul(20);
    plausible.then(|| (((u128::from(dns) << SHIFT) + u128::from(dt / 2)) / u128::from(dt)) as u64)
}

/// The drainer of a recording whose calibration is [`Calibration::pending`],
/// before it converts its first event: waits until [`MIN_CALIBRATION_NS`]
/// after the epoch (the recording runs meanwhile; the rings hold its
/// events), reads a second pair and measures the rate from the epoch's to
/// it (the Clock record's `ticks` and `monotonic_ns` are then that later
/// pair). Sets the running conversion. A rate out of bounds (it never was
/// on a TSC the kernel keeps time with) makes later recordings of the
/// process use `CLOCK_MONOTONIC`; this one converts with the measured rate
/// if both clocks moved forward, else one ns per tick.
pub(crate) fn complete(cal: &mut Calibration) {
    if cal.pending {
        measure_later(cal);
        set_running(cal);
    }
}

/// [`complete`]'s measurement, without making it the running conversion.
fn measure_later(cal: &mut Calibration) {
    let wait = (cal.epoch_ns + MIN_CALIBRATION_NS).saturating_sub(monotonic_ns());
    if wait > 0 {
        std::thread::sleep(std::time::Duration::from_nanos(wait));
    }
    let later = Calibration::pair(SOURCE_TSC);
    let epoch = (cal.epoch_ticks, cal.epoch_ns);
    cal.mult = rate(epoch, later).unwrap_or_else(|| {
        // Relaxed: as in `calibrate`; `start` cannot run until this drainer ends.
        SOURCE.store(SOURCE_MONOTONIC + 1, Ordering::Relaxed);
        let (dt, dns) = (later.0.saturating_sub(epoch.0), later.1.saturating_sub(epoch.1));
        if dt == 0 || dns == 0 {
            1 << SHIFT
        } else {
            ((u128::from(dns) << SHIFT) / u128::from(dt)).min(u128::from(u64::MAX)) as u64
        }
    });
    cal.anchor = later;
    cal.pending = false;
}

/// The drainer's clock: ns since the running recording's epoch, on the
/// events' scale (ticks converted as theirs are), fenced so that the
/// reading is taken before anything after it starts (FORMAT.md, "Round record").
pub(crate) fn drainer_now_ns() -> u64 {
    // Relaxed: as in `now_ticks`; the drainer started after `configure`.
    let source = if CONTROL.tsc() { SOURCE_TSC } else { SOURCE_MONOTONIC };
    let ticks = raw(source).saturating_sub(CONTROL.epoch());
    ticks_to_ns(ticks)
}

/// The running recording's conversion of ticks since the epoch to ns.
#[inline]
pub(crate) fn ticks_to_ns(ticks: u64) -> u64 {
    // Relaxed: set by `calibrate` before the drainer was spawned.
    let (mult, shift) = (RUNNING_MULT.load(Ordering::Relaxed), RUNNING_SHIFT.load(Ordering::Relaxed));
    ((u128::from(ticks) * u128::from(mult)) >> shift) as u64
}

/// The running clock's conversion from ticks to nanoseconds, read once
/// (the drainer reads it at each round's start) rather than per event.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TicksToNs {
    mult: u64,
    shift: u8,
}

impl TicksToNs {
    /// The running clock's conversion.
    pub(crate) fn running() -> Self {
        // Relaxed: as in `ticks_to_ns`.
        TicksToNs { mult: RUNNING_MULT.load(Ordering::Relaxed), shift: RUNNING_SHIFT.load(Ordering::Relaxed) }
    }

    /// The drainer: converts the timestamps of one event popped from a
    /// ring (its stamp and, for a StackNext, the return stamp it carries)
    /// from the running clock's ticks to nanoseconds since the epoch.
    /// Nothing to do with `CLOCK_MONOTONIC`, which is nanoseconds already
    /// (mult 1, shift 0).
    #[inline(always)]
    pub(crate) fn event(self, e: &mut RawEvent) {
        event_to_ns(e, self.mult, self.shift);
    }
}

#[inline(always)]
fn event_to_ns(e: &mut RawEvent, mult: u64, shift: u8) {
    if mult == 1 && shift == 0 {
        return;
    }
    let conv = |t: u64| ((u128::from(t) * u128::from(mult)) >> shift) as u64;
    // At most the 56 bits a stamp has (a clock slower than 1 GHz, which the
    // calibration allows, gives more ns than ticks): saturating keeps the
    // conversion non-decreasing, which the Round watermark relies on.
    let ts_max = crate::format::event::TS_MAX;
    e.head = (e.head & 0xff) | (conv(e.head >> 8).min(ts_max) << 8);
    if e.kind() == crate::format::event::KIND_STACK_NEXT && e.b != 0 {
        // `b` is the return stamp + 1; a moved reallocation's is ≥ 1.
        e.b = conv(e.b - 1).min(ts_max).max(1) + 1;
    }
}

/// The drainer, finishing: the Clock record for the end of the running
/// recording, with a (raw clock, `CLOCK_MONOTONIC`) pair read now.
pub(crate) fn end_record() -> ClockRecord {
    // Relaxed: as in `ticks_to_ns` and `drainer_now_ns`.
    let source = if CONTROL.tsc() { SOURCE_TSC } else { SOURCE_MONOTONIC };
    let (ticks, monotonic_ns) = Calibration::pair(source);
    ClockRecord {
        source,
        at: crate::format::CLOCK_AT_END,
        shift: RUNNING_SHIFT.load(Ordering::Relaxed),
        mult: RUNNING_MULT.load(Ordering::Relaxed),
        epoch_ticks: CONTROL.epoch(),
        ticks,
        monotonic_ns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversion_is_monotonic_and_near_the_rate() {
        // A 2.5 GHz clock: 0.4 ns per tick.
        let cal = Calibration {
            source: SOURCE_TSC,
            mult: (4u64 << 32) / 10,
            shift: 32,
            epoch_ticks: 0,
            epoch_ns: 0,
            anchor: (0, 0),
            pending: false,
        };
        let mut last = 0;
        for t in (0..1_000_000u64).step_by(7).chain([1 << 40, (1 << 56) - 1]) {
            let ns = cal.ns_of(t);
            assert!(ns >= last, "{t} ticks went back to {ns} ns");
            last = ns;
        }
        assert_eq!(cal.ns_of(2_500_000_000), 999_999_999);
    }

    #[test]
    fn calibration_tracks_clock_monotonic() {
        // The first calibration of this process (unit tests share it: either
        // waits or defers, whichever runs first), completed if pending, and
        // a later one from the same first reading.
        for defer in [true, false] {
            let mut cal = calibrate(defer);
            complete(&mut cal);
            assert!(!cal.pending);
            assert_eq!(RUNNING_MULT.load(Ordering::Relaxed), cal.mult);
            check_tracks(&cal);
        }
    }

    #[test]
    fn a_pending_calibration_waits_for_its_span() {
        let (t, ns) = Calibration::pair(SOURCE_TSC);
        let mut cal =
            Calibration { source: SOURCE_TSC, mult: 0, shift: SHIFT, epoch_ticks: t, epoch_ns: ns, anchor: (t, ns), pending: true };
        measure_later(&mut cal);
        assert!(!cal.pending);
        if tsc_usable() {
            assert!(cal.anchor.1 >= ns + MIN_CALIBRATION_NS, "measured over {} ns", cal.anchor.1 - ns);
            assert_eq!(Some(cal.mult), rate((t, ns), cal.anchor), "the rate from the epoch's pair to the later one");
            check_tracks(&cal);
        }
    }

    fn check_tracks(cal: &Calibration) {
        let (t, ns) = Calibration::pair(cal.source);
        let file_ns = cal.ns_of(t - cal.epoch_ticks);
        let mono = ns - cal.epoch_ns;
        assert!(file_ns.abs_diff(mono) < 100_000 + mono / 10_000, "{file_ns} ns by the calibration, {mono} by CLOCK_MONOTONIC ({cal:?})");
    }
}
