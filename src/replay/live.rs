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

/// A live allocation packed in 24 bytes, the value of [`LiveSet`]'s map
/// (32 bytes with its address, plus the map's control byte).
///
/// What most allocations never use (a variable's tag, bytes charged to
/// another thread, a first size that differs from the size, a size of 4 GiB
/// or more) lives in [`Extra`], which `extra` indexes (plus one; 0: none).
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    start_ns: u64,
    /// The size in bytes, or [`SIZE_IN_EXTRA`] when it does not fit.
    size: u32,
    site: u32,
    origin: u32,
    extra: u32,
}

const _: () = assert!(std::mem::size_of::<Slot>() == 24);

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

/// Live allocations by address, and the deferred ones waiting for their
/// address to be freed (in arrival order per address).
#[derive(Debug, Default)]
pub(crate) struct LiveSet {
    /// Address → the allocation held there. A `HashMap` (hashbrown) of
    /// 32-byte entries: at most 7/8 full, 37.7 bytes per live allocation
    /// with its control byte at that load, 75 just after it doubled.
    map: FastMap<u64, Slot>,
    /// Indexed by [`Slot::extra`] − 1; `free_extras` lists the unused entries.
    extras: Vec<Extra>,
    free_extras: Vec<u32>,
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
    fn pack(&mut self, live: &Live, extra: u32) -> Slot {
        let small = live.size < u64::from(SIZE_IN_EXTRA);
        let plain = small && live.tag == 0 && live.charge == 0 && live.first == live.size.min(u64::from(FIRST_UNKNOWN)) as u32;
        let mut slot = Slot {
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
        let slot = self.pack(&live, 0);
        self.map.insert(ptr, slot);
    }

    /// Adds `live` at `ptr`; returns false when `ptr` was held, in which case
    /// `live` is deferred until `ptr` is freed.
    #[inline]
    pub(crate) fn land(&mut self, ptr: u64, live: Live) -> bool {
        if self.map.contains_key(&ptr) {
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
        let slot = self.map.remove(&ptr)?;
        let freed = self.unpack(&slot);
        if slot.extra != 0 {
            self.free_extras.push(slot.extra - 1);
        }
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
        self.map.get(&ptr).map(|s| self.unpack(s))
    }

    /// Changes the allocation held at `ptr` with `f` (to mark it tracked,
    /// or note its first size and charge) and returns it as changed. Its
    /// size must not be changed through this: use [`LiveSet::resize`].
    #[inline]
    pub(crate) fn update(&mut self, ptr: u64, f: impl FnOnce(&mut Live)) -> Option<Live> {
        let slot = *self.map.get(&ptr)?;
        let mut live = self.unpack(&slot);
        f(&mut live);
        let packed = self.pack(&live, slot.extra);
        self.map.insert(ptr, packed);
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
        self.map.len()
    }

    /// Deferred allocations still waiting for their address.
    pub(crate) fn deferred_len(&self) -> usize {
        self.deferred_len
    }

    /// Every allocation, held and deferred, with its address.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, Live)> + '_ {
        let held = self.map.iter().map(|(&p, s)| (p, self.unpack(s)));
        let deferred = self.deferred.iter().flat_map(|(&p, v)| v.iter().map(move |&l| (p, l)));
        held.chain(deferred)
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

    /// The packed live set against a `HashMap` of unpacked entries over
    /// random operations, with rare fields and address 0 mixed in.
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
}
