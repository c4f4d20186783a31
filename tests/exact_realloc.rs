//! Reallocations through the global allocator on raw layouts: growth that
//! moves the block, growth in place, shrinks, and sizes down to one byte.
//! Replay's totals equal the counter's, and the file holds each
//! reallocation with the right sizes and the moved/in-place outcome the test
//! itself observed.

mod common;

use common::{assert_exact, assert_no_conflicts, counted, raw_fold, temp_path, CountingAlloc, Counts};
use memscope::TrackingAllocator;
use std::alloc::{alloc, dealloc, realloc, Layout};

#[global_allocator]
static A: TrackingAllocator<CountingAlloc> = TrackingAllocator::new(CountingAlloc::new());

/// A block and its current layout.
struct Block {
    ptr: *mut u8,
    layout: Layout,
}

impl Block {
    fn new(size: usize, align: usize) -> Block {
        let layout = Layout::from_size_align(size, align).unwrap();
        // SAFETY: non-zero size.
        let ptr = unsafe { alloc(layout) };
        assert!(!ptr.is_null());
        // SAFETY: `ptr` holds `size` bytes.
        unsafe { ptr.write_bytes(0xA5, size) };
        Block { ptr, layout }
    }

    /// Reallocates to `size`; returns whether the block moved. Checks that
    /// the contents survived.
    fn resize(&mut self, size: usize) -> bool {
        let keep = self.layout.size().min(size);
        // SAFETY: `ptr` was allocated with `layout`; `size` is non-zero.
        let new = unsafe { realloc(self.ptr, self.layout, size) };
        assert!(!new.is_null());
        // SAFETY: the first `keep` bytes were preserved by realloc.
        assert!(unsafe { std::slice::from_raw_parts(new, keep) }.iter().all(|&b| b == 0xA5));
        // SAFETY: `new` holds `size` bytes.
        unsafe { new.write_bytes(0xA5, size) };
        let moved = new != self.ptr;
        self.ptr = new;
        self.layout = Layout::from_size_align(size, self.layout.align()).unwrap();
        moved
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        // SAFETY: allocated with `layout`.
        unsafe { dealloc(self.ptr, self.layout) }
    }
}

#[derive(Default, Debug)]
struct Seen {
    moved: u64,
    in_place: u64,
    grew_moved: u64,
    grew_in_place: u64,
}

impl Seen {
    /// Resizes `b` to `size` and notes the outcome.
    fn resize(&mut self, b: &mut Block, size: usize) {
        let grows = size > b.layout.size();
        let moved = b.resize(size);
        if moved {
            self.moved += 1;
            self.grew_moved += u64::from(grows);
        } else {
            self.in_place += 1;
            self.grew_in_place += u64::from(grows);
        }
    }
}

#[test]
fn reallocations_are_exact() {
    let path = temp_path("exact_realloc");
    common::quiesce_harness();
    let rec = memscope::Recorder::new(&path).start().expect("start");

    let before = Counts::now();
    let (seen, kept) = counted(|| {
        let mut seen = Seen::default();
        // Growth that has to move: a live neighbour right after the block.
        for i in 0..32 {
            let mut a = Block::new(40, 8);
            let blocker = Block::new(40, 8);
            seen.resize(&mut a, 8192 + i * 64);
            drop(blocker);
        }
        // Growth in place: small steps on the newest block of a fresh
        // stretch of heap (malloc extends it into the free space after it).
        for round in 0..8 {
            let mut a = Block::new(20_000 + round * 1000, 16);
            for step in 1..=16 {
                seen.resize(&mut a, 20_000 + round * 1000 + step * 16);
            }
        }
        // Shrinks, down to one byte, and growth back from one byte.
        for size in [4096, 1000, 100, 17, 16, 9, 8, 3, 2, 1] {
            let mut a = Block::new(8192, 8);
            seen.resize(&mut a, size);
            seen.resize(&mut a, 1);
            seen.resize(&mut a, 2);
            seen.resize(&mut a, size + 1);
        }
        // Over-aligned blocks (the allocator copies: alloc, copy, free, one call to us).
        for align in [32, 64, 4096] {
            let mut a = Block::new(100, align);
            seen.resize(&mut a, 5000);
            seen.resize(&mut a, 1);
        }
        // One block reallocated many times and kept past the end.
        let mut kept = Block::new(1, 1);
        for size in (2..3000).step_by(97) {
            seen.resize(&mut kept, size);
        }
        (seen, kept)
    });
    let c = Counts::now().since(&before);
    let written = rec.finish().expect("finish");

    assert!(seen.grew_moved > 0 && seen.grew_in_place > 0, "want growth that moves and growth in place: {seen:?}");
    assert_eq!(c.reallocs, seen.moved + seen.in_place, "every resize is one realloc call");
    let r = assert_exact(&path, &c, &written);
    assert_no_conflicts(&path, &r);
    assert_eq!(r.summary.live_count, 1, "only the kept block is live");
    assert_eq!(r.summary.live_bytes, kept.layout.size() as u64);

    // The file tells moved from in place exactly as the test saw it, and
    // carries the small sizes as they were.
    let f = raw_fold(&path);
    assert_eq!(f.reallocs_in_place, seen.in_place, "in-place reallocations in the file");
    assert_eq!(f.reallocs - f.reallocs_in_place, seen.moved, "moving reallocations in the file");
    for (old, new) in [(8192, 1), (1, 2), (2, 4097), (100, 1), (4096, 1)] {
        assert!(f.realloc_events.iter().any(|&(o, n, _)| (o, n) == (old, new)), "no realloc {old} -> {new} in the file");
    }
    drop(kept);
    let _ = std::fs::remove_file(&path);
}
