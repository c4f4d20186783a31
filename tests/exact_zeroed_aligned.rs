//! Zeroed allocations (`vec![0; n]`, `alloc_zeroed`) and large over-aligned
//! ones (2 MiB at 4096 and at 2 MiB alignment): replay's totals equal the
//! counter's, and the file carries each event's alignment and zeroed flag
//! as requested.

mod common;

use common::{assert_exact, assert_no_conflicts, counted, raw_fold, temp_path, CountingAlloc, Counts};
use memscope::TrackingAllocator;
use std::alloc::{alloc, alloc_zeroed, dealloc, Layout};
use std::hint::black_box;

#[global_allocator]
static A: TrackingAllocator<CountingAlloc> = TrackingAllocator::new(CountingAlloc::new());

const MIB: usize = 1 << 20;

#[test]
fn zeroed_and_aligned_are_exact() {
    // (size, align, zeroed) of the explicit allocations below.
    let explicit: Vec<(usize, usize, bool)> = vec![
        (2 * MIB, 4096, false),
        (2 * MIB, 4096, true),
        (2 * MIB + 1, 4096, true),
        (2 * MIB, 2 * MIB, false),
        (2 * MIB, 2 * MIB, true),
        (4096, 4096, true),
        (1, 4096, false),
        (24, 64, true),
        (100, 1, true),
    ];
    let path = temp_path("exact_zeroed_aligned");
    common::quiesce_harness();
    let rec = memscope::Recorder::new(&path).start().expect("start");

    let before = Counts::now();
    let leaked = counted(|| {
        // vec![0; n] and friends go through alloc_zeroed.
        let zeros = black_box(vec![0u8; 3 * MIB]);
        let zero_words = black_box(vec![0u64; 1000]);
        assert!(zeros.iter().step_by(4096).all(|&b| b == 0));
        drop((zeros, zero_words));
        // ... but a non-zero fill does not.
        drop(black_box(vec![1u8; 5000]));

        let mut blocks = Vec::with_capacity(explicit.len());
        for &(size, align, zeroed) in &explicit {
            let layout = Layout::from_size_align(size, align).unwrap();
            // SAFETY: non-zero sizes.
            let p = unsafe {
                if zeroed {
                    alloc_zeroed(layout)
                } else {
                    alloc(layout)
                }
            };
            assert!(!p.is_null());
            assert_eq!(p as usize % align, 0, "misaligned {size}/{align}");
            if zeroed {
                // SAFETY: `p` holds `size` bytes.
                assert!(unsafe { std::slice::from_raw_parts(p, size) }.iter().all(|&b| b == 0));
            }
            // SAFETY: `p` holds `size` bytes.
            unsafe { p.write_bytes(0x3C, size) };
            blocks.push((p, layout));
        }
        // Free all but the last; keep that one live past the end.
        let last = blocks.pop().unwrap();
        for (p, layout) in blocks {
            // SAFETY: allocated above with `layout`.
            unsafe { dealloc(p, layout) };
        }
        last
    });
    let c = Counts::now().since(&before);
    let written = rec.finish().expect("finish");

    let zeroed_explicit = explicit.iter().filter(|e| e.2).count() as u64;
    assert_eq!(c.zeroed, zeroed_explicit + 2, "vec![0; n] x2 and the explicit ones are alloc_zeroed: {c:?}");
    let r = assert_exact(&path, &c, &written);
    assert_no_conflicts(&path, &r);
    assert_eq!((r.summary.live_count, r.summary.live_bytes), (1, 100), "the kept 100-byte block");

    // The events carry the requested layout and the zeroed flag.
    let f = raw_fold(&path);
    assert_eq!(f.zeroed, c.zeroed, "zeroed allocations in the file");
    let mut expected: Vec<(u64, u64, bool)> = explicit.iter().map(|&(s, a, z)| (s as u64, a as u64, z)).collect();
    expected.extend([((3 * MIB) as u64, 1, true), (8000, 8, true), (5000, 1, false)]);
    for e in &expected {
        let n = f.alloc_events.iter().filter(|&x| x == e).count();
        assert_eq!(n, 1, "allocation (size, align, zeroed) = {e:?} appears {n} times in the file");
    }
    // Nothing big or over-aligned was recorded that the test did not ask for.
    let big_or_aligned: Vec<_> = f.alloc_events.iter().filter(|&&(s, a, _)| s >= MIB as u64 || a > 16).collect();
    assert_eq!(big_or_aligned.len(), expected.iter().filter(|&&(s, a, _)| s >= MIB as u64 || a > 16).count(), "{big_or_aligned:?}");

    // SAFETY: allocated above with this layout.
    unsafe { dealloc(leaked.0, leaked.1) };
    let _ = std::fs::remove_file(&path);
}
