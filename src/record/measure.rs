//! Heap assertions in tests: exact figures for the allocator calls a
//! closure makes, with no recording and no file.
//!
//! [`measure`] runs a closure and returns what the calling thread allocated,
//! deallocated and reallocated meanwhile, its peak and what it left live, as
//! a [`HeapStats`]; [`measure_with_threads`] adds the threads the closure
//! spawns through its [`MeasureScope`]. Each measurement sees only its own
//! thread(s), so tests that measure run side by side under the default
//! parallel test runner, and measurements nest (each sees its own calls, an
//! outer one also sees the inner one's). They need [`TrackingAllocator`]
//! as the global allocator and work whether a [`Recorder`] runs or not
//! (both then see every call).
//!
//! ```
//! #[global_allocator]
//! static A: memscope::TrackingAllocator = memscope::TrackingAllocator::system();
//!
//! let (v, stats) = memscope::measure(|| Vec::<u64>::with_capacity(1000));
//! assert_eq!(stats.allocations, 1);
//! assert_eq!(stats.allocated_bytes, 8000);
//! memscope::assert_heap!(stats, live_bytes == 8000, peak_bytes <= 8000);
//! drop(v);
//! ```
//!
//! # What is counted
//! Every call of the global allocator made by the measured thread(s) while
//! the closure runs, and nothing else:
//! - an allocation (`alloc`, `alloc_zeroed`) adds 1 to `allocations` and its
//!   size to `allocated_bytes`; a deallocation adds 1 to `deallocations` and
//!   its size to `deallocated_bytes`; a reallocation adds 1 to
//!   `reallocations`, its new size to `allocated_bytes` and its old size to
//!   `deallocated_bytes` (FORMAT.md's totals). A failed call counts nothing.
//! - `live_bytes` is `allocated_bytes - deallocated_bytes` and `live_count`
//!   is `allocations - deallocations`, at the end; `peak_bytes` is the
//!   largest `live_bytes` reached at any point (0 at the start), a
//!   reallocation moving it from the old size to the new one in one step.
//! - Memory allocated before the measurement (or by an unmeasured thread)
//!   and deallocated inside it counts in `deallocations` and
//!   `deallocated_bytes`, and so lowers `live_bytes` and `live_count`, which
//!   are signed for that reason: no table of addresses is kept (that would
//!   need memory and a lock inside the allocator), so a deallocation cannot
//!   be told apart by where its memory came from. Such a deallocation can
//!   hide a leak of the same size from [`HeapStats::assert_no_leaks`]: keep
//!   older memory's drops out of the closure when asserting on leaks.
//! - Memory the closure allocates and returns (in `R`), moves to another
//!   thread or forgets counts as live at the end.
//! - Not counted: the measurement's own work (it allocates nothing while the
//!   closure runs; spawning and joining measured threads is excluded), other
//!   threads, threads spawned with `std::thread::spawn` even from inside the
//!   closure (use [`measure_with_threads`]), and code in [`unmeasured`].
//!
//! # Cost
//! When no thread measures anything and no recording runs, each allocator
//! call reads one shared word (`Control::active`, which counts the
//! measurements in progress) and tests it; while some thread measures, every
//! thread's calls also read one thread-local pointer and test it
//! (benches/README.md, "Issue 11: the unsampled call", gives the figures).
//! While measuring, each call updates the
//! counters of every enclosing measurement: plain loads and stores for a
//! one-thread measurement, atomic read-modify-writes once threads share it.
//!
//! [`TrackingAllocator`]: crate::TrackingAllocator
//! [`Recorder`]: crate::Recorder

use core::cell::Cell;
use core::fmt;
use core::ptr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU64, AtomicU8, Ordering};
use std::thread::{Scope, ScopedJoinHandle};

use super::thread::CONTROL;

thread_local! {
    /// The innermost measurement of this thread, or null. Const-initialised
    /// and without `Drop`, so the allocator can read it at any point of the
    /// thread's life, TLS teardown included. A non-null pointer is valid: it
    /// is set only by [`Installed`], which restores the previous value
    /// before the `Counters` it points to can go away.
    static CURRENT: Cell<*const Counters> = const { Cell::new(ptr::null()) };
}

/// One measurement's figures as they accumulate. A one-thread measurement
/// is written only by its thread (plain loads and stores); once `shared`,
/// by several at once (read-modify-writes).
#[derive(Debug)]
struct Counters {
    allocations: AtomicU64,
    deallocations: AtomicU64,
    reallocations: AtomicU64,
    allocated_bytes: AtomicU64,
    deallocated_bytes: AtomicU64,
    /// `allocated_bytes - deallocated_bytes`, kept apart so that the peak
    /// across threads is exact: it is the largest value this one atomic
    /// takes, and every increase is followed by a `fetch_max` of its result.
    live_bytes: AtomicI64,
    /// The largest `live_bytes` so far (0 at the start).
    peak_bytes: AtomicI64,
    /// Whether threads other than the creating one may update these counters.
    /// Set before any such thread starts (the spawn publishes it) and never
    /// cleared.
    shared: AtomicBool,
    /// The enclosing measurement, whose figures include this one's: null, or
    /// a `Counters` that outlives this one (an outer `measure` frame of the
    /// same thread, or the spawning thread's `measure_with_threads`, which
    /// outlives every thread it spawned). Never changed after creation.
    parent: AtomicPtr<Counters>,
}

impl Counters {
    fn new(parent: *const Counters, shared: bool) -> Self {
        Counters {
            allocations: AtomicU64::new(0),
            deallocations: AtomicU64::new(0),
            reallocations: AtomicU64::new(0),
            allocated_bytes: AtomicU64::new(0),
            deallocated_bytes: AtomicU64::new(0),
            live_bytes: AtomicI64::new(0),
            peak_bytes: AtomicI64::new(0),
            shared: AtomicBool::new(shared),
            parent: AtomicPtr::new(parent.cast_mut()),
        }
    }

    /// Adds one allocator call's figures.
    #[inline(always)]
    fn apply(&self, c: Change) {
        let grow = (c.allocated_bytes as i64).wrapping_sub(c.deallocated_bytes as i64);
        // Relaxed everywhere: these are counters, read only after every
        // thread that updates them is done: by the measuring thread itself,
        // or after `std::thread::scope` joined the others (the join is the
        // synchronisation these writes pair with).
        if self.shared.load(Ordering::Relaxed) {
            add_shared(&self.allocations, c.allocations);
            add_shared(&self.deallocations, c.deallocations);
            add_shared(&self.reallocations, c.reallocations);
            add_shared(&self.allocated_bytes, c.allocated_bytes);
            add_shared(&self.deallocated_bytes, c.deallocated_bytes);
            let live = self.live_bytes.fetch_add(grow, Ordering::Relaxed).wrapping_add(grow);
            if grow > 0 {
                self.peak_bytes.fetch_max(live, Ordering::Relaxed);
            }
        } else {
            add_owned(&self.allocations, c.allocations);
            add_owned(&self.deallocations, c.deallocations);
            add_owned(&self.reallocations, c.reallocations);
            add_owned(&self.allocated_bytes, c.allocated_bytes);
            add_owned(&self.deallocated_bytes, c.deallocated_bytes);
            let live = self.live_bytes.load(Ordering::Relaxed).wrapping_add(grow);
            self.live_bytes.store(live, Ordering::Relaxed);
            if live > self.peak_bytes.load(Ordering::Relaxed) {
                self.peak_bytes.store(live, Ordering::Relaxed);
            }
        }
    }

    fn stats(&self) -> HeapStats {
        // Relaxed: see `apply`; the caller is past every update.
        let allocations = self.allocations.load(Ordering::Relaxed);
        let deallocations = self.deallocations.load(Ordering::Relaxed);
        let allocated_bytes = self.allocated_bytes.load(Ordering::Relaxed);
        let deallocated_bytes = self.deallocated_bytes.load(Ordering::Relaxed);
        let live_bytes = self.live_bytes.load(Ordering::Relaxed);
        debug_assert_eq!(live_bytes, allocated_bytes.wrapping_sub(deallocated_bytes) as i64);
        HeapStats {
            allocations,
            deallocations,
            reallocations: self.reallocations.load(Ordering::Relaxed),
            allocated_bytes,
            deallocated_bytes,
            peak_bytes: self.peak_bytes.load(Ordering::Relaxed).max(0) as u64,
            live_bytes,
            live_count: allocations.wrapping_sub(deallocations) as i64,
        }
    }
}

/// Adds `v` to a counter several threads update.
#[inline(always)]
fn add_shared(a: &AtomicU64, v: u64) {
    if v != 0 {
        // Relaxed: see `Counters::apply`.
        a.fetch_add(v, Ordering::Relaxed);
    }
}

/// Adds `v` to a counter only this thread updates (no locked instruction).
#[inline(always)]
fn add_owned(a: &AtomicU64, v: u64) {
    if v != 0 {
        // Relaxed: see `Counters::apply`.
        a.store(a.load(Ordering::Relaxed).wrapping_add(v), Ordering::Relaxed);
    }
}

/// What one allocator call adds.
#[derive(Clone, Copy)]
struct Change {
    allocations: u64,
    deallocations: u64,
    reallocations: u64,
    allocated_bytes: u64,
    deallocated_bytes: u64,
}

/// This thread's innermost measurement, or null.
#[inline(always)]
fn current() -> *const Counters {
    CURRENT.try_with(Cell::get).unwrap_or(ptr::null())
}

/// The allocator hook for an allocation of `size` bytes that succeeded,
/// called only while some thread measures (`Control::active`). When this
/// thread measures nothing: one thread-local load and a branch (the rest is
/// out of line, so that it makes its caller save no registers).
#[inline(always)]
pub(crate) fn allocated(size: usize) {
    let c = current();
    if !c.is_null() {
        on_alloc(c, size);
    }
}

/// The allocator hook for a deallocation of `size` bytes.
#[inline(always)]
pub(crate) fn deallocated(size: usize) {
    let c = current();
    if !c.is_null() {
        on_dealloc(c, size);
    }
}

/// The allocator hook for a reallocation from `old_size` to `new_size` bytes
/// that succeeded.
#[inline(always)]
pub(crate) fn reallocated(old_size: usize, new_size: usize) {
    let c = current();
    if !c.is_null() {
        on_realloc(c, old_size, new_size);
    }
}

// `#[cold]`: not rare in a test that measures, but marking them so keeps the
// branch that calls them out of the allocator's straight-line path.
#[cold]
#[inline(never)]
fn on_alloc(c: *const Counters, size: usize) {
    apply_all(c, Change { allocations: 1, deallocations: 0, reallocations: 0, allocated_bytes: size as u64, deallocated_bytes: 0 });
}

#[cold]
#[inline(never)]
fn on_dealloc(c: *const Counters, size: usize) {
    apply_all(c, Change { allocations: 0, deallocations: 1, reallocations: 0, allocated_bytes: 0, deallocated_bytes: size as u64 });
}

#[cold]
#[inline(never)]
fn on_realloc(c: *const Counters, old_size: usize, new_size: usize) {
    apply_all(
        c,
        Change { allocations: 0, deallocations: 0, reallocations: 1, allocated_bytes: new_size as u64, deallocated_bytes: old_size as u64 },
    );
}

/// Adds `change` to the measurement at `c` and every enclosing one.
/// Allocates nothing, takes no lock, cannot panic.
#[inline(always)]
fn apply_all(mut c: *const Counters, change: Change) {
    while !c.is_null() {
        // SAFETY: `c` is this thread's `CURRENT` or a `parent` reached from
        // it; both point to live `Counters` (see `CURRENT` and
        // `Counters::parent`), which are only ever shared immutably.
        let counters = unsafe { &*c };
        counters.apply(change);
        // Relaxed: set at creation, before the pointer to `counters` was
        // published (to this thread, or by a spawn to a child).
        c = counters.parent.load(Ordering::Relaxed);
    }
}

/// Makes `counters` this thread's innermost measurement until dropped, then
/// restores the previous one (on unwinding too). While a non-null one is
/// installed, `Control::active` counts it, so that the allocator looks at
/// [`CURRENT`] at all (with no measurement anywhere and no recording, an
/// allocator call reads only that one word).
struct Installed {
    prev: *const Counters,
    counted: bool,
}

impl Installed {
    /// `counters` must outlive the returned guard, and guards must be
    /// dropped in the reverse order of their creation (they are locals).
    fn new(counters: *const Counters) -> Self {
        let counted = !counters.is_null();
        if counted {
            CONTROL.measure_begins();
        }
        Installed { prev: CURRENT.try_with(|cur| cur.replace(counters)).unwrap_or(ptr::null()), counted }
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|cur| cur.set(self.prev));
        if self.counted {
            CONTROL.measure_ends();
        }
    }
}

/// Runs `f` with nothing measured on this thread: its allocator calls count
/// in no measurement (threads spawned through a [`MeasureScope`] still
/// count theirs). For a test's own bookkeeping inside a measured closure,
/// such as printing.
///
/// ```
/// # #[global_allocator]
/// # static A: memscope::TrackingAllocator = memscope::TrackingAllocator::system();
/// let ((), stats) = memscope::measure(|| {
///     let log = memscope::unmeasured(|| format!("{} items", 3));
///     drop(log);
/// });
/// assert_eq!(stats.allocations, 0);
/// assert_eq!(stats.deallocations, 1); // `log`, allocated unmeasured, dropped measured
/// ```
pub fn unmeasured<R>(f: impl FnOnce() -> R) -> R {
    let _off = Installed::new(ptr::null());
    f()
}

/// Whether the global allocator is known to be a `TrackingAllocator`.
static HOOKED: AtomicU8 = AtomicU8::new(0);

/// Panics unless the global allocator calls the measurement hooks: measuring
/// with another allocator would report zeros and pass every assertion.
#[track_caller]
fn check_installed() {
    if !tracking_allocator_installed() {
        panic!(
            "memscope::measure: the global allocator is not memscope::TrackingAllocator, so nothing can be measured; \
             add `#[global_allocator] static A: memscope::TrackingAllocator = memscope::TrackingAllocator::system();` \
             to the test binary (one per binary, e.g. at the top of the test file)"
        );
    }
}

/// Whether the global allocator is a `TrackingAllocator`: whether an
/// allocation made under a measurement is counted in it. Cached once true
/// (the global allocator never changes); the probe allocates 8 bytes.
pub(crate) fn tracking_allocator_installed() -> bool {
    // Relaxed: a cached yes/no; the probe below gives the same answer on any thread.
    if HOOKED.load(Ordering::Relaxed) == 1 {
        return true;
    }
    let probe = Counters::new(ptr::null(), false);
    {
        let _on = Installed::new(&probe);
        drop(std::hint::black_box(Box::new(0u64)));
    }
    let hooked = probe.stats().allocations != 0;
    if hooked {
        // Relaxed: see the load.
        HOOKED.store(1, Ordering::Relaxed);
    }
    hooked
}

/// Runs `f` and returns its result with the exact heap figures of the
/// calling thread while it ran (see the [module docs](self) for what
/// counts). Nested measurements each see their own calls.
///
/// ```
/// # #[global_allocator]
/// # static A: memscope::TrackingAllocator = memscope::TrackingAllocator::system();
/// let (s, stats) = memscope::measure(|| {
///     let mut s = String::with_capacity(8);
///     s.push_str("0123456789"); // grows by a reallocation to 16 bytes
///     s
/// });
/// memscope::assert_heap!(stats, allocations == 1, reallocations == 1, live_bytes == 16, peak_bytes == 16);
/// # drop(s);
/// ```
///
/// # Panics
/// If the global allocator is not a [`TrackingAllocator`](crate::TrackingAllocator)
/// (the message says so), and if `f` panics (the panic goes on; the
/// measurement ends with it).
#[track_caller]
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, HeapStats) {
    check_installed();
    let counters = Counters::new(current(), false);
    let result = {
        let _on = Installed::new(&counters);
        f()
    };
    (result, counters.stats())
}

/// Like [`measure`], but also counts the threads `f` spawns through the
/// [`MeasureScope`] it is given (and the threads those spawn through it), as
/// one measurement: the peak is that of the sum of their live bytes, exact
/// however their calls interleave. Every such thread is joined before this
/// returns, as with [`std::thread::scope`].
///
/// ```
/// # #[global_allocator]
/// # static A: memscope::TrackingAllocator = memscope::TrackingAllocator::system();
/// let ((), stats) = memscope::measure_with_threads(|scope| {
///     let a = scope.spawn(|| drop(Vec::<u8>::with_capacity(100)));
///     let b = scope.spawn(|| drop(Vec::<u8>::with_capacity(200)));
///     a.join().unwrap();
///     b.join().unwrap();
/// });
/// memscope::assert_heap!(stats, allocations == 2, allocated_bytes == 300, live_bytes == 0);
/// assert!(stats.peak_bytes == 200 || stats.peak_bytes == 300);
/// ```
///
/// # Panics
/// As [`measure`]; and if a thread spawned through the scope panicked and
/// was not joined (as [`std::thread::scope`] does).
#[track_caller]
pub fn measure_with_threads<'env, R>(f: impl for<'scope> FnOnce(MeasureScope<'scope, 'env>) -> R) -> (R, HeapStats) {
    check_installed();
    let parent = current();
    // Every enclosing measurement of this thread will be updated by the
    // spawned threads too: switch them to atomic read-modify-writes before
    // any thread starts (the spawn publishes these stores).
    let mut up = parent;
    while !up.is_null() {
        // SAFETY: as in `apply_all`: `up` is this thread's current
        // measurement or one of its enclosing ones, all live.
        let c = unsafe { &*up };
        // Relaxed: published to spawned threads by the spawn; read by this
        // thread in program order.
        c.shared.store(true, Ordering::Relaxed);
        // Relaxed: as in `apply_all`.
        up = c.parent.load(Ordering::Relaxed);
    }
    let counters = Counters::new(parent, true);
    // The scope's own bookkeeping (std allocates it) is no one's: run the
    // scope unmeasured, so that enclosing measurements do not see it either.
    let result = unmeasured(|| {
        std::thread::scope(|scope| {
            let _on = Installed::new(&counters);
            f(MeasureScope { scope, counters: CountersRef(&counters) })
        })
    });
    (result, counters.stats())
}

/// A pointer to the `Counters` of a [`measure_with_threads`], for its
/// scope's threads. A raw pointer because the borrow checker cannot see
/// that the scope's threads end before the `Counters` does.
#[derive(Debug, Clone, Copy)]
struct CountersRef(*const Counters);

impl CountersRef {
    /// The pointer (a method, so that closures capture the whole `Send` value).
    fn get(self) -> *const Counters {
        self.0
    }
}

// SAFETY: the pointee is a `Counters`, which is `Sync` (atomics only), and it
// outlives every thread that can hold a `CountersRef`: `measure_with_threads`
// drops it only after `std::thread::scope` has joined every thread of the
// scope, and a `MeasureScope` (the only holder besides those threads) cannot
// leave the scope's closure (its `'scope` lifetime forbids it).
unsafe impl Send for CountersRef {}
// SAFETY: as for `Send`: sharing a `&CountersRef` only shares the pointer to a `Sync` value.
unsafe impl Sync for CountersRef {}

/// Spawns threads whose allocator calls count in the enclosing
/// [`measure_with_threads`]. `Copy`: move it into a spawned thread to spawn
/// more from there.
#[derive(Debug, Clone, Copy)]
pub struct MeasureScope<'scope, 'env: 'scope> {
    scope: &'scope Scope<'scope, 'env>,
    counters: CountersRef,
}

impl<'scope, 'env> MeasureScope<'scope, 'env> {
    /// Spawns a thread in the scope, as [`Scope::spawn`] does, whose
    /// allocator calls from the start to the end of `f` count in the
    /// measurement (the thread's own set-up and teardown by std do not).
    ///
    /// # Panics
    /// If the OS cannot create a thread (as [`std::thread::spawn`]).
    pub fn spawn<F, T>(&self, f: F) -> MeasuredJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let counters = self.counters;
        let scope = self.scope;
        let handle = unmeasured(move || {
            scope.spawn(move || {
                // Valid until this thread ends (see `CountersRef`), so for as
                // long as it is installed here.
                let _on = Installed::new(counters.get());
                f()
            })
        });
        MeasuredJoinHandle { handle: Some(handle) }
    }
}

/// A thread spawned by [`MeasureScope::spawn`]. Joining it, or dropping it,
/// frees std's bookkeeping for the thread, which is not counted.
#[derive(Debug)]
pub struct MeasuredJoinHandle<'scope, T> {
    /// Always `Some` until `join` or `drop` takes it.
    handle: Option<ScopedJoinHandle<'scope, T>>,
}

impl<T> MeasuredJoinHandle<'_, T> {
    /// Waits for the thread to finish and returns what `f` returned.
    ///
    /// # Errors
    /// The panic payload if the thread panicked (as [`ScopedJoinHandle::join`]).
    pub fn join(mut self) -> std::thread::Result<T> {
        let handle = self.handle.take();
        unmeasured(move || match handle {
            Some(h) => h.join(),
            None => unreachable!("a MeasuredJoinHandle is joined at most once"),
        })
    }

    /// Whether the thread has finished.
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(|h| h.is_finished())
    }
}

impl<T> Drop for MeasuredJoinHandle<'_, T> {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            unmeasured(move || drop(h));
        }
    }
}

/// The exact heap figures of a measurement ([`measure`],
/// [`measure_with_threads`]). Counts are calls, sizes are bytes as passed to
/// the allocator (the `Layout` size, not what the allocator rounded it up
/// to). `Display` names every figure on one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct HeapStats {
    /// Allocations (`alloc` and `alloc_zeroed` calls that succeeded).
    pub allocations: u64,
    /// Deallocations (`dealloc` calls), including of memory allocated
    /// before the measurement.
    pub deallocations: u64,
    /// Reallocations (`realloc` calls that succeeded); neither allocations
    /// nor deallocations.
    pub reallocations: u64,
    /// Bytes allocated: every allocation's size plus every reallocation's
    /// new size.
    pub allocated_bytes: u64,
    /// Bytes deallocated: every deallocation's size plus every
    /// reallocation's old size.
    pub deallocated_bytes: u64,
    /// The largest `live_bytes` reached at any point of the measurement, in
    /// bytes (0 if it never rose above its start).
    pub peak_bytes: u64,
    /// Live at the end, in bytes: `allocated_bytes - deallocated_bytes`
    /// (negative if the measured code deallocated more older memory than it
    /// left live).
    pub live_bytes: i64,
    /// Live at the end, in allocations: `allocations - deallocations`
    /// (signed for the same reason).
    pub live_count: i64,
}

impl HeapStats {
    /// Panics, naming every figure, if `peak_bytes > max_bytes`
    /// (pytest-memray's `limit_memory`).
    ///
    /// ```should_panic
    /// # #[global_allocator]
    /// # static A: memscope::TrackingAllocator = memscope::TrackingAllocator::system();
    /// let ((), stats) = memscope::measure(|| drop(vec![0u8; 4096]));
    /// stats.assert_peak_at_most(1024); // panics: peak_bytes 4096 > 1024
    /// ```
    ///
    /// # Panics
    /// If the peak is above `max_bytes`.
    #[track_caller]
    pub fn assert_peak_at_most(&self, max_bytes: u64) {
        if self.peak_bytes > max_bytes {
            fail(&format!("peak_bytes {} > {max_bytes}", self.peak_bytes), self);
        }
    }

    /// Panics, naming every figure, if more than `max_bytes` are live at the
    /// end (pytest-memray's `limit_leaks`).
    ///
    /// # Panics
    /// If `live_bytes > max_bytes`.
    #[track_caller]
    pub fn assert_live_at_most(&self, max_bytes: u64) {
        if i128::from(self.live_bytes) > i128::from(max_bytes) {
            fail(&format!("live_bytes {} > {max_bytes}", self.live_bytes), self);
        }
    }

    /// Panics, naming every figure, if anything allocated in the measurement
    /// is still live at the end: `live_count > 0` or `live_bytes > 0`. A
    /// deallocation of older memory inside the measurement can hide a leak
    /// of the same size (see the [module docs](self)).
    ///
    /// # Panics
    /// If something is live at the end.
    #[track_caller]
    pub fn assert_no_leaks(&self) {
        if self.live_count > 0 || self.live_bytes > 0 {
            fail(&format!("{} bytes in {} allocations live at the end", self.live_bytes, self.live_count), self);
        }
    }
}

impl fmt::Display for HeapStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "allocations {}, deallocations {}, reallocations {}, allocated_bytes {}, deallocated_bytes {}, peak_bytes {}, live_bytes {}, live_count {}",
            self.allocations,
            self.deallocations,
            self.reallocations,
            self.allocated_bytes,
            self.deallocated_bytes,
            self.peak_bytes,
            self.live_bytes,
            self.live_count
        )
    }
}

#[track_caller]
fn fail(what: &str, stats: &HeapStats) -> ! {
    panic!("memscope: heap assertion failed: {what}\n  measured: {stats}")
}

/// The failure path of [`assert_heap!`](crate::assert_heap).
#[doc(hidden)]
#[track_caller]
#[cold]
pub fn __assert_heap_failed(condition: &str, field: &str, value: &dyn fmt::Display, stats: &HeapStats) -> ! {
    fail(&format!("`{condition}` ({field} is {value})"), stats)
}

/// Asserts conditions on the fields of a [`HeapStats`]; on failure, panics
/// with the condition, the field's value and every figure.
///
/// Each condition is `field op value`, where `field` is a `HeapStats` field,
/// `op` a comparison (`==`, `!=`, `<`, `<=`, `>`, `>=`) and `value` an
/// expression.
///
/// ```
/// # #[global_allocator]
/// # static A: memscope::TrackingAllocator = memscope::TrackingAllocator::system();
/// let (b, stats) = memscope::measure(|| Box::new([0u8; 100]));
/// memscope::assert_heap!(stats, allocations == 1, allocated_bytes == 100, live_count == 1);
/// # drop(b);
/// ```
///
/// A failure reads:
/// ```text
/// memscope: heap assertion failed: `allocations == 2` (allocations is 1)
///   measured: allocations 1, deallocations 0, reallocations 0, allocated_bytes 100, deallocated_bytes 0, peak_bytes 100, live_bytes 100, live_count 1
/// ```
#[macro_export]
macro_rules! assert_heap {
    ($stats:expr, $($field:ident $op:tt $value:expr),+ $(,)?) => {{
        let stats: &$crate::HeapStats = &$stats;
        $(
            if !(stats.$field $op $value) {
                $crate::record::measure::__assert_heap_failed(
                    ::core::stringify!($field $op $value),
                    ::core::stringify!($field),
                    &stats.$field,
                    stats,
                );
            }
        )+
    }};
}
