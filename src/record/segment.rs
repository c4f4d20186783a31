//! Continuous recording (FORMAT.md, "Segments"): the drainer writes a
//! directory of segment files, rotates to a new one when the current one
//! reaches `segment_bytes`, deletes the oldest beyond `keep_bytes`, and
//! starts each with what it needs to replay on its own (the stack tree,
//! modules, sites, texts, and a Checkpoint of the live allocations).
//!
//! Everything here runs on the drainer thread (or in `start`, before it),
//! off the allocator's hot path; the drainer's own allocations are never
//! recorded.

use crate::format::event::*;
use crate::format::live::LiveTable;
use crate::format::{CheckpointEntry, RawEvent};
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::hash::Hasher;
use std::io::{Read, Seek, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

pub(crate) use crate::format::segment_file_name as segment_name;

/// The smallest accepted `segment_bytes` (4 KiB): a segment holds at least
/// its header, tables and checkpoint and one round.
pub const MIN_SEGMENT_BYTES: u64 = 4096;

/// The segment directory's lock: an exclusive `flock` on `DIR/lock`, held
/// as long as the file stays open (the kernel releases it when the process
/// ends, so a lock left by a dead process is taken over at once). The file
/// holds the owner's pid, for the error another recorder reports.
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock of `dir`, or says which process holds it.
    pub(crate) fn take(dir: &Path) -> Result<DirLock, crate::Error> {
        let path = dir.join(crate::format::SEGMENT_LOCK_FILE);
        let create = |source| crate::Error::Create { path: path.clone(), source };
        let mut file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(create)?;
        // SAFETY: flock takes the descriptor of `file`, open for the call's
        // duration, and no pointer.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(crate::Error::DirectoryLocked { path: dir.to_path_buf(), pid: text.trim().parse().ok() });
            }
            return Err(create(err));
        }
        let _ = file.set_len(0).and_then(|()| file.rewind()).and_then(|()| writeln!(file, "{}", std::process::id()));
        Ok(DirLock { _file: file })
    }
}

/// A random 64-bit recording id (std's per-process random hash keys, the
/// time and the pid; never 0).
pub(crate) fn recording_id() -> u64 {
    use std::hash::BuildHasher;
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    h.write_u128(now);
    h.write_u32(std::process::id());
    h.finish().max(1)
}

/// What the drainer needs to write a directory of segments.
pub(crate) struct Segments {
    pub(crate) dir: PathBuf,
    pub(crate) segment_bytes: u64,
    pub(crate) keep_bytes: u64,
    pub(crate) recording_id: u64,
    /// The index of the segment being written.
    pub(crate) index: u64,
    /// The segment header and start Clock record every segment opens with.
    pub(crate) head: Vec<u8>,
    /// Closed segments still on disk, oldest first, with their sizes.
    pub(crate) closed: VecDeque<(PathBuf, u64)>,
    /// Bytes the recording had written when the current segment began.
    pub(crate) segment_start: u64,
    /// Bytes of the current segment's start: head, tables, checkpoint.
    pub(crate) start_bytes: u64,
    /// Events written and lost before the current segment (its End record
    /// counts its own).
    pub(crate) events_base: u64,
    pub(crate) lost_base: u64,
    pub(crate) live: LiveTable,
    /// Names and tracking state each segment repeats at its start.
    pub(crate) carried: Carried,
    /// Segments deleted for the budget, and deletions that failed.
    pub(crate) deleted: u64,
    pub(crate) delete_errors: u64,
    pub(crate) _lock: DirLock,
}

impl Segments {
    /// Deletes the oldest closed segments while the closed ones and a full
    /// current segment (`segment_bytes`, or the last closed segment's size
    /// if larger) would exceed `keep_bytes` (never the current one). A
    /// failed deletion is counted, not fatal.
    pub(crate) fn enforce_budget(&mut self) {
        let mut total: u64 = self.closed.iter().map(|c| c.1).sum();
        let next = self.closed.back().map_or(0, |c| c.1).max(self.segment_bytes);
        while total.saturating_add(next) > self.keep_bytes {
            let Some((path, size)) = self.closed.pop_front() else { break };
            total -= size;
            match std::fs::remove_file(&path) {
                Ok(()) => self.deleted += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.deleted += 1,
                Err(_) => self.delete_errors += 1,
            }
        }
    }
}

/// How far below a tracking event's address the drainer looks for the
/// live allocation that contains it, in bytes (an `Rc`'s or `Arc`'s value
/// sits 16 bytes in; replay looks further, `MAX_INTERIOR_OFFSET`).
const CARRY_MAX_BACK: u64 = 256;
/// The most named variables and handoffs carried at once; more are not
/// carried (counted in [`Carried::dropped`]).
const MAX_CARRIED_NAMED: usize = 100_000;
/// The most open scopes carried per thread.
const MAX_CARRIED_SCOPES: usize = 256;
/// The most live foreign regions carried.
const MAX_CARRIED_FOREIGN: usize = 100_000;

/// One named variable (its Var event and the VarMore, VarType, Shared and
/// CloneOf events of its group) or one handoff, carried while an
/// allocation it names is live.
struct Named {
    thread: u32,
    /// The site key of a variable (0: a handoff).
    site: u64,
    events: Vec<RawEvent>,
    /// Live allocations it names (entries of `Carried::named_by`).
    links: u32,
}

/// What a segment repeats at its start, after its Checkpoint, so that it
/// replays alone with its names (FORMAT.md, "Checkpoint events record"):
/// per recorder thread, its ThreadStart (while it runs, or while it owns a
/// live allocation) and ThreadExit, the ScopeEnter events of its open
/// scopes, the groups of its named variables and its handoffs while an
/// allocation they name is live, and its live foreign regions. Kept only
/// when segmenting, on the drainer thread, from the events it drains (in
/// drain order, before the live table takes each).
#[derive(Default)]
pub(crate) struct Carried {
    threads: HashMap<u32, (RawEvent, Option<RawEvent>)>,
    scopes: HashMap<u32, Vec<RawEvent>>,
    foreign: HashMap<u64, (u32, RawEvent)>,
    /// A slab: `None` slots are free (listed in `free`).
    named: Vec<Option<Named>>,
    free: Vec<u32>,
    /// Live allocation start → the named entries that name the allocation
    /// there, with its time (the live table's identity: an address may
    /// hold an allocation whose deallocation is not drained yet, and the
    /// one that replaced it).
    named_by: HashMap<u64, Vec<(u32, u64)>>,
    /// The group the thread's next VarMore, VarType, Shared and CloneOf
    /// events belong to (`None`: a variable not carried).
    last_var: HashMap<u32, u32>,
    /// Tracking events not carried for the bounds above.
    pub(crate) dropped: u64,
}

impl Carried {
    /// Takes one drained event of recorder thread `thread`, before `live`
    /// takes it.
    pub(crate) fn event(&mut self, e: &RawEvent, thread: u32, live: &LiveTable) {
        match e.kind() {
            KIND_DEALLOC if !self.named_by.is_empty() => {
                for (n, _) in self.take_named(e.a, e.ts_ns(), live) {
                    self.unlink(n);
                }
            }
            KIND_REALLOC | KIND_REALLOC_LARGE if !self.named_by.is_empty() => {
                let (old, new) = (e.a, e.b);
                let named = self.take_named(old, e.ts_ns(), live);
                if !named.is_empty() {
                    // Names follow the allocation: their addresses in it move
                    // with it; it keeps its identity (time).
                    let size = live.identity(old, e.ts_ns()).map_or(1, |(_, size)| size.max(1));
                    for &(n, _) in &named {
                        if let Some(entry) = self.named.get_mut(n as usize).and_then(Option::as_mut) {
                            for ev in &mut entry.events {
                                if matches!(ev.kind(), KIND_VAR | KIND_VAR_MORE | KIND_HANDOFF) && ev.a >= old && ev.a - old < size {
                                    ev.a = ev.a - old + new;
                                }
                            }
                        }
                    }
                    self.named_by.entry(new).or_default().extend(named);
                }
            }
            KIND_THREAD_START => {
                self.threads.insert(thread, (*e, None));
            }
            KIND_THREAD_EXIT => {
                if let Some(t) = self.threads.get_mut(&thread) {
                    t.1 = Some(*e);
                }
                self.scopes.remove(&thread);
                self.last_var.remove(&thread);
            }
            KIND_SCOPE_ENTER => {
                let open = self.scopes.entry(thread).or_default();
                if open.len() < MAX_CARRIED_SCOPES {
                    open.push(*e);
                } else {
                    self.dropped += 1;
                }
            }
            KIND_SCOPE_EXIT => {
                // As replay does: the innermost open scope of the site, and any inside it.
                if let Some(open) = self.scopes.get_mut(&thread) {
                    if let Some(i) = open.iter().rposition(|s| s.a == e.a) {
                        open.truncate(i);
                    }
                }
            }
            KIND_FOREIGN_ALLOC => {
                if self.foreign.len() < MAX_CARRIED_FOREIGN || self.foreign.contains_key(&e.a) {
                    self.foreign.insert(e.a, (thread, *e));
                } else {
                    self.dropped += 1;
                }
            }
            KIND_FOREIGN_FREE => {
                self.foreign.remove(&e.a);
            }
            KIND_VAR => {
                self.last_var.remove(&thread);
                let (site, Some((start, at))) = (e.c, live.containing(e.a, CARRY_MAX_BACK, e.ts_ns())) else { return };
                // SAFETY: `site` is the site operand of a Var event popped
                // from a ring, which only `track.rs` builds, from a `&'static Site`.
                let clone_site = unsafe { super::track::site_from_key(site) }.kind() == crate::format::SITE_CLONE;
                let named = self.named_by.get(&start).map_or(&[][..], Vec::as_slice);
                let again =
                    !clone_site && named.iter().any(|&(n, t)| t == at && self.named[n as usize].as_ref().is_some_and(|v| v.site == site));
                // The same site naming this allocation again is no new
                // variable (replay counts it as retracked): not carried twice.
                if !again {
                    if let Some(n) = self.add(Named { thread, site, events: vec![*e], links: 1 }, start, at) {
                        self.last_var.insert(thread, n);
                    }
                }
            }
            KIND_VAR_MORE | KIND_VAR_TYPE | KIND_SHARED | KIND_CLONE_OF => {
                let Some(&n) = self.last_var.get(&thread) else { return };
                let Some(entry) = self.named.get_mut(n as usize).and_then(Option::as_mut) else { return };
                entry.events.push(*e);
                if e.kind() == KIND_VAR_MORE && e.a != VAR_MORE_PAST_BOUND {
                    if let Some((start, at)) = live.containing(e.a, CARRY_MAX_BACK, e.ts_ns()) {
                        let by = self.named_by.entry(start).or_default();
                        if !by.contains(&(n, at)) {
                            by.push((n, at));
                            entry.links += 1;
                        }
                    }
                }
            }
            KIND_HANDOFF => {
                if let Some((start, at)) = live.containing(e.a, CARRY_MAX_BACK, e.ts_ns()) {
                    self.add(Named { thread, site: 0, events: vec![*e], links: 1 }, start, at);
                }
            }
            _ => {}
        }
    }

    /// Takes the named entries of the allocation at `ptr` that an event
    /// stamped `ts_ns` ends (its deallocation or reallocation), with its time.
    fn take_named(&mut self, ptr: u64, ts_ns: u64, live: &LiveTable) -> Vec<(u32, u64)> {
        let Some((at, _)) = live.identity(ptr, ts_ns) else { return Vec::new() };
        let Some(by) = self.named_by.get_mut(&ptr) else { return Vec::new() };
        let (taken, kept): (Vec<_>, Vec<_>) = by.iter().partition(|&&(_, t)| t == at);
        if kept.is_empty() {
            self.named_by.remove(&ptr);
        } else {
            *by = kept;
        }
        taken
    }

    /// Adds a named entry linked to the live allocation at `start` made at
    /// `at`; `None` beyond [`MAX_CARRIED_NAMED`].
    fn add(&mut self, named: Named, start: u64, at: u64) -> Option<u32> {
        let n = match self.free.pop() {
            Some(n) => {
                self.named[n as usize] = Some(named);
                n
            }
            None if self.named.len() < MAX_CARRIED_NAMED => {
                self.named.push(Some(named));
                self.named.len() as u32 - 1
            }
            None => {
                self.dropped += 1;
                return None;
            }
        };
        self.named_by.entry(start).or_default().push((n, at));
        Some(n)
    }

    /// One allocation `n` names is no longer live: it goes with its last.
    fn unlink(&mut self, n: u32) {
        let Some(entry) = self.named.get_mut(n as usize).and_then(Option::as_mut) else { return };
        entry.links -= 1;
        if entry.links == 0 {
            let thread = entry.thread;
            self.named[n as usize] = None;
            self.free.push(n);
            if self.last_var.get(&thread) == Some(&n) {
                self.last_var.remove(&thread);
            }
        }
    }

    /// Appends the Checkpoint events records of a segment's start (one or
    /// more per thread with something to carry, its events in timestamp
    /// order), `checkpoint` the segment's live allocations. Forgets the
    /// threads that exited and own none of them.
    pub(crate) fn put(&mut self, out: &mut Vec<u8>, encoder: &mut crate::format::ChunkEncoder, checkpoint: &[CheckpointEntry]) {
        let owners: std::collections::HashSet<u32> = checkpoint.iter().map(|c| c.thread).collect();
        let mut by_thread: std::collections::BTreeMap<u32, Vec<RawEvent>> = std::collections::BTreeMap::new();
        for (&t, open) in &self.scopes {
            by_thread.entry(t).or_default().extend_from_slice(open);
        }
        for &(t, e) in self.foreign.values() {
            by_thread.entry(t).or_default().push(e);
        }
        for n in self.named.iter().flatten() {
            by_thread.entry(n.thread).or_default().extend_from_slice(&n.events);
        }
        self.threads.retain(|t, (_, exit)| exit.is_none() || owners.contains(t) || by_thread.contains_key(t));
        for (&t, &(start, exit)) in &self.threads {
            let events = by_thread.entry(t).or_default();
            events.push(start);
            events.extend(exit);
        }
        for (t, mut events) in by_thread {
            // Stable: a variable's group keeps its order.
            events.sort_by_key(RawEvent::ts_ns);
            for part in events.chunks(crate::format::MAX_CHUNK_EVENTS as usize) {
                encoder.put_checkpoint_events(out, t, part);
            }
        }
    }
}
