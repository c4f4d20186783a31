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
use super::segment::Segments;
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
    /// The End record's flags (`END_AT_EXIT`, `END_NO_TRACKING_ALLOCATOR`).
    pub(crate) end_flags: u64,
    /// CPU time the drainer thread used, user and system, in ns
    /// (`CLOCK_THREAD_CPUTIME_ID` read at its end).
    pub(crate) cpu_ns: u64,
    /// Segments written (1 for a single file), deleted for the budget, and
    /// deletions that failed.
    pub(crate) segments: u64,
    pub(crate) segments_deleted: u64,
    pub(crate) segment_delete_errors: u64,
}

/// CPU time the calling thread has used so far, user and system, in ns
/// (0 if the clock cannot be read).
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec that outlives the call.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The most events in one chunk. A ring can hold 2^20 events, and a
/// reallocation between distant addresses encodes to about 28 bytes, so one
/// chunk per ring could exceed the 16 MiB a reader accepts (FORMAT.md); at
/// 2^16 events a payload stays under 2 MiB.
const MAX_CHUNK_EVENTS: usize = format::MAX_CHUNK_EVENTS as usize;
const _: () = assert!(MAX_CHUNK_EVENTS * format::codec::MAX_EVENT_BYTES <= format::MAX_BODY_LEN as usize / 4);

/// How many times a round reads a slot's in-flight mark, at most, hoping to
/// find it clear (`settled`). A thread allocating in a tight loop has an
/// event in flight most of the time, but only for the tens of nanoseconds
/// one event takes: reading once and giving up lowered the watermark to the
/// last round that happened to find it clear, seconds old on a busy thread,
/// and replay then had to hold back every event stamped since (issue 10,
/// "the Round watermark stalls"). Each read costs a cache-line transfer
/// (about 100 ns), so a round spends at most about 6 µs per busy slot.
const SETTLE_READS: u32 = 64;

/// Whether `slot` had no event in flight at some moment after this round's
/// heavy barrier, reading its mark up to [`SETTLE_READS`] times. A clear
/// mark at any such moment means that every event the slot began before
/// then, and so every event it stamped before the round's clock, was pushed
/// (the mark's Release clear follows the push; `Slot::in_flight` is an
/// Acquire load): the slot then holds the watermark at this round's clock.
/// A slot waiting for room (`Slot::waiting_since`) keeps its event in
/// flight until this drainer pops: its mark is read once, not spun on (the
/// caller bounds the watermark by the waiting stamp instead).
fn settled(slot: &Slot) -> bool {
    if slot.waiting_since().is_some() {
        return !slot.in_flight();
    }
    for _ in 0..SETTLE_READS {
        if !slot.in_flight() {
            return true;
        }
        core::hint::spin_loop();
    }
    false
}

/// The longest a stopping drainer waits for threads to push the events they
/// began before the stop ([`Drainer::wait_in_flight`]).
const IN_FLIGHT_WAIT: Duration = Duration::from_secs(1);

/// Events found in rings at a recording's start: pushed for an earlier
/// recording after its last round (`record::events_stranded`).
pub(crate) static STRANDED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// `membarrier(2)` commands (`linux/membarrier.h`).
const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

/// Whether this process registered for `MEMBARRIER_CMD_PRIVATE_EXPEDITED`.
static MEMBARRIER: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Before a recording starts (no producer stamps for it yet): registers the
/// process for expedited private membarriers (at every start: cheap, and a
/// forked child may not have inherited the registration); where the kernel
/// has none (before Linux 4.14, or a sandbox that denies it), producers
/// fence instead ([`super::registry::PRODUCER_FENCE`]).
pub(crate) fn register_heavy_barrier() {
    use std::sync::atomic::Ordering::Relaxed;
    // SAFETY: membarrier takes no pointers; an unknown command fails with an error.
    let ok = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) } == 0;
    // Relaxed: both flags are published to producers by the Release store of
    // `session` that starts the recording, after this.
    MEMBARRIER.store(ok, Relaxed);
    super::registry::PRODUCER_FENCE.store(!ok, Relaxed);
}

/// The drainer's side of the in-flight marks (`Slot::begin_event`), after
/// it read the clock: a full memory barrier on every thread of the process
/// that is running (an IPI; a thread not running went through a context
/// switch, itself a barrier). Every mark stored before a clock reading
/// earlier than ours is visible after it: that reading retired before the
/// interrupt, and so did the store before it. Without membarrier, a SeqCst
/// fence that pairs with the producers' fence.
fn heavy_barrier() {
    use std::sync::atomic::Ordering::Relaxed;
    // Relaxed: written before this recording's drainer started (`reset`).
    if MEMBARRIER.load(Relaxed) {
        // SAFETY: membarrier takes no pointers; the process registered in `reset`.
        if unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) } == 0 {
            return;
        }
        // Cannot happen once registered; fall back for the rest of the process.
        MEMBARRIER.store(false, Relaxed);
        super::registry::PRODUCER_FENCE.store(true, Relaxed);
    }
    std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
}

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
    /// yet seen in this recording). The slot being drained has its map in
    /// `slot_ids` meanwhile.
    stack_ids: Vec<Vec<u32>>,
    /// The `stack_ids` map of the slot being drained, swapped in for its
    /// drain, so that an event of a known stack costs one bounds-checked
    /// load (no hashing, no map of maps).
    slot_ids: Vec<u32>,
    /// The running clock's conversion to ns, read at each round's start.
    to_ns: super::clock::TicksToNs,
    /// Per slot index: the stack and the return stamp of the slot's next
    /// reallocation, from a StackNext event (which may end one batch while
    /// its reallocation starts the next).
    pending_stack: Vec<u32>,
    pending_returned: Vec<u64>,
    /// The return stamp of each event of `batch` (0: none).
    returned: Vec<u64>,
    /// Per slot index: the clock of the last round at which the slot had no
    /// event in flight (or was free, or not in the registry yet): every
    /// event of the slot not yet drained is stamped at or after it.
    idle_since: Vec<u64>,
    /// The clock at the start of the previous round (0 before the first).
    last_now: u64,
    /// The file's stack tree: (parent, return address) → node id.
    nodes: HashMap<(u32, u64), u32>,
    /// Nodes made since the last `Stack` record, with the id of the first.
    new_nodes: Vec<StackNode>,
    /// The file's stack id of each event of `batch` (0: none).
    stacks: Vec<u32>,
    /// Modules already written, by (start, path).
    modules_written: HashMap<(u64, String), crate::format::stacks::ModuleRecord>,
    /// Segmented recording (`Recorder::segment_bytes`): the directory, the
    /// live table and the budget. `None`: one file.
    segments: Option<Box<Segments>>,
    /// Every node of the file's stack tree, in id order (kept only when
    /// segmenting: each segment starts with the whole tree).
    all_nodes: Vec<StackNode>,
    /// Scratch for checkpoints.
    checkpoint: Vec<crate::format::CheckpointEntry>,
    checkpoint_body: Vec<u8>,
    /// Sends the module map when it changes (never called into from here).
    watcher: Option<super::modules::Watcher>,
    /// Code ranges the walk could not be told about (more than `MAX_RANGES`).
    pub(crate) code_ranges_dropped: u64,
    /// When the next round looks for slots of threads that are gone (ns
    /// since the epoch).
    next_reclaim_ns: u64,
    /// A sampling recording's exact totals (`record::totals`).
    totals: super::totals::TotalsTracker,
    /// Events (and lost events) on disk: counted at each successful write.
    events_on_disk: u64,
    lost_on_disk: u64,
    /// A write failed: the recording is stopping, and what is drained is
    /// counted as lost, not written ([`Drainer::after_failure`]).
    discarding: bool,
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
            slot_ids: Vec::new(),
            to_ns: super::clock::TicksToNs::running(),
            pending_stack: Vec::new(),
            pending_returned: Vec::new(),
            returned: Vec::new(),
            idle_since: Vec::new(),
            last_now: 0,
            nodes: HashMap::new(),
            new_nodes: Vec::new(),
            stacks: Vec::new(),
            modules_written: HashMap::new(),
            segments: None,
            all_nodes: Vec::new(),
            checkpoint: Vec::new(),
            checkpoint_body: Vec::new(),
            watcher: None,
            code_ranges_dropped: 0,
            next_reclaim_ns: 0,
            totals: Default::default(),
            events_on_disk: 0,
            lost_on_disk: 0,
            discarding: false,
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
            if let std::collections::hash_map::Entry::Vacant(v) = self.modules_written.entry((m.start, m.path.clone())) {
                format::put_module(&mut self.out, &m);
                v.insert(m);
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

    /// The file's stack id of stack-table id `local` of `slot` (the slot
    /// being drained, whose map is in `slot_ids`).
    #[inline(always)]
    fn file_stack(&mut self, slot: &Slot, local: u32) -> u32 {
        if local == 0 {
            return 0;
        }
        match self.slot_ids.get(local as usize) {
            Some(&id) if id != 0 => id,
            _ => self.file_stack_slow(slot, local),
        }
    }

    /// [`Self::file_stack`] for an id not in `stack_ids` yet (or `LOCAL_FULL`).
    #[inline(never)]
    fn file_stack_slow(&mut self, slot: &Slot, local: u32) -> u32 {
        if local == LOCAL_FULL {
            return self.node(0, MARK_TABLE_FULL);
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
        let map = &mut self.slot_ids;
        if map.len() <= local as usize {
            map.resize(local as usize + 1, 0);
        }
        map[local as usize] = id;
        id
    }

    /// Takes one event popped from `slot` (index `index`) into `batch`: the
    /// one place every popped event passes before it is encoded. Replaces
    /// its stack-table id by the file's (into `stacks`), folds a StackNext
    /// event into the reallocation that follows (into `returned`), counts
    /// it, and writes the `Site` and `Text` records a tracking event needs
    /// (ahead of its chunk).
    #[inline(always)]
    fn take(&mut self, slot: &Slot, index: usize, e: &RawEvent) {
        let mut e = *e;
        // The ring holds the running clock's ticks; the file, nanoseconds.
        self.to_ns.event(&mut e);
        let mut returned = 0;
        let stack = match e.kind() {
            KIND_STACK_NEXT => {
                self.pending_stack[index] = e.a as u32;
                self.pending_returned[index] = e.next_returned();
                return;
            }
            KIND_ALLOC | KIND_ALLOC_ZEROED => {
                // A StackNext is always followed by its reallocation
                // (they are pushed together); never let one reach further.
                debug_assert_eq!(self.pending_stack[index], 0);
                self.pending_stack[index] = 0;
                self.file_stack(slot, e.alloc_stack())
            }
            KIND_REALLOC | KIND_REALLOC_LARGE => {
                returned = std::mem::take(&mut self.pending_returned[index]);
                let local = std::mem::take(&mut self.pending_stack[index]);
                self.file_stack(slot, local)
            }
            KIND_THREAD_START => {
                self.stats.threads += 1;
                0
            }
            KIND_VAR..=KIND_MAX => {
                self.put_names(&e);
                0
            }
            _ => 0,
        };
        if let Some(seg) = &mut self.segments {
            seg.carried.event(&e, slot.thread(), &seg.live);
            seg.live.apply(&e, slot.thread(), stack);
        }
        // Lost events are counted as lost, not written.
        self.stats.events_written += u64::from(e.kind() != KIND_LOST);
        self.batch.push(e);
        self.stacks.push(stack);
        self.returned.push(returned);
    }

    /// Writes the stack nodes made since the last call, ahead of the chunk
    /// whose events refer to them.
    fn put_new_nodes(&mut self) {
        if !self.new_nodes.is_empty() {
            let mut first = (self.nodes.len() - self.new_nodes.len()) as u32 + 1;
            for part in self.new_nodes.chunks(format::MAX_STACK_NODES) {
                format::put_stack_nodes(&mut self.out, first, part);
                first += part.len() as u32;
            }
            if self.segments.is_some() {
                self.all_nodes.extend_from_slice(&self.new_nodes);
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
            let stranded = unsafe { slot.ring.pop_into(&mut self.batch, usize::MAX) };
            // Relaxed: a count for tests (`record::events_stranded`).
            STRANDED.fetch_add(stranded as u64, std::sync::atomic::Ordering::Relaxed);
            if let Some(r) = reset {
                // This recording has no ids of the slot yet: acknowledge at once.
                stack::drainer_ack_reset(slot, r);
            }
            if state == EXITED {
                // SAFETY: this thread is the only drainer; it saw the slot
                // EXITED before emptying its ring.
                unsafe { slot.recycle() };
            }
            self.baseline(slot.index() as usize, slot.dropped());
            self.totals.baseline(slot);
        }
        // Relaxed: set by `launch` before this thread started.
        self.totals.on = thread::CONTROL.sample_interval.load(Ordering::Relaxed) != 0;
        self.pending_stack.clear();
        self.pending_returned.clear();
        self.idle_since.clear();
        self.last_now = 0;
        register_heavy_barrier();
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
        SHARED.gate.open();
    }

    fn baseline(&mut self, index: usize, dropped: u64) {
        if self.reported_dropped.len() <= index {
            self.reported_dropped.resize(index + 1, 0);
        }
        self.reported_dropped[index] = dropped;
    }

    /// One drain round; returns the largest number of events taken from one ring.
    ///
    /// The Round record's watermark is exact (FORMAT.md, "Round record"):
    /// `now` is read, then a process-wide barrier ([`heavy_barrier`]) makes
    /// visible every in-flight mark ([`Slot::begin_event`]) set before any
    /// clock reading earlier than `now`; then each slot's mark is read
    /// before its ring is popped. A slot with no event in flight has pushed
    /// every event it stamped before `now` (the mark's Release clear
    /// follows the push), so this round drains them; a slot with one in
    /// flight lowers the watermark to the last round at which it had none.
    pub(crate) fn round(&mut self) -> Result<usize, crate::Error> {
        self.to_ns = super::clock::TicksToNs::running();
        let now = super::clock::drainer_now_ns();
        heavy_barrier();
        let mut watermark = now;
        let mut most = 0;
        // `out` may hold the module map written at start.
        self.poll_modules();
        if watermark >= self.next_reclaim_ns {
            // Slots of threads gone without releasing them become EXITED,
            // and are emptied and recycled below.
            thread::reclaim_dead();
            self.next_reclaim_ns = watermark + thread::RECLAIM_INTERVAL_NS;
        }
        for slot in REGISTRY.iter() {
            let index = slot.index() as usize;
            if self.idle_since.len() <= index {
                // Not in the registry at the previous round: nothing of it
                // was stamped before that round's clock.
                self.idle_since.resize(index + 1, self.last_now);
            }
            if slot.state() == FREE {
                // No owner: a new owner's first stamp follows its claim,
                // which follows this read, which follows `now`.
                self.idle_since[index] = now;
            }
        }
        let drain = |slot: &Slot, _state, dropped: u64| {
            let index = slot.index() as usize;
            if self.idle_since.len() <= index {
                // Inserted since the loop above: not there at the previous round.
                self.idle_since.resize(index + 1, self.last_now);
            }
            // Read before popping: when clear, every event the slot stamped
            // before `now` is in the ring already.
            if settled(slot) {
                self.idle_since[index] = now;
            } else {
                if let Some(ticks) = slot.waiting_since() {
                    // Waiting for room with its only event in flight:
                    // everything it stamped before that event is pushed.
                    let bound = super::clock::ticks_to_ns(ticks).min(now);
                    self.idle_since[index] = self.idle_since[index].max(bound);
                }
                watermark = watermark.min(self.idle_since[index]);
            }
            if self.reported_dropped.len() <= index {
                self.reported_dropped.resize(index + 1, 0);
            }
            // Read before popping too: every id pushed before a reset request
            // is then popped and resolved in this round (`stack::StackTable`).
            let reset = stack::drainer_reset_check(slot);
            let mut taken = 0;
            if self.pending_stack.len() <= index {
                self.pending_stack.resize(index + 1, 0);
                self.pending_returned.resize(index + 1, 0);
            }
            if self.stack_ids.len() <= index {
                self.stack_ids.resize_with(index + 1, Vec::new);
            }
            // Back after the loop: `take` reads and fills the slot's map there.
            std::mem::swap(&mut self.slot_ids, &mut self.stack_ids[index]);
            loop {
                self.batch.clear();
                self.stacks.clear();
                self.returned.clear();
                // SAFETY: one drainer runs at a time, so this thread is the only consumer.
                let n = unsafe { slot.ring.pop_each(MAX_CHUNK_EVENTS, |e| self.take(slot, index, e)) };
                if n > 0 {
                    // Before encoding: the owner, if it sleeps for room,
                    // refills its ring meanwhile.
                    slot.wake_for_room();
                }
                taken += n;
                let last = n < MAX_CHUNK_EVENTS;
                if last && dropped > self.reported_dropped[index] {
                    let ts = self.batch.last().map_or(now, |e| e.ts_ns().max(now));
                    self.batch.push(RawEvent::lost(ts, dropped - self.reported_dropped[index]));
                    self.stacks.push(0);
                    self.returned.push(0);
                    self.stats.events_lost += dropped - self.reported_dropped[index];
                    self.reported_dropped[index] = dropped;
                }
                self.put_new_nodes();
                if !self.batch.is_empty() {
                    self.put_chunk(slot.thread());
                }
                if last {
                    break;
                }
            }
            std::mem::swap(&mut self.slot_ids, &mut self.stack_ids[index]);
            most = most.max(taken);
            self.totals.take(slot);
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
        };
        // SAFETY: one drainer runs at a time (`record::STATE`), so this
        // thread is every ring's only consumer; `drain` pops until the ring
        // is empty.
        unsafe { REGISTRY.drain_pass(drain) };
        // Relaxed: a count.
        let unregistered = SHARED.unregistered_lost.load(Ordering::Relaxed);
        if unregistered > self.reported_unregistered {
            self.batch.clear();
            self.stacks.clear();
            self.returned.clear();
            self.batch.push(RawEvent::lost(now, unregistered - self.reported_unregistered));
            self.stacks.push(0);
            self.returned.push(0);
            self.stats.events_lost += unregistered - self.reported_unregistered;
            self.reported_unregistered = unregistered;
            self.put_chunk(0);
        }
        self.last_now = now;
        self.totals.put(&mut self.out);
        if !self.out.is_empty() {
            if let Some(seg) = &mut self.segments {
                // As replay's mirror does at the Round record written here.
                seg.live.round_end(watermark);
            }
            format::put_round(&mut self.out, self.round, watermark);
            self.round += 1;
            self.write_out()?;
        }
        if let Some(seg) = self.segments.as_ref().filter(|_| !self.discarding) {
            // Rotate once the segment holds `segment_bytes`, and at least as
            // many bytes of its own records as its start (tables and
            // checkpoint) took: a live set whose checkpoint outgrows
            // `segment_bytes` must not make every round a rotation.
            let size = self.stats.bytes_written - seg.segment_start;
            if size >= seg.segment_bytes && size >= 2 * seg.start_bytes {
                self.rotate()?;
            }
        }
        Ok(most)
    }

    /// What this drainer writes next (`launch`: the head records of a
    /// recording whose clock rate is pending go first, and are rewritten
    /// once it is known, before the first write).
    pub(crate) fn out_mut(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    /// The head every later segment starts with, when segmenting (as
    /// [`Drainer::out_mut`]).
    pub(crate) fn segment_head_mut(&mut self) -> Option<&mut Vec<u8>> {
        self.segments.as_mut().map(|s| &mut s.head)
    }

    /// Makes this drainer write a directory of segments (`segments.head`
    /// was written to `file` already, as segment 0's start) and writes
    /// segment 0's Segment and Checkpoint records.
    pub(crate) fn segmented(&mut self, segments: Segments) {
        self.segments = Some(Box::new(segments));
        self.stats.segments = 1;
        self.put_segment_start();
    }

    /// The records after the head of a new segment: the Segment record,
    /// then everything a replay of this segment alone needs: the whole
    /// stack tree, the module map, the sites and texts met so far, and the
    /// live allocations (Checkpoint).
    fn put_segment_start(&mut self) {
        let Some(seg) = &self.segments else { return };
        format::put_segment(
            &mut self.out,
            &format::SegmentRecord {
                recording_id: seg.recording_id,
                index: seg.index,
                first_sequence: self.sequence,
                first_round: self.round,
            },
        );
        let mut first = 1u32;
        for part in self.all_nodes.chunks(format::MAX_STACK_NODES) {
            format::put_stack_nodes(&mut self.out, first, part);
            first += part.len() as u32;
        }
        for m in self.modules_written.values() {
            format::put_module(&mut self.out, m);
        }
        // Texts first: a Site record's type text goes before it (FORMAT.md).
        let texts: Vec<u64> = self.texts_written.drain().collect();
        for key in texts {
            self.put_text(key);
        }
        let sites: Vec<u64> = self.sites_written.drain().collect();
        for site in sites {
            self.put_site(site);
        }
        self.last_site = 0;
        if let Some(seg) = &self.segments {
            seg.live.entries(&mut self.checkpoint);
        }
        format::put_checkpoint(&mut self.out, &self.checkpoint, &mut self.checkpoint_body);
        // Thread names and tracking state, for this segment alone (version 7).
        if let Some(seg) = &mut self.segments {
            seg.carried.put(&mut self.out, &mut self.encoder, &self.checkpoint);
        }
        self.checkpoint.clear();
        // A sampling recording's exact counts so far, for this segment alone.
        self.totals.put_all(&mut self.out);
    }

    /// Closes the current segment (its End record says the recording goes
    /// on) and opens the next, deleting the oldest beyond the budget. A
    /// segment that cannot be created stops the recording, as a failed
    /// write does.
    fn rotate(&mut self) -> Result<(), crate::Error> {
        let Some(seg) = &mut self.segments else { return Ok(()) };
        let end_ns = super::clock::drainer_now_ns();
        let (written, lost) = (self.stats.events_written - seg.events_base, self.stats.events_lost - seg.lost_base);
        format::put_clock(&mut self.out, &super::clock::end_record());
        format::put_end(&mut self.out, written, lost, end_ns, format::END_CONTINUED);
        self.write_out()?;
        if let Err(source) = self.file.sync_data() {
            return Err(crate::Error::Write { path: self.path.clone(), offset: self.file_offset(), source, events_lost: 0 });
        }
        let Some(seg) = &mut self.segments else { return Ok(()) };
        let size = self.stats.bytes_written - seg.segment_start;
        seg.closed.push_back((self.path.clone(), size));
        seg.index += 1;
        seg.events_base = self.stats.events_written;
        seg.lost_base = self.stats.events_lost;
        seg.enforce_budget();
        let path = seg.dir.join(super::segment::segment_name(seg.index));
        let file = File::create(&path).map_err(|source| crate::Error::Write { path: path.clone(), offset: 0, source, events_lost: 0 })?;
        self.file = file;
        self.path = path;
        seg.segment_start = self.stats.bytes_written;
        self.out.extend_from_slice(&seg.head);
        self.stats.segments += 1;
        self.put_segment_start();
        let start_bytes = self.out.len() as u64;
        if let Some(seg) = &mut self.segments {
            seg.start_bytes = start_bytes;
        }
        self.write_out()
    }

    /// Encodes `batch` (with `stacks` and `returned`, as long as it) as one
    /// chunk of `thread`.
    fn put_chunk(&mut self, thread: u32) {
        debug_assert!(self.stacks.len() == self.batch.len() && self.returned.len() == self.batch.len());
        self.encoder.put_events_returned(&mut self.out, thread, self.sequence, &self.batch, &self.stacks, &self.returned);
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
        if site != 0 && site != self.last_site {
            self.put_site(site);
        }
        if site != 0 {
            self.last_site = site;
        }
        self.put_text(text);
    }

    /// Writes the `Site` record of `site` (a site key from a popped
    /// tracking event) the first time this segment meets it.
    fn put_site(&mut self, site: u64) {
        if self.sites_written.insert(site) {
            // SAFETY: `site` is the site operand of a Var or Scope event
            // popped from a ring (or kept in `sites_written` from one), which
            // only `track.rs` builds, from a `&'static Site`.
            let record = unsafe { track::site_from_key(site) }.record(site);
            // The type's Text record goes first, as FORMAT.md says.
            self.put_text(record.type_key);
            format::put_site(&mut self.out, &record);
        }
    }

    fn put_text(&mut self, key: u64) {
        if key != 0 && self.texts_written.insert(key) {
            // SAFETY: `key` is a nonzero string key from a tracking event
            // popped from a ring (a type or a label), or kept in
            // `texts_written` from one, which only this crate builds, with
            // `str_key` of a `&'static str`.
            let text = unsafe { track::str_from_key(key) };
            format::put_text(&mut self.out, key, &text);
        }
    }

    fn write_out(&mut self) -> Result<(), crate::Error> {
        if self.discarding {
            self.out.clear();
            return Ok(());
        }
        if let Err(source) = self.file.write_all(&self.out) {
            return Err(crate::Error::Write { path: self.path.clone(), offset: self.file_offset(), source, events_lost: 0 });
        }
        self.stats.bytes_written += self.out.len() as u64;
        self.out.clear();
        // Every event taken so far was encoded into what was just written.
        (self.events_on_disk, self.lost_on_disk) = (self.stats.events_written, self.stats.events_lost);
        Ok(())
    }

    /// Bytes written to the current file: the recording's, or the current
    /// segment's when segmenting (what an `Error::Write` offset is in).
    fn file_offset(&self) -> u64 {
        self.stats.bytes_written - self.segments.as_ref().map_or(0, |s| s.segment_start)
    }

    /// After a failed write (a full disk, a deleted directory): stops the
    /// recording `session` (no new events), drains the rings as a stop
    /// does, without writing, and returns `error` with the count of the
    /// recording's events not on disk: taken but not written, and pushed
    /// (or lost, ring full) until the stop. The file stays readable up to
    /// the failure; with segments, every segment closed before it is whole.
    fn after_failure(&mut self, error: crate::Error, session: u32) -> crate::Error {
        thread::CONTROL.stop(session);
        self.discarding = true;
        // Cannot fail: nothing is written from here on.
        let _ = self.wait_in_flight();
        let _ = super::full::drain_to_close(&SHARED.gate, || self.round(), std::thread::yield_now);
        let lost = (self.stats.events_written - self.events_on_disk) + (self.stats.events_lost - self.lost_on_disk);
        match error {
            crate::Error::Write { path, offset, source, .. } => crate::Error::Write { path, offset, source, events_lost: lost },
            other => other,
        }
    }

    /// Runs rounds until `stop` reaches `session` (the id of this drainer's
    /// recording), then drains what is left, closes the count of lost events
    /// (after every producer that was waiting for room has pushed or given
    /// up and counted: `full::Gate::begin_wait`), writes the End record and syncs
    /// the file. On an error, recording stops (the caller's exit guard zeroes
    /// the session, so producers waiting on a full ring give up and count).
    /// `at_exit` holds the id of a recording the `atexit` hook stopped;
    /// `end_flags` the End record's other flags.
    /// Stopping (the session already zeroed): runs rounds until no thread
    /// has an event in flight, so that every event a thread began before the
    /// stop is pushed before the last rounds (`thread::begin_event`: a thread
    /// that marks one after the heavy barrier each round begins with sees the
    /// stop and makes none). Bounded by [`IN_FLIGHT_WAIT`]: a thread stopped
    /// inside an allocator call (a debugger, a signal handler that never
    /// returns) cannot hold the finish forever; its event is then lost.
    fn wait_in_flight(&mut self) -> Result<(), crate::Error> {
        let deadline = std::time::Instant::now() + IN_FLIGHT_WAIT;
        loop {
            self.round()?;
            // After the round's heavy barrier: every mark made before it is seen.
            let busy = REGISTRY.iter().any(|s| s.state() != FREE && s.in_flight());
            if !busy || std::time::Instant::now() >= deadline {
                return Ok(());
            }
            std::thread::yield_now();
        }
    }

    pub(crate) fn run(
        &mut self,
        stop: &std::sync::atomic::AtomicU32,
        at_exit: &std::sync::atomic::AtomicU32,
        session: u32,
        end_flags: u64,
    ) -> Result<DrainStats, crate::Error> {
        self.run_writing(stop, at_exit, session, end_flags).map_err(|e| self.after_failure(e, session))
    }

    fn run_writing(
        &mut self,
        stop: &std::sync::atomic::AtomicU32,
        at_exit: &std::sync::atomic::AtomicU32,
        session: u32,
        end_flags: u64,
    ) -> Result<DrainStats, crate::Error> {
        loop {
            // Acquire: pairs with the Release `fetch_max` in `request_stop`,
            // which comes after the session was zeroed: no new events follow.
            let stopping = stop.load(Ordering::Acquire) >= session;
            let most = self.round()?;
            if stopping {
                self.wait_in_flight()?;
                super::full::drain_to_close(&SHARED.gate, || self.round(), std::thread::yield_now)?;
                break;
            }
            if most < 1024 {
                thread::wait_for_wake(self.interval);
            }
        }
        self.stats.end_ns = super::clock::drainer_now_ns();
        // Acquire: pairs with the hook's Release store, made before its
        // request to stop (which this drainer saw above).
        let exit = if at_exit.load(Ordering::Acquire) == session { format::END_AT_EXIT } else { 0 };
        self.stats.end_flags = end_flags | exit;
        format::put_clock(&mut self.out, &super::clock::end_record());
        // A segment's End record counts its own events.
        let (written_before, lost_before) = self.segments.as_ref().map_or((0, 0), |s| (s.events_base, s.lost_base));
        format::put_end(
            &mut self.out,
            self.stats.events_written - written_before,
            self.stats.events_lost - lost_before,
            self.stats.end_ns,
            self.stats.end_flags,
        );
        self.write_out()?;
        if let Err(source) = self.file.sync_all() {
            return Err(crate::Error::Write { path: self.path.clone(), offset: self.file_offset(), source, events_lost: 0 });
        }
        // The whole thread: `reset`, every round, the End record and the sync.
        self.stats.cpu_ns = thread_cpu_ns();
        if let Some(seg) = &self.segments {
            self.stats.segments_deleted = seg.deleted;
            self.stats.segment_delete_errors = seg.delete_errors;
        } else {
            self.stats.segments = 1;
        }
        Ok(self.stats)
    }
}
