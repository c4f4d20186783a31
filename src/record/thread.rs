//! Per-thread glue between the allocator and the registry: the thread-local
//! state, registration on a thread's first event, the exit hook, and the few
//! OS calls the record side makes (clock, futex, thread id and name, atexit).
//!
//! Rules for everything reachable from [`record`] (the allocator hot path):
//! - no allocation through the global allocator: slots come from the inner
//!   allocator, and the re-entrancy guard (`Local::busy`) makes any nested
//!   call (ours or the OS's) forward to the inner allocator unrecorded;
//! - no lock, and no syscall except on cold paths: registration (once per
//!   thread), waking the drainer (when a ring is half full and no wake-up is
//!   pending), and waiting for it when a ring is full under `OnFull::Block`;
//! - no unwinding: nothing here panics (unwinding out of `GlobalAlloc` is UB);
//! - `thread_local!` state is const-initialised and has no `Drop`, so it is
//!   usable at any point of thread teardown; thread exit is detected with a
//!   pthread key destructor, which on glibc runs after Rust's TLS
//!   destructors (`__call_tls_dtors` before `__nptl_deallocate_tsd`).

use super::registry::{Registry, Slot, EXITED};
use crate::format::{OnFull, RawEvent};
use crate::sync::{AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use core::cell::Cell;
use core::ptr::{self, NonNull};
use std::alloc::GlobalAlloc;
use std::time::Duration;

/// Every thread's slot, for the life of the process.
pub(crate) static REGISTRY: Registry = Registry::new();

/// Read on every event, written only when a recording starts or stops;
/// kept on its own cache line so that the hot path never shares a line
/// that anything writes per event.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct Control {
    /// Id of the running recording, or 0 when none is running.
    pub(crate) session: AtomicU32,
    /// `CLOCK_MONOTONIC` at the start of the running recording, in ns.
    pub(crate) epoch_ns: AtomicU64,
    /// The running recording's `OnFull`, as 0 (Block) or 1 (Drop).
    pub(crate) on_full: AtomicU8,
    /// Capacity of rings created from now on, in events (a power of two).
    pub(crate) ring_capacity: AtomicUsize,
    /// Whether allocations carry call stacks: 1 (frame-pointer walk) or 0.
    pub(crate) stacks: AtomicU8,
}

/// Written by producers only on cold paths.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct Shared {
    /// The drainer's futex word: 1 when a wake-up is pending.
    pub(crate) wake: AtomicU32,
    /// Events lost because no slot could be allocated for their thread, or
    /// made by a thread without a slot while it was inside the recorder.
    pub(crate) unregistered_lost: AtomicU64,
    /// Producers waiting for room under `OnFull::Block` (they may still
    /// count an event as lost), plus [`CLOSED`] once the stopping drainer
    /// has closed the recording's count: see [`begin_wait`].
    pub(crate) waiting: AtomicU32,
    /// The next recorder thread id to hand out (ids start at 1).
    next_thread_id: AtomicU32,
}

pub(crate) static CONTROL: Control = Control {
    session: AtomicU32::new(0),
    epoch_ns: AtomicU64::new(0),
    on_full: AtomicU8::new(0),
    ring_capacity: AtomicUsize::new(crate::record::DEFAULT_RING_CAPACITY),
    stacks: AtomicU8::new(1),
};

pub(crate) static SHARED: Shared =
    Shared { wake: AtomicU32::new(0), unregistered_lost: AtomicU64::new(0), waiting: AtomicU32::new(0), next_thread_id: AtomicU32::new(1) };

/// `Shared::waiting`: the stopping drainer has taken its last count.
pub(crate) const CLOSED: u32 = 1 << 31;

/// This thread's recorder state. Const-initialised, no `Drop`.
struct Local {
    /// The re-entrancy guard: [`OUTSIDE`], [`RECORDING`] while the thread is
    /// inside the hot path or the exit hook, [`IGNORED`] while it does the
    /// recorder's own work (and forever on the drainer thread). A call made
    /// while RECORDING (a signal handler that allocates) is not recorded but
    /// counted as lost; one made while IGNORED is the recorder's own.
    busy: Cell<u8>,
    /// The slot this thread owns, or null. Non-null implies the slot is OWNED by us.
    slot: Cell<*const Slot>,
    /// The OS thread id (`gettid`), or 0 before its first registration.
    os_tid: Cell<u32>,
    /// The recording for which this thread has pushed its ThreadExit (one
    /// per thread, however often late destructors bring it back).
    exit_session: Cell<u32>,
    /// The recording for which this thread has pushed its ThreadStart.
    session: Cell<u32>,
    /// This thread's recorder id, or 0 before its first event.
    thread_id: Cell<u32>,
    /// Set by the exit hook; a later event re-enters through `enter`.
    exited: Cell<bool>,
    /// The thread's stack, `[low, high)`, for the frame-pointer walk; set
    /// at its first registration (`high` 0 before).
    stack_low: Cell<usize>,
    stack_high: Cell<usize>,
}

/// `Local::busy`: not inside the recorder.
const OUTSIDE: u8 = 0;
/// `Local::busy`: inside the hot path or the exit hook.
const RECORDING: u8 = 1;
/// `Local::busy`: doing the recorder's own work; never recorded.
const IGNORED: u8 = 2;

thread_local! {
    static LOCAL: Local = const {
        Local {
            busy: Cell::new(OUTSIDE),
            slot: Cell::new(ptr::null()),
            os_tid: Cell::new(0),
            exit_session: Cell::new(0),
            session: Cell::new(0),
            thread_id: Cell::new(0),
            exited: Cell::new(false),
            stack_low: Cell::new(0),
            stack_high: Cell::new(0),
        }
    };
}

/// Reads `CLOCK_MONOTONIC` in nanoseconds (through the vDSO: no syscall).
#[inline(always)]
pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC exists on
    // every Linux, so the call cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64)
}

/// Nanoseconds since the running recording's epoch.
#[inline(always)]
pub(crate) fn now_ns() -> u64 {
    // Relaxed: published before `session` by the Release store in
    // the drainer thread at start (see `Recorder::start`), which the caller's
    // Acquire load of `session` pairs with.
    monotonic_ns().saturating_sub(CONTROL.epoch_ns.load(Ordering::Relaxed))
}

/// A timestamp taken for an event that the same thread pushes after a call
/// (a reallocation is stamped before its call, pushed after it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamp {
    /// The recording the stamp belongs to.
    session: u32,
    /// Nanoseconds since that recording's epoch.
    pub(crate) ts_ns: u64,
}

/// Registers the calling thread if it has no ring in this recording yet,
/// then takes a timestamp; `None` when nothing is recorded now. Registering
/// first keeps a thread's first event from being stamped before its
/// ThreadStart (registration can wait for a ring to be recycled).
#[inline(always)]
pub(crate) fn stamp<A: GlobalAlloc>(inner: &A) -> Option<Stamp> {
    // Acquire: pairs with the drainer's Release store of `session` at start,
    // so the epoch and the policy of this recording are visible.
    let session = CONTROL.session.load(Ordering::Acquire);
    if session == 0 {
        return None;
    }
    stamp_in(inner, session)
}

/// The body of [`stamp`], out of line for the same reason as `record_in`.
#[inline(never)]
fn stamp_in<A: GlobalAlloc>(inner: &A, session: u32) -> Option<Stamp> {
    LOCAL
        .try_with(|l| {
            if l.busy.get() != OUTSIDE {
                reentered(l, 1);
                return None;
            }
            l.busy.set(RECORDING);
            let ready = (l.session.get() == session && !l.slot.get().is_null()) || enter(l, inner, session).is_some();
            let stamp = ready.then(|| Stamp { session, ts_ns: now_ns() });
            l.busy.set(OUTSIDE);
            stamp
        })
        .ok()
        .flatten()
}

/// Pushes a reallocation stamped by [`stamp`], unless that recording has
/// stopped since (the event then belongs to no recording). With call stacks
/// on, a StackNext event carrying the stack goes first, and the two are
/// pushed together or not at all.
#[inline(always)]
pub(crate) fn record_stamped<A: GlobalAlloc>(inner: &A, stamp: Stamp, event: RawEvent) {
    // Acquire: as in `stamp`.
    if CONTROL.session.load(Ordering::Acquire) != stamp.session {
        return;
    }
    let _ = LOCAL.try_with(|l| {
        if l.busy.get() != OUTSIDE {
            reentered(l, 1);
            return;
        }
        l.busy.set(RECORDING);
        let slot = l.slot.get();
        if l.session.get() == stamp.session && !slot.is_null() {
            // SAFETY: a non-null `slot` is OWNED by this thread (see `Local::slot`).
            let slot = unsafe { &*slot };
            // Relaxed: set with `session`, published by the Acquire above.
            if CONTROL.stacks.load(Ordering::Relaxed) != 0 {
                // SAFETY: this thread owns `slot`.
                let stack = unsafe { super::stack::capture(slot, inner, (l.stack_low.get(), l.stack_high.get())) };
                let pair = [RawEvent::stack_next(stamp.ts_ns, stack), event];
                if wait_for_room(slot, 2, 1, stamp.session, false) {
                    push(slot, pair[0], stamp.session);
                    push(slot, pair[1], stamp.session);
                }
            } else {
                push(slot, event, stamp.session);
            }
        }
        l.busy.set(OUTSIDE);
    });
}

/// Records one event from the allocator: `make` receives the timestamp
/// (nanoseconds since the epoch) and the call stack's id in the slot's
/// stack table (0 unless `with_stack` and stacks are on) and builds the event.
#[inline(always)]
pub(crate) fn record<A: GlobalAlloc>(inner: &A, with_stack: bool, make: impl FnOnce(u64, u32) -> RawEvent) {
    // Acquire: pairs with the drainer's Release store of `session` at start,
    // so the epoch and the policy of this recording are visible.
    let session = CONTROL.session.load(Ordering::Acquire);
    if session == 0 {
        return;
    }
    record_in(inner, session, with_stack, make);
}

/// The body of [`record`], kept out of line so that, with no recording
/// running, an allocator call costs one load and one branch on top of `A`
/// (inlined, this body made every call save and restore registers).
#[inline(never)]
fn record_in<A: GlobalAlloc>(inner: &A, session: u32, with_stack: bool, make: impl FnOnce(u64, u32) -> RawEvent) {
    let _ = LOCAL.try_with(|l| {
        if l.busy.get() != OUTSIDE {
            reentered(l, 1);
            return;
        }
        l.busy.set(RECORDING);
        let slot = l.slot.get();
        let slot = if l.session.get() == session && !slot.is_null() {
            // SAFETY: a non-null `slot` is OWNED by this thread (see `Local::slot`);
            // slots live for the whole process.
            Some(unsafe { &*slot })
        } else {
            enter(l, inner, session)
        };
        if let Some(slot) = slot {
            // Relaxed: set with `session`, published by the caller's Acquire.
            let stack = if with_stack && CONTROL.stacks.load(Ordering::Relaxed) != 0 {
                // SAFETY: this thread owns `slot`.
                unsafe { super::stack::capture(slot, inner, (l.stack_low.get(), l.stack_high.get())) }
            } else {
                0
            };
            push(slot, make(now_ns(), stack), session);
        }
        l.busy.set(OUTSIDE);
    });
}

/// An allocator call or tracking group made while this thread is already
/// inside the recorder: a signal handler interrupted the hot path (or the
/// exit hook) and called the allocator. Pushing from here could corrupt the
/// ring the interrupted code is writing (it is single-producer), so the `n`
/// events are counted as lost instead: in the thread's slot, which the
/// drainer reports as a Lost event of this thread, or with no slot yet in
/// the count of threads without one. Calls made while the thread does the
/// recorder's own work (`ignored`, the drainer) are not counted.
#[cold]
#[inline(never)]
fn reentered(l: &Local, n: u64) {
    if l.busy.get() != RECORDING {
        return;
    }
    let slot = l.slot.get();
    if slot.is_null() {
        // Relaxed: a count, read by the drainer.
        SHARED.unregistered_lost.fetch_add(n, Ordering::Relaxed);
    } else {
        // SAFETY: a non-null `slot` is OWNED by this thread (see `Local::slot`),
        // and `add_dropped` is an RMW, so counting from a signal handler that
        // interrupted another count of the same slot loses neither.
        unsafe { &*slot }.add_dropped(n);
    }
}

/// The most events one call of [`record_group`] pushes.
pub(crate) const MAX_GROUP: usize = 24;

/// Events from the tracking API (`track_var!`, scopes, `ffi`), pushed
/// together: the first event and the ones that belong to it.
#[derive(Debug)]
pub(crate) struct Group {
    events: [RawEvent; MAX_GROUP],
    len: usize,
}

impl Group {
    pub(crate) const fn new() -> Self {
        Group { events: [RawEvent { head: 0, a: 0, b: 0, c: 0 }; MAX_GROUP], len: 0 }
    }

    /// Adds an event of `kind` with its operands; the timestamp is set when
    /// the group is recorded. Returns false (adding nothing) when full.
    pub(crate) fn add(&mut self, kind: u8, a: u64, b: u64, c: u64) -> bool {
        let Some(e) = self.events.get_mut(self.len) else { return false };
        *e = RawEvent::with_kind(kind, 0, a, b, c);
        self.len += 1;
        true
    }
}

/// Records a group of tracking events with one timestamp, all or none:
/// under `OnFull::Drop` a group that does not fit in the ring is dropped
/// whole and counted, so that no event is attached to the wrong variable.
/// Returns the recording's id when the group was pushed, else 0. With
/// `only` nonzero, the group goes only to that recording (a scope's exit
/// goes where its entry went).
///
/// Called from user code, not from the allocator; a thread with no ring in
/// this recording yet gets one from the system allocator (a cold path that
/// allocates and makes syscalls, once per thread, as for an allocator call).
pub(crate) fn record_group(group: &mut Group, only: u32) -> u32 {
    // Acquire: as in `record`.
    let session = CONTROL.session.load(Ordering::Acquire);
    if session == 0 || group.len == 0 || (only != 0 && session != only) {
        return 0;
    }
    LOCAL
        .try_with(|l| {
            if l.busy.get() != OUTSIDE {
                reentered(l, group.len as u64);
                return 0;
            }
            l.busy.set(RECORDING);
            let slot = l.slot.get();
            let slot = if l.session.get() == session && !slot.is_null() {
                // SAFETY: a non-null `slot` is OWNED by this thread (see `Local::slot`).
                Some(unsafe { &*slot })
            } else {
                enter(l, &std::alloc::System, session)
            };
            let pushed = match slot {
                Some(slot) => {
                    let ts = now_ns();
                    let events = &mut group.events[..group.len];
                    for e in events.iter_mut() {
                        *e = RawEvent::with_kind(e.kind(), ts, e.a, e.b, e.c);
                    }
                    push_group(slot, events, session)
                }
                None => false,
            };
            l.busy.set(OUTSIDE);
            if pushed {
                session
            } else {
                0
            }
        })
        .unwrap_or(0)
}

/// Pushes `events` onto `slot`'s ring once it has room for all of them;
/// see [`record_group`]. A scope exit waits for room even under
/// `OnFull::Drop` (as ThreadStart and ThreadExit do): a dropped exit would
/// leave its scope open for the rest of the thread.
fn push_group(slot: &Slot, events: &[RawEvent], session: u32) -> bool {
    let wait = events.first().is_some_and(|e| e.kind() == crate::format::event::KIND_SCOPE_EXIT);
    if !wait_for_room(slot, events.len(), events.len() as u64, session, wait) {
        return false;
    }
    for &e in events {
        // Cannot fail: the room is there, and only this thread pushes.
        push(slot, e, session);
    }
    true
}

/// Waits until `slot`'s ring has room for `n` events. Gives up (false),
/// counting `lost` events, at once under `OnFull::Drop` unless `wait`, and
/// when the recording stops (see [`begin_wait`]).
fn wait_for_room(slot: &Slot, n: usize, lost: u64, session: u32, wait: bool) -> bool {
    const _: () = assert!(MAX_GROUP <= crate::record::MIN_RING_CAPACITY, "a group always fits in an empty ring");
    let cap = slot.ring.capacity();
    // SAFETY: the caller owns `slot`, so this thread is the ring's only producer.
    let room = |slot: &Slot| unsafe { cap - slot.ring.len_upper_bound() >= n || cap - slot.ring.refresh_len() >= n };
    if room(slot) {
        return true;
    }
    // Relaxed: set with `session`, published by the caller's Acquire.
    if !wait && CONTROL.on_full.load(Ordering::Relaxed) == on_full_code(OnFull::Drop) {
        slot.add_dropped(lost);
        return false;
    }
    if !begin_wait() {
        return false;
    }
    let mut spins = 0u32;
    loop {
        if room(slot) {
            end_wait();
            return true;
        }
        // Relaxed: as in `push_full`: we only need to notice a stop eventually.
        if CONTROL.session.load(Ordering::Relaxed) != session {
            slot.add_dropped(lost);
            end_wait();
            return false;
        }
        if spins % 64 == 0 {
            wake_drainer();
        }
        spins = spins.wrapping_add(1);
        if spins < 64 {
            core::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

/// Pushes `event` onto `slot`'s ring, applying the full-ring policy and
/// waking the drainer at the high-water mark (half the ring).
#[inline(always)]
fn push(slot: &Slot, event: RawEvent, session: u32) {
    // SAFETY: the caller owns `slot` (claimed by this thread and not yet
    // released), so this thread is the ring's only producer.
    unsafe {
        if !slot.ring.push(event) {
            push_full(slot, event, session, false);
        } else if slot.ring.len_upper_bound() >= slot.ring.capacity() / 2 && slot.ring.refresh_len() >= slot.ring.capacity() / 2 {
            wake_drainer();
        }
    }
}

/// Pushes a ThreadStart or ThreadExit: these wait for room even under
/// `OnFull::Drop` (twice per thread), so replay always knows the threads.
fn push_structural(slot: &Slot, event: RawEvent, session: u32) {
    // SAFETY: as in `push`: the caller owns `slot`.
    if !unsafe { slot.ring.push(event) } {
        push_full(slot, event, session, true);
    }
}

/// A full ring: drop and count the event (`OnFull::Drop`, unless `wait`),
/// or wait for the drainer to make room (`OnFull::Block`), giving up and
/// counting the event if the recording stops meanwhile (see [`begin_wait`]).
#[cold]
#[inline(never)]
fn push_full(slot: &Slot, event: RawEvent, session: u32, wait: bool) {
    // Relaxed: set with `session`, published by the caller's Acquire.
    if !wait && CONTROL.on_full.load(Ordering::Relaxed) == on_full_code(OnFull::Drop) {
        slot.add_dropped(1);
        return;
    }
    if !begin_wait() {
        return;
    }
    wake_drainer();
    let mut spins = 0u32;
    loop {
        // SAFETY: as in `push`: this thread owns the slot.
        if unsafe { slot.ring.push(event) } {
            end_wait();
            return;
        }
        // Relaxed: a stop or a failed drainer zeroes `session`; we only need
        // to notice eventually, and then give up waiting.
        if CONTROL.session.load(Ordering::Relaxed) != session {
            slot.add_dropped(1);
            end_wait();
            return;
        }
        spins = spins.saturating_add(1);
        if spins < 64 {
            core::hint::spin_loop();
        } else {
            if spins % 64 == 0 {
                wake_drainer();
            }
            std::thread::yield_now();
        }
    }
}

/// A producer starts waiting for room in its ring. Returns false, and the
/// producer must neither push nor count its event, once the stopping drainer
/// has closed the recording's count ([`close_count`]): the stop came first,
/// so the event belongs to no recording. Otherwise the drainer waits for the
/// matching [`end_wait`] before its last count, so an event this wait gives
/// up on is in the End record and the `Summary`.
///
/// A shared RMW, but only on a full ring (already a spin-and-yield path).
fn begin_wait() -> bool {
    // Relaxed: all accesses to `waiting` are RMWs but the drainer's loads, so
    // its modification order alone decides whether this wait began before
    // the `fetch_or` in `close_count` (and is waited for) or after (and sees
    // CLOSED).
    if SHARED.waiting.fetch_add(1, Ordering::Relaxed) & CLOSED == 0 {
        return true;
    }
    end_wait();
    false
}

/// Ends a wait begun by a successful [`begin_wait`], after its last push or count.
fn end_wait() {
    // Release: pairs with the drainer's Acquire load in `waiters`, so the
    // push or the drop count made before this is visible to its last round.
    SHARED.waiting.fetch_sub(1, Ordering::Release);
}

/// Drainer, stopping (the session is already zeroed): closes the
/// recording's count of lost events; producers that begin waiting from now
/// on count nothing ([`begin_wait`]).
pub(crate) fn close_count() {
    // Relaxed: see `begin_wait`; the drainer then waits with `waiters`.
    SHARED.waiting.fetch_or(CLOSED, Ordering::Relaxed);
}

/// Drainer, at start: reopens the count closed by the previous recording.
pub(crate) fn open_count() {
    // Relaxed: published to producers by the Release store of `session`.
    SHARED.waiting.fetch_and(!CLOSED, Ordering::Relaxed);
}

/// Drainer: how many producers are still in a wait begun before the count was closed.
pub(crate) fn waiters() -> u32 {
    // Acquire: pairs with the Release `fetch_sub` in `end_wait`.
    SHARED.waiting.load(Ordering::Acquire) & !CLOSED
}

pub(crate) const fn on_full_code(p: OnFull) -> u8 {
    match p {
        OnFull::Block => 0,
        OnFull::Drop => 1,
    }
}

/// Wakes the drainer unless a wake-up is already pending.
#[cold]
pub(crate) fn wake_drainer() {
    // The Relaxed load keeps producers from writing the shared line while a
    // wake-up is already pending (a stale 1 delays the drainer by at most
    // one interval; `push_full` wakes it again every 64 spins).
    // AcqRel swap: pairs with the drainer's swap in `wait_for_wake`: either it
    // sees our 1 (and our pushes), or we see its 0 and issue the futex wake.
    if SHARED.wake.load(Ordering::Relaxed) == 0 && SHARED.wake.swap(1, Ordering::AcqRel) == 0 {
        // SAFETY: FUTEX_WAKE on a valid, aligned u32 that lives forever.
        unsafe {
            libc::syscall(libc::SYS_futex, SHARED.wake.as_ptr(), libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, 1);
        }
    }
}

/// Drainer: clears the pending wake-up; if there was none, sleeps until a
/// producer wakes it or `timeout` passes.
pub(crate) fn wait_for_wake(timeout: Duration) {
    // AcqRel: see `wake_drainer`.
    if SHARED.wake.swap(0, Ordering::AcqRel) != 0 {
        return;
    }
    let ts = libc::timespec { tv_sec: timeout.as_secs() as libc::time_t, tv_nsec: timeout.subsec_nanos() as libc::c_long };
    // SAFETY: FUTEX_WAIT on a valid, aligned u32 that lives forever, with a
    // valid relative timeout; it returns at once if the word is not 0.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            SHARED.wake.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            0u32,
            &ts as *const libc::timespec,
        );
    }
}

/// Cold path of a thread's first event in a recording: claims or creates its
/// slot, arms the exit hook and pushes ThreadStart.
///
/// A thread whose exit hook already ran (a later destructor allocated) gets a
/// slot again without a second ThreadStart, and the hook is re-armed: glibc
/// runs key destructors again while any key holds a value (up to
/// `PTHREAD_DESTRUCTOR_ITERATIONS` rounds), so the slot is released again,
/// without a second ThreadExit. If that was the last round, the slot stays
/// OWNED by a thread that is gone, until the drainer or a registering thread
/// reclaims it ([`reclaim_dead`]).
#[cold]
#[inline(never)]
fn enter<A: GlobalAlloc>(l: &Local, inner: &A, session: u32) -> Option<&'static Slot> {
    if l.thread_id.get() == 0 {
        // Relaxed: only uniqueness matters.
        l.thread_id.set(SHARED.next_thread_id.fetch_add(1, Ordering::Relaxed));
    }
    if l.os_tid.get() == 0 {
        l.os_tid.set(os_thread_id() as u32);
    }
    if l.stack_high.get() == 0 {
        let (low, high) = super::stack::thread_stack_bounds();
        l.stack_low.set(low);
        l.stack_high.set(high);
    }
    let slot = match NonNull::new(l.slot.get().cast_mut()) {
        // SAFETY: a non-null `Local::slot` is OWNED by this thread and lives forever.
        Some(s) => unsafe { &*s.as_ptr() },
        None => {
            let Some(slot) = acquire_slot(inner, l.thread_id.get(), l.os_tid.get()) else {
                // Relaxed: a count, read after the recording stops.
                SHARED.unregistered_lost.fetch_add(1, Ordering::Relaxed);
                return None;
            };
            l.slot.set(slot);
            arm_exit_hook(slot);
            slot
        }
    };
    let exited = l.exited.replace(false);
    if l.session.replace(session) != session || !exited {
        push_structural(slot, RawEvent::thread_start(now_ns(), l.os_tid.get().into(), os_thread_name()), session);
    }
    Some(slot)
}

/// Claims a free slot, or creates one from `inner` (the inner allocator, or
/// `System` when called from the tracking API).
fn acquire_slot<A: GlobalAlloc>(inner: &A, thread_id: u32, os_tid: u32) -> Option<&'static Slot> {
    let slot = match claim_or_wait_for_recycle(os_tid) {
        Some(slot) => slot,
        None => {
            // Relaxed: set before `session`, published by its Release store.
            let capacity = CONTROL.ring_capacity.load(Ordering::Relaxed);
            let (layout, _) = Slot::layout(capacity);
            // SAFETY: the layout has a non-zero size (it holds a `Slot`).
            let mem = NonNull::new(unsafe { inner.alloc(layout) })?;
            let index = REGISTRY.next_index();
            // SAFETY: `mem` was just allocated with `Slot::layout(capacity)` and is
            // never freed (nor may `A` reclaim it: see `TrackingAllocator`'s
            // requirements); `capacity` is a power of two (checked by
            // `Recorder::start`), and
            // the new slot is in no registry yet.
            unsafe { REGISTRY.insert(Slot::init(mem, capacity, index, os_tid)) }
        }
    };
    slot.set_thread(thread_id);
    Some(slot)
}

/// Claims a FREE slot; if there is none, first reclaims the slots of threads
/// that are gone without releasing theirs ([`reclaim_dead`]), and if some
/// slot is EXITED (its owner gone, its last events not yet drained), wakes
/// the drainer and waits a little for it to recycle one, rather than growing
/// the registry. Without
/// this wait, threads started faster than the drain interval would each add
/// a ring, and recorder memory would grow with the thread churn instead of
/// the peak number of live threads (`tests/ring_reuse_churn.rs`). A cold
/// path: it runs once per thread, and yields (a syscall) only while waiting.
fn claim_or_wait_for_recycle(os_tid: u32) -> Option<&'static Slot> {
    /// How long a starting thread waits for the drainer to recycle a ring
    /// before it allocates a new one (a starved drainer must not stall it).
    const PATIENCE_NS: u64 = 100_000_000;
    let mut deadline = 0;
    let mut tries = 0u32;
    loop {
        if let Some(slot) = REGISTRY.claim(os_tid) {
            return Some(slot);
        }
        if deadline == 0 {
            reclaim_dead();
        }
        // Relaxed: as in `push_full`, we only need to notice a stop eventually.
        if CONTROL.session.load(Ordering::Relaxed) == 0 || !REGISTRY.iter().any(|s| s.state() == EXITED) {
            return None;
        }
        let now = monotonic_ns();
        if deadline == 0 {
            deadline = now + PATIENCE_NS;
        } else if now > deadline {
            return None;
        }
        if tries % 64 == 0 {
            wake_drainer();
        }
        tries = tries.wrapping_add(1);
        std::thread::yield_now();
    }
}

/// Marks EXITED every OWNED slot whose owner's OS thread is gone (`tgkill`
/// says ESRCH), so the drainer empties and recycles it: a thread whose
/// exit hook did not run last (a destructor allocated in glibc's last
/// destructor round), or did not run at all (`pthread_key_create` failed),
/// and a forked child's copies of its parent's slots. Off the hot path: the
/// drainer calls it every [`RECLAIM_INTERVAL_NS`], and a registering thread
/// that finds no FREE slot calls it once. Returns how many it reclaimed.
pub(crate) fn reclaim_dead() -> usize {
    let pid = std::process::id() as libc::pid_t;
    let mut n = 0;
    for slot in REGISTRY.iter() {
        if let Some((tid, word)) = slot.owner() {
            if !thread_alive(pid, tid) && slot.reclaim(word) {
                n += 1;
            }
        }
    }
    n
}

/// How often the drainer looks for slots of threads that are gone, in ns.
pub(crate) const RECLAIM_INTERVAL_NS: u64 = 20_000_000;

/// Whether thread `tid` of process `pid` exists: `tgkill` with signal 0
/// checks without sending anything; only ESRCH says it is gone.
fn thread_alive(pid: libc::pid_t, tid: u32) -> bool {
    // SAFETY: signal 0 sends nothing; the call only looks the thread up.
    let r = unsafe { libc::syscall(libc::SYS_tgkill, pid, tid as libc::pid_t, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// The pthread key whose destructor runs [`on_thread_exit`], plus one (0: not created yet).
static EXIT_KEY: AtomicU32 = AtomicU32::new(0);

fn arm_exit_hook(slot: &Slot) {
    // Acquire: pairs with the AcqRel CAS below that published the key.
    let mut key = EXIT_KEY.load(Ordering::Acquire);
    if key == 0 {
        let mut k: libc::pthread_key_t = 0;
        // SAFETY: `k` is writable; the destructor is a valid `extern "C" fn`.
        if unsafe { libc::pthread_key_create(&mut k, Some(on_thread_exit)) } != 0 {
            return; // No exit hook: the slot stays owned until the process ends.
        }
        // AcqRel: publishes the key to other threads; Acquire on failure reads theirs.
        key = match EXIT_KEY.compare_exchange(0, k + 1, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => k + 1,
            Err(theirs) => {
                // SAFETY: `k` was created above and never used.
                unsafe { libc::pthread_key_delete(k) };
                theirs
            }
        };
    }
    // SAFETY: `key - 1` is a live key; the value is only read back by `on_thread_exit`.
    unsafe { libc::pthread_setspecific(key - 1, (slot as *const Slot).cast()) };
}

/// The pthread key destructor: pushes ThreadExit and releases the slot so
/// the drainer can empty and reuse it.
extern "C" fn on_thread_exit(value: *mut libc::c_void) {
    let _ = LOCAL.try_with(|l| {
        let was_busy = l.busy.replace(RECORDING);
        let slot = l.slot.get();
        if !slot.is_null() && slot == value.cast_const().cast() {
            // SAFETY: `slot` is OWNED by this thread (see `Local::slot`).
            let slot = unsafe { &*slot };
            // Acquire: as in `record`.
            let session = CONTROL.session.load(Ordering::Acquire);
            if session != 0 && l.session.get() == session && l.exit_session.replace(session) != session {
                push_structural(slot, RawEvent::thread_exit(now_ns()), session);
            }
            // Forget the slot before releasing it: a signal handler that
            // allocates from here on counts its call without a slot
            // (`reentered`), never in a slot another thread may own.
            l.slot.set(ptr::null());
            slot.release();
            l.exited.set(true);
        }
        l.busy.set(was_busy);
    });
}

/// In a forked child, on its only thread: forgets the slot the thread owned
/// in the parent (the slot's owner id is the parent thread's, which the
/// child's drainer will find gone and reclaim); the thread registers afresh
/// on its next recorded event.
pub(crate) fn forget_slot_after_fork() {
    let _ = LOCAL.try_with(|l| {
        l.slot.set(ptr::null());
        l.session.set(0);
        l.exit_session.set(0);
        l.exited.set(false);
        l.os_tid.set(0);
        l.thread_id.set(0);
    });
}

/// The calling thread's OS id (`gettid`): one syscall, at registration only.
fn os_thread_id() -> u64 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::syscall(libc::SYS_gettid) as u64 }
}

/// The calling thread's name as the kernel has it (at most 15 bytes + NUL).
fn os_thread_name() -> [u8; 16] {
    let mut name = [0u8; 16];
    // SAFETY: PR_GET_NAME writes at most 16 bytes into the buffer we pass.
    unsafe { libc::prctl(libc::PR_GET_NAME, name.as_mut_ptr()) };
    name
}

/// Runs `f` with this thread's events unrecorded (the recorder's own work).
pub(crate) fn ignored<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(u8);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0;
            let _ = LOCAL.try_with(|l| l.busy.set(prev));
        }
    }
    let _restore = Restore(LOCAL.try_with(|l| l.busy.replace(IGNORED)).unwrap_or(IGNORED));
    f()
}

/// Marks the calling thread (the drainer) as never recorded.
pub(crate) fn ignore_this_thread() {
    let _ = LOCAL.try_with(|l| l.busy.set(IGNORED));
}

/// Registers `f` to run in the child after `fork`.
pub(crate) fn at_fork_child(f: extern "C" fn()) -> bool {
    // SAFETY: `f` is a valid function for the life of the process and only
    // stores to atomics, which is async-signal-safe as fork requires.
    unsafe { libc::pthread_atfork(None, None, Some(f)) == 0 }
}

/// Registers `f` to run at process exit (`exit`, or return from `main`).
pub(crate) fn at_exit(f: extern "C" fn()) -> bool {
    // SAFETY: `f` is a valid function for the life of the process.
    unsafe { libc::atexit(f) == 0 }
}
