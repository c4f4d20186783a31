//! The default clock: the TSC where it is invariant and the kernel keeps
//! time with it (FORMAT.md, "The clock"), else `CLOCK_MONOTONIC`. The
//! recording is exact, its Clock records name the source this machine
//! should use, and the converted ns follow `CLOCK_MONOTONIC`.

mod common;

use common::CountingAlloc;
use memscope::TrackingAllocator;

#[global_allocator]
static A: TrackingAllocator<CountingAlloc> = TrackingAllocator::new(CountingAlloc::new());

/// What FORMAT.md says the recorder picks here, read independently.
fn expected_source() -> u8 {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags = cpuinfo.lines().find(|l| l.starts_with("flags")).unwrap_or("");
    let has = |f: &str| flags.split_whitespace().any(|w| w == f);
    let source = std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource").unwrap_or_default();
    let tsc = cfg!(target_arch = "x86_64")
        && has("constant_tsc")
        && has("nonstop_tsc")
        && source.trim() == "tsc"
        && std::env::var_os("MEMSCOPE_CLOCK").is_none_or(|v| v != "monotonic");
    if tsc {
        memscope::format::CLOCK_TSC
    } else {
        memscope::format::CLOCK_MONOTONIC
    }
}

#[test]
fn the_default_clock_records_exactly_in_ns() {
    common::clock::record_and_check("clock_tsc", expected_source());
}
