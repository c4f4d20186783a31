//! The workload under memscope-rs 0.2.5: its `TrackingAllocator` as the
//! global allocator, as its docs show. It writes no file by itself.

#[global_allocator]
static GLOBAL: memscope_rs::TrackingAllocator = memscope_rs::TrackingAllocator::new();

fn main() {
    let (n, t) = memscope_peers::args();
    memscope_peers::run(n, t);
}
