//! A sampled-address set with no room: the samples it cannot hold are
//! counted in the Totals records (`untracked_samples`), stay live in
//! replay, and the totals stay exact.

mod common;

use common::{counted, quiesce_harness, temp_path, CountingAlloc, Counts};
use memscope::TrackingAllocator;

#[global_allocator]
static A: TrackingAllocator<CountingAlloc> = TrackingAllocator::new(CountingAlloc::new());

#[test]
fn a_full_sampled_set_is_counted() {
    let path = temp_path("sampling_set_full");
    quiesce_harness();
    // One bucket of 8 cells; every allocation of 64 KiB is sampled at 64 bytes.
    let rec = memscope::Recorder::new(&path).sampling_interval_bytes(64).sampled_set_cells(8).sampling_seed(1).start().expect("start");
    let before = Counts::now();
    counted(|| {
        let blocks: Vec<Vec<u8>> = (0..100).map(|_| vec![0u8; 1 << 16]).collect();
        drop(blocks);
    });
    let c = Counts::now().since(&before);
    let in_set = memscope::record::sampled_addresses();
    rec.finish().expect("finish");
    let r = memscope::replay::replay_file(&path).expect("replay");
    let sampling = r.sampling.as_ref().expect("sampling");
    assert!(sampling.untracked_samples >= 92, "100 live blocks, 8 cells: {} untracked", sampling.untracked_samples);
    assert_eq!(in_set, 0, "every tracked block was freed");
    // The untracked samples' deallocations were not recorded: they stay live.
    assert_eq!(sampling.sampled.live_count, sampling.untracked_samples);
    assert_eq!(r.summary.total_allocations, c.allocs);
    assert_eq!(r.summary.total_deallocations, c.deallocs);
    assert_eq!(r.summary.live_bytes, c.live_bytes());
    let _ = std::fs::remove_file(&path);
}
