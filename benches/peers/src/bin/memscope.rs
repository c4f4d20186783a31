//! The workload under memscope: `TrackingAllocator::system()` with a
//! recording running (`OnFull::Block`, default config) from before the
//! workload starts until `finish()` returns. Writes to `$MEMSCOPE_PEERS_OUT`
//! (default `peers.memscope` in the current directory).
//!
//! `MEMSCOPE_PEERS_ON_FULL=drop` records with `OnFull::Drop` instead, for a
//! diagnostic only: the allocating threads then never wait for the drainer,
//! so their time is the hot path's own cost (and events are lost).
//! `MEMSCOPE_PEERS_RECORD=0` runs the workload with no recording at all: the
//! tracking allocator's idle cost. `MEMSCOPE_PEERS_STACKS=0` records without
//! call stacks (`CallStacks::Off`), so the difference is what stacks cost.
//! `MEMSCOPE_PEERS_SAMPLING=BYTES` samples allocations by bytes
//! (`Recorder::sampling_interval_bytes`, e.g. 524288 as jemalloc and Go).

#[global_allocator]
static GLOBAL: memscope::TrackingAllocator = memscope::TrackingAllocator::system();

fn main() -> Result<(), memscope::Error> {
    let (n, t) = memscope_peers::args();
    let path = std::env::var_os("MEMSCOPE_PEERS_OUT").unwrap_or_else(|| "peers.memscope".into());
    let on_full = match std::env::var("MEMSCOPE_PEERS_ON_FULL").as_deref() {
        Ok("drop") => memscope::OnFull::Drop,
        _ => memscope::OnFull::Block,
    };
    if std::env::var("MEMSCOPE_PEERS_RECORD").as_deref() == Ok("0") {
        memscope_peers::run(n, t);
        return Ok(());
    }
    let stacks = match std::env::var("MEMSCOPE_PEERS_STACKS").as_deref() {
        Ok("0") => memscope::CallStacks::Off,
        _ => memscope::CallStacks::FramePointers,
    };
    let sampling: u64 = std::env::var("MEMSCOPE_PEERS_SAMPLING").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let t0 = std::time::Instant::now();
    let recording = memscope::Recorder::new(path).on_full(on_full).call_stacks(stacks).sampling_interval_bytes(sampling).start()?;
    let start_s = t0.elapsed().as_secs_f64();
    memscope_peers::run(n, t);
    let t1 = std::time::Instant::now();
    let s = recording.finish()?;
    let finish_s = t1.elapsed().as_secs_f64();
    println!(
        "start_s={start_s:.6} finish_s={finish_s:.6} events_written={} events_lost={} bytes_written={} bytes_per_event={:.4} chunks={} drainer_cpu_s={:.6} drainer_cpu_ns_per_event={:.2}",
        s.events_written,
        s.events_lost,
        s.bytes_written,
        s.bytes_per_event(),
        s.chunks,
        s.drainer_cpu_ns as f64 / 1e9,
        s.drainer_cpu_ns_per_event()
    );
    Ok(())
}
