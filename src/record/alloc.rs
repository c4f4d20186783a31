//! [`TrackingAllocator`]: the `#[global_allocator]` that records every call.
//!
//! Hot-path rules (enforced in `thread/` and `measure.rs`, which this calls): no allocation
//! through the global allocator, no lock, no syscall, no unwinding. Where a
//! timestamp is taken matters for replay: after an allocation returns, before
//! a deallocation releases memory, and before a reallocation (plus, for one
//! that moved, after it returns); so an address freed on one thread and
//! reused on another is always stamped free-first.

use super::clock::{self, Order};
use super::measure;
use super::thread::{
    cancel_stamp, may_be_sampled, record, record_in, record_stamped, record_stamped_plain, sampled_alloc, sampled_dealloc,
    sampled_realloc_counts, stamp, take_sampled, track_sampled, unsampled_fast, untake_sampled, CONTROL,
};
use crate::format::RawEvent;
use crate::sync::Ordering;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::AtomicBool;

/// The alignment of the probe `start` allocates to learn whether the global
/// allocator is a `TrackingAllocator` (a page-sized, page-aligned value:
/// any allocation of that alignment through one sets [`PROBED`]).
pub(crate) const PROBE_ALIGN: usize = 4096;

/// Set by a `TrackingAllocator` serving an allocation aligned to
/// [`PROBE_ALIGN`]; cleared by `start` before its probe.
pub(crate) static PROBED: AtomicBool = AtomicBool::new(false);

/// Notes an allocation of the probe's alignment (rare: page-aligned).
#[cold]
#[inline(never)]
fn probed() {
    // Relaxed: read by the thread that allocated the probe, after its own
    // allocation call (program order); other threads' stores only say the
    // same thing, that a TrackingAllocator serves allocations.
    PROBED.store(true, Ordering::Relaxed);
}

/// A global allocator that forwards to `A` and records every allocation,
/// deallocation and reallocation while a [`Recorder`](crate::Recorder) runs.
///
/// ```no_run
/// #[global_allocator]
/// static GLOBAL: memscope::TrackingAllocator = memscope::TrackingAllocator::system();
/// ```
///
/// When no recording runs and the calling thread measures nothing
/// ([`measure`](crate::measure)), each call costs one atomic load and one
/// thread-local load on top of `A`.
/// While one runs, each call pushes one 32-byte event into the calling
/// thread's ring (see benches/README.md for the measured cost).
///
/// # Requirements on `A`
/// The recorder's own memory (each thread's ring, 32 bytes per event of
/// capacity) is allocated from `A` directly (or from `System`, for a thread
/// whose first recorded event comes from the tracking API) and kept for the life of the
/// process, to be reused by later threads and recordings. `A` must
/// therefore never reclaim memory it handed out behind its caller's back
/// (an arena that frees everything when dropped would leave the drainer
/// reading freed memory). Every allocator usable as `#[global_allocator]`
/// meets this: the static is never dropped. Use `TrackingAllocator` only as
/// the global allocator.
#[derive(Debug, Default, Clone, Copy)]
pub struct TrackingAllocator<A = System> {
    inner: A,
}

impl TrackingAllocator<System> {
    /// Tracks the system allocator.
    pub const fn system() -> Self {
        TrackingAllocator { inner: System }
    }
}

impl<A> TrackingAllocator<A> {
    /// Tracks `inner`, e.g. `TrackingAllocator::new(mimalloc::MiMalloc)`.
    pub const fn new(inner: A) -> Self {
        TrackingAllocator { inner }
    }

    /// The wrapped allocator.
    pub const fn inner(&self) -> &A {
        &self.inner
    }
}

// SAFETY: every method forwards to `A`'s method of the same name with the
// caller's arguments unchanged and returns its result unchanged, so `A`'s
// guarantees carry over; recording only reads the arguments and results and
// never touches the memory.
unsafe impl<A: GlobalAlloc> GlobalAlloc for TrackingAllocator<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() == PROBE_ALIGN {
            probed();
        }
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract for `layout`.
        let ptr = unsafe { self.inner.alloc(layout) };
        if !ptr.is_null() {
            measure::allocated(layout.size());
            self.allocated(ptr, layout, false);
        }
        ptr
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { self.inner.alloc_zeroed(layout) };
        if !ptr.is_null() {
            measure::allocated(layout.size());
            self.allocated(ptr, layout, true);
        }
        ptr
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        measure::deallocated(layout.size());
        // Acquire: pairs with the drainer's Release store of `session` at
        // start, so the epoch and the policy of this recording are visible.
        let session = CONTROL.running();
        if session != 0 {
            if CONTROL.sample_interval() == 0 {
                record_in(&self.inner, session, false, Order::BeforeCall, |ts, _| {
                    RawEvent::dealloc(ts, ptr as usize, layout.size(), layout.align())
                });
            } else {
                // Almost always: not sampled (its bucket of the set is
                // empty), and counted inline.
                let maybe = may_be_sampled(ptr as usize);
                if maybe || !unsampled_fast(session, layout.size() as u64, false) {
                    // Out of the set before the memory goes back (another
                    // thread may get the address and insert it).
                    let sampled = maybe && take_sampled(ptr as usize);
                    sampled_dealloc(&self.inner, session, ptr as usize, layout, sampled);
                }
            }
        }
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    /// Stamped before the call (the release of the old memory) and, when it
    /// moved, again after it returns (the acquisition of the new memory):
    /// one clock reading more per moving reallocation, none for one in place.
    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Acquire: as in `stamp`.
        let session = CONTROL.running();
        if session != 0 {
            let interval = CONTROL.sample_interval();
            if interval != 0 {
                // SAFETY: the caller's contract, passed on.
                return unsafe { self.realloc_sampled(ptr, layout, new_size, session, interval) };
            }
        }
        let stamp = stamp(&self.inner);
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        let new = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            measure::reallocated(layout.size(), new_size);
        }
        if let Some(stamp) = stamp {
            if new.is_null() {
                cancel_stamp(stamp);
            } else {
                // The new memory may be memory another thread deallocated
                // during the call: its acquisition is stamped after the call,
                // as an allocation's is (0: did not move).
                let returned = if new == ptr { 0 } else { clock::now_ticks(Order::AfterCall).max(stamp.ts).max(1) };
                let event = RawEvent::realloc(stamp.ts, ptr as usize, layout.size(), new as usize, new_size);
                record_stamped(&self.inner, stamp, event, returned);
            }
        }
        new
    }
}

impl<A: GlobalAlloc> TrackingAllocator<A> {
    /// Records an allocation the inner allocator returned: every one in a
    /// full recording, a sampled one in a sampling recording.
    #[inline(always)]
    fn allocated(&self, ptr: *mut u8, layout: Layout, zeroed: bool) {
        // Acquire: pairs with the drainer's Release store of `session` at
        // start, so the epoch and the policy of this recording are visible.
        let session = CONTROL.running();
        if session == 0 {
            return;
        }
        if CONTROL.sample_interval() == 0 {
            record_in(&self.inner, session, true, Order::AfterCall, |ts, stack| {
                RawEvent::alloc(ts, ptr as usize, layout.size(), layout.align(), zeroed, stack)
            });
        } else if !unsampled_fast(session, layout.size() as u64, true) {
            sampled_alloc(&self.inner, session, CONTROL.sample_interval(), ptr as usize, layout, zeroed);
        }
    }

    /// A reallocation in a sampling recording (FORMAT.md, "Sampling
    /// record"): the old block leaves the sampled-address set before the
    /// call; the new size draws on the countdown after it. Both sampled: a
    /// Realloc event, as in a full recording; only the old: a Dealloc at
    /// the first stamp; only the new: an Alloc after the call; neither:
    /// counted only.
    ///
    /// # Safety
    /// `GlobalAlloc::realloc`'s contract.
    #[inline(never)]
    unsafe fn realloc_sampled(&self, ptr: *mut u8, layout: Layout, new_size: usize, session: u32, interval: u64) -> *mut u8 {
        let was = take_sampled(ptr as usize);
        let stamp = if was { stamp(&self.inner) } else { None };
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        let new = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if new.is_null() {
            if was {
                untake_sampled(ptr as usize);
            }
            if let Some(stamp) = stamp {
                cancel_stamp(stamp);
            }
            return new;
        }
        measure::reallocated(layout.size(), new_size);
        let now = sampled_realloc_counts(&self.inner, session, interval, layout.size(), new_size) == Some(true);
        if now {
            track_sampled(new as usize);
        }
        match (stamp, now) {
            (Some(stamp), true) => {
                let returned = if new == ptr { 0 } else { clock::now_ticks(Order::AfterCall).max(stamp.ts).max(1) };
                let event = RawEvent::realloc(stamp.ts, ptr as usize, layout.size(), new as usize, new_size);
                record_stamped(&self.inner, stamp, event, returned);
            }
            (Some(stamp), false) => record_stamped_plain(stamp, RawEvent::dealloc(stamp.ts, ptr as usize, layout.size(), layout.align())),
            (None, true) => record(&self.inner, true, Order::AfterCall, |ts, stack| {
                RawEvent::alloc(ts, new as usize, new_size, layout.align(), false, stack)
            }),
            (None, false) => {}
        }
        new
    }
}
