//! One function per command that is more than a call: each opens what it
//! needs (the config, the runtime or the server that owns the store:
//! [`Target`]), calls the library and prints. `cli::run` only dispatches.

use super::args::{BindingsLang, DeadletterAction, Lang, PluginAction};
use super::progress::Progress;
use super::target::Target;
use super::{clang, dev, remote, scaffold, show};
use crate::config::Config;
use crate::ingest::{PublishRequest, Summary};
use crate::registry::Registry;
use crate::runtime::Wafer;
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// `wafer model pull`: the model's files into the cache; prints where.
pub(super) async fn model_pull(
    name: &str,
    dir: Option<PathBuf>,
    from: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let cache = dir.unwrap_or_else(crate::embed::local::files::cache_dir);
    let path = crate::embed::local::files::pull(name, &cache, from).await?;
    println!("{}", path.display());
    Ok(ExitCode::SUCCESS)
}

pub(super) fn views(config: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(config)?;
    print!("{}", show::describe_views(&Registry::new(config)));
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn backup(config: &Path, dir: &Path) -> anyhow::Result<ExitCode> {
    // Absolute: a server may run in another directory.
    let dir = std::path::absolute(dir)?;
    Target::open(config).await?.backup(&dir).await?;
    println!("backed up into {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn restore(config: &Path, backup: &Path) -> anyhow::Result<ExitCode> {
    let store = Config::load(config)?.store_path();
    let (from, to) = (backup.to_path_buf(), store.clone());
    let bytes = tokio::task::spawn_blocking(move || crate::store::restore(&from, &to)).await??;
    println!(
        "restored {} ({bytes} bytes) into {}",
        backup.display(),
        store.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `wafer reload`: asks the server that owns the store to reload.
pub(super) async fn reload(config: &Path) -> anyhow::Result<ExitCode> {
    let store = Config::load(config)?.store_path();
    let remote = remote::Remote::find(&store)
        .await?
        .with_context(|| format!("no running server owns the store at {}", store.display()))?;
    println!("{}", serde_json::to_string_pretty(&remote.reload().await?)?);
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn publish(config: &Path, req: PublishRequest) -> anyhow::Result<ExitCode> {
    let target = Target::open(config).await?;
    let progress = Progress::new(&format!("publish {}", req.view));
    let summary = target.publish(req, &progress).await;
    progress.finish();
    // The summary is printed even when closing fails after it.
    let code = summary.map(|s| report(&s));
    closing(target, code).await
}

pub(super) fn plugin(action: PluginAction) -> anyhow::Result<ExitCode> {
    match action {
        PluginAction::Check { file } => return dev::plugin_check(&file),
        PluginAction::New { name, lang, dir } => {
            let root = match lang {
                Lang::Rust => scaffold::new_rust(&dir, &name)?,
                Lang::Python => scaffold::new_python(&dir, &name)?,
                Lang::Js => scaffold::new_js(&dir, &name)?,
                Lang::C => scaffold::new_c(&dir, &name)?,
            };
            println!(
                "created {} — see its README.md to build and try it",
                root.display()
            );
        }
        PluginAction::Bindings { dir, lang } => {
            // The Rust SDK, componentize-py and componentize-qjs make their own.
            let BindingsLang::C = lang;
            clang::bindings(&dir)?;
        }
        PluginAction::Componentize { core, out } => clang::componentize(&core, &out)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `wafer transform`: a dry run, once or again on every change (`--watch`).
pub(super) async fn transform(
    config: &Path,
    run: dev::DryRun,
    watch: bool,
) -> anyhow::Result<ExitCode> {
    // Plugins block on the runtime for `embed`: run them off it.
    let config = config.to_path_buf();
    if !watch {
        return tokio::task::spawn_blocking(move || dev::transform(&config, run)).await?;
    }
    let hup = Arc::new(AtomicBool::new(false));
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut signals = signal(SignalKind::hangup())?;
        let flag = hup.clone();
        tokio::spawn(async move {
            while signals.recv().await.is_some() {
                flag.store(true, Ordering::Relaxed);
            }
        });
    }
    tokio::task::spawn_blocking(move || dev::watch(&config, run, &hup)).await?
}

/// `wafer get`: one key's features, as the view stores them.
pub(super) async fn get(config: &Path, view: &str, key: &str) -> anyhow::Result<ExitCode> {
    let target = Target::open(config).await?;
    println!("{}", target.get(config, view, key).await?);
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn sources(config: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let status = Target::open(config).await?.sources().await?;
    match json {
        true => println!("{}", serde_json::to_string_pretty(&status)?),
        false => print!("{}", show::sources(&status)),
    }
    Ok(ExitCode::SUCCESS)
}

/// `wafer source reset`: a stream source's next offsets.
pub(super) async fn reset_source(config: &Path, name: &str, to: &str) -> anyhow::Result<ExitCode> {
    let at = crate::config::StartAt::parse(to).map_err(|e| anyhow::anyhow!("--to: {e}"))?;
    let target = Target::open(config).await?;
    let offsets = target.reset_source(name, at).await;
    for (p, o) in closing(target, offsets).await? {
        println!("source {name} partition {p}: next offset {o}");
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn deadletter(
    config: &Path,
    action: DeadletterAction,
) -> anyhow::Result<ExitCode> {
    let target = Target::open(config).await?;
    let code = deadletter_on(&target, action).await;
    closing(target, code).await
}

/// `result`, once `target` is closed whatever it was: what the command
/// wrote is landed either way. The command's own error comes first.
async fn closing<T>(target: Target, result: anyhow::Result<T>) -> anyhow::Result<T> {
    let closed = target.close().await;
    let value = result?;
    closed?;
    Ok(value)
}

async fn deadletter_on(target: &Target, action: DeadletterAction) -> anyhow::Result<ExitCode> {
    match action {
        DeadletterAction::List { view, json } => {
            let letters = target.dead_letters(&view).await?;
            for d in &letters {
                if json {
                    println!("{}", serde_json::to_string(d)?);
                } else {
                    let field = (d.field.as_deref())
                        .map(|f| format!(" field {f}"))
                        .unwrap_or_default();
                    println!(
                        "key {}{field}: {} after {} attempt(s), last {}: {}",
                        d.key,
                        serde_json::to_value(d.kind)?.as_str().unwrap_or("?"),
                        d.attempts,
                        d.last_failed,
                        d.message
                    );
                }
            }
            if !json {
                eprintln!("{} dead letter(s) in view {view}", letters.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        DeadletterAction::Retry { view } => {
            let progress = Progress::new(&format!("retry {view}"));
            let summary = target.retry(&view, &progress).await;
            progress.finish();
            Ok(report(&summary?))
        }
        DeadletterAction::Purge { view } => {
            let n = target.purge(&view).await?;
            println!("dropped {n} dead letter(s) from view {view}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Print a publish summary; partial success is not success for a script:
/// exit 2 when rows failed.
fn report(summary: &Summary) -> ExitCode {
    println!("{summary}");
    if summary.failed() > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

/// `wafer serve`: the runtime on a listener until Ctrl-C or SIGTERM, reloading on SIGHUP.
pub(super) async fn serve(
    config: &Path,
    listen: Option<std::net::SocketAddr>,
) -> anyhow::Result<ExitCode> {
    let wafer = Wafer::open(config)?;
    let addr = listen.unwrap_or(wafer.registry().config.server.listen);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let registry = wafer.registry();
    let scheme = if registry.config.server.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let (views, at) = (registry.views().len(), listener.local_addr()?);
    tracing::info!("serving {views} views on {scheme}://{at}");
    reload_on_hangup(&wafer)?;
    wafer.serve(listener, super::shutdown_signal()).await?;
    tracing::info!("stopped: every accepted write is stored");
    Ok(ExitCode::SUCCESS)
}

/// SIGHUP reloads the config and plugins, as `POST /admin/reload` does.
fn reload_on_hangup(wafer: &Wafer) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = signal(SignalKind::hangup())?;
        let wafer = wafer.clone();
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                if let Err(e) = wafer.reload().await {
                    tracing::error!("reload on SIGHUP failed, the running version stays: {e}");
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = wafer;
    Ok(())
}
