//! Memory that crosses the boundary with foreign (C) code.
//!
//! Memory a C library allocated is invisible to the allocator; tell
//! memscope when Rust takes it and when it gives it back, and replay lists
//! it in its own live set, leaks and timeline under your label, apart from
//! the heap totals (which stay exact counts of the global allocator's calls):
//!
//! ```no_run
//! # let size = 64;
//! let ptr = unsafe { libc::malloc(size) };
//! memscope::ffi::track_foreign(ptr, size, "libfoo buffer");
//! // ... use it ...
//! memscope::ffi::untrack_foreign(ptr);
//! unsafe { libc::free(ptr) };
//! ```
//!
//! The other direction, a Rust allocation handed to C (which frees it
//! through a callback, or never), is marked with [`handed_over`] or
//! [`into_raw`]; the allocation stays in the heap totals and replay shows
//! where it crossed.
//!
//! Each call pushes one 32-byte event, like an allocation does (no lock, and
//! no allocation or syscall except once per thread, when its ring is set
//! up); with no recording running it costs one atomic load. Labels are
//! `&'static str`, written to the file once per recording; a label longer
//! than 65535 bytes is cut, and one at an address of 2^48 or more is
//! unknown (FORMAT.md, glossary, "string key").

use super::track::foreign_event;
use crate::format::event::{KIND_FOREIGN_ALLOC, KIND_FOREIGN_FREE, KIND_HANDOFF};

/// Records that Rust now holds `size` bytes at `ptr` that foreign code
/// allocated, under `label`. Never dereferences `ptr`.
pub fn track_foreign<T: ?Sized>(ptr: *const T, size: usize, label: &'static str) {
    foreign_event(KIND_FOREIGN_ALLOC, ptr.cast::<u8>() as usize as u64, size as u64, label);
}

/// Records that the foreign memory at `ptr` (as passed to
/// [`track_foreign`]) was given back or freed. An address replay does not
/// hold is counted, not an error.
pub fn untrack_foreign<T: ?Sized>(ptr: *const T) {
    foreign_event(KIND_FOREIGN_FREE, ptr.cast::<u8>() as usize as u64, 0, "");
}

/// Records that the Rust allocation containing `ptr` was handed to foreign
/// code, under `label`. Never dereferences `ptr`.
pub fn handed_over<T: ?Sized>(ptr: *const T, label: &'static str) {
    foreign_event(KIND_HANDOFF, ptr.cast::<u8>() as usize as u64, 0, label);
}

/// `Box::into_raw`, recording the crossing as [`handed_over`] does.
///
/// ```no_run
/// let raw = memscope::ffi::into_raw(Box::new([0u8; 256]), "passed to C");
/// // C owns `raw` now; to take it back: unsafe { Box::from_raw(raw) }
/// ```
pub fn into_raw<T: ?Sized>(b: Box<T>, label: &'static str) -> *mut T {
    let raw = Box::into_raw(b);
    handed_over(raw, label);
    raw
}
