//! Atomics and cells for the concurrent core, switched by `cfg(loom)`.
//!
//! The concurrent core of the record side (the ring, the thread registry,
//! the full-ring wait and stop gate, the drainer's wake-up word:
//! `record::{ring, registry, full, futex}`) uses only what this module
//! exports, so that `loom-tests/` model-checks the code that ships with
//! `RUSTFLAGS="--cfg loom"` (the crossbeam and tokio way). `record::futex`
//! switches the futex call itself (a yield under loom).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize};

pub(crate) use std::sync::atomic::Ordering;

/// An `UnsafeCell` with loom's closure API, so one code path serves both builds.
#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// An `UnsafeCell` with loom's closure API, so one code path serves both builds.
#[cfg(not(loom))]
#[derive(Debug)]
#[repr(transparent)]
pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(core::cell::UnsafeCell::new(value))
    }

    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Pads and aligns a value to a cache line (128 bytes covers the adjacent-line
/// prefetcher on x86-64, as crossbeam-utils' `CachePadded` does), so that the
/// producer's and the consumer's indices never share a line.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> core::ops::Deref for CachePadded<T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        &self.0
    }
}
