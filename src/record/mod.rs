//! The record side: the allocator, the per-thread rings and their registry,
//! the drainer, and the tracking API (`track_var!`, `track_scope!`,
//! [`ffi`]), and the in-process measurement behind `memscope::measure`
//! ([`measure`]). The only part of the crate with `unsafe` (in `ring.rs`,
//! `registry.rs`, `futex.rs`, `thread/`, `alloc.rs`, `measure.rs` (its
//! thread-local pointer to the current counters), `stack.rs` (the frame-pointer
//! walk and the stack table), `modules.rs` (`dl_iterate_phdr`),
//! `segment.rs` (the segment directory's `flock`), and `track.rs` where
//! the drainer reads a site or string key back).

// The concurrent core, model-checked by `loom-tests/` under `cfg(loom)`:
// crate-private in a normal build, public only to the loom models.
#[cfg(loom)]
pub mod control;
#[cfg(not(loom))]
pub(crate) mod control;
#[cfg(loom)]
pub mod full;
#[cfg(not(loom))]
pub(crate) mod full;
#[cfg(loom)]
pub mod futex;
#[cfg(not(loom))]
pub(crate) mod futex;
#[cfg(loom)]
pub mod registry;
#[cfg(not(loom))]
pub(crate) mod registry;
#[cfg(loom)]
pub mod ring;
#[cfg(not(loom))]
pub(crate) mod ring;
#[cfg(loom)]
pub mod sample;
#[cfg(not(loom))]
pub(crate) mod sample;

#[cfg(not(loom))]
mod alloc;
#[cfg(not(loom))]
pub(crate) mod clock;
#[cfg(not(loom))]
mod drain;
#[cfg(not(loom))]
pub mod ffi;
#[cfg(not(loom))]
pub mod measure;
/// The module map: every loaded object, gathered off the hot path.
#[cfg(not(loom))]
pub(crate) mod modules;
#[cfg(not(loom))]
pub(crate) mod segment;
#[cfg(not(loom))]
pub(crate) mod stack;
#[cfg(not(loom))]
mod thread;
#[cfg(not(loom))]
mod totals;
#[cfg(not(loom))]
#[doc(hidden)]
pub mod track;
#[cfg(not(loom))]
mod trackable;

#[cfg(not(loom))]
pub use alloc::TrackingAllocator;
#[cfg(not(loom))]
pub use api::{Recorder, Recording, StackCapture, Summary};
#[cfg(not(loom))]
pub use track::ScopeGuard;
#[cfg(not(loom))]
pub use trackable::{Heap, Trackable, MAX_REGIONS};

/// Whether allocations carry their call stacks (FORMAT.md, "Call stacks").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CallStacks {
    /// Walk the frame-pointer chain on every allocation and reallocation
    /// (the default). Where code built without frame pointers calls, the
    /// caller's line is missing from the stack: build with
    /// `-C force-frame-pointers=yes` (README, "Which code allocated");
    /// Rust's std has them since 1.79. If memscope itself has none, stacks
    /// are turned off for the recording ([`StackCapture::NoFramePointers`]).
    #[default]
    FramePointers,
    /// No call stacks: every allocation is in one site, `[no stack]`.
    Off,
}

/// The layout of one thread's stack table, which the recorder allocates
/// from the inner allocator like a ring (for tests that count the inner
/// allocator's calls and must tell the recorder's own memory apart).
#[cfg(not(loom))]
#[doc(hidden)]
pub fn stack_table_layout() -> std::alloc::Layout {
    std::alloc::Layout::new::<stack::StackTable>()
}

/// The layout of one thread's slot and ring of `capacity` events, which the
/// recorder allocates from the inner allocator (for tests that count the
/// inner allocator's calls and must tell the recorder's own memory apart).
#[cfg(not(loom))]
#[doc(hidden)]
pub fn ring_layout(capacity: usize) -> std::alloc::Layout {
    registry::Slot::layout(capacity).0
}

/// Up to `n` return addresses of the calling thread's frames, innermost
/// first (the first is in the caller), by the allocator's frame-pointer
/// walk: for tests that symbolize the running binary.
#[cfg(not(loom))]
#[doc(hidden)]
#[inline(never)]
pub fn return_addresses(n: usize) -> Vec<u64> {
    // This function's own frame is the walk's first: skip it.
    let mut v = stack::return_addresses(n + 1);
    if !v.is_empty() {
        v.remove(0);
    }
    v
}

/// The number of rings (slots) the recorder has allocated in this process,
/// ever (they are reused, never freed): for tests that check ring memory
/// stays bounded by the threads alive at once.
#[cfg(not(loom))]
#[doc(hidden)]
pub fn rings_allocated() -> u32 {
    thread::REGISTRY.len()
}

/// Every event the recorder has counted as lost in this process so far
/// (all recordings, reported or not): for tests that check a recording's
/// `Summary::events_lost` against the counts producers made.
#[cfg(not(loom))]
#[doc(hidden)]
pub fn lost_counted() -> u64 {
    // Relaxed: a count, read by a test after its threads are joined.
    let unregistered = thread::SHARED.unregistered_lost.load(std::sync::atomic::Ordering::Relaxed);
    thread::REGISTRY.iter().map(|s| s.dropped()).sum::<u64>() + unregistered
}

/// Addresses in the sampled-address set now (sampled allocations not yet
/// deallocated): for tests of sampling recordings.
#[cfg(not(loom))]
#[doc(hidden)]
pub fn sampled_addresses() -> usize {
    thread::set_len()
}

/// Events the drainer found in a ring when a recording started, pushed for
/// an earlier recording after its drainer's last round and so written
/// nowhere and counted nowhere: for tests that check no event is stranded at
/// a stop (issue 9, "nothing vanishes silently").
#[cfg(not(loom))]
#[doc(hidden)]
pub fn events_stranded() -> u64 {
    // Relaxed: a count, read by a test between recordings.
    drain::STRANDED.load(std::sync::atomic::Ordering::Relaxed)
}

/// The recorder's ring, owned by one thread: for the ring benchmark.
#[cfg(not(loom))]
#[doc(hidden)]
pub use ring::OwnedRing;

/// Default ring capacity in events (8192 events, 256 KiB per thread).
pub const DEFAULT_RING_CAPACITY: usize = 8192;
/// Smallest accepted ring capacity in events.
pub const MIN_RING_CAPACITY: usize = 64;
/// Largest accepted ring capacity in events (2^20 events, 32 MiB per thread).
pub const MAX_RING_CAPACITY: usize = 1 << 20;
/// Smallest accepted [`Recorder::segment_bytes`] (4 KiB).
#[cfg(not(loom))]
pub const MIN_SEGMENT_BYTES: u64 = segment::MIN_SEGMENT_BYTES;

#[cfg(not(loom))]
mod api {
    use super::drain::{DrainStats, Drainer};
    use super::thread::{self, CONTROL};
    use crate::format::{OnFull, SegmentHeader, VERSION};
    use crate::sync::Ordering;
    use crate::Error;
    use std::fmt;
    use std::io::Write;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8};
    use std::sync::mpsc;
    use std::thread::JoinHandle;
    use std::time::Duration;

    /// No recording runs.
    const IDLE: u8 = 0;
    /// A recording is starting or running.
    const RUNNING: u8 = 1;
    /// `finish` was called; the drainer is still writing.
    const STOPPING: u8 = 2;

    /// The recorder's life cycle: IDLE → RUNNING → STOPPING → IDLE. Only the
    /// thread that moves it out of IDLE starts a drainer, and once a drainer
    /// runs only its exit moves the state back (a `start` that fails before
    /// spawning one does too), so at most one drainer (the rings' only
    /// consumer) exists at a time.
    static STATE: AtomicU8 = AtomicU8::new(IDLE);
    /// Recordings with an id up to this one are asked to stop. Ids only grow,
    /// so a stale guard's request never stops a newer recording.
    static STOP: AtomicU32 = AtomicU32::new(0);
    /// The last recording id handed out (the running one, if any).
    static LAST_SESSION: AtomicU32 = AtomicU32::new(0);
    /// Whether the atexit and fork hooks are registered.
    static HOOKS: AtomicBool = AtomicBool::new(false);
    /// The running recording's finish timeout, in ms, for the atexit hook.
    static EXIT_TIMEOUT_MS: AtomicU32 = AtomicU32::new(5000);
    /// The id of the recording the atexit hook stopped (its End record says so).
    static AT_EXIT: AtomicU32 = AtomicU32::new(0);

    /// Configures and starts a recording: the one configuration of memscope.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), memscope::Error> {
    /// let recording = memscope::Recorder::new("run.memscope").start()?;
    /// // ... the program's work ...
    /// let summary = recording.finish()?;
    /// eprintln!("{summary}");
    /// # Ok(()) }
    /// ```
    #[derive(Debug, Clone)]
    pub struct Recorder {
        path: PathBuf,
        ring_capacity: usize,
        on_full: OnFull,
        drain_interval: Duration,
        finish_timeout: Duration,
        call_stacks: super::CallStacks,
        leaks_asked: bool,
        segment_bytes: u64,
        keep_bytes: u64,
        sampling_interval: u64,
        sampling_seed: Option<u64>,
        sampled_set_cells: Option<usize>,
    }

    impl Recorder {
        /// A recorder writing to `path` (created or truncated at `start`),
        /// with the defaults: rings of 8192 events, `OnFull::Block`, a 5 ms
        /// drain interval and a 5 s finish timeout.
        pub fn new(path: impl AsRef<Path>) -> Self {
            Recorder {
                path: path.as_ref().to_path_buf(),
                ring_capacity: super::DEFAULT_RING_CAPACITY,
                on_full: OnFull::Block,
                drain_interval: Duration::from_millis(5),
                finish_timeout: Duration::from_secs(5),
                call_stacks: super::CallStacks::FramePointers,
                leaks_asked: false,
                segment_bytes: 0,
                keep_bytes: 0,
                sampling_interval: 0,
                sampling_seed: None,
                sampled_set_cells: None,
            }
        }

        /// Records continuously into a directory of segments: `path` is a
        /// directory (created if missing; segment files a previous recording
        /// left there are deleted at `start`), and the recording rotates to
        /// a new segment file (`000000.memscope`, `000001.memscope`, …) at
        /// the first drain round that ends with the current one at
        /// `bytes` bytes or more (and at least twice what its start, the
        /// tables and the checkpoint, took: a live set whose checkpoint
        /// outgrows `bytes` makes segments larger, not more frequent).
        /// Each segment replays on its own: it starts
        /// with the stack tree, module map, sites and a checkpoint of the
        /// live allocations. `memscope` commands and
        /// [`replay_file`](crate::replay::replay_file) take the directory.
        /// At least [`MIN_SEGMENT_BYTES`](super::MIN_SEGMENT_BYTES); 0 (the
        /// default) writes one file. Costs the drainer a table of the live
        /// allocations (about 40 bytes each); the allocating threads pay
        /// nothing more.
        pub fn segment_bytes(mut self, bytes: u64) -> Self {
            self.segment_bytes = bytes;
            self
        }

        /// With [`Recorder::segment_bytes`]: at each rotation, deletes the
        /// oldest segments until those closed plus one full segment
        /// (`segment_bytes`, or the last segment's size if larger) fit in
        /// `bytes`, so the directory holds at most `bytes` plus what the
        /// current segment grows past that (one round's records, when
        /// segments keep their size; the current segment is never deleted). At least `segment_bytes`; 0
        /// (the default) keeps every segment. A deletion that fails is
        /// counted ([`Summary::segment_delete_errors`]), not fatal.
        pub fn keep_bytes(mut self, bytes: u64) -> Self {
            self.keep_bytes = bytes;
            self
        }

        /// Whether allocations carry their call stacks
        /// ([`CallStacks::FramePointers`](super::CallStacks), the default) or
        /// not ([`CallStacks::Off`](super::CallStacks)). Each thread that
        /// allocates with stacks on gets a stack table of about 352 KiB
        /// (from the inner allocator, kept with its ring).
        pub fn call_stacks(mut self, stacks: super::CallStacks) -> Self {
            self.call_stacks = stacks;
            self
        }

        /// Capacity of each thread's ring, in events (32 bytes each): a power
        /// of two from 64 to 2^20. Applies to rings created after `start`;
        /// rings are kept for reuse across recordings.
        pub fn ring_capacity(mut self, events: usize) -> Self {
            self.ring_capacity = events;
            self
        }

        /// What a thread does when its ring is full: wait for the drainer
        /// ([`OnFull::Block`], lossless, the default) or drop the event and
        /// count it ([`OnFull::Drop`], bounded overhead; each drop is written
        /// to the file as a Lost event for that thread).
        pub fn on_full(mut self, policy: OnFull) -> Self {
            self.on_full = policy;
            self
        }

        /// Longest time the drainer sleeps between rounds (a producer wakes it
        /// sooner when its ring is half full).
        pub fn drain_interval(mut self, interval: Duration) -> Self {
            self.drain_interval = interval;
            self
        }

        /// How long `finish`, dropping the guard, or process exit waits for
        /// the drainer to write the last events.
        pub fn finish_timeout(mut self, timeout: Duration) -> Self {
            self.finish_timeout = timeout;
            self
        }

        /// Treats what is still live when the recording ends as leaks, also
        /// when it ends by `finish()` (by default only a recording that
        /// ends at process exit reports leaks: memory the program still
        /// holds when it calls `finish()` is *live at the end*). For a
        /// program that frees everything before it finishes recording. The
        /// End record says so (FORMAT.md, End flag 4); with events lost,
        /// replay still calls nothing a leak.
        pub fn treat_live_at_end_as_leaks(mut self) -> Self {
            self.leaks_asked = true;
            self
        }

        /// Samples allocations by bytes instead of recording every event:
        /// each thread records, on average, one allocation per `bytes`
        /// bytes it allocates (a Poisson process by bytes, as jemalloc's
        /// `lg_prof_sample` and Go's `MemProfileRate`; 512 KiB is their
        /// default), with its call stack, and the deallocation and
        /// reallocations of each sampled allocation. Every call is still
        /// counted, so the totals (calls, bytes allocated and freed, bytes in
        /// use) stay exact; per-site figures, the peak and the leaks are
        /// estimates, each sample weighted by `1/p`, `p = 1 − exp(−size /
        /// bytes)` (FORMAT.md, "Sampling record"). 0 (the default): record
        /// every event.
        ///
        /// The recorder allocates a table of sampled addresses from `System`
        /// at `start` (2 MiB of address space at 512 KiB; from 32 KiB to 32
        /// MiB), kept for the life of the process. `start` fails with
        /// [`Error::InvalidConfig`] above 1 TiB.
        pub fn sampling_interval_bytes(mut self, bytes: u64) -> Self {
            self.sampling_interval = bytes;
            self
        }

        /// The sampling seed (default: from the clock at `start`): for
        /// tests that repeat a sampling recording.
        #[doc(hidden)]
        pub fn sampling_seed(mut self, seed: u64) -> Self {
            self.sampling_seed = Some(seed);
            self
        }

        /// The number of cells of the sampled-address set (a power of two,
        /// at least 8): for tests that fill it.
        #[doc(hidden)]
        pub fn sampled_set_cells(mut self, cells: usize) -> Self {
            self.sampled_set_cells = Some(cells);
            self
        }

        /// Creates the file, starts the `memscope-drain` thread and starts
        /// recording every thread of the process, including threads that
        /// already exist (from their next allocation on).
        ///
        /// # Errors
        /// [`Error::AlreadyRecording`] if a recording runs; [`Error::InvalidConfig`];
        /// [`Error::Create`] if the file (or the segment directory) cannot be
        /// created; [`Error::DirectoryLocked`] if another recording writes
        /// into the segment directory; [`Error::Spawn`].
        pub fn start(self) -> Result<Recording, Error> {
            // Checks run outside `ignored`: when they fail, `self` (the
            // program's own memory, recorded if another recording runs) is
            // dropped as the program's. Past them no recording runs until
            // `launch` publishes the session, so nothing there is recorded.
            if !(Duration::from_micros(100)..=Duration::from_secs(3600)).contains(&self.drain_interval) {
                return Err(Error::InvalidConfig("drain interval must be from 100 µs to 1 hour"));
            }
            if !self.ring_capacity.is_power_of_two() || !(super::MIN_RING_CAPACITY..=super::MAX_RING_CAPACITY).contains(&self.ring_capacity)
            {
                return Err(Error::InvalidConfig("ring capacity must be a power of two from 64 to 1048576 events"));
            }
            if self.segment_bytes != 0 && self.segment_bytes < super::MIN_SEGMENT_BYTES {
                return Err(Error::InvalidConfig("segment_bytes must be 0 (one file) or at least 4096"));
            }
            if self.keep_bytes != 0 && self.segment_bytes == 0 {
                return Err(Error::InvalidConfig("keep_bytes needs segment_bytes"));
            }
            if self.keep_bytes != 0 && self.keep_bytes < self.segment_bytes {
                return Err(Error::InvalidConfig("keep_bytes must be 0 (keep every segment) or at least segment_bytes"));
            }
            if self.sampling_interval > crate::format::sampling::MAX_SAMPLING_INTERVAL {
                return Err(Error::InvalidConfig("sampling interval must be at most 1 TiB (0: no sampling)"));
            }
            if self.sampled_set_cells.is_some_and(|c| !c.is_power_of_two() || !(8..=1 << 26).contains(&c)) {
                return Err(Error::InvalidConfig("sampled-address set cells must be a power of two from 8 to 2^26"));
            }
            // Acquire: pairs with the drainer's Release store of IDLE, so its
            // last pops happen before ours.
            if STATE.compare_exchange(IDLE, RUNNING, Ordering::Acquire, Ordering::Relaxed).is_err() {
                return Err(Error::AlreadyRecording);
            }
            thread::ignored(|| self.start_inner())
        }

        fn start_inner(self) -> Result<Recording, Error> {
            match self.launch() {
                Ok(r) => Ok(r),
                Err(e) => {
                    // Release: nothing was started; the next start may go ahead.
                    STATE.store(IDLE, Ordering::Release);
                    Err(e)
                }
            }
        }

        fn launch(self) -> Result<Recording, Error> {
            let allocator_installed = super::measure::tracking_allocator_installed();
            let end_flags = if allocator_installed { 0 } else { crate::format::END_NO_TRACKING_ALLOCATOR }
                | if self.leaks_asked { crate::format::END_LEAKS_ASKED } else { 0 };
            let path = self.path;
            // Segmented: the directory, its lock, and segment 0.
            let mut segment_dir = None;
            let file_path = if self.segment_bytes != 0 {
                std::fs::create_dir_all(&path).map_err(|source| Error::Create { path: path.clone(), source })?;
                let lock = super::segment::DirLock::take(&path)?;
                // Segments a previous recording left: this recording replaces them.
                for (_, old) in crate::replay::list_segments(&path).map_err(|source| Error::Create { path: path.clone(), source })? {
                    std::fs::remove_file(&old).map_err(|source| Error::Create { path: old.clone(), source })?;
                }
                segment_dir = Some(lock);
                path.join(super::segment::segment_name(0))
            } else {
                path.clone()
            };
            let mut file = std::fs::File::create(&file_path).map_err(|source| Error::Create { path: file_path.clone(), source })?;
            // The clock, its epoch and its rate (may wait a few ms, once per process).
            let cal = super::clock::calibrate();
            let epoch = cal.epoch_ns;
            let start_unix_ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
            let header = SegmentHeader {
                version: VERSION,
                start_unix_ns,
                start_monotonic_ns: epoch,
                pid: std::process::id(),
                ring_capacity: self.ring_capacity as u32,
                on_full: self.on_full,
            };
            let mut header = header.encode().to_vec();
            crate::format::put_clock(&mut header, &cal.record(crate::format::CLOCK_AT_START));
            let interval = self.sampling_interval;
            let seed = self.sampling_seed.unwrap_or_else(|| {
                let mut s = start_unix_ns ^ epoch.rotate_left(32) ^ u64::from(std::process::id());
                crate::format::sampling::splitmix64(&mut s)
            });
            if interval != 0 {
                let cells = self.sampled_set_cells.unwrap_or_else(|| super::sample::cells_for_interval(interval));
                if !thread::prepare_set(cells) {
                    return Err(Error::InvalidConfig("no memory for the sampled-address set"));
                }
                crate::format::sampling::put_sampling(&mut header, &crate::format::SamplingRecord { interval_bytes: interval, seed });
            }
            file.write_all(&header).map_err(|source| Error::Create { path: file_path.clone(), source })?;

            CONTROL.configure(
                cal.epoch_ticks,
                cal.source == super::clock::SOURCE_TSC,
                thread::on_full_code(self.on_full),
                self.ring_capacity,
                u8::from(self.call_stacks == super::CallStacks::FramePointers),
            );
            CONTROL.configure_sampling(interval, seed);
            EXIT_TIMEOUT_MS.store(self.finish_timeout.as_millis().min(u32::MAX as u128) as u32, Ordering::Relaxed);
            // Relaxed: only uniqueness and growth matter (`STOP`).
            let session = LAST_SESSION.fetch_add(1, Ordering::Relaxed).wrapping_add(1).max(1);

            let mut drainer = Drainer::new(file, file_path, self.drain_interval, header.len() as u64);
            if let Some(lock) = segment_dir {
                drainer.segmented(super::segment::Segments {
                    dir: path.clone(),
                    segment_bytes: self.segment_bytes,
                    keep_bytes: if self.keep_bytes == 0 { u64::MAX } else { self.keep_bytes },
                    recording_id: super::segment::recording_id(),
                    index: 0,
                    head: header.clone(),
                    closed: std::collections::VecDeque::new(),
                    segment_start: 0,
                    start_bytes: 0,
                    events_base: 0,
                    lost_base: 0,
                    live: crate::format::live::LiveTable::default(),
                    carried: super::segment::Carried::default(),
                    deleted: 0,
                    delete_errors: 0,
                    _lock: lock,
                });
            }
            // Registered here, before the drainer thread exists, as well as
            // by the drainer: the kernel makes a process's first
            // registration wait for an RCU grace period (milliseconds) unless
            // the process has a single thread, as a program that starts
            // recording first thing in `main` has here.
            super::drain::register_heavy_barrier();
            let (ready_tx, ready_rx) = mpsc::sync_channel::<()>(1);
            let (done_tx, done_rx) = mpsc::sync_channel(1);
            let handle = std::thread::Builder::new()
                .name("memscope-drain".into())
                .spawn(move || {
                    // However the drainer ends, a panic included, recording
                    // stops (producers waiting on a full ring give up and
                    // count) and the recorder returns to IDLE.
                    let _exit = DrainerExit(session);
                    thread::ignore_this_thread();
                    drainer.reset();
                    // The rings were emptied of older events first (`reset`).
                    CONTROL.publish(session);
                    let _ = ready_tx.send(());
                    let result = drainer.run(&STOP, &AT_EXIT, session, end_flags);
                    drop(drainer);
                    let _ = done_tx.send(result);
                })
                .map_err(Error::Spawn)?;
            if ready_rx.recv().is_err() {
                let _ = handle.join();
                return Err(Error::DrainerPanicked);
            }
            if !HOOKS.swap(true, Ordering::Relaxed) {
                thread::at_exit(finish_at_exit);
                thread::at_fork_child(after_fork_in_child);
            }
            Ok(Recording {
                path,
                handle: Some(handle),
                done: done_rx,
                timeout: self.finish_timeout,
                session,
                pid: std::process::id(),
                call_stacks: self.call_stacks,
                allocator_installed,
            })
        }
    }

    /// Dropped when a drainer thread ends, normally or by a panic.
    struct DrainerExit(u32);

    impl Drop for DrainerExit {
        fn drop(&mut self) {
            // Only this drainer's recording is stopped.
            CONTROL.stop(self.0);
            // Release: pairs with the Acquire CAS in `start`: this drainer's
            // last pops happen before the next drainer's first.
            STATE.store(IDLE, Ordering::Release);
        }
    }

    /// Stops recording `session`: no new events from now on; asks its
    /// drainer to finish. A stale guard's call leaves a newer recording alone.
    fn request_stop(session: u32) {
        if CONTROL.stop(session) {
            // Relaxed: STATE only guards against a second drainer; the
            // drainer's Release store of IDLE is what later starts pair with.
            let _ = STATE.compare_exchange(RUNNING, STOPPING, Ordering::Relaxed, Ordering::Relaxed);
        }
        // Release: pairs with the drainer's Acquire load of STOP. `fetch_max`:
        // ids only grow, so an older id never stops a newer drainer.
        STOP.fetch_max(session, Ordering::Release);
        thread::wake_drainer();
    }

    /// The fork hook, in the child: the child has one thread and no drainer,
    /// so it records nothing (the parent's recording goes on unchanged).
    /// A forked child's `Recording` guards are inert: `finish` returns
    /// [`Error::ForkedChild`] and dropping one does nothing.
    extern "C" fn after_fork_in_child() {
        CONTROL.clear_after_fork();
        // Relaxed: the child is single-threaded here.
        STATE.store(IDLE, Ordering::Relaxed);
        thread::forget_slot_after_fork();
        // The parent's threads are gone here: none waits at the gate and
        // none has an event in flight, whatever the copies say (otherwise the
        // child's first stop would wait for them forever, or for a second).
        thread::SHARED.gate.clear_after_fork();
        for slot in thread::REGISTRY.iter() {
            slot.clear_in_flight_after_fork();
        }
    }

    /// The atexit hook: finishes a recording still running at `exit` (return
    /// from `main` with the guard alive elsewhere, `std::process::exit`), or
    /// waits for one another thread is finishing.
    extern "C" fn finish_at_exit() {
        thread::ignored(|| {
            // Acquire: pairs with the drainer's Release store of IDLE.
            match STATE.load(Ordering::Acquire) {
                IDLE => return,
                RUNNING => {
                    // Relaxed: the id of the recording this process started last.
                    let session = LAST_SESSION.load(Ordering::Relaxed);
                    // Release: pairs with the drainer's Acquire load when it
                    // writes the End record, after it sees the stop below.
                    AT_EXIT.store(session, Ordering::Release);
                    request_stop(session);
                }
                _ => {} // STOPPING: another thread's `finish` is draining.
            }
            let deadline = std::time::Instant::now() + Duration::from_millis(EXIT_TIMEOUT_MS.load(Ordering::Relaxed).into());
            while STATE.load(Ordering::Acquire) != IDLE && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
        });
    }

    /// A running recording. Finish it with [`Recording::finish`], which
    /// reports errors; dropping it finishes too (errors go to stderr). Either
    /// waits at most the configured finish timeout for the drainer.
    #[must_use = "dropping the Recording finishes the recording at once"]
    #[derive(Debug)]
    pub struct Recording {
        path: PathBuf,
        handle: Option<JoinHandle<()>>,
        done: mpsc::Receiver<Result<DrainStats, Error>>,
        timeout: Duration,
        /// This recording's id.
        session: u32,
        /// The process that started it (a forked child's copy is inert).
        pid: u32,
        /// The configured call stacks.
        call_stacks: super::CallStacks,
        /// Whether the probe at start reached a `TrackingAllocator`.
        allocator_installed: bool,
    }

    impl Recording {
        /// The recording file, or the segment directory.
        pub fn path(&self) -> &Path {
            &self.path
        }

        /// Stops recording, drains every ring, writes the End record and
        /// syncs the file.
        ///
        /// # Errors
        /// [`Error::Write`] if writing failed (the file is readable up to the
        /// failure), [`Error::FinishTimeout`], [`Error::DrainerPanicked`],
        /// [`Error::ForkedChild`] in a forked child.
        pub fn finish(mut self) -> Result<Summary, Error> {
            // The guard itself (its channel, thread handle and path) is dropped
            // unrecorded too: it is the recorder's, and it existed before any
            // recording that may run now, so nothing attributable is hidden.
            thread::ignored(move || {
                let result = self.finish_inner();
                drop(self);
                result
            })
        }

        fn finish_inner(&mut self) -> Result<Summary, Error> {
            let Some(handle) = self.handle.take() else {
                return Err(Error::AlreadyRecording);
            };
            if self.pid != std::process::id() {
                // The drainer thread exists only in the parent.
                std::mem::forget(handle);
                return Err(Error::ForkedChild);
            }
            request_stop(self.session);
            match self.done.recv_timeout(self.timeout) {
                Ok(result) => {
                    let _ = handle.join();
                    let stats = result?;
                    Ok(Summary {
                        path: std::mem::take(&mut self.path),
                        events_written: stats.events_written,
                        events_lost: stats.events_lost,
                        bytes_written: stats.bytes_written,
                        chunks: stats.chunks,
                        threads: stats.threads,
                        duration_ns: stats.end_ns,
                        call_stacks: match (self.call_stacks, stats.no_frame_pointers) {
                            (super::CallStacks::Off, _) => StackCapture::TurnedOff,
                            (_, true) => StackCapture::NoFramePointers,
                            _ => StackCapture::Recorded,
                        },
                        allocator_installed: self.allocator_installed,
                        drainer_cpu_ns: stats.cpu_ns,
                        segments: stats.segments,
                        segments_deleted: stats.segments_deleted,
                        segment_delete_errors: stats.segment_delete_errors,
                    })
                }
                Err(mpsc::RecvTimeoutError::Timeout) => Err(Error::FinishTimeout(self.timeout)),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = handle.join();
                    Err(Error::DrainerPanicked)
                }
            }
        }
    }

    impl Drop for Recording {
        fn drop(&mut self) {
            if self.handle.is_some() {
                thread::ignored(|| match self.finish_inner() {
                    Ok(_) | Err(Error::ForkedChild) => {}
                    Err(e) => eprintln!("memscope: {e}"),
                });
            }
        }
    }

    /// What a finished recording wrote. `Display` gives a one-line summary.
    #[derive(Debug, Clone, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct Summary {
        /// The recording file, or the segment directory.
        pub path: PathBuf,
        /// Events written (Lost records not included).
        pub events_written: u64,
        /// Events lost (ring full under `OnFull::Drop`, recording stopped
        /// under `Block`, or no memory for a thread's ring).
        pub events_lost: u64,
        /// Size of the file in bytes (of every segment written, deleted ones
        /// included, for a segmented recording).
        pub bytes_written: u64,
        /// Chunks written.
        pub chunks: u64,
        /// Threads that recorded at least one event.
        pub threads: u64,
        /// Length of the recording in nanoseconds.
        pub duration_ns: u64,
        /// Whether allocations carry call stacks.
        pub call_stacks: StackCapture,
        /// Whether the global allocator was `memscope::TrackingAllocator`
        /// when the recording started. When not, no allocation,
        /// deallocation or reallocation was recorded (only the tracking
        /// macros' events): add `#[global_allocator] static A:
        /// memscope::TrackingAllocator = memscope::TrackingAllocator::system();`.
        /// The End record says so too (`memscope info`, the report).
        pub allocator_installed: bool,
        /// CPU time the recording's drainer thread (`memscope-drain`) used
        /// from its start to the end of `finish`, user and system together,
        /// in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`; 0 if it could not be
        /// read). This is the recording's cost beyond the allocating threads'
        /// own: emptying the rings, filing call stacks, encoding,
        /// compressing and writing. Divide by `events_written` for the cost
        /// per event ([`Summary::drainer_cpu_ns_per_event`]).
        pub drainer_cpu_ns: u64,
        /// Segment files written: 1 for a recording into one file.
        pub segments: u64,
        /// Segments deleted to keep within [`Recorder::keep_bytes`].
        pub segments_deleted: u64,
        /// Deletions of old segments that failed (the files stay on disk).
        pub segment_delete_errors: u64,
    }

    /// Whether a recording's allocations carry call stacks, and if not, why.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    #[non_exhaustive]
    pub enum StackCapture {
        /// Every allocation and reallocation carries its call stack.
        Recorded,
        /// Turned off with `Recorder::call_stacks(CallStacks::Off)`.
        TurnedOff,
        /// Asked for, but memscope was built without frame pointers, so the
        /// walk cannot work: build with `-C force-frame-pointers=yes` (README,
        /// "Which code allocated").
        NoFramePointers,
    }

    impl Summary {
        /// The drainer's CPU time per event written, in nanoseconds (0 when
        /// no event was written): [`Summary::drainer_cpu_ns`] / `events_written`.
        pub fn drainer_cpu_ns_per_event(&self) -> f64 {
            if self.events_written == 0 {
                0.0
            } else {
                self.drainer_cpu_ns as f64 / self.events_written as f64
            }
        }

        /// Bytes on disk per event written (0 when no event was written).
        pub fn bytes_per_event(&self) -> f64 {
            if self.events_written == 0 {
                0.0
            } else {
                self.bytes_written as f64 / self.events_written as f64
            }
        }
    }

    impl fmt::Display for Summary {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(
                f,
                "memscope: {} events from {} threads in {:.3} s, {} lost; {} bytes on disk ({:.2} bytes/event) in {}",
                self.events_written,
                self.threads,
                self.duration_ns as f64 / 1e9,
                self.events_lost,
                self.bytes_written,
                self.bytes_per_event(),
                self.path.display()
            )?;
            if !self.allocator_installed {
                write!(
                    f,
                    "; NO ALLOCATION RECORDED: the global allocator is not memscope::TrackingAllocator (add `#[global_allocator] static A: memscope::TrackingAllocator = memscope::TrackingAllocator::system();`)"
                )?;
            }
            if self.call_stacks == StackCapture::NoFramePointers {
                write!(f, "; no call stacks: memscope was built without frame pointers (build with -C force-frame-pointers=yes)")?;
            }
            Ok(())
        }
    }
}
