//! `cli`: the command-line edge. It parses arguments ([`args`]), opens the
//! [`Wafer`] runtime or finds the server that owns the store ([`target`]),
//! calls it and prints. Errors are `anyhow` here and typed everywhere below.

mod args;
mod clang;
mod dev;
mod offline;
mod progress;
mod quickstart;
mod remote;
mod scaffold;
mod show;
mod target;

pub use args::{
    BindingsLang, Cli, Command, DeadletterAction, Lang, Mode, ModelAction, PluginAction,
};
pub use show::describe_views;

use crate::config::Config;
use crate::ingest::{PublishRequest, Summary};
use crate::registry::Registry;
use crate::runtime::Wafer;
use anyhow::Context;
use clap::Parser;
use progress::Progress;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use target::Target;

pub fn main() -> ExitCode {
    // Exit 2 means "some rows failed" here, so a usage error (clap's 2) is 1.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // SAFETY: only this thread exists; the runtime starts below.
    unsafe { crate::embed::run_candle_on_calling_threads() };
    let runtime = tokio::runtime::Runtime::new().expect("start the async runtime");
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Quickstart { dir, listen, once } => quickstart::run(&dir, listen, once).await,
        Command::Model {
            action: ModelAction::Pull { name, dir, from },
        } => {
            let cache = dir.unwrap_or_else(crate::embed::local::files::cache_dir);
            let path = crate::embed::local::files::pull(&name, &cache, from.as_deref()).await?;
            println!("{}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Views => {
            let config = Config::load(&cli.config)?;
            print!("{}", describe_views(&Registry::new(config)));
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { listen } => serve(&cli.config, listen).await,
        Command::Export {
            spine,
            features,
            feature_service,
            out,
            format,
            full_feature_names,
            timestamp_column,
            batch_rows,
        } => {
            let req = crate::offline::ExportRequest {
                spine,
                spine_format: None,
                features,
                out,
                format,
                full_feature_names,
                timestamp_column,
                batch_rows,
            };
            offline::export(&cli.config, req, feature_service).await
        }
        Command::Materialize { view, as_of } => {
            offline::materialize(&cli.config, &view, &as_of).await
        }
        Command::Backup { dir } => {
            // Absolute: a server may run in another directory.
            let dir = std::path::absolute(&dir)?;
            Target::open(&cli.config).await?.backup(&dir).await?;
            println!("backed up into {}", dir.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Restore { backup } => {
            let store = Config::load(&cli.config)?.store_path();
            let (from, to) = (backup.clone(), store.clone());
            let bytes =
                tokio::task::spawn_blocking(move || crate::store::restore(&from, &to)).await??;
            println!(
                "restored {} ({bytes} bytes) into {}",
                backup.display(),
                store.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Reload => {
            let store = Config::load(&cli.config)?.store_path();
            let remote = remote::Remote::find(&store).await.with_context(|| {
                format!("no running server owns the store at {}", store.display())
            })?;
            println!("{}", serde_json::to_string_pretty(&remote.reload().await?)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Publish {
            view,
            input,
            mode,
            no_transform,
            format,
            partition,
        } => {
            let target = Target::open(&cli.config).await?;
            let progress = Progress::new(&format!("publish {view}"));
            let req = PublishRequest {
                view,
                input,
                format,
                partition,
                mode: mode.into(),
                no_transform,
            };
            let summary = target.publish(req, &progress).await;
            progress.finish();
            // Closed whatever the publish did: what it wrote is landed.
            let closed = target.close().await;
            let code = report(&summary?);
            closed?;
            Ok(code)
        }
        Command::Plugin {
            action: PluginAction::Check { file },
        } => dev::plugin_check(&file),
        Command::Plugin {
            action: PluginAction::New { name, lang, dir },
        } => {
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
            Ok(ExitCode::SUCCESS)
        }
        Command::Plugin {
            action: PluginAction::Bindings { dir, lang },
        } => {
            // The Rust SDK, componentize-py and componentize-qjs make their own.
            let BindingsLang::C = lang;
            clang::bindings(&dir)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Plugin {
            action: PluginAction::Componentize { core, out },
        } => {
            clang::componentize(&core, &out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Transform {
            view,
            input,
            plugin,
            field,
            limit,
            format,
            watch,
        } => {
            let run = dev::DryRun {
                view,
                input,
                format,
                plugin,
                field,
                limit,
            };
            // Plugins block on the runtime for `embed`: run them off it.
            let config = cli.config.clone();
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
        Command::Sources { json } => {
            let status = Target::open(&cli.config).await?.sources().await?;
            match json {
                true => println!("{}", serde_json::to_string_pretty(&status)?),
                false => print!("{}", show::sources(&status)),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Source {
            action: args::SourceAction::Reset { name, to },
        } => {
            let at =
                crate::config::StartAt::parse(&to).map_err(|e| anyhow::anyhow!("--to: {e}"))?;
            let target = Target::open(&cli.config).await?;
            let offsets = target.reset_source(&name, at).await;
            let closed = target.close().await;
            let offsets = offsets?;
            closed?;
            for (p, o) in offsets {
                println!("source {name} partition {p}: next offset {o}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Deadletter { action } => {
            let target = Target::open(&cli.config).await?;
            let code = deadletter_command(&target, action).await;
            let closed = target.close().await;
            let code = code?;
            closed?;
            Ok(code)
        }
        Command::Get { view, key } => {
            let target = Target::open(&cli.config).await?;
            println!("{}", target.get(&cli.config, &view, &key).await?);
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

async fn deadletter_command(target: &Target, action: DeadletterAction) -> anyhow::Result<ExitCode> {
    match action {
        DeadletterAction::List { view, json } => {
            let letters = target.dead_letters(&view).await?;
            for d in &letters {
                if json {
                    println!("{}", serde_json::to_string(d)?);
                } else {
                    let field = d
                        .field
                        .as_deref()
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

/// `wafer serve`: the runtime on a listener until Ctrl-C or SIGTERM, reloading on SIGHUP.
async fn serve(config: &Path, listen: Option<std::net::SocketAddr>) -> anyhow::Result<ExitCode> {
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
    wafer.serve(listener, shutdown_signal()).await?;
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

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install SIGTERM handler");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
