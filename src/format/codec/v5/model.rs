//! What a version-5 encoder and decoder both remember while walking one chunk.

use super::*;

/// What encoder and decoder both remember while walking one chunk
/// (version 5); each event updates it the same way on both sides.
#[derive(Debug)]
pub(super) struct Model5 {
    pub(super) prev_ts: u64,
    pub(super) prev_addr: u64,
    pub(super) stacks: RecentStacks,
    /// The chunk's last [`LIVE`] allocations (address, size, alignment), a
    /// ring: the i-th most recent is at `live_head − 1 − i` (mod [`LIVE`]),
    /// still live when its bit in `live_ok` is set.
    pub(super) live: [(u64, u64, u64); LIVE],
    pub(super) live_ok: u8,
    pub(super) live_head: usize,
    /// Recent layouts (size, alignment), most recent first.
    pub(super) layouts: [(u64, u64); LAYOUTS],
    /// The alignment of the last allocation or deallocation.
    pub(super) last_align: u64,
    /// Per size class, the address its last deallocation freed (0: none).
    pub(super) freed: [u64; SIZE_CLASSES],
    /// Per descriptor, the descriptor that followed it last.
    pub(super) predicted: [u8; 256],
    /// Per descriptor, the descriptor that followed it before
    /// `predicted`'s (version 8: the second guess).
    pub(super) predicted2: [u8; 256],
    pub(super) prev_d: u8,
    /// Version 8: where the allocator's next new block would start, the
    /// last allocation's address plus its glibc chunk size ([`chunk_end`]).
    pub(super) top: u64,
    /// Version 8: the bit length of the last address delta written.
    pub(super) addr_len: u32,
}

impl Model5 {
    pub(super) fn new(first_ts_ns: u64) -> Self {
        Model5 {
            prev_ts: first_ts_ns,
            prev_addr: 0,
            stacks: RecentStacks::default(),
            live: [(0, 0, 0); LIVE],
            live_ok: 0,
            live_head: 0,
            layouts: [(0, 1); LAYOUTS],
            last_align: 1,
            freed: [0; SIZE_CLASSES],
            predicted: [0; 256],
            predicted2: [0; 256],
            prev_d: CHUNK_START,
            top: 0,
            addr_len: ADDR_LEN_START,
        }
    }

    #[inline(always)]
    pub(super) fn touch_layout(&mut self, size: u64, align: u64) {
        let at = self.layouts.iter().position(|&l| l == (size, align));
        self.touch_layout_at(at, size, align);
    }

    /// [`Self::touch_layout`] when the layout's position among the recent
    /// ones is known (`None`: not among them).
    #[inline(always)]
    pub(super) fn touch_layout_at(&mut self, at: Option<usize>, size: u64, align: u64) {
        debug_assert_eq!(at, self.layouts.iter().position(|&l| l == (size, align)));
        // Moves written out: LLVM turns a loop of them into a call to
        // memmove, which costs more than the moves (once per allocation of
        // a new layout).
        let l = &mut self.layouts;
        match at.unwrap_or(LAYOUTS - 1) {
            0 => {}
            1 => l[1] = l[0],
            2 => [l[1], l[2]] = [l[0], l[1]],
            _ => [l[1], l[2], l[3]] = [l[0], l[1], l[2]],
        }
        l[0] = (size, align);
        self.last_align = align;
    }

    #[inline(always)]
    pub(super) fn live_slot(&self, i: usize) -> usize {
        (self.live_head + LIVE - 1 - i) % LIVE
    }

    #[inline(always)]
    pub(super) fn push_live(&mut self, entry: (u64, u64, u64)) {
        self.live[self.live_head] = entry;
        self.live_ok |= 1 << self.live_head;
        self.live_head = (self.live_head + 1) % LIVE;
    }

    /// The recency rank of a live allocation equal to `entry`.
    #[inline(always)]
    pub(super) fn find_live(&self, entry: (u64, u64, u64)) -> Option<usize> {
        // The address first: it alone tells almost every entry apart.
        (0..LIVE).find(|&i| {
            let s = self.live_slot(i);
            self.live[s].0 == entry.0 && self.live_ok >> s & 1 != 0 && self.live[s] == entry
        })
    }

    /// Takes the live allocation of recency rank `i` out of the ring.
    #[inline(always)]
    pub(super) fn take_live(&mut self, i: usize) -> Option<(u64, u64, u64)> {
        let s = self.live_slot(i);
        if self.live_ok >> s & 1 == 0 {
            return None;
        }
        self.live_ok &= !(1 << s);
        Some(self.live[s])
    }

    /// Forgets a live allocation at `ptr` (reallocated).
    #[inline(always)]
    pub(super) fn forget_live(&mut self, ptr: u64) {
        for s in 0..LIVE {
            if self.live[s].0 == ptr {
                self.live_ok &= !(1 << s);
            }
        }
    }

    #[inline(always)]
    pub(super) fn allocated(&mut self, ptr: u64, size: u64, align: u64) {
        self.prev_addr = ptr;
        self.top = chunk_end(ptr, size);
        self.push_live((ptr, size, align));
        self.touch_layout(size, align);
    }

    #[inline(always)]
    pub(super) fn deallocated(&mut self, ptr: u64, size: u64, align: u64) {
        self.prev_addr = ptr;
        self.freed[size_class(size)] = ptr;
        self.touch_layout(size, align);
    }

    #[inline(always)]
    pub(super) fn reallocated(&mut self, old_ptr: u64, old_size: Option<u64>, new_ptr: u64) {
        self.prev_addr = new_ptr;
        self.forget_live(old_ptr);
        if let Some(size) = old_size.filter(|_| old_ptr != new_ptr) {
            self.freed[size_class(size)] = old_ptr;
        }
    }

    /// Version 8's [`Self::reallocated`]: the new allocation joins the live
    /// ones, with the old one's alignment when the chunk held it (else the
    /// last allocation's or deallocation's).
    #[inline(always)]
    pub(super) fn reallocated8(&mut self, old_ptr: u64, old_size: Option<u64>, new_ptr: u64, new_size: u64, align: u64) {
        self.reallocated(old_ptr, old_size, new_ptr);
        self.push_live((new_ptr, new_size, align));
    }

    /// The recency rank of a live allocation at `ptr` whose size is
    /// `size` (any size when `None`: a large reallocation's old size is not
    /// in the event).
    #[inline(always)]
    pub(super) fn find_live_ptr(&self, ptr: u64, size: Option<u64>) -> Option<usize> {
        (0..LIVE).find(|&i| {
            let s = self.live_slot(i);
            self.live[s].0 == ptr && self.live_ok >> s & 1 != 0 && size.is_none_or(|size| self.live[s].1 == size)
        })
    }

    /// Moves `d` to the front of the descriptors predicted after `prev`
    /// (version 8), from position `at` (0, 1, or 2: not among them).
    #[inline(always)]
    pub(super) fn touch_descriptor(&mut self, prev: u8, at: u8, d: u8) {
        let prev = usize::from(prev);
        if at != 0 {
            self.predicted2[prev] = self.predicted[prev];
            self.predicted[prev] = d;
        }
    }

    /// The stack mode of `id` and its position among the recent stacks.
    #[inline(always)]
    pub(super) fn stack_mode(&self, id: u32) -> (u8, usize) {
        match self.stacks.0.iter().position(|&r| r == id) {
            Some(0) => (STACK_RECENT0, 0),
            Some(1) => (STACK_RECENT1, 1),
            Some(i) => (STACK_RECENT_N, i),
            None => (STACK_NEW, RECENT_STACKS - 1),
        }
    }
}
