//! The drainer's side of a sampling recording's exact totals: each round,
//! the slots' counts (`Slot::totals`) become per-thread cumulative counts,
//! written as Totals records for the threads whose counts changed
//! (FORMAT.md, "Totals record").

use super::registry::Slot;
use crate::format::sampling::{put_totals, TotalsRecord};
use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub(crate) struct TotalsTracker {
    /// Whether the recording samples (no Totals records otherwise).
    pub(crate) on: bool,
    /// Per slot index: the slot's counts already added to a thread.
    reported: Vec<[u64; 6]>,
    /// Per recorder thread id: its counts in this recording.
    threads: BTreeMap<u32, [u64; 6]>,
    /// Threads whose counts changed since their last Totals record.
    changed: Vec<u32>,
}

impl TotalsTracker {
    /// Before the recording starts: the slot's counts so far belong to
    /// earlier recordings.
    pub(crate) fn baseline(&mut self, slot: &Slot) {
        let index = slot.index() as usize;
        if self.reported.len() <= index {
            self.reported.resize(index + 1, [0; 6]);
        }
        self.reported[index] = slot.totals();
    }

    /// After a slot's ring was emptied this round: adds what its owner
    /// counted since the last round to the owner's thread. Read after the
    /// pops, so the counts cover at least every event written.
    pub(crate) fn take(&mut self, slot: &Slot) {
        if !self.on {
            return;
        }
        let index = slot.index() as usize;
        if self.reported.len() <= index {
            self.reported.resize(index + 1, [0; 6]);
        }
        let now = slot.totals();
        let before = std::mem::replace(&mut self.reported[index], now);
        if now == before {
            return;
        }
        let thread = slot.thread();
        let acc = self.threads.entry(thread).or_default();
        for i in 0..6 {
            acc[i] = acc[i].wrapping_add(now[i].wrapping_sub(before[i]));
        }
        if !self.changed.contains(&thread) {
            self.changed.push(thread);
        }
    }

    /// At the start of a segment: a Totals record for every thread seen so
    /// far, so that the segment alone holds every thread's exact counts
    /// (FORMAT.md, "Segments").
    pub(crate) fn put_all(&mut self, out: &mut Vec<u8>) {
        if !self.on {
            return;
        }
        self.changed.clear();
        self.changed.extend(self.threads.keys().copied());
        self.put(out);
    }

    /// Appends a Totals record for each thread whose counts changed.
    pub(crate) fn put(&mut self, out: &mut Vec<u8>) {
        self.changed.sort_unstable();
        for thread in self.changed.drain(..) {
            let c = self.threads.get(&thread).copied().unwrap_or_default();
            put_totals(
                out,
                &TotalsRecord {
                    thread,
                    allocations: c[0],
                    deallocations: c[1],
                    reallocations: c[2],
                    allocated_bytes: c[3],
                    deallocated_bytes: c[4],
                    untracked_samples: c[5],
                },
            );
        }
    }
}
