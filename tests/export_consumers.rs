//! The stack exports checked against what reads them: exact folded text;
//! pprof read back by `go tool pprof` (Debian's golang-go, which .ci/run
//! installs); the DHAT document's fields as dh_view reads them. The DHAT file
//! of the demo profile is also written to
//! `$CARGO_TARGET_TMPDIR/export-consumers/demo.dhat.json`, where
//! tests/browser/dhat.test.js opens it in valgrind's dh_view.html.
//!
//! The profiles are built by hand, with known sites: two of them (B and C)
//! symbolize to the same function names at different addresses, one is
//! truncated, one has no frame, one is the marker of a stack the recorder
//! could not store, one has a `;` in a function name, and the outermost
//! frame of most is an address symbolization could not resolve.

use memscope::export::profile::{Line, Location, Profile, Site, NO_STACKS, TABLE_FULL};
use memscope::export::{dhat, folded, pprof};
use memscope::format::stacks::ModuleRecord;
use memscope::replay::SiteStats;
use serde_json::Value;
use std::path::{Path, PathBuf};

#[path = "support/go_pprof.rs"]
mod go_pprof;
use go_pprof::{go_pprof, have_go, table, top};

const EXE: &str = "/opt/demo/bin/demo";
const EXE_BUILD_ID: [u8; 8] = [0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02, 0x03];
const LIBC: &str = "/usr/lib/x86_64-linux-gnu/libc.so.6";

/// Figures of one site; the rest 0.
struct Figures {
    allocations: u64,
    reallocations: u64,
    allocated_bytes: u64,
    live_count_end: u64,
    live_bytes_end: u64,
    peak_count: u64,
    peak_bytes: u64,
}

fn site(locations: &[usize], truncated: bool, f: Figures) -> Site {
    let mut stats = SiteStats::default();
    stats.allocations = f.allocations;
    stats.reallocations = f.reallocations;
    stats.allocated_bytes = f.allocated_bytes;
    stats.live_count_end = f.live_count_end;
    stats.live_bytes_end = f.live_bytes_end;
    stats.peak_count = f.peak_count;
    stats.peak_bytes = f.peak_bytes;
    stats.max_live_bytes = f.peak_bytes.max(f.live_bytes_end);
    stats.deallocations = f.allocations + f.reallocations - f.live_count_end;
    stats.deallocated_bytes = f.allocated_bytes - f.live_bytes_end;
    stats.total_lifetime_ns = 1_000 * stats.deallocations;
    Site { locations: locations.to_vec(), truncated, stats }
}

fn line(function: &str, file: &str, line: u32, column: u32) -> Line {
    Line { function: function.into(), file: Some(file.into()), line, column }
}

/// The demo profile: sites A to G (see the file's docs).
fn demo() -> Profile {
    let mut p = Profile::default();
    p.has_stacks = true;
    p.end_ns = 2_000_000;
    p.peak_at_ns = 1_000_000;
    p.peak_live_bytes = 1_736;
    p.warnings = vec!["no debug info for /usr/lib/x86_64-linux-gnu/libc.so.6 (build id 0102)".into()];
    p.modules = vec![
        ModuleRecord {
            load_bias: 0x5555_0000_0000,
            start: 0x5555_0000_0000,
            end: 0x5555_0010_0000,
            build_id: EXE_BUILD_ID.to_vec(),
            path: EXE.into(),
        },
        ModuleRecord {
            load_bias: 0x7f00_0000_0000,
            start: 0x7f00_0000_0000,
            end: 0x7f00_0020_0000,
            build_id: vec![1, 2],
            path: LIBC.into(),
        },
    ];
    let at = |address, module, lines| Location { address, module, lines };
    p.locations = vec![
        // 0: Vec::with_capacity inlined into read_records.
        at(
            0x5555_0000_1234,
            Some(0),
            vec![
                line("alloc::vec::Vec<T>::with_capacity", "/rustc/library/alloc/src/vec/mod.rs", 480, 9),
                line("demo::parse::read_records", "src/parse.rs", 42, 17),
            ],
        ),
        at(0x5555_0000_2000, Some(0), vec![line("demo::main", "src/main.rs", 10, 5)]),
        // 2: libc's __libc_start_call_main, not resolved.
        at(0x7f00_0002_9d90, Some(1), vec![]),
        at(0x5555_0000_3000, Some(0), vec![line("demo::cache::Cache::insert", "src/cache.rs", 7, 9)]),
        at(0x5555_0000_3100, Some(0), vec![line("demo::cache::Cache::insert", "src/cache.rs", 9, 9)]),
        // 5: in no module.
        at(0x9999, None, vec![]),
        at(0x5555_0000_4000, Some(0), vec![line("demo::odd;name", "src/odd.rs", 1, 1)]),
        // 7: the marker location Profile::build makes for a stack the recorder could not store.
        at(2, None, vec![Line { function: TABLE_FULL.into(), file: None, line: 0, column: 0 }]),
    ];
    let f = |allocations, reallocations, allocated_bytes, live_count_end, live_bytes_end, peak_count, peak_bytes| Figures {
        allocations,
        reallocations,
        allocated_bytes,
        live_count_end,
        live_bytes_end,
        peak_count,
        peak_bytes,
    };
    p.sites = vec![
        site(&[0, 1, 2], false, f(10, 2, 4096, 1, 512, 3, 1536)), // A
        site(&[3, 1, 2], false, f(5, 0, 500, 2, 200, 1, 100)),    // B
        site(&[4, 1, 2], false, f(1, 0, 50, 0, 0, 1, 50)),        // C
        site(&[5], true, f(7, 0, 70, 0, 0, 0, 0)),                // D
        site(&[6, 1, 2], false, f(1, 0, 8, 0, 0, 0, 0)),          // E
        site(&[], false, f(3, 0, 30, 1, 10, 1, 50)),              // F
        site(&[7], false, f(2, 0, 20, 0, 0, 0, 0)),               // G
    ];
    p
}

/// A recording without call stacks: one site, whose location is the
/// `[no stacks]` marker, as `Profile::build` makes it.
fn no_stacks() -> Profile {
    let mut p = Profile::default();
    p.locations =
        vec![Location { address: 0, module: None, lines: vec![Line { function: NO_STACKS.into(), file: None, line: 0, column: 0 }] }];
    p.sites = vec![site(
        &[0],
        false,
        Figures {
            allocations: 4,
            reallocations: 0,
            allocated_bytes: 40,
            live_count_end: 1,
            live_bytes_end: 10,
            peak_count: 2,
            peak_bytes: 20,
        },
    )];
    p.end_ns = 10;
    p
}

fn folded_text(p: &Profile, metric: folded::Metric) -> String {
    let mut out = Vec::new();
    folded::write(p, metric, &mut out).expect("writes to a Vec");
    String::from_utf8(out).expect("UTF-8")
}

#[test]
fn folded_stacks_are_exact() {
    let stack_a = "libc.so.6+0x29d90;demo::main;demo::parse::read_records;alloc::vec::Vec<T>::with_capacity";
    let stack_bc = "libc.so.6+0x29d90;demo::main;demo::cache::Cache::insert";
    let stack_e = "libc.so.6+0x29d90;demo::main;demo::odd:name";
    assert_eq!(
        folded_text(&demo(), folded::Metric::AllocatedBytes),
        format!("[no stack] 30\n[stack table full] 20\n[truncated];0x9999 70\n{stack_bc} 550\n{stack_e} 8\n{stack_a} 4096\n")
    );
    assert_eq!(
        folded_text(&demo(), folded::Metric::Allocations),
        format!("[no stack] 3\n[stack table full] 2\n[truncated];0x9999 7\n{stack_bc} 6\n{stack_e} 1\n{stack_a} 12\n")
    );
    assert_eq!(folded_text(&demo(), folded::Metric::LeakedBytes), format!("[no stack] 10\n{stack_bc} 200\n{stack_a} 512\n"));
    assert_eq!(folded_text(&demo(), folded::Metric::PeakBytes), format!("[no stack] 50\n{stack_bc} 150\n{stack_a} 1536\n"));
    assert_eq!(folded_text(&no_stacks(), folded::Metric::AllocatedBytes), "[no stacks] 40\n");
    assert_eq!(folded_text(&no_stacks(), folded::Metric::LeakedBytes), "[no stacks] 10\n");
}

fn dhat_doc(p: &Profile) -> Value {
    let mut out = Vec::new();
    dhat::write_with(p, &dhat::DhatOptions { cmd: "demo --run".into(), pid: 4242 }, &mut out).expect("writes to a Vec");
    serde_json::from_slice(&out).expect("valid JSON")
}

/// Where the DHAT file for tests/browser/dhat.test.js goes.
fn browser_fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("export-consumers")
}

#[test]
fn dhat_document_has_every_field_dh_view_reads() {
    let doc = dhat_doc(&demo());
    let header = ["dhatFileVersion", "mode", "verb", "bklt", "bkacc", "tu", "Mtu", "tuth", "cmd", "pid", "te", "tg", "pps", "ftbl"];
    let keys: Vec<&str> = doc.as_object().expect("an object").keys().map(String::as_str).collect();
    let mut sorted = header.to_vec();
    sorted.sort_unstable();
    assert_eq!(keys, sorted, "exactly dh_view's fields (serde_json sorts keys)");
    assert_eq!(doc["dhatFileVersion"], 2);
    assert_eq!(doc["mode"], "rust-heap");
    assert_eq!(doc["verb"], "Allocated");
    assert_eq!((doc["bklt"].as_bool(), doc["bkacc"].as_bool()), (Some(true), Some(false)));
    assert_eq!((doc["tu"].as_str(), doc["Mtu"].as_str(), doc["tuth"].as_u64()), (Some("ns"), Some("ms"), Some(10_000)));
    assert_eq!((doc["cmd"].as_str(), doc["pid"].as_u64()), (Some("demo --run"), Some(4242)));
    assert_eq!((doc["te"].as_u64(), doc["tg"].as_u64()), (Some(2_000_000), Some(1_000_000)));

    let ftbl: Vec<&str> = doc["ftbl"].as_array().expect("ftbl").iter().map(|f| f.as_str().expect("a string")).collect();
    assert_eq!(ftbl[0], "[root]");
    let pps = doc["pps"].as_array().expect("pps");
    assert_eq!(pps.len(), 7, "B and C differ by address: two program points");
    let frames =
        |pp: &Value| -> Vec<&str> { pp["fs"].as_array().expect("fs").iter().map(|i| ftbl[i.as_u64().expect("index") as usize]).collect() };
    assert_eq!(
        frames(&pps[0]),
        [
            "0x555500001234: alloc::vec::Vec<T>::with_capacity (/rustc/library/alloc/src/vec/mod.rs:480:9)",
            "0x555500001234: demo::parse::read_records (src/parse.rs:42:17)",
            "0x555500002000: demo::main (src/main.rs:10:5)",
            "0x7f0000029d90: ??? (in /usr/lib/x86_64-linux-gnu/libc.so.6)",
        ]
    );
    assert_eq!(frames(&pps[3]), ["0x9999: ???", "[truncated]"]);
    assert_eq!(frames(&pps[5]), ["[no stack]"]);
    assert_eq!(frames(&pps[6]), ["[stack table full]"]);
    let a = &pps[0];
    let field = |k: &str| a[k].as_u64().unwrap_or_else(|| panic!("{k} is a number"));
    assert_eq!(["tb", "tbk", "tl", "mb", "mbk", "gb", "gbk", "eb", "ebk"].map(field), [4096, 12, 11_000, 1536, 3, 1536, 3, 512, 1]);
    for pp in pps {
        let keys: Vec<&str> = pp.as_object().expect("an object").keys().map(String::as_str).collect();
        assert_eq!(keys, ["eb", "ebk", "fs", "gb", "gbk", "mb", "mbk", "tb", "tbk", "tl"]);
    }
    let no = dhat_doc(&no_stacks());
    assert_eq!(no["ftbl"], serde_json::json!(["[root]", "[no stacks]"]));
    assert_eq!(no["pps"][0]["fs"], serde_json::json!([1]));

    let dir = browser_fixture_dir();
    std::fs::create_dir_all(&dir).expect("creates the fixture directory");
    for (name, profile) in [("demo", demo()), ("no-stacks", no_stacks())] {
        let path = dir.join(format!("{name}.dhat.json"));
        let file = std::fs::File::create(&path).expect("creates the fixture");
        dhat::write_with(&profile, &dhat::DhatOptions { cmd: format!("{name}.memscope"), pid: 4242 }, file).expect("writes the fixture");
    }
}

#[test]
fn go_tool_pprof_reads_the_pprof_export() {
    if !have_go() {
        return;
    }
    let scratch = tempdir("pprof");
    let file = scratch.join("demo.pb.gz");
    let f = std::fs::File::create(&file).expect("creates the profile");
    pprof::write_with(&demo(), &pprof::PprofOptions { start_unix_ns: 1_700_000_000_000_000_000 }, f).expect("writes the profile");
    let path = file.to_str().expect("UTF-8 path");

    let raw = go_pprof(&scratch, &["-raw", path]);
    assert!(raw.contains("PeriodType: space bytes"), "{raw}");
    assert!(raw.contains("Period: 1\n"), "{raw}");
    assert!(raw.contains("alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes"), "{raw}");
    // Samples: the four values of A to G in order, then their location ids.
    let samples: Vec<Vec<u64>> = raw
        .lines()
        .skip_while(|l| !l.starts_with("alloc_objects/count"))
        .skip(1)
        .take_while(|l| !l.starts_with("Locations"))
        .filter(|l| l.contains(':'))
        .map(|l| l.split(':').next().unwrap_or("").split_whitespace().map(|v| v.parse().expect("a value")).collect())
        .collect();
    assert_eq!(
        samples,
        [
            vec![12, 4096, 1, 512],
            vec![5, 500, 2, 200],
            vec![1, 50, 0, 0],
            vec![7, 70, 0, 0],
            vec![1, 8, 0, 0],
            vec![3, 30, 1, 10],
            vec![2, 20, 0, 0]
        ],
        "{raw}"
    );
    for function in [
        "alloc::vec::Vec<T>::with_capacity",
        "demo::parse::read_records",
        "demo::main",
        "demo::cache::Cache::insert",
        "[truncated]",
        "[no stack]",
        "[stack table full]",
        "demo::odd;name",
    ] {
        assert!(raw.contains(function), "{function} in {raw}");
    }
    let build_id = "deadbeef00010203";
    let mapping = raw.lines().find(|l| l.contains(EXE)).unwrap_or_else(|| panic!("a mapping for {EXE} in {raw}"));
    assert!(mapping.contains(build_id), "the build id in {mapping}");
    assert!(mapping.contains("0x555500000000/0x555500100000/0x0"), "the address range in {mapping}");
    assert!(raw.contains(LIBC), "{raw}");
    assert!(raw.contains("no debug info for"), "the warning as a comment: {raw}");

    // -top shows pprof's simplified names (no generic parameters) and marks inlined frames.
    let inuse = go_pprof(&scratch, &["-top", "-unit=B", "-nodefraction=0", "-sample_index=inuse_space", path]);
    assert!(inuse.contains("Type: inuse_space"), "{inuse}");
    assert!(inuse.contains("Build ID: deadbeef00010203"), "{inuse}");
    let expected = [
        ("alloc::vec::Vec::with_capacity (inline)", 512, 512),
        ("demo::parse::read_records", 0, 512),
        ("demo::cache::Cache::insert", 200, 200),
        ("demo::main", 0, 712),
        ("[libc.so.6]", 0, 712),
        ("[no stack]", 10, 10),
    ];
    assert_eq!(top(&inuse), table(&expected), "{inuse}");
    let alloc = go_pprof(&scratch, &["-top", "-unit=B", "-nodefraction=0", "-sample_index=alloc_space", path]);
    assert!(alloc.contains("Type: alloc_space"), "{alloc}");
    let expected = [
        ("alloc::vec::Vec::with_capacity (inline)", 4096, 4096),
        ("demo::parse::read_records", 0, 4096),
        ("demo::cache::Cache::insert", 550, 550),
        ("demo::odd;name", 8, 8),
        ("demo::main", 0, 4654),
        ("[libc.so.6]", 0, 4654),
        ("<unknown>", 70, 70),
        ("[truncated]", 0, 70),
        ("[no stack]", 30, 30),
        ("[stack table full]", 20, 20),
    ];
    assert_eq!(top(&alloc), table(&expected), "{alloc}");
    let objects = go_pprof(&scratch, &["-top", "-nodefraction=0", "-sample_index=alloc_objects", path]);
    assert!(objects.contains("Type: alloc_objects"), "{objects}");
    assert!(objects.contains("Total samples = 31"), "{objects}");

    let no = scratch.join("no-stacks.pb.gz");
    pprof::write(&no_stacks(), std::fs::File::create(&no).expect("creates the profile")).expect("writes the profile");
    let no = go_pprof(&scratch, &["-top", "-unit=B", "-sample_index=alloc_space", no.to_str().expect("UTF-8 path")]);
    assert_eq!(top(&no), table(&[("[no stacks]", 40, 40)]), "{no}");
    let _ = std::fs::remove_dir_all(&scratch);
}

/// A fresh directory under the target's temporary directory.
fn tempdir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("export-consumers-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creates a scratch directory");
    dir
}
