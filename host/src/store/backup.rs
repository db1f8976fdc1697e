//! Backups: an online RocksDB checkpoint of the whole store (every view,
//! the embedding cache, the dead letters), and putting one back in place.

use super::{Store, StoreError};
use std::path::Path;

impl Store {
    /// An online backup: a consistent copy of the whole store in `dir`
    /// (which must not exist), taken while reads and writes go on. Files
    /// are hard links where `dir` is on the same filesystem.
    pub fn checkpoint(&self, dir: &Path) -> Result<(), StoreError> {
        let fail = |source| StoreError::Backup {
            dir: dir.to_path_buf(),
            source,
        };
        let checkpoint = rocksdb::checkpoint::Checkpoint::new(&self.db).map_err(fail)?;
        checkpoint.create_checkpoint(dir).map_err(fail)
    }
}

/// Copy the backup in `backup` to `store`, which must not exist (or be an
/// empty directory): a restore never overwrites a store. The copy goes to
/// a staging directory first, renamed into place when whole. The bytes copied.
pub fn restore(backup: &Path, store: &Path) -> Result<u64, StoreError> {
    let fail = |message: String| StoreError::Restore {
        backup: backup.to_path_buf(),
        store: store.to_path_buf(),
        message,
    };
    if !backup.join("CURRENT").is_file() {
        return Err(fail("it is not a store backup (no CURRENT file)".into()));
    }
    if std::fs::read_dir(store).is_ok_and(|mut d| d.next().is_some()) {
        return Err(fail(
            "the store's directory is not empty: move it away first".into(),
        ));
    }
    let name = store.file_name().unwrap_or_default().to_string_lossy();
    let staging = store.with_file_name(format!(".{name}.restoring"));
    let copy = || -> std::io::Result<u64> {
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging)?;
        let mut bytes = 0;
        // A checkpoint is one flat directory of files.
        for entry in std::fs::read_dir(backup)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                bytes += std::fs::copy(entry.path(), staging.join(entry.file_name()))?;
            }
        }
        let _ = std::fs::remove_dir(store);
        std::fs::rename(&staging, store)?;
        Ok(bytes)
    };
    copy().map_err(|e| fail(e.to_string()))
}
