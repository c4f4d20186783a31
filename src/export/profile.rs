//! The symbolized per-site profile every stack export reads (pprof, DHAT,
//! folded stacks, the report): sites with their exact figures and their
//! frames, resolved to function, file and line.

use crate::format::stacks::ModuleRecord;
use crate::replay::SiteStats;

/// Sites with symbolized stacks.
#[non_exhaustive]
#[derive(Debug, Clone, Default)]
pub struct Profile {
    /// Whether the recording had call stacks. When false (format versions
    /// 1 and 2, or stacks turned off), `sites` holds one site whose only
    /// location is `[no stacks]`.
    pub has_stacks: bool,
    /// The loaded objects, as recorded.
    pub modules: Vec<ModuleRecord>,
    /// Distinct code addresses, each resolved.
    pub locations: Vec<Location>,
    /// One entry per site, in stack-id order.
    pub sites: Vec<Site>,
    /// What symbolization could not do (a missing or changed binary), one
    /// line each, naming the path and build id.
    pub warnings: Vec<String>,
    /// The global peak of live bytes, and when (ns since the epoch).
    pub peak_live_bytes: u64,
    /// When the global peak was first reached, ns since the epoch.
    pub peak_at_ns: u64,
    /// When the recording ended, ns since the epoch.
    pub end_ns: u64,
}

/// One code address and what it resolves to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// The return address (a marker below `MARK_LIMIT` for a marker frame).
    pub address: u64,
    /// Index into [`Profile::modules`] of the object holding it.
    pub module: Option<usize>,
    /// The source lines at this address, innermost (an inlined callee)
    /// first, the function that contains the address last. Empty when the
    /// address could not be resolved: shown as `module+0xoffset`.
    pub lines: Vec<Line>,
}

/// One (possibly inlined) frame of a [`Location`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Line {
    /// The demangled function path, without the hash (`myapp::parse::read_records`).
    pub function: String,
    /// The source file, when known.
    pub file: Option<String>,
    /// The line, from 1 (0: unknown).
    pub line: u32,
    /// The column, from 1 (0: unknown).
    pub column: u32,
}

/// One site: its stack and its figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Site {
    /// Indices into [`Profile::locations`], innermost first, with the
    /// allocator plumbing (memscope's own frames, `__rust_alloc` and the
    /// like) left out.
    pub locations: Vec<usize>,
    /// Whether the stack was cut before the thread's first frame.
    pub truncated: bool,
    /// The exact figures.
    pub stats: SiteStats,
}
