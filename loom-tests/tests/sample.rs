//! Loom model of the sampled-address set (`memscope::record::sample`), as it
//! ships: concurrent inserts and removals of different addresses in one
//! bucket, a removal on another thread than the insert (ordered by the
//! program's own hand-over, as a pointer passed between threads is), and a
//! bucket filled by two racing inserts.
#![cfg(loom)]

use loom::sync::atomic::{AtomicBool, AtomicU64};
use loom::sync::Arc;
use loom::thread;
use memscope::record::sample::{AddressSet, BUCKET};
use std::sync::atomic::Ordering::{Acquire, Release};

fn cells(n: usize) -> Arc<Vec<AtomicU64>> {
    Arc::new((0..n).map(|_| AtomicU64::new(0)).collect())
}

/// One thread inserts `a` and hands it to a second, which removes it, while
/// a third inserts and removes `c` in the same bucket (a one-bucket table):
/// both removals find their address, and the set ends empty.
#[test]
fn removal_on_another_thread_finds_the_address() {
    loom::model(|| {
        let table = cells(BUCKET);
        let handed = Arc::new(AtomicBool::new(false));
        let (t1, h1) = (table.clone(), handed.clone());
        let inserter = thread::spawn(move || {
            assert!(AddressSet::new(&t1).insert(0x1000));
            // The program passes the pointer on (Release), as a channel would.
            h1.store(true, Release);
        });
        let (t2, h2) = (table.clone(), handed.clone());
        let remover = thread::spawn(move || {
            if h2.load(Acquire) {
                assert!(AddressSet::new(&t2).remove(0x1000), "a sampled block freed on another thread is found");
                true
            } else {
                false
            }
        });
        let t3 = table.clone();
        let other = thread::spawn(move || {
            let set = AddressSet::new(&t3);
            assert!(set.insert(0x2000));
            assert!(set.remove(0x2000));
            assert!(!set.remove(0x2000), "removed once");
        });
        inserter.join().unwrap();
        let removed = remover.join().unwrap();
        other.join().unwrap();
        let set = AddressSet::new(&table);
        assert_eq!(set.count(), usize::from(!removed));
        if !removed {
            assert!(set.remove(0x1000));
        }
        assert_eq!(set.count(), 0);
    });
}

/// Seven cells taken, two threads insert: exactly one finds the last free
/// cell (the other is told its bucket is full), and the set holds it.
#[test]
fn racing_inserts_into_the_last_cell() {
    loom::model(|| {
        let table = cells(BUCKET);
        let set = AddressSet::new(&table);
        for i in 1..BUCKET as u64 {
            assert!(set.insert(i * 0x10));
        }
        let spawn = |addr: u64| {
            let t = table.clone();
            thread::spawn(move || AddressSet::new(&t).insert(addr))
        };
        let (a, b) = (spawn(0xA00), spawn(0xB00));
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        assert!(a ^ b, "exactly one insert wins the last cell: {a} {b}");
        let set = AddressSet::new(&table);
        assert_eq!(set.count(), BUCKET);
        assert!(set.remove(if a { 0xA00 } else { 0xB00 }));
        assert!(!set.insert(0xC00) || set.remove(0xC00));
    });
}
