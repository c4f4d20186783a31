//! A guard whose recording already ended (its drainer failed: the file hit
//! a size limit) must not stop a newer recording when it is finally dropped.
//! Stopping is scoped to the recording's id: before, dropping the stale
//! guard zeroed the running session and the newer recording lost every
//! event after the drop.

mod common;

use common::{assert_exact, counted, quiesce_harness, temp_path, CountingAlloc, Counts};
use memscope::{Error, Recorder, TrackingAllocator};
use std::hint::black_box;

#[global_allocator]
static A: TrackingAllocator<CountingAlloc> = TrackingAllocator::new(CountingAlloc::new());

fn work(seed: u64) {
    let v: Vec<u64> = black_box((0..200 + seed).collect());
    let s: Vec<String> = v.iter().step_by(5).map(|x| format!("{x}:{seed}")).collect();
    black_box((&v, &s));
}

#[test]
fn dropping_a_stale_guard_leaves_a_newer_recording_alone() {
    let failing = temp_path("stale_guard_1");
    let good = temp_path("stale_guard_2");
    quiesce_harness();
    // SAFETY: plain libc calls on valid arguments; SIGXFSZ would otherwise kill us.
    let old = unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let mut old = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut old), 0);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &libc::rlimit { rlim_cur: 4096, rlim_max: old.rlim_max }), 0);
        old
    };
    let stale = Recorder::new(&failing).start().expect("start under the limit");
    // Work until the drainer fails and the recorder is free again.
    let mut newer = None;
    for seed in 0..100_000 {
        work(seed);
        match Recorder::new(&good).start() {
            Ok(rec) => {
                newer = Some(rec);
                break;
            }
            Err(Error::AlreadyRecording) => {}
            Err(e) => panic!("unexpected start error: {e}"),
        }
    }
    // SAFETY: restores the limit read above.
    unsafe { assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &old), 0) };
    let newer = newer.expect("the failing recording never released the recorder");

    let before = Counts::now();
    counted(|| work(1));
    // Kept until the newer recording is over: the error is the program's to
    // drop, and dropping it now would be a (correct) pre-recording deallocation.
    let stale_result = stale.finish();
    match &stale_result {
        Err(Error::Write { path, .. }) => assert_eq!(path, &failing),
        other => panic!("expected the stale guard's Error::Write, got {other:?}"),
    }
    counted(|| work(2));
    let c = Counts::now().since(&before);
    let written = newer.finish().expect("finish the newer recording");
    drop(stale_result);
    // Both halves of the work are there, exactly: the stale finish stopped nothing.
    let r = assert_exact(&good, &c, &written);
    assert!(r.summary.total_allocations >= 2, "{:?}", r.summary);
    let _ = std::fs::remove_file(&failing);
    let _ = std::fs::remove_file(&good);
}
