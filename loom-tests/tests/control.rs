//! Loom model of session and epoch publication as it ships
//! (`memscope::record::control::Control`).
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use memscope::record::control::Control;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// A thread that exists before the recording starts (so only the session's
/// Release/Acquire pair can order what it reads) runs the hot path's first
/// loads twice, while the starting thread configures the recording and its
/// drainer publishes the session, and a finishing thread stops it. Whenever
/// the thread sees the recording running, it must see its settings.
#[test]
fn session_publication() {
    static SAW_RUNNING: AtomicBool = AtomicBool::new(false);
    loom::model(|| {
        let control = Arc::new(Control::new());
        let reader = {
            let control = control.clone();
            thread::spawn(move || {
                for _ in 0..2 {
                    // As the allocator: `active` first, then the session.
                    if control.active() == 0 {
                        continue;
                    }
                    let session = control.running();
                    if session != 0 {
                        assert_eq!(session, 7);
                        assert_eq!(control.epoch(), 5, "the epoch of a running recording");
                        assert_eq!(control.on_full.load(Relaxed), 1, "the policy of a running recording");
                        assert_eq!(control.ring_capacity.load(Relaxed), 64, "the ring capacity of a running recording");
                        SAW_RUNNING.store(true, Relaxed);
                    }
                }
            })
        };
        // `launch`: configure, then spawn the drainer, which publishes.
        control.configure(5, true, 1, 64, 0);
        let drainer = {
            let control = control.clone();
            thread::spawn(move || control.publish(7))
        };
        drainer.join().unwrap();
        // The allocator's first load: whoever the start happens before sees
        // the recording counted there, before it reads the session.
        assert_ne!(control.active(), 0, "a published recording is active");
        // `finish` from this thread; a stale guard's stop changes nothing.
        assert!(!control.stop(6));
        assert_ne!(control.active(), 0, "a stale stop leaves the recording active");
        assert!(control.stop(7));
        reader.join().unwrap();
        assert_eq!(control.running(), 0);
        assert_eq!(control.active(), 0, "nothing active after the stop");
    });
    assert!(SAW_RUNNING.load(Relaxed), "no execution had the reader see the recording running");
}

/// `start` returns once the drainer has published the recording (the ready
/// channel, a flag here). A thread the start happens before (it sees the
/// flag) must find `active` nonzero on its first load, and the recording
/// running: otherwise the allocator's idle path would skip its calls. Fails
/// if `publish` counts the recording after the ready signal, or not at all.
#[test]
fn active_before_ready() {
    use loom::sync::atomic::AtomicBool as LoomBool;
    use std::sync::atomic::Ordering::{Acquire, Release};
    loom::model(|| {
        let control = Arc::new(Control::new());
        let ready = Arc::new(LoomBool::new(false));
        control.configure(5, true, 1, 64, 0);
        let drainer = {
            let (control, ready) = (control.clone(), ready.clone());
            thread::spawn(move || {
                control.publish(7);
                // Release: as the ready channel's send.
                ready.store(true, Release);
            })
        };
        let caller = {
            let (control, ready) = (control.clone(), ready.clone());
            thread::spawn(move || {
                // Acquire: as the ready channel's receive in `start`.
                if ready.load(Acquire) {
                    assert_ne!(control.active(), 0, "a started recording is active");
                    assert_eq!(control.running(), 7, "a started recording runs");
                }
            })
        };
        drainer.join().unwrap();
        caller.join().unwrap();
    });
}

/// Measurements begin and end on one thread while another stops the
/// recording: `active` ends with exactly the measurement still in progress
/// (its two counts share one word, updated by read-modify-writes).
#[test]
fn measurements_and_a_stop_count_exactly() {
    use memscope::record::control::{ACTIVE_MEASURE, ACTIVE_RECORDING};
    loom::model(|| {
        let control = Arc::new(Control::new());
        control.configure(5, true, 1, 64, 0);
        control.publish(7);
        assert_eq!(control.active(), ACTIVE_RECORDING);
        let measuring = {
            let control = control.clone();
            thread::spawn(move || {
                control.measure_begins();
                control.measure_ends();
                control.measure_begins();
            })
        };
        let stopping = {
            let control = control.clone();
            thread::spawn(move || assert!(control.stop(7)))
        };
        measuring.join().unwrap();
        stopping.join().unwrap();
        assert_eq!(control.active(), ACTIVE_MEASURE, "one measurement in progress, no recording");
    });
}
