//! `track_var!` on owning values: the name, type, file, line and column of
//! each site, the value's real heap allocation(s) and sizes, the thread,
//! the time it was tracked, allocated and freed, and a `Vec` that keeps its
//! name while it grows, all against what the test itself knows.
//!
//! `record_*` tests read the file with the raw reader (the record side);
//! `replay_*` tests read the replay's JSON (`variables`, json-v2).

mod common;

use common::track::{
    array, assert_raw_var, document, field, hex, history_kinds, metered, num, opt_num, os_tid, raw_track, record, scenario, text, timed,
    Here, MeterAlloc, Window,
};
use memscope::format::SITE_VAR;
use memscope::{Heap, Trackable, TrackingAllocator};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::OnceLock;

#[global_allocator]
static A: TrackingAllocator<MeterAlloc> = TrackingAllocator::new(MeterAlloc::new());

/// What the test knows about one tracked value.
#[derive(Debug, Clone)]
struct Seen {
    here: Here,
    os_tid: u64,
    /// Around the `track_var!` call.
    tracked: Window,
    /// Its heap allocation(s) as the value reports them: (address, bytes).
    regions: Vec<(u64, u64)>,
}

/// A tracked value that was allocated and freed inside the recording.
#[derive(Debug, Clone)]
struct Lived {
    seen: Seen,
    allocated: Window,
    /// `None`: still live when the recording finished.
    freed: Option<Window>,
    /// The allocation's size in bytes, from the meter.
    alloc_bytes: u64,
}

/// A user type with two heap allocations, forwarding to its fields.
struct Config {
    name: String,
    items: Vec<u32>,
}

impl Trackable for Config {
    fn track(&self, heap: &mut Heap) {
        self.name.track(heap);
        self.items.track(heap);
    }
}

/// One site used with two types (a generic function).
fn track_generic<T: Trackable>(value: &T) -> (Here, Window) {
    let (here, w) = timed(|| track_here!(value));
    (here, w)
}

struct Vars {
    path: PathBuf,
    numbers: Lived,
    text: Lived,
    boxed: Lived,
    worker: Lived,
    config: Seen,
    config_freed: Window,
    generic: [(Seen, Window); 2],
    grown: Lived,
    /// After each capacity change of `grown`: (address, bytes).
    grown_steps: Vec<(u64, u64)>,
    /// Reallocation calls the meter saw while `grown` grew.
    grown_reallocs: u64,
    small_map: Lived,
    btree: Lived,
}

fn vars() -> &'static Vars {
    static S: OnceLock<Vars> = OnceLock::new();
    scenario(&S, || {
        let main = os_tid();
        let (path, (vars, keep)) = record("track_vars", || {
            // A Vec tracked, then dropped.
            let (numbers, allocated) = timed(|| metered(|| vec![1u64; 10_000]));
            let (numbers, t) = numbers;
            assert_eq!(t.allocs, 1);
            let (here, tracked) = timed(|| track_here!(numbers));
            let regions = vec![(numbers.as_ptr() as u64, (numbers.capacity() * 8) as u64)];
            let ((), freed) = timed(|| drop(numbers));
            let numbers =
                Lived { seen: Seen { here, os_tid: main, tracked, regions }, allocated, freed: Some(freed), alloc_bytes: t.alloc_bytes };

            // A String still live when the recording ends.
            let ((mut s, t), allocated) = timed(|| metered(|| String::with_capacity(100)));
            s.push_str("hello, tracked world");
            let text = s;
            let (here, tracked) = timed(|| track_here!(text));
            let regions = vec![(text.as_ptr() as u64, text.capacity() as u64)];
            let text_lived =
                Lived { seen: Seen { here, os_tid: main, tracked, regions }, allocated, freed: None, alloc_bytes: t.alloc_bytes };

            // A Box.
            let ((boxed, t), allocated) = timed(|| metered(|| Box::new([7u8; 300])));
            let (here, tracked) = timed(|| track_here!(boxed));
            let regions = vec![(&*boxed as *const [u8; 300] as u64, 300)];
            let ((), freed) = timed(|| drop(boxed));
            let boxed =
                Lived { seen: Seen { here, os_tid: main, tracked, regions }, allocated, freed: Some(freed), alloc_bytes: t.alloc_bytes };

            // Tracked on another thread, freed on this one.
            let (worker_buf, mut worker) = std::thread::spawn(|| {
                let ((worker_buf, t), allocated) = timed(|| metered(|| Vec::<u8>::with_capacity(512)));
                let (here, tracked) = timed(|| track_here!(worker_buf));
                let regions = vec![(worker_buf.as_ptr() as u64, 512)];
                (
                    worker_buf,
                    Lived { seen: Seen { here, os_tid: os_tid(), tracked, regions }, allocated, freed: None, alloc_bytes: t.alloc_bytes },
                )
            })
            .join()
            .expect("worker");
            let ((), freed) = timed(|| drop(worker_buf));
            worker.freed = Some(freed);

            // A user type: two allocations.
            let config = Config { name: String::from("pipeline.toml"), items: vec![1, 2, 3, 4, 5] };
            let (here, tracked) = timed(|| track_here!(config));
            let regions = vec![(config.name.as_ptr() as u64, config.name.capacity() as u64), (config.items.as_ptr() as u64, 20)];
            let config_seen = Seen { here, os_tid: main, tracked, regions };
            let ((), config_freed) = timed(|| drop(config));

            // One site, two types.
            let bytes = vec![9u8; 64];
            let word = String::from("generic");
            let (h1, w1) = track_generic(&bytes);
            let (h2, w2) = track_generic(&word);
            let generic = [
                (Seen { here: h1, os_tid: main, tracked: w1, regions: vec![(bytes.as_ptr() as u64, 64)] }, w1),
                (Seen { here: h2, os_tid: main, tracked: w2, regions: vec![(word.as_ptr() as u64, word.capacity() as u64)] }, w2),
            ];
            drop((bytes, word));

            // A Vec that grows after it is tracked: it keeps its name.
            let ((mut grown, t), allocated) = timed(|| metered(|| Vec::<u32>::with_capacity(4)));
            let (here, tracked) = timed(|| track_here!(grown));
            let regions = vec![(grown.as_ptr() as u64, 16)];
            let alloc_bytes = t.alloc_bytes;
            // `steps` has room for every step: the meter sees only the Vec's calls.
            let mut steps = Vec::with_capacity(64);
            let ((), t) = metered(|| {
                let mut cap = grown.capacity();
                for i in 0..1000u32 {
                    grown.push(black_box(i));
                    if grown.capacity() != cap {
                        cap = grown.capacity();
                        steps.push((grown.as_ptr() as u64, (cap * 4) as u64));
                    }
                }
            });
            assert_eq!(t.allocs, 0, "growth reallocates");
            assert!(steps.len() < 64);
            let grown_reallocs = t.reallocs;
            let ((), freed) = timed(|| drop(grown));
            let grown = Lived { seen: Seen { here, os_tid: main, tracked, regions }, allocated, freed: Some(freed), alloc_bytes };

            // A HashMap with room to spare: its table is one allocation, located through an entry.
            let ((mut map, t), allocated) = timed(|| metered(|| HashMap::<u32, u64>::with_capacity(8)));
            assert_eq!(t.allocs, 1, "one table allocation");
            let cap = map.capacity();
            for i in 0..5 {
                map.insert(i, u64::from(i) * 10);
            }
            assert_eq!(map.capacity(), cap, "no growth");
            let (here, tracked) = timed(|| track_here!(map));
            let regions = vec![(map.keys().next().map(|k| k as *const u32 as u64).expect("an entry"), 0)];
            let ((), freed) = timed(|| drop(map));
            let small_map =
                Lived { seen: Seen { here, os_tid: main, tracked, regions }, allocated, freed: Some(freed), alloc_bytes: t.alloc_bytes };

            // A BTreeMap of a few entries: one leaf node.
            let ((tree, t), allocated) = timed(|| {
                metered(|| {
                    let mut tree = BTreeMap::new();
                    for i in 0..5u32 {
                        tree.insert(i, i);
                    }
                    tree
                })
            });
            assert_eq!(t.allocs, 1, "one leaf node");
            let (here, tracked) = timed(|| track_here!(tree));
            // Up to 16 entries are reported, each inside its node: here all 5, in one leaf.
            let regions = tree.keys().map(|k| (k as *const u32 as u64, 0)).collect();
            let ((), freed) = timed(|| drop(tree));
            let btree =
                Lived { seen: Seen { here, os_tid: main, tracked, regions }, allocated, freed: Some(freed), alloc_bytes: t.alloc_bytes };

            let vars = Vars {
                path: PathBuf::new(),
                numbers,
                text: text_lived,
                boxed,
                worker,
                config: config_seen,
                config_freed,
                generic,
                grown,
                grown_steps: steps,
                grown_reallocs,
                small_map,
                btree,
            };
            (vars, text)
        });
        drop(keep);
        Vars { path, ..vars }
    })
}

#[test]
fn record_var_events_carry_site_type_thread_time_and_regions() {
    let s = vars();
    let t = raw_track(&s.path);
    assert!(t.finished && t.damage == 0);
    for l in [&s.numbers, &s.text, &s.boxed, &s.worker, &s.grown] {
        let v = t.var(&l.seen.here);
        assert_raw_var(&t, v, &l.seen.here, SITE_VAR, l.seen.os_tid, &l.seen.tracked, &l.seen.regions);
        assert_eq!((v.unlocated, v.shared, v.clone_of), (None, None, None), "{}", l.seen.here.name);
    }
    // The names and types, spelled out once.
    assert_eq!(s.numbers.seen.here.name, "numbers");
    assert_eq!(t.var(&s.numbers.seen.here).type_name, "alloc::vec::Vec<u64>");
    assert_eq!(t.var(&s.text.seen.here).type_name, "alloc::string::String");
    assert_eq!(t.var(&s.boxed.seen.here).type_name, "alloc::boxed::Box<[u8; 300]>");
    assert_eq!(t.var(&s.numbers.seen.here).site.file, "tests/track_vars.rs");
    assert_ne!(t.var(&s.worker.seen.here).thread, t.var(&s.numbers.seen.here).thread);
    // The user type reports both fields' allocations.
    let c = t.var(&s.config.here);
    assert_raw_var(&t, c, &s.config.here, SITE_VAR, s.config.os_tid, &s.config.tracked, &s.config.regions);
    assert!(c.type_name.ends_with("Config"), "{}", c.type_name);
    // The generic site: one Site record (the first type), and a VarType event for the second.
    let g = t.vars_at(&s.generic[0].0.here);
    assert_eq!(g.len(), 2);
    for (v, (seen, w)) in g.iter().zip(&s.generic) {
        assert_raw_var(&t, v, &seen.here, SITE_VAR, seen.os_tid, w, &seen.regions);
    }
    assert_eq!((g[0].type_events, g[1].type_events), (0, 1));
    assert_eq!(g[0].type_name, "&alloc::vec::Vec<u8>");
    assert_eq!(g[1].type_name, "&alloc::string::String");
    // Maps: located through an entry, size left to replay.
    for l in [&s.small_map, &s.btree] {
        let v = t.var(&l.seen.here);
        assert_raw_var(&t, v, &l.seen.here, SITE_VAR, l.seen.os_tid, &l.seen.tracked, &l.seen.regions);
    }
    // No site was written twice, and nothing else was tracked.
    assert_eq!(t.vars.len(), 10, "{:#?}", t.vars);
    assert!(t.scopes.is_empty() && t.foreign.is_empty());
}

#[test]
fn record_growth_of_a_tracked_vec_is_in_the_heap_events() {
    let s = vars();
    let t = raw_track(&s.path);
    // Every capacity change the test saw is one reallocation event, to the address it saw.
    assert!(s.grown_steps.len() >= 5, "the Vec grew: {:?}", s.grown_steps);
    assert_eq!(s.grown_reallocs, s.grown_steps.len() as u64, "one realloc call per capacity change");
    let thread = t.thread_of(os_tid_of(&s.grown));
    let mut ptr = s.grown.seen.regions[0].0;
    let mut seen = Vec::new();
    for (th, e) in &t.heap {
        if let memscope::format::Event::Realloc { old_ptr, new_ptr, new_size, .. } = *e {
            if *th == thread && old_ptr == ptr {
                seen.push((new_ptr, new_size));
                ptr = new_ptr;
            }
        }
    }
    assert_eq!(seen, s.grown_steps, "the reallocation chain from the tracked address");
}

fn os_tid_of(l: &Lived) -> u64 {
    l.seen.os_tid
}

/// Checks a variable that was allocated and tracked in the recording,
/// with one allocation, against what the test saw.
#[track_caller]
fn assert_lived(doc: &common::track::Doc, l: &Lived, size_when_tracked: u64) -> serde_json::Value {
    let epoch = doc.epoch();
    let v = doc.var(&l.seen.here).clone();
    let name = l.seen.here.name;
    assert_eq!(text(&v, "origin"), "var", "{name}");
    assert_eq!(num(&v, "thread"), doc.thread_of(l.seen.os_tid), "thread of {name}");
    l.seen.tracked.assert_holds(epoch, num(&v, "tracked_at_ns"), &format!("tracked_at_ns of {name}"));
    assert_eq!(num(&v, "size"), size_when_tracked, "size of {name}: state {}, notes {}", v["state"], v["notes"]);
    assert_eq!(opt_num(&v, "scope"), None, "{name} was tracked outside any scope");
    assert_eq!((opt_num(&v, "strong"), opt_num(&v, "weak"), opt_num(&v, "clone_of")), (None, None, None), "{name}");
    assert!(array(&v, "shared_with").is_empty() && array(&v, "handoffs").is_empty(), "{name}");
    assert_eq!(num(&v, "retracked"), 0, "{name}");
    assert!(array(&v, "notes").is_empty(), "no notes for {name}: {:?}", v["notes"]);
    let allocs = array(&v, "allocations");
    assert_eq!(allocs.len(), 1, "one allocation for {name}");
    let a = &allocs[0];
    let allocated_at = num(a, "allocated_at_ns");
    l.allocated.assert_holds(epoch, allocated_at, &format!("allocated_at_ns of {name}"));
    match l.freed {
        Some(freed) => {
            assert_eq!(text(&v, "state"), "freed", "{name}");
            let at = num(&v, "freed_at_ns");
            freed.assert_holds(epoch, at, &format!("freed_at_ns of {name}"));
            assert_eq!(opt_num(a, "freed_at_ns"), Some(at), "{name}");
            assert_eq!(num(&v, "lifetime_ns"), at - allocated_at, "lifetime of {name}");
            assert_eq!(history_kinds(a).last().map(String::as_str), Some("deallocation"), "{name}");
        }
        None => {
            assert_eq!(text(&v, "state"), "live", "{name} is still live at the end");
            assert_eq!((opt_num(&v, "freed_at_ns"), opt_num(&v, "lifetime_ns"), opt_num(a, "freed_at_ns")), (None, None, None), "{name}");
        }
    }
    assert_eq!(history_kinds(a).first().map(String::as_str), Some("allocation"), "{name}");
    v
}

#[test]
fn replay_names_types_sizes_threads_and_lifetimes() {
    let s = vars();
    let doc = document(&s.path);
    assert_eq!(doc.count("variables"), 10);
    assert_eq!(doc.count("variables_listed"), 10);
    assert_eq!(doc.variables().len(), 10);
    for (i, v) in doc.variables().iter().enumerate() {
        assert_eq!(num(v, "id"), i as u64, "ids are indexes");
    }
    for (l, size) in [
        (&s.numbers, 80_000),
        (&s.text, s.text.seen.regions[0].1),
        (&s.boxed, 300),
        (&s.worker, 512),
        (&s.small_map, s.small_map.alloc_bytes),
        (&s.btree, s.btree.alloc_bytes),
    ] {
        assert_eq!(l.alloc_bytes, size, "the meter agrees with the value's own size for {}", l.seen.here.name);
        let v = assert_lived(&doc, l, size);
        let a = &array(&v, "allocations")[0];
        assert_eq!(num(a, "size"), size, "{}", l.seen.here.name);
        assert_eq!(num(a, "reallocations"), 0, "{}", l.seen.here.name);
        assert_eq!(num(a, "peak_size"), size, "{}", l.seen.here.name);
    }
    // The Vec's allocation is at the address the Vec reported.
    let v = doc.var(&s.numbers.seen.here);
    let a = &array(v, "allocations")[0];
    assert_eq!(num(a, "ptr"), s.numbers.seen.regions[0].0);
    assert_eq!(text(a, "ptr_hex"), hex(s.numbers.seen.regions[0].0));
    assert_eq!(history_kinds(a), ["allocation", "deallocation"]);
    assert_eq!(text(v, "type"), "alloc::vec::Vec<u64>");
    // The worker's variable belongs to the worker, not to the thread that freed it.
    assert_ne!(num(doc.var(&s.worker.seen.here), "thread"), num(v, "thread"));
    // Still live at the end: the String.
    assert_eq!(text(doc.var(&s.text.seen.here), "state"), "live");
}

#[test]
fn replay_user_type_and_generic_site() {
    let s = vars();
    let doc = document(&s.path);
    let epoch = doc.epoch();
    // A user type: both allocations linked, its size their sum.
    let c = doc.var(&s.config.here);
    let allocs = array(c, "allocations");
    assert_eq!(allocs.len(), 2, "both fields' allocations");
    let ptrs: Vec<u64> = allocs.iter().map(|a| num(a, "ptr")).collect();
    assert_eq!(ptrs, s.config.regions.iter().map(|r| r.0).collect::<Vec<_>>());
    assert_eq!(num(c, "size"), s.config.regions.iter().map(|r| r.1).sum::<u64>());
    assert_eq!(text(c, "state"), "freed");
    s.config_freed.assert_holds(epoch, num(c, "freed_at_ns"), "freed_at_ns of config");
    // One site, two variables, each with its own type.
    let g = doc.vars_at(&s.generic[0].0.here);
    assert_eq!(g.len(), 2, "two variables from the generic site");
    let mut types: Vec<&str> = g.iter().map(|v| text(v, "type")).collect();
    types.sort_unstable();
    assert_eq!(types, ["&alloc::string::String", "&alloc::vec::Vec<u8>"]);
    for (seen, w) in &s.generic {
        let v = g.iter().find(|v| text(v, "type") == seen.here.type_name).expect("the variable of this type");
        common::track::assert_var_site(v, &seen.here);
        w.assert_holds(epoch, num(v, "tracked_at_ns"), "tracked_at_ns");
        assert_eq!(num(v, "size"), seen.regions[0].1);
        assert_eq!(num(&array(v, "allocations")[0], "ptr"), seen.regions[0].0);
        assert_eq!(text(v, "state"), "freed");
    }
}

#[test]
fn replay_a_growing_vec_keeps_its_name() {
    let s = vars();
    let doc = document(&s.path);
    let g = &s.grown;
    // Tracked with capacity 4 (16 bytes), then grown by reallocation.
    let v = assert_lived(&doc, g, 16);
    let a = &array(&v, "allocations")[0];
    let steps = &s.grown_steps;
    let (last_ptr, last_bytes) = *steps.last().expect("it grew");
    assert_eq!(num(a, "reallocations"), steps.len() as u64, "reallocations the test saw");
    assert_eq!(num(a, "size"), last_bytes, "size at free = final capacity × 4");
    assert_eq!(num(a, "peak_size"), last_bytes);
    // The history: the allocation, every reallocation the test saw (size and
    // new address), and the deallocation of the last one.
    let h = array(a, "history");
    assert!(!a.get("history_truncated").and_then(serde_json::Value::as_bool).unwrap_or(false));
    assert_eq!(h.len(), steps.len() + 2, "{h:?}");
    assert_eq!((text(&h[0], "kind"), num(&h[0], "size")), ("allocation", 16));
    assert_eq!(text(&h[0], "ptr_hex"), hex(g.seen.regions[0].0));
    for (e, &(ptr, bytes)) in h[1..=steps.len()].iter().zip(steps) {
        assert_eq!((text(e, "kind"), num(e, "size"), text(e, "ptr_hex")), ("reallocation", bytes, hex(ptr).as_str()));
    }
    let last = &h[steps.len() + 1];
    assert_eq!((text(last, "kind"), num(last, "size"), text(last, "ptr_hex")), ("deallocation", last_bytes, hex(last_ptr).as_str()));
    let times: Vec<u64> = h.iter().map(|e| num(e, "at_ns")).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "history in time order: {times:?}");
    // Allocated, tracked, freed in that order.
    let (alloc_at, tracked_at, freed_at) = (num(a, "allocated_at_ns"), num(&v, "tracked_at_ns"), num(&v, "freed_at_ns"));
    assert!(alloc_at <= tracked_at && tracked_at <= freed_at, "{alloc_at} {tracked_at} {freed_at}");
    assert_eq!(field(&v, "name"), "grown");
}

// ---------------------------------------------------------------------------
// Interior addresses: values located through an address inside their
// allocation, far from its start.

struct Interior {
    path: PathBuf,
    /// A HashMap of 3000 entries, located through its first entry.
    big_map: Lived,
    /// The table's address, from the meter window's allocation event.
    big_map_table: (u64, u64),
    /// A VecDeque whose front is 900 elements into its buffer.
    deque: Lived,
}

fn interior() -> &'static Interior {
    static S: OnceLock<Interior> = OnceLock::new();
    scenario(&S, || {
        let main = os_tid();
        let (path, (big_map, deque, table)) = record("track_vars_interior", || {
            let ((mut map, t), allocated) = timed(|| metered(|| HashMap::<u64, u64>::with_capacity(3000)));
            assert_eq!(t.allocs, 1, "one table allocation: {t:?}");
            let cap = map.capacity();
            for i in 0..3000 {
                map.insert(i, i);
            }
            assert_eq!(map.capacity(), cap, "no growth");
            let (here, tracked) = timed(|| track_here!(map));
            let first = map.keys().next().map(|k| k as *const u64 as u64).expect("an entry");
            let ((), freed) = timed(|| drop(map));
            let big_map = Lived {
                seen: Seen { here, os_tid: main, tracked, regions: vec![(first, 0)] },
                allocated,
                freed: Some(freed),
                alloc_bytes: t.alloc_bytes,
            };

            let ((mut deque, t), allocated) = timed(|| metered(|| VecDeque::<u64>::with_capacity(1024)));
            for i in 0..1000 {
                deque.push_back(i);
            }
            for _ in 0..900 {
                deque.pop_front();
            }
            let (here, tracked) = timed(|| track_here!(deque));
            let front = deque.front().map(|f| f as *const u64 as u64).expect("a front");
            let regions = vec![(front, (deque.capacity() * 8) as u64)];
            let ((), freed) = timed(|| drop(deque));
            let deque =
                Lived { seen: Seen { here, os_tid: main, tracked, regions }, allocated, freed: Some(freed), alloc_bytes: t.alloc_bytes };
            (big_map, deque, (0, 0))
        });
        let t = raw_track(&path);
        // The table: the one allocation of its size made in its window on this thread.
        let thread = t.thread_of(main);
        let epoch = t.epoch;
        let table = t
            .heap
            .iter()
            .find_map(|(th, e)| match *e {
                memscope::format::Event::Alloc { ts_ns, ptr, size, .. }
                    if *th == thread
                        && size == big_map.alloc_bytes
                        && big_map.allocated.from - epoch <= ts_ns
                        && ts_ns <= big_map.allocated.to - epoch =>
                {
                    Some((ptr, size))
                }
                _ => None,
            })
            .unwrap_or(table);
        Interior { path, big_map, big_map_table: table, deque }
    })
}

#[test]
fn record_interior_addresses_lie_inside_their_allocation() {
    let s = interior();
    let t = raw_track(&s.path);
    let (table, table_bytes) = s.big_map_table;
    assert_ne!(table, 0, "the table's allocation event");
    let v = t.var(&s.big_map.seen.here);
    assert_raw_var(&t, v, &s.big_map.seen.here, SITE_VAR, s.big_map.seen.os_tid, &s.big_map.seen.tracked, &s.big_map.seen.regions);
    let at = v.regions[0].0;
    assert!(table <= at && at < table + table_bytes, "the reported address {at:#x} is inside the table {table:#x}+{table_bytes}");
    eprintln!("HashMap of 3000 entries: reported address is {} bytes past the table's start ({} bytes)", at - table, table_bytes);
    let d = t.var(&s.deque.seen.here);
    assert_raw_var(&t, d, &s.deque.seen.here, SITE_VAR, s.deque.seen.os_tid, &s.deque.seen.tracked, &s.deque.seen.regions);
}

/// The issue: "a tracked pointer is resolved to the live allocation that
/// contains it". A large `HashMap` is located through an entry that can sit
/// tens of KiB into its table, and a `VecDeque` through its front element.
#[test]
fn replay_links_interior_addresses_anywhere_inside_the_allocation() {
    let s = interior();
    let doc = document(&s.path);
    for (l, ptr) in [(&s.deque, s.deque.seen.regions[0].0 - 900 * 8), (&s.big_map, s.big_map_table.0)] {
        let v = assert_lived(&doc, l, l.alloc_bytes);
        assert_eq!(num(&array(&v, "allocations")[0], "ptr"), ptr, "{} is linked to its allocation's start", l.seen.here.name);
    }
}
