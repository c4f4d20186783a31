//! The live set: allocations the replay holds, keyed by address, plus the
//! allocations deferred because they landed on an address still held.

use std::collections::{BTreeMap, HashMap};

/// Allocations of this many bytes or more are kept in address order too.
pub(crate) const LARGE: u64 = 4096;
use std::hash::{BuildHasherDefault, Hasher};

/// A multiply-rotate hasher for addresses and thread ids (the FxHash
/// scheme): one multiplication per word. Not DoS-resistant, which does not
/// matter for a file the user chose to replay.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct AddrHasher(u64);

const K: u64 = 0xf135_7aea_2e62_a9c5;

impl Hasher for AddrHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(K);
    }

    /// The product's low bits depend only on the input's low bits (which are
    /// zero in aligned addresses); the rotation brings the well-mixed high
    /// bits down to where the table takes its bucket index.
    #[inline]
    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }
}

/// A `HashMap` with [`AddrHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<AddrHasher>>;

/// One live allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Live {
    /// Size in bytes.
    pub(crate) size: u64,
    /// When it was allocated, ns since the epoch.
    pub(crate) start_ns: u64,
    /// Where it was made: with [`IN_SCOPE`] clear, the index of the
    /// allocating thread in the replayer's thread table; with it set, the
    /// index of the scope node it was made in (whose thread is the
    /// allocating one). One field for both keeps a table slot at 32 bytes
    /// (`Slot`): replay's speed and memory follow the live set's size.
    pub(crate) origin: u32,
    /// Its index in the tracked allocations, plus one (0: no variable names it).
    pub(crate) tag: u32,
    /// Its site (call stack) in the replay's site table.
    pub(crate) site: u32,
    /// Its size when allocated, in bytes (below [`FIRST_UNKNOWN`], else
    /// unknown), and [`RESIZED`] once reallocated.
    pub(crate) first: u32,
    /// The part of its bytes charged to a thread other than the allocating
    /// one (growth by reallocation), as an index in the replayer's charges
    /// plus one (0: none; every byte is the allocating thread's).
    pub(crate) charge: u32,
}

/// The bit of [`Live::first`] set once the allocation was reallocated.
pub(crate) const RESIZED: u32 = 1 << 31;
/// [`Live::first`] without [`RESIZED`] for a first size of 2^31 − 1 bytes or more.
pub(crate) const FIRST_UNKNOWN: u32 = RESIZED - 1;

/// The bit of [`Live::origin`] that says it holds a scope node.
pub(crate) const IN_SCOPE: u32 = 1 << 31;

const _: () = assert!(std::mem::size_of::<Live>() == 40);

impl Live {
    /// An untracked allocation made by thread index `thread`, in scope node
    /// `scope − 1` (0: in no scope), at site `site`.
    #[inline]
    pub(crate) fn new(size: u64, start_ns: u64, thread: u32, scope: u32, site: u32) -> Self {
        let origin = if scope == 0 { thread } else { (scope - 1) | IN_SCOPE };
        Live { size, start_ns, origin, tag: 0, site, first: size.min(u64::from(FIRST_UNKNOWN)) as u32, charge: 0 }
    }

    /// Whether it was reallocated since allocated.
    #[inline]
    pub(crate) fn resized(&self) -> bool {
        self.first & RESIZED != 0
    }

    /// Its size when allocated, if known.
    #[inline]
    pub(crate) fn first_size(&self) -> Option<u64> {
        let first = self.first & !RESIZED;
        (first != FIRST_UNKNOWN).then_some(u64::from(first))
    }

    /// The scope node it was made in.
    #[inline]
    pub(crate) fn scope(&self) -> Option<u32> {
        (self.origin & IN_SCOPE != 0).then_some(self.origin & !IN_SCOPE)
    }
}

/// One slot of [`LiveTable`]: a live allocation packed in 32 bytes.
///
/// What most allocations never use (a variable's tag, bytes charged to
/// another thread, a first size that differs from the size, a size of 4 GiB
/// or more) lives in [`Extra`], which `extra` indexes (plus one; 0: none).
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// The address; [`EMPTY`] marks an empty slot.
    addr: u64,
    start_ns: u64,
    /// The size in bytes, or [`SIZE_IN_EXTRA`] when it does not fit.
    size: u32,
    site: u32,
    origin: u32,
    extra: u32,
}

const _: () = assert!(std::mem::size_of::<Slot>() == 32);

/// [`Slot::addr`] of an empty slot: allocations at address 0 (only a
/// crafted file has them) are kept in [`LiveSet::zero`] instead.
const EMPTY: u64 = 0;
/// [`Slot::size`] when the size is in [`Extra::size`].
const SIZE_IN_EXTRA: u32 = u32::MAX;

/// The rarely used fields of a live allocation.
#[derive(Debug, Clone, Copy, Default)]
struct Extra {
    size: u64,
    tag: u32,
    first: u32,
    charge: u32,
}

/// An open-addressing table of live allocations keyed by address: linear
/// probing in Robin Hood order (an entry never sits farther from its home
/// slot than the entries it passed), deletion by backward shift, so that no
/// tombstones build up. At most 7/8 full: 32 bytes per slot is 36.6 bytes
/// per live allocation at the most, 73 just after the table doubled.
#[derive(Debug, Default)]
struct LiveTable {
    slots: Vec<Slot>,
    /// `slots.len() − 1` (the length is a power of two, or 0).
    mask: usize,
    /// 64 − log2(`slots.len()`): the home slot is the top bits of the hash.
    shift: u32,
    len: usize,
}

impl LiveTable {
    /// The home slot of `addr`: the 4 KiB page it is in picks a place at
    /// random (Fibonacci hashing: the product's top bits mix every bit of
    /// the page number), and its offset in the page, in 64-byte steps, is
    /// added. So the allocations of one page, which a program often makes
    /// one after another, sit near one another in the table: replaying them
    /// touches a few cache lines instead of one per allocation.
    #[inline]
    fn home(&self, addr: u64) -> usize {
        let page = (addr >> 12).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift;
        (page as usize).wrapping_add((addr >> 6) as usize & 63) & self.mask
    }

    /// The slot holding `addr` (not [`EMPTY`]).
    #[inline]
    fn find(&self, addr: u64) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mut i = self.home(addr);
        let mut dist = 0;
        loop {
            let s = &self.slots[i];
            if s.addr == addr {
                return Some(i);
            }
            // An empty slot, or an entry nearer its home than we are to
            // ours: `addr` would have taken its place.
            if s.addr == EMPTY || (i.wrapping_sub(self.home(s.addr)) & self.mask) < dist {
                return None;
            }
            i = (i + 1) & self.mask;
            dist += 1;
        }
    }

    /// Inserts `slot`, whose address is not in the table.
    #[inline]
    fn insert(&mut self, mut slot: Slot) {
        if (self.len + 1) * 8 > self.slots.len() * 7 {
            self.grow();
        }
        self.len += 1;
        let mut i = self.home(slot.addr);
        let mut dist = 0;
        loop {
            let there = self.slots[i].addr;
            if there == EMPTY {
                self.slots[i] = slot;
                return;
            }
            let theirs = i.wrapping_sub(self.home(there)) & self.mask;
            if theirs < dist {
                std::mem::swap(&mut self.slots[i], &mut slot);
                dist = theirs;
            }
            i = (i + 1) & self.mask;
            dist += 1;
        }
    }

    /// Removes the entry in slot `i` and returns it.
    #[inline]
    fn remove_at(&mut self, mut i: usize) -> Slot {
        let out = self.slots[i];
        self.len -= 1;
        loop {
            let next = (i + 1) & self.mask;
            let n = self.slots[next];
            if n.addr == EMPTY || self.home(n.addr) == next {
                self.slots[i] = Slot::default();
                return out;
            }
            self.slots[i] = n;
            i = next;
        }
    }

    fn grow(&mut self) {
        let cap = (self.slots.len() * 2).max(16);
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); cap]);
        self.mask = cap - 1;
        self.shift = 64 - cap.trailing_zeros();
        self.len = 0;
        for s in old.into_iter().filter(|s| s.addr != EMPTY) {
            self.insert(s);
        }
    }
}

/// Live allocations by address, and the deferred ones waiting for their
/// address to be freed (in arrival order per address).
#[derive(Debug, Default)]
pub(crate) struct LiveSet {
    table: LiveTable,
    /// Indexed by [`Slot::extra`] − 1; `free_extras` lists the unused entries.
    extras: Vec<Extra>,
    free_extras: Vec<u32>,
    /// The allocation at address 0, which [`EMPTY`] cannot key.
    zero: Option<Live>,
    /// Start → size of the held allocations of [`LARGE`] bytes or more, in
    /// address order: finds the allocation containing an address far from
    /// its start (smaller ones are found by probing below the address).
    large: BTreeMap<u64, u64>,
    deferred: FastMap<u64, Vec<Live>>,
    deferred_len: usize,
}

impl LiveSet {
    /// `live` packed at `addr`, its rare fields in an [`Extra`] (reusing `extra`, plus one, if not 0).
    #[inline]
    fn pack(&mut self, addr: u64, live: &Live, extra: u32) -> Slot {
        let small = live.size < u64::from(SIZE_IN_EXTRA);
        let plain = small && live.tag == 0 && live.charge == 0 && live.first == live.size.min(u64::from(FIRST_UNKNOWN)) as u32;
        let mut slot = Slot {
            addr,
            start_ns: live.start_ns,
            size: if small { live.size as u32 } else { SIZE_IN_EXTRA },
            site: live.site,
            origin: live.origin,
            extra: 0,
        };
        if plain {
            if extra != 0 {
                self.free_extras.push(extra - 1);
            }
            return slot;
        }
        let e = Extra { size: live.size, tag: live.tag, first: live.first, charge: live.charge };
        slot.extra = if extra != 0 {
            self.extras[extra as usize - 1] = e;
            extra
        } else if let Some(i) = self.free_extras.pop() {
            self.extras[i as usize] = e;
            i + 1
        } else {
            self.extras.push(e);
            self.extras.len() as u32
        };
        slot
    }

    #[inline]
    fn unpack(&self, s: &Slot) -> Live {
        match s.extra.checked_sub(1) {
            None => {
                let size = u64::from(s.size);
                let first = size.min(u64::from(FIRST_UNKNOWN)) as u32;
                Live { size, start_ns: s.start_ns, origin: s.origin, tag: 0, site: s.site, first, charge: 0 }
            }
            Some(i) => {
                let e = &self.extras[i as usize];
                Live { size: e.size, start_ns: s.start_ns, origin: s.origin, tag: e.tag, site: s.site, first: e.first, charge: e.charge }
            }
        }
    }

    /// Holds `live` at `ptr`, which is not held.
    #[inline]
    fn hold(&mut self, ptr: u64, live: Live) {
        if live.size >= LARGE {
            self.large.insert(ptr, live.size);
        }
        if ptr == EMPTY {
            self.zero = Some(live);
        } else {
            let slot = self.pack(ptr, &live, 0);
            self.table.insert(slot);
        }
    }

    /// Adds `live` at `ptr`; returns false when `ptr` was held, in which case
    /// `live` is deferred until `ptr` is freed.
    #[inline]
    pub(crate) fn land(&mut self, ptr: u64, live: Live) -> bool {
        let held = if ptr == EMPTY { self.zero.is_some() } else { self.table.find(ptr).is_some() };
        if held {
            self.deferred.entry(ptr).or_default().push(live);
            self.deferred_len += 1;
            return false;
        }
        self.hold(ptr, live);
        true
    }

    /// Removes and returns the allocation at `ptr`; if another was deferred
    /// on `ptr`, the first one takes its place.
    #[inline]
    pub(crate) fn free(&mut self, ptr: u64) -> Option<Live> {
        let freed = if ptr == EMPTY {
            self.zero.take()?
        } else {
            let i = self.table.find(ptr)?;
            let slot = self.table.remove_at(i);
            let live = self.unpack(&slot);
            if slot.extra != 0 {
                self.free_extras.push(slot.extra - 1);
            }
            live
        };
        if freed.size >= LARGE {
            self.large.remove(&ptr);
        }
        if self.deferred_len > 0 {
            self.undefer(ptr);
        }
        Some(freed)
    }

    fn undefer(&mut self, ptr: u64) {
        let Some(waiting) = self.deferred.get_mut(&ptr) else { return };
        let next = waiting.remove(0);
        if waiting.is_empty() {
            self.deferred.remove(&ptr);
        }
        self.deferred_len -= 1;
        self.hold(ptr, next);
    }

    /// The allocation held at `ptr`.
    #[inline]
    pub(crate) fn get(&self, ptr: u64) -> Option<Live> {
        if ptr == EMPTY {
            return self.zero;
        }
        self.table.find(ptr).map(|i| self.unpack(&self.table.slots[i]))
    }

    /// Changes the allocation held at `ptr` with `f` (to mark it tracked,
    /// or note its first size and charge) and returns it as changed. Its
    /// size must not be changed through this: use [`LiveSet::resize`].
    #[inline]
    pub(crate) fn update(&mut self, ptr: u64, f: impl FnOnce(&mut Live)) -> Option<Live> {
        if ptr == EMPTY {
            let live = self.zero.as_mut()?;
            f(live);
            return Some(*live);
        }
        let i = self.table.find(ptr)?;
        let slot = self.table.slots[i];
        let mut live = self.unpack(&slot);
        f(&mut live);
        self.table.slots[i] = self.pack(ptr, &live, slot.extra);
        Some(live)
    }

    /// Sets the size and site of the allocation held at `ptr` (a
    /// reallocation in place) and returns it as it was.
    #[inline]
    pub(crate) fn resize(&mut self, ptr: u64, size: u64, site: u32) -> Option<Live> {
        let mut before = None;
        self.update(ptr, |l| {
            before = Some(*l);
            l.size = size;
            l.site = site;
        })?;
        let was = before?.size;
        if was >= LARGE || size >= LARGE {
            if size >= LARGE {
                self.large.insert(ptr, size);
            } else {
                self.large.remove(&ptr);
            }
        }
        before
    }

    /// The held allocation of [`LARGE`] bytes or more that contains `ptr`.
    pub(crate) fn large_containing(&self, ptr: u64) -> Option<u64> {
        let (&start, &size) = self.large.range(..=ptr).next_back()?;
        (ptr - start < size).then_some(start)
    }

    /// Allocations held (not counting deferred ones).
    pub(crate) fn len(&self) -> usize {
        self.table.len + usize::from(self.zero.is_some())
    }

    /// Deferred allocations still waiting for their address.
    pub(crate) fn deferred_len(&self) -> usize {
        self.deferred_len
    }

    /// Every allocation, held and deferred, with its address.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, Live)> + '_ {
        let held = self.table.slots.iter().filter(|s| s.addr != EMPTY).map(|s| (s.addr, self.unpack(s)));
        let zero = self.zero.map(|l| (EMPTY, l));
        let deferred = self.deferred.iter().flat_map(|(&p, v)| v.iter().map(move |&l| (p, l)));
        held.chain(zero).chain(deferred)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    fn live(size: u64) -> Live {
        Live::new(size, 0, 0, 0, 0)
    }

    #[test]
    fn deferred_allocations_land_in_order_when_the_address_is_freed() {
        let mut s = LiveSet::default();
        assert!(s.land(0x10, live(1)));
        assert!(!s.land(0x10, live(2)));
        assert!(!s.land(0x10, live(3)));
        assert_eq!((s.len(), s.deferred_len()), (1, 2));
        assert_eq!(s.free(0x10).map(|l| l.size), Some(1));
        assert_eq!(s.get(0x10).map(|l| l.size), Some(2));
        assert_eq!(s.free(0x10).map(|l| l.size), Some(2));
        assert_eq!(s.free(0x10).map(|l| l.size), Some(3));
        assert_eq!(s.free(0x10), None);
        assert_eq!((s.len(), s.deferred_len()), (0, 0));
    }

    /// The packed table against a `HashMap` over random operations on
    /// clustered addresses (long probe runs, wrap-around, backward shifts),
    /// with rare fields and address 0 mixed in.
    #[test]
    fn the_table_agrees_with_a_hash_map() {
        let mut s = LiveSet::default();
        let mut model: HashMap<u64, Live> = HashMap::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for step in 0..200_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let ptr = (x % 4096) * 16;
            match x >> 60 {
                0..=6 if !model.contains_key(&ptr) => {
                    let mut l = Live::new(x >> 40, step, (x >> 20) as u32 & 7, 0, (x >> 30) as u32 & 15);
                    if x & 0x300 == 0 {
                        l.tag = 3;
                    }
                    if x & 0xc00 == 0 {
                        l.size = 1 << 33;
                    }
                    assert!(s.land(ptr, l));
                    model.insert(ptr, l);
                }
                0..=11 => assert_eq!(s.free(ptr), model.remove(&ptr)),
                12 => {
                    let want = model.get_mut(&ptr).map(|l| {
                        l.charge = 7;
                        l.first |= RESIZED;
                        *l
                    });
                    assert_eq!(
                        s.update(ptr, |l| {
                            l.charge = 7;
                            l.first |= RESIZED;
                        }),
                        want
                    );
                }
                _ => assert_eq!(s.get(ptr), model.get(&ptr).copied()),
            }
            assert_eq!(s.len(), model.len());
        }
        let mut all: Vec<(u64, Live)> = s.iter().collect();
        all.sort_by_key(|&(p, _)| p);
        let mut want: Vec<(u64, Live)> = model.into_iter().collect();
        want.sort_by_key(|&(p, _)| p);
        assert_eq!(all, want);
    }

    #[test]
    fn aligned_addresses_spread_over_the_low_bits() {
        // A table of 1024 buckets indexes by the low 10 bits of the hash:
        // 4096 addresses 16 bytes apart must fill most of them.
        let b = BuildHasherDefault::<AddrHasher>::default();
        let mut seen = [false; 1024];
        for i in 0..4096u64 {
            seen[(b.hash_one(0x7f00_0000_0000 + i * 16) & 1023) as usize] = true;
        }
        assert!(seen.iter().filter(|&&s| s).count() > 900);
    }

    /// Probe runs stay short for addresses a heap hands out: dense runs of
    /// small allocations, page-aligned ones, and megabyte-aligned ones.
    #[test]
    fn probe_runs_stay_short() {
        let mut x = 7u64;
        let dense = (0..1_000_000u64).scan(0x5555_5555_0000u64, move |a, _| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *a += 16 + (x % 512) / 16 * 16;
            Some(*a)
        });
        let strided = |stride: u64| (0..300_000u64).map(move |k| 0x7f00_0000_0000 + k * stride);
        let patterns: Vec<Box<dyn Iterator<Item = u64>>> =
            vec![Box::new(dense), Box::new(strided(64)), Box::new(strided(4096)), Box::new(strided(1 << 20))];
        for addrs in patterns {
            let mut t = LiveTable::default();
            for a in addrs {
                t.insert(Slot { addr: a, ..Slot::default() });
            }
            let d: Vec<usize> =
                t.slots.iter().enumerate().filter(|(_, s)| s.addr != EMPTY).map(|(i, s)| i.wrapping_sub(t.home(s.addr)) & t.mask).collect();
            let (avg, max) = (d.iter().sum::<usize>() as f64 / d.len() as f64, d.iter().max().copied().unwrap_or(0));
            assert!(avg < 2.0 && max < 32, "average displacement {avg}, largest {max}");
        }
    }
}
