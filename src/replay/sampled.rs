//! Replay of a sampling recording (format version 6, FORMAT.md "Sampling
//! record"): the per-site figures are estimates (each sample weighted by
//! `1/p`, in `sites.rs`); the totals come from the Totals records, exact.

use super::{Replay, Totals};
use crate::format::{SamplingRecord, TotalsRecord};
use std::collections::BTreeMap;

/// How a sampling recording was sampled, and what replay made of it.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Sampling {
    /// The mean gap between two samples, in bytes allocated by one thread.
    pub interval_bytes: u64,
    /// The recording's seed (FORMAT.md, "Sampling record").
    pub seed: u64,
    /// Whether Totals records were read: [`Replay::summary`]'s counts and
    /// bytes of calls, and the threads' (`allocations` to
    /// `deallocated_bytes`, `live_count`, `live_bytes`), are then exact;
    /// without them (a recording cut short before its first round) they
    /// are those of the samples alone.
    pub exact_totals: bool,
    /// Samples whose address the recorder's sampled-address set could not
    /// hold: their deallocation was not recorded, so they count as live
    /// at the end (an overestimate of live bytes at their sites).
    pub untracked_samples: u64,
    /// The totals of the sampled events alone, as replayed, before
    /// estimates: `total_allocations` is the number of sampled allocations.
    pub sampled: Totals,
    /// The estimated peak: the most bytes the sites held live at once,
    /// their weighted bytes summed (an estimate, biased upwards as the
    /// largest of a noisy series); the sites' `peak_*` figures are taken
    /// then. Bytes.
    pub estimated_peak_bytes: u64,
    /// When it was first reached, ns since the epoch.
    pub estimated_peak_at_ns: u64,
}

/// What replay collects of a sampling recording while reading it.
#[derive(Debug, Default)]
pub(crate) struct SamplingState {
    pub(crate) record: Option<SamplingRecord>,
    /// The last Totals record of each thread (cumulative).
    totals: BTreeMap<u32, TotalsRecord>,
    /// Whether a Totals record came since the last Round record.
    changed: bool,
    /// The most bytes live at the end of a round (exact: from the Totals
    /// records), and that round's watermark.
    round_peak: Option<(u64, u64)>,
}

impl SamplingState {
    /// A Totals record: replaces the thread's earlier one.
    pub(crate) fn totals(&mut self, t: &TotalsRecord) {
        self.totals.insert(t.thread, *t);
        self.changed = true;
    }

    /// A Round record: the Totals records before it give the exact bytes
    /// live when the round ended (allocated − freed over every thread).
    pub(crate) fn round(&mut self, watermark_ns: u64) {
        if !std::mem::take(&mut self.changed) {
            return;
        }
        let (alloc, freed) =
            self.totals.values().fold((0u64, 0u64), |(a, f), t| (a.wrapping_add(t.allocated_bytes), f.wrapping_add(t.deallocated_bytes)));
        let live = alloc.saturating_sub(freed);
        if self.round_peak.is_none_or(|(peak, _)| live > peak) {
            self.round_peak = Some((live, watermark_ns));
        }
    }

    /// Puts the Totals records' exact counts and bytes of calls, and the
    /// bytes and allocations live, into `s`; returns whether there were
    /// any (otherwise `s` keeps the samples' own).
    pub(crate) fn exact_figures(&self, s: &mut Totals) -> bool {
        if self.record.is_none() || self.totals.is_empty() {
            return false;
        }
        let sum = |f: fn(&TotalsRecord) -> u64| self.totals.values().map(f).fold(0u64, u64::wrapping_add);
        s.total_allocations = sum(|t| t.allocations);
        s.total_deallocations = sum(|t| t.deallocations);
        s.total_reallocations = sum(|t| t.reallocations);
        s.total_allocated_bytes = sum(|t| t.allocated_bytes);
        s.total_deallocated_bytes = sum(|t| t.deallocated_bytes);
        s.live_bytes = s.total_allocated_bytes.saturating_sub(s.total_deallocated_bytes);
        s.live_count = s.total_allocations.saturating_sub(s.total_deallocations);
        if let Some((peak, at)) = self.round_peak {
            (s.peak_live_bytes, s.peak_at_ns) = (peak, at);
        }
        true
    }

    /// Turns `replay`, replayed from the samples with weighted sites, into
    /// the replay of the sampling recording: exact totals from the Totals
    /// records, the estimated peak from the sites.
    /// `estimated_peak`: the sites' weighted peak (bytes, ns).
    pub(crate) fn apply(self, replay: &mut Replay, estimated_peak: (u64, u64)) {
        let Some(record) = self.record else { return };
        let sampled = replay.summary.clone();
        let exact_totals = self.exact_figures(&mut replay.summary);
        let untracked_samples = self.totals.values().map(|t| t.untracked_samples).sum();
        if exact_totals {
            for t in &mut replay.threads {
                let Some(x) = self.totals.get(&t.thread) else { continue };
                t.allocations = x.allocations;
                t.deallocations = x.deallocations;
                t.reallocations = x.reallocations;
                t.allocated_bytes = x.allocated_bytes;
                t.deallocated_bytes = x.deallocated_bytes;
                t.live_bytes = x.allocated_bytes.saturating_sub(x.deallocated_bytes);
                t.live_count = x.allocations.saturating_sub(x.deallocations);
            }
        }
        // The peak: the most bytes live at the end of a drain round, exact
        // at those moments (rounds are at most the drain interval apart;
        // the heap may have peaked higher between two); without Totals
        // records, the weighted bytes of every site when the samples
        // peaked, which is noisier and biased upwards (the largest of a
        // noisy series).
        match self.round_peak {
            Some((peak, at)) => (replay.summary.peak_live_bytes, replay.summary.peak_at_ns) = (peak, at),
            None => replay.summary.peak_live_bytes = replay.stacks.sites.iter().map(|s| s.peak_bytes).fold(0u64, u64::wrapping_add),
        }
        // Each leak listed is a sample: what it stands for.
        for l in &mut replay.largest_leaks {
            let count = crate::format::sampling::sample_count_weight(l.size, record.interval_bytes).round().max(1.0) as u64;
            let bytes = crate::format::sampling::sample_bytes_weight(l.size, record.interval_bytes);
            l.stands_for = Some(super::Weight { count, bytes });
        }
        replay.sampling = Some(Sampling {
            interval_bytes: record.interval_bytes,
            seed: record.seed,
            exact_totals,
            untracked_samples,
            sampled,
            estimated_peak_bytes: estimated_peak.0,
            estimated_peak_at_ns: estimated_peak.1,
        });
    }
}
