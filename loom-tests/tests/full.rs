//! Loom models of the full-ring protocol as it ships (`memscope::record::full`
//! and `memscope::record::futex`): a producer waiting for room in a full
//! ring while the recording stops, and the stopping drainer's last count.
#![cfg(loom)]

use loom::sync::atomic::AtomicU32;
use loom::sync::Arc;
use loom::thread;
use memscope::record::full::{drain_to_close, wait_for_room, Gate};
use memscope::record::futex;
use memscope::record::registry::FREE;
use memscope_loom_tests::{event, id, spin, TestRegistry};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

/// What the drainer reported: events popped and the drop count it wrote
/// in its Lost events (read before popping, as `Drainer::round` does).
#[derive(Default)]
struct Report {
    popped: Vec<u64>,
    lost: u64,
}

/// Item 3 of issue 9. A producer's ring (capacity 1) is full; it waits for
/// room under `OnFull::Block` while another thread stops the recording
/// (zeroes the session) and drains to the close, as `Drainer::run` does.
/// Whatever the interleaving, the drainer's last count must hold every drop
/// the producer counted, and every event it pushed must be popped: nothing
/// counted after the End record, nothing stranded in the ring.
///
/// Without the gate (`begin_wait` always true, `waiters` always 0: the
/// protocol before this model) loom finds an execution where the producer
/// counts after the drainer's last count.
#[test]
fn stop_gate() {
    static GAVE_UP: AtomicBool = AtomicBool::new(false);
    static PUSHED: AtomicBool = AtomicBool::new(false);
    loom::model(|| {
        let registry = Arc::new(TestRegistry::new(1));
        let session = Arc::new(AtomicU32::new(1));
        let gate = Arc::new(Gate::new());
        let wake = Arc::new(AtomicU32::new(0));
        let slot = registry.insert_new();
        slot.set_thread(1);
        // SAFETY: this thread built the slot, so it owns it; the producer
        // below takes it over (spawn orders the two).
        assert!(unsafe { slot.ring.push(event(11)) });

        let producer = {
            let (registry, session, gate, wake) = (registry.clone(), session.clone(), gate.clone(), wake.clone());
            thread::spawn(move || {
                let slot = registry.iter().next().unwrap();
                // SAFETY: this thread is now the slot's only producer.
                let try_push = || unsafe { slot.ring.push(event(12)) };
                futex::wake(&wake);
                let backoff = |_| {
                    futex::wake(&wake);
                    spin();
                };
                wait_for_room(&gate, &session, 1, slot, 1, try_push, backoff)
            })
        };
        let drainer = {
            let (registry, session, gate, wake) = (registry.clone(), session.clone(), gate.clone(), wake.clone());
            thread::spawn(move || {
                // The stop: `request_stop` zeroes the session before the
                // drainer sees STOP.
                session.store(0, Relaxed);
                let mut report = Report::default();
                let mut batch = Vec::new();
                let round = || -> Result<usize, ()> {
                    let slot = registry.iter().next().unwrap();
                    assert_ne!(slot.state(), FREE);
                    let dropped = slot.dropped();
                    batch.clear();
                    // SAFETY: this thread is the only drainer.
                    let n = unsafe { slot.ring.pop_into(&mut batch, usize::MAX) };
                    report.popped.extend(batch.iter().map(id));
                    report.lost = report.lost.max(dropped);
                    Ok(n)
                };
                drain_to_close(&gate, round, || futex::wait(&wake, Duration::from_millis(1))).unwrap();
                report
            })
        };
        let report = drainer.join().unwrap();
        let pushed = producer.join().unwrap();
        PUSHED.fetch_or(pushed, Relaxed);
        GAVE_UP.fetch_or(!pushed && slot.dropped() == 1, Relaxed);
        assert_eq!(slot.dropped(), report.lost, "a drop counted after the drainer's last count");
        let want: &[u64] = if pushed { &[11, 12] } else { &[11] };
        assert_eq!(report.popped, want, "an event pushed after the drainer's last round");
        if !pushed {
            // A wait that began after the close counts nothing; one before
            // counts its event.
            assert!(slot.dropped() <= 1);
        }
    });
    assert!(PUSHED.load(Relaxed), "no execution had the producer push");
    assert!(GAVE_UP.load(Relaxed), "no execution had the producer give up and count");
}

/// A producer whose ring (capacity 1) is full sleeps for room as
/// `thread::policy::backoff` does (`Slot::sleep_for_room` with a fresh look
/// at the ring), while the drainer pops the ring and wakes it as
/// `Drainer::round` does (`Slot::wake_for_room` after the pop). Under loom a
/// producer's futex wait lasts while its word holds the value it slept on
/// (no timeout, on a loom condition variable), so a lost wake-up is a
/// deadlock, which loom reports. Removing either SeqCst fence, or making the owner announce
/// itself after its look at the ring, loses a wake-up here.
fn sleep_for_room_and_wake(leftover_bit: bool) {
    loom::model(move || {
        let registry = Arc::new(TestRegistry::new(1));
        let slot = registry.insert_new();
        slot.set_thread(1);
        // SAFETY: this thread built the slot, so it owns it; the producer
        // below takes it over (spawn orders the two).
        assert!(unsafe { slot.ring.push(event(11)) });
        if leftover_bit {
            // An earlier wait that found room left bit 0 of the word set.
            slot.sleep_for_room(|| true, Duration::ZERO);
        }
        let producer = {
            let registry = registry.clone();
            thread::spawn(move || {
                let slot = registry.iter().next().unwrap();
                let cap = slot.ring.capacity();
                // SAFETY: this thread is now the slot's only producer.
                let has_room = || unsafe { cap - slot.ring.refresh_len() >= 1 };
                while !has_room() {
                    slot.sleep_for_room(&has_room, Duration::from_millis(2));
                }
                // SAFETY: as above.
                assert!(unsafe { slot.ring.push(event(12)) }, "room was seen, so the push fits");
            })
        };
        let drainer = {
            let registry = registry.clone();
            thread::spawn(move || {
                let slot = registry.iter().next().unwrap();
                let mut batch = Vec::new();
                // SAFETY: this thread is the only drainer.
                let n = unsafe { slot.ring.pop_into(&mut batch, usize::MAX) };
                slot.wake_for_room();
                (n, batch.iter().map(id).collect::<Vec<_>>())
            })
        };
        let (n, popped) = drainer.join().unwrap();
        producer.join().unwrap();
        assert_eq!((n, popped), (1, vec![11]));
        let mut rest = Vec::new();
        // SAFETY: both threads are done; this thread drains what is left.
        unsafe { slot.ring.pop_into(&mut rest, usize::MAX) };
        assert_eq!(rest.iter().map(id).collect::<Vec<_>>(), [12]);
    });
}

/// See [`sleep_for_room_and_wake`]: a first wait for room.
#[test]
fn sleep_for_room_is_woken() {
    sleep_for_room_and_wake(false);
}

/// See [`sleep_for_room_and_wake`]: bit 0 of the word still set by an
/// earlier wait, which the drainer's plain store and the owner's
/// `fetch_or` race on.
#[test]
fn sleep_for_room_is_woken_with_a_stale_bit() {
    sleep_for_room_and_wake(true);
}
