//! Replay of the tracking events: variables linked to the allocations they
//! name, the per-thread scope tree, and foreign memory (FORMAT.md,
//! "Replay of tracking events"; docs/JSON.md gives every field).

use super::live::FastMap;
use crate::format::SiteRecord;
use serde::Serialize;

/// The most variables a replay lists; more are counted in
/// [`TrackingTotals::variables`] only.
pub const MAX_VARIABLES: usize = 100_000;
/// The most scope-tree nodes a replay builds; a scope entered where a new
/// node would exceed this is attributed to its parent node.
pub const MAX_SCOPE_NODES: usize = 100_000;
/// The deepest scope nesting a replay keeps apart; deeper scopes are
/// attributed to the node at this depth.
pub const MAX_SCOPE_DEPTH: u32 = 256;
/// The most foreign regions a replay lists.
pub const MAX_FOREIGN: usize = 100_000;
/// The most notes of unlinked addresses one variable gets (a map of
/// `&'static str` keys reports one address in static memory per key); the
/// rest are counted in one more note.
pub const MAX_UNLINKED_NOTES: u64 = 4;
/// The most handoffs [`super::Replay::handoffs`] lists.
pub const MAX_HANDOFFS: usize = 100_000;
/// The most scope entries [`super::Replay::scope_intervals`] lists.
pub const MAX_SCOPE_INTERVALS: usize = 10_000;
/// The most history entries kept per tracked allocation.
pub const MAX_HISTORY: usize = 64;
/// How far below an address replay probes for the start of an allocation
/// smaller than 4 KiB that contains it, in bytes (an `Rc`'s value sits 16
/// bytes in). Allocations of 4 KiB or more are found wherever the address
/// lies in them: replay keeps them in address order.
pub const MAX_INTERIOR_OFFSET: u64 = 4096;

/// A variable named by `track_var!` or `track_clone!`.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Variable {
    /// Index in [`super::Replay::variables`].
    pub id: u32,
    /// The expression's text, as `stringify!` gave it.
    pub name: String,
    /// The value's type, as `std::any::type_name` gave it.
    #[serde(rename = "type")]
    pub type_name: String,
    /// The source file of the macro call.
    pub file: String,
    /// Its line.
    pub line: u32,
    /// Its column.
    pub column: u32,
    /// `"var"` (`track_var!`) or `"clone"` (`track_clone!`).
    pub origin: &'static str,
    /// For a clone: 1 for the first clone its `track_clone!` site made, 2 for
    /// the next, …; its `name` ends with ` (clone N)`.
    pub clone_index: Option<u32>,
    /// Recorder id of the thread that tracked it.
    pub thread: u32,
    /// The scope node open on that thread when it was tracked.
    pub scope: Option<u32>,
    /// When it was tracked, ns since the epoch.
    pub tracked_at_ns: u64,
    /// Bytes: the sizes of its linked allocations when tracked, plus
    /// `unlinked_bytes`.
    pub size: u64,
    /// Bytes the value reported without linking them to an allocation: heap
    /// memory whose address it does not expose, and the allocations past the
    /// region bound (`regions_truncated`).
    pub unlinked_bytes: u64,
    /// Whether the value owned more heap allocations than one value reports
    /// by address (`memscope::MAX_REGIONS`, 4096): only the first are linked;
    /// the bytes of the rest are in `unlinked_bytes`.
    pub regions_truncated: bool,
    /// `"live"`, `"freed"`, `"no_heap"` or `"unlinked"`.
    pub state: &'static str,
    /// When its last linked allocation was deallocated (state `"freed"`).
    pub freed_at_ns: Option<u64>,
    /// From its first linked allocation's allocation to `freed_at_ns`, in ns.
    pub lifetime_ns: Option<u64>,
    /// Its linked allocations.
    pub allocations: Vec<TrackedAllocation>,
    /// `Rc`/`Arc` strong count when last tracked.
    pub strong: Option<u64>,
    /// `Rc`/`Arc` weak count when last tracked.
    pub weak: Option<u64>,
    /// For a clone: the variable it was cloned from.
    pub clone_of: Option<u32>,
    /// Other variables linked to one of its allocations.
    pub shared_with: Vec<u32>,
    /// Where one of its allocations was handed to foreign code.
    pub handoffs: Vec<Handoff>,
    /// Times the same site tracked it again.
    pub retracked: u64,
    /// What replay could not link, in words.
    pub notes: Vec<String>,
}

/// An allocation a variable is linked to, and what happened to it.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackedAllocation {
    /// Its address (the newest, after reallocations).
    pub ptr: u64,
    /// The same as a `0x…` string.
    pub ptr_hex: String,
    /// Its size in bytes, at the end or when deallocated.
    pub size: u64,
    /// When it was allocated, ns since the epoch.
    pub allocated_at_ns: u64,
    /// When it was deallocated; `None` while live.
    pub freed_at_ns: Option<u64>,
    /// Reallocations after it was linked.
    pub reallocations: u64,
    /// Its largest size in bytes.
    pub peak_size: u64,
    /// What happened to it, oldest first (at most [`MAX_HISTORY`] entries).
    pub history: Vec<HistoryEntry>,
    /// Whether entries were left out of `history`.
    pub history_truncated: bool,
}

/// One step in a tracked allocation's life.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// When, ns since the epoch.
    pub at_ns: u64,
    /// `"allocation"`, `"reallocation"`, `"deallocation"`, or `"tracked"`:
    /// the allocation was reallocated before a variable named it (the steps
    /// in between are not known), and this is its size when named.
    pub kind: &'static str,
    /// Its size in bytes after this step.
    pub size: u64,
    /// Its address after this step, as `0x…`.
    pub ptr_hex: String,
}

/// An allocation handed to foreign code (`memscope::ffi::handed_over`).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Handoff {
    /// The label the program gave.
    pub label: String,
    /// When, ns since the epoch.
    pub at_ns: u64,
    /// Recorder id of the thread.
    pub thread: u32,
}

/// An allocation handed to foreign code (`memscope::ffi::handed_over`,
/// `memscope::ffi::into_raw`), whether or not a variable names it.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HandedOver {
    /// The label the program gave.
    pub label: String,
    /// When, ns since the epoch.
    pub at_ns: u64,
    /// Recorder id of the thread.
    pub thread: u32,
    /// The allocation's address (the newest, after reallocations).
    pub ptr: u64,
    /// The same as a `0x…` string.
    pub ptr_hex: String,
    /// Its size in bytes, at the end or when deallocated.
    pub size: u64,
    /// When it was deallocated; `None` while live.
    pub freed_at_ns: Option<u64>,
    /// `"live"` (still live at the end) or `"freed"`.
    pub state: &'static str,
    /// The variables naming it.
    pub variables: Vec<u32>,
}

/// One node of a thread's scope tree: a scope site entered under a parent.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScopeNode {
    /// Index in [`super::Replay::scopes`].
    pub id: u32,
    /// The scope's name.
    pub name: String,
    /// The source file of the `track_scope!` call.
    pub file: String,
    /// Its line.
    pub line: u32,
    /// Recorder id of the thread.
    pub thread: u32,
    /// The enclosing node; `None` for a root.
    pub parent: Option<u32>,
    /// 0 for a root.
    pub depth: u32,
    /// Times entered.
    pub entries: u64,
    /// Times left by a panic unwinding.
    pub unwound: u64,
    /// Entries still open at the end.
    pub open_at_end: u64,
    /// Time spent inside, summed over closed entries, in ns.
    pub total_duration_ns: u64,
    /// The longest closed entry, in ns.
    pub max_duration_ns: u64,
    /// Allocation calls made inside, nested scopes included.
    pub allocations: u64,
    /// Bytes: their sizes plus the new sizes of reallocations made inside, nested scopes included.
    pub allocated_bytes: u64,
    /// Allocation calls made while this node was the innermost scope.
    pub self_allocations: u64,
    /// Bytes, as `allocated_bytes`, while this node was the innermost scope.
    pub self_allocated_bytes: u64,
    /// Reallocation calls made inside, nested scopes included.
    pub reallocations: u64,
    /// Deallocations of allocations made inside, wherever they happened.
    pub deallocations: u64,
    /// Bytes of allocations made inside still live at the end.
    pub live_bytes: u64,
    /// The most bytes of allocations made inside live at once.
    pub peak_live_bytes: u64,
}

/// One closed entry of a scope: when its thread entered and left it.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ScopeInterval {
    /// The scope node.
    pub scope: u32,
    /// When the thread entered it, ns since the epoch.
    pub enter_ns: u64,
    /// When the thread left it, ns since the epoch.
    pub exit_ns: u64,
}

/// Foreign memory tracked with `memscope::ffi::track_foreign`.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForeignRegion {
    /// The label the program gave.
    pub label: String,
    /// Its address.
    pub ptr: u64,
    /// The same as a `0x…` string.
    pub ptr_hex: String,
    /// Its size in bytes.
    pub size: u64,
    /// Recorder id of the thread that tracked it.
    pub thread: u32,
    /// When it was tracked, ns since the epoch.
    pub tracked_at_ns: u64,
    /// When it was released (`untrack_foreign`); `None` while held.
    pub released_at_ns: Option<u64>,
    /// `"live"` or `"released"`.
    pub state: &'static str,
}

/// Counts over the tracking events.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TrackingTotals {
    /// Variables tracked (the same site tracking one allocation again not counted).
    pub variables: u64,
    /// Variables listed (at most [`MAX_VARIABLES`]).
    pub variables_listed: u64,
    /// Variables with no heap allocation.
    pub no_heap: u64,
    /// Variables whose reported addresses matched no live allocation.
    pub unlinked: u64,
    /// Tracks of an allocation its site already named.
    pub retracked: u64,
    /// Scope entries.
    pub scope_entries: u64,
    /// Scope exits with no matching entry, and entries closed by an outer exit.
    pub unmatched_scope_exits: u64,
    /// Scope entries still open at the end.
    pub scopes_open_at_end: u64,
    /// Scope entries closed (the first [`MAX_SCOPE_INTERVALS`] are listed).
    pub scope_intervals: u64,
    /// Scopes attributed to a parent node ([`MAX_SCOPE_NODES`], [`MAX_SCOPE_DEPTH`]).
    pub scopes_collapsed: u64,
    /// Foreign regions tracked.
    pub foreign_regions: u64,
    /// Foreign regions still held at the end.
    pub foreign_live_count: u64,
    /// Their bytes.
    pub foreign_live_bytes: u64,
    /// `untrack_foreign` calls for an address not held.
    pub unknown_foreign_releases: u64,
    /// Allocations handed to foreign code.
    pub handoffs: u64,
    /// Handoffs whose address matched no live allocation.
    pub unlinked_handoffs: u64,
    /// Site and string keys with no `Site` or `Text` record in the file.
    pub unresolved_names: u64,
}

/// A suggestion drawn from the replay's own figures.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    /// What kind: `"reserve_capacity"`, `"short_lived"`, `"leak_by_scope"`,
    /// `"leaked_variable"` or `"lost_events"`.
    pub kind: &'static str,
    /// The suggestion in words, naming the figures it rests on.
    pub text: String,
    /// The variable it is about.
    pub variable: Option<u32>,
    /// The scope node it is about.
    pub scope: Option<u32>,
    /// The figures, by name (bytes, ns, counts or percent as the name says).
    pub figures: std::collections::BTreeMap<&'static str, f64>,
}

/// A variable during replay.
#[derive(Debug, Clone)]
pub(crate) struct VarAcc {
    pub(crate) site: u64,
    pub(crate) type_key: Option<u64>,
    pub(crate) thread: u32,
    pub(crate) scope: Option<u32>,
    pub(crate) tracked_at_ns: u64,
    pub(crate) size: u64,
    /// Indexes into `Tracker::allocs`.
    pub(crate) allocs: Vec<u32>,
    pub(crate) reported_addresses: bool,
    pub(crate) counts: Option<(u64, u64)>,
    pub(crate) clone_of: Option<u32>,
    pub(crate) retracked: u64,
    pub(crate) notes: Vec<String>,
    pub(crate) unlinked_bytes: u64,
    pub(crate) regions_truncated: bool,
    /// Reported addresses that matched no live allocation.
    pub(crate) unlinked_addresses: u64,
}

/// A tracked allocation during replay (the live set holds its index + 1).
#[derive(Debug, Clone)]
pub(crate) struct AllocAcc {
    pub(crate) ptr: u64,
    pub(crate) size: u64,
    pub(crate) allocated_at_ns: u64,
    pub(crate) freed_at_ns: Option<u64>,
    pub(crate) reallocations: u64,
    pub(crate) peak_size: u64,
    pub(crate) history: Vec<HistoryEntry>,
    pub(crate) history_truncated: bool,
    pub(crate) vars: Vec<u32>,
    pub(crate) handoffs: Vec<Handoff>,
}

impl AllocAcc {
    pub(crate) fn step(&mut self, at_ns: u64, kind: &'static str) {
        if self.history.len() < MAX_HISTORY {
            self.history.push(HistoryEntry { at_ns, kind, size: self.size, ptr_hex: format!("{:#x}", self.ptr) });
        } else {
            self.history_truncated = true;
        }
    }
}

/// A foreign region during replay.
#[derive(Debug, Clone)]
pub(crate) struct ForeignAcc {
    pub(crate) label: u64,
    pub(crate) ptr: u64,
    pub(crate) size: u64,
    pub(crate) thread: u32,
    pub(crate) tracked_at_ns: u64,
    pub(crate) released_at_ns: Option<u64>,
}

/// A scope node during replay: the output node plus its site key.
#[derive(Debug, Clone, Default)]
pub(crate) struct NodeAcc {
    pub(crate) node: ScopeNode,
    pub(crate) site: u64,
    /// The index of its thread in the replayer's thread table.
    pub(crate) thread_index: u32,
}

/// Per-thread tracking state.
#[derive(Debug, Clone, Default)]
pub(crate) struct ThreadTrack {
    /// The thread's last variable (VarMore, VarType, Shared and CloneOf belong to it).
    pub(crate) last_var: Option<u32>,
    /// Open scopes, innermost last: node index and entry time.
    pub(crate) stack: Vec<(u32, u64)>,
}

/// Everything the tracking events build.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    pub(crate) sites: FastMap<u64, SiteRecord>,
    pub(crate) texts: FastMap<u64, String>,
    pub(crate) vars: Vec<VarAcc>,
    pub(crate) allocs: Vec<AllocAcc>,
    pub(crate) nodes: Vec<NodeAcc>,
    /// (thread index, parent node + 1, site key) → node index.
    pub(crate) node_index: FastMap<(u32, u32, u64), u32>,
    pub(crate) foreign: Vec<ForeignAcc>,
    /// Address → index in `foreign` of the regions held.
    pub(crate) foreign_live: FastMap<u64, u32>,
    pub(crate) intervals: Vec<ScopeInterval>,
    pub(crate) threads: Vec<ThreadTrack>,
    pub(crate) totals: TrackingTotals,
}

impl Tracker {
    pub(crate) fn thread(&mut self, t: u32) -> &mut ThreadTrack {
        let t = t as usize;
        if self.threads.len() <= t {
            self.threads.resize(t + 1, ThreadTrack::default());
        }
        &mut self.threads[t]
    }

    /// The node for entering `site` on thread index `t` under `parent`, made
    /// on first use; `None` when the limits say to stay in the parent.
    pub(crate) fn node(&mut self, t: u32, thread_id: u32, parent: Option<u32>, site: u64) -> Option<u32> {
        let depth = parent.map_or(0, |p| self.nodes[p as usize].node.depth + 1);
        let key = (t, parent.map_or(0, |p| p + 1), site);
        if let Some(&n) = self.node_index.get(&key) {
            return Some(n);
        }
        if depth >= MAX_SCOPE_DEPTH || self.nodes.len() >= MAX_SCOPE_NODES {
            return None;
        }
        let id = self.nodes.len() as u32;
        self.nodes.push(NodeAcc {
            node: ScopeNode { id, thread: thread_id, parent, depth, ..ScopeNode::default() },
            site,
            thread_index: t,
        });
        self.node_index.insert(key, id);
        Some(id)
    }

    /// Adds `size` live bytes made in node `n` to it and its ancestors.
    pub(crate) fn scope_grow(&mut self, n: u32, size: u64) {
        let mut at = Some(n);
        while let Some(i) = at {
            let node = &mut self.nodes[i as usize].node;
            node.live_bytes = node.live_bytes.wrapping_add(size);
            node.peak_live_bytes = node.peak_live_bytes.max(node.live_bytes);
            at = node.parent;
        }
    }

    /// Removes `size` live bytes made in node `n` from it and its ancestors;
    /// `dealloc` counts a deallocation.
    pub(crate) fn scope_shrink(&mut self, n: u32, size: u64, dealloc: bool) {
        let mut at = Some(n);
        while let Some(i) = at {
            let node = &mut self.nodes[i as usize].node;
            node.live_bytes = node.live_bytes.wrapping_sub(size);
            node.deallocations += u64::from(dealloc);
            at = node.parent;
        }
    }

    /// Counts an allocation (`alloc`) or reallocation of `bytes` made while
    /// node `n` was innermost.
    pub(crate) fn scope_allocated(&mut self, n: u32, bytes: u64, alloc: bool) {
        let own = &mut self.nodes[n as usize].node;
        if alloc {
            own.self_allocations += 1;
        }
        own.self_allocated_bytes = own.self_allocated_bytes.saturating_add(bytes);
        let mut at = Some(n);
        while let Some(i) = at {
            let node = &mut self.nodes[i as usize].node;
            if alloc {
                node.allocations += 1;
            } else {
                node.reallocations += 1;
            }
            node.allocated_bytes = node.allocated_bytes.saturating_add(bytes);
            at = node.parent;
        }
    }

    fn text(&self, key: u64) -> Option<&str> {
        self.texts.get(&key).map(String::as_str)
    }

    /// Builds the output lists.
    pub(crate) fn finish(mut self) -> Tracked {
        let mut unresolved = 0u64;
        for tt in &self.threads {
            for &(n, _) in &tt.stack {
                self.nodes[n as usize].node.open_at_end += 1;
                self.totals.scopes_open_at_end += 1;
            }
        }
        let mut scopes = Vec::with_capacity(self.nodes.len());
        for n in &self.nodes {
            let mut node = n.node.clone();
            match self.sites.get(&n.site) {
                Some(site) => {
                    node.name = site.name.clone();
                    node.file = site.file.clone();
                    node.line = site.line;
                }
                None => {
                    unresolved += 1;
                    node.name = format!("<unknown scope {:#x}>", n.site);
                }
            }
            scopes.push(node);
        }
        // Shared: variables linked to one allocation.
        let mut shared: Vec<Vec<u32>> = vec![Vec::new(); self.vars.len()];
        for a in &self.allocs {
            if a.vars.len() > 1 {
                for &v in &a.vars {
                    for &w in &a.vars {
                        if v != w && !shared[v as usize].contains(&w) && shared[v as usize].len() < 64 {
                            shared[v as usize].push(w);
                        }
                    }
                }
            }
        }
        let mut variables = Vec::with_capacity(self.vars.len());
        // Clones made per clone site so far, for their index.
        let mut clones: FastMap<u64, u32> = FastMap::default();
        for (id, v) in self.vars.iter().enumerate() {
            let site = self.sites.get(&v.site);
            let clone_index = site.filter(|s| s.kind == crate::format::SITE_CLONE).map(|_| {
                let n = clones.entry(v.site).or_insert(0);
                *n += 1;
                *n
            });
            if site.is_none() {
                unresolved += 1;
            }
            let type_key = v.type_key.or(site.map(|s| s.type_key)).unwrap_or(0);
            let type_name = match self.text(type_key) {
                Some(t) => t.to_owned(),
                None => {
                    unresolved += 1;
                    "<unknown type>".to_owned()
                }
            };
            let allocations: Vec<TrackedAllocation> = v
                .allocs
                .iter()
                .map(|&i| {
                    let a = &self.allocs[i as usize];
                    TrackedAllocation {
                        ptr: a.ptr,
                        ptr_hex: format!("{:#x}", a.ptr),
                        size: a.size,
                        allocated_at_ns: a.allocated_at_ns,
                        freed_at_ns: a.freed_at_ns,
                        reallocations: a.reallocations,
                        peak_size: a.peak_size,
                        history: a.history.clone(),
                        history_truncated: a.history_truncated,
                    }
                })
                .collect();
            let state = if allocations.is_empty() {
                if v.reported_addresses {
                    "unlinked"
                } else {
                    "no_heap"
                }
            } else if allocations.iter().all(|a| a.freed_at_ns.is_some()) {
                "freed"
            } else {
                "live"
            };
            let freed_at_ns = if state == "freed" { allocations.iter().filter_map(|a| a.freed_at_ns).max() } else { None };
            let first = allocations.iter().map(|a| a.allocated_at_ns).min();
            let handoffs = v.allocs.iter().flat_map(|&i| self.allocs[i as usize].handoffs.iter().cloned()).collect();
            variables.push(Variable {
                id: id as u32,
                name: match (site, clone_index) {
                    (None, _) => format!("<unknown site {:#x}>", v.site),
                    (Some(s), Some(n)) => format!("{} (clone {n})", s.name),
                    (Some(s), None) => s.name.clone(),
                },
                type_name,
                file: site.map_or_else(String::new, |s| s.file.clone()),
                line: site.map_or(0, |s| s.line),
                column: site.map_or(0, |s| s.column),
                origin: if clone_index.is_some() { "clone" } else { "var" },
                clone_index,
                thread: v.thread,
                scope: v.scope,
                tracked_at_ns: v.tracked_at_ns,
                size: v.size.saturating_add(v.unlinked_bytes),
                unlinked_bytes: v.unlinked_bytes,
                regions_truncated: v.regions_truncated,
                state,
                freed_at_ns,
                lifetime_ns: freed_at_ns.zip(first).map(|(f, s)| f.saturating_sub(s)),
                allocations,
                strong: v.counts.map(|c| c.0),
                weak: v.counts.map(|c| c.1),
                clone_of: v.clone_of,
                shared_with: std::mem::take(&mut shared[id]),
                handoffs,
                retracked: v.retracked,
                notes: {
                    let mut notes = v.notes.clone();
                    if v.unlinked_addresses > MAX_UNLINKED_NOTES {
                        notes.push(format!(
                            "and {} more addresses in no live allocation (static memory, the stack, or memory freed already)",
                            v.unlinked_addresses - MAX_UNLINKED_NOTES
                        ));
                    }
                    notes
                },
            });
        }
        let mut foreign = Vec::with_capacity(self.foreign.len());
        for f in &self.foreign {
            let label = match self.text(f.label) {
                Some(l) => l.to_owned(),
                None => {
                    unresolved += 1;
                    "<unknown label>".to_owned()
                }
            };
            foreign.push(ForeignRegion {
                label,
                ptr: f.ptr,
                ptr_hex: format!("{:#x}", f.ptr),
                size: f.size,
                thread: f.thread,
                tracked_at_ns: f.tracked_at_ns,
                released_at_ns: f.released_at_ns,
                state: if f.released_at_ns.is_some() { "released" } else { "live" },
            });
        }
        let mut handoffs = Vec::new();
        for a in &self.allocs {
            for h in &a.handoffs {
                if handoffs.len() >= MAX_HANDOFFS {
                    break;
                }
                handoffs.push(HandedOver {
                    label: h.label.clone(),
                    at_ns: h.at_ns,
                    thread: h.thread,
                    ptr: a.ptr,
                    ptr_hex: format!("{:#x}", a.ptr),
                    size: a.size,
                    freed_at_ns: a.freed_at_ns,
                    state: if a.freed_at_ns.is_some() { "freed" } else { "live" },
                    variables: a.vars.clone(),
                });
            }
        }
        handoffs.sort_by_key(|h| h.at_ns);
        let t = &mut self.totals;
        t.unresolved_names = unresolved;
        t.variables_listed = variables.len() as u64;
        t.no_heap = variables.iter().filter(|v| v.state == "no_heap").count() as u64;
        t.unlinked = variables.iter().filter(|v| v.state == "unlinked").count() as u64;
        t.foreign_live_count = self.foreign_live.len() as u64;
        t.foreign_live_bytes = self.foreign_live.values().fold(0u64, |s, &i| s.saturating_add(self.foreign[i as usize].size));
        Tracked { variables, scopes, foreign, handoffs, intervals: self.intervals, totals: self.totals }
    }
}

/// The tracking part of a replay.
#[derive(Debug)]
pub(crate) struct Tracked {
    pub(crate) variables: Vec<Variable>,
    pub(crate) scopes: Vec<ScopeNode>,
    pub(crate) foreign: Vec<ForeignRegion>,
    pub(crate) handoffs: Vec<HandedOver>,
    pub(crate) intervals: Vec<ScopeInterval>,
    pub(crate) totals: TrackingTotals,
}
