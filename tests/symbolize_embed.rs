//! `memscope symbolize` (`symbolize::embed`): the symbols of every address a
//! recording uses go into the file, so that it replays with names where the
//! binaries are not. A recording whose only stack is a return address inside
//! this test binary is symbolized; then the same recording, with its module
//! map pointing at a path that does not exist (another machine), still
//! resolves that frame from the embedded symbols, with no warning. Running
//! `embed` again adds nothing.

use memscope::export::profile::Profile;
use memscope::format::stacks::{ModuleRecord, StackNode};
use memscope::format::{self, ChunkEncoder, OnFull, RawEvent, SegmentHeader};
use std::hint::black_box;

#[inline(never)]
fn the_function_that_allocated() -> u32 {
    black_box(7)
}

fn recording(module: &ModuleRecord, address: u64) -> Vec<u8> {
    let header = SegmentHeader {
        version: format::VERSION,
        start_unix_ns: 1,
        start_monotonic_ns: 2,
        pid: 3,
        ring_capacity: 1024,
        on_full: OnFull::Block,
    };
    let mut out = header.encode().to_vec();
    format::put_module(&mut out, module);
    format::put_stack_nodes(&mut out, 1, &[StackNode { parent: 0, address }]);
    let events = [RawEvent::thread_start(1, 42, [0; 16]), RawEvent::alloc(2, 0x1000, 64, 8, false, 0)];
    ChunkEncoder::default().put_events(&mut out, 1, 0, &events, &[0, 1]);
    format::put_round(&mut out, 0, 3);
    format::put_end(&mut out, 2, 0, 4, 0);
    out
}

#[test]
fn embedded_symbols_name_frames_without_the_binary() {
    let dir = std::env::temp_dir().join(format!("memscope-embed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = memscope::symbolize::this_process_modules().into_iter().next().expect("the executable");
    // A return address inside the function (past its first instruction).
    let address = the_function_that_allocated as fn() -> u32 as usize as u64 + 1;
    assert!(exe.contains(address));
    let here = dir.join("here.memscope");
    std::fs::write(&here, recording(&exe, address)).unwrap();

    let out = dir.join("here-symbolized.memscope");
    let report = memscope::symbolize::embed(&here, Some(&out), &Default::default()).expect("embed");
    assert_eq!((report.addresses, report.embedded, report.already_embedded), (1, 1, 0));
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let symbolized = std::fs::read(&out).unwrap();
    let original = std::fs::read(&here).unwrap();
    assert_eq!(&symbolized[..original.len()], &original[..], "embedding only appends");
    assert_eq!(symbolized.len() as u64 - original.len() as u64, report.bytes_appended);

    // The same recording on "another machine": the binary's path is gone.
    let elsewhere_module = ModuleRecord { path: "/nonexistent/memscope-test-binary".into(), ..exe.clone() };
    let mut elsewhere = recording(&elsewhere_module, address);
    let without_names = memscope::replay::Replay::from_reader(&elsewhere[..], "elsewhere".as_ref()).unwrap();
    let p = Profile::build(&without_names, &Default::default());
    assert!(p.locations.iter().all(|l| l.lines.is_empty()), "no names without the binary");
    assert_eq!(p.warnings.len(), 1, "one warning for the missing binary: {:?}", p.warnings);

    elsewhere.extend_from_slice(&symbolized[original.len()..]);
    let replay = memscope::replay::Replay::from_reader(&elsewhere[..], "elsewhere".as_ref()).unwrap();
    assert!(!replay.is_incomplete(), "the Symbols records after the End record are read as records");
    let p = Profile::build(&replay, &Default::default());
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let site = &p.sites[0];
    let first = &p.locations[site.locations[0]].lines[0];
    assert!(first.function.ends_with("symbolize_embed::the_function_that_allocated"), "{first:?}");
    assert!(first.file.as_deref().is_some_and(|f| f.ends_with("symbolize_embed.rs")), "{first:?}");

    // Again: nothing new to embed.
    let again = memscope::symbolize::embed(&out, None, &Default::default()).expect("embed again");
    assert_eq!((again.addresses, again.embedded, again.already_embedded), (1, 0, 1));
    let _ = std::fs::remove_dir_all(&dir);
}
