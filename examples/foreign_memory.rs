//! Memory that crosses the boundary with C, named: buffers a "C library"
//! allocates with `libc::malloc` are tracked with `memscope::ffi::track_foreign`
//! while Rust holds them and released with `untrack_foreign`; one is never
//! given back (a foreign leak, which replay lists apart from the heap); a
//! `Box` is handed to C with `memscope::ffi::into_raw` and taken back with
//! `Box::from_raw`; a `Vec` is lent to C for one call (`ffi::handed_over`).
//!
//! ```text
//! cargo run --release --example foreign_memory [-- OUT.memscope]
//! ```
//!
//! The recording goes to `target/memscope/foreign_memory.memscope` (or the
//! path given); the example replays it and prints what it found about the
//! foreign memory. For the whole document:
//! `cargo run --release -- json target/memscope/foreign_memory.memscope -o foreign.json --only-tracked`.

use std::ffi::c_void;
use std::path::PathBuf;
use std::sync::atomic::{AtomicPtr, Ordering};

#[global_allocator]
static GLOBAL: memscope::TrackingAllocator = memscope::TrackingAllocator::system();

/// A stand-in for a C library ("libfoo"), built on the C allocator only.
mod libfoo {
    use super::*;

    /// `malloc`s a frame of `len` bytes, filled with `fill` (as C code would hand one out).
    pub fn frame_new(len: usize, fill: u8) -> *mut u8 {
        // SAFETY: malloc has no preconditions; the result is checked before use.
        let p = unsafe { libc::malloc(len) }.cast::<u8>();
        assert!(!p.is_null(), "malloc({len}) failed");
        // SAFETY: `p` points to `len` writable bytes just allocated.
        unsafe { std::ptr::write_bytes(p, fill, len) };
        p
    }

    /// Frees a frame from [`frame_new`].
    ///
    /// # Safety
    /// `p` came from [`frame_new`] and is freed once.
    pub unsafe fn frame_free(p: *mut u8) {
        // SAFETY: the caller's contract: `p` came from malloc and is freed once.
        unsafe { libc::free(p.cast::<c_void>()) }
    }

    /// The library's registered callback state: C keeps the pointer until unregistered.
    static REGISTERED: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

    /// C takes ownership of `state`.
    pub fn register(state: *mut c_void) {
        // Release: pairs with the Acquire swap in `unregister`.
        REGISTERED.store(state, Ordering::Release);
    }

    /// C gives the registered state back.
    pub fn unregister() -> *mut c_void {
        // Acquire: pairs with the Release store in `register`.
        REGISTERED.swap(std::ptr::null_mut(), Ordering::Acquire)
    }

    /// C reads `len` bytes at `data` during the call only (a checksum);
    /// returns how many it read.
    pub fn checksum(data: *const u8, len: usize) -> usize {
        // SAFETY: the callers pass a pointer to `len` initialised bytes that outlive the call.
        let bytes = unsafe { std::slice::from_raw_parts(data, len) };
        std::hint::black_box(bytes.iter().fold(0u32, |h, &b| h.rotate_left(5) ^ u32::from(b)));
        len
    }
}

/// The state handed to C: what the library calls back with.
struct Callbacks {
    name: &'static str,
    scratch: [u8; 256],
}

/// No heap memory of its own (`name` is static): `track_var!` of a
/// `Box<Callbacks>` counts the box.
impl memscope::Trackable for Callbacks {}

const FRAME_BYTES: usize = 4096;
const CACHE_BYTES: usize = 1024;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/memscope/foreign_memory.memscope"));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let recording = memscope::Recorder::new(&path).start()?;
    let read = run();
    let summary = recording.finish()?;

    let replay = memscope::replay::replay_file(&path)?;
    let t = &replay.tracking;
    println!(
        "foreign_memory: libfoo read {read} bytes; {} foreign regions tracked, {} still held at the end ({} bytes)",
        t.foreign_regions, t.foreign_live_count, t.foreign_live_bytes
    );
    for f in replay.foreign.iter().filter(|f| f.released_at_ns.is_none()) {
        println!("  foreign leak: \"{}\", {} bytes at {}", f.label, f.size, f.ptr_hex);
    }
    for v in replay.variables.iter().filter(|v| !v.handoffs.is_empty()) {
        let labels: Vec<&str> = v.handoffs.iter().map(|h| h.label.as_str()).collect();
        println!("  handed to C: `{}` ({}, {} bytes) as {:?}, {}", v.name, v.type_name, v.size, labels, v.state);
    }
    println!("recording: {}", path.display());
    println!("{summary}");
    Ok(())
}

/// The work; returns how many bytes C read.
fn run() -> usize {
    let _session = memscope::track_scope!("libfoo_session");
    let mut read = 0;

    // Frames C allocates and Rust holds for a while, then gives back.
    for i in 0..5u8 {
        let frame = libfoo::frame_new(FRAME_BYTES, i);
        memscope::ffi::track_foreign(frame, FRAME_BYTES, "libfoo frame");
        read += libfoo::checksum(frame, FRAME_BYTES);
        memscope::ffi::untrack_foreign(frame);
        // SAFETY: `frame` came from `frame_new` and is freed once.
        unsafe { libfoo::frame_free(frame) };
    }

    // A cache C allocates that nobody gives back: tracked and never
    // untracked, it is a foreign leak in the replay (and a real one here).
    let cache = libfoo::frame_new(CACHE_BYTES, 0xCA);
    memscope::ffi::track_foreign(cache, CACHE_BYTES, "libfoo cache (never freed)");
    read += libfoo::checksum(cache, CACHE_BYTES);

    // A Box handed to C, which owns it until it gives it back.
    let callbacks = Box::new(Callbacks { name: "on_frame", scratch: [7; 256] });
    memscope::track_var!(callbacks);
    let raw = memscope::ffi::into_raw(callbacks, "registered with libfoo");
    libfoo::register(raw.cast::<c_void>());
    let back = libfoo::unregister().cast::<Callbacks>();
    assert_eq!(back, raw, "libfoo gave back what it was given");
    // SAFETY: `back` is the pointer `into_raw` returned; C no longer holds it.
    let callbacks = unsafe { Box::from_raw(back) };
    read += libfoo::checksum(callbacks.scratch.as_ptr(), callbacks.scratch.len()) + callbacks.name.len();
    drop(callbacks);

    // A Vec lent to C for the length of one call.
    let samples: Vec<u8> = (0..=255).collect();
    memscope::track_var!(samples);
    memscope::ffi::handed_over(samples.as_ptr(), "lent to libfoo::checksum");
    read += libfoo::checksum(samples.as_ptr(), samples.len());
    read
}
