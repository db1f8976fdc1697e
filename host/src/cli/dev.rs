//! The UDF author's loop: `wafer plugin check FILE.wasm` (does it fit the
//! contract, and if not, why) and `wafer transform` (run real rows through a
//! view's transformations and print what would be stored, without opening
//! the store — so it works while a server owns it).

use crate::config::Config;
use crate::embed::EmbedService;
use crate::ingest::{Format, Pipeline, Reader, now_micros};
use crate::plugin::{Limits, PluginEngine};
use crate::registry::{Registry, View};
use anyhow::Context;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

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
    let config = Config::load(config)?;
    let embed = Arc::new(EmbedService::new(&config.llms, config.base_dir(), None));
    let engine = PluginEngine::new(embed, Limits::from(&config.plugins))?
        .with_cache_dir(config.plugin_cache_dir());
    let mut registry = Registry::new(config);
    if let Some(p) = run.plugin {
        registry = registry
            .with_plugin(&run.view, run.field.as_deref(), p)
            .map_err(anyhow::Error::msg)?;
    }
    let pipeline = Pipeline::new(&registry, &run.view, &engine, false)?;
    let mut reader = Reader::open(&run.input, run.format)?;
    let (mut left, mut failed) = (run.limit.unwrap_or(usize::MAX), 0);
    let mut out = std::io::stdout().lock();
    while left > 0 {
        let (records, bad) = reader.next_batch(pipeline.view().batch_size.min(left))?;
        if records.is_empty() && bad.is_empty() {
            break;
        }
        left -= records.len() + bad.len();
        let t = pipeline.run(records, now_micros(), None);
        let lines = bad
            .iter()
            .map(|(line, error)| serde_json::json!({"line": line, "kind": "input", "error": error}))
            .chain(t.rows.iter().map(|(key, row)| {
                let fields = crate::value::cells_to_json(&row.fields);
                serde_json::json!({"key": View::key_json(key), "fields": fields})
            }))
            .chain(t.failures.iter().map(|(f, _)| {
                let key = f.key.as_ref().map(View::key_json);
                serde_json::json!({"line": f.line, "key": key, "field": f.field, "kind": f.kind, "error": f.message})
            }));
        for line in lines {
            match writeln!(out, "{line}") {
                Ok(()) => {}
                // A closed pipe (`| head`) ends the dry run quietly.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    return Ok(ExitCode::SUCCESS);
                }
                Err(e) => return Err(anyhow::Error::new(e).context("write to stdout")),
            }
        }
        failed += bad.len() + t.failures.len();
    }
    Ok(if failed > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
