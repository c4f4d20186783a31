//! The per-thread SPSC ring of [`RawEvent`]s.
//!
//! One producer (the thread that owns the ring's slot) pushes; one consumer
//! (the drainer) pops. Indices grow without bound and are masked into the
//! buffer, so `tail - head` is the number of queued events even across
//! wrap-around. The ring never allocates: its buffer is handed in by the
//! caller (allocated from the inner allocator, or by a test), which is what
//! lets the allocator use it and loom check it.

use crate::format::RawEvent;
use crate::sync::{AtomicUsize, CachePadded, Ordering, UnsafeCell};
use core::ptr::NonNull;

/// How many events [`Ring::pop_each`] hands on before it frees their cells
/// to the producer: a producer waiting for room (`OnFull::Block`) waits for
/// that many, not for the whole batch (up to 2^16 events, milliseconds of
/// encoding), at the cost of one more Release store per that many events.
pub const RELEASE_EVERY: usize = 1024;

/// A bounded single-producer single-consumer queue of events.
#[derive(Debug)]
pub struct Ring {
    /// Consumer index: every slot before it has been read. Written only by
    /// the consumer; `tail - head <= capacity` always.
    head: CachePadded<AtomicUsize>,
    /// Producer index: every slot before it holds an event. Written only by
    /// the producer.
    tail: CachePadded<AtomicUsize>,
    /// The producer's last view of `head` (never ahead of it). Touched only
    /// by the producer, so reading it costs no shared cache line.
    cached_head: CachePadded<UnsafeCell<usize>>,
    /// `capacity` cells, initialised.
    buf: NonNull<UnsafeCell<RawEvent>>,
    /// `capacity - 1`; `capacity` is a power of two.
    mask: usize,
}

// SAFETY: the ring hands each cell to one side at a time: the producer writes
// cells in `[tail, head + capacity)`, the consumer reads cells in
// `[head, tail)`, and the Release/Acquire pairs on `head` and `tail` order
// those accesses. `cached_head` is only touched by the producer, which the
// `# Safety` contracts of `push`/`refresh_len` make one thread at a time.
unsafe impl Send for Ring {}
// SAFETY: as for `Send`: shared access is mediated by the index protocol.
unsafe impl Sync for Ring {}

impl Ring {
    /// The layout of the buffer a ring of `capacity` events needs.
    ///
    /// # Panics
    /// If the buffer would exceed `isize::MAX` bytes.
    pub fn buffer_layout(capacity: usize) -> core::alloc::Layout {
        core::alloc::Layout::array::<UnsafeCell<RawEvent>>(capacity).expect("ring buffer size overflows")
    }

    /// Makes a ring over `capacity` cells at `buf`, initialising them.
    ///
    /// # Safety
    /// `buf` must be valid for reads and writes of
    /// [`Ring::buffer_layout`]`(capacity)`, aligned to it, unused by anything
    /// else, and outlive the ring. `capacity` must be a power of two.
    pub unsafe fn new(buf: NonNull<u8>, capacity: usize) -> Self {
        debug_assert!(capacity.is_power_of_two(), "ring capacity must be a power of two");
        let buf = buf.cast::<UnsafeCell<RawEvent>>();
        for i in 0..capacity {
            // SAFETY: `i < capacity` and the caller guarantees `capacity` writable cells.
            unsafe { buf.as_ptr().add(i).write(UnsafeCell::new(RawEvent::default())) };
        }
        Ring {
            head: CachePadded(AtomicUsize::new(0)),
            tail: CachePadded(AtomicUsize::new(0)),
            cached_head: CachePadded(UnsafeCell::new(0)),
            buf,
            mask: capacity - 1,
        }
    }

    /// The ring's capacity in events.
    pub fn capacity(&self) -> usize {
        self.mask + 1
    }

    #[inline(always)]
    fn cell(&self, index: usize) -> &UnsafeCell<RawEvent> {
        // SAFETY: `index & mask < capacity`, and `new`'s contract keeps the
        // buffer alive and initialised for the ring's lifetime.
        unsafe { &*self.buf.as_ptr().add(index & self.mask) }
    }

    /// Pushes one event; returns `false`, leaving the ring unchanged, when it is full.
    ///
    /// # Safety
    /// Only the ring's producer may call this: one thread at a time, and
    /// successive producers ordered by happens-before (in the registry: the
    /// old owner's `release`, the drainer's `recycle`, the next `claim`).
    #[inline(always)]
    pub unsafe fn push(&self, event: RawEvent) -> bool {
        // Relaxed: only this producer stores `tail`.
        let tail = self.tail.load(Ordering::Relaxed);
        // SAFETY: the caller is the only producer, the only user of `cached_head`.
        let mut head = self.cached_head.with(|p| unsafe { *p });
        if tail.wrapping_sub(head) == self.capacity() {
            // Acquire: pairs with the Release store of `head` in `pop_each`, so
            // the consumer's reads of the cells we are about to reuse are done.
            head = self.head.load(Ordering::Acquire);
            // SAFETY: as above.
            self.cached_head.with_mut(|p| unsafe { *p = head });
            if tail.wrapping_sub(head) == self.capacity() {
                return false;
            }
        }
        debug_assert!(tail.wrapping_sub(head) < self.capacity());
        // SAFETY: the cell at `tail` is outside `[head, tail)`, so the consumer
        // does not read it until the Release store below publishes it.
        self.cell(tail).with_mut(|p| unsafe { p.write(event) });
        // Release: pairs with the Acquire load of `tail` in `pop_each`,
        // publishing the cell written above.
        self.tail.store(tail.wrapping_add(1), Ordering::Release);
        true
    }

    /// The producer's estimate of queued events: exact or too high, never too low.
    ///
    /// # Safety
    /// As for [`Ring::push`]: the producer only.
    #[inline(always)]
    pub unsafe fn len_upper_bound(&self) -> usize {
        // Relaxed: our own index.
        let tail = self.tail.load(Ordering::Relaxed);
        // SAFETY: producer-only field; the caller is the producer.
        tail.wrapping_sub(self.cached_head.with(|p| unsafe { *p }))
    }

    /// Refreshes the producer's view of `head` and returns the exact number of
    /// queued events at that moment.
    ///
    /// # Safety
    /// As for [`Ring::push`]: the producer only.
    pub unsafe fn refresh_len(&self) -> usize {
        // Acquire: pairs with the Release store in `pop_each`, as in `push`.
        let head = self.head.load(Ordering::Acquire);
        // SAFETY: producer-only field; the caller is the producer.
        self.cached_head.with_mut(|p| unsafe { *p = head });
        // Relaxed: our own index.
        self.tail.load(Ordering::Relaxed).wrapping_sub(head)
    }

    /// Moves every queued event, up to `max`, to the end of `out`; returns how many.
    ///
    /// # Safety
    /// As for [`Ring::pop_each`]: the ring's one consumer only.
    pub unsafe fn pop_into(&self, out: &mut Vec<RawEvent>, max: usize) -> usize {
        // SAFETY: the caller is the ring's one consumer, as `pop_each` requires.
        unsafe { self.pop_each(max, |e| out.push(*e)) }
    }

    /// Hands every queued event, up to `max`, oldest first, to `f` straight
    /// from its cell (no copy to a buffer first), freeing the cells
    /// [`RELEASE_EVERY`] events at a time (and the rest at the end); returns
    /// how many. A producer finding the ring full waits for at most that
    /// many calls of `f`, not for the whole batch.
    ///
    /// # Safety
    /// Only the ring's one consumer may call this: one thread at a time, and
    /// successive consumers ordered by happens-before (one drainer at a time:
    /// the old one's Release of the recorder state, the next `start`'s Acquire).
    #[inline]
    pub unsafe fn pop_each(&self, max: usize, mut f: impl FnMut(&RawEvent)) -> usize {
        // Relaxed: only the consumer stores `head`.
        let head = self.head.load(Ordering::Relaxed);
        // Acquire: pairs with the Release store in `push`, so the cells in
        // `[head, tail)` are fully written.
        let tail = self.tail.load(Ordering::Acquire);
        let n = tail.wrapping_sub(head).min(max);
        debug_assert!(n <= self.capacity());
        let mut done = 0;
        while done < n {
            let end = n.min(done + RELEASE_EVERY);
            for i in done..end {
                // SAFETY: the cell is in `[head + done, tail)`: published and
                // not reused by the producer until `head` moves past it below;
                // the reference does not outlive the call of `f`.
                self.cell(head.wrapping_add(i)).with(|p| f(unsafe { &*p }));
            }
            // Release: pairs with the Acquire loads of `head` in `push` and
            // `refresh_len`; our reads of the cells before `head + end`
            // happen before their reuse.
            self.head.store(head.wrapping_add(end), Ordering::Release);
            done = end;
        }
        n
    }

    /// Whether the ring holds no events (a consumer-side view).
    pub fn is_empty(&self) -> bool {
        // Acquire (both): pair with the Release stores of `tail` in `push`
        // and of `head` in `pop_each`, whichever side calls this.
        self.tail.load(Ordering::Acquire) == self.head.load(Ordering::Acquire)
    }
}

/// The recorder's ring over a buffer it owns from `System`, used from one thread as
/// both producer and consumer (`&mut self`), so every method is safe: for
/// the ring benchmark (`benches/overhead.rs`), which measures the very
/// push and pop the recorder runs.
#[cfg(not(loom))]
#[derive(Debug)]
pub struct OwnedRing {
    ring: Ring,
    buf: NonNull<u8>,
    capacity: usize,
}

#[cfg(not(loom))]
impl OwnedRing {
    /// A ring of `capacity` events.
    ///
    /// # Panics
    /// If `capacity` is not a power of two; aborts if the buffer cannot be allocated.
    pub fn new(capacity: usize) -> Self {
        assert!(capacity.is_power_of_two(), "ring capacity must be a power of two");
        let layout = Ring::buffer_layout(capacity);
        // SAFETY: the layout holds at least one event, so its size is non-zero.
        let buf = NonNull::new(unsafe { std::alloc::GlobalAlloc::alloc(&std::alloc::System, layout) })
            .unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        // SAFETY: `buf` was allocated with `Ring::buffer_layout(capacity)`, is
        // used by nothing else, and outlives the ring (freed in `drop`);
        // `capacity` is a power of two.
        let ring = unsafe { Ring::new(buf, capacity) };
        OwnedRing { ring, buf, capacity }
    }

    /// Pushes one event; false when the ring is full.
    pub fn push(&mut self, event: RawEvent) -> bool {
        // SAFETY: `&mut self`: this thread is the only producer.
        unsafe { self.ring.push(event) }
    }

    /// Moves up to `max` queued events to the end of `out`; returns how many.
    pub fn pop_into(&mut self, out: &mut Vec<RawEvent>, max: usize) -> usize {
        // SAFETY: `&mut self`: this thread is the only consumer.
        unsafe { self.ring.pop_into(out, max) }
    }
}

#[cfg(not(loom))]
impl Drop for OwnedRing {
    fn drop(&mut self) {
        // SAFETY: `buf` came from `System` with this layout; the ring is not
        // used after this.
        unsafe { std::alloc::GlobalAlloc::dealloc(&std::alloc::System, self.buf.as_ptr(), Ring::buffer_layout(self.capacity)) };
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A producer finds room once `RELEASE_EVERY` events of a batch are
    /// handed on, not only after the whole batch (failed before: the head
    /// moved once, at the end).
    #[test]
    fn pop_each_frees_cells_during_a_batch() {
        let mut ring = OwnedRing::new(4 * RELEASE_EVERY);
        for i in 0..4 * RELEASE_EVERY as u64 {
            assert!(ring.push(RawEvent::lost(i, 1)));
        }
        assert!(!ring.push(RawEvent::lost(0, 1)), "full");
        let ring = &ring.ring;
        let mut seen = 0u64;
        let mut room_at = None;
        let each = |e: &RawEvent| {
            assert_eq!(e.ts_ns(), seen, "events in order");
            seen += 1;
            // SAFETY: this thread is the ring's only producer, and plays it
            // only here, between two calls of the consumer's callback.
            if room_at.is_none() && unsafe { ring.refresh_len() } < 4 * RELEASE_EVERY {
                room_at = Some(seen);
            }
        };
        // SAFETY: this thread is the ring's only consumer.
        let n = unsafe { ring.pop_each(usize::MAX, each) };
        assert_eq!(n, 4 * RELEASE_EVERY);
        assert_eq!(room_at, Some(RELEASE_EVERY as u64 + 1), "room after the first {RELEASE_EVERY} events");
        assert!(ring.is_empty());
        // A batch shorter than `RELEASE_EVERY` frees its cells at its end.
        let mut ring = OwnedRing::new(64);
        for i in 0..10 {
            assert!(ring.push(RawEvent::lost(i, 1)));
        }
        let mut out = Vec::new();
        assert_eq!(ring.pop_into(&mut out, usize::MAX), 10);
        assert!(ring.ring.is_empty());
    }
}
