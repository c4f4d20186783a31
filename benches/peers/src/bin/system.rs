//! The baseline: the workload on `std::alloc::System` (glibc malloc), no tool.
//! Also the binary heaptrack runs (it hooks malloc with LD_PRELOAD).

fn main() {
    let (n, t) = memscope_peers::args();
    memscope_peers::run(n, t);
}
