//! Compiled plugins on disk. Compiling a component takes from milliseconds
//! (small Rust UDFs) to seconds (Python and JavaScript components, which
//! carry an interpreter); loading it precompiled takes milliseconds. The key
//! is the SHA-256 of the component's bytes and a hash of everything in the
//! engine's configuration that affects code generation, so a new wafer
//! build, a changed limit or another CPU never loads stale code.
//!
//! Trust: precompiled code is loaded without validation, so the directory
//! must be as trusted as the wafer binary — wafer writes it itself, with the
//! user's permissions, and anything it cannot load is compiled afresh.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// How a component was obtained, for logs and `wafer plugin check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loaded {
    /// Compiled now (no cache, or not cached yet).
    Compiled,
    /// Loaded precompiled from the cache.
    Cached,
}

pub(super) fn path_for(dir: &Path, engine: &Engine, bytes: &[u8]) -> PathBuf {
    // std's DefaultHasher::new() has fixed keys: stable within one wafer build,
    // which is all the engine hash needs to be.
    let mut h = std::hash::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    let digest = Sha256::digest(bytes);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    dir.join(format!("{hex}-{:016x}.cwasm", h.finish()))
}

/// The component for `bytes`: from `dir` when it was compiled before by an
/// engine like this one, else compiled and (best effort) written there.
pub(super) fn load(
    engine: &Engine,
    dir: Option<&Path>,
    bytes: &[u8],
) -> wasmtime::Result<(Component, Loaded)> {
    let Some(dir) = dir else {
        return Ok((Component::new(engine, bytes)?, Loaded::Compiled));
    };
    let path = path_for(dir, engine, bytes);
    if path.exists() {
        // SAFETY: the file is wafer's own output for exactly these bytes and
        // this engine configuration (see the module docs on trust).
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(c) => return Ok((c, Loaded::Cached)),
            Err(e) => tracing::debug!("recompiling {}: {e:#}", path.display()),
        }
    }
    let compiled = engine.precompile_component(bytes)?;
    if let Err(e) = write_atomically(&path, &compiled) {
        tracing::warn!("cannot cache compiled plugin at {}: {e}", path.display());
    }
    // SAFETY: produced by this engine a moment ago.
    let component = unsafe { Component::deserialize(engine, &compiled)? };
    Ok((component, Loaded::Compiled))
}

/// Write to a temporary name, sync, then rename: neither a reader nor a
/// power cut ever leaves half a file under the final name.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().expect("cache paths have a directory");
    // The folder itself, not its parents (made with the engine): a
    // config's folder removed while a plugin compiled (a test's temporary
    // one) is not made again, which left a copy of the compiled plugins
    // behind for every such test.
    match std::fs::create_dir(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    let tmp = dir.join(format!(".{:016x}.tmp", fastrand::u64(..)));
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
