//! Replay by site: exact figures per call stack (estimates in a sampling
//! recording: each sample weighted by `1/p`, FORMAT.md "Sampling record").
//!
//! A *site* is one distinct call stack (FORMAT.md glossary), identified by
//! the stack id its allocations carry.
//!
//! A reallocation moves its allocation to the reallocation's site (as
//! heaptrack and memray count it): its old size counts as deallocated bytes
//! at the site that held the allocation, its new size as allocated bytes at
//! the reallocation's site. So, per site, `allocated_bytes −
//! deallocated_bytes = live_bytes_end`, and the sums over all sites equal
//! FORMAT.md's total allocated and deallocated bytes.

use serde::Serialize;

/// Exact figures of one site over the recording (in a sampling recording,
/// [`crate::replay::Replay::sampling`], estimates: each sample of `size`
/// bytes counts for `1/p` allocations and `size/p` bytes, and a lifetime
/// for `1/p` lifetimes; a reallocation written as such, for `1/(p_old ·
/// p_new)` reallocations; [`SiteStats::estimate`] says how good they
/// are). Bytes are bytes, times nanoseconds.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SiteStats {
    /// The site's stack id (its innermost node; 0: allocations with no stack).
    pub stack: u32,
    /// Allocations made here.
    pub allocations: u64,
    /// Bytes of those allocations plus the new sizes of the reallocations made here.
    pub allocated_bytes: u64,
    /// Reallocations made here. Sampling: the reallocations written as
    /// such, each weighted `1/(p_old·p_new)`; the others are written as
    /// allocations, and `allocations` is the site's gains (every sample
    /// weighted `1/p`) minus this estimate, at least 0 (FORMAT.md,
    /// "Sampling record"). A source line that reallocates is then two
    /// sites (stack ids), one for each way; FORMAT.md, "One source site,
    /// two sites".
    pub reallocations: u64,
    /// Deallocations of allocations made here. Sampling: reallocations
    /// whose new allocation was not sampled count among them (written as
    /// deallocations; FORMAT.md, "Sampling record"), and their time from
    /// allocation to reallocation among the lifetimes.
    pub deallocations: u64,
    /// Bytes of those deallocations, plus the old sizes of allocations held
    /// here that a reallocation moved to its own site.
    pub deallocated_bytes: u64,
    /// Allocations made here still live at the end.
    pub live_count_end: u64,
    /// Their bytes.
    pub live_bytes_end: u64,
    /// Allocations made here live at the global peak (`peak_at_ns`).
    pub peak_count: u64,
    /// Their bytes.
    pub peak_bytes: u64,
    /// The most bytes this site ever held live at once.
    pub max_live_bytes: u64,
    /// When it first held `max_live_bytes`, ns since the epoch.
    pub max_live_at_ns: u64,
    /// Temporary allocations: deallocated before their thread's next
    /// allocation (heaptrack's rule).
    pub temporary: u64,
    /// Sum of the lifetimes of the deallocated ones, ns.
    pub total_lifetime_ns: u64,
    /// In a sampling recording, how many samples the estimates above rest
    /// on and their standard errors; `None` when every event was recorded
    /// (the figures are exact). Not in the JSON when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimate: Option<SiteEstimate>,
}

/// How good a site's estimates are, in a sampling recording: the samples
/// they rest on and the standard error (`se`) of each estimate, computed
/// from the samples themselves (FORMAT.md, "Sampling record", "The error
/// of an estimate").
///
/// A standard error is in the unit of its figure (bytes for bytes,
/// allocations for counts). The true figure lies within ±1.96·se of the
/// estimate in about 95% of recordings, ±1·se in about 68%, when the site
/// has some 20 samples or more (the estimate is then close to normal);
/// with fewer, the interval is rougher, and a site with no sample has an
/// estimate of 0 and an se of 0 that says nothing (what it allocated was
/// below what the sampler sees). [`SiteEstimate::relative`] gives se as a
/// fraction of its figure.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SiteEstimate {
    /// Samples at this site: its allocations and reallocations that the
    /// recording holds (each stands for `1/p` of its kind).
    pub samples: u64,
    /// Of them, those live at the end.
    pub live_samples_end: u64,
    /// Standard error of [`SiteStats::allocations`], allocations.
    pub allocations_se: u64,
    /// Standard error of [`SiteStats::reallocations`], reallocations.
    pub reallocations_se: u64,
    /// Standard error of [`SiteStats::allocated_bytes`], bytes.
    pub allocated_bytes_se: u64,
    /// Standard error of [`SiteStats::live_count_end`], allocations.
    pub live_count_end_se: u64,
    /// Standard error of [`SiteStats::live_bytes_end`], bytes.
    pub live_bytes_end_se: u64,
    /// Standard error of [`SiteStats::peak_bytes`], bytes, taken as if the
    /// moment of the peak were fixed in advance (it is chosen from the same
    /// samples, so this understates the error there).
    pub peak_bytes_se: u64,
}

impl SiteEstimate {
    /// `se` as a fraction of `value` (0.05: ±5%); infinite when `value`
    /// is 0 and `se` is not, 0 when both are.
    pub fn relative(se: u64, value: u64) -> f64 {
        match (se, value) {
            (0, _) => 0.0,
            (_, 0) => f64::INFINITY,
            _ => se as f64 / value as f64,
        }
    }

    /// The estimate of two sites' figures summed: the samples add, and so
    /// do the variances (`se² `), as the samples of two sites are
    /// independent.
    pub fn combined(&self, other: &SiteEstimate) -> SiteEstimate {
        let se = |a: u64, b: u64| ((a as f64).powi(2) + (b as f64).powi(2)).sqrt().round() as u64;
        SiteEstimate {
            samples: self.samples.saturating_add(other.samples),
            live_samples_end: self.live_samples_end.saturating_add(other.live_samples_end),
            allocations_se: se(self.allocations_se, other.allocations_se),
            reallocations_se: se(self.reallocations_se, other.reallocations_se),
            allocated_bytes_se: se(self.allocated_bytes_se, other.allocated_bytes_se),
            live_count_end_se: se(self.live_count_end_se, other.live_count_end_se),
            live_bytes_end_se: se(self.live_bytes_end_se, other.live_bytes_end_se),
            peak_bytes_se: se(self.peak_bytes_se, other.peak_bytes_se),
        }
    }
}

use super::live::FastMap;
use crate::format::stacks::{Line, ModuleRecord, StackNode};

/// The most points of one site's timeline: its slots are four times as
/// wide as the global timeline's.
pub(crate) const SITE_SLOT_FACTOR_LOG2: u32 = 2;

/// Stack ids below this find their site by index, not by hashing (a
/// damaged file's larger ids, which replay does not trust, use a map).
const DIRECT_STACKS: usize = 1 << 24;

/// One point of a site's timeline: its figures at the end of a slot of
/// time (while replaying, `slot` is the slot's index; in a finished
/// [`Stacks`], the slot's end in ns since the epoch).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SitePoint {
    /// The end of the slot, ns since the epoch.
    pub slot: u64,
    /// Bytes live at the end of the slot.
    pub live_bytes: u64,
    /// Bytes allocated here so far (as [`SiteStats::allocated_bytes`]).
    pub allocated_bytes: u64,
    /// Allocations and reallocations made here so far.
    pub allocations: u64,
}

/// What a replay learns of call stacks: the stack tree, the module map,
/// and exact figures per site.
#[non_exhaustive]
#[derive(Debug, Clone, Default)]
pub struct Stacks {
    /// Whether the recording has call stacks (format version 3 with stacks on).
    pub recorded: bool,
    /// The stack tree: node id `i` is `nodes[i − 1]` (FORMAT.md, "Stack record").
    pub nodes: Vec<StackNode>,
    /// The loaded objects, as recorded.
    pub modules: Vec<ModuleRecord>,
    /// Every site, sorted by `peak_bytes`, then `allocated_bytes`, both
    /// descending, then by stack id.
    pub sites: Vec<SiteStats>,
    /// The timeline of each site, parallel to `sites`: points at the ends
    /// of slots four times as wide as the global timeline's, only where the
    /// site changed.
    pub site_timelines: Vec<Vec<SitePoint>>,
    /// Allocations and reallocations whose stack was not captured because
    /// their thread's stack table was full.
    pub table_full_allocations: u64,
    /// Allocations and reallocations whose stack id names no node of the
    /// file (a damaged file): replayed with an unknown stack.
    pub unknown_stack_allocations: u64,
    /// `Stack` records that did not continue the tree (a damaged file); the
    /// stacks they hold are unknown.
    pub records_out_of_order: u64,
    /// Symbols embedded in the file by `memscope symbolize`: return address
    /// → its lines, innermost first (a later record's entry wins).
    pub symbols: std::collections::HashMap<u64, Vec<Line>>,
}

impl Stacks {
    /// The frames of stack `id`, innermost first (markers included), or
    /// nothing for 0 or an unknown id. Stops at 4096 frames.
    pub fn frames(&self, id: u32) -> Vec<u64> {
        let mut out = Vec::new();
        let mut id = id as usize;
        while id != 0 && out.len() < 4096 {
            let Some(n) = self.nodes.get(id - 1) else { break };
            out.push(n.address);
            id = n.parent as usize;
        }
        out
    }
}

/// A site being replayed.
#[derive(Debug, Clone, Default)]
pub(crate) struct SiteAcc {
    pub(crate) stats: SiteStats,
    /// Live now.
    live_count: u64,
    live_bytes: u64,
    /// The figures at peak number `snap_gen` (see [`Sites::touch`]).
    snap_gen: u64,
    snap_count: u64,
    snap_bytes: u64,
    /// The timeline, at slots of `2^shift` ns (`Sites::shift`).
    pub(crate) timeline: Vec<SitePoint>,
    /// A sampling recording's sums for the estimates' errors (`None` when
    /// every event is recorded).
    var: Option<Box<SiteVar>>,
}

/// The sums behind a site's [`SiteEstimate`], and its reallocation
/// estimate, while replaying a sampling recording. Variances are those of
/// the Horvitz–Thompson estimator under Poisson sampling (FORMAT.md, "The
/// error of an estimate"): a sample drawn with probability `p` (weight
/// `w = 1/p`) and value `y` adds `w(w − 1)·y²`.
#[derive(Debug, Clone, Default)]
struct SiteVar {
    samples: u64,
    live_samples: u64,
    /// Variance of the allocations estimate (in allocations²).
    allocations: f64,
    /// The reallocations estimate: `Σ 1/(p_old·p_new)` over the
    /// reallocations written, and its variance.
    reallocations: f64,
    reallocations_var: f64,
    /// Variance of the allocated bytes (bytes²).
    allocated_bytes: f64,
    /// Variance of the live bytes and count now, as integers (count in
    /// units of 2^-32) so that a release takes off exactly what its gain
    /// added.
    live_bytes: u128,
    live_count: u128,
    /// `live_bytes` at peak number `snap_gen`.
    snap_bytes: u128,
}

/// Live count variances are kept in units of `2^-VAR_COUNT_SHIFT`.
const VAR_COUNT_SHIFT: u32 = 32;

/// Every site of a replay, with the bookkeeping for "live at the global
/// peak" and the site timelines.
///
/// Live at the peak is exact and O(1) per event: every new global peak
/// starts a generation; before a site changes, if its snapshot is of an
/// older generation, its current figures (unchanged since the peak) become
/// the snapshot of this one. At the end, a site whose snapshot is of the
/// last generation holds its figures at the last peak in it; any other
/// has not changed since, and its current figures are those at the peak.
#[derive(Debug, Default)]
pub(crate) struct Sites {
    pub(crate) sites: Vec<SiteAcc>,
    /// Stack id → its site plus one (0: none yet), for ids below
    /// [`DIRECT_STACKS`]: ids are dense (the file's node ids, which replay
    /// checks against the nodes read), so this costs 4 bytes per node.
    direct: Vec<u32>,
    /// The same for larger ids.
    index: FastMap<u32, u32>,
    /// Peaks so far (the current generation).
    gen: u64,
    /// Site timeline slots are `2^shift` ns wide.
    pub(crate) shift: u32,
    /// A sampling recording's interval in bytes (0: every event recorded).
    /// Then each event stands for `1/p` events of its size (FORMAT.md,
    /// "Sampling record"): bytes are weighted as they come, counts kept in
    /// units of `1/COUNT_UNITS` and rounded at the end.
    pub(crate) interval: u64,
    /// Sampling: the weighted bytes and count (in units) live over every
    /// site now, for the timeline ([`Sites::weighted_live`]).
    live_bytes_w: u64,
    live_units_w: u64,
    /// The most of `live_bytes_w` so far, and when first reached.
    peak_w: u64,
    peak_w_at: u64,
}

/// How an allocation came to a site ([`Sites::gained`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gain {
    /// An allocation made there.
    Allocation,
    /// A reallocation made there; `old_size`: the size the allocation had
    /// before it, when replay held it.
    Reallocation { old_size: Option<u64> },
}

/// Sampling: counts are kept in units of `1/COUNT_UNITS` of an event while
/// replaying (a sample stands for a fraction of events above 1).
pub(crate) const COUNT_UNITS: u64 = 1 << 16;

impl Sites {
    /// The site of stack id `stack`, made on first use.
    #[inline]
    pub(crate) fn site_of(&mut self, stack: u32) -> u32 {
        let i = stack as usize;
        if let Some(&s) = self.direct.get(i) {
            if s != 0 {
                return s - 1;
            }
        }
        self.new_site(stack)
    }

    /// [`Sites::site_of`] for a stack id not in `direct` yet.
    #[cold]
    fn new_site(&mut self, stack: u32) -> u32 {
        let i = stack as usize;
        let sites = &mut self.sites;
        let sampling = self.interval != 0;
        let mut make = || {
            let var = sampling.then(Box::default);
            sites.push(SiteAcc { stats: SiteStats { stack, ..SiteStats::default() }, var, ..SiteAcc::default() });
            (sites.len() - 1) as u32
        };
        if i >= DIRECT_STACKS {
            return *self.index.entry(stack).or_insert_with(make);
        }
        if i >= self.direct.len() {
            self.direct.resize(i + 1, 0);
        }
        let site = make();
        self.direct[i] = site + 1;
        site
    }

    /// A new global peak was just reached.
    #[inline]
    pub(crate) fn new_peak(&mut self) {
        self.gen += 1;
    }

    /// Sampling: starts a new peak generation when the weighted bytes live
    /// over every site, `bytes`, are the most so far (at `ts`).
    #[inline]
    pub(crate) fn weighted_peak(&mut self, bytes: u64, ts: u64) {
        if bytes > self.peak_w {
            (self.peak_w, self.peak_w_at) = (bytes, ts);
            self.gen += 1;
        }
    }

    /// Sampling: the most weighted bytes live over every site, and when
    /// first reached (ns since the epoch): the estimated peak the sites'
    /// `peak_*` figures are taken at.
    pub(crate) fn estimated_peak(&self) -> (u64, u64) {
        (self.peak_w, self.peak_w_at)
    }

    /// Follows the global timeline's width (`2^global_shift` ns slots):
    /// site timelines are [`SITE_SLOT_FACTOR_LOG2`] steps coarser.
    #[inline]
    pub(crate) fn follow_shift(&mut self, global_shift: u32) {
        let want = global_shift + SITE_SLOT_FACTOR_LOG2;
        if want > self.shift {
            self.coarsen(want);
        }
    }

    /// Widens the site timelines' slots to `2^want` ns.
    #[cold]
    fn coarsen(&mut self, want: u32) {
        let by = want - self.shift;
        self.shift = want;
        for s in &mut self.sites {
            // Merge points that now share a slot, keeping the last (a
            // point holds the figures at the end of its slot).
            let mut out = 0;
            for i in 0..s.timeline.len() {
                let mut p = s.timeline[i];
                p.slot >>= by;
                if out > 0 && s.timeline[out - 1].slot == p.slot {
                    s.timeline[out - 1] = p;
                } else {
                    s.timeline[out] = p;
                    out += 1;
                }
            }
            s.timeline.truncate(out);
        }
    }

    /// Every site's figures now, as [`Sites::finish`] gives them at the end
    /// (`live_*_end` are the live figures now; `peak_*` are left 0).
    pub(crate) fn now(&self) -> impl Iterator<Item = SiteStats> + '_ {
        self.sites.iter().map(|s| {
            let (mut st, _) = self.figures(s, false);
            (st.peak_count, st.peak_bytes) = (0, 0);
            if let Some(e) = &mut st.estimate {
                e.peak_bytes_se = 0;
            }
            st
        })
    }

    /// Sampling: the weighted bytes and allocations live over every site
    /// now (estimates, for the timeline); `None` when every event is recorded.
    #[inline]
    pub(crate) fn weighted_live(&self) -> Option<(u64, u64)> {
        (self.interval != 0).then(|| (self.live_bytes_w, (self.live_units_w + COUNT_UNITS / 2) / COUNT_UNITS))
    }

    #[inline]
    fn touch(&mut self, site: u32) -> &mut SiteAcc {
        let gen = self.gen;
        let s = &mut self.sites[site as usize];
        if s.snap_gen != gen {
            (s.snap_gen, s.snap_count, s.snap_bytes) = (gen, s.live_count, s.live_bytes);
            // Sampling: the live variance is snapshotted with the figures.
            if let Some(v) = &mut s.var {
                v.snap_bytes = v.live_bytes;
            }
        }
        s
    }

    #[inline]
    fn point(shift: u32, s: &mut SiteAcc, ts: u64) {
        let p = SitePoint {
            slot: ts >> shift,
            live_bytes: s.live_bytes,
            allocated_bytes: s.stats.allocated_bytes,
            allocations: s.stats.allocations.wrapping_add(s.stats.reallocations),
        };
        match s.timeline.last_mut() {
            Some(last) if last.slot == p.slot => *last = p,
            _ => s.timeline.push(p),
        }
    }

    /// The bytes and the count (in units: 1, or `COUNT_UNITS` per event
    /// when sampling) one event of `size` bytes stands for.
    #[inline]
    pub(crate) fn weigh(&self, size: u64) -> (u64, u64) {
        if self.interval == 0 {
            return (size, 1);
        }
        let w = crate::format::sampling::sample_count_weight(size, self.interval);
        (crate::format::sampling::sample_bytes_weight(size, self.interval), (w * COUNT_UNITS as f64).round() as u64)
    }

    /// The sampling interval in bytes; 0 when every event is recorded.
    pub(crate) fn interval(&self) -> u64 {
        self.interval
    }

    /// A count kept in units ([`Sites::weigh`]) as events, rounded as
    /// [`Sites::finish`] rounds them.
    pub(crate) fn count(&self, units: u64) -> u64 {
        if self.interval == 0 {
            units
        } else {
            (units + COUNT_UNITS / 2) / COUNT_UNITS
        }
    }

    /// `part` bytes of an allocation of `size` bytes, weighted as the
    /// allocation is (`part` itself unless sampling).
    #[inline]
    pub(crate) fn scale(&self, part: u64, size: u64) -> u64 {
        if self.interval == 0 || part == 0 || size == 0 {
            return part;
        }
        let bytes = crate::format::sampling::sample_bytes_weight(size, self.interval);
        if part == size {
            return bytes;
        }
        (part as f64 * (bytes as f64 / size as f64)).round() as u64
    }

    #[inline]
    fn grow(s: &mut SiteAcc, ts: u64, size: u64, units: u64) {
        s.live_count += units;
        s.live_bytes = s.live_bytes.wrapping_add(size);
        if s.live_bytes > s.stats.max_live_bytes {
            s.stats.max_live_bytes = s.live_bytes;
            s.stats.max_live_at_ns = ts;
        }
    }

    /// An allocation of `size` bytes made at `site`, or a reallocation to
    /// `size` bytes made there (`how`; the allocation's old size left its
    /// old site with [`Sites::released`]).
    #[inline(always)]
    pub(crate) fn gained(&mut self, site: u32, ts: u64, size: u64, how: Gain) {
        if self.interval != 0 {
            return self.gained_sampled(site, ts, size, how);
        }
        let shift = self.shift;
        let s = self.touch(site);
        if matches!(how, Gain::Reallocation { .. }) {
            s.stats.reallocations += 1;
        } else {
            s.stats.allocations += 1;
        }
        s.stats.allocated_bytes = s.stats.allocated_bytes.wrapping_add(size);
        Self::grow(s, ts, size, 1);
        Self::point(shift, s, ts);
    }

    /// [`Sites::gained`] in a sampling recording: the sample's weights, the
    /// weighted live over every site, and the sums for its errors.
    #[inline(never)]
    fn gained_sampled(&mut self, site: u32, ts: u64, size: u64, how: Gain) {
        let shift = self.shift;
        let interval = self.interval;
        let (bytes, units) = self.weigh(size);
        self.live_bytes_w = self.live_bytes_w.wrapping_add(bytes);
        self.live_units_w = self.live_units_w.wrapping_add(units);
        let s = self.touch(site);
        // A reallocation whose old allocation was not sampled is written as
        // an allocation (FORMAT.md, "Sampling record"), so every gain counts
        // in `allocations` here, and the reallocations estimate is taken off
        // at the end (`SiteVar::gained`, `Sites::figures`).
        s.stats.allocations += units;
        s.stats.allocated_bytes = s.stats.allocated_bytes.wrapping_add(bytes);
        if let Some(v) = &mut s.var {
            v.gained(size, interval, how);
        }
        Self::grow(s, ts, bytes, units);
        Self::point(shift, s, ts);
    }

    /// `size` bytes held at `site` stop being live there: a deallocation
    /// (`lifetime_ns` given, `temporary` when heaptrack's rule says so) or
    /// the old size of a reallocation (`None`).
    #[inline(always)]
    pub(crate) fn released(&mut self, site: u32, ts: u64, size: u64, lifetime_ns: Option<u64>, temporary: bool) {
        if self.interval != 0 {
            return self.released_sampled(site, ts, size, lifetime_ns, temporary);
        }
        let shift = self.shift;
        let s = self.touch(site);
        s.live_count = s.live_count.saturating_sub(1);
        s.live_bytes = s.live_bytes.wrapping_sub(size);
        s.stats.deallocated_bytes = s.stats.deallocated_bytes.wrapping_add(size);
        if let Some(l) = lifetime_ns {
            s.stats.deallocations += 1;
            s.stats.total_lifetime_ns = s.stats.total_lifetime_ns.saturating_add(l);
            s.stats.temporary += u64::from(temporary);
        }
        Self::point(shift, s, ts);
    }

    /// [`Sites::released`] in a sampling recording.
    #[inline(never)]
    fn released_sampled(&mut self, site: u32, ts: u64, size: u64, lifetime_ns: Option<u64>, temporary: bool) {
        let shift = self.shift;
        let interval = self.interval;
        let (bytes, units) = self.weigh(size);
        self.live_bytes_w = self.live_bytes_w.wrapping_sub(bytes);
        self.live_units_w = self.live_units_w.saturating_sub(units);
        let s = self.touch(site);
        s.live_count = s.live_count.saturating_sub(units);
        s.live_bytes = s.live_bytes.wrapping_sub(bytes);
        s.stats.deallocated_bytes = s.stats.deallocated_bytes.wrapping_add(bytes);
        if let Some(v) = &mut s.var {
            v.released(size, interval);
        }
        if let Some(l) = lifetime_ns {
            s.stats.deallocations += units;
            // The lifetimes of the events this one stands for.
            let l = ((u128::from(l) * u128::from(units)) / u128::from(COUNT_UNITS)).min(u128::from(u64::MAX)) as u64;
            s.stats.total_lifetime_ns = s.stats.total_lifetime_ns.saturating_add(l);
            s.stats.temporary += if temporary { units } else { 0 };
        }
        Self::point(shift, s, ts);
    }

    /// Site `s`'s figures: `at_end` takes the peak figures as at the end
    /// of the replay (generation `self.gen`); counts back from units to
    /// events, rounded; the estimate and its errors when sampling.
    fn figures(&self, s: &SiteAcc, at_end: bool) -> (SiteStats, bool) {
        let gen = self.gen;
        let sampling = self.interval != 0;
        let count = |units: u64| if sampling { (units + COUNT_UNITS / 2) / COUNT_UNITS } else { units };
        let mut st = s.stats.clone();
        st.live_count_end = count(s.live_count);
        st.live_bytes_end = s.live_bytes;
        let at_snap = at_end && s.snap_gen == gen;
        (st.peak_count, st.peak_bytes) = if at_snap { (s.snap_count, s.snap_bytes) } else { (s.live_count, s.live_bytes) };
        st.peak_count = count(st.peak_count);
        for c in [&mut st.allocations, &mut st.reallocations, &mut st.deallocations, &mut st.temporary] {
            *c = count(*c);
        }
        if let Some(v) = &s.var {
            // `allocations` holds every gain (allocations and reallocations):
            // the reallocations estimate comes off it (at 0 at least).
            let realloc = v.reallocations.max(0.0);
            let gains = s.stats.allocations as f64 / COUNT_UNITS as f64;
            st.reallocations = realloc.round() as u64;
            st.allocations = (gains - realloc).max(0.0).round() as u64;
            let se = |var: f64| var.max(0.0).sqrt().round() as u64;
            let se_int = |var: u128, shift: u32| se(var as f64 / (1u128 << shift) as f64);
            st.estimate = Some(SiteEstimate {
                samples: v.samples,
                live_samples_end: v.live_samples,
                allocations_se: se(v.allocations),
                reallocations_se: se(v.reallocations_var),
                allocated_bytes_se: se(v.allocated_bytes),
                live_count_end_se: se_int(v.live_count, VAR_COUNT_SHIFT),
                live_bytes_end_se: se_int(v.live_bytes, 0),
                peak_bytes_se: se_int(if at_snap { v.snap_bytes } else { v.live_bytes }, 0),
            });
        }
        (st, at_snap)
    }

    /// The final figures, in the order sites were first seen, with their
    /// timelines (points at slots of `2^self.shift` ns).
    pub(crate) fn finish(mut self) -> (Vec<SiteStats>, Vec<Vec<SitePoint>>, u32) {
        let mut stats = Vec::with_capacity(self.sites.len());
        let mut timelines = Vec::with_capacity(self.sites.len());
        let sampling = self.interval != 0;
        let sites = std::mem::take(&mut self.sites);
        for mut s in sites {
            stats.push(self.figures(&s, true).0);
            if sampling {
                for p in &mut s.timeline {
                    p.allocations = (p.allocations + COUNT_UNITS / 2) / COUNT_UNITS;
                }
            }
            timelines.push(s.timeline);
        }
        (stats, timelines, self.shift)
    }
}

/// The reallocations one sampled reallocation from `old_size` to
/// `new_size` bytes stands for: written as a reallocation only when the old
/// allocation was sampled too (probability `p_old`, independent of the new
/// size's draw), it stands for `W = 1/(p_old·p_new)` reallocations. Old
/// size unknown: taken as sampled. 1 when every event is recorded.
pub(crate) fn reallocations_weight(old_size: Option<u64>, new_size: u64, interval: u64) -> f64 {
    use crate::format::sampling::sample_probability;
    if interval == 0 {
        return 1.0;
    }
    let p_old = old_size.map_or(1.0, |o| sample_probability(o, interval)).max(f64::MIN_POSITIVE);
    let p_new = sample_probability(new_size, interval).max(f64::MIN_POSITIVE);
    1.0 / (p_old * p_new)
}

impl SiteVar {
    /// A sample of `size` bytes gained at the site (`how`).
    #[inline]
    fn gained(&mut self, size: u64, interval: u64, how: Gain) {
        use crate::format::sampling::sample_probability;
        let p = sample_probability(size, interval);
        if p <= 0.0 {
            return;
        }
        let w = 1.0 / p;
        let y = size as f64;
        self.samples += 1;
        self.live_samples += 1;
        self.allocated_bytes += w * (w - 1.0) * y * y;
        self.live_bytes = self.live_bytes.wrapping_add(bytes_var(size, interval));
        self.live_count = self.live_count.wrapping_add(count_var(size, interval));
        match how {
            Gain::Allocation => self.allocations += w * (w - 1.0),
            Gain::Reallocation { old_size } => {
                let p_old = old_size.map_or(1.0, |o| sample_probability(o, interval)).max(f64::MIN_POSITIVE);
                let big_w = reallocations_weight(old_size, size, interval);
                self.reallocations += big_w;
                self.reallocations_var += big_w * (big_w - 1.0);
                // Allocations = gains − reallocations: this one adds
                // `w − W`, whose variance `(1 − p_old)/(p_old·p_new)` it
                // estimates with `(1 − p_old)·W²` (FORMAT.md).
                self.allocations += (1.0 - p_old) * big_w * big_w;
            }
        }
    }

    /// A sample of `size` bytes no longer live at the site.
    #[inline]
    fn released(&mut self, size: u64, interval: u64) {
        if crate::format::sampling::sample_probability(size, interval) <= 0.0 {
            return;
        }
        self.live_samples = self.live_samples.saturating_sub(1);
        self.live_bytes = self.live_bytes.wrapping_sub(bytes_var(size, interval));
        self.live_count = self.live_count.wrapping_sub(count_var(size, interval));
    }
}

/// A sample of `size` bytes' share of the variance of a bytes estimate:
/// `w(w − 1)·size²`, `w = 1/p(size)`, rounded to an integer (bytes²).
fn bytes_var(size: u64, interval: u64) -> u128 {
    let w = crate::format::sampling::sample_count_weight(size, interval);
    let y = size as f64;
    (w * (w - 1.0) * y * y).round() as u128
}

/// Its share of the variance of a count estimate, `w(w − 1)`, in units of
/// `2^-VAR_COUNT_SHIFT`.
fn count_var(size: u64, interval: u64) -> u128 {
    let w = crate::format::sampling::sample_count_weight(size, interval);
    (w * (w - 1.0) * (1u64 << VAR_COUNT_SHIFT) as f64).round() as u128
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_are_numbered_in_first_seen_order_for_small_and_large_stack_ids() {
        let mut s = Sites::default();
        let big = DIRECT_STACKS as u32 + 3;
        assert_eq!([s.site_of(5), s.site_of(big), s.site_of(0), s.site_of(5), s.site_of(big), s.site_of(0)], [0, 1, 2, 0, 1, 2]);
        let stacks: Vec<u32> = s.sites.iter().map(|a| a.stats.stack).collect();
        assert_eq!(stacks, [5, big, 0]);
        assert!(s.direct.len() <= 6, "large ids are not indexed directly");
    }
}
