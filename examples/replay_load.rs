//! Recordings for the replay benchmark (benches/README.md, "Issue 10: replay").
//!
//! ```text
//! cargo run --release --example replay_load -- peers N T OUT.memscope
//! cargo run --release --example replay_load -- leak N OUT.memscope
//! ```
//!
//! `peers`: the peers workload (`benches/common`: N allocation and
//! deallocation pairs of 8 to 511 bytes split across T threads), call stacks
//! on, `OnFull::Block`. `leak`: N allocations of 8 to 511 bytes made one
//! after another and never freed (memory is leaked on purpose), so that
//! replay holds N live allocations at the end.

#[path = "../benches/common/mod.rs"]
mod common;

#[global_allocator]
static GLOBAL: memscope::TrackingAllocator = memscope::TrackingAllocator::system();

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: replay_load peers N T OUT | replay_load leak N OUT";
    let num = |i: usize| -> Result<u64, String> {
        let a = args.get(i).ok_or(usage)?;
        a.replace('_', "").parse().map_err(|e| format!("{a:?} is not a whole number: {e}"))
    };
    match args.first().map(String::as_str) {
        Some("peers") => {
            let (n, t) = (num(1)?, num(2)?.max(1));
            let out = args.get(3).ok_or(usage)?;
            let recording = memscope::Recorder::new(out).call_stacks(memscope::CallStacks::FramePointers).start()?;
            let handles: Vec<_> = (0..t)
                .map(|i| {
                    let share = n / t + u64::from(i < n % t);
                    std::thread::spawn(move || common::run_global(share, i))
                })
                .collect();
            for h in handles {
                h.join().map_err(|_| "a workload thread panicked")?;
            }
            let s = recording.finish()?;
            println!("events_written={} events_lost={} bytes_per_event={:.3}", s.events_written, s.events_lost, s.bytes_per_event());
        }
        Some("leak") => {
            let n = num(1)?;
            let out = args.get(2).ok_or(usage)?;
            let recording = memscope::Recorder::new(out).call_stacks(memscope::CallStacks::FramePointers).start()?;
            let mut x = 0x9e37_79b9_7f4a_7c15u64;
            for _ in 0..n {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let v: Vec<u8> = Vec::with_capacity(8 + (x % 504) as usize);
                std::mem::forget(std::hint::black_box(v));
            }
            let s = recording.finish()?;
            println!("events_written={} events_lost={} bytes_per_event={:.3}", s.events_written, s.events_lost, s.bytes_per_event());
        }
        _ => return Err(usage.into()),
    }
    Ok(())
}
