//! The thread registry: a lock-free, grow-only list of slots, one ring each.
//!
//! A thread claims a free slot (or adds a new one) on its first event and
//! releases it at exit; the drainer walks the list, drains every slot, and
//! returns released slots to the free state once they are empty. Slots are
//! never unlinked, so the drainer can walk the list while threads come and
//! go, and memory is bounded by the peak number of threads alive at once.
//!
//! State machine of a slot (FORMAT.md has none of this: it never reaches disk):
//!
//! ```text
//!  FREE --claim (owner, CAS)--> OWNED --release (owner)--> EXITED --recycle (drainer, once empty)--> FREE
//!                                 \--reclaim (anyone, CAS, once the owner's OS thread is gone)--^
//! ```
//!
//! The state shares one word with the owner's OS thread id and a claim
//! generation, so that `reclaim` (a thread that exits without running its
//! exit hook: an allocation in glibc's last destructor round, a failed
//! `pthread_key_create`, a forked child's copies of its parent's slots)
//! can only ever take the slot from the owner it found dead: a CAS on the
//! whole word fails once the slot has been recycled and claimed again.

use super::ring::Ring;
use crate::sync::{AtomicPtr, AtomicU32, AtomicU64, CachePadded, Ordering};
use core::alloc::Layout;
use core::ptr::NonNull;

/// Set once, before a recording's events are stamped, when the kernel has
/// no `membarrier` for the drainer: producers then fence after marking an
/// event in flight ([`Slot::begin_event`]). Read-only on the hot path.
pub static PRODUCER_FENCE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// No thread owns the slot and its ring is empty.
pub const FREE: u8 = 0;
/// A live thread owns the slot and is its ring's producer.
pub const OWNED: u8 = 1;
/// The owner has exited; the drainer still has to empty the ring.
pub const EXITED: u8 = 2;

/// `Slot::word`: bits 0..8 the state, 8..40 the owner's OS thread id (0:
/// unknown, never reclaimed), 40..64 the claim generation.
const STATE_MASK: u64 = 0xff;
const TID_SHIFT: u32 = 8;
const GEN_SHIFT: u32 = 40;
const GEN_ONE: u64 = 1 << GEN_SHIFT;

/// The word of an OWNED slot owned by `os_tid`, one generation after `word`'s.
const fn owned_word(word: u64, os_tid: u32) -> u64 {
    ((word & !((1 << GEN_SHIFT) - 1)).wrapping_add(GEN_ONE)) | ((os_tid as u64) << TID_SHIFT) | OWNED as u64
}

/// One thread's ring and its bookkeeping.
#[derive(Debug)]
pub struct Slot {
    /// The events of the owning thread.
    pub ring: Ring,
    /// [`FREE`], [`OWNED`] or [`EXITED`], with the owner's OS thread id and
    /// the claim generation (see `STATE_MASK`). FREE always has tid 0.
    word: AtomicU64,
    /// The owner's recorder thread id; written by the owner after it claims
    /// the slot and before its first push.
    thread: AtomicU32,
    /// Events the owners of this slot dropped, ever (monotonic). Written only
    /// by the current owner, read by the drainer.
    dropped: AtomicU64,
    /// How many events the owner is stamping or has stamped and not yet
    /// pushed (a reallocation: for the whole call); more than 1 when a
    /// signal handler records while the thread is in such a call. Written
    /// only by the owner (a handler runs on the owner's thread and restores
    /// the count before the interrupted code goes on), read by the drainer
    /// once per round. On a cache line of its own: the owner writes it
    /// twice per event, and sharing a line with `index` and `stacks`, which
    /// the drainer reads per event, cost 13 ns per event (benches/README.md,
    /// "Issue 9").
    in_flight: CachePadded<AtomicU32>,
    /// While the owner waits for room in its full ring (`OnFull::Block`)
    /// with exactly one event in flight, that event's stamp (raw clock
    /// ticks since the epoch, as in the ring); [`NOT_WAITING`] otherwise.
    /// Written only by the owner, on the full-ring path; read by the
    /// drainer once per round ([`Slot::waiting_since`]).
    waiting: AtomicU64,
    /// The futex word the owner sleeps on while its ring is full
    /// ([`Slot::sleep_for_room`]): bit 0 set while it sleeps or is about
    /// to, the rest a count of the drainer's wake-ups. Written by the owner
    /// only on the full-ring path and by the drainer only when bit 0 is set.
    room: AtomicU32,
    /// Position of the slot in the registry, from 0; fixed.
    index: u32,
    /// The next slot in the registry; fixed once the slot is published.
    next: AtomicPtr<Slot>,
    /// The slot's stack table (`stack::StackTable`), or null before its
    /// first stack. Stored by an owner once, read by later owners and the
    /// drainer; the ring's push/pop and the registry's claim/recycle order
    /// those accesses (see `stack.rs`), so the field is a plain std atomic,
    /// outside the loom models.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) stacks: core::sync::atomic::AtomicPtr<u8>,
    /// In a sampling recording, the exact counts of every call the owners
    /// of this slot made, ever (monotonic, as `dropped`). Written only by
    /// the current owner, on every call; read by the drainer once per round.
    totals: CachePadded<Totals>,
}

/// [`Slot::totals`]: calls and bytes, as a Totals record counts them
/// (FORMAT.md, "Totals record").
#[derive(Debug)]
pub struct Totals {
    allocations: AtomicU64,
    deallocations: AtomicU64,
    reallocations: AtomicU64,
    allocated_bytes: AtomicU64,
    deallocated_bytes: AtomicU64,
    untracked_samples: AtomicU64,
}

/// Owner: adds `n` to a count only the owner writes.
#[inline(always)]
fn bump(count: &AtomicU64, n: u64) {
    // Relaxed load and store, not an RMW: only the owner writes the count
    // (a signal handler that allocates on the owner's thread is counted as
    // lost, never here). The drainer's Relaxed reads see some recent value
    // each round; the final one through the slot's Release in `release`
    // (Acquire in `state()`), or the stop's ordering (`drain.rs`).
    count.store(count.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

/// [`Slot::waiting_since`]'s "not waiting" (no stamp reaches it: stamps have 56 bits).
pub const NOT_WAITING: u64 = u64::MAX;

impl Slot {
    /// The layout of a slot followed by its ring buffer of `capacity` events.
    /// Returns the layout and the buffer's offset in it.
    pub fn layout(capacity: usize) -> (Layout, usize) {
        Layout::new::<Slot>().extend(Ring::buffer_layout(capacity)).expect("ring capacity is bounded by Recorder")
    }

    /// Builds an [`OWNED`] slot in `mem`, which holds [`Slot::layout`]`(capacity)`.
    ///
    /// # Safety
    /// `mem` must be valid for writes of that layout, aligned to it, and
    /// never freed or reused while the slot is reachable (slots live forever
    /// once inserted into a registry). `capacity` must be a power of two.
    /// `os_tid` is the owner's OS thread id (0: unknown, never reclaimed).
    pub unsafe fn init(mem: NonNull<u8>, capacity: usize, index: u32, os_tid: u32) -> NonNull<Slot> {
        let (_, offset) = Slot::layout(capacity);
        // SAFETY: the caller provides `mem` with `Slot::layout(capacity)`, whose
        // buffer part starts at `offset`, aligned for the cells.
        let buf = unsafe { NonNull::new_unchecked(mem.as_ptr().add(offset)) };
        let slot = mem.cast::<Slot>();
        // SAFETY: `buf` holds `capacity` cells that only this ring will use.
        let ring = unsafe { Ring::new(buf, capacity) };
        let value = Slot {
            ring,
            word: AtomicU64::new(owned_word(0, os_tid)),
            thread: AtomicU32::new(0),
            dropped: AtomicU64::new(0),
            in_flight: CachePadded(AtomicU32::new(0)),
            waiting: AtomicU64::new(NOT_WAITING),
            room: AtomicU32::new(0),
            index,
            next: AtomicPtr::new(core::ptr::null_mut()),
            stacks: core::sync::atomic::AtomicPtr::new(core::ptr::null_mut()),
            totals: CachePadded(Totals {
                allocations: AtomicU64::new(0),
                deallocations: AtomicU64::new(0),
                reallocations: AtomicU64::new(0),
                allocated_bytes: AtomicU64::new(0),
                deallocated_bytes: AtomicU64::new(0),
                untracked_samples: AtomicU64::new(0),
            }),
        };
        // SAFETY: `mem` is valid and aligned for a `Slot` (the caller's contract).
        unsafe { slot.as_ptr().write(value) };
        slot
    }

    /// The slot's position in the registry.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The slot's state: [`FREE`], [`OWNED`] or [`EXITED`].
    pub fn state(&self) -> u8 {
        // Acquire: pairs with the Release stores in `release` (so every push
        // of the old owner is visible once EXITED is) and `recycle`.
        (self.word.load(Ordering::Acquire) & STATE_MASK) as u8
    }

    /// The OS thread id of an [`OWNED`] slot's owner, with the word to hand
    /// to [`Slot::reclaim`]; `None` when the slot is not owned or its
    /// owner's id is unknown.
    pub fn owner(&self) -> Option<(u32, u64)> {
        // Acquire: as in `state`; a word read here that a later owner has
        // replaced makes `reclaim`'s CAS fail.
        let word = self.word.load(Ordering::Acquire);
        let tid = (word >> TID_SHIFT) as u32;
        (word & STATE_MASK == u64::from(OWNED) && tid != 0).then_some((tid, word))
    }

    /// Marks an [`OWNED`] slot [`EXITED`] on behalf of an owner that is
    /// gone without releasing it; `word` comes from [`Slot::owner`]. Fails
    /// (false) if the slot changed since: released, recycled, claimed again.
    ///
    /// # Safety
    /// The owner read with `word` must never touch the slot again (its OS
    /// thread is gone: `tgkill` said ESRCH). Its last pushes are ordered
    /// before this call by the kernel's thread exit (the exit path takes
    /// locks the caller's `tgkill` takes too).
    pub unsafe fn reclaim(&self, word: u64) -> bool {
        let exited = (word & !STATE_MASK) | u64::from(EXITED);
        // AcqRel on success: Release pairs with the Acquire in `state()`, so
        // a drainer that sees EXITED also sees the dead owner's pushes and
        // counts, which happened before this call (above), even when the
        // caller is a registering thread, not the drainer.
        self.word.compare_exchange(word, exited, Ordering::AcqRel, Ordering::Relaxed).is_ok()
    }

    /// Owner: records the owner's thread id. Published by the next push or
    /// drop count.
    pub fn set_thread(&self, id: u32) {
        debug_assert_eq!(self.state_relaxed(), OWNED);
        // Relaxed: ordered before the drainer's reads by the Release store of
        // `tail` in the owner's next `push` (and the Acquire in `pop_into`),
        // or of the count in `add_dropped` (and the Acquire in `dropped()`).
        self.thread.store(id, Ordering::Relaxed);
    }

    /// The owner's thread id, as of the last events popped from the ring or
    /// the last drop count read.
    pub fn thread(&self) -> u32 {
        // Relaxed: see `set_thread`.
        self.thread.load(Ordering::Relaxed)
    }

    /// Owner: counts `n` lost events (dropped, given up, or made while the
    /// owner was already inside the recorder).
    pub fn add_dropped(&self, n: u64) {
        // An RMW although the owner is the only writer: a signal handler on
        // the owner's thread may count (a re-entrant allocator call) between
        // a load and a store of the interrupted count.
        // Release: pairs with the Acquire in `dropped()`, so a drainer that
        // sees the count also sees the owner's `set_thread` before it (a
        // batch holding only a Lost event is attributed to the right thread).
        self.dropped.fetch_add(n, Ordering::Release);
    }

    /// Owner: counts an allocation of `size` bytes (sampling recordings).
    #[inline(always)]
    pub fn count_allocation(&self, size: u64) {
        bump(&self.totals.0.allocations, 1);
        bump(&self.totals.0.allocated_bytes, size);
    }

    /// Owner: counts a deallocation of `size` bytes (sampling recordings).
    #[inline(always)]
    pub fn count_deallocation(&self, size: u64) {
        bump(&self.totals.0.deallocations, 1);
        bump(&self.totals.0.deallocated_bytes, size);
    }

    /// Owner: counts a reallocation from `old` to `new` bytes (sampling recordings).
    #[inline(always)]
    pub fn count_reallocation(&self, old: u64, new: u64) {
        bump(&self.totals.0.reallocations, 1);
        bump(&self.totals.0.allocated_bytes, new);
        bump(&self.totals.0.deallocated_bytes, old);
    }

    /// Owner: counts a sample the sampled-address set could not hold.
    pub fn count_untracked_sample(&self) {
        bump(&self.totals.0.untracked_samples, 1);
    }

    /// Drainer: the counts so far, in the order of a Totals record:
    /// allocations, deallocations, reallocations, allocated bytes,
    /// deallocated bytes, untracked samples.
    pub fn totals(&self) -> [u64; 6] {
        let t = &self.totals.0;
        // Relaxed: counts (see `bump`).
        [&t.allocations, &t.deallocations, &t.reallocations, &t.allocated_bytes, &t.deallocated_bytes, &t.untracked_samples]
            .map(|c| c.load(Ordering::Relaxed))
    }

    /// Events dropped by this slot's owners so far.
    pub fn dropped(&self) -> u64 {
        // Acquire: pairs with the Release store in `add_dropped`. After
        // `state()` returned EXITED the count is final, since the owner's last
        // store precedes its Release in `release`.
        self.dropped.load(Ordering::Acquire)
    }

    /// Owner: marks an event in flight; call before reading the clock for
    /// its timestamp, and [`Slot::end_event`] after pushing it (or giving
    /// it up). This is what makes the drainer's watermark exact
    /// (`drain::Drainer::round`).
    #[inline(always)]
    pub fn begin_event(&self) {
        // Relaxed: the store must be visible to a drainer whose clock reading
        // is later than ours; the drainer's heavy barrier after its clock
        // reading (`drain::heavy_barrier`, membarrier) provides that, paired
        // with this compiler fence that keeps the store before our clock
        // reading. Without membarrier, both sides fence (SeqCst fence here,
        // paired with the SeqCst fence in `heavy_barrier`).
        // Relaxed load: only this thread writes the count.
        self.in_flight.store(self.in_flight.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        if PRODUCER_FENCE.load(core::sync::atomic::Ordering::Relaxed) {
            core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
            // The fence (`mfence`) orders memory accesses, not `rdtsc`: with
            // the TSC as the clock, `lfence` keeps the reading after the
            // fence (FORMAT.md, "Round record"). A cold path: no membarrier.
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `lfence` exists on every x86-64 CPU and touches no memory.
            unsafe {
                core::arch::x86_64::_mm_lfence()
            };
        } else {
            core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
        }
    }

    /// Owner: the event marked by [`Slot::begin_event`] is pushed (or dropped and counted).
    #[inline(always)]
    pub fn end_event(&self) {
        // Release: pairs with the Acquire in `in_flight`: a drainer that reads
        // 0 also sees the push (the ring's tail store) before it.
        // (Relaxed load: only this thread writes the count.)
        let n = self.in_flight.load(Ordering::Relaxed);
        debug_assert!(n > 0);
        self.in_flight.store(n.wrapping_sub(1), Ordering::Release);
    }

    /// In a forked child (one thread, no owner of this copy runs): nothing
    /// is in flight.
    pub fn clear_in_flight_after_fork(&self) {
        // Relaxed: the child is single-threaded here.
        self.in_flight.store(0, Ordering::Relaxed);
        self.waiting.store(NOT_WAITING, Ordering::Relaxed);
    }

    /// Owner, about to wait for room in its full ring: publishes the stamp
    /// `ticks` of the event it waits to push, if that is its only event in
    /// flight (with two, a signal handler's inside a reallocation's call,
    /// the outer one is older and nothing is published). Every event the
    /// owner stamped before `ticks` is then pushed already, so a round
    /// that reads this may hold the watermark at `ticks` instead of at the
    /// last round that found the slot with nothing in flight, which for a
    /// thread the drainer keeps waiting is long past (`drain::Drainer::round`).
    pub fn publish_waiting(&self, ticks: u64) {
        // Relaxed load: only this thread writes the count.
        if self.in_flight.load(Ordering::Relaxed) == 1 {
            // Release: pairs with the Acquire in `waiting_since`: a drainer
            // that reads the stamp also sees every push before it.
            self.waiting.store(ticks, Ordering::Release);
        }
    }

    /// Owner, its ring full: sleeps until the drainer frees cells of the
    /// ring ([`Slot::wake_for_room`]) or `timeout` passes, unless `has_room`
    /// (a fresh look at the ring) finds room after the owner announced
    /// itself. A waiting producer that only spun or yielded stayed runnable
    /// and took CPU from the drainer it waited for (on the main job with
    /// five busy threads on two cores, most of the recording's time:
    /// benches/README.md, "Issue 10: the main job with call stacks").
    ///
    /// No wake-up is lost: the owner sets bit 0 of `room` and then looks at
    /// the ring; the drainer moves the ring's head and then looks at bit 0.
    /// The two SeqCst fences order each side's store before its load, so
    /// either the owner sees the freed cells, or the drainer sees the bit,
    /// changes the word and wakes the owner (whose futex wait returns at
    /// once if the word changed before it slept). Checked by loom
    /// (`loom-tests/tests/full.rs`, `sleep_for_room_*`: without either
    /// fence, a sleeper is never woken).
    pub fn sleep_for_room(&self, has_room: impl FnOnce() -> bool, timeout: core::time::Duration) {
        // Relaxed RMW: ordered before the look at the ring by the fence
        // below, which pairs with the drainer's fence in `wake_for_room`.
        let seen = self.room.fetch_or(1, Ordering::Relaxed) | 1;
        crate::sync::fence(Ordering::SeqCst);
        if has_room() {
            return;
        }
        super::futex::wait_while(&self.room, seen, timeout);
    }

    /// Drainer, having popped events of this slot's ring: wakes the owner
    /// if it sleeps for room ([`Slot::sleep_for_room`]). Costs a fence and
    /// a load when it does not.
    pub fn wake_for_room(&self) {
        // SeqCst: pairs with the owner's fence in `sleep_for_room`; orders
        // the ring's head store (the pop) before the load of the bit.
        crate::sync::fence(Ordering::SeqCst);
        // Relaxed: the fence above orders it.
        let v = self.room.load(Ordering::Relaxed);
        if v & 1 != 0 {
            // Relaxed: the futex compares the value; a new count with bit 0
            // clear makes a wait that has not begun return at once.
            self.room.store((v | 1).wrapping_add(1), Ordering::Relaxed);
            super::futex::wake_one(&self.room);
        }
    }

    /// Owner, done waiting (pushed, or gave up and counted the loss).
    pub fn clear_waiting(&self) {
        // Relaxed: a drainer that still reads the old stamp is still right:
        // every event stamped before it was pushed before it was published.
        self.waiting.store(NOT_WAITING, Ordering::Relaxed);
    }

    /// Drainer: the stamp published by [`Slot::publish_waiting`] (raw
    /// clock ticks since the epoch), or `None`. Any stamp read, even one
    /// whose wait has ended since, bounds the owner's unpushed events from
    /// below: they were all stamped at or after it.
    pub fn waiting_since(&self) -> Option<u64> {
        // Acquire: pairs with the Release store in `publish_waiting`.
        let t = self.waiting.load(Ordering::Acquire);
        (t != NOT_WAITING).then_some(t)
    }

    /// Drainer: whether the owner has an event in flight (see [`Slot::begin_event`]).
    pub fn in_flight(&self) -> bool {
        // Acquire: pairs with the Release store in `end_event`.
        self.in_flight.load(Ordering::Acquire) != 0
    }

    /// Owner: gives the slot up, for the drainer to empty and recycle.
    ///
    /// # Safety
    /// Only the slot's owner may call this, once per claim, and it must
    /// not touch the slot (push, count, release) afterwards.
    pub unsafe fn release(&self) {
        // Relaxed: only the owner and a reclaim (which needs the owner gone)
        // change an OWNED word.
        let word = self.word.load(Ordering::Relaxed);
        debug_assert_eq!((word & STATE_MASK) as u8, OWNED);
        // Release: pairs with the Acquire in `state()`: the drainer that sees
        // EXITED also sees every event and count the owner wrote.
        self.word.store((word & !STATE_MASK) | u64::from(EXITED), Ordering::Release);
    }

    /// Drainer: returns an [`EXITED`] slot whose ring it has emptied to [`FREE`].
    ///
    /// # Safety
    /// Only the rings' one consumer (the drainer) may call this, on a slot
    /// it saw [`EXITED`] (with [`Slot::state`], before emptying its ring),
    /// once: the next claim makes a new producer of the ring.
    pub unsafe fn recycle(&self) {
        // Relaxed: no one else changes an EXITED word.
        let word = self.word.load(Ordering::Relaxed);
        debug_assert_eq!((word & STATE_MASK) as u8, EXITED);
        debug_assert!(self.ring.is_empty());
        // Release: pairs with the Acquire CAS in `Registry::claim`: our pops
        // (head stores) happen before the next owner's pushes. The
        // generation is kept, the owner's id cleared.
        self.word.store((word & !((1 << GEN_SHIFT) - 1)) | u64::from(FREE), Ordering::Release);
    }

    fn state_relaxed(&self) -> u8 {
        // Relaxed: for debug assertions by the owner.
        (self.word.load(Ordering::Relaxed) & STATE_MASK) as u8
    }
}

/// The list of all slots.
#[derive(Debug)]
pub struct Registry {
    /// The most recently added slot, or null.
    head: AtomicPtr<Slot>,
    /// Slots added so far; the next slot's index.
    count: AtomicU32,
}

impl Registry {
    /// An empty registry.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Registry { head: AtomicPtr::new(core::ptr::null_mut()), count: AtomicU32::new(0) }
    }

    /// An empty registry.
    #[cfg(loom)]
    pub fn new() -> Self {
        Registry { head: AtomicPtr::new(core::ptr::null_mut()), count: AtomicU32::new(0) }
    }

    /// Claims a [`FREE`] slot for the calling thread, which becomes its
    /// producer; `os_tid` is its OS thread id (0: unknown, never reclaimed).
    pub fn claim(&self, os_tid: u32) -> Option<&Slot> {
        self.iter()
            .find(|slot| {
                // Relaxed: the CAS below checks and synchronises.
                let word = slot.word.load(Ordering::Relaxed);
                // Acquire on success: pairs with the Release store in `recycle`,
                // so the drainer's last pops happen before our first push.
                word & STATE_MASK == u64::from(FREE)
                    && slot.word.compare_exchange(word, owned_word(word, os_tid), Ordering::Acquire, Ordering::Relaxed).is_ok()
            })
            .inspect(|slot| {
                // The new owner starts with nothing in flight, whatever a
                // previous owner left (one copied into a forked child mid-event).
                // Relaxed: only the owner writes it; a drainer that reads an old
                // value lowers one round's watermark, never raises it.
                slot.in_flight.store(0, Ordering::Relaxed);
                slot.clear_waiting();
            })
    }

    /// Reserves the index for a slot about to be built with [`Slot::init`].
    pub fn next_index(&self) -> u32 {
        // Relaxed: only uniqueness matters; the slot is published by `insert`.
        self.count.fetch_add(1, Ordering::Relaxed)
    }

    /// The number of slots ever added (slots are never removed).
    pub fn len(&self) -> u32 {
        // Relaxed: a count; the slots themselves are published by `insert`.
        self.count.load(Ordering::Relaxed)
    }

    /// Publishes a slot built by [`Slot::init`]; the caller owns it.
    ///
    /// # Safety
    /// `slot` must come from [`Slot::init`], not be in any registry yet, and
    /// stay valid for as long as this registry is used.
    pub unsafe fn insert(&self, slot: NonNull<Slot>) -> &Slot {
        // SAFETY: valid per the caller's contract; not yet shared.
        let s = unsafe { slot.as_ref() };
        // Relaxed: the CAS below re-checks; the Release on success publishes.
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // Relaxed: published by the Release CAS below.
            s.next.store(head, Ordering::Relaxed);
            // Release on success: pairs with the Acquire loads in `iter`, so a
            // walker that finds the slot sees it fully initialised.
            match self.head.compare_exchange_weak(head, slot.as_ptr(), Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return s,
                Err(now) => head = now,
            }
        }
    }

    /// Marks [`EXITED`] every [`OWNED`] slot whose owner's OS thread is
    /// gone by `alive` (a thread that exited without releasing its slot),
    /// so the drainer empties and recycles it. Returns how many.
    ///
    /// # Safety
    /// `alive(tid)` may return false only for a thread that will never run
    /// again (see [`Slot::reclaim`]).
    pub unsafe fn reclaim_dead(&self, alive: impl Fn(u32) -> bool) -> usize {
        let mut n = 0;
        for slot in self.iter() {
            if let Some((tid, word)) = slot.owner() {
                // SAFETY: `alive` said the owner read with `word` is gone for
                // good (the caller's contract).
                if !alive(tid) && unsafe { slot.reclaim(word) } {
                    n += 1;
                }
            }
        }
        n
    }

    /// Claims a [`FREE`] slot; if there is none, first reclaims the slots of
    /// threads that are gone (see [`Registry::reclaim_dead`]), then, while
    /// some slot is [`EXITED`] (its last events not yet drained), calls
    /// `wait(tries)` and tries again: `wait` wakes the drainer and yields,
    /// and returns false to give up. `None`: the caller may add a slot.
    ///
    /// # Safety
    /// As for [`Registry::reclaim_dead`].
    pub unsafe fn claim_or_wait(&self, os_tid: u32, alive: impl Fn(u32) -> bool, mut wait: impl FnMut(u32) -> bool) -> Option<&Slot> {
        let mut tries = 0u32;
        loop {
            if let Some(slot) = self.claim(os_tid) {
                return Some(slot);
            }
            if tries == 0 {
                // SAFETY: the caller's contract.
                unsafe { self.reclaim_dead(&alive) };
            }
            if !self.iter().any(|s| s.state() == EXITED) || !wait(tries) {
                return None;
            }
            tries = tries.wrapping_add(1);
        }
    }

    /// Drainer: one pass over the slots, as a drain round makes it. For each
    /// slot not [`FREE`]: reads its state, then its drop count (Acquire: the
    /// owner's thread id is then visible even for a batch holding only a
    /// Lost event), then calls `drain(slot, dropped)`, which empties the
    /// ring; then recycles the slot if it was [`EXITED`] before `drain`
    /// (an owner that exits during `drain` is recycled next pass, once its
    /// last events are popped).
    ///
    /// # Safety
    /// Only the rings' one consumer may call this, and `drain` must empty
    /// the slot's ring (pop until it finds it empty).
    pub unsafe fn drain_pass(&self, mut drain: impl FnMut(&Slot, u8, u64)) {
        for slot in self.iter() {
            let state = slot.state();
            if state == FREE {
                continue;
            }
            let dropped = slot.dropped();
            drain(slot, state, dropped);
            if state == EXITED {
                // SAFETY: the caller is the only consumer, which saw the slot
                // EXITED before `drain` emptied its ring.
                unsafe { slot.recycle() };
            }
        }
    }

    /// Walks every slot, newest first.
    pub fn iter(&self) -> impl Iterator<Item = &Slot> {
        // Acquire: pairs with the Release CAS in `insert`.
        let mut next = self.head.load(Ordering::Acquire);
        core::iter::from_fn(move || {
            // SAFETY: non-null pointers in the list come from `insert`, whose
            // contract keeps them valid while the registry is used.
            let slot = unsafe { next.as_ref()? };
            // Relaxed: `next` was stored before the Release CAS that published
            // `slot`, and that CAS continues the release sequence of the CAS
            // that published the successor, so the Acquire load of `head`
            // above already orders every slot down the list.
            next = slot.next.load(Ordering::Relaxed);
            Some(slot)
        })
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::format::RawEvent;
    use std::sync::atomic::AtomicBool;
    use std::time::{Duration, Instant};

    /// A slot of `capacity` cells that lives for the rest of the test run.
    fn leaked_slot(capacity: usize) -> &'static Slot {
        let (layout, _) = Slot::layout(capacity);
        // SAFETY: the layout has a non-zero size.
        let mem = NonNull::new(unsafe { std::alloc::alloc(layout) }).expect("memory for a slot");
        // SAFETY: `mem` holds the slot's layout and is never freed; the capacity is a power of two.
        unsafe { &*Slot::init(mem, capacity, 0, 0).as_ptr() }
    }

    /// CPU time of the calling thread, ns.
    fn thread_cpu_ns() -> u64 {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid, writable timespec.
        assert_eq!(unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) }, 0);
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }

    /// A producer sleeping for room uses no CPU meanwhile, and wakes when the
    /// drainer pops from its ring, not at its timeout.
    #[test]
    fn a_producer_sleeps_for_room_and_wakes_when_its_ring_is_popped() {
        let slot = leaked_slot(64);
        let slept = AtomicBool::new(false);
        std::thread::scope(|s| {
            let producer = s.spawn(|| {
                // SAFETY: this thread is the ring's only producer.
                while unsafe { slot.ring.push(RawEvent::lost(1, 1)) } {}
                let (cpu, wall) = (thread_cpu_ns(), Instant::now());
                // SAFETY: as above.
                let has_room = || unsafe { slot.ring.refresh_len() } < slot.ring.capacity();
                // As `policy::backoff`'s callers: a futex wait may return early.
                while !has_room() {
                    slot.sleep_for_room(has_room, Duration::from_secs(60));
                }
                slept.store(true, Ordering::Relaxed);
                (thread_cpu_ns() - cpu, wall.elapsed())
            });
            // The producer announced itself; give it time to fall asleep.
            while slot.room.load(Ordering::Relaxed) & 1 == 0 {
                std::thread::yield_now();
            }
            std::thread::sleep(Duration::from_millis(200));
            assert!(!slept.load(Ordering::Relaxed), "woke without room");
            let mut out = Vec::new();
            // SAFETY: this thread is the ring's only consumer.
            assert_eq!(unsafe { slot.ring.pop_into(&mut out, 8) }, 8);
            slot.wake_for_room();
            let (cpu, wall) = producer.join().unwrap();
            assert!(wall >= Duration::from_millis(200) && wall < Duration::from_secs(30), "slept {wall:?}");
            // A yielding or spinning producer used most of the 200 ms.
            assert!(cpu < 50_000_000, "the sleeping producer used {cpu} ns of CPU in {wall:?}");
        });
    }

    /// No wake-up is lost when the pop races with the producer's decision to
    /// sleep: 2,000 hand-offs, each sleep with a 60 s timeout, finish in
    /// seconds.
    #[test]
    fn no_wake_up_is_lost() {
        let slot = leaked_slot(64);
        let started = Instant::now();
        let done = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..2000 {
                    // SAFETY: this thread is the ring's only producer.
                    while unsafe { slot.ring.push(RawEvent::lost(1, 1)) } {}
                    // SAFETY: as above.
                    let has_room = || unsafe { slot.ring.refresh_len() } < slot.ring.capacity();
                    while !has_room() {
                        slot.sleep_for_room(has_room, Duration::from_secs(60));
                    }
                }
                done.store(true, Ordering::Relaxed);
            });
            let mut out = Vec::new();
            let mut i = 0;
            while !done.load(Ordering::Relaxed) {
                out.clear();
                i += 1;
                // SAFETY: this thread is the ring's only consumer.
                if unsafe { slot.ring.pop_into(&mut out, 1 + i % 7) } > 0 {
                    slot.wake_for_room();
                }
            }
        });
        assert!(started.elapsed() < Duration::from_secs(50), "a wake-up was lost: {:?}", started.elapsed());
    }
}
