//! `memscope html DIR` and `memscope export DIR` on a directory of
//! segments with a truncated last segment, a foreign file named as a
//! segment and a file that is no segment at all (issue 11, "Bad input"):
//! the rest replays, the output is written, the exit status is 3, and
//! standard error names each damaged or skipped file and what is wrong.

use std::process::Command;

#[global_allocator]
static A: memscope::TrackingAllocator = memscope::TrackingAllocator::system();

fn memscope(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_memscope")).args(args).output().expect("runs memscope");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn html_and_export_of_a_damaged_directory_name_the_files_and_replay_the_rest() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-dir-damaged-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let rec = memscope::Recorder::new(&dir).segment_bytes(8 << 10).start().expect("start");
    let mut kept = Vec::new();
    while memscope::replay::list_segments(&dir).unwrap().len() < 4 && kept.len() < 20_000 {
        for i in 0..64usize {
            let b = std::hint::black_box(vec![1u8; 16 + i * 13]);
            if i % 8 == 0 {
                kept.push(b);
            }
        }
        std::thread::sleep(std::time::Duration::from_micros(300));
    }
    rec.finish().expect("finish");
    let segments = memscope::replay::list_segments(&dir).unwrap();
    let last = &segments.last().unwrap().1;
    let len = std::fs::metadata(last).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(last).unwrap().set_len(len - 20).unwrap();
    std::fs::write(dir.join("000077.memscope"), b"a file that only has the name of a segment, and is long enough for a header").unwrap();
    std::fs::write(dir.join("notes.txt"), b"not a segment name: not read").unwrap();
    let last_name = last.file_name().unwrap().to_string_lossy().into_owned();

    let out = dir.join("report.html");
    let pprof = dir.join("heap.pb.gz");
    for (what, args) in [
        ("html", vec![dir.as_os_str(), "-o".as_ref(), out.as_os_str()]),
        ("export", vec![dir.as_os_str(), "--format".as_ref(), "pprof".as_ref(), "-o".as_ref(), pprof.as_os_str()]),
    ] {
        let mut all = vec![std::ffi::OsStr::new(what)];
        all.extend(args);
        let (status, stderr) = memscope(&all);
        assert_eq!(status, Some(3), "{what}: damaged, replayed: {stderr}");
        assert!(stderr.contains("segment 000077.memscope: not readable"), "{what} names the foreign file: {stderr}");
        assert!(stderr.contains(&last_name), "{what} names the truncated segment {last_name}: {stderr}");
        assert!(!stderr.contains("notes.txt"), "{what}: a file not named as a segment is not read: {stderr}");
    }
    assert!(std::fs::metadata(&out).unwrap().len() > 1000, "the report is written");
    assert_eq!(std::fs::read(&pprof).unwrap()[..2], [0x1f, 0x8b], "the profile is written");
    drop(kept);
    let _ = std::fs::remove_dir_all(&dir);
}
