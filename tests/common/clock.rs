//! The shared body of `clock_tsc.rs` and `clock_fallback.rs`: a recording
//! on the given clock source is exact, its two Clock records say how its
//! ns were derived, and those ns follow `CLOCK_MONOTONIC`.

use super::{assert_exact, counted, temp_path, Counts};
use memscope::format::{self, ClockRecord, Reader, Record};
use std::hint::black_box;
use std::time::Duration;

/// `CLOCK_MONOTONIC` in ns.
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Records some work on two threads with a sleep in between; checks the
/// file against `source`, and returns its Clock records (start, end).
pub fn record_and_check(test: &str, source: u8) -> (ClockRecord, ClockRecord) {
    let path = temp_path(test);
    super::quiesce_harness();
    let rec = memscope::Recorder::new(&path).start().expect("start");
    let before = Counts::now();
    let t0 = monotonic_ns();
    let (asleep, joined) = counted(|| {
        let v: Vec<Vec<u8>> = (0..1000).map(|i| vec![i as u8; i % 97 + 1]).collect();
        let asleep = monotonic_ns();
        std::thread::sleep(Duration::from_millis(50));
        let other = super::spawn_counted(move || black_box(v).into_iter().map(|b| b.len()).sum::<usize>());
        assert!(other.join() > 0);
        (asleep, monotonic_ns())
    });
    let t1 = monotonic_ns();
    let c = Counts::now().since(&before);
    let summary = rec.finish().expect("finish");
    let t2 = monotonic_ns();
    let replay = assert_exact(&path, &c, &summary);

    let mut reader = Reader::new(std::fs::File::open(&path).unwrap()).unwrap();
    let header = *reader.header();
    assert_eq!(header.version, format::VERSION);
    let mut records = Vec::new();
    while let Some(r) = reader.next_record().unwrap() {
        records.push(r.expect("no damage"));
    }
    let Some(Record::Clock(start)) = records.first().cloned() else {
        panic!("the first record is not a Clock record: {:?}", records.first())
    };
    let Some(Record::Clock(end)) = records.get(records.len() - 2).cloned() else { panic!("no Clock record before the End record") };
    assert!(matches!(records.last(), Some(Record::End { .. })));
    assert_eq!((start.source, start.at, end.at), (source, format::CLOCK_AT_START, format::CLOCK_AT_END));
    assert_eq!((start.mult, start.shift, start.epoch_ticks), (end.mult, end.shift, end.epoch_ticks));
    if source == format::CLOCK_MONOTONIC {
        assert_eq!((start.mult, start.shift), (1, 0));
        assert_eq!(start.epoch_ticks, header.start_monotonic_ns);
    } else {
        // A plausible TSC: 0.05 to 20 ticks per ns.
        let ns_per_tick = start.mult as f64 / (1u64 << start.shift) as f64;
        assert!((0.05..20.0).contains(&ns_per_tick), "{ns_per_tick} ns per tick");
        // The rate was measured between the epoch's pair and the start
        // record's: an earlier one (a later recording of a process) or one
        // the drainer read at least 5 ms after the epoch (a process's first
        // recording), both clocks on the same side.
        let earlier = start.ticks < start.epoch_ticks;
        assert_eq!(earlier, start.monotonic_ns < header.start_monotonic_ns, "{start:?}, epoch {}", header.start_monotonic_ns);
        let (dt, dns) = (start.ticks.abs_diff(start.epoch_ticks), start.monotonic_ns.abs_diff(header.start_monotonic_ns));
        assert!(dns >= 5_000_000, "the rate was measured over {dns} ns");
        let mult = (((u128::from(dns) << start.shift) + u128::from(dt / 2)) / u128::from(dt)) as u64;
        assert_eq!(start.mult, mult, "mult is the rate between the two pairs");
    }
    // The conversion the file states agrees with CLOCK_MONOTONIC at the end
    // (within 0.1% and 50 µs: a 5 ms calibration is good to ~10 ppm).
    let by_clock = end.ticks_to_ns(end.ticks);
    let by_monotonic = end.monotonic_ns - header.start_monotonic_ns;
    assert!(
        by_clock.abs_diff(by_monotonic) < 50_000 + by_monotonic / 1000,
        "end: {by_clock} ns converted, {by_monotonic} ns of CLOCK_MONOTONIC"
    );
    // Every timestamp is in ns since the epoch: the events lie within the
    // recording, and the 50 ms sleep shows as 50 ms between the two threads' events.
    let epoch = header.start_monotonic_ns;
    let tolerance = |ns: u64| 50_000 + ns / 1000;
    let end_ns = replay.end.expect("End").end_ns;
    assert!(
        end_ns + tolerance(end_ns) >= t1 - epoch && end_ns <= t2 - epoch + tolerance(end_ns),
        "end_ns {end_ns}, finish() ran from {} to {} ns",
        t1 - epoch,
        t2 - epoch
    );
    let mut first_other = u64::MAX;
    let mut last_main_before = 0;
    let mut reader = Reader::new(std::fs::File::open(&path).unwrap()).unwrap();
    let mut main_thread = 0;
    while let Some(r) = reader.next_record().unwrap() {
        if let Ok(Record::Events(chunk)) = r {
            for e in &chunk.events {
                if matches!(e, format::Event::ThreadStart { .. }) && main_thread == 0 {
                    main_thread = chunk.thread;
                }
                let ts = e.ts_ns();
                if chunk.thread == main_thread && ts + epoch <= asleep + tolerance(ts) {
                    last_main_before = last_main_before.max(ts);
                }
                if chunk.thread != main_thread && chunk.thread != 0 {
                    first_other = first_other.min(ts);
                }
            }
        }
    }
    assert!(last_main_before + tolerance(0) >= t0 - epoch, "the main thread's events before the sleep");
    // The other thread's first event comes after the sleep and before the
    // join; CLOCK_MONOTONIC saw `joined - asleep` ns between them.
    let gap = first_other - last_main_before;
    assert!(
        gap >= 49_000_000 && gap <= joined - asleep + tolerance(gap),
        "the 50 ms sleep shows as {gap} ns, CLOCK_MONOTONIC {} ns",
        joined - asleep
    );
    let _ = std::fs::remove_file(&path);
    (start, end)
}
