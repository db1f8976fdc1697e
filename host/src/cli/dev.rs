//! The UDF author's loop: `wafer plugin check FILE.wasm` (does it fit the
//! contract, and if not, why) and `wafer transform` (run real rows through a
//! view's transformations and print what would be stored, without opening
//! the store — so it works while a server owns it), once or, with `--watch`,
//! again on every change, reloading the config and plugins.

use crate::config::Config;
use crate::embed::EmbedService;
use crate::ingest::{Format, Pipeline, Reader};
use crate::plugin::{Limits, PluginEngine};
use crate::registry::{PluginSource, Registry};
use crate::time::Micros;
use anyhow::Context;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub fn plugin_check(file: &Path) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let engine = PluginEngine::new(Arc::new(EmbedService::default()), Limits::default())?;
    let report = engine.check(&bytes).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a Wasm component wafer can compile: {e}",
            file.display()
        )
    })?;
    println!("{}: {report}", file.display());
    Ok(if report.fits.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// What `wafer transform` runs.
pub struct DryRun {
    pub view: String,
    pub input: PathBuf,
    pub format: Option<Format>,
    /// Run this plugin file instead of the field's configured one.
    pub plugin: Option<PathBuf>,
    pub field: Option<String>,
    /// Stop after this many input rows.
    pub limit: Option<usize>,
}

/// Print one JSON line per row: `{line?, key, fields}` or `{line, key, field, kind, error}`.
/// Exit 2 when any row failed.
pub fn transform(config: &Path, run: DryRun) -> anyhow::Result<ExitCode> {
    let pipeline = load(config, &run)?;
    Ok(match print(&pipeline, &run)? {
        Some(0) | None => ExitCode::SUCCESS,
        Some(_) => ExitCode::from(2),
    })
}

/// `transform --watch`: the dry run again whenever the config, the input or
/// one of the view's plugin files changes, or on SIGHUP (`hup`). A new
/// version that fails to load is reported on stderr and the previous one
/// stays in use; a change to the input alone reruns it; a run that fails
/// (say, an unreadable input) is reported and the watch goes on. Runs until
/// killed or until stdout closes. Granted folders are not watched.
///
/// It polls modification times: a handful of files, on any filesystem
/// (editors that replace files, network mounts), with no watcher crate.
pub fn watch(config: &Path, run: DryRun, hup: &AtomicBool) -> anyhow::Result<ExitCode> {
    // Stamped before loading, so that an edit made while a version loads
    // (a Python plugin compiles for seconds) is seen afterwards.
    let mut files = watch_list(config, &run);
    let mut seen = stamps(&files);
    let mut pipeline = load(config, &run)?;
    eprintln!("wafer: run 1; watching {}", list(&files));
    for n in 1.. {
        if n > 1 {
            eprintln!("wafer: run {n}");
        }
        match print(&pipeline, &run) {
            Ok(None) => return Ok(ExitCode::SUCCESS),
            Ok(Some(_)) => {}
            Err(e) => eprintln!("wafer: run {n} failed: {e:#}"),
        }
        // Until a new version loads, or the input changes under the one in use.
        loop {
            let input_changed = wait_for_change(&files, &mut seen, hup);
            // The config may name other plugin files, loadable or not yet.
            let now = watch_list(config, &run);
            if now != files {
                files = now;
                seen = stamps(&files);
            }
            match load(config, &run) {
                Ok(p) => {
                    pipeline = p;
                    break;
                }
                Err(e) => {
                    eprintln!("wafer: reload failed, the previous version stays: {e:#}");
                    if input_changed {
                        break;
                    }
                }
            }
        }
    }
    unreachable!("runs are counted without end")
}

/// Blocks until a file in `files` changes from `seen` (which it updates) or
/// `hup` is raised; whether the input (`files[1]`) changed.
fn wait_for_change(
    files: &[PathBuf],
    seen: &mut Vec<Option<(std::time::SystemTime, u64)>>,
    hup: &AtomicBool,
) -> bool {
    loop {
        std::thread::sleep(std::time::Duration::from_millis(250));
        let now = stamps(files);
        if now != *seen || hup.swap(false, Ordering::Relaxed) {
            let input_changed = now[1] != seen[1];
            *seen = now;
            return input_changed;
        }
    }
}

/// Modification time and length of each file (`None` while it is missing).
fn stamps(files: &[PathBuf]) -> Vec<Option<(std::time::SystemTime, u64)>> {
    files
        .iter()
        .map(|f| {
            let m = std::fs::metadata(f).ok()?;
            Some((m.modified().ok()?, m.len()))
        })
        .collect()
}

fn list(files: &[PathBuf]) -> String {
    let names: Vec<_> = files.iter().map(|f| f.display().to_string()).collect();
    names.join(", ")
}

/// The config, the input and, when the config parses, the plugin files the
/// view's transformations name (whether or not they load).
fn watch_list(config: &Path, run: &DryRun) -> Vec<PathBuf> {
    let mut files = vec![config.to_path_buf(), run.input.clone()];
    if let Ok(registry) = registry(config, run) {
        let view = registry.view(&run.view).into_iter();
        let transforms = view.flat_map(|v| v.fields.iter().filter_map(|f| f.transform.as_ref()));
        files.extend(transforms.filter_map(|t| match &t.plugin {
            PluginSource::File(p) => Some(p.clone()),
            PluginSource::Builtin(_) => None,
        }));
    }
    files
}

fn registry(config: &Path, run: &DryRun) -> anyhow::Result<Registry> {
    let registry = Registry::new(Config::load(config)?);
    match &run.plugin {
        Some(p) => (registry.with_plugin(&run.view, run.field.as_deref(), p.clone()))
            .map_err(anyhow::Error::msg),
        None => Ok(registry),
    }
}

/// The view's transformations, loaded.
fn load(config: &Path, run: &DryRun) -> anyhow::Result<Arc<Pipeline>> {
    Ok(crate::runtime::detached_pipeline(
        registry(config, run)?,
        &run.view,
    )?)
}

/// The dry run's lines on stdout; how many rows failed, or `None` when
/// stdout was closed (`| head`), which ends a dry run quietly.
fn print(pipeline: &Pipeline, run: &DryRun) -> anyhow::Result<Option<usize>> {
    let mut reader = Reader::open(&run.input, run.format)?;
    let (mut left, mut failed) = (run.limit.unwrap_or(usize::MAX), 0);
    let mut out = std::io::stdout().lock();
    while left > 0 {
        let (records, bad) = reader.next_batch(pipeline.view().batch_size.min(left))?;
        if records.is_empty() && bad.is_empty() {
            break;
        }
        left -= records.len() + bad.len();
        let t = pipeline.run(records, Micros::now(), None);
        let view = pipeline.view();
        let lines = bad
            .iter()
            .map(|(line, error)| serde_json::json!({"line": line, "kind": "input", "error": error}))
            .chain(t.rows.iter().map(|(key, row)| {
                let fields = crate::value::cells_to_json(&row.fields);
                serde_json::json!({"key": view.key_json(key), "fields": fields})
            }))
            .chain(t.failures.iter().map(|(f, _)| {
                let key = f.key.as_ref().map(|k| view.key_json(k));
                serde_json::json!({"line": f.line, "key": key, "field": f.field, "kind": f.kind, "error": f.message})
            }));
        for line in lines {
            match writeln!(out, "{line}") {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(None),
                Err(e) => return Err(anyhow::Error::new(e).context("write to stdout")),
            }
        }
        failed += bad.len() + t.failures.len();
    }
    out.flush().context("write to stdout")?;
    Ok(Some(failed))
}
