//! Applying one op to the live set and the statistics: allocations,
//! deallocations and reallocations (the tracking events are in `tracking`).

use super::ops::{sizes, OpKind};
use super::{Charge, Op, Replayer};
use crate::format::stacks::MARK_TABLE_FULL;
use crate::replay::live::{Live, RESIZED};
use crate::replay::sites::Gain;

impl Replayer {
    #[inline]
    pub(super) fn apply(&mut self, op: &Op) {
        let ts = op.ts();
        if ts < self.max_applied {
            self.totals.late_events += 1;
        } else {
            self.max_applied = ts;
        }
        match op.kind {
            OpKind::Alloc => {
                let t = &mut self.totals;
                t.total_allocations += 1;
                t.total_allocated_bytes = t.total_allocated_bytes.wrapping_add(op.b);
                let s = &mut self.threads[op.thread as usize].stats;
                s.allocations += 1;
                s.allocated_bytes = s.allocated_bytes.wrapping_add(op.b);
                let (bytes, units) = self.sites.weigh(op.b);
                self.sizes.add_units(op.b, units, bytes);
                let scope = self.threads[op.thread as usize].scope;
                if scope != 0 {
                    self.track.scope_allocated(scope - 1, op.b, true);
                    self.track.scope_grow(scope - 1, op.b);
                }
                self.owner_live(ts, op.thread, op.b, 0, op.b);
                let site = self.site_of(op.stack);
                self.sites.gained(site, ts, op.b, Gain::Allocation);
                self.threads[op.thread as usize].last_alloc = op.a;
                self.land(ts, op.a, Live::new(op.b, ts, op.thread, scope, site), false);
            }
            OpKind::Dealloc => match self.live.free(op.a) {
                Some(freed) => {
                    if freed.size != op.b {
                        self.totals.size_mismatches += 1;
                    }
                    self.totals.total_deallocations += 1;
                    self.totals.live_count -= 1;
                    self.threads[op.thread as usize].stats.deallocations += 1;
                    self.release_bytes(op.thread, freed.size);
                    let owner = self.owner(&freed);
                    self.discharge(ts, &freed);
                    self.free_charge(freed.charge);
                    let lifetime = ts.saturating_sub(freed.start_ns);
                    let (bytes, units) = self.sites.weigh(freed.size);
                    self.lifetimes.add_units(lifetime, units, bytes);
                    let last = &mut self.threads[owner as usize].last_alloc;
                    let temporary = *last == op.a;
                    if temporary {
                        *last = 0;
                    }
                    self.sites.released(freed.site, ts, freed.size, Some(lifetime), temporary);
                    if let Some(n) = freed.scope() {
                        self.track.scope_shrink(n, freed.size, true);
                    }
                    if freed.tag != 0 {
                        let a = &mut self.track.allocs[freed.tag as usize - 1];
                        a.freed_at_ns = Some(ts);
                        a.step(ts, "deallocation");
                    }
                    self.note(ts);
                }
                None => {
                    let t = &mut self.totals;
                    t.prerecording_deallocations += 1;
                    t.prerecording_deallocated_bytes = t.prerecording_deallocated_bytes.wrapping_add(op.b);
                    self.threads[op.thread as usize].stats.prerecording_deallocations += 1;
                }
            },
            OpKind::Realloc | OpKind::ReallocLarge => self.realloc(ts, op),
            OpKind::MoveOut { large } => {
                let (old_size, _) = sizes(large, op.c);
                let taken = self.take_old(ts, op.thread, op.a, old_size);
                self.moving.insert(op.b, taken);
                self.note(ts);
            }
            OpKind::MoveIn { large } => {
                let (_, new_size) = sizes(large, op.c);
                // A link with no first half cannot come from a reader (both
                // halves come from one event); treat it as a reallocation of
                // an address that was not live.
                let taken = self.moving.remove(&op.a).flatten();
                let site = self.reallocated(op.thread, op.stack, op.b, new_size);
                // Stamped after the call, as an allocation: landing on a
                // held address is disorder, as for an allocation.
                self.put_new(ts, op.thread, op.b, new_size, site, taken, false);
            }
            OpKind::Track(kind) => self.apply_track(ts, kind, op),
        }
    }

    /// The counts of a reallocation by thread index `thread` to `new_size`
    /// bytes at `new_ptr` with stack `stack`; returns its site.
    fn reallocated(&mut self, thread: u32, stack: u32, new_ptr: u64, new_size: u64) -> u32 {
        let t = &mut self.totals;
        t.total_reallocations += 1;
        t.total_allocated_bytes = t.total_allocated_bytes.wrapping_add(new_size);
        let (bytes, units) = self.sites.weigh(new_size);
        self.sizes.add_units(new_size, units, bytes);
        let acc = &mut self.threads[thread as usize];
        acc.stats.reallocations += 1;
        acc.stats.allocated_bytes = acc.stats.allocated_bytes.wrapping_add(new_size);
        acc.last_alloc = new_ptr;
        let caller_scope = acc.scope;
        if caller_scope != 0 {
            self.track.scope_allocated(caller_scope - 1, new_size, false);
        }
        self.site_of(stack)
    }

    /// The release of a reallocation's old address `old_ptr` by thread
    /// index `thread`: returns the allocation it held (no longer live), or
    /// `None` (counted) if replay did not hold it.
    fn take_old(&mut self, ts: u64, thread: u32, old_ptr: u64, old_size: Option<u64>) -> Option<Live> {
        match self.live.free(old_ptr) {
            Some(freed) => {
                if old_size.is_some_and(|s| s != freed.size) {
                    self.totals.size_mismatches += 1;
                }
                self.totals.live_count -= 1;
                self.release_bytes(thread, freed.size);
                self.discharge(ts, &freed);
                self.sites.released(freed.site, ts, freed.size, None, false);
                Some(freed)
            }
            None => {
                let t = &mut self.totals;
                t.prerecording_reallocations += 1;
                t.prerecording_deallocated_bytes = t.prerecording_deallocated_bytes.wrapping_add(old_size.unwrap_or(0));
                None
            }
        }
    }

    /// The acquisition of a reallocation's new address `new_ptr` by thread
    /// index `thread`: `taken` (from [`Replayer::take_old`]) continues there
    /// at `new_size` bytes and site `site`, its growth charged to `thread`;
    /// or, if `None`, a new allocation of `thread` starts there.
    #[allow(clippy::too_many_arguments)]
    fn put_new(&mut self, ts: u64, thread: u32, new_ptr: u64, new_size: u64, site: u32, taken: Option<Live>, by_reallocation: bool) {
        self.sites.gained(site, ts, new_size, Gain::Reallocation { old_size: taken.as_ref().map(|l| l.size) });
        let live = match taken {
            Some(freed) => {
                let mut live = Live { size: new_size, site, first: freed.first | RESIZED, ..freed };
                self.regrow(&freed, &mut live, thread);
                self.charge_live(ts, &live);
                self.resized(ts, &live, freed.size, new_ptr);
                live
            }
            None => {
                let caller_scope = self.threads[thread as usize].scope;
                if caller_scope != 0 {
                    self.track.scope_grow(caller_scope - 1, new_size);
                }
                self.owner_live(ts, thread, new_size, 0, new_size);
                Live::new(new_size, ts, thread, caller_scope, site)
            }
        };
        self.land(ts, new_ptr, live, by_reallocation);
    }

    /// How many of `live`'s bytes are charged to its allocating thread, and
    /// the rest's thread index and bytes.
    fn split(&self, live: &Live) -> (u64, Option<Charge>) {
        match live.charge.checked_sub(1) {
            None => (live.size, None),
            Some(i) => {
                let c = self.charges[i as usize];
                (live.size.wrapping_sub(c.bytes), Some(c))
            }
        }
    }

    /// Removes `live`'s bytes from the live bytes of the threads charged for them.
    #[inline(always)]
    fn discharge(&mut self, ts: u64, live: &Live) {
        let (base, other) = self.split(live);
        self.owner_live(ts, self.owner(live), 0, base, live.size);
        if let Some(c) = other {
            self.owner_live(ts, c.thread, 0, c.bytes, live.size);
        }
    }

    /// Adds `live`'s bytes to the live bytes of the threads charged for them.
    #[inline]
    fn charge_live(&mut self, ts: u64, live: &Live) {
        let (base, other) = self.split(live);
        self.owner_live(ts, self.owner(live), base, 0, live.size);
        if let Some(c) = other {
            self.owner_live(ts, c.thread, c.bytes, 0, live.size);
        }
    }

    fn free_charge(&mut self, charge: u32) {
        if let Some(i) = charge.checked_sub(1) {
            self.free_charges.push(i);
        }
    }

    /// Charges the growth of a reallocation by thread index `by` from
    /// `before` to `after` (same allocation, new size; `after.charge` is
    /// `before.charge`): growth goes to `by` (the allocating thread's own
    /// part, or the part of another thread, which `by` then takes over); a
    /// shrink comes off `by`'s part first, then the other. No part goes
    /// below zero, and the parts always sum to the size.
    fn regrow(&mut self, before: &Live, after: &mut Live, by: u32) {
        let (base, other) = self.split(before);
        let (g, grower) = other.map_or((0, None), |c| (c.bytes, Some(c.thread)));
        let owner = self.owner(before);
        let (new, was) = (after.size, before.size);
        let (g, grower) = if new >= was {
            let d = new - was;
            if by == owner {
                (g, grower)
            } else {
                (g + d, Some(by))
            }
        } else {
            let s = was - new;
            if by == owner {
                let from_base = s.min(base);
                (g - (s - from_base), grower)
            } else {
                (g - s.min(g), grower)
            }
        };
        match (grower.filter(|_| g != 0), after.charge.checked_sub(1)) {
            (Some(thread), Some(i)) => self.charges[i as usize] = Charge { thread, bytes: g },
            (Some(thread), None) => {
                let c = Charge { thread, bytes: g };
                let i = match self.free_charges.pop() {
                    Some(i) => {
                        self.charges[i as usize] = c;
                        i
                    }
                    None => {
                        self.charges.push(c);
                        self.charges.len() as u32 - 1
                    }
                };
                after.charge = i + 1;
            }
            (None, Some(i)) => {
                self.free_charges.push(i);
                after.charge = 0;
            }
            (None, None) => {}
        }
    }

    /// A reallocation with one stamp: in place, or (before version 4, or
    /// without a return stamp) moved, both halves at that stamp.
    fn realloc(&mut self, ts: u64, op: &Op) {
        let (old_ptr, new_ptr) = (op.a, op.b);
        let (old_size, new_size) = sizes(op.kind == OpKind::ReallocLarge, op.c);
        let site = self.reallocated(op.thread, op.stack, new_ptr, new_size);
        if old_ptr == new_ptr {
            if let Some(before) = self.live.resize(old_ptr, new_size, site) {
                let was = before.size;
                let mut held = Live { size: new_size, site, first: before.first | RESIZED, ..before };
                if old_size.is_some_and(|s| s != was) {
                    self.totals.size_mismatches += 1;
                }
                self.totals.live_bytes = self.totals.live_bytes.wrapping_add(new_size);
                self.release_bytes(op.thread, was);
                self.discharge(ts, &before);
                self.regrow(&before, &mut held, op.thread);
                self.live.update(old_ptr, |l| {
                    l.charge = held.charge;
                    l.first = held.first;
                });
                self.charge_live(ts, &held);
                self.sites.released(before.site, ts, was, None, false);
                self.sites.gained(site, ts, new_size, Gain::Reallocation { old_size: Some(was) });
                self.resized(ts, &held, was, new_ptr);
                self.note(ts);
                return;
            }
        }
        let taken = self.take_old(ts, op.thread, old_ptr, old_size);
        // Stamped before the call: the new address may be one another
        // thread deallocated during it, stamped later (a reordered
        // reallocation, not disorder).
        self.put_new(ts, op.thread, new_ptr, new_size, site, taken, true);
    }

    /// The scope and tracking side of a reallocation of `live` (already at
    /// its new size) from `was` bytes to its new address `new_ptr`.
    fn resized(&mut self, ts: u64, live: &Live, was: u64, new_ptr: u64) {
        if let Some(n) = live.scope() {
            self.track.scope_shrink(n, was, false);
            self.track.scope_grow(n, live.size);
        }
        if live.tag != 0 {
            let a = &mut self.track.allocs[live.tag as usize - 1];
            a.ptr = new_ptr;
            a.size = live.size;
            a.peak_size = a.peak_size.max(live.size);
            a.reallocations += 1;
            a.step(ts, "reallocation");
        }
    }

    /// The site of an allocation or reallocation with stack id `stack`,
    /// counting stacks that are unknown or were not captured.
    #[inline]
    fn site_of(&mut self, stack: u32) -> u32 {
        let stack = match self.stacks.nodes.get((stack as usize).wrapping_sub(1)) {
            _ if stack == 0 => 0,
            Some(n) => {
                if n.address == MARK_TABLE_FULL && n.parent == 0 {
                    self.stacks.table_full_allocations += 1;
                }
                stack
            }
            None => {
                self.stacks.unknown_stack_allocations += 1;
                0
            }
        };
        self.sites.site_of(stack)
    }

    /// The thread index that made `live`.
    #[inline]
    fn owner(&self, live: &Live) -> u32 {
        match live.scope() {
            None => live.origin,
            Some(n) => self.track.nodes[n as usize].thread_index,
        }
    }

    /// Moves the live bytes of allocations made by thread index `owner`
    /// (`add` and `sub` are parts of an allocation of `size` bytes; when
    /// sampling, they are weighted as it is, for the timeline).
    #[inline]
    fn owner_live(&mut self, ts: u64, owner: u32, add: u64, sub: u64, size: u64) {
        let (add, sub) = if self.sites.interval == 0 { (add, sub) } else { (self.sites.scale(add, size), self.sites.scale(sub, size)) };
        let acc = &mut self.threads[owner as usize];
        acc.live_bytes = acc.live_bytes.wrapping_add(add).wrapping_sub(sub);
        if let Some(t) = &mut acc.timeline {
            t.note(ts, acc.live_bytes, 0);
        }
    }

    /// Counts `size` bytes freed by a call of thread `thread`: deallocated
    /// by it, no longer live (the caller counts the allocation itself).
    #[inline]
    fn release_bytes(&mut self, thread: u32, size: u64) {
        let t = &mut self.totals;
        t.total_deallocated_bytes = t.total_deallocated_bytes.wrapping_add(size);
        t.live_bytes = t.live_bytes.wrapping_sub(size);
        let s = &mut self.threads[thread as usize].stats;
        s.deallocated_bytes = s.deallocated_bytes.wrapping_add(size);
    }

    /// Puts `live` at `ptr` (deferring it if `ptr` is held) and counts it live.
    ///
    /// A reallocation is stamped before its call, so the address it returns
    /// can be one another thread deallocated during the call, stamped later:
    /// its landing waits for that deallocation and is counted in
    /// `reordered_reallocations`, which is expected. An allocation is stamped
    /// after its call, so for one to land on a held address is real disorder
    /// (`address_conflicts`).
    #[inline]
    fn land(&mut self, ts: u64, ptr: u64, live: Live, by_reallocation: bool) {
        let t = &mut self.totals;
        t.live_count += 1;
        t.live_bytes = t.live_bytes.wrapping_add(live.size);
        if !self.live.land(ptr, live) {
            if by_reallocation {
                self.totals.reordered_reallocations += 1;
            } else {
                self.totals.address_conflicts += 1;
            }
        }
        self.note(ts);
    }

    /// Updates the peak and the timeline after a change of the live bytes at `ts`.
    #[inline]
    fn note(&mut self, ts: u64) {
        let t = &mut self.totals;
        // Sampling: the sites' peak and the timeline follow the estimates
        // (the weighted live), not the samples' own bytes.
        let weighted = self.sites.weighted_live();
        if t.live_bytes > t.peak_live_bytes {
            t.peak_live_bytes = t.live_bytes;
            t.peak_at_ns = ts;
            if weighted.is_none() {
                self.sites.new_peak();
            }
        }
        let (bytes, count) = match weighted {
            Some((bytes, count)) => {
                self.sites.weighted_peak(bytes, ts);
                (bytes, count)
            }
            None => (t.live_bytes, t.live_count),
        };
        self.timeline.note(ts, bytes, count);
        self.sites.follow_shift(self.timeline.shift());
    }
}
