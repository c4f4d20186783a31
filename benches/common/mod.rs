//! The peer workload (`/work/shared/peers.md`, "The workload"), shared by the
//! benches and, through `#[path]`, by the unpublished `benches/peers` crate.
//!
//! One *pair* is an allocation of a random size from 8 to 511 bytes
//! (xorshift64) followed at once by its deallocation; pairs alternate
//! `Vec::<u8>::with_capacity(sz)` and `Box::<[MaybeUninit<u8>]>::new_uninit_slice(sz)`,
//! and every value goes through `black_box` so neither call can be elided.
//! A pair is two events for a recorder.

#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::mem::MaybeUninit;

/// Marsaglia's xorshift64; the state is never 0.
#[derive(Debug, Clone)]
pub struct Xorshift64(u64);

impl Xorshift64 {
    /// A generator for thread `index` (each thread gets its own stream).
    pub fn for_thread(index: u64) -> Self {
        Xorshift64((0x9E37_79B9_7F4A_7C15 ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03)) | 1)
    }

    /// The next value.
    #[inline(always)]
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A size from 8 to 511 bytes, both included.
    #[inline(always)]
    pub fn size(&mut self) -> usize {
        8 + (self.next_u64() % 504) as usize
    }
}

/// Pair number `i` through the global allocator: `Vec` when `i` is even,
/// `Box<[MaybeUninit<u8>]>` when odd; freed at once.
#[inline(always)]
pub fn pair(i: u64, rng: &mut Xorshift64) {
    let size = rng.size();
    if i & 1 == 0 {
        drop(black_box(Vec::<u8>::with_capacity(size)));
    } else {
        drop(black_box(Box::<[MaybeUninit<u8>]>::new_uninit_slice(size)));
    }
}

/// `pairs` pairs through the global allocator, with thread `thread`'s stream.
#[inline(never)]
pub fn run_global(pairs: u64, thread: u64) {
    let mut rng = Xorshift64::for_thread(thread);
    for i in 0..pairs {
        pair(i, &mut rng);
    }
}

/// `pairs` pairs calling `std::alloc::System` directly through `GlobalAlloc`
/// (same sizes, align 1 as for `u8`): the pure baseline, with no global
/// allocator in between.
#[inline(never)]
pub fn run_system_direct(pairs: u64, thread: u64) {
    let mut rng = Xorshift64::for_thread(thread);
    for _ in 0..pairs {
        let size = rng.size();
        // `size` is from 8 to 511 and the alignment 1, so the layout is valid.
        let Ok(layout) = Layout::from_size_align(size, 1) else { unreachable!() };
        // SAFETY: `layout` has a non-zero size.
        let ptr = unsafe { System.alloc(layout) };
        if ptr.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        // SAFETY: `ptr` was just allocated by `System` with `layout` and is not used after.
        unsafe { System.dealloc(black_box(ptr), layout) };
    }
}
