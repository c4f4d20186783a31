//! The OS calls of the record side: `CLOCK_MONOTONIC`, the thread's id and name,
//! whether a thread is alive, and the atexit and fork hooks.

/// Reads `CLOCK_MONOTONIC` in nanoseconds (through the vDSO: no syscall).
#[inline(always)]
pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC exists on
    // every Linux, so the call cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64)
}

/// The running recording's clock, in ticks since its epoch, for anything
/// that is not a stamp next to an allocator call (`clock::Order::AfterCall`).
#[inline(always)]
pub(crate) fn now_ticks() -> u64 {
    super::super::clock::now_ticks(super::super::clock::Order::AfterCall)
}

/// The calling thread's OS id (`gettid`): one syscall, at registration only.
pub(super) fn os_thread_id() -> u64 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::syscall(libc::SYS_gettid) as u64 }
}

/// The calling thread's name as the kernel has it (at most 15 bytes + NUL).
pub(super) fn os_thread_name() -> [u8; 16] {
    let mut name = [0u8; 16];
    // SAFETY: PR_GET_NAME writes at most 16 bytes into the buffer we pass.
    unsafe { libc::prctl(libc::PR_GET_NAME, name.as_mut_ptr()) };
    name
}

/// Registers `f` to run in the child after `fork`.
pub(crate) fn at_fork_child(f: extern "C" fn()) -> bool {
    // SAFETY: `f` is a valid function for the life of the process and only
    // stores to atomics, which is async-signal-safe as fork requires.
    unsafe { libc::pthread_atfork(None, None, Some(f)) == 0 }
}

/// Registers `f` to run at process exit (`exit`, or return from `main`).
pub(crate) fn at_exit(f: extern "C" fn()) -> bool {
    // SAFETY: `f` is a valid function for the life of the process.
    unsafe { libc::atexit(f) == 0 }
}

/// Whether thread `tid` of process `pid` exists: `tgkill` with signal 0
/// checks without sending anything; only ESRCH says it is gone.
pub(super) fn thread_alive(pid: libc::pid_t, tid: u32) -> bool {
    // SAFETY: signal 0 sends nothing; the call only looks the thread up.
    let r = unsafe { libc::syscall(libc::SYS_tgkill, pid, tid as libc::pid_t, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}
