//! Memory the program hands to the recorder stays the program's: a
//! `Recorder::start` that fails (here with `AlreadyRecording`, because a
//! recording runs) drops the Recorder's `PathBuf` as a recorded
//! deallocation, so replay does not show a leak that never happened.
//! (`start` checks outside its ignored scope; past the checks no recording
//! runs until the new one is published, so nothing there is recorded, and a
//! path the recorder clones then is, correctly, memory from before the
//! recording if the program frees it during a later one.)

mod common;

use common::{assert_exact, counted, temp_path, CountingAlloc, Counts};
use memscope::{Error, Recorder, TrackingAllocator};

#[global_allocator]
static A: TrackingAllocator<CountingAlloc> = TrackingAllocator::new(CountingAlloc::new());

#[test]
fn a_failed_start_during_a_recording_does_not_leak_in_the_replay() {
    let path = temp_path("failed_start_frees");
    common::quiesce_harness();
    let rec = Recorder::new(&path).start().expect("start");
    let before = Counts::now();
    counted(|| {
        // The program tries to start a second recording: it gets an error,
        // and the Recorder it built is gone.
        let e = Recorder::new(temp_path("failed_start_frees_second")).start();
        assert!(matches!(e, Err(Error::AlreadyRecording)), "{e:?}");
    });
    let c = Counts::now().since(&before);
    let written = rec.finish().expect("finish");
    assert_eq!(c.live_count(), 0, "the program leaked nothing: {c:?}");
    let r = assert_exact(&path, &c, &written);
    assert_eq!(r.summary.live_count, 0);
    let _ = std::fs::remove_file(&path);
}
