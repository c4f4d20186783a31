//! Names on memory: the tracking API behind `track_var!`, `track_clone!`,
//! `track_scope!` and [`crate::ffi`].
//!
//! Each call pushes a few fixed-size events (FORMAT.md, "Tracking events")
//! into the calling thread's ring, like an allocation does. Names, types
//! and labels are never copied on this path: an event carries the address
//! of a `static` [`Site`] (one per macro call site) or a string key of a
//! `&'static str`, and the drainer writes each text once per recording, in
//! a `Site` or `Text` record, the first time it meets the key. When no
//! recording runs, a call costs one atomic load.

use super::thread::{record_group, Group, CONTROL};
use super::trackable::{Heap, Mode, Trackable, BATCH};
use crate::format::event::*;
use crate::format::{SiteRecord, SITE_CLONE, SITE_SCOPE, SITE_VAR};
use crate::sync::Ordering;
use core::marker::PhantomData;
use std::sync::atomic::AtomicU64;

/// One macro call site: what the drainer writes in a `Site` record. Built
/// by the macros as a `static`; its address is the site key events carry.
#[doc(hidden)]
#[derive(Debug)]
pub struct Site {
    kind: u8,
    name: &'static str,
    file: &'static str,
    line: u32,
    column: u32,
    /// The string key of the type of the site's first tracked value (0 until
    /// then; set once, never changed after). A later value of another type
    /// (a site inside a generic function) carries its type in a `VarType` event.
    type_key: AtomicU64,
}

impl Site {
    /// A site of `kind` (`SITE_VAR`, `SITE_CLONE` or `SITE_SCOPE`).
    #[doc(hidden)]
    pub const fn new(kind: u8, name: &'static str, file: &'static str, line: u32, column: u32) -> Self {
        Site { kind, name, file, line, column, type_key: AtomicU64::new(0) }
    }

    /// The site's kind (`SITE_VAR`, `SITE_CLONE` or `SITE_SCOPE`).
    pub(crate) fn kind(&self) -> u8 {
        self.kind
    }

    fn key(&'static self) -> u64 {
        self as *const Site as u64
    }

    /// The site's `Site` record, for the drainer.
    pub(crate) fn record(&self, key: u64) -> SiteRecord {
        SiteRecord {
            key,
            kind: self.kind,
            name: self.name.to_owned(),
            file: self.file.to_owned(),
            line: self.line,
            column: self.column,
            // Relaxed: set once, before any event carrying this site was
            // pushed. The thread whose CAS set it published it with the
            // ring's Release push (the drainer's Acquire pop pairs with it);
            // a thread whose CAS failed read it, so by read-read coherence
            // no later read here sees the earlier 0.
            type_key: self.type_key.load(Ordering::Relaxed),
        }
    }

    /// The string key of `T`'s type name for a `VarType` event, when it is
    /// not the site's type (the first call sets the site's type: before any
    /// event carrying the site is pushed, so its `Site` record has it).
    fn type_event<T: ?Sized>(&'static self) -> Option<u64> {
        let key = str_key(std::any::type_name::<T>());
        // Relaxed: only this value matters, not the order with other memory
        // (the drainer reads it after the push, see `record`). A plain load
        // first: once the site's type is set (its first call), no call
        // writes the site's cache line (a failed CAS is a locked write too,
        // and waits for the store buffer).
        let mut first = self.type_key.load(Ordering::Relaxed);
        if first == 0 {
            first = match self.type_key.compare_exchange(0, key, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => key,
                Err(existing) => existing,
            };
        }
        // Key 0 (a name we cannot key) never stands for the site's type.
        (first != key || key == 0).then_some(key)
    }
}

/// Reads the `&'static Site` a site key stands for.
///
/// # Safety
/// `key` must come from an event of a tracking kind that carries a site
/// (`Var`, `ScopeEnter`, `ScopeExit`) popped from a ring: only this module
/// builds those, from a `&'static Site`.
pub(crate) unsafe fn site_from_key(key: u64) -> &'static Site {
    // SAFETY: the caller's contract: `key` is the address of a `static Site`.
    unsafe { &*(key as usize as *const Site) }
}

/// Reads the `&'static str` a nonzero string key stands for.
///
/// # Safety
/// `key` must be a nonzero [`str_key`] of a `&'static str`, taken from an
/// event of a tracking kind popped from a ring (only this crate builds
/// those, with [`str_key`]).
pub(crate) unsafe fn str_from_key(key: u64) -> std::borrow::Cow<'static, str> {
    let (addr, len) = str_key_parts(key);
    // SAFETY: `str_key` packed the address and a length up to the string's
    // own of a `&'static str`: the bytes are valid and live forever.
    let bytes = unsafe { core::slice::from_raw_parts(addr as usize as *const u8, len) };
    // `str_key` cuts at a character boundary, so these are UTF-8; checked
    // anyway rather than trusted, and replaced as FORMAT.md says a reader
    // replaces invalid UTF-8 (U+FFFD), borrowing when valid.
    String::from_utf8_lossy(bytes)
}

/// Whether a recording is running now (one atomic load).
#[inline]
fn recording() -> bool {
    // Relaxed: only a hint; `record_group` checks again with Acquire.
    CONTROL.session.load(Ordering::Relaxed) != 0
}

/// Pushes a full batch of `heap`'s regions: with the value's Var event if
/// none went out yet, else as VarMore events of the variable the thread's
/// Var began. Once the Var event was dropped (a full ring under
/// `OnFull::Drop`, counted), the value's later batches are not pushed: they
/// would attach to the thread's previous variable.
pub(crate) fn push_batch(heap: &mut Heap) {
    if heap.sent == 2 {
        return;
    }
    let mut group = Group::new();
    add_regions(&mut group, heap);
    let pushed = record_group(&mut group, 0) != 0;
    if heap.sent == 0 {
        heap.sent = if pushed { 1 } else { 2 };
    }
}

/// Adds `heap`'s pending regions to `group`, led by the Var event if none
/// went out yet.
fn add_regions(group: &mut Group, heap: &Heap) {
    let mut regions = heap.pending().iter().copied();
    if heap.sent == 0 {
        let (ptr, size) = regions.next().unwrap_or((0, 0));
        group.add(KIND_VAR, ptr, size, heap.site);
    }
    for (ptr, size) in regions {
        group.add(KIND_VAR_MORE, ptr, size, 0);
    }
}

/// Walks `value` and pushes its events: `Var` with its first allocation,
/// `VarMore` for the rest (batches of [`BATCH`] go out as the walk fills
/// them), then the bytes not located or past the bound, `VarType`,
/// `Shared`, and `CloneOf` when `clone_of` is given.
fn push_value<T: Trackable + ?Sized>(site: &'static Site, value: &T, clone_of: Option<u64>) {
    // Before the walk, which may push the value's first batch.
    let type_event = site.type_event::<T>();
    let mut heap = Heap::new(Mode::Record, site.key());
    value.track(&mut heap);
    if heap.sent == 2 {
        return;
    }
    let mut group = Group::new();
    add_regions(&mut group, &heap);
    if let Some(bytes) = heap.unlocated() {
        group.add(KIND_VAR_MORE, 0, bytes, 0);
    }
    if let Some((_, bytes)) = heap.past_bound() {
        group.add(KIND_VAR_MORE, VAR_MORE_PAST_BOUND, bytes, 0);
    }
    if let Some(key) = type_event {
        group.add(KIND_VAR_TYPE, key, 0, 0);
    }
    if let Some((strong, weak)) = heap.counts() {
        group.add(KIND_SHARED, strong, weak, 0);
    }
    if let Some(source_ptr) = clone_of {
        group.add(KIND_CLONE_OF, source_ptr, 0, 0);
    }
    record_group(&mut group, 0);
}

/// `track_var!`: records `value`'s heap allocations under `site`.
#[doc(hidden)]
#[inline]
pub fn var<T: Trackable + ?Sized>(site: &'static Site, value: &T) {
    if recording() {
        var_in(site, value);
    }
}

#[inline(never)]
fn var_in<T: Trackable + ?Sized>(site: &'static Site, value: &T) {
    debug_assert!(site.kind == SITE_VAR);
    push_value(site, value, None);
}

/// `track_clone!`: records `clone`'s heap allocations under `site`, linked
/// to `source` (whose first heap allocation identifies it).
#[doc(hidden)]
#[inline]
pub fn clone<S: Trackable + ?Sized, C: Trackable + ?Sized>(site: &'static Site, source: &S, clone: &C) {
    if recording() {
        clone_in(site, source, clone);
    }
}

#[inline(never)]
fn clone_in<S: Trackable + ?Sized, C: Trackable + ?Sized>(site: &'static Site, source: &S, clone: &C) {
    debug_assert!(site.kind == SITE_CLONE);
    let mut source_heap = Heap::new(Mode::FirstOnly, 0);
    source.track(&mut source_heap);
    let source_ptr = source_heap.first().map_or(0, |(p, _)| p);
    push_value(site, clone, Some(source_ptr));
}

/// A scope opened by `track_scope!`: entered when made, left when dropped
/// (also when a panic unwinds through it). Scopes nest per thread; the guard
/// cannot be sent to another thread. A guard dropped while the thread
/// panics (even in a destructor run by the unwinding) counts as unwound.
/// Under `OnFull::Drop`, the exit waits for room in the ring rather than
/// being dropped, so a scope is never left open by a full ring.
#[must_use = "a scope ends when its guard is dropped: bind it with `let _scope = ...`"]
#[derive(Debug)]
pub struct ScopeGuard {
    site: &'static Site,
    /// The recording the enter event went to (0: none, so no exit either).
    session: u32,
    /// Scopes belong to one thread's stream.
    _not_send: PhantomData<*const ()>,
}

impl ScopeGuard {
    /// Enters the scope of `site` (`track_scope!` calls this).
    #[doc(hidden)]
    #[inline]
    pub fn enter(site: &'static Site) -> ScopeGuard {
        debug_assert!(site.kind == SITE_SCOPE);
        let session = if recording() { scope_event(KIND_SCOPE_ENTER, site, false, 0) } else { 0 };
        ScopeGuard { site, session, _not_send: PhantomData }
    }
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        // Relaxed: a hint, as in `recording`. An exit goes to the recording
        // its enter went to, or nowhere.
        if self.session != 0 && CONTROL.session.load(Ordering::Relaxed) == self.session {
            scope_event(KIND_SCOPE_EXIT, self.site, std::thread::panicking(), self.session);
        }
    }
}

#[inline(never)]
fn scope_event(kind: u8, site: &'static Site, unwinding: bool, only: u32) -> u32 {
    let mut group = Group::new();
    group.add(kind, site.key(), u64::from(unwinding), 0);
    record_group(&mut group, only)
}

/// Pushes one foreign-memory event (see [`crate::ffi`]).
pub(crate) fn foreign_event(kind: u8, ptr: u64, size: u64, label: &'static str) {
    // The drainer reads `c` of these kinds as a string key (drain.rs).
    debug_assert!(matches!(kind, KIND_FOREIGN_ALLOC | KIND_FOREIGN_FREE | KIND_HANDOFF));
    if recording() {
        let mut group = Group::new();
        let label = if kind == KIND_FOREIGN_FREE { 0 } else { str_key(label) };
        group.add(kind, ptr, size, label);
        record_group(&mut group, 0);
    }
}

const _: () = assert!(BATCH + 5 <= super::thread::MAX_GROUP, "a batch and a value's last events fit in one group");

/// The site kind code of a variable site, for the macros.
#[doc(hidden)]
pub const VAR: u8 = SITE_VAR;
/// The site kind code of a clone site, for the macros.
#[doc(hidden)]
pub const CLONE: u8 = SITE_CLONE;
/// The site kind code of a scope site, for the macros.
#[doc(hidden)]
pub const SCOPE: u8 = SITE_SCOPE;

/// Names a value and records its heap allocation(s): `track_var!(expr)`.
///
/// Takes a reference to `expr` (it never moves or clones the value) and
/// records, with the current time and thread, the expression's text
/// (`stringify!`), its type (`std::any::type_name`), the file, line and
/// column, and the address and size of every heap allocation the value
/// owns, deeply, as it reports them through [`Trackable`](crate::Trackable)
/// (at most [`MAX_REGIONS`](crate::record::MAX_REGIONS) by address; the
/// bytes of the rest are counted, and replay marks the variable
/// `regions_truncated`). A value with no heap allocation is recorded as
/// such. For `Rc` and `Arc`, the strong and weak counts at this moment are
/// recorded too.
///
/// Replay links the variable to the live allocation containing each
/// address: the variable lives until that allocation is deallocated, and a
/// reallocation (a growing `Vec`) keeps its name.
///
/// Costs one atomic load when no recording runs; otherwise one 32-byte
/// event per allocation the value owns, plus up to four (benches/README.md),
/// and a walk of the value (a `Vec<String>` visits each string). Never
/// panics.
///
/// ```no_run
/// let numbers = vec![1u64; 10_000];
/// memscope::track_var!(numbers);
/// ```
#[macro_export]
macro_rules! track_var {
    ($value:expr $(,)?) => {{
        static SITE: $crate::record::track::Site =
            $crate::record::track::Site::new($crate::record::track::VAR, stringify!($value), file!(), line!(), column!());
        $crate::record::track::var(&SITE, &$value)
    }};
}

/// Clones a value and tracks the clone, linked to its source:
/// `let copy = track_clone!(source);`.
///
/// Evaluates to `source.clone()` (for `source: &Arc<T>`, a new `Arc<T>`,
/// not a copy of the reference). The clone is recorded as by
/// [`track_var!`], with a link to the source's first heap allocation; for
/// `Rc` and `Arc` the counts recorded are those after the clone. Each clone
/// is its own variable, named after its source and its index at this site
/// (`shared (clone 2)`), also the clones of one `Rc` made in a loop. Replay
/// shows which variables share one allocation.
///
/// ```no_run
/// let shared = std::rc::Rc::new(String::from("x"));
/// let copy = memscope::track_clone!(shared);
/// assert_eq!(std::rc::Rc::strong_count(&copy), 2);
/// ```
#[macro_export]
macro_rules! track_clone {
    ($value:expr $(,)?) => {{
        static SITE: $crate::record::track::Site =
            $crate::record::track::Site::new($crate::record::track::CLONE, stringify!($value), file!(), line!(), column!());
        let source = &$value;
        // Method-call syntax, so that a source that is a reference to an
        // `Arc` clones the `Arc`, not the reference.
        let clone = (*source).clone();
        $crate::record::track::clone(&SITE, source, &clone);
        clone
    }};
}

/// Opens a named scope until the returned guard is dropped:
/// `let _scope = track_scope!("parse_config");`.
///
/// Replay attributes every allocation of this thread made while the scope
/// is its innermost open scope to it, and builds a per-thread scope tree
/// with allocations, bytes, peak live bytes and time. The name must be a
/// constant `&'static str`. A scope left by a panic's unwinding closes too,
/// and is counted as unwound.
///
/// ```no_run
/// {
///     let _scope = memscope::track_scope!("parse_config");
///     let config: Vec<String> = std::env::args().collect();
/// } // the scope ends here
/// ```
#[macro_export]
macro_rules! track_scope {
    ($name:expr $(,)?) => {{
        static SITE: $crate::record::track::Site =
            $crate::record::track::Site::new($crate::record::track::SCOPE, $name, file!(), line!(), column!());
        $crate::record::track::ScopeGuard::enter(&SITE)
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_behind_a_key_becomes_u_fffd_as_format_md_says() {
        static BYTES: [u8; 5] = [b'a', 0xFF, b'b', 0xC3, b'c'];
        let key = BYTES.as_ptr() as u64 | (BYTES.len() as u64) << 48;
        // SAFETY: `key` packs the address and length of a `static` byte
        // array, which is what `str_from_key` reads (its bytes need not be
        // UTF-8 for the read to be sound).
        let text = unsafe { str_from_key(key) };
        assert_eq!(text, "a\u{FFFD}b\u{FFFD}c");
        let valid = str_key("plain label");
        // SAFETY: a key of a `&'static str`, made by `str_key`.
        let text = unsafe { str_from_key(valid) };
        assert!(matches!(text, std::borrow::Cow::Borrowed("plain label")));
    }
}
