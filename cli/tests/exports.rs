//! The CLI's exports of a recording without call stacks, read back by their
//! consumers (`go tool pprof` when installed).

#[path = "../../tests/support/go_pprof.rs"]
mod go_pprof;

use go_pprof::{go_pprof, have_go, table, top};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh directory under the target's temporary directory.
fn tempdir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-exports-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creates a scratch directory");
    dir
}

/// `memscope ARGS`: its exit status, standard output and standard error.
fn memscope(args: &[&str]) -> (Option<i32>, Vec<u8>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_memscope")).args(args).output().expect("runs memscope");
    (out.status.code(), out.stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// `memscope export` on the golden version-2 recording (no call stacks):
/// every format holds the single `[no stacks]` site with the recording's
/// totals; `--metric` is for folded only; a cut file exits with 3 and is
/// still exported.
#[test]
fn cli_exports_a_recording_without_stacks() {
    let golden = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/golden/v2.memscope");
    let (status, json, stderr) = memscope(&["json", golden]);
    assert_eq!(status, Some(0), "{stderr}");
    let doc: Value = serde_json::from_slice(&json).expect("valid JSON");
    let (allocated, live) = (&doc["summary"]["total_allocated_bytes"], &doc["summary"]["live_bytes"]);

    let (status, out, stderr) = memscope(&["export", golden, "--format", "folded", "-o", "-"]);
    assert_eq!(status, Some(0), "{stderr}");
    assert_eq!(String::from_utf8(out).expect("UTF-8"), format!("[no stacks] {allocated}\n"));
    let (status, out, stderr) = memscope(&["export", golden, "--format", "folded", "--metric", "leaked-bytes", "-o", "-"]);
    assert_eq!(status, Some(0), "{stderr}");
    assert_eq!(String::from_utf8(out).expect("UTF-8"), format!("[no stacks] {live}\n"));

    let scratch = tempdir("cli");
    let dhat_path = scratch.join("v2.dhat.json");
    let (status, _, stderr) = memscope(&["export", golden, "--format", "dhat", "-o", dhat_path.to_str().expect("UTF-8 path")]);
    assert_eq!(status, Some(0), "{stderr}");
    let dhat: Value = serde_json::from_slice(&std::fs::read(&dhat_path).expect("the DHAT file")).expect("valid JSON");
    assert_eq!(dhat["pid"], doc["recording"]["pid"]);
    assert_eq!(dhat["cmd"], golden);
    assert_eq!(dhat["ftbl"], serde_json::json!(["[root]", "[no stacks]"]));
    assert_eq!((&dhat["pps"][0]["tb"], &dhat["pps"][0]["eb"]), (allocated, live));

    let pprof_path = scratch.join("v2.pb.gz");
    let pprof_arg = pprof_path.to_str().expect("UTF-8 path");
    let (status, _, stderr) = memscope(&["export", golden, "--format", "pprof", "-o", pprof_arg]);
    assert_eq!(status, Some(0), "{stderr}");
    assert_eq!(std::fs::read(&pprof_path).expect("the pprof file")[..2], [0x1f, 0x8b], "gzip");
    if have_go() {
        let shown = go_pprof(&scratch, &["-top", "-unit=B", "-sample_index=alloc_space", pprof_arg]);
        let total = allocated.as_u64().expect("a number");
        assert_eq!(top(&shown), table(&[("[no stacks]", total, total)]), "{shown}");
    }

    let (status, out, stderr) = memscope(&["export", golden, "--format", "pprof", "--metric", "allocations", "-o", "-"]);
    assert_eq!(status, Some(2), "a usage error: {stderr}");
    assert!(out.is_empty() && stderr.contains("--metric"), "{stderr}");

    let bytes = std::fs::read(golden).expect("the golden file");
    let cut = scratch.join("cut.memscope");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).expect("writes the cut file");
    let (status, out, stderr) =
        memscope(&["export", cut.to_str().expect("UTF-8 path"), "--format", "folded", "--metric", "allocations", "-o", "-"]);
    assert_eq!(status, Some(3), "{stderr}");
    assert!(stderr.contains("not finished"), "{stderr}");
    assert!(String::from_utf8(out).expect("UTF-8").lines().all(|l| l.starts_with("[no stacks] ")));
    let _ = std::fs::remove_dir_all(&scratch);
}
