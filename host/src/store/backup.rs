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

/// Copy the backup in `backup` to `store`, which must not exist or be an
/// empty directory (a mounted volume, say): a restore never overwrites a
/// store. Every file is synced, and `CURRENT`, which makes the folder the
/// backup's store, is written last: a restore cut short leaves none (delete
/// the folder and restore again). The bytes copied. Blocking.
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
    copy_files(backup, store).map_err(|e| fail(e.to_string()))
}

fn copy_files(from: &Path, to: &Path) -> std::io::Result<u64> {
    std::fs::create_dir_all(to)?;
    let mut names = Vec::new();
    // A checkpoint is one flat directory of files.
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_file() && entry.file_name() != "CURRENT" {
            names.push(entry.file_name());
        }
    }
    names.push("CURRENT".into());
    let mut bytes = 0;
    for name in names {
        bytes += std::fs::copy(from.join(&name), to.join(&name))?;
        std::fs::File::open(to.join(&name))?.sync_all()?;
    }
    // The directory's entries too.
    std::fs::File::open(to)?.sync_all()?;
    Ok(bytes)
}
