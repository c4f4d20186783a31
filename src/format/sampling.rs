//! Sampling by bytes (version 6): the Sampling record (tag 10), the Totals
//! record (tag 11), and the arithmetic both sides share: the probability
//! that an allocation of a given size is sampled, and the weights replay
//! gives a sample (FORMAT.md, "Sampling record" and "Totals record").

use super::{put_record, TAG_SAMPLING, TAG_TOTALS};

/// Length of the [`TAG_SAMPLING`] fields in bytes.
pub const SAMPLING_FIELDS_LEN: usize = 16;
/// Length of the [`TAG_TOTALS`] fields in bytes.
pub const TOTALS_FIELDS_LEN: usize = 56;
/// The largest sampling interval a recorder accepts, in bytes (1 TiB).
pub const MAX_SAMPLING_INTERVAL: u64 = 1 << 40;

/// A Sampling record: the recording samples allocations by bytes, one
/// sample per `interval_bytes` allocated on average.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SamplingRecord {
    /// The mean gap between two samples, in bytes allocated by one thread.
    pub interval_bytes: u64,
    /// The recording's seed: thread `t`'s generator starts from
    /// `seed ^ (t × 0x9E37_79B9_7F4A_7C15)` (splitmix64).
    pub seed: u64,
}

/// Appends a [`TAG_SAMPLING`] record.
pub fn put_sampling(out: &mut Vec<u8>, s: &SamplingRecord) {
    let mut f = [0u8; SAMPLING_FIELDS_LEN];
    f[0..8].copy_from_slice(&s.interval_bytes.to_le_bytes());
    f[8..16].copy_from_slice(&s.seed.to_le_bytes());
    put_record(out, TAG_SAMPLING, &f, &[]);
}

/// A Totals record: exact counts of every call one thread made since the
/// recording started, sampled or not (cumulative: a later record of the
/// same thread replaces an earlier one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TotalsRecord {
    /// The recorder's thread id.
    pub thread: u32,
    /// Calls of `alloc` and `alloc_zeroed`.
    pub allocations: u64,
    /// Calls of `dealloc`.
    pub deallocations: u64,
    /// Calls of `realloc` that succeeded.
    pub reallocations: u64,
    /// Bytes: every allocation's size plus every reallocation's new size.
    pub allocated_bytes: u64,
    /// Bytes: every deallocation's size plus every reallocation's old size.
    pub deallocated_bytes: u64,
    /// Samples whose address the sampled-address set could not hold (it
    /// was full there): their deallocation or reallocation is not recorded,
    /// so they stay live in replay.
    pub untracked_samples: u64,
}

/// Appends a [`TAG_TOTALS`] record.
pub fn put_totals(out: &mut Vec<u8>, t: &TotalsRecord) {
    let mut f = [0u8; TOTALS_FIELDS_LEN];
    f[0..4].copy_from_slice(&t.thread.to_le_bytes());
    for (i, v) in [t.allocations, t.deallocations, t.reallocations, t.allocated_bytes, t.deallocated_bytes, t.untracked_samples]
        .into_iter()
        .enumerate()
    {
        f[8 + 8 * i..16 + 8 * i].copy_from_slice(&v.to_le_bytes());
    }
    put_record(out, TAG_TOTALS, &f, &[]);
}

/// Decodes [`TAG_TOTALS`] fields (exactly [`TOTALS_FIELDS_LEN`] bytes).
pub(crate) fn decode_totals(f: &[u8]) -> TotalsRecord {
    let v = |i: usize| u64::from_le_bytes(f[8 + 8 * i..16 + 8 * i].try_into().unwrap_or([0; 8]));
    TotalsRecord {
        thread: u32::from_le_bytes([f[0], f[1], f[2], f[3]]),
        allocations: v(0),
        deallocations: v(1),
        reallocations: v(2),
        allocated_bytes: v(3),
        deallocated_bytes: v(4),
        untracked_samples: v(5),
    }
}

/// The probability that an allocation of `size` bytes is sampled at a mean
/// interval of `interval` bytes: `1 − exp(−size / interval)` (a Poisson
/// process by bytes has a point in a stretch of `size` bytes with this
/// probability, whatever came before). 1 when `interval` is 0 (every
/// event recorded); 0 for a size of 0.
pub fn sample_probability(size: u64, interval: u64) -> f64 {
    if interval == 0 {
        return 1.0;
    }
    -(-(size as f64) / interval as f64).exp_m1()
}

/// How many allocations one sample of `size` bytes stands for: `1 / p`
/// (0 for a size of 0, which is never sampled).
pub fn sample_count_weight(size: u64, interval: u64) -> f64 {
    let p = sample_probability(size, interval);
    if p > 0.0 {
        1.0 / p
    } else {
        0.0
    }
}

/// How many bytes one sample of `size` bytes stands for: `size / p`,
/// rounded to the nearest byte.
pub fn sample_bytes_weight(size: u64, interval: u64) -> u64 {
    if interval == 0 {
        return size;
    }
    (size as f64 * sample_count_weight(size, interval)).round() as u64
}

/// splitmix64: the next value of a generator whose state is `state`.
#[inline]
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The generator state of thread `thread` in a recording seeded with `seed`.
pub fn thread_seed(seed: u64, thread: u32) -> u64 {
    seed ^ u64::from(thread).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The next gap, in bytes, to the next sample: `⌈−ln(u) × interval⌉` with
/// `u` uniform in (0, 1] from `state`, at least 1. Rounding up keeps the
/// probability exact at whole bytes: the gap is at most `n` exactly when
/// the exponential draw is at most `n`, so an allocation of `size` bytes
/// is sampled with probability [`sample_probability`]`(size, interval)`.
#[inline]
pub fn next_gap(state: &mut u64, interval: u64) -> u64 {
    let u = ((splitmix64(state) >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64);
    let g = (-u.ln() * interval as f64).ceil();
    (g as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probability_and_weights_match_the_formula() {
        assert_eq!(sample_probability(5, 0), 1.0);
        assert_eq!(sample_bytes_weight(5, 0), 5);
        assert_eq!(sample_probability(0, 512), 0.0);
        assert_eq!(sample_count_weight(0, 512), 0.0);
        let p = sample_probability(512, 512);
        assert!((p - (1.0 - (-1.0f64).exp())).abs() < 1e-12);
        // A size far above the interval stands for itself.
        assert_eq!(sample_bytes_weight(1 << 30, 1 << 19), 1 << 30);
        // A size far below: about one interval of bytes.
        let w = sample_bytes_weight(16, 1 << 19);
        assert!((w as f64 - (1u64 << 19) as f64).abs() < 16.0, "{w}");
    }

    #[test]
    fn gaps_are_exponential_with_the_interval_as_mean() {
        let mut s = 42;
        let n = 200_000;
        let interval = 4096;
        let gaps: Vec<u64> = (0..n).map(|_| next_gap(&mut s, interval)).collect();
        let mean = gaps.iter().sum::<u64>() as f64 / n as f64;
        // The mean of ⌈X⌉ is about interval + 0.5; 3 standard errors ≈ 27.
        assert!((mean - 4096.5).abs() < 30.0, "mean gap {mean}");
        // P(gap ≤ 100) = 1 − exp(−100/4096) exactly (the rounding up).
        let below = gaps.iter().filter(|&&g| g <= 100).count() as f64 / n as f64;
        let p = sample_probability(100, interval);
        assert!((below - p).abs() < 4.0 * (p * (1.0 - p) / n as f64).sqrt(), "{below} vs {p}");
        assert!(gaps.iter().all(|&g| g >= 1));
    }

    #[test]
    fn totals_round_trip() {
        let t = TotalsRecord {
            thread: 7,
            allocations: 1,
            deallocations: 2,
            reallocations: 3,
            allocated_bytes: 4,
            deallocated_bytes: 5,
            untracked_samples: 6,
        };
        let mut out = Vec::new();
        put_totals(&mut out, &t);
        assert_eq!(decode_totals(&out[super::super::RECORD_HEADER_LEN..]), t);
    }
}
