//! A forked child inherits a running recording but no drainer thread. It
//! must record nothing and never block (under the default `OnFull::Block`
//! a full ring would otherwise wait forever), its copy of the guard must be
//! inert, and the parent's recording goes on, finished and undamaged.

use memscope::{Error, Recorder, TrackingAllocator};
use std::hint::black_box;
use std::time::{Duration, Instant};

#[global_allocator]
static A: TrackingAllocator = TrackingAllocator::system();

#[test]
fn a_forked_child_records_nothing_and_never_blocks() {
    let path = std::env::temp_dir().join(format!("memscope-fork-child-{}.memscope", std::process::id()));
    let rec = Recorder::new(&path).ring_capacity(64).start().expect("start");
    black_box(vec![1u8; 100]);
    // SAFETY: the child only allocates (glibc's malloc is fork-safe), calls
    // the recorder, and leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // Many more events than a 64-event ring holds: with no drainer, a
        // recording child would block here forever.
        for i in 0..100_000u32 {
            black_box(Box::new(i));
        }
        let code = match rec.finish() {
            Err(Error::ForkedChild) => 0,
            _ => 1,
        };
        // SAFETY: ends the child at once, without running the parent's atexit hooks.
        unsafe { libc::_exit(code) };
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        let mut status = 0;
        // SAFETY: waits for our own child, without blocking.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break status;
        }
        if Instant::now() > deadline {
            // SAFETY: kills our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the forked child hung (blocked on a ring no drainer empties?)");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child status {status:#x}: finish() in the child did not return ForkedChild"
    );
    for i in 0..1000u32 {
        black_box(Box::new(i));
    }
    let summary = rec.finish().expect("the parent's recording finishes");
    let replay = memscope::replay::replay_file(&path).expect("replay");
    assert!(replay.finished && replay.damage.is_empty());
    assert!(replay.summary.total_allocations >= 1001, "{:?}", replay.summary);
    assert_eq!(replay.summary.lost_events, summary.events_lost);
    let _ = std::fs::remove_file(&path);
}
