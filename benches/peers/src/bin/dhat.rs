//! The workload under dhat-rs 0.3.3: `dhat::Alloc` and a heap profiler
//! running for the whole of `main`; it writes `$DHAT_PEERS_OUT` (default
//! `dhat-heap.json`) when the profiler is dropped.

#[global_allocator]
static GLOBAL: dhat::Alloc = dhat::Alloc;

fn main() {
    let (n, t) = memscope_peers::args();
    let file = std::env::var_os("DHAT_PEERS_OUT").unwrap_or_else(|| "dhat-heap.json".into());
    let profiler = dhat::Profiler::builder().file_name(file).build();
    memscope_peers::run(n, t);
    drop(profiler);
}
