//! Issue 11.3: `memscope top` follows a recording while it is written.
//!
//! This binary is also the recorded program: run with `MEMSCOPE_TOP_CHILD`
//! set to a path, its one test records to that path while it allocates in
//! phases of known bytes, pausing after each. The test proper starts it,
//! runs `memscope top --iterations N` (standard output is a pipe: one line
//! per interval) against it while it runs, and checks that the live bytes
//! it prints follow the phases exactly, and that its last line, after the
//! End record, holds `memscope info`'s figures.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

#[global_allocator]
static A: memscope::TrackingAllocator = memscope::TrackingAllocator::system();

/// The size of every allocation the child makes while recording, in bytes:
/// odd, so that no other allocation is mistaken for one.
const CHUNK: u64 = 1_000_003;
/// Chunks live after each phase: 8 allocated, 4 more, 8 of them deallocated.
const PHASES: [u64; 3] = [8, 12, 4];
/// How long the child holds each phase.
const PAUSE: Duration = Duration::from_millis(1500);

/// The recorded program.
fn child(path: &str) {
    // Everything that allocates outside the phases happens before the recording.
    let mut held: Vec<Vec<u8>> = Vec::with_capacity(16);
    let mut out = std::io::stdout().lock();
    writeln!(out, "starting").unwrap();
    let recording = memscope::Recorder::new(path).start().expect("start");
    writeln!(out, "started").unwrap();
    out.flush().unwrap();
    for _ in 0..8 {
        held.push(std::hint::black_box(vec![1u8; CHUNK as usize]));
    }
    std::thread::sleep(PAUSE);
    for _ in 0..4 {
        held.push(std::hint::black_box(vec![2u8; CHUNK as usize]));
    }
    std::thread::sleep(PAUSE);
    held.drain(..8);
    std::thread::sleep(PAUSE);
    recording.finish().expect("finish");
    drop(held);
}

/// The number after `word ` in `line`, digits grouped with commas.
fn figure(line: &str, word: &str) -> u64 {
    let at = line.find(word).unwrap_or_else(|| panic!("no `{word}` in: {line}")) + word.len();
    let digits: String = line[at..].trim_start().chars().take_while(|c| c.is_ascii_digit() || *c == ',').filter(|c| *c != ',').collect();
    digits.parse().unwrap_or_else(|_| panic!("no number after `{word}` in: {line}"))
}

#[test]
fn top_follows_a_running_recording() {
    if let Ok(path) = std::env::var("MEMSCOPE_TOP_CHILD") {
        return child(&path);
    }
    let path = std::env::temp_dir().join(format!("memscope-top-{}.memscope", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut recorded = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "top_follows_a_running_recording", "--nocapture", "--test-threads", "1"])
        .env("MEMSCOPE_TOP_CHILD", &path)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the recorded child");
    let mut child_out = BufReader::new(recorded.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("started") {
        line.clear();
        assert!(child_out.read_line(&mut line).unwrap() > 0, "the child ended before recording");
    }
    // 5 intervals a second, for at most 30 s: it stops at the End record.
    let top = Command::new(env!("CARGO_BIN_EXE_memscope"))
        .arg("top")
        .arg(&path)
        // Symbolizing the first site loads this binary's debug information:
        // seconds in a debug build, longer than a phase.
        .args(["--interval", "0.2", "--iterations", "150", "--no-symbols"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run memscope top");
    let out = top.wait_with_output().unwrap();
    assert!(recorded.wait().unwrap().success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with('[')).collect();
    let live: Vec<u64> = lines.iter().map(|l| figure(l, "live")).collect();

    // Every refresh shows whole chunks only: allocations are counted as a
    // drain round left them, never a partial or foreign figure.
    for (l, bytes) in lines.iter().zip(&live) {
        assert_eq!(bytes % CHUNK, 0, "{l}");
    }
    // Each phase is seen, in order, for at least two refreshes in a row (it
    // lasts 1.5 s, 7 refreshes). (Events a Round record has not released
    // yet are counted by the snapshot: `replay::follow`'s unit test proves
    // that part; here the phases' Round records release them.)
    let mut runs: Vec<(u64, usize)> = Vec::new();
    for &b in &live {
        match runs.last_mut() {
            Some((v, n)) if *v == b => *n += 1,
            _ => runs.push((b, 1)),
        }
    }
    let steady: Vec<u64> = runs.iter().filter(|(_, n)| *n >= 2).map(|(v, _)| v / CHUNK).collect();
    let mut want = PHASES.iter().copied().peekable();
    for chunks in &steady {
        if want.peek() == Some(chunks) {
            want.next();
        }
    }
    assert_eq!(want.next(), None, "phases {PHASES:?} not all seen in order; steady figures (chunks) {steady:?}\n{stdout}");

    // The last line is the final state, after the End record, as `memscope info` says it.
    let last = lines.last().unwrap();
    assert!(last.contains(" ended "), "{stdout}");
    let info = Command::new(env!("CARGO_BIN_EXE_memscope")).arg("info").arg(&path).output().unwrap();
    assert!(info.status.success(), "{info:?}");
    let info = String::from_utf8_lossy(&info.stdout);
    let info_line = |key: &str| info.lines().find(|l| l.trim_start().starts_with(key)).unwrap_or_else(|| panic!("no {key}: {info}"));
    let paren = |l: &str| figure(&l[l.find('(').unwrap()..], "(");
    assert_eq!(figure(last, "live"), paren(info_line("live at end")), "{last}\n{info}");
    assert_eq!(figure(last, "live"), PHASES[2] * CHUNK);
    assert_eq!(figure(last, " in "), figure(info_line("live at end"), "live at end"), "{last}\n{info}");
    assert_eq!(figure(last, "peak"), paren(info_line("peak live")), "{last}\n{info}");
    assert_eq!(figure(last, "allocated "), paren(info_line("allocations")), "{last}\n{info}");
    assert_eq!(figure(last, "totals"), figure(info_line("allocations"), "allocations"), "{last}\n{info}");
    assert_eq!(figure(last, "lost"), 0);
    let _ = std::fs::remove_file(&path);
}
