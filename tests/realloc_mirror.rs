//! The mirror of `realloc_stamp_order.rs`: a reallocation that moves
//! releases its old block inside the call, and another thread allocates
//! that block before the call returns:
//!
//! ```text
//! t=1  thread A  Realloc { old: P, new: Q }  first stamp, before the call
//! t=2  thread B  Alloc { P }                 (P, released inside A's call)
//! t=3  thread A  ... its return stamp, after the call
//! ```
//!
//! A tool that stamps a reallocation only after its call (heaptrack) sees
//! B's allocation of P while P is still live and reports a false leak or a
//! conflict. Here the old block is released at the first stamp and the new
//! one acquired at the return stamp: both orders replay exactly. The inner
//! allocator forces the interleaving: its realloc of the static block hands
//! the block back, then waits until the other thread has allocated it.

mod common;

use common::handoff::{block, Handoff, FREE, MAGIC};
use common::{assert_exact, counted, raw_fold, spawn_counted, temp_path, CountingAlloc, Counts};
use memscope::format::Event;
use memscope::TrackingAllocator;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

/// The size the armed reallocation grows the block to.
const GROWN: usize = 3000;

/// Set by the test: the next realloc of the block waits for it to be taken.
static ARMED: AtomicBool = AtomicBool::new(false);
/// Set by that realloc once it has handed the block back (after the tracker stamped it).
static IN_REALLOC: AtomicBool = AtomicBool::new(false);
/// Set by the other thread once its allocation of the block has returned.
static TAKEN: AtomicBool = AtomicBool::new(false);

/// An armed realloc of the static block moves it to new memory, releases
/// the block inside the call, and returns only once another thread has it.
fn hand_the_block_back(ptr: *mut u8, layout: Layout, new_size: usize) -> Option<*mut u8> {
    if ptr != block() || !ARMED.swap(false, SeqCst) {
        return None;
    }
    let new_layout = Layout::from_size_align(new_size, layout.align()).unwrap();
    // SAFETY: non-zero size.
    let new = unsafe { System.alloc(new_layout) };
    assert!(!new.is_null());
    // SAFETY: both hold at least `layout.size()` bytes and are distinct.
    unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size()) };
    // The old block is released inside the call...
    FREE.store(true, SeqCst);
    IN_REALLOC.store(true, SeqCst);
    // ...and another thread allocates it before the call returns.
    while !TAKEN.load(SeqCst) {
        std::thread::yield_now();
    }
    common::count_realloc(layout, new_size);
    Some(new)
}

#[global_allocator]
static A: TrackingAllocator<Handoff> = TrackingAllocator::new(Handoff { inner: CountingAlloc::new(), realloc: hand_the_block_back });

#[test]
fn a_realloc_whose_old_block_another_thread_gets_during_the_call_replays_exactly() {
    let path = temp_path("realloc_mirror");
    common::quiesce_harness();
    let rec = memscope::Recorder::new(&path).start().expect("start");

    let magic = Layout::from_size_align(MAGIC, 8).unwrap();
    let before = Counts::now();
    let (q, p2) = counted(|| {
        // black_box: in release builds LLVM assumes what `__rust_alloc` returns
        // equals no static's address and folds `p == block()` to false.
        // SAFETY: non-zero size.
        let p = std::hint::black_box(unsafe { std::alloc::alloc(magic) });
        assert_eq!(p, block());
        let taker = spawn_counted(move || {
            while !IN_REALLOC.load(SeqCst) {
                std::thread::yield_now();
            }
            // SAFETY: non-zero size.
            let p2 = std::hint::black_box(unsafe { std::alloc::alloc(magic) });
            TAKEN.store(true, SeqCst);
            p2 as usize
        });
        ARMED.store(true, SeqCst);
        // SAFETY: `p` was allocated with `magic`; GROWN is non-zero.
        let q = std::hint::black_box(unsafe { std::alloc::realloc(p, magic, GROWN) });
        let p2 = taker.join();
        (q as usize, p2)
    });
    let c = Counts::now().since(&before);
    let written = rec.finish().expect("finish");
    assert_eq!(p2, block() as usize, "the other thread got the block the realloc released");
    assert_ne!(q, p2);
    assert_eq!(c.live_count(), 2, "{c:?}");

    let mut events = Vec::new();
    let mut reader = memscope::format::Reader::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap())).unwrap();
    while let Some(item) = reader.next_record().unwrap() {
        if let Ok(memscope::format::Record::Events(chunk)) = item {
            events.extend(chunk.events.iter().map(|e| (chunk.thread, *e)));
        }
    }
    let at = block() as u64;
    let (realloc_thread, reallocated, returned) = events
        .iter()
        .find_map(|(t, e)| match *e {
            Event::Realloc { old_ptr, ts_ns, returned_ns, .. } if old_ptr == at => Some((*t, ts_ns, returned_ns)),
            _ => None,
        })
        .expect("the realloc");
    // The block is allocated twice: first by this thread, then by the taker.
    let (taker_thread, taken) = events
        .iter()
        .find(|(t, e)| *t != realloc_thread && matches!(*e, Event::Alloc { ptr, .. } if ptr == at))
        .map(|(t, e)| (*t, e.ts_ns()))
        .expect("the other thread's allocation");
    let returned = returned.expect("a moving reallocation carries its return stamp");
    assert!(
        reallocated < taken && taken < returned,
        "stamps: realloc {reallocated}, the other thread's allocation of its old block {taken}, realloc returned {returned}"
    );
    let r = assert_exact(&path, &c, &written);
    let s = &r.summary;
    assert_eq!((s.address_conflicts, s.reordered_reallocations, s.unresolved_conflicts, s.size_mismatches, s.late_events), (0, 0, 0, 0, 0));
    let mut leaks: Vec<_> = r.largest_leaks.iter().map(|l| (l.ptr, l.size, l.thread)).collect();
    leaks.sort();
    let mut want = vec![(at, MAGIC as u64, taker_thread), (q as u64, GROWN as u64, realloc_thread)];
    want.sort();
    assert_eq!(leaks, want, "each block with its size and its thread");
    let f = raw_fold(&path);
    assert!(f.conflicts.is_empty(), "the fold by stamps sees no disorder: {:#?}", f.conflicts);

    // SAFETY: both came from the calls above.
    unsafe {
        std::alloc::dealloc(q as *mut u8, Layout::from_size_align(GROWN, 8).unwrap());
        std::alloc::dealloc(p2 as *mut u8, magic);
    }
    let _ = std::fs::remove_file(&path);
}
