//! Applying tracking events (variables, scopes, foreign memory, handoffs),
//! and finding the live allocation an address points into.

use super::{Op, Replayer};
use crate::format::event::*;
use crate::format::SITE_CLONE;
use crate::replay::track::{
    AllocAcc, ForeignAcc, Handoff, ScopeInterval, VarAcc, MAX_FOREIGN, MAX_INTERIOR_OFFSET, MAX_SCOPE_INTERVALS, MAX_UNLINKED_NOTES,
    MAX_VARIABLES,
};

impl Replayer {
    /// The live allocation containing `ptr`: the one starting there, else
    /// one of 4 KiB or more containing it (kept in address order), else one
    /// starting at an 8-byte-aligned address at most [`MAX_INTERIOR_OFFSET`]
    /// bytes below it.
    fn containing(&self, ptr: u64) -> Option<u64> {
        if ptr == 0 {
            return None;
        }
        if self.live.get(ptr).is_some() {
            return Some(ptr);
        }
        if let Some(start) = self.live.large_containing(ptr) {
            return Some(start);
        }
        let mut start = ptr & !7;
        let lowest = ptr.saturating_sub(MAX_INTERIOR_OFFSET);
        while start >= lowest && start > 0 {
            if let Some(l) = self.live.get(start) {
                if start != ptr && start.wrapping_add(l.size) > ptr {
                    return Some(start);
                }
            }
            start -= 8;
        }
        None
    }

    /// The tracked-allocation index of the live allocation at `start`, made
    /// on first use (at `ts`): its history starts with its allocation, at
    /// the size it had then, and, if it was reallocated since, its size at
    /// `ts` (the steps in between were not followed).
    fn tag(&mut self, ts: u64, start: u64) -> Option<u32> {
        let live = self.live.get(start)?;
        if live.tag == 0 {
            let mut a = AllocAcc {
                ptr: start,
                size: live.size,
                allocated_at_ns: live.start_ns,
                freed_at_ns: None,
                reallocations: 0,
                peak_size: live.size,
                history: Vec::new(),
                history_truncated: false,
                vars: Vec::new(),
                handoffs: Vec::new(),
            };
            if live.resized() {
                if let Some(first) = live.first_size() {
                    a.size = first;
                    a.step(live.start_ns, "allocation");
                    a.size = live.size;
                }
                a.step(ts, "tracked");
            } else {
                a.step(live.start_ns, "allocation");
            }
            self.track.allocs.push(a);
            let tag = self.track.allocs.len() as u32;
            self.live.update(start, |l| l.tag = tag);
            return Some(tag - 1);
        }
        Some(live.tag - 1)
    }

    /// Links variable `v` to the allocation that starts at `start` (the one
    /// [`Replayer::containing`] found for `ptr`), or notes why there is none.
    fn link(&mut self, ts: u64, v: u32, ptr: u64, start: Option<u64>) {
        let Some(start) = start else {
            let var = &mut self.track.vars[v as usize];
            var.unlinked_addresses += 1;
            if var.unlinked_addresses <= MAX_UNLINKED_NOTES {
                var.notes.push(format!(
                    "no live allocation contains {ptr:#x}: allocated before the recording started, freed already, or not on the heap"
                ));
            }
            return;
        };
        let Some(a) = self.tag(ts, start) else { return };
        let alloc = &mut self.track.allocs[a as usize];
        if !alloc.vars.contains(&v) {
            alloc.vars.push(v);
            let size = alloc.size;
            let var = &mut self.track.vars[v as usize];
            var.allocs.push(a);
            var.size = var.size.wrapping_add(size);
        }
    }

    /// Applies a tracking event of thread index `op.thread`.
    pub(super) fn apply_track(&mut self, ts: u64, kind: u8, op: &Op) {
        let t = op.thread;
        let thread_id = self.threads[t as usize].stats.thread;
        let last_var = self.track.thread(t).last_var;
        match kind {
            KIND_VAR => {
                let (ptr, site) = (op.a, op.c);
                let start = self.containing(ptr);
                // The same site naming this allocation again: no new variable
                // (but each clone is one: clones of an `Rc` share its allocation).
                let clone_site = self.track.sites.get(&site).is_some_and(|s| s.kind == SITE_CLONE);
                if let Some(a) = start.and_then(|start| self.live.get(start)).map(|l| l.tag).filter(|&tag| tag != 0 && !clone_site) {
                    let existing =
                        self.track.allocs[a as usize - 1].vars.iter().copied().find(|&v| self.track.vars[v as usize].site == site);
                    if let Some(v) = existing {
                        self.track.totals.retracked += 1;
                        self.track.vars[v as usize].retracked += 1;
                        self.track.thread(t).last_var = Some(v);
                        return;
                    }
                }
                self.track.totals.variables += 1;
                if self.track.vars.len() >= MAX_VARIABLES {
                    self.track.thread(t).last_var = None;
                    return;
                }
                let scope = self.threads[t as usize].scope.checked_sub(1);
                let v = self.track.vars.len() as u32;
                self.track.vars.push(VarAcc {
                    site,
                    type_key: None,
                    thread: thread_id,
                    scope,
                    tracked_at_ns: ts,
                    size: 0,
                    allocs: Vec::new(),
                    reported_addresses: ptr != 0,
                    counts: None,
                    clone_of: None,
                    retracked: 0,
                    notes: Vec::new(),
                    unlinked_bytes: 0,
                    regions_truncated: false,
                    unlinked_addresses: 0,
                });
                self.track.thread(t).last_var = Some(v);
                if ptr != 0 {
                    self.link(ts, v, ptr, start);
                }
            }
            KIND_VAR_MORE => {
                let Some(v) = last_var else { return };
                if op.a == VAR_MORE_PAST_BOUND {
                    let var = &mut self.track.vars[v as usize];
                    var.reported_addresses = true;
                    var.regions_truncated = true;
                    var.unlinked_bytes = var.unlinked_bytes.saturating_add(op.b);
                    var.notes.push(format!(
                        "owns more heap allocations than one value reports by address ({}): {} bytes in the others are counted, not linked",
                        MAX_VAR_REGIONS, op.b
                    ));
                } else if op.a != 0 {
                    self.track.vars[v as usize].reported_addresses = true;
                    self.link(ts, v, op.a, self.containing(op.a));
                } else {
                    let var = &mut self.track.vars[v as usize];
                    var.reported_addresses = true;
                    var.unlinked_bytes = var.unlinked_bytes.saturating_add(op.b);
                    var.notes.push(if op.b == 0 {
                        "holds heap memory whose address and size the value does not expose".to_owned()
                    } else {
                        format!("holds {} bytes of heap memory whose address the value does not expose", op.b)
                    });
                }
            }
            KIND_VAR_TYPE => {
                if let Some(v) = last_var {
                    self.track.vars[v as usize].type_key = Some(op.a);
                }
            }
            KIND_SHARED => {
                if let Some(v) = last_var {
                    self.track.vars[v as usize].counts = Some((op.a, op.b));
                }
            }
            KIND_CLONE_OF => {
                let Some(v) = last_var else { return };
                let source = self.containing(op.a).and_then(|s| self.live.get(s)).map(|l| l.tag).filter(|&tag| tag != 0);
                let from = source.and_then(|a| self.track.allocs[a as usize - 1].vars.iter().rev().copied().find(|&w| w != v));
                let var = &mut self.track.vars[v as usize];
                match from {
                    Some(w) => var.clone_of = Some(w),
                    None if op.a == 0 => var.notes.push("cloned from a value with no heap allocation".to_owned()),
                    None => var.notes.push(format!("cloned from an untracked value at {:#x}", op.a)),
                }
            }
            KIND_SCOPE_ENTER => {
                self.track.totals.scope_entries += 1;
                let parent = self.track.thread(t).stack.last().map(|&(n, _)| n);
                let node = match self.track.node(t, thread_id, parent, op.a) {
                    Some(n) => n,
                    None => {
                        self.track.totals.scopes_collapsed += 1;
                        match parent {
                            Some(p) => p,
                            None => return,
                        }
                    }
                };
                self.track.nodes[node as usize].node.entries += 1;
                self.track.thread(t).stack.push((node, ts));
                self.threads[t as usize].scope = node + 1;
            }
            KIND_SCOPE_EXIT => {
                self.track.thread(t);
                let nodes = &self.track.nodes;
                let tt = &mut self.track.threads[t as usize];
                let Some(i) = tt.stack.iter().rposition(|&(n, _)| nodes[n as usize].site == op.a) else {
                    self.track.totals.unmatched_scope_exits += 1;
                    return;
                };
                let closing: Vec<(u32, u64)> = tt.stack.drain(i..).collect();
                let top = tt.stack.last().map_or(0, |&(n, _)| n + 1);
                self.threads[t as usize].scope = top;
                for (k, &(n, entered)) in closing.iter().enumerate() {
                    let node = &mut self.track.nodes[n as usize].node;
                    let d = ts.saturating_sub(entered);
                    node.total_duration_ns = node.total_duration_ns.saturating_add(d);
                    node.max_duration_ns = node.max_duration_ns.max(d);
                    if op.b != 0 {
                        node.unwound += 1;
                    }
                    self.track.totals.scope_intervals += 1;
                    if self.track.intervals.len() < MAX_SCOPE_INTERVALS {
                        self.track.intervals.push(ScopeInterval { scope: n, enter_ns: entered, exit_ns: ts });
                    }
                    if k > 0 {
                        self.track.totals.unmatched_scope_exits += 1;
                    }
                }
            }
            KIND_FOREIGN_ALLOC => {
                self.track.totals.foreign_regions += 1;
                if let Some(old) = self.track.foreign_live.remove(&op.a) {
                    self.track.foreign[old as usize].released_at_ns = Some(ts);
                }
                if self.track.foreign.len() < MAX_FOREIGN {
                    self.track.foreign.push(ForeignAcc {
                        label: op.c,
                        ptr: op.a,
                        size: op.b,
                        thread: thread_id,
                        tracked_at_ns: ts,
                        released_at_ns: None,
                    });
                    self.track.foreign_live.insert(op.a, self.track.foreign.len() as u32 - 1);
                }
            }
            KIND_FOREIGN_FREE => match self.track.foreign_live.remove(&op.a) {
                Some(i) => self.track.foreign[i as usize].released_at_ns = Some(ts),
                None => self.track.totals.unknown_foreign_releases += 1,
            },
            KIND_HANDOFF => {
                self.track.totals.handoffs += 1;
                let label = self.track.texts.get(&op.c).cloned().unwrap_or_else(|| "<unknown label>".to_owned());
                match self.containing(op.a).and_then(|s| self.tag(ts, s)) {
                    Some(a) => self.track.allocs[a as usize].handoffs.push(Handoff { label, at_ns: ts, thread: thread_id }),
                    None => self.track.totals.unlinked_handoffs += 1,
                }
            }
            _ => {}
        }
    }
}
