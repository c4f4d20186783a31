//! What the tracking API costs the calling thread, per call:
//!
//! - `var_vec`: `track_var!` on a `Vec` (one `Var` event);
//! - `var_rc`: `track_var!` on an `Rc` (`Var` + `Shared`: two events);
//! - `clone_rc`: `track_clone!` on an `Rc` (`Rc::clone`, then `Var` +
//!   `Shared` + `CloneOf`: three events; the clone is dropped in the loop);
//! - `scope`: `track_scope!` entered and left (`ScopeEnter` + `ScopeExit`);
//!
//! each `/recording` (a recording running, `OnFull::Block`) and `/idle` (no
//! recording: one atomic load and a branch per call; the scope guard's drop
//! checks its own field).
//!
//! The drainer must not be what is measured: the calls push events faster
//! than it writes them (benches/README.md: about 25 M events/s), so a long
//! timed loop would end up waiting on a full ring. Each `/recording`
//! iteration count is therefore run in batches of at most a quarter of the
//! ring (2^20 events here), timed; between batches, untimed, the bench waits
//! until the drainer has emptied the ring (the file stops growing for a few
//! drain intervals). A batch never fills the ring, so no call ever waits.
//! The recording's `Summary` is printed at the end (events written, lost).
//!
//! Run: `cargo bench --bench track` (`-- --quick` while developing).

use criterion::Criterion;
use memscope::{Recorder, TrackingAllocator};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: TrackingAllocator = TrackingAllocator::system();

/// The ring of the bench thread while recording, in events.
const RING: u64 = 1 << 20;
/// How often the drainer wakes up while recording.
const DRAIN_INTERVAL: Duration = Duration::from_millis(1);

/// Waits until the recording at `path` stops growing for three drain
/// intervals: the drainer has emptied the rings.
fn wait_drained(path: &Path) {
    let len = || std::fs::metadata(path).map_or(0, |m| m.len());
    let mut last = len();
    let mut still = 0;
    while still < 3 {
        std::thread::sleep(DRAIN_INTERVAL);
        let now = len();
        still = if now == last { still + 1 } else { 0 };
        last = now;
    }
}

/// Runs `call` `iters` times in timed batches of at most `RING / 4` events
/// (`events` per call), letting the drainer empty the ring between batches.
fn batched(path: &Path, iters: u64, events: u64, mut call: impl FnMut()) -> Duration {
    let batch = RING / 4 / events;
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(batch);
        let start = Instant::now();
        for _ in 0..n {
            call();
        }
        total += start.elapsed();
        left -= n;
        wait_drained(path);
    }
    total
}

fn track(c: &mut Criterion) {
    let v: Vec<u64> = vec![1; 64];
    let rc = Rc::new(vec![1u8; 16]);

    let mut group = c.benchmark_group("track");
    // No recording: the cost of leaving the macros in.
    group.bench_function("var_vec/idle", |b| b.iter(|| memscope::track_var!(*black_box(&v))));
    group.bench_function("var_rc/idle", |b| b.iter(|| memscope::track_var!(*black_box(&rc))));
    group.bench_function("clone_rc/idle", |b| b.iter(|| drop(black_box(memscope::track_clone!(*black_box(&rc))))));
    group.bench_function("scope/idle", |b| b.iter(|| drop(black_box(memscope::track_scope!("bench_scope")))));

    let path: PathBuf = std::env::temp_dir().join(format!("memscope-bench-{}-track.memscope", std::process::id()));
    let recording = Recorder::new(&path).ring_capacity(RING as usize).drain_interval(DRAIN_INTERVAL).start().expect("start a recording");
    // This thread's first event registers it (a cold path): not in a timed batch.
    memscope::track_var!(v);
    wait_drained(&path);
    group.bench_function("var_vec/recording", |b| b.iter_custom(|iters| batched(&path, iters, 1, || memscope::track_var!(*black_box(&v)))));
    group.bench_function("var_rc/recording", |b| b.iter_custom(|iters| batched(&path, iters, 2, || memscope::track_var!(*black_box(&rc)))));
    group.bench_function("clone_rc/recording", |b| {
        b.iter_custom(|iters| batched(&path, iters, 3, || drop(black_box(memscope::track_clone!(*black_box(&rc))))))
    });
    group.bench_function("scope/recording", |b| {
        b.iter_custom(|iters| batched(&path, iters, 2, || drop(black_box(memscope::track_scope!("bench_scope")))))
    });
    group.finish();
    match recording.finish() {
        Ok(s) => eprintln!(
            "track/*/recording: {} events written, {} lost, {:.3} bytes/event on disk",
            s.events_written,
            s.events_lost,
            s.bytes_per_event()
        ),
        Err(e) => eprintln!("track/*/recording: finish failed: {e}"),
    }
    let _ = std::fs::remove_file(&path);
}

fn main() {
    // What `criterion_group!`/`criterion_main!` expand to, without their undocumented `pub fn`.
    let mut c = Criterion::default().configure_from_args();
    track(&mut c);
    c.final_summary();
}
