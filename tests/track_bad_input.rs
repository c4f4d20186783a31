//! Bad input to the tracking API: nothing panics and nothing is invented.
//!
//! - `track_var!` on temporaries, on an empty `Vec`, on values with no heap
//!   memory, on an empty map with capacity (memory without an address);
//! - a value allocated before the recording started, then tracked: unlinked,
//!   with a note naming the address;
//! - one site tracking one value twice: one variable, `retracked` 1; two
//!   sites on one value: two variables sharing it;
//! - names and scope names with quotes, `</script>`, HTML and non-ASCII text
//!   come back unchanged;
//! - every macro and `ffi` call while no recording runs, from the main
//!   thread and another one, and after `finish()`: no event, no panic, the
//!   file untouched; a scope guard that outlives its recording writes no
//!   exit into the next one;
//! - a recording without any macro has no tracking events at all.
//!
//! `record_*` tests read the file with the raw reader (the record side);
//! `replay_*` tests read the replay's JSON (`variables`, `scopes`,
//! `tracking`, json-v2).

mod common;

use common::track::{
    array, document, hex, num, opt_num, os_tid, raw_track, record, scenario, text, timed, Here, MeterAlloc, RawTrack, Window,
};
use memscope::TrackingAllocator;
use std::collections::HashMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::OnceLock;

#[global_allocator]
static A: TrackingAllocator<MeterAlloc> = TrackingAllocator::new(MeterAlloc::new());

const SCRIPT_KEY: &str = "</script><img src=x onerror=alert(1)>";
const QUOTES_KEY: &str = "say \"hi\" 'q' \\ back";
const CYRILLIC_KEY: &str = "ключ 🦀";
const SCOPE_NAME: &str = "<script>alert(\"x\")</script> ü";

/// A temporary tracked at a line: (name, line).
type Temp = (&'static str, u32);

struct Odd {
    path: PathBuf,
    os_tid: u64,
    temp_vec: (Temp, Window),
    temp_string: (Temp, Window),
    temp_number: Temp,
    empty: Here,
    answer: Here,
    unit_box: Here,
    empty_map: Here,
    early: Here,
    early_ptr: u64,
    twice: Here,
    twice_windows: [Window; 2],
    same_a: Here,
    same_b: Here,
    names: Vec<Here>,
    scope: Here,
    left_open: Here,
}

fn odd() -> &'static Odd {
    static S: OnceLock<Odd> = OnceLock::new();
    scenario(&S, || {
        // Allocated before the recording starts.
        let early = vec![5u8; 4096];
        let early_ptr = early.as_ptr() as u64;
        let (path, (odd, keep)) = record("track_bad_input", || {
            // Temporaries: tracked, then freed at the end of the statement.
            let ((_, line), w_vec) = timed(|| (memscope::track_var!(vec![1u8, 2, 3]), line!()));
            let temp_vec = (("vec![1u8, 2, 3]", line), w_vec);
            let ((_, line), w_string) = timed(|| (memscope::track_var!(String::from("temporary")), line!()));
            let temp_string = (("String::from(\"temporary\")", line), w_string);
            let (_, line) = (memscope::track_var!(42u32), line!());
            let temp_number = ("42u32", line);

            // No heap memory.
            let empty: Vec<u64> = Vec::new();
            let empty_here = track_here!(empty);
            let answer = 42u32;
            let answer_here = track_here!(answer);
            let unit_box = Box::new(());
            let unit_box_here = track_here!(unit_box);
            // Heap memory with no address to report.
            let empty_map: HashMap<u32, u32> = HashMap::with_capacity(8);
            let empty_map_here = track_here!(empty_map);

            // Allocated before the recording.
            let early_here = track_here!(early);
            drop(early);

            // One site, one value, twice.
            let twice = vec![3u16; 30];
            let mut heres = Vec::with_capacity(2);
            let mut windows = Vec::with_capacity(2);
            for _ in 0..2 {
                let (h, w) = timed(|| track_here!(twice));
                heres.push(h);
                windows.push(w);
            }
            assert_eq!(heres[0], heres[1]);
            let twice_windows: [Window; 2] = windows.try_into().expect("two");
            // Two sites, one value.
            let same = String::from("one value, two names");
            let same_a = track_here!(same);
            let same_b = track_here!(same);

            // Names with any characters.
            let mut m: HashMap<&'static str, Vec<u8>> = HashMap::new();
            for k in [SCRIPT_KEY, QUOTES_KEY, CYRILLIC_KEY] {
                m.insert(k, vec![0u8; 16]);
            }
            let größe = vec![0u8; 7];
            let names = vec![
                track_here!(m["</script><img src=x onerror=alert(1)>"]),
                track_here!(m["say \"hi\" 'q' \\ back"]),
                track_here!(m["ключ 🦀"]),
                track_here!(größe),
            ];
            let (guard, scope) = scope_here!("<script>alert(\"x\")</script> ü");
            black_box(vec![1u8; 10]);
            drop(guard);

            // A scope still open when the recording finishes.
            let (open, left_open) = scope_here!("left_open");
            let odd = Odd {
                path: PathBuf::new(),
                os_tid: os_tid(),
                temp_vec,
                temp_string,
                temp_number,
                empty: empty_here,
                answer: answer_here,
                unit_box: unit_box_here,
                empty_map: empty_map_here,
                early: early_here,
                early_ptr,
                twice: heres[0],
                twice_windows,
                same_a,
                same_b,
                names,
                scope,
                left_open,
            };
            (odd, (open, twice, same, m, größe))
        });
        drop(keep);
        Odd { path, ..odd }
    })
}

#[test]
fn record_odd_values_report_only_what_they_hold() {
    let s = odd();
    let t = raw_track(&s.path);
    assert!(t.finished && t.damage == 0);
    let temp = |(name, line): Temp| {
        let found: Vec<_> = t.vars.iter().filter(|v| v.site.name == name && v.site.line == line).collect();
        assert_eq!(found.len(), 1, "{name}: {:#?}", t.vars);
        found[0].clone()
    };
    // Temporaries: their real (short-lived) allocation.
    let v = temp(s.temp_vec.0);
    assert_eq!((v.regions.len(), v.regions[0].1, v.type_name.as_str()), (1, 3, "alloc::vec::Vec<u8>"));
    let v = temp(s.temp_string.0);
    assert_eq!((v.regions.len(), v.regions[0].1, v.type_name.as_str()), (1, 9, "alloc::string::String"));
    let v = temp(s.temp_number);
    assert_eq!((v.regions.len(), v.unlocated, v.type_name.as_str()), (0, None, "u32"));
    // Nothing on the heap: a Var with address 0 and nothing else.
    for h in [&s.empty, &s.answer, &s.unit_box] {
        let v = t.var(h);
        assert_eq!((v.regions.len(), v.unlocated, v.shared, v.clone_of), (0, None, None, None), "{}", h.name);
        assert_eq!(v.type_name, h.type_name);
    }
    assert_eq!(s.answer.type_name, "u32");
    // An empty map with capacity: memory without an address.
    let v = t.var(&s.empty_map);
    assert_eq!((v.regions.len(), v.unlocated), (0, Some(0)));
    // The early value reports its real address.
    assert_eq!(t.var(&s.early).regions, [(s.early_ptr, 4096)]);
    // Twice from one site: two events (replay merges them).
    assert_eq!(t.vars_at(&s.twice).len(), 2);
    // Names: exactly the source text.
    let expected = [r#"m["</script><img src=x onerror=alert(1)>"]"#, r#"m["say \"hi\" 'q' \\ back"]"#, r#"m["ключ 🦀"]"#, "größe"];
    for (h, name) in s.names.iter().zip(expected) {
        assert_eq!(h.name, name, "stringify! text");
        assert_eq!(t.var(h).site.name, name);
        assert_eq!(t.var(h).type_name, h.type_name);
    }
    assert_eq!(s.names[0].type_name, "alloc::vec::Vec<u8>");
    let scope = t.scope_events(&s.scope);
    assert_eq!(scope.len(), 2);
    assert_eq!(scope[0].site.name, SCOPE_NAME);
    // The open scope: an enter, no exit.
    let open = t.scope_events(&s.left_open);
    assert_eq!(open.len(), 1);
    assert!(open[0].enter);
}

#[test]
fn replay_odd_values_are_reported_not_invented() {
    let s = odd();
    let doc = document(&s.path);
    let epoch = doc.epoch();
    let by_name_line = |(name, line): Temp| {
        let found: Vec<&serde_json::Value> =
            doc.variables().iter().filter(|v| text(v, "name") == name && num(v, "line") == u64::from(line)).collect();
        assert_eq!(found.len(), 1, "{name}: {:?}", doc.variables());
        found[0]
    };
    // Temporaries: real allocations, freed right after.
    for ((temp, w), size, ty) in [(s.temp_vec, 3, "alloc::vec::Vec<u8>"), (s.temp_string, 9, "alloc::string::String")] {
        let v = by_name_line(temp);
        assert_eq!((text(v, "type"), text(v, "state"), num(v, "size")), (ty, "freed", size), "{v}");
        w.assert_holds(epoch, num(v, "freed_at_ns"), "a temporary is freed at the end of its statement");
        w.assert_holds(epoch, num(&array(v, "allocations")[0], "allocated_at_ns"), "allocated in the statement");
    }
    let v = by_name_line(s.temp_number);
    assert_eq!((text(v, "state"), num(v, "size")), ("no_heap", 0));
    // No heap memory: state no_heap, nothing linked, no times.
    for h in [&s.empty, &s.answer, &s.unit_box] {
        let v = doc.var(h);
        assert_eq!((text(v, "state"), num(v, "size")), ("no_heap", 0), "{}", h.name);
        assert!(array(v, "allocations").is_empty(), "{}", h.name);
        assert_eq!((opt_num(v, "freed_at_ns"), opt_num(v, "lifetime_ns")), (None, None), "{}", h.name);
    }
    // Memory without an address: not linked, and a note says so.
    let v = doc.var(&s.empty_map);
    assert!(array(v, "allocations").is_empty());
    assert_eq!(num(v, "size"), 0);
    assert_ne!(text(v, "state"), "live");
    assert!(!array(v, "notes").is_empty(), "a note: {v}");
    // Allocated before the recording: unlinked, with the address in a note.
    let v = doc.var(&s.early);
    assert_eq!((text(v, "state"), num(v, "size")), ("unlinked", 0));
    assert!(array(v, "allocations").is_empty());
    let notes = array(v, "notes");
    assert!(
        notes.iter().any(|n| n.as_str().is_some_and(|n| n.contains(&hex(s.early_ptr)))),
        "a note naming {}: {notes:?}",
        hex(s.early_ptr)
    );
    // Twice from one site: one variable, retracked once, tracked at the first call.
    let found = doc.vars_at(&s.twice);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(num(found[0], "retracked"), 1);
    s.twice_windows[0].assert_holds(epoch, num(found[0], "tracked_at_ns"), "tracked_at_ns");
    assert_eq!(num(found[0], "size"), 60);
    // Two sites on one value: two variables, each naming the other.
    let (a, b) = (doc.var(&s.same_a), doc.var(&s.same_b));
    assert_eq!(common::track::ids(a, "shared_with"), [num(b, "id")]);
    assert_eq!(common::track::ids(b, "shared_with"), [num(a, "id")]);
    assert_eq!((num(a, "retracked"), num(b, "retracked")), (0, 0));

    let tr = doc.tracking();
    // 3 temporaries, 3 with no heap, the empty map, early, twice (once), 2 same, 4 names.
    assert_eq!(num(tr, "variables"), 3 + 3 + 1 + 1 + 1 + 2 + 4, "{tr}");
    assert_eq!(num(tr, "retracked"), 1, "{tr}");
    assert_eq!(num(tr, "no_heap"), 4, "{tr}");
    assert!(num(tr, "unlinked") >= 1, "{tr}");
    assert_eq!(num(tr, "unresolved_names"), 0, "{tr}");
}

#[test]
fn replay_names_survive_the_round_trip_unchanged() {
    let s = odd();
    let doc = document(&s.path);
    for h in &s.names {
        let v = doc.var(h);
        assert_eq!(text(v, "name"), h.name);
        let size = if h.name == "größe" { 7 } else { 16 };
        assert_eq!((text(v, "state"), num(v, "size")), ("live", size), "{}", h.name);
    }
    assert_eq!(text(doc.var(&s.names[0]), "name"), r#"m["</script><img src=x onerror=alert(1)>"]"#);
    assert_eq!(text(doc.var(&s.names[3]), "name"), "größe");
    // The same through the compact and the pretty writer, as raw JSON text.
    let replay = memscope::replay::replay_file(&s.path).expect("replay");
    let mut pretty = Vec::new();
    memscope::export::json_pretty(&replay, &mut pretty).expect("export");
    let back: serde_json::Value = serde_json::from_slice(&pretty).expect("valid JSON");
    assert_eq!(back, doc.0, "compact and pretty documents are the same document");
    let main = doc.thread_of(s.os_tid);
    let node = doc.scope(main, SCOPE_NAME, None);
    assert_eq!(text(node, "name"), SCOPE_NAME);
    assert_eq!((num(node, "entries"), num(node, "open_at_end")), (1, 0));
    // The scope left open at the end.
    let open = doc.scope(main, "left_open", None);
    assert_eq!((num(open, "entries"), num(open, "open_at_end")), (1, 1));
    assert_eq!(doc.count("scopes_open_at_end"), 1);
    assert_eq!(doc.count("unmatched_scope_exits"), 0);
}

// ---------------------------------------------------------------------------
// No recording running; after finish(); guards that outlive their recording.

/// Every tracking call there is, with values of every kind.
fn every_call() {
    let v = vec![1u32; 8];
    let rc = std::rc::Rc::new(String::from("rc"));
    memscope::track_var!(v);
    memscope::track_var!(vec![0u8; 4]);
    memscope::track_var!(rc);
    let c = memscope::track_clone!(rc);
    let d = memscope::track_clone!(v);
    {
        let _s = memscope::track_scope!("nobody records this");
        memscope::track_var!(42u64);
    }
    // SAFETY: malloc has no preconditions; the result is freed below (free accepts null).
    let p = unsafe { libc::malloc(16) };
    memscope::ffi::track_foreign(p, 16, "nobody records this");
    memscope::ffi::untrack_foreign(p);
    memscope::ffi::untrack_foreign(0x10 as *const u8);
    memscope::ffi::handed_over(v.as_ptr(), "nobody records this");
    let raw = memscope::ffi::into_raw(Box::new(5u64), "nobody records this");
    // SAFETY: `raw` came from `Box::into_raw` and is taken back once; `p` from malloc, freed once.
    unsafe {
        drop(Box::from_raw(raw));
        libc::free(p);
    }
    black_box((c, d));
}

struct Idle {
    /// A recording started after the idle calls, with a guard made before
    /// it and dropped inside it; and real work, no macro.
    path: PathBuf,
}

fn idle() -> &'static Idle {
    static S: OnceLock<Idle> = OnceLock::new();
    scenario(&S, || {
        every_call();
        std::thread::spawn(every_call).join().expect("a thread calling everything with no recording");
        let before = memscope::track_scope!("made before the recording");
        let (path, ()) = record("track_bad_input_idle", || {
            let words: Vec<String> = (0..100).map(|i| format!("w{i}")).collect();
            black_box(&words);
            drop(before);
        });
        Idle { path }
    })
}

struct AfterFinish {
    first: PathBuf,
    first_len_at_finish: u64,
    first_len_after: u64,
    kept: Here,
    /// A second recording, during which the first one's open guard is dropped.
    second: PathBuf,
}

fn after_finish() -> &'static AfterFinish {
    static S: OnceLock<AfterFinish> = OnceLock::new();
    scenario(&S, || {
        let first = common::temp_path("track_bad_input_first");
        common::track::remove_at_exit(&first);
        let rec = memscope::Recorder::new(&first).start().expect("start");
        let kept_value = vec![9u8; 100];
        let kept = track_here!(kept_value);
        let spans = memscope::track_scope!("spans two recordings");
        rec.finish().expect("finish");
        let first_len_at_finish = std::fs::metadata(&first).expect("file").len();
        // Everything again, with the recording finished.
        every_call();
        std::thread::spawn(every_call).join().expect("a thread calling everything after finish");
        memscope::track_var!(kept_value);
        let first_len_after = std::fs::metadata(&first).expect("file").len();
        // The guard of the first recording dropped during a second one.
        let (second, ()) = record("track_bad_input_second", || {
            black_box(vec![0u8; 10]);
            drop(spans);
        });
        drop(kept_value);
        AfterFinish { first, first_len_at_finish, first_len_after, kept, second }
    })
}

/// A recording with real work, threads included, and no tracking macro.
fn plain() -> &'static PathBuf {
    static S: OnceLock<PathBuf> = OnceLock::new();
    scenario(&S, || {
        record("track_bad_input_plain", || {
            let handles: Vec<_> = (0..2)
                .map(|i| {
                    std::thread::spawn(move || {
                        let mut m = HashMap::new();
                        for j in 0..500 {
                            m.insert(j, format!("{i}-{j}"));
                        }
                        m.len()
                    })
                })
                .collect();
            let total: usize = handles.into_iter().map(|h| h.join().expect("thread")).sum();
            assert_eq!(total, 1000);
        })
        .0
    })
}

#[track_caller]
fn assert_no_tracking_events(t: &RawTrack) {
    assert!(t.finished && t.damage == 0);
    assert_eq!(t.tracking_events, 0, "tracking events: {:#?} {:#?} {:#?}", t.vars, t.scopes, t.foreign);
    assert!(t.site_records.is_empty() && t.texts.is_empty(), "{:?} {:?}", t.site_records, t.texts);
    assert!(!t.heap.is_empty(), "the recording has allocator events");
}

#[track_caller]
fn assert_nothing_tracked(doc: &common::track::Doc) {
    assert!(doc.variables().is_empty() && doc.scopes().is_empty() && doc.foreign().is_empty());
    let tr = doc.tracking();
    for key in [
        "variables",
        "variables_listed",
        "scope_entries",
        "unmatched_scope_exits",
        "scopes_open_at_end",
        "foreign_regions",
        "unknown_foreign_releases",
    ] {
        assert_eq!(num(tr, key), 0, "tracking.{key}: {tr}");
    }
    assert!(num(&doc.0["summary"], "total_allocations") > 0);
}

#[test]
fn record_nothing_while_no_recording_runs() {
    let s = idle();
    assert_no_tracking_events(&raw_track(&s.path));
}

#[test]
fn record_untracked_code_writes_no_tracking_event() {
    assert_no_tracking_events(&raw_track(plain()));
}

#[test]
fn record_nothing_after_finish() {
    let s = after_finish();
    assert_eq!(s.first_len_after, s.first_len_at_finish, "the file did not change after finish()");
    let t = raw_track(&s.first);
    assert_eq!(t.vars.len(), 1);
    assert_eq!(t.var(&s.kept).regions.len(), 1);
    assert_eq!(t.scopes.len(), 1, "the enter of the scope that spans both recordings");
    // The first recording's guard, dropped during the second: no exit there.
    assert_no_tracking_events(&raw_track(&s.second));
}

#[test]
fn replay_nothing_while_no_recording_runs() {
    assert_nothing_tracked(&document(&idle().path));
}

#[test]
fn replay_untracked_code_has_no_tracking() {
    assert_nothing_tracked(&document(plain()));
}

#[test]
fn replay_nothing_after_finish() {
    let s = after_finish();
    let doc = document(&s.first);
    assert_eq!(doc.count("variables"), 1);
    let v = doc.var(&s.kept);
    assert_eq!((text(v, "state"), num(v, "size")), ("live", 100));
    assert_eq!(doc.count("scopes_open_at_end"), 1);
    assert_nothing_tracked(&document(&s.second));
}
