//! What a transformed value's digest hashes besides its inputs: the
//! plugin's bytes, its options and grants (with the granted files' sizes and
//! times), the fields it fills, and for an embedding everything about the
//! `[[llm]]` that changes the vector.

use crate::config::LlmConfig;
use crate::plugin::Contract;
use crate::registry::{Field, Registry};
use sha2::{Digest, Sha256};

/// What a transformed value depends on besides its inputs: the plugin's
/// bytes, its options, its sandbox grants and, for an embedding, everything about the `[[llm]]`
/// that changes the vector (for a local model, the hash of its weights and
/// tokenizer). A change to any of them recomputes every row.
pub(super) fn identity(
    registry: &Registry,
    field: &Field,
    plugin: &[u8],
    model: Option<[u8; 32]>,
    contract: Contract,
) -> Sha256 {
    let t = field.transform.as_ref().expect("transformed fields");
    let mut h = Sha256::new();
    h.update(Sha256::digest(plugin));
    h.update(format!("{:?}\0{:?}\0", field.ty, field.dimensions).as_bytes());
    // A 0.2 plugin sees the options typed (`"1"` and `1` differ to it); a
    // 0.1 plugin sees only their text, so its fields keep the digests they had.
    if contract == Contract::V0_2 {
        h.update(format!("typed\0{:?}\0", t.config.options).as_bytes());
    }
    // Declared input types change what the plugin sees; only when declared.
    if t.input_types.iter().any(Option::is_some) {
        h.update(format!("input_types\0{:?}\0", t.input_types).as_bytes());
    }
    // Only when there are any: fields without keep the digests they had.
    if !t.fills.is_empty() {
        h.update(format!("fills\0{:?}\0", t.fills).as_bytes());
    }
    for (k, v) in &t.config.legacy {
        h.update(format!("{k}={v}\0").as_bytes());
    }
    // What the sandbox grants can change the output: the grants, and each
    // granted file's path in its folder, size and times (an edited lookup
    // table recomputes; reading contents would cost every publish). Only
    // when there are grants: fields without keep the digests they had.
    for (k, v) in &t.grants.env {
        h.update(format!("env\0{k}\0{v}\0").as_bytes());
    }
    for (dir, guest) in &t.grants.dirs {
        h.update(format!("dir\0{guest}\0").as_bytes());
        hash_tree(&mut h, dir, dir);
    }
    if let Some(llm) = t.llm.as_ref().and_then(|l| registry.llm(l)) {
        hash_llm(&mut h, registry, llm, model);
    }
    h
}

/// Everything about an embedding's `[[llm]]` that changes its vectors:
/// the endpoint and model, how long inputs are cut, the tokenizer's
/// contents and, for a local model, the hash of its weights.
fn hash_llm(h: &mut Sha256, registry: &Registry, llm: &LlmConfig, model: Option<[u8; 32]>) {
    // Values, not `Spanned`s: editing elsewhere in the file must not look like a change.
    let llm_identity = format!(
        "{}\0{}\0{:?}\0{}\0{:?}\0{:?}\0{}\0",
        llm.base_url.as_ref().map_or("", |u| u.get_ref()),
        llm.model,
        llm.dimensions.as_ref().map(|d| *d.get_ref()),
        llm.max_input_tokens()
            .map_or(String::new(), |m| m.to_string()),
        llm.long_input,
        llm.tokenizer,
        llm.normalize,
    );
    h.update(llm_identity.as_bytes());
    // The tokenizer decides where long texts are cut: its contents count, not its name.
    if let Some(bytes) =
        (llm.tokenizer.as_ref()).and_then(|p| std::fs::read(registry.config.resolve(p)).ok())
    {
        h.update(Sha256::digest(bytes));
    }
    if let Some(model) = model {
        h.update(model);
    }
}

/// Path (relative to `root`), size, modification time and, on unix, inode
/// and change time of every file under `dir`, in order. The change time
/// catches edits that restore the modification time (`cp -p`, `rsync -t`).
fn hash_tree(h: &mut Sha256, root: &std::path::Path, dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let Ok(meta) = e.metadata() else { continue };
        let path = e.path();
        if meta.is_dir() {
            hash_tree(h, root, &path);
            continue;
        }
        let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy();
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
        h.update(
            format!(
                "{rel}\0{}\0{:?}\0",
                meta.len(),
                modified.map(|d| d.as_nanos())
            )
            .as_bytes(),
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            h.update(
                format!("{}\0{}\0{}\0", meta.ino(), meta.ctime(), meta.ctime_nsec()).as_bytes(),
            );
        }
    }
}
