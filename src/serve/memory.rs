//! Giving freed heap memory back to the system.
//!
//! glibc's malloc keeps what a burst of connections freed in its arenas (one per thread that
//! allocated, up to 8 per core) and returns to the system only the free memory at the top of
//! each heap, so a server that served 5,000 concurrent long-polls kept about 150 MiB resident
//! while holding under 2 MiB of live allocations (glibc's own `malloc_stats()` of the process
//! said so; docs/benchmarks.md has the run). [`release_freed`] asks glibc to return every free
//! page of every arena (`malloc_trim(0)`: `madvise(MADV_DONTNEED)` on them); the node calls it
//! every few seconds, off the async threads. Other allocators and C libraries return memory by
//! themselves; there it does nothing.

use std::time::{Duration, Instant};

/// How often the node gives freed memory back.
pub const RELEASE_EVERY: Duration = Duration::from_secs(10);

/// Returns free heap pages to the system; answers how long that took.
pub fn release_freed() -> Duration {
    let started = Instant::now();
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory malloc holds free; it is thread-safe (it takes
    // each arena's lock) and touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
    started.elapsed()
}
