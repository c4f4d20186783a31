//! Continuous recording (FORMAT.md, "Segments"): the drainer writes a
//! directory of segment files, rotates to a new one when the current one
//! reaches `segment_bytes`, deletes the oldest beyond `keep_bytes`, and
//! starts each with what it needs to replay on its own (the stack tree,
//! modules, sites, texts, and a Checkpoint of the live allocations).
//!
//! Everything here runs on the drainer thread (or in `start`, before it),
//! off the allocator's hot path; the drainer's own allocations are never
//! recorded.

use std::collections::VecDeque;
use std::fs::File;
use std::hash::Hasher;
use std::io::{Read, Seek, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

pub(crate) use crate::format::segment_file_name as segment_name;

/// The smallest accepted `segment_bytes` (4 KiB): a segment holds at least
/// its header, tables and checkpoint and one round.
pub const MIN_SEGMENT_BYTES: u64 = 4096;

/// The segment directory's lock: an exclusive `flock` on `DIR/lock`, held
/// as long as the file stays open (the kernel releases it when the process
/// ends, so a lock left by a dead process is taken over at once). The file
/// holds the owner's pid, for the error another recorder reports.
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock of `dir`, or says which process holds it.
    pub(crate) fn take(dir: &Path) -> Result<DirLock, crate::Error> {
        let path = dir.join(crate::format::SEGMENT_LOCK_FILE);
        let create = |source| crate::Error::Create { path: path.clone(), source };
        let mut file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(create)?;
        // SAFETY: flock takes the descriptor of `file`, open for the call's
        // duration, and no pointer.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(crate::Error::DirectoryLocked { path: dir.to_path_buf(), pid: text.trim().parse().ok() });
            }
            return Err(create(err));
        }
        let _ = file.set_len(0).and_then(|()| file.rewind()).and_then(|()| writeln!(file, "{}", std::process::id()));
        Ok(DirLock { _file: file })
    }
}

/// A random 64-bit recording id (std's per-process random hash keys, the
/// time and the pid; never 0).
pub(crate) fn recording_id() -> u64 {
    use std::hash::BuildHasher;
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    h.write_u128(now);
    h.write_u32(std::process::id());
    h.finish().max(1)
}

/// What the drainer needs to write a directory of segments.
pub(crate) struct Segments {
    pub(crate) dir: PathBuf,
    pub(crate) segment_bytes: u64,
    pub(crate) keep_bytes: u64,
    pub(crate) recording_id: u64,
    /// The index of the segment being written.
    pub(crate) index: u64,
    /// The segment header and start Clock record every segment opens with.
    pub(crate) head: Vec<u8>,
    /// Closed segments still on disk, oldest first, with their sizes.
    pub(crate) closed: VecDeque<(PathBuf, u64)>,
    /// Bytes the recording had written when the current segment began.
    pub(crate) segment_start: u64,
    /// Bytes of the current segment's start: head, tables, checkpoint.
    pub(crate) start_bytes: u64,
    /// Events written and lost before the current segment (its End record
    /// counts its own).
    pub(crate) events_base: u64,
    pub(crate) lost_base: u64,
    pub(crate) live: crate::format::live::LiveTable,
    /// Segments deleted for the budget, and deletions that failed.
    pub(crate) deleted: u64,
    pub(crate) delete_errors: u64,
    pub(crate) _lock: DirLock,
}

impl Segments {
    /// Deletes the oldest closed segments while the closed ones and a full
    /// current segment (`segment_bytes`, or the last closed segment's size
    /// if larger) would exceed `keep_bytes` (never the current one). A
    /// failed deletion is counted, not fatal.
    pub(crate) fn enforce_budget(&mut self) {
        let mut total: u64 = self.closed.iter().map(|c| c.1).sum();
        let next = self.closed.back().map_or(0, |c| c.1).max(self.segment_bytes);
        while total.saturating_add(next) > self.keep_bytes {
            let Some((path, size)) = self.closed.pop_front() else { break };
            total -= size;
            match std::fs::remove_file(&path) {
                Ok(()) => self.deleted += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.deleted += 1,
                Err(_) => self.delete_errors += 1,
            }
        }
    }
}
