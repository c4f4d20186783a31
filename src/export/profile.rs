//! The symbolized per-site profile every stack export reads (pprof, DHAT,
//! folded stacks, the report): sites with their exact figures and their
//! frames, resolved to function, file and line.

pub use crate::format::stacks::Line;
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
    /// A sampling recording's interval in bytes (`None`: every event
    /// recorded). Then every site figure is an estimate (FORMAT.md,
    /// "Sampling record").
    pub sampling_interval: Option<u64>,
}

impl Profile {
    /// For a sampling recording, the sentence the exports carry to say
    /// their figures are estimates; `None` otherwise.
    pub fn sampling_note(&self) -> Option<String> {
        self.sampling_interval.map(|i| {
            format!(
                "memscope: sampled every {i} bytes allocated (on average, per thread); values are estimates, each sample weighted by 1/p, p = 1 - exp(-size/{i})"
            )
        })
    }
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

use crate::format::stacks::{MARK_ENDED_EARLY, MARK_LIMIT, MARK_TABLE_FULL, MARK_TRUNCATED};
use crate::replay::Replay;
use std::collections::HashMap;

/// The function of the frame that stands for a recording without call stacks.
pub const NO_STACKS: &str = "[no stacks]";
/// The function of the frame that stands for allocations whose stack is
/// unknown (stacks off, or a damaged file).
pub const NO_STACK: &str = "[no stack]";
/// The function of the outermost frame of a truncated stack.
pub const TRUNCATED: &str = "[truncated]";
/// The function of the frame that stands for stacks not captured because
/// their thread's stack table was full.
pub const TABLE_FULL: &str = "[stack table full]";

/// Whether `function` is allocator plumbing: memscope's own frames, the
/// global allocator's shims (`__rust_alloc` and the like), and the `alloc`
/// crate's allocation functions, which every Rust allocation passes through.
/// Only a run of such frames at the innermost end of a stack is left out.
pub fn is_plumbing(function: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "memscope::",
        "<memscope::",
        "__rustc::",
        "__rust_alloc",
        "__rust_dealloc",
        "__rust_realloc",
        "__rust_alloc_zeroed",
        "__rdl_",
        "__rg_",
        "__rust_no_alloc_shim",
        "alloc::alloc::",
        "<alloc::alloc::Global",
        "alloc::raw_vec::",
        "<alloc::raw_vec::",
        "std::alloc::",
        "<std::alloc::System as core::alloc::global::GlobalAlloc>::",
        "core::alloc::",
    ];
    PREFIXES.iter().any(|p| function.starts_with(p))
}

/// Whether `function` is where the global allocator is entered.
fn is_allocator_entry(function: &str) -> bool {
    [
        "__rustc::__rust_",
        "__rust_alloc",
        "__rust_realloc",
        "__rust_dealloc",
        "__rdl_",
        "__rg_",
        "<memscope::record::alloc::TrackingAllocator",
    ]
    .iter()
    .any(|p| function.starts_with(p))
}

/// Whether `function` belongs to the standard library (or the hash map
/// it uses): frames a user rarely means by "where was it allocated".
fn is_std(function: &str) -> bool {
    const STD: [&str; 5] = ["std::", "core::", "alloc::", "hashbrown::", "__rustc::"];
    let Some(inner) = function.strip_prefix('<') else { return STD.iter().any(|p| function.starts_with(p)) };
    // `<Type as Trait>::f` or `<Type>::f`: whose is the type?
    let ty = inner.split(" as ").next().unwrap_or(inner).split(">::").next().unwrap_or(inner);
    let ty = ty.trim_start_matches('&').trim_start_matches("mut ").trim_start_matches("dyn ").trim_start_matches('[');
    const PRIMITIVES: [&str; 17] =
        ["str", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize", "f32", "f64", "char", "bool"];
    let generic = ty.len() == 1 && ty.chars().all(|c| c.is_ascii_uppercase());
    generic
        || PRIMITIVES.iter().any(|p| ty == *p || ty.starts_with(&format!("{p};")) || ty.starts_with(&format!("{p}]")))
        || STD.iter().any(|p| ty.starts_with(p))
}

/// Whether `function` starts a thread or the process: a stack whose chain
/// ended at a broken link just above such a frame is complete.
fn is_entry(function: &str) -> bool {
    function == "main"
        || function == "_start"
        || function == "start_thread"
        || function.starts_with("__libc_start")
        || function.starts_with("clone")
        || function.contains("thread_start")
        || function.starts_with("std::rt::lang_start")
}

impl Profile {
    /// Builds the profile of `replay`: each site's stack, resolved with the
    /// binaries at their recorded paths (see [`crate::symbolize`]), with
    /// the allocator plumbing left out.
    ///
    /// A recording without stacks gives one site, `[no stacks]`, holding
    /// every figure. Time and memory grow with the distinct addresses and
    /// sites, not the events.
    ///
    /// Symbols embedded in the file (`memscope symbolize`) come first: the
    /// binaries are opened only for addresses they do not cover.
    #[cfg(feature = "symbolize")]
    pub fn build(replay: &Replay, options: &crate::symbolize::SymbolizeOptions) -> Profile {
        let modules = &replay.stacks.modules;
        let embedded = &replay.stacks.symbols;
        let mut symbolizer = crate::symbolize::Symbolizer::new(modules, options);
        let mut profile = Profile::from_replay(replay, |address| match embedded.get(&address) {
            Some(lines) => (modules.iter().position(|m| m.contains(address)), lines.clone()),
            None => symbolizer.resolve(address),
        });
        profile.warnings = symbolizer.warnings().to_vec();
        profile
    }

    /// As [`Profile::build`], without symbolization: every frame is
    /// `module+0xoffset` (also what `build` gives for a module it cannot read).
    /// Symbols embedded in the file are used all the same.
    pub fn build_unsymbolized(replay: &Replay) -> Profile {
        let modules = &replay.stacks.modules;
        let embedded = &replay.stacks.symbols;
        Profile::from_replay(replay, |address| {
            (modules.iter().position(|m| m.contains(address)), embedded.get(&address).cloned().unwrap_or_default())
        })
    }

    /// The profile of `sites` alone (figures of the caller's choosing, as
    /// a live view's [`crate::replay::Snapshot::top_sites`]), with their
    /// stacks from `stacks` (the tree and module map read so far, as
    /// [`crate::replay::Follow::stacks`] gives them) resolved by `resolve`:
    /// return address → its module (index into `stacks.modules`) and its
    /// lines, innermost first, as [`crate::symbolize::Symbolizer::resolve`]
    /// gives them. The sites keep their order; `peak_live_bytes`,
    /// `peak_at_ns` and `end_ns` are 0. Stacks count as recorded when
    /// `stacks` has nodes (otherwise every figure goes to one site,
    /// `[no stacks]`).
    pub fn for_sites(
        stacks: &crate::replay::Stacks,
        sites: &[SiteStats],
        resolve: impl FnMut(u64) -> (Option<usize>, Vec<Line>),
    ) -> Profile {
        Profile::assemble(stacks, !stacks.nodes.is_empty(), sites, resolve)
    }

    fn from_replay(replay: &Replay, resolve: impl FnMut(u64) -> (Option<usize>, Vec<Line>)) -> Profile {
        let stacks = &replay.stacks;
        Profile {
            peak_live_bytes: replay.summary.peak_live_bytes,
            // Sampling: when the sites' peak figures are taken.
            peak_at_ns: replay.sampling.as_ref().map_or(replay.summary.peak_at_ns, |s| s.estimated_peak_at_ns),
            end_ns: replay.summary.duration_ns,
            sampling_interval: replay.sampling.as_ref().map(|s| s.interval_bytes),
            ..Profile::assemble(stacks, stacks.recorded, &stacks.sites, resolve)
        }
    }

    fn assemble(
        stacks: &crate::replay::Stacks,
        recorded: bool,
        sites: &[SiteStats],
        mut resolve: impl FnMut(u64) -> (Option<usize>, Vec<Line>),
    ) -> Profile {
        let mut profile = Profile { has_stacks: recorded, modules: stacks.modules.clone(), ..Profile::default() };
        let mut by_address: HashMap<u64, usize> = HashMap::new();
        let mut trimmed: HashMap<(usize, usize), usize> = HashMap::new();
        let marker = |profile: &mut Profile, function: &str| {
            let address = match function {
                TRUNCATED => MARK_TRUNCATED,
                TABLE_FULL => MARK_TABLE_FULL,
                _ => 0,
            };
            if let Some(i) =
                profile.locations.iter().position(|l| l.module.is_none() && l.lines.len() == 1 && l.lines[0].function == function)
            {
                return i;
            }
            profile.locations.push(Location { address, module: None, lines: vec![Line { function: function.into(), ..Line::default() }] });
            profile.locations.len() - 1
        };
        if !recorded {
            let mut total = crate::replay::SiteStats::default();
            for s in sites {
                add_stats(&mut total, s);
            }
            let loc = marker(&mut profile, NO_STACKS);
            profile.sites.push(Site { locations: vec![loc], truncated: false, stats: total });
            return profile;
        }
        for s in sites {
            let frames = stacks.frames(s.stack);
            let mut locations = Vec::with_capacity(frames.len());
            let mut truncated = false;
            let mut ended_early = false;
            for &address in &frames {
                match address {
                    MARK_TRUNCATED => truncated = true,
                    MARK_ENDED_EARLY => ended_early = true,
                    MARK_TABLE_FULL => locations.push(marker(&mut profile, TABLE_FULL)),
                    a if a < MARK_LIMIT => truncated = true,
                    a => {
                        let i = *by_address.entry(a).or_insert_with(|| {
                            let (module, lines) = resolve(a);
                            profile.locations.push(Location { address: a, module, lines });
                            profile.locations.len() - 1
                        });
                        locations.push(i);
                    }
                }
            }
            // The allocator plumbing at the innermost end, line by line: the
            // allocator's entry points are often inlined into the caller's
            // function, so a location may start with plumbing lines and go
            // on with the caller's (it is then replaced by a copy without them).
            // Everything inside the global allocator's entry (`__rust_alloc`,
            // or `TrackingAllocator`'s methods where they are not inlined)
            // is the recorder's own, whatever its name (in a debug build the
            // walk starts in std's thread-local access).
            if let Some(entry) = locations.iter().rposition(|&i| profile.locations[i].lines.iter().any(|l| is_allocator_entry(&l.function)))
            {
                if entry + 1 < locations.len() {
                    locations.drain(..entry);
                }
            }
            let plumbing = locations.iter().take_while(|&&i| profile.locations[i].lines.iter().all(|l| is_plumbing(&l.function))).count();
            let all_lines_known = locations.iter().take(plumbing).all(|&i| !profile.locations[i].lines.is_empty());
            if plumbing < locations.len() && all_lines_known {
                locations.drain(..plumbing);
                let first = &profile.locations[locations[0]];
                let skip = first.lines.iter().take_while(|l| is_plumbing(&l.function)).count();
                if skip > 0 {
                    let key = (locations[0], skip);
                    locations[0] = *trimmed.entry(key).or_insert_with(|| {
                        let mut copy = profile.locations[key.0].clone();
                        copy.lines.drain(..skip);
                        profile.locations.push(copy);
                        profile.locations.len() - 1
                    });
                }
            }
            if ended_early && !reaches_entry(&profile, &locations) {
                truncated = true;
            }
            if locations.is_empty() {
                locations.push(marker(&mut profile, NO_STACK));
            }
            profile.sites.push(Site { locations, truncated, stats: s.clone() });
        }
        profile
    }

    /// A one-line name for `site`: its first frame outside the standard
    /// library (`std`, `core`, `alloc` and their internals), as `function
    /// (file:line)`, followed by `via` and the innermost frame when that is
    /// another; `module+0xoffset` for a frame that is unresolved.
    pub fn site_label(&self, site: &Site) -> String {
        let lines = || site.locations.iter().flat_map(|&i| self.locations[i].lines.iter());
        let show = |l: &Line| match &l.file {
            Some(f) if l.line > 0 => format!("{} ({}:{})", l.function, f.rsplit('/').next().unwrap_or(f), l.line),
            _ => l.function.clone(),
        };
        let Some(&first) = site.locations.first() else { return NO_STACK.into() };
        let Some(inner) = self.locations[first].lines.first() else { return self.unresolved_label(first) };
        match lines().find(|l| !is_std(&l.function)) {
            Some(user) if user != inner => format!("{} via {}", show(user), inner.function),
            _ => show(inner),
        }
    }

    /// The indices of the `n` sites with the largest `key`, largest first,
    /// leaving out sites where it is 0.
    pub fn top_sites(&self, n: usize, key: impl Fn(&crate::replay::SiteStats) -> u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.sites.len()).filter(|&i| key(&self.sites[i].stats) > 0).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(key(&self.sites[i].stats)));
        order.truncate(n);
        order
    }

    /// How to show location `i` when it has no name: `module+0xoffset`
    /// (the module's file name, the offset from its load bias), or the bare
    /// address.
    pub fn unresolved_label(&self, i: usize) -> String {
        let l = &self.locations[i];
        match l.module.and_then(|m| self.modules.get(m)) {
            Some(m) => {
                let name = m.path.rsplit('/').next().unwrap_or(&m.path);
                format!("{name}+{:#x}", l.address.wrapping_sub(m.load_bias))
            }
            None => format!("{:#x}", l.address),
        }
    }
}

/// Whether the outermost of `locations` (innermost first) is a thread's or
/// the process's entry, or the C runtime that calls it.
fn reaches_entry(profile: &Profile, locations: &[usize]) -> bool {
    let Some(&outer) = locations.last() else { return false };
    let loc = &profile.locations[outer];
    if loc.lines.iter().any(|l| is_entry(&l.function)) {
        return true;
    }
    // glibc's thread start and `__libc_start_call_main` are local symbols,
    // often without a name: a frame in libc just outside a frame that is
    // a Rust thread's or program's entry.
    let in_libc = loc
        .module
        .and_then(|m| profile.modules.get(m))
        .is_some_and(|m| m.path.rsplit('/').next().is_some_and(|n| n.starts_with("libc.so")));
    in_libc && locations.iter().rev().skip(1).take(2).any(|&i| profile.locations[i].lines.iter().any(|l| is_entry(&l.function)))
}

fn add_stats(total: &mut crate::replay::SiteStats, s: &crate::replay::SiteStats) {
    total.allocations += s.allocations;
    total.allocated_bytes = total.allocated_bytes.wrapping_add(s.allocated_bytes);
    total.reallocations += s.reallocations;
    total.deallocations += s.deallocations;
    total.deallocated_bytes = total.deallocated_bytes.wrapping_add(s.deallocated_bytes);
    total.live_count_end += s.live_count_end;
    total.live_bytes_end = total.live_bytes_end.wrapping_add(s.live_bytes_end);
    total.peak_count += s.peak_count;
    total.peak_bytes = total.peak_bytes.wrapping_add(s.peak_bytes);
    total.max_live_bytes = total.max_live_bytes.max(s.max_live_bytes);
    total.temporary += s.temporary;
    total.total_lifetime_ns = total.total_lifetime_ns.saturating_add(s.total_lifetime_ns);
    total.estimate = match (total.estimate, s.estimate) {
        (Some(a), Some(b)) => Some(a.combined(&b)),
        (a, b) => a.or(b),
    };
}
