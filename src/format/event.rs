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

// Tracking kinds (format version 2). Codes 9..=15 are the payload's own
// (codec/); tracking kinds start at 16 and are written in a payload
// behind the escape tag 15 (FORMAT.md, "Chunk payload").

/// Kind code of a tracked variable (`track_var!`, `track_clone!`): its first
/// heap allocation (address 0: none), its size in bytes, and its site key.
pub const KIND_VAR: u8 = 16;
/// Kind code of a further heap allocation of the thread's last [`KIND_VAR`]
/// (address 0: that many bytes whose address the value does not expose).
pub const KIND_VAR_MORE: u8 = 17;
/// The address a [`KIND_VAR_MORE`] carries for the value's allocations past
/// the region bound (`MAX_REGIONS`): their bytes, counted but not linked.
/// Never a heap address (FORMAT.md, "Tracking events").
pub const VAR_MORE_PAST_BOUND: u64 = 1;
/// The most heap allocations one tracked value reports by address
/// (`memscope::MAX_REGIONS`).
pub const MAX_VAR_REGIONS: usize = 4096;
/// Kind code of the type of the thread's last [`KIND_VAR`], when it is not
/// the type its site was first used with (a site in a generic function).
pub const KIND_VAR_TYPE: u8 = 18;
/// Kind code of the `Rc`/`Arc` strong and weak counts of the thread's last [`KIND_VAR`].
pub const KIND_SHARED: u8 = 19;
/// Kind code of the source of the thread's last [`KIND_VAR`] when it is a clone.
pub const KIND_CLONE_OF: u8 = 20;
/// Kind code of entering a scope (`track_scope!`).
pub const KIND_SCOPE_ENTER: u8 = 21;
/// Kind code of leaving a scope.
pub const KIND_SCOPE_EXIT: u8 = 22;
/// Kind code of foreign memory that Rust now holds (`ffi::track_foreign`).
pub const KIND_FOREIGN_ALLOC: u8 = 23;
/// Kind code of foreign memory given back (`ffi::untrack_foreign`).
pub const KIND_FOREIGN_FREE: u8 = 24;
/// Kind code of a Rust allocation handed to foreign code (`ffi::handed_over`).
pub const KIND_HANDOFF: u8 = 25;
/// The largest kind code this version defines.
pub const KIND_MAX: u8 = KIND_HANDOFF;

/// Ring-only kind (format version 3): the stack of the reallocation pushed
/// right after it, as an id in the thread's stack table (`a`), and (version
/// 4) its return stamp plus one in `b` (0: none; the reallocation did not
/// move). The drainer folds it into that reallocation; it is never stored
/// on disk.
pub const KIND_STACK_NEXT: u8 = 31;

/// A *string key*: a `&'static str` as a number, its address in bits 0..48
/// and its length in bits 48..64 (FORMAT.md, glossary). The drainer
/// writes the text once per recording in a `Text` record; events carry the key.
///
/// Text longer than 65535 bytes is cut at the last character boundary
/// before that; a string whose address needs more than 48 bits gets key 0,
/// which replay shows as an unknown name.
#[inline]
pub fn str_key(s: &'static str) -> u64 {
    let mut len = s.len().min(0xFFFF);
    while !s.is_char_boundary(len) {
        len -= 1;
    }
    let addr = s.as_ptr() as u64;
    if addr >> 48 != 0 {
        return 0;
    }
    addr | ((len as u64) << 48)
}

/// The address and length a nonzero [`str_key`] packs.
#[inline]
pub const fn str_key_parts(key: u64) -> (u64, usize) {
    (key & ((1 << 48) - 1), (key >> 48) as usize)
}

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
    /// An allocation of `size` bytes aligned to `align` (a power of two)
    /// at `ptr`, made at call stack `stack` (0: none). `c` holds the
    /// alignment's log2 in bits 0..8 and the stack in bits 32..64.
    #[inline(always)]
    pub const fn alloc(ts_ns: u64, ptr: usize, size: usize, align: usize, zeroed: bool, stack: u32) -> Self {
        let kind = if zeroed { KIND_ALLOC_ZEROED } else { KIND_ALLOC };
        RawEvent { head: head(kind, ts_ns), a: ptr as u64, b: size as u64, c: (align.trailing_zeros() as u64) | ((stack as u64) << 32) }
    }

    /// The call stack of the reallocation that follows, and its return
    /// stamp `returned_ns` (0: it did not move) ([`KIND_STACK_NEXT`]).
    #[inline(always)]
    pub const fn stack_next(ts_ns: u64, stack: u32, returned_ns: u64) -> Self {
        let returned = if returned_ns == 0 { 0 } else { (returned_ns & TS_MAX) + 1 };
        RawEvent { head: head(KIND_STACK_NEXT, ts_ns), a: stack as u64, b: returned, c: 0 }
    }

    /// The return stamp a [`KIND_STACK_NEXT`] event carries (0: none).
    #[inline(always)]
    pub const fn next_returned(&self) -> u64 {
        self.b.saturating_sub(1)
    }

    /// The stack of an allocation event (bits 32..64 of `c`); 0 for other kinds.
    #[inline(always)]
    pub const fn alloc_stack(&self) -> u32 {
        match self.kind() {
            KIND_ALLOC | KIND_ALLOC_ZEROED => (self.c >> 32) as u32,
            _ => 0,
        }
    }

    /// The alignment of an allocation or deallocation event, in bytes.
    #[inline(always)]
    pub const fn align(&self) -> u64 {
        match self.kind() {
            KIND_ALLOC | KIND_ALLOC_ZEROED => 1 << (self.c & 63),
            _ => self.c,
        }
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

    /// An event with a kind code and its three operands as FORMAT.md's
    /// "Ring events" table gives them; used for the tracking kinds.
    #[inline(always)]
    pub const fn with_kind(kind: u8, ts_ns: u64, a: u64, b: u64, c: u64) -> Self {
        RawEvent { head: head(kind, ts_ns), a, b, c }
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
            KIND_ALLOC | KIND_ALLOC_ZEROED => Event::Alloc {
                ts_ns,
                ptr: self.a,
                size: self.b,
                align: self.align(),
                zeroed: self.kind() == KIND_ALLOC_ZEROED,
                stack: self.alloc_stack(),
            },
            KIND_REALLOC => Event::Realloc {
                ts_ns,
                old_ptr: self.a,
                new_ptr: self.b,
                old_size: Some(self.c & 0xFFFF_FFFF),
                new_size: self.c >> 32,
                stack: 0,
                returned_ns: None,
            },
            KIND_REALLOC_LARGE => {
                Event::Realloc { ts_ns, old_ptr: self.a, new_ptr: self.b, old_size: None, new_size: self.c, stack: 0, returned_ns: None }
            }
            KIND_DEALLOC => Event::Dealloc { ts_ns, ptr: self.a, size: self.b, align: self.c },
            KIND_THREAD_START => {
                let mut name = [0u8; 16];
                name[..8].copy_from_slice(&self.b.to_le_bytes());
                name[8..].copy_from_slice(&self.c.to_le_bytes());
                Event::ThreadStart { ts_ns, os_tid: self.a, name }
            }
            KIND_THREAD_EXIT => Event::ThreadExit { ts_ns },
            KIND_LOST => Event::Lost { ts_ns, count: self.a },
            KIND_VAR => Event::Var { ts_ns, ptr: self.a, size: self.b, site: self.c },
            KIND_VAR_MORE => Event::VarMore { ts_ns, ptr: self.a, size: self.b },
            KIND_VAR_TYPE => Event::VarType { ts_ns, type_key: self.a },
            KIND_SHARED => Event::Shared { ts_ns, strong: self.a, weak: self.b },
            KIND_CLONE_OF => Event::CloneOf { ts_ns, source_ptr: self.a },
            KIND_SCOPE_ENTER => Event::ScopeEnter { ts_ns, site: self.a },
            KIND_SCOPE_EXIT => Event::ScopeExit { ts_ns, site: self.a, unwinding: self.b != 0 },
            KIND_FOREIGN_ALLOC => Event::ForeignAlloc { ts_ns, ptr: self.a, size: self.b, label: self.c },
            KIND_FOREIGN_FREE => Event::ForeignFree { ts_ns, ptr: self.a },
            KIND_HANDOFF => Event::Handoff { ts_ns, ptr: self.a, label: self.c },
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
        /// The call stack's id: its innermost node in the file's stack
        /// tree (format version 3; 0: no stack).
        stack: u32,
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
        /// The call stack's id, as for [`Event::Alloc`].
        stack: u32,
        /// For a reallocation that moved (`new_ptr != old_ptr`): nanoseconds
        /// since the epoch, taken after the call returned (format version
        /// 4). `None` when it did not move, or in older versions. Replay
        /// releases `old_ptr` at `ts_ns` and acquires `new_ptr` at this time.
        returned_ns: Option<u64>,
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
    /// A tracked variable (`track_var!` or `track_clone!`), with its first
    /// heap allocation. Further allocations, its type when the site's differs,
    /// its `Rc`/`Arc` counts and its clone source follow as events of the
    /// same thread ([`Event::VarMore`], [`Event::VarType`], [`Event::Shared`],
    /// [`Event::CloneOf`]), which belong to the thread's last `Var`.
    Var {
        /// Nanoseconds since the epoch.
        ts_ns: u64,
        /// An address in the heap allocation (its start, or inside it, as
        /// for an `Rc`'s value); 0 when the value has no heap allocation.
        ptr: u64,
        /// The bytes the value says it holds there (e.g. a `Vec`'s capacity
        /// times its element size); 0 with `ptr` 0.
        size: u64,
        /// The site key (a `Site` record gives name, type, file and line).
        site: u64,
    },
    /// A further heap allocation of the thread's last [`Event::Var`].
    VarMore {
        /// Nanoseconds since the epoch.
        ts_ns: u64,
        /// An address in the allocation; 0 when the value holds `size` bytes
        /// it does not expose the address of.
        ptr: u64,
        /// Bytes, as for [`Event::Var`].
        size: u64,
    },
    /// The type of the thread's last [`Event::Var`], when not its site's.
    VarType {
        /// Nanoseconds since the epoch.
        ts_ns: u64,
        /// A string key (a `Text` record gives the type name).
        type_key: u64,
    },
    /// `Rc`/`Arc` counts of the thread's last [`Event::Var`], as observed.
    Shared {
        /// Nanoseconds since the epoch.
        ts_ns: u64,
        /// `Rc::strong_count` / `Arc::strong_count`.
        strong: u64,
        /// `Rc::weak_count` / `Arc::weak_count`.
        weak: u64,
    },
    /// The thread's last [`Event::Var`] is a clone of the value whose first
    /// heap allocation holds `source_ptr` (0: the source had none).
    CloneOf {
        /// Nanoseconds since the epoch.
        ts_ns: u64,
        /// An address in the source's first heap allocation.
        source_ptr: u64,
    },
    /// The thread entered a scope.
    ScopeEnter {
        /// Nanoseconds since the epoch.
        ts_ns: u64,
        /// The site key of the scope.
        site: u64,
    },
    /// The thread left a scope.
    ScopeExit {
        /// Nanoseconds since the epoch.
        ts_ns: u64,
        /// The site key of the scope.
        site: u64,
        /// Whether the scope was left by a panic unwinding.
        unwinding: bool,
    },
    /// Memory that foreign code allocated and Rust now holds.
    ForeignAlloc {
        /// Nanoseconds since the epoch.
        ts_ns: u64,
        /// Its address.
        ptr: u64,
        /// Its size in bytes.
        size: u64,
        /// A string key: the label the program gave it.
        label: u64,
    },
    /// Foreign memory Rust gave back (or freed).
    ForeignFree {
        /// Nanoseconds since the epoch.
        ts_ns: u64,
        /// The address passed to `track_foreign`.
        ptr: u64,
    },
    /// A Rust allocation handed to foreign code (e.g. after `Box::into_raw`).
    Handoff {
        /// Nanoseconds since the epoch.
        ts_ns: u64,
        /// An address in the allocation.
        ptr: u64,
        /// A string key: the label the program gave the crossing.
        label: u64,
    },
}

impl Event {
    /// The call stack id of an allocation or reallocation (0: none, or another kind).
    pub fn stack(&self) -> u32 {
        match *self {
            Event::Alloc { stack, .. } | Event::Realloc { stack, .. } => stack,
            _ => 0,
        }
    }

    /// The return stamp of a reallocation that moved, in nanoseconds since
    /// the epoch (0: none, or another kind), as
    /// [`encode_payload`](crate::format::codec::encode_payload) takes it beside the events.
    pub fn returned_ns(&self) -> u64 {
        match *self {
            Event::Realloc { returned_ns, .. } => returned_ns.unwrap_or(0),
            _ => 0,
        }
    }

    /// The event's timestamp in nanoseconds since the epoch.
    pub fn ts_ns(&self) -> u64 {
        match *self {
            Event::Alloc { ts_ns, .. }
            | Event::Realloc { ts_ns, .. }
            | Event::Dealloc { ts_ns, .. }
            | Event::ThreadStart { ts_ns, .. }
            | Event::ThreadExit { ts_ns }
            | Event::Lost { ts_ns, .. }
            | Event::Var { ts_ns, .. }
            | Event::VarMore { ts_ns, .. }
            | Event::VarType { ts_ns, .. }
            | Event::Shared { ts_ns, .. }
            | Event::CloneOf { ts_ns, .. }
            | Event::ScopeEnter { ts_ns, .. }
            | Event::ScopeExit { ts_ns, .. }
            | Event::ForeignAlloc { ts_ns, .. }
            | Event::ForeignFree { ts_ns, .. }
            | Event::Handoff { ts_ns, .. } => ts_ns,
        }
    }

    /// Re-encodes the event into its ring form (the inverse of
    /// [`RawEvent::decode`], except a reallocation's stack, which the ring
    /// carries in a [`KIND_STACK_NEXT`] event before it: see
    /// [`Event::stack`]).
    pub fn to_raw(&self) -> RawEvent {
        match *self {
            Event::Alloc { ts_ns, ptr, size, align, zeroed, stack } => {
                RawEvent::alloc(ts_ns, ptr as usize, size as usize, align as usize, zeroed, stack)
            }
            Event::Realloc { ts_ns, old_ptr, new_ptr, old_size: Some(old), new_size, .. } if (old | new_size) >> 32 == 0 => {
                RawEvent { head: head(KIND_REALLOC, ts_ns), a: old_ptr, b: new_ptr, c: old | (new_size << 32) }
            }
            Event::Realloc { ts_ns, old_ptr, new_ptr, new_size, .. } => {
                RawEvent { head: head(KIND_REALLOC_LARGE, ts_ns), a: old_ptr, b: new_ptr, c: new_size }
            }
            Event::Dealloc { ts_ns, ptr, size, align } => RawEvent { head: head(KIND_DEALLOC, ts_ns), a: ptr, b: size, c: align },
            Event::ThreadStart { ts_ns, os_tid, name } => RawEvent::thread_start(ts_ns, os_tid, name),
            Event::ThreadExit { ts_ns } => RawEvent::thread_exit(ts_ns),
            Event::Lost { ts_ns, count } => RawEvent::lost(ts_ns, count),
            Event::Var { ts_ns, ptr, size, site } => RawEvent::with_kind(KIND_VAR, ts_ns, ptr, size, site),
            Event::VarMore { ts_ns, ptr, size } => RawEvent::with_kind(KIND_VAR_MORE, ts_ns, ptr, size, 0),
            Event::VarType { ts_ns, type_key } => RawEvent::with_kind(KIND_VAR_TYPE, ts_ns, type_key, 0, 0),
            Event::Shared { ts_ns, strong, weak } => RawEvent::with_kind(KIND_SHARED, ts_ns, strong, weak, 0),
            Event::CloneOf { ts_ns, source_ptr } => RawEvent::with_kind(KIND_CLONE_OF, ts_ns, source_ptr, 0, 0),
            Event::ScopeEnter { ts_ns, site } => RawEvent::with_kind(KIND_SCOPE_ENTER, ts_ns, site, 0, 0),
            Event::ScopeExit { ts_ns, site, unwinding } => RawEvent::with_kind(KIND_SCOPE_EXIT, ts_ns, site, unwinding.into(), 0),
            Event::ForeignAlloc { ts_ns, ptr, size, label } => RawEvent::with_kind(KIND_FOREIGN_ALLOC, ts_ns, ptr, size, label),
            Event::ForeignFree { ts_ns, ptr } => RawEvent::with_kind(KIND_FOREIGN_FREE, ts_ns, ptr, 0, 0),
            Event::Handoff { ts_ns, ptr, label } => RawEvent::with_kind(KIND_HANDOFF, ts_ns, ptr, 0, label),
        }
    }
}
