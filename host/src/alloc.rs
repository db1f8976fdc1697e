//! The allocator the `wafer` binary runs with, and its settings. The
//! library sets no allocator (`src/main.rs` does, and the benches, to
//! measure what ships); a program embedding the library picks its own.
//!
//! mimalloc rather than glibc's malloc: a lookup's answer and a push's rows
//! are hundreds of short-lived buffers, many past glibc's per-thread cache
//! (1 KiB), and glibc's malloc and free took 9 % of a 100 × 50 lookup's
//! instructions (callgrind). With mimalloc that lookup counts 6.3 % fewer
//! and a 1 × 3 lookup 19 % fewer, a publish from a file runs a fifth
//! faster, and peak memory is glibc's, given the settings in [`tune`]
//! (docs/benchmarks.md, serving).

pub use mimalloc::MiMalloc as Allocator;

/// `mi_option_purge_delay` in mimalloc's `mimalloc.h` (libmimalloc-sys
/// names no constant for it).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long freed memory stays with mimalloc before it goes back to the
/// OS: its own default, a second, doubled the live bench's peak resident
/// memory (105 to 201 MB); at 10 ms the peak is glibc's and the speed
/// stays. (mimalloc's transparent huge pages are off at build time:
/// Cargo.toml.)
const PURGE_DELAY_MS: std::ffi::c_long = 10;

/// mimalloc's settings for a long-running process on a small machine,
/// each unless the environment sets it (`MIMALLOC_PURGE_DELAY=ms`). Call
/// first thing in `main`, before any other thread starts.
pub fn tune() {
    // SAFETY: sets a default mimalloc reads when it next purges; no
    // other thread runs yet, as the doc asks.
    unsafe { libmimalloc_sys::mi_option_set_default(PURGE_DELAY, PURGE_DELAY_MS) }
}
