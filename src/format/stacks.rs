//! Version-3 records for call stacks: stack nodes, the module map and
//! embedded symbols (FORMAT.md, "Stack record", "Module record",
//! "Symbols record").
//!
//! A call stack is stored as a prefix tree: each node is (parent node,
//! return address), node ids count from 1 in the order the drainer first
//! wrote them, and parent 0 is the root. An allocation event carries the id
//! of its innermost node (its *stack id*); 0 means no stack.

/// Return address of a marker node at the root of a stack that was cut at
/// the depth cap: the frames above it are unknown.
pub const MARK_TRUNCATED: u64 = 1;
/// Return address of a marker node that stands for a whole stack that was
/// not captured because the thread's stack table was full.
pub const MARK_TABLE_FULL: u64 = 2;
/// Return address of a marker node at the root of a stack whose
/// frame-pointer chain ended at a link that was not a frame (a frame
/// pointer outside the thread's stack, or a return address outside every
/// loaded object) rather than at a null frame pointer. That is how every
/// stack ends where glibc's thread start (built without frame pointers)
/// calls the thread's entry, so replay treats such a stack as complete
/// when its outermost frame is a thread or process entry, and as truncated
/// otherwise.
pub const MARK_ENDED_EARLY: u64 = 3;
/// Addresses below this are markers, never code.
pub const MARK_LIMIT: u64 = 16;

/// One node of the stack prefix tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StackNode {
    /// The parent node's id, 0 for a node at the root (a thread's outermost frame).
    pub parent: u32,
    /// The return address of this frame, or a marker below [`MARK_LIMIT`].
    pub address: u64,
}

/// One loaded object (the executable or a shared library) as the module
/// map records it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModuleRecord {
    /// Where the object is loaded: the difference between its runtime
    /// addresses and the virtual addresses in its ELF file (`dlpi_addr`).
    pub load_bias: u64,
    /// Lowest runtime address of its loadable segments.
    pub start: u64,
    /// One past the highest runtime address of its loadable segments.
    pub end: u64,
    /// Its GNU build id (the `NT_GNU_BUILD_ID` note), empty when it has none.
    pub build_id: Vec<u8>,
    /// Its path as the dynamic loader knows it (the executable's from
    /// `/proc/self/exe`); may be empty for the vDSO.
    pub path: String,
}

impl ModuleRecord {
    /// Whether `address` falls inside this object's loadable segments.
    pub fn contains(&self, address: u64) -> bool {
        (self.start..self.end).contains(&address)
    }
}

/// One (possibly inlined) frame at a code address, as symbolization gives it
/// (`export::profile::Location` holds them, innermost first).
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
