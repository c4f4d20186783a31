//! Folded stacks (the "collapsed" format of Brendan Gregg's
//! `stackcollapse` scripts), for `flamegraph.pl`, inferno and speedscope:
//! one line per distinct call stack, `root;caller;callee VALUE`.
//!
//! - Frames run from the outermost (the thread's first frame) to the
//!   innermost (where the allocation was made), separated by `;`.
//! - A frame is a function name. Each inlined line of a location is a frame
//!   of its own, its caller before it.
//! - A location symbolization could not resolve reads
//!   `module_basename+0xOFFSET` (the offset in the object's file address
//!   space: address minus load bias), or `0xADDRESS` when no module holds it.
//! - A stack cut before the thread's first frame starts with
//!   [`TRUNCATED`] (`[truncated]`); every stack of a recording without call
//!   stacks is the single frame [`NO_STACKS`] (`[no stacks]`); a site with
//!   no frame is [`NO_STACK`] (`[no stack]`); a stack the recorder could not
//!   store is [`TABLE_FULL`] (`[stack table full]`). The same stand-ins
//!   appear in the pprof and DHAT exports.
//! - Sites whose stacks read the same are merged (their values summed), lines
//!   whose value is 0 are left out, and lines are sorted by stack, so the
//!   output is the same for the same profile.
//! - A `;` inside a name becomes `:`, and line breaks become spaces, since
//!   those separate frames and lines.
//! - In a sampling recording the values are the sites' estimates (each
//!   sample weighted by `1/p`, as pprof and DHAT carry them). The format
//!   has no comment line that every reader skips, so the note that says
//!   so ([`Profile::sampling_note`]) is not written here: `memscope export`
//!   prints it on standard error.
//!
//! ```
//! use memscope::export::folded::{self, Metric};
//! use memscope::export::profile::Profile;
//!
//! let profile = Profile::default(); // in practice `Profile::build` of a replay
//! let mut out = Vec::new();
//! folded::write(&profile, Metric::AllocatedBytes, &mut out)?;
//! assert!(out.is_empty()); // no sites, no lines
//! # Ok::<(), std::io::Error>(())
//! ```

use super::profile::{Line, Location, Profile, Site, NO_STACK, NO_STACKS, TABLE_FULL, TRUNCATED};
use crate::format::stacks::{ModuleRecord, MARK_LIMIT, MARK_TABLE_FULL, MARK_TRUNCATED};
use crate::replay::SiteStats;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};

/// What the value of each folded line counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Metric {
    /// Allocations made at the site, reallocations included: a reallocation
    /// moves its allocation to its own site and counts its new size as
    /// allocated there, so it counts as an allocation too (the same figure
    /// as pprof's `alloc_objects` and DHAT's `tbk`).
    Allocations,
    /// Bytes allocated at the site, the new sizes of its reallocations
    /// included ([`SiteStats::allocated_bytes`]).
    #[default]
    AllocatedBytes,
    /// Bytes of the site's allocations still live when the recording ended
    /// ([`SiteStats::live_bytes_end`]): leaks, when the recording ended at
    /// process exit.
    LeakedBytes,
    /// Bytes of the site's allocations live at the global peak
    /// ([`SiteStats::peak_bytes`]): what a flame graph "at the peak" shows.
    PeakBytes,
}

impl Metric {
    /// Every metric, in the order the CLI lists them.
    pub const ALL: [Metric; 4] = [Metric::Allocations, Metric::AllocatedBytes, Metric::LeakedBytes, Metric::PeakBytes];

    /// The metric's name on the command line (`allocated-bytes`).
    pub fn name(self) -> &'static str {
        match self {
            Metric::Allocations => "allocations",
            Metric::AllocatedBytes => "allocated-bytes",
            Metric::LeakedBytes => "leaked-bytes",
            Metric::PeakBytes => "peak-bytes",
        }
    }

    /// The value of this metric for one site's figures (a count or bytes).
    pub fn value(self, stats: &SiteStats) -> u64 {
        match self {
            Metric::Allocations => allocated_objects(stats),
            Metric::AllocatedBytes => stats.allocated_bytes,
            Metric::LeakedBytes => stats.live_bytes_end,
            Metric::PeakBytes => stats.peak_bytes,
        }
    }
}

/// Allocations plus reallocations made at a site: what every stack export
/// counts as allocated objects (see [`Metric::Allocations`]).
pub(crate) fn allocated_objects(stats: &SiteStats) -> u64 {
    stats.allocations.saturating_add(stats.reallocations)
}

/// Writes `profile` as folded stacks weighted by `metric` to `writer`.
///
/// # Errors
/// The writer's I/O errors.
pub fn write(profile: &Profile, metric: Metric, writer: impl Write) -> io::Result<()> {
    let mut stacks: BTreeMap<String, u64> = BTreeMap::new();
    let mut folded = String::new();
    for site in &profile.sites {
        let value = metric.value(&site.stats);
        if value == 0 {
            continue;
        }
        folded.clear();
        for (i, frame) in frames(profile, site).iter().rev().enumerate() {
            if i > 0 {
                folded.push(';');
            }
            push_sanitized(&mut folded, &frame_name(profile, frame));
        }
        let sum = stacks.entry(folded.clone()).or_insert(0);
        *sum = sum.saturating_add(value);
    }
    let mut w = BufWriter::new(writer);
    for (stack, value) in &stacks {
        writeln!(w, "{stack} {value}")?;
    }
    w.flush()
}

/// `name` with the folded format's separators replaced: `;` by `:`, line
/// breaks by spaces.
fn push_sanitized(out: &mut String, name: &str) {
    out.extend(name.chars().map(|c| match c {
        ';' => ':',
        '\n' | '\r' => ' ',
        c => c,
    }));
}

/// One frame of a site's call stack, as the stack exports name it.
#[derive(Debug, Clone, Copy)]
// The location indices are for pprof's location ids.
#[cfg_attr(not(feature = "pprof"), allow(dead_code))]
pub(crate) enum Frame<'a> {
    /// One source line of a resolved location: an inlined callee, or the
    /// function that contains the address.
    Line {
        /// The location's index in [`Profile::locations`].
        index: usize,
        /// The location the line belongs to.
        location: &'a Location,
        /// The line.
        line: &'a Line,
    },
    /// A location symbolization could not resolve.
    Unresolved {
        /// The location's index in [`Profile::locations`].
        index: usize,
        /// The location.
        location: &'a Location,
    },
    /// A stand-in frame that is no code: [`TRUNCATED`], [`NO_STACKS`],
    /// [`NO_STACK`], [`TABLE_FULL`], or the name a marker location carries.
    Marker(&'a str),
}

/// The frames of `site`, innermost first: each location's lines (innermost
/// first), a location with no lines as one unresolved frame, then
/// [`TRUNCATED`] when the stack was cut. Never empty: a recording without
/// stacks gives [`NO_STACKS`], a site with no frame [`NO_STACK`].
///
/// A marker location (an address below `MARK_LIMIT`: never code) is a
/// stand-in named by its first line, or by its address (truncated, table
/// full) when it has none; other unnamed markers are skipped, since
/// `truncated` says how the walk ended. Location indices out of range are
/// skipped.
pub(crate) fn frames<'a>(profile: &'a Profile, site: &'a Site) -> Vec<Frame<'a>> {
    if !profile.has_stacks {
        return vec![Frame::Marker(NO_STACKS)];
    }
    let mut out = Vec::with_capacity(site.locations.len() + 1);
    for (index, location) in site.locations.iter().filter_map(|&i| Some((i, profile.locations.get(i)?))) {
        if location.address < MARK_LIMIT {
            match (location.lines.first(), location.address) {
                (Some(line), _) if !line.function.is_empty() => out.push(Frame::Marker(&line.function)),
                (_, MARK_TRUNCATED) => out.push(Frame::Marker(TRUNCATED)),
                (_, MARK_TABLE_FULL) => out.push(Frame::Marker(TABLE_FULL)),
                _ => {}
            }
        } else if location.lines.is_empty() {
            out.push(Frame::Unresolved { index, location });
        } else {
            out.extend(location.lines.iter().map(|line| Frame::Line { index, location, line }));
        }
    }
    if site.truncated && !matches!(out.last(), Some(Frame::Marker(m)) if *m == TRUNCATED) {
        out.push(Frame::Marker(TRUNCATED));
    }
    if out.is_empty() {
        out.push(Frame::Marker(NO_STACK));
    }
    out
}

/// The module of `location`, when its index is valid.
pub(crate) fn module_of<'a>(profile: &'a Profile, location: &Location) -> Option<&'a ModuleRecord> {
    location.module.and_then(|m| profile.modules.get(m))
}

/// The last component of a module's path (`libc.so.6`), empty for none.
pub(crate) fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// An unresolved location as `module_basename+0xOFFSET`, or `0xADDRESS`
/// when no module (or a module with no path) holds it.
pub(crate) fn unresolved_name(profile: &Profile, location: &Location) -> String {
    let mut name = String::new();
    match module_of(profile, location) {
        Some(m) if !basename(&m.path).is_empty() && location.address >= m.load_bias => {
            let _ = write!(name, "{}+{:#x}", basename(&m.path), location.address - m.load_bias);
        }
        _ => {
            let _ = write!(name, "{:#x}", location.address);
        }
    }
    name
}

/// A frame's name in a folded stack (before separators are replaced).
fn frame_name(profile: &Profile, frame: &Frame<'_>) -> String {
    match *frame {
        Frame::Line { line, location, .. } if line.function.is_empty() => unresolved_name(profile, location),
        Frame::Line { line, .. } => line.function.clone(),
        Frame::Unresolved { location, .. } => unresolved_name(profile, location),
        Frame::Marker(name) => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(allocations: u64, allocated_bytes: u64) -> SiteStats {
        SiteStats { allocations, allocated_bytes, ..SiteStats::default() }
    }

    fn folded(profile: &Profile, metric: Metric) -> String {
        let mut out = Vec::new();
        write(profile, metric, &mut out).expect("writes to a Vec");
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn empty_and_degenerate_profiles_do_not_panic() {
        assert_eq!(folded(&Profile::default(), Metric::Allocations), "");
        let mut p = Profile { has_stacks: true, ..Profile::default() };
        p.sites.push(Site { locations: vec![7, usize::MAX], truncated: false, stats: stats(u64::MAX, u64::MAX) });
        p.sites.push(Site { locations: vec![], truncated: false, stats: stats(1, 2) });
        p.locations.push(Location { address: 5, module: Some(9), lines: vec![] });
        p.sites.push(Site { locations: vec![0], truncated: true, stats: stats(1, 1) });
        assert_eq!(folded(&p, Metric::Allocations), format!("[no stack] {}\n[truncated] 1\n", u64::MAX));
    }

    #[test]
    fn marker_locations_are_named() {
        let mut p = Profile { has_stacks: true, ..Profile::default() };
        let named = |address, function: &str| Location {
            address,
            module: None,
            lines: vec![Line { function: function.into(), ..Line::default() }],
        };
        p.locations.push(Location { address: MARK_TRUNCATED, module: None, lines: vec![] });
        p.locations.push(Location { address: MARK_TABLE_FULL, module: None, lines: vec![] });
        p.locations.push(named(MARK_TABLE_FULL, TABLE_FULL));
        p.locations.push(named(0, NO_STACK));
        p.locations.push(named(MARK_TRUNCATED, TRUNCATED));
        p.sites.push(Site { locations: vec![0], truncated: true, stats: stats(1, 1) });
        p.sites.push(Site { locations: vec![1], truncated: false, stats: stats(2, 1) });
        p.sites.push(Site { locations: vec![2], truncated: false, stats: stats(4, 1) });
        p.sites.push(Site { locations: vec![3], truncated: false, stats: stats(8, 1) });
        p.sites.push(Site { locations: vec![4], truncated: true, stats: stats(16, 1) });
        assert_eq!(folded(&p, Metric::Allocations), "[no stack] 8\n[stack table full] 6\n[truncated] 17\n");
    }

    #[test]
    fn unresolved_names() {
        let mut p = Profile::default();
        p.modules.push(ModuleRecord { load_bias: 0x1000, start: 0x1000, end: 0x9000, build_id: vec![], path: "/usr/lib/libc.so.6".into() });
        p.modules.push(ModuleRecord { load_bias: 0x1000, start: 0x1000, end: 0x9000, build_id: vec![], path: String::new() });
        let at = |address, module| unresolved_name(&p, &Location { address, module, lines: vec![] });
        assert_eq!(at(0x1234, Some(0)), "libc.so.6+0x234");
        assert_eq!(at(0x10, Some(0)), "0x10", "below the load bias");
        assert_eq!(at(0x1234, Some(1)), "0x1234", "no path");
        assert_eq!(at(0x1234, Some(2)), "0x1234", "no such module");
        assert_eq!(at(0x1234, None), "0x1234");
    }

    #[test]
    fn metrics_have_their_cli_names() {
        let names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(names, ["allocations", "allocated-bytes", "leaked-bytes", "peak-bytes"]);
        let s =
            SiteStats { allocations: 1, reallocations: 2, live_bytes_end: 3, peak_bytes: 4, allocated_bytes: 5, ..SiteStats::default() };
        let values: Vec<u64> = Metric::ALL.iter().map(|m| m.value(&s)).collect();
        assert_eq!(values, [3, 5, 3, 4]);
    }
}
