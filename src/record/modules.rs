//! The module map: every object loaded in this process (the executable and
//! its shared libraries), with where it is mapped and its GNU build id, so
//! that call-stack addresses can be symbolized offline (FORMAT.md, "Module
//! record").
//!
//! Both functions here call `dl_iterate_phdr`, which takes the dynamic
//! loader's lock, and [`loaded_modules`] allocates: they run on the drainer
//! thread or in `Recorder::start`, never in the allocator. Linux with glibc.
#![cfg_attr(loom, allow(dead_code, reason = "the drainer and the symbolizer, their only callers, are not built under loom"))]

use crate::format::stacks::ModuleRecord;
use std::ffi::CStr;
use std::os::raw::{c_int, c_void};

#[cfg(target_pointer_width = "64")]
type Phdr = libc::Elf64_Phdr;
#[cfg(target_pointer_width = "32")]
type Phdr = libc::Elf32_Phdr;

/// The note type of a GNU build id.
const NT_GNU_BUILD_ID: u32 = 3;
/// The owner name of GNU notes, with its terminating NUL.
const NOTE_NAME_GNU: &[u8] = b"GNU\0";
/// The largest build id kept, in bytes (a SHA-1 one is 20; anything longer
/// than this is taken as a malformed note).
const MAX_BUILD_ID_LEN: usize = 64;

/// Every loaded object with at least one `PT_LOAD` segment, in the dynamic
/// loader's order (the executable first).
///
/// Allocates and takes the dynamic loader's lock (`dl_iterate_phdr`): call
/// it on the drainer thread or in `Recorder::start`, never from the
/// allocator. The executable's path is `/proc/self/exe` resolved (empty if
/// that fails); a relative library path is made absolute against the current
/// directory; the vDSO keeps its pseudo-name (`linux-vdso.so.1`), which names
/// no file. A malformed build-id note leaves that object's build id empty.
#[cfg_attr(not(any(test, feature = "symbolize")), allow(dead_code, reason = "the drainer calls it once call stacks are wired in"))]
pub(crate) fn loaded_modules() -> Vec<ModuleRecord> {
    loaded_modules_and_code().0
}

/// [`loaded_modules`], plus the `[start, end)` of every executable segment
/// of them (the code a return address may point into).
pub(crate) fn loaded_modules_and_code() -> ModuleMap {
    let mut gather = Gather { modules: Vec::new(), code: Vec::new(), first: true };
    // SAFETY: `gather_one` matches the callback type `dl_iterate_phdr` expects,
    // and `data` points to `gather`, which outlives the call and is accessed
    // only by the callback, on this thread, while the call runs.
    unsafe {
        libc::dl_iterate_phdr(Some(gather_one), (&mut gather as *mut Gather).cast::<c_void>());
    }
    (gather.modules, gather.code)
}

/// A cheap check for a changed module map: a value that changes whenever an
/// object is loaded (`dlopen`) or unloaded (`dlclose`), from glibc's
/// `dlpi_adds` and `dlpi_subs` counters. The drainer compares it every round
/// and calls [`loaded_modules`] again when it differs.
///
/// Takes the dynamic loader's lock but does not allocate; still, call it only
/// on the drainer thread or in `Recorder::start`, never from the allocator.
/// Returns 0 if the C library does not report the counters.
#[cfg_attr(not(test), allow(dead_code, reason = "the drainer calls it once call stacks are wired in"))]
pub(crate) fn modules_generation() -> u64 {
    let mut generation = 0u64;
    // SAFETY: `generation_of_first` matches the callback type, and `data`
    // points to `generation`, which outlives the call and is written only by
    // the callback, on this thread, while the call runs.
    unsafe {
        libc::dl_iterate_phdr(Some(generation_of_first), (&mut generation as *mut u64).cast::<c_void>());
    }
    generation
}

/// The state [`gather_one`] fills.
struct Gather {
    modules: Vec<ModuleRecord>,
    /// `[start, end)` of every executable `PT_LOAD` segment, for the
    /// frame-pointer walk's check of return addresses.
    code: Vec<(u64, u64)>,
    /// Whether the next object is the first one reported (the executable).
    first: bool,
}

/// The `dl_iterate_phdr` callback of [`modules_generation`]: stores the
/// counters of the first object and stops the iteration.
///
/// # Safety
/// `info` must point to a valid `dl_phdr_info` of `size` bytes and `data` to
/// a `u64` no one else accesses during the call, as `dl_iterate_phdr`
/// guarantees for the pointer [`modules_generation`] passes.
unsafe extern "C" fn generation_of_first(info: *mut libc::dl_phdr_info, size: usize, data: *mut c_void) -> c_int {
    let counters_end = std::mem::offset_of!(libc::dl_phdr_info, dlpi_subs) + std::mem::size_of::<libc::c_ulonglong>();
    if size >= counters_end {
        // SAFETY: the loader passes a valid `dl_phdr_info` at least `size`
        // bytes long, so both counters are present (checked just above).
        let (adds, subs) = unsafe { ((*info).dlpi_adds, (*info).dlpi_subs) };
        // SAFETY: `data` is `modules_generation`'s `&mut u64` (this function's contract).
        unsafe { *data.cast::<u64>() = wide(adds).wrapping_mul(1 << 32) ^ wide(subs) };
    }
    1 // The first object is enough: stop.
}

/// The `dl_iterate_phdr` callback of [`loaded_modules`]: records one object.
///
/// # Safety
/// `info` must point to a valid `dl_phdr_info` whose program headers and
/// `PT_LOAD` segments are mapped, and `data` to a [`Gather`] no one else
/// accesses during the call, as `dl_iterate_phdr` guarantees for the pointer
/// [`loaded_modules`] passes.
unsafe extern "C" fn gather_one(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> c_int {
    // SAFETY: `data` is `loaded_modules`'s `&mut Gather` (this function's contract).
    let gather = unsafe { &mut *data.cast::<Gather>() };
    // SAFETY: the loader passes a valid `dl_phdr_info` for the call's duration.
    let info = unsafe { &*info };
    let first = std::mem::replace(&mut gather.first, false);
    let phdrs: &[Phdr] = if info.dlpi_phdr.is_null() || info.dlpi_phnum == 0 {
        &[]
    } else {
        // SAFETY: `dlpi_phdr` points to the object's `dlpi_phnum` program
        // headers, mapped for as long as the object stays loaded, which it
        // does during the callback (the loader lock is held).
        unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) }
    };
    let bias = wide(info.dlpi_addr);
    let mut start = u64::MAX;
    let mut end = 0u64;
    for p in phdrs.iter().filter(|p| p.p_type == libc::PT_LOAD) {
        let lo = bias.wrapping_add(wide(p.p_vaddr));
        start = start.min(lo);
        end = end.max(lo.saturating_add(wide(p.p_memsz)));
        if p.p_flags & libc::PF_X != 0 && p.p_memsz > 0 {
            gather.code.push((lo, lo.saturating_add(wide(p.p_memsz))));
        }
    }
    if start >= end {
        return 0; // No PT_LOAD (or only empty ones): nothing to map addresses to.
    }
    let name = if info.dlpi_name.is_null() {
        String::new()
    } else {
        // SAFETY: a non-null `dlpi_name` is a NUL-terminated string owned by
        // the loader, alive during the callback.
        unsafe { CStr::from_ptr(info.dlpi_name) }.to_string_lossy().into_owned()
    };
    let path = if first && name.is_empty() {
        std::fs::read_link("/proc/self/exe").map(|p| p.to_string_lossy().into_owned()).unwrap_or_default()
    } else {
        absolute(name)
    };
    let build_id = build_id_in_memory(bias, phdrs);
    gather.modules.push(ModuleRecord { load_bias: bias, start, end, build_id, path });
    0 // Go on with the next object.
}

/// A field of an ELF structure as a `u64` (they are `u32` or `u64` by target).
fn wide<T: Into<u64>>(x: T) -> u64 {
    x.into()
}

/// `path` made absolute against the current directory when it is a relative
/// file path (`dlopen("./libx.so")` leaves it relative); names without a `/`
/// (the vDSO's) and absolute paths are kept.
fn absolute(path: String) -> String {
    if path.starts_with('/') || !path.contains('/') {
        return path;
    }
    match std::env::current_dir() {
        Ok(dir) => dir.join(&path).to_string_lossy().into_owned(),
        Err(_) => path,
    }
}

/// The GNU build id of a loaded object, read from its `PT_NOTE` segments in
/// memory; empty when it has none or its notes are malformed.
fn build_id_in_memory(bias: u64, phdrs: &[Phdr]) -> Vec<u8> {
    for note in phdrs.iter().filter(|p| p.p_type == libc::PT_NOTE) {
        let lo = wide(note.p_vaddr);
        let len = wide(note.p_filesz);
        let Some(hi) = lo.checked_add(len) else { continue };
        // Read only notes inside the file-backed part of a readable PT_LOAD
        // segment: those are mapped for sure.
        let mapped = phdrs.iter().any(|p| {
            p.p_type == libc::PT_LOAD
                && p.p_flags & libc::PF_R != 0
                && wide(p.p_vaddr) <= lo
                && hi <= wide(p.p_vaddr).saturating_add(wide(p.p_filesz))
        });
        let (Ok(len), Some(address)) = (usize::try_from(len), bias.checked_add(lo)) else { continue };
        if !mapped || len == 0 || usize::try_from(address).is_err() {
            continue;
        }
        // SAFETY: [address, address + len) lies inside the file-backed part
        // of a readable PT_LOAD segment of an object the loader holds loaded
        // during the callback (checked above), so it is mapped and readable,
        // and no one writes to it (it is part of the object's image).
        let bytes = unsafe { std::slice::from_raw_parts(std::ptr::with_exposed_provenance::<u8>(address as usize), len) };
        let align = if wide(note.p_align) == 8 { 8 } else { 4 };
        if let Some(id) = parse_build_id(bytes, align) {
            return id.to_vec();
        }
    }
    Vec::new()
}

/// Finds the `NT_GNU_BUILD_ID` note in a note segment's bytes (native byte
/// order), each note's descriptor and the next note aligned to `align` (4,
/// or 8 for a segment aligned so). Every read is bounded by `notes`; a malformed note
/// ends the parse with `None`.
fn parse_build_id(notes: &[u8], align: usize) -> Option<&[u8]> {
    let word = |at: usize| -> Option<u32> {
        let b = notes.get(at..at.checked_add(4)?)?;
        Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    let pad = |n: usize| -> Option<usize> { n.checked_add(align - 1).map(|n| n & !(align - 1)) };
    let mut at = 0usize;
    while at.checked_add(12)? <= notes.len() {
        let name_len = usize::try_from(word(at)?).ok()?;
        let desc_len = usize::try_from(word(at + 4)?).ok()?;
        let kind = word(at + 8)?;
        let name_at = at + 12;
        // Offsets are aligned from the note's start (the 12-byte header is
        // not padded), as `readelf` and the `object` crate read them.
        let desc_at = pad(name_at.checked_add(name_len)?)?;
        let next = pad(desc_at.checked_add(desc_len)?)?;
        let name = notes.get(name_at..name_at.checked_add(name_len)?)?;
        let desc = notes.get(desc_at..desc_at.checked_add(desc_len)?)?;
        if kind == NT_GNU_BUILD_ID && name == NOTE_NAME_GNU {
            return (!desc.is_empty() && desc.len() <= MAX_BUILD_ID_LEN).then_some(desc);
        }
        at = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn a_function_of_the_test_binary() -> u32 {
        std::hint::black_box(7)
    }

    fn executable() -> ModuleRecord {
        loaded_modules().into_iter().next().expect("the executable is the first object")
    }

    #[test]
    fn the_executable_comes_first_with_its_path() {
        let exe = executable();
        let expected = std::fs::read_link("/proc/self/exe").unwrap();
        assert_eq!(exe.path, expected.to_string_lossy());
        assert!(exe.start < exe.end);
    }

    #[test]
    fn a_function_of_the_executable_lies_in_its_range() {
        let exe = executable();
        let f = a_function_of_the_test_binary as fn() -> u32 as usize as u64;
        assert!(exe.contains(f), "{f:#x} in {:#x}..{:#x}", exe.start, exe.end);
        assert!(exe.load_bias <= exe.start);
        assert_eq!(a_function_of_the_test_binary(), 7);
    }

    #[cfg(feature = "symbolize")]
    #[test]
    fn the_build_id_in_memory_is_the_one_on_disk() {
        use object::Object;
        let exe = executable();
        let data = std::fs::read(&exe.path).unwrap();
        let file = object::File::parse(&*data).unwrap();
        let on_disk = file.build_id().unwrap().unwrap_or_default();
        // The linker driver on Debian passes --build-id (gcc is configured
        // with --enable-linker-build-id), so rustc's test binaries have one.
        assert!(!on_disk.is_empty(), "the test binary has a build id");
        assert_eq!(exe.build_id, on_disk);
    }

    #[test]
    fn libc_is_present_with_a_build_id() {
        let modules = loaded_modules();
        let libc = modules.iter().find(|m| m.path.ends_with("/libc.so.6")).expect("libc.so.6 is loaded");
        assert_eq!(libc.build_id.len(), 20, "a SHA-1 build id");
        assert!(libc.path.starts_with('/'));
        let malloc = libc::malloc as unsafe extern "C" fn(usize) -> *mut c_void as usize as u64;
        assert!(libc.contains(malloc));
    }

    #[test]
    fn the_generation_is_stable_without_dlopen() {
        let a = modules_generation();
        let b = modules_generation();
        assert_ne!(a, 0, "glibc reports at least one load");
        assert_eq!(a, b);
    }

    fn note(name: &[u8], kind: u32, desc: &[u8], align: usize) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(name.len() as u32).to_ne_bytes());
        out.extend_from_slice(&(desc.len() as u32).to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(name);
        out.resize(out.len().next_multiple_of(align), 0);
        out.extend_from_slice(desc);
        out.resize(out.len().next_multiple_of(align), 0);
        out
    }

    #[test]
    fn build_id_notes_parse_after_other_notes() {
        let mut notes = note(b"GNU\0", 5, &[1; 12], 4);
        notes.extend(note(b"Go\0", NT_GNU_BUILD_ID, &[9; 3], 4));
        notes.extend(note(b"GNU\0", NT_GNU_BUILD_ID, &[0xab; 20], 4));
        assert_eq!(parse_build_id(&notes, 4), Some(&[0xab; 20][..]));
        let eight = [note(b"GNU\0", 5, &[1; 12], 8), note(b"GNU\0", NT_GNU_BUILD_ID, &[7; 8], 8)].concat();
        assert_eq!(parse_build_id(&eight, 8), Some(&[7; 8][..]));
    }

    #[test]
    fn malformed_notes_end_the_parse() {
        let good = note(b"GNU\0", NT_GNU_BUILD_ID, &[0xab; 20], 4);
        for cut in 0..good.len() {
            assert_eq!(parse_build_id(&good[..cut], 4), None, "cut at {cut}");
        }
        let mut huge = good.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(parse_build_id(&huge, 4), None);
        huge[0..4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(parse_build_id(&huge, 4), None);
        assert_eq!(parse_build_id(&note(b"GNU\0", NT_GNU_BUILD_ID, &[], 4), 4), None);
        assert_eq!(parse_build_id(&[], 4), None);
    }
}

/// The loaded objects and the `[start, end)` of their executable segments.
pub(crate) type ModuleMap = (Vec<ModuleRecord>, Vec<(u64, u64)>);

/// A thread that watches the module map while a recording runs and sends
/// the whole map (with its code ranges) each time it changes (`dlopen`,
/// `dlclose`): the drainer must never call into the dynamic loader itself,
/// because a producer may allocate inside a `dl_iterate_phdr` callback,
/// holding the loader's lock, and wait for the drainer (`OnFull::Block`).
/// This thread may block on that lock; the drainer never does.
#[derive(Debug)]
pub(crate) struct Watcher {
    /// New module maps, newest last.
    pub(crate) maps: std::sync::mpsc::Receiver<ModuleMap>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// How often the watcher looks at the loader's counters.
const WATCH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(20);

impl Watcher {
    /// Starts watching for changes from `generation` (the map the caller
    /// already wrote). `None` when no thread can be started: the map then
    /// stays as it was at the start.
    pub(crate) fn start(generation: u64) -> Option<Watcher> {
        let (tx, maps) = std::sync::mpsc::channel();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = std::sync::Arc::clone(&stop);
        let (ready_tx, ready) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("memscope-modules".into())
            .spawn(move || {
                super::thread::ignore_this_thread();
                let _ = ready_tx.send(());
                let mut seen = generation;
                // Relaxed: a flag polled every interval; nothing else is published with it.
                while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(WATCH_INTERVAL);
                    let now = modules_generation();
                    if now != seen {
                        seen = now;
                        if tx.send(loaded_modules_and_code()).is_err() {
                            return;
                        }
                    }
                }
            })
            .ok()?;
        // The caller publishes the recording after this returns: wait until
        // the thread ignores itself, so that none of its own allocations (its
        // start-up included) is recorded as the program's.
        let watcher = Watcher { maps, stop };
        // On a timeout, dropping `watcher` stops the thread.
        ready.recv_timeout(std::time::Duration::from_secs(1)).ok()?;
        Some(watcher)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        // Relaxed: see the loop above; the thread ends within one interval
        // (or when a send finds the receiver gone). It is not joined: it may
        // be waiting for the loader's lock.
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
