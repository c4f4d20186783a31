//! The error bound of a sampling recording's estimates holds: over 200
//! independent runs of a workload with known figures per site, the exact
//! figure lies within ±1.96·se of the estimate in about 95% of the runs
//! (asserted: 88% to 99%, for figures resting on 20 expected samples or
//! more), and the se is about the spread of the errors (neither hugely
//! conservative nor too small). Also: the histograms, the timeline and the
//! leaks are weighted as the sites are.
//!
//! 200 runs cheaply: 10 recordings of 20 threads; thread `t` runs the
//! workload under `t + 1` nested calls, so each thread's sites are sites
//! of their own, sampled by the thread's own generator (FORMAT.md,
//! "Sampling record": each thread's generator starts from the recording's
//! seed and its thread id).

use memscope::export::profile::Profile;
use memscope::format::sampling::{sample_bytes_weight, sample_count_weight};
use memscope::replay::{Replay, SiteStats};
use memscope::TrackingAllocator;
use std::alloc::{alloc, dealloc, realloc, Layout};
use std::collections::HashMap;
use std::hint::black_box;

#[global_allocator]
static A: TrackingAllocator = TrackingAllocator::system();

const INTERVAL: u64 = 1024;
const RECORDINGS: u64 = 10;
const THREADS: usize = 20;

/// `tiny`: 3000 allocations of 32 bytes, every other one kept.
const TINY: (usize, usize) = (32, 3000);
/// `mixed`: 400 allocations cycling through these sizes, every other one kept.
const MIXED: [usize; 4] = [16, 100, 600, 3000];
const MIXED_N: usize = 400;
/// `seed` allocates 600 blocks of 600 bytes; `grow` reallocates every
/// other one to 1500 bytes. A quarter of each is kept.
const SEED: (usize, usize) = (600, 600);
const GROWN: usize = 1500;

/// Blocks kept, pushed within the capacity reserved (so that the site
/// functions allocate nothing else).
type Kept = Vec<(usize, Layout)>;

#[inline(never)]
fn tiny(kept: &mut Kept) {
    let l = Layout::from_size_align(TINY.0, 8).unwrap();
    for i in 0..TINY.1 {
        // SAFETY: non-zero size.
        let p = unsafe { alloc(l) };
        assert!(!p.is_null());
        if i % 2 == 0 {
            kept.push((p as usize, l));
        } else {
            // SAFETY: allocated with `l`.
            unsafe { dealloc(p, l) };
        }
    }
}

#[inline(never)]
fn mixed(kept: &mut Kept) {
    for i in 0..MIXED_N {
        let l = Layout::from_size_align(MIXED[i % 4], 8).unwrap();
        // SAFETY: non-zero size.
        let p = unsafe { alloc(l) };
        assert!(!p.is_null());
        if (i / 4) % 2 == 0 {
            kept.push((p as usize, l));
        } else {
            // SAFETY: allocated with `l`.
            unsafe { dealloc(p, l) };
        }
    }
}

#[inline(never)]
fn seed() -> *mut u8 {
    // SAFETY: non-zero size.
    unsafe { alloc(Layout::from_size_align(SEED.0, 8).unwrap()) }
}

#[inline(never)]
fn grow(p: *mut u8) -> *mut u8 {
    // SAFETY: `p` was allocated by `seed` with this layout.
    unsafe { realloc(p, Layout::from_size_align(SEED.0, 8).unwrap(), GROWN) }
}

fn seed_and_grow(kept: &mut Kept) {
    for i in 0..SEED.1 {
        let p = seed();
        assert!(!p.is_null());
        let (p, l) = if i % 2 == 0 {
            let q = grow(p);
            assert!(!q.is_null());
            (q, Layout::from_size_align(GROWN, 8).unwrap())
        } else {
            (p, Layout::from_size_align(SEED.0, 8).unwrap())
        };
        if i % 4 < 2 {
            // SAFETY: allocated with `l`.
            unsafe { dealloc(p, l) };
        } else {
            kept.push((p as usize, l));
        }
    }
}

fn workload() -> Kept {
    let mut kept = Vec::with_capacity(TINY.1 + MIXED_N + SEED.1);
    tiny(&mut kept);
    mixed(&mut kept);
    seed_and_grow(&mut kept);
    kept
}

/// Runs `f` under `depth` nested calls of itself (not a tail call).
#[inline(never)]
fn nest(depth: usize, f: fn() -> Kept) -> Kept {
    if depth == 0 {
        return f();
    }
    black_box(nest(black_box(depth - 1), f))
}

/// The site functions, by name.
const SITES: [&str; 5] = ["tiny", "mixed", "seed", "grow", "nest"];

/// One figure checked: its name, the site, the exact value, and how the
/// estimate and its se are read from the site.
type Figure = (&'static str, usize, f64, fn(&SiteStats) -> (u64, u64), f64);

/// A sampling recording's site has an estimate.
fn e(s: &SiteStats) -> memscope::replay::SiteEstimate {
    s.estimate.expect("a sampling recording's site has an estimate")
}

fn figures() -> Vec<Figure> {
    let p = |size: usize| 1.0 - (-(size as f64) / INTERVAL as f64).exp();
    let mixed_bytes: usize = MIXED.iter().sum::<usize>() * MIXED_N / 4;
    let mixed_samples: f64 = MIXED.iter().map(|&s| p(s)).sum::<f64>() * (MIXED_N / 4) as f64;
    vec![
        ("allocated bytes", 0, (TINY.0 * TINY.1) as f64, |s| (s.allocated_bytes, e(s).allocated_bytes_se), TINY.1 as f64 * p(TINY.0)),
        ("allocations", 0, TINY.1 as f64, |s| (s.allocations, e(s).allocations_se), TINY.1 as f64 * p(TINY.0)),
        (
            "live bytes at the end",
            0,
            (TINY.0 * TINY.1 / 2) as f64,
            |s| (s.live_bytes_end, e(s).live_bytes_end_se),
            TINY.1 as f64 / 2.0 * p(TINY.0),
        ),
        ("live count at the end", 0, (TINY.1 / 2) as f64, |s| (s.live_count_end, e(s).live_count_end_se), TINY.1 as f64 / 2.0 * p(TINY.0)),
        ("allocated bytes", 1, mixed_bytes as f64, |s| (s.allocated_bytes, e(s).allocated_bytes_se), mixed_samples),
        ("allocations", 1, MIXED_N as f64, |s| (s.allocations, e(s).allocations_se), mixed_samples),
        ("live bytes at the end", 1, (mixed_bytes / 2) as f64, |s| (s.live_bytes_end, e(s).live_bytes_end_se), mixed_samples / 2.0),
        ("allocated bytes", 2, (SEED.0 * SEED.1) as f64, |s| (s.allocated_bytes, e(s).allocated_bytes_se), SEED.1 as f64 * p(SEED.0)),
        (
            "live bytes at the end",
            2,
            (SEED.0 * SEED.1 / 4) as f64,
            |s| (s.live_bytes_end, e(s).live_bytes_end_se),
            SEED.1 as f64 / 4.0 * p(SEED.0),
        ),
        (
            "allocated bytes",
            3,
            (GROWN * SEED.1 / 2) as f64,
            |s| (s.allocated_bytes, e(s).allocated_bytes_se),
            SEED.1 as f64 / 2.0 * p(GROWN),
        ),
        ("reallocations", 3, (SEED.1 / 2) as f64, |s| (s.reallocations, e(s).reallocations_se), SEED.1 as f64 / 2.0 * p(GROWN) * p(SEED.0)),
        (
            "live bytes at the end",
            3,
            (GROWN * SEED.1 / 4) as f64,
            |s| (s.live_bytes_end, e(s).live_bytes_end_se),
            SEED.1 as f64 / 4.0 * p(GROWN),
        ),
    ]
}

/// Per site: the return address that identifies its function (the same
/// in every recording), found by symbolizing.
fn addresses(r: &Replay) -> [u64; 5] {
    let profile = Profile::build(r, &Default::default());
    let mut found = [0u64; 5];
    for site in &profile.sites {
        for &l in &site.locations {
            let loc = &profile.locations[l];
            for line in &loc.lines {
                if let Some(k) = SITES.iter().position(|s| line.function.ends_with(&format!("sampling_error::{s}"))) {
                    // `nest` has two call sites (itself, and the thread's
                    // closure): the recursive one is the most frequent.
                    if k != 4 || found[4] == 0 {
                        found[k] = loc.address;
                    }
                }
            }
        }
    }
    found
}

/// The sites of `r` by (function, thread depth): the site whose innermost
/// known function is that, under `depth` recursive `nest` frames.
fn by_site(r: &Replay, addr: &[u64; 5], nest_addr: u64) -> HashMap<(usize, usize), SiteStats> {
    let mut out = HashMap::new();
    for s in &r.stacks.sites {
        let frames = r.stacks.frames(s.stack);
        let Some(k) = (0..4).find(|&k| frames.contains(&addr[k])) else { continue };
        // `grow` is called from `seed_and_grow`, as `seed` is: the site of
        // `seed` holds no `grow` frame.
        let k = if k == 2 && frames.contains(&addr[3]) { 3 } else { k };
        let depth = frames.iter().filter(|&&f| f == nest_addr).count();
        // One site of the source may be several stack ids (the recorder
        // writes a sampled reallocation and one written as an allocation
        // from different places): their estimates add up.
        match out.entry((k, depth)) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(s.clone());
            }
            std::collections::hash_map::Entry::Occupied(mut o) => {
                let t = o.get_mut();
                t.allocations += s.allocations;
                t.reallocations += s.reallocations;
                t.allocated_bytes += s.allocated_bytes;
                t.live_count_end += s.live_count_end;
                t.live_bytes_end += s.live_bytes_end;
                t.estimate = Some(e(t).combined(&e(s)));
            }
        }
    }
    out
}

#[test]
fn the_error_bound_covers_the_exact_figure_in_about_95_percent_of_runs() {
    let figs = figures();
    // Per figure: (error / se, error) of every run.
    let mut runs: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new(); figs.len()];
    let mut addr = [0u64; 5];
    let mut nest_addr = 0;
    for rec in 0..RECORDINGS {
        let path = std::env::temp_dir().join(format!("memscope-sampling-error-{}-{rec}.memscope", std::process::id()));
        let guard =
            memscope::Recorder::new(&path).sampling_interval_bytes(INTERVAL).sampling_seed(rec * 104_729 + 17).start().expect("start");
        let threads: Vec<_> = (0..THREADS).map(|t| std::thread::spawn(move || nest(t + 1, workload))).collect();
        let kept: Vec<(usize, Layout)> = threads.into_iter().flat_map(|t| t.join().expect("worker")).collect();
        guard.finish().expect("finish");
        for &(p, l) in &kept {
            // SAFETY: allocated with `l`, freed once.
            unsafe { dealloc(p as *mut u8, l) };
        }
        let r = memscope::replay::replay_file(&path).expect("replay");
        let _ = std::fs::remove_file(&path);
        assert!(r.stacks.recorded, "this test needs call stacks (frame pointers)");
        assert_eq!(r.sampling.as_ref().map(|s| s.interval_bytes), Some(INTERVAL));
        if rec == 0 {
            addr = addresses(&r);
            assert!(addr[..4].iter().all(|&a| a != 0), "every site function found: {addr:?}");
            // The recursive call's return address: the `nest` address seen
            // most often in the stacks of `tiny`.
            let mut counts: HashMap<u64, usize> = HashMap::new();
            let profile = Profile::build(&r, &Default::default());
            for loc in &profile.locations {
                if loc.lines.iter().any(|l| l.function.ends_with("sampling_error::nest")) {
                    for s in &r.stacks.sites {
                        *counts.entry(loc.address).or_default() += r.stacks.frames(s.stack).iter().filter(|&&f| f == loc.address).count();
                    }
                }
            }
            nest_addr = counts.into_iter().max_by_key(|&(_, n)| n).map(|(a, _)| a).expect("nest found");
        }
        let sites = by_site(&r, &addr, nest_addr);
        for t in 0..THREADS {
            for (j, &(_, k, truth, read, _)) in figs.iter().enumerate() {
                // A site with no sample is not in the recording: estimate 0, se 0.
                let (est, se) = sites.get(&(k, t + 1)).map_or((0, 0), read);
                runs[j].push((est as f64, se as f64, truth));
            }
        }

        // The histograms, the timeline and the leaks are weighted as the
        // sites are (they held the samples unweighted before).
        let site_bytes: u64 = r.stacks.sites.iter().map(|s| s.allocated_bytes).sum();
        let hist_bytes: u64 = r.size_histogram.iter().map(|b| b.bytes).sum();
        assert_eq!(hist_bytes, site_bytes, "the size histogram's bytes are the sites' estimates");
        let hist_count: u64 = r.size_histogram.iter().map(|b| b.count).sum();
        let sampled = r.sampling.as_ref().map_or(0, |s| s.sampled.total_allocations + s.sampled.total_reallocations);
        assert!(hist_count > 5 * sampled, "the size histogram counts {hist_count} allocations, estimated from {sampled} samples");
        let peak: u64 = r.stacks.sites.iter().map(|s| s.peak_bytes).sum();
        let timeline_max = r.timeline.iter().map(|p| p.live_bytes).max().unwrap_or(0);
        assert_eq!(timeline_max, peak, "the timeline's largest point is the sites' estimated peak");
        assert_eq!(r.sampling.as_ref().map(|s| s.estimated_peak_bytes), Some(peak));
        let leak = r.largest_leaks.first().expect("leaks listed");
        let w = leak.stands_for.expect("a sampled leak says what it stands for");
        assert_eq!(w.bytes, sample_bytes_weight(leak.size, INTERVAL));
        assert_eq!(w.count, sample_count_weight(leak.size, INTERVAL).round().max(1.0) as u64);
    }

    eprintln!("| site | figure | expected samples | runs within ±1.96·se | mean error | mean se | sd of errors | se / sd |");
    eprintln!("|---|---|---|---|---|---|---|---|");
    for (j, &(what, k, truth, _, expected)) in figs.iter().enumerate() {
        let n = runs[j].len() as f64;
        let within = runs[j].iter().filter(|&&(est, se, t)| (est - t).abs() <= 1.96 * se).count() as f64 / n;
        let errors: Vec<f64> = runs[j].iter().map(|&(est, _, t)| est - t).collect();
        let mean_err = errors.iter().sum::<f64>() / n;
        let sd = (errors.iter().map(|e| (e - mean_err).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        let mean_se = runs[j].iter().map(|r| r.1).sum::<f64>() / n;
        eprintln!(
            "| {} | {what} | {expected:.0} | {:.1}% | {:+.2}% | {:.2}% | {:.2}% | {:.2} |",
            SITES[k],
            within * 100.0,
            mean_err / truth * 100.0,
            mean_se / truth * 100.0,
            sd / truth * 100.0,
            mean_se / sd
        );
        assert!(expected >= 20.0, "{what} at {}: {expected:.0} expected samples", SITES[k]);
        // The count of the mixed site rests on the few samples of its
        // smallest allocations (16 bytes: 1.6 expected samples, each
        // standing for 65): its estimate is skewed, and ±1.96·se covers
        // less often than 95%. Reported, with a looser band.
        let skewed = k == 1 && what == "allocations";
        let band = if skewed { 0.70..=0.99 } else { 0.88..=0.99 };
        assert!(band.contains(&within), "{what} at {}: the exact figure within ±1.96·se in {:.1}% of runs", SITES[k], within * 100.0);
        assert!((0.75..=1.33).contains(&(mean_se / sd)), "{what} at {}: mean se {mean_se:.0} vs sd of errors {sd:.0}", SITES[k]);
        // And unbiased: the mean error within 4 standard errors of the mean.
        assert!(mean_err.abs() <= 4.0 * sd / n.sqrt(), "{what} at {}: mean error {mean_err:.0}, sd {sd:.0}", SITES[k]);
    }
}
