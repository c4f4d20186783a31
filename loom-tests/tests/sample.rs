//! Loom model of the sampled-address set (`memscope::record::sample`), as it
//! ships: concurrent inserts and removals of different addresses in one
//! bucket, a removal on another thread than the insert (ordered by the
//! program's own hand-over, as a pointer passed between threads is), and a
//! bucket filled by two racing inserts, and addresses of two buckets that
//! share one group count.
#![cfg(loom)]

use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicU8};
use loom::sync::Arc;
use loom::thread;
use memscope::record::sample::{bucket_of, groups, AddressSet, BUCKET, GROUP};
use std::sync::atomic::Ordering::{Acquire, Release};

/// A table of `n` cells and its group counts.
struct Table(Vec<AtomicU64>, Vec<AtomicU8>);

impl Table {
    fn set(&self) -> AddressSet<'_> {
        AddressSet::new(&self.0, &self.1)
    }
}

fn cells(n: usize) -> Arc<Table> {
    Arc::new(Table((0..n).map(|_| AtomicU64::new(0)).collect(), (0..groups(n)).map(|_| AtomicU8::new(0)).collect()))
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
            assert!(t1.set().insert(0x1000));
            // The program passes the pointer on (Release), as a channel would.
            h1.store(true, Release);
        });
        let (t2, h2) = (table.clone(), handed.clone());
        let remover = thread::spawn(move || {
            if h2.load(Acquire) {
                let set = t2.set();
                assert!(set.may_hold(0x1000), "the bucket's count says it may be there");
                assert!(set.remove(0x1000), "a sampled block freed on another thread is found");
                true
            } else {
                false
            }
        });
        let t3 = table.clone();
        let other = thread::spawn(move || {
            let set = t3.set();
            assert!(set.insert(0x2000));
            assert!(set.remove(0x2000));
            assert!(!set.remove(0x2000), "removed once");
        });
        inserter.join().unwrap();
        let removed = remover.join().unwrap();
        other.join().unwrap();
        let set = table.set();
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
        let set = table.set();
        for i in 1..BUCKET as u64 {
            assert!(set.insert(i * 0x10));
        }
        let spawn = |addr: u64| {
            let t = table.clone();
            thread::spawn(move || t.set().insert(addr))
        };
        let (a, b) = (spawn(0xA00), spawn(0xB00));
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        assert!(a ^ b, "exactly one insert wins the last cell: {a} {b}");
        let set = table.set();
        assert_eq!(set.count(), BUCKET);
        assert!(set.remove(if a { 0xA00 } else { 0xB00 }));
        assert!(!set.insert(0xC00) || set.remove(0xC00));
    });
}

/// An address (16-byte aligned) in bucket `b` of a table of `buckets` buckets.
fn address_in(buckets: usize, b: usize) -> u64 {
    (1u64..).map(|i| i * 16).find(|&a| bucket_of(a, buckets) == b).unwrap()
}

/// Two buckets of one group (a two-bucket table: one count byte): one
/// thread inserts `a` and hands it to a second, which removes it, while a
/// third inserts and removes `c` in the other bucket. The shared count never
/// reads 0 while `a` is in the set, and ends at 0.
#[test]
fn two_buckets_share_a_group_count() {
    assert!(GROUP >= 2);
    loom::model(|| {
        let table = cells(2 * BUCKET);
        assert_eq!(table.1.len(), 1);
        let (a, c) = (address_in(2, 0), address_in(2, 1));
        let handed = Arc::new(AtomicBool::new(false));
        let (t1, h1) = (table.clone(), handed.clone());
        let inserter = thread::spawn(move || {
            assert!(t1.set().insert(a));
            h1.store(true, Release);
        });
        let (t2, h2) = (table.clone(), handed.clone());
        let remover = thread::spawn(move || {
            if h2.load(Acquire) {
                let set = t2.set();
                assert!(set.may_hold(a), "the group's count says a may be there");
                assert!(set.remove(a));
                true
            } else {
                false
            }
        });
        let t3 = table.clone();
        let other = thread::spawn(move || {
            let set = t3.set();
            assert!(set.insert(c));
            assert!(set.may_hold(c));
            assert!(set.remove(c));
        });
        inserter.join().unwrap();
        let removed = remover.join().unwrap();
        other.join().unwrap();
        let set = table.set();
        if !removed {
            assert!(set.may_hold(a));
            assert!(set.remove(a));
        }
        assert_eq!(set.count(), 0);
        assert!(!set.may_hold(a) && !set.may_hold(c), "the shared count is back to 0");
    });
}
