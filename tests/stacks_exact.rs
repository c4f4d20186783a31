//! Per-site figures against ground truth: three threads run functions that
//! allocate known amounts; an independent counter inside the inner
//! allocator tags every call with the function that made it (a
//! thread-local tag the function sets) and keeps per-function counts. The
//! replayed, symbolized sites, summed per function, equal the counter's
//! allocations, bytes, deallocations, live bytes at the end, temporary
//! allocations and live bytes at the global peak, exactly.

use memscope::export::profile::Profile;
use memscope::TrackingAllocator;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// The functions under test, by tag.
const FUNCTIONS: [&str; 4] = ["", "keep_a", "temp_b", "peak_c"];

thread_local! {
    static TAG: Cell<usize> = const { Cell::new(0) };
}

/// Per tag: allocations, bytes, deallocations, deallocated bytes, live bytes.
static COUNTS: [[AtomicU64; 5]; 4] = [const { [const { AtomicU64::new(0) }; 5] }; 4];

/// Address → tag of the tagged allocations still live (open addressing).
const TABLE: usize = 1 << 16;
static ADDR: [AtomicUsize; TABLE] = [const { AtomicUsize::new(0) }; TABLE];
static ADDR_TAG: [AtomicUsize; TABLE] = [const { AtomicUsize::new(0) }; TABLE];

fn slot(addr: usize) -> usize {
    (addr.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16) % TABLE
}

/// Counts tagged calls; never allocates.
struct Tagging;

// SAFETY: forwards every call to `System` unchanged.
unsafe impl GlobalAlloc for Tagging {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract.
        let p = unsafe { System.alloc(layout) };
        let tag = TAG.try_with(Cell::get).unwrap_or(0);
        if tag != 0 && !p.is_null() {
            let c = &COUNTS[tag];
            c[0].fetch_add(1, Relaxed);
            c[1].fetch_add(layout.size() as u64, Relaxed);
            c[4].fetch_add(layout.size() as u64, Relaxed);
            let mut i = slot(p as usize);
            while ADDR[i].compare_exchange(0, p as usize, Relaxed, Relaxed).is_err() {
                i = (i + 1) % TABLE;
            }
            ADDR_TAG[i].store(tag, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        let mut i = slot(p as usize);
        for _ in 0..TABLE {
            match ADDR[i].load(Relaxed) {
                0 => break,
                a if a == p as usize => {
                    let c = &COUNTS[ADDR_TAG[i].load(Relaxed)];
                    c[2].fetch_add(1, Relaxed);
                    c[3].fetch_add(layout.size() as u64, Relaxed);
                    c[4].fetch_sub(layout.size() as u64, Relaxed);
                    // A tombstone that no address equals, so probes go on past it.
                    ADDR[i].store(usize::MAX, Relaxed);
                    break;
                }
                _ => i = (i + 1) % TABLE,
            }
        }
        // SAFETY: the caller's contract.
        unsafe { System.dealloc(p, layout) }
    }
}

#[global_allocator]
static A: TrackingAllocator<Tagging> = TrackingAllocator::new(Tagging);

fn tagged<R>(tag: usize, f: impl FnOnce() -> R) -> R {
    TAG.with(|t| t.set(tag));
    let r = f();
    TAG.with(|t| t.set(0));
    r
}

#[inline(never)]
fn keep_a(i: usize) -> Box<[u8]> {
    tagged(1, || black_box(vec![i as u8; 1000 + i % 100].into_boxed_slice()))
}

#[inline(never)]
fn temp_b(i: usize) {
    tagged(2, || drop(black_box(Vec::<u8>::with_capacity(16 + i % 400))))
}

#[inline(never)]
fn peak_c() -> [u64; 4] {
    tagged(3, || {
        let big = black_box(vec![7u8; 1 << 20]);
        // Every function's live bytes now, at the global peak.
        let live = std::array::from_fn(|t| COUNTS[t][4].load(Relaxed));
        drop(big);
        live
    })
}

#[inline(never)]
fn free_a(v: Box<[u8]>) {
    drop(black_box(v));
}

const THREADS: usize = 3;
const N: usize = 2000;

#[test]
fn sites_equal_an_independent_per_function_counter() {
    let path = std::env::temp_dir().join(format!("memscope-stacks-exact-{}.memscope", std::process::id()));
    let recording = memscope::Recorder::new(&path).start().expect("start");

    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                let mut kept = Vec::with_capacity(N);
                for i in 0..N {
                    kept.push(keep_a(i + t));
                    temp_b(i * 7 + t);
                }
                kept
            })
        })
        .collect();
    let mut kept: Vec<Box<[u8]>> = workers.into_iter().flat_map(|w| w.join().expect("worker")).collect();
    let at_peak = peak_c();
    for v in kept.drain(kept.len() / 3..) {
        free_a(v);
    }
    let expected: Vec<[u64; 5]> = (0..4).map(|t| std::array::from_fn(|k| COUNTS[t][k].load(Relaxed))).collect();
    let summary = recording.finish().expect("finish");
    assert_eq!(summary.call_stacks, memscope::StackCapture::Recorded, "this build has frame pointers");
    drop(kept);

    let replay = memscope::replay::replay_file(&path).expect("replay");
    assert!(replay.stacks.recorded, "the recording has call stacks");
    let profile = Profile::build(&replay, &Default::default());
    assert!(profile.warnings.is_empty(), "symbolization warnings: {:?}", profile.warnings);

    // Per function: allocations, bytes, deallocations, deallocated bytes,
    // live at the end, live at the peak, temporary, sites.
    let mut got = [[0u64; 8]; 4];
    for site in &profile.sites {
        let functions: Vec<&str> =
            site.locations.iter().flat_map(|&l| profile.locations[l].lines.iter().map(|l| l.function.as_str())).collect();
        let Some(tag) =
            functions.iter().find_map(|f| FUNCTIONS.iter().skip(1).position(|name| f.ends_with(&format!("stacks_exact::{name}"))))
        else {
            continue;
        };
        let tag = tag + 1;
        assert!(!site.truncated, "{} site truncated: {functions:?}", FUNCTIONS[tag]);
        assert!(
            functions.iter().any(|f| f.contains("thread_start") || *f == "main" || f.contains("lang_start")),
            "{} site reaches its thread's entry: {functions:?}",
            FUNCTIONS[tag]
        );
        let s = &site.stats;
        let g = &mut got[tag];
        g[0] += s.allocations;
        g[1] += s.allocated_bytes;
        g[2] += s.deallocations;
        g[3] += s.deallocated_bytes;
        g[4] += s.live_bytes_end;
        g[5] += s.peak_bytes;
        g[6] += s.temporary;
        g[7] += 1;
    }
    for tag in 1..4 {
        let (name, e, g) = (FUNCTIONS[tag], expected[tag], got[tag]);
        assert!(g[7] > 0, "{name}: no site found");
        assert_eq!(g[0], e[0], "{name}: allocations");
        assert_eq!(g[1], e[1], "{name}: allocated bytes");
        assert_eq!(g[2], e[2], "{name}: deallocations");
        assert_eq!(g[3], e[3], "{name}: deallocated bytes");
        assert_eq!(g[4], e[4], "{name}: live bytes at the end");
        assert_eq!(g[5], at_peak[tag], "{name}: live bytes at the global peak");
    }
    // temp_b frees each allocation before its thread's next one; keep_a's
    // are followed by temp_b's, and peak_c's big one is freed last.
    assert_eq!(got[2][6], (THREADS * N) as u64, "temp_b: temporary allocations");
    assert_eq!(got[1][6], 0, "keep_a: temporary allocations");
    assert_eq!(expected[1][0], (THREADS * N) as u64);
    let _ = std::fs::remove_file(&path);
}
