//! JSON export of a [`Replay`]: one document, described field by field in
//! docs/JSON.md.
//!
//! ```no_run
//! let replay = memscope::replay::replay_file("run.memscope".as_ref())?;
//! memscope::export::json_to_path(&replay, "run.json".as_ref())?;
//! # Ok::<(), memscope::Error>(())
//! ```

use crate::format::{Damage, OnFull};
use crate::replay::{Bucket, EndRecord, Leak, Replay, ThreadStats, TimelinePoint, Totals};
use crate::Error;
use serde::Serialize;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// The version of the JSON document's layout (its `format_version` field);
/// bumped when a field changes meaning or goes away, not when one is added.
pub const JSON_FORMAT_VERSION: u32 = 1;

/// Writes `replay` as one compact JSON document to `writer`.
///
/// # Errors
/// The writer's I/O errors.
pub fn json(replay: &Replay, writer: impl Write) -> Result<(), io::Error> {
    let mut w = BufWriter::new(writer);
    serde_json::to_writer(&mut w, replay)?;
    w.write_all(b"\n")?;
    w.flush()
}

/// Writes `replay` as one indented JSON document to `writer`.
///
/// # Errors
/// The writer's I/O errors.
pub fn json_pretty(replay: &Replay, writer: impl Write) -> Result<(), io::Error> {
    let mut w = BufWriter::new(writer);
    serde_json::to_writer_pretty(&mut w, replay)?;
    w.write_all(b"\n")?;
    w.flush()
}

/// Creates (or truncates) the file at `path` and writes `replay` to it as
/// compact JSON.
///
/// # Errors
/// [`Error::Export`], naming `path`, when the file cannot be created or written.
pub fn json_to_path(replay: &Replay, path: &Path) -> Result<(), Error> {
    let export = |source| Error::Export { path: path.to_path_buf(), source };
    let file = File::create(path).map_err(export)?;
    json(replay, &file).map_err(export)?;
    file.sync_all().map_err(export)
}

/// The document: borrowed views of the replay, in the order docs/JSON.md lists them.
#[derive(Serialize)]
struct Document<'a> {
    format_version: u32,
    recording: Recording<'a>,
    summary: &'a Totals,
    threads: &'a [ThreadStats],
    largest_leaks: &'a [Leak],
    lifetime_histogram: &'a [Bucket],
    size_histogram: &'a [Bucket],
    timeline: &'a [TimelinePoint],
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
    rounds: u64,
    damage_count: u64,
    damaged_bytes: u64,
    damage: Vec<DamageView>,
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

/// Serialises as the document of docs/JSON.md (what [`json`] writes).
impl Serialize for Replay {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let h = &self.header;
        Document {
            format_version: JSON_FORMAT_VERSION,
            recording: Recording {
                version: h.version,
                pid: h.pid,
                start_unix_ns: h.start_unix_ns,
                start_monotonic_ns: h.start_monotonic_ns,
                ring_capacity: h.ring_capacity,
                on_full: h.on_full,
                file_bytes: self.file_bytes,
                finished: self.finished,
                end: self.end.as_ref(),
                rounds: self.rounds,
                damage_count: self.damage_count,
                damaged_bytes: self.damaged_bytes,
                damage: self.damage.iter().map(DamageView::from).collect(),
            },
            summary: &self.summary,
            threads: &self.threads,
            largest_leaks: &self.largest_leaks,
            lifetime_histogram: &self.lifetime_histogram,
            size_histogram: &self.size_histogram,
            timeline: &self.timeline,
        }
        .serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{self, ChunkEncoder, RawEvent, SegmentHeader, VERSION};
    use serde_json::Value;

    fn sample() -> Replay {
        let header =
            SegmentHeader { version: VERSION, start_unix_ns: 7, start_monotonic_ns: 8, pid: 42, ring_capacity: 64, on_full: OnFull::Drop };
        let mut out = header.encode().to_vec();
        let mut enc = ChunkEncoder::default();
        let mut name = [0u8; 16];
        name[..4].copy_from_slice(b"main");
        enc.put_events(
            &mut out,
            1,
            0,
            &[
                RawEvent::thread_start(1, 99, name),
                RawEvent::alloc(10, 0x1000, 100, 8, false),
                RawEvent::alloc(20, 0x2000, 5, 8, false),
                RawEvent::dealloc(30, 0x2000, 5, 8),
            ],
        );
        let damaged_at = out.len();
        enc.put_events(&mut out, 1, 1, &[RawEvent::alloc(40, 0x3000, 1, 1, false)]);
        out[damaged_at + 40] ^= 0x55;
        format::put_round(&mut out, 0, 50);
        format::put_end(&mut out, 5, 0, 60);
        Replay::from_reader(&out[..], "sample".as_ref()).expect("replays")
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
        assert_eq!(v["summary"]["live_bytes"], 100);
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
