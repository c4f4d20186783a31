//! A directory with a segment missing in the middle (issue 11, "Bad
//! input"): replay goes on from the next segment's checkpoint, which holds
//! everything live and open when it started. What the segments before the
//! gap left live and open must not be counted twice: the live set, open
//! scopes, live variables, foreign regions, handoffs and threads at the
//! end are the whole directory's; and what ended in the missing segment
//! (an allocation, a scope, a foreign region) has ended. Before replay
//! bridged the gap, the scope open across it was open twice at the end,
//! the handoff live twice, and the live set held 672 more allocations
//! with 672 address conflicts.

mod common;

use common::CountingAlloc;
use memscope::replay::{list_segments, replay_file, Replay};
use memscope::TrackingAllocator;
use std::path::PathBuf;

#[global_allocator]
static A: TrackingAllocator<CountingAlloc> = TrackingAllocator::new(CountingAlloc::new());

fn temp_dir(test: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("memscope-seg-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

/// Rounds of allocations, a quarter kept, a growing Vec; sleeps between
/// rounds so that drain rounds and rotations happen in between.
#[inline(never)]
fn workload(rounds: usize) -> Vec<Box<[u8]>> {
    let mut kept = Vec::new();
    for r in 0..rounds {
        for i in 0..64 {
            let b = vec![1u8; 16 + (i * 37 + r * 11) % 700].into_boxed_slice();
            if i % 4 == 0 {
                kept.push(b);
            }
        }
        std::thread::sleep(std::time::Duration::from_micros(300));
    }
    kept
}

type Figures = (u64, u64, u64, Vec<(String, u64, u64)>, Vec<(String, u64, u64)>, Vec<(String, u64)>, Vec<(u32, Option<String>)>);

/// What is live and open at the end: live count and bytes, address
/// conflicts, scopes (name, times open at the end, live bytes but for the
/// scope closed in the missing segment), live
/// variables (name, allocations, bytes), live foreign regions and handoffs
/// (label, size), threads (id, name).
fn at_end(r: &Replay) -> Figures {
    // A scope closed in the missing segment: what was allocated in it
    // there and is still live is seeded without it (that is not known).
    let bytes = |s: &memscope::replay::ScopeNode| if s.name == "gap-closed-scope" { 0 } else { s.live_bytes };
    let mut scopes: Vec<_> = r.scopes.iter().map(|s| (s.name.clone(), s.open_at_end, bytes(s))).collect();
    scopes.sort();
    let mut vars: Vec<_> = r
        .variables
        .iter()
        .filter(|v| v.state == "live")
        .map(|v| (v.name.clone(), v.allocations.iter().filter(|a| a.freed_at_ns.is_none()).count() as u64, v.size))
        .collect();
    vars.sort();
    let mut held: Vec<_> = r.foreign.iter().filter(|f| f.state == "live").map(|f| (f.label.clone(), f.size)).collect();
    held.extend(r.handoffs.iter().filter(|h| h.state == "live").map(|h| (h.label.clone(), h.size)));
    held.sort();
    let mut threads: Vec<_> = r.threads.iter().map(|t| (t.thread, t.name.clone())).collect();
    threads.sort();
    (r.summary.live_count, r.summary.live_bytes, r.summary.address_conflicts, scopes, vars, held, threads)
}

#[test]
fn a_missing_middle_segment_counts_nothing_twice() {
    let dir = temp_dir("gap");
    common::quiesce_harness();
    let rec = memscope::Recorder::new(&dir).segment_bytes(8 << 10).start().expect("start");
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let stays = std::thread::Builder::new()
        .name("gap-stays".into())
        .spawn(move || {
            let b = vec![7u8; 3000];
            rx.recv().ok();
            drop(b);
        })
        .unwrap();
    let scope = memscope::track_scope!("gap-scope");
    let named: Vec<u64> = vec![1u64; 300];
    memscope::track_var!(named);
    let in_scope = vec![3u8; 1200];
    memscope::ffi::track_foreign(0x7000_0000usize as *const u8, 4096, "gap-foreign");
    memscope::ffi::handed_over(in_scope.as_ptr(), "gap-handoff");
    let mut kept = Vec::new();
    let until = |n: usize, kept: &mut Vec<Vec<Box<[u8]>>>| {
        while list_segments(&dir).unwrap().len() < n && kept.len() < 200 {
            kept.push(workload(2));
        }
    };
    // Made while segment 1 is written, ended while segment 2 (deleted below) is.
    until(2, &mut kept);
    let ends_in_gap = vec![4u8; 5000];
    let scope_in_gap = memscope::track_scope!("gap-closed-scope");
    memscope::ffi::track_foreign(0x7200_0000usize as *const u8, 512, "gap-given-back");
    until(3, &mut kept);
    drop(ends_in_gap);
    drop(scope_in_gap);
    memscope::ffi::untrack_foreign(0x7200_0000usize as *const u8);
    until(5, &mut kept);
    rec.finish().expect("finish");
    tx.send(()).unwrap();
    stays.join().unwrap();
    drop(scope);

    let segments = list_segments(&dir).unwrap();
    assert!(segments.len() >= 5, "want five segments, got {segments:?}");
    let whole = replay_file(&dir).expect("replay the directory");
    assert!(whole.damage.is_empty(), "{:?}", whole.damage);
    let want = at_end(&whole);
    assert_eq!(want.2, 0, "no conflict in the whole directory");
    assert!(want.3.iter().any(|s| s.0 == "gap-scope" && s.1 == 1), "{:?}", want.3);
    assert!(want.3.iter().any(|s| s.0 == "gap-closed-scope" && s.1 == 0), "{:?}", want.3);
    assert!(!want.5.iter().any(|h| h.0 == "gap-given-back"), "{:?}", want.5);

    std::fs::remove_file(&segments[2].1).unwrap();
    let gap = replay_file(&dir).expect("replay the directory with a gap");
    let text: Vec<String> = gap.damage.iter().map(|d| d.to_string()).collect();
    assert!(text.iter().any(|t| t.contains("segment 000002.memscope: missing")), "{text:#?}");
    assert!(gap.segments.segments.iter().any(|s| s.index == 3 && s.seeded), "replay goes on from 000003's checkpoint");
    assert_eq!(at_end(&gap), want, "live, open and named at the end, with 000002 missing vs whole");
    assert_eq!(gap.summary.prerecording_deallocations, whole.summary.prerecording_deallocations);
    drop((kept, named, in_scope));
    let _ = std::fs::remove_dir_all(&dir);
}
