//! A program that exits (`std::process::exit`) while recording, without
//! calling `finish` and with the guard forgotten: the atexit hook finishes
//! the recording, so the file ends with its End record and holds every
//! allocation the program made, exactly.
//!
//! The test re-runs its own binary as the child (selected by an environment
//! variable). The child counts its work with `CountingAlloc`, then counts
//! what `process::exit` itself does on its thread while the recording still
//! runs (std's exit-time cleanup frees stdout's buffer and other blocks
//! allocated before the recording: the file holds them as frees of unknown
//! blocks). An atexit handler registered after memscope's (so it runs
//! before memscope's hook) writes both counts to a side file opened before
//! the recording, with `libc::write` of a stack buffer: no allocation.

mod common;

use common::{counted, raw_fold, replay, set_counting, temp_path, CountingAlloc, Counts};
use memscope::TrackingAllocator;
use std::hint::black_box;
use std::io::Write;
use std::os::fd::IntoRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering::SeqCst};

#[global_allocator]
static A: TrackingAllocator<CountingAlloc> = TrackingAllocator::new(CountingAlloc::new());

const CHILD: &str = "MEMSCOPE_TEST_EXIT_CHILD";
/// Sizes of the blocks the child leaks, one each.
const LEAKS: [usize; 5] = [1111, 2222, 3333, 4444, 5555];

fn counts_path(recording: &Path) -> PathBuf {
    recording.with_extension("counts")
}

static SIDE_FD: AtomicI32 = AtomicI32::new(-1);
static BEFORE: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];
static AFTER: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];

fn store(to: &[AtomicU64; 8], c: Counts) {
    for (slot, v) in to.iter().zip(c.to_array()) {
        slot.store(v, SeqCst);
    }
}

fn load(from: &[AtomicU64; 8]) -> Counts {
    Counts::from_array(std::array::from_fn(|i| from[i].load(SeqCst)))
}

/// Runs at exit, after std's cleanup and before memscope's hook.
extern "C" fn report() {
    set_counting(false);
    let (before, after) = (load(&BEFORE), load(&AFTER));
    let work = after.since(&before).to_array();
    let exit = Counts::now().since(&after).to_array();
    let mut buf = [0u8; 512];
    let mut cur = std::io::Cursor::new(&mut buf[..]);
    for v in work.iter().chain(&exit) {
        write!(cur, "{v} ").unwrap();
    }
    let n = cur.position() as usize;
    // SAFETY: writes `n` initialised bytes from `buf` to our own descriptor.
    let written = unsafe { libc::write(SIDE_FD.load(SeqCst), buf.as_ptr().cast(), n) };
    assert_eq!(written, n as isize);
}

/// The child: record, work, exit without finishing.
fn child(path: PathBuf) -> ! {
    SIDE_FD.store(std::fs::File::create(counts_path(&path)).expect("counts file").into_raw_fd(), SeqCst);
    common::quiesce_harness();
    let rec = memscope::Recorder::new(&path).start().expect("start");
    // After `start`, which registers memscope's hook: atexit runs handlers
    // last-registered first.
    // SAFETY: `report` is a valid handler for the life of the process.
    assert_eq!(unsafe { libc::atexit(report) }, 0);
    store(&BEFORE, Counts::now());
    counted(|| {
        let v: Vec<u64> = black_box((0..10_000).collect());
        let s: String = black_box(v.iter().map(|x| x.to_string()).collect());
        drop((v, s));
        for n in LEAKS {
            std::mem::forget(black_box(vec![7u8; n]));
        }
    });
    store(&AFTER, Counts::now());
    std::mem::forget(rec);
    // Count what exit does on this thread; `report` stops counting.
    set_counting(true);
    std::process::exit(0)
}

#[test]
fn exit_without_finish_is_finished_by_the_atexit_hook() {
    if let Some(path) = std::env::var_os(CHILD) {
        child(PathBuf::from(path));
    }
    let path = temp_path("exit_without_finish");
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "exit_without_finish_is_finished_by_the_atexit_hook", "--nocapture", "--test-threads=1"])
        .env(CHILD, &path)
        .output()
        .expect("run the child");
    assert!(out.status.success(), "child failed: {out:?}");
    let text = std::fs::read_to_string(counts_path(&path)).expect("the child's counts");
    let n: Vec<u64> = text.split_whitespace().map(|x| x.parse().unwrap()).collect();
    assert_eq!(n.len(), 16, "counts file: {text:?}");
    let work = Counts::from_array(n[..8].try_into().unwrap());
    let exit = Counts::from_array(n[8..].try_into().unwrap());

    let r = replay(&path);
    let s = &r.summary;
    assert!(r.finished, "no End record: the atexit hook did not finish the recording");
    // The End record says the recording ended at process exit: what is live leaked.
    let end = r.end.expect("the End record");
    assert!(end.ended_at_exit && !end.no_tracking_allocator, "{end:?}");
    assert!(r.live_at_end_is_leak());
    assert!(r.damage.is_empty() && r.damage_count == 0, "damage: {:?}", r.damage);
    assert_eq!(s.lost_events, 0);
    // Exit only frees (blocks from before the recording); nothing of it is lost.
    assert_eq!((exit.allocs, exit.reallocs), (0, 0), "exit allocated: {exit:?}");
    assert_eq!(s.prerecording_deallocations, exit.deallocs, "exit-time frees of blocks from before the recording");
    assert_eq!(s.prerecording_deallocated_bytes, exit.dealloc_bytes);
    assert_eq!(s.total_allocations, work.allocs);
    assert_eq!(s.total_deallocations, work.deallocs);
    assert_eq!(s.total_reallocations, work.reallocs);
    assert_eq!(s.total_allocated_bytes, work.alloc_bytes);
    assert_eq!(s.total_deallocated_bytes, work.dealloc_bytes);
    assert_eq!((s.late_events, s.address_conflicts, s.size_mismatches), (0, 0, 0));
    assert_eq!(s.live_bytes, s.total_allocated_bytes - s.total_deallocated_bytes);
    // The leaks are there, live, and nothing else.
    assert_eq!(work.live_count(), LEAKS.len() as u64);
    assert_eq!(s.live_count, work.live_count());
    assert_eq!(s.live_bytes, work.live_bytes());
    assert_eq!(s.live_bytes, LEAKS.iter().sum::<usize>() as u64);
    let mut leaks: Vec<u64> = r.largest_leaks.iter().map(|l| l.size).collect();
    leaks.sort();
    assert_eq!(leaks, LEAKS.map(|n| n as u64), "the leaks replay lists");
    let f = raw_fold(&path);
    for n in LEAKS {
        assert!(f.live.values().any(|&size| size == n as u64), "leak of {n} bytes not live in the raw events");
    }
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(counts_path(&path));
}
