//! `go tool pprof`, run offline, and its `-top` table: shared by the
//! export tests of the library (tests/export_consumers.rs) and of the CLI
//! (cli/tests/exports.rs), which include this file with `#[path]`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Runs `go tool pprof ARGS`, in temporary directories, offline.
pub fn go_pprof(scratch: &Path, args: &[&str]) -> String {
    let out = Command::new("go")
        .arg("tool")
        .arg("pprof")
        .args(args)
        .current_dir(scratch)
        .env("HOME", scratch)
        .env("GOCACHE", scratch.join("gocache"))
        .env("GOPATH", scratch.join("gopath"))
        .env("GOFLAGS", "")
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GOTELEMETRY", "off")
        .env("PPROF_TMPDIR", scratch)
        .env("PPROF_BINARY_PATH", scratch)
        .output()
        .expect("runs go");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "go tool pprof {args:?} failed: {stderr}");
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// `go` on the PATH; when missing, a note (or a failure in CI).
pub fn have_go() -> bool {
    let found = Command::new("go").arg("version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var_os("CI").is_none_or(|v| v.is_empty()), "CI is set and `go` is missing: .ci/run installs golang-go");
        eprintln!("note: `go` is not installed: skipping the check of the pprof export with go tool pprof (apt-get install golang-go)");
    }
    found
}

/// The rows of `go tool pprof -top`: function → (flat, cum), in bytes with
/// `-unit=B`.
pub fn top(out: &str) -> BTreeMap<String, (u64, u64)> {
    let number = |v: &str| v.trim_end_matches('B').parse::<u64>().unwrap_or_else(|_| panic!("{v} is a number in {out}"));
    out.lines()
        .skip_while(|l| !l.trim_start().starts_with("flat"))
        .skip(1)
        .map(|l| {
            // "      512B 29.49% 29.49%       512B 29.49%  demo::parse::read_records"
            let cols: Vec<&str> = l.split_whitespace().collect();
            let name = l.splitn(4, '%').nth(3).map_or("", str::trim);
            (name.to_owned(), (number(cols[0]), number(cols[3])))
        })
        .collect()
}

pub fn table(rows: &[(&str, u64, u64)]) -> BTreeMap<String, (u64, u64)> {
    rows.iter().map(|&(name, flat, cum)| (name.to_owned(), (flat, cum))).collect()
}
