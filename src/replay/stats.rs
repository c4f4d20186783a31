//! Fixed-size accumulators: log2 histograms and the downsampled timeline.

use super::{Bucket, TimelinePoint, TIMELINE_POINTS};

/// A histogram with one bucket per power of two (see [`Bucket`]).
/// In a sampling recording each allocation counts for `1/p` of its kind
/// (`add_units`): counts are then kept in units of `1/units` allocation
/// and rounded when read.
#[derive(Debug, Clone)]
pub(crate) struct Log2Hist {
    count: [u64; 65],
    bytes: [u64; 65],
    /// Units per allocation in `count` (1 unless sampling).
    units: u64,
}

impl Default for Log2Hist {
    fn default() -> Self {
        Log2Hist { count: [0; 65], bytes: [0; 65], units: 1 }
    }
}

/// Bucket index of `v`: 0 for 0, else one more than the index of its top bit.
#[inline]
fn index(v: u64) -> usize {
    (u64::BITS - v.leading_zeros()) as usize
}

/// The inclusive value range of bucket `i`.
fn bounds(i: usize) -> (u64, u64) {
    match i {
        0 => (0, 0),
        64 => (1 << 63, u64::MAX),
        _ => (1 << (i - 1), (1 << i) - 1),
    }
}

impl Log2Hist {
    /// Counts one allocation with value `v` (a size or a lifetime) of `bytes` bytes.
    #[cfg(test)]
    pub(crate) fn add(&mut self, v: u64, bytes: u64) {
        self.add_units(v, 1, bytes);
    }

    /// Counts `units` units of an allocation (see [`Log2Hist::set_units`])
    /// with value `v`, standing for `bytes` bytes.
    #[inline]
    pub(crate) fn add_units(&mut self, v: u64, units: u64, bytes: u64) {
        let i = index(v);
        self.count[i] = self.count[i].wrapping_add(units);
        self.bytes[i] = self.bytes[i].wrapping_add(bytes);
    }

    /// Counts are kept in units of `1/units` allocation from now on (set
    /// before anything is added: sampling weights).
    pub(crate) fn set_units(&mut self, units: u64) {
        self.units = units.max(1);
    }

    /// The buckets from the lowest non-empty one to the highest, empty ones
    /// in between included; nothing when the histogram is empty.
    pub(crate) fn buckets(&self) -> Vec<Bucket> {
        let Some(first) = self.count.iter().position(|&c| c > 0) else { return Vec::new() };
        let last = self.count.iter().rposition(|&c| c > 0).unwrap_or(first);
        (first..=last)
            .map(|i| {
                let (lower, upper) = bounds(i);
                let count = if self.units == 1 { self.count[i] } else { (self.count[i] + self.units / 2) / self.units };
                Bucket { lower, upper, count, bytes: self.bytes[i] }
            })
            .collect()
    }
}

/// Live bytes and counts over time in at most [`TIMELINE_POINTS`] slots of
/// `2^shift` ns each; when a timestamp falls past the last slot, the slots
/// double in width and adjacent pairs merge (keeping their maxima).
#[derive(Debug, Clone)]
pub(crate) struct Timeline {
    shift: u32,
    slots: Vec<Slot>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    used: bool,
    bytes: u64,
    count: u64,
}

impl Slot {
    fn merge(self, other: Slot) -> Slot {
        Slot { used: self.used || other.used, bytes: self.bytes.max(other.bytes), count: self.count.max(other.count) }
    }
}

/// The first slot width is 2^10 ns (about 1 µs).
const FIRST_SHIFT: u32 = 10;

impl Default for Timeline {
    fn default() -> Self {
        Timeline { shift: FIRST_SHIFT, slots: Vec::new() }
    }
}

impl Timeline {
    /// Slots are `2^shift` ns wide.
    pub(crate) fn shift(&self) -> u32 {
        self.shift
    }

    /// Notes that `bytes` bytes in `count` allocations were live at `ts_ns`.
    #[inline]
    pub(crate) fn note(&mut self, ts_ns: u64, bytes: u64, count: u64) {
        // Most notes land in the last slot, already used (slots never
        // outnumber TIMELINE_POINTS, so an index below their count is valid).
        if let Some(s) = self.slots.get_mut((ts_ns >> self.shift) as usize) {
            if s.used {
                s.bytes = s.bytes.max(bytes);
                s.count = s.count.max(count);
                return;
            }
        }
        self.note_slow(ts_ns, bytes, count);
    }

    /// [`Timeline::note`] in a new or unused slot, or past the last one.
    #[cold]
    fn note_slow(&mut self, ts_ns: u64, bytes: u64, count: u64) {
        let mut i = ts_ns >> self.shift;
        while i >= TIMELINE_POINTS as u64 {
            self.coarsen();
            i = ts_ns >> self.shift;
        }
        let i = i as usize;
        if i >= self.slots.len() {
            self.slots.resize(i + 1, Slot::default());
        }
        let s = &mut self.slots[i];
        if !s.used {
            *s = Slot { used: true, bytes, count };
        } else {
            s.bytes = s.bytes.max(bytes);
            s.count = s.count.max(count);
        }
    }

    fn coarsen(&mut self) {
        self.shift += 1;
        let merged: Vec<Slot> = self.slots.chunks(2).map(|p| p.iter().fold(Slot::default(), |a, &b| a.merge(b))).collect();
        self.slots = merged;
    }

    /// The slots where something was noted, in time order.
    /// This timeline's values at the intervals of `points` (taken from
    /// `total`, whose intervals are at least as wide as this one's): the
    /// largest value in each interval, or the last earlier value when this
    /// timeline noted nothing in it (a value holds until it changes).
    pub(crate) fn aligned(&self, total: &Timeline, points: &[TimelinePoint]) -> Vec<u64> {
        let mut t = self.clone();
        while t.shift < total.shift {
            t.coarsen();
        }
        let mut last = 0;
        let mut next = 0;
        points
            .iter()
            .map(|p| {
                let i = (p.ts_ns >> t.shift) as usize;
                // Carry the last value of the intervals skipped since the previous point.
                while next < i && next < t.slots.len() {
                    if t.slots[next].used {
                        last = t.slots[next].bytes;
                    }
                    next += 1;
                }
                match t.slots.get(i) {
                    Some(s) if s.used => {
                        last = s.bytes;
                        next = i + 1;
                        s.bytes
                    }
                    _ => last,
                }
            })
            .collect()
    }

    pub(crate) fn points(&self) -> Vec<TimelinePoint> {
        let width_ns = 1u64 << self.shift;
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.used)
            .map(|(i, s)| TimelinePoint { ts_ns: (i as u64) << self.shift, width_ns, live_bytes: s.bytes, live_count: s.count })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_exactly_once() {
        for v in [0u64, 1, 2, 3, 4, 7, 8, 1000, 1 << 40, (1 << 63) - 1, 1 << 63, u64::MAX] {
            let (lo, hi) = bounds(index(v));
            assert!(lo <= v && v <= hi, "{v} outside bucket {lo}..={hi}");
        }
        for i in 1..=64 {
            assert_eq!(bounds(i).0, bounds(i - 1).1 + 1, "bucket {i} does not follow bucket {}", i - 1);
        }
    }

    #[test]
    fn histogram_lists_the_non_empty_range_with_gaps() {
        let mut h = Log2Hist::default();
        assert!(h.buckets().is_empty());
        h.add(3, 30);
        h.add(2, 20);
        h.add(17, 1);
        let b = h.buckets();
        assert_eq!(b.len(), 4); // [2,3], [4,7], [8,15], [16,31]
        assert_eq!(b[0], Bucket { lower: 2, upper: 3, count: 2, bytes: 50 });
        assert_eq!((b[1].count, b[2].count), (0, 0));
        assert_eq!(b[3], Bucket { lower: 16, upper: 31, count: 1, bytes: 1 });
    }

    #[test]
    fn a_weighted_histogram_counts_in_units_and_rounds() {
        let mut h = Log2Hist::default();
        h.set_units(1 << 16);
        // Two samples of 3 bytes standing for 1.25 and 2.5 allocations.
        h.add_units(3, (1 << 16) + (1 << 14), 4);
        h.add_units(3, (1 << 17) + (1 << 15), 8);
        assert_eq!(h.buckets(), vec![Bucket { lower: 2, upper: 3, count: 4, bytes: 12 }]);
    }

    #[test]
    fn timeline_stays_bounded_and_keeps_the_maximum() {
        let mut t = Timeline::default();
        let mut best = (0, 0);
        for i in 0..100_000u64 {
            let bytes = (i * 7919) % 100_003;
            if bytes > best.0 {
                best = (bytes, i);
            }
            t.note(i * 1_000_003, bytes, i % 50);
        }
        let p = t.points();
        assert!(p.len() <= TIMELINE_POINTS && p.len() > TIMELINE_POINTS / 2, "{} points", p.len());
        assert_eq!(p.iter().map(|p| p.live_bytes).max(), Some(best.0));
        let at = best.1 * 1_000_003;
        assert!(p.iter().any(|p| p.ts_ns <= at && at < p.ts_ns + p.width_ns && p.live_bytes == best.0));
        assert!(p.windows(2).all(|w| w[0].ts_ns < w[1].ts_ns));
    }

    #[test]
    fn timeline_takes_a_timestamp_near_the_top_of_the_range() {
        let mut t = Timeline::default();
        t.note(1, 5, 1);
        t.note(crate::format::event::TS_MAX, 3, 1);
        let p = t.points();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].live_bytes, 5);
    }
}
