//! Symbolizing the running test binary and its libc, and modules that
//! cannot be used.

use super::*;
use std::os::raw::c_void;
use std::path::Path;

/// The instruction pointers of the innermost frames: `[0]` is in this
/// function, `[1]` the return address of the call to it in its caller (by
/// the recorder's own frame-pointer walk: this crate is built with frame
/// pointers, `.cargo/config.toml`).
#[inline(never)]
fn return_addresses() -> Vec<u64> {
    let ips = crate::record::return_addresses(4);
    assert!(ips.len() >= 2, "the walk reached the caller: {ips:x?}");
    ips
}

fn symbolizer() -> Symbolizer {
    Symbolizer::new(&this_process_modules(), &SymbolizeOptions::default())
}

fn executable() -> ModuleRecord {
    this_process_modules().swap_remove(0)
}

fn libc_module(modules: &[ModuleRecord]) -> usize {
    modules.iter().position(|m| m.path.ends_with("/libc.so.6")).expect("libc.so.6 is loaded")
}

fn malloc_address() -> u64 {
    libc::malloc as unsafe extern "C" fn(usize) -> *mut c_void as usize as u64
}

/// A fresh folder for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("memscope-symbolize-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_return_address_in_this_test_resolves_to_its_line() {
    let (ips, line) = (return_addresses(), line!());
    let mut symbolizer = symbolizer();
    let (module, lines) = symbolizer.resolve(ips[1]);
    assert_eq!(module, Some(0), "the executable");
    let frame = lines.last().expect("resolved");
    assert_eq!(frame.function, "memscope::symbolize::tests::a_return_address_in_this_test_resolves_to_its_line");
    let file = frame.file.as_deref().expect("a file");
    assert!(file.ends_with("src/symbolize/tests.rs") && Path::new(file).is_absolute(), "{file}");
    assert_eq!(frame.line, line);
    assert!(frame.column > 0);
    assert_eq!(symbolizer.warnings(), &[] as &[String]);
    assert_eq!(symbolizer.resolve(ips[1]), (module, lines), "the cached answer is the same");

    let (_, callee) = symbolizer.resolve(ips[0]);
    assert_eq!(callee.last().unwrap().function, "memscope::symbolize::tests::return_addresses");
}

#[inline(always)]
fn inlined_capture() -> (Vec<u64>, u32) {
    (return_addresses(), line!())
}

#[inline(never)]
fn calls_an_inlined_function() -> (Vec<u64>, u32, u32) {
    let ((ips, inner), outer) = (inlined_capture(), line!());
    (ips, inner, outer)
}

#[test]
fn inlined_frames_come_innermost_first() {
    let (ips, inner, outer) = calls_an_inlined_function();
    let (_, lines) = symbolizer().resolve(ips[1]);
    let got: Vec<(&str, u32)> = lines.iter().map(|l| (l.function.as_str(), l.line)).collect();
    assert_eq!(
        got,
        [("memscope::symbolize::tests::inlined_capture", inner), ("memscope::symbolize::tests::calls_an_inlined_function", outer)]
    );
}

#[test]
fn markers_and_addresses_outside_every_module_resolve_to_nothing() {
    let mut symbolizer = symbolizer();
    for marker in [0, crate::format::stacks::MARK_TRUNCATED, crate::format::stacks::MARK_TABLE_FULL, MARK_LIMIT - 1] {
        assert_eq!(symbolizer.resolve(marker), (None, vec![]));
    }
    assert_eq!(symbolizer.resolve(MARK_LIMIT), (None, vec![]), "the zero page holds no module");
    assert!(symbolizer.warnings().is_empty());
}

#[test]
fn a_changed_build_id_gives_no_names_and_one_warning() {
    let mut exe = executable();
    exe.build_id = vec![0xde, 0xad, 0xbe, 0xef];
    let address = exe.start + 0x20;
    let mut symbolizer = Symbolizer::new(&[exe.clone()], &SymbolizeOptions::default());
    assert_eq!(symbolizer.resolve(address), (Some(0), vec![]));
    assert_eq!(symbolizer.resolve(address + 1), (Some(0), vec![]));
    let [warning] = symbolizer.warnings() else { panic!("one warning: {:?}", symbolizer.warnings()) };
    assert!(warning.contains(&exe.path) && warning.contains("deadbeef") && warning.contains("changed"), "{warning}");
}

#[test]
fn a_file_with_a_build_id_recorded_without_one_is_refused() {
    let mut exe = executable();
    exe.build_id.clear();
    let mut symbolizer = Symbolizer::new(&[exe.clone()], &SymbolizeOptions::default());
    assert_eq!(symbolizer.resolve(exe.start + 0x20), (Some(0), vec![]));
    let [warning] = symbolizer.warnings() else { panic!("one warning: {:?}", symbolizer.warnings()) };
    assert!(warning.contains(&exe.path) && warning.contains("build id none") && warning.contains("different binary"), "{warning}");
}

#[test]
fn a_missing_file_gives_no_names_and_one_warning() {
    let gone = ModuleRecord {
        load_bias: 0x7f00_0000_0000,
        start: 0x7f00_0000_1000,
        end: 0x7f00_0001_0000,
        build_id: vec![1, 2, 0xab],
        path: "/nonexistent/memscope/libgone.so".into(),
    };
    let mut symbolizer = Symbolizer::new(&[gone], &SymbolizeOptions::default());
    assert_eq!(symbolizer.resolve(0x7f00_0000_1234), (Some(0), vec![]));
    assert_eq!(symbolizer.resolve(0x7f00_0000_5678), (Some(0), vec![]));
    let [warning] = symbolizer.warnings() else { panic!("one warning: {:?}", symbolizer.warnings()) };
    assert!(warning.contains("/nonexistent/memscope/libgone.so") && warning.contains("0102ab"), "{warning}");
}

#[test]
fn the_vdso_is_unresolved_quietly() {
    let modules = this_process_modules();
    let Some(vdso) = modules.iter().position(|m| m.path.starts_with("linux-vdso")) else { return };
    let mut symbolizer = Symbolizer::new(&modules, &SymbolizeOptions::default());
    assert_eq!(symbolizer.resolve(modules[vdso].start + 1), (Some(vdso), vec![]));
    assert!(symbolizer.warnings().is_empty());
}

#[test]
fn a_libc_address_resolves_to_its_function() {
    let modules = this_process_modules();
    let libc = libc_module(&modules);
    let mut symbolizer = Symbolizer::new(&modules, &SymbolizeOptions::default());
    let (module, lines) = symbolizer.resolve(malloc_address() + 1);
    assert_eq!(module, Some(libc));
    // With libc6-dbg installed, DWARF names glibc's definition
    // (`__libc_malloc`, with its file); without, `.dynsym` names `malloc`.
    let frame = lines.last().expect("libc's malloc has a name");
    assert!(frame.function.contains("malloc"), "{frame:?}");
    let debug = elf::build_id_paths(&modules[libc].build_id, &symbolizer.roots).next().unwrap();
    assert_eq!(frame.file.is_some(), debug.exists(), "{frame:?}, debug file {}", debug.display());
    assert!(symbolizer.warnings().is_empty(), "{:?}", symbolizer.warnings());
}

#[test]
fn without_debug_info_names_come_from_the_symbol_table() {
    let modules = this_process_modules();
    let libc = libc_module(&modules);
    let mut symbolizer = Symbolizer::new(&modules, &SymbolizeOptions::default());
    symbolizer.set_system_debug_root(PathBuf::from("/nonexistent/memscope-debug"));
    let (module, lines) = symbolizer.resolve(malloc_address() + 1);
    assert_eq!(module, Some(libc));
    // Debian's libc.so.6 has no .symtab: its exported aliases `malloc` and
    // `__libc_malloc` are in .dynsym, and the plainer name wins.
    assert_eq!(lines, [Line { function: "malloc".into(), file: None, line: 0, column: 0 }]);
    assert!(symbolizer.warnings().is_empty(), "{:?}", symbolizer.warnings());
}

#[test]
fn split_debug_info_is_found_in_debug_dirs() {
    let modules = this_process_modules();
    let libc = libc_module(&modules);
    let system = PathBuf::from(elf::SYSTEM_DEBUG_ROOT);
    let roots = elf::DebugRoots { system: system.clone(), extra: vec![] };
    let Some(debug) = elf::build_id_paths(&modules[libc].build_id, &roots).next().filter(|p| p.exists()) else {
        eprintln!("no split debug info for libc.so.6 (install libc6-dbg): skipped");
        return;
    };
    let hex = elf::hex(&modules[libc].build_id);
    let link_name = format!("{}.debug", &hex[2..]); // Debian's .gnu_debuglink
    let layouts =
        [format!(".build-id/{}/{}.debug", &hex[..2], &hex[2..]), "libc.so.6.debug".to_string(), link_name, "unrelated.debug".to_string()];
    for (n, layout) in layouts.iter().enumerate() {
        let dir = scratch(&format!("split-{n}"));
        let link = dir.join(layout);
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&debug, &link).unwrap();
        let options = SymbolizeOptions { debug_dirs: vec![PathBuf::from("/nonexistent/memscope-debug"), dir.clone()] };
        let mut symbolizer = Symbolizer::new(&modules, &options);
        symbolizer.set_system_debug_root(PathBuf::from("/nonexistent/memscope-debug"));
        let (_, lines) = symbolizer.resolve(malloc_address() + 1);
        let frame = lines.last().unwrap();
        let found = n < 3;
        assert_eq!(frame.file.is_some(), found, "{layout}: {frame:?}");
        assert!(frame.function.contains("malloc"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_debug_file_with_another_build_id_is_not_used() {
    let modules = this_process_modules();
    let libc = libc_module(&modules);
    let dir = scratch("wrong-debug");
    let hex = elf::hex(&modules[libc].build_id);
    let link = dir.join(".build-id").join(&hex[..2]).join(format!("{}.debug", &hex[2..]));
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    // The test binary has DWARF, but not libc's.
    std::os::unix::fs::symlink(&modules[0].path, &link).unwrap();
    let mut symbolizer = Symbolizer::new(&modules, &SymbolizeOptions { debug_dirs: vec![dir.clone()] });
    symbolizer.set_system_debug_root(PathBuf::from("/nonexistent/memscope-debug"));
    let (_, lines) = symbolizer.resolve(malloc_address() + 1);
    assert_eq!(lines, [Line { function: "malloc".into(), file: None, line: 0, column: 0 }]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A module record for the file at `path`, mapped like the executable.
fn module_at(path: &Path, build_id: Vec<u8>) -> ModuleRecord {
    ModuleRecord { path: path.to_string_lossy().into_owned(), build_id, ..executable() }
}

#[test]
fn hostile_files_give_warnings_not_panics() {
    let dir = scratch("hostile");
    let exe = executable();
    let image = std::fs::read(&exe.path).unwrap();
    let mut garbage = vec![0u8; 4096];
    let mut x = 0x9e37_79b9_u32;
    for b in &mut garbage {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    let mut elf_header_then_garbage = image[..64].to_vec();
    elf_header_then_garbage.extend_from_slice(&garbage);
    let cases: [(&str, &[u8]); 5] = [
        ("empty", &[]),
        ("garbage", &garbage),
        ("elf-header-then-garbage", &elf_header_then_garbage),
        ("truncated-64k", &image[..65536]),
        ("truncated-half", &image[..image.len() / 2]),
    ];
    for (name, bytes) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let mut symbolizer = Symbolizer::new(&[module_at(&path, exe.build_id.clone())], &SymbolizeOptions::default());
        for offset in [0x10, 0x1000, 0x10000] {
            // A truncated file may still name an address from what is left
            // of its symbols; it must never panic, and warns at most once.
            let _ = symbolizer.resolve(exe.start + offset);
        }
        assert!(symbolizer.warnings().len() <= 1, "{name}: {:?}", symbolizer.warnings());
        if name != "truncated-half" {
            assert_eq!(symbolizer.warnings().len(), 1, "{name}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn garbage_dwarf_falls_back_to_the_symbol_table() {
    use object::{Object, ObjectSection};
    let dir = scratch("garbage-dwarf");
    let exe = executable();
    let mut image = std::fs::read(&exe.path).unwrap();
    let ranges: Vec<(u64, u64)> = {
        let file = object::File::parse(&*image).unwrap();
        [".debug_info", ".debug_abbrev"].iter().filter_map(|n| file.section_by_name(n)?.file_range()).collect()
    };
    assert_eq!(ranges.len(), 2);
    for (at, len) in ranges {
        image[at as usize..(at + len) as usize].fill(0xff);
    }
    let path = dir.join("garbage-dwarf");
    std::fs::write(&path, &image).unwrap();
    drop(image);

    let (ips, _) = (return_addresses(), line!());
    let mut symbolizer = Symbolizer::new(&[module_at(&path, exe.build_id.clone())], &SymbolizeOptions::default());
    let (_, lines) = symbolizer.resolve(ips[1]);
    assert_eq!(
        lines,
        [Line {
            function: "memscope::symbolize::tests::garbage_dwarf_falls_back_to_the_symbol_table".into(),
            file: None,
            line: 0,
            column: 0
        }]
    );
    let [warning] = symbolizer.warnings() else { panic!("one warning: {:?}", symbolizer.warnings()) };
    assert!(warning.contains("debug info") && warning.contains(&elf::hex(&exe.build_id)), "{warning}");
    let _ = std::fs::remove_dir_all(&dir);
}
