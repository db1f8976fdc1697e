//! `ingest`: publishing rows into a feature view. Reads input in batches,
//! runs each batch through the view's transformation plugins (one call per
//! plugin per batch), checks every value against the view's schema, and
//! writes the good rows in one store write per batch. A bad row is reported
//! with its line and reason, never fails its neighbours, and (when its key is
//! readable) is kept as a dead letter in the same atomic write.

mod arrow_values;
pub mod deadletter;
mod identity;
mod input;
mod parquet;
mod pipeline;
mod publish;
mod summary;
mod write;

pub use arrow_values::{column_values, timestamps};
pub use deadletter::DeadLetter;
pub use input::{Format, InputError, Reader, Record};
pub use parquet::{ArrowRows, ParquetBody};
pub use pipeline::{Pipeline, Transformed};
pub use publish::publish;
pub use summary::{Progress, Summary};
pub use write::{WriteSpec, Written, write_records};

use crate::plugin::{PluginError, RowErrorKind};
use crate::store::{EntityKey, StoreError, WriteMode};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("no feature view named {0:?}")]
    UnknownView(String),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("view {view}: cannot read plugin {path}: {source}")]
    PluginFile {
        view: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("view {view}: field {field}: {message}")]
    NotReady {
        view: String,
        field: String,
        message: String,
    },
    /// Why a long-lived pipeline could not be built, shared by its users.
    #[error(transparent)]
    Pipeline(std::sync::Arc<IngestError>),
}

/// What to publish and how. Serializable: the CLI hands it to a running
/// server, which reads the file itself.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PublishRequest {
    pub view: String,
    pub input: PathBuf,
    pub format: Option<Format>,
    /// Of a partitioned Parquet folder, the partition to publish
    /// (`ds=20250509`); without it, the latest.
    #[serde(default)]
    pub partition: Option<String>,
    pub mode: WriteMode,
    /// Skip transformations: transformed fields are read, already computed,
    /// from the column `<field>_embedding`, or else `<field>`.
    pub no_transform: bool,
}

/// A row that was not stored, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Failure {
    pub line: usize,
    pub key: Option<EntityKey>,
    /// The field whose value failed, when the failure was about one field.
    pub field: Option<String>,
    pub kind: FailureKind,
    pub message: String,
}

/// What kind of failure a row met; stored with its dead letter.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The row's key, event time or a plain field could not be read or typed.
    Input,
    /// A transformed value does not fit its field's type or dimensions.
    Schema,
    /// The plugin rejected the row's input (e.g. empty text, an input the API refused).
    InvalidInput,
    /// The embedding call failed for the row (after retries).
    EmbedFailed,
    /// The plugin reported another per-row error, or an answer the host rejected.
    Transform,
    /// The plugin failed the whole batch (trap, timeout, batch error).
    Plugin,
}

impl From<RowErrorKind> for FailureKind {
    fn from(k: RowErrorKind) -> Self {
        match k {
            RowErrorKind::InvalidInput => FailureKind::InvalidInput,
            RowErrorKind::EmbedFailed => FailureKind::EmbedFailed,
            RowErrorKind::Other | RowErrorKind::BadOutput => FailureKind::Transform,
        }
    }
}

/// What became of one row of a write.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum RowOutcome {
    /// Stored (durable: in the write-ahead log).
    Written,
    /// Skipped: the store holds a newer event for the key.
    Stale,
    /// Not stored, with why; kept as a dead letter when its key was readable.
    Failed {
        kind: FailureKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        field: Option<String>,
        error: String,
    },
}

impl From<&Failure> for RowOutcome {
    fn from(f: &Failure) -> Self {
        RowOutcome::Failed {
            kind: f.kind,
            field: f.field.clone(),
            error: f.message.clone(),
        }
    }
}
