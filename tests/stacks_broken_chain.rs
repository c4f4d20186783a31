//! A frame-pointer chain broken on purpose: an allocation is made from a
//! function called with the frame-pointer register holding garbage (an
//! unmapped address, and a heap block laid out as two fake frames whose
//! return address is a real function of this binary). The walk must stop
//! at the bad link without faulting and without reporting the fake frame,
//! and replay must mark the stack truncated. The frames inside the chain
//! (the allocating function and its callees) are still there.

#![cfg(target_arch = "x86_64")]

use memscope::export::profile::Profile;
use memscope::TrackingAllocator;
use std::hint::black_box;

#[global_allocator]
static A: TrackingAllocator = TrackingAllocator::system();

/// Allocates 12,345 bytes and frees them.
#[inline(never)]
extern "C" fn allocate_under_a_bad_frame_pointer() {
    drop(black_box(Vec::<u8>::with_capacity(12_345)));
}

/// Never called: its address is the fake frames' return address.
#[inline(never)]
extern "C" fn fake_caller_never_called() {
    black_box(0);
}

/// Calls `allocate_under_a_bad_frame_pointer` with `rbp` set to `bad`, so
/// the callee saves `bad` as its caller's frame pointer.
fn call_with_frame_pointer(bad: usize) {
    // SAFETY: saves rbp and rsp, aligns the stack for the call, restores
    // both; the callee is an `extern "C"` function that takes no argument
    // and follows the C ABI (clobber_abi covers the registers it may
    // change). rbp holds `bad` only while the callee runs, and only the
    // frame-pointer walk reads through it (bounds-checked).
    unsafe {
        std::arch::asm!(
            "push rbp",
            "mov r12, rsp",
            "and rsp, -16",
            "mov rbp, {bad}",
            "call {f}",
            "mov rsp, r12",
            "pop rbp",
            bad = in(reg) bad,
            f = sym allocate_under_a_bad_frame_pointer,
            out("r12") _,
            clobber_abi("C"),
        );
    }
}

#[test]
fn a_broken_chain_ends_the_stack_without_inventing_frames() {
    let path = std::env::temp_dir().join(format!("memscope-broken-chain-{}.memscope", std::process::id()));
    // Two fake frames on the heap: [next frame pointer, return address].
    let ret = fake_caller_never_called as extern "C" fn() as usize + 1;
    let fake: Box<[usize; 4]> = Box::new([0, ret, 0, ret]);
    let mut fake = black_box(fake);
    fake[0] = &fake[2] as *const usize as usize;
    let recording = memscope::Recorder::new(&path).start().expect("start");
    call_with_frame_pointer(0x0000_dead_beef_0000); // unmapped
    call_with_frame_pointer(fake.as_ptr() as usize); // heap, outside the thread's stack
    call_with_frame_pointer(17); // misaligned
    recording.finish().expect("finish");
    drop(fake);

    let replay = memscope::replay::replay_file(&path).expect("replay");
    let profile = Profile::build(&replay, &Default::default());
    let ours: Vec<_> = profile
        .sites
        .iter()
        .filter(|s| {
            s.locations
                .iter()
                .any(|&l| profile.locations[l].lines.iter().any(|l| l.function.ends_with("allocate_under_a_bad_frame_pointer")))
        })
        .collect();
    let allocations: u64 = ours.iter().map(|s| s.stats.allocations).sum();
    assert_eq!(allocations, 3, "each call's allocation is in a site naming the allocating function");
    for site in &ours {
        assert_eq!(site.stats.allocated_bytes % 12_345, 0);
        let functions: Vec<&str> =
            site.locations.iter().flat_map(|&l| profile.locations[l].lines.iter().map(|l| l.function.as_str())).collect();
        assert!(!functions.iter().any(|f| f.contains("fake_caller_never_called")), "an invented frame: {functions:?}");
        // The callee's own return address (into `call_with_frame_pointer`)
        // is real; the frames past the bad link (its callers) must not be there.
        assert!(functions.last().is_some_and(|f| f.ends_with("call_with_frame_pointer")), "the chain ends at the bad link: {functions:?}");
        assert!(!functions.iter().any(|f| f.contains("a_broken_chain_ends")), "frames past the bad link: {functions:?}");
        assert!(!functions.iter().any(|f| f.starts_with("memscope::") || f.starts_with("__rustc::")), "plumbing left in: {functions:?}");
        assert!(site.truncated, "a stack cut at a broken link is truncated: {functions:?}");
    }
    let _ = std::fs::remove_file(&path);
}
