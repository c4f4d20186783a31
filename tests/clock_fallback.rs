//! `MEMSCOPE_CLOCK=monotonic`: the fallback clock, as on a machine whose TSC
//! is not invariant. The recording is exact and its Clock records say
//! `CLOCK_MONOTONIC` (ticks are ns). The choice is made once per process, at
//! its first recording, so this is a test binary of its own.

mod common;

use common::CountingAlloc;
use memscope::TrackingAllocator;

#[global_allocator]
static A: TrackingAllocator<CountingAlloc> = TrackingAllocator::new(CountingAlloc::new());

#[test]
fn the_fallback_clock_records_exactly_in_ns() {
    // SAFETY (edition 2021: safe): set before any recording, with no other
    // thread reading the environment.
    std::env::set_var("MEMSCOPE_CLOCK", "monotonic");
    let (start, end) = common::clock::record_and_check("clock_fallback", memscope::format::CLOCK_MONOTONIC);
    // CLOCK_MONOTONIC pairs with itself.
    assert_eq!((start.ticks, end.ticks), (start.monotonic_ns, end.monotonic_ns));
}
