//! Any bytes as a recording: replay and the JSON export must return a
//! result or an error, never panic, and stay within replay's memory limits
//! (libFuzzer's `-rss_limit_mb` catches unbounded growth).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(replay) = memscope::replay::Replay::from_reader(data, Path::new("fuzz.memscope")) {
        let _ = memscope::export::json(&replay, std::io::sink());
    }
});
