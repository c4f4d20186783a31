//! pprof's `profile.proto`, gzipped: what `go tool pprof`, Pyroscope,
//! speedscope and Perfetto open.
//!
//! The profile is laid out as Go's heap profiles are:
//!
//! - sample types, in this order: `alloc_objects`/`count`,
//!   `alloc_space`/`bytes`, `inuse_objects`/`count`, `inuse_space`/`bytes`
//!   (pprof shows the last by default). "In use" is live at the end of the
//!   recording (`live_count_end`, `live_bytes_end`); allocated objects are
//!   allocations plus reallocations, as in every stack export (see
//!   [`Metric::Allocations`](super::folded::Metric::Allocations));
//! - one sample per site, its location ids innermost first; sites whose
//!   four values are all 0 are left out;
//! - `period_type` `space`/`bytes`; Go writes its sampling rate as the
//!   period (`MemProfileRate`, 512 KiB by default), memscope records every
//!   allocation, so the period is 1 and the values are exact; a sampling
//!   recording's interval is the period, its values are estimates, and
//!   the first comment says so;
//! - one mapping per module, with its path, its build id in lowercase hex,
//!   its runtime address range and file offset 0 (the lowest loadable
//!   segment of an ELF object starts its file); the `has_*` flags are set
//!   when every location in it was resolved, so that pprof does not try to
//!   symbolize them again;
//! - one location per code address, with one line per inlined frame,
//!   innermost first (the last line is the function that holds the
//!   address); an unresolved location has no line (pprof shows its address);
//! - functions deduplicated by name and file; the name is the demangled one,
//!   and the system name too (the mangled name is not kept);
//! - a truncated site ends with a location whose function is
//!   `[truncated]`, every site of a recording without call stacks is a
//!   single `[no stacks]` location, a site with no frame a single `[no
//!   stack]` one (see [`folded`](super::folded)); these stand-in locations
//!   have address 0 and no mapping;
//! - `duration_nanos` is the recording's length, `time_nanos` its start when
//!   [`PprofOptions::start_unix_ns`] gives it (0 otherwise); symbolization
//!   warnings go in the comments.
//!
//! Counts above `i64::MAX` (pprof's values are signed) are written as
//! `i64::MAX`.
//!
//! ```
//! use memscope::export::{pprof, profile::Profile};
//!
//! let profile = Profile::default(); // in practice `Profile::build` of a replay
//! let mut out = Vec::new();
//! pprof::write(&profile, &mut out)?;
//! assert_eq!(out[..2], [0x1f, 0x8b]); // gzip
//! # Ok::<(), std::io::Error>(())
//! ```

use super::folded::{allocated_objects, frames, Frame};
use super::profile::Profile;
use crate::format::stacks::MARK_LIMIT;
use flate2::write::GzEncoder;
use flate2::Compression;
use prost::Message as _;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Write};

/// What a pprof profile says about the run that the [`Profile`] does not hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PprofOptions {
    /// When the recording started, ns since the UNIX epoch (`time_nanos`;
    /// 0: unknown).
    pub start_unix_ns: u64,
}

/// Writes `profile` to `writer` as a gzipped `profile.proto`.
///
/// # Errors
/// The writer's I/O errors.
pub fn write(profile: &Profile, writer: impl Write) -> io::Result<()> {
    write_with(profile, &PprofOptions::default(), writer)
}

/// Writes `profile` to `writer` as a gzipped `profile.proto`, with what
/// `options` add.
///
/// # Errors
/// The writer's I/O errors.
pub fn write_with(profile: &Profile, options: &PprofOptions, writer: impl Write) -> io::Result<()> {
    let bytes = encode(profile, options).encode_to_vec();
    let mut gz = GzEncoder::new(writer, Compression::default());
    gz.write_all(&bytes)?;
    gz.finish()?.flush()
}

/// The messages of pprof's `proto/profile.proto` (package
/// `perftools.profiles`), with its field numbers; the fields memscope does
/// not write are left out.
mod proto {
    /// A profile.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Profile {
        #[prost(message, repeated, tag = "1")]
        pub sample_type: Vec<ValueType>,
        #[prost(message, repeated, tag = "2")]
        pub sample: Vec<Sample>,
        #[prost(message, repeated, tag = "3")]
        pub mapping: Vec<Mapping>,
        #[prost(message, repeated, tag = "4")]
        pub location: Vec<Location>,
        #[prost(message, repeated, tag = "5")]
        pub function: Vec<Function>,
        #[prost(string, repeated, tag = "6")]
        pub string_table: Vec<String>,
        #[prost(int64, tag = "7")]
        pub drop_frames: i64,
        #[prost(int64, tag = "8")]
        pub keep_frames: i64,
        #[prost(int64, tag = "9")]
        pub time_nanos: i64,
        #[prost(int64, tag = "10")]
        pub duration_nanos: i64,
        #[prost(message, optional, tag = "11")]
        pub period_type: Option<ValueType>,
        #[prost(int64, tag = "12")]
        pub period: i64,
        #[prost(int64, repeated, tag = "13")]
        pub comment: Vec<i64>,
        #[prost(int64, tag = "14")]
        pub default_sample_type: i64,
    }

    /// A value's type and unit, as string-table indices.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ValueType {
        #[prost(int64, tag = "1")]
        pub r#type: i64,
        #[prost(int64, tag = "2")]
        pub unit: i64,
    }

    /// One stack and its values.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(uint64, repeated, tag = "1")]
        pub location_id: Vec<u64>,
        #[prost(int64, repeated, tag = "2")]
        pub value: Vec<i64>,
        #[prost(message, repeated, tag = "3")]
        pub label: Vec<Label>,
    }

    /// A sample's label (unused: kept for the schema's completeness).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        #[prost(int64, tag = "1")]
        pub key: i64,
        #[prost(int64, tag = "2")]
        pub str: i64,
        #[prost(int64, tag = "3")]
        pub num: i64,
        #[prost(int64, tag = "4")]
        pub num_unit: i64,
    }

    /// A loaded object.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Mapping {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(uint64, tag = "2")]
        pub memory_start: u64,
        #[prost(uint64, tag = "3")]
        pub memory_limit: u64,
        #[prost(uint64, tag = "4")]
        pub file_offset: u64,
        #[prost(int64, tag = "5")]
        pub filename: i64,
        #[prost(int64, tag = "6")]
        pub build_id: i64,
        #[prost(bool, tag = "7")]
        pub has_functions: bool,
        #[prost(bool, tag = "8")]
        pub has_filenames: bool,
        #[prost(bool, tag = "9")]
        pub has_line_numbers: bool,
        #[prost(bool, tag = "10")]
        pub has_inline_frames: bool,
    }

    /// A code address and its lines.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Location {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(uint64, tag = "2")]
        pub mapping_id: u64,
        #[prost(uint64, tag = "3")]
        pub address: u64,
        #[prost(message, repeated, tag = "4")]
        pub line: Vec<Line>,
        #[prost(bool, tag = "5")]
        pub is_folded: bool,
    }

    /// One (possibly inlined) line of a location.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Line {
        #[prost(uint64, tag = "1")]
        pub function_id: u64,
        #[prost(int64, tag = "2")]
        pub line: i64,
        #[prost(int64, tag = "3")]
        pub column: i64,
    }

    /// A function.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Function {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(int64, tag = "2")]
        pub name: i64,
        #[prost(int64, tag = "3")]
        pub system_name: i64,
        #[prost(int64, tag = "4")]
        pub filename: i64,
        #[prost(int64, tag = "5")]
        pub start_line: i64,
    }
}

/// Builds the string table, the functions and the stand-in locations while
/// the samples are written.
#[derive(Default)]
struct Builder {
    out: proto::Profile,
    strings: HashMap<String, i64>,
    functions: HashMap<(i64, i64), u64>,
    /// Stand-in locations (`[truncated]` and the like) by name.
    markers: HashMap<String, u64>,
    /// The id of the next stand-in location: they follow the profile's
    /// own locations, whose id is their index + 1.
    next_marker_id: u64,
}

impl Builder {
    /// The string table index of `s`, adding it when new.
    fn string(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.strings.get(s) {
            return i;
        }
        let i = self.out.string_table.len() as i64;
        self.out.string_table.push(s.to_owned());
        self.strings.insert(s.to_owned(), i);
        i
    }

    /// The id of the function named `name` in `file`, adding it when new.
    fn function(&mut self, name: &str, file: Option<&str>) -> u64 {
        let name = self.string(name);
        let file = file.map_or(0, |f| self.string(f));
        let next = self.out.function.len() as u64 + 1;
        let id = *self.functions.entry((name, file)).or_insert(next);
        if id == next {
            self.out.function.push(proto::Function { id, name, system_name: name, filename: file, start_line: 0 });
        }
        id
    }

    /// The id of the stand-in location whose only function is `name`.
    fn marker(&mut self, name: &str) -> u64 {
        if let Some(&id) = self.markers.get(name) {
            return id;
        }
        let function_id = self.function(name, None);
        let id = self.next_marker_id;
        self.next_marker_id += 1;
        self.out.location.push(proto::Location {
            id,
            mapping_id: 0,
            address: 0,
            line: vec![proto::Line { function_id, line: 0, column: 0 }],
            is_folded: false,
        });
        self.markers.insert(name.to_owned(), id);
        id
    }
}

/// A count as pprof's signed value.
fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Lowercase hex of a build id.
fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn encode(profile: &Profile, options: &PprofOptions) -> proto::Profile {
    let mut b = Builder { next_marker_id: profile.locations.len() as u64 + 1, ..Builder::default() };
    b.string("");
    let value_type = |b: &mut Builder, t: &str, u: &str| proto::ValueType { r#type: b.string(t), unit: b.string(u) };
    b.out.sample_type = vec![
        value_type(&mut b, "alloc_objects", "count"),
        value_type(&mut b, "alloc_space", "bytes"),
        value_type(&mut b, "inuse_objects", "count"),
        value_type(&mut b, "inuse_space", "bytes"),
    ];
    b.out.period_type = Some(value_type(&mut b, "space", "bytes"));
    // Sampling: the interval is the period, as Go writes `MemProfileRate`;
    // the values are already weighted (estimates), as Go's are.
    b.out.period = profile.sampling_interval.map_or(1, signed);
    b.out.time_nanos = signed(options.start_unix_ns);
    b.out.duration_nanos = signed(profile.end_ns);
    let comments: Vec<i64> = profile.sampling_note().iter().chain(&profile.warnings).map(|w| b.string(w)).collect();
    b.out.comment = comments;

    // Mappings: one per module, resolved when every location in it is.
    let mut resolved = vec![(true, true, true); profile.modules.len()];
    for location in &profile.locations {
        if let Some(r) = location.module.and_then(|m| resolved.get_mut(m)) {
            r.0 &= !location.lines.is_empty();
            r.1 &= location.lines.iter().all(|l| l.file.is_some());
            r.2 &= location.lines.iter().all(|l| l.line > 0);
        }
    }
    for (i, (m, &(functions, files, lines))) in profile.modules.iter().zip(&resolved).enumerate() {
        let (filename, build_id) = (b.string(&m.path), b.string(&hex(&m.build_id)));
        b.out.mapping.push(proto::Mapping {
            id: i as u64 + 1,
            memory_start: m.start,
            memory_limit: m.end,
            file_offset: 0,
            filename,
            build_id,
            has_functions: functions,
            has_filenames: functions && files,
            has_line_numbers: functions && lines,
            has_inline_frames: functions,
        });
    }

    // Locations: id = index + 1 for the profile's own (markers, which are no
    // code, are left out: samples use stand-ins); stand-ins come after.
    for (i, location) in profile.locations.iter().enumerate() {
        if location.address < MARK_LIMIT {
            continue;
        }
        let mut lines = Vec::with_capacity(location.lines.len());
        for line in &location.lines {
            let function_id = b.function(&line.function, line.file.as_deref());
            lines.push(proto::Line { function_id, line: i64::from(line.line), column: i64::from(line.column) });
        }
        let mapping_id = location.module.filter(|&m| m < profile.modules.len()).map_or(0, |m| m as u64 + 1);
        b.out.location.push(proto::Location { id: i as u64 + 1, mapping_id, address: location.address, line: lines, is_folded: false });
    }

    for site in &profile.sites {
        let s = &site.stats;
        let value = vec![signed(allocated_objects(s)), signed(s.allocated_bytes), signed(s.live_count_end), signed(s.live_bytes_end)];
        if value.iter().all(|&v| v == 0) {
            continue;
        }
        let mut location_id: Vec<u64> = Vec::with_capacity(site.locations.len() + 1);
        for frame in frames(profile, site) {
            let id = match frame {
                // One pprof location per profile location, at its first
                // (innermost) line: its inlined lines are in it.
                Frame::Line { index, location, line } => {
                    if !location.lines.first().is_some_and(|first| std::ptr::eq(first, line)) {
                        continue;
                    }
                    index as u64 + 1
                }
                Frame::Unresolved { index, .. } => index as u64 + 1,
                Frame::Marker(name) => b.marker(name),
            };
            location_id.push(id);
        }
        b.out.sample.push(proto::Sample { location_id, value, label: vec![] });
    }
    b.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::profile::{Line, Location, Site};
    use crate::format::stacks::ModuleRecord;
    use crate::replay::SiteStats;
    use std::io::Read;

    fn decode(bytes: &[u8]) -> proto::Profile {
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(bytes).read_to_end(&mut raw).expect("gzip");
        proto::Profile::decode(&raw[..]).expect("profile.proto")
    }

    #[test]
    fn empty_profile_is_valid() {
        let mut out = Vec::new();
        write(&Profile::default(), &mut out).expect("writes to a Vec");
        let p = decode(&out);
        assert_eq!(p.string_table[0], "");
        assert_eq!(p.sample_type.len(), 4);
        assert!(p.sample.is_empty());
    }

    #[test]
    fn sites_become_samples() {
        let mut p = Profile { has_stacks: true, end_ns: 77, ..Profile::default() };
        p.modules.push(ModuleRecord { load_bias: 0, start: 0x1000, end: 0x2000, build_id: vec![0xab, 0x01], path: "/bin/app".into() });
        let line = |f: &str| Line { function: f.into(), file: Some("a.rs".into()), line: 1, column: 2 };
        p.locations.push(Location { address: 0x1010, module: Some(0), lines: vec![line("inner"), line("outer")] });
        p.locations.push(Location { address: 0x1020, module: Some(5), lines: vec![line("outer")] });
        p.locations.push(Location { address: 1, module: None, lines: vec![line("[truncated]")] });
        let stats = SiteStats { allocations: 2, reallocations: 1, allocated_bytes: u64::MAX, live_count_end: 1, ..SiteStats::default() };
        p.sites.push(Site { locations: vec![0, 1, 99], truncated: true, stats: stats.clone() });
        p.sites.push(Site { locations: vec![0], truncated: false, stats: SiteStats::default() });
        let mut out = Vec::new();
        write_with(&p, &PprofOptions { start_unix_ns: 5 }, &mut out).expect("writes to a Vec");
        let d = decode(&out);
        assert_eq!(d.sample.len(), 1, "the all-zero site is left out");
        assert_eq!(d.sample[0].value, [3, i64::MAX, 1, 0]);
        assert_eq!(d.sample[0].location_id, [1, 2, 4], "one id per location, then [truncated]");
        assert_eq!(d.location.len(), 3, "the marker location is left out, the stand-in added");
        assert_eq!(d.location[0].line.len(), 2);
        assert_eq!(d.location[1].mapping_id, 0, "no such module");
        assert_eq!(d.function.len(), 3, "inner, outer, [truncated]");
        let s = |i: i64| d.string_table[i as usize].as_str();
        assert_eq!(d.location[2].id, 4);
        assert_eq!(s(d.function[d.location[2].line[0].function_id as usize - 1].name), "[truncated]");
        assert_eq!(s(d.mapping[0].build_id), "ab01");
        assert_eq!((d.time_nanos, d.duration_nanos, d.period), (5, 77, 1));
        assert!(d.mapping[0].has_functions && d.mapping[0].has_inline_frames);
    }

    #[test]
    fn a_sampling_recording_says_its_values_are_estimates() {
        let p = Profile { sampling_interval: Some(524_288), warnings: vec!["w".into()], ..Profile::default() };
        let mut out = Vec::new();
        write(&p, &mut out).expect("writes to a Vec");
        let d = decode(&out);
        assert_eq!(d.period, 524_288, "the interval is the period, as Go writes MemProfileRate");
        let comments: Vec<&str> = d.comment.iter().map(|&i| d.string_table[i as usize].as_str()).collect();
        assert_eq!(comments.len(), 2);
        assert!(comments[0].contains("sampled every 524288 bytes") && comments[0].contains("estimates"), "{comments:?}");
        assert_eq!(comments[1], "w");
    }
}
