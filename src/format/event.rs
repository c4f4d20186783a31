//! Events: the fixed-size record in a ring ([`RawEvent`]) and its decoded form ([`Event`]).
//!
//! The bit layout of [`RawEvent`] is FORMAT.md's "Ring events" table; the
//! `KIND_*` constants mirror its kind column.

/// Kind code of an allocation (`GlobalAlloc::alloc`).
pub const KIND_ALLOC: u8 = 1;
/// Kind code of a zeroed allocation (`GlobalAlloc::alloc_zeroed`).
pub const KIND_ALLOC_ZEROED: u8 = 2;
/// Kind code of a reallocation whose old and new sizes both fit in 32 bits.
pub const KIND_REALLOC: u8 = 3;
/// Kind code of a reallocation with a size of 4 GiB or more; its old size is not stored.
pub const KIND_REALLOC_LARGE: u8 = 4;
/// Kind code of a deallocation (`GlobalAlloc::dealloc`).
pub const KIND_DEALLOC: u8 = 5;
/// Kind code of a thread's first event in a recording.
pub const KIND_THREAD_START: u8 = 6;
/// Kind code of a thread's last event.
pub const KIND_THREAD_EXIT: u8 = 7;
/// Kind code of a lost-events record, written by the drainer.
pub const KIND_LOST: u8 = 8;

/// Timestamps are stored in the upper 56 bits of [`RawEvent::head`]: nanoseconds
/// since the segment's epoch, enough for 2.28 years of recording.
pub const TS_BITS: u32 = 56;
/// The largest timestamp an event can carry, in nanoseconds.
pub const TS_MAX: u64 = (1 << TS_BITS) - 1;

/// One event as the record side writes it into a ring: 32 bytes, `#[repr(C)]`.
///
/// `head` holds the kind in bits 0..8 and the timestamp (nanoseconds since
/// the epoch) in bits 8..64; `a`, `b` and `c` depend on the kind (FORMAT.md,
/// "Ring events"). Build one with the constructors, read one with
/// [`RawEvent::decode`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawEvent {
    /// Kind (bits 0..8) and timestamp in nanoseconds (bits 8..64).
    pub head: u64,
    /// First operand: an address, a thread id or a count.
    pub a: u64,
    /// Second operand.
    pub b: u64,
    /// Third operand.
    pub c: u64,
}

const _: () = assert!(core::mem::size_of::<RawEvent>() == 32);

#[inline(always)]
const fn head(kind: u8, ts_ns: u64) -> u64 {
    (kind as u64) | ((ts_ns & TS_MAX) << 8)
}

impl RawEvent {
    /// An allocation of `size` bytes aligned to `align` at `ptr`.
    #[inline(always)]
    pub const fn alloc(ts_ns: u64, ptr: usize, size: usize, align: usize, zeroed: bool) -> Self {
        let kind = if zeroed { KIND_ALLOC_ZEROED } else { KIND_ALLOC };
        RawEvent { head: head(kind, ts_ns), a: ptr as u64, b: size as u64, c: align as u64 }
    }

    /// A deallocation of `size` bytes aligned to `align` at `ptr`.
    #[inline(always)]
    pub const fn dealloc(ts_ns: u64, ptr: usize, size: usize, align: usize) -> Self {
        RawEvent { head: head(KIND_DEALLOC, ts_ns), a: ptr as u64, b: size as u64, c: align as u64 }
    }

    /// A reallocation from `old_size` bytes at `old_ptr` to `new_size` bytes at `new_ptr`.
    ///
    /// When either size is 4 GiB or more the event is [`KIND_REALLOC_LARGE`]
    /// and drops `old_size`: replay takes it from the live set.
    #[inline(always)]
    pub const fn realloc(ts_ns: u64, old_ptr: usize, old_size: usize, new_ptr: usize, new_size: usize) -> Self {
        let (old, new) = (old_size as u64, new_size as u64);
        if (old | new) >> 32 == 0 {
            RawEvent { head: head(KIND_REALLOC, ts_ns), a: old_ptr as u64, b: new_ptr as u64, c: old | (new << 32) }
        } else {
            RawEvent { head: head(KIND_REALLOC_LARGE, ts_ns), a: old_ptr as u64, b: new_ptr as u64, c: new }
        }
    }

    /// A thread's first event: its OS thread id and up to 16 bytes of its name.
    pub fn thread_start(ts_ns: u64, os_tid: u64, name: [u8; 16]) -> Self {
        RawEvent {
            head: head(KIND_THREAD_START, ts_ns),
            a: os_tid,
            b: u64::from_le_bytes(name[..8].try_into().unwrap_or_default()),
            c: u64::from_le_bytes(name[8..].try_into().unwrap_or_default()),
        }
    }

    /// A thread's last event.
    pub const fn thread_exit(ts_ns: u64) -> Self {
        RawEvent { head: head(KIND_THREAD_EXIT, ts_ns), a: 0, b: 0, c: 0 }
    }

    /// `count` events of this thread that were dropped because its ring was full.
    pub const fn lost(ts_ns: u64, count: u64) -> Self {
        RawEvent { head: head(KIND_LOST, ts_ns), a: count, b: 0, c: 0 }
    }

    /// The kind code (bits 0..8 of `head`).
    #[inline(always)]
    pub const fn kind(&self) -> u8 {
        self.head as u8
    }

    /// The timestamp in nanoseconds since the epoch.
    #[inline(always)]
    pub const fn ts_ns(&self) -> u64 {
        self.head >> 8
    }

    /// Decodes the event, or `None` for an unknown kind code.
    pub fn decode(&self) -> Option<Event> {
        let ts_ns = self.ts_ns();
        Some(match self.kind() {
            KIND_ALLOC | KIND_ALLOC_ZEROED => {
                Event::Alloc { ts_ns, ptr: self.a, size: self.b, align: self.c, zeroed: self.kind() == KIND_ALLOC_ZEROED }
            }
            KIND_REALLOC => {
                Event::Realloc { ts_ns, old_ptr: self.a, new_ptr: self.b, old_size: Some(self.c & 0xFFFF_FFFF), new_size: self.c >> 32 }
            }
            KIND_REALLOC_LARGE => Event::Realloc { ts_ns, old_ptr: self.a, new_ptr: self.b, old_size: None, new_size: self.c },
            KIND_DEALLOC => Event::Dealloc { ts_ns, ptr: self.a, size: self.b, align: self.c },
            KIND_THREAD_START => {
                let mut name = [0u8; 16];
                name[..8].copy_from_slice(&self.b.to_le_bytes());
                name[8..].copy_from_slice(&self.c.to_le_bytes());
                Event::ThreadStart { ts_ns, os_tid: self.a, name }
            }
            KIND_THREAD_EXIT => Event::ThreadExit { ts_ns },
            KIND_LOST => Event::Lost { ts_ns, count: self.a },
            _ => return None,
        })
    }
}

/// A decoded event. Addresses and sizes are the real ones, in bytes;
/// timestamps are nanoseconds since the segment's epoch.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A call of `alloc` (or `alloc_zeroed` when `zeroed`) that returned `ptr`.
    Alloc {
        /// Nanoseconds since the epoch, taken after the allocation returned.
        ts_ns: u64,
        /// The address returned.
        ptr: u64,
        /// The requested size in bytes.
        size: u64,
        /// The requested alignment in bytes (a power of two).
        align: u64,
        /// Whether this was `alloc_zeroed`.
        zeroed: bool,
    },
    /// A call of `realloc` that succeeded.
    Realloc {
        /// Nanoseconds since the epoch, taken before the call.
        ts_ns: u64,
        /// The address passed in.
        old_ptr: u64,
        /// The address returned (equal to `old_ptr` when resized in place).
        new_ptr: u64,
        /// The old size in bytes; `None` when a size was 4 GiB or more.
        old_size: Option<u64>,
        /// The new size in bytes.
        new_size: u64,
    },
    /// A call of `dealloc`.
    Dealloc {
        /// Nanoseconds since the epoch, taken before the memory was released.
        ts_ns: u64,
        /// The address released.
        ptr: u64,
        /// The size in bytes, as the caller's `Layout` says.
        size: u64,
        /// The alignment in bytes.
        align: u64,
    },
    /// A thread's first event in the recording.
    ThreadStart {
        /// Nanoseconds since the epoch.
        ts_ns: u64,
        /// The OS thread id (`gettid`).
        os_tid: u64,
        /// The thread's name, NUL-padded, at most 16 bytes.
        name: [u8; 16],
    },
    /// A thread's last event.
    ThreadExit {
        /// Nanoseconds since the epoch.
        ts_ns: u64,
    },
    /// `count` events of this thread were dropped (ring full in `OnFull::Drop` mode,
    /// or the recording stopped under it).
    Lost {
        /// Nanoseconds since the epoch at which the drainer noticed.
        ts_ns: u64,
        /// How many events were dropped.
        count: u64,
    },
}

impl Event {
    /// The event's timestamp in nanoseconds since the epoch.
    pub fn ts_ns(&self) -> u64 {
        match *self {
            Event::Alloc { ts_ns, .. }
            | Event::Realloc { ts_ns, .. }
            | Event::Dealloc { ts_ns, .. }
            | Event::ThreadStart { ts_ns, .. }
            | Event::ThreadExit { ts_ns }
            | Event::Lost { ts_ns, .. } => ts_ns,
        }
    }

    /// Re-encodes the event into its ring form (the inverse of [`RawEvent::decode`]).
    pub fn to_raw(&self) -> RawEvent {
        match *self {
            Event::Alloc { ts_ns, ptr, size, align, zeroed } => {
                RawEvent { head: head(if zeroed { KIND_ALLOC_ZEROED } else { KIND_ALLOC }, ts_ns), a: ptr, b: size, c: align }
            }
            Event::Realloc { ts_ns, old_ptr, new_ptr, old_size: Some(old), new_size } if (old | new_size) >> 32 == 0 => {
                RawEvent { head: head(KIND_REALLOC, ts_ns), a: old_ptr, b: new_ptr, c: old | (new_size << 32) }
            }
            Event::Realloc { ts_ns, old_ptr, new_ptr, new_size, .. } => {
                RawEvent { head: head(KIND_REALLOC_LARGE, ts_ns), a: old_ptr, b: new_ptr, c: new_size }
            }
            Event::Dealloc { ts_ns, ptr, size, align } => RawEvent { head: head(KIND_DEALLOC, ts_ns), a: ptr, b: size, c: align },
            Event::ThreadStart { ts_ns, os_tid, name } => RawEvent::thread_start(ts_ns, os_tid, name),
            Event::ThreadExit { ts_ns } => RawEvent::thread_exit(ts_ns),
            Event::Lost { ts_ns, count } => RawEvent::lost(ts_ns, count),
        }
    }
}
