//! The drainer: a background thread (`memscope-drain`) that empties every
//! ring into LZ4-compressed chunks appended to the recording file.
//!
//! One round: note the watermark (now), then for every slot pop what its
//! ring holds, add a Lost event for newly dropped events, encode one chunk
//! per thread, end with a Round record, and write the round with one
//! `write_all`. Between rounds it sleeps until a producer passes the
//! high-water mark or the drain interval passes. Its own allocations are
//! never recorded: it marks itself ignored before anything else.

use super::registry::{EXITED, FREE};
use super::thread::{self, REGISTRY, SHARED};
use super::track;
use crate::format::event::*;
use crate::format::{self, ChunkEncoder, RawEvent};
use crate::sync::Ordering;
use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// What a finished drainer reports.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DrainStats {
    pub(crate) events_written: u64,
    pub(crate) events_lost: u64,
    pub(crate) bytes_written: u64,
    pub(crate) chunks: u64,
    pub(crate) threads: u64,
    pub(crate) end_ns: u64,
}

/// The most events in one chunk. A ring can hold 2^20 events, and a
/// reallocation between distant addresses encodes to about 28 bytes, so one
/// chunk per ring could exceed the 16 MiB a reader accepts (FORMAT.md); at
/// 2^16 events a payload stays under 2 MiB.
const MAX_CHUNK_EVENTS: usize = 1 << 16;
const _: () = assert!(MAX_CHUNK_EVENTS * format::codec::MAX_EVENT_BYTES <= format::MAX_BODY_LEN as usize / 4);

pub(crate) struct Drainer {
    pub(crate) file: File,
    pub(crate) path: PathBuf,
    pub(crate) interval: Duration,
    /// Per slot index: dropped events already reported in a Lost event.
    reported_dropped: Vec<u64>,
    reported_unregistered: u64,
    batch: Vec<RawEvent>,
    out: Vec<u8>,
    encoder: ChunkEncoder,
    sequence: u64,
    round: u64,
    stats: DrainStats,
    /// Site keys whose `Site` record this recording's file already holds.
    sites_written: HashSet<u64>,
    /// The last site key looked up: a thread tracking in a loop repeats it,
    /// and this skips hashing it again.
    last_site: u64,
    /// String keys whose `Text` record this recording's file already holds.
    texts_written: HashSet<u64>,
}

impl Drainer {
    pub(crate) fn new(file: File, path: PathBuf, interval: Duration, header_len: u64) -> Self {
        Drainer {
            file,
            path,
            interval,
            reported_dropped: Vec::new(),
            reported_unregistered: 0,
            batch: Vec::new(),
            out: Vec::new(),
            encoder: ChunkEncoder::default(),
            sequence: 0,
            round: 0,
            stats: DrainStats { bytes_written: header_len, ..DrainStats::default() },
            sites_written: HashSet::new(),
            last_site: 0,
            texts_written: HashSet::new(),
        }
    }

    /// Before the recording starts: discards events a previous recording left
    /// in the rings (pushed after it stopped), frees slots of exited threads,
    /// and takes the drop counters as the baseline.
    pub(crate) fn reset(&mut self) {
        for slot in REGISTRY.iter() {
            let state = slot.state();
            self.batch.clear();
            // SAFETY: one drainer runs at a time (`record::STATE`), so this
            // thread is every ring's only consumer.
            unsafe { slot.ring.pop_into(&mut self.batch, usize::MAX) };
            if state == EXITED {
                slot.recycle();
            }
            self.baseline(slot.index() as usize, slot.dropped());
        }
        // Relaxed: a count.
        self.reported_unregistered = SHARED.unregistered_lost.load(Ordering::Relaxed);
        self.batch.clear();
    }

    fn baseline(&mut self, index: usize, dropped: u64) {
        if self.reported_dropped.len() <= index {
            self.reported_dropped.resize(index + 1, 0);
        }
        self.reported_dropped[index] = dropped;
    }

    /// One drain round; returns the largest number of events taken from one ring.
    pub(crate) fn round(&mut self) -> Result<usize, crate::Error> {
        let watermark = thread::now_ns();
        let mut most = 0;
        self.out.clear();
        for slot in REGISTRY.iter() {
            let state = slot.state();
            if state == FREE {
                continue;
            }
            let index = slot.index() as usize;
            if self.reported_dropped.len() <= index {
                self.reported_dropped.resize(index + 1, 0);
            }
            // Read before popping (Acquire, in `dropped`): the owner's thread
            // id is then visible even for a batch holding only a Lost event.
            let dropped = slot.dropped();
            let mut taken = 0;
            loop {
                self.batch.clear();
                // SAFETY: one drainer runs at a time, so this thread is the only consumer.
                let n = unsafe { slot.ring.pop_into(&mut self.batch, MAX_CHUNK_EVENTS) };
                taken += n;
                let last = n < MAX_CHUNK_EVENTS;
                if last && dropped > self.reported_dropped[index] {
                    let ts = self.batch.last().map_or(watermark, |e| e.ts_ns().max(watermark));
                    self.batch.push(RawEvent::lost(ts, dropped - self.reported_dropped[index]));
                    self.stats.events_lost += dropped - self.reported_dropped[index];
                    self.reported_dropped[index] = dropped;
                }
                if !self.batch.is_empty() {
                    self.put_chunk(slot.thread());
                }
                if last {
                    break;
                }
            }
            most = most.max(taken);
            if state == EXITED {
                slot.recycle();
            }
        }
        // Relaxed: a count.
        let unregistered = SHARED.unregistered_lost.load(Ordering::Relaxed);
        if unregistered > self.reported_unregistered {
            self.batch.clear();
            self.batch.push(RawEvent::lost(watermark, unregistered - self.reported_unregistered));
            self.stats.events_lost += unregistered - self.reported_unregistered;
            self.reported_unregistered = unregistered;
            self.put_chunk(0);
        }
        if !self.out.is_empty() {
            format::put_round(&mut self.out, self.round, watermark);
            self.round += 1;
            self.write_out()?;
        }
        Ok(most)
    }

    fn put_chunk(&mut self, thread: u32) {
        for i in 0..self.batch.len() {
            let e = self.batch[i];
            match e.kind() {
                KIND_LOST => {}
                KIND_THREAD_START => {
                    self.stats.events_written += 1;
                    self.stats.threads += 1;
                }
                KIND_VAR..=KIND_MAX => {
                    self.stats.events_written += 1;
                    self.put_names(&e);
                }
                _ => self.stats.events_written += 1,
            }
        }
        self.encoder.put_events(&mut self.out, thread, self.sequence, &self.batch);
        self.sequence += 1;
        self.stats.chunks += 1;
    }

    /// Writes the `Site` and `Text` records a tracking event refers to, the
    /// first time this recording meets them, ahead of the event's chunk.
    fn put_names(&mut self, e: &RawEvent) {
        let (site, text) = match e.kind() {
            KIND_VAR => (e.c, 0),
            KIND_SCOPE_ENTER | KIND_SCOPE_EXIT => (e.a, 0),
            KIND_VAR_TYPE => (0, e.a),
            KIND_FOREIGN_ALLOC | KIND_HANDOFF => (0, e.c),
            _ => (0, 0),
        };
        if site != 0 && site != self.last_site && self.sites_written.insert(site) {
            // SAFETY: `site` is the site operand of a Var or Scope event
            // popped from a ring, which only `track.rs` builds, from a
            // `&'static Site`.
            let record = unsafe { track::site_from_key(site) }.record(site);
            // The type's Text record goes first, as FORMAT.md says.
            self.put_text(record.type_key);
            format::put_site(&mut self.out, &record);
        }
        if site != 0 {
            self.last_site = site;
        }
        self.put_text(text);
    }

    fn put_text(&mut self, key: u64) {
        if key != 0 && self.texts_written.insert(key) {
            // SAFETY: `key` is a nonzero string key from a tracking event
            // popped from a ring (a type or a label), which only this crate
            // builds, with `str_key` of a `&'static str`.
            let text = unsafe { track::str_from_key(key) };
            format::put_text(&mut self.out, key, text);
        }
    }

    fn write_out(&mut self) -> Result<(), crate::Error> {
        if let Err(source) = self.file.write_all(&self.out) {
            return Err(crate::Error::Write { path: self.path.clone(), offset: self.stats.bytes_written, source });
        }
        self.stats.bytes_written += self.out.len() as u64;
        self.out.clear();
        Ok(())
    }

    /// Runs rounds until `stop` reaches `session` (the id of this drainer's
    /// recording), then drains what is left, writes the End record and syncs
    /// the file. On an error, recording stops (the caller's exit guard zeroes
    /// the session, so producers waiting on a full ring give up and count).
    pub(crate) fn run(&mut self, stop: &std::sync::atomic::AtomicU32, session: u32) -> Result<DrainStats, crate::Error> {
        loop {
            // Acquire: pairs with the Release `fetch_max` in `request_stop`,
            // which comes after the session was zeroed: no new events follow.
            let stopping = stop.load(Ordering::Acquire) >= session;
            let most = self.round()?;
            if stopping {
                // Events stamped just before the stop may still be landing.
                while self.round()? > 0 {}
                break;
            }
            if most < 1024 {
                thread::wait_for_wake(self.interval);
            }
        }
        self.stats.end_ns = thread::now_ns();
        format::put_end(&mut self.out, self.stats.events_written, self.stats.events_lost, self.stats.end_ns);
        self.write_out()?;
        if let Err(source) = self.file.sync_all() {
            return Err(crate::Error::Write { path: self.path.clone(), offset: self.stats.bytes_written, source });
        }
        Ok(self.stats)
    }
}
