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
//! Each bucket also has a count of the addresses in it (a byte, in a
//! separate array 8 times smaller than the table, so that it stays in the
//! cache): a deallocation first reads its bucket's count, and a 0 (almost
//! always, when few samples are live) settles it without touching the
//! bucket. An insert raises the count before it takes a cell (and lowers
//! it again if the bucket is full); a removal lowers it after it clears
//! the cell.
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

/// A view of a table of cells (a multiple of [`BUCKET`], a power of two)
/// and of its buckets' counts (one per bucket).
#[derive(Debug, Clone, Copy)]
pub struct AddressSet<'a> {
    cells: &'a [AtomicU64],
    counts: &'a [AtomicU8],
}

impl<'a> AddressSet<'a> {
    /// A set over `cells` and `counts`, all 0 (empty) or as this type left
    /// them. `cells.len()` must be a power of two, at least [`BUCKET`];
    /// `counts.len()` must be `cells.len() / BUCKET`.
    pub fn new(cells: &'a [AtomicU64], counts: &'a [AtomicU8]) -> Self {
        debug_assert!(cells.len().is_power_of_two() && cells.len() >= BUCKET && counts.len() == cells.len() / BUCKET);
        AddressSet { cells, counts }
    }

    /// The number of cells.
    pub fn capacity(&self) -> usize {
        self.cells.len()
    }

    /// The index of `addr`'s bucket.
    #[inline(always)]
    fn index(&self, addr: u64) -> usize {
        bucket_of(addr, self.counts.len())
    }

    /// The cells of bucket `h`.
    #[inline(always)]
    fn bucket(&self, h: usize) -> &'a [AtomicU64] {
        &self.cells[h * BUCKET..h * BUCKET + BUCKET]
    }

    /// Whether `addr` may be in the set: false settles that it is not (its
    /// bucket is empty), with one load of a byte.
    #[inline(always)]
    pub fn may_hold(&self, addr: u64) -> bool {
        // Relaxed: if `addr` was inserted, its insert (which raised this
        // count first) happens before this call (module comment), so
        // coherence makes this load see a count of at least 1.
        self.counts[self.index(addr)].load(Ordering::Relaxed) != 0
    }

    /// Adds `addr` (non-zero, not in the set); false if its bucket is full.
    #[inline]
    pub fn insert(&self, addr: u64) -> bool {
        debug_assert!(addr != 0);
        let h = self.index(addr);
        // Relaxed: a count (see `may_hold`), raised before a cell is taken.
        self.counts[h].fetch_add(1, Ordering::Relaxed);
        for cell in self.bucket(h) {
            // Relaxed: the cell's value is the only datum; the insert is
            // ordered before the address's removal by the program's own
            // synchronisation (see the module comment), and coherence
            // makes that removal's read see it.
            if cell.load(Ordering::Relaxed) == 0 && cell.compare_exchange(0, addr, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
                return true;
            }
        }
        // Relaxed: as above. The bucket is full: the count goes back (it
        // never exceeds 8 plus the inserts racing here, far below 255).
        self.counts[h].fetch_sub(1, Ordering::Relaxed);
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
                // Relaxed: a count, lowered after the cell is cleared.
                self.counts[h].fetch_sub(1, Ordering::Relaxed);
                return true;
            }
        }
        false
    }

    /// Empties every cell: only while no thread uses the set.
    pub fn clear(&self) {
        for cell in self.cells {
            // Relaxed: published with the next recording's session (Release).
            cell.store(0, Ordering::Relaxed);
        }
        for count in self.counts {
            // Relaxed: as above.
            count.store(0, Ordering::Relaxed);
        }
    }

    /// Addresses in the set now (for tests).
    pub fn count(&self) -> usize {
        // Relaxed: a count for tests, read when no thread changes the set.
        self.cells.iter().filter(|c| c.load(Ordering::Relaxed) != 0).count()
    }
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
/// buckets ever used take memory (the table is zeroed by the OS).
pub fn cells_for_interval(interval: u64) -> usize {
    let samples = (16u64 << 30) / interval.max(1);
    (samples.saturating_mul(BUCKET as u64).min(1 << 22) as usize).clamp(4096, 1 << 22).next_power_of_two()
}
