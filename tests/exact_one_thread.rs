//! One thread's Vec/String/HashMap/Box work, with leaks: the replay's totals
//! equal an independent counter inside the tracker, call for call and byte
//! for byte, and what was leaked is exactly what replay reports live.

mod common;

use common::{assert_exact, counted, temp_path, CountingAlloc, Counts};
use memscope::TrackingAllocator;
use std::collections::HashMap;
use std::fmt::Write;
use std::hint::black_box;

#[global_allocator]
static A: TrackingAllocator<CountingAlloc> = TrackingAllocator::new(CountingAlloc::new());

#[test]
fn one_thread_totals_are_exact() {
    let path = temp_path("exact_one_thread");
    common::quiesce_harness();
    let rec = memscope::Recorder::new(&path).start().expect("start");

    let before = Counts::now();
    let (kept, leaked) = counted(|| {
        // Vec growth (reallocations), then a shrink to a boxed slice.
        let mut v = Vec::new();
        for i in 0..5000u64 {
            v.push(black_box(i));
        }
        let boxed = black_box(v).into_boxed_slice();

        // Strings: growth, clone, format!.
        let mut s = String::new();
        for i in 0..300 {
            write!(s, "{i},").unwrap();
        }
        let s2 = black_box(s.clone()) + &format!("{}", black_box(12345));
        drop(s);

        // A HashMap with owned values: table growth, removals, shrink.
        let mut m: HashMap<u32, String> = HashMap::new();
        for i in 0..1000 {
            m.insert(i, format!("value-{i}"));
        }
        m.retain(|k, _| k % 3 == 0);
        m.shrink_to_fit();
        black_box(&m);

        // Boxes of several sizes, all freed.
        let boxes: Vec<Box<[u8]>> = (1..200).map(|n| vec![n as u8; n * 7].into_boxed_slice()).collect();
        black_box(&boxes);
        drop(boxes);
        let big = Box::new([0x5Au8; 64 << 10]);
        drop(black_box(big));

        // Leaks: forgotten and leaked blocks, never freed.
        std::mem::forget(black_box(vec![3u8; 1000]));
        let leaked: &'static mut [u64; 64] = Box::leak(Box::new([1u64; 64]));
        // And blocks kept alive past `finish`.
        ((boxed, s2, m), leaked as *const _ as usize)
    });
    let c = Counts::now().since(&before);
    let written = rec.finish().expect("finish");

    // The work did what it says (so the equalities below are not vacuous).
    assert!(c.allocs > 1000 && c.reallocs > 20 && c.deallocs > 500, "too little work: {c:?}");
    let r = assert_exact(&path, &c, &written);
    common::assert_no_conflicts(&path, &r);
    // The kept blocks (slice, string, map table and its 334 strings) and the
    // two leaks are the live set; nothing else.
    assert_eq!(r.summary.live_count, 1 + 1 + 1 + 334 + 2, "live blocks");
    assert!(r.summary.live_bytes >= 5000 * 8 + 1000 + 64 * 8);
    assert_eq!(r.summary.threads, 1);

    drop(black_box(kept));
    black_box(leaked);
    let _ = std::fs::remove_file(&path);
}
