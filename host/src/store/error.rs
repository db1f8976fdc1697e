//! The store's errors: each names the view, key, path or operation it
//! concerns.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot open the online store at {path} (one wafer process owns it at a time): {source}"
    )]
    Open {
        path: PathBuf,
        source: rocksdb::Error,
    },
    #[error(
        "cannot read the store at {path} (is it the config's store, written by wafer?): {source}"
    )]
    OpenReader {
        path: PathBuf,
        source: rocksdb::Error,
    },
    #[error("cannot back the store up into {dir} (a directory that does not exist yet): {source}")]
    Backup {
        dir: PathBuf,
        source: rocksdb::Error,
    },
    #[error("cannot restore {backup} into {store}: {message}")]
    Restore {
        backup: PathBuf,
        store: PathBuf,
        message: String,
    },
    #[error(
        "view {view:?}: the offline log is off ([store] offline_log = false), so there is nothing to rebuild from"
    )]
    LogOff { view: String },
    #[error("feature view {view:?} has no column family in the store")]
    UnknownView { view: String },
    #[error("store {op} on view {view:?} failed: {source}")]
    Rocks {
        view: String,
        op: &'static str,
        source: rocksdb::Error,
    },
    /// A read that may not wait on a file ([`super::Reach::Memory`])
    /// needed one: the caller reads again where it may wait.
    #[error("view {view:?}: the rows are not all in memory")]
    NotInMemory { view: String },
    #[error("corrupt value in view {view:?} at key {key}: {message}")]
    Corrupt {
        view: String,
        key: String,
        message: String,
    },
}
