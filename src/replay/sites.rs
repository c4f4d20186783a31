//! Replay by site: exact figures per call stack.
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

/// Exact figures of one site over the recording. Bytes are bytes, times
/// nanoseconds.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SiteStats {
    /// The site's stack id (its innermost node; 0: allocations with no stack).
    pub stack: u32,
    /// Allocations made here.
    pub allocations: u64,
    /// Bytes of those allocations plus the new sizes of the reallocations made here.
    pub allocated_bytes: u64,
    /// Reallocations made here.
    pub reallocations: u64,
    /// Deallocations of allocations made here.
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
}
