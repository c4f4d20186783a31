//! The live allocations of a recording as its drained events say, in file
//! order (FORMAT.md, "Checkpoint record"): the drainer keeps this table to
//! write each segment's Checkpoint, and directory replay keeps a mirror of
//! it, fed the same events, to check a contiguous segment's checkpoint.
//! One code for both sides, so the check compares like with like.

use super::event::*;
use super::{CheckpointEntry, RawEvent};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A multiplicative hash for addresses: the live table's key is an
/// address, already well spread in its upper bits.
#[derive(Default, Clone, Copy)]
pub(crate) struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, v: u64) {
        // Fold the high half in: addresses differ mostly in bits 4..40.
        let x = v.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = x ^ (x >> 29);
    }
}

/// One live allocation as the drainer keeps it.
#[derive(Clone, Copy, Debug)]
struct Entry {
    size: u64,
    ts_ns: u64,
    thread: u32,
    stack: u32,
}

/// The live allocations of the recording, as the drained events say, kept
/// only when segmenting (for the Checkpoint record). Events come in drain
/// order: an allocation at an address that is still live (its deallocation,
/// on another thread, was not drained yet) waits in `deferred` until that
/// address is deallocated, as replay does. A deallocation (or a
/// reallocation's old address) that finds nothing is kept (`early`) until
/// a drain round's watermark passes its time: another thread's allocation
/// it ends, stamped before it but drained after it (later in the round, or
/// rounds later while that thread held the event in flight), then ends at
/// once. Once the watermark is past it, every allocation stamped before it
/// was drained: what it did not find was allocated before the recording
/// (or its event was lost). At most [`MAX_EARLY`] deallocations are kept (a
/// thread held in flight for long holds the watermark back); beyond that a
/// deallocation that finds nothing is not kept, and the allocation it
/// ends, if it comes, stays in the table.
/// Memory: about 40 bytes per live allocation.
#[derive(Default)]
pub(crate) struct LiveTable {
    live: HashMap<u64, Entry, BuildHasherDefault<AddrHasher>>,
    deferred: Vec<(u64, Entry)>,
    /// Deallocations that found nothing, not yet passed by a watermark:
    /// address → their times, and the new address when a reallocation
    /// moved it (more than one when the address was reused meanwhile).
    early: HashMap<u64, Vec<Early>, BuildHasherDefault<AddrHasher>>,
    /// How many deallocations `early` holds, over all addresses (at most
    /// [`MAX_EARLY`]).
    early_kept: usize,
    /// The older drainer's rule ([`LiveTable::older`]).
    older: bool,
}

/// A deallocation that found nothing: its time, and the new address when a
/// reallocation moved it.
type Early = (u64, Option<u64>);

/// The most deallocations that found nothing the table keeps at once, over
/// all addresses (about 64 bytes each): a bound on the drainer's memory,
/// whatever the program does while the watermark is held back. Beyond it
/// a deallocation that finds nothing is not kept (the rule before session
/// 8: the allocation it ends, if drained later, stays in the table).
pub(crate) const MAX_EARLY: usize = 1 << 20;

impl LiveTable {
    /// Takes one event of recorder thread `thread`, `stack` its file stack id.
    #[inline]
    pub(crate) fn apply(&mut self, e: &RawEvent, thread: u32, stack: u32) {
        match e.kind() {
            KIND_ALLOC | KIND_ALLOC_ZEROED => {
                self.acquire(e.a, e.ts_ns(), Entry { size: e.b, ts_ns: e.ts_ns(), thread, stack });
            }
            KIND_DEALLOC => {
                let ended = self.release(e.a, e.ts_ns());
                if ended.is_none() {
                    self.keep_early(e.a, e.ts_ns(), None);
                }
            }
            KIND_REALLOC | KIND_REALLOC_LARGE => {
                let new_size = if e.kind() == KIND_REALLOC { e.c >> 32 } else { e.c };
                let old = self.release(e.a, e.ts_ns());
                if old.is_none() {
                    self.keep_early(e.a, e.ts_ns(), Some(e.b));
                }
                // The allocation keeps its identity: its thread and start time.
                let (ts_ns, owner) = old.map_or((e.ts_ns(), thread), |o| (o.ts_ns, o.thread));
                self.acquire(e.b, e.ts_ns(), Entry { size: new_size, ts_ns, thread: owner, stack });
            }
            _ => {}
        }
    }

    /// Keeps a deallocation of `ptr` stamped `ts_ns` that found nothing
    /// (`moved`: a reallocation's new address), unless [`MAX_EARLY`]
    /// addresses are kept already.
    fn keep_early(&mut self, ptr: u64, ts_ns: u64, moved: Option<u64>) {
        if self.older {
            // One per address: a later one replaced an earlier one.
            if self.early.insert(ptr, vec![(ts_ns, moved)]).is_none() {
                self.early_kept += 1;
            }
        } else if self.early_kept < MAX_EARLY {
            self.early.entry(ptr).or_default().push((ts_ns, moved));
            self.early_kept += 1;
        }
    }

    /// The end of a drain round whose Round record says `watermark_ns`
    /// (the drainer's, or a Round record read): every event stamped
    /// before it is drained, so a deallocation stamped before it that
    /// found nothing ends an allocation made before the recording (or
    /// lost, or in a round not read); it is forgotten.
    pub(crate) fn round_end(&mut self, watermark_ns: u64) {
        if self.older {
            self.early.clear();
            self.early_kept = 0;
        } else if !self.early.is_empty() {
            let mut kept = 0;
            self.early.retain(|_, v| {
                v.retain(|&(ts_ns, _)| ts_ns >= watermark_ns);
                kept += v.len();
                !v.is_empty()
            });
            self.early_kept = kept;
        }
    }

    /// Whether no deallocation that found nothing is kept: a checkpoint of
    /// the table is then exact whatever is drained after it (a kept one
    /// would end an allocation drained after the checkpoint, which a
    /// replay of the next segment alone makes live).
    #[cfg(test)]
    pub(crate) fn settled(&self) -> bool {
        self.early.is_empty()
    }

    /// Makes `entry` live at `ptr`, by an event stamped `at_ns`; unless a
    /// deallocation of `ptr` stamped after it was drained before it: then
    /// it ended already, by the first such deallocation (and if a
    /// reallocation moved it, the moved one takes its identity).
    fn acquire(&mut self, ptr: u64, at_ns: u64, entry: Entry) {
        if let Some(v) = self.early.get_mut(&ptr) {
            // Equal times on two threads: replay applies the deallocation first.
            let first = v.iter().enumerate().filter(|(_, e)| at_ns < e.0).min_by_key(|(_, e)| e.0);
            if let Some((i, _)) = first {
                let (_, moved) = v.swap_remove(i);
                self.early_kept -= 1;
                if v.is_empty() {
                    self.early.remove(&ptr);
                }
                if let Some(to) = moved {
                    if let Some(m) = self.live.get_mut(&to) {
                        (m.ts_ns, m.thread) = (entry.ts_ns, entry.thread);
                    }
                }
                return;
            }
        }
        if let Some(old) = self.live.insert(ptr, entry) {
            // Still live: put it back; the new one waits for its deallocation.
            self.live.insert(ptr, old);
            self.deferred.push((ptr, entry));
        }
    }

    /// Ends the allocation at `ptr` that a deallocation or reallocation
    /// stamped `ts_ns` refers to. While `ptr` holds more than one (a thread
    /// reused an address whose deallocation, on another thread, is not
    /// drained yet), that is the one allocated last at or before `ts_ns`,
    /// as replay's timestamp order has it: the later allocation's own
    /// reallocation must not take the earlier one's identity.
    fn release(&mut self, ptr: u64, ts_ns: u64) -> Option<Entry> {
        if let Some(Some(i)) = self.pick(ptr, ts_ns) {
            // A waiting one ends: the live one stays.
            return Some(self.deferred.remove(i).1);
        }
        let old = self.live.remove(&ptr);
        if old.is_some() && !self.deferred.is_empty() {
            if let Some(i) = self.deferred.iter().position(|&(p, _)| p == ptr) {
                let (_, next) = self.deferred.remove(i);
                self.live.insert(ptr, next);
            }
        }
        old
    }

    /// Which allocation at `ptr` an event stamped `ts_ns` refers to:
    /// `None` none; `Some(None)` the live one; `Some(Some(i))` the waiting
    /// `deferred[i]` (the one allocated last at or before `ts_ns`).
    fn pick(&self, ptr: u64, ts_ns: u64) -> Option<Option<usize>> {
        let live = self.live.get(&ptr)?;
        if self.deferred.is_empty() {
            return Some(None);
        }
        let mut best = (live.ts_ns <= ts_ns).then_some(live.ts_ns);
        let mut pick = None;
        for (i, &(p, e)) in self.deferred.iter().enumerate() {
            if p == ptr && e.ts_ns <= ts_ns && best.is_none_or(|b| e.ts_ns > b) {
                (best, pick) = (Some(e.ts_ns), Some(i));
            }
        }
        Some(pick)
    }

    /// The allocation at `ptr` an event stamped `ts_ns` refers to (the one
    /// a deallocation then would end): its time (its identity: a
    /// reallocation keeps it) and its size in bytes.
    pub(crate) fn identity(&self, ptr: u64, ts_ns: u64) -> Option<(u64, u64)> {
        let e = match self.pick(ptr, ts_ns)? {
            Some(i) => self.deferred[i].1,
            None => *self.live.get(&ptr)?,
        };
        Some((e.ts_ns, e.size))
    }

    /// The live allocation that contains `ptr`, as an event stamped
    /// `ts_ns` sees it: at `ptr`, or starting at most `max_back` bytes
    /// below it at an 8-byte boundary (an `Rc`'s value sits 16 bytes in).
    /// Its start and its time ([`LiveTable::identity`]). `None`: none, or
    /// `ptr` is 0.
    pub(crate) fn containing(&self, ptr: u64, max_back: u64, ts_ns: u64) -> Option<(u64, u64)> {
        if ptr == 0 {
            return None;
        }
        if let Some((t, _)) = self.identity(ptr, ts_ns) {
            return Some((ptr, t));
        }
        let lowest = ptr.saturating_sub(max_back);
        let mut start = ptr & !7;
        while start >= lowest && start > 0 {
            if let Some((t, size)) = self.identity(start, ts_ns) {
                if start != ptr && start.wrapping_add(size) > ptr {
                    return Some((start, t));
                }
            }
            start -= 8;
        }
        None
    }

    /// A table under the rule of the drainer before this one (its files
    /// have the same format version, 7): a deallocation that found nothing
    /// is kept only to the end of its round, and only the last one per
    /// address. Its checkpoints can hold allocations that ended before
    /// them; directory replay checks an older directory's checkpoints
    /// with it.
    pub(crate) fn older() -> LiveTable {
        LiveTable { older: true, ..LiveTable::default() }
    }

    /// Every live allocation, oldest first (by allocation time, then address).
    pub(crate) fn entries(&self, out: &mut Vec<CheckpointEntry>) {
        out.clear();
        let all = self.live.iter().map(|(&p, e)| (p, e)).chain(self.deferred.iter().map(|(p, e)| (*p, e)));
        out.extend(all.map(|(ptr, e)| CheckpointEntry { ptr, size: e.size, thread: e.thread, ts_ns: e.ts_ns, stack: e.stack }));
        out.sort_unstable_by_key(|e| (e.ts_ns, e.ptr));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc(ts: u64, ptr: usize) -> RawEvent {
        RawEvent::alloc(ts, ptr, 64, 8, false, 0)
    }

    fn dealloc(ts: u64, ptr: usize) -> RawEvent {
        RawEvent::dealloc(ts, ptr, 64, 8)
    }

    #[test]
    fn early_deallocations_are_bounded_over_all_addresses() {
        // From the review: the bound counted addresses, so one address
        // reused while the watermark is held back grew its list without end.
        let mut t = LiveTable::default();
        for i in 0..MAX_EARLY as u64 + 10 {
            t.apply(&dealloc(1_000 + i, 0x1000 + 16 * (i % 3) as usize), 0, 0);
        }
        let held: usize = t.early.values().map(Vec::len).sum();
        assert_eq!((held, t.early_kept), (MAX_EARLY, MAX_EARLY));
        t.round_end(1_000 + 5);
        assert_eq!(t.early_kept, MAX_EARLY - 5);
        t.round_end(u64::MAX);
        assert_eq!((t.early.len(), t.early_kept), (0, 0));
    }

    fn live(t: &LiveTable) -> Vec<u64> {
        let mut out = Vec::new();
        t.entries(&mut out);
        out.iter().map(|e| e.ptr).collect()
    }

    /// A deallocation drained a round before the allocation it ends (its
    /// thread held the allocation in flight: the watermark stayed below
    /// it) ends it; once a watermark passes the deallocation, it is
    /// forgotten. Before, it was forgotten at the end of its round.
    #[test]
    fn a_deallocation_waits_for_its_allocation_until_the_watermark_passes_it() {
        let mut t = LiveTable::default();
        t.apply(&dealloc(100, 0x1000), 2, 0);
        t.round_end(50);
        assert!(!t.settled());
        t.apply(&alloc(90, 0x1000), 1, 0);
        assert_eq!(live(&t), Vec::<u64>::new(), "ended by the earlier round's deallocation");
        assert!(t.settled());
        // Past the watermark: allocated before the recording.
        t.apply(&dealloc(200, 0x2000), 2, 0);
        t.round_end(300);
        t.apply(&alloc(150, 0x2000), 1, 0);
        assert_eq!(live(&t), vec![0x2000]);
        // Two deallocations of one address kept: each ends the allocation before it.
        let mut t = LiveTable::default();
        t.apply(&dealloc(400, 0x3000), 2, 0);
        t.apply(&dealloc(600, 0x3000), 3, 0);
        t.round_end(0);
        t.apply(&alloc(500, 0x3000), 1, 0);
        t.apply(&alloc(350, 0x3000), 1, 0);
        assert_eq!(live(&t), Vec::<u64>::new());
    }

    /// The older drainer's rule: a deallocation of an earlier round, or
    /// one replaced by a later one of the same address, leaves the
    /// allocation it ends live (what its checkpoints held).
    #[test]
    fn the_older_rule_leaves_what_the_older_drainer_left() {
        for (mut t, older) in [(LiveTable::older(), true), (LiveTable::default(), false)] {
            t.apply(&dealloc(100, 0x1000), 2, 0);
            t.round_end(50);
            t.apply(&alloc(90, 0x1000), 1, 0);
            t.apply(&dealloc(400, 0x3000), 2, 0);
            t.apply(&dealloc(600, 0x3000), 3, 0);
            t.apply(&alloc(350, 0x3000), 1, 0);
            t.apply(&alloc(500, 0x3000), 1, 0);
            let want = if older { vec![0x1000, 0x3000] } else { vec![] };
            assert_eq!(live(&t), want, "older rule: {older}");
        }
    }
}
