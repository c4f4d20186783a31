//! Reading one module's ELF file: its build id, its DWARF (in the file or
//! split off), and its symbol table.

use crate::export::profile::Line;
use crate::format::stacks::ModuleRecord;
use object::{Object, ObjectSection, ObjectSymbol, ObjectSymbolTable, ReadCache, SectionKind, SymbolKind, SymbolScope};
use std::borrow::Cow;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Where distributions install split debug info.
pub(super) const SYSTEM_DEBUG_ROOT: &str = "/usr/lib/debug";

/// The most frames taken for one address (inlining depth), a bound against
/// cyclic or absurd DWARF; the format keeps at most 256 lines per address.
const MAX_FRAMES: usize = 1024;

/// The folders searched for split debug info.
pub(super) struct DebugRoots {
    /// `/usr/lib/debug`, searched first.
    pub(super) system: PathBuf,
    /// The user's `debug_dirs`.
    pub(super) extra: Vec<PathBuf>,
}

impl DebugRoots {
    fn all(&self) -> impl Iterator<Item = &Path> {
        std::iter::once(self.system.as_path()).chain(self.extra.iter().map(PathBuf::as_path))
    }
}

/// An object file read through a cache: only the parts looked at are read.
type Cached = ReadCache<File>;
/// An object file parsed through a [`Cached`] reader.
type Elf<'a> = object::File<'a, &'a Cached>;

/// A module ready for lookups.
pub(super) struct Opened {
    /// Its DWARF (from the file itself or its debug file), if any loaded.
    dwarf: Option<addr2line::Loader>,
    /// Its function symbols.
    symbols: SymbolTable,
    /// What went wrong on the way without making it unusable (unreadable
    /// DWARF: names then come from the symbol table only).
    pub(super) problem: Option<String>,
}

impl Opened {
    /// Whether it can name nothing.
    pub(super) fn is_empty(&self) -> bool {
        self.dwarf.is_none() && self.symbols.entries.is_empty()
    }

    /// The lines at `address` (a virtual address of the file), innermost
    /// first, and a problem met in the DWARF if any (the lines then come
    /// from the symbol table).
    pub(super) fn lookup(&self, address: u64) -> (Vec<Line>, Option<String>) {
        let mut lines = Vec::new();
        let mut problem = None;
        if let Some(dwarf) = &self.dwarf {
            if let Err(e) = frames(dwarf, address, &mut lines) {
                lines.clear();
                problem = Some(format!("bad debug info ({e}); some names come from the symbol table only"));
            }
        }
        let symbol = || self.symbols.get(address).map(|name| addr2line::demangle_auto(Cow::Borrowed(name), None).into_owned());
        match lines.last_mut() {
            None => lines.extend(symbol().map(|function| Line { function, file: None, line: 0, column: 0 })),
            Some(outer) if outer.function.is_empty() => outer.function = symbol().unwrap_or_default(),
            Some(_) => {}
        }
        for line in &mut lines {
            if line.function.is_empty() {
                line.function = "??".into();
            }
        }
        (lines, problem)
    }
}

/// Appends the DWARF frames at `address`, innermost first.
fn frames(dwarf: &addr2line::Loader, address: u64, lines: &mut Vec<Line>) -> Result<(), Box<dyn std::error::Error>> {
    let mut frames = dwarf.find_frames(address)?;
    while let Some(frame) = frames.next()? {
        if lines.len() == MAX_FRAMES {
            break;
        }
        let function = frame.function.as_ref().and_then(|f| f.demangle().ok()).map(Cow::into_owned).unwrap_or_default();
        let (file, line, column) = match frame.location {
            Some(l) => (l.file.map(str::to_owned), l.line.unwrap_or(0), l.column.unwrap_or(0)),
            None => (None, 0, 0),
        };
        lines.push(Line { function, file, line, column });
    }
    Ok(())
}

/// Opens `module`'s file, checks its build id, and loads its DWARF (or its
/// split debug info's) and symbols.
///
/// # Errors
/// Why the file cannot be used at all, in lowercase: missing, not an object
/// file, or a build id other than the recorded one.
pub(super) fn open(module: &ModuleRecord, roots: &DebugRoots) -> Result<Opened, String> {
    let path = Path::new(&module.path);
    let file = File::open(path).map_err(|e| format!("cannot open the file ({e})"))?;
    let cache = Cached::new(file);
    let object = object::File::parse(&cache).map_err(|e| format!("not a readable object file ({e})"))?;
    let on_disk = object.build_id().map_err(|e| format!("unreadable build id note ({e})"))?.unwrap_or_default();
    if on_disk != module.build_id.as_slice() {
        return Err(if module.build_id.is_empty() {
            format!("recorded without a build id, but the file has build id {}: a different binary", hex(on_disk))
        } else if on_disk.is_empty() {
            "the file has no build id: not the recorded binary".to_string()
        } else {
            format!("the file has build id {}: the binary changed since recording", hex(on_disk))
        });
    }
    let mut symbols = SymbolTable::from_object(&object, true);
    let mut dwarf_file = has_dwarf(&object).then(|| (path.to_path_buf(), find_sup(path, &object, roots)));
    if dwarf_file.is_none() {
        if let Some(debug) = find_debug_file(path, &object, &module.build_id, roots) {
            if !debug.symbols.entries.is_empty() {
                symbols = debug.symbols;
            }
            dwarf_file = Some((debug.path, debug.sup));
        }
    }
    drop(object);
    let mut problem = None;
    let dwarf = match dwarf_file {
        None => None,
        Some((dwarf_path, sup)) => match addr2line::Loader::new_with_sup(&dwarf_path, sup) {
            Ok(loader) => Some(loader),
            Err(e) => {
                problem = Some(format!(
                    "unreadable debug info in {} ({e}); function names come from the symbol table only",
                    dwarf_path.display()
                ));
                None
            }
        },
    };
    Ok(Opened { dwarf, symbols, problem })
}

/// Whether `object` holds DWARF (not just empty or stripped sections).
fn has_dwarf(object: &Elf<'_>) -> bool {
    [".debug_info", ".zdebug_info"]
        .iter()
        .any(|name| object.section_by_name(name).is_some_and(|s| s.size() > 0 && s.kind() != SectionKind::UninitializedData))
}

/// A split debug file found for a module.
struct DebugFile {
    path: PathBuf,
    /// Its own symbol table (`.symtab` only), often fuller than the stripped file's.
    symbols: SymbolTable,
    /// Its supplementary file (`.gnu_debugaltlink`), if found.
    sup: Option<PathBuf>,
}

/// Looks for split debug info of the file at `path` with the recorded
/// `build_id`, in the order the module docs give; the first candidate that
/// has DWARF and matches (same build id; without build ids, the
/// `.gnu_debuglink` CRC) wins.
fn find_debug_file(path: &Path, object: &Elf<'_>, build_id: &[u8], roots: &DebugRoots) -> Option<DebugFile> {
    let mut candidates: Vec<(PathBuf, bool)> = Vec::new(); // (path, found through .gnu_debuglink)
    candidates.extend(build_id_paths(build_id, roots).map(|p| (p, false)));
    let link = object.gnu_debuglink().ok().flatten();
    let link_name = link.map(|(name, _)| Path::new(OsStr::from_bytes(name))).filter(|name| is_plain_file_name(name));
    if let Some(name) = link_name {
        if let Some(dir) = path.parent() {
            candidates.push((dir.join(name), true));
            candidates.push((dir.join(".debug").join(name), true));
            candidates.push((roots.system.join(dir.strip_prefix("/").unwrap_or(dir)).join(name), true));
        }
        candidates.extend(roots.extra.iter().map(|dir| (dir.join(name), true)));
    }
    if let Some(base) = path.file_name() {
        let mut debug_name = base.to_os_string();
        debug_name.push(".debug");
        candidates.extend(roots.extra.iter().map(|dir| (dir.join(&debug_name), false)));
    }
    candidates.into_iter().filter(|(candidate, _)| candidate != path).find_map(|(candidate, through_link)| {
        let file = File::open(&candidate).ok()?;
        let cache = Cached::new(file);
        let debug = object::File::parse(&cache).ok()?;
        let id = debug.build_id().ok()?.unwrap_or_default();
        let matches = if build_id.is_empty() {
            // Nothing to compare but the CRC the stripped file recorded.
            id.is_empty() && through_link && link.is_some_and(|(_, crc)| file_crc(&candidate) == Some(crc))
        } else {
            id == build_id
        };
        if !matches || !has_dwarf(&debug) {
            return None;
        }
        let symbols = SymbolTable::from_object(&debug, false);
        let sup = find_sup(&candidate, &debug, roots);
        Some(DebugFile { path: candidate, symbols, sup })
    })
}

/// The supplementary debug file (`.gnu_debugaltlink`, as dwz writes) of the
/// DWARF file at `path`, if it names one that exists with the build id it
/// records.
fn find_sup(path: &Path, object: &Elf<'_>, roots: &DebugRoots) -> Option<PathBuf> {
    let (name, id) = object.gnu_debugaltlink().ok().flatten()?;
    let name = Path::new(OsStr::from_bytes(name));
    let named = if name.is_absolute() { name.to_path_buf() } else { path.parent()?.join(name) };
    std::iter::once(named).chain(build_id_paths(id, roots)).find(|candidate| {
        let Ok(file) = File::open(candidate) else { return false };
        let cache = Cached::new(file);
        object::File::parse(&cache).ok().and_then(|o| o.build_id().ok().flatten()) == Some(id)
    })
}

/// `<root>/.build-id/<first 2 hex digits>/<rest>.debug` for each root.
pub(super) fn build_id_paths<'a>(build_id: &[u8], roots: &'a DebugRoots) -> impl Iterator<Item = PathBuf> + 'a {
    let hex = hex(build_id);
    let split = (build_id.len() >= 2).then(|| (hex[..2].to_string(), format!("{}.debug", &hex[2..])));
    roots.all().filter_map(move |root| split.as_ref().map(|(head, rest)| root.join(".build-id").join(head).join(rest)))
}

/// Whether `name` is one plain file name (a `.gnu_debuglink` must not climb
/// out of the folder it is looked for in).
fn is_plain_file_name(name: &Path) -> bool {
    let mut components = name.components();
    matches!((components.next(), components.next()), (Some(std::path::Component::Normal(_)), None))
}

/// The CRC-32 of a whole file, as `.gnu_debuglink` records it.
fn file_crc(path: &Path) -> Option<u32> {
    let mut file = File::open(path).ok()?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        match file.read(&mut buffer) {
            Ok(0) => return Some(hasher.finalize()),
            Ok(n) => hasher.update(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

/// `bytes` as lowercase hex.
pub(super) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// `bytes` as lowercase hex, or `none` when empty.
pub(super) fn hex_or_none(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        "none".to_string()
    } else {
        hex(bytes)
    }
}

/// Function symbols with their sizes, sorted by address: a lookup names an
/// address only if it lies inside a symbol, never the nearest one before it.
#[derive(Default)]
struct SymbolTable {
    /// Sorted by `start`, one per start address.
    entries: Vec<SymbolEntry>,
    /// Every name, one after the other.
    names: String,
}

struct SymbolEntry {
    start: u64,
    end: u64,
    name_at: u32,
    name_len: u32,
}

impl SymbolTable {
    /// The function symbols of `.symtab`, or of `.dynsym` when `.symtab`
    /// has none and `dynamic` is set.
    fn from_object(object: &Elf<'_>, dynamic: bool) -> SymbolTable {
        let mut table = object.symbol_table().map(|t| SymbolTable::from_table(&t)).unwrap_or_default();
        if table.entries.is_empty() && dynamic {
            if let Some(t) = object.dynamic_symbol_table() {
                table = SymbolTable::from_table(&t);
            }
        }
        table
    }

    fn from_table<'data, T: ObjectSymbolTable<'data>>(symbols: &T) -> SymbolTable {
        // (start, end, rank, name): among aliases, the lowest rank names the address.
        let mut all: Vec<(u64, u64, u32, Vec<u8>)> = Vec::new();
        for symbol in symbols.symbols() {
            if symbol.kind() != SymbolKind::Text || !symbol.is_definition() || symbol.size() == 0 {
                continue;
            }
            let Ok(name) = symbol.name_bytes() else { continue };
            if name.is_empty() {
                continue;
            }
            let Some(end) = symbol.address().checked_add(symbol.size()) else { continue };
            // Exported first, then the name with the fewest leading
            // underscores (`malloc` before `__libc_malloc`).
            let scope = match symbol.scope() {
                SymbolScope::Dynamic => 0,
                SymbolScope::Linkage => 1,
                SymbolScope::Compilation => 2,
                _ => 3,
            };
            let underscores = name.iter().take_while(|&&b| b == b'_').count().min(255) as u32;
            all.push((symbol.address(), end, scope << 8 | underscores, name.to_vec()));
        }
        all.sort_unstable_by(|a, b| (a.0, a.2, &a.3).cmp(&(b.0, b.2, &b.3)));
        all.dedup_by_key(|entry| entry.0);
        let mut table = SymbolTable::default();
        for (start, end, _, name) in all {
            let name = String::from_utf8_lossy(&name);
            let (Ok(name_at), Ok(name_len)) = (u32::try_from(table.names.len()), u32::try_from(name.len())) else { break };
            table.names.push_str(&name);
            table.entries.push(SymbolEntry { start, end, name_at, name_len });
        }
        table
    }

    /// The name of the symbol holding `address`.
    fn get(&self, address: u64) -> Option<&str> {
        let after = self.entries.partition_point(|e| e.start <= address);
        let entry = self.entries.get(after.checked_sub(1)?)?;
        if address >= entry.end {
            return None;
        }
        let at = entry.name_at as usize;
        self.names.get(at..at + entry.name_len as usize)
    }
}
