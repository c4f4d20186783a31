//! Issue 11.3: `memscope top` on recordings that are not being written: a
//! finished file is a one-shot view that exits at its End record; a file
//! whose process is gone without an End record is shown as it is and exits
//! with 3; a directory is followed from its newest segment.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

fn golden(version: u32) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../tests/golden/v{version}.memscope"))
}

fn top(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_memscope")).arg("top").args(args).arg("--no-symbols").output().expect("run memscope top")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("memscope-top-files-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_finished_recording_is_shown_once_with_its_final_state() {
    let out = top(&[golden(5).as_os_str(), "--interval".as_ref(), "0.05".as_ref()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // One line (the End record is read at once), then the top sites.
    let first = stdout.lines().next().unwrap();
    assert!(first.contains(" ended ") && first.contains("live 8,589,943,732 B in 7 allocations"), "{stdout}");
    assert!(stdout.lines().nth(1).is_some_and(|l| l.contains("8.00 GiB") && l.contains("myapp+0x4400")), "{stdout}");
}

#[test]
fn a_recording_whose_process_is_gone_is_shown_as_it_is_and_exits_3() {
    let dir = scratch("exited");
    let path = dir.join("cut.memscope");
    let bytes = std::fs::read(golden(5)).unwrap();
    // Cut inside the End record: the process died before writing it.
    std::fs::write(&path, &bytes[..bytes.len() - 20]).unwrap();
    let old = SystemTime::now() - Duration::from_secs(60);
    std::fs::File::options().write(true).open(&path).unwrap().set_modified(old).unwrap();
    // The golden file's process id (5555) must not run here for this part.
    if Path::new("/proc/5555").exists() || !Path::new("/proc/self").exists() {
        return;
    }
    let out = top(&[path.as_os_str(), "--interval".as_ref(), "0.05".as_ref()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(stdout.starts_with('[') && stdout.contains("exited without End record"), "{stdout}");
    assert!(stderr.contains("is gone and left no End record"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_directory_is_followed_from_its_newest_segment_and_a_missing_path_exits_1() {
    let dir = scratch("segments");
    // The golden segment is the second of its recording: the follow starts
    // there, seeded from its checkpoint (2 allocations, 4,196 B), and reads
    // to its rotation's End record.
    let segment = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/golden/v6-segment.memscope");
    std::fs::copy(&segment, dir.join("000001.memscope")).unwrap();
    std::fs::write(dir.join("notes.txt"), b"not a segment").unwrap();
    let out = top(&[dir.as_os_str(), "--once".as_ref()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // `memscope info` of that segment alone: 9 live allocations, 8,589,947,928 B.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("live 8,589,947,928 B in 9 allocations"), "{stdout}");
    let missing = top(&[dir.join("none.memscope").as_os_str()]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("none.memscope"));
    let empty = scratch("empty");
    let none = top(&[empty.as_os_str()]);
    assert_eq!(none.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no memscope segment"), "{none:?}");
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&empty).unwrap();
}

#[test]
fn sites_are_ranked_as_asked() {
    let sites = |sort: &str| -> Vec<String> {
        let out = top(&[golden(5).as_os_str(), "--once".as_ref(), "--sort".as_ref(), sort.as_ref()]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        String::from_utf8_lossy(&out.stdout).lines().skip(1).map(str::to_owned).collect()
    };
    let live = sites("live");
    // By live bytes: only sites with bytes live; the 8 GiB one first.
    assert_eq!(live.len(), 5, "{live:?}");
    assert!(live[0].contains("myapp+0x4400"), "{live:?}");
    // By allocated bytes: the site with nothing live too, last.
    let allocated = sites("allocated");
    assert_eq!(allocated.len(), 6, "{allocated:?}");
    assert!(allocated[5].contains("0 live") && allocated[5].contains("8 B allocated"), "{allocated:?}");
    // By allocations: the site with 6 allocations before the one with 4.
    let count = sites("allocations");
    assert!(count[0].contains("12.94 KiB allocated") && count[1].contains("8.00 GiB allocated"), "{count:?}");
}
