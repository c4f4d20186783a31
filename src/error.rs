//! The crate's error type.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong starting or finishing a recording, or
/// reading, replaying and exporting one. Display texts are lowercase and name
/// the file and, where there is one, the byte offset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A recording is already running (or the previous one is still finishing).
    #[error("a memscope recording is already running in this process")]
    AlreadyRecording,
    /// A configuration value is out of range.
    #[error("invalid recorder configuration: {0}")]
    InvalidConfig(&'static str),
    /// The recording file could not be created.
    #[error("cannot create recording file {path}: {source}")]
    Create {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another recording writes into this segment directory (its lock file
    /// is held; FORMAT.md, "Segments"). A lock left by a process that is
    /// gone is taken over without this error.
    #[error("{path} is in use by another memscope recording (process {}); give each recording its own directory", pid.map_or_else(|| "unknown".to_string(), |p| p.to_string()))]
    DirectoryLocked {
        /// The segment directory.
        path: PathBuf,
        /// The process id the lock file names, when readable.
        pid: Option<u32>,
    },
    /// The drainer thread could not be started.
    #[error("cannot start the memscope-drain thread: {0}")]
    Spawn(std::io::Error),
    /// Writing the recording failed (e.g. the disk is full). Everything
    /// before `offset` is on disk and replayable; recording stopped.
    #[error("writing {path} failed at byte {offset}: {source}; recording stopped, the file is readable up to that byte ({events_lost} events lost)")]
    Write {
        /// The file.
        path: PathBuf,
        /// Bytes successfully written before the failure.
        offset: u64,
        /// The OS error.
        source: std::io::Error,
        /// The recording's events not in the file: taken by the drainer but
        /// not written, and pushed (or lost, a ring full) until the
        /// recording stopped. Events lost before the failure and written
        /// as such are not counted again.
        events_lost: u64,
    },
    /// The drainer did not finish within the configured timeout.
    #[error("the memscope drainer did not finish within {0:?}; the file may lack its last events")]
    FinishTimeout(Duration),
    /// `finish` was called in a forked child: the recording belongs to the
    /// parent, whose drainer goes on; the child records nothing.
    #[error("this memscope recording belongs to the parent process; a forked child records nothing")]
    ForkedChild,
    /// The drainer thread panicked (a bug in memscope).
    #[error("the memscope drainer thread panicked")]
    DrainerPanicked,
    /// A file could not be opened for reading.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a recording this version can read.
    #[error("{path}: {source}")]
    Header {
        /// The file.
        path: PathBuf,
        /// What is wrong with its header.
        source: crate::format::HeaderError,
    },
    /// Reading failed part-way.
    #[error("reading {path} failed at byte {offset}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Where.
        offset: u64,
        /// The OS error.
        source: std::io::Error,
    },
    /// Writing an export failed.
    #[error("cannot write {path}: {source}")]
    Export {
        /// The file.
        path: PathBuf,
        /// The OS or serialisation error.
        source: std::io::Error,
    },
}
