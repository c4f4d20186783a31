//! `memscope top DIR` (a line per interval: standard output is a pipe)
//! falls behind a segmented recording whose `keep_bytes` deletes segments
//! it has not read: it says "HISTORY LOST" on the line of the refresh that
//! skipped, warns on standard error, exits 3 (incomplete), and its last
//! line holds the directory's live set at the end.
//!
//! This binary is also the recorded program: run with
//! `MEMSCOPE_TOP_HISTORY_CHILD` set to a directory, it records into it,
//! allocates a little, and once told on standard input writes many
//! segments at once (the budget deletes the oldest), then finishes.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

#[global_allocator]
static A: memscope::TrackingAllocator = memscope::TrackingAllocator::system();

/// Bytes each kept allocation holds: odd, so it is told apart.
const KEPT: usize = 10_007;

/// The recorded program.
fn child(dir: &str) {
    let mut out = std::io::stdout().lock();
    let mut input = BufReader::new(std::io::stdin());
    let mut kept: Vec<Vec<u8>> = Vec::with_capacity(4000);
    let mut line = String::new();
    let recording = memscope::Recorder::new(dir).segment_bytes(8 << 10).keep_bytes(40 << 10).start().expect("start");
    for _ in 0..4 {
        kept.push(std::hint::black_box(vec![1u8; KEPT]));
    }
    // On a line of its own (the test harness's line has no newline yet).
    writeln!(out, "\nstarted").unwrap();
    out.flush().unwrap();
    input.read_line(&mut line).unwrap();
    // Many rotations; the budget keeps about five segments.
    for round in 0..300 {
        for i in 0..64usize {
            let b = std::hint::black_box(vec![2u8; 16 + (i * 37 + round) % 700]);
            drop(b);
        }
        if round % 10 == 0 {
            kept.push(std::hint::black_box(vec![3u8; KEPT]));
        }
        std::thread::sleep(std::time::Duration::from_micros(300));
    }
    let summary = recording.finish().expect("finish");
    writeln!(out, "\ndeleted {}", summary.segments_deleted).unwrap();
    out.flush().unwrap();
    drop(kept);
}

/// The number after `word ` in `line`, digits grouped with commas.
fn figure(line: &str, word: &str) -> u64 {
    let at = line.find(word).unwrap_or_else(|| panic!("no `{word}` in: {line}")) + word.len();
    let digits: String = line[at..].trim_start().chars().take_while(|c| c.is_ascii_digit() || *c == ',').filter(|c| *c != ',').collect();
    digits.parse().unwrap_or_else(|_| panic!("no number after `{word}` in: {line}"))
}

#[test]
fn top_says_history_lost_when_it_falls_behind_the_budget() {
    if let Ok(dir) = std::env::var("MEMSCOPE_TOP_HISTORY_CHILD") {
        return child(&dir);
    }
    let dir = std::env::temp_dir().join(format!("memscope-top-history-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut recorded = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "top_says_history_lost_when_it_falls_behind_the_budget", "--nocapture", "--test-threads", "1"])
        .env("MEMSCOPE_TOP_HISTORY_CHILD", &dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the recorded child");
    let mut child_in = recorded.stdin.take().unwrap();
    let mut child_out = BufReader::new(recorded.stdout.take().unwrap());
    let mut line = String::new();
    while !line.trim_end().ends_with("started") {
        line.clear();
        assert!(child_out.read_line(&mut line).unwrap() > 0, "the child ended before recording");
    }
    // A refresh every 8 s: the first reads segment 0; the child writes and
    // finishes meanwhile; the second finds segment 1 and more deleted.
    let mut top = Command::new(env!("CARGO_BIN_EXE_memscope"))
        .arg("top")
        .arg(&dir)
        .args(["--interval", "8", "--iterations", "3", "--no-symbols"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run memscope top");
    let mut top_out = BufReader::new(top.stdout.take().unwrap());
    let mut first = String::new();
    assert!(top_out.read_line(&mut first).unwrap() > 0, "top printed nothing");
    assert!(!first.contains("HISTORY LOST"), "{first}");
    writeln!(child_in, "go").unwrap();
    child_in.flush().unwrap();
    let mut deleted = String::new();
    while !deleted.contains("deleted ") {
        deleted.clear();
        assert!(child_out.read_line(&mut deleted).unwrap() > 0, "the child ended without finishing");
    }
    assert!(recorded.wait().unwrap().success());
    assert!(figure(&deleted, "deleted ") >= 2, "{deleted}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut top_out, &mut rest).unwrap();
    let out = top.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = rest.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(lines.len(), 1, "one refresh after the deletion, which reaches the End record:\n{first}{rest}");
    let last = lines[0];
    assert!(last.contains(" ended "), "{last}");

    // It says which segments it lost.
    let oldest = memscope::replay::list_segments(&dir).unwrap()[0].0;
    let want = format!("HISTORY LOST between segments 0 and {oldest}: {} segment(s) deleted before they were read", oldest - 1);
    assert!(last.contains(&want), "want `{want}` in: {last}");
    assert!(stderr.contains(&format!("warning: {}: {want}", dir.display())), "{stderr}");
    assert_eq!(out.status.code(), Some(3), "incomplete: {out:?}");

    // From the oldest checkpoint on, the live set is the directory's.
    let whole = memscope::replay::replay_file(&dir).unwrap();
    assert_eq!(figure(last, "live"), whole.summary.live_bytes, "{last}");
    assert_eq!(figure(last, " in "), whole.summary.live_count, "{last}");
    assert!(whole.summary.live_bytes >= 4 * KEPT as u64 + 30 * KEPT as u64);
    let _ = std::fs::remove_dir_all(&dir);
}
