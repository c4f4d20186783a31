//! Offline symbolization: call-stack return addresses to functions, files
//! and lines, from the ELF files of the recorded module map (feature
//! `symbolize`).
//!
//! Each module (the executable or a shared library) is opened the first
//! time one of its addresses is resolved, so the time and memory a
//! symbolization takes grow with the distinct addresses and modules it
//! meets, not with the events. A file is trusted only if its GNU build id is
//! the recorded one: a changed or missing binary gives no names (the caller
//! shows `module+0xoffset`) and one warning, never a wrong name.
//!
//! Where names come from, best first:
//! 1. DWARF in the file itself (inlined frames included);
//! 2. split debug info, when the file has no DWARF: the build-id layout
//!    `<dir>/.build-id/<first 2 hex digits>/<rest>.debug` under
//!    `/usr/lib/debug` and each [`SymbolizeOptions::debug_dirs`] entry, then
//!    the file's `.gnu_debuglink` name next to the file, in its `.debug`
//!    folder, under `/usr/lib/debug/<its folder>` and in each debug dir, then
//!    `<debug dir>/<file name>.debug`; a debug file's build id is checked too
//!    (without build ids, a `.gnu_debuglink` CRC), and a `.gnu_debugaltlink`
//!    supplementary file (dwz) is used when found;
//! 3. the ELF symbol table (`.symtab`, else `.dynsym`): the function name
//!    only, no file, line 0; an address past a symbol's size gets no name.

mod elf;
mod embed;
pub use embed::{embed, EmbedReport};
#[cfg(test)]
mod tests;

use crate::export::profile::Line;
use crate::format::stacks::{ModuleRecord, MARK_LIMIT};
use std::collections::HashMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

/// Where [`Symbolizer`] looks for split debug info, besides the standard
/// `/usr/lib/debug` (see the [module docs](self) for the layouts).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SymbolizeOptions {
    /// Extra folders searched for split debug info, in order, after
    /// `/usr/lib/debug`. Empty by default.
    pub debug_dirs: Vec<PathBuf>,
}

/// Resolves return addresses against a recorded module map, opening each
/// module's file lazily and caching every address it resolves.
///
/// ```
/// use memscope::format::stacks::ModuleRecord;
/// use memscope::symbolize::{SymbolizeOptions, Symbolizer};
///
/// let modules = vec![ModuleRecord {
///     load_bias: 0x5555_0000_0000,
///     start: 0x5555_0000_1000,
///     end: 0x5555_0002_0000,
///     build_id: vec![0xab; 20],
///     path: "/nonexistent/app".into(),
/// }];
/// let mut symbolizer = Symbolizer::new(&modules, &SymbolizeOptions::default());
/// let (module, lines) = symbolizer.resolve(0x5555_0000_1234);
/// assert_eq!(module, Some(0));
/// assert!(lines.is_empty(), "the file is missing: no names");
/// assert_eq!(symbolizer.warnings().len(), 1);
/// ```
pub struct Symbolizer {
    modules: Vec<ModuleRecord>,
    /// Indices into `modules`, sorted by `start`.
    by_start: Vec<usize>,
    /// One per module.
    states: Vec<State>,
    /// One per module: whether it has its warning already.
    warned: Vec<bool>,
    roots: elf::DebugRoots,
    cache: HashMap<u64, (Option<usize>, Vec<Line>)>,
    warnings: Vec<String>,
}

/// Where a module stands.
enum State {
    /// Not opened yet: none of its addresses was resolved.
    Closed,
    /// No names from it (missing, changed, unreadable, or no file at all).
    Unusable,
    /// Its debug info and symbols, ready.
    Open(Box<elf::Opened>),
}

impl Symbolizer {
    /// A symbolizer for a recording's module map. Opens no file yet.
    pub fn new(modules: &[ModuleRecord], options: &SymbolizeOptions) -> Symbolizer {
        let mut by_start: Vec<usize> = (0..modules.len()).collect();
        by_start.sort_by_key(|&i| (modules[i].start, i));
        Symbolizer {
            modules: modules.to_vec(),
            by_start,
            states: modules.iter().map(|_| State::Closed).collect(),
            warned: vec![false; modules.len()],
            roots: elf::DebugRoots { system: PathBuf::from(elf::SYSTEM_DEBUG_ROOT), extra: options.debug_dirs.clone() },
            cache: HashMap::new(),
            warnings: Vec::new(),
        }
    }

    /// Resolves a return address of a call stack.
    ///
    /// `address` is a return address from a call stack (a marker below
    /// [`MARK_LIMIT`] gives `(None, vec![])`). `address - 1` is looked up, so
    /// the line is the call's, not the next instruction's.
    ///
    /// Returns the index of the module holding it (`None` when no module
    /// does) and its lines innermost first: inlined callees first, the
    /// function containing the address last. The lines are empty when the
    /// address cannot be resolved. Repeated addresses come from a cache.
    pub fn resolve(&mut self, address: u64) -> (Option<usize>, Vec<Line>) {
        if address < MARK_LIMIT {
            return (None, Vec::new());
        }
        if let Some(hit) = self.cache.get(&address) {
            return hit.clone();
        }
        let probe = address - 1;
        let module = self.module_of(probe);
        let lines = match module {
            Some(i) => self.lines_in(i, probe),
            None => Vec::new(),
        };
        self.cache.insert(address, (module, lines.clone()));
        (module, lines)
    }

    /// One line per module that could not be used, or only in part: a
    /// missing file, a build id mismatch (the binary changed since
    /// recording), no debug info and no symbols, unreadable debug info. Each
    /// names the path and the recorded build id (hex). At most one per
    /// module, in the order they were found.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The module whose loadable segments hold `probe`.
    fn module_of(&self, probe: u64) -> Option<usize> {
        let after = self.by_start.partition_point(|&i| self.modules[i].start <= probe);
        let i = *self.by_start.get(after.checked_sub(1)?)?;
        self.modules[i].contains(probe).then_some(i)
    }

    /// The lines of `probe`, a runtime address inside module `i`.
    fn lines_in(&mut self, i: usize, probe: u64) -> Vec<Line> {
        if matches!(self.states[i], State::Closed) {
            self.states[i] = self.open(i);
        }
        let State::Open(opened) = &self.states[i] else {
            return Vec::new();
        };
        let address = probe.wrapping_sub(self.modules[i].load_bias);
        // A reader of a hostile file may still panic: that module then gives
        // nothing more, and its warning says why.
        match catch_unwind(AssertUnwindSafe(|| opened.lookup(address))) {
            Ok((lines, None)) => lines,
            Ok((lines, Some(problem))) => {
                self.warn(i, &problem);
                lines
            }
            Err(_) => {
                self.states[i] = State::Unusable;
                self.warn(i, "reading its debug info failed (a panic); its addresses stay unresolved");
                Vec::new()
            }
        }
    }

    /// Opens module `i`'s file (and its split debug info), warning when it
    /// cannot be used.
    fn open(&mut self, i: usize) -> State {
        let module = &self.modules[i];
        if !module.path.contains('/') {
            // The vDSO ("linux-vdso.so.1") or an unnamed object: no file to
            // read, nothing to warn about.
            return State::Unusable;
        }
        let roots = &self.roots;
        match catch_unwind(AssertUnwindSafe(|| elf::open(module, roots))) {
            Ok(Ok(opened)) => {
                if let Some(problem) = opened.problem.clone() {
                    self.warn(i, &problem);
                }
                if opened.is_empty() {
                    self.warn(i, "no debug info and no symbol table; its addresses stay unresolved");
                    State::Unusable
                } else {
                    State::Open(Box::new(opened))
                }
            }
            Ok(Err(problem)) => {
                self.warn(i, &format!("{problem}; its addresses stay unresolved"));
                State::Unusable
            }
            Err(_) => {
                self.warn(i, "reading the file failed (a panic); its addresses stay unresolved");
                State::Unusable
            }
        }
    }

    /// Records module `i`'s warning, unless it has one already.
    fn warn(&mut self, i: usize, problem: &str) {
        if std::mem::replace(&mut self.warned[i], true) {
            return;
        }
        let module = &self.modules[i];
        self.warnings.push(format!("{} (build id {}): {problem}", module.path, elf::hex_or_none(&module.build_id)));
    }

    /// Replaces `/usr/lib/debug` (tests: to see the symbol-table fallback
    /// on a machine with debug packages installed).
    #[cfg(test)]
    fn set_system_debug_root(&mut self, root: PathBuf) {
        self.roots.system = root;
    }
}

impl fmt::Debug for Symbolizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opened = self.states.iter().filter(|s| matches!(s, State::Open(_))).count();
        f.debug_struct("Symbolizer")
            .field("modules", &self.modules.len())
            .field("opened", &opened)
            .field("cached_addresses", &self.cache.len())
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}

/// The module map of this process, as a recording made now would hold it
/// (for tests symbolizing the running binary).
#[doc(hidden)]
pub fn this_process_modules() -> Vec<ModuleRecord> {
    crate::record::modules::loaded_modules()
}
