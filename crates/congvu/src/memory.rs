//! The server's allocator, and its tuning.
//!
//! mimalloc serves Rust's allocations: a mail server allocates and frees small buffers for
//! every command of every session on every worker thread, and glibc's malloc spent about 10%
//! of the CPU of the mixed IMAP load (bench/imap/run-mixed.sh) in malloc, free and the
//! consolidation of its arenas. With mimalloc the same load ran 5,628 -> 6,692 operations per
//! second, congvu alone on 2 cores, 60 s each (2026-11-24).
//!
//! Memory freed must go back to the system at once (`purge_delay` 0): every login verifies an
//! Argon2id hash, which allocates 19 MiB and frees it on whichever blocking thread ran it. With
//! mimalloc's default delay a thread purges what it freed only when it allocates again, so a
//! blocking thread that then idles keeps its 19 MiB: 2,000 TLS IDLE logins measured 302 KB per
//! connection (bench/imap/run-idle.sh), and 15.6 KB with the immediate purge (glibc: 15.3).
//!
//! C libraries (SQLite) still allocate from glibc, whose mmap threshold is fixed at 1 MiB for
//! the same reason: its dynamic threshold rises above 19 MiB after the first large free, after
//! which large blocks come from per-thread arenas that keep the freed memory.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Applies the tuning; call before any thread starts.
pub fn return_large_allocations() {
    /// `mi_option_purge_delay` in mimalloc v3's <mimalloc.h> (the version libmimalloc-sys
    /// builds by default): milliseconds before freed memory is purged; 0 purges at once.
    const MI_OPTION_PURGE_DELAY: i32 = 15;
    unsafe extern "C" {
        fn mi_option_set(option: i32, value: std::ffi::c_long);
    }
    // SAFETY: mi_option_set only stores an option value; the signature is mimalloc's
    // `void mi_option_set(mi_option_t option, long value)`, and the enum is a C int.
    unsafe {
        mi_option_set(MI_OPTION_PURGE_DELAY, 0);
    }
    glibc_mmap_threshold();
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn glibc_mmap_threshold() {
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

/// Other C allocators (musl, macOS) return large blocks already.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn glibc_mmap_threshold() {}
