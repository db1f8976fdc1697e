//! The allocator the `wafer` binary runs with, and its settings. The
//! library sets no allocator (`src/main.rs` does, and the store's benches,
//! to measure what ships); a program embedding the library picks its own.
//!
//! mimalloc rather than glibc's malloc: a lookup's answer and a push's rows
//! are hundreds of short-lived buffers, many past glibc's per-thread cache
//! (1 KiB), and glibc's malloc and free took 9 % of a 100 × 50 lookup's
//! instructions (callgrind). With mimalloc that lookup counts 6.3 % fewer
//! and a 1 × 3 lookup 19 % fewer, a publish from a file runs a fifth to a
//! quarter faster, and peak memory stays within 2 MB of glibc's, given
//! the settings in [`tune`] (docs/benchmarks.md, serving).

pub use mimalloc::MiMalloc as Allocator;

/// `mi_option_purge_delay`: its place in mimalloc's `mi_option_e`
/// (`mimalloc.h`; libmimalloc-sys names no constant for it). The test
/// below holds it to the option's built-in default.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long freed memory stays with mimalloc, at least, before it goes
/// back to the OS (mimalloc purges as it allocates and collects, not on a
/// timer). Its own default (`options.c`), a second, doubled the live
/// bench's peak resident memory (201 MB against glibc's 105, in the same
/// hour); at 10 ms the peak is glibc's and the speed stays. (mimalloc asks
/// for no transparent huge pages either: Cargo.toml's `no_thp`.)
const PURGE_DELAY_MS: std::ffi::c_long = 10;

/// mimalloc's settings for a long-running process on a small machine,
/// each unless the environment sets it (`MIMALLOC_PURGE_DELAY=ms`). Call
/// first thing in `main`, so that all the process's memory follows them.
pub fn tune() {
    // SAFETY: no precondition: mimalloc's public API for its options,
    // callable at any time (mimalloc reads the value when it next purges).
    unsafe { libmimalloc_sys::mi_option_set_default(PURGE_DELAY, PURGE_DELAY_MS) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The option at [`PURGE_DELAY`] is the purge delay: it holds that
    /// option's built-in default (1,000 ms in mimalloc v3, 10 in v2) until
    /// [`tune`] sets it. (The library's tests run on the system allocator:
    /// this only reads and sets mimalloc's option table.)
    #[test]
    fn tune_sets_the_purge_delay() {
        let get = || unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert!([1000, 10].contains(&get()), "option 15 is {}", get());
            tune();
            assert_eq!(get(), PURGE_DELAY_MS);
        }
    }
}
