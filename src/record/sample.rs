//! Sampling by bytes, the shared part: the sampled-address set, which a
//! deallocation or reallocation consults to learn whether its block was
//! sampled. (Each thread's countdown lives in its thread-local state,
//! `thread::sampled`; the arithmetic is `format::sampling`.) Compiled under
//! `cfg(loom)` too: `loom-tests/tests/sample.rs` checks [`AddressSet`] as
//! it ships.
//!
//! The set is a table of buckets of [`BUCKET`] addresses, one cache line
//! each; an address lives in the bucket its hash names, in any free cell,
//! and never moves. So:
//! - insert: CAS a free cell (0) of the bucket to the address; a full
//!   bucket refuses (the caller counts the sample as untracked);
//! - lookup and remove: read the bucket's cells (one cache line), CAS the
//!   cell holding the address back to 0. A miss, the common case (an
//!   unsampled deallocation), costs one hash and one cache line.
//!
//! Each group of [`GROUP`] neighbouring buckets also has a count of the
//! addresses in it (a byte, in a separate array 64 times smaller than the
//! table: 4 KiB at the default interval, so that it stays in L1 under the
//! program's own data): a deallocation first reads its group's count, and
//! a 0 (almost always, when few samples are live) settles it without
//! touching the table. An insert raises the count before it takes a cell
//! (and lowers it again if the bucket is full); a removal lowers it after
//! it clears the cell. A count that reaches 255 (64 cells plus more than
//! 190 inserts racing into one full group) stays there for good: the group
//! then always reads "may hold", which costs a look at the bucket and is
//! never wrong.
//!
//! No tombstones, no probing across buckets, no lock. An address is
//! inserted only by the thread that allocated it, after the inner
//! allocator returned it, and removed before the inner allocator gets it
//! back (the thread that frees it got the pointer from the program, which
//! orders the allocation before the free): each address is in the set at
//! most once, and its insert happens before its removal, so a remove that
//! reads every cell of its bucket finds it (cells of other addresses change
//! meanwhile, this one does not).

use crate::sync::{AtomicU64, AtomicU8, Ordering};

/// Addresses per bucket: one 64-byte cache line.
pub const BUCKET: usize = 8;

/// Buckets per group, the unit a count byte covers (a power of two).
pub const GROUP: usize = 8;

/// A count byte that saturated: it is never lowered again.
const STUCK: u8 = u8::MAX;

/// A view of a table of cells (a multiple of [`BUCKET`], a power of two)
/// and of its groups' counts (one per [`GROUP`] buckets, at least one).
#[derive(Debug, Clone, Copy)]
pub struct AddressSet<'a> {
    cells: &'a [AtomicU64],
    counts: &'a [AtomicU8],
}

impl<'a> AddressSet<'a> {
    /// A set over `cells` and `counts`, all 0 (empty) or as this type left
    /// them. `cells.len()` must be a power of two, at least [`BUCKET`];
    /// `counts.len()` must be [`groups`]`(cells.len())`.
    pub fn new(cells: &'a [AtomicU64], counts: &'a [AtomicU8]) -> Self {
        debug_assert!(cells.len().is_power_of_two() && cells.len() >= BUCKET && counts.len() == groups(cells.len()));
        AddressSet { cells, counts }
    }

    /// The number of cells.
    pub fn capacity(&self) -> usize {
        self.cells.len()
    }

    /// The index of `addr`'s bucket.
    #[inline(always)]
    fn index(&self, addr: u64) -> usize {
        bucket_of(addr, self.cells.len() / BUCKET)
    }

    /// The count of `addr`'s group.
    #[inline(always)]
    fn group_count(&self, addr: u64) -> &'a AtomicU8 {
        &self.counts[group_of(addr, self.counts.len() - 1)]
    }

    /// The cells of bucket `h`.
    #[inline(always)]
    fn bucket(&self, h: usize) -> &'a [AtomicU64] {
        &self.cells[h * BUCKET..h * BUCKET + BUCKET]
    }

    /// Whether `addr` may be in the set: false settles that it is not (its
    /// bucket's group is empty), with one load of a byte.
    #[inline(always)]
    pub fn may_hold(&self, addr: u64) -> bool {
        // Relaxed: if `addr` was inserted, its insert (which raised this
        // count first) happens before this call (module comment), so
        // coherence makes this load see a count of at least 1: every
        // lowering of it pairs with an earlier raise of another address.
        self.group_count(addr).load(Ordering::Relaxed) != 0
    }

    /// Adds `addr` (non-zero, not in the set); false if its bucket is full.
    #[inline]
    pub fn insert(&self, addr: u64) -> bool {
        debug_assert!(addr != 0);
        let h = self.index(addr);
        // A count (see `may_hold`), raised before a cell is taken.
        raise(self.group_count(addr));
        for cell in self.bucket(h) {
            // Relaxed: the cell's value is the only datum; the insert is
            // ordered before the address's removal by the program's own
            // synchronisation (see the module comment), and coherence
            // makes that removal's read see it.
            if cell.load(Ordering::Relaxed) == 0 && cell.compare_exchange(0, addr, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
                return true;
            }
        }
        // The bucket is full: the count goes back.
        lower(self.group_count(addr));
        false
    }

    /// Removes `addr` if it is in the set: whether it was.
    #[inline]
    pub fn remove(&self, addr: u64) -> bool {
        let h = self.index(addr);
        for cell in self.bucket(h) {
            // Relaxed: as in `insert`, with which this pairs through the
            // program's ordering of allocation before free. Only the thread
            // freeing `addr` removes it, so the CAS cannot fail; it is a CAS
            // all the same, so that a stale cell never clears another's.
            if cell.load(Ordering::Relaxed) == addr {
                if cell.compare_exchange(addr, 0, Ordering::Relaxed, Ordering::Relaxed).is_err() {
                    return false;
                }
                // A count, lowered after the cell is cleared.
                lower(self.group_count(addr));
                return true;
            }
        }
        false
    }

    /// Empties every cell: only while no thread uses the set. Writes only
    /// the cells and counts not 0 already, so that pages never used stay
    /// untouched by writes (not resident).
    pub fn clear(&self) {
        for cell in self.cells {
            // Relaxed (both): published with the next recording's session (Release).
            if cell.load(Ordering::Relaxed) != 0 {
                cell.store(0, Ordering::Relaxed);
            }
        }
        for count in self.counts {
            // Relaxed (both): as above.
            if count.load(Ordering::Relaxed) != 0 {
                count.store(0, Ordering::Relaxed);
            }
        }
    }

    /// Addresses in the set now (for tests).
    pub fn count(&self) -> usize {
        // Relaxed: a count for tests, read when no thread changes the set.
        self.cells.iter().filter(|c| c.load(Ordering::Relaxed) != 0).count()
    }
}

/// Raises a group's count by one, unless it is stuck at [`STUCK`] (which
/// it then reaches for good: it never wraps to 0).
#[inline]
fn raise(count: &AtomicU8) {
    // Relaxed (both): a count, read by `may_hold`; the RMW keeps every
    // raise and lowering of it in one modification order.
    let _ = count.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| (c != STUCK).then(|| c + 1));
}

/// Lowers a group's count by one, unless it is stuck at [`STUCK`] or
/// already 0. It is 0 under a removal only when a thread of an earlier
/// recording removes from the set after the next recording's `clear`
/// zeroed the counts (see `thread/sampled.rs`): that removal belongs to
/// the old recording, and wrapping to 255 (or an overflow panic inside the
/// allocator in a debug build) would be wrong.
#[inline]
fn lower(count: &AtomicU8) {
    // Relaxed (both): as in `raise`, whose raise this undoes.
    let _ = count.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| (c != STUCK).then(|| c.checked_sub(1)).flatten());
}

/// The number of group counts of a table of `cells` cells (a power of
/// two, at least [`BUCKET`]): one per [`GROUP`] buckets, at least one (a
/// power of two).
pub const fn groups(cells: usize) -> usize {
    (cells / BUCKET).div_ceil(GROUP)
}

/// The index of `addr`'s group count among `group_mask + 1` (a power of
/// two, [`groups`]): the group of its bucket, `bucket_of(addr) / GROUP`
/// (the bucket index's high bits are the group's).
#[inline(always)]
pub fn group_of(addr: u64, group_mask: usize) -> usize {
    (hash(addr) / GROUP) & group_mask
}

/// The bucket of `addr` in a table of `buckets` buckets (a power of two).
#[inline(always)]
pub fn bucket_of(addr: u64, buckets: usize) -> usize {
    hash(addr) & (buckets - 1)
}

/// The hash of `addr` whose low bits name its bucket.
#[inline(always)]
pub fn hash(addr: u64) -> usize {
    // Fibonacci hashing: the high bits of the product mix every bit of the
    // address (allocations are 16-byte aligned: the low bits are 0).
    (addr.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize
}

/// The number of cells of the set for a sampling interval of `interval`
/// bytes: one sample per bucket on average when 16 GiB sampled at that
/// interval are live (a bucket of 8 then overflows for about one sample
/// in 10^6: Poisson(1) above 8; at 64 GiB live, for about 2 in 100, each
/// counted), from 4096 cells (32 KiB) to 2^22 (32 MiB). At 512 KiB:
/// 2^18 cells, 2 MiB of address space, of which only the pages of
/// buckets ever used take memory (the table is zeroed by the OS), and
/// 4 KiB of group counts.
pub fn cells_for_interval(interval: u64) -> usize {
    let samples = (16u64 << 30) / interval.max(1);
    (samples.saturating_mul(BUCKET as u64).min(1 << 22) as usize).clamp(4096, 1 << 22).next_power_of_two()
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn table(n: usize) -> (Vec<AtomicU64>, Vec<AtomicU8>) {
        ((0..n).map(|_| AtomicU64::new(0)).collect(), (0..groups(n)).map(|_| AtomicU8::new(0)).collect())
    }

    /// Addresses (16-byte aligned, as allocations are) whose buckets in a
    /// table of `buckets` buckets are `want`, in order.
    fn addresses_in(buckets: usize, want: impl Fn(usize) -> bool, n: usize) -> Vec<u64> {
        (1u64..).map(|i| i * 16).filter(|&a| want(bucket_of(a, buckets))).take(n).collect()
    }

    #[test]
    fn a_group_count_covers_its_buckets_and_empties() {
        // 4096 cells: 512 buckets, 64 groups.
        let (cells, counts) = table(4096);
        let set = AddressSet::new(&cells, &counts);
        assert_eq!(counts.len(), 64);
        // Two addresses in different buckets of group 0, one in group 1.
        let a = addresses_in(512, |b| b == 0, 1)[0];
        let b = addresses_in(512, |b| b == GROUP - 1, 1)[0];
        let c = addresses_in(512, |b| b == GROUP, 1)[0];
        assert!(!set.may_hold(a) && !set.may_hold(b) && !set.may_hold(c));
        assert!(set.insert(a));
        assert!(set.may_hold(a) && set.may_hold(b), "the group of both holds a");
        assert!(!set.may_hold(c), "another group stays empty");
        assert!(!set.remove(b), "b shares the group, not the bucket");
        assert!(set.insert(b));
        assert!(set.remove(a));
        assert!(set.may_hold(a), "b is still in the group");
        assert!(set.remove(b));
        assert!(!set.may_hold(a) && !set.may_hold(b));
        assert_eq!(counts[0].load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_count_lowered_at_0_stays_0() {
        // From the review: a removal racing the next recording's `clear`.
        let c = AtomicU8::new(0);
        lower(&c);
        assert_eq!(c.load(Ordering::Relaxed), 0);
        raise(&c);
        lower(&c);
        lower(&c);
        assert_eq!(c.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_saturated_count_sticks_and_never_reads_empty() {
        let count = AtomicU8::new(0);
        for _ in 0..300 {
            raise(&count);
        }
        assert_eq!(count.load(Ordering::Relaxed), STUCK, "stops at 255, never wraps to 0");
        for _ in 0..300 {
            lower(&count);
        }
        assert_eq!(count.load(Ordering::Relaxed), STUCK, "stuck for good: only ever a false 'may hold'");
        let count = AtomicU8::new(3);
        raise(&count);
        lower(&count);
        lower(&count);
        assert_eq!(count.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn an_address_s_group_is_its_bucket_s() {
        for cells in [8, 16, 64, 4096, 1 << 18] {
            let (buckets, g) = (cells / BUCKET, groups(cells));
            for a in (1u64..2000).map(|i| i * 16 + (i << 20)) {
                assert_eq!(group_of(a, g - 1), bucket_of(a, buckets) / GROUP, "{cells} cells, address {a:#x}");
            }
        }
    }

    #[test]
    fn the_default_interval_keeps_its_counts_in_4_kib() {
        assert_eq!(groups(cells_for_interval(512 * 1024)), 4096);
    }
}
