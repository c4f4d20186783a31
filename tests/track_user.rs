//! Defects a new user hit with the tracking API (issue 9, items 9–12 and
//! 14), each from the run that showed it, checked against the test's own
//! figures: the meter (the inner allocator's tally of the calls each
//! statement made), the values' own addresses, and clock windows.
//!
//! - 9: `track_var!` counts every heap allocation a value owns, deeply: a
//!   struct forwarding to a `HashMap<String, Vec<f64>>` of more than 5 MiB,
//!   a `Vec<String>`, an `Rc<Vec<u32>>`; and a value owning more than
//!   `MAX_REGIONS` allocations says so (`regions_truncated`);
//! - 10: a `&'static mut [u8]` from `Box::leak` is linked to its allocation;
//! - 11: a `String` grown by reallocation shows each step at its real time
//!   and size, and one tracked after growing does not show its final size
//!   at its allocation's time;
//! - 12: `ffi::into_raw`'s label is kept without `track_var!`;
//! - 14: each clone a `track_clone!` makes in a loop is its own variable;
//! - 15: memory still live when `finish()` is called is live at the end,
//!   not a leak: no leak suggestion.

mod common;

use common::track::{array, document, field, metered, num, opt_num, record, scenario, text, timed, Doc, MeterAlloc, Window};
use memscope::record::MAX_REGIONS;
use memscope::{Heap, Trackable, TrackingAllocator};
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::OnceLock;

#[global_allocator]
static A: TrackingAllocator<MeterAlloc> = TrackingAllocator::new(MeterAlloc::new());

/// The user type: it forwards `Trackable` to its map.
struct Index {
    map: HashMap<String, Vec<f64>>,
}

impl Trackable for Index {
    fn track(&self, heap: &mut Heap) {
        self.map.track(heap);
    }
}

/// One growth step of a string: the window around the push that
/// reallocated it, and its capacity after.
#[derive(Debug, Clone, Copy)]
struct Step {
    window: Window,
    capacity: u64,
}

#[derive(Debug)]
struct Seen {
    path: PathBuf,
    /// Net live bytes each value's construction left (the meter), by name.
    built: HashMap<&'static str, u64>,
    leaked_ptr: u64,
    /// `grown`: tracked when allocated, then grown.
    grown_alloc: Window,
    grown_steps: Vec<Step>,
    /// `late`: grown, then tracked.
    late_alloc: Window,
    late_first: u64,
    late_tracked: Window,
    late_size: u64,
    handed_ptr: u64,
    handed: Window,
    clone_source_ptr: u64,
}

/// Pushes bytes onto `s` until its capacity reaches `target`, noting each
/// reallocation.
fn grow(s: &mut String, target: usize) -> Vec<Step> {
    let mut steps = Vec::new();
    let chunk = "x".repeat(1024);
    while s.capacity() < target {
        let before = s.capacity();
        let ((), window) = timed(|| s.push_str(&chunk));
        if s.capacity() != before {
            steps.push(Step { window, capacity: s.capacity() as u64 });
        }
    }
    steps
}

/// Held past the recording's end (item 15).
static KEPT: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

fn seen() -> &'static Seen {
    static CELL: OnceLock<Seen> = OnceLock::new();
    scenario(&CELL, || {
        let (path, seen) = record("track_user", || {
            let mut built = HashMap::new();
            // 9: more than 5 MiB in 100 vectors of 6600 f64 and their keys.
            let (index, tally) = metered(|| Index { map: (0..100).map(|i| (format!("key-{i}"), vec![i as f64; 6600])).collect() });
            assert!(tally.end_live > 5 << 20, "{tally:?}");
            built.insert("index", tally.end_live as u64);
            memscope::track_var!(index);
            let (names, tally) = metered(|| (0..50).map(|i| format!("name number {i}")).collect::<Vec<String>>());
            built.insert("names", tally.end_live as u64);
            memscope::track_var!(names);
            let (shared, tally) = metered(|| Rc::new(vec![7u32; 1000]));
            built.insert("shared", tally.end_live as u64);
            memscope::track_var!(shared);
            // More allocations than one value reports by address.
            let (many, tally) = metered(|| (0..MAX_REGIONS + 10).map(|i| vec![i as u8; 8]).collect::<Vec<Vec<u8>>>());
            built.insert("many", tally.end_live as u64);
            memscope::track_var!(many);

            // 10
            let leaked: &'static mut [u8] = Box::leak(vec![0u8; 1_000_000].into_boxed_slice());
            let leaked_ptr = leaked.as_ptr() as u64;
            memscope::track_var!(leaked);

            // 11
            let (mut grown, grown_alloc) = timed(|| String::with_capacity(2048));
            memscope::track_var!(grown);
            let grown_steps = grow(&mut grown, 8 << 20);
            let (mut late, late_alloc) = timed(|| String::with_capacity(2048));
            grow(&mut late, 8 << 20);
            let ((), late_tracked) = timed(|| memscope::track_var!(late));
            let late_size = late.capacity() as u64;

            // 12: handed over, never tracked, then taken back and freed.
            let (raw, handed) = timed(|| memscope::ffi::into_raw(Box::new([0u8; 256]), "passed to C"));
            let handed_ptr = raw as u64;
            // SAFETY: `raw` came from `into_raw` of a `Box<[u8; 256]>` and is not used again.
            drop(unsafe { Box::from_raw(raw) });

            // 14: three clones of a vector, and three of an `Rc`, each in a loop.
            let source = vec![1u8; 64];
            let clone_source_ptr = source.as_ptr() as u64;
            let mut copies = Vec::new();
            for _ in 0..3 {
                copies.push(memscope::track_clone!(source));
            }
            let rc = Rc::new(String::from("shared text"));
            let mut handles = Vec::new();
            for _ in 0..3 {
                handles.push(memscope::track_clone!(rc));
            }
            let seen = Seen {
                path: PathBuf::new(),
                built,
                leaked_ptr,
                grown_alloc,
                grown_steps,
                late_alloc,
                late_first: 2048,
                late_tracked,
                late_size,
                handed_ptr,
                handed,
                clone_source_ptr,
            };
            drop((index, names, shared, many, grown, late, copies, handles, rc, source));

            // 15: memory the program still holds when it calls finish().
            {
                let _scope = memscope::track_scope!("main_job");
                let kept = vec![5u8; 3000];
                memscope::track_var!(kept);
                KEPT.lock().unwrap().push(kept);
            }
            // SAFETY: `leaked` came from `Box::leak` of a boxed slice and is not used again.
            drop(unsafe { Box::from_raw(leaked as *mut [u8]) });
            seen
        });
        Seen { path, ..seen }
    })
}

fn doc() -> &'static Doc {
    static CELL: OnceLock<Doc> = OnceLock::new();
    CELL.get_or_init(|| document(&seen().path))
}

/// The one variable named `name`.
#[track_caller]
fn var(name: &str) -> &'static serde_json::Value {
    let found: Vec<&serde_json::Value> = doc().variables().iter().filter(|v| text(v, "name") == name).collect();
    assert_eq!(found.len(), 1, "variables named {name:?}: {:?}", doc().variables().iter().map(|v| text(v, "name")).collect::<Vec<_>>());
    found[0]
}

/// The sum of the sizes of a variable's linked allocations.
fn linked_bytes(v: &serde_json::Value) -> u64 {
    array(v, "allocations").iter().map(|a| num(a, "size")).sum()
}

#[test]
fn a_value_counts_every_heap_allocation_it_owns() {
    let s = seen();
    let types = [
        ("index", "track_user::Index"),
        ("names", "alloc::vec::Vec<alloc::string::String>"),
        ("shared", "alloc::rc::Rc<alloc::vec::Vec<u32>>"),
    ];
    for (name, ty) in types {
        let v = var(name);
        // The type reaches the Site record although the value's first events
        // went out in a batch before the walk ended.
        assert_eq!(text(v, "type"), ty, "{name}");
        assert_eq!(text(v, "state"), "freed", "{name}");
        assert_eq!(num(v, "size"), s.built[name], "{name}: the bytes its construction left live (meter): {v}");
        assert_eq!(linked_bytes(v), s.built[name], "{name}: every allocation linked");
        assert_eq!((num(v, "unlinked_bytes"), field(v, "regions_truncated").as_bool()), (0, Some(false)), "{name}");
    }
    // The map: its table, 100 keys and 100 vectors.
    assert_eq!(array(var("index"), "allocations").len(), 201);
    assert!(num(var("index"), "size") > 5 << 20);
    // The Rc: its allocation (counts and the Vec) and the Vec's buffer.
    let rc = array(var("shared"), "allocations");
    assert_eq!(rc.iter().map(|a| num(a, "size")).collect::<Vec<_>>(), [16 + 24, 4000]);
}

#[test]
fn a_value_past_the_region_bound_says_so() {
    let s = seen();
    let v = var("many");
    assert_eq!(text(v, "type"), "alloc::vec::Vec<alloc::vec::Vec<u8>>");
    assert_eq!(field(v, "regions_truncated").as_bool(), Some(true), "{v}");
    assert_eq!(array(v, "allocations").len(), MAX_REGIONS);
    // The buffer and MAX_REGIONS − 1 vectors are linked; 11 vectors of 8 bytes are counted.
    assert_eq!(num(v, "unlinked_bytes"), 11 * 8);
    assert_eq!(num(v, "size"), s.built["many"]);
    let notes = array(v, "notes");
    assert!(notes.iter().any(|n| n.as_str().is_some_and(|n| n.contains(&MAX_REGIONS.to_string()))), "{notes:?}");
}

#[test]
fn a_leaked_slice_is_linked_to_its_allocation() {
    let s = seen();
    let v = var("leaked");
    assert_eq!((text(v, "state"), num(v, "size")), ("freed", 1_000_000), "{v}");
    let a = &array(v, "allocations")[0];
    assert_eq!((num(a, "ptr"), num(a, "size")), (s.leaked_ptr, 1_000_000));
}

#[test]
fn a_grown_string_shows_each_step_at_its_time_and_size() {
    let s = seen();
    let epoch = doc().epoch();
    let a = &array(var("grown"), "allocations")[0];
    let history = array(a, "history");
    assert!(s.grown_steps.len() >= 10, "{:?}", s.grown_steps);
    assert_eq!(history.len(), 1 + s.grown_steps.len() + 1, "{history:?}");
    assert_eq!((text(&history[0], "kind"), num(&history[0], "size")), ("allocation", 2048));
    s.grown_alloc.assert_holds(epoch, num(&history[0], "at_ns"), "allocation");
    for (h, step) in history[1..].iter().zip(&s.grown_steps) {
        assert_eq!((text(h, "kind"), num(h, "size")), ("reallocation", step.capacity), "{h}");
        step.window.assert_holds(epoch, num(h, "at_ns"), "reallocation");
    }
    assert_eq!(text(&history[history.len() - 1], "kind"), "deallocation");

    // Tracked after growing: the allocation at its time and first size,
    // then its size when tracked; never the final size at the start.
    let a = &array(var("late"), "allocations")[0];
    let history = array(a, "history");
    assert_eq!(text(&history[0], "kind"), "allocation");
    assert_eq!(num(&history[0], "size"), s.late_first, "{history:?}");
    s.late_alloc.assert_holds(epoch, num(&history[0], "at_ns"), "allocation");
    assert_eq!((text(&history[1], "kind"), num(&history[1], "size")), ("tracked", s.late_size), "{history:?}");
    s.late_tracked.assert_holds(epoch, num(&history[1], "at_ns"), "tracked");
    s.late_alloc.assert_holds(epoch, num(a, "allocated_at_ns"), "allocated_at_ns");
}

#[test]
fn a_handoff_keeps_its_label_without_a_variable() {
    let s = seen();
    let epoch = doc().epoch();
    let handoffs: Vec<&serde_json::Value> = array(&doc().0, "handoffs").iter().filter(|h| num(h, "ptr") == s.handed_ptr).collect();
    assert_eq!(handoffs.len(), 1, "{:?}", array(&doc().0, "handoffs"));
    let h = handoffs[0];
    assert_eq!((text(h, "label"), num(h, "size"), text(h, "state")), ("passed to C", 256, "freed"), "{h}");
    s.handed.assert_holds(epoch, num(h, "at_ns"), "handed over");
    assert!(array(h, "variables").is_empty());
    assert!(opt_num(h, "freed_at_ns").is_some());
}

#[test]
fn each_clone_made_in_a_loop_is_its_own_variable() {
    let s = seen();
    for source in ["source", "rc"] {
        let clones: Vec<&serde_json::Value> = doc()
            .variables()
            .iter()
            .filter(|v| text(v, "origin") == "clone" && text(v, "name").starts_with(&format!("{source} (")))
            .collect();
        let names: Vec<&str> = clones.iter().map(|v| text(v, "name")).collect();
        assert_eq!(names, [format!("{source} (clone 1)"), format!("{source} (clone 2)"), format!("{source} (clone 3)")], "{source}");
        let indexes: Vec<u64> = clones.iter().map(|v| num(v, "clone_index")).collect();
        assert_eq!(indexes, [1, 2, 3]);
        assert!(clones.iter().all(|v| num(v, "retracked") == 0));
    }
    // The vector's clones: three allocations, none the source's.
    let ptrs: Vec<u64> = doc()
        .variables()
        .iter()
        .filter(|v| text(v, "name").starts_with("source (clone"))
        .map(|v| num(&array(v, "allocations")[0], "ptr"))
        .collect();
    assert_eq!(ptrs.len(), 3);
    assert!(!ptrs.contains(&s.clone_source_ptr));
    // The Rc's clones share one allocation, counts 2, 3, 4.
    let strong: Vec<u64> =
        doc().variables().iter().filter(|v| text(v, "name").starts_with("rc (clone")).map(|v| num(v, "strong")).collect();
    assert_eq!(strong, [2, 3, 4]);
}

#[test]
fn memory_held_at_finish_is_live_at_the_end_not_a_leak() {
    seen();
    let v = var("kept");
    assert_eq!((text(v, "state"), num(v, "size")), ("live", 3000));
    let rec = field(&doc().0, "recording");
    assert_eq!(field(rec, "live_at_end_is_leak").as_bool(), Some(false));
    assert_eq!(field(field(rec, "end"), "ended_at_exit").as_bool(), Some(false));
    let kinds: Vec<&str> = array(&doc().0, "suggestions").iter().map(|s| text(s, "kind")).collect();
    assert!(!kinds.iter().any(|k| k.contains("leak")), "leak suggestions for memory held at finish(): {kinds:?}");
    assert!(array(&doc().0, "suggestions").iter().all(|s| !text(s, "text").contains("leak")));
}

/// Issue 9, item 15: "or where the user asked": a recording started with
/// `treat_live_at_end_as_leaks` reports what its program held at `finish()`
/// as leaks.
#[test]
fn memory_held_at_finish_is_a_leak_when_the_program_asks() {
    let path = {
        let _one_at_a_time = common::track::lock();
        let path = common::temp_path("track_user_leaks_asked");
        common::track::remove_at_exit(&path);
        let recording = memscope::Recorder::new(&path).treat_live_at_end_as_leaks().start().expect("start");
        {
            let _scope = memscope::track_scope!("leaky_job");
            let forgotten = vec![9u8; 1500];
            memscope::track_var!(forgotten);
            KEPT.lock().unwrap().push(forgotten);
        }
        let summary = recording.finish().expect("finish");
        assert_eq!(summary.events_lost, 0);
        path
    };
    let doc = document(&path);
    let rec = field(&doc.0, "recording");
    assert_eq!(field(field(rec, "end"), "leaks_asked").as_bool(), Some(true));
    assert_eq!(field(rec, "live_at_end_is_leak").as_bool(), Some(true));
    let suggestions = array(&doc.0, "suggestions");
    let about = |kind: &str| suggestions.iter().filter(|s| text(s, "kind") == kind).map(|s| text(s, "text").to_owned()).collect::<Vec<_>>();
    let by_scope = about("leak_by_scope");
    assert!(by_scope.iter().any(|t| t.contains("`leaky_job`") && t.contains("the program asked")), "{suggestions:?}");
    let by_var = about("leaked_variable");
    assert!(by_var.iter().any(|t| t.starts_with("`forgotten`")), "{suggestions:?}");
}
