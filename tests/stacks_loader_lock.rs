//! A thread that allocates inside a `dl_iterate_phdr` callback holds the
//! dynamic loader's lock; with `OnFull::Block` and a small ring it waits
//! for the drainer. The drainer must therefore never take that lock while
//! a recording runs (the module map is watched from another thread): this
//! test deadlocked when the drainer checked the map itself every round.

use memscope::TrackingAllocator;
use std::hint::black_box;
use std::os::raw::{c_int, c_void};
use std::sync::mpsc;
use std::time::Duration;

#[global_allocator]
static A: TrackingAllocator = TrackingAllocator::system();

/// Allocates and frees 2,000 times per object: far more events than the
/// 64-event ring holds, so the thread waits for the drainer inside the lock.
unsafe extern "C" fn allocate_in_callback(_: *mut libc::dl_phdr_info, _: usize, data: *mut c_void) -> c_int {
    for i in 0..2_000usize {
        drop(black_box(vec![0u8; 16 + i % 64]));
    }
    // SAFETY: `data` is the `&mut usize` passed below, used by this thread only.
    unsafe { *data.cast::<usize>() += 1 };
    0
}

#[test]
fn allocating_under_the_loader_lock_does_not_deadlock() {
    let path = std::env::temp_dir().join(format!("memscope-loader-lock-{}.memscope", std::process::id()));
    let recording = memscope::Recorder::new(&path).ring_capacity(64).drain_interval(Duration::from_millis(1)).start().expect("start");
    let (done_tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        let mut objects = 0usize;
        for _ in 0..5 {
            // SAFETY: the callback matches the type `dl_iterate_phdr` expects;
            // `objects` outlives the call.
            unsafe { libc::dl_iterate_phdr(Some(allocate_in_callback), (&mut objects as *mut usize).cast()) };
        }
        let _ = done_tx.send(objects);
    });
    let Ok(objects) = done.recv_timeout(Duration::from_secs(60)) else {
        // The drainer and the allocating thread wait for each other: nothing
        // would finish the recording, so end the test process here.
        eprintln!("deadlock: the allocating thread did not finish within 60 s");
        std::process::exit(101);
    };
    assert!(objects >= 5, "dl_iterate_phdr reported the loaded objects");
    let summary = recording.finish().expect("finish");
    assert_eq!(summary.events_lost, 0, "Block loses nothing");
    let _ = std::fs::remove_file(&path);
}
