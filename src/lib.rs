//! memscope records every heap allocation of a running Rust program with
//! bounded overhead and replays the recording offline.
//!
//! ```no_run
//! #[global_allocator]
//! static GLOBAL: memscope::TrackingAllocator = memscope::TrackingAllocator::system();
//!
//! fn main() -> Result<(), memscope::Error> {
//!     let recording = memscope::Recorder::new("run.memscope").start()?;
//!     let v: Vec<u64> = (0..1000).collect();
//!     drop(v);
//!     let summary = recording.finish()?;
//!     eprintln!("{summary}");
//!     Ok(())
//! }
//! ```
//!
//! Names on memory: [`track_var!`] names a value and links it to its heap
//! allocation(s) (real addresses, and the real type from
//! `std::any::type_name`); [`track_clone!`] links a clone to its source;
//! [`track_scope!`] attributes a thread's allocations to a named scope until
//! its guard drops; [`ffi`] records memory crossing to and from C. A type of
//! your own implements [`Trackable`] by forwarding to its fields.
//!
//! ```no_run
//! let numbers = vec![1u64; 10_000];
//! memscope::track_var!(numbers);
//! {
//!     let _scope = memscope::track_scope!("parse_config");
//!     let config: Vec<String> = std::env::args().collect();
//!     memscope::track_var!(config);
//! }
//! ```
//!
//! Heap assertions in tests, with no recording and no file:
//! [`measure`] returns the exact allocations, deallocations, bytes, peak and
//! live at the end of the calling thread over a closure (and, with
//! [`measure_with_threads`], of the threads it spawns), and [`assert_heap!`]
//! checks them with a message that names every figure. Measurements of
//! different threads are independent, so tests that measure run under the
//! default parallel test runner.
//!
//! ```
//! #[global_allocator]
//! static A: memscope::TrackingAllocator = memscope::TrackingAllocator::system();
//!
//! let (v, stats) = memscope::measure(|| vec![0u64; 1000]);
//! memscope::assert_heap!(stats, allocations == 1, allocated_bytes == 8000, live_bytes == 8000);
//! stats.assert_peak_at_most(8 << 10);
//! # drop(v);
//! ```
//!
//! The pipeline, one module each:
//! - [`record`]: [`TrackingAllocator`] pushes fixed-size events into
//!   per-thread lock-free rings; the `memscope-drain` thread writes them as
//!   LZ4-compressed chunks ([`Recorder`], [`Recording`]).
//! - [`format`](mod@format) is the on-disk format (FORMAT.md is the spec).
//! - [`replay`] folds a recording back into live and history state.
//! - [`export`] writes the replay as JSON, HTML and, with features, other
//!   viewers' formats.
//!
//! Cargo features, all off by default (a program that only records needs
//! none; the `memscope` command-line tool, package `memscope-cli` in `cli/`,
//! turns both on):
//! - `symbolize`: the `symbolize` module, offline resolution of call-stack
//!   addresses to functions, files and lines (addr2line, object,
//!   rustc-demangle);
//! - `pprof`: `export::pprof`, the gzipped `profile.proto` export (prost,
//!   flate2).
//!
//! What process exit does: a recording still running when the process calls
//! `exit` (returning from `main`, `std::process::exit`) is finished by an
//! `atexit` hook. `abort`, `_exit`, a crash or a fatal signal skip it: the
//! file then holds every round already written (at most one drain interval,
//! plus what sits in the rings, is lost), and replay reads it up to its end.
#![deny(unsafe_op_in_unsafe_fn)]
#![cfg_attr(not(loom), deny(missing_docs))]

#[cfg(not(loom))]
pub mod export;
pub mod format;
pub mod record;
#[cfg(not(loom))]
pub mod replay;
#[cfg(all(not(loom), feature = "symbolize"))]
pub mod symbolize;

mod error;
mod sync;

pub use error::Error;
pub use format::OnFull;
#[cfg(not(loom))]
pub use record::measure::{measure, measure_with_threads, unmeasured, HeapStats, MeasureScope, MeasuredJoinHandle};
#[cfg(not(loom))]
pub use record::{ffi, CallStacks, Heap, Recorder, Recording, ScopeGuard, StackCapture, Summary, Trackable, TrackingAllocator};
