//! The streaming reader: segment header, then one record at a time, with
//! resynchronisation after damage (FORMAT.md, "Reading and damage").

use super::codec::{decode_payload, Cursor, PayloadError, EXACT_ORDER_SINCE_VERSION};
use super::stacks::{Line, ModuleRecord, StackNode};
use super::*;
use std::io::{self, Read};

/// One record read from a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Record {
    /// One thread's chunk of events.
    Events(EventChunk),
    /// The end of one drain round.
    Round {
        /// The round number, counting from 0.
        round: u64,
        /// Every event stamped before this (ns since the epoch) and pushed
        /// before the round began is in an earlier record.
        watermark_ns: u64,
    },
    /// The end of the recording.
    End {
        /// Events the drainer wrote, over all threads.
        events_written: u64,
        /// Events lost, over all threads.
        events_lost: u64,
        /// When the recording ended, ns since the epoch.
        end_ns: u64,
        /// `END_AT_EXIT`, `END_NO_TRACKING_ALLOCATOR` (version 4; 0 before).
        flags: u64,
    },
    /// A tracking site (version 2).
    Site(SiteRecord),
    /// The text of a string key (version 2).
    Text {
        /// The string key.
        key: u64,
        /// Its text (invalid UTF-8 replaced by U+FFFD).
        text: String,
    },
    /// New nodes of the call-stack tree (version 3): ids `first_id`,
    /// `first_id + 1`, … in order.
    Stack {
        /// The id of the first node.
        first_id: u32,
        /// The nodes.
        nodes: Vec<StackNode>,
    },
    /// One loaded object of the module map (version 3).
    Module(ModuleRecord),
    /// How the recording's timestamps were derived from its clock (version 5).
    Clock(ClockRecord),
    /// Embedded symbols (version 3): return address → its lines, innermost first.
    Symbols(Vec<(u64, Vec<Line>)>),
    /// Which recording the segment belongs to and where it sits (version 6).
    Segment(SegmentRecord),
    /// Part of the live set at the segment's start (version 6).
    Checkpoint(CheckpointRecord),
    /// The recording samples allocations by bytes (version 6).
    Sampling(SamplingRecord),
    /// One thread's exact counts of calls in a sampling recording (version 6).
    Totals(TotalsRecord),
    /// Events a segment repeats at its start, after its Checkpoint (version
    /// 7): one thread's start, open scopes, named variables and foreign
    /// memory still live. Applied only where the Checkpoint seeds the live
    /// set; `sequence` is 0 and not part of the chunk numbering.
    CheckpointEvents(EventChunk),
}

/// One thread's chunk of events, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventChunk {
    /// Byte offset of the record in the file.
    pub offset: u64,
    /// The recorder's id of the thread (not the OS id).
    pub thread: u32,
    /// The chunk's number in the segment, over all threads, counting from 0.
    pub sequence: u64,
    /// The events, in the order the thread pushed them.
    pub events: Vec<Event>,
    /// The record's length on disk in bytes.
    pub len_bytes: u64,
}

/// What was wrong with a damaged record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DamageKind {
    /// No record sync bytes where a record should start.
    #[error("no record starts here")]
    NoSync,
    /// The record header's checksum does not match.
    #[error("record header checksum mismatch")]
    HeaderChecksum,
    /// A length field exceeds the limits of FORMAT.md.
    #[error("record length out of range")]
    BadLength,
    /// A tag this version does not define.
    #[error("unknown record tag {0}")]
    UnknownTag(u8),
    /// The body's checksum does not match.
    #[error("chunk checksum mismatch: expected {expected:#010x}, found {actual:#010x}")]
    ChecksumMismatch {
        /// The checksum in the chunk header.
        expected: u32,
        /// The checksum of the bytes read.
        actual: u32,
    },
    /// LZ4 decompression failed or gave the wrong length.
    #[error("lz4 decompression failed")]
    Decompress,
    /// The decompressed payload is malformed.
    #[error("bad payload: {0}")]
    Payload(PayloadError),
    /// The file ends inside a record.
    #[error("file ends inside a record (truncated)")]
    Truncated,
    /// The segment header's checksum does not match. With `repaired_byte`,
    /// exactly one byte was wrong and the checksum gave it back: nothing is
    /// lost. Otherwise the fields in `unverified` are taken as read (they
    /// are plausible but may be wrong) and those in `lost` are unknown
    /// (replaced by zero, or inferred: the version from the first chunk).
    /// The records after the header are read as usual.
    #[error("damaged segment header: {}", describe_header_damage(*repaired_byte, unverified, lost))]
    HeaderDamaged {
        /// The one damaged byte (offset in the header), repaired.
        repaired_byte: Option<u8>,
        /// Fields taken as read, unverified.
        unverified: Vec<&'static str>,
        /// Fields lost.
        lost: Vec<&'static str>,
    },
    /// Replay stopped here: the records so far claim more events, or hold
    /// more live allocations, than a recording of this many bytes can
    /// (FORMAT.md, "Limits"); the rest of the file is skipped.
    #[error("replay stopped: {count} {what} after {read_bytes} bytes, more than the {max} a recording of that size holds")]
    OverLimit {
        /// `"events"` or `"live allocations"`.
        what: &'static str,
        /// How many the records so far claim.
        count: u64,
        /// Bytes of the file read.
        read_bytes: u64,
        /// The limit at `read_bytes`.
        max: u64,
    },
    /// A chunk claims more events than the writer ever puts in one.
    #[error("chunk claims {count} events, more than the {max} a chunk holds")]
    TooManyEvents {
        /// Its `event_count`.
        count: u32,
        /// [`MAX_CHUNK_EVENTS`].
        max: u32,
    },
    /// A chunk's `raw_len` is longer than its events can take.
    #[error("chunk payload of {raw_len} bytes is longer than its {count} events can take ({max} bytes)")]
    PayloadTooLong {
        /// Its `raw_len`, in bytes.
        raw_len: u32,
        /// Its `event_count`.
        count: u32,
        /// [`max_payload_len`] of `count`, in bytes.
        max: u64,
    },
    /// Chunks the sequence numbers say were written are not in the file
    /// (reported at the first chunk after the gap, which is kept).
    #[error("chunk(s) missing: sequence {first} to {last} ({} chunk(s)) are not in the file before this record", last - first + 1)]
    MissingChunks {
        /// The first missing sequence number.
        first: u64,
        /// The last missing sequence number.
        last: u64,
    },
    /// A chunk whose sequence number was already read: skipped, never counted twice.
    #[error("repeated chunk: sequence {0} was already read; this copy is skipped")]
    RepeatedChunk(u64),
    /// A chunk that comes after chunks with higher sequence numbers (its
    /// events are replayed, late).
    #[error("chunk out of order: sequence {sequence} comes after sequence {after}")]
    ChunkOutOfOrder {
        /// Its sequence number.
        sequence: u64,
        /// The highest sequence number read before it.
        after: u64,
    },
    /// An Events, Round or End record after the End record: ignored.
    #[error("{0} record after the End record; ignored")]
    AfterEnd(&'static str),
    /// A segment of a directory of segments (version 6) is missing,
    /// foreign, unreadable or cut short (FORMAT.md, "Replay of a
    /// directory"); the damage's offset is 0 and `name` is the segment's
    /// file name.
    #[error("segment {name}: {problem}")]
    Segment {
        /// The segment's file name (`000042.memscope`).
        name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The End record's count of written events differs from the events
    /// the file holds, with no other damage to explain it.
    #[error("the End record counts {written} events written, but the file holds {read}")]
    EventCountMismatch {
        /// `events_written` of the End record.
        written: u64,
        /// Events read (Lost events not included, as in `events_written`).
        read: u64,
    },
}

/// A damaged stretch of the file: where it starts, what was wrong, and how
/// many bytes the reader skipped to find the next good record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Byte offset of the damaged record in the file.
    pub offset: u64,
    /// What was wrong.
    pub kind: DamageKind,
    /// Bytes skipped, from `offset` to the next good record or the end.
    pub skipped_bytes: u64,
}

fn describe_header_damage(repaired_byte: Option<u8>, unverified: &[&str], lost: &[&str]) -> String {
    if let Some(b) = repaired_byte {
        return format!("byte {b} ({}) was wrong and is repaired from the header checksum; nothing is lost", header_field(usize::from(b)));
    }
    let mut s = String::from("checksum mismatch in more than one byte");
    if !unverified.is_empty() {
        s += &format!("; taken as read but unverified: {}", unverified.join(", "));
    }
    if !lost.is_empty() {
        s += &format!("; lost: {}", lost.join(", "));
    }
    s
}

/// The name of the segment header field holding byte `at` (FORMAT.md, "Segment header").
fn header_field(at: usize) -> &'static str {
    match at {
        0..=7 => "magic",
        8..=11 => "version",
        12..=15 => "header length",
        16..=23 => "start_unix_ns",
        24..=31 => "start_monotonic_ns",
        32..=35 => "pid",
        36..=39 => "ring_capacity",
        40 => "on_full",
        41..=43 => "reserved",
        _ => "header_crc",
    }
}

/// What a header whose checksum fails still tells: the header as repaired
/// or as read, and the damage to report.
fn recover_header(b: &[u8]) -> Option<(SegmentHeader, DamageKind, bool)> {
    let stored = le32(b, 44);
    let computed = crc(&[&b[..44]]);
    let plausible = |h: &[u8]| {
        h[..8] == MAGIC && (OLDEST_VERSION..=VERSION).contains(&le32(h, 8)) && le32(h, 12) as usize == SEGMENT_HEADER_LEN && h[40] <= 1
    };
    let parse = |h: &[u8]| SegmentHeader {
        version: le32(h, 8),
        start_unix_ns: le64(h, 16),
        start_monotonic_ns: le64(h, 24),
        pid: le32(h, 32),
        ring_capacity: le32(h, 36),
        on_full: if h[40] == 1 { OnFull::Drop } else { OnFull::Block },
    };
    let differing = (0..4).filter(|&i| stored.to_le_bytes()[i] != computed.to_le_bytes()[i]).count();
    // One byte of the checksum itself: the fields are intact (a damaged
    // field would change all four bytes but for a 2^-24 chance).
    if differing == 1 && plausible(b) {
        let at = (0..4).find(|&i| stored.to_le_bytes()[i] != computed.to_le_bytes()[i]).unwrap_or(0) + 44;
        return Some((parse(b), DamageKind::HeaderDamaged { repaired_byte: Some(at as u8), unverified: vec![], lost: vec![] }, false));
    }
    // One byte of the fields: the one value of the one byte that makes the
    // checksum match (11,220 candidates), when exactly one does.
    let mut found = None;
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h.copy_from_slice(&b[..SEGMENT_HEADER_LEN]);
    for at in 0..44 {
        let was = h[at];
        for v in 0..=255u8 {
            if v == was {
                continue;
            }
            h[at] = v;
            if crc(&[&h[..44]]) == stored {
                if found.is_some() {
                    return unverified(b, &parse);
                }
                found = Some((at, v));
            }
        }
        h[at] = was;
    }
    if let Some((at, v)) = found {
        h[at] = v;
        if plausible(&h) {
            return Some((parse(&h), DamageKind::HeaderDamaged { repaired_byte: Some(at as u8), unverified: vec![], lost: vec![] }, false));
        }
    }
    unverified(b, &parse)
}

/// A header damaged in more than one byte: plausible fields are kept as
/// unverified, the others lost (zero; the version inferred later).
fn unverified(b: &[u8], parse: &dyn Fn(&[u8]) -> SegmentHeader) -> Option<(SegmentHeader, DamageKind, bool)> {
    let mut header = parse(b);
    let (mut unverified, mut lost) = (Vec::new(), Vec::new());
    let version_known = (OLDEST_VERSION..=VERSION).contains(&header.version);
    if version_known {
        unverified.push("version");
    } else {
        header.version = VERSION;
        lost.push("version (inferred from the first chunk)");
    }
    for (name, ok) in [
        ("start_unix_ns", true),
        ("start_monotonic_ns", true),
        ("pid", header.pid != 0),
        ("ring_capacity", header.ring_capacity != 0),
        ("on_full", b[40] <= 1),
    ] {
        if ok {
            unverified.push(name);
        } else {
            lost.push(name);
        }
    }
    if b[40] > 1 {
        header.on_full = OnFull::Block;
    }
    Some((header, DamageKind::HeaderDamaged { repaired_byte: None, unverified, lost }, !version_known))
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            // A whole segment of a directory: no offset to name.
            DamageKind::Segment { .. } => write!(f, "{} ({} bytes skipped)", self.kind, self.skipped_bytes),
            kind => write!(f, "damaged record at byte {}: {kind} ({} bytes skipped)", self.offset, self.skipped_bytes),
        }
    }
}

impl std::error::Error for Damage {}

/// Why a segment could not be opened at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// Reading failed.
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
    /// The file is shorter than a segment header.
    #[error("file is {0} bytes, shorter than a 48-byte memscope header")]
    TooShort(usize),
    /// The magic bytes are wrong.
    #[error("not a memscope recording (bad magic bytes)")]
    NotARecording,
    /// The version is newer than this reader.
    #[error("format version {0} is newer than this reader supports (version {VERSION})")]
    UnsupportedVersion(u32),
    /// The header is malformed.
    #[error("damaged segment header: {0}")]
    Damaged(&'static str),
}

/// Reads a segment from any `Read`, one record at a time, in bounded memory
/// (one record plus a read buffer).
#[derive(Debug)]
pub struct Reader<R> {
    src: R,
    buf: Vec<u8>,
    /// Index in `buf` of the next unread byte.
    pos: usize,
    /// File offset of `buf[0]`.
    base: u64,
    eof: bool,
    header: SegmentHeader,
    scratch: Vec<u8>,
    /// An emptied events buffer given back with [`Reader::recycle`], for the next chunk.
    spare_events: Vec<Event>,
    /// The checks across records (sequence numbers, the End record).
    seq: SequenceCheck,
    /// A good record held back while the damage found in it is returned first.
    queued: Option<Record>,
    /// Damage to the segment header, returned by the first `next_record`.
    header_damage: Option<Damage>,
    /// The header's version was lost: the first chunk that decodes with
    /// some version sets it.
    version_unsure: bool,
    /// Following a file still being written ([`Reader::follow`]): the end of
    /// the source is "not yet", and a record it cuts is waited for.
    follow: bool,
}

/// What the reader knows across records: which chunk sequence numbers it
/// has read, whether damage could explain a gap, and what the End record
/// must agree with (FORMAT.md, "Missing and repeated records").
#[derive(Debug, Default)]
struct SequenceCheck {
    /// The sequence numbers read, as disjoint inclusive ranges (start → end):
    /// one range in an intact file.
    seen: std::collections::BTreeMap<u64, u64>,
    /// One past the highest sequence number read.
    next: u64,
    /// A damaged stretch was skipped since the last good chunk: it may have
    /// held the chunks a gap misses, and was reported already.
    damage_since_chunk: bool,
    /// A damaged stretch was skipped anywhere.
    any_damage: bool,
    /// Events read from kept chunks, Lost events not included.
    events: u64,
    /// An End record was read.
    ended: bool,
}

/// What [`SequenceCheck`] says of a good record.
enum Check {
    Good,
    /// Keep the record, and report this damage before it.
    Before(DamageKind),
    /// Skip the record as damage.
    Skip(DamageKind),
}

impl SequenceCheck {
    /// Whether `sequence` was read already; adds it if not.
    fn insert(&mut self, sequence: u64) -> bool {
        let below = self.seen.range(..=sequence).next_back().map(|(&s, &e)| (s, e));
        if below.is_some_and(|(_, e)| e >= sequence) {
            return false;
        }
        let mut start = sequence;
        let mut end = sequence;
        if let Some((s, e)) = below.filter(|&(_, e)| e.checked_add(1) == Some(sequence)) {
            debug_assert_eq!(e + 1, sequence);
            start = s;
        }
        if let Some(next) = sequence.checked_add(1) {
            if let Some(e) = self.seen.remove(&next) {
                end = e;
            }
        }
        self.seen.insert(start, end);
        true
    }

    fn check(&mut self, record: &Record) -> Check {
        match record {
            Record::Events(_) | Record::Round { .. } | Record::End { .. } if self.ended => {
                Check::Skip(DamageKind::AfterEnd(match record {
                    Record::Events(_) => "an Events",
                    Record::Round { .. } => "a Round",
                    _ => "a second End",
                }))
            }
            Record::Events(chunk) => {
                let s = chunk.sequence;
                if !self.insert(s) {
                    return Check::Skip(DamageKind::RepeatedChunk(s));
                }
                self.events += chunk.events.iter().filter(|e| !matches!(e, Event::Lost { .. })).count() as u64;
                let explained = std::mem::take(&mut self.damage_since_chunk);
                if s >= self.next {
                    let first = self.next;
                    self.next = s.saturating_add(1);
                    if s > first && !explained {
                        // The End record's count cannot be checked past a gap.
                        self.any_damage = true;
                        return Check::Before(DamageKind::MissingChunks { first, last: s - 1 });
                    }
                    Check::Good
                } else {
                    Check::Before(DamageKind::ChunkOutOfOrder { sequence: s, after: self.next - 1 })
                }
            }
            Record::Segment(seg) if self.seen.is_empty() && self.next == 0 => {
                // Sequence numbers go on across a recording's segments: this
                // segment's chunks start at `first_sequence`.
                self.next = seg.first_sequence;
                Check::Good
            }
            &Record::End { events_written, .. } => {
                self.ended = true;
                if events_written != self.events && !self.any_damage {
                    return Check::Before(DamageKind::EventCountMismatch { written: events_written, read: self.events });
                }
                Check::Good
            }
            _ => Check::Good,
        }
    }
}

const READ_BLOCK: usize = 64 << 10;

fn le32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// A record header that passed its checksum.
struct Head {
    tag: u8,
    fields_len: usize,
    body_len: usize,
}

impl<R: Read> Reader<R> {
    /// Reads and checks the segment header.
    ///
    /// # Errors
    /// [`HeaderError`] when the source is not a memscope segment this
    /// version can read.
    pub fn new(src: R) -> Result<Self, HeaderError> {
        let mut r = Reader {
            src,
            buf: Vec::new(),
            pos: 0,
            base: 0,
            eof: false,
            header: SegmentHeader::default_v1(),
            scratch: Vec::new(),
            spare_events: Vec::new(),
            seq: SequenceCheck::default(),
            queued: None,
            header_damage: None,
            version_unsure: false,
            follow: false,
        };
        let have = r.fill(SEGMENT_HEADER_LEN)?;
        let b = &r.buf[..have.min(SEGMENT_HEADER_LEN)];
        if b.len() == SEGMENT_HEADER_LEN && le32(b, 44) != crc(&[&b[..44]]) {
            // A damaged header: read the records anyway, if the file is a
            // recording (its magic holds, or a record starts after it).
            let magic_close = b[..8].iter().zip(MAGIC).filter(|(x, y)| *x != y).count() <= 1;
            let header = recover_header(b);
            // The first record's header and fields, read while `pos` is 0,
            // so that looking at that record never moves the buffer.
            r.fill(SEGMENT_HEADER_LEN + RECORD_HEADER_LEN + usize::from(MAX_FIELDS_LEN))?;
            r.pos = SEGMENT_HEADER_LEN;
            let record_follows = r.fill(RECORD_HEADER_LEN)? == 0 || r.head_at()?.is_ok();
            if let Some((header, kind, version_unsure)) = header.filter(|_| magic_close || record_follows) {
                r.header = header;
                r.version_unsure = version_unsure;
                r.header_damage = Some(Damage { offset: 0, kind, skipped_bytes: 0 });
                return Ok(r);
            }
            r.pos = 0;
        }
        let b = &r.buf[..have.min(SEGMENT_HEADER_LEN)];
        if b.len() < 8 || b[..8] != MAGIC {
            return Err(if have < 8 { HeaderError::TooShort(have) } else { HeaderError::NotARecording });
        }
        if b.len() < 12 {
            return Err(HeaderError::TooShort(have));
        }
        let version = le32(b, 8);
        if version > VERSION {
            return Err(HeaderError::UnsupportedVersion(version));
        }
        if version == 0 {
            return Err(HeaderError::Damaged("version 0"));
        }
        if b.len() < SEGMENT_HEADER_LEN {
            return Err(HeaderError::TooShort(have));
        }
        if le32(b, 12) as usize != SEGMENT_HEADER_LEN {
            return Err(HeaderError::Damaged("header length is not 48"));
        }
        if le32(b, 44) != crc(&[&b[..44]]) {
            return Err(HeaderError::Damaged("header checksum mismatch"));
        }
        let on_full = match b[40] {
            0 => OnFull::Block,
            1 => OnFull::Drop,
            _ => return Err(HeaderError::Damaged("unknown full-ring policy")),
        };
        r.header = SegmentHeader {
            version,
            start_unix_ns: le64(b, 16),
            start_monotonic_ns: le64(b, 24),
            pid: le32(b, 32),
            ring_capacity: le32(b, 36),
            on_full,
        };
        r.pos = SEGMENT_HEADER_LEN;
        Ok(r)
    }

    /// Reads the segment header of a recording that may still be written,
    /// and follows it: [`Reader::next_record`] returns `Ok(None)` when no
    /// complete record is left *yet*, and reads on from there when called
    /// again after the source has grown (a `File` reads the bytes appended
    /// since). A record cut by the end of the source is not damage but not
    /// yet written: it is left unread ([`Reader::pending_bytes`]) and read
    /// whole once its last byte is there. The drainer writes each round's
    /// records with one `write_all`, appending only, so every record before
    /// the end is whole (FORMAT.md, "Following a recording").
    ///
    /// Damage is reported as by [`Reader::new`]'s reader, with one
    /// difference: a damaged stretch that reaches the end of what is
    /// written so far is reported up to there, and what follows it, once
    /// written, is read (or reported) as a new stretch.
    ///
    /// # Errors
    /// As [`Reader::new`]: in particular [`HeaderError::TooShort`] while
    /// fewer than 48 bytes are written (try again with a new reader).
    pub fn follow(src: R) -> Result<Self, HeaderError> {
        let mut r = Reader::new(src)?;
        r.follow = true;
        r.eof = false;
        Ok(r)
    }

    /// Bytes read from the source after the last complete record: the start
    /// of a record not yet whole (only a following reader, [`Reader::follow`],
    /// leaves any; 0 after `Ok(None)` from a file whose last record is whole).
    pub fn pending_bytes(&self) -> u64 {
        (self.buf.len() - self.pos) as u64
    }

    /// The segment header.
    pub fn header(&self) -> &SegmentHeader {
        &self.header
    }

    /// Gives back the events of a chunk [`Reader::next_record`] returned,
    /// once read: the next chunk decodes into the same buffer (no new
    /// allocation and page faults per chunk). Optional.
    pub fn recycle(&mut self, events: Vec<Event>) {
        if events.capacity() > self.spare_events.capacity() {
            self.spare_events = events;
        }
    }

    /// File offset of the next unread byte.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Makes at least `need` bytes available from `pos` unless the source
    /// ends first; returns how many are available.
    fn fill(&mut self, need: usize) -> io::Result<usize> {
        while self.buf.len() - self.pos < need && !self.eof {
            if self.pos > 0 && self.pos >= self.buf.len() / 2 {
                self.buf.drain(..self.pos);
                self.base += self.pos as u64;
                self.pos = 0;
            }
            let old = self.buf.len();
            let want = (need - (old - self.pos)).max(READ_BLOCK);
            self.buf.resize(old + want, 0);
            let n = loop {
                match self.src.read(&mut self.buf[old..]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other,
                }
            };
            let n = match n {
                Ok(n) => n,
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(e);
                }
            };
            self.buf.truncate(old + n);
            if n == 0 {
                self.eof = true;
            }
        }
        Ok(self.buf.len() - self.pos)
    }

    /// Checks the record header at `pos` (needs the header and fields in the buffer).
    fn head_at(&mut self) -> io::Result<Result<Head, DamageKind>> {
        if self.fill(RECORD_HEADER_LEN)? < RECORD_HEADER_LEN {
            return Ok(Err(DamageKind::Truncated));
        }
        let h = &self.buf[self.pos..self.pos + RECORD_HEADER_LEN];
        if h[..4] != RECORD_SYNC {
            return Ok(Err(DamageKind::NoSync));
        }
        let tag = h[4];
        let fields_len = usize::from(u16::from_le_bytes([h[6], h[7]]));
        let body_len = le32(h, 8);
        let want_crc = le32(h, 12);
        if fields_len > usize::from(MAX_FIELDS_LEN) || body_len > MAX_BODY_LEN {
            return Ok(Err(DamageKind::BadLength));
        }
        if self.fill(RECORD_HEADER_LEN + fields_len)? < RECORD_HEADER_LEN + fields_len {
            return Ok(Err(DamageKind::Truncated));
        }
        let h = &self.buf[self.pos..self.pos + RECORD_HEADER_LEN + fields_len];
        if crc(&[&h[..12], &h[RECORD_HEADER_LEN..]]) != want_crc || h[5] != 0 {
            return Ok(Err(DamageKind::HeaderChecksum));
        }
        Ok(Ok(Head { tag, fields_len, body_len: body_len as usize }))
    }

    /// Scans forward from one byte past `pos` to the next record whose header
    /// checks out, or to the end; returns the bytes skipped.
    fn resync(&mut self) -> io::Result<u64> {
        let start = self.offset();
        self.pos += 1;
        loop {
            let avail = self.fill(RECORD_HEADER_LEN)?;
            if avail < RECORD_SYNC.len() {
                // Following: these bytes may start a record not yet written.
                if !self.follow {
                    self.pos = self.buf.len();
                }
                return Ok(self.offset() - start);
            }
            let window = &self.buf[self.pos..];
            match window.windows(4).position(|w| w == RECORD_SYNC) {
                Some(i) => {
                    self.pos += i;
                    match self.head_at()? {
                        Ok(_) => return Ok(self.offset() - start),
                        Err(DamageKind::Truncated) if self.eof => {
                            // Following: a record header not yet whole.
                            if !self.follow {
                                self.pos = self.buf.len();
                            }
                            return Ok(self.offset() - start);
                        }
                        Err(_) => self.pos += 1,
                    }
                }
                // Keep the last 3 bytes: a sync may straddle the next read.
                None => self.pos = self.buf.len() - 3,
            }
        }
    }

    /// Reads the next record.
    ///
    /// Returns `Ok(None)` at the end of the segment (following a file,
    /// [`Reader::follow`]: at the end of what is written so far),
    /// `Ok(Some(Err(damage)))` for a damaged stretch (the reader has already
    /// moved past it, so the next call goes on with the next good record),
    /// and never panics on hostile bytes.
    ///
    /// # Errors
    /// Only the source's I/O errors.
    pub fn next_record(&mut self) -> io::Result<Option<Result<Record, Damage>>> {
        if let Some(damage) = self.header_damage.take() {
            return Ok(Some(Err(damage)));
        }
        if let Some(record) = self.queued.take() {
            return Ok(Some(Ok(record)));
        }
        if self.follow {
            // The end seen before may have moved since: read again.
            self.eof = false;
        }
        if self.fill(1)? == 0 {
            return Ok(None);
        }
        let offset = self.offset();
        let head = self.head_at()?;
        if self.follow && matches!(head, Err(DamageKind::Truncated)) {
            // Not yet written: `pos` is still at the record's start.
            return Ok(None);
        }
        let kind = match head {
            Ok(head) => match self.read_body(offset, &head)? {
                // Not yet written whole: `pos` is still at the record's start.
                Err(DamageKind::Truncated) if self.follow => return Ok(None),
                Ok(record) => {
                    return Ok(Some(match self.seq.check(&record) {
                        Check::Good => Ok(record),
                        Check::Before(kind) => {
                            self.queued = Some(record);
                            Err(Damage { offset, kind, skipped_bytes: 0 })
                        }
                        Check::Skip(kind) => Err(Damage { offset, kind, skipped_bytes: self.offset() - offset }),
                    }))
                }
                Err(kind) => kind,
            },
            Err(kind) => kind,
        };
        self.seq.damage_since_chunk = true;
        self.seq.any_damage = true;
        let skipped_bytes = if kind == DamageKind::Truncated {
            // Nothing follows a truncation.
            self.skip_to_end()?
        } else {
            self.pos = (offset - self.base) as usize;
            self.resync()?
        };
        Ok(Some(Err(Damage { offset, kind, skipped_bytes })))
    }

    /// Skips everything left, in read-sized steps, without decoding it;
    /// returns the bytes skipped.
    ///
    /// # Errors
    /// Only the source's I/O errors.
    pub fn skip_to_end(&mut self) -> io::Result<u64> {
        let start = self.offset();
        self.queued = None;
        self.pos = self.buf.len();
        while self.fill(1)? > 0 {
            self.pos = self.buf.len();
        }
        Ok(self.offset() - start)
    }

    fn read_body(&mut self, offset: u64, head: &Head) -> io::Result<Result<Record, DamageKind>> {
        let total = RECORD_HEADER_LEN + head.fields_len + head.body_len;
        if self.fill(total)? < total {
            return Ok(Err(DamageKind::Truncated));
        }
        let rec = &self.buf[self.pos..self.pos + total];
        let fields = &rec[RECORD_HEADER_LEN..RECORD_HEADER_LEN + head.fields_len];
        let body = &rec[RECORD_HEADER_LEN + head.fields_len..];
        let record = match (head.tag, fields.len()) {
            (TAG_EVENTS, EVENTS_FIELDS_LEN) | (TAG_CHECKPOINT_EVENTS, EVENTS_FIELDS_LEN)
                if head.tag == TAG_EVENTS || self.header.version >= 7 =>
            {
                let thread = le32(fields, 0);
                let count = le32(fields, 4);
                let sequence = le64(fields, 8);
                let raw_len = le32(fields, 16);
                let expected = le32(fields, 20);
                // Bits 0-55: the first timestamp; the top byte: the format
                // version since version 4, 0 before (FORMAT.md, "Events record").
                let first_ts = le64(fields, 24) & ((1 << 56) - 1);
                let chunk_version = u32::from(fields[31]);
                let actual = crc(&[body]);
                if actual != expected {
                    return Ok(Err(DamageKind::ChecksumMismatch { expected, actual }));
                }
                if raw_len > MAX_BODY_LEN || u64::from(count) > u64::from(raw_len) * 8 {
                    return Ok(Err(DamageKind::BadLength));
                }
                // The writer's own limits (FORMAT.md, "Events record"),
                // checked before decompressing: what one chunk may claim.
                if count > MAX_CHUNK_EVENTS {
                    return Ok(Err(DamageKind::TooManyEvents { count, max: MAX_CHUNK_EVENTS }));
                }
                if u64::from(raw_len) > max_payload_len(count) {
                    return Ok(Err(DamageKind::PayloadTooLong { raw_len, count, max: max_payload_len(count) }));
                }
                self.scratch.resize(raw_len as usize, 0);
                match lz4_flex::block::decompress_into(body, &mut self.scratch) {
                    Ok(n) if n == raw_len as usize => {}
                    _ => return Ok(Err(DamageKind::Decompress)),
                }
                if self.version_unsure {
                    // A lost version: a version-4 chunk says its own; a 0
                    // says 1 to 3 (tried from 3 down below).
                    self.header.version = if (EXACT_ORDER_SINCE_VERSION..=VERSION).contains(&chunk_version) {
                        chunk_version
                    } else {
                        EXACT_ORDER_SINCE_VERSION - 1
                    };
                }
                let mut events = std::mem::take(&mut self.spare_events);
                events.clear();
                events.reserve(count as usize);
                if let Err(e) = decode_payload(&self.scratch, count, first_ts, self.header.version, &mut events) {
                    // A lost version: the first older one this chunk decodes with.
                    let other = (OLDEST_VERSION..self.header.version).rev().find(|&v| {
                        events.clear();
                        self.version_unsure && decode_payload(&self.scratch, count, first_ts, v, &mut events).is_ok()
                    });
                    match other {
                        Some(v) => self.header.version = v,
                        None => return Ok(Err(DamageKind::Payload(e))),
                    }
                }
                self.version_unsure = false;
                let chunk = EventChunk { offset, thread, sequence, events, len_bytes: total as u64 };
                if head.tag == TAG_EVENTS {
                    Record::Events(chunk)
                } else {
                    Record::CheckpointEvents(chunk)
                }
            }
            (TAG_ROUND, ROUND_FIELDS_LEN) if body.is_empty() => Record::Round { round: le64(fields, 0), watermark_ns: le64(fields, 8) },
            (TAG_END, END_FIELDS_LEN | END_FIELDS_LEN_V4) if body.is_empty() => Record::End {
                events_written: le64(fields, 0),
                events_lost: le64(fields, 8),
                end_ns: le64(fields, 16),
                flags: if fields.len() == END_FIELDS_LEN_V4 { le64(fields, 24) } else { 0 },
            },
            (TAG_SITE, SITE_FIELDS_LEN) => {
                let name_len = le32(fields, 20) as usize;
                let expected = le32(fields, 32);
                let actual = crc(&[body]);
                if actual != expected {
                    return Ok(Err(DamageKind::ChecksumMismatch { expected, actual }));
                }
                if name_len > body.len() {
                    return Ok(Err(DamageKind::BadLength));
                }
                Record::Site(SiteRecord {
                    key: le64(fields, 0),
                    kind: fields[8],
                    line: le32(fields, 12),
                    column: le32(fields, 16),
                    type_key: le64(fields, 24),
                    name: String::from_utf8_lossy(&body[..name_len]).into_owned(),
                    file: String::from_utf8_lossy(&body[name_len..]).into_owned(),
                })
            }
            (TAG_TEXT, TEXT_FIELDS_LEN) => {
                let expected = le32(fields, 8);
                let actual = crc(&[body]);
                if actual != expected {
                    return Ok(Err(DamageKind::ChecksumMismatch { expected, actual }));
                }
                Record::Text { key: le64(fields, 0), text: String::from_utf8_lossy(body).into_owned() }
            }
            (TAG_STACK, STACK_FIELDS_LEN) if self.header.version >= 3 => {
                let (first_id, count, expected) = (le32(fields, 0), le32(fields, 4) as usize, le32(fields, 8));
                let actual = crc(&[body]);
                if actual != expected {
                    return Ok(Err(DamageKind::ChecksumMismatch { expected, actual }));
                }
                // Each node takes at least two bytes: bounds the allocation below.
                if count > MAX_STACK_NODES || count * 2 > body.len() || first_id == 0 || u64::from(first_id) + count as u64 > 1 << 32 {
                    return Ok(Err(DamageKind::BadLength));
                }
                let mut nodes = Vec::with_capacity(count);
                let mut c = Cursor { buf: body, pos: 0 };
                for i in 0..count {
                    let (parent, address) = match (c.varint(), c.varint()) {
                        (Ok(p), Ok(a)) => (p, a),
                        (Err(e), _) | (_, Err(e)) => return Ok(Err(DamageKind::Payload(e))),
                    };
                    let id = u64::from(first_id) + i as u64;
                    if parent >= id {
                        return Ok(Err(DamageKind::Payload(PayloadError {
                            offset: c.pos,
                            what: "stack node whose parent is not an earlier node",
                        })));
                    }
                    nodes.push(StackNode { parent: parent as u32, address });
                }
                if c.pos != body.len() {
                    return Ok(Err(DamageKind::Payload(PayloadError {
                        offset: c.pos,
                        what: "stack record holds bytes after its last node",
                    })));
                }
                Record::Stack { first_id, nodes }
            }
            (TAG_MODULE, MODULE_FIELDS_LEN) if self.header.version >= 3 => {
                let expected = le32(fields, 24);
                let actual = crc(&[body]);
                if actual != expected {
                    return Ok(Err(DamageKind::ChecksumMismatch { expected, actual }));
                }
                let id_len = usize::from(u16::from_le_bytes([fields[28], fields[29]]));
                if id_len > MAX_BUILD_ID_LEN || id_len > body.len() {
                    return Ok(Err(DamageKind::BadLength));
                }
                Record::Module(ModuleRecord {
                    load_bias: le64(fields, 0),
                    start: le64(fields, 8),
                    end: le64(fields, 16),
                    build_id: body[..id_len].to_vec(),
                    path: String::from_utf8_lossy(&body[id_len..]).into_owned(),
                })
            }
            (TAG_EVENTS | TAG_ROUND | TAG_END | TAG_SITE | TAG_TEXT, _) => return Ok(Err(DamageKind::BadLength)),
            (TAG_SYMBOLS, SYMBOLS_FIELDS_LEN) if self.header.version >= 3 => {
                let expected = le32(fields, 0);
                let actual = crc(&[body]);
                if actual != expected {
                    return Ok(Err(DamageKind::ChecksumMismatch { expected, actual }));
                }
                match symbols::decode_symbols(body) {
                    Ok(entries) => Record::Symbols(entries),
                    Err(e) => return Ok(Err(DamageKind::Payload(PayloadError { offset: e.offset, what: e.what }))),
                }
            }
            (TAG_STACK | TAG_MODULE | TAG_SYMBOLS, _) if self.header.version >= 3 => return Ok(Err(DamageKind::BadLength)),
            (TAG_CLOCK, CLOCK_FIELDS_LEN) if self.header.version >= 5 && body.is_empty() => Record::Clock(ClockRecord {
                source: fields[0],
                at: fields[1],
                shift: fields[2],
                mult: le64(fields, 8),
                epoch_ticks: le64(fields, 16),
                ticks: le64(fields, 24),
                monotonic_ns: le64(fields, 32),
            }),
            (TAG_CLOCK, _) if self.header.version >= 5 => return Ok(Err(DamageKind::BadLength)),
            (TAG_SEGMENT, SEGMENT_FIELDS_LEN) if self.header.version >= 6 && body.is_empty() => Record::Segment(SegmentRecord {
                recording_id: le64(fields, 0),
                index: le64(fields, 8),
                first_sequence: le64(fields, 16),
                first_round: le64(fields, 24),
            }),
            (TAG_CHECKPOINT, CHECKPOINT_FIELDS_LEN) if self.header.version >= 6 => {
                let (count, expected, total) = (le32(fields, 0) as usize, le32(fields, 4), le64(fields, 8));
                let actual = crc(&[body]);
                if actual != expected {
                    return Ok(Err(DamageKind::ChecksumMismatch { expected, actual }));
                }
                // Each entry takes at least five bytes: bounds the allocation below.
                if count > MAX_CHECKPOINT_ENTRIES || count * 5 > body.len() || (count as u64) > total {
                    return Ok(Err(DamageKind::BadLength));
                }
                let mut entries = Vec::with_capacity(count);
                let mut c = Cursor { buf: body, pos: 0 };
                for _ in 0..count {
                    let mut v = [0u64; 5];
                    for x in &mut v {
                        match c.varint() {
                            Ok(n) => *x = n,
                            Err(e) => return Ok(Err(DamageKind::Payload(e))),
                        }
                    }
                    if v[2] > u64::from(u32::MAX) || v[4] > u64::from(u32::MAX) || v[3] > event::TS_MAX {
                        return Ok(Err(DamageKind::Payload(PayloadError {
                            offset: c.pos,
                            what: "checkpoint entry with a thread, stack or timestamp out of range",
                        })));
                    }
                    entries.push(CheckpointEntry { ptr: v[0], size: v[1], thread: v[2] as u32, ts_ns: v[3], stack: v[4] as u32 });
                }
                if c.pos != body.len() {
                    return Ok(Err(DamageKind::Payload(PayloadError {
                        offset: c.pos,
                        what: "checkpoint record holds bytes after its last entry",
                    })));
                }
                Record::Checkpoint(CheckpointRecord { total, entries })
            }
            (TAG_SEGMENT | TAG_CHECKPOINT, _) if self.header.version >= 6 => return Ok(Err(DamageKind::BadLength)),
            (TAG_CHECKPOINT_EVENTS, _) if self.header.version >= 7 => return Ok(Err(DamageKind::BadLength)),
            (TAG_SAMPLING, sampling::SAMPLING_FIELDS_LEN) if self.header.version >= 6 && body.is_empty() => {
                Record::Sampling(SamplingRecord { interval_bytes: le64(fields, 0), seed: le64(fields, 8) })
            }
            (TAG_TOTALS, sampling::TOTALS_FIELDS_LEN) if self.header.version >= 6 && body.is_empty() => {
                Record::Totals(sampling::decode_totals(fields))
            }
            (TAG_SAMPLING | TAG_TOTALS, _) if self.header.version >= 6 => return Ok(Err(DamageKind::BadLength)),
            (tag, _) => return Ok(Err(DamageKind::UnknownTag(tag))),
        };
        self.pos += total;
        Ok(Ok(record))
    }
}

impl SegmentHeader {
    fn default_v1() -> Self {
        SegmentHeader { version: VERSION, start_unix_ns: 0, start_monotonic_ns: 0, pid: 0, ring_capacity: 0, on_full: OnFull::Block }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header() -> SegmentHeader {
        SegmentHeader { version: VERSION, start_unix_ns: 1, start_monotonic_ns: 2, pid: 3, ring_capacity: 4096, on_full: OnFull::Drop }
    }

    fn sample() -> (Vec<u8>, Vec<usize>) {
        let mut out = header().encode().to_vec();
        let mut enc = ChunkEncoder::default();
        let mut starts = Vec::new();
        for seq in 0..3u64 {
            starts.push(out.len());
            let events: Vec<RawEvent> =
                (0..50).map(|i| RawEvent::alloc(seq * 100 + i, 0x1000 + i as usize * 64, 48, 8, false, 0)).collect();
            enc.put_events(&mut out, 7, seq, &events, &[]);
        }
        starts.push(out.len());
        put_round(&mut out, 0, 250);
        starts.push(out.len());
        put_end(&mut out, 150, 0, 300, 0);
        (out, starts)
    }

    fn read_all(bytes: &[u8]) -> (Vec<Record>, Vec<Damage>) {
        let mut r = Reader::new(bytes).unwrap();
        let (mut recs, mut dmg) = (Vec::new(), Vec::new());
        while let Some(item) = r.next_record().unwrap() {
            match item {
                Ok(rec) => recs.push(rec),
                Err(d) => dmg.push(d),
            }
        }
        (recs, dmg)
    }

    #[test]
    fn reads_back_what_was_written() {
        let (bytes, _) = sample();
        let r = Reader::new(&bytes[..]).unwrap();
        assert_eq!(*r.header(), header());
        let (recs, dmg) = read_all(&bytes);
        assert!(dmg.is_empty());
        assert_eq!(recs.len(), 5);
        let Record::Events(c) = &recs[1] else { panic!("expected events") };
        assert_eq!((c.thread, c.sequence, c.events.len()), (7, 1, 50));
        assert_eq!(c.events[3], Event::Alloc { ts_ns: 103, ptr: 0x1000 + 3 * 64, size: 48, align: 8, zeroed: false, stack: 0 });
        assert_eq!(recs[4], Record::End { events_written: 150, events_lost: 0, end_ns: 300, flags: 0 });
    }

    /// A chunk decoded into a recycled buffer holds its own events only
    /// (the buffer is emptied), whether the buffer was larger or smaller.
    #[test]
    fn recycled_buffers_hold_the_next_chunk_alone() {
        let (bytes, _) = sample();
        let (want, _) = read_all(&bytes);
        let mut r = Reader::new(&bytes[..]).unwrap();
        let mut got = Vec::new();
        while let Some(item) = r.next_record().unwrap() {
            let mut rec = item.expect("no damage");
            if let Record::Events(c) = &mut rec {
                let mut spent = c.events.clone();
                // Stale events left in it, and more capacity than the chunk needs.
                spent.extend_from_slice(&c.events);
                r.recycle(spent);
            }
            got.push(rec);
        }
        assert_eq!(got, want);
    }

    #[test]
    fn corrupt_chunk_is_skipped_and_reading_resumes() {
        let (mut bytes, starts) = sample();
        let mid = starts[1] + RECORD_HEADER_LEN + EVENTS_FIELDS_LEN + 3;
        bytes[mid] ^= 0xFF;
        let (recs, dmg) = read_all(&bytes);
        assert_eq!(dmg.len(), 1);
        assert_eq!(dmg[0].offset, starts[1] as u64);
        assert!(matches!(dmg[0].kind, DamageKind::ChecksumMismatch { .. }));
        assert_eq!(dmg[0].skipped_bytes, (starts[2] - starts[1]) as u64);
        assert_eq!(recs.len(), 4);
    }

    #[test]
    fn truncated_file_reads_up_to_the_cut() {
        let (bytes, starts) = sample();
        let cut = &bytes[..starts[2] + 10];
        let (recs, dmg) = read_all(cut);
        assert_eq!(recs.len(), 2);
        assert_eq!(dmg, vec![Damage { offset: starts[2] as u64, kind: DamageKind::Truncated, skipped_bytes: 10 }]);
    }

    #[test]
    fn header_errors_are_specific() {
        let (bytes, _) = sample();
        assert!(matches!(Reader::new(&bytes[..5]), Err(HeaderError::TooShort(5))));
        assert!(matches!(
            Reader::new(&b"#!/bin/sh\necho hello world, this is not a recording at all\n"[..]),
            Err(HeaderError::NotARecording)
        ));
        // A newer writer's header: its checksum holds.
        let mut newer = bytes.clone();
        newer[..SEGMENT_HEADER_LEN].copy_from_slice(&SegmentHeader { version: VERSION + 1, ..header() }.encode());
        assert!(matches!(Reader::new(&newer[..]), Err(HeaderError::UnsupportedVersion(v)) if v == VERSION + 1));
        // A consistent header with a bad field is no damage in transit: refused.
        let mut policy = bytes.clone();
        policy[40] = 7;
        let c = crc(&[&policy[..44]]);
        policy[44..48].copy_from_slice(&c.to_le_bytes());
        assert!(matches!(Reader::new(&policy[..]), Err(HeaderError::Damaged(_))));
        // Garbage of header length after a bad magic is not a recording.
        let mut garbage = [0x55u8; 200];
        garbage[..7].copy_from_slice(b"MEMSCOX");
        assert!(matches!(Reader::new(&garbage[..]), Err(HeaderError::NotARecording)));
    }

    /// Issue 9.6: any one header byte damaged, to any value, loses nothing:
    /// the checksum gives the byte back, every record is read, and the
    /// damage names the byte and its field.
    #[test]
    fn one_damaged_header_byte_is_repaired_from_the_checksum() {
        let (bytes, _) = sample();
        let (want, _) = read_all(&bytes);
        for at in 0..SEGMENT_HEADER_LEN {
            for flip in [0x01u8, 0x80, 0xFF, 0x5A] {
                let mut bad = bytes.clone();
                bad[at] ^= flip;
                let r = Reader::new(&bad[..]).unwrap_or_else(|e| panic!("byte {at} ^ {flip:#x}: {e}"));
                assert_eq!(*r.header(), header(), "byte {at}");
                let (recs, dmg) = read_all(&bad);
                assert_eq!(recs, want, "byte {at}: every record");
                assert_eq!(dmg.len(), 1, "byte {at}: {dmg:?}");
                assert_eq!(dmg[0].offset, 0);
                assert_eq!(dmg[0].kind, DamageKind::HeaderDamaged { repaired_byte: Some(at as u8), unverified: vec![], lost: vec![] });
                assert!(dmg[0].to_string().contains(header_field(at)), "{}", dmg[0]);
            }
        }
    }

    /// Several damaged header bytes: the records are still read; what the
    /// header held is flagged unverified or lost, and the version is
    /// inferred from the first chunk.
    #[test]
    fn a_header_damaged_in_many_bytes_still_gives_its_records() {
        let (bytes, _) = sample();
        let (want, _) = read_all(&bytes);
        let mut bad = bytes.clone();
        for b in &mut bad[8..44] {
            *b = 0;
        }
        let (recs, dmg) = read_all(&bad);
        assert_eq!(recs, want);
        let DamageKind::HeaderDamaged { repaired_byte: None, unverified, lost } = &dmg[0].kind else { panic!("{dmg:?}") };
        assert_eq!(lost, &["version (inferred from the first chunk)", "pid", "ring_capacity"]);
        assert_eq!(unverified, &["start_unix_ns", "start_monotonic_ns", "on_full"]);
        assert_eq!(dmg.len(), 1);
        // A damaged magic too, when a record follows the header.
        bad[0] = b'X';
        bad[3] = b'X';
        let (recs, _) = read_all(&bad);
        assert_eq!(recs, want);
    }

    #[test]
    fn chunks_out_of_order_and_repeated_are_told_apart() {
        let (bytes, starts) = sample();
        // Chunks 0, 2, 1, 1 (the last a repeat), then the Round and End.
        let chunk = |i: usize| &bytes[starts[i]..starts[i + 1]];
        let mut out = bytes[..starts[0]].to_vec();
        for i in [0, 2, 1, 1] {
            out.extend_from_slice(chunk(i));
        }
        out.extend_from_slice(&bytes[starts[3]..]);
        let (recs, dmg) = read_all(&out);
        let at = |k: usize| (starts[0] + (starts[1] - starts[0]) * k) as u64;
        let kinds: Vec<(u64, DamageKind)> = dmg.iter().map(|d| (d.offset, d.kind.clone())).collect();
        assert_eq!(
            kinds,
            vec![
                (at(1), DamageKind::MissingChunks { first: 1, last: 1 }),
                (at(2), DamageKind::ChunkOutOfOrder { sequence: 1, after: 2 }),
                (at(3), DamageKind::RepeatedChunk(1)),
            ]
        );
        // Three chunks kept, each once, then Round and End (150 events: the count matches).
        assert_eq!(recs.len(), 5);
    }

    /// A source that another writer appends to: reads what is there now.
    #[derive(Debug, Clone, Default)]
    struct Growing {
        data: std::rc::Rc<std::cell::RefCell<Vec<u8>>>,
        pos: usize,
    }

    impl Read for Growing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let data = self.data.borrow();
            let n = buf.len().min(data.len() - self.pos);
            buf[..n].copy_from_slice(&data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    /// Every record until the reader says "not yet".
    fn read_now<R: Read>(r: &mut Reader<R>, recs: &mut Vec<Record>, dmg: &mut Vec<Damage>) {
        while let Some(item) = r.next_record().unwrap() {
            match item {
                Ok(rec) => recs.push(rec),
                Err(d) => dmg.push(d),
            }
        }
    }

    /// Issue 11.3: a following reader fed a recording in pieces gives the
    /// records of the whole file, whatever the pieces: every split point
    /// (one piece, then the rest), and one byte at a time (every split
    /// point at once). A record cut by the end of what is written is
    /// waited for, never reported as damage.
    #[test]
    fn following_a_file_in_pieces_gives_the_records_of_the_whole_file() {
        let (bytes, _) = sample();
        let (want, none) = read_all(&bytes);
        assert!(none.is_empty());
        let feed = |pieces: &mut dyn Iterator<Item = usize>| {
            let src = Growing::default();
            let (mut recs, mut dmg, mut reader) = (Vec::new(), Vec::new(), None);
            for end in pieces {
                let have = src.data.borrow().len();
                src.data.borrow_mut().extend_from_slice(&bytes[have..end]);
                if reader.is_none() {
                    match Reader::follow(src.clone()) {
                        Ok(r) => reader = Some(r),
                        Err(HeaderError::TooShort(n)) => {
                            assert!(n < SEGMENT_HEADER_LEN);
                            continue;
                        }
                        Err(e) => panic!("{end}: {e}"),
                    }
                }
                let r = reader.as_mut().unwrap();
                read_now(r, &mut recs, &mut dmg);
                assert!(dmg.is_empty(), "{end}: {dmg:?}");
                // Whatever is not read yet is the start of one record.
                assert_eq!(r.offset() + r.pending_bytes(), end as u64);
            }
            (recs, reader.map(|r| r.pending_bytes()))
        };
        for split in 0..=bytes.len() {
            let (recs, pending) = feed(&mut [split, bytes.len()].into_iter());
            assert_eq!(recs, want, "split at {split}");
            assert_eq!(pending, Some(0));
        }
        let (recs, _) = feed(&mut (1..=bytes.len()));
        assert_eq!(recs, want, "one byte at a time");
    }

    /// Following, a cut record at the end is "not yet"; a damaged record
    /// before the end is damage, reported as by a reader of the whole file.
    #[test]
    fn following_tells_a_record_not_yet_written_from_damage() {
        let (bytes, starts) = sample();
        let cut = starts[2] + 10;
        let mut r = Reader::follow(&bytes[..cut]).unwrap();
        let (mut recs, mut dmg) = (Vec::new(), Vec::new());
        read_now(&mut r, &mut recs, &mut dmg);
        assert_eq!((recs.len(), dmg.len(), r.pending_bytes()), (2, 0, 10));
        // Reading the same cut whole says truncated.
        assert_eq!(read_all(&bytes[..cut]).1[0].kind, DamageKind::Truncated);

        let mut bad = bytes.clone();
        bad[starts[1] + RECORD_HEADER_LEN + EVENTS_FIELDS_LEN + 3] ^= 0xFF;
        let src = Growing::default();
        src.data.borrow_mut().extend_from_slice(&bad[..starts[3] + 5]);
        let mut r = Reader::follow(src.clone()).unwrap();
        let (mut recs, mut dmg) = (Vec::new(), Vec::new());
        read_now(&mut r, &mut recs, &mut dmg);
        assert_eq!(dmg.len(), 1, "{dmg:?}");
        assert_eq!((dmg[0].offset, dmg[0].skipped_bytes), (starts[1] as u64, (starts[2] - starts[1]) as u64));
        assert!(matches!(dmg[0].kind, DamageKind::ChecksumMismatch { .. }));
        assert_eq!((recs.len(), r.pending_bytes()), (2, 5));
        src.data.borrow_mut().extend_from_slice(&bad[starts[3] + 5..]);
        read_now(&mut r, &mut recs, &mut dmg);
        assert_eq!(dmg.len(), 1);
        assert_eq!((recs, dmg), read_all(&bad));
    }

    proptest! {
        #[test]
        fn reader_never_panics_on_flipped_bytes(flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8), cut in any::<usize>()) {
            let (mut bytes, _) = sample();
            for (at, v) in flips {
                let i = SEGMENT_HEADER_LEN + at % (bytes.len() - SEGMENT_HEADER_LEN);
                bytes[i] ^= v | 1;
            }
            let keep = SEGMENT_HEADER_LEN + cut % (bytes.len() - SEGMENT_HEADER_LEN + 1);
            let _ = read_all(&bytes[..keep]);
        }

        #[test]
        fn reader_never_panics_on_damaged_headers(flips in prop::collection::vec((0..SEGMENT_HEADER_LEN + 40, any::<u8>()), 1..6)) {
            let (mut bytes, _) = sample();
            for (at, v) in flips {
                bytes[at] ^= v | 1;
            }
            if let Ok(mut r) = Reader::new(&bytes[..]) {
                while let Some(_item) = r.next_record().unwrap() {}
            }
        }

        #[test]
        fn reader_never_panics_on_garbage(body in prop::collection::vec(any::<u8>(), 0..2048)) {
            let mut bytes = header().encode().to_vec();
            bytes.extend_from_slice(&body);
            let _ = read_all(&bytes);
        }
    }
}
