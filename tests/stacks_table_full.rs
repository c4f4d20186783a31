//! A thread with more distinct call stacks than its stack table holds: the
//! allocations whose stacks were not captured are counted, every
//! allocation is still in exactly one site, and once the drainer has caught
//! up the table is emptied and new stacks are captured again (it does not
//! stay full for the rest of the process).

use memscope::export::profile::{Profile, TABLE_FULL};
use memscope::TrackingAllocator;
use std::hint::black_box;

#[global_allocator]
static A: TrackingAllocator = TrackingAllocator::system();

/// Allocates at recursion depth `depth` below a frame of `LEAF`: a distinct
/// stack per (LEAF, depth).
#[inline(never)]
fn deep<const LEAF: u32>(depth: u32) {
    if depth == 0 {
        drop(black_box(vec![0u8; 100 + LEAF as usize]));
    } else {
        deep::<LEAF>(black_box(depth - 1));
    }
    black_box(());
}

/// The second pass's entry: its stacks are told apart by this frame.
#[inline(never)]
fn second_pass() -> u64 {
    many_stacks()
}

/// About 1,100 distinct stacks of 20 to 110 frames: more frames than a
/// table holds (32,768).
#[inline(never)]
fn many_stacks() -> u64 {
    let mut n = 0;
    for depth in 10..100 {
        deep::<0>(depth);
        deep::<1>(depth);
        deep::<2>(depth);
        deep::<3>(depth);
        deep::<4>(depth);
        deep::<5>(depth);
        deep::<6>(depth);
        deep::<7>(depth);
        deep::<8>(depth);
        deep::<9>(depth);
        deep::<10>(depth);
        deep::<11>(depth);
        n += 12;
    }
    n
}

#[test]
fn a_full_stack_table_is_counted_and_then_emptied() {
    let path = std::env::temp_dir().join(format!("memscope-table-full-{}.memscope", std::process::id()));
    let recording = memscope::Recorder::new(&path).start().expect("start");
    let made = std::thread::spawn(|| {
        let mut made = many_stacks();
        // Let the drainer acknowledge the reset the full table asked for: a
        // second pass after each wait, the waits growing (0.1 s to 0.8 s),
        // so a drainer slowed by a loaded machine still gets its turn; a
        // pass made before the acknowledgement is counted as table-full.
        for wait_ms in [100, 200, 400, 800] {
            std::thread::sleep(std::time::Duration::from_millis(wait_ms));
            made += second_pass();
        }
        made
    })
    .join()
    .expect("worker");
    recording.finish().expect("finish");

    let replay = memscope::replay::replay_file(&path).expect("replay");
    let profile = Profile::build(&replay, &Default::default());
    let full = replay.stacks.table_full_allocations;
    assert!(full > 0, "more stacks than the table holds: some are not captured");
    let functions = |s: &memscope::export::profile::Site| -> Vec<String> {
        s.locations.iter().flat_map(|&l| profile.locations[l].lines.iter().map(|l| l.function.clone())).collect()
    };
    let ours = |s: &&memscope::export::profile::Site| functions(s).iter().any(|f| f.contains("stacks_table_full::deep"));
    let captured: u64 = profile.sites.iter().filter(ours).map(|s| s.stats.allocations).sum();
    let in_full_site: u64 =
        profile.sites.iter().filter(|s| functions(s).iter().any(|f| f == TABLE_FULL)).map(|s| s.stats.allocations).sum();
    assert_eq!(in_full_site, full, "the [stack table full] site holds exactly the counted allocations");
    assert!(captured + full >= made, "every allocation of the workload is in a site: {captured} + {full} < {made}");
    let second: u64 = profile
        .sites
        .iter()
        .filter(|s| functions(s).iter().any(|f| f.ends_with("stacks_table_full::second_pass")))
        .map(|s| s.stats.allocations)
        .sum();
    assert!(second > 0, "after the reset, the second pass's stacks are captured again");
    let total: u64 = profile.sites.iter().map(|s| s.stats.allocations).sum();
    assert_eq!(total, replay.summary.total_allocations, "every allocation in exactly one site");
    let _ = std::fs::remove_file(&path);
}
