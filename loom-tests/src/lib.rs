//! Loom models live in tests/. This library holds what they share: rings and
//! registries that own their memory and free it when dropped, so that every
//! loom execution starts from fresh objects.
//!
//! Run with `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p memscope-loom-tests --release`.
//! Without `--cfg loom` this crate and its tests are empty.

#![cfg(loom)]

use memscope::format::RawEvent;
use memscope::record::registry::{Registry, Slot};
use memscope::record::ring::Ring;
use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::mem::ManuallyDrop;
use std::ptr::NonNull;

/// An event carrying `id` in its first operand. Ids are non-zero, so an
/// event is never mistaken for a cell's initial (default) contents.
pub fn event(id: u64) -> RawEvent {
    assert_ne!(id, 0);
    RawEvent { a: id, ..RawEvent::default() }
}

/// The id of an event made by [`event`].
pub fn id(e: &RawEvent) -> u64 {
    e.a
}

/// Allocates `layout` from the system allocator (loom does not track it).
fn alloc_or_abort(layout: Layout) -> NonNull<u8> {
    // SAFETY: every layout passed here holds at least one cell or a `Slot`,
    // so its size is non-zero.
    NonNull::new(unsafe { alloc(layout) }).unwrap_or_else(|| handle_alloc_error(layout))
}

/// A [`Ring`] over a buffer it owns.
#[derive(Debug)]
pub struct OwnedRing {
    ring: ManuallyDrop<Ring>,
    buf: NonNull<u8>,
    layout: Layout,
}

// SAFETY: `buf` is only reached through `ring`, which is `Send`; the buffer
// is owned by this value and freed once, in `drop`.
unsafe impl Send for OwnedRing {}
// SAFETY: shared access goes through `ring`, which is `Sync`.
unsafe impl Sync for OwnedRing {}

impl OwnedRing {
    /// A ring of `capacity` events (a power of two).
    pub fn new(capacity: usize) -> Self {
        assert!(capacity.is_power_of_two());
        let layout = Ring::buffer_layout(capacity);
        let buf = alloc_or_abort(layout);
        // SAFETY: `buf` was just allocated with `Ring::buffer_layout(capacity)`,
        // is used by nothing else, and outlives the ring (freed in `drop`,
        // after the ring).
        let ring = unsafe { Ring::new(buf, capacity) };
        OwnedRing { ring: ManuallyDrop::new(ring), buf, layout }
    }
}

impl core::ops::Deref for OwnedRing {
    type Target = Ring;
    fn deref(&self) -> &Ring {
        &self.ring
    }
}

impl Drop for OwnedRing {
    fn drop(&mut self) {
        // SAFETY: the ring is dropped once, here, and not used afterwards.
        unsafe { ManuallyDrop::drop(&mut self.ring) };
        // SAFETY: `buf` came from `alloc(self.layout)`, and the ring that
        // used it is gone.
        unsafe { dealloc(self.buf.as_ptr(), self.layout) };
    }
}

/// A [`Registry`] whose slots have rings of `capacity` events, built the way
/// the allocator glue builds them (`Slot::init` on fresh memory, then
/// `insert`), and freed when the registry is dropped.
#[derive(Debug)]
pub struct TestRegistry {
    registry: Registry,
    capacity: usize,
}

impl TestRegistry {
    /// An empty registry for slots with rings of `capacity` events.
    pub fn new(capacity: usize) -> Self {
        assert!(capacity.is_power_of_two());
        TestRegistry { registry: Registry::new(), capacity }
    }

    /// Builds a new OWNED slot and publishes it; the caller owns it. This is
    /// `acquire_slot`'s path when `claim` finds no free slot.
    pub fn insert_new(&self) -> &Slot {
        self.insert_owned(0)
    }

    /// As [`TestRegistry::insert_new`], for an owner whose OS thread id is
    /// `os_tid` (0: unknown, never reclaimed).
    pub fn insert_owned(&self, os_tid: u32) -> &Slot {
        let (layout, _) = Slot::layout(self.capacity);
        let mem = alloc_or_abort(layout);
        let index = self.registry.next_index();
        // SAFETY: `mem` was just allocated with `Slot::layout(capacity)`, and
        // `capacity` is a power of two. The new slot is in no registry yet,
        // and stays valid for as long as the registry is used: it is freed
        // only in `drop`, after the registry's last use.
        unsafe { self.registry.insert(Slot::init(mem, self.capacity, index, os_tid)) }
    }

    /// Claims a free slot, or builds and publishes a new one (`acquire_slot`).
    pub fn claim_or_insert(&self) -> &Slot {
        match self.registry.claim(0) {
            Some(slot) => slot,
            None => self.insert_new(),
        }
    }
}

impl core::ops::Deref for TestRegistry {
    type Target = Registry;
    fn deref(&self) -> &Registry {
        &self.registry
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let slots: Vec<*mut Slot> = self.registry.iter().map(|s| s as *const Slot as *mut Slot).collect();
        let (layout, _) = Slot::layout(self.capacity);
        for slot in slots {
            // SAFETY: every slot in the registry was built by `insert_new` in
            // memory from `alloc(layout)`, and appears once in the list; we
            // have `&mut self`, so no one uses the registry or its slots any more.
            unsafe {
                core::ptr::drop_in_place(slot);
                dealloc(slot.cast(), layout);
            }
        }
    }
}

/// A spin-wait step inside a model: lets loom run another thread.
pub fn spin() {
    loom::thread::yield_now();
}
