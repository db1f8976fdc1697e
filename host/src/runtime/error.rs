//! Why the runtime refused: opening, reloading and jobs ([`Error`]), and a
//! live write as a whole ([`WriteError`]; a row's own failure is its outcome).

use crate::config::ConfigError;
use crate::ingest::IngestError;
use crate::plugin::PluginError;
use crate::store::StoreError;
use std::sync::Arc;

/// Why the runtime could not open, reload or run a job.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error("view {0}: {1}")]
    View(String, Arc<IngestError>),
    #[error(transparent)]
    Stream(#[from] crate::stream::StreamError),
    #[error("wafer is shutting down")]
    Closed,
    #[error("{0} failed: {1}")]
    Task(&'static str, String),
}

/// Why a live write was refused as a whole (per-row failures are outcomes).
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error("no feature view named {0:?}")]
    UnknownView(String),
    #[error("{rows} rows in one write; the limit is {limit} (server.max_rows_per_write)")]
    TooManyRows { rows: usize, limit: usize },
    #[error(
        "view {view}: the write queue is full ({queued} of {capacity} rows waiting, server.write_queue_rows); retry shortly"
    )]
    QueueFull {
        view: String,
        queued: usize,
        capacity: usize,
    },
    #[error("view {0} cannot take writes: {1}")]
    Unavailable(String, Arc<IngestError>),
    #[error("view {0}: storing the rows failed: {1}")]
    Store(String, String),
    #[error("wafer is shutting down")]
    Closed,
}
