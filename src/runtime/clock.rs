//! Clock and CPU-time readings from the OS.

#[cfg(feature = "bench-support")]
use std::io;
#[cfg(feature = "bench-support")]
use std::time::Duration;

/// CLOCK_MONOTONIC in microseconds.
pub(super) fn monotonic_micros() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the pointer, which
    // points at a valid local.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

/// CPU time (user, system) the calling thread has used so far
/// (`getrusage(RUSAGE_THREAD)`). A benchmark helper: only with the
/// `bench-support` feature.
#[cfg(feature = "bench-support")]
pub fn thread_cpu_time() -> io::Result<(Duration, Duration)> {
    rusage(libc::RUSAGE_THREAD)
}

/// CPU time (user, system) the whole process has used so far
/// (`getrusage(RUSAGE_SELF)`). A benchmark helper: only with the
/// `bench-support` feature.
#[cfg(feature = "bench-support")]
pub fn process_cpu_time() -> io::Result<(Duration, Duration)> {
    rusage(libc::RUSAGE_SELF)
}

#[cfg(feature = "bench-support")]
fn rusage(who: libc::c_int) -> io::Result<(Duration, Duration)> {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole `struct rusage` into the pointer we
    // pass, which points at enough zeroed, writable memory.
    let rc = unsafe { libc::getrusage(who, ru.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: zero-initialised and, on success, filled in by the kernel.
    let ru = unsafe { ru.assume_init() };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Ok((tv(ru.ru_utime), tv(ru.ru_stime)))
}
