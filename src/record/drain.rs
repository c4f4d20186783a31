//! The drainer: a background thread (`memscope-drain`) that empties every
//! ring into LZ4-compressed chunks appended to the recording file.
//!
//! One round: note the watermark (now), then for every slot pop what its
//! ring holds, add a Lost event for newly dropped events, encode one chunk
//! per thread, end with a Round record, and write the round with one
//! `write_all`. Between rounds it sleeps until a producer passes the
//! high-water mark or the drain interval passes. Its own allocations are
//! never recorded: it marks itself ignored before anything else.

use super::registry::{Slot, EXITED, FREE};
use super::stack::{self, CUT_AT_DEPTH, ENDED_EARLY, LOCAL_FULL};
use super::thread::{self, REGISTRY, SHARED};
use super::track;
use crate::format::event::*;
use crate::format::stacks::{StackNode, MARK_ENDED_EARLY, MARK_TABLE_FULL, MARK_TRUNCATED};
use crate::format::{self, ChunkEncoder, RawEvent};
use crate::sync::Ordering;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// What a finished drainer reports.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DrainStats {
    pub(crate) events_written: u64,
    pub(crate) events_lost: u64,
    pub(crate) bytes_written: u64,
    pub(crate) chunks: u64,
    pub(crate) threads: u64,
    pub(crate) end_ns: u64,
    /// Stacks were asked for but the walk does not work in this build.
    pub(crate) no_frame_pointers: bool,
}

/// The most events in one chunk. A ring can hold 2^20 events, and a
/// reallocation between distant addresses encodes to about 28 bytes, so one
/// chunk per ring could exceed the 16 MiB a reader accepts (FORMAT.md); at
/// 2^16 events a payload stays under 2 MiB.
const MAX_CHUNK_EVENTS: usize = format::MAX_CHUNK_EVENTS as usize;
const _: () = assert!(MAX_CHUNK_EVENTS * format::codec::MAX_EVENT_BYTES <= format::MAX_BODY_LEN as usize / 4);

pub(crate) struct Drainer {
    pub(crate) file: File,
    pub(crate) path: PathBuf,
    pub(crate) interval: Duration,
    /// Per slot index: dropped events already reported in a Lost event.
    reported_dropped: Vec<u64>,
    reported_unregistered: u64,
    batch: Vec<RawEvent>,
    out: Vec<u8>,
    encoder: ChunkEncoder,
    sequence: u64,
    round: u64,
    stats: DrainStats,
    /// Site keys whose `Site` record this recording's file already holds.
    sites_written: HashSet<u64>,
    /// The last site key looked up: a thread tracking in a loop repeats it,
    /// and this skips hashing it again.
    last_site: u64,
    /// String keys whose `Text` record this recording's file already holds.
    texts_written: HashSet<u64>,
    /// Per slot index: the file's stack id of each stack-table id (0: not
    /// yet seen in this recording).
    stack_ids: Vec<Vec<u32>>,
    /// Per slot index: the stack of the slot's next reallocation, from a
    /// StackNext event (which may end one batch while its reallocation
    /// starts the next).
    pending_stack: Vec<u32>,
    /// The file's stack tree: (parent, return address) → node id.
    nodes: HashMap<(u32, u64), u32>,
    /// Nodes made since the last `Stack` record, with the id of the first.
    new_nodes: Vec<StackNode>,
    /// The file's stack id of each event of `batch` (0: none).
    stacks: Vec<u32>,
    /// Modules already written, by (start, path).
    modules_written: HashSet<(u64, String)>,
    /// Sends the module map when it changes (never called into from here).
    watcher: Option<super::modules::Watcher>,
    /// Code ranges the walk could not be told about (more than `MAX_RANGES`).
    pub(crate) code_ranges_dropped: u64,
}

impl Drainer {
    pub(crate) fn new(file: File, path: PathBuf, interval: Duration, header_len: u64) -> Self {
        Drainer {
            file,
            path,
            interval,
            reported_dropped: Vec::new(),
            reported_unregistered: 0,
            batch: Vec::new(),
            out: Vec::new(),
            encoder: ChunkEncoder::default(),
            sequence: 0,
            round: 0,
            stats: DrainStats { bytes_written: header_len, ..DrainStats::default() },
            sites_written: HashSet::new(),
            last_site: 0,
            texts_written: HashSet::new(),
            stack_ids: Vec::new(),
            pending_stack: Vec::new(),
            nodes: HashMap::new(),
            new_nodes: Vec::new(),
            stacks: Vec::new(),
            modules_written: HashSet::new(),
            watcher: None,
            code_ranges_dropped: 0,
        }
    }

    /// Writes the objects of `map` not yet in the file and lets the
    /// frame-pointer walk accept their code.
    fn put_modules(&mut self, map: super::modules::ModuleMap) {
        let (modules, code) = map;
        for (start, end) in code {
            if !stack::CODE.add(start, end) {
                self.code_ranges_dropped += 1;
            }
        }
        for m in modules {
            if self.modules_written.insert((m.start, m.path.clone())) {
                format::put_module(&mut self.out, &m);
            }
        }
    }

    /// Before recording begins: the module map as it is now, written and
    /// given to the walk, and a watcher for later changes. This is the only
    /// call into the dynamic loader from the drainer thread, made while no
    /// producer can be waiting for it.
    fn start_modules(&mut self) {
        let generation = super::modules::modules_generation();
        self.put_modules(super::modules::loaded_modules_and_code());
        self.watcher = super::modules::Watcher::start(generation);
    }

    /// Takes the module maps the watcher sent since the last round.
    fn poll_modules(&mut self) {
        let Some(w) = &self.watcher else { return };
        let maps: Vec<_> = w.maps.try_iter().collect();
        for map in maps {
            self.put_modules(map);
        }
    }

    /// The file's node id of (`parent`, `address`), adding the node if new.
    fn node(&mut self, parent: u32, address: u64) -> u32 {
        let next = self.nodes.len() as u32 + 1;
        let id = *self.nodes.entry((parent, address)).or_insert(next);
        if id == next {
            self.new_nodes.push(StackNode { parent, address });
        }
        id
    }

    /// The file's stack id of stack-table id `local` of `slot`.
    fn file_stack(&mut self, slot: &Slot, local: u32) -> u32 {
        if local == 0 {
            return 0;
        }
        if local == LOCAL_FULL {
            return self.node(0, MARK_TABLE_FULL);
        }
        let index = slot.index() as usize;
        if let Some(&id) = self.stack_ids.get(index).and_then(|m| m.get(local as usize)) {
            if id != 0 {
                return id;
            }
        }
        // SAFETY: this thread is the drainer, and `local` comes from an
        // event just popped from `slot`'s ring.
        let Some((frames, flags)) = (unsafe { stack::frames_of(slot, local) }) else { return 0 };
        let mut id = 0;
        if flags & u16::from(CUT_AT_DEPTH) != 0 {
            id = self.node(0, MARK_TRUNCATED);
        } else if flags & u16::from(ENDED_EARLY) != 0 {
            id = self.node(0, MARK_ENDED_EARLY);
        }
        for &ret in frames.iter().rev() {
            id = self.node(id, ret);
        }
        if self.stack_ids.len() <= index {
            self.stack_ids.resize_with(index + 1, Vec::new);
        }
        let map = &mut self.stack_ids[index];
        if map.len() <= local as usize {
            map.resize(local as usize + 1, 0);
        }
        map[local as usize] = id;
        id
    }

    /// Replaces the stack-table ids of `batch` (popped from `slot`) by the
    /// file's, into `stacks`, folding StackNext events into the reallocation
    /// that follows; writes the new stack nodes ahead of the chunk.
    fn resolve_stacks(&mut self, slot: &Slot) {
        let index = slot.index() as usize;
        if self.pending_stack.len() <= index {
            self.pending_stack.resize(index + 1, 0);
        }
        let mut batch = std::mem::take(&mut self.batch);
        self.stacks.clear();
        let mut kept = 0;
        for i in 0..batch.len() {
            let e = batch[i];
            let stack = match e.kind() {
                KIND_STACK_NEXT => {
                    self.pending_stack[index] = e.a as u32;
                    continue;
                }
                KIND_ALLOC | KIND_ALLOC_ZEROED => {
                    // A StackNext is always followed by its reallocation
                    // (they are pushed together); never let one reach further.
                    debug_assert_eq!(self.pending_stack[index], 0);
                    self.pending_stack[index] = 0;
                    self.file_stack(slot, e.alloc_stack())
                }
                KIND_REALLOC | KIND_REALLOC_LARGE => {
                    let local = std::mem::take(&mut self.pending_stack[index]);
                    self.file_stack(slot, local)
                }
                _ => 0,
            };
            batch[kept] = e;
            self.stacks.push(stack);
            kept += 1;
        }
        batch.truncate(kept);
        self.batch = batch;
        if !self.new_nodes.is_empty() {
            let mut first = (self.nodes.len() - self.new_nodes.len()) as u32 + 1;
            for part in self.new_nodes.chunks(format::MAX_STACK_NODES) {
                format::put_stack_nodes(&mut self.out, first, part);
                first += part.len() as u32;
            }
            self.new_nodes.clear();
        }
    }

    /// Before the recording starts: discards events a previous recording left
    /// in the rings (pushed after it stopped), frees slots of exited threads,
    /// and takes the drop counters as the baseline.
    pub(crate) fn reset(&mut self) {
        for slot in REGISTRY.iter() {
            let state = slot.state();
            self.batch.clear();
            let reset = stack::drainer_reset_check(slot);
            // SAFETY: one drainer runs at a time (`record::STATE`), so this
            // thread is every ring's only consumer.
            unsafe { slot.ring.pop_into(&mut self.batch, usize::MAX) };
            if let Some(r) = reset {
                // This recording has no ids of the slot yet: acknowledge at once.
                stack::drainer_ack_reset(slot, r);
            }
            if state == EXITED {
                slot.recycle();
            }
            self.baseline(slot.index() as usize, slot.dropped());
        }
        self.pending_stack.clear();
        self.start_modules();
        // Relaxed: set by `launch` before this thread started; read by the
        // hot path only after the Release store of `session` that follows.
        if thread::CONTROL.stacks.load(Ordering::Relaxed) != 0 && !stack::walk_works() {
            thread::CONTROL.stacks.store(0, Ordering::Relaxed);
            self.stats.no_frame_pointers = true;
        }
        // Relaxed: a count.
        self.reported_unregistered = SHARED.unregistered_lost.load(Ordering::Relaxed);
        self.batch.clear();
    }

    fn baseline(&mut self, index: usize, dropped: u64) {
        if self.reported_dropped.len() <= index {
            self.reported_dropped.resize(index + 1, 0);
        }
        self.reported_dropped[index] = dropped;
    }

    /// One drain round; returns the largest number of events taken from one ring.
    pub(crate) fn round(&mut self) -> Result<usize, crate::Error> {
        let watermark = thread::now_ns();
        let mut most = 0;
        // `out` may hold the module map written at start.
        self.poll_modules();
        for slot in REGISTRY.iter() {
            let state = slot.state();
            if state == FREE {
                continue;
            }
            let index = slot.index() as usize;
            if self.reported_dropped.len() <= index {
                self.reported_dropped.resize(index + 1, 0);
            }
            // Read before popping (Acquire, in `dropped`): the owner's thread
            // id is then visible even for a batch holding only a Lost event.
            let dropped = slot.dropped();
            // Read before popping too: every id pushed before a reset request
            // is then popped and resolved in this round (`stack::StackTable`).
            let reset = stack::drainer_reset_check(slot);
            let mut taken = 0;
            loop {
                self.batch.clear();
                // SAFETY: one drainer runs at a time, so this thread is the only consumer.
                let n = unsafe { slot.ring.pop_into(&mut self.batch, MAX_CHUNK_EVENTS) };
                taken += n;
                let last = n < MAX_CHUNK_EVENTS;
                if last && dropped > self.reported_dropped[index] {
                    let ts = self.batch.last().map_or(watermark, |e| e.ts_ns().max(watermark));
                    self.batch.push(RawEvent::lost(ts, dropped - self.reported_dropped[index]));
                    self.stats.events_lost += dropped - self.reported_dropped[index];
                    self.reported_dropped[index] = dropped;
                }
                self.resolve_stacks(slot);
                if !self.batch.is_empty() {
                    self.put_chunk(slot.thread());
                }
                if last {
                    break;
                }
            }
            most = most.max(taken);
            if let Some(r) = reset {
                if let Some(ids) = self.stack_ids.get_mut(index) {
                    ids.clear();
                }
                // `pending_stack` is kept: a StackNext whose reallocation is
                // not popped yet was pushed after the request, so it holds
                // LOCAL_FULL (a marker, not a table id), never an old id.
                debug_assert!(self.pending_stack.get(index).is_none_or(|&p| p == 0 || p == LOCAL_FULL));
                stack::drainer_ack_reset(slot, r);
            }
            if state == EXITED {
                slot.recycle();
            }
        }
        // Relaxed: a count.
        let unregistered = SHARED.unregistered_lost.load(Ordering::Relaxed);
        if unregistered > self.reported_unregistered {
            self.batch.clear();
            self.batch.push(RawEvent::lost(watermark, unregistered - self.reported_unregistered));
            self.stats.events_lost += unregistered - self.reported_unregistered;
            self.reported_unregistered = unregistered;
            self.put_chunk(0);
        }
        if !self.out.is_empty() {
            format::put_round(&mut self.out, self.round, watermark);
            self.round += 1;
            self.write_out()?;
        }
        Ok(most)
    }

    fn put_chunk(&mut self, thread: u32) {
        for i in 0..self.batch.len() {
            let e = self.batch[i];
            match e.kind() {
                KIND_LOST => {}
                KIND_THREAD_START => {
                    self.stats.events_written += 1;
                    self.stats.threads += 1;
                }
                KIND_VAR..=KIND_MAX => {
                    self.stats.events_written += 1;
                    self.put_names(&e);
                }
                _ => self.stats.events_written += 1,
            }
        }
        self.stacks.resize(self.batch.len(), 0);
        self.encoder.put_events(&mut self.out, thread, self.sequence, &self.batch, &self.stacks);
        self.stacks.clear();
        self.sequence += 1;
        self.stats.chunks += 1;
    }

    /// Writes the `Site` and `Text` records a tracking event refers to, the
    /// first time this recording meets them, ahead of the event's chunk.
    fn put_names(&mut self, e: &RawEvent) {
        let (site, text) = match e.kind() {
            KIND_VAR => (e.c, 0),
            KIND_SCOPE_ENTER | KIND_SCOPE_EXIT => (e.a, 0),
            KIND_VAR_TYPE => (0, e.a),
            KIND_FOREIGN_ALLOC | KIND_HANDOFF => (0, e.c),
            _ => (0, 0),
        };
        if site != 0 && site != self.last_site && self.sites_written.insert(site) {
            // SAFETY: `site` is the site operand of a Var or Scope event
            // popped from a ring, which only `track.rs` builds, from a
            // `&'static Site`.
            let record = unsafe { track::site_from_key(site) }.record(site);
            // The type's Text record goes first, as FORMAT.md says.
            self.put_text(record.type_key);
            format::put_site(&mut self.out, &record);
        }
        if site != 0 {
            self.last_site = site;
        }
        self.put_text(text);
    }

    fn put_text(&mut self, key: u64) {
        if key != 0 && self.texts_written.insert(key) {
            // SAFETY: `key` is a nonzero string key from a tracking event
            // popped from a ring (a type or a label), which only this crate
            // builds, with `str_key` of a `&'static str`.
            let text = unsafe { track::str_from_key(key) };
            format::put_text(&mut self.out, key, &text);
        }
    }

    fn write_out(&mut self) -> Result<(), crate::Error> {
        if let Err(source) = self.file.write_all(&self.out) {
            return Err(crate::Error::Write { path: self.path.clone(), offset: self.stats.bytes_written, source });
        }
        self.stats.bytes_written += self.out.len() as u64;
        self.out.clear();
        Ok(())
    }

    /// Runs rounds until `stop` reaches `session` (the id of this drainer's
    /// recording), then drains what is left, writes the End record and syncs
    /// the file. On an error, recording stops (the caller's exit guard zeroes
    /// the session, so producers waiting on a full ring give up and count).
    pub(crate) fn run(&mut self, stop: &std::sync::atomic::AtomicU32, session: u32) -> Result<DrainStats, crate::Error> {
        loop {
            // Acquire: pairs with the Release `fetch_max` in `request_stop`,
            // which comes after the session was zeroed: no new events follow.
            let stopping = stop.load(Ordering::Acquire) >= session;
            let most = self.round()?;
            if stopping {
                // Events stamped just before the stop may still be landing.
                while self.round()? > 0 {}
                break;
            }
            if most < 1024 {
                thread::wait_for_wake(self.interval);
            }
        }
        self.stats.end_ns = thread::now_ns();
        format::put_end(&mut self.out, self.stats.events_written, self.stats.events_lost, self.stats.end_ns);
        self.write_out()?;
        if let Err(source) = self.file.sync_all() {
            return Err(crate::Error::Write { path: self.path.clone(), offset: self.stats.bytes_written, source });
        }
        Ok(self.stats)
    }
}
