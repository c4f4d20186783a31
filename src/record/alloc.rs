//! [`TrackingAllocator`]: the `#[global_allocator]` that records every call.
//!
//! Hot-path rules (enforced in `thread/` and `measure.rs`, which this calls): no allocation
//! through the global allocator, no lock, no syscall, no unwinding. Where a
//! timestamp is taken matters for replay: after an allocation returns, before
//! a deallocation releases memory, and before a reallocation (plus, for one
//! that moved, after it returns); so an address freed on one thread and
//! reused on another is always stamped free-first.

use super::clock::{self, Order};
use super::control::ACTIVE_MEASURE;
use super::measure;
use super::thread::{
    cancel_stamp, may_be_sampled, record, record_in, record_stamped, record_stamped_plain, sampled_alloc, sampled_dealloc,
    sampled_realloc_counts, stamp, take_sampled, track_sampled, unsampled_alloc_fast, unsampled_dealloc_fast, unsampled_realloc_fast,
    untake_sampled, CONTROL,
};
use crate::format::RawEvent;
use std::alloc::{GlobalAlloc, Layout, System};

/// A global allocator that forwards to `A` and records every allocation,
/// deallocation and reallocation while a [`Recorder`](crate::Recorder) runs.
///
/// ```no_run
/// #[global_allocator]
/// static GLOBAL: memscope::TrackingAllocator = memscope::TrackingAllocator::system();
/// ```
///
/// When no recording runs and no thread measures anything
/// ([`measure`](crate::measure)), each call costs one relaxed atomic load
/// and a branch on top of `A`.
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
    // Each method is the inner call and one load and branch on
    // `Control::active`; whatever a recording or a measurement does is out of
    // line, so that the method stays small enough to inline into its callers
    // and saves no registers when nothing runs.

    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract for `layout`.
        let ptr = unsafe { self.inner.alloc(layout) };
        let active = CONTROL.active();
        if active != 0 && !ptr.is_null() {
            self.allocated(active, ptr, layout, false);
        }
        ptr
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { self.inner.alloc_zeroed(layout) };
        let active = CONTROL.active();
        if active != 0 && !ptr.is_null() {
            self.allocated(active, ptr, layout, true);
        }
        ptr
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let active = CONTROL.active();
        if active != 0 {
            self.deallocating(active, ptr, layout);
        }
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    /// Stamped before the call (the release of the old memory) and, when it
    /// moved, again after it returns (the acquisition of the new memory):
    /// one clock reading more per moving reallocation, none for one in place.
    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let active = CONTROL.active();
        if active == 0 {
            // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
            return unsafe { self.inner.realloc(ptr, layout, new_size) };
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { self.realloc_active(active, ptr, layout, new_size) }
    }
}

impl<A: GlobalAlloc> TrackingAllocator<A> {
    /// Measures and records an allocation the inner allocator returned
    /// (`active`: `Control::active`, nonzero): every one in a full recording,
    /// a sampled one in a sampling recording, and only counted when not.
    #[inline(never)]
    fn allocated(&self, active: u64, ptr: *mut u8, layout: Layout, zeroed: bool) {
        if active >= ACTIVE_MEASURE {
            // A tail call: no register is kept across the measurement's
            // call on the recording's path.
            return self.allocated_measured(ptr, layout, zeroed);
        }
        self.record_allocation(ptr, layout, zeroed);
    }

    /// [`allocated`](Self::allocated) while some thread measures.
    #[inline(never)]
    fn allocated_measured(&self, ptr: *mut u8, layout: Layout, zeroed: bool) {
        measure::allocated(layout.size());
        self.record_allocation(ptr, layout, zeroed);
    }

    /// Records an allocation if a recording runs.
    #[inline(always)]
    fn record_allocation(&self, ptr: *mut u8, layout: Layout, zeroed: bool) {
        // Acquire: pairs with the drainer's Release store of `session` at
        // start, so the epoch and the policy of this recording are visible.
        let session = CONTROL.running();
        if session == 0 {
            return;
        }
        let (addr, size, align) = (ptr as usize, layout.size(), layout.align());
        // Almost always in a sampling recording: not sampled, and counted
        // inline (before the interval is read: a thread set up for
        // sampling in this recording implies it samples).
        if unsampled_alloc_fast(session, size as u64) {
            return;
        }
        let interval = CONTROL.sample_interval();
        if interval == 0 {
            // `move`: captured by value, so nothing of this frame is
            // spilled for the closure on the other paths.
            record_in(&self.inner, session, true, Order::AfterCall, move |ts, stack| RawEvent::alloc(ts, addr, size, align, zeroed, stack));
        } else {
            sampled_alloc(&self.inner, session, interval, addr, layout, zeroed);
        }
    }

    /// Measures and records a deallocation before the inner allocator gets
    /// the memory back (`active`: `Control::active`, nonzero).
    #[inline(never)]
    fn deallocating(&self, active: u64, ptr: *mut u8, layout: Layout) {
        if active >= ACTIVE_MEASURE {
            // A tail call, as in `allocated`.
            return self.deallocating_measured(ptr, layout);
        }
        self.record_deallocation(ptr, layout);
    }

    /// [`deallocating`](Self::deallocating) while some thread measures.
    #[inline(never)]
    fn deallocating_measured(&self, ptr: *mut u8, layout: Layout) {
        measure::deallocated(layout.size());
        self.record_deallocation(ptr, layout);
    }

    /// Records a deallocation if a recording runs.
    #[inline(always)]
    fn record_deallocation(&self, ptr: *mut u8, layout: Layout) {
        // Acquire: pairs with the drainer's Release store of `session` at
        // start, so the epoch and the policy of this recording are visible.
        let session = CONTROL.running();
        if session == 0 {
            return;
        }
        let (addr, size, align) = (ptr as usize, layout.size(), layout.align());
        // Almost always in a sampling recording: not sampled (its bucket of
        // the set is empty), and counted inline.
        if unsampled_dealloc_fast(session, addr, size as u64) {
            return;
        }
        if CONTROL.sample_interval() == 0 {
            // `move`: as in `record_allocation`.
            record_in(&self.inner, session, false, Order::BeforeCall, move |ts, _| RawEvent::dealloc(ts, addr, size, align));
        } else {
            // Almost never: the block's bucket of the set holds an address
            // (maybe this one), or the thread must register or is inside
            // the recorder.
            self.dealloc_sampled(session, addr, layout);
        }
    }

    /// A deallocation in a sampling recording that the inline path could
    /// not settle: takes the block out of the set if it is there (before the
    /// memory goes back: another thread may get the address and insert it),
    /// then counts it and records it if it was sampled.
    #[inline(never)]
    fn dealloc_sampled(&self, session: u32, addr: usize, layout: Layout) {
        let sampled = may_be_sampled(addr) && take_sampled(addr);
        sampled_dealloc(&self.inner, session, addr, layout, sampled);
    }

    /// A reallocation while a recording runs or a thread measures
    /// (`active`: `Control::active`, nonzero).
    ///
    /// # Safety
    /// `GlobalAlloc::realloc`'s contract.
    #[inline(never)]
    unsafe fn realloc_active(&self, active: u64, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Acquire: as in `stamp`.
        let session = CONTROL.running();
        if session != 0 {
            let interval = CONTROL.sample_interval();
            if interval != 0 {
                // Almost always: the old block is not sampled (one count
                // byte says so), handled here; the rest out of line, so that
                // this path saves few registers and keeps a small frame.
                if !may_be_sampled(ptr as usize) {
                    // SAFETY: the caller's contract, passed on.
                    return unsafe { self.realloc_unsampled(active, ptr, layout, new_size, session, interval) };
                }
                // SAFETY: the caller's contract, passed on.
                return unsafe { self.realloc_sampled(active, ptr, layout, new_size, session, interval) };
            }
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { self.realloc_recorded(active, ptr, layout, new_size) }
    }

    /// A reallocation in a full recording, or while a thread measures.
    ///
    /// # Safety
    /// `GlobalAlloc::realloc`'s contract.
    #[inline(never)]
    unsafe fn realloc_recorded(&self, active: u64, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let stamp = stamp(&self.inner);
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        let new = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !new.is_null() && active >= ACTIVE_MEASURE {
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

    /// A reallocation in a sampling recording whose old block is not
    /// sampled (its group of the set is empty): the call, then the new size
    /// drawn on the countdown, inline when it does not cross it (as
    /// [`realloc_sampled`](Self::realloc_sampled)'s last two cases).
    ///
    /// # Safety
    /// `GlobalAlloc::realloc`'s contract.
    #[inline(always)]
    unsafe fn realloc_unsampled(&self, active: u64, ptr: *mut u8, layout: Layout, new_size: usize, session: u32, interval: u64) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        let new = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if new.is_null() {
            return new;
        }
        if active >= ACTIVE_MEASURE {
            measure::reallocated(layout.size(), new_size);
        }
        if !unsampled_realloc_fast(session, layout.size() as u64, new_size as u64) {
            self.realloc_into_sample(session, interval, layout, new, new_size);
        }
        new
    }

    /// The new block of a reallocation whose old block was not sampled,
    /// when the inline count could not settle it: counts the call, and
    /// records the new block as an allocation if it is sampled.
    #[inline(never)]
    fn realloc_into_sample(&self, session: u32, interval: u64, layout: Layout, new: *mut u8, new_size: usize) {
        if sampled_realloc_counts(&self.inner, session, interval, layout.size(), new_size) == Some(true) {
            track_sampled(new as usize);
            record(&self.inner, true, Order::AfterCall, |ts, stack| {
                RawEvent::alloc(ts, new as usize, new_size, layout.align(), false, stack)
            });
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
    unsafe fn realloc_sampled(&self, active: u64, ptr: *mut u8, layout: Layout, new_size: usize, session: u32, interval: u64) -> *mut u8 {
        // Almost always not sampled: one count byte settles it, as for a deallocation.
        let was = may_be_sampled(ptr as usize) && take_sampled(ptr as usize);
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
        if active >= ACTIVE_MEASURE {
            measure::reallocated(layout.size(), new_size);
        }
        // Almost always: the new block is not sampled, counted inline.
        let now = !unsampled_realloc_fast(session, layout.size() as u64, new_size as u64)
            && sampled_realloc_counts(&self.inner, session, interval, layout.size(), new_size) == Some(true);
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
