//! `cli`: the command-line edge. It parses arguments ([`args`]) and runs
//! each command ([`commands`]): opens the runtime or finds the server that
//! owns the store ([`target`]), calls it and prints. Errors are `anyhow`
//! here and typed everywhere below.

mod args;
mod clang;
mod commands;
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

use crate::ingest::PublishRequest;
use clap::Parser;
use std::process::ExitCode;

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
    let config = &cli.config;
    match cli.command {
        Command::Quickstart { dir, listen, once } => quickstart::run(&dir, listen, once).await,
        Command::Model {
            action: ModelAction::Pull { name, dir, from },
        } => commands::model_pull(&name, dir, from.as_deref()).await,
        Command::Views => commands::views(config),
        Command::Serve { listen } => commands::serve(config, listen).await,
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
            offline::export(config, req, feature_service).await
        }
        Command::Materialize { view, as_of } => offline::materialize(config, &view, &as_of).await,
        Command::Backup { dir } => commands::backup(config, &dir).await,
        Command::Restore { backup } => commands::restore(config, &backup).await,
        Command::Reload => commands::reload(config).await,
        Command::Publish {
            view,
            input,
            mode,
            no_transform,
            format,
            partition,
        } => {
            let req = PublishRequest {
                view,
                input,
                format,
                partition,
                mode: mode.into(),
                no_transform,
            };
            commands::publish(config, req).await
        }
        Command::Plugin { action } => commands::plugin(action),
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
            commands::transform(config, run, watch).await
        }
        Command::Sources { json } => commands::sources(config, json).await,
        Command::Source {
            action: args::SourceAction::Reset { name, to },
        } => commands::reset_source(config, &name, &to).await,
        Command::Deadletter { action } => commands::deadletter(config, action).await,
        Command::Get { view, key } => commands::get(config, &view, &key).await,
    }
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
