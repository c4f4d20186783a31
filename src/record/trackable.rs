//! [`Trackable`]: how a value tells `track_var!` where its heap memory is.

use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, LinkedList, VecDeque};
use std::ffi::{CString, OsString};
use std::mem::size_of_val;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

/// The most heap allocations one tracked value reports by address; more
/// are counted as not located.
pub const MAX_REGIONS: usize = 16;

/// What a value reports to [`Trackable::track`]: the heap allocations it
/// owns directly, by address, and for `Rc`/`Arc` the reference counts.
///
/// Never allocates: it holds at most [`MAX_REGIONS`] addresses.
#[derive(Debug)]
pub struct Heap {
    regions: [(u64, u64); MAX_REGIONS],
    len: usize,
    /// Bytes of heap memory reported without an address (or past the
    /// region limit); `None` when there were none.
    unlocated: Option<u64>,
    counts: Option<(u64, u64)>,
}

impl Heap {
    pub(crate) const fn new() -> Self {
        Heap { regions: [(0, 0); MAX_REGIONS], len: 0, unlocated: None, counts: None }
    }

    /// Reports a heap allocation: `ptr` points to its start or inside it
    /// (an `Rc`'s value sits after its counts), and `bytes` is how many bytes
    /// the value holds there (0 when it does not know; replay takes the
    /// allocation's size from the recording either way).
    ///
    /// `ptr` must point into memory the value owns on the heap: never a
    /// dangling pointer of an empty collection, never the stack.
    pub fn allocation<T: ?Sized>(&mut self, ptr: *const T, bytes: usize) {
        let addr = ptr.cast::<u8>() as usize as u64;
        if self.regions[..self.len].iter().any(|&(p, _)| p == addr) {
            return;
        }
        if self.len < MAX_REGIONS {
            self.regions[self.len] = (addr, bytes as u64);
            self.len += 1;
        } else {
            self.not_located(bytes);
        }
    }

    /// Reports `bytes` of heap memory whose address the value does not
    /// expose (e.g. an empty `HashMap` with capacity); 0 when even the size
    /// is unknown. Replay lists it as not linked.
    pub fn not_located(&mut self, bytes: usize) {
        self.unlocated = Some(self.unlocated.unwrap_or(0).saturating_add(bytes as u64));
    }

    /// Reports the strong and weak counts of a shared pointer. Only the
    /// first report of a value is kept (the counts of its first allocation).
    pub fn shared(&mut self, strong: usize, weak: usize) {
        if self.counts.is_none() {
            self.counts = Some((strong as u64, weak as u64));
        }
    }

    pub(crate) fn regions(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.regions[..self.len].iter().copied()
    }

    pub(crate) fn unlocated(&self) -> Option<u64> {
        self.unlocated
    }

    pub(crate) fn counts(&self) -> Option<(u64, u64)> {
        self.counts
    }
}

/// A value whose heap allocations `track_var!` can record.
///
/// Implemented for the standard library's owning types. A type of your own
/// forwards to its fields, no derive needed:
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
/// Report only real heap memory the value owns directly; a value with none
/// (a number, an empty `Vec`) reports nothing and is recorded as having no
/// heap allocation.
pub trait Trackable {
    /// Reports this value's heap allocations to `heap`.
    fn track(&self, heap: &mut Heap);
}

macro_rules! no_heap {
    ($($t:ty),* $(,)?) => {$(
        impl Trackable for $t {
            fn track(&self, _: &mut Heap) {}
        }
    )*};
}

no_heap!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64, bool, char, (), str);

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

/// A slice or array reports its elements' heap allocations.
impl<T: Trackable> Trackable for [T] {
    fn track(&self, heap: &mut Heap) {
        for v in self {
            v.track(heap);
        }
    }
}

impl<T: Trackable, const N: usize> Trackable for [T; N] {
    fn track(&self, heap: &mut Heap) {
        self.as_slice().track(heap);
    }
}

/// The `Vec`'s buffer (`capacity × size_of::<T>()` bytes), not its elements'
/// own allocations.
impl<T> Trackable for Vec<T> {
    fn track(&self, heap: &mut Heap) {
        let bytes = self.capacity() * size_of::<T>();
        if bytes > 0 {
            heap.allocation(self.as_ptr(), bytes);
        }
    }
}

impl Trackable for String {
    fn track(&self, heap: &mut Heap) {
        if self.capacity() > 0 {
            heap.allocation(self.as_ptr(), self.capacity());
        }
    }
}

/// The box's allocation (none for a zero-sized value).
impl<T: ?Sized> Trackable for Box<T> {
    fn track(&self, heap: &mut Heap) {
        let bytes = size_of_val::<T>(self);
        if bytes > 0 {
            heap.allocation(&**self as *const T, bytes);
        }
    }
}

/// The `Rc`'s own allocation (counts and value; the address recorded is
/// the value's, inside it) and its strong and weak counts. The address of a
/// zero-sized value is one past its allocation's end (or, for an empty
/// `Arc::default()`, in static memory): that allocation is reported as not
/// located.
impl<T: ?Sized> Trackable for Rc<T> {
    fn track(&self, heap: &mut Heap) {
        match size_of_val::<T>(self) {
            0 => heap.not_located(0),
            bytes => heap.allocation(Rc::as_ptr(self), bytes),
        }
        heap.shared(Rc::strong_count(self), Rc::weak_count(self));
    }
}

/// As for `Rc`.
impl<T: ?Sized> Trackable for Arc<T> {
    fn track(&self, heap: &mut Heap) {
        match size_of_val::<T>(self) {
            0 => heap.not_located(0),
            bytes => heap.allocation(Arc::as_ptr(self), bytes),
        }
        heap.shared(Arc::strong_count(self), Arc::weak_count(self));
    }
}

/// The ring buffer: located through its front element; an empty deque with
/// capacity reports its bytes as not located.
impl<T> Trackable for VecDeque<T> {
    fn track(&self, heap: &mut Heap) {
        let bytes = self.capacity() * size_of::<T>();
        if bytes == 0 {
            return;
        }
        match self.front() {
            Some(first) => heap.allocation(first as *const T, bytes),
            None => heap.not_located(bytes),
        }
    }
}

impl<T> Trackable for BinaryHeap<T> {
    fn track(&self, heap: &mut Heap) {
        let bytes = self.capacity() * size_of::<T>();
        if bytes > 0 {
            heap.allocation(self.as_slice().as_ptr(), bytes);
        }
    }
}

/// The hash table's one allocation, located through an entry (its size is
/// not exposed: replay takes it from the recording); an empty map with
/// capacity, or one of zero-sized entries, is reported as not located.
impl<K, V, S> Trackable for HashMap<K, V, S> {
    fn track(&self, heap: &mut Heap) {
        if self.capacity() == 0 {
            return;
        }
        match self.iter().next().filter(|_| size_of::<(K, V)>() > 0) {
            Some((k, _)) => heap.allocation(k as *const K, 0),
            None => heap.not_located(0),
        }
    }
}

/// As for `HashMap`.
impl<T, S> Trackable for HashSet<T, S> {
    fn track(&self, heap: &mut Heap) {
        if self.capacity() == 0 {
            return;
        }
        match self.iter().next().filter(|_| size_of::<T>() > 0) {
            Some(v) => heap.allocation(v as *const T, 0),
            None => heap.not_located(0),
        }
    }
}

/// Reports the nodes holding up to [`MAX_REGIONS`] entries, spread evenly
/// over the map; replay links each to its node allocation. The nodes of
/// the other entries are reported as not located.
fn sampled<'a, T: 'a>(heap: &mut Heap, len: usize, iter: impl Iterator<Item = &'a T>) {
    if len == 0 {
        return;
    }
    if size_of::<T>() == 0 {
        // The nodes are allocated; a zero-sized element has no address in them.
        heap.not_located(0);
        return;
    }
    let step = len.div_ceil(MAX_REGIONS);
    for v in iter.step_by(step) {
        heap.allocation(v as *const T, 0);
    }
    if step > 1 {
        heap.not_located(0);
    }
}

impl<K, V> Trackable for BTreeMap<K, V> {
    fn track(&self, heap: &mut Heap) {
        sampled(heap, self.len(), self.keys());
    }
}

impl<T> Trackable for BTreeSet<T> {
    fn track(&self, heap: &mut Heap) {
        sampled(heap, self.len(), self.iter());
    }
}

/// One allocation per node: up to [`MAX_REGIONS`] nodes, spread evenly.
impl<T> Trackable for LinkedList<T> {
    fn track(&self, heap: &mut Heap) {
        sampled(heap, self.len(), self.iter());
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

    type Report = (Vec<(u64, u64)>, Option<u64>, Option<(u64, u64)>);

    fn report<T: Trackable + ?Sized>(v: &T) -> Report {
        let mut h = Heap::new();
        v.track(&mut h);
        (h.regions().collect(), h.unlocated(), h.counts())
    }

    #[test]
    fn vec_and_string_report_their_buffer() {
        let v: Vec<u64> = Vec::with_capacity(10);
        assert_eq!(report(&v).0, vec![(v.as_ptr() as u64, 80)]);
        let s = String::from("hello");
        assert_eq!(report(&s).0, vec![(s.as_ptr() as u64, s.capacity() as u64)]);
    }

    #[test]
    fn values_without_heap_memory_report_nothing() {
        assert_eq!(report(&Vec::<u8>::new()), (vec![], None, None));
        assert_eq!(report(&vec![(); 5]), (vec![], None, None));
        assert_eq!(report(&Box::new(())), (vec![], None, None));
        assert_eq!(report(&42u32), (vec![], None, None));
        assert_eq!(report(&String::new()), (vec![], None, None));
    }

    #[test]
    fn rc_reports_its_allocation_and_counts() {
        let a = Rc::new(7u64);
        let b = Rc::clone(&a);
        let w = Rc::downgrade(&a);
        let (regions, _, counts) = report(&b);
        assert_eq!(regions, vec![(Rc::as_ptr(&a) as u64, 8)]);
        assert_eq!(counts, Some((2, 1)));
        drop(w);
        // A zero-sized value's address is one past its allocation: not reported as one.
        assert_eq!(report(&Rc::new(())), (vec![], Some(0), Some((1, 0))));
        assert_eq!(report(&Arc::<str>::default()).0, vec![]);
    }

    #[test]
    fn collections_of_zero_sized_elements_are_not_located() {
        let m: HashMap<(), ()> = [((), ())].into_iter().collect();
        assert_eq!(report(&m), (vec![], Some(0), None));
        let l: LinkedList<()> = [(), ()].into_iter().collect();
        assert_eq!(report(&l), (vec![], Some(0), None));
    }

    #[test]
    fn empty_collections_with_capacity_are_not_located() {
        let m: HashMap<u32, u32> = HashMap::with_capacity(8);
        assert_eq!(report(&m), (vec![], Some(0), None));
        let mut d: VecDeque<u32> = VecDeque::with_capacity(4);
        assert_eq!(report(&d).1, Some(d.capacity() as u64 * 4));
        d.push_back(1);
        assert_eq!(report(&d).0.len(), 1);
    }

    #[test]
    fn long_lists_are_sampled_within_the_limit() {
        let l: LinkedList<u64> = (0..100).collect();
        let (regions, unlocated, _) = report(&l);
        assert!(regions.len() <= MAX_REGIONS && regions.len() >= MAX_REGIONS / 2, "{}", regions.len());
        assert_eq!(unlocated, Some(0));
        let parts: Vec<Vec<u8>> = (0..20).map(|i| vec![i; 4]).collect();
        let (regions, unlocated, _) = report(parts.as_slice());
        assert_eq!(regions.len(), MAX_REGIONS);
        assert_eq!(unlocated, Some(4 * (20 - MAX_REGIONS as u64)));
    }
}
