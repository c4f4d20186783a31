//! A recording whose names are hostile to an HTML page, for the report's
//! escaping test (tests/browser): a tracked expression whose `stringify!`
//! text holds `</script><img src=x onerror=alert(1)>`, a scope named
//! `<script>…</script>`, quotes, backticks, ampersands, non-ASCII text, and
//! threads and foreign labels with markup in their names.
//!
//! ```text
//! cargo run --release --example hostile_names -- [OUT.memscope]
//! ```
//!
//! Every name must show in the report as the literal text, and no script
//! in it may run. The recording ends at process exit (memscope's `atexit`
//! hook finishes it), so what the program forgot is reported as leaks, and
//! the leak suggestions carry the hostile names too.

use std::collections::HashMap;
use std::path::PathBuf;

#[global_allocator]
static GLOBAL: memscope::TrackingAllocator = memscope::TrackingAllocator::system();

/// Thread names (the kernel keeps at most 15 bytes of each).
const THREAD_NAMES: [&str; 3] = ["</script><img", "<svg/onload=a()", "\"'&amp;`${x}`"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/memscope/hostile_names.memscope"));
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let recording = memscope::Recorder::new(&out).start()?;
    {
        let _scope = memscope::track_scope!("<script>alert('scope')</script>");
        let mut m: HashMap<&str, Vec<u8>> = HashMap::new();
        m.insert("</script><img src=x onerror=alert(1)>", vec![1; 100]);
        m.insert("\"quotes\" & 'apostrophes' `backticks` ${x}", vec![2; 200]);
        memscope::track_var!(m["</script><img src=x onerror=alert(1)>"]);
        memscope::track_var!(m["\"quotes\" & 'apostrophes' `backticks` ${x}"]);
        let données_日本 = String::from("Zürich, 東京, naïve façade");
        memscope::track_var!(données_日本);
        let kept = m.remove("</script><img src=x onerror=alert(1)>");
        std::mem::forget(kept);
    }
    let foreign = Box::new([0u8; 64]);
    memscope::ffi::track_foreign(foreign.as_ptr(), foreign.len(), "<b onmouseover=alert(2)>foreign</b>");
    memscope::ffi::untrack_foreign(foreign.as_ptr());
    let workers: Vec<_> = THREAD_NAMES
        .iter()
        .map(|name| {
            std::thread::Builder::new().name((*name).to_owned()).spawn(|| {
                let _scope = memscope::track_scope!("</td></tr><tr><td><img src=x onerror=alert(3)>");
                let keep: Vec<String> = (0..3).map(|k| format!("{k}: </script><img src=x onerror=alert(1)>")).collect();
                memscope::track_var!(keep);
                std::mem::forget(keep);
            })
        })
        .collect::<Result<_, _>>()?;
    for w in workers {
        w.join().map_err(|_| "a worker panicked")?;
    }
    // Not finished here: the atexit hook finishes it when the process exits.
    std::mem::forget(recording);
    println!("recording: {}", out.display());
    Ok(())
}
