//! Replay tests on synthetic recordings built with the format API.

use super::*;
use crate::format::event::*;
use crate::format::{self, ChunkEncoder, DamageKind, Event, OnFull, RawEvent, Record, VERSION};
use proptest::prelude::*;
use std::collections::BTreeMap;

const X: usize = 0x1000;
const Y: usize = 0x2000;
const Z: usize = 0x3000;

fn header() -> SegmentHeader {
    SegmentHeader {
        version: VERSION,
        start_unix_ns: 1_700_000_000_000_000_000,
        start_monotonic_ns: 5,
        pid: 77,
        ring_capacity: 64,
        on_full: OnFull::Block,
    }
}

/// A version-3 header: Round watermarks are not exact, replay holds events
/// back for the release lag (`Replayer` fed directly: the encoder writes
/// the current version's payload).
fn header_v3() -> SegmentHeader {
    SegmentHeader { version: 3, ..header() }
}

/// A recording under construction.
struct Rec {
    out: Vec<u8>,
    enc: ChunkEncoder,
    seq: u64,
    round: u64,
    /// Events appended, Lost events not included (the End record's count).
    written: u64,
    /// Start offset of every record appended.
    starts: Vec<usize>,
}

impl Rec {
    fn new() -> Self {
        Rec { out: header().encode().to_vec(), enc: ChunkEncoder::default(), seq: 0, round: 0, written: 0, starts: Vec::new() }
    }

    fn chunk(&mut self, thread: u32, events: &[RawEvent]) -> &mut Self {
        self.starts.push(self.out.len());
        self.enc.put_events(&mut self.out, thread, self.seq, events, &[]);
        self.seq += 1;
        self.written += events.iter().filter(|e| e.kind() != crate::format::event::KIND_LOST).count() as u64;
        self
    }

    /// A chunk of decoded events, with their stacks and return stamps.
    fn events(&mut self, thread: u32, events: &[Event]) -> &mut Self {
        let raw: Vec<RawEvent> = events.iter().map(Event::to_raw).collect();
        let stacks: Vec<u32> = events.iter().map(Event::stack).collect();
        let returned: Vec<u64> = events.iter().map(Event::returned_ns).collect();
        self.starts.push(self.out.len());
        self.enc.put_events_returned(&mut self.out, thread, self.seq, &raw, &stacks, &returned);
        self.seq += 1;
        self
    }

    fn round(&mut self, watermark_ns: u64) -> &mut Self {
        self.starts.push(self.out.len());
        format::put_round(&mut self.out, self.round, watermark_ns);
        self.round += 1;
        self
    }

    fn end(&mut self, end_ns: u64) -> &mut Self {
        self.end_with(end_ns, 0)
    }

    fn end_with(&mut self, end_ns: u64, flags: u64) -> &mut Self {
        self.starts.push(self.out.len());
        format::put_end(&mut self.out, self.written, 0, end_ns, flags);
        self
    }

    fn replay(&self) -> Replay {
        replay_bytes(&self.out)
    }
}

fn replay_bytes(bytes: &[u8]) -> Replay {
    let r = Replay::from_reader(bytes, "test.memscope".as_ref()).expect("a valid header");
    check_invariants(&r);
    r
}

/// What holds for every replay, however damaged or disordered the input.
fn check_invariants(r: &Replay) {
    let t = &r.summary;
    assert_eq!(t.live_bytes, t.total_allocated_bytes.wrapping_sub(t.total_deallocated_bytes), "live = allocated - deallocated");
    let sum = |f: fn(&ThreadStats) -> u64| r.threads.iter().fold(0u64, |s, th| s.wrapping_add(f(th)));
    assert_eq!(sum(|s| s.allocations), t.total_allocations);
    assert_eq!(sum(|s| s.deallocations), t.total_deallocations);
    assert_eq!(sum(|s| s.reallocations), t.total_reallocations);
    assert_eq!(sum(|s| s.allocated_bytes), t.total_allocated_bytes);
    assert_eq!(sum(|s| s.deallocated_bytes), t.total_deallocated_bytes);
    assert_eq!(sum(|s| s.live_count), t.live_count);
    assert_eq!(sum(|s| s.live_bytes), t.live_bytes);
    assert_eq!(sum(|s| s.lost_events), t.lost_events);
    assert_eq!(sum(|s| s.prerecording_deallocations), t.prerecording_deallocations);
    assert_eq!(r.lifetime_histogram.iter().map(|b| b.count).sum::<u64>(), t.total_deallocations);
    assert_eq!(r.size_histogram.iter().map(|b| b.count).sum::<u64>(), t.total_allocations + t.total_reallocations);
    assert!(t.peak_live_bytes >= t.live_bytes);
    assert!(r.threads.windows(2).all(|w| w[0].thread < w[1].thread));
    assert!(r.largest_leaks.len() <= MAX_LEAKS && r.largest_leaks.len() as u64 <= t.live_count);
    assert!(r.largest_leaks.windows(2).all(|w| w[0].size >= w[1].size));
    assert!(r.timeline.len() <= TIMELINE_POINTS);
    if t.total_allocations + t.total_reallocations > 0 {
        assert_eq!(r.timeline.iter().map(|p| p.live_bytes).max(), Some(t.peak_live_bytes), "the timeline hides the peak");
    }
    assert!(r.thread_timelines.iter().all(|tl| tl.live_bytes.len() == r.timeline.len()));
    // Tracking: scope nodes nest and their counts are inclusive.
    for s in &r.scopes {
        assert!(s.allocations >= s.self_allocations && s.allocated_bytes >= s.self_allocated_bytes);
        if let Some(p) = s.parent {
            let p = &r.scopes[p as usize];
            assert!(p.depth + 1 == s.depth && p.thread == s.thread);
            assert!(p.allocations >= s.allocations && p.allocated_bytes >= s.allocated_bytes);
        }
    }
    for (i, v) in r.variables.iter().enumerate() {
        assert_eq!(v.id as usize, i);
        assert_eq!(v.state == "freed", v.freed_at_ns.is_some());
        assert!(v.allocations.is_empty() == (v.state == "no_heap" || v.state == "unlinked"));
        assert!(v.clone_of.is_none_or(|c| (c as usize) < r.variables.len()) && v.shared_with.iter().all(|&w| w != v.id));
    }
    assert_eq!(r.tracking.variables_listed, r.variables.len() as u64);
}

/// Issue 9, items 13, 15 and 19: what is live at the end is a leak only
/// when the recording ended at process exit and nothing was lost; the End
/// record's flags say how it ended and whether the allocator was memscope's.
#[test]
fn live_at_the_end_is_a_leak_only_at_process_exit_with_nothing_lost() {
    let events = [RawEvent::alloc(1, X, 100, 8, false, 0)];
    let finished = Rec::new().chunk(1, &events).end(10).replay();
    assert_eq!(finished.summary.live_bytes, 100);
    let end = finished.end.expect("an End record");
    assert!(!end.ended_at_exit && !end.no_tracking_allocator);
    assert!(!finished.live_at_end_is_leak(), "finish() was called: live at the end, not a leak");
    let at_exit = Rec::new().chunk(1, &events).end_with(10, format::END_AT_EXIT).replay();
    assert!(at_exit.end.is_some_and(|e| e.ended_at_exit));
    assert!(at_exit.live_at_end_is_leak());
    let lossy = Rec::new().chunk(1, &[events[0], RawEvent::lost(2, 3)]).end_with(10, format::END_AT_EXIT).replay();
    assert_eq!(lossy.summary.lost_events, 3);
    assert!(!lossy.live_at_end_is_leak(), "a lost deallocation would leave its allocation live");
    let asked = Rec::new().chunk(1, &events).end_with(10, format::END_LEAKS_ASKED).replay();
    assert!(asked.end.is_some_and(|e| e.leaks_asked && !e.ended_at_exit));
    assert!(asked.live_at_end_is_leak(), "the program asked");
    let no_allocator = Rec::new().end_with(10, format::END_NO_TRACKING_ALLOCATOR).replay();
    assert!(no_allocator.end.is_some_and(|e| e.no_tracking_allocator));
    let mut json = Vec::new();
    crate::export::json(&at_exit, &mut json).expect("JSON into a Vec");
    let json = String::from_utf8(json).expect("UTF-8");
    assert!(json.contains("\"live_at_end_is_leak\":true") && json.contains("\"ended_at_exit\":true"), "{json}");
}

/// A map of `&'static str` keys reports one address in static memory per
/// key (`Trackable` for `str`): a few notes name them, one more counts the rest.
#[test]
fn unlinked_addresses_of_one_variable_get_a_bounded_number_of_notes() {
    let mut events = vec![RawEvent::alloc(1, X, 64, 8, false, 0), RawEvent::with_kind(KIND_VAR, 2, X as u64, 64, 0x77)];
    events.extend((0..10).map(|i| RawEvent::with_kind(KIND_VAR_MORE, 2, 0x7000_0000 + i * 0x1_0000, 5, 0)));
    let r = Rec::new().chunk(1, &events).end(10).replay();
    let v = &r.variables[0];
    assert_eq!((v.state, v.allocations.len(), v.size), ("live", 1, 64));
    assert_eq!(v.notes.len(), MAX_UNLINKED_NOTES as usize + 1, "{:?}", v.notes);
    assert!(v.notes[..4].iter().all(|n| n.starts_with("no live allocation contains 0x70")), "{:?}", v.notes);
    assert!(v.notes[4].starts_with("and 6 more addresses"), "{:?}", v.notes);
}

#[test]
fn tracked_addresses_link_to_the_allocation_containing_them() {
    let var = |ts, ptr| RawEvent::with_kind(KIND_VAR, ts, ptr, 0, 0x77);
    let r = Rec::new()
        .chunk(
            1,
            &[
                RawEvent::alloc(1, 0x10_0000, 1 << 24, 16, false, 0),
                RawEvent::alloc(2, 0x2000, 40, 8, false, 0),
                var(3, 0x10_0000 + 9_000_000),
                var(4, 0x2010),
                var(5, 0x2000 + 40),
                RawEvent::realloc(6, 0x2000, 40, 0x3000, 80),
                RawEvent::dealloc(7, 0x3000, 80, 8),
            ],
        )
        .end(10)
        .replay();
    let v = &r.variables;
    assert_eq!(v.len(), 3);
    assert_eq!((v[0].state, v[0].size, v[0].allocations[0].ptr), ("live", 1 << 24, 0x10_0000), "deep inside a large allocation");
    assert_eq!((v[1].state, v[1].size, v[1].freed_at_ns, v[1].lifetime_ns), ("freed", 40, Some(7), Some(5)), "16 bytes in, like an Rc");
    assert_eq!(v[1].allocations[0].reallocations, 1);
    assert_eq!(v[1].allocations[0].history.iter().map(|h| h.kind).collect::<Vec<_>>(), ["allocation", "reallocation", "deallocation"]);
    assert_eq!(v[2].state, "unlinked", "one past the end is not inside");
    assert!(v[2].notes[0].contains("0x2028"));
}

fn thread(r: &Replay, id: u32) -> &ThreadStats {
    r.threads.iter().find(|t| t.thread == id).expect("thread present")
}

fn bucket_of(h: &[Bucket], v: u64) -> Bucket {
    *h.iter().find(|b| b.lower <= v && v <= b.upper).expect("value in some bucket")
}

#[test]
fn cross_thread_free_then_reuse_at_equal_timestamps_applies_free_first() {
    let r = Rec::new()
        .chunk(1, &[RawEvent::alloc(10, X, 64, 8, false, 0)])
        .round(50)
        // Thread 2's reuse of X is in the file before thread 1's free, same nanosecond.
        .chunk(2, &[RawEvent::alloc(100, X, 32, 8, false, 0)])
        .chunk(1, &[RawEvent::dealloc(100, X, 64, 8)])
        .round(150)
        .end(200)
        .replay();
    let t = &r.summary;
    assert_eq!((t.total_allocations, t.total_deallocations, t.total_reallocations), (2, 1, 0));
    assert_eq!((t.total_allocated_bytes, t.total_deallocated_bytes), (96, 64));
    assert_eq!((t.live_count, t.live_bytes), (1, 32));
    assert_eq!((t.address_conflicts, t.prerecording_deallocations, t.late_events), (0, 0, 0));
    assert_eq!(r.largest_leaks, vec![Leak { ptr: X as u64, size: 32, allocated_at_ns: 100, thread: 2, stands_for: None }]);
    assert_eq!(bucket_of(&r.lifetime_histogram, 90), Bucket { lower: 64, upper: 127, count: 1, bytes: 64 });
    assert_eq!((thread(&r, 1).deallocations, thread(&r, 1).live_count), (1, 0));
    assert_eq!((thread(&r, 2).live_count, thread(&r, 2).live_bytes), (1, 32));
    assert!(r.finished && !r.is_incomplete());
}

#[test]
fn one_threads_alloc_then_free_at_equal_timestamps_keeps_push_order() {
    // Within a chunk and across two chunks of the same thread.
    let r = Rec::new()
        .chunk(1, &[RawEvent::alloc(5, X, 8, 8, false, 0), RawEvent::dealloc(5, X, 8, 8), RawEvent::alloc(7, Y, 16, 8, false, 0)])
        .chunk(1, &[RawEvent::realloc(7, Y, 16, Z, 24)])
        .round(6)
        .end(10)
        .replay();
    let t = &r.summary;
    assert_eq!((t.total_deallocations, t.prerecording_deallocations, t.prerecording_reallocations), (1, 0, 0));
    assert_eq!((t.live_count, t.live_bytes, t.address_conflicts), (1, 24, 0));
    assert_eq!(r.largest_leaks[0].ptr, Z as u64);
}

#[test]
fn events_pushed_one_round_late_are_ordered_by_timestamp() {
    let r = Rec::new()
        // Thread 1 reuses X at 95, after thread 2 freed it at 90; but thread 2's
        // free, stamped before round 0 began (watermark 100), was pushed only
        // after the drainer looked at thread 2's ring, so it is in round 1.
        .chunk(1, &[RawEvent::alloc(10, X, 40, 8, false, 0), RawEvent::alloc(95, X, 48, 8, false, 0)])
        .round(100)
        .chunk(2, &[RawEvent::dealloc(90, X, 40, 8)])
        .round(200)
        .end(300)
        .replay();
    let t = &r.summary;
    assert_eq!((t.address_conflicts, t.late_events, t.prerecording_deallocations), (0, 0, 0));
    assert_eq!((t.total_deallocations, t.live_count, t.live_bytes), (1, 1, 48));
    assert_eq!(bucket_of(&r.lifetime_histogram, 80), Bucket { lower: 64, upper: 127, count: 1, bytes: 40 });
    assert_eq!(r.largest_leaks[0].allocated_at_ns, 95);
    assert_eq!(thread(&r, 2).deallocations, 1);
}

/// One hundredth of the release lag: these tests' clocks count in it, so
/// rounds 100 apart are exactly one lag apart.
const U: u64 = engine::RELEASE_LAG_NS / 100;

#[test]
fn rounds_release_the_buffer_one_lag_behind() {
    let ev = |raw: RawEvent| raw.decode().expect("known kind");
    let scaled = |v: &[u64]| v.iter().map(|x| x * U).collect::<Vec<_>>();
    let mut p = Replayer::new(header_v3());
    p.events(1, &[ev(RawEvent::alloc(10 * U, X, 1, 1, false, 0)), ev(RawEvent::alloc(120 * U, Y, 1, 1, false, 0))]);
    p.record(&Record::Round { round: 0, watermark_ns: 100 * U });
    assert_eq!(p.buffered(), scaled(&[10, 120]), "round 0 releases nothing: its events may still be landing");
    p.events(1, &[ev(RawEvent::alloc(150 * U, Z, 1, 1, false, 0)), ev(RawEvent::alloc(250 * U, 0x4000, 1, 1, false, 0))]);
    p.record(&Record::Round { round: 1, watermark_ns: 200 * U });
    assert_eq!(p.buffered(), scaled(&[120, 150, 250]), "round 1 releases below round 0's watermark, one lag older");
    assert_eq!(p.totals.live_count, 1);
    p.record(&Record::Round { round: 2, watermark_ns: 299 * U });
    assert_eq!(p.buffered(), scaled(&[120, 150, 250]), "round 1's watermark is less than one lag older: nothing more");
    p.record(&Record::Round { round: 3, watermark_ns: 300 * U });
    assert_eq!(p.buffered(), scaled(&[250]));
    // A straggler stamped below what was released is applied at once, and counted.
    p.events(2, &[ev(RawEvent::alloc(50 * U, 0x5000, 1, 1, false, 0))]);
    assert_eq!((p.totals.late_events, p.totals.live_count), (1, 4));
    let r = p.finish(0);
    assert_eq!((r.summary.live_count, r.summary.late_events, r.finished, r.rounds), (5, 1, false, 4));
}

#[test]
fn short_rounds_wait_for_the_lag_so_a_preempted_push_is_not_late() {
    let ev = |raw: RawEvent| raw.decode().expect("known kind");
    let mut p = Replayer::new(header_v3());
    // Thread 1 stamps an allocation at 5 U, then is preempted for 30 rounds
    // of 1 U each before its push lands: still within one lag.
    p.events(2, &[ev(RawEvent::alloc(6 * U, Y, 1, 1, false, 0))]);
    for r in 0..30 {
        p.record(&Record::Round { round: r, watermark_ns: (10 + r) * U });
    }
    p.events(1, &[ev(RawEvent::alloc(5 * U, X, 1, 1, false, 0))]);
    p.record(&Record::Round { round: 30, watermark_ns: 200 * U });
    let r = p.finish(0);
    assert_eq!((r.summary.late_events, r.summary.live_count), (0, 2));
}

#[test]
fn events_far_ahead_wait_through_several_rounds_in_order() {
    let ev = |raw: RawEvent| raw.decode().expect("known kind");
    let scaled = |v: &[u64]| v.iter().map(|x| x * U).collect::<Vec<_>>();
    let mut p = Replayer::new(header_v3());
    // Thread 1 frees X at 400, far ahead of the others' clocks.
    p.events(
        1,
        &[
            ev(RawEvent::alloc(10 * U, X, 1, 1, false, 0)),
            ev(RawEvent::alloc(250 * U, Y, 2, 1, false, 0)),
            ev(RawEvent::dealloc(400 * U, X, 1, 1)),
        ],
    );
    p.record(&Record::Round { round: 0, watermark_ns: 100 * U });
    p.record(&Record::Round { round: 1, watermark_ns: 200 * U });
    assert_eq!(p.buffered(), scaled(&[250, 400]));
    // Thread 2 reuses X at 400 (after thread 1's free: same nanosecond).
    p.events(
        2,
        &[
            ev(RawEvent::alloc(260 * U, Z, 4, 1, false, 0)),
            ev(RawEvent::alloc(400 * U, X, 8, 1, false, 0)),
            ev(RawEvent::alloc(390 * U, 0x9000, 16, 1, false, 0)),
        ],
    );
    p.record(&Record::Round { round: 2, watermark_ns: 300 * U });
    assert_eq!(p.buffered(), scaled(&[250, 260, 390, 400, 400]));
    p.record(&Record::Round { round: 3, watermark_ns: 400 * U });
    assert_eq!(p.buffered(), scaled(&[390, 400, 400]), "the rest of the window merged with the newer arrivals");
    assert_eq!((p.totals.live_count, p.totals.live_bytes), (3, 7));
    let r = p.finish(0);
    let t = &r.summary;
    assert_eq!((t.address_conflicts, t.late_events, t.live_count, t.live_bytes), (0, 0, 4, 30));
    assert_eq!((t.peak_live_bytes, t.peak_at_ns), (30, 400 * U));
}

#[test]
fn without_rounds_the_buffer_stays_within_its_limit() {
    let mut p = Replayer::new(header());
    p.window_limit = 100;
    let mut most = 0;
    for i in 0..100u64 {
        let events: Vec<Event> = (0..10)
            .map(|j| RawEvent::alloc(i * 10 + j, 0x10_0000 + (i * 10 + j) as usize * 16, 8, 8, false, 0).decode().expect("known kind"))
            .collect();
        p.events(1, &events);
        most = most.max(p.buffered().len());
    }
    assert!(most <= 100, "{most} events buffered");
    let r = p.finish(0);
    assert_eq!((r.summary.live_count, r.summary.late_events, r.summary.peak_live_bytes), (1000, 0, 8000));
}

#[test]
fn reallocations_in_place_and_moving_continue_the_allocation() {
    let r = Rec::new()
        .chunk(1, &[RawEvent::alloc(1, X, 100, 8, false, 0), RawEvent::realloc(2, X, 100, X, 200)])
        // Thread 2 moves thread 1's allocation, then frees it.
        .chunk(2, &[RawEvent::realloc(3, X, 200, Y, 300), RawEvent::dealloc(10, Y, 300, 8)])
        .round(20)
        .end(30)
        .replay();
    let t = &r.summary;
    assert_eq!((t.total_allocations, t.total_reallocations, t.total_deallocations), (1, 2, 1));
    assert_eq!((t.total_allocated_bytes, t.total_deallocated_bytes), (600, 600));
    assert_eq!((t.live_count, t.live_bytes), (0, 0));
    assert_eq!((t.peak_live_bytes, t.peak_at_ns), (300, 3));
    assert_eq!((t.size_mismatches, t.prerecording_reallocations, t.address_conflicts), (0, 0, 0));
    // One allocation, alive from 1 to 10: one lifetime of 9 ns, 300 bytes when freed.
    assert_eq!(r.lifetime_histogram, vec![Bucket { lower: 8, upper: 15, count: 1, bytes: 300 }]);
    let (t1, t2) = (thread(&r, 1), thread(&r, 2));
    assert_eq!((t1.allocated_bytes, t1.deallocated_bytes, t1.reallocations), (300, 100, 1));
    assert_eq!((t2.allocated_bytes, t2.deallocated_bytes, t2.reallocations, t2.deallocations), (300, 500, 1, 1));
}

#[test]
fn a_moved_allocation_stays_attributed_to_its_allocating_thread_and_its_growth_to_the_reallocating_one() {
    let r = Rec::new().chunk(1, &[RawEvent::alloc(1, X, 10, 8, false, 0)]).chunk(2, &[RawEvent::realloc(5, X, 10, Y, 20)]).end(9).replay();
    assert_eq!(r.largest_leaks, vec![Leak { ptr: Y as u64, size: 20, allocated_at_ns: 1, thread: 1, stands_for: None }]);
    assert_eq!((thread(&r, 1).live_count, thread(&r, 2).live_count), (1, 0));
    assert_eq!((thread(&r, 1).live_bytes, thread(&r, 2).live_bytes), (10, 10), "the 10 bytes of growth are thread 2's");
}

/// Growth and shrinking by reallocation, in place and moving, by the
/// allocating thread and by others, against a per-thread model: every
/// step's charges are checked through the per-thread timelines' last
/// points and the live bytes at the end.
#[test]
fn reallocation_growth_is_charged_to_the_reallocating_thread() {
    let r = Rec::new()
        .chunk(1, &[RawEvent::alloc(1, X, 100, 8, false, 0)])
        // Thread 2 grows it in place: +400 to thread 2 (1: 100, 2: 400).
        .chunk(2, &[RawEvent::realloc(2, X, 100, X, 500)])
        // Thread 3 grows it, moving: thread 2's 400 move to thread 3, +500 (1: 100, 3: 900).
        .chunk(3, &[RawEvent::realloc(3, X, 500, Y, 1000)])
        // Thread 1 shrinks it by 150: its own part first (1: 0, 3: 850).
        .chunk(1, &[RawEvent::realloc(4, Y, 1000, Y, 850)])
        // Thread 3 shrinks it by 50: its own part (3: 800).
        .chunk(3, &[RawEvent::realloc(5, Y, 850, Y, 800)])
        // A second allocation, grown by thread 2 then freed by thread 1.
        .chunk(1, &[RawEvent::alloc(6, Z, 8, 8, false, 0)])
        .chunk(2, &[RawEvent::realloc(7, Z, 8, Z, 64)])
        .chunk(1, &[RawEvent::dealloc(8, Z, 64, 8)])
        .end(9)
        .replay();
    let t = &r.summary;
    assert_eq!((t.live_count, t.live_bytes, t.size_mismatches), (1, 800, 0));
    let live = |n| (thread(&r, n).live_count, thread(&r, n).live_bytes);
    assert_eq!((live(1), live(2), live(3)), ((1, 0), (0, 0), (0, 800)));
    // Reallocations' new sizes are in the size histogram (7c).
    assert_eq!(r.size_histogram.iter().map(|b| b.count).sum::<u64>(), 2 + 5);
    assert_eq!(bucket_of(&r.size_histogram, 1000).count, 3, "1000, 850 and 800 bytes");
}

#[test]
fn large_reallocation_takes_its_old_size_from_the_live_set() {
    const GIB: usize = 1 << 30;
    let big = RawEvent::realloc(2, X, 5 * GIB, Y, 6 * GIB);
    assert!(matches!(big.decode(), Some(Event::Realloc { old_size: None, .. })));
    let r = Rec::new()
        .chunk(1, &[RawEvent::alloc(1, X, 5 * GIB, 8, false, 0), big, RawEvent::realloc(3, Z, 7 * GIB, Z, 8 * GIB)])
        .end(4)
        .replay();
    let t = &r.summary;
    assert_eq!(t.total_deallocated_bytes, 5 << 30);
    assert_eq!(t.total_allocated_bytes, (5 + 6 + 8) << 30);
    assert_eq!((t.live_count, t.live_bytes), (2, 14 << 30));
    // Z's old size is unknown and not stored: counted as a prerecording reallocation of 0 bytes.
    assert_eq!((t.prerecording_reallocations, t.prerecording_deallocated_bytes), (1, 0));
    assert_eq!(t.size_mismatches, 0);
}

#[test]
fn frees_of_memory_allocated_before_recording_are_counted_apart() {
    let r = Rec::new()
        .chunk(1, &[RawEvent::dealloc(1, X, 64, 8), RawEvent::realloc(2, Y, 100, Z, 150), RawEvent::alloc(3, X, 8, 8, false, 0)])
        .end(4)
        .replay();
    let t = &r.summary;
    assert_eq!((t.total_deallocations, t.total_deallocated_bytes), (0, 0));
    assert_eq!((t.prerecording_deallocations, t.prerecording_reallocations, t.prerecording_deallocated_bytes), (1, 1, 164));
    assert_eq!((t.total_reallocations, t.total_allocated_bytes), (1, 158));
    assert_eq!((t.live_count, t.live_bytes), (2, 158));
    assert_eq!(thread(&r, 1).prerecording_deallocations, 1);
    assert_eq!(r.largest_leaks[0], Leak { ptr: Z as u64, size: 150, allocated_at_ns: 2, thread: 1, stands_for: None });
}

#[test]
fn lost_events_are_summed_per_thread_and_unattributed() {
    let mut name = [0u8; 16];
    name[..6].copy_from_slice(b"w\xFFrk\0x");
    let r = Rec::new()
        .chunk(1, &[RawEvent::thread_start(1, 4242, name), RawEvent::alloc(2, X, 8, 8, false, 0), RawEvent::lost(3, 5)])
        .chunk(0, &[RawEvent::lost(3, 7)])
        .round(4)
        .chunk(1, &[RawEvent::lost(5, 1), RawEvent::thread_exit(6)])
        .end(8)
        .replay();
    assert_eq!(r.summary.lost_events, 13);
    assert_eq!(r.summary.threads, 1, "thread 0 is not a thread");
    assert_eq!(r.summary.events, 6);
    let (t0, t1) = (thread(&r, 0), thread(&r, 1));
    assert_eq!((t0.lost_events, t0.os_tid, t0.name.as_deref()), (7, None, None));
    assert_eq!((t1.lost_events, t1.os_tid, t1.name.as_deref()), (6, Some(4242), Some("w\u{FFFD}rk")));
    assert_eq!((t1.start_ns, t1.exit_ns), (Some(1), Some(6)));
}

fn three_chunks() -> Rec {
    let mut rec = Rec::new();
    rec.chunk(1, &[RawEvent::alloc(1, X, 10, 8, false, 0)])
        .chunk(1, &[RawEvent::alloc(2, Y, 20, 8, false, 0)])
        .chunk(1, &[RawEvent::alloc(3, Z, 40, 8, false, 0)])
        .round(4)
        .end(5);
    rec
}

#[test]
fn a_damaged_chunk_is_reported_and_replay_goes_on() {
    let mut rec = three_chunks();
    let second = rec.starts[1];
    rec.out[second + format::RECORD_HEADER_LEN + format::EVENTS_FIELDS_LEN + 1] ^= 0x40;
    let r = rec.replay();
    assert_eq!(r.damage.len(), 1);
    assert_eq!(r.damage[0].offset, second as u64);
    assert!(matches!(r.damage[0].kind, DamageKind::ChecksumMismatch { .. }));
    assert_eq!((r.damage_count, r.damaged_bytes), (1, (rec.starts[2] - second) as u64));
    assert_eq!((r.summary.total_allocations, r.summary.live_bytes), (2, 50));
    assert!(r.finished && r.is_incomplete());
    assert_eq!(r.file_bytes, rec.out.len() as u64);
}

#[test]
fn a_truncated_file_replays_up_to_the_cut() {
    let rec = three_chunks();
    let cut = rec.starts[2] + 20;
    let r = replay_bytes(&rec.out[..cut]);
    assert!(!r.finished && r.end.is_none() && r.is_incomplete());
    assert_eq!(r.damage.len(), 1);
    assert_eq!((r.damage[0].offset, &r.damage[0].kind, r.damage[0].skipped_bytes), (rec.starts[2] as u64, &DamageKind::Truncated, 20));
    // Nothing was released by a Round: the end of the file releases all.
    assert_eq!((r.summary.total_allocations, r.summary.live_bytes, r.summary.duration_ns), (2, 30, 2));
    assert_eq!(r.file_bytes, cut as u64);
}

#[test]
fn duration_is_the_end_time_or_the_last_event() {
    let mut rec = Rec::new();
    rec.chunk(1, &[RawEvent::alloc(40, X, 1, 1, false, 0), RawEvent::thread_exit(70)]).chunk(2, &[RawEvent::alloc(55, Y, 1, 1, false, 0)]);
    assert_eq!(rec.replay().summary.duration_ns, 70);
    rec.end(1000);
    assert_eq!(rec.replay().summary.duration_ns, 1000);
}

#[test]
fn peak_is_the_first_time_the_maximum_is_reached() {
    let r = Rec::new()
        .chunk(
            1,
            &[
                RawEvent::alloc(10, X, 100, 8, false, 0),
                RawEvent::alloc(20, Y, 50, 8, false, 0), // 150: the peak
                RawEvent::dealloc(30, X, 100, 8),
                RawEvent::alloc(40, X, 100, 8, false, 0), // 150 again: not a new peak
                RawEvent::dealloc(50, Y, 50, 8),
            ],
        )
        .end(60)
        .replay();
    assert_eq!((r.summary.peak_live_bytes, r.summary.peak_at_ns, r.summary.live_bytes), (150, 20, 100));
    assert_eq!(r.timeline.iter().map(|p| p.live_bytes).max(), Some(150));
}

#[test]
fn an_allocation_on_a_live_address_waits_for_its_free() {
    // Thread 1's realloc is stamped before the call; the call got Y, which
    // thread 2 freed during it, stamped later.
    let r = Rec::new()
        .chunk(2, &[RawEvent::alloc(1, Y, 16, 8, false, 0)])
        .chunk(1, &[RawEvent::alloc(2, X, 8, 8, false, 0), RawEvent::realloc(50, X, 8, Y, 32)])
        .chunk(2, &[RawEvent::dealloc(60, Y, 16, 8)])
        .end(70)
        .replay();
    let t = &r.summary;
    assert_eq!((t.address_conflicts, t.reordered_reallocations, t.unresolved_conflicts), (0, 1, 0));
    assert_eq!((t.live_count, t.live_bytes, t.total_deallocations), (1, 32, 1));
    assert_eq!(r.largest_leaks, vec![Leak { ptr: Y as u64, size: 32, allocated_at_ns: 2, thread: 1, stands_for: None }]);
    // The free at 60 freed thread 2's 16 bytes (lifetime 59), not the realloc's.
    assert_eq!(r.lifetime_histogram.last().map(|b| (b.lower, b.bytes)), Some((32, 16)));
    assert_eq!(t.size_mismatches, 0);
}

#[test]
fn conflicts_never_resolved_stay_live_and_are_counted() {
    let r =
        Rec::new().chunk(1, &[RawEvent::alloc(1, X, 8, 8, false, 0)]).chunk(2, &[RawEvent::alloc(2, X, 24, 8, false, 0)]).end(3).replay();
    let t = &r.summary;
    assert_eq!((t.address_conflicts, t.unresolved_conflicts, t.live_count, t.live_bytes), (1, 1, 2, 32));
    assert_eq!(r.largest_leaks.iter().map(|l| (l.size, l.thread)).collect::<Vec<_>>(), vec![(24, 2), (8, 1)]);
}

#[test]
fn a_free_with_another_size_is_counted_by_the_live_size() {
    let r = Rec::new().chunk(1, &[RawEvent::alloc(1, X, 8, 8, false, 0), RawEvent::dealloc(2, X, 9, 8)]).end(3).replay();
    assert_eq!((r.summary.size_mismatches, r.summary.total_deallocated_bytes, r.summary.live_bytes), (1, 8, 0));
}

#[test]
fn largest_leaks_are_the_hundred_largest() {
    let events: Vec<RawEvent> =
        (0..250u64).map(|i| RawEvent::alloc(i, 0x10_0000 + i as usize * 4096, ((i * 37) % 250 + 1) as usize, 8, false, 0)).collect();
    let r = Rec::new().chunk(1, &events).end(300).replay();
    assert_eq!(r.largest_leaks.len(), MAX_LEAKS);
    assert_eq!(r.largest_leaks[0].size, 250);
    assert_eq!(r.largest_leaks[MAX_LEAKS - 1].size, 151);
    assert_eq!(r.summary.live_count, 250);
}

#[test]
fn size_histogram_counts_allocations_by_requested_size() {
    let r = Rec::new()
        .chunk(1, &[RawEvent::alloc(1, X, 0, 1, false, 0), RawEvent::alloc(2, Y, 24, 8, true, 0), RawEvent::alloc(3, Z, 31, 8, false, 0)])
        .end(4)
        .replay();
    assert_eq!(r.size_histogram.first(), Some(&Bucket { lower: 0, upper: 0, count: 1, bytes: 0 }));
    assert_eq!(r.size_histogram.last(), Some(&Bucket { lower: 16, upper: 31, count: 2, bytes: 55 }));
    assert_eq!(r.size_histogram.len(), 6);
}

#[test]
fn errors_name_the_file_and_the_offset() {
    let missing = std::path::Path::new("/nonexistent/memscope/run.memscope");
    let err = replay_file(missing).expect_err("missing file");
    assert!(matches!(err, Error::Open { .. }) && err.to_string().contains("/nonexistent/memscope/run.memscope"), "{err}");

    let err = Replay::from_reader(&b"#!/bin/sh\necho this is a shell script, not a memscope recording\n"[..], "script.sh".as_ref())
        .expect_err("not a recording");
    assert!(matches!(err, Error::Header { .. }) && err.to_string().starts_with("script.sh: not a memscope recording"), "{err}");

    /// Yields `ok` bytes of `data`, then fails.
    struct Failing<'a> {
        data: &'a [u8],
        ok: usize,
    }
    impl std::io::Read for Failing<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.ok == 0 {
                return Err(std::io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.ok).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            self.ok -= n;
            Ok(n)
        }
    }
    let rec = three_chunks();
    let err = Replay::from_reader(Failing { data: &rec.out, ok: rec.starts[1] }, "flaky.memscope".as_ref()).expect_err("I/O error");
    let Error::Read { offset, .. } = &err else { panic!("expected a read error, got {err:?}") };
    assert_eq!(*offset, rec.starts[1] as u64);
    assert!(err.to_string().contains("flaky.memscope") && err.to_string().contains("disk on fire"), "{err}");
}

/// The expected totals of events applied in the given order.
#[derive(Debug, Default, PartialEq, Eq)]
struct Model {
    allocations: u64,
    deallocations: u64,
    reallocations: u64,
    allocated: u64,
    deallocated: u64,
    pre_deallocations: u64,
    pre_reallocations: u64,
    pre_bytes: u64,
    peak: u64,
    peak_at: u64,
    live: BTreeMap<u64, u64>,
}

impl Model {
    fn apply(&mut self, e: &Event) {
        match *e {
            Event::Alloc { ptr, size, .. } => {
                self.allocations += 1;
                self.allocated += size;
                assert!(self.live.insert(ptr, size).is_none(), "the generator allocates free addresses only");
            }
            Event::Dealloc { ptr, size, .. } => match self.live.remove(&ptr) {
                Some(s) => {
                    self.deallocations += 1;
                    self.deallocated += s;
                }
                None => {
                    self.pre_deallocations += 1;
                    self.pre_bytes += size;
                }
            },
            Event::Realloc { old_ptr, new_ptr, old_size, new_size, .. } => {
                self.reallocations += 1;
                self.allocated += new_size;
                match self.live.remove(&old_ptr) {
                    Some(s) => self.deallocated += s,
                    None => {
                        self.pre_reallocations += 1;
                        self.pre_bytes += old_size.unwrap_or(0);
                    }
                }
                self.live.insert(new_ptr, new_size);
            }
            _ => return,
        }
        let live = self.allocated - self.deallocated;
        if live > self.peak {
            self.peak = live;
            self.peak_at = e.ts_ns();
        }
    }

    fn of(r: &Replay) -> Model {
        let t = &r.summary;
        assert_eq!((t.address_conflicts, t.late_events, t.size_mismatches), (0, 0, 0));
        Model {
            allocations: t.total_allocations,
            deallocations: t.total_deallocations,
            reallocations: t.total_reallocations,
            allocated: t.total_allocated_bytes,
            deallocated: t.total_deallocated_bytes,
            pre_deallocations: t.prerecording_deallocations,
            pre_reallocations: t.prerecording_reallocations,
            pre_bytes: t.prerecording_deallocated_bytes,
            peak: t.peak_live_bytes,
            peak_at: t.peak_at_ns,
            live: r.largest_leaks.iter().map(|l| (l.ptr, l.size)).collect(),
        }
    }
}

/// Turns random steps into a valid event sequence: allocations only on free
/// addresses, frees of live addresses with their size (or of never-seen
/// ones: memory from before the recording), reallocations in place or to a
/// free address. `min_gap` is the least timestamp step.
fn events_from(steps: &[(u8, u8, u8, u32, u8)], min_gap: u64) -> Vec<Event> {
    let addr = |i: u8| 0x10_0000 + u64::from(i % 8) * 64;
    let mut live: BTreeMap<u64, u64> = BTreeMap::new();
    let mut ts = 0u64;
    let mut out = Vec::new();
    for &(op, a, b, size, gap) in steps {
        ts += min_gap + u64::from(gap % 3);
        let (p, q, size) = (addr(a), addr(b), u64::from(size % 5000));
        let ev = match op % 8 {
            0..=3 if !live.contains_key(&p) => Event::Alloc { ts_ns: ts, ptr: p, size, align: 8, zeroed: op % 2 == 0, stack: 0 },
            4 | 5 => Event::Dealloc { ts_ns: ts, ptr: p, size: live.get(&p).copied().unwrap_or(size), align: 8 },
            6 => Event::Realloc {
                ts_ns: ts,
                old_ptr: p,
                new_ptr: p,
                old_size: Some(live.get(&p).copied().unwrap_or(size)),
                new_size: size / 2,
                stack: 0,
                returned_ns: None,
            },
            7 if p != q && !live.contains_key(&q) => Event::Realloc {
                ts_ns: ts,
                old_ptr: p,
                new_ptr: q,
                old_size: Some(live.get(&p).copied().unwrap_or(size)),
                new_size: size,
                stack: 0,
                // A moving reallocation's return stamp (version 4): the
                // model applies both halves at once, so any stamp up to the
                // next event's fits it.
                returned_ns: Some(ts),
            },
            _ => continue,
        };
        match ev {
            Event::Alloc { ptr, size, .. } => {
                live.insert(ptr, size);
            }
            Event::Dealloc { ptr, .. } => {
                live.remove(&ptr);
            }
            Event::Realloc { old_ptr, new_ptr, new_size, .. } => {
                live.remove(&old_ptr);
                live.insert(new_ptr, new_size);
            }
            _ => {}
        }
        out.push(ev);
    }
    out
}

fn steps() -> impl Strategy<Value = Vec<(u8, u8, u8, u32, u8)>> {
    prop::collection::vec(any::<(u8, u8, u8, u32, u8)>(), 0..200)
}

proptest! {
    /// One thread, timestamps often equal, cut into chunks and rounds at
    /// random: the replay's totals and live set equal the model's.
    #[test]
    fn single_thread_replay_matches_a_hashmap_model(steps in steps(), cuts in prop::collection::vec(1usize..12, 1..40)) {
        let events = events_from(&steps, 0);
        let mut model = Model::default();
        events.iter().for_each(|e| model.apply(e));

        let mut rec = Rec::new();
        let mut rest = &events[..];
        for &n in cuts.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, tail) = rest.split_at(n.min(rest.len()));
            rec.events(1, chunk);
            // Every event stamped before the watermark is in an earlier record.
            rec.round(tail.first().map_or(u64::MAX >> 8, Event::ts_ns));
            rest = tail;
        }
        rec.end(events.last().map_or(0, Event::ts_ns) + 1);
        let r = rec.replay();
        prop_assert_eq!(Model::of(&r), model);
        prop_assert_eq!(r.summary.events, events.len() as u64);
        prop_assert_eq!(r.summary.live_count, r.largest_leaks.len() as u64);
    }

    /// Several threads sharing addresses, strictly increasing timestamps;
    /// within a round the chunks come in any order, and a thread's last
    /// events of a round may be pushed only in the next one: the replay
    /// still applies them in timestamp order.
    #[test]
    fn multi_thread_replay_is_independent_of_chunk_interleaving(
        steps in steps(),
        owners in prop::collection::vec(0u32..3, 200),
        round_len in 1u64..60,
        shuffle in prop::collection::vec(any::<u16>(), 64),
        delay in prop::collection::vec(0usize..3, 64),
    ) {
        let events = events_from(&steps, 1);
        let mut model = Model::default();
        events.iter().for_each(|e| model.apply(e));

        // Window r holds the events stamped in [r * round_len, (r + 1) * round_len).
        let windows = events.last().map_or(0, |e| e.ts_ns() / round_len + 1) as usize;
        let mut per: Vec<Vec<Vec<Event>>> = vec![vec![Vec::new(); windows + 1]; 3];
        for (i, e) in events.iter().enumerate() {
            per[owners[i] as usize][(e.ts_ns() / round_len) as usize].push(*e);
        }
        // Delay the last `delay` events of each thread's window into the next
        // round (backwards, so only a window's own events move, by one round).
        for (t, windows_of_t) in per.iter_mut().enumerate() {
            for w in (0..windows).rev() {
                let keep = windows_of_t[w].len().saturating_sub(delay[(t * 7 + w) % delay.len()]);
                let late: Vec<Event> = windows_of_t[w].drain(keep..).collect();
                windows_of_t[w + 1].splice(0..0, late);
            }
        }
        let mut rec = Rec::new();
        for w in 0..=windows {
            let mut order = [0usize, 1, 2];
            order.sort_by_key(|&t| shuffle[(w * 3 + t) % shuffle.len()]);
            for t in order {
                if !per[t][w].is_empty() {
                    rec.events(t as u32 + 1, &per[t][w]);
                }
            }
            rec.round((w as u64 + 1) * round_len);
        }
        rec.end((windows as u64 + 1) * round_len);
        let r = rec.replay();
        prop_assert_eq!(Model::of(&r), model);
    }

    /// Arbitrary events (any addresses, sizes up to u64::MAX, any order,
    /// any thread) never panic and keep the invariants.
    #[test]
    fn hostile_events_never_panic(raw in prop::collection::vec((0u32..4, 0u8..19, 0u64..400, 0u64..6, any::<u64>(), any::<u64>()), 0..300),
                                  rounds in prop::collection::vec(any::<u64>(), 0..8)) {
        let mut rec = Rec::new();
        for (i, chunk) in raw.chunks(17).enumerate() {
            let events: Vec<RawEvent> = chunk
                .iter()
                .map(|&(_, kind, ts, p, s, t)| {
                    let (p, q) = (0x40 * p as usize, 0x40 * (t % 6) as usize);
                    match kind {
                        0 => RawEvent::alloc(ts, p, s as usize, 8, false, 0),
                        1 => RawEvent::dealloc(ts, p, s as usize, 8),
                        2 => RawEvent::realloc(ts, p, s as usize, q, t as usize),
                        3 => RawEvent::realloc(ts, p, (s & 0xFFFF) as usize, q, (t & 0xFFFF) as usize),
                        4 => RawEvent::thread_start(ts, s, s.to_le_bytes().repeat(2).try_into().unwrap_or_default()),
                        5 => RawEvent::thread_exit(ts),
                        6 => RawEvent::lost(ts, s),
                        7 | 8 => RawEvent::alloc(ts, p, (s % 100) as usize, 8, true, 0),
                        // Tracking events: addresses at or inside allocations,
                        // site and string keys with no record.
                        k => RawEvent::with_kind(KIND_VAR + (k - 9), ts, (p + (s % 3) as usize * 8) as u64, s % 4, t % 3),
                    }
                })
                .collect();
            rec.chunk(chunk[0].0, &events);
            if let Some(&w) = rounds.get(i) {
                rec.round(w % 500);
            }
        }
        let r = rec.replay();
        prop_assert_eq!(r.summary.events, raw.len() as u64);
    }
}

/// Per-site figures against a model that keeps, per site, a map of its live
/// allocations, and snapshots every site's live bytes at each new global
/// peak (the naive O(sites) way that replay avoids).
#[derive(Debug, Default, PartialEq, Eq)]
struct SiteModel {
    /// stack → (allocations, reallocations, allocated bytes, deallocations, deallocated bytes, live bytes at the end, live bytes at the peak, temporary)
    sites: BTreeMap<u32, [u64; 8]>,
}

impl SiteModel {
    fn of_events(events: &[Event]) -> Self {
        let mut live: BTreeMap<u64, (u64, u32)> = BTreeMap::new();
        let mut sites: BTreeMap<u32, [u64; 8]> = BTreeMap::new();
        let (mut total, mut peak) = (0u64, 0u64);
        let mut at_peak: BTreeMap<u32, u64> = BTreeMap::new();
        let mut last_alloc = 0u64;
        for e in events {
            match *e {
                Event::Alloc { ptr, size, stack, .. } => {
                    let s = sites.entry(stack).or_default();
                    s[0] += 1;
                    s[2] += size;
                    live.insert(ptr, (size, stack));
                    total += size;
                    last_alloc = ptr;
                }
                Event::Dealloc { ptr, .. } => {
                    if let Some((size, stack)) = live.remove(&ptr) {
                        let s = sites.entry(stack).or_default();
                        s[3] += 1;
                        s[4] += size;
                        s[7] += u64::from(last_alloc == ptr);
                        total -= size;
                        if last_alloc == ptr {
                            last_alloc = 0;
                        }
                    }
                }
                Event::Realloc { old_ptr, new_ptr, new_size, stack, .. } => {
                    if let Some((size, old_stack)) = live.remove(&old_ptr) {
                        sites.entry(old_stack).or_default()[4] += size;
                        total -= size;
                    }
                    let s = sites.entry(stack).or_default();
                    s[1] += 1;
                    s[2] += new_size;
                    live.insert(new_ptr, (new_size, stack));
                    total += new_size;
                    last_alloc = new_ptr;
                }
                _ => {}
            }
            if total > peak {
                peak = total;
                at_peak.clear();
                for &(size, stack) in live.values() {
                    *at_peak.entry(stack).or_default() += size;
                }
            }
        }
        for &(size, stack) in live.values() {
            sites.entry(stack).or_default()[5] += size;
        }
        for (stack, s) in &mut sites {
            s[6] = at_peak.get(stack).copied().unwrap_or(0);
        }
        SiteModel { sites }
    }

    fn of_replay(r: &Replay) -> Self {
        let sites = r
            .stacks
            .sites
            .iter()
            .map(|s| {
                let figures = [
                    s.allocations,
                    s.reallocations,
                    s.allocated_bytes,
                    s.deallocations,
                    s.deallocated_bytes,
                    s.live_bytes_end,
                    s.peak_bytes,
                    s.temporary,
                ];
                (s.stack, figures)
            })
            .collect();
        SiteModel { sites }
    }
}

proptest! {
    /// One thread, strictly increasing timestamps, allocations and
    /// reallocations at four stacks: every site's figures equal the model's,
    /// and they add up to the totals.
    #[test]
    fn sites_match_a_model(steps in steps(), stacks in prop::collection::vec(1u32..5, 200)) {
        let mut events = events_from(&steps, 1);
        for (e, &s) in events.iter_mut().zip(&stacks) {
            match e {
                Event::Alloc { stack, .. } | Event::Realloc { stack, .. } => *stack = s,
                _ => {}
            }
        }
        let mut rp = Replayer::new(header());
        let nodes = (0..4).map(|i| crate::format::stacks::StackNode { parent: 0, address: 0x1000 + i }).collect();
        rp.record(&Record::Stack { first_id: 1, nodes });
        rp.events(1, &events);
        rp.record(&Record::End { events_written: 0, events_lost: 0, end_ns: u64::MAX >> 9, flags: 0 });
        let r = rp.finish(0);
        let model = SiteModel::of_events(&events);
        prop_assert_eq!(SiteModel::of_replay(&r), model);
        let sum = |f: fn(&SiteStats) -> u64| r.stacks.sites.iter().map(f).sum::<u64>();
        prop_assert_eq!(sum(|s| s.allocated_bytes), r.summary.total_allocated_bytes);
        prop_assert_eq!(sum(|s| s.live_bytes_end), r.summary.live_bytes);
        prop_assert_eq!(sum(|s| s.peak_bytes), r.summary.peak_live_bytes);
        prop_assert_eq!(sum(|s| s.allocations), r.summary.total_allocations);
    }
}

/// Version 4: a Round's watermark is exact, so replay releases everything
/// stamped before it at once, with no lag (FORMAT.md, "Round record").
#[test]
fn exact_watermarks_release_without_lag() {
    let ev = |raw: RawEvent| raw.decode().expect("known kind");
    let mut p = Replayer::new(header());
    p.events(1, &[ev(RawEvent::alloc(10 * U, X, 1, 1, false, 0)), ev(RawEvent::alloc(120 * U, Y, 1, 1, false, 0))]);
    p.record(&Record::Round { round: 0, watermark_ns: 100 * U });
    assert_eq!(p.buffered(), vec![120 * U], "everything stamped before the watermark is applied");
    assert_eq!(p.totals.live_count, 1);
    // A watermark lower than the last (a slot had an event in flight) releases nothing more.
    p.record(&Record::Round { round: 1, watermark_ns: 90 * U });
    assert_eq!(p.buffered(), vec![120 * U]);
    // Releases wait until the bound moved RELEASE_STEP_NS (25 U).
    p.record(&Record::Round { round: 2, watermark_ns: 121 * U });
    assert_eq!(p.buffered(), vec![120 * U]);
    p.record(&Record::Round { round: 3, watermark_ns: 125 * U });
    assert_eq!(p.buffered(), Vec::<u64>::new());
    let r = p.finish(0);
    assert_eq!((r.summary.late_events, r.summary.live_count), (0, 2));
}

/// Version 4: a reallocation that moved releases its old address at its
/// first stamp and acquires the new one at its return stamp. Thread 1
/// reallocates X to Y during [10, 30]; meanwhile thread 2 frees Y (at 20,
/// the memory the call returns) and allocates at X (at 25, the memory the
/// call released). Both orders are right with no repair.
#[test]
fn a_moving_reallocation_releases_at_its_first_stamp_and_acquires_at_its_return() {
    let realloc = Event::Realloc {
        ts_ns: 10,
        old_ptr: X as u64,
        new_ptr: Y as u64,
        old_size: Some(16),
        new_size: 64,
        stack: 0,
        returned_ns: Some(30),
    };
    let r = Rec::new()
        .chunk(2, &[RawEvent::alloc(5, Y, 48, 8, false, 0)])
        .chunk(1, &[RawEvent::alloc(6, X, 16, 8, false, 0)])
        .events(1, &[realloc])
        .chunk(2, &[RawEvent::dealloc(20, Y, 48, 8), RawEvent::alloc(25, X, 32, 8, false, 0)])
        .end(40)
        .replay();
    let t = &r.summary;
    assert_eq!((t.address_conflicts, t.reordered_reallocations, t.size_mismatches, t.late_events), (0, 0, 0, 0));
    assert_eq!((t.total_allocated_bytes, t.total_deallocated_bytes, t.live_bytes), (48 + 16 + 64 + 32, 16 + 48, 96));
    let mut leaks: Vec<_> = r.largest_leaks.iter().map(|l| (l.ptr, l.size, l.thread, l.allocated_at_ns)).collect();
    leaks.sort();
    assert_eq!(leaks, vec![(X as u64, 32, 2, 25), (Y as u64, 64, 1, 6)]);
    // Between its two stamps the reallocation's memory is not live: the
    // peak (48 + 16 at 6; then 48 + 32 = 80 at 25 after the free; then
    // 96 at 30) is reached when it returns.
    assert_eq!((t.peak_live_bytes, t.peak_at_ns), (96, 30));
}

/// A file whose allocations pass the limit on live allocations stops
/// replay there, and the rest of the file (including what the reading
/// thread had read ahead) is reported as one damaged stretch to the end.
#[test]
fn replay_stops_at_the_live_limit_and_skips_the_read_ahead() {
    let mut rec = Rec::new();
    let per_chunk = 1 << 16;
    let mut ts = 10;
    for c in 0..24u64 {
        let events: Vec<RawEvent> = (0..per_chunk as u64)
            .map(|i| {
                ts += 1;
                RawEvent::alloc(ts, 0x10_0000 + ((c * per_chunk as u64 + i) * 16) as usize, 16, 8, false, 0)
            })
            .collect();
        rec.chunk(1, &events);
        rec.round(ts + 1);
    }
    rec.end(ts + 2);
    let r = replay_bytes(&rec.out);
    let last = r.damage.last().expect("replay stopped");
    let DamageKind::OverLimit { what, count, read_bytes, max } = last.kind else { panic!("not a limit: {:?}", last.kind) };
    assert_eq!(what, "live allocations");
    assert_eq!((read_bytes, max), (last.offset, max_live(read_bytes)));
    assert!(count > max, "{count} live, {max} allowed");
    assert_eq!(last.offset + last.skipped_bytes, rec.out.len() as u64, "the damage reaches the end of the file");
    assert!(r.summary.live_count < 24 * per_chunk as u64, "replay stopped early");
    assert_eq!(r.file_bytes, rec.out.len() as u64);
}

/// Replays `bytes` on the calling thread, record by record (the path of
/// [`Replayer::events`], which converts each chunk where it applies it).
fn replay_here(bytes: &[u8]) -> Replay {
    let mut reader = format::Reader::new(bytes).expect("a valid header");
    let mut r = Replayer::new(*reader.header());
    while let Some(record) = reader.next_record().expect("reading a slice") {
        match record {
            Ok(record) => r.record(&record),
            Err(damage) => r.damage(damage),
        }
    }
    r.set_header(*reader.header());
    r.finish(reader.offset())
}

/// Chunks converted to ops on the reading thread and merged as runs replay
/// exactly as chunks converted where they apply, on disordered recordings
/// too: three threads sharing addresses, chunks whose events go back in
/// time, watermarks ahead of later events (late events), equal timestamps
/// across threads, reallocations in place and moving.
#[test]
fn chunks_converted_on_the_reading_thread_replay_as_on_the_applying_one() {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for case in 0..12 {
        let mut rec = Rec::new();
        let mut clock = 1000u64;
        let mut held: Vec<(usize, usize)> = Vec::new();
        for _ in 0..(300 + case * 40) {
            let thread = 1 + (next() % 3) as u32;
            let mut events: Vec<Event> = Vec::new();
            for _ in 0..1 + next() % 40 {
                // Often the same nanosecond; now and then a step back.
                clock = match next() % 8 {
                    0 => clock.saturating_sub(next() % 5000),
                    1..=3 => clock,
                    _ => clock + next() % 300,
                };
                let ptr = 0x1_0000 + (next() % 512) as usize * 16;
                let size = 1 + (next() % 700) as usize;
                let raw = match next() % 6 {
                    0 | 1 => RawEvent::alloc(clock, ptr, size, 8, false, 0),
                    2 | 3 if !held.is_empty() => {
                        let (p, s) = held.swap_remove((next() % held.len() as u64) as usize);
                        RawEvent::dealloc(clock, p, s, 8)
                    }
                    4 if !held.is_empty() => {
                        let i = (next() % held.len() as u64) as usize;
                        let (p, s) = held[i];
                        held[i] = (if next() % 2 == 0 { p } else { ptr }, size);
                        RawEvent::realloc(clock, p, s, held[i].0, size)
                    }
                    _ => RawEvent::dealloc(clock, ptr, size, 8),
                };
                if raw.kind() == KIND_ALLOC {
                    held.push((ptr, size));
                }
                let mut ev = raw.decode().expect("known kind");
                if let Event::Realloc { old_ptr, new_ptr, ref mut returned_ns, .. } = ev {
                    if old_ptr != new_ptr && next() % 2 == 0 {
                        *returned_ns = Some(clock + next() % 50);
                    }
                }
                events.push(ev);
            }
            rec.events(thread, &events);
            match next() % 10 {
                0..=5 => {}
                6..=8 => {
                    rec.round(clock.saturating_sub(next() % 20_000));
                }
                _ => {
                    rec.round(clock + next() % 20_000);
                }
            }
        }
        rec.end(clock + 1);
        let (there, here) = (rec.replay(), replay_here(&rec.out));
        assert_eq!(format!("{there:?}"), format!("{here:?}"), "case {case}");
        assert!(there.summary.events > 0);
    }
}
