//! `track_scope!`: scopes nest per thread, and each scope node's totals
//! equal what a per-thread meter inside the tracker counted while the test's
//! code ran inside it (allocations, bytes, deallocations, peak and live
//! bytes); a scope left by a panic closes and counts as unwound; two
//! threads build two trees.
//!
//! Every instruction run inside a scope runs inside a `metered` window, so
//! the meter sees every allocator call the replay attributes to it.
//!
//! `record_*` tests read the file with the raw reader (the record side);
//! `replay_*` tests read the replay's JSON (`scopes`, json-v2).

mod common;

use common::monotonic_ns;
use common::track::{
    assert_scope_site, document, metered, num, opt_num, os_tid, raw_track, record, scenario, text, Doc, Here, MeterAlloc, RawTrack, Tally,
    Window,
};
use memscope::TrackingAllocator;
use serde_json::Value;
use std::collections::HashMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::{Barrier, OnceLock};

#[global_allocator]
static A: TrackingAllocator<MeterAlloc> = TrackingAllocator::new(MeterAlloc::new());

/// Allocation churn of a size that depends on `seed`: strings, a map, a
/// growing `Vec` (reallocations); everything is freed before it returns.
fn churn(seed: usize) {
    let mut words = Vec::new();
    for i in 0..(20 + seed * 7) {
        words.push(format!("word-{seed}-{i}"));
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for w in &words {
        *counts.entry(w.as_str()).or_default() += w.len();
    }
    black_box(&counts);
    drop(counts);
    drop(black_box(words));
}

/// Asserts a node's figures against the meter's: `all` while the node or a
/// descendant was the innermost scope, `own` while the node itself was.
#[track_caller]
fn assert_figures(node: &Value, all: &Tally, own: &Tally, live_bytes: u64) {
    let name = text(node, "name");
    assert_eq!(num(node, "allocations"), all.allocs, "allocations of {name}");
    assert_eq!(num(node, "allocated_bytes"), all.alloc_bytes, "allocated_bytes of {name}");
    assert_eq!(num(node, "self_allocations"), own.allocs, "self_allocations of {name}");
    assert_eq!(num(node, "self_allocated_bytes"), own.alloc_bytes, "self_allocated_bytes of {name}");
    assert_eq!(num(node, "deallocations"), all.deallocs, "deallocations of {name}");
    assert_eq!(num(node, "peak_live_bytes"), all.peak as u64, "peak_live_bytes of {name}");
    assert_eq!(num(node, "live_bytes"), live_bytes, "live_bytes of {name}");
    if node.get("reallocations").is_some() {
        assert_eq!(num(node, "reallocations"), all.reallocs, "reallocations of {name}");
    }
}

/// Asserts a node's place in its thread's tree and its entry counts.
#[track_caller]
fn assert_node(node: &Value, here: &Here, thread: u64, parent: Option<u64>, depth: u64, entries: u64, unwound: u64) {
    assert_scope_site(node, here);
    assert_eq!(num(node, "thread"), thread, "thread of {}", here.name);
    assert_eq!(opt_num(node, "parent"), parent, "parent of {}", here.name);
    assert_eq!(num(node, "depth"), depth, "depth of {}", here.name);
    assert_eq!(num(node, "entries"), entries, "entries of {}", here.name);
    assert_eq!(num(node, "unwound"), unwound, "unwound of {}", here.name);
    assert_eq!(num(node, "open_at_end"), 0, "open_at_end of {}", here.name);
}

/// Checks the scope events of `here`: `entries` enter/exit pairs on thread
/// `os_tid`, each exit after its enter, all inside `within`.
#[track_caller]
fn assert_raw_scope(t: &RawTrack, here: &Here, os_tid: u64, entries: usize, within: &Window, unwinding: bool) {
    let evs = t.scope_events(here);
    assert_eq!(evs.len(), 2 * entries, "enter and exit events of {here:?}: {evs:#?}");
    let thread = t.thread_of(os_tid);
    for pair in evs.chunks(2) {
        let (enter, exit) = (pair[0], pair[1]);
        common::track::assert_site(&enter.site, here, memscope::format::SITE_SCOPE);
        assert!(enter.enter && !exit.enter, "enter, then exit");
        assert_eq!((enter.thread, exit.thread), (thread, thread));
        assert!(enter.ts_ns <= exit.ts_ns);
        assert_eq!(exit.unwinding, unwinding, "unwinding flag of {}", here.name);
        within.assert_holds(t.epoch, enter.ts_ns, "scope enter");
        within.assert_holds(t.epoch, exit.ts_ns, "scope exit");
    }
}

// ---------------------------------------------------------------------------
// One thread: outer > (inner, churn ×3).

struct Tree {
    path: PathBuf,
    os_tid: u64,
    outer: (Here, Window),
    inner: (Here, Window),
    churn: (Here, Vec<Window>),
    /// Metered windows: outer before inner, inner, each churn entry, outer after.
    w1: Tally,
    w2: Tally,
    churns: Vec<Tally>,
    w4: Tally,
    /// The variable tracked inside `inner`, kept live past the end (64 bytes).
    leak_var: Here,
}

fn tree() -> &'static Tree {
    static S: OnceLock<Tree> = OnceLock::new();
    scenario(&S, || {
        let (path, (tree, leak)) = record("track_scopes", || {
            // Room made before the scopes: nothing allocates inside them
            // outside a metered window.
            let mut churns = Vec::with_capacity(3);
            let mut churn_windows = Vec::with_capacity(3);
            let outer_from = monotonic_ns();
            let (outer_guard, outer_here) = scope_here!("outer");
            let (keep, w1) = metered(|| {
                let keep = Vec::<u8>::with_capacity(100);
                drop(black_box(Vec::<u8>::with_capacity(50)));
                keep
            });
            let inner_from = monotonic_ns();
            let (inner_guard, inner_here) = scope_here!("inner");
            let (leak, w2) = metered(|| {
                let a = Vec::<u8>::with_capacity(1000);
                let b = Vec::<u8>::with_capacity(3000);
                drop(black_box(a));
                let c = Vec::<u8>::with_capacity(500);
                drop(black_box(b));
                drop(black_box(c));
                Vec::<u8>::with_capacity(64)
            });
            let leak_var = track_here!(leak);
            drop(inner_guard);
            let inner = (inner_here, Window { from: inner_from, to: monotonic_ns() });
            let mut churn_here = None;
            for round in 0..3 {
                let from = monotonic_ns();
                let (guard, here) = scope_here!("churn");
                let ((), t) = metered(|| churn(round));
                drop(guard);
                churn_windows.push(Window { from, to: monotonic_ns() });
                churns.push(t);
                churn_here = Some(here);
            }
            let ((), w4) = metered(|| {
                drop(black_box(Vec::<u8>::with_capacity(200)));
                drop(keep);
            });
            drop(outer_guard);
            let outer = (outer_here, Window { from: outer_from, to: monotonic_ns() });
            let churn = (churn_here.expect("three rounds"), churn_windows);
            (Tree { path: PathBuf::new(), os_tid: os_tid(), outer, inner, churn, w1, w2, churns, w4, leak_var }, leak)
        });
        drop(leak);
        Tree { path, ..tree }
    })
}

#[test]
fn record_scope_events_nest_in_push_order() {
    let s = tree();
    let t = raw_track(&s.path);
    assert!(t.finished && t.damage == 0);
    assert_raw_scope(&t, &s.outer.0, s.os_tid, 1, &s.outer.1, false);
    assert_raw_scope(&t, &s.inner.0, s.os_tid, 1, &s.inner.1, false);
    assert_raw_scope(&t, &s.churn.0, s.os_tid, 3, &s.outer.1, false);
    for (pair, w) in t.scope_events(&s.churn.0).chunks(2).zip(&s.churn.1) {
        w.assert_holds(t.epoch, pair[0].ts_ns, "churn enter");
        w.assert_holds(t.epoch, pair[1].ts_ns, "churn exit");
    }
    // The order on the thread: outer { inner { } churn { } ×3 }.
    let order: Vec<(bool, &str)> = t.scopes.iter().map(|e| (e.enter, e.site.name.as_str())).collect();
    let mut expected = vec![(true, "outer"), (true, "inner"), (false, "inner")];
    for _ in 0..3 {
        expected.extend([(true, "churn"), (false, "churn")]);
    }
    expected.push((false, "outer"));
    assert_eq!(order, expected);
    // The three churn entries share one site (one Site record).
    assert_eq!(t.site_records.iter().filter(|r| r.name == "churn").count(), 1);
    // The meter saw what the test did (so the totals below are not vacuous).
    assert_eq!((s.w1.allocs, s.w1.alloc_bytes, s.w1.deallocs, s.w1.peak, s.w1.end_live), (2, 150, 1, 150, 100));
    assert_eq!((s.w2.allocs, s.w2.alloc_bytes, s.w2.deallocs, s.w2.peak, s.w2.end_live), (4, 4564, 3, 4000, 64));
    assert!(s.churns.iter().all(|c| c.allocs > 20 && c.reallocs > 0 && c.end_live == 0), "{:?}", s.churns);
}

#[test]
fn replay_scope_tree_totals_equal_the_meter() {
    let s = tree();
    let doc = document(&s.path);
    let main = doc.thread_of(s.os_tid);
    let churn_all = s.churns.iter().copied().reduce(Tally::and).expect("three rounds");
    let churn_chain = s.churns.iter().copied().reduce(Tally::then).expect("three rounds");
    let outer_all = s.w1.then(s.w2).then(churn_chain).then(s.w4);
    let outer_own = s.w1.then(s.w4);

    let outer = doc.scope(main, "outer", None);
    let outer_id = num(outer, "id");
    assert_node(outer, &s.outer.0, main, None, 0, 1, 0);
    assert_figures(outer, &outer_all, &outer_own, 64);
    let inner = doc.scope(main, "inner", Some(outer_id));
    assert_node(inner, &s.inner.0, main, Some(outer_id), 1, 1, 0);
    assert_figures(inner, &s.w2, &s.w2, 64);
    let churn = doc.scope(main, "churn", Some(outer_id));
    assert_node(churn, &s.churn.0, main, Some(outer_id), 1, 3, 0);
    assert_figures(churn, &churn_all, &churn_all, 0);
    assert_eq!(doc.scopes_of(main).len(), 3, "{:?}", doc.scopes());
    assert_eq!(doc.scopes().len(), 3);
    for (i, node) in doc.scopes().iter().enumerate() {
        assert_eq!(num(node, "id"), i as u64, "ids are indexes");
    }

    // Durations: inside the windows the test timed, and nested ones inside outer's.
    let (outer_total, inner_total, churn_total) =
        (num(outer, "total_duration_ns"), num(inner, "total_duration_ns"), num(churn, "total_duration_ns"));
    assert!(outer_total <= s.outer.1.len_ns() && inner_total <= s.inner.1.len_ns(), "{outer_total} {inner_total}");
    assert!(churn_total <= s.churn.1.iter().map(Window::len_ns).sum::<u64>());
    assert!(inner_total + churn_total <= outer_total, "{inner_total} + {churn_total} > {outer_total}");
    assert_eq!(num(outer, "max_duration_ns"), outer_total, "one entry");
    let churn_max = num(churn, "max_duration_ns");
    assert!(churn_max <= churn_total && churn_max * 3 >= churn_total, "{churn_max} of {churn_total}");
    assert!(churn_max <= s.churn.1.iter().map(Window::len_ns).max().unwrap_or(0));

    // The variable tracked inside `inner` is in `inner`.
    let v = doc.var(&s.leak_var);
    assert_eq!(opt_num(v, "scope"), Some(num(inner, "id")));
    assert_eq!((text(v, "state"), num(v, "size")), ("live", 64));

    let tr = doc.tracking();
    assert_eq!((num(tr, "scope_entries"), num(tr, "unmatched_scope_exits"), num(tr, "scopes_open_at_end")), (5, 0, 0), "tracking: {tr}");
}

// ---------------------------------------------------------------------------
// A scope left by a panic.

struct Unwind {
    path: PathBuf,
    os_tid: u64,
    fails: Here,
    fails_inner: Here,
    after: Here,
    within: Window,
    /// The allocation made inside `fails` before the panic (128 bytes).
    before_panic: Tally,
}

fn unwind() -> &'static Unwind {
    static S: OnceLock<Unwind> = OnceLock::new();
    scenario(&S, || {
        let from = monotonic_ns();
        let (path, (fails, fails_inner, after, before_panic)) = record("track_scopes_unwind", || {
            let mut seen = None;
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let (_fails, fails) = scope_here!("fails");
                let (v, t) = metered(|| vec![0u8; 128]);
                let (_inner, fails_inner) = scope_here!("fails_inner");
                seen = Some((fails, fails_inner, t));
                if black_box(true) {
                    panic!("a panic inside two tracked scopes (expected by this test)");
                }
                drop(v);
            }));
            assert!(r.is_err(), "it panicked");
            let (guard, after) = scope_here!("after_panic");
            drop(guard);
            let (fails, fails_inner, t) = seen.expect("the closure ran");
            (fails, fails_inner, after, t)
        });
        Unwind { path, os_tid: os_tid(), fails, fails_inner, after, within: Window { from, to: monotonic_ns() }, before_panic }
    })
}

#[test]
fn record_unwinding_exits_are_flagged() {
    let s = unwind();
    let t = raw_track(&s.path);
    assert_raw_scope(&t, &s.fails, s.os_tid, 1, &s.within, true);
    assert_raw_scope(&t, &s.fails_inner, s.os_tid, 1, &s.within, true);
    assert_raw_scope(&t, &s.after, s.os_tid, 1, &s.within, false);
    let order: Vec<(bool, &str)> = t.scopes.iter().map(|e| (e.enter, e.site.name.as_str())).collect();
    assert_eq!(
        order,
        [(true, "fails"), (true, "fails_inner"), (false, "fails_inner"), (false, "fails"), (true, "after_panic"), (false, "after_panic")]
    );
    assert_eq!((s.before_panic.allocs, s.before_panic.alloc_bytes), (1, 128));
}

#[test]
fn replay_a_scope_left_by_a_panic_closes_and_counts_unwound() {
    let s = unwind();
    let doc = document(&s.path);
    let main = doc.thread_of(s.os_tid);
    let fails = doc.scope(main, "fails", None);
    let fails_id = num(fails, "id");
    assert_node(fails, &s.fails, main, None, 0, 1, 1);
    assert_node(doc.scope(main, "fails_inner", Some(fails_id)), &s.fails_inner, main, Some(fails_id), 1, 1, 1);
    // Closed: the next scope is a root, not a child of the unwound ones.
    assert_node(doc.scope(main, "after_panic", None), &s.after, main, None, 0, 1, 0);
    // The Vec made inside `fails` (and freed by the unwinding, inside it) counts there.
    assert!(num(fails, "self_allocations") >= 1 && num(fails, "self_allocated_bytes") >= 128, "{fails}");
    assert!(num(fails, "deallocations") >= 1, "{fails}");
    let tr = doc.tracking();
    assert_eq!((num(tr, "scope_entries"), num(tr, "unmatched_scope_exits"), num(tr, "scopes_open_at_end")), (3, 0, 0), "{tr}");
}

// ---------------------------------------------------------------------------
// Two threads, each with its own tree, inside their scopes at the same time.

/// What one worker thread saw.
#[derive(Debug, Clone)]
struct Worker {
    os_tid: u64,
    worker: Here,
    step: Here,
    /// In `worker` before `step`, in `step`, in `worker` after `step`.
    a: Tally,
    b: Tally,
    c: Tally,
    within: Window,
}

struct Threads {
    path: PathBuf,
    main_os_tid: u64,
    workers: Vec<Worker>,
}

fn threads() -> &'static Threads {
    static S: OnceLock<Threads> = OnceLock::new();
    scenario(&S, || {
        let (path, workers) = record("track_scopes_threads", || {
            let barrier = Barrier::new(2);
            std::thread::scope(|sc| {
                let handles: Vec<_> = (0..2usize)
                    .map(|i| {
                        let barrier = &barrier;
                        sc.spawn(move || {
                            let from = monotonic_ns();
                            let (w, worker) = scope_here!("worker");
                            let ((), a) = metered(|| {
                                // Both threads are inside `worker` from here on.
                                barrier.wait();
                                churn(3 + i * 5);
                            });
                            let (st, step) = scope_here!("step");
                            let ((), b) = metered(|| {
                                churn(1 + i);
                                barrier.wait();
                            });
                            drop(st);
                            let ((), c) = metered(|| churn(2 * i));
                            drop(w);
                            Worker { os_tid: os_tid(), worker, step, a, b, c, within: Window { from, to: monotonic_ns() } }
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().expect("worker thread")).collect::<Vec<_>>()
            })
        });
        Threads { path, main_os_tid: os_tid(), workers }
    })
}

#[test]
fn record_each_thread_has_its_own_scope_events() {
    let s = threads();
    let t = raw_track(&s.path);
    for w in &s.workers {
        let thread = t.thread_of(w.os_tid);
        let order: Vec<(bool, &str)> = t.scopes.iter().filter(|e| e.thread == thread).map(|e| (e.enter, e.site.name.as_str())).collect();
        assert_eq!(order, [(true, "worker"), (true, "step"), (false, "step"), (false, "worker")]);
        let mine = |here: &Here| -> Vec<common::track::RawScope> {
            t.scope_events(here).into_iter().filter(|e| e.thread == thread).cloned().collect()
        };
        assert_eq!(mine(&w.worker).len(), 2);
        assert_eq!(mine(&w.step).len(), 2);
        for e in mine(&w.worker).iter().chain(&mine(&w.step)) {
            w.within.assert_holds(t.epoch, e.ts_ns, "scope event");
        }
    }
    assert_eq!(s.workers[0].worker, s.workers[1].worker, "one site for both threads");
    assert_ne!(s.workers[0].os_tid, s.workers[1].os_tid);
}

#[test]
fn replay_two_threads_build_two_trees() {
    let s = threads();
    let doc: Doc = document(&s.path);
    for w in &s.workers {
        let th = doc.thread_of(w.os_tid);
        let worker = doc.scope(th, "worker", None);
        let worker_id = num(worker, "id");
        assert_node(worker, &w.worker, th, None, 0, 1, 0);
        assert_figures(worker, &w.a.then(w.b).then(w.c), &w.a.then(w.c), 0);
        let step = doc.scope(th, "step", Some(worker_id));
        assert_node(step, &w.step, th, Some(worker_id), 1, 1, 0);
        assert_figures(step, &w.b, &w.b, 0);
        assert_eq!(doc.scopes_of(th).len(), 2);
    }
    let main = doc.thread_of(s.main_os_tid);
    assert!(doc.scopes_of(main).is_empty(), "no scope on the main thread");
    assert_eq!(doc.scopes().len(), 4);
    assert_eq!(doc.count("scope_entries"), 4);
}
