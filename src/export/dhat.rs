//! DHAT's JSON format, version 2: what valgrind's `dh_view.html` opens, and
//! what the Firefox Profiler imports.
//!
//! The layout is the one valgrind's `dh_main.c` describes and `dh_view.js`
//! checks (every mandatory field), in the `rust-heap` mode dhat-rs writes:
//! block lifetimes recorded (`bklt: true`), accesses not (`bkacc: false`).
//! How memscope's per-site figures fill it:
//!
//! | field | meaning | from [`SiteStats`] |
//! | --- | --- | --- |
//! | `tb` | total bytes | `allocated_bytes` |
//! | `tbk` | total blocks (allocations) | `allocations + reallocations` (a reallocation moves its allocation to its own site and its new size counts in `allocated_bytes` there, so it counts as an allocation there too: `tb / tbk` stays the average size) |
//! | `tl` | total lifetimes, in `tu` | `total_lifetime_ns` |
//! | `mb` | bytes live at the site's own maximum | `max_live_bytes` |
//! | `mbk` | allocations live at that moment | see below |
//! | `gb`, `gbk` | bytes and allocations live at the global peak (`tg`) | `peak_bytes`, `peak_count` |
//! | `eb`, `ebk` | bytes and allocations live at the end (`te`) | `live_bytes_end`, `live_count_end` |
//! | `fs` | frames, indices into `ftbl`, innermost first | the site's frames |
//!
//! `mbk` is exact when the site's maximum is also what it held at the global
//! peak (`peak_count`) or at the end (`live_count_end`); otherwise the
//! replay does not know the count at that moment, and `mbk` is an estimate:
//! `max_live_bytes` divided by the site's average allocation size, rounded,
//! at least 1 and at most the site's allocations.
//!
//! Times are nanoseconds since the recording's epoch (`tu: "ns"`, `Mtu:
//! "ms"`, a million of them); `tuth`, the "short-lived" threshold of
//! dh_view's sort, is 10 µs as in dhat-rs.
//!
//! Frames read `0x{address}: {function} ({file}:{line}:{column})`, the form
//! valgrind writes and the Firefox Profiler parses (`:{column}` is left out
//! when unknown, `:{line}` too; `(in {module path})` when the file is
//! unknown); an unresolved address reads `0x{address}: ??? (in {module
//! path})`, or `0x{address}: ???` with no module. Each inlined line is a
//! frame of its own, with the address of its location. `ftbl[0]` is
//! `[root]`; the stand-in frames (`[truncated]`, `[no stacks]`, `[no
//! stack]`, `[stack table full]`) are written as they are (see
//! [`folded`](super::folded)).
//!
//! dh_view refuses a file in which two program points have the same frames,
//! so sites whose frames read the same (after the allocator plumbing was
//! removed, say) are merged: their figures are summed, and `mb`/`mbk`,
//! which cannot be summed exactly, become the sum of the sites' maxima (an
//! upper bound).
//!
//! ```
//! use memscope::export::{dhat, profile::Profile};
//!
//! let profile = Profile::default(); // in practice `Profile::build` of a replay
//! let mut out = Vec::new();
//! dhat::write(&profile, &mut out)?;
//! let doc: serde_json::Value = serde_json::from_slice(&out)?;
//! assert_eq!(doc["dhatFileVersion"], 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::folded::{allocated_objects, frames, module_of, Frame};
use super::profile::Profile;
use crate::replay::SiteStats;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};

/// The short-lived threshold written as `tuth`, in ns (10 µs, dhat-rs's).
pub const SHORT_LIVED_NS: u64 = 10_000;

/// What a DHAT file says about the run that the [`Profile`] does not hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DhatOptions {
    /// The `cmd` field: what dh_view shows as the command and the Firefox
    /// Profiler as the product (the CLI writes the recording's path).
    pub cmd: String,
    /// The `pid` field: the recorded process's id (0: unknown).
    pub pid: u32,
}

/// Writes `profile` as a DHAT version-2 JSON document to `writer`, with an
/// empty `cmd` and a `pid` of 0.
///
/// # Errors
/// The writer's I/O errors.
pub fn write(profile: &Profile, writer: impl Write) -> io::Result<()> {
    write_with(profile, &DhatOptions::default(), writer)
}

/// Writes `profile` as a DHAT version-2 JSON document to `writer`, with the
/// command and process id of `options`.
///
/// # Errors
/// The writer's I/O errors.
pub fn write_with(profile: &Profile, options: &DhatOptions, writer: impl Write) -> io::Result<()> {
    let mut w = BufWriter::new(writer);
    serde_json::to_writer(&mut w, &document(profile, options))?;
    w.write_all(b"\n")?;
    w.flush()
}

/// The document, in dh_main.c's order.
#[derive(Serialize)]
#[allow(non_snake_case)]
struct Document {
    dhatFileVersion: u32,
    mode: &'static str,
    verb: &'static str,
    bklt: bool,
    bkacc: bool,
    tu: &'static str,
    Mtu: &'static str,
    tuth: u64,
    cmd: String,
    pid: u32,
    te: u64,
    tg: u64,
    pps: Vec<ProgramPoint>,
    ftbl: Vec<String>,
}

/// One program point: a site (or sites whose frames read the same).
#[derive(Serialize, Default)]
struct ProgramPoint {
    tb: u64,
    tbk: u64,
    tl: u64,
    mb: u64,
    mbk: u64,
    gb: u64,
    gbk: u64,
    eb: u64,
    ebk: u64,
    fs: Vec<usize>,
}

impl ProgramPoint {
    /// Adds one site's figures (saturating: a sum never wraps).
    fn add(&mut self, s: &SiteStats) {
        let add = |a: &mut u64, b: u64| *a = a.saturating_add(b);
        add(&mut self.tb, s.allocated_bytes);
        add(&mut self.tbk, allocated_objects(s));
        add(&mut self.tl, s.total_lifetime_ns);
        add(&mut self.mb, s.max_live_bytes);
        add(&mut self.mbk, max_live_count(s));
        add(&mut self.gb, s.peak_bytes);
        add(&mut self.gbk, s.peak_count);
        add(&mut self.eb, s.live_bytes_end);
        add(&mut self.ebk, s.live_count_end);
    }
}

/// The number of allocations the site held live when it held
/// `max_live_bytes`: exact when that maximum is what it held at the global
/// peak or at the end, otherwise estimated from the average allocation
/// size (see the module docs).
pub(crate) fn max_live_count(s: &SiteStats) -> u64 {
    if s.max_live_bytes == 0 {
        return 0;
    }
    if s.max_live_bytes == s.peak_bytes {
        return s.peak_count;
    }
    if s.max_live_bytes == s.live_bytes_end {
        return s.live_count_end;
    }
    let objects = allocated_objects(s);
    if objects == 0 || s.allocated_bytes == 0 {
        return 1;
    }
    // max_live_bytes / (allocated_bytes / objects), rounded, in u128: no overflow.
    let (max, total, n) = (u128::from(s.max_live_bytes), u128::from(s.allocated_bytes), u128::from(objects));
    let estimate = (max * n + total / 2) / total;
    u64::try_from(estimate).unwrap_or(u64::MAX).clamp(1, objects)
}

fn document(profile: &Profile, options: &DhatOptions) -> Document {
    let mut ftbl = vec!["[root]".to_owned()];
    let mut frame_index: HashMap<String, usize> = HashMap::new();
    let mut pps: Vec<ProgramPoint> = Vec::new();
    let mut pp_index: HashMap<Vec<usize>, usize> = HashMap::new();
    for site in &profile.sites {
        let fs: Vec<usize> = frames(profile, site)
            .iter()
            .map(|frame| {
                let text = frame_text(profile, frame);
                *frame_index.entry(text).or_insert_with_key(|text| {
                    ftbl.push(text.clone());
                    ftbl.len() - 1
                })
            })
            .collect();
        let i = *pp_index.entry(fs).or_insert_with_key(|fs| {
            pps.push(ProgramPoint { fs: fs.clone(), ..ProgramPoint::default() });
            pps.len() - 1
        });
        pps[i].add(&site.stats);
    }
    // A sampling recording: the command line says the figures are estimates.
    let cmd = match profile.sampling_note() {
        Some(note) if options.cmd.is_empty() => note,
        Some(note) => format!("{} ({note})", options.cmd),
        None => options.cmd.clone(),
    };
    Document {
        dhatFileVersion: 2,
        mode: "rust-heap",
        verb: "Allocated",
        bklt: true,
        bkacc: false,
        tu: "ns",
        Mtu: "ms",
        tuth: SHORT_LIVED_NS,
        cmd,
        pid: options.pid,
        te: profile.end_ns,
        tg: profile.peak_at_ns,
        pps,
        ftbl,
    }
}

/// A frame as `ftbl` holds it.
fn frame_text(profile: &Profile, frame: &Frame<'_>) -> String {
    let mut s = String::new();
    match *frame {
        Frame::Line { location, line, .. } => {
            let function = if line.function.is_empty() { "???" } else { &line.function };
            let _ = write!(s, "{:#x}: {function}", location.address);
            match (&line.file, line.line, line.column) {
                (Some(file), 0, _) => {
                    let _ = write!(s, " ({file})");
                }
                (Some(file), l, 0) => {
                    let _ = write!(s, " ({file}:{l})");
                }
                (Some(file), l, c) => {
                    let _ = write!(s, " ({file}:{l}:{c})");
                }
                (None, _, _) => push_module(&mut s, profile, location),
            }
        }
        Frame::Unresolved { location, .. } => {
            let _ = write!(s, "{:#x}: ???", location.address);
            push_module(&mut s, profile, location);
        }
        Frame::Marker(name) => s.push_str(name),
    }
    s
}

/// ` (in /path/of/module)`, valgrind's suffix for a frame with no file, when
/// the location's module has a path.
fn push_module(s: &mut String, profile: &Profile, location: &super::profile::Location) {
    if let Some(m) = module_of(profile, location).filter(|m| !m.path.is_empty()) {
        let _ = write!(s, " (in {})", m.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::profile::{Line, Location, Site};
    use crate::format::stacks::ModuleRecord;

    #[test]
    fn max_live_count_is_exact_when_it_can_be() {
        let s = SiteStats { max_live_bytes: 100, peak_bytes: 100, peak_count: 3, ..SiteStats::default() };
        assert_eq!(max_live_count(&s), 3);
        let s = SiteStats { max_live_bytes: 100, live_bytes_end: 100, live_count_end: 4, ..SiteStats::default() };
        assert_eq!(max_live_count(&s), 4);
        // 10 allocations of 10 bytes on average; a maximum of 30 bytes: 3 of them.
        let s = SiteStats { max_live_bytes: 30, allocated_bytes: 100, allocations: 8, reallocations: 2, ..SiteStats::default() };
        assert_eq!(max_live_count(&s), 3);
        let s = SiteStats { max_live_bytes: u64::MAX, allocated_bytes: 1, allocations: u64::MAX, ..SiteStats::default() };
        assert_eq!(max_live_count(&s), u64::MAX, "clamped to the allocations, no overflow");
        let s = SiteStats { max_live_bytes: 1, allocated_bytes: u64::MAX, allocations: 1, ..SiteStats::default() };
        assert_eq!(max_live_count(&s), 1, "at least 1");
        assert_eq!(max_live_count(&SiteStats { max_live_bytes: 5, ..SiteStats::default() }), 1);
        assert_eq!(max_live_count(&SiteStats::default()), 0);
    }

    #[test]
    fn frames_read_as_valgrind_writes_them() {
        let mut p = Profile { has_stacks: true, ..Profile::default() };
        p.modules.push(ModuleRecord { load_bias: 0, start: 0x1000, end: 0x9000, build_id: vec![1], path: "/bin/app".into() });
        let line =
            |function: &str, file: Option<&str>, line, column| Line { function: function.into(), file: file.map(Into::into), line, column };
        p.locations.push(Location {
            address: 0x1a2b,
            module: Some(0),
            lines: vec![
                line("inlined", Some("src/a.rs"), 3, 9),
                line("f", Some("src/b.rs"), 4, 0),
                line("g", Some("src/c.rs"), 0, 0),
                line("h", None, 0, 0),
                line("", None, 0, 0),
            ],
        });
        p.locations.push(Location { address: 0x2000, module: Some(0), lines: vec![] });
        p.locations.push(Location { address: 0x3000, module: None, lines: vec![] });
        p.sites.push(Site { locations: vec![0, 1, 2], truncated: true, stats: SiteStats::default() });
        let texts: Vec<String> = frames(&p, &p.sites[0]).iter().map(|f| frame_text(&p, f)).collect();
        assert_eq!(
            texts,
            [
                "0x1a2b: inlined (src/a.rs:3:9)",
                "0x1a2b: f (src/b.rs:4)",
                "0x1a2b: g (src/c.rs)",
                "0x1a2b: h (in /bin/app)",
                "0x1a2b: ??? (in /bin/app)",
                "0x2000: ??? (in /bin/app)",
                "0x3000: ???",
                "[truncated]",
            ]
        );
    }

    #[test]
    fn sites_that_read_the_same_are_one_program_point() {
        let mut p = Profile { has_stacks: true, ..Profile::default() };
        let f = Line { function: "f".into(), file: Some("a.rs".into()), line: 1, column: 1 };
        // Two locations at one address (a hand-built profile): the same frame text.
        p.locations.push(Location { address: 0x1000, module: None, lines: vec![f.clone()] });
        p.locations.push(Location { address: 0x1000, module: None, lines: vec![f] });
        let stats = |n: u64| SiteStats { allocations: n, allocated_bytes: 10 * n, max_live_bytes: u64::MAX, ..SiteStats::default() };
        p.sites.push(Site { locations: vec![0], truncated: false, stats: stats(1) });
        p.sites.push(Site { locations: vec![1], truncated: false, stats: stats(2) });
        p.sites.push(Site { locations: vec![], truncated: false, stats: stats(4) });
        let options = DhatOptions::default();
        let doc = document(&p, &options);
        assert_eq!(doc.ftbl, ["[root]", "0x1000: f (a.rs:1:1)", "[no stack]"]);
        assert_eq!(doc.pps.len(), 2);
        assert_eq!((doc.pps[0].tbk, doc.pps[0].tb, doc.pps[0].fs.as_slice()), (3, 30, &[1][..]));
        assert_eq!(doc.pps[0].mb, u64::MAX, "saturates");
        assert_eq!((doc.pps[1].tbk, doc.pps[1].fs.as_slice()), (4, &[2][..]));
    }
}
