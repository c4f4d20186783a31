//! [`Trackable`]: how a value tells `track_var!` where its heap memory is.

use std::alloc::Layout;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, LinkedList, VecDeque};
use std::ffi::{CString, OsString};
use std::mem::size_of_val;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

/// The most heap allocations one tracked value reports by address (each is
/// one 32-byte event). The walk goes on past it: the bytes of the further
/// allocations are summed and recorded as past the bound (not linked), and
/// replay marks the variable `regions_truncated`.
pub const MAX_REGIONS: usize = crate::format::event::MAX_VAR_REGIONS;

/// Regions held before they are pushed as one group of events.
pub(crate) const BATCH: usize = 19;

/// How [`Heap`] hands on full batches of regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Push each full batch into the thread's ring (`track_var!`).
    Record,
    /// Only the first region matters (a clone's source): stop the walk there.
    FirstOnly,
    /// Keep every region in `kept` (unit tests).
    #[cfg(test)]
    Keep,
}

/// What a value reports to [`Trackable::track`]: the heap allocations it
/// owns, by address, and for `Rc`/`Arc` the reference counts.
///
/// Never allocates: it holds one batch of addresses at a time and pushes
/// each full batch into the recording (the first [`MAX_REGIONS`] of a value
/// go by address; the bytes of the rest are summed).
#[derive(Debug)]
pub struct Heap {
    pub(crate) mode: Mode,
    /// The `track_var!` site key, for the Var event of the first batch.
    pub(crate) site: u64,
    pub(crate) batch: [(u64, u64); BATCH],
    pub(crate) len: usize,
    /// Regions reported by address so far (pushed or in `batch`).
    located: usize,
    /// The first region reported.
    first: Option<(u64, u64)>,
    /// Bytes of heap memory reported without an address; `None` when none.
    unlocated: Option<u64>,
    /// Allocations past [`MAX_REGIONS`], and their bytes.
    past_bound: u64,
    past_bound_bytes: u64,
    counts: Option<(u64, u64)>,
    /// Whether the Var event went out: 0 not yet, 1 pushed, 2 dropped (the
    /// value's later batches are then not pushed: they would attach to
    /// another variable).
    pub(crate) sent: u8,
    #[cfg(test)]
    pub(crate) kept: Vec<(u64, u64)>,
}

impl Heap {
    pub(crate) const fn new(mode: Mode, site: u64) -> Self {
        Heap {
            mode,
            site,
            batch: [(0, 0); BATCH],
            len: 0,
            located: 0,
            first: None,
            unlocated: None,
            past_bound: 0,
            past_bound_bytes: 0,
            counts: None,
            sent: 0,
            #[cfg(test)]
            kept: Vec::new(),
        }
    }

    /// Reports a heap allocation: `ptr` points to its start or inside it,
    /// and `bytes` is how many bytes the value holds there (0 when it does
    /// not know; replay takes the allocation's size from the recording
    /// either way).
    ///
    /// `ptr` should point into memory the value owns on the heap: never a
    /// dangling pointer of an empty collection. An address in no heap
    /// allocation (the stack, static memory) leaves the variable unlinked,
    /// with a note.
    pub fn allocation<T: ?Sized>(&mut self, ptr: *const T, bytes: usize) {
        if self.stopped() {
            return;
        }
        let addr = ptr.cast::<u8>() as usize as u64;
        if addr == 0 || self.batch[..self.len].iter().any(|&(p, _)| p == addr) || self.first.is_some_and(|(p, _)| p == addr) {
            return;
        }
        if self.located >= MAX_REGIONS {
            self.past_bound += 1;
            self.past_bound_bytes = self.past_bound_bytes.saturating_add(bytes as u64);
            return;
        }
        self.first.get_or_insert((addr, bytes as u64));
        self.located += 1;
        self.batch[self.len] = (addr, bytes as u64);
        self.len += 1;
        if self.len == BATCH {
            self.flush();
        }
    }

    /// Reports `bytes` of heap memory whose address the value does not
    /// expose (e.g. an empty `HashMap` with capacity); 0 when even the size
    /// is unknown. Replay lists it as not linked.
    pub fn not_located(&mut self, bytes: usize) {
        if self.stopped() {
            return;
        }
        self.unlocated = Some(self.unlocated.unwrap_or(0).saturating_add(bytes as u64));
    }

    /// Reports the strong and weak counts of a shared pointer. Only the
    /// first report of a value is kept (the outermost `Rc` or `Arc`).
    pub fn shared(&mut self, strong: usize, weak: usize) {
        if self.counts.is_none() {
            self.counts = Some((strong as u64, weak as u64));
        }
    }

    /// Whether the walk can stop: a collection's `track` checks it between
    /// elements (only a clone's source stops early, at its first allocation).
    pub fn stopped(&self) -> bool {
        self.mode == Mode::FirstOnly && self.first.is_some()
    }

    fn flush(&mut self) {
        match self.mode {
            Mode::Record => super::track::push_batch(self),
            Mode::FirstOnly => {}
            #[cfg(test)]
            Mode::Keep => self.kept.extend_from_slice(&self.batch[..self.len]),
        }
        self.len = 0;
    }

    /// The regions not yet pushed.
    pub(crate) fn pending(&self) -> &[(u64, u64)] {
        &self.batch[..self.len]
    }

    pub(crate) fn first(&self) -> Option<(u64, u64)> {
        self.first
    }

    pub(crate) fn unlocated(&self) -> Option<u64> {
        self.unlocated
    }

    /// Allocations past [`MAX_REGIONS`] and their bytes; `None` when none.
    pub(crate) fn past_bound(&self) -> Option<(u64, u64)> {
        (self.past_bound > 0).then_some((self.past_bound, self.past_bound_bytes))
    }

    pub(crate) fn counts(&self) -> Option<(u64, u64)> {
        self.counts
    }
}

/// A value whose heap allocations `track_var!` can record: every heap
/// allocation it owns, deeply (a `Vec<String>` reports its buffer and each
/// string's; an `Rc<Vec<u32>>` its `Rc` allocation and the vector's buffer).
///
/// Implemented for the standard library's owning types, numbers, tuples,
/// arrays, slices and references. A type of your own forwards to its
/// fields, no derive needed; a type with no heap memory is one line,
/// `impl memscope::Trackable for Point {}`:
///
/// ```
/// struct Config { name: String, items: Vec<u32> }
///
/// impl memscope::Trackable for Config {
///     fn track(&self, heap: &mut memscope::Heap) {
///         self.name.track(heap);
///         self.items.track(heap);
///     }
/// }
/// ```
///
/// Report only real heap memory the value owns; a value with none (a
/// number, an empty `Vec`) reports nothing and is recorded as having no
/// heap allocation. A slice or `str` reports the memory it points to (a
/// `&'static mut [u8]` from `Box::leak` is linked to its allocation; one
/// in static memory or on the stack is recorded as unlinked, with a note).
pub trait Trackable {
    /// Reports this value's heap allocations to `heap` (by default none).
    fn track(&self, heap: &mut Heap) {
        let _ = heap;
    }
}

macro_rules! no_heap {
    ($($t:ty),* $(,)?) => {$(
        impl Trackable for $t {}
    )*};
}

no_heap!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64, bool, char, ());

macro_rules! tuples {
    ($(($($n:tt $t:ident),+))*) => {$(
        impl<$($t: Trackable),+> Trackable for ($($t,)+) {
            fn track(&self, heap: &mut Heap) {
                $(self.$n.track(heap);)+
            }
        }
    )*};
}

tuples!((0 A) (0 A, 1 B) (0 A, 1 B, 2 C) (0 A, 1 B, 2 C, 3 D));

/// The memory the string points to (not on the heap for a literal: the
/// variable is then unlinked, with a note).
impl Trackable for str {
    fn track(&self, heap: &mut Heap) {
        if !self.is_empty() {
            heap.allocation(self.as_ptr(), self.len());
        }
    }
}

impl<T: Trackable + ?Sized> Trackable for &T {
    fn track(&self, heap: &mut Heap) {
        (**self).track(heap);
    }
}

impl<T: Trackable + ?Sized> Trackable for &mut T {
    fn track(&self, heap: &mut Heap) {
        (**self).track(heap);
    }
}

impl<T: Trackable> Trackable for Option<T> {
    fn track(&self, heap: &mut Heap) {
        if let Some(v) = self {
            v.track(heap);
        }
    }
}

/// Each element's heap allocations, stopping when the walk may stop.
fn elements<'a, T: Trackable + 'a>(heap: &mut Heap, iter: impl Iterator<Item = &'a T>) {
    for v in iter {
        if heap.stopped() {
            return;
        }
        v.track(heap);
    }
}

/// A slice reports the memory it points to (`len × size_of::<T>()` bytes,
/// for a `&'static mut [u8]` from `Box::leak`) and its elements' heap
/// allocations.
impl<T: Trackable> Trackable for [T] {
    fn track(&self, heap: &mut Heap) {
        let bytes = size_of_val(self);
        if bytes > 0 {
            heap.allocation(self.as_ptr(), bytes);
        }
        elements(heap, self.iter());
    }
}

/// An array is held inline: only its elements' heap allocations.
impl<T: Trackable, const N: usize> Trackable for [T; N] {
    fn track(&self, heap: &mut Heap) {
        elements(heap, self.iter());
    }
}

/// The `Vec`'s buffer (`capacity × size_of::<T>()` bytes) and its elements'
/// own allocations.
impl<T: Trackable> Trackable for Vec<T> {
    fn track(&self, heap: &mut Heap) {
        let bytes = self.capacity() * size_of::<T>();
        if bytes > 0 {
            heap.allocation(self.as_ptr(), bytes);
        }
        elements(heap, self.iter());
    }
}

impl Trackable for String {
    fn track(&self, heap: &mut Heap) {
        if self.capacity() > 0 {
            heap.allocation(self.as_ptr(), self.capacity());
        }
    }
}

/// The box's allocation (none for a zero-sized value) and the value's own.
impl<T: Trackable + ?Sized> Trackable for Box<T> {
    fn track(&self, heap: &mut Heap) {
        let bytes = size_of_val::<T>(self);
        if bytes > 0 {
            heap.allocation(&**self as *const T, bytes);
        }
        (**self).track(heap);
    }
}

/// The start and size of the allocation of an `Rc` or `Arc` holding
/// `value`: both put two `usize` counts before the value (`#[repr(C)]`).
fn counted_allocation<T: ?Sized>(value: &T) -> Option<(*const u8, usize)> {
    let (whole, offset) = Layout::new::<[usize; 2]>().extend(Layout::for_value(value)).ok()?;
    let start = (value as *const T).cast::<u8>().wrapping_sub(offset);
    Some((start, whole.pad_to_align().size()))
}

/// The `Rc`'s own allocation (its counts and value: the address recorded
/// is the allocation's start), its strong and weak counts, and the value's
/// heap allocations. An empty `Rc::default()` of a slice or `str` may live
/// in static memory: the variable is then unlinked, with a note.
impl<T: Trackable + ?Sized> Trackable for Rc<T> {
    fn track(&self, heap: &mut Heap) {
        match counted_allocation::<T>(self) {
            Some((start, bytes)) => heap.allocation(start, bytes),
            None => heap.not_located(0),
        }
        heap.shared(Rc::strong_count(self), Rc::weak_count(self));
        (**self).track(heap);
    }
}

/// As for `Rc`.
impl<T: Trackable + ?Sized> Trackable for Arc<T> {
    fn track(&self, heap: &mut Heap) {
        match counted_allocation::<T>(self) {
            Some((start, bytes)) => heap.allocation(start, bytes),
            None => heap.not_located(0),
        }
        heap.shared(Arc::strong_count(self), Arc::weak_count(self));
        (**self).track(heap);
    }
}

/// The ring buffer, located through its front element (an empty deque with
/// capacity reports its bytes as not located), and its elements' own.
impl<T: Trackable> Trackable for VecDeque<T> {
    fn track(&self, heap: &mut Heap) {
        let bytes = self.capacity() * size_of::<T>();
        if bytes > 0 {
            match self.front() {
                Some(first) => heap.allocation(first as *const T, bytes),
                None => heap.not_located(bytes),
            }
        }
        elements(heap, self.iter());
    }
}

impl<T: Trackable> Trackable for BinaryHeap<T> {
    fn track(&self, heap: &mut Heap) {
        let bytes = self.capacity() * size_of::<T>();
        if bytes > 0 {
            heap.allocation(self.as_slice().as_ptr(), bytes);
        }
        elements(heap, self.iter());
    }
}

/// The hash table's one allocation, located through an entry (its size is
/// not exposed: replay takes it from the recording; an empty map with
/// capacity, or one of zero-sized entries, is reported as not located),
/// and every key's and value's own allocations.
impl<K: Trackable, V: Trackable, S> Trackable for HashMap<K, V, S> {
    fn track(&self, heap: &mut Heap) {
        if self.capacity() == 0 {
            return;
        }
        match self.iter().next().filter(|_| size_of::<(K, V)>() > 0) {
            Some((k, _)) => heap.allocation(k as *const K, 0),
            None => heap.not_located(0),
        }
        for (k, v) in self {
            if heap.stopped() {
                return;
            }
            k.track(heap);
            v.track(heap);
        }
    }
}

/// As for `HashMap`.
impl<T: Trackable, S> Trackable for HashSet<T, S> {
    fn track(&self, heap: &mut Heap) {
        if self.capacity() == 0 {
            return;
        }
        match self.iter().next().filter(|_| size_of::<T>() > 0) {
            Some(v) => heap.allocation(v as *const T, 0),
            None => heap.not_located(0),
        }
        elements(heap, self.iter());
    }
}

/// Reports the nodes holding up to 16 entries, spread evenly over the tree;
/// replay links each to its node allocation. The nodes of the other entries
/// are reported as not located (a node holds up to 11 entries: reporting
/// each entry would fill the region bound with repeats).
fn sampled<'a, T: 'a>(heap: &mut Heap, len: usize, iter: impl Iterator<Item = &'a T>) {
    const NODES: usize = 16;
    if len == 0 {
        return;
    }
    if size_of::<T>() == 0 {
        // The nodes are allocated; a zero-sized element has no address in them.
        heap.not_located(0);
        return;
    }
    let step = len.div_ceil(NODES);
    for v in iter.step_by(step) {
        heap.allocation(v as *const T, 0);
    }
    if step > 1 {
        heap.not_located(0);
    }
}

impl<K: Trackable, V: Trackable> Trackable for BTreeMap<K, V> {
    fn track(&self, heap: &mut Heap) {
        sampled(heap, self.len(), self.keys());
        for (k, v) in self {
            if heap.stopped() {
                return;
            }
            k.track(heap);
            v.track(heap);
        }
    }
}

impl<T: Trackable> Trackable for BTreeSet<T> {
    fn track(&self, heap: &mut Heap) {
        sampled(heap, self.len(), self.iter());
        elements(heap, self.iter());
    }
}

/// One allocation per node, and each element's own.
impl<T: Trackable> Trackable for LinkedList<T> {
    fn track(&self, heap: &mut Heap) {
        if size_of::<T>() == 0 && !self.is_empty() {
            heap.not_located(0);
        }
        for v in self {
            if heap.stopped() {
                return;
            }
            if size_of::<T>() > 0 {
                heap.allocation(v as *const T, 0);
            }
            v.track(heap);
        }
    }
}

impl Trackable for CString {
    fn track(&self, heap: &mut Heap) {
        let bytes = self.as_bytes_with_nul();
        heap.allocation(bytes.as_ptr(), bytes.len());
    }
}

impl Trackable for OsString {
    fn track(&self, heap: &mut Heap) {
        if self.capacity() > 0 {
            heap.allocation(self.as_encoded_bytes().as_ptr(), self.capacity());
        }
    }
}

impl Trackable for PathBuf {
    fn track(&self, heap: &mut Heap) {
        if self.capacity() > 0 {
            heap.allocation(self.as_os_str().as_encoded_bytes().as_ptr(), self.capacity());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regions (address, bytes), bytes not located, counts, and allocations past the bound.
    type Report = (Vec<(u64, u64)>, Option<u64>, Option<(u64, u64)>, Option<(u64, u64)>);

    fn report<T: Trackable + ?Sized>(v: &T) -> Report {
        let mut h = Heap::new(Mode::Keep, 0);
        v.track(&mut h);
        h.flush();
        (h.kept.clone(), h.unlocated(), h.counts(), h.past_bound())
    }

    fn addr<T: ?Sized>(p: *const T) -> u64 {
        p.cast::<u8>() as usize as u64
    }

    #[test]
    fn vec_and_string_report_their_buffer() {
        let v: Vec<u64> = Vec::with_capacity(10);
        assert_eq!(report(&v).0, vec![(addr(v.as_ptr()), 80)]);
        let s = String::from("hello");
        assert_eq!(report(&s).0, vec![(addr(s.as_ptr()), s.capacity() as u64)]);
    }

    #[test]
    fn values_without_heap_memory_report_nothing() {
        assert_eq!(report(&Vec::<u8>::new()), (vec![], None, None, None));
        assert_eq!(report(&vec![(); 5]), (vec![], None, None, None));
        assert_eq!(report(&Box::new(())), (vec![], None, None, None));
        assert_eq!(report(&42u32), (vec![], None, None, None));
        assert_eq!(report(&String::new()), (vec![], None, None, None));
        assert_eq!(report(&[1u8, 2, 3]), (vec![], None, None, None));
        assert_eq!(report(&(1u8, 'x')), (vec![], None, None, None));
    }

    #[test]
    fn collections_report_their_elements_allocations() {
        let v: Vec<String> = vec!["ab".to_owned(), String::with_capacity(100)];
        let expected = vec![(addr(v.as_ptr()), 2 * 24), (addr(v[0].as_ptr()), 2), (addr(v[1].as_ptr()), 100)];
        assert_eq!(report(&v).0, expected);
        let m: HashMap<String, Vec<f64>> = [("k".to_owned(), vec![1.0; 3])].into_iter().collect();
        let (k, val) = m.iter().next().unwrap();
        let expected = vec![(addr(k as *const String), 0), (addr(k.as_ptr()), 1), (addr(val.as_ptr()), 24)];
        assert_eq!(report(&m).0, expected);
        let nested: Box<Option<Vec<u32>>> = Box::new(Some(vec![7; 4]));
        let inner = nested.as_ref().as_ref().unwrap();
        assert_eq!(report(&nested).0, vec![(addr(&*nested as *const _), 24), (addr(inner.as_ptr()), 16)]);
    }

    #[test]
    fn rc_reports_its_allocation_start_counts_and_value() {
        let a = Rc::new(vec![1u32; 4]);
        let b = Rc::clone(&a);
        let w = Rc::downgrade(&a);
        let (regions, _, counts, _) = report(&b);
        // The counts header (two usize) sits before the value.
        let start = addr(Rc::as_ptr(&a)) - 16;
        assert_eq!(regions, vec![(start, 16 + 24), (addr(a.as_ptr()), 16)]);
        assert_eq!(counts, Some((2, 1)));
        drop(w);
        // A zero-sized value: its allocation is the counts alone.
        let z = Rc::new(());
        assert_eq!(report(&z).0, vec![(addr(Rc::as_ptr(&z)) - 16, 16)]);
        // An over-aligned value sits at its alignment.
        #[repr(align(64))]
        struct Wide(#[allow(dead_code)] u8);
        impl Trackable for Wide {}
        let wide = Arc::new(Wide(1));
        assert_eq!(report(&wide).0, vec![(addr(Arc::as_ptr(&wide)) - 64, 128)]);
    }

    #[test]
    fn a_leaked_slice_reports_the_memory_it_points_to() {
        let leaked: &'static mut [u8] = Box::leak(vec![0u8; 1000].into_boxed_slice());
        let p = addr(leaked.as_ptr());
        assert_eq!(report(&leaked).0, vec![(p, 1000)]);
        let boxed: Box<str> = "hello".into();
        assert_eq!(report(&boxed).0, vec![(addr(boxed.as_ptr()), 5)]);
        // SAFETY: `leaked` came from `Box::leak` of a boxed slice and is not used again.
        drop(unsafe { Box::from_raw(leaked as *mut [u8]) });
    }

    #[test]
    fn collections_of_zero_sized_elements_are_not_located() {
        let m: HashMap<(), ()> = [((), ())].into_iter().collect();
        assert_eq!(report(&m), (vec![], Some(0), None, None));
        let l: LinkedList<()> = [(), ()].into_iter().collect();
        assert_eq!(report(&l), (vec![], Some(0), None, None));
    }

    #[test]
    fn empty_collections_with_capacity_are_not_located() {
        let m: HashMap<u32, u32> = HashMap::with_capacity(8);
        assert_eq!(report(&m), (vec![], Some(0), None, None));
        let mut d: VecDeque<u32> = VecDeque::with_capacity(4);
        assert_eq!(report(&d).1, Some(d.capacity() as u64 * 4));
        d.push_back(1);
        assert_eq!(report(&d).0.len(), 1);
    }

    #[test]
    fn past_the_bound_allocations_are_counted_with_their_bytes() {
        let parts: Vec<Vec<u8>> = (0..MAX_REGIONS + 9).map(|i| vec![i as u8; 4]).collect();
        let (regions, unlocated, _, past) = report(&parts);
        assert_eq!(regions.len(), MAX_REGIONS);
        assert_eq!(unlocated, None);
        // The buffer and MAX_REGIONS - 1 parts are located; 10 parts are not.
        assert_eq!(past, Some((10, 40)));
    }

    #[test]
    fn a_first_only_walk_stops_at_the_first_allocation() {
        let parts: Vec<Vec<u8>> = (0..100).map(|i| vec![i; 4]).collect();
        let mut h = Heap::new(Mode::FirstOnly, 0);
        parts.track(&mut h);
        assert_eq!(h.first(), Some((addr(parts.as_ptr()), 100 * 24)));
        assert_eq!(h.pending().len(), 1);
    }
}
