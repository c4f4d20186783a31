//! Issue 9, item 13: a program without `#[global_allocator]` set to
//! `TrackingAllocator` records no allocation; `start()` and `finish()`
//! succeed, and the `Summary`, the file's End record, `memscope info` and
//! the report say why the recording holds no allocation.
//!
//! This test binary has no `#[global_allocator]` on purpose; it sits with the
//! CLI's tests because it runs `memscope info`.

use std::hint::black_box;
use std::process::Command;

#[test]
fn a_recording_without_the_tracking_allocator_says_so() {
    let path = std::env::temp_dir().join(format!("memscope-no-global-allocator-{}.memscope", std::process::id()));
    let recording = memscope::Recorder::new(&path).start().expect("start");
    let v: Vec<u64> = black_box((0..1000).collect());
    memscope::track_var!(v);
    drop(v);
    let summary = recording.finish().expect("finish");
    assert!(!summary.allocator_installed, "{summary:?}");
    let text = summary.to_string();
    assert!(text.contains("NO ALLOCATION RECORDED") && text.contains("#[global_allocator]"), "{text}");

    let replay = memscope::replay::replay_file(&path).expect("replay");
    assert_eq!(replay.summary.total_allocations, 0);
    assert!(replay.end.is_some_and(|e| e.no_tracking_allocator), "{:?}", replay.end);
    // The tracking macros still recorded: the variable is there, unlinked.
    assert_eq!(replay.variables.len(), 1);

    let info = Command::new(env!("CARGO_BIN_EXE_memscope")).arg("info").arg(&path).output().expect("run memscope info");
    assert!(info.status.success(), "{info:?}");
    let stdout = String::from_utf8_lossy(&info.stdout);
    assert!(stdout.contains("NO ALLOCATION RECORDED: the global allocator was not memscope::TrackingAllocator"), "{stdout}");

    let mut json = Vec::new();
    memscope::export::json(&replay, &mut json).expect("JSON");
    let doc: serde_json::Value = serde_json::from_slice(&json).expect("valid JSON");
    assert_eq!(doc["recording"]["end"]["no_tracking_allocator"], true);
    let _ = std::fs::remove_file(&path);
}
