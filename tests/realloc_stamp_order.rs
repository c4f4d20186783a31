//! A reallocation is stamped before its call (the release of its old
//! memory) and, when it moves, again after it returns (the acquisition of
//! the new memory; FORMAT.md, "Events", version 4). The block it returns
//! may be one another thread deallocated during the call:
//!
//! ```text
//! t=1  thread A  Realloc { old: Q, new: P } first stamp, before the call
//! t=2  thread B  Dealloc { P }              (the deallocation that made P available)
//! t=3  thread A  ... its return stamp, after the call
//! ```
//!
//! With one stamp (format version 3) replay had to repair this (the landing
//! at P waited for B's deallocation, counted in `reordered_reallocations`);
//! with two, P is acquired at t=3, after its deallocation, and nothing is
//! repaired. The inner allocator here forces the interleaving (its realloc
//! waits until the other thread has freed the block it is going to
//! return). `realloc_mirror.rs` forces the mirror case.

mod common;

use common::handoff::{block, Handoff, FREE, MAGIC};
use common::{assert_exact, counted, raw_fold, spawn_counted, temp_path, CountingAlloc, Counts};
use memscope::format::Event;
use memscope::TrackingAllocator;
use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

/// Set by the test: the next realloc to MAGIC bytes waits for the block.
static ARMED: AtomicBool = AtomicBool::new(false);
/// Set by that realloc once it is waiting (after the tracker stamped it).
static IN_REALLOC: AtomicBool = AtomicBool::new(false);

/// An armed realloc to MAGIC bytes waits for the static block to be freed
/// by another thread, and returns it.
fn wait_for_the_block(ptr: *mut u8, layout: Layout, new_size: usize) -> Option<*mut u8> {
    if new_size != MAGIC || !ARMED.swap(false, SeqCst) {
        return None;
    }
    IN_REALLOC.store(true, SeqCst);
    while FREE.compare_exchange(true, false, SeqCst, SeqCst).is_err() {
        std::thread::yield_now();
    }
    // SAFETY: called from `realloc` with its arguments: `ptr` holds
    // `layout.size()` bytes from the system allocator; the block is ours now.
    unsafe {
        std::ptr::copy_nonoverlapping(ptr, block(), layout.size().min(MAGIC));
        std::alloc::System.dealloc(ptr, layout);
    }
    common::count_realloc(layout, new_size);
    Some(block())
}

#[global_allocator]
static A: TrackingAllocator<Handoff> = TrackingAllocator::new(Handoff { inner: CountingAlloc::new(), realloc: wait_for_the_block });

#[test]
fn a_realloc_that_gets_a_block_freed_during_the_call_replays_exactly() {
    let path = temp_path("realloc_stamp_order");
    common::quiesce_harness();
    let rec = memscope::Recorder::new(&path).start().expect("start");

    let before = Counts::now();
    let p = counted(|| {
        let magic = Layout::from_size_align(MAGIC, 8).unwrap();
        // black_box: in release builds LLVM assumes what `__rust_alloc` returns
        // equals no static's address and folds `p == block()` to false.
        // SAFETY: non-zero size.
        let p = std::hint::black_box(unsafe { std::alloc::alloc(magic) });
        assert_eq!(p, block());
        // The other thread frees P while our realloc is under way.
        let addr = p as usize;
        let freer = spawn_counted(move || {
            while !IN_REALLOC.load(SeqCst) {
                std::thread::yield_now();
            }
            // SAFETY: allocated above with `magic`, and not used again by its allocator.
            unsafe { std::alloc::dealloc(addr as *mut u8, magic) };
        });
        let small = Layout::from_size_align(16, 8).unwrap();
        // SAFETY: non-zero size.
        let q = std::hint::black_box(unsafe { std::alloc::alloc(small) });
        ARMED.store(true, SeqCst);
        // SAFETY: `q` was allocated with `small`; MAGIC is non-zero.
        let r = std::hint::black_box(unsafe { std::alloc::realloc(q, small, MAGIC) });
        assert_eq!(r, block(), "the realloc got the block the other thread freed");
        freer.join();
        r
    });
    let c = Counts::now().since(&before);
    let written = rec.finish().expect("finish");

    // The interleaving happened as intended: counts are exact, and the
    // counter says the realloc'd block is live at the end.
    assert_eq!(c.live_count(), 1, "{c:?}");
    let f = raw_fold(&path);
    let mut events = Vec::new();
    let mut reader = memscope::format::Reader::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap())).unwrap();
    while let Some(item) = reader.next_record().unwrap() {
        if let Ok(memscope::format::Record::Events(chunk)) = item {
            events.extend(chunk.events.iter().map(|e| (chunk.thread, *e)));
        }
    }
    let at = block() as u64;
    let (freer_thread, freed) =
        events.iter().find(|(_, e)| matches!(*e, Event::Dealloc { ptr, .. } if ptr == at)).map(|(t, e)| (*t, e.ts_ns())).expect("the free");
    let (realloc_thread, reallocated, returned) = events
        .iter()
        .find_map(|(t, e)| match *e {
            Event::Realloc { new_ptr, ts_ns, returned_ns, .. } if new_ptr == at => Some((*t, ts_ns, returned_ns)),
            _ => None,
        })
        .expect("the realloc");
    let returned = returned.expect("a moving reallocation carries its return stamp");
    assert!(
        reallocated < freed && freed < returned,
        "the realloc is stamped before the call (t={reallocated}) and after it returns (t={returned}), around the free of the block it got (t={freed})"
    );
    assert_ne!(freer_thread, realloc_thread);
    // Replay needs no repair: exact totals, the block live at the end with
    // its size and the reallocating thread's charge, no conflict, no
    // reordered reallocation, and the independent fold agrees.
    let r = assert_exact(&path, &c, &written);
    let s = &r.summary;
    assert_eq!((s.address_conflicts, s.reordered_reallocations, s.unresolved_conflicts, s.size_mismatches, s.late_events), (0, 0, 0, 0, 0));
    assert_eq!(r.largest_leaks.iter().map(|l| (l.ptr, l.size, l.thread)).collect::<Vec<_>>(), vec![(at, MAGIC as u64, realloc_thread)]);
    assert_eq!(f.moves_with_return_stamp, 1);
    assert!(f.conflicts.is_empty(), "the fold by stamps sees no disorder: {:#?}", f.conflicts);
    let th = |id: u32| r.threads.iter().find(|t| t.thread == id).expect("thread");
    assert_eq!((th(realloc_thread).live_count, th(realloc_thread).live_bytes), (1, MAGIC as u64));
    assert_eq!((th(freer_thread).live_count, th(freer_thread).live_bytes), (0, 0));
    // SAFETY: the block came from the realloc above.
    unsafe { std::alloc::dealloc(p, Layout::from_size_align(MAGIC, 8).unwrap()) };
    let _ = std::fs::remove_file(&path);
}
