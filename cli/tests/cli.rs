//! Smoke tests of the `memscope` binary on small recordings built with the format API.

use memscope::format::{self, ChunkEncoder, OnFull, RawEvent, SegmentHeader, VERSION};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("memscope-cli-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a scratch directory");
        Scratch(dir)
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Two threads: 3 allocations (one reallocated), 1 freed, 5 events lost on
/// thread 2; returns the bytes and the offset of the last chunk.
fn recording() -> (Vec<u8>, usize) {
    let header = SegmentHeader {
        version: VERSION,
        start_unix_ns: 1_700_000_000_000_000_000,
        start_monotonic_ns: 1,
        pid: 4321,
        ring_capacity: 1024,
        on_full: OnFull::Drop,
    };
    let mut out = header.encode().to_vec();
    let mut enc = ChunkEncoder::default();
    let mut name = [0u8; 16];
    name[..6].copy_from_slice(b"worker");
    enc.put_events(
        &mut out,
        1,
        0,
        &[
            RawEvent::thread_start(1, 100, [0; 16]),
            RawEvent::alloc(10, 0x1000, 64, 8, false, 0),
            RawEvent::alloc(20, 0x2000, 1000, 8, false, 0),
        ],
        &[],
    );
    enc.put_events(
        &mut out,
        2,
        1,
        &[RawEvent::thread_start(5, 101, name), RawEvent::realloc(30, 0x1000, 64, 0x3000, 128), RawEvent::lost(40, 5)],
        &[],
    );
    format::put_round(&mut out, 0, 50);
    let last = out.len();
    enc.put_events(&mut out, 1, 2, &[RawEvent::dealloc(60, 0x2000, 1000, 8), RawEvent::alloc(70, 0x4000, 32, 8, true, 0)], &[]);
    format::put_round(&mut out, 1, 80);
    // 7 events written (the Lost event is not counted), 5 lost.
    format::put_end(&mut out, 7, 5, 90, 0);
    (out, last)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write a test file");
    path
}

fn memscope(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_memscope")).args(args).output().expect("run the memscope binary")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn json_to_stdout_and_to_a_file_holds_the_totals() {
    let dir = Scratch::new("json");
    let rec = write(&dir, "run.memscope", &recording().0);
    let out = memscope(&["json".as_ref(), rec.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    let s = &v["summary"];
    assert_eq!(
        (s["total_allocations"].as_u64(), s["total_deallocations"].as_u64(), s["total_reallocations"].as_u64()),
        (Some(3), Some(1), Some(1))
    );
    assert_eq!(s["total_allocated_bytes"], 64 + 1000 + 128 + 32);
    assert_eq!(s["total_deallocated_bytes"], 64 + 1000);
    assert_eq!((s["live_count"].as_u64(), s["live_bytes"].as_u64()), (Some(2), Some(160)));
    assert_eq!((s["peak_live_bytes"].as_u64(), s["peak_at_ns"].as_u64()), (Some(1128), Some(30)));
    assert_eq!((s["lost_events"].as_u64(), s["threads"].as_u64(), s["duration_ns"].as_u64()), (Some(5), Some(2), Some(90)));
    assert_eq!(v["recording"]["pid"], 4321);
    assert_eq!(v["recording"]["finished"], true);
    assert_eq!(v["threads"][1]["name"], "worker");
    assert_eq!(v["largest_leaks"][0]["ptr_hex"], "0x3000");

    let json = dir.join("run.json");
    let out = memscope(&["json".as_ref(), rec.as_os_str(), "-o".as_ref(), json.as_os_str(), "--pretty".as_ref()]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    let written = std::fs::read_to_string(&json).expect("the output file exists");
    assert!(written.lines().count() > 50, "--pretty indents");
    assert_eq!(serde_json::from_str::<Value>(&written).expect("valid JSON"), v);
}

#[test]
fn info_shows_header_totals_threads_and_lost_events() {
    let dir = Scratch::new("info");
    let rec = write(&dir, "run.memscope", &recording().0);
    let out = memscope(&["info".as_ref(), rec.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let s = text(&out.stdout);
    for want in
        ["process id        4321", "2023-11-14 22:13:20.000 UTC", "drop (", "1,128 bytes", "worker", "LOST EVENTS", "finished          yes"]
    {
        assert!(s.contains(want), "info output lacks {want:?}:\n{s}");
    }
    assert!(!s.contains("DAMAGED"), "{s}");
    // Lost events: what is live at the end is not known, and never called a leak (issue 9, item 19).
    assert!(s.contains("live at end") && s.contains("(not known: events lost)"), "{s}");
    assert!(s.contains("ended             by finish() or the guard"), "{s}");
    assert!(!s.contains("(leaked"), "{s}");
}

/// Issue 9, item 15: a recording that ended at process exit (End flag 1,
/// the v4 golden file) says what is live at its end leaked.
#[test]
fn info_says_live_at_the_end_leaked_only_when_the_recording_ended_at_exit() {
    let golden = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/golden/v4.memscope");
    let out = memscope(&["info".as_ref(), golden.as_ref()]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("ended             at process exit (atexit hook): what is live at the end leaked"), "{s}");
    assert!(s.contains("(leaked: the recording ended at process exit)"), "{s}");
    assert!(!s.contains("NO ALLOCATION RECORDED"), "{s}");
}

#[test]
fn unreadable_files_exit_1_naming_the_path() {
    let dir = Scratch::new("unreadable");
    let missing = dir.join("missing.memscope");
    let script = write(&dir, "script.sh", b"#!/bin/sh\necho this is a shell script, not a memscope recording\n");
    // A newer writer's header (its checksum holds: a damaged version byte
    // would be repaired from it).
    let mut newer = recording().0;
    newer[8] = 99;
    let c = crc32fast::hash(&newer[..44]);
    newer[44..48].copy_from_slice(&c.to_le_bytes());
    let newer = write(&dir, "newer.memscope", &newer);
    for (path, why) in [(&missing, "No such file"), (&script, "not a memscope recording"), (&newer, "version 99")] {
        for cmd in ["info", "json", "html"] {
            let out = memscope(&[cmd.as_ref(), path.as_os_str()]);
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{cmd} {}: {err}", path.display());
            assert!(err.starts_with("memscope: ") && err.contains(&*path.to_string_lossy()) && err.contains(why), "{err}");
            assert!(!err.contains("panicked"), "{err}");
            assert!(out.stdout.is_empty());
        }
    }
}

#[test]
fn damaged_and_truncated_files_exit_3_with_output() {
    let dir = Scratch::new("damaged");
    let (bytes, last) = recording();
    let truncated = write(&dir, "cut.memscope", &bytes[..last + 20]);
    let out = memscope(&["json".as_ref(), truncated.as_os_str()]);
    assert_eq!(out.status.code(), Some(3), "stderr: {}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("the JSON is still written");
    assert_eq!(v["recording"]["finished"], false);
    assert_eq!(v["recording"]["damage"][0]["offset"], last);
    assert_eq!(v["summary"]["total_allocations"], 2);
    let err = text(&out.stderr);
    assert!(err.contains("not finished") && err.contains(&*truncated.to_string_lossy()), "{err}");

    let out = memscope(&["info".as_ref(), truncated.as_os_str()]);
    assert_eq!(out.status.code(), Some(3));
    let s = text(&out.stdout);
    assert!(s.contains("recording was not finished (no End record)") && s.contains("DAMAGED"), "{s}");

    let mut flipped = bytes.clone();
    flipped[last + format::RECORD_HEADER_LEN + format::EVENTS_FIELDS_LEN] ^= 0xFF;
    let flipped = write(&dir, "flipped.memscope", &flipped);
    let json = dir.join("flipped.json");
    let out = memscope(&["json".as_ref(), flipped.as_os_str(), "-o".as_ref(), json.as_os_str()]);
    assert_eq!(out.status.code(), Some(3), "stderr: {}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&std::fs::read(&json).expect("written")).expect("valid JSON");
    assert_eq!((v["recording"]["finished"].as_bool(), v["recording"]["damage_count"].as_u64()), (Some(true), Some(1)));
    assert!(text(&out.stderr).contains("is damaged"));
}

#[test]
fn usage_errors_exit_2_and_help_documents_exit_codes() {
    assert_eq!(memscope(&["frobnicate".as_ref()]).status.code(), Some(2));
    assert_eq!(memscope(&["json".as_ref()]).status.code(), Some(2));
    let help = memscope(&["--help".as_ref()]);
    assert_eq!(help.status.code(), Some(0));
    let h = text(&help.stdout);
    assert!(
        h.contains("Exit status:")
            && h.contains("3  the recording was replayed but is damaged")
            && h.contains("memscope info run.memscope"),
        "{h}"
    );
    for cmd in ["info", "json", "html"] {
        let h = text(&memscope(&[cmd.as_ref(), "--help".as_ref()]).stdout);
        assert!(h.contains(&format!("memscope {cmd} run.memscope")), "{cmd} --help lacks an example:\n{h}");
    }
}

#[test]
fn an_unwritable_output_exits_1_naming_it() {
    let dir = Scratch::new("unwritable");
    let rec = write(&dir, "run.memscope", &recording().0);
    let json = dir.join("no-such-dir").join("out.json");
    let out = memscope(&["json".as_ref(), rec.as_os_str(), "-o".as_ref(), json.as_os_str()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(&*json.to_string_lossy()), "{}", text(&out.stderr));
}

#[test]
fn html_writes_one_page_holding_the_json_and_exits_3_on_damage() {
    let dir = Scratch::new("html");
    let (bytes, last) = recording();
    let rec = write(&dir, "run.memscope", &bytes);
    let page = dir.join("report.html");
    let out = memscope(&["html".as_ref(), rec.as_os_str(), "-o".as_ref(), page.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let html = std::fs::read_to_string(&page).expect("written");
    assert!(html.starts_with("<!DOCTYPE html>") || html.starts_with("<!doctype html>"), "{}", &html[..40.min(html.len())]);
    assert!(!html.contains("http://") && !html.contains("https://"), "the page refers to the network");
    let json = memscope(&["json".as_ref(), rec.as_os_str()]);
    let doc = text(&json.stdout);
    let escaped = doc.trim_end().replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026");
    assert!(html.contains(&escaped), "the page does not embed the JSON document as memscope json writes it");

    let cut = write(&dir, "cut.memscope", &bytes[..last + 20]);
    let out = memscope(&["html".as_ref(), cut.as_os_str(), "-o".as_ref(), page.as_os_str()]);
    assert_eq!(out.status.code(), Some(3), "stderr: {}", text(&out.stderr));
    assert!(std::fs::read_to_string(&page).expect("still written").contains("memscope-data"));
}

#[test]
fn info_shows_tracking_and_the_top_sites() {
    // The version-2 golden file: two variables, a scope, a foreign region
    // released, a handoff; no call stacks.
    let golden = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/golden/v2.memscope");
    let out = memscope(&["info".as_ref(), golden.as_ref()]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let s = text(&out.stdout);
    for want in [
        "Tracking",
        "variables              2",
        "entries in 1 nodes",
        "regions, 0 live at the end (0 B)",
        "handoffs               1",
        "Call stacks: none in this recording",
    ] {
        assert!(s.contains(want), "info output lacks {want:?}:\n{s}");
    }
    // The version-3 golden file has stacks: its sites, largest first.
    let golden = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/golden/v3.memscope");
    let out = memscope(&["info".as_ref(), golden.as_ref()]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let s = text(&out.stdout);
    for want in [
        "Call stacks: 6 sites, 2 truncated",
        "Top sites by bytes at the peak",
        "8.00 GiB          2 allocs  myapp+0x4400",
        "[stack table full]",
    ] {
        assert!(s.contains(want), "info output lacks {want:?}:\n{s}");
    }
    assert!(!s.contains("\nTracking"), "no tracking section without tracking events:\n{s}");
}

/// A directory of two segments built with the format API: segment 0
/// allocates 0x1000 (64 bytes) and 0x2000 (1000 bytes) and rotates;
/// segment 1's checkpoint holds both, and it frees 0x1000.
fn segment_directory(dir: &Path) -> PathBuf {
    let segs = dir.join("heap");
    std::fs::create_dir_all(&segs).unwrap();
    let header =
        SegmentHeader { version: VERSION, start_unix_ns: 1, start_monotonic_ns: 1, pid: 77, ring_capacity: 1024, on_full: OnFull::Block };
    let id = 0xABCD_u64;
    let mut enc = ChunkEncoder::default();
    let mut s0 = header.encode().to_vec();
    format::put_segment(&mut s0, &format::SegmentRecord { recording_id: id, index: 0, first_sequence: 0, first_round: 0 });
    format::put_checkpoint(&mut s0, &[], &mut Vec::new());
    enc.put_events(&mut s0, 1, 0, &[RawEvent::alloc(10, 0x1000, 64, 8, false, 0), RawEvent::alloc(20, 0x2000, 1000, 8, false, 0)], &[]);
    format::put_round(&mut s0, 0, 25);
    format::put_end(&mut s0, 2, 0, 30, format::END_CONTINUED);
    let mut s1 = header.encode().to_vec();
    format::put_segment(&mut s1, &format::SegmentRecord { recording_id: id, index: 1, first_sequence: 1, first_round: 1 });
    let live = [
        format::CheckpointEntry { ptr: 0x1000, size: 64, thread: 1, ts_ns: 10, stack: 0 },
        format::CheckpointEntry { ptr: 0x2000, size: 1000, thread: 1, ts_ns: 20, stack: 0 },
    ];
    format::put_checkpoint(&mut s1, &live, &mut Vec::new());
    enc.put_events(&mut s1, 1, 1, &[RawEvent::dealloc(40, 0x1000, 64, 8)], &[]);
    format::put_round(&mut s1, 1, 45);
    format::put_end(&mut s1, 1, 0, 50, 0);
    std::fs::write(segs.join("000000.memscope"), s0).unwrap();
    std::fs::write(segs.join("000001.memscope"), s1).unwrap();
    segs
}

#[test]
fn every_command_takes_a_directory_of_segments() {
    let dir = Scratch::new("segments");
    let segs = segment_directory(&dir);
    let out = memscope(&["info".as_ref(), segs.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let info = text(&out.stdout);
    assert!(info.contains("segments          2 replayed, 0 to 1"), "{info}");
    let out = memscope(&["json".as_ref(), segs.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["total_allocations"], 2, "the checkpoint of a contiguous segment adds nothing");
    assert_eq!((v["summary"]["live_count"].as_u64(), v["summary"]["live_bytes"].as_u64()), (Some(1), Some(1000)));
    assert_eq!(v["recording"]["segments"]["segments"].as_array().map(Vec::len), Some(2));
    for args in [&["html", "-o", "-"][..], &["export", "--format", "folded", "-o", "-"]] {
        let mut a: Vec<&std::ffi::OsStr> = args.iter().map(|s| s.as_ref()).collect();
        a.insert(1, segs.as_os_str());
        let out = memscope(&a);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
    }
    // The oldest deleted: the rest replays from its checkpoint, and says so.
    std::fs::remove_file(segs.join("000000.memscope")).unwrap();
    let out = memscope(&["json".as_ref(), segs.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(text(&out.stderr).contains("history before segment 1 is not there"), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["summary"]["live_count"].as_u64(), v["summary"]["live_bytes"].as_u64()), (Some(1), Some(1000)));
    assert_eq!(v["recording"]["segments"]["history_missing"], true);
    // A foreign file among them is named, and the exit status says damaged.
    std::fs::write(segs.join("000002.memscope"), b"garbage, not a recording, long enough for a header .......").unwrap();
    let out = memscope(&["info".as_ref(), segs.as_os_str()]);
    assert_eq!(out.status.code(), Some(3), "stderr: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("000002.memscope: not readable"), "{}", text(&out.stdout));
}

#[test]
fn a_sampling_recording_shows_each_site_estimate_with_its_error_and_the_folded_export_says_estimate() {
    // The version-6 golden file samples allocations by bytes.
    let golden = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/golden/v6.memscope");
    let out = memscope(&["info".as_ref(), golden.as_ref()]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("± is one standard error"), "info explains ±:\n{s}");
    let site_lines: Vec<&str> = s.lines().filter(|l| l.contains(" allocs  ")).collect();
    assert!(!site_lines.is_empty(), "info lists top sites:\n{s}");
    for l in &site_lines {
        assert!(l.contains('±') && l.contains("samples"), "a site line without its error: {l:?}");
    }
    let out = memscope(&["export".as_ref(), golden.as_ref(), "--format".as_ref(), "folded".as_ref(), "-o".as_ref(), "-".as_ref()]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("sampled every") && err.contains("estimates"), "the folded export says its values are estimates: {err:?}");
    // The JSON: every site has its estimate.
    let out = memscope(&["json".as_ref(), golden.as_ref(), "-o".as_ref(), "-".as_ref()]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let sites = v["sites"].as_array().expect("sites");
    assert!(!sites.is_empty());
    for site in sites {
        assert!(site["estimate"]["samples"].as_u64().is_some_and(|n| n > 0), "a site without its estimate: {site}");
        assert!(site["estimate"]["allocated_bytes_se"].is_u64(), "{site}");
    }
    assert!(v["sampling"]["estimated_peak_bytes"].is_u64());
}
