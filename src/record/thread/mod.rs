//! Per-thread glue between the allocator and the registry, one concern a
//! file: the thread-local state and re-entrancy guard (`local`), the hot
//! path (`hot`), grouped pushes of the tracking API (`group`), the
//! full-ring policy (`policy`), registration (`register`), the exit hook
//! (`exit`) and the OS calls (`os`); the shared state is here. The
//! protocols these drive with the drainer are in `record::{registry, ring,
//! full, futex}`, which the loom models check.
//!
//! Rules for everything reachable from [`record`] (the allocator hot path):
//! - no allocation through the global allocator: slots come from the inner
//!   allocator, and the re-entrancy guard (`Local::busy`) makes any nested
//!   call (ours or the OS's) forward to the inner allocator unrecorded;
//! - no lock, and no syscall except on cold paths: registration (once per
//!   thread), waking the drainer (when a ring is half full and no wake-up is
//!   pending), and waiting for it when a ring is full under `OnFull::Block`;
//! - no unwinding: nothing here panics (unwinding out of `GlobalAlloc` is UB);
//! - `thread_local!` state is const-initialised and has no `Drop`, so it is
//!   usable at any point of thread teardown; thread exit is detected with a
//!   pthread key destructor, which on glibc runs after Rust's TLS
//!   destructors (`__call_tls_dtors` before `__nptl_deallocate_tsd`).

mod exit;
mod group;
mod hot;
mod local;
mod os;
mod policy;
mod register;
mod sampled;

use exit::*;
pub(crate) use group::*;
pub(crate) use hot::*;
pub(crate) use local::*;
pub(crate) use os::*;
pub(crate) use policy::*;
pub(crate) use register::*;
pub(crate) use sampled::*;

use super::full::{self, Gate};
use super::futex;
use super::registry::{Registry, Slot};
use crate::format::{OnFull, RawEvent};
use crate::sync::{AtomicU32, AtomicU64, Ordering};
use core::cell::Cell;
use core::ptr::{self, NonNull};
use std::alloc::GlobalAlloc;
use std::time::Duration;

/// Every thread's slot, for the life of the process.
pub(crate) static REGISTRY: Registry = Registry::new();

pub(crate) use super::control::Control;

/// Written by producers only on cold paths.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct Shared {
    /// The drainer's futex word: 1 when a wake-up is pending.
    pub(crate) wake: AtomicU32,
    /// Events lost because no slot could be allocated for their thread, or
    /// made by a thread without a slot while it was inside the recorder.
    pub(crate) unregistered_lost: AtomicU64,
    /// Producers waiting for room in a full ring, and whether the stopping
    /// drainer has closed the recording's count of lost events.
    pub(crate) gate: Gate,
    /// The next recorder thread id to hand out (ids start at 1).
    next_thread_id: AtomicU32,
}

/// The recording's id and settings, read on every event.
pub(crate) static CONTROL: Control = Control::new();

pub(crate) static SHARED: Shared =
    Shared { wake: AtomicU32::new(0), unregistered_lost: AtomicU64::new(0), gate: Gate::new(), next_thread_id: AtomicU32::new(1) };

/// Wakes the drainer unless a wake-up is already pending.
#[cold]
pub(crate) fn wake_drainer() {
    futex::wake(&SHARED.wake);
}

/// Drainer: clears the pending wake-up; if there was none, sleeps until a
/// producer wakes it or `timeout` passes.
pub(crate) fn wait_for_wake(timeout: Duration) {
    futex::wait(&SHARED.wake, timeout);
}
