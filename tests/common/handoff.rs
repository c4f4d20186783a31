//! An inner allocator for forcing a reallocation to race another thread
//! (`realloc_stamp_order.rs`, `realloc_mirror.rs`): allocations of
//! [`MAGIC`] bytes come from one static block handed to one owner at a
//! time, and each test's hook decides what a reallocation does with it
//! (wait for the block to be freed, or hand it back mid-call).

use super::CountingAlloc;
use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

/// The size class served from the static block.
pub const MAGIC: usize = 1000;

#[repr(align(16))]
struct Block(UnsafeCell<[u8; MAGIC]>);
// SAFETY: handed to one owner at a time through `FREE`.
unsafe impl Sync for Block {}
static BLOCK: Block = Block(UnsafeCell::new([0; MAGIC]));
/// Whether the block is free for the next allocation of MAGIC bytes.
pub static FREE: AtomicBool = AtomicBool::new(true);

/// The static block's address.
pub fn block() -> *mut u8 {
    BLOCK.0.get().cast()
}

/// A test's reallocation hook: `Some(new)` when it served the call itself
/// (and counted it), `None` to forward it.
pub type ReallocHook = fn(*mut u8, Layout, usize) -> Option<*mut u8>;

/// `CountingAlloc`, except for the static block and the test's hook.
pub struct Handoff {
    pub inner: CountingAlloc,
    pub realloc: ReallocHook,
}

// SAFETY: forwards to CountingAlloc, except for the static block, which it
// hands to one owner at a time, and the hook's calls, which return memory
// of the new size the hook owns.
unsafe impl GlobalAlloc for Handoff {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() == MAGIC && layout.align() <= 16 && FREE.swap(false, SeqCst) {
            super::count_alloc(layout, false);
            return block();
        }
        // SAFETY: forwarded.
        unsafe { self.inner.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ptr == block() {
            super::count_dealloc(layout);
            FREE.store(true, SeqCst);
        } else {
            // SAFETY: forwarded.
            unsafe { self.inner.dealloc(ptr, layout) }
        }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if let Some(new) = (self.realloc)(ptr, layout, new_size) {
            return new;
        }
        // SAFETY: forwarded.
        unsafe { self.inner.realloc(ptr, layout, new_size) }
    }
}
