//! Shared helpers for the exactness tests (included with `mod common;`).
//!
//! The ground truth is [`CountingAlloc`], installed *inside* the tracker:
//!
//! ```ignore
//! #[global_allocator]
//! static A: TrackingAllocator<CountingAlloc> = TrackingAllocator::new(CountingAlloc::new());
//! ```
//!
//! `TrackingAllocator` forwards every call to it, including the recorder's
//! own (drainer, buffers, channels, ring slots), and calls made while no
//! recording runs. So it counts a call only when the calling thread's
//! counting flag is set; tests set it around their own work, inside the
//! recording window. The ring slots, which the recorder allocates from the
//! inner allocator directly (never recorded), are recognised by their layout
//! (`Slot::layout(capacity)`) and counted apart, on every thread: that is
//! how the tests observe the recorder's own memory.
//!
//! Threads a test spawns count from their first instruction to their death
//! ([`spawn_counted`], bare pthreads: std's spawn frees a parent-allocated
//! block on the child before the closure runs): what is freed after their
//! closure returns (the boxed closure, the thread's TLS) is then counted
//! too, and it is recorded as long as the thread is joined before the
//! recording finishes.
//!
//! Nothing else may allocate while a test records: call [`quiesce_harness`]
//! before starting (libtest's main thread is still busy right after
//! spawning the test thread), and build what the test needs before the
//! recording or inside the counted window.
//!
//! The checks: [`assert_exact`] (replay's totals vs the counter, plus the
//! file's own consistency: End record, no damage, nothing lost, no free of
//! an unknown block, per-thread sums, `finish()` vs the file) and
//! [`assert_no_conflicts`] (timestamps order every address's life), both
//! on `memscope::replay::replay_file`, cross-checked against [`raw_fold`],
//! an independent fold of the raw records.
#![allow(dead_code)]

use memscope::format::{Event, Reader, Record};
use memscope::replay::{replay_file, Replay, ThreadStats};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Helpers of the tracking tests (`tests/track_*.rs`).
/// The clock tests (`tests/clock_*.rs`).
pub mod clock;
pub mod handoff;
pub mod track;

thread_local! {
    /// Whether this thread's allocator calls are counted. Const-initialised,
    /// no `Drop`: usable from inside the allocator at any point of a
    /// thread's life, TLS teardown included.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static ZEROED: AtomicU64 = AtomicU64::new(0);
static DEALLOCS: AtomicU64 = AtomicU64::new(0);
static REALLOCS: AtomicU64 = AtomicU64::new(0);
static ALLOC_BYTES: AtomicU64 = AtomicU64::new(0);
static DEALLOC_BYTES: AtomicU64 = AtomicU64::new(0);
static SLOT_ALLOCS: AtomicU64 = AtomicU64::new(0);
static SLOT_BYTES: AtomicU64 = AtomicU64::new(0);
/// Stack tables the recorder allocated from the inner allocator (one per slot at most).
pub static STACK_TABLES: AtomicU64 = AtomicU64::new(0);

/// Forwards to [`System`] and counts, with relaxed atomics and without
/// allocating, the calls made on threads whose counting flag is set.
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingAlloc;

impl CountingAlloc {
    pub const fn new() -> Self {
        CountingAlloc
    }
}

#[inline]
fn counting() -> bool {
    COUNTING.try_with(Cell::get).unwrap_or(false)
}

/// Whether `layout` is the layout of a recorder slot (`Slot` + ring buffer)
/// for some accepted ring capacity.
fn is_slot_layout(layout: Layout) -> bool {
    let smallest = memscope::record::ring_layout(memscope::record::MIN_RING_CAPACITY);
    if layout.size() < smallest.size() || layout.align() != smallest.align() {
        return false;
    }
    let mut cap = memscope::record::MIN_RING_CAPACITY;
    while cap <= memscope::record::MAX_RING_CAPACITY {
        if memscope::record::ring_layout(cap) == layout {
            return true;
        }
        cap *= 2;
    }
    false
}

/// Counts one successful `alloc` (or `alloc_zeroed`) call of `layout`, as
/// [`CountingAlloc`] does (for wrappers that serve some calls themselves).
#[inline]
pub fn count_alloc(layout: Layout, zeroed: bool) {
    if layout == memscope::record::stack_table_layout() {
        // A slot's stack table: the recorder's own memory, one per slot.
        STACK_TABLES.fetch_add(1, Relaxed);
    } else if is_slot_layout(layout) {
        SLOT_ALLOCS.fetch_add(1, Relaxed);
        SLOT_BYTES.fetch_add(layout.size() as u64, Relaxed);
    } else if counting() {
        ALLOCS.fetch_add(1, Relaxed);
        if zeroed {
            ZEROED.fetch_add(1, Relaxed);
        }
        ALLOC_BYTES.fetch_add(layout.size() as u64, Relaxed);
    }
}

// SAFETY: every method forwards to `System` unchanged; counting touches only
// atomics and a const-initialised thread-local without `Drop`.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is forwarded unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count_alloc(layout, false);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count_alloc(layout, true);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count_dealloc(layout);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count_realloc(layout, new_size);
        }
        p
    }
}

/// Counts one `dealloc` call, as [`CountingAlloc`] does.
#[inline]
pub fn count_dealloc(layout: Layout) {
    if counting() {
        DEALLOCS.fetch_add(1, Relaxed);
        DEALLOC_BYTES.fetch_add(layout.size() as u64, Relaxed);
    }
}

/// Counts one successful `realloc` call, as [`CountingAlloc`] does.
#[inline]
pub fn count_realloc(layout: Layout, new_size: usize) {
    if counting() {
        REALLOCS.fetch_add(1, Relaxed);
        ALLOC_BYTES.fetch_add(new_size as u64, Relaxed);
        DEALLOC_BYTES.fetch_add(layout.size() as u64, Relaxed);
    }
}

/// Sets this thread's counting flag; returns the previous value.
pub fn set_counting(on: bool) -> bool {
    COUNTING.with(|c| c.replace(on))
}

/// Runs `f` with this thread's calls counted.
pub fn counted<R>(f: impl FnOnce() -> R) -> R {
    let prev = set_counting(true);
    let r = f();
    set_counting(prev);
    r
}

/// A thread started with [`spawn_counted`]; join it to get the closure's value.
#[must_use = "join the thread before the recording finishes"]
pub struct CountedThread<T> {
    tid: libc::pthread_t,
    result: *mut Option<std::thread::Result<T>>,
}

struct SendPtr<T>(*mut T);
// SAFETY: the pointee is written by the thread once, and read by the joiner
// only after `pthread_join`, which orders the two.
unsafe impl<T: Send> Send for SendPtr<T> {}

type Main = Box<dyn FnOnce() + Send>;

extern "C" fn counted_thread_start(arg: *mut libc::c_void) -> *mut libc::c_void {
    set_counting(true);
    // SAFETY: `arg` is the `Box<Main>` leaked by `spawn_counted`, handed to this thread alone.
    let main = unsafe { Box::from_raw(arg.cast::<Main>()) };
    main();
    std::ptr::null_mut()
}

/// Spawns an OS thread (a bare pthread, not `std::thread`) whose every
/// allocator call is counted, from its first instruction to its death (its
/// TLS destructors included). The spawn's own allocations (two boxes) are
/// counted if the calling thread counts; the thread frees them, counted.
///
/// Why not `std::thread::spawn`: std frees a block the parent allocated
/// (its thread-start box, 24 bytes in Rust 1.95) on the child *before* the
/// closure runs, where no flag set by the closure can count it; recorded but
/// not counted, it would break exactness by one deallocation per thread.
/// The recorder treats both kinds of thread the same (registration on the
/// first event, the pthread-key exit hook).
///
/// Join it before the recording finishes, so that everything it counted
/// was also recorded.
pub fn spawn_counted<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> CountedThread<T> {
    let result: *mut Option<std::thread::Result<T>> = Box::into_raw(Box::new(None));
    let out = SendPtr(result);
    let main: Main = Box::new(move || {
        let out = out;
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        // SAFETY: `out` points to the result box, which the joiner reads only after the thread ends.
        unsafe { *out.0 = Some(r) };
    });
    let arg = Box::into_raw(Box::new(main));
    let mut tid: libc::pthread_t = 0;
    // SAFETY: valid out-pointer, default attributes, a valid start routine and its argument.
    let rc = unsafe { libc::pthread_create(&mut tid, std::ptr::null(), counted_thread_start, arg.cast()) };
    assert_eq!(rc, 0, "pthread_create failed");
    CountedThread { tid, result }
}

impl<T> CountedThread<T> {
    /// Waits for the thread to end (TLS destructors and exit hooks included)
    /// and returns its closure's value, or resumes its panic.
    pub fn join(self) -> T {
        // SAFETY: `tid` is a joinable thread that nobody else joins.
        let rc = unsafe { libc::pthread_join(self.tid, std::ptr::null_mut()) };
        assert_eq!(rc, 0, "pthread_join failed");
        // SAFETY: leaked by `spawn_counted`; the thread is gone, so we are its only user.
        let result = unsafe { Box::from_raw(self.result) };
        match *result {
            Some(Ok(v)) => v,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => panic!("counted thread ended without a result"),
        }
    }
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// `alloc` + `alloc_zeroed` calls.
    pub allocs: u64,
    /// `alloc_zeroed` calls.
    pub zeroed: u64,
    pub deallocs: u64,
    pub reallocs: u64,
    /// Sizes of allocations plus new sizes of reallocations.
    pub alloc_bytes: u64,
    /// Sizes of deallocations plus old sizes of reallocations.
    pub dealloc_bytes: u64,
    /// Ring slots the recorder allocated from the inner allocator, on any thread.
    pub slot_allocs: u64,
    pub slot_bytes: u64,
}

impl Counts {
    pub fn now() -> Counts {
        Counts {
            allocs: ALLOCS.load(Relaxed),
            zeroed: ZEROED.load(Relaxed),
            deallocs: DEALLOCS.load(Relaxed),
            reallocs: REALLOCS.load(Relaxed),
            alloc_bytes: ALLOC_BYTES.load(Relaxed),
            dealloc_bytes: DEALLOC_BYTES.load(Relaxed),
            slot_allocs: SLOT_ALLOCS.load(Relaxed),
            slot_bytes: SLOT_BYTES.load(Relaxed),
        }
    }

    /// The difference `self - earlier`.
    pub fn since(&self, earlier: &Counts) -> Counts {
        Counts {
            allocs: self.allocs - earlier.allocs,
            zeroed: self.zeroed - earlier.zeroed,
            deallocs: self.deallocs - earlier.deallocs,
            reallocs: self.reallocs - earlier.reallocs,
            alloc_bytes: self.alloc_bytes - earlier.alloc_bytes,
            dealloc_bytes: self.dealloc_bytes - earlier.dealloc_bytes,
            slot_allocs: self.slot_allocs - earlier.slot_allocs,
            slot_bytes: self.slot_bytes - earlier.slot_bytes,
        }
    }

    /// The fields in declaration order.
    pub fn to_array(self) -> [u64; 8] {
        [self.allocs, self.zeroed, self.deallocs, self.reallocs, self.alloc_bytes, self.dealloc_bytes, self.slot_allocs, self.slot_bytes]
    }

    /// The inverse of [`Counts::to_array`].
    pub fn from_array(a: [u64; 8]) -> Counts {
        Counts {
            allocs: a[0],
            zeroed: a[1],
            deallocs: a[2],
            reallocs: a[3],
            alloc_bytes: a[4],
            dealloc_bytes: a[5],
            slot_allocs: a[6],
            slot_bytes: a[7],
        }
    }

    /// Every counted call.
    pub fn calls(&self) -> u64 {
        self.allocs + self.deallocs + self.reallocs
    }

    /// Blocks still live: allocations minus deallocations (a reallocation
    /// keeps the count).
    pub fn live_count(&self) -> u64 {
        self.allocs - self.deallocs
    }

    pub fn live_bytes(&self) -> u64 {
        self.alloc_bytes - self.dealloc_bytes
    }
}

/// A fresh path in the temp dir for this process and test.
pub fn temp_path(test: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("memscope-{test}-{}.memscope", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// The recorder's own thread ids are not OS ids; this is what a recording
/// says about one of its threads, folded from the raw records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawThread {
    pub starts: u64,
    pub exits: u64,
    pub allocs: u64,
    pub deallocs: u64,
    pub reallocs: u64,
    pub lost: u64,
    pub os_tid: u64,
}

/// A recording folded from the raw reader (independent of `replay`).
#[derive(Debug, Clone, Default)]
pub struct RawFold {
    pub allocs: u64,
    pub zeroed: u64,
    pub deallocs: u64,
    pub reallocs: u64,
    pub alloc_bytes: u64,
    pub dealloc_bytes: u64,
    pub thread_starts: u64,
    pub thread_exits: u64,
    pub lost: u64,
    /// Every event but Lost.
    pub events: u64,
    /// Lost events (each carries a count, summed in `lost`).
    pub lost_records: u64,
    pub damage: u64,
    /// The End record's (events_written, events_lost), if any.
    pub end: Option<(u64, u64)>,
    pub threads: BTreeMap<u32, RawThread>,
    /// Reallocation events whose new address is the old one.
    pub reallocs_in_place: u64,
    /// Reallocations that moved and carry a return stamp (format version 4).
    pub moves_with_return_stamp: u64,
    /// Every reallocation event: (old size, new size, moved).
    pub realloc_events: Vec<(u64, u64, bool)>,
    /// Every allocation event: (size, align, zeroed).
    pub alloc_events: Vec<(u64, u64, bool)>,
    /// Blocks live at the end, by address (size), in file order.
    pub live: std::collections::HashMap<u64, u64>,
    /// Deallocations (and reallocations) of addresses not live in the recording.
    pub unknown_frees: u64,
    /// Descriptions of the events that did not fit the live set (an address
    /// allocated while live, or freed while not live), in timestamp order.
    pub conflicts: Vec<String>,
}

impl RawFold {
    /// Allocation, deallocation and reallocation events.
    pub fn calls(&self) -> u64 {
        self.allocs + self.deallocs + self.reallocs
    }

    /// The allocator-call totals, in the counter's terms (slots excluded).
    pub fn as_counts(&self) -> Counts {
        Counts {
            allocs: self.allocs,
            zeroed: self.zeroed,
            deallocs: self.deallocs,
            reallocs: self.reallocs,
            alloc_bytes: self.alloc_bytes,
            dealloc_bytes: self.dealloc_bytes,
            slot_allocs: 0,
            slot_bytes: 0,
        }
    }
}

/// Reads `path` with the raw reader and folds every event; the live set is
/// rebuilt in timestamp order (a block freed on another thread may sit in
/// an earlier chunk of the file than its allocation).
pub fn raw_fold(path: &Path) -> RawFold {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut reader = Reader::new(BufReader::new(file)).expect("segment header");
    let mut f = RawFold::default();
    let mut timeline: Vec<(u32, Event)> = Vec::new();
    while let Some(item) = reader.next_record().expect("read") {
        match item {
            Err(_) => f.damage += 1,
            Ok(Record::End { events_written, events_lost, .. }) => f.end = Some((events_written, events_lost)),
            Ok(Record::Events(chunk)) => {
                let t = f.threads.entry(chunk.thread).or_default();
                for ev in chunk.events {
                    if !matches!(ev, Event::Lost { .. }) {
                        f.events += 1;
                    }
                    match ev {
                        Event::Alloc { size, align, zeroed, .. } => {
                            f.allocs += 1;
                            t.allocs += 1;
                            f.zeroed += u64::from(zeroed);
                            f.alloc_bytes += size;
                            f.alloc_events.push((size, align, zeroed));
                            timeline.push((chunk.thread, ev));
                        }
                        Event::Dealloc { size, .. } => {
                            f.deallocs += 1;
                            t.deallocs += 1;
                            f.dealloc_bytes += size;
                            timeline.push((chunk.thread, ev));
                        }
                        Event::Realloc { ts_ns, old_ptr, new_ptr, old_size, new_size, returned_ns, .. } => {
                            f.reallocs_in_place += u64::from(old_ptr == new_ptr);
                            f.realloc_events.push((old_size.unwrap_or(u64::MAX), new_size, old_ptr != new_ptr));
                            f.reallocs += 1;
                            t.reallocs += 1;
                            f.alloc_bytes += new_size;
                            f.dealloc_bytes += old_size.expect("no realloc of 4 GiB or more in these tests");
                            match returned_ns {
                                // A moving reallocation with its return stamp
                                // (format version 4): the old address is
                                // released at the first stamp, the new one
                                // acquired at the second.
                                Some(returned) if old_ptr != new_ptr => {
                                    f.moves_with_return_stamp += 1;
                                    let size = old_size.unwrap_or(0);
                                    timeline.push((chunk.thread, Event::Dealloc { ts_ns, ptr: old_ptr, size, align: 0 }));
                                    let acquired =
                                        Event::Alloc { ts_ns: returned, ptr: new_ptr, size: new_size, align: 0, zeroed: false, stack: 0 };
                                    timeline.push((chunk.thread, acquired));
                                }
                                _ => timeline.push((chunk.thread, ev)),
                            }
                        }
                        Event::ThreadStart { os_tid, .. } => {
                            f.thread_starts += 1;
                            t.starts += 1;
                            t.os_tid = os_tid;
                        }
                        Event::ThreadExit { .. } => {
                            f.thread_exits += 1;
                            t.exits += 1;
                        }
                        Event::Lost { count, .. } => {
                            f.lost_records += 1;
                            f.lost += count;
                            t.lost += count;
                        }
                        _ => {}
                    }
                }
            }
            Ok(_) => {}
        }
    }
    timeline.sort_by_key(|(_, e)| e.ts_ns());
    let mut owner: std::collections::HashMap<u64, (u32, Event)> = Default::default();
    for (thread, ev) in timeline {
        match ev {
            Event::Alloc { ptr, size, .. } => {
                if f.live.insert(ptr, size).is_some() {
                    f.conflicts.push(format!("t{thread} {ev:?} while live from {:?}", owner.get(&ptr)));
                }
                owner.insert(ptr, (thread, ev));
            }
            Event::Dealloc { ptr, .. } => {
                if f.live.remove(&ptr).is_none() {
                    f.unknown_frees += 1;
                    f.conflicts.push(format!("t{thread} {ev:?} of unknown address, last {:?}", owner.get(&ptr)));
                }
                owner.insert(ptr, (thread, ev));
            }
            Event::Realloc { old_ptr, new_ptr, new_size, .. } => {
                if f.live.remove(&old_ptr).is_none() {
                    f.unknown_frees += 1;
                    f.conflicts.push(format!("t{thread} {ev:?} of unknown address, last {:?}", owner.get(&old_ptr)));
                }
                owner.insert(old_ptr, (thread, ev));
                if f.live.insert(new_ptr, new_size).is_some() {
                    f.conflicts.push(format!("t{thread} {ev:?} while live from {:?}", owner.get(&new_ptr)));
                }
                owner.insert(new_ptr, (thread, ev));
            }
            _ => {}
        }
    }
    f
}

/// Replays `path` with `memscope::replay::replay_file`, and cross-checks its
/// call totals against the independent [`raw_fold`].
pub fn replay(path: &Path) -> Replay {
    let r = replay_file(path).unwrap_or_else(|e| panic!("replay {}: {e}", path.display()));
    let s = &r.summary;
    let f = raw_fold(path);
    assert_eq!(s.total_allocations, f.allocs, "replay vs raw events: allocations");
    assert_eq!(s.total_deallocations + s.prerecording_deallocations, f.deallocs, "replay vs raw events: deallocations");
    assert_eq!(s.total_reallocations, f.reallocs, "replay vs raw events: reallocations");
    assert_eq!(s.lost_events, f.lost, "replay vs raw events: lost");
    assert_eq!(s.events, f.events + f.lost_records, "replay vs raw events: events");
    assert_eq!(r.finished, f.end.is_some(), "replay vs raw records: End");
    r
}

/// The replay's counts and bytes of calls equal the independent counter's.
pub fn assert_totals(s: &memscope::replay::Totals, c: &Counts) {
    assert_eq!(s.total_allocations, c.allocs, "allocations");
    assert_eq!(s.total_deallocations, c.deallocs, "deallocations");
    assert_eq!(s.total_reallocations, c.reallocs, "reallocations");
    assert_eq!(s.total_allocated_bytes, c.alloc_bytes, "allocated bytes");
    assert_eq!(s.total_deallocated_bytes, c.dealloc_bytes, "deallocated bytes");
}

/// Asserts that the replay of `path` matches the counted calls exactly, with
/// nothing lost, nothing damaged, the End record present, no free of an
/// unknown block, and every counted block that is not freed still live; and
/// that `finish()`'s summary agrees with the file.
pub fn assert_exact(path: &Path, c: &Counts, written: &memscope::Summary) -> Replay {
    let r = replay(path);
    let s = &r.summary;
    assert!(r.finished, "no End record in {}", path.display());
    assert!(r.damage.is_empty() && r.damage_count == 0, "damage in {}: {:?}", path.display(), r.damage);
    let end = r.end.expect("End record");
    assert_eq!((written.events_written, written.events_lost), (end.events_written, end.events_lost), "finish() vs the End record");
    assert_eq!(written.events_lost, s.lost_events, "finish() vs replay: lost events");
    assert_eq!(written.threads, s.threads, "finish() vs replay: threads");
    assert_eq!(s.lost_events, 0, "events lost under OnFull::Block");
    assert_totals(s, c);
    assert_eq!(
        (s.prerecording_deallocations, s.prerecording_reallocations, s.prerecording_deallocated_bytes),
        (0, 0, 0),
        "frees of blocks never allocated: {:#?}",
        raw_fold(path).conflicts
    );
    assert_eq!(s.size_mismatches, 0, "size mismatches");
    assert_eq!(s.late_events, 0, "late events: the recorder's order guarantee broke");
    assert_eq!(s.unresolved_conflicts, 0, "unresolved address conflicts");
    assert_eq!(s.live_bytes, s.total_allocated_bytes - s.total_deallocated_bytes, "live bytes = allocated - deallocated");
    assert_eq!(s.live_count, c.live_count(), "live blocks");
    assert_eq!(s.live_bytes, c.live_bytes(), "live bytes");
    assert!(s.peak_live_bytes >= s.live_bytes, "peak below the final live bytes");
    // Per-thread statistics add up to the totals.
    let sum = |f: fn(&ThreadStats) -> u64| r.threads.iter().map(f).sum::<u64>();
    assert_eq!(sum(|t| t.allocations), s.total_allocations, "per-thread allocations");
    assert_eq!(sum(|t| t.deallocations), s.total_deallocations, "per-thread deallocations");
    assert_eq!(sum(|t| t.reallocations), s.total_reallocations, "per-thread reallocations");
    assert_eq!(sum(|t| t.allocated_bytes), s.total_allocated_bytes, "per-thread allocated bytes");
    assert_eq!(sum(|t| t.deallocated_bytes), s.total_deallocated_bytes, "per-thread deallocated bytes");
    assert_eq!(sum(|t| t.live_count), s.live_count, "per-thread live blocks");
    r
}

/// Asserts that the recording's timestamps order every address's life
/// consistently: replayed in timestamp order (a moving reallocation's old
/// address released at its first stamp, its new one acquired at its return
/// stamp), no block is freed that is not live, and none is allocated at a
/// live address (see `realloc_stamp_order.rs`).
pub fn assert_no_conflicts(path: &Path, r: &Replay) {
    let f = raw_fold(path);
    assert_eq!(r.summary.address_conflicts, 0, "address conflicts: {:#?}", f.conflicts);
    assert!(f.conflicts.is_empty(), "events out of order: {:#?}", f.conflicts);
}

/// Waits until libtest's main thread is blocked waiting for this test (in a
/// futex wait: `recv_timeout` on its result channel). Right after spawning
/// the test thread it still allocates (its bookkeeping, the channel's wait
/// context); on a loaded machine that can fall inside the recording window,
/// recorded but not counted. Call before starting a recording.
pub fn quiesce_harness() {
    let pid = std::process::id();
    // SAFETY: gettid has no preconditions.
    if unsafe { libc::gettid() } as u32 == pid {
        return; // We are the main thread: nobody else to wait for.
    }
    let file = format!("/proc/self/task/{pid}/syscall");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match std::fs::read_to_string(&file) {
            // 202: futex on x86_64 (98 on aarch64).
            Ok(s) if s.starts_with("202 ") || (cfg!(target_arch = "aarch64") && s.starts_with("98 ")) => return,
            Ok(_) if std::time::Instant::now() < deadline => std::thread::sleep(std::time::Duration::from_millis(1)),
            Ok(s) => panic!("libtest's main thread is not waiting for the test after 10 s: {s}"),
            Err(_) => return, // No /proc: nothing to wait on.
        }
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds, the recorder's clock.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Waits until the drainer of the recording at `path` has completed a
/// round that began after this call: every thread joined before the call
/// then has its slot back in the free list. Watches the file for a Round
/// record with a later watermark (rounds are only written when there are
/// events; reading the file allocates, which makes some).
pub fn wait_for_drain_round(path: &Path) {
    let header = Reader::new(std::fs::File::open(path).expect("open recording")).expect("header").header().start_monotonic_ns;
    let after = monotonic_ns() - header;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mut reader = Reader::new(BufReader::new(std::fs::File::open(path).expect("open recording"))).expect("header");
        while let Ok(Some(item)) = reader.next_record() {
            if let Ok(Record::Round { watermark_ns, .. }) = item {
                if watermark_ns > after {
                    return;
                }
            }
        }
        assert!(std::time::Instant::now() < deadline, "no drain round in 10 s");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Asserts the guarantee of the Round record (FORMAT.md, version 4): every
/// event stamped before a round's watermark is in a record before that
/// Round, so no chunk after it holds an event stamped below it (thread
/// starts, exits and Lost events, which replay does not order, aside).
/// Returns the number of Round records.
pub fn assert_watermarks_exact(path: &Path) -> u64 {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut reader = Reader::new(BufReader::new(file)).expect("segment header");
    let (mut watermark, mut rounds) = (0u64, 0u64);
    while let Some(item) = reader.next_record().expect("read") {
        match item.expect("no damage") {
            Record::Round { watermark_ns, round } => {
                rounds += 1;
                assert!(round < u64::MAX);
                watermark = watermark.max(watermark_ns);
            }
            Record::Events(chunk) => {
                for ev in &chunk.events {
                    if matches!(ev, Event::ThreadStart { .. } | Event::ThreadExit { .. } | Event::Lost { .. }) {
                        continue;
                    }
                    assert!(
                        ev.ts_ns() >= watermark,
                        "thread {} pushed {ev:?} (stamped at {}) after a round with watermark {watermark}",
                        chunk.thread,
                        ev.ts_ns()
                    );
                }
            }
            _ => {}
        }
    }
    rounds
}
