//! Sampling by bytes is unbiased: one workload with known bytes per site
//! (sizes far below, below, at and far above the interval), run under 100
//! independent seeds: 10 recordings with different seeds, each running the
//! workload on 10 threads (each thread's generator starts from the
//! recording's seed and its thread id, FORMAT.md "Sampling record"). The
//! mean over the 100 of each site's estimated allocated bytes and live
//! bytes at the end is within 1% of the truth. Goes through the real
//! recording path (the allocator's countdown, the sampled-address set, the
//! drainer) and replay's weights. (One thread per recording and 100
//! recordings took a minute, most of it in the 100 `fsync`s.)

use memscope::export::profile::Profile;
use memscope::TrackingAllocator;
use std::alloc::{alloc, dealloc, Layout};
use std::collections::HashMap;

#[global_allocator]
static A: TrackingAllocator = TrackingAllocator::system();

const INTERVAL: u64 = 512;
const RECORDINGS: u64 = 10;
const THREADS: usize = 10;
/// Per site: its function's name, the size of its allocations, how many.
const SITES: [(&str, usize, usize); 4] =
    [("site_tiny", 24, 48_000), ("site_small", 400, 2_900), ("site_at", 512, 2_300), ("site_huge", 8192, 140)];

#[inline(never)]
fn site_tiny(l: Layout) -> *mut u8 {
    // SAFETY: non-zero size.
    unsafe { alloc(l) }
}
#[inline(never)]
fn site_small(l: Layout) -> *mut u8 {
    // SAFETY: non-zero size.
    unsafe { alloc(l) }
}
#[inline(never)]
fn site_at(l: Layout) -> *mut u8 {
    // SAFETY: non-zero size.
    unsafe { alloc(l) }
}
#[inline(never)]
fn site_huge(l: Layout) -> *mut u8 {
    // SAFETY: non-zero size.
    unsafe { alloc(l) }
}

/// Runs the workload; returns the blocks kept (every other one of each site).
fn workload(kept: &mut Vec<(*mut u8, Layout)>) {
    let fns: [fn(Layout) -> *mut u8; 4] = [site_tiny, site_small, site_at, site_huge];
    // Interleaved, so that every site sees the countdown in every state.
    let most = SITES.iter().map(|s| s.2).max().unwrap_or(0);
    for i in 0..most {
        for (k, &(_, size, n)) in SITES.iter().enumerate() {
            if i * n / most != (i + 1) * n / most {
                let l = Layout::from_size_align(size, 8).unwrap();
                let p = fns[k](l);
                assert!(!p.is_null());
                if i % 2 == 0 {
                    kept.push((p, l));
                } else {
                    // SAFETY: allocated with `l`.
                    unsafe { dealloc(p, l) };
                }
            }
        }
    }
}

#[test]
fn estimates_per_site_are_unbiased_over_100_seeds() {
    // Per site: the frame (a return address inside the site's function,
    // the same in every recording) that identifies it, found by
    // symbolizing the first recording.
    let mut frame_of: Vec<Option<u64>> = vec![None; SITES.len()];
    let mut sums = [[0f64; 2]; SITES.len()];
    let mut truth = [[0u64; 2]; SITES.len()];
    for seed in 0..RECORDINGS {
        let path = std::env::temp_dir().join(format!("memscope-sampling-unbiased-{}-{seed}.memscope", std::process::id()));
        let rec = memscope::Recorder::new(&path).sampling_interval_bytes(INTERVAL).sampling_seed(seed * 7919 + 1).start().expect("start");
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                std::thread::spawn(|| {
                    let mut kept = Vec::with_capacity(30_000);
                    workload(&mut kept);
                    kept.into_iter().map(|(p, l)| (p as usize, l)).collect::<Vec<_>>()
                })
            })
            .collect();
        let kept: Vec<(usize, Layout)> = threads.into_iter().flat_map(|t| t.join().expect("worker")).collect();
        rec.finish().expect("finish");
        if seed == 0 {
            for (k, &(_, size, _)) in SITES.iter().enumerate() {
                truth[k][1] = kept.iter().filter(|b| b.1.size() == size).count() as u64 * size as u64;
            }
        }
        for &(p, l) in &kept {
            // SAFETY: allocated with `l`, freed once.
            unsafe { dealloc(p as *mut u8, l) };
        }
        let r = memscope::replay::replay_file(&path).expect("replay");
        let _ = std::fs::remove_file(&path);
        assert!(r.stacks.recorded, "this test needs call stacks (frame pointers)");
        if seed == 0 {
            let profile = Profile::build(&r, &Default::default());
            for site in &profile.sites {
                for &l in &site.locations {
                    let loc = &profile.locations[l];
                    for line in &loc.lines {
                        if let Some(k) = SITES.iter().position(|s| line.function.ends_with(&format!("sampling_unbiased::{}", s.0))) {
                            frame_of[k] = Some(loc.address);
                        }
                    }
                }
            }
            assert!(frame_of.iter().all(Option::is_some), "every site found in the first recording: {frame_of:?}");
        }
        let mut seen: HashMap<usize, [u64; 2]> = HashMap::new();
        for s in &r.stacks.sites {
            let frames = r.stacks.frames(s.stack);
            if let Some(k) = frame_of.iter().position(|f| f.is_some_and(|f| frames.contains(&f))) {
                let e = seen.entry(k).or_default();
                e[0] += s.allocated_bytes;
                e[1] += s.live_bytes_end;
            }
        }
        for (k, sum) in sums.iter_mut().enumerate() {
            let e = seen.get(&k).copied().unwrap_or_default();
            sum[0] += e[0] as f64;
            sum[1] += e[1] as f64;
        }
    }
    for (k, &(name, size, n)) in SITES.iter().enumerate() {
        truth[k][0] = (size * n * THREADS) as u64;
        for (what, j) in [("allocated bytes", 0), ("live bytes at the end", 1)] {
            let mean = sums[k][j] / RECORDINGS as f64;
            let err = mean / truth[k][j] as f64 - 1.0;
            eprintln!("{name} ({size} B): {what}: true {}, mean estimate {mean:.0}, error {:+.3}%", truth[k][j], err * 100.0);
            assert!(err.abs() < 0.01, "{name}: {what}: mean estimate {mean:.0} vs {} ({:+.2}%)", truth[k][j], err * 100.0);
        }
    }
}
