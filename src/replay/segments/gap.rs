//! A gap in a directory of segments (FORMAT.md, "Replay of a directory"):
//! the segment after a missing one seeds from its checkpoint, but the
//! segments before the gap were replayed already. Seeding everything would
//! count twice what was live and open across the gap (a live allocation at
//! its address, an open scope, a handoff); seeding nothing would keep what
//! ended in the gap. So replay keeps, while a later segment may follow a
//! gap, what the segments read so far leave live (the mirror of the
//! drainer's live table, `format::live::LiveTable`) and open ([`Open`]),
//! and at the gap seeds only what is new, and ends what the segment's
//! start no longer holds.

use crate::format::live::LiveTable;
use crate::format::{CheckpointEntry, Event, EventChunk};
use std::collections::{HashMap, HashSet};

/// The most open scopes kept per thread (the drainer carries as many).
const MAX_SCOPES: usize = 256;
/// The most held foreign regions kept, and tracking events in the tail.
const MAX_KEPT: usize = 100_000;

/// What the segments replayed so far leave open, besides the live
/// allocations: each thread's open scopes, the foreign regions held, and
/// the newest Round watermark, with the tracking events stamped at or
/// after it (every event stamped before it was read already, FORMAT.md,
/// "Round record"; one stamped after it may be in the missing segment).
#[derive(Default)]
pub(super) struct Open {
    /// Thread → its open scopes, outermost first: (entered at, site).
    scopes: HashMap<u32, Vec<(u64, u64)>>,
    /// Address → (thread, time) of a foreign region held.
    foreign: HashMap<u64, (u32, u64)>,
    watermark_ns: u64,
    /// (thread, time, first operand) of the tracking events read stamped
    /// at or after the watermark.
    tail: HashSet<(u32, u64, u64)>,
}

/// The first operand of a tracking event (the one the drainer carries);
/// `None` for an allocation event.
fn operand(e: &Event) -> Option<u64> {
    match e {
        Event::Alloc { .. } | Event::Realloc { .. } | Event::Dealloc { .. } | Event::Lost { .. } => None,
        _ => Some(e.to_raw().a),
    }
}

impl Open {
    /// Takes one event of recorder thread `thread`, read (or seeded).
    pub(super) fn event(&mut self, thread: u32, e: &Event) {
        let Some(a) = operand(e) else { return };
        match *e {
            Event::ScopeEnter { ts_ns, site } => {
                let open = self.scopes.entry(thread).or_default();
                if open.len() < MAX_SCOPES {
                    open.push((ts_ns, site));
                }
            }
            Event::ScopeExit { site, .. } => {
                // As replay does: the innermost open scope of the site, and any inside it.
                if let Some(open) = self.scopes.get_mut(&thread) {
                    if let Some(i) = open.iter().rposition(|s| s.1 == site) {
                        open.truncate(i);
                    }
                }
            }
            Event::ThreadExit { .. } => {
                self.scopes.remove(&thread);
            }
            Event::ForeignAlloc { ts_ns, ptr, .. } if self.foreign.len() < MAX_KEPT || self.foreign.contains_key(&ptr) => {
                self.foreign.insert(ptr, (thread, ts_ns));
            }
            Event::ForeignFree { ptr, .. } => {
                self.foreign.remove(&ptr);
            }
            _ => {}
        }
        if e.ts_ns() >= self.watermark_ns && self.tail.len() < MAX_KEPT {
            self.tail.insert((thread, e.ts_ns(), a));
        }
    }

    /// A Round record with watermark `watermark_ns` was read.
    pub(super) fn round(&mut self, watermark_ns: u64) {
        self.watermark_ns = self.watermark_ns.max(watermark_ns);
        let w = self.watermark_ns;
        self.tail.retain(|&(_, ts_ns, _)| ts_ns >= w);
    }

    /// Whether tracking event `e` of `thread` was read already.
    fn seen(&self, thread: u32, e: &Event, a: u64) -> bool {
        e.ts_ns() < self.watermark_ns || self.tail.contains(&(thread, e.ts_ns(), a))
    }
}

/// What the start of the segment after a gap does to the replay: the
/// checkpoint entries and Checkpoint events to seed, and the events that
/// end what the segments before left live or open and the segment's start
/// no longer holds (it ended in the gap), per thread, in time order.
pub(super) struct Bridge {
    pub(super) seed: Vec<CheckpointEntry>,
    pub(super) events: Vec<EventChunk>,
    pub(super) ends: Vec<(u32, Vec<Event>)>,
}

/// Bridges a gap: `live` and `open` are what the segments before it left,
/// `checkpoint` and `events` the start of the segment after it. An
/// allocation is the same when its address and time (its identity) are;
/// a tracking event, when it was read before (stamped before the newest
/// watermark, or in the tail). What ended in the gap ends at the newest
/// watermark (every event of the gap is stamped at or after it), or just
/// after it began if that is later: a deallocation by the thread that
/// allocated it, a scope exit, a foreign region given back.
pub(super) fn bridge(live: &LiveTable, open: &Open, checkpoint: &[CheckpointEntry], events: &[EventChunk]) -> Bridge {
    let mut before = Vec::new();
    live.entries(&mut before);
    let at = |ts_ns: u64| ts_ns.saturating_add(1).max(open.watermark_ns);
    let kept: HashSet<(u64, u64)> = checkpoint.iter().map(|c| (c.ptr, c.ts_ns)).collect();
    let held: HashSet<(u64, u64)> = before.iter().map(|c| (c.ptr, c.ts_ns)).collect();
    let seed = checkpoint.iter().filter(|c| !held.contains(&(c.ptr, c.ts_ns))).copied().collect();
    let mut ends: HashMap<u32, Vec<Event>> = HashMap::new();
    for b in before.iter().filter(|b| !kept.contains(&(b.ptr, b.ts_ns))) {
        ends.entry(b.thread).or_default().push(Event::Dealloc { ts_ns: at(b.ts_ns), ptr: b.ptr, size: b.size, align: 1 });
    }

    // Tracking events: a variable's group goes with its Var.
    let mut still_open: HashSet<(u32, u64, u64)> = HashSet::new();
    let mut still_held: HashSet<u64> = HashSet::new();
    let mut new_events = Vec::new();
    for chunk in events {
        let mut skip_group = false;
        let mut fresh = Vec::new();
        for e in &chunk.events {
            match *e {
                Event::ScopeEnter { ts_ns, site } => {
                    still_open.insert((chunk.thread, ts_ns, site));
                }
                Event::ForeignAlloc { ptr, .. } => {
                    still_held.insert(ptr);
                }
                _ => {}
            }
            let Some(a) = operand(e) else {
                fresh.push(*e);
                continue;
            };
            let seen = open.seen(chunk.thread, e, a);
            let skip = match e {
                Event::Var { .. } => {
                    skip_group = seen;
                    seen
                }
                Event::VarMore { .. } | Event::VarType { .. } | Event::Shared { .. } | Event::CloneOf { .. } => skip_group,
                _ => seen,
            };
            if !skip {
                fresh.push(*e);
            }
        }
        if !fresh.is_empty() {
            new_events.push(EventChunk { events: fresh, ..chunk.clone() });
        }
    }
    for (&thread, scopes) in &open.scopes {
        // Innermost first: an exit ends the scopes inside it too.
        for &(ts_ns, site) in scopes.iter().rev().filter(|s| !still_open.contains(&(thread, s.0, s.1))) {
            ends.entry(thread).or_default().push(Event::ScopeExit { ts_ns: at(ts_ns), site, unwinding: false });
        }
    }
    for (&ptr, &(thread, ts_ns)) in open.foreign.iter().filter(|f| !still_held.contains(f.0)) {
        ends.entry(thread).or_default().push(Event::ForeignFree { ts_ns: at(ts_ns), ptr });
    }
    let mut ends: Vec<(u32, Vec<Event>)> = ends.into_iter().collect();
    ends.sort_by_key(|e| e.0);
    for (_, events) in &mut ends {
        // Stable: inner scopes' exits stay first at one time.
        events.sort_by_key(Event::ts_ns);
    }
    Bridge { seed, events: new_events, ends }
}
