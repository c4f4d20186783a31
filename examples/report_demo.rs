//! A small program that uses every tracking feature, for the HTML report's
//! browser tests and screenshots (tests/browser): scopes on three threads,
//! a growing `Vec` (reallocations), an `Rc` and an `Arc` shared by clones,
//! short-lived temporaries, a leak, and memory crossing the FFI boundary.
//!
//! ```text
//! cargo run --release --example report_demo -- [OUT.memscope]
//! memscope html OUT.memscope -o report.html
//! ```

use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

#[global_allocator]
static GLOBAL: memscope::TrackingAllocator = memscope::TrackingAllocator::system();

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/memscope/report_demo.memscope"));
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let recording = memscope::Recorder::new(&out).start()?;

    let config = Rc::new(String::from("threads=2 words=20000"));
    memscope::track_var!(config);
    let config_for_report = memscope::track_clone!(config);

    let lines = {
        let _load = memscope::track_scope!("load");
        // Grown one push at a time, no capacity reserved: reallocations.
        let mut lines: Vec<String> = vec![String::from("start")];
        memscope::track_var!(lines);
        for i in 0..20_000u32 {
            lines.push(format!("{} event {} user{}", i * 7 % 1000, ["open", "read", "close"][i as usize % 3], i % 97));
        }
        lines
    };

    let words = Arc::new(lines);
    memscope::track_var!(words);
    let workers: Vec<_> = (0..2)
        .map(|w| {
            let words = memscope::track_clone!(words);
            std::thread::Builder::new().name(format!("worker-{w}")).spawn(move || {
                let _index = memscope::track_scope!("index");
                let mut counts: HashMap<String, u32> = HashMap::new();
                for line in words.iter().skip(w).step_by(2) {
                    let _tokenize = memscope::track_scope!("tokenize");
                    for word in line.split(' ') {
                        // A temporary per word: short-lived allocations.
                        let lower = word.to_lowercase();
                        *counts.entry(lower).or_default() += 1;
                    }
                }
                memscope::track_var!(counts);
                counts.len()
            })
        })
        .collect::<Result<_, _>>()?;
    let distinct: usize = workers.into_iter().map(|w| w.join().map_err(|_| "a worker panicked")).sum::<Result<_, _>>()?;

    {
        let _report = memscope::track_scope!("report");
        let summary = format!("{distinct} distinct words; config {config_for_report}");
        memscope::track_var!(summary);
        // A cache nobody frees: leaked at exit.
        let cache: Box<[u8]> = vec![0u8; 48 * 1024].into_boxed_slice();
        memscope::track_var!(cache);
        Box::leak(cache);
        // Memory handed to C (which would free it through a callback).
        let handed = memscope::ffi::into_raw(Box::new([0u8; 256]), "passed to libfoo_consume");
        // Memory C allocated, held by Rust for a while.
        let size = 4096;
        // SAFETY: malloc has no preconditions; the result is checked for null before use.
        let foreign = unsafe { libc::malloc(size) };
        if !foreign.is_null() {
            memscope::ffi::track_foreign(foreign, size, "libfoo frame buffer");
            memscope::ffi::untrack_foreign(foreign);
            // SAFETY: `foreign` came from malloc above and is freed once.
            unsafe { libc::free(foreign) };
        }
        // SAFETY: `handed` came from Box::into_raw above; taking it back once.
        drop(unsafe { Box::from_raw(handed) });
    }
    drop(words);

    let summary = recording.finish()?;
    println!("{summary}");
    println!("recording: {}", out.display());
    Ok(())
}
