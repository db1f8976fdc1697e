//! `wafer export` and `wafer materialize`: the offline side's commands.

use super::progress::Progress;
use super::target::Target;
use crate::config::Config;
use crate::offline::{ExportRequest, ExportStage, ExportSummary};
use crate::registry::Registry;
use crate::store::Store;
use crate::time::Micros;
use crate::value::Value;
use anyhow::Context;
use std::path::Path;
use std::process::ExitCode;

/// Export a training set. The store is opened as a reader beside whatever
/// owns it, so a running server keeps serving.
pub(super) async fn export(
    config: &Path,
    mut req: ExportRequest,
    service: Option<String>,
) -> anyhow::Result<ExitCode> {
    let registry = Registry::new(Config::load(config)?);
    if let Some(name) = service {
        req.features = (registry.feature_service(&name).map(<[String]>::to_vec))
            .with_context(|| format!("no [[feature_service]] named {name:?}"))?;
    }
    let progress = Progress::new("export");
    let on_batch = progress.on_rows(|s: &ExportSummary| match s.stage {
        ExportStage::Sorting => (0, format!("| sorting the spine: {} rows read", s.rows)),
        ExportStage::Joining => (0, "| reading the views' logs".into()),
        ExportStage::Writing => (
            s.rows,
            format!("| {} values found, {} missing", s.found, s.missing),
        ),
    });
    let path = registry.config.store_path();
    let summary = tokio::task::spawn_blocking(move || -> anyhow::Result<ExportSummary> {
        let scratch = tempfile::tempdir()?;
        let store = Store::open_reader(&path, scratch.path())?;
        Ok(crate::offline::export(&store, &registry, &req, on_batch)?)
    })
    .await??;
    progress.finish();
    println!("{}", serde_json::to_string(&summary)?);
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn materialize(
    config: &Path,
    view: &str,
    as_of: &str,
) -> anyhow::Result<ExitCode> {
    // As text: `20250509` is a date, not epoch seconds (those still parse).
    let at =
        Micros::parse(&Value::String(as_of.into())).map_err(|m| anyhow::anyhow!("--as-of: {m}"))?;
    let target = Target::open(config).await?;
    let done = target.materialize(view, at).await;
    let closed = target.close().await;
    let done = done?;
    println!(
        "materialized {} as of {}: {} keys restored, {} deleted",
        done.view, done.as_of, done.restored, done.deleted
    );
    closed?;
    Ok(ExitCode::SUCCESS)
}
