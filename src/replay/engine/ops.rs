//! Ops: the compact sortable form of the events that touch the live set,
//! and the [`Converter`] that turns a chunk's events into a [`Batch`] of
//! them (on the reading thread of [`crate::replay::Replay::from_reader`]).

use super::super::live::FastMap;
use crate::format::event::*;
use crate::format::Event;

/// What an [`Op`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OpKind {
    Alloc,
    Dealloc,
    /// Both sizes fit in 32 bits: `c` is `old_size | new_size << 32`.
    Realloc,
    /// The old size is not stored: `c` is the new size.
    ReallocLarge,
    /// A tracking event (`a`, `b`, `c` as in its ring form); its kind code.
    Track(u8),
    /// The first half of a reallocation that moved (version 4), at its
    /// first stamp: the release of the old address `a`. `b` links it to its
    /// [`OpKind::MoveIn`]; `c` as for `Realloc` (`large`: as for `ReallocLarge`).
    MoveOut {
        large: bool,
    },
    /// The second half, at the return stamp: the acquisition of the new
    /// address `b`. `a` is the link.
    MoveIn {
        large: bool,
    },
}

/// An event that touches the live set, in a compact sortable form.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Op {
    /// `ts_ns << 1 | class`: class 0 for deallocations and reallocations,
    /// 1 for allocations, so frees sort first at equal timestamps.
    pub(super) key: u64,
    /// Alloc, Dealloc: the address. Realloc: the old address.
    pub(super) a: u64,
    /// Alloc, Dealloc: the size. Realloc: the new address.
    pub(super) b: u64,
    /// Realloc: the sizes (see [`OpKind`]).
    pub(super) c: u64,
    /// Index of the calling thread in [`super::Replayer::threads`].
    pub(super) thread: u32,
    /// Alloc, Realloc: the call stack id (0: none).
    pub(super) stack: u32,
    pub(super) kind: OpKind,
}

/// Class bit of allocations in [`Op::key`].
pub(super) const CLASS_ALLOC: u64 = 1;

impl Op {
    #[inline]
    pub(super) fn ts(&self) -> u64 {
        self.key >> 1
    }
}

/// A reallocation's (old size, new size) from [`Op::c`]: packed, or (`large`) the new size alone.
#[inline]
pub(super) fn sizes(large: bool, c: u64) -> (Option<u64>, u64) {
    if large {
        (None, c)
    } else {
        (Some(c & 0xFFFF_FFFF), c >> 32)
    }
}

/// One chunk's events as [`Op`]s, made by a [`Converter`] (on the reading
/// thread of [`crate::replay::Replay::from_reader`], or in [`super::Replayer::events`]).
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// The recorder thread id, and its index in [`super::Replayer::threads`]
    /// (given in the order threads are first seen).
    pub(super) thread: u32,
    pub(super) index: u32,
    /// The ops that touch the live set, in file order.
    pub(super) ops: Vec<Op>,
    /// Whether `ops` are in key order (always, in a healthy recording).
    pub(super) sorted: bool,
    /// The smallest timestamp of `ops` (`u64::MAX` if none).
    pub(super) min_ts: u64,
    /// The largest timestamp of the chunk's events (0 if none).
    pub(super) max_ts: u64,
    /// The chunk's thread start, exit and lost-events events.
    pub(super) facts: Vec<Event>,
    /// Events in the chunk, of every kind.
    pub(super) events: u64,
}

/// Turns chunks of events into [`Batch`]es of sortable [`Op`]s. Keeps what
/// that needs across chunks: thread indexes, each thread's last timestamp
/// and class, and the links of moved reallocations. It does not depend on
/// what replay applied, so it runs ahead of replay on the reading thread.
#[derive(Debug, Default)]
pub(crate) struct Converter {
    index: FastMap<u32, u32>,
    /// Per thread index: timestamp and class of the thread's previous
    /// live-set event: a later event with the same timestamp never sorts
    /// before it.
    last: Vec<(u64, u64)>,
    next_link: u64,
}

impl Batch {
    /// An empty batch whose ops go in `ops` (cleared: a buffer to reuse).
    pub(crate) fn with_ops(ops: Vec<Op>) -> Self {
        Batch { ops, ..Batch::default() }
    }
}

impl Converter {
    /// Converts `events` of recorder thread `thread` into `out` (whose
    /// buffers are reused).
    pub(crate) fn convert(&mut self, thread: u32, events: &[Event], out: &mut Batch) {
        let last = &mut self.last;
        let t = *self.index.entry(thread).or_insert_with(|| {
            last.push((0, 0));
            (last.len() - 1) as u32
        });
        out.thread = thread;
        out.index = t;
        out.ops.clear();
        out.facts.clear();
        out.ops.reserve(events.len());
        out.events = events.len() as u64;
        let (mut max_ts, mut min_key, mut prev_key, mut sorted) = (0u64, u64::MAX, 0u64, true);
        let (mut last_ts, mut last_class) = self.last[t as usize];
        let mut push = |ops: &mut Vec<Op>, op: Op| {
            sorted &= op.key >= prev_key;
            prev_key = op.key;
            min_key = min_key.min(op.key);
            ops.push(op);
        };
        for ev in events {
            let ts = ev.ts_ns();
            max_ts = max_ts.max(ts);
            let stack = ev.stack();
            let (kind, class, a, b, c) = match *ev {
                // A reallocation that moved, with its return stamp: the old
                // address is released at the first stamp, the new one
                // acquired at the second, each where a deallocation and an
                // allocation would be.
                Event::Realloc { old_ptr, new_ptr, old_size, new_size, returned_ns: Some(returned), .. } if old_ptr != new_ptr => {
                    let (large, c) = match old_size {
                        Some(old) if (old | new_size) >> 32 == 0 => (false, old | new_size << 32),
                        _ => (true, new_size),
                    };
                    let link = self.next_link;
                    self.next_link += 1;
                    let class = if ts == last_ts { last_class } else { 0 };
                    let out_op = Op { key: ts << 1 | class, a: old_ptr, b: link, c, thread: t, stack, kind: OpKind::MoveOut { large } };
                    // Its class is the allocations' (the highest), so the
                    // thread's push order holds at equal timestamps.
                    let returned = returned.max(ts);
                    (last_ts, last_class) = (returned, CLASS_ALLOC);
                    max_ts = max_ts.max(returned);
                    let back =
                        Op { key: returned << 1 | CLASS_ALLOC, a: link, b: new_ptr, c, thread: t, stack, kind: OpKind::MoveIn { large } };
                    push(&mut out.ops, out_op);
                    push(&mut out.ops, back);
                    continue;
                }
                Event::Alloc { ptr, size, .. } => (OpKind::Alloc, CLASS_ALLOC, ptr, size, 0),
                Event::Dealloc { ptr, size, .. } => (OpKind::Dealloc, 0, ptr, size, 0),
                Event::Realloc { old_ptr, new_ptr, old_size, new_size, .. } => match old_size {
                    Some(old) if (old | new_size) >> 32 == 0 => (OpKind::Realloc, 0, old_ptr, new_ptr, old | new_size << 32),
                    _ => (OpKind::ReallocLarge, 0, old_ptr, new_ptr, new_size),
                },
                Event::ThreadStart { .. } | Event::ThreadExit { .. } | Event::Lost { .. } => {
                    out.facts.push(*ev);
                    continue;
                }
                Event::Var { ptr, size, site, .. } => (OpKind::Track(KIND_VAR), CLASS_ALLOC, ptr, size, site),
                Event::VarMore { ptr, size, .. } => (OpKind::Track(KIND_VAR_MORE), CLASS_ALLOC, ptr, size, 0),
                Event::VarType { type_key, .. } => (OpKind::Track(KIND_VAR_TYPE), CLASS_ALLOC, type_key, 0, 0),
                Event::Shared { strong, weak, .. } => (OpKind::Track(KIND_SHARED), CLASS_ALLOC, strong, weak, 0),
                Event::CloneOf { source_ptr, .. } => (OpKind::Track(KIND_CLONE_OF), CLASS_ALLOC, source_ptr, 0, 0),
                Event::ScopeEnter { site, .. } => (OpKind::Track(KIND_SCOPE_ENTER), CLASS_ALLOC, site, 0, 0),
                Event::ScopeExit { site, unwinding, .. } => (OpKind::Track(KIND_SCOPE_EXIT), CLASS_ALLOC, site, unwinding.into(), 0),
                Event::ForeignAlloc { ptr, size, label, .. } => (OpKind::Track(KIND_FOREIGN_ALLOC), CLASS_ALLOC, ptr, size, label),
                Event::ForeignFree { ptr, .. } => (OpKind::Track(KIND_FOREIGN_FREE), CLASS_ALLOC, ptr, 0, 0),
                Event::Handoff { ptr, label, .. } => (OpKind::Track(KIND_HANDOFF), CLASS_ALLOC, ptr, 0, label),
            };
            // A thread's own events with equal timestamps keep push order:
            // its free right after its allocation must not sort first.
            let class = if ts == last_ts { class.max(last_class) } else { class };
            (last_ts, last_class) = (ts, class);
            push(&mut out.ops, Op { key: ts << 1 | class, a, b, c, thread: t, stack, kind });
        }
        self.last[t as usize] = (last_ts, last_class);
        out.sorted = sorted;
        out.min_ts = min_key >> 1;
        out.max_ts = max_ts;
    }
}
