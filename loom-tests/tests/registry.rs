//! Loom models of the thread registry (`memscope::record::registry`) and of
//! the slot life cycle the allocator glue and the drainer drive:
//! FREE -claim-> OWNED -release (or reclaim, once the owner is gone)-> EXITED -recycle-> FREE.
#![cfg(loom)]

use loom::sync::atomic::AtomicUsize;
use loom::sync::Arc;
use loom::thread;
use memscope::format::RawEvent;
use memscope::record::registry::{Slot, EXITED, OWNED};
use memscope_loom_tests::{event, id, spin, TestRegistry};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// The slot's address, to compare slots across threads.
fn addr(slot: &Slot) -> usize {
    slot as *const Slot as usize
}

/// Pushes `e`, spinning while the ring is full.
///
/// # Safety
/// The caller must own `slot` (be its ring's only producer).
unsafe fn push_blocking(slot: &Slot, e: RawEvent) {
    // SAFETY: the caller owns the slot.
    while !unsafe { slot.ring.push(e) } {
        spin();
    }
}

/// One drainer round through `Registry::drain_pass`, as `Drainer::round` makes it: read the state, skip
/// FREE slots, read the drop count, pop everything, and recycle the slots
/// that were EXITED before the pop. Appends the popped ids to `got`, and
/// calls `before_recycle(got)` just before each `recycle`.
///
/// Checks that every slot it finds is fully published (its index is below
/// the registry's count) and that each batch, and each non-zero drop count,
/// is attributed to the slot's current owner (ids in events are
/// `owner * 10 + n`; thread ids are non-zero).
fn drain_round(registry: &TestRegistry, got: &mut Vec<u64>, mut before_recycle: impl FnMut(&[u64])) {
    let mut batch = Vec::new();
    let drain = |slot: &Slot, state: u8, dropped: u64| {
        assert!(slot.index() < registry.len(), "found a slot whose index is not counted");
        batch.clear();
        // SAFETY: this thread is the only drainer, so every ring's only consumer.
        unsafe { slot.ring.pop_into(&mut batch, usize::MAX) };
        let thread = u64::from(slot.thread());
        for e in &batch {
            assert_eq!(id(e) / 10, thread, "batch not attributed to its owner");
        }
        if dropped > 0 {
            assert_ne!(thread, 0, "drop count not attributed to its owner");
        }
        got.extend(batch.iter().map(id));
        if state == EXITED {
            before_recycle(got);
        }
    };
    // SAFETY: this thread is the only drainer, and `drain` empties each ring.
    unsafe { registry.drain_pass(drain) };
}

/// Runs one [`drain_round`] on a new thread; returns the ids it popped.
///
/// On its own thread rather than the model's main one: loom does not explore
/// a main-thread round overlapping threads that have not taken a step yet,
/// and making main yield first would hide stale reads (loom returns no value
/// a thread saw before its last yield).
fn spawn_drainer_round(registry: &Arc<TestRegistry>) -> thread::JoinHandle<Vec<u64>> {
    let registry = registry.clone();
    thread::spawn(move || {
        let mut got = Vec::new();
        drain_round(&registry, &mut got, |_| panic!("no slot is EXITED"));
        got
    })
}

/// One FREE slot (a recycled one) and two threads that each claim a slot or,
/// failing that, build and insert one, then push one event; meanwhile a
/// drainer thread runs one round. The threads must end up with different
/// slots (one of them the free one), each must find its own slot in the
/// registry, and the registry must list exactly those two slots, each
/// holding exactly its owner's event.
#[test]
fn registry_claim_insert() {
    static OVERLAP: AtomicBool = AtomicBool::new(false);
    loom::model(|| {
        let registry = Arc::new(TestRegistry::new(2));
        let free = {
            let slot = registry.insert_new();
            // SAFETY: this thread owns the new slot and gives it up once; no
            // drainer runs yet, so it is the consumer too, and saw it EXITED.
            unsafe {
                slot.release();
                slot.recycle();
            }
            addr(slot)
        };
        let spawn = |me: u32| {
            let registry = registry.clone();
            thread::spawn(move || {
                let slot = registry.claim_or_insert();
                assert_eq!(slot.state(), OWNED);
                slot.set_thread(me);
                // SAFETY: this thread claimed or built the slot, so it owns it.
                unsafe { push_blocking(slot, event(u64::from(me) * 10 + 1)) };
                assert!(registry.iter().any(|s| addr(s) == addr(slot)), "own slot not in the registry");
                addr(slot)
            })
        };
        let (t1, t2) = (spawn(1), spawn(2));
        let drainer = spawn_drainer_round(&registry);
        let mut got = drainer.join().unwrap();
        OVERLAP.fetch_or(!got.is_empty(), Relaxed);
        let (a, b) = (t1.join().unwrap(), t2.join().unwrap());

        assert_ne!(a, b, "two threads own the same slot");
        assert!(a == free || b == free, "the free slot was not reused");
        let mut listed: Vec<usize> = registry.iter().map(addr).collect();
        listed.sort_unstable();
        let mut owned = vec![a, b];
        owned.sort_unstable();
        assert_eq!(listed, owned);
        assert_eq!(registry.len(), 2);
        drain_round(&registry, &mut got, |_| panic!("no slot is EXITED"));
        got.sort_unstable();
        assert_eq!(got, [11, 21]);
    });
    assert!(OVERLAP.load(Relaxed), "no execution drained while the threads registered");
}

/// Two threads insert new slots into an empty registry at once (the CAS on
/// the list head races) while a drainer thread walks it and drains. Every
/// slot the walker reaches must be fully initialised (loom checks that its
/// creation happens before the walker's accesses), the two slots must get
/// indices 0 and 1, and no event may be lost.
#[test]
fn registry_insert_race() {
    static OVERLAP: AtomicBool = AtomicBool::new(false);
    loom::model(|| {
        let registry = Arc::new(TestRegistry::new(2));
        let spawn = |me: u32| {
            let registry = registry.clone();
            thread::spawn(move || {
                let slot = registry.insert_new();
                slot.set_thread(me);
                // SAFETY: this thread built the slot, so it owns it.
                unsafe { push_blocking(slot, event(u64::from(me) * 10 + 1)) };
                slot.index()
            })
        };
        let (t1, t2) = (spawn(1), spawn(2));
        let drainer = spawn_drainer_round(&registry);
        let mut got = drainer.join().unwrap();
        OVERLAP.fetch_or(!got.is_empty(), Relaxed);
        let mut indices = [t1.join().unwrap(), t2.join().unwrap()];
        indices.sort_unstable();
        assert_eq!(indices, [0, 1]);
        assert_eq!(registry.iter().count(), 2);
        drain_round(&registry, &mut got, |_| panic!("no slot is EXITED"));
        got.sort_unstable();
        assert_eq!(got, [11, 21]);
    });
    assert!(OVERLAP.load(Relaxed), "no execution drained while the threads registered");
}

/// How many times thread B tries to claim a slot (yielding in between).
/// Bounded: a second thread spinning alongside the drainer would give loom
/// executions of unbounded length. Executions where B gives up still check
/// everything else; the tests assert that some execution had B succeed.
const CLAIM_TRIES: usize = 2;

/// B's side of a handoff: tries to claim a FREE slot, as the allocator glue
/// does on a thread's first event. `None` if it gave up.
fn claim_bounded(registry: &TestRegistry) -> Option<&Slot> {
    for attempt in 0..CLAIM_TRIES {
        if attempt > 0 {
            spin();
        }
        if let Some(slot) = registry.claim(0) {
            return Some(slot);
        }
    }
    None
}

/// The registration / drain / thread-exit / ring-reuse handoff. Thread A
/// builds its slot, pushes two events and releases it; the drainer (main)
/// runs rounds, recycling EXITED slots once drained; thread B tries to
/// claim a free slot and, once it has A's, pushes two events. The drainer
/// must get all of A's events, then all of B's (if B got the slot); B's
/// claim must succeed only after the recycle that followed the last of A's
/// pops, and B must find the ring empty (it sees the drainer's pops).
#[test]
fn handoff_exit_and_reuse() {
    static SAW_REUSE: AtomicBool = AtomicBool::new(false);
    const PER_THREAD: usize = 2;
    loom::model(|| {
        let registry = Arc::new(TestRegistry::new(2));
        // How many events the drainer had when it recycled the slot
        // (usize::MAX: not recycled yet). Written before `recycle`, read by B
        // after its claim: only the recycle/claim pair orders the two.
        let popped_at_recycle = Arc::new(AtomicUsize::new(usize::MAX));
        // Set by B when it gives up claiming.
        let gave_up = Arc::new(loom::sync::atomic::AtomicBool::new(false));

        let a = {
            let registry = registry.clone();
            thread::spawn(move || {
                let slot = registry.claim_or_insert();
                slot.set_thread(1);
                for n in 1..=PER_THREAD as u64 {
                    // SAFETY: this thread built the slot and has not released it.
                    unsafe { push_blocking(slot, event(10 + n)) };
                }
                // SAFETY: this thread owns the slot and does not touch it again.
                unsafe { slot.release() };
            })
        };
        let b = {
            let (registry, popped_at_recycle, gave_up) = (registry.clone(), popped_at_recycle.clone(), gave_up.clone());
            thread::spawn(move || {
                let Some(slot) = claim_bounded(&registry) else {
                    gave_up.store(true, Relaxed);
                    return false;
                };
                assert_eq!(popped_at_recycle.load(Relaxed), PER_THREAD, "claimed before the drainer emptied the slot");
                // SAFETY: this thread claimed the slot, so it owns it.
                assert_eq!(unsafe { slot.ring.refresh_len() }, 0, "claimed a ring that still holds events");
                slot.set_thread(2);
                for n in 1..=PER_THREAD as u64 {
                    // SAFETY: as above.
                    unsafe { push_blocking(slot, event(20 + n)) };
                }
                true
            })
        };

        // Drain until A's events are in and its slot recycled, and B's
        // events are in or B gave up.
        let mut got = Vec::new();
        let mut recycles = 0;
        while !(recycles == 1 && (got.len() == 2 * PER_THREAD || gave_up.load(Relaxed))) {
            drain_round(&registry, &mut got, |got| {
                recycles += 1;
                popped_at_recycle.store(got.len(), Relaxed);
            });
            spin();
        }
        a.join().unwrap();
        let reused = b.join().unwrap();
        SAW_REUSE.fetch_or(reused, Relaxed);
        if reused {
            assert_eq!(got, [11, 12, 21, 22]);
        } else {
            assert_eq!(got, [11, 12]);
        }
        assert_eq!(recycles, 1);
        assert_eq!(registry.len(), 1, "B built a slot");
    });
    assert!(SAW_REUSE.load(Relaxed), "no execution had B reuse A's slot");
}

/// The dropped-events counter across two owners of one slot. A counts 1 then
/// 2 dropped events and releases; the drainer, on seeing EXITED, must read
/// the final 3, then recycles; B claims the slot (if it gets it in time),
/// counts 4 and releases; the drainer must then read 7 (B's load of the
/// counter saw A's final count). Every read in between is one of the values
/// the owners stored, never decreasing.
#[test]
fn dropped_counter() {
    static SAW_REUSE: AtomicBool = AtomicBool::new(false);
    loom::model(|| {
        let registry = Arc::new(TestRegistry::new(2));
        registry.insert_new();
        let gave_up = Arc::new(loom::sync::atomic::AtomicBool::new(false));
        let a = {
            let registry = registry.clone();
            thread::spawn(move || {
                // The main thread built the slot; spawning hands it to this thread.
                let slot = registry.iter().next().unwrap();
                slot.add_dropped(1);
                slot.add_dropped(2);
                // SAFETY: this thread owns the slot and does not touch it again.
                unsafe { slot.release() };
            })
        };
        let b = {
            let (registry, gave_up) = (registry.clone(), gave_up.clone());
            thread::spawn(move || {
                let Some(slot) = claim_bounded(&registry) else {
                    gave_up.store(true, Relaxed);
                    return false;
                };
                slot.add_dropped(4);
                // SAFETY: this thread owns the slot and does not touch it again.
                unsafe { slot.release() };
                true
            })
        };

        let slot = registry.iter().next().unwrap();
        let mut last = 0;
        let mut exits = 0;
        loop {
            let state = slot.state();
            let dropped = slot.dropped();
            assert!([0, 1, 3, 7].contains(&dropped), "read {dropped}");
            assert!(dropped >= last, "read {dropped} after {last}");
            last = dropped;
            if state == EXITED {
                exits += 1;
                assert_eq!(dropped, if exits == 1 { 3 } else { 7 }, "count not final at EXITED");
                if exits == 2 {
                    break;
                }
                // SAFETY: this thread is the only drainer, and saw the slot EXITED.
                unsafe { slot.recycle() };
            } else if exits == 1 && gave_up.load(Relaxed) {
                break;
            }
            spin();
        }
        a.join().unwrap();
        SAW_REUSE.fetch_or(b.join().unwrap(), Relaxed);
    });
    assert!(SAW_REUSE.load(Relaxed), "no execution had B reuse A's slot");
}

/// A Lost event names its owner. The slot last belonged to thread 1 and is
/// FREE; thread 2 claims it, fills its ring (capacity 2) and drops a third
/// event, as `push_full` does under `OnFull::Drop`. A drainer round that
/// reads a non-zero drop count writes a Lost event for `slot.thread()`, even
/// when its pop comes back empty: that id must be 2, never the previous
/// owner's. (With a Relaxed drop count, as before the Release/Acquire pair in
/// `add_dropped`/`dropped`, this model fails.)
#[test]
fn dropped_names_owner() {
    loom::model(|| {
        let registry = Arc::new(TestRegistry::new(2));
        {
            let slot = registry.insert_new();
            slot.set_thread(1);
            // SAFETY: this thread owns the new slot and gives it up once; no
            // drainer runs yet, so it is the consumer too, and saw it EXITED.
            unsafe {
                slot.release();
                slot.recycle();
            }
        }
        let owner = {
            let registry = registry.clone();
            thread::spawn(move || {
                let slot = registry.claim(0).expect("the slot is FREE");
                slot.set_thread(2);
                for n in 1..=2 {
                    // SAFETY: this thread claimed the slot, so it owns it.
                    unsafe { push_blocking(slot, event(20 + n)) };
                }
                // SAFETY: as above.
                if !unsafe { slot.ring.push(event(23)) } {
                    slot.add_dropped(1);
                }
            })
        };
        // The drainer runs on a thread of its own (not this one, which set
        // thread 1 and would yield to let the owner start: loom returns no
        // value a thread saw before its last yield, hiding the stale read).
        let drainer = {
            let registry = registry.clone();
            thread::spawn(move || {
                let drain = |slot: &Slot, _, dropped| {
                    let mut batch = Vec::new();
                    // SAFETY: this thread is the only drainer, so the ring's only consumer.
                    unsafe { slot.ring.pop_into(&mut batch, usize::MAX) };
                    if dropped > 0 {
                        assert_eq!(slot.thread(), 2, "Lost event attributed to a previous owner (popped {})", batch.len());
                    }
                };
                // SAFETY: as above; `drain` empties the ring.
                unsafe { registry.drain_pass(drain) };
            })
        };
        owner.join().unwrap();
        drainer.join().unwrap();
    });
}

/// Item 2 of issue 9: a thread (OS id 7) that exited without releasing its
/// slot (an allocation in glibc's last destructor round). The drainer
/// reclaims the slot (`Registry::reclaim_dead`, as its round does every
/// 20 ms), drains and recycles it; a new thread (OS id 8) registers with
/// `Registry::claim_or_wait`, which also reclaims and waits for the recycle;
/// a third thread runs a reclaim at the same time (a registration that read
/// the slot's word before it changed hands). The new thread may get the old
/// slot only after its last event was drained, and a stale reclaim must
/// never take the slot from its new, live owner (the CAS is on the whole
/// word: state, owner's id, claim generation).
#[test]
fn reclaim_dead_owner() {
    static REUSED: AtomicBool = AtomicBool::new(false);
    loom::model(|| {
        let registry = Arc::new(TestRegistry::new(2));
        let old = {
            let slot = registry.insert_owned(7);
            slot.set_thread(7);
            // SAFETY: this thread built the slot and plays its owner, 7, which
            // is gone from here on.
            unsafe { push_blocking(slot, event(71)) };
            addr(slot)
        };
        let alive = |tid: u32| tid != 7;
        let stale = {
            let registry = registry.clone();
            // SAFETY: `alive` says false only for thread 7, which never runs again.
            thread::spawn(move || unsafe { registry.reclaim_dead(alive) })
        };
        let drainer = {
            let registry = registry.clone();
            thread::spawn(move || {
                // SAFETY: as above.
                unsafe { registry.reclaim_dead(alive) };
                let mut got = Vec::new();
                drain_round(&registry, &mut got, |got| assert_eq!(got, [71], "recycled before the dead owner's event was drained"));
                got
            })
        };
        let new = {
            let registry = registry.clone();
            thread::spawn(move || {
                // SAFETY: as above.
                let slot = unsafe {
                    registry.claim_or_wait(8, alive, |tries| {
                        spin();
                        tries < 1
                    })
                }?;
                slot.set_thread(8);
                // SAFETY: this thread claimed the slot, so it owns it.
                assert_eq!(unsafe { slot.ring.refresh_len() }, 0, "claimed a ring that still holds events");
                // SAFETY: as above.
                unsafe { push_blocking(slot, event(81)) };
                Some(addr(slot))
            })
        };
        stale.join().unwrap();
        let mut got = drainer.join().unwrap();
        let new = new.join().unwrap();
        if new == Some(old) {
            REUSED.store(true, Relaxed);
            let slot = registry.iter().find(|s| addr(s) == old).unwrap();
            assert_eq!(slot.owner().map(|(tid, _)| tid), Some(8), "a reclaim took the slot from its live owner");
        }
        drain_round(&registry, &mut got, |_| {});
        got.sort_unstable();
        let want: &[u64] = if new.is_some() { &[71, 81] } else { &[71] };
        assert_eq!(got, want);
    });
    assert!(REUSED.load(Relaxed), "no execution had the new thread reuse the dead thread's slot");
}
