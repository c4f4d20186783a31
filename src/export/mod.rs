//! JSON export of a [`Replay`]: one document, described field by field in
//! docs/JSON.md.
//!
//! ```no_run
//! let replay = memscope::replay::replay_file("run.memscope".as_ref())?;
//! memscope::export::json_to_path(&replay, "run.json".as_ref())?;
//! # Ok::<(), memscope::Error>(())
//! ```

pub mod dhat;
pub mod folded;
pub mod html;
#[cfg(feature = "pprof")]
pub mod pprof;
pub mod profile;
pub use html::{html, html_to_path, html_to_path_with, html_with};

use crate::format::{Damage, OnFull};
use crate::replay::{
    Bucket, EndRecord, ForeignRegion, HandedOver, Leak, Replay, ScopeInterval, ScopeNode, Suggestion, ThreadStats, ThreadTimeline,
    TimelinePoint, Totals, TrackingTotals, Variable,
};
use crate::Error;
use serde::Serialize;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// The version of the JSON document's layout (its `format_version` field);
/// bumped when a field changes meaning or goes away, not when one is added
/// (docs/JSON.md, "Versions").
pub const JSON_FORMAT_VERSION: u32 = 2;

/// What a JSON document includes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JsonOptions {
    /// Only what the program named: tracked variables, scopes, foreign
    /// memory and the summary; the per-allocation lists (`threads`,
    /// `largest_leaks`, histograms, timelines) are empty (`"mode":
    /// "only_tracked"`). The default, `false`, includes everything.
    pub only_tracked: bool,
}

/// Writes `replay` as one compact JSON document to `writer`.
///
/// # Errors
/// The writer's I/O errors.
pub fn json(replay: &Replay, writer: impl Write) -> Result<(), io::Error> {
    json_with(replay, &JsonOptions::default(), writer)
}

/// Writes `replay` as one compact JSON document to `writer`, as `options` say.
///
/// # Errors
/// The writer's I/O errors.
pub fn json_with(replay: &Replay, options: &JsonOptions, writer: impl Write) -> Result<(), io::Error> {
    let mut w = BufWriter::new(writer);
    serde_json::to_writer(&mut w, &document(replay, options))?;
    w.write_all(b"\n")?;
    w.flush()
}

/// Writes `replay` as one indented JSON document to `writer`.
///
/// # Errors
/// The writer's I/O errors.
pub fn json_pretty(replay: &Replay, writer: impl Write) -> Result<(), io::Error> {
    let mut w = BufWriter::new(writer);
    serde_json::to_writer_pretty(&mut w, &document(replay, &JsonOptions::default()))?;
    w.write_all(b"\n")?;
    w.flush()
}

/// Creates (or truncates) the file at `path` and writes `replay` to it as
/// compact JSON.
///
/// # Errors
/// [`Error::Export`], naming `path`, when the file cannot be created or written.
pub fn json_to_path(replay: &Replay, path: &Path) -> Result<(), Error> {
    json_to_path_with(replay, &JsonOptions::default(), path)
}

/// As [`json_to_path`], with `options`.
///
/// # Errors
/// [`Error::Export`], naming `path`, when the file cannot be created or written.
pub fn json_to_path_with(replay: &Replay, options: &JsonOptions, path: &Path) -> Result<(), Error> {
    let export = |source| Error::Export { path: path.to_path_buf(), source };
    let file = File::create(path).map_err(export)?;
    json_with(replay, options, &file).map_err(export)?;
    file.sync_all().map_err(export)
}

/// The document: borrowed views of the replay, in the order docs/JSON.md lists them.
#[derive(Serialize)]
struct Document<'a> {
    format_version: u32,
    mode: &'static str,
    sampling: SamplingView<'a>,
    recording: Recording<'a>,
    summary: &'a Totals,
    threads: &'a [ThreadStats],
    largest_leaks: &'a [Leak],
    lifetime_histogram: &'a [Bucket],
    size_histogram: &'a [Bucket],
    timeline: &'a [TimelinePoint],
    thread_timelines: &'a [ThreadTimeline],
    tracking: &'a TrackingTotals,
    variables: &'a [Variable],
    scopes: &'a [ScopeNode],
    scope_intervals: &'a [ScopeInterval],
    foreign: &'a [ForeignRegion],
    handoffs: &'a [HandedOver],
    suggestions: &'a [Suggestion],
    stacks: StacksView,
    frames: Vec<FrameView>,
    sites: Vec<SiteView>,
}

/// `sampling`: how the recording sampled, and which figures are estimates.
#[derive(Serialize)]
struct SamplingView<'a> {
    mode: &'static str,
    interval_bytes: Option<u64>,
    seed: Option<u64>,
    exact_totals: bool,
    untracked_samples: u64,
    estimated: &'static [&'static str],
    sampled: Option<&'a Totals>,
    estimated_peak_bytes: Option<u64>,
    estimated_peak_at_ns: Option<u64>,
}

/// The fields of the document that are estimates in a sampling recording
/// (FORMAT.md, "Sampling record").
pub const ESTIMATED_FIELDS: &[&str] = &[
    "sites[]",
    "suggestions[]",
    "lifetime_histogram[]",
    "size_histogram[]",
    "timeline[]",
    "thread_timelines[]",
    "largest_leaks[].stands_for",
];

impl<'a> SamplingView<'a> {
    fn of(replay: &'a Replay) -> Self {
        match &replay.sampling {
            None => SamplingView {
                mode: "full",
                interval_bytes: None,
                seed: None,
                exact_totals: true,
                untracked_samples: 0,
                estimated: &[],
                sampled: None,
                estimated_peak_bytes: None,
                estimated_peak_at_ns: None,
            },
            Some(s) => SamplingView {
                mode: "sampled",
                interval_bytes: Some(s.interval_bytes),
                seed: Some(s.seed),
                exact_totals: s.exact_totals,
                untracked_samples: s.untracked_samples,
                estimated: ESTIMATED_FIELDS,
                sampled: Some(&s.sampled),
                estimated_peak_bytes: Some(s.estimated_peak_bytes),
                estimated_peak_at_ns: Some(s.estimated_peak_at_ns),
            },
        }
    }
}

/// The most sites the JSON document lists (the rest are counted in `stacks.sites`).
pub const MAX_SITES_LISTED: usize = 5000;
/// The most sites whose timeline the JSON document includes.
pub const MAX_SITE_TIMELINES: usize = 500;

#[derive(Serialize)]
struct StacksView {
    recorded: bool,
    symbolized: bool,
    sites: usize,
    sites_listed: usize,
    truncated_sites: usize,
    table_full_allocations: u64,
    unknown_stack_allocations: u64,
    modules: Vec<ModuleView>,
    warnings: Vec<String>,
}

#[derive(Serialize)]
struct ModuleView {
    path: String,
    build_id: String,
    start: String,
    end: String,
}

#[derive(Serialize)]
struct FrameView {
    function: String,
    file: Option<String>,
    line: u32,
    column: u32,
    address: String,
    module: Option<String>,
    inlined: bool,
}

#[derive(Serialize)]
struct SiteView {
    id: u32,
    frames: Vec<usize>,
    truncated: bool,
    #[serde(flatten)]
    stats: crate::replay::SiteStats,
    timeline: Vec<[u64; 4]>,
}

/// The call-stack part of the document: the profile's sites (at most
/// [`MAX_SITES_LISTED`]) with a flat frame table.
fn stacks_view(replay: &Replay, profile: &profile::Profile, full: bool) -> (StacksView, Vec<FrameView>, Vec<SiteView>) {
    let listed = if full { profile.sites.len().min(MAX_SITES_LISTED) } else { 0 };
    let mut frames = Vec::new();
    // Location index → the frame indices of its lines, innermost first.
    let mut of_location: Vec<Option<Vec<usize>>> = vec![None; profile.locations.len()];
    let mut truncated_frame = None;
    let mut sites = Vec::with_capacity(listed);
    for (n, site) in profile.sites.iter().take(listed).enumerate() {
        let mut ids = Vec::new();
        for &l in &site.locations {
            let got = of_location[l].get_or_insert_with(|| {
                let loc = &profile.locations[l];
                let module = loc.module.and_then(|m| profile.modules.get(m)).map(|m| m.path.clone());
                let address = format!("{:#x}", loc.address);
                if loc.lines.is_empty() {
                    let function = profile.unresolved_label(l);
                    frames.push(FrameView { function, file: None, line: 0, column: 0, address, module, inlined: false });
                    return vec![frames.len() - 1];
                }
                let last = loc.lines.len() - 1;
                loc.lines
                    .iter()
                    .enumerate()
                    .map(|(i, line)| {
                        frames.push(FrameView {
                            function: line.function.clone(),
                            file: line.file.clone(),
                            line: line.line,
                            column: line.column,
                            address: address.clone(),
                            module: module.clone(),
                            inlined: i != last,
                        });
                        frames.len() - 1
                    })
                    .collect()
            });
            ids.extend_from_slice(got);
        }
        if site.truncated {
            let t = *truncated_frame.get_or_insert_with(|| {
                frames.push(FrameView {
                    function: profile::TRUNCATED.into(),
                    file: None,
                    line: 0,
                    column: 0,
                    address: "0x0".into(),
                    module: None,
                    inlined: false,
                });
                frames.len() - 1
            });
            ids.push(t);
        }
        let timeline = match replay.stacks.site_timelines.get(n) {
            Some(points) if n < MAX_SITE_TIMELINES && profile.has_stacks => points
                .iter()
                .filter_map(|p| {
                    // The last global point that starts before the end of the site's slot.
                    let i = replay.timeline.partition_point(|g| g.ts_ns < p.slot).checked_sub(1)?;
                    Some([i as u64, p.live_bytes, p.allocated_bytes, p.allocations])
                })
                .collect(),
            _ => Vec::new(),
        };
        sites.push(SiteView { id: site.stats.stack, frames: ids, truncated: site.truncated, stats: site.stats.clone(), timeline });
    }
    let view = StacksView {
        recorded: profile.has_stacks,
        symbolized: profile.locations.iter().any(|l| !l.lines.is_empty() && l.module.is_some()),
        sites: if profile.has_stacks { replay.stacks.sites.len() } else { profile.sites.len() },
        sites_listed: listed,
        truncated_sites: profile.sites.iter().filter(|s| s.truncated).count(),
        table_full_allocations: replay.stacks.table_full_allocations,
        unknown_stack_allocations: replay.stacks.unknown_stack_allocations,
        modules: profile
            .modules
            .iter()
            .map(|m| ModuleView {
                path: m.path.clone(),
                build_id: m.build_id.iter().map(|b| format!("{b:02x}")).collect(),
                start: format!("{:#x}", m.start),
                end: format!("{:#x}", m.end),
            })
            .collect(),
        warnings: profile.warnings.clone(),
    };
    (view, frames, sites)
}

/// The profile the JSON document and the report show: symbolized from the
/// binaries at their recorded paths when the `symbolize` feature is on.
fn default_profile(replay: &Replay) -> profile::Profile {
    #[cfg(feature = "symbolize")]
    {
        profile::Profile::build(replay, &crate::symbolize::SymbolizeOptions::default())
    }
    #[cfg(not(feature = "symbolize"))]
    {
        profile::Profile::build_unsymbolized(replay)
    }
}

#[derive(Serialize)]
struct Recording<'a> {
    version: u32,
    pid: u32,
    start_unix_ns: u64,
    start_monotonic_ns: u64,
    ring_capacity: u32,
    on_full: OnFull,
    file_bytes: u64,
    finished: bool,
    end: Option<&'a EndRecord>,
    live_at_end_is_leak: bool,
    rounds: u64,
    damage_count: u64,
    damaged_bytes: u64,
    damage: Vec<DamageView>,
    segments: &'a crate::replay::SegmentsReport,
}

#[derive(Serialize)]
struct DamageView {
    offset: u64,
    kind: String,
    skipped_bytes: u64,
}

impl From<&Damage> for DamageView {
    fn from(d: &Damage) -> Self {
        DamageView { offset: d.offset, kind: d.kind.to_string(), skipped_bytes: d.skipped_bytes }
    }
}

/// The document of docs/JSON.md for `replay`, as `options` say.
fn document<'a>(replay: &'a Replay, options: &JsonOptions) -> Document<'a> {
    document_with(replay, options, &default_profile(replay))
}

/// As [`document`], with the sites of `profile`.
fn document_with<'a>(replay: &'a Replay, options: &JsonOptions, profile: &profile::Profile) -> Document<'a> {
    let h = &replay.header;
    let full = !options.only_tracked;
    let (stacks, frames, sites) = stacks_view(replay, profile, full);
    fn all_or_none<T>(full: bool, v: &[T]) -> &[T] {
        if full {
            v
        } else {
            &[]
        }
    }
    Document {
        format_version: JSON_FORMAT_VERSION,
        mode: if full { "full" } else { "only_tracked" },
        sampling: SamplingView::of(replay),
        recording: Recording {
            version: h.version,
            pid: h.pid,
            start_unix_ns: h.start_unix_ns,
            start_monotonic_ns: h.start_monotonic_ns,
            ring_capacity: h.ring_capacity,
            on_full: h.on_full,
            file_bytes: replay.file_bytes,
            finished: replay.finished,
            end: replay.end.as_ref(),
            live_at_end_is_leak: replay.live_at_end_is_leak(),
            rounds: replay.rounds,
            damage_count: replay.damage_count,
            damaged_bytes: replay.damaged_bytes,
            damage: replay.damage.iter().map(DamageView::from).collect(),
            segments: &replay.segments,
        },
        summary: &replay.summary,
        threads: all_or_none(full, &replay.threads),
        largest_leaks: all_or_none(full, &replay.largest_leaks),
        lifetime_histogram: all_or_none(full, &replay.lifetime_histogram),
        size_histogram: all_or_none(full, &replay.size_histogram),
        timeline: all_or_none(full, &replay.timeline),
        thread_timelines: all_or_none(full, &replay.thread_timelines),
        tracking: &replay.tracking,
        variables: &replay.variables,
        scopes: &replay.scopes,
        scope_intervals: &replay.scope_intervals,
        foreign: &replay.foreign,
        handoffs: &replay.handoffs,
        suggestions: &replay.suggestions,
        stacks,
        frames,
        sites,
    }
}

/// Serialises as the document of docs/JSON.md (what [`json`] writes).
impl Serialize for Replay {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        document(self, &JsonOptions::default()).serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::event::*;
    use crate::format::{self, ChunkEncoder, RawEvent, SegmentHeader, VERSION};
    use serde_json::Value;

    fn sample() -> Replay {
        let header =
            SegmentHeader { version: VERSION, start_unix_ns: 7, start_monotonic_ns: 8, pid: 42, ring_capacity: 64, on_full: OnFull::Drop };
        let mut out = header.encode().to_vec();
        let mut enc = ChunkEncoder::default();
        let mut name = [0u8; 16];
        name[..4].copy_from_slice(b"main");
        let (var, scope, ty, label) = (0x9000, 0x9040, 0x0003_0000_0000_a000, 0x0001_0000_0000_b000);
        let site = |key, kind, name: &str| format::SiteRecord {
            key,
            kind,
            name: name.into(),
            file: "main.rs".into(),
            line: 3,
            column: 9,
            type_key: if kind == format::SITE_SCOPE { 0 } else { ty },
        };
        format::put_site(&mut out, &site(var, format::SITE_VAR, "buf"));
        format::put_site(&mut out, &site(scope, format::SITE_SCOPE, "load"));
        format::put_text(&mut out, ty, "u64");
        format::put_text(&mut out, label, "c");
        enc.put_events(
            &mut out,
            1,
            0,
            &[
                RawEvent::thread_start(1, 99, name),
                RawEvent::with_kind(KIND_SCOPE_ENTER, 5, scope, 0, 0),
                RawEvent::alloc(10, 0x1000, 100, 8, false, 0),
                RawEvent::with_kind(KIND_VAR, 11, 0x1000, 100, var),
                RawEvent::with_kind(KIND_SHARED, 11, 1, 0, 0),
                RawEvent::with_kind(KIND_HANDOFF, 12, 0x1000, 0, label),
                RawEvent::with_kind(KIND_FOREIGN_ALLOC, 13, 0x8000, 10, label),
                RawEvent::alloc(20, 0x2000, 5, 8, false, 0),
                RawEvent::realloc(21, 0x1000, 100, 0x1000, 200),
                RawEvent::dealloc(30, 0x2000, 5, 8),
                RawEvent::with_kind(KIND_SCOPE_EXIT, 31, scope, 0, 0),
            ],
            &[],
        );
        let damaged_at = out.len();
        enc.put_events(&mut out, 1, 1, &[RawEvent::alloc(40, 0x3000, 1, 1, false, 0)], &[]);
        out[damaged_at + 40] ^= 0x55;
        format::put_round(&mut out, 0, 50);
        format::put_end(&mut out, 12, 0, 60, 0);
        Replay::from_reader(&out[..], "sample".as_ref()).expect("replays")
    }

    #[test]
    fn only_tracked_leaves_out_the_allocation_lists() {
        let r = sample();
        let mut buf = Vec::new();
        json_with(&r, &JsonOptions { only_tracked: true }, &mut buf).expect("writes to a Vec");
        let v: Value = serde_json::from_slice(&buf).expect("valid JSON");
        assert_eq!(v["mode"], "only_tracked");
        for list in ["threads", "largest_leaks", "lifetime_histogram", "size_histogram", "timeline", "thread_timelines"] {
            assert_eq!(v[list], Value::Array(vec![]), "{list}");
        }
        assert_eq!(v["variables"], document(&r)["variables"]);
        assert_eq!(v["summary"], document(&r)["summary"]);
    }

    fn document(r: &Replay) -> Value {
        let mut buf = Vec::new();
        json(r, &mut buf).expect("writes to a Vec");
        serde_json::from_slice(&buf).expect("valid JSON")
    }

    #[test]
    fn document_holds_the_replay() {
        let r = sample();
        let v = document(&r);
        assert_eq!(v["format_version"], JSON_FORMAT_VERSION);
        assert_eq!(v["recording"]["pid"], 42);
        assert_eq!(v["recording"]["on_full"], "drop");
        assert_eq!(v["recording"]["finished"], true);
        assert_eq!(v["recording"]["end"]["end_ns"], 60);
        assert_eq!(v["recording"]["damage"][0]["kind"], r.damage[0].kind.to_string());
        assert_eq!(v["recording"]["damage"][0]["offset"], r.damage[0].offset);
        assert_eq!(v["summary"]["total_allocations"], 2);
        assert_eq!(v["summary"]["live_bytes"], 200);
        assert_eq!(v["mode"], "full");
        assert_eq!(v["variables"][0]["name"], "buf");
        assert_eq!(v["variables"][0]["allocations"][0]["reallocations"], 1);
        assert_eq!(v["scopes"][0]["name"], "load");
        assert_eq!(v["foreign"][0]["label"], "c");
        assert_eq!(v["thread_timelines"][0]["live_bytes"].as_array().map(Vec::len), v["timeline"].as_array().map(Vec::len));
        assert_eq!(v["threads"][0]["name"], "main");
        assert_eq!(v["threads"][0]["os_tid"], 99);
        assert_eq!(v["largest_leaks"][0]["ptr"], 0x1000);
        assert_eq!(v["largest_leaks"][0]["ptr_hex"], "0x1000");
        assert_eq!(v["size_histogram"][0]["lower"], 4);
        assert_eq!(v["lifetime_histogram"][0]["count"], 1);
        assert!(v["timeline"].as_array().is_some_and(|t| !t.is_empty()));
        let mut pretty = Vec::new();
        json_pretty(&r, &mut pretty).expect("writes to a Vec");
        assert_eq!(serde_json::from_slice::<Value>(&pretty).expect("valid JSON"), v);
    }

    /// Every key the document can hold is documented in docs/JSON.md.
    #[test]
    fn every_key_is_documented() {
        fn keys(v: &Value, path: &str, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    for (k, v) in m {
                        let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                        out.push(p.clone());
                        keys(v, &p, out);
                    }
                }
                Value::Array(a) => {
                    if let Some(first) = a.first() {
                        keys(first, &format!("{path}[]"), out);
                    }
                }
                _ => {}
            }
        }
        let doc = include_str!("../../docs/JSON.md");
        let mut all = Vec::new();
        keys(&document(&sample()), "", &mut all);
        assert!(all.len() > 60, "only {} keys", all.len());
        let missing: Vec<&String> = all.iter().filter(|k| !doc.contains(&format!("`{k}`"))).collect();
        assert!(missing.is_empty(), "docs/JSON.md does not document {missing:?}");
    }

    #[test]
    fn export_errors_name_the_path() {
        let dir = std::env::temp_dir().join(format!("memscope-export-{}", std::process::id()));
        let path = dir.join("missing-dir").join("out.json");
        let err = json_to_path(&sample(), &path).expect_err("the directory does not exist");
        assert!(matches!(err, Error::Export { .. }));
        assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
    }
}
