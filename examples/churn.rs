//! A synthetic allocation churn of a chosen size, for the HTML report's
//! scale bench (`benches/report_scale.sh`) and the browser tests.
//!
//! ```text
//! cargo run --release --example churn -- [--drop] [EVENTS [OUT.memscope]]
//! ```
//!
//! Two worker threads each keep a pool of live blocks of random sizes
//! (8 bytes to 64 KiB, mostly small) and replace a random one at every
//! step (a deallocation and an allocation), now and then growing a `Vec`
//! (reallocations), until about `EVENTS` events (default 10,000,000) have
//! been recorded; every 1024th new block is tracked (`track_var!`, inside a
//! `refill` scope), and a few blocks are leaked on purpose. The recording goes to
//! `OUT.memscope` (default `target/memscope/churn.memscope`).
//!
//! `--drop` records under `OnFull::Drop` with the smallest rings (64
//! events), so that events are lost when the drainer falls behind: a
//! recording that shows how a report flags lost events.

use std::path::PathBuf;
use std::time::Instant;

#[global_allocator]
static GLOBAL: memscope::TrackingAllocator = memscope::TrackingAllocator::system();

const WORKERS: u64 = 2;
const POOL: usize = 4096;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let all: Vec<String> = std::env::args().skip(1).collect();
    let drop_mode = all.iter().any(|a| a == "--drop");
    let mut args = all.into_iter().filter(|a| a != "--drop");
    let events: u64 = match args.next() {
        Some(a) => a.replace('_', "").parse().map_err(|e| format!("EVENTS must be a whole number, not {a:?}: {e}"))?,
        None => 10_000_000,
    };
    let out =
        args.next().map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/memscope/churn.memscope"));
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }

    let mut recorder = memscope::Recorder::new(&out);
    if drop_mode {
        recorder = recorder.on_full(memscope::OnFull::Drop).ring_capacity(64);
    }
    let recording = recorder.start()?;
    let started = Instant::now();
    // Each step is one deallocation and one allocation: two events.
    let steps = events / 2 / WORKERS;
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| std::thread::Builder::new().name(format!("churn-{w}")).spawn(move || churn(w + 1, steps)))
        .collect::<Result<_, _>>()?;
    let mut leaked = 0;
    for w in workers {
        leaked += w.join().map_err(|_| "a worker panicked")?;
    }
    let summary = recording.finish()?;
    println!(
        "churn: {} steps on {WORKERS} threads in {:.2} s, {leaked} blocks leaked on purpose",
        steps * WORKERS,
        started.elapsed().as_secs_f64()
    );
    println!("{summary}");
    println!("recording: {}", out.display());
    Ok(())
}

/// Replaces random blocks of a pool `steps` times; returns how many it leaked.
fn churn(seed: u64, steps: u64) -> usize {
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        // xorshift64*
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut pool: Vec<Vec<u8>> = (0..POOL).map(|_| Vec::new()).collect();
    let mut growing: Vec<u64> = Vec::new();
    for step in 0..steps {
        let r = next();
        let slot = (r % POOL as u64) as usize;
        // Sizes mostly small: 8 << (0..=13), skewed to the low end.
        let shift = (r >> 32).trailing_zeros().min(13);
        let size = 8usize << shift;
        if step % 1024 == 0 {
            let _scope = memscope::track_scope!("refill");
            pool[slot] = Vec::with_capacity(size + (r >> 48) as usize % size);
            memscope::track_var!(pool[slot]);
        } else {
            pool[slot] = Vec::with_capacity(size + (r >> 48) as usize % size);
        }
        if step % 64 == 0 {
            growing.push(step);
            if growing.len() == 1 {
                memscope::track_var!(growing);
            }
            if growing.len() > 1 << 14 {
                growing = Vec::new();
            }
        }
    }
    // Leak a few blocks: they show as live at the end.
    let leaked = pool.len() / 512;
    for block in pool.drain(..leaked) {
        std::mem::forget(block);
    }
    leaked
}
