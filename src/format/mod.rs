//! The on-disk format: segment header, records, chunk payloads.
//!
//! FORMAT.md is the normative spec; the constants here mirror its tables
//! byte for byte. Changing any layout means bumping [`VERSION`] and adding a
//! golden file under `tests/golden/`.
//!
//! This module is plain safe code shared by the record side (which writes)
//! and replay (which reads); it depends on neither.

pub mod codec;
pub mod event;
// Under loom only the record side's protocols build: nothing uses the table there.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) mod live;
mod reader;
pub mod sampling;
pub mod stacks;
pub mod symbols;

pub use event::{Event, RawEvent};
pub use reader::{Damage, DamageKind, EventChunk, HeaderError, Reader, Record};
pub use sampling::{SamplingRecord, TotalsRecord};

/// The first 8 bytes of every segment.
pub const MAGIC: [u8; 8] = *b"MEMSCOPE";
/// The format version this crate writes and the newest it reads. Version 2
/// added the tracking events and the `Site` and `Text` records; version 3
/// call stacks (a stack id on every allocation and reallocation, the
/// `Stack`, `Module` and `Symbols` records); version 4 a return stamp on
/// every reallocation, exact Round watermarks and the End record's flags;
/// version 5 the bit-packed payload and the Clock record (timestamps may
/// come from the TSC); version 6 sampling by bytes (the Sampling and
/// Totals records) and segments (the Segment and Checkpoint records, End
/// flag [`END_CONTINUED`], chunk sequence numbers that go on across a
/// recording's segments); version 7 the Checkpoint events record (thread
/// names and tracking state at a segment's start); version 8 the chunk
/// payload's model (the descriptor before or riding on the timestamp, nine
/// timestamp contexts, reallocations against the chunk's live
/// allocations, address deltas by their length's change).
/// A reader of version 8 reads versions 1 to 7 (FORMAT.md, "Versions").
pub const VERSION: u32 = 8;
/// The oldest format version this crate reads.
pub const OLDEST_VERSION: u32 = 1;
/// Length of the segment header in bytes.
pub const SEGMENT_HEADER_LEN: usize = 48;

/// The 4 bytes that open every record; a reader scans for them to resynchronise.
pub const RECORD_SYNC: [u8; 4] = *b"MSrc";
/// Length of the common record header in bytes (before the tag's fields).
pub const RECORD_HEADER_LEN: usize = 16;

/// Record tag: one thread's chunk of events.
pub const TAG_EVENTS: u8 = 1;
/// Record tag: the end of one drain round, with its watermark.
pub const TAG_ROUND: u8 = 2;
/// Record tag: the end of the recording, with its totals.
pub const TAG_END: u8 = 3;

/// Record tag (version 2): a tracking site's name, file, line and type.
pub const TAG_SITE: u8 = 4;
/// Record tag (version 2): the text behind a string key (a type name or a label).
pub const TAG_TEXT: u8 = 5;

/// Record tag (version 3): new nodes of the call-stack tree.
pub const TAG_STACK: u8 = 6;
/// Record tag (version 3): one loaded object of the module map.
pub const TAG_MODULE: u8 = 7;
/// Record tag (version 3): symbols embedded by `memscope symbolize`.
pub const TAG_SYMBOLS: u8 = 8;
/// Record tag (version 5): how the recording's clock became nanoseconds.
pub const TAG_CLOCK: u8 = 9;
/// Record tag (version 6): the recording samples allocations by bytes.
pub const TAG_SAMPLING: u8 = 10;
/// Record tag (version 6): one thread's exact counts of calls, in sampling mode.
pub const TAG_TOTALS: u8 = 11;
/// Length of the [`TAG_CLOCK`] fields in bytes.
pub const CLOCK_FIELDS_LEN: usize = 40;
/// Record tag (version 6): which recording a segment belongs to and where
/// it sits in it (FORMAT.md, "Segment record").
pub const TAG_SEGMENT: u8 = 12;
/// Length of the [`TAG_SEGMENT`] fields in bytes.
pub const SEGMENT_FIELDS_LEN: usize = 32;
/// Record tag (version 6): allocations live when a segment starts
/// (FORMAT.md, "Checkpoint record").
pub const TAG_CHECKPOINT: u8 = 13;
/// Length of the [`TAG_CHECKPOINT`] fields in bytes.
pub const CHECKPOINT_FIELDS_LEN: usize = 16;
/// Record tag (version 7): one thread's events a segment repeats at its
/// start for its names and tracking state (its start, open scopes, named
/// variables and foreign memory still live), laid out as an Events record
/// (FORMAT.md, "Checkpoint events record").
pub const TAG_CHECKPOINT_EVENTS: u8 = 14;
/// The most live allocations one Checkpoint record holds; a larger live
/// set takes several records.
pub const MAX_CHECKPOINT_ENTRIES: usize = 1 << 16;
/// Clock source: `CLOCK_MONOTONIC`, whose ticks are nanoseconds.
pub const CLOCK_MONOTONIC: u8 = 0;
/// Clock source: the CPU's invariant time-stamp counter.
pub const CLOCK_TSC: u8 = 1;
/// [`ClockRecord::at`]: written at the start, after the segment header.
pub const CLOCK_AT_START: u8 = 0;
/// [`ClockRecord::at`]: written at the end, before the End record.
pub const CLOCK_AT_END: u8 = 1;

/// Length of the [`TAG_STACK`] fields in bytes.
pub const STACK_FIELDS_LEN: usize = 16;
/// Length of the [`TAG_MODULE`] fields in bytes.
pub const MODULE_FIELDS_LEN: usize = 32;
/// Length of the [`TAG_SYMBOLS`] fields in bytes.
pub const SYMBOLS_FIELDS_LEN: usize = 8;
/// The most nodes one `Stack` record holds.
pub const MAX_STACK_NODES: usize = 1 << 16;
/// The most entries (addresses) one `Symbols` record holds.
pub const MAX_SYMBOLS_ENTRIES: usize = 4096;
/// The longest build id a `Module` record holds, in bytes.
pub const MAX_BUILD_ID_LEN: usize = 64;

/// Site kind: `track_var!`.
pub const SITE_VAR: u8 = 1;
/// Site kind: `track_clone!`.
pub const SITE_CLONE: u8 = 2;
/// Site kind: `track_scope!`.
pub const SITE_SCOPE: u8 = 3;

/// Length of the [`TAG_SITE`] fields in bytes.
pub const SITE_FIELDS_LEN: usize = 40;
/// Length of the [`TAG_TEXT`] fields in bytes.
pub const TEXT_FIELDS_LEN: usize = 16;
/// The longest text a `Site` or `Text` body holds, in bytes.
pub const MAX_TEXT_LEN: u32 = 1 << 20;

/// Length of the [`TAG_EVENTS`] fields in bytes.
pub const EVENTS_FIELDS_LEN: usize = 32;
/// Length of the [`TAG_ROUND`] fields in bytes.
pub const ROUND_FIELDS_LEN: usize = 16;
/// Length of the [`TAG_END`] fields in bytes, versions 1 to 3.
pub const END_FIELDS_LEN: usize = 24;
/// Length of the [`TAG_END`] fields in bytes from version 4 (with flags).
pub const END_FIELDS_LEN_V4: usize = 32;
/// End flag: the recording was finished by the `atexit` hook, at process
/// exit: what is live at its end leaked.
pub const END_AT_EXIT: u64 = 1;
/// End flag: when the recording started, the global allocator was not
/// `memscope::TrackingAllocator`: no allocation could be recorded.
pub const END_NO_TRACKING_ALLOCATOR: u64 = 2;
/// End flag: the program asked to treat what is live at the end as leaks
/// (`Recorder::treat_live_at_end_as_leaks`).
pub const END_LEAKS_ASKED: u64 = 4;
/// End flag (version 6): the segment was closed at a rotation; the
/// recording goes on in the segment with the next index.
pub const END_CONTINUED: u64 = 8;

/// The largest compressed body or decompressed payload a reader accepts, in
/// bytes (16 MiB). The drainer stays far below: a chunk holds at most 2^16
/// events, under 2 MiB of payload.
pub const MAX_BODY_LEN: u32 = 16 << 20;
/// The most events one chunk holds (`event_count`): the drainer cuts a
/// ring's events into chunks of at most this many. A chunk claiming more
/// was not written by memscope and is damage.
pub const MAX_CHUNK_EVENTS: u32 = 1 << 16;

/// The largest decompressed payload of a chunk of `event_count` events, in
/// bytes: each event takes at most [`codec::MAX_EVENT_BYTES`], after a
/// header of at most [`codec::MAX_PAYLOAD_HEADER_BYTES`] (version 5). A
/// longer `raw_len` is damage, found before decompressing.
pub const fn max_payload_len(event_count: u32) -> u64 {
    event_count as u64 * codec::MAX_EVENT_BYTES as u64 + codec::MAX_PAYLOAD_HEADER_BYTES as u64
}

/// The largest tag-fields length a reader accepts, in bytes.
pub const MAX_FIELDS_LEN: u16 = 256;

/// What a full ring does, as stored in the segment header (byte 40).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFull {
    /// The producing thread waits for the drainer: no event is lost (code 0).
    #[default]
    Block,
    /// The event is dropped and counted (code 1).
    Drop,
}

/// The segment header (FORMAT.md, "Segment header").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Format version.
    pub version: u32,
    /// Wall-clock time of the epoch, in nanoseconds since the UNIX epoch.
    pub start_unix_ns: u64,
    /// `CLOCK_MONOTONIC` at the epoch, in nanoseconds.
    pub start_monotonic_ns: u64,
    /// Process id of the recorded program.
    pub pid: u32,
    /// Capacity of each thread's ring, in events.
    pub ring_capacity: u32,
    /// The full-ring policy of the recording.
    pub on_full: OnFull,
}

fn crc(parts: &[&[u8]]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for p in parts {
        h.update(p);
    }
    h.finalize()
}

impl SegmentHeader {
    /// Encodes the header into its 48 bytes.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut b = [0u8; SEGMENT_HEADER_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&self.version.to_le_bytes());
        b[12..16].copy_from_slice(&(SEGMENT_HEADER_LEN as u32).to_le_bytes());
        b[16..24].copy_from_slice(&self.start_unix_ns.to_le_bytes());
        b[24..32].copy_from_slice(&self.start_monotonic_ns.to_le_bytes());
        b[32..36].copy_from_slice(&self.pid.to_le_bytes());
        b[36..40].copy_from_slice(&self.ring_capacity.to_le_bytes());
        b[40] = match self.on_full {
            OnFull::Block => 0,
            OnFull::Drop => 1,
        };
        let c = crc(&[&b[..44]]);
        b[44..48].copy_from_slice(&c.to_le_bytes());
        b
    }
}

/// Appends one record: the common header, the tag's `fields`, and `body`.
fn put_record(out: &mut Vec<u8>, tag: u8, fields: &[u8], body: &[u8]) {
    let mut h = [0u8; RECORD_HEADER_LEN];
    h[0..4].copy_from_slice(&RECORD_SYNC);
    h[4] = tag;
    h[5] = 0;
    h[6..8].copy_from_slice(&(fields.len() as u16).to_le_bytes());
    h[8..12].copy_from_slice(&(body.len() as u32).to_le_bytes());
    let c = crc(&[&h[..12], fields]);
    h[12..16].copy_from_slice(&c.to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(fields);
    out.extend_from_slice(body);
}

/// Reusable buffers for encoding chunks; keeps the drainer from allocating per chunk.
#[derive(Debug, Default)]
pub struct ChunkEncoder {
    payload: Vec<u8>,
    compressed: Vec<u8>,
}

impl ChunkEncoder {
    /// Appends one [`TAG_EVENTS`] record holding `events` of `thread` to `out`
    /// and returns the record's length in bytes. `events` must not be empty;
    /// `stacks` gives each event's stack id in the file (empty: none), as
    /// [`codec::encode_payload`] says.
    pub fn put_events(&mut self, out: &mut Vec<u8>, thread: u32, sequence: u64, events: &[RawEvent], stacks: &[u32]) -> usize {
        self.put_events_returned(out, thread, sequence, events, stacks, &[])
    }

    /// [`ChunkEncoder::put_events`], with each reallocation's return stamp
    /// in `returned` (empty, or as long as `events`; 0: none), as
    /// [`codec::encode_payload`] says.
    pub fn put_events_returned(
        &mut self,
        out: &mut Vec<u8>,
        thread: u32,
        sequence: u64,
        events: &[RawEvent],
        stacks: &[u32],
        returned: &[u64],
    ) -> usize {
        self.put_chunk(out, TAG_EVENTS, thread, sequence, events, stacks, returned)
    }

    /// Appends one [`TAG_CHECKPOINT_EVENTS`] record (version 7) holding
    /// `events` of `thread` (not empty, in timestamp order; sequence 0: the
    /// record is not a chunk of the numbering) and returns its length in bytes.
    pub fn put_checkpoint_events(&mut self, out: &mut Vec<u8>, thread: u32, events: &[RawEvent]) -> usize {
        self.put_chunk(out, TAG_CHECKPOINT_EVENTS, thread, 0, events, &[], &[])
    }

    #[allow(clippy::too_many_arguments)]
    fn put_chunk(
        &mut self,
        out: &mut Vec<u8>,
        tag: u8,
        thread: u32,
        sequence: u64,
        events: &[RawEvent],
        stacks: &[u32],
        returned: &[u64],
    ) -> usize {
        debug_assert!(!events.is_empty());
        let first_ts = events.first().map_or(0, RawEvent::ts_ns);
        self.payload.clear();
        codec::encode_payload(events, stacks, returned, first_ts, &mut self.payload);
        // Grown, never shrunk nor cleared: zeroing up to 2 MiB before every
        // chunk would cost more than compressing a small one.
        let bound = lz4_flex::block::get_maximum_output_size(self.payload.len());
        if self.compressed.len() < bound {
            self.compressed.resize(bound, 0);
        }
        let n = lz4_flex::block::compress_into(&self.payload, &mut self.compressed[..bound])
            .expect("the output buffer is sized by get_maximum_output_size");
        let body = &self.compressed[..n];
        let mut f = [0u8; EVENTS_FIELDS_LEN];
        f[0..4].copy_from_slice(&thread.to_le_bytes());
        f[4..8].copy_from_slice(&(events.len() as u32).to_le_bytes());
        f[8..16].copy_from_slice(&sequence.to_le_bytes());
        f[16..20].copy_from_slice(&(self.payload.len() as u32).to_le_bytes());
        f[20..24].copy_from_slice(&crc(&[body]).to_le_bytes());
        // The top byte is the format version (FORMAT.md, "Events record"):
        // timestamps take 56 bits.
        f[24..32].copy_from_slice(&(first_ts | u64::from(VERSION as u8) << 56).to_le_bytes());
        let before = out.len();
        put_record(out, tag, &f, body);
        out.len() - before
    }
}

/// Appends a [`TAG_ROUND`] record: every event with a timestamp below
/// `watermark_ns` that was pushed before the round began is in an earlier record.
pub fn put_round(out: &mut Vec<u8>, round: u64, watermark_ns: u64) {
    let mut f = [0u8; ROUND_FIELDS_LEN];
    f[0..8].copy_from_slice(&round.to_le_bytes());
    f[8..16].copy_from_slice(&watermark_ns.to_le_bytes());
    put_record(out, TAG_ROUND, &f, &[]);
}

/// A tracking site as a `Site` record carries it (FORMAT.md, "Site record").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteRecord {
    /// The site key events carry.
    pub key: u64,
    /// [`SITE_VAR`], [`SITE_CLONE`] or [`SITE_SCOPE`] (other values: unknown kinds, kept as read).
    pub kind: u8,
    /// The variable's expression text (`stringify!`) or the scope's name.
    pub name: String,
    /// The source file (`file!()`).
    pub file: String,
    /// The line (`line!()`), counting from 1.
    pub line: u32,
    /// The column (`column!()`), counting from 1.
    pub column: u32,
    /// The string key of the type the site was first used with (0: none, as for scopes).
    pub type_key: u64,
}

/// Appends a [`TAG_SITE`] record. Texts longer than [`MAX_TEXT_LEN`] are cut
/// at a character boundary.
pub fn put_site(out: &mut Vec<u8>, site: &SiteRecord) {
    let name = cut(&site.name, MAX_TEXT_LEN as usize / 2);
    let file = cut(&site.file, MAX_TEXT_LEN as usize / 2);
    let mut f = [0u8; SITE_FIELDS_LEN];
    f[0..8].copy_from_slice(&site.key.to_le_bytes());
    f[8] = site.kind;
    f[12..16].copy_from_slice(&site.line.to_le_bytes());
    f[16..20].copy_from_slice(&site.column.to_le_bytes());
    f[20..24].copy_from_slice(&(name.len() as u32).to_le_bytes());
    f[24..32].copy_from_slice(&site.type_key.to_le_bytes());
    f[32..36].copy_from_slice(&crc(&[name.as_bytes(), file.as_bytes()]).to_le_bytes());
    let mut body = Vec::with_capacity(name.len() + file.len());
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(file.as_bytes());
    put_record(out, TAG_SITE, &f, &body);
}

/// Appends a [`TAG_TEXT`] record giving the text of string key `key`.
pub fn put_text(out: &mut Vec<u8>, key: u64, text: &str) {
    let text = cut(text, MAX_TEXT_LEN as usize);
    let mut f = [0u8; TEXT_FIELDS_LEN];
    f[0..8].copy_from_slice(&key.to_le_bytes());
    f[8..12].copy_from_slice(&crc(&[text.as_bytes()]).to_le_bytes());
    put_record(out, TAG_TEXT, &f, text.as_bytes());
}

fn cut(s: &str, max: usize) -> &str {
    let mut n = s.len().min(max);
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    &s[..n]
}

/// Appends a [`TAG_STACK`] record: `nodes` get the ids `first_id`,
/// `first_id + 1`, … Each node's parent is 0 or an id below its own.
/// At most [`MAX_STACK_NODES`] nodes.
pub fn put_stack_nodes(out: &mut Vec<u8>, first_id: u32, nodes: &[stacks::StackNode]) {
    debug_assert!(nodes.len() <= MAX_STACK_NODES);
    let mut body = Vec::with_capacity(nodes.len() * 8);
    for n in nodes {
        codec::put_varint(&mut body, u64::from(n.parent));
        codec::put_varint(&mut body, n.address);
    }
    let mut f = [0u8; STACK_FIELDS_LEN];
    f[0..4].copy_from_slice(&first_id.to_le_bytes());
    f[4..8].copy_from_slice(&(nodes.len() as u32).to_le_bytes());
    f[8..12].copy_from_slice(&crc(&[&body]).to_le_bytes());
    put_record(out, TAG_STACK, &f, &body);
}

/// Appends a [`TAG_MODULE`] record. A build id longer than
/// [`MAX_BUILD_ID_LEN`] bytes is cut, a path longer than [`MAX_TEXT_LEN`].
pub fn put_module(out: &mut Vec<u8>, m: &stacks::ModuleRecord) {
    let build_id = &m.build_id[..m.build_id.len().min(MAX_BUILD_ID_LEN)];
    let path = cut(&m.path, MAX_TEXT_LEN as usize);
    let mut body = Vec::with_capacity(build_id.len() + path.len());
    body.extend_from_slice(build_id);
    body.extend_from_slice(path.as_bytes());
    let mut f = [0u8; MODULE_FIELDS_LEN];
    f[0..8].copy_from_slice(&m.load_bias.to_le_bytes());
    f[8..16].copy_from_slice(&m.start.to_le_bytes());
    f[16..24].copy_from_slice(&m.end.to_le_bytes());
    f[24..28].copy_from_slice(&crc(&[&body]).to_le_bytes());
    f[28..30].copy_from_slice(&(build_id.len() as u16).to_le_bytes());
    put_record(out, TAG_MODULE, &f, &body);
}

/// Appends [`TAG_SYMBOLS`] records holding `entries` (return address →
/// lines, innermost first), as many as keep each body under
/// [`MAX_BODY_LEN`]: at most [`MAX_SYMBOLS_ENTRIES`] entries each.
pub fn put_symbols(out: &mut Vec<u8>, entries: &[(u64, Vec<stacks::Line>)]) {
    for part in entries.chunks(MAX_SYMBOLS_ENTRIES) {
        let mut body = Vec::new();
        symbols::encode_symbols(part, &mut body);
        let mut f = [0u8; SYMBOLS_FIELDS_LEN];
        f[0..4].copy_from_slice(&crc(&[&body]).to_le_bytes());
        put_record(out, TAG_SYMBOLS, &f, &body);
    }
}

/// A Clock record (version 5): how timestamps were derived. Every
/// timestamp in the file is `((ticks - epoch_ticks) * mult) >> shift`
/// nanoseconds, `ticks` being the raw clock of `source` when the event was
/// stamped; (`ticks`, `monotonic_ns`) is a reading of that clock together
/// with `CLOCK_MONOTONIC`: at the start, the earlier reading the rate was
/// measured from (up to the epoch, whose `CLOCK_MONOTONIC` is the segment
/// header's `start_monotonic_ns`); at the end, one taken when the recording
/// ended (FORMAT.md, "Clock record").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClockRecord {
    /// [`CLOCK_MONOTONIC`] or [`CLOCK_TSC`].
    pub source: u8,
    /// [`CLOCK_AT_START`] or [`CLOCK_AT_END`].
    pub at: u8,
    /// The fixed-point shift of `mult`.
    pub shift: u8,
    /// Nanoseconds per tick, times 2^`shift`.
    pub mult: u64,
    /// The raw clock at the epoch, in ticks.
    pub epoch_ticks: u64,
    /// A reading of the raw clock, in ticks.
    pub ticks: u64,
    /// `CLOCK_MONOTONIC` read with `ticks`, in ns.
    pub monotonic_ns: u64,
}

impl ClockRecord {
    /// Ticks of the raw clock (not since the epoch) → ns since the epoch,
    /// as the recorder converted them (0 before the epoch).
    pub fn ticks_to_ns(&self, ticks: u64) -> u64 {
        ((u128::from(ticks.saturating_sub(self.epoch_ticks)) * u128::from(self.mult)) >> self.shift.min(127)) as u64
    }
}

/// Appends a [`TAG_CLOCK`] record (version 5).
pub fn put_clock(out: &mut Vec<u8>, c: &ClockRecord) {
    let mut f = [0u8; CLOCK_FIELDS_LEN];
    f[0] = c.source;
    f[1] = c.at;
    f[2] = c.shift;
    f[8..16].copy_from_slice(&c.mult.to_le_bytes());
    f[16..24].copy_from_slice(&c.epoch_ticks.to_le_bytes());
    f[24..32].copy_from_slice(&c.ticks.to_le_bytes());
    f[32..40].copy_from_slice(&c.monotonic_ns.to_le_bytes());
    put_record(out, TAG_CLOCK, &f, &[]);
}

/// Appends the [`TAG_END`] record that closes a finished recording.
/// `flags` are [`END_AT_EXIT`], [`END_NO_TRACKING_ALLOCATOR`] and
/// [`END_LEAKS_ASKED`] (version 4).
pub fn put_end(out: &mut Vec<u8>, events_written: u64, events_lost: u64, end_ns: u64, flags: u64) {
    let mut f = [0u8; END_FIELDS_LEN_V4];
    f[0..8].copy_from_slice(&events_written.to_le_bytes());
    f[8..16].copy_from_slice(&events_lost.to_le_bytes());
    f[16..24].copy_from_slice(&end_ns.to_le_bytes());
    f[24..32].copy_from_slice(&flags.to_le_bytes());
    put_record(out, TAG_END, &f, &[]);
}

/// The Segment record of a segmented recording (version 6; FORMAT.md,
/// "Segment record").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct SegmentRecord {
    /// The recording's id, random, the same in each of its segments.
    pub recording_id: u64,
    /// The segment's index in the recording, from 0.
    pub index: u64,
    /// The `sequence` of the segment's first chunk: one past the last
    /// chunk of the segment before it.
    pub first_sequence: u64,
    /// The number of the segment's first Round record.
    pub first_round: u64,
}

/// Appends a [`TAG_SEGMENT`] record (version 6).
pub fn put_segment(out: &mut Vec<u8>, s: &SegmentRecord) {
    let mut f = [0u8; SEGMENT_FIELDS_LEN];
    f[0..8].copy_from_slice(&s.recording_id.to_le_bytes());
    f[8..16].copy_from_slice(&s.index.to_le_bytes());
    f[16..24].copy_from_slice(&s.first_sequence.to_le_bytes());
    f[24..32].copy_from_slice(&s.first_round.to_le_bytes());
    put_record(out, TAG_SEGMENT, &f, &[]);
}

/// One live allocation of a Checkpoint record (version 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CheckpointEntry {
    /// Its address.
    pub ptr: u64,
    /// Its size in bytes.
    pub size: u64,
    /// The recorder id of the thread that allocated it.
    pub thread: u32,
    /// When it was allocated, ns since the epoch (a reallocation keeps it).
    pub ts_ns: u64,
    /// The stack id of its site (its last reallocation's, if any; 0: none).
    pub stack: u32,
}

/// One Checkpoint record: part of the live set at a segment's start.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckpointRecord {
    /// Live allocations in the whole checkpoint, over all its records.
    pub total: u64,
    /// This record's allocations.
    pub entries: Vec<CheckpointEntry>,
}

/// Appends [`TAG_CHECKPOINT`] records holding `entries` (version 6): at
/// most [`MAX_CHECKPOINT_ENTRIES`] each, and one record with no entry when
/// `entries` is empty. `scratch` is reused for the body.
pub fn put_checkpoint(out: &mut Vec<u8>, entries: &[CheckpointEntry], scratch: &mut Vec<u8>) {
    let total = entries.len() as u64;
    let mut parts = entries.chunks(MAX_CHECKPOINT_ENTRIES).peekable();
    if parts.peek().is_none() {
        put_checkpoint_part(out, total, &[], scratch);
    }
    for part in parts {
        put_checkpoint_part(out, total, part, scratch);
    }
}

fn put_checkpoint_part(out: &mut Vec<u8>, total: u64, part: &[CheckpointEntry], body: &mut Vec<u8>) {
    body.clear();
    for e in part {
        codec::put_varint(body, e.ptr);
        codec::put_varint(body, e.size);
        codec::put_varint(body, u64::from(e.thread));
        codec::put_varint(body, e.ts_ns);
        codec::put_varint(body, u64::from(e.stack));
    }
    let mut f = [0u8; CHECKPOINT_FIELDS_LEN];
    f[0..4].copy_from_slice(&(part.len() as u32).to_le_bytes());
    f[4..8].copy_from_slice(&crc(&[body]).to_le_bytes());
    f[8..16].copy_from_slice(&total.to_le_bytes());
    put_record(out, TAG_CHECKPOINT, &f, body);
}

/// The name of the lock file in a segment directory (FORMAT.md, "Segments").
pub const SEGMENT_LOCK_FILE: &str = "lock";

/// The file name of segment `index` in a segment directory: its index in
/// six digits at least, then `.memscope` (`000042.memscope`).
pub fn segment_file_name(index: u64) -> String {
    format!("{index:06}.memscope")
}

/// The index a segment file name gives: `None` for any other name.
pub fn segment_file_index(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".memscope")?;
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}
