//! Foreign memory: `libc::malloc` regions tracked with
//! `memscope::ffi::track_foreign` appear in the JSON's `foreign` list with
//! their label, size, thread and state, are released by `untrack_foreign`,
//! and stay out of the heap totals; one left tracked is a foreign leak; an
//! `untrack_foreign` of an address never tracked is counted. A `Box` handed
//! to "C" with `ffi::into_raw` (and an interior pointer with `handed_over`)
//! shows as a handoff on its tracked variable.
//!
//! `record_*` tests read the file with the raw reader (the record side);
//! `replay_*` tests read the replay's JSON (`foreign`, `variables`, json-v2).

mod common;

use common::track::{
    array, document, num, opt_num, os_tid, raw_track, record, scenario, text, timed, Here, MeterAlloc, RawForeign, Window,
};
use memscope::ffi;
use memscope::TrackingAllocator;
use std::path::PathBuf;
use std::sync::OnceLock;

#[global_allocator]
static A: TrackingAllocator<MeterAlloc> = TrackingAllocator::new(MeterAlloc::new());

const LABEL_BUF: &str = "libfoo buffer";
const LABEL_LEAK: &str = "left tracked: </script><b>\"ü\"</b> 🦀";
const LABEL_THREAD: &str = "thread buffer";
const LABEL_HANDOFF: &str = "passed to C";
const LABEL_INTERIOR: &str = "interior pointer to C";

/// A region the test took from `malloc` and tracked.
#[derive(Debug, Clone)]
struct Region {
    label: &'static str,
    ptr: u64,
    size: u64,
    os_tid: u64,
    tracked: Window,
    /// `None`: still tracked at the end.
    released: Option<Window>,
}

struct Foreign {
    path: PathBuf,
    regions: Vec<Region>,
    /// An address never tracked, released.
    unknown: (u64, Window),
    /// A Box tracked, handed to C with `into_raw`, taken back and dropped.
    boxed: Here,
    boxed_ptr: u64,
    handed: Window,
    taken_back: Window,
    /// A Vec tracked; a pointer into it handed over.
    v: Here,
    v_handed: Window,
    os_tid: u64,
}

fn malloc(size: usize) -> *mut libc::c_void {
    // SAFETY: malloc has no preconditions; the result is checked.
    let p = unsafe { libc::malloc(size) };
    assert!(!p.is_null(), "malloc({size})");
    p
}

fn foreign() -> &'static Foreign {
    static S: OnceLock<Foreign> = OnceLock::new();
    scenario(&S, || {
        let main = os_tid();
        let mut leaked = 0u64;
        let (path, f) = record("track_foreign", || {
            // Tracked, then released.
            let p = malloc(100);
            let ((), tracked) = timed(|| ffi::track_foreign(p, 100, LABEL_BUF));
            let ((), released) = timed(|| ffi::untrack_foreign(p));
            // SAFETY: `p` came from malloc and is freed once.
            unsafe { libc::free(p) };
            let buf = Region { label: LABEL_BUF, ptr: p as u64, size: 100, os_tid: main, tracked, released: Some(released) };

            // Left tracked: a foreign leak (freed after the recording).
            let q = malloc(48);
            let ((), tracked) = timed(|| ffi::track_foreign(q, 48, LABEL_LEAK));
            leaked = q as u64;
            let leak = Region { label: LABEL_LEAK, ptr: q as u64, size: 48, os_tid: main, tracked, released: None };

            // On another thread.
            let other = std::thread::spawn(|| {
                let r = malloc(32);
                let ((), tracked) = timed(|| ffi::track_foreign(r, 32, LABEL_THREAD));
                let ((), released) = timed(|| ffi::untrack_foreign(r));
                // SAFETY: `r` came from malloc and is freed once.
                unsafe { libc::free(r) };
                Region { label: LABEL_THREAD, ptr: r as u64, size: 32, os_tid: os_tid(), tracked, released: Some(released) }
            })
            .join()
            .expect("thread");

            // Released but never tracked.
            let nowhere = 0x7777_0000_0010u64;
            let ((), unknown) = timed(|| ffi::untrack_foreign(nowhere as *const u8));

            // A Box handed to C and taken back.
            let b = Box::new([7u8; 256]);
            let boxed_ptr = &*b as *const [u8; 256] as u64;
            let boxed = track_here!(b);
            let (raw, handed) = timed(|| ffi::into_raw(b, LABEL_HANDOFF));
            assert_eq!(raw as u64, boxed_ptr);
            // SAFETY: `raw` came from `Box::into_raw` and is taken back once.
            let ((), taken_back) = timed(|| drop(unsafe { Box::from_raw(raw) }));

            // A pointer into a Vec handed over.
            let v = vec![1u32; 10];
            let v_here = track_here!(v);
            let ((), v_handed) = timed(|| ffi::handed_over(v.as_ptr().wrapping_add(3), LABEL_INTERIOR));
            drop(v);

            Foreign {
                path: PathBuf::new(),
                regions: vec![buf, leak, other],
                unknown: (nowhere, unknown),
                boxed,
                boxed_ptr,
                handed,
                taken_back,
                v: v_here,
                v_handed,
                os_tid: main,
            }
        });
        // SAFETY: `leaked` came from malloc and is freed once, after the recording.
        unsafe { libc::free(leaked as *mut libc::c_void) };
        Foreign { path, ..f }
    })
}

#[test]
fn record_foreign_events_carry_labels_sizes_and_threads() {
    let s = foreign();
    let t = raw_track(&s.path);
    assert!(t.finished && t.damage == 0);
    let mut expected = Vec::new();
    for r in &s.regions {
        let thread = t.thread_of(r.os_tid);
        let alloc = t
            .foreign
            .iter()
            .find(|e| matches!(e, RawForeign::Alloc { ptr, label, .. } if *ptr == r.ptr && label == r.label))
            .unwrap_or_else(|| panic!("ForeignAlloc of {r:?}: {:#?}", t.foreign));
        let RawForeign::Alloc { thread: th, ts_ns, size, .. } = alloc else { unreachable!() };
        assert_eq!((*th, *size), (thread, r.size), "{}", r.label);
        r.tracked.assert_holds(t.epoch, *ts_ns, "ForeignAlloc");
        expected.push(alloc.clone());
        if let Some(w) = r.released {
            let free = t.foreign.iter().find(|e| matches!(e, RawForeign::Free { ptr, .. } if *ptr == r.ptr)).expect("ForeignFree");
            let RawForeign::Free { thread: th, ts_ns, .. } = free else { unreachable!() };
            assert_eq!(*th, thread);
            w.assert_holds(t.epoch, *ts_ns, "ForeignFree");
        }
    }
    let main = t.thread_of(s.os_tid);
    assert!(t.foreign.contains(&RawForeign::Free { thread: main, ts_ns: ts_of(&t, s.unknown.0), ptr: s.unknown.0 }));
    // Handoffs: the Box's own address, and the address inside the Vec.
    let handoffs: Vec<(u64, &str)> = t
        .foreign
        .iter()
        .filter_map(|e| match e {
            RawForeign::Handoff { ptr, label, .. } => Some((*ptr, label.as_str())),
            _ => None,
        })
        .collect();
    let v = t.var(&s.v);
    assert_eq!(handoffs, [(s.boxed_ptr, LABEL_HANDOFF), (v.regions[0].0 + 12, LABEL_INTERIOR)]);
    // 3 tracked, 2 released, 1 unknown release, 2 handoffs; no heap event of their own.
    assert_eq!(t.foreign.len(), 3 + 2 + 1 + 2);
}

fn ts_of(t: &common::track::RawTrack, ptr: u64) -> u64 {
    t.foreign
        .iter()
        .find_map(|e| match e {
            RawForeign::Free { ptr: p, ts_ns, .. } if *p == ptr => Some(*ts_ns),
            _ => None,
        })
        .expect("the release")
}

#[test]
fn replay_foreign_regions_labels_sizes_and_state() {
    let s = foreign();
    let doc = document(&s.path);
    let epoch = doc.epoch();
    let foreign = doc.foreign();
    assert_eq!(foreign.len(), 3, "{foreign:?}");
    for r in &s.regions {
        let f = foreign
            .iter()
            .find(|f| num(f, "ptr") == r.ptr && text(f, "label") == r.label)
            .unwrap_or_else(|| panic!("{r:?} in {foreign:?}"));
        assert_eq!(text(f, "ptr_hex"), common::track::hex(r.ptr));
        assert_eq!(num(f, "size"), r.size, "{}", r.label);
        assert_eq!(num(f, "thread"), doc.thread_of(r.os_tid), "{}", r.label);
        r.tracked.assert_holds(epoch, num(f, "tracked_at_ns"), "tracked_at_ns");
        match r.released {
            Some(w) => {
                assert_eq!(text(f, "state"), "released", "{}", r.label);
                w.assert_holds(epoch, num(f, "released_at_ns"), "released_at_ns");
            }
            None => {
                assert_eq!(text(f, "state"), "live", "{}", r.label);
                assert_eq!(opt_num(f, "released_at_ns"), None);
            }
        }
    }
    let tr = doc.tracking();
    assert_eq!(num(tr, "foreign_regions"), 3, "{tr}");
    assert_eq!((num(tr, "foreign_live_count"), num(tr, "foreign_live_bytes")), (1, 48), "{tr}");
    assert_eq!(num(tr, "unknown_foreign_releases"), 1, "{tr}");
    // Foreign memory is not in the heap: no leak at the leaked region's address.
    let leaked = s.regions[1].ptr;
    assert!(array(&doc.0, "largest_leaks").iter().all(|l| num(l, "ptr") != leaked), "a foreign region in the heap's leaks");
}

#[test]
fn replay_handoffs_mark_the_tracked_variables() {
    let s = foreign();
    let doc = document(&s.path);
    let epoch = doc.epoch();
    let main = doc.thread_of(s.os_tid);
    let b = doc.var(&s.boxed);
    let h = array(b, "handoffs");
    assert_eq!(h.len(), 1, "{b}");
    assert_eq!((text(&h[0], "label"), num(&h[0], "thread")), (LABEL_HANDOFF, main));
    s.handed.assert_holds(epoch, num(&h[0], "at_ns"), "handoff at_ns");
    // Taken back from C and dropped: freed then.
    assert_eq!(text(b, "state"), "freed");
    s.taken_back.assert_holds(epoch, num(b, "freed_at_ns"), "freed_at_ns of the Box");
    assert_eq!((num(b, "size"), num(&array(b, "allocations")[0], "ptr")), (256, s.boxed_ptr));
    // An interior pointer handed over marks the allocation containing it.
    let v = doc.var(&s.v);
    let h = array(v, "handoffs");
    assert_eq!(h.len(), 1, "{v}");
    assert_eq!(text(&h[0], "label"), LABEL_INTERIOR);
    s.v_handed.assert_holds(epoch, num(&h[0], "at_ns"), "handoff at_ns");
    let tr = doc.tracking();
    if tr.get("handoffs").is_some() {
        assert_eq!((num(tr, "handoffs"), num(tr, "unlinked_handoffs")), (2, 0), "{tr}");
    }
}
