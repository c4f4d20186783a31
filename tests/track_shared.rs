//! `Rc` and `Arc` under `track_var!` and `track_clone!`: the strong and weak
//! counts recorded equal `Rc::strong_count`/`weak_count` at each call, a
//! clone is linked to its source, variables on one allocation list each
//! other in `shared_with`, the allocation lives until the last strong *and*
//! weak reference goes, and a deep clone (`Vec`) links to its source but
//! owns a different allocation.
//!
//! `record_*` tests read the file with the raw reader (the record side);
//! `replay_*` tests read the replay's JSON (`variables`, json-v2).

mod common;

use common::track::{
    array, assert_raw_var, document, ids, metered, num, opt_num, os_tid, raw_track, record, scenario, text, timed, Here, MeterAlloc, Window,
};
use memscope::format::{SITE_CLONE, SITE_VAR};
use memscope::TrackingAllocator;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

#[global_allocator]
static A: TrackingAllocator<MeterAlloc> = TrackingAllocator::new(MeterAlloc::new());

/// One tracking call the test made: its site, when, on which thread, the
/// address the value reports and the counts `Rc`/`Arc` gave right after.
#[derive(Debug, Clone)]
struct Call {
    here: Here,
    when: Window,
    os_tid: u64,
    /// The value's heap allocations as it reports them: address and bytes
    /// (for an `Rc`/`Arc`: its allocation's start and size, the counts and
    /// the value, then the value's own allocations).
    regions: Vec<(u64, u64)>,
    counts: Option<(u64, u64)>,
    /// `track_clone!`: the source's address.
    source: Option<u64>,
}

struct Shared {
    path: PathBuf,
    // An Rc<String>: tracked, cloned with track_clone!, cloned and tracked at another site.
    rc_var: Call,
    rc_clone: Call,
    rc_copy2: Call,
    /// The Rc's allocation: (start, bytes), from the meter and `as_ptr`.
    rc_alloc: (u64, u64),
    rc_allocated: Window,
    /// Dropping the last strong reference: the String's buffer goes, the Rc's allocation stays.
    rc_strong_gone: Window,
    /// Dropping the Weak: the Rc's allocation goes.
    rc_weak_gone: Window,
    // An Arc tracked twice at one site.
    retracked: [Call; 2],
    // An Arc shared with a thread that clones it there.
    arc_var: Call,
    arc_thread_clone: Call,
    arc_freed: Window,
    // A deep clone.
    original: Call,
    deep: Call,
    deep_bytes: u64,
    // A clone of a value never tracked.
    untracked_clone: Call,
}

fn counts_rc<T>(rc: &Rc<T>) -> Option<(u64, u64)> {
    Some((Rc::strong_count(rc) as u64, Rc::weak_count(rc) as u64))
}

fn counts_arc<T>(arc: &Arc<T>) -> Option<(u64, u64)> {
    Some((Arc::strong_count(arc) as u64, Arc::weak_count(arc) as u64))
}

fn shared() -> &'static Shared {
    static S: OnceLock<Shared> = OnceLock::new();
    scenario(&S, || {
        let main = os_tid();
        let (path, shared) = record("track_shared", || {
            // Rc<String>.
            let s = String::from("x");
            let ((shared, t), rc_allocated) = timed(|| metered(|| Rc::new(s)));
            assert_eq!(t.allocs, 1, "the Rc's own allocation");
            let rc_value = Rc::as_ptr(&shared) as u64;
            // The value sits after the two counts.
            let rc_alloc = (rc_value - 2 * std::mem::size_of::<usize>() as u64, t.alloc_bytes);
            assert_eq!(rc_alloc.1, 40, "two counts and a String");
            let rc_regions = vec![rc_alloc, (shared.as_ptr() as u64, 1)];
            let (here, when) = timed(|| track_here!(shared));
            let rc_var = Call { here, when, os_tid: main, regions: rc_regions.clone(), counts: counts_rc(&shared), source: None };
            let weak = Rc::downgrade(&shared);
            let ((copy, here), when) = timed(|| clone_here!(shared));
            let rc_clone =
                Call { here, when, os_tid: main, regions: rc_regions.clone(), counts: counts_rc(&copy), source: Some(rc_alloc.0) };
            let copy2 = Rc::clone(&shared);
            let (here, when) = timed(|| track_here!(copy2));
            let rc_copy2 = Call { here, when, os_tid: main, regions: rc_regions, counts: counts_rc(&copy2), source: None };
            assert_eq!((rc_var.counts, rc_clone.counts, rc_copy2.counts), (Some((1, 0)), Some((2, 1)), Some((3, 1))));
            drop((shared, copy));
            let ((), rc_strong_gone) = timed(|| drop(copy2));
            assert!(weak.upgrade().is_none());
            let ((), rc_weak_gone) = timed(|| drop(weak));

            // One site tracking one Arc twice.
            let arc = Arc::new(5u64);
            let mut clones = Vec::with_capacity(2);
            let mut calls = Vec::with_capacity(2);
            for _ in 0..2 {
                let (here, when) = timed(|| track_here!(arc));
                calls.push(Call {
                    here,
                    when,
                    os_tid: main,
                    regions: vec![(Arc::as_ptr(&arc) as u64 - 16, 24)],
                    counts: counts_arc(&arc),
                    source: None,
                });
                clones.push(Arc::clone(&arc));
            }
            let retracked: [Call; 2] = calls.try_into().expect("two calls");
            assert_eq!((retracked[0].counts, retracked[1].counts), (Some((1, 0)), Some((2, 0))));
            drop((arc, clones));

            // An Arc shared with a thread, cloned with track_clone! there.
            let config = Arc::new(vec![1u32; 100]);
            let config_ptr = Arc::as_ptr(&config) as u64 - 16;
            let config_regions = vec![(config_ptr, 40), (config.as_ptr() as u64, 400)];
            let (here, when) = timed(|| track_here!(config));
            let arc_var = Call { here, when, os_tid: main, regions: config_regions.clone(), counts: counts_arc(&config), source: None };
            let for_thread = Arc::clone(&config);
            let arc_thread_clone = std::thread::spawn(move || {
                let ((mine, here), when) = timed(|| clone_here!(for_thread));
                let counts = counts_arc(&mine);
                Call { here, when, os_tid: os_tid(), regions: config_regions, counts, source: Some(Arc::as_ptr(&for_thread) as u64 - 16) }
            })
            .join()
            .expect("thread");
            assert_eq!((arc_var.counts, arc_thread_clone.counts), (Some((1, 0)), Some((3, 0))));
            let ((), arc_freed) = timed(|| drop(config));

            // A deep clone: a Vec.
            let original = vec![1u64; 64];
            let (here, when) = timed(|| track_here!(original));
            let orig = Call { here, when, os_tid: main, regions: vec![(original.as_ptr() as u64, 512)], counts: None, source: None };
            let (((deep, here), t), when) = timed(|| metered(|| clone_here!(original)));
            assert_eq!(t.allocs, 1, "the clone's buffer");
            let deep_call = Call {
                here,
                when,
                os_tid: main,
                regions: vec![(deep.as_ptr() as u64, 512)],
                counts: None,
                source: Some(original.as_ptr() as u64),
            };
            let deep_bytes = t.alloc_bytes;
            drop((original, deep));

            // A clone of a value never tracked.
            let untracked = vec![2u8; 10];
            let ((c, here), when) = timed(|| clone_here!(untracked));
            let untracked_clone = Call {
                here,
                when,
                os_tid: main,
                regions: vec![(c.as_ptr() as u64, 10)],
                counts: None,
                source: Some(untracked.as_ptr() as u64),
            };
            drop((untracked, c));

            Shared {
                path: PathBuf::new(),
                rc_var,
                rc_clone,
                rc_copy2,
                rc_alloc,
                rc_allocated,
                rc_strong_gone,
                rc_weak_gone,
                retracked,
                arc_var,
                arc_thread_clone,
                arc_freed,
                original: orig,
                deep: deep_call,
                deep_bytes,
                untracked_clone,
            }
        });
        Shared { path, ..shared }
    })
}

#[test]
fn record_counts_and_clone_sources_are_the_observed_ones() {
    let s = shared();
    let t = raw_track(&s.path);
    assert!(t.finished && t.damage == 0);
    let check = |call: &Call, kind: u8| {
        let found = t.vars_at(&call.here);
        let v =
            found.iter().find(|v| call.when.from - t.epoch <= v.ts_ns && v.ts_ns <= call.when.to - t.epoch).expect("the call's Var event");
        assert_raw_var(&t, v, &call.here, kind, call.os_tid, &call.when, &call.regions);
        assert_eq!(v.shared, call.counts, "counts of {}", call.here.name);
        assert_eq!(v.clone_of, call.source, "clone source of {}", call.here.name);
    };
    for c in [&s.rc_var, &s.rc_copy2, &s.arc_var, &s.original, &s.retracked[0], &s.retracked[1]] {
        check(c, SITE_VAR);
    }
    for c in [&s.rc_clone, &s.arc_thread_clone, &s.deep, &s.untracked_clone] {
        check(c, SITE_CLONE);
    }
    assert_eq!(t.vars_at(&s.retracked[0].here).len(), 2, "two Var events from the one site");
    assert_eq!(s.rc_clone.here.name, "shared");
    assert_eq!(s.rc_clone.here.type_name, "alloc::rc::Rc<alloc::string::String>");
    assert_eq!(s.arc_thread_clone.here.type_name, "alloc::sync::Arc<alloc::vec::Vec<u32>>");
    assert_eq!(t.vars.len(), 10);
}

/// The one variable of a call's site.
#[track_caller]
fn var<'a>(doc: &'a common::track::Doc, call: &Call) -> &'a serde_json::Value {
    let v = doc.var(&call.here);
    assert_eq!(num(v, "thread"), doc.thread_of(call.os_tid), "thread of {}", call.here.name);
    v
}

#[test]
fn replay_rc_counts_clones_and_sharing() {
    let s = shared();
    let doc = document(&s.path);
    let epoch = doc.epoch();
    let (rc, clone, copy2) = (var(&doc, &s.rc_var), var(&doc, &s.rc_clone), var(&doc, &s.rc_copy2));
    let (rc_id, clone_id, copy2_id) = (num(rc, "id"), num(clone, "id"), num(copy2, "id"));
    for (v, call, origin) in [(rc, &s.rc_var, "var"), (clone, &s.rc_clone, "clone"), (copy2, &s.rc_copy2, "var")] {
        let name = call.here.name;
        assert_eq!(text(v, "origin"), origin, "{name}");
        call.when.assert_holds(epoch, num(v, "tracked_at_ns"), "tracked_at_ns");
        assert_eq!(
            (opt_num(v, "strong"), opt_num(v, "weak")),
            call.counts.map_or((None, None), |(a, b)| (Some(a), Some(b))),
            "counts of {name}"
        );
        // All three name the Rc's allocation (its start, its size) and the String's.
        let allocs = array(v, "allocations");
        assert_eq!(allocs.len(), 2, "{name}");
        assert_eq!((num(&allocs[0], "ptr"), num(&allocs[0], "size")), s.rc_alloc, "the Rc's allocation for {name}");
        s.rc_allocated.assert_holds(epoch, num(&allocs[0], "allocated_at_ns"), "allocated_at_ns");
        assert_eq!(num(&allocs[1], "size"), 1, "the String's buffer for {name}");
        assert_eq!(num(v, "size"), s.rc_alloc.1 + 1, "size of {name}");
        // Freed when the Weak went, not when the last strong reference did.
        assert_eq!(text(v, "state"), "freed", "{name}");
        let freed = num(v, "freed_at_ns");
        s.rc_weak_gone.assert_holds(epoch, freed, &format!("freed_at_ns of {name}"));
        assert!(freed > s.rc_strong_gone.to - epoch, "{name} outlived its last strong reference");
        assert_eq!(num(v, "retracked"), 0, "{name}");
    }
    assert_eq!(opt_num(clone, "clone_of"), Some(rc_id), "the clone's source");
    assert_eq!((opt_num(rc, "clone_of"), opt_num(copy2, "clone_of")), (None, None));
    let sorted = |mut v: Vec<u64>| {
        v.sort_unstable();
        v
    };
    assert_eq!(ids(rc, "shared_with"), sorted(vec![clone_id, copy2_id]));
    assert_eq!(ids(clone, "shared_with"), sorted(vec![rc_id, copy2_id]));
    assert_eq!(ids(copy2, "shared_with"), sorted(vec![rc_id, clone_id]));
}

#[test]
fn replay_same_site_twice_is_one_variable_with_the_latest_counts() {
    let s = shared();
    let doc = document(&s.path);
    let found = doc.vars_at(&s.retracked[0].here);
    assert_eq!(found.len(), 1, "one variable for one site on one allocation");
    let v = found[0];
    assert_eq!(num(v, "retracked"), 1);
    assert_eq!((opt_num(v, "strong"), opt_num(v, "weak")), (Some(2), Some(0)), "the latest counts observed");
    s.retracked[0].when.assert_holds(doc.epoch(), num(v, "tracked_at_ns"), "tracked at the first call");
    assert_eq!(text(v, "type"), "alloc::sync::Arc<u64>");
    assert!(doc.count("retracked") >= 1);
}

#[test]
fn replay_arc_clone_on_another_thread() {
    let s = shared();
    let doc = document(&s.path);
    let cfg = var(&doc, &s.arc_var);
    let theirs = var(&doc, &s.arc_thread_clone);
    assert_ne!(num(cfg, "thread"), num(theirs, "thread"));
    assert_eq!(opt_num(theirs, "clone_of"), Some(num(cfg, "id")));
    assert_eq!(text(theirs, "origin"), "clone");
    assert_eq!(text(theirs, "name"), "for_thread (clone 1)");
    assert_eq!((opt_num(cfg, "strong"), opt_num(theirs, "strong")), (Some(1), Some(3)));
    assert_eq!((opt_num(cfg, "weak"), opt_num(theirs, "weak")), (Some(0), Some(0)));
    assert_eq!(ids(cfg, "shared_with"), vec![num(theirs, "id")]);
    assert_eq!(ids(theirs, "shared_with"), vec![num(cfg, "id")]);
    // The Arc's allocation went with the last reference, dropped on the main thread.
    for v in [cfg, theirs] {
        assert_eq!(text(v, "state"), "freed");
        s.arc_freed.assert_holds(doc.epoch(), num(v, "freed_at_ns"), "freed_at_ns of the Arc");
    }
}

#[test]
fn replay_deep_clone_links_its_source_but_owns_another_allocation() {
    let s = shared();
    let doc = document(&s.path);
    let orig = var(&doc, &s.original);
    let deep = var(&doc, &s.deep);
    assert_eq!(s.deep_bytes, 512);
    assert_eq!(opt_num(deep, "clone_of"), Some(num(orig, "id")));
    assert_eq!((text(orig, "origin"), text(deep, "origin")), ("var", "clone"));
    assert_eq!(text(deep, "name"), "original (clone 1)", "a clone is named by its source expression and its index");
    assert_eq!(num(&array(orig, "allocations")[0], "ptr"), s.original.regions[0].0);
    assert_eq!(num(&array(deep, "allocations")[0], "ptr"), s.deep.regions[0].0);
    assert_ne!(s.original.regions[0].0, s.deep.regions[0].0);
    assert_eq!((num(orig, "size"), num(deep, "size")), (512, 512));
    assert!(array(orig, "shared_with").is_empty() && array(deep, "shared_with").is_empty(), "different allocations");
    assert_eq!((opt_num(orig, "strong"), opt_num(deep, "strong")), (None, None));

    // A clone of a value nobody tracked: no source, and a note saying so.
    let c = var(&doc, &s.untracked_clone);
    assert_eq!(text(c, "origin"), "clone");
    assert_eq!(opt_num(c, "clone_of"), None);
    assert!(!array(c, "notes").is_empty(), "a note on the untracked source: {c}");
    assert_eq!((text(c, "state"), num(c, "size")), ("freed", 10));
}

// ---------------------------------------------------------------------------
// `track_clone!` of a borrowed `Arc` (as in a `thread::scope` worker, or a
// function taking `&Arc<T>`): `source.clone()` there is a new `Arc`, and so
// must the macro's clone be.
//
// Before 80f9b13 the macro called `Clone::clone(&source)`, which for
// `source: &Arc<T>` copied the reference (type `&Arc<T>`, strong count
// unchanged); it now uses method-call syntax, as `source.clone()` does.

struct Borrowed {
    path: PathBuf,
    config: Call,
    clone: Call,
    /// `Arc::strong_count` right after the clone.
    strong_after: u64,
}

/// Drops a value of any type (a reference too, without a lint).
fn release<T>(_: T) {}

fn borrowed() -> &'static Borrowed {
    static S: OnceLock<Borrowed> = OnceLock::new();
    scenario(&S, || {
        let main = os_tid();
        let (path, b) = record("track_shared_borrowed", || {
            let config = Arc::new(vec![0u8; 8]);
            let ptr = Arc::as_ptr(&config) as u64 - 16;
            let regions = vec![(ptr, 40), (config.as_ptr() as u64, 8)];
            let (here, when) = timed(|| track_here!(config));
            let config_call = Call { here, when, os_tid: main, regions: regions.clone(), counts: counts_arc(&config), source: None };
            let borrowed = &config;
            let ((clone, here), when) = timed(|| clone_here!(borrowed));
            let strong_after = Arc::strong_count(&config) as u64;
            release(clone);
            let clone = Call { here, when, os_tid: main, regions, counts: Some((2, 0)), source: Some(ptr) };
            Borrowed { path: PathBuf::new(), config: config_call, clone, strong_after }
        });
        Borrowed { path, ..b }
    })
}

#[test]
fn record_track_clone_of_a_borrowed_arc_clones_the_arc() {
    let s = borrowed();
    assert_eq!(s.clone.here.type_name, "alloc::sync::Arc<alloc::vec::Vec<u8>>", "the clone is an Arc, not a copied reference");
    assert_eq!(s.strong_after, 2, "the clone is one more strong reference");
    let t = raw_track(&s.path);
    let v = t.var(&s.clone.here);
    assert_raw_var(&t, v, &s.clone.here, SITE_CLONE, s.clone.os_tid, &s.clone.when, &s.clone.regions);
    assert_eq!((v.shared, v.clone_of), (Some((2, 0)), Some(s.clone.regions[0].0)));
}

#[test]
fn replay_track_clone_of_a_borrowed_arc_links_a_new_reference() {
    let s = borrowed();
    let doc = document(&s.path);
    let (cfg, clone) = (var(&doc, &s.config), var(&doc, &s.clone));
    assert_eq!(text(clone, "type"), "alloc::sync::Arc<alloc::vec::Vec<u8>>");
    assert_eq!(opt_num(clone, "clone_of"), Some(num(cfg, "id")));
    assert_eq!((opt_num(cfg, "strong"), opt_num(clone, "strong")), (Some(1), Some(2)));
}
