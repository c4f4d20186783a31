//! Helpers for the tracking tests (`tests/track_*.rs`): `track_var!`,
//! `track_clone!`, `track_scope!` and `memscope::ffi` checked against what
//! the test itself knows.
//!
//! Each test file checks every scenario twice, from two independent reads
//! of the same recording:
//! - `record_*` tests read the file with the raw reader ([`RawTrack`]): what
//!   the record side wrote (events, sites, texts);
//! - `replay_*` tests read `memscope::replay::replay_file` exported with
//!   `memscope::export::json` into a `serde_json::Value` ([`Doc`]), against
//!   the shape and rules of the JSON's `variables`, `scopes`, `foreign` and
//!   `tracking` (docs/JSON.md).
//!
//! A scenario is recorded once per process ([`scenario`]) under [`lock`], so
//! that only one recording runs at a time and no test's macros land in
//! another's recording. Allocations of other tests' threads may land in it
//! (they are not counted anywhere): every check is per thread, per variable
//! or per scope, never on the whole recording's totals.
//!
//! Ground truth:
//! - [`Here`] (from [`track_here!`]): the name, file, line and column a
//!   site must carry, from `stringify!`, `file!`, `line!` and `column!` at
//!   the same call;
//! - [`MeterAlloc`]: the global allocator's inner allocator in these tests;
//!   it tallies, per thread, the allocator calls made inside [`metered`]
//!   (counts, bytes, and the peak of live bytes in the window);
//! - [`Window`]: `CLOCK_MONOTONIC` (the recorder's clock) read before and
//!   after a call, so an event's timestamp must fall inside.
#![allow(dead_code)]

use super::CountingAlloc;
use memscope::format::{Event, Reader, Record, SiteRecord, SITE_CLONE, SITE_SCOPE, SITE_VAR};
use serde_json::Value;
use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::collections::HashMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

// ---------------------------------------------------------------------------
// One recording at a time.

static RECORDING: Mutex<()> = Mutex::new(());

/// Held for a whole scenario: no other test records (or calls a tracking
/// macro) meanwhile. A test that failed while holding it does not block the others.
pub fn lock() -> MutexGuard<'static, ()> {
    RECORDING.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `record` once per process, under [`lock`], and keeps its result for
/// every test of the file that checks it.
pub fn scenario<T: Send + Sync>(cell: &'static OnceLock<T>, record: impl FnOnce() -> T) -> &'static T {
    cell.get_or_init(|| {
        let _one_at_a_time = lock();
        record()
    })
}

static RECORDINGS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

extern "C" fn remove_recordings() {
    if std::env::var_os("MEMSCOPE_KEEP_RECORDINGS").is_some() {
        return;
    }
    if let Ok(paths) = RECORDINGS.lock() {
        for p in paths.iter() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Removes the recording at `path` when the test process exits (scenarios
/// are read by several tests, so no single test can remove it); set
/// `MEMSCOPE_KEEP_RECORDINGS` to keep them.
pub fn remove_at_exit(path: &Path) {
    static HOOK: std::sync::Once = std::sync::Once::new();
    // SAFETY: `remove_recordings` is an `extern "C" fn()` that never unwinds
    // (it ignores every error) and lives for the whole process.
    HOOK.call_once(|| unsafe {
        libc::atexit(remove_recordings);
    });
    RECORDINGS.lock().unwrap_or_else(|p| p.into_inner()).push(path.to_path_buf());
}

/// Starts a recording at a fresh temp path, runs `work`, finishes (nothing
/// may be lost: the default `OnFull::Block`), and returns the path and
/// `work`'s value (which may hold values to keep alive, or leaks, past the
/// recording). The file is removed when the process exits.
pub fn record<R>(name: &str, work: impl FnOnce() -> R) -> (PathBuf, R) {
    let path = super::temp_path(name);
    remove_at_exit(&path);
    let recording = memscope::Recorder::new(&path).start().expect("start a recording");
    let r = work();
    let summary = recording.finish().expect("finish the recording");
    assert_eq!(summary.events_lost, 0, "events lost under OnFull::Block");
    assert!(summary.allocator_installed, "the tests' global allocator is a TrackingAllocator: {summary}");
    (path, r)
}

/// The recording's epoch: `CLOCK_MONOTONIC` at its start, in ns, from the file header.
pub fn epoch(path: &Path) -> u64 {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    Reader::new(file).expect("segment header").header().start_monotonic_ns
}

/// The calling thread's OS id, as the recorder's ThreadStart event carries it.
pub fn os_tid() -> u64 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() as u64 }
}

// ---------------------------------------------------------------------------
// Sites and times.

/// What a tracking site must say about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Here {
    /// `stringify!` of the tracked expression, or the scope's name.
    pub name: &'static str,
    /// `std::any::type_name` of the tracked value's type ("" for a scope).
    pub type_name: &'static str,
    pub file: &'static str,
    pub line: u32,
    pub column: u32,
}

/// `track_var!(expr)`, returning the [`Here`] the site must carry: same
/// call site, so `line!`/`column!` give the line and column `track_var!`
/// sees, and `stringify!` sees the same expression fragment.
#[macro_export]
macro_rules! track_here {
    ($value:expr) => {{
        ::memscope::track_var!($value);
        $crate::common::track::Here {
            name: stringify!($value),
            type_name: $crate::common::track::type_of(&$value),
            file: file!(),
            line: line!(),
            column: column!(),
        }
    }};
}

/// `track_clone!(expr)`, returning the clone and the [`Here`] of the site.
#[macro_export]
macro_rules! clone_here {
    ($value:expr) => {{
        let clone = ::memscope::track_clone!($value);
        let here = $crate::common::track::Here {
            name: stringify!($value),
            type_name: $crate::common::track::type_of(&clone),
            file: file!(),
            line: line!(),
            column: column!(),
        };
        (clone, here)
    }};
}

/// `track_scope!(name)`, returning the guard and the [`Here`] of the site.
#[macro_export]
macro_rules! scope_here {
    ($name:expr) => {{
        let guard = ::memscope::track_scope!($name);
        (guard, $crate::common::track::Here { name: $name, type_name: "", file: file!(), line: line!(), column: column!() })
    }};
}

/// `std::any::type_name` of what `value` points to.
pub fn type_of<T: ?Sized>(_: &T) -> &'static str {
    std::any::type_name::<T>()
}

/// `CLOCK_MONOTONIC` before and after a call, in ns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: u64,
    pub to: u64,
}

/// Runs `f` between two clock reads.
pub fn timed<R>(f: impl FnOnce() -> R) -> (R, Window) {
    let from = super::monotonic_ns();
    let r = f();
    (r, Window { from, to: super::monotonic_ns() })
}

impl Window {
    /// Asserts that `ts_ns` (ns since the recording's `epoch`) lies in the window.
    #[track_caller]
    pub fn assert_holds(&self, epoch: u64, ts_ns: u64, what: &str) {
        let (from, to) = (self.from.saturating_sub(epoch), self.to - epoch);
        assert!(from <= ts_ns && ts_ns <= to, "{what}: {ts_ns} ns not in [{from}, {to}] (ns since the epoch)");
    }

    /// The window's length in ns.
    pub fn len_ns(&self) -> u64 {
        self.to - self.from
    }
}

// ---------------------------------------------------------------------------
// The meter: per-thread tallies of allocator calls.

/// Forwards to [`CountingAlloc`] (so the counters of `common` work as in
/// the other tests) and tallies, per thread, the calls made inside
/// [`metered`]. Only thread-local cells and no allocation: usable inside
/// the allocator at any point of a thread's life.
#[derive(Debug, Default, Clone, Copy)]
pub struct MeterAlloc(CountingAlloc);

impl MeterAlloc {
    pub const fn new() -> Self {
        MeterAlloc(CountingAlloc::new())
    }
}

/// What a thread's allocator calls did inside one [`metered`] window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// `alloc` + `alloc_zeroed` calls.
    pub allocs: u64,
    pub reallocs: u64,
    pub deallocs: u64,
    /// Sizes of allocations plus new sizes of reallocations (as a scope's `allocated_bytes`).
    pub alloc_bytes: u64,
    /// Sizes of deallocations plus old sizes of reallocations.
    pub dealloc_bytes: u64,
    /// The most live bytes at once, counting from 0 at the window's start
    /// (allocations minus deallocations made in the window).
    pub peak: i64,
    /// Live bytes at the window's end, counting from 0 at its start.
    pub end_live: i64,
}

impl Tally {
    /// The tallies of consecutive windows as one, for a scope: `peak` is the
    /// largest of each window's peak on top of the live bytes before it.
    pub fn then(self, next: Tally) -> Tally {
        Tally {
            allocs: self.allocs + next.allocs,
            reallocs: self.reallocs + next.reallocs,
            deallocs: self.deallocs + next.deallocs,
            alloc_bytes: self.alloc_bytes + next.alloc_bytes,
            dealloc_bytes: self.dealloc_bytes + next.dealloc_bytes,
            peak: self.peak.max(self.end_live + next.peak),
            end_live: self.end_live + next.end_live,
        }
    }

    /// The tallies of windows that each start with nothing of theirs live
    /// (entries of one scope that free what they allocate): sums, and the
    /// largest peak.
    pub fn and(self, other: Tally) -> Tally {
        Tally {
            allocs: self.allocs + other.allocs,
            reallocs: self.reallocs + other.reallocs,
            deallocs: self.deallocs + other.deallocs,
            alloc_bytes: self.alloc_bytes + other.alloc_bytes,
            dealloc_bytes: self.dealloc_bytes + other.dealloc_bytes,
            peak: self.peak.max(other.peak),
            end_live: self.end_live + other.end_live,
        }
    }
}

struct Meter {
    on: Cell<bool>,
    allocs: Cell<u64>,
    reallocs: Cell<u64>,
    deallocs: Cell<u64>,
    alloc_bytes: Cell<u64>,
    dealloc_bytes: Cell<u64>,
    live: Cell<i64>,
    peak: Cell<i64>,
}

thread_local! {
    static METER: Meter = const {
        Meter {
            on: Cell::new(false),
            allocs: Cell::new(0),
            reallocs: Cell::new(0),
            deallocs: Cell::new(0),
            alloc_bytes: Cell::new(0),
            dealloc_bytes: Cell::new(0),
            live: Cell::new(0),
            peak: Cell::new(0),
        }
    };
}

/// Whether `layout` is a recorder slot's (its ring, allocated from the
/// inner allocator on a thread's first event) or a slot's stack table (on
/// its first call stack): the recorder's memory, not the program's, so
/// never tallied.
fn is_slot_layout(layout: Layout) -> bool {
    use memscope::record::{ring_layout, MAX_RING_CAPACITY, MIN_RING_CAPACITY};
    if layout == memscope::record::stack_table_layout() {
        return true;
    }
    if layout.size() < ring_layout(MIN_RING_CAPACITY).size() {
        return false;
    }
    let mut cap = MIN_RING_CAPACITY;
    while cap <= MAX_RING_CAPACITY {
        if ring_layout(cap) == layout {
            return true;
        }
        cap *= 2;
    }
    false
}

fn tally(layout: Layout, f: impl FnOnce(&Meter)) {
    if is_slot_layout(layout) {
        return;
    }
    let _ = METER.try_with(|m| {
        if m.on.get() {
            f(m);
            if m.live.get() > m.peak.get() {
                m.peak.set(m.live.get());
            }
        }
    });
}

fn add(c: &Cell<u64>, n: u64) {
    c.set(c.get() + n);
}

/// Runs `f` with this thread's allocator calls tallied (not nested).
pub fn metered<R>(f: impl FnOnce() -> R) -> (R, Tally) {
    METER.with(|m| {
        assert!(!m.on.get(), "metered windows do not nest");
        for c in [&m.allocs, &m.reallocs, &m.deallocs, &m.alloc_bytes, &m.dealloc_bytes] {
            c.set(0);
        }
        m.live.set(0);
        m.peak.set(0);
        m.on.set(true);
    });
    let r = f();
    let t = METER.with(|m| {
        m.on.set(false);
        Tally {
            allocs: m.allocs.get(),
            reallocs: m.reallocs.get(),
            deallocs: m.deallocs.get(),
            alloc_bytes: m.alloc_bytes.get(),
            dealloc_bytes: m.dealloc_bytes.get(),
            peak: m.peak.get(),
            end_live: m.live.get(),
        }
    });
    (r, t)
}

// SAFETY: every method forwards to `CountingAlloc` (which forwards to
// `System`) unchanged; the tally touches only const-initialised
// thread-local cells without `Drop`.
unsafe impl GlobalAlloc for MeterAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is forwarded unchanged.
        let p = unsafe { self.0.alloc(layout) };
        if !p.is_null() {
            tally(layout, |m| {
                add(&m.allocs, 1);
                add(&m.alloc_bytes, layout.size() as u64);
                m.live.set(m.live.get() + layout.size() as i64);
            });
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { self.0.alloc_zeroed(layout) };
        if !p.is_null() {
            tally(layout, |m| {
                add(&m.allocs, 1);
                add(&m.alloc_bytes, layout.size() as u64);
                m.live.set(m.live.get() + layout.size() as i64);
            });
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        tally(layout, |m| {
            add(&m.deallocs, 1);
            add(&m.dealloc_bytes, layout.size() as u64);
            m.live.set(m.live.get() - layout.size() as i64);
        });
        // SAFETY: as above.
        unsafe { self.0.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            tally(layout, |m| {
                add(&m.reallocs, 1);
                add(&m.alloc_bytes, new_size as u64);
                add(&m.dealloc_bytes, layout.size() as u64);
                m.live.set(m.live.get() + new_size as i64 - layout.size() as i64);
            });
        }
        p
    }
}

// ---------------------------------------------------------------------------
// The raw read: what the record side wrote.

/// A tracked value as its events say: a `Var` and the `VarMore`, `VarType`,
/// `Shared` and `CloneOf` events that follow it on its thread.
#[derive(Debug, Clone)]
pub struct RawVar {
    pub thread: u32,
    pub ts_ns: u64,
    pub site: SiteRecord,
    /// The type's text: the `VarType` event's, else the site's.
    pub type_name: String,
    /// Every located region (address, bytes), in order: the `Var`'s first (if
    /// its address is not 0), then the `VarMore`s with an address.
    pub regions: Vec<(u64, u64)>,
    /// Bytes reported without an address (`VarMore` with address 0).
    pub unlocated: Option<u64>,
    pub shared: Option<(u64, u64)>,
    pub clone_of: Option<u64>,
    /// `VarType` events that followed (a site used with another type).
    pub type_events: u64,
}

/// A scope enter or exit.
#[derive(Debug, Clone)]
pub struct RawScope {
    pub thread: u32,
    pub ts_ns: u64,
    pub enter: bool,
    pub unwinding: bool,
    pub site: SiteRecord,
}

/// A foreign-memory event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawForeign {
    Alloc { thread: u32, ts_ns: u64, ptr: u64, size: u64, label: String },
    Free { thread: u32, ts_ns: u64, ptr: u64 },
    Handoff { thread: u32, ts_ns: u64, ptr: u64, label: String },
}

/// The tracking side of a recording, read with the raw reader.
#[derive(Debug, Default)]
pub struct RawTrack {
    pub epoch: u64,
    pub finished: bool,
    pub damage: u64,
    pub site_records: Vec<SiteRecord>,
    pub texts: HashMap<u64, String>,
    pub vars: Vec<RawVar>,
    pub scopes: Vec<RawScope>,
    pub foreign: Vec<RawForeign>,
    /// Tracking events of every kind.
    pub tracking_events: u64,
    /// Recorder thread id → OS thread id.
    pub os_tids: HashMap<u32, u64>,
    /// Allocation, reallocation and deallocation events, by thread, in push order.
    pub heap: Vec<(u32, Event)>,
}

/// Reads the tracking events of the recording at `path`.
pub fn raw_track(path: &Path) -> RawTrack {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut reader = Reader::new(BufReader::new(file)).expect("segment header");
    let mut t = RawTrack { epoch: reader.header().start_monotonic_ns, ..RawTrack::default() };
    let mut chunks = Vec::new();
    while let Some(item) = reader.next_record().expect("read") {
        match item {
            Err(_) => t.damage += 1,
            Ok(Record::End { .. }) => t.finished = true,
            Ok(Record::Site(site)) => t.site_records.push(site),
            Ok(Record::Text { key, text }) => {
                let old = t.texts.insert(key, text);
                assert!(old.is_none(), "text key {key:#x} written twice");
            }
            Ok(Record::Events(chunk)) => chunks.push(chunk),
            Ok(_) => {}
        }
    }
    let sites: HashMap<u64, SiteRecord> = t.site_records.iter().map(|s| (s.key, s.clone())).collect();
    assert_eq!(sites.len(), t.site_records.len(), "a site record written twice");
    let site = |key: u64| sites.get(&key).cloned().unwrap_or_else(|| panic!("no Site record for key {key:#x}"));
    let text =
        |texts: &HashMap<u64, String>, key: u64| texts.get(&key).cloned().unwrap_or_else(|| panic!("no Text record for key {key:#x}"));
    chunks.sort_by_key(|c| (c.thread, c.sequence));
    // The index in `vars` of each thread's last Var.
    let mut last_var: HashMap<u32, usize> = HashMap::new();
    for chunk in chunks {
        let th = chunk.thread;
        for ev in chunk.events {
            let last = last_var.get(&th).copied();
            let tracking = !matches!(
                ev,
                Event::Alloc { .. }
                    | Event::Realloc { .. }
                    | Event::Dealloc { .. }
                    | Event::ThreadStart { .. }
                    | Event::ThreadExit { .. }
                    | Event::Lost { .. }
            );
            t.tracking_events += u64::from(tracking);
            match ev {
                Event::Alloc { .. } | Event::Realloc { .. } | Event::Dealloc { .. } => t.heap.push((th, ev)),
                Event::ThreadStart { os_tid, .. } => {
                    t.os_tids.insert(th, os_tid);
                }
                Event::Var { ts_ns, ptr, size, site: key } => {
                    let s = site(key);
                    assert!(s.kind == SITE_VAR || s.kind == SITE_CLONE, "Var event with a scope site: {s:?}");
                    let type_name = if s.type_key == 0 { String::new() } else { text(&t.texts, s.type_key) };
                    let regions = if ptr == 0 {
                        assert_eq!(size, 0, "a Var with no address but a size");
                        vec![]
                    } else {
                        vec![(ptr, size)]
                    };
                    t.vars.push(RawVar {
                        thread: th,
                        ts_ns,
                        site: s,
                        type_name,
                        regions,
                        unlocated: None,
                        shared: None,
                        clone_of: None,
                        type_events: 0,
                    });
                    last_var.insert(th, t.vars.len() - 1);
                }
                Event::VarMore { ts_ns, ptr, size } => {
                    let v = &mut t.vars[last.expect("VarMore before any Var on its thread")];
                    assert_eq!(v.ts_ns, ts_ns, "a value's events share one timestamp");
                    if ptr == 0 {
                        v.unlocated = Some(v.unlocated.unwrap_or(0) + size);
                    } else {
                        v.regions.push((ptr, size));
                    }
                }
                Event::VarType { ts_ns, type_key } => {
                    let name = text(&t.texts, type_key);
                    let v = &mut t.vars[last.expect("VarType before any Var on its thread")];
                    assert_eq!(v.ts_ns, ts_ns, "a value's events share one timestamp");
                    v.type_name = name;
                    v.type_events += 1;
                }
                Event::Shared { ts_ns, strong, weak } => {
                    let v = &mut t.vars[last.expect("Shared before any Var on its thread")];
                    assert_eq!(v.ts_ns, ts_ns, "a value's events share one timestamp");
                    assert!(v.shared.replace((strong, weak)).is_none(), "two Shared events for one Var");
                }
                Event::CloneOf { ts_ns, source_ptr } => {
                    let v = &mut t.vars[last.expect("CloneOf before any Var on its thread")];
                    assert_eq!(v.ts_ns, ts_ns, "a value's events share one timestamp");
                    assert!(v.clone_of.replace(source_ptr).is_none(), "two CloneOf events for one Var");
                }
                Event::ScopeEnter { ts_ns, site: key } | Event::ScopeExit { ts_ns, site: key, .. } => {
                    let s = site(key);
                    assert_eq!(s.kind, SITE_SCOPE, "scope event with a variable site: {s:?}");
                    let (enter, unwinding) = match ev {
                        Event::ScopeExit { unwinding, .. } => (false, unwinding),
                        _ => (true, false),
                    };
                    t.scopes.push(RawScope { thread: th, ts_ns, enter, unwinding, site: s });
                }
                Event::ForeignAlloc { ts_ns, ptr, size, label } => {
                    let label = text(&t.texts, label);
                    t.foreign.push(RawForeign::Alloc { thread: th, ts_ns, ptr, size, label });
                }
                Event::ForeignFree { ts_ns, ptr } => t.foreign.push(RawForeign::Free { thread: th, ts_ns, ptr }),
                Event::Handoff { ts_ns, ptr, label } => {
                    let label = text(&t.texts, label);
                    t.foreign.push(RawForeign::Handoff { thread: th, ts_ns, ptr, label });
                }
                _ => {}
            }
        }
    }
    t
}

impl RawTrack {
    /// The recorder's id of the thread with OS id `os_tid`.
    #[track_caller]
    pub fn thread_of(&self, os_tid: u64) -> u32 {
        let ids: Vec<u32> = self.os_tids.iter().filter(|(_, &os)| os == os_tid).map(|(&id, _)| id).collect();
        assert_eq!(ids.len(), 1, "threads with OS id {os_tid}: {ids:?}");
        ids[0]
    }

    /// Every `Var` whose site has this name, in push order per thread.
    pub fn vars_named(&self, name: &str) -> Vec<&RawVar> {
        self.vars.iter().filter(|v| v.site.name == name).collect()
    }

    /// The one `Var` of the site `here`.
    #[track_caller]
    pub fn var(&self, here: &Here) -> &RawVar {
        let found: Vec<&RawVar> = self.vars.iter().filter(|v| v.site.line == here.line && v.site.file == here.file).collect();
        assert_eq!(found.len(), 1, "Var events of {here:?}: {found:#?}");
        found[0]
    }

    /// Every `Var` of the site `here`.
    pub fn vars_at(&self, here: &Here) -> Vec<&RawVar> {
        self.vars.iter().filter(|v| v.site.line == here.line && v.site.column == here.column && v.site.file == here.file).collect()
    }

    /// The scope events of the scope site `here`.
    pub fn scope_events(&self, here: &Here) -> Vec<&RawScope> {
        self.scopes.iter().filter(|s| s.site.line == here.line && s.site.column == here.column && s.site.file == here.file).collect()
    }
}

/// Asserts that a site record says what `here` says, of kind `kind`.
#[track_caller]
pub fn assert_site(site: &SiteRecord, here: &Here, kind: u8) {
    assert_eq!(site.kind, kind, "site kind of {here:?}");
    assert_eq!(site.name, here.name, "site name");
    assert_eq!(site.file, here.file, "site file");
    assert_eq!(site.line, here.line, "site line");
    assert_eq!(site.column, here.column, "site column");
}

/// Asserts a Var event against ground truth: its site, type, thread,
/// timestamp window and located regions.
#[track_caller]
pub fn assert_raw_var(t: &RawTrack, v: &RawVar, here: &Here, kind: u8, os_tid: u64, when: &Window, regions: &[(u64, u64)]) {
    assert_site(&v.site, here, kind);
    assert_eq!(v.type_name, here.type_name, "type of {}", here.name);
    assert_eq!(v.thread, t.thread_of(os_tid), "thread of {}", here.name);
    when.assert_holds(t.epoch, v.ts_ns, &format!("Var event of {}", here.name));
    assert_eq!(v.regions, regions, "regions of {}", here.name);
}

// ---------------------------------------------------------------------------
// The replayed JSON.

/// The JSON document of the replay of a recording.
#[derive(Debug, Clone)]
pub struct Doc(pub Value);

/// Replays `path` and exports it with `memscope::export::json`.
pub fn document(path: &Path) -> Doc {
    let replay = memscope::replay::replay_file(path).unwrap_or_else(|e| panic!("replay {}: {e}", path.display()));
    let mut buf = Vec::new();
    memscope::export::json(&replay, &mut buf).expect("export JSON to a Vec");
    Doc(serde_json::from_slice(&buf).expect("the export is valid JSON"))
}

/// The field `key` of the object `v`; panics, showing `v`, if it is missing.
#[track_caller]
pub fn field<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.get(key).unwrap_or_else(|| panic!("no `{key}` in {}", short(v)))
}

/// The unsigned number `v[key]`.
#[track_caller]
pub fn num(v: &Value, key: &str) -> u64 {
    field(v, key).as_u64().unwrap_or_else(|| panic!("`{key}` is not an unsigned number in {}", short(v)))
}

/// `v[key]`, an unsigned number or null.
#[track_caller]
pub fn opt_num(v: &Value, key: &str) -> Option<u64> {
    let f = field(v, key);
    if f.is_null() {
        None
    } else {
        Some(f.as_u64().unwrap_or_else(|| panic!("`{key}` is neither null nor an unsigned number in {}", short(v))))
    }
}

/// The string `v[key]`.
#[track_caller]
pub fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    field(v, key).as_str().unwrap_or_else(|| panic!("`{key}` is not a string in {}", short(v)))
}

/// The array `v[key]`.
#[track_caller]
pub fn array<'a>(v: &'a Value, key: &str) -> &'a Vec<Value> {
    field(v, key).as_array().unwrap_or_else(|| panic!("`{key}` is not an array in {}", short(v)))
}

/// The unsigned numbers of the array `v[key]`, sorted.
#[track_caller]
pub fn ids(v: &Value, key: &str) -> Vec<u64> {
    let mut ids: Vec<u64> = array(v, key).iter().map(|x| x.as_u64().expect("an id")).collect();
    ids.sort_unstable();
    ids
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    let mut end = s.len().min(2000);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    if end < s.len() {
        format!("{}…", &s[..end])
    } else {
        s
    }
}

impl Doc {
    /// `recording.start_monotonic_ns`: the epoch of every `*_ns` field.
    pub fn epoch(&self) -> u64 {
        num(field(&self.0, "recording"), "start_monotonic_ns")
    }

    /// The `tracking` object (the counts of json-v2).
    #[track_caller]
    pub fn tracking(&self) -> &Value {
        self.0.get("tracking").unwrap_or_else(|| {
            panic!("the JSON has no `tracking` object: replay and export of the tracking events (json-v2) have not landed")
        })
    }

    /// `tracking[key]`.
    #[track_caller]
    pub fn count(&self, key: &str) -> u64 {
        num(self.tracking(), key)
    }

    #[track_caller]
    pub fn variables(&self) -> &Vec<Value> {
        self.tracking();
        array(&self.0, "variables")
    }

    #[track_caller]
    pub fn scopes(&self) -> &Vec<Value> {
        self.tracking();
        array(&self.0, "scopes")
    }

    #[track_caller]
    pub fn foreign(&self) -> &Vec<Value> {
        self.tracking();
        array(&self.0, "foreign")
    }

    /// The recorder's id of the thread with OS id `os_tid` (from `threads`).
    #[track_caller]
    pub fn thread_of(&self, os_tid: u64) -> u64 {
        let found: Vec<u64> = array(&self.0, "threads")
            .iter()
            .filter(|t| t.get("os_tid").and_then(Value::as_u64) == Some(os_tid))
            .map(|t| num(t, "thread"))
            .collect();
        assert_eq!(found.len(), 1, "threads with OS id {os_tid} in the JSON: {found:?}");
        found[0]
    }

    /// The variable with id `id`.
    #[track_caller]
    pub fn var_by_id(&self, id: u64) -> &Value {
        let v = self.variables().get(id as usize).unwrap_or_else(|| panic!("no variable {id}"));
        assert_eq!(num(v, "id"), id, "a variable's id is its index");
        v
    }

    /// Every variable of the site `here` (by file and line, column and name).
    pub fn vars_at(&self, here: &Here) -> Vec<&Value> {
        self.variables()
            .iter()
            .filter(|v| {
                v.get("file").and_then(Value::as_str) == Some(here.file)
                    && v.get("line").and_then(Value::as_u64) == Some(u64::from(here.line))
                    && v.get("column").and_then(Value::as_u64) == Some(u64::from(here.column))
            })
            .collect()
    }

    /// The one variable of the site `here`; also checks its name, type,
    /// file, line and column.
    #[track_caller]
    pub fn var(&self, here: &Here) -> &Value {
        let found = self.vars_at(here);
        assert_eq!(found.len(), 1, "variables of {here:?}: {}", short(&Value::Array(found.iter().map(|v| (*v).clone()).collect())));
        let v = found[0];
        assert_var_site(v, here);
        v
    }

    /// The one scope node with this thread, name and parent.
    #[track_caller]
    pub fn scope(&self, thread: u64, name: &str, parent: Option<u64>) -> &Value {
        let found: Vec<&Value> = self
            .scopes()
            .iter()
            .filter(|s| s.get("thread").and_then(Value::as_u64) == Some(thread) && s.get("name").and_then(Value::as_str) == Some(name))
            .filter(|s| s.get("parent").map(Value::as_u64) == Some(parent))
            .collect();
        assert_eq!(found.len(), 1, "scope nodes {name:?} of thread {thread} under {parent:?}: {:?}", self.scopes());
        found[0]
    }

    /// Every scope node of a thread.
    pub fn scopes_of(&self, thread: u64) -> Vec<&Value> {
        self.scopes().iter().filter(|s| s.get("thread").and_then(Value::as_u64) == Some(thread)).collect()
    }
}

/// Asserts a variable's name, type, file, line and column.
#[track_caller]
pub fn assert_var_site(v: &Value, here: &Here) {
    // A clone is named by its source expression and its index at its site.
    match v.get("clone_index").and_then(Value::as_u64) {
        Some(n) => assert_eq!(text(v, "name"), format!("{} (clone {n})", here.name), "name"),
        None => assert_eq!(text(v, "name"), here.name, "name"),
    }
    assert_eq!(text(v, "type"), here.type_name, "type of {}", here.name);
    assert_eq!(text(v, "file"), here.file, "file of {}", here.name);
    assert_eq!(num(v, "line"), u64::from(here.line), "line of {}", here.name);
    assert_eq!(num(v, "column"), u64::from(here.column), "column of {}", here.name);
}

/// Asserts a scope node's name, file and line.
#[track_caller]
pub fn assert_scope_site(s: &Value, here: &Here) {
    assert_eq!(text(s, "name"), here.name, "scope name");
    assert_eq!(text(s, "file"), here.file, "scope file");
    assert_eq!(num(s, "line"), u64::from(here.line), "scope line");
}

/// The kinds of an allocation's `history`, in order.
#[track_caller]
pub fn history_kinds(alloc: &Value) -> Vec<String> {
    array(alloc, "history").iter().map(|h| text(h, "kind").to_owned()).collect()
}

/// `{:#x}` of an address, as the JSON's `ptr_hex` fields write it.
pub fn hex(ptr: u64) -> String {
    format!("{ptr:#x}")
}
