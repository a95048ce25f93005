//! Allocator tuning for the server process.
//!
//! Every login verifies an Argon2id hash, which allocates 19 MiB (m=19456 KiB) and frees it a
//! few tens of milliseconds later, on whichever blocking thread ran it. glibc serves such a
//! block with mmap only until the first one is freed: its dynamic threshold then rises above
//! 19 MiB, and later blocks come from the per-thread arenas, which keep the freed memory.
//! Measured with 10,000 TLS logins (bench/imap/run-idle.sh): about 10 GB of arenas after the
//! logins, most of it free yet never given back. A fixed threshold (which also turns the
//! dynamic one off) keeps every allocation of 1 MiB or more on its own mapping, returned to
//! the system when freed.
//!
//! No other allocator (jemalloc, mimalloc) for now: with this threshold the server's PSS per
//! idle IMAP connection (13.3 KB at 10,000 TLS IDLE connections) is about what heaptrack shows
//! live per connection (~13 KB), so glibc's arenas add little; what is left is the sessions'
//! own memory (bench/imap/README.md), and another allocator would cost a C build on 2 cores.

/// Applies the tuning; call before any thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn return_large_allocations() {
    /// `M_MMAP_THRESHOLD` in glibc's <malloc.h>.
    const M_MMAP_THRESHOLD: i32 = -3;
    unsafe extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
    }
    // SAFETY: mallopt only sets an allocator parameter (it takes the arena lock itself); the
    // signature is glibc's `int mallopt(int param, int value)`.
    unsafe {
        mallopt(M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// Other allocators (musl, macOS) return large blocks already.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn return_large_allocations() {}
