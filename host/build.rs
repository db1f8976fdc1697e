//! Builds the plugins workspace (`../plugins`) for `wasm32-wasip2` so the
//! built-in transformation plugins can be embedded in the binary, the way
//! wasmtime's test-programs and spin's test-components are built. The test
//! fixtures (`plugins/testing`) are built beside them; `WAFER_TEST_PLUGINS`
//! tells the tests where.

use std::path::{Path, PathBuf};
use std::process::Command;

const PLUGINS: &[&str] = &["llm_embedding", "passthrough", "bucketize"];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let plugins = manifest_dir.join("../plugins");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap());
    println!("cargo:rerun-if-changed=../wit");
    println!("cargo:rerun-if-changed=../plugins/Cargo.toml");
    println!("cargo:rerun-if-changed=../plugins/Cargo.lock");
    println!("cargo:rerun-if-changed=../plugins/.cargo/config.toml");
    for dir in ["sdk/rust", "builtin", "testing"] {
        println!("cargo:rerun-if-changed=../plugins/{dir}");
    }

    // A target dir of its own beside ours (target/<profile>/build/x/out -> target/):
    // shared by debug and release builds, and never locked by the outer cargo.
    let target_dir = out_dir
        .ancestors()
        .nth(4)
        .unwrap_or(&out_dir)
        .join("wasm-plugins");
    let status = cargo()
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(plugins.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        // plugins/.cargo/config.toml holds the Wasm target's flags.
        .current_dir(&plugins)
        .status()
        .expect("failed to run cargo for the plugins");
    assert!(
        status.success(),
        "building plugins/ for wasm32-wasip2 failed"
    );

    let built = target_dir.join("wasm32-wasip2/release");
    println!("cargo:rustc-env=WAFER_TEST_PLUGINS={}", built.display());
    for name in PLUGINS {
        copy(
            &built.join(format!("{name}.wasm")),
            &out_dir.join(format!("{name}.wasm")),
        );
    }
}

/// The outer build's flags and target are for the host, not for Wasm.
fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copy {} -> {}: {e}", from.display(), to.display()));
}
