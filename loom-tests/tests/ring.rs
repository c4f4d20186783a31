//! Loom models of the SPSC ring (`memscope::record::ring::Ring`).
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use memscope::format::RawEvent;
use memscope_loom_tests::{event, id, spin, OwnedRing};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// Pushes `e`, spinning while the ring is full. After every failed push,
/// checks that the ring still looks full to its producer (the push neither
/// moved `tail` nor took a cell). Returns whether any push failed.
///
/// # Safety
/// The caller must be the ring's only producer.
unsafe fn push_blocking(ring: &OwnedRing, e: RawEvent) -> bool {
    let mut failed = false;
    // SAFETY: the caller is the only producer.
    while !unsafe { ring.push(e) } {
        failed = true;
        // SAFETY: as above.
        let queued = unsafe { ring.len_upper_bound() };
        assert_eq!(queued, ring.capacity(), "a failed push changed the ring");
        spin();
    }
    failed
}

/// Checks the producer's length estimates: `len_upper_bound` is never below
/// the exact count `refresh_len` returns, neither exceeds the capacity, and
/// after `refresh_len` the estimate is exact.
///
/// # Safety
/// The caller must be the ring's only producer.
unsafe fn check_len(ring: &OwnedRing) {
    // SAFETY: the caller is the only producer.
    let (upper, exact) = unsafe { (ring.len_upper_bound(), ring.refresh_len()) };
    assert!(exact <= upper && upper <= ring.capacity(), "upper {upper}, exact {exact}");
    // SAFETY: as above.
    assert_eq!(unsafe { ring.len_upper_bound() }, exact);
}

/// Pops into `out` (at most `max` per call) until it holds `n` events.
///
/// # Safety
/// The caller must be the ring's only consumer.
unsafe fn pop_until(ring: &OwnedRing, out: &mut Vec<RawEvent>, n: usize, max: usize) {
    while out.len() < n {
        let before = out.len();
        // SAFETY: the caller is the only consumer.
        let got = unsafe { ring.pop_into(out, max) };
        assert_eq!(out.len(), before + got);
        assert!(got <= max.min(ring.capacity()));
        if got == 0 {
            spin();
        }
    }
}

/// Capacity 2, three events: the producer must hit a full ring in some
/// executions. The consumer must get exactly 1, 2, 3 in order: an event lost,
/// duplicated, reordered, or overwritten by a failed push fails the check,
/// and loom reports any cell the two sides touch concurrently.
#[test]
fn ring_spsc() {
    static SAW_FULL: AtomicBool = AtomicBool::new(false);
    const N: u64 = 3;
    loom::model(|| {
        let ring = Arc::new(OwnedRing::new(2));
        let producer = {
            let ring = ring.clone();
            thread::spawn(move || {
                for i in 1..=N {
                    // SAFETY: this thread is the ring's only producer.
                    if unsafe { push_blocking(&ring, event(i)) } {
                        SAW_FULL.store(true, Relaxed);
                    }
                    // SAFETY: as above.
                    unsafe { check_len(&ring) };
                }
            })
        };
        let mut got = Vec::new();
        // SAFETY: this thread is the ring's only consumer.
        unsafe { pop_until(&ring, &mut got, N as usize, usize::MAX) };
        producer.join().unwrap();
        assert_eq!(got.iter().map(id).collect::<Vec<_>>(), (1..=N).collect::<Vec<_>>());
        assert!(ring.is_empty());
        // SAFETY: the producer has exited; this thread is the only consumer.
        assert_eq!(unsafe { ring.pop_into(&mut got, usize::MAX) }, 0, "an event appeared twice");
    });
    assert!(SAW_FULL.load(Relaxed), "no execution filled the ring: the full path went unchecked");
}

/// Capacity 2. The main thread first cycles `WARM_UP` events through the
/// ring alone, so the concurrent part starts mid-buffer; then a producer
/// pushes `N` more while the consumer pops them one at a time. The indices
/// run from 0 to 7 over the two masked cells (three and a half laps), and
/// every event must come out once, in order.
#[test]
fn ring_wraparound() {
    const WARM_UP: u64 = 3;
    const N: u64 = 4;
    loom::model(|| {
        let ring = Arc::new(OwnedRing::new(2));
        let mut got = Vec::new();
        for i in 1..=WARM_UP {
            // SAFETY: no other thread exists yet: this one is producer and consumer.
            unsafe {
                assert!(ring.push(event(i)));
                assert_eq!(ring.pop_into(&mut got, 1), 1);
            }
        }
        let producer = {
            let ring = ring.clone();
            thread::spawn(move || {
                for i in WARM_UP + 1..=WARM_UP + N {
                    // SAFETY: this thread is the ring's only producer.
                    unsafe { push_blocking(&ring, event(i)) };
                }
                // SAFETY: as above.
                unsafe { check_len(&ring) };
            })
        };
        // SAFETY: this thread is the ring's only consumer.
        unsafe { pop_until(&ring, &mut got, (WARM_UP + N) as usize, 1) };
        producer.join().unwrap();
        assert_eq!(got.iter().map(id).collect::<Vec<_>>(), (1..=WARM_UP + N).collect::<Vec<_>>());
        assert!(ring.is_empty());
    });
}
