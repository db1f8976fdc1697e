//! A transformed value's input digest: what it hashes besides the inputs
//! (the plugin's bytes, its options and grants, with the granted files'
//! sizes and times, the fields it fills, and for an embedding everything
//! about the `[[llm]]` that changes the vector), and how.

use crate::config::LlmConfig;
use crate::plugin::Contract;
use crate::registry::{Field, Registry};
use crate::store::InputDigest;
use sha2::{Digest, Sha256};
use twox_hash::XxHash3_128;

/// Digests one transformation's rows: XXH3-128 over the transformation's
/// identity and the row's encoded inputs.
///
/// Until 2026-12 the digest was the first 16 bytes of SHA-256 over the same:
/// a fifth of the pipeline's own work for a cheap UDF (`perf`, 256 rows of
/// 64-d vectors through `passthrough`: five SHA-256 blocks a row). Stored
/// rows keep those digests until they are rewritten, so a stored digest that
/// differs from the new one is also checked the old way
/// ([`Digester::legacy`]) before the value is recomputed: an upgrade
/// re-embeds nothing. A row whose inputs did change pays both digests, a
/// fraction of the plugin call it then makes.
///
/// The digest only decides whether a stored value is reused: a collision
/// keeps a key's old value after its inputs change. By chance that is
/// 2^-128; crafted, it needs a writer who controls an input and knows the
/// identity (a built-in plugin's options are guessable), and what it buys is
/// a stale value for a key that writer can already write. Speed wins over
/// collision resistance here.
pub(super) struct Digester {
    /// SHA-256 of the identity: what the new digest hashes first.
    identity: [u8; 32],
    /// The hash state over the identity that the old digest went on from.
    legacy: Sha256,
}

impl Digester {
    pub(super) fn new(identity: Sha256) -> Self {
        Digester {
            identity: identity.clone().finalize().into(),
            legacy: identity,
        }
    }

    /// Clears `buf` for one row: the caller appends each input's
    /// `encode_value` after what this writes, then digests it.
    pub(super) fn begin(&self, buf: &mut Vec<u8>) {
        buf.clear();
        buf.extend_from_slice(&self.identity);
    }

    /// The digest of a row's inputs, from a buffer started by [`Digester::begin`].
    pub(super) fn digest(&self, buf: &[u8]) -> InputDigest {
        XxHash3_128::oneshot(buf).to_le_bytes()
    }

    /// The digest the same inputs had before 2026-12 (SHA-256, its first 16 bytes).
    pub(super) fn legacy(&self, buf: &[u8]) -> InputDigest {
        let mut h = self.legacy.clone();
        h.update(&buf[self.identity.len()..]);
        h.finalize()[..16].try_into().expect("16 of 32 bytes")
    }

    /// Whether every one of `stored` (a stored value's digest, per field the
    /// transformation fills) was made from the inputs `buf` holds, whose
    /// digest is `digest`. The old digest is computed only when needed, once.
    pub(super) fn made_from<'a>(
        &self,
        stored: impl IntoIterator<Item = Option<&'a InputDigest>>,
        digest: &InputDigest,
        buf: &[u8],
    ) -> bool {
        let mut legacy = None;
        stored.into_iter().all(|d| match d {
            None => false,
            Some(d) => d == digest || *d == *legacy.get_or_insert_with(|| self.legacy(buf)),
        })
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::encode_value;
    use crate::value::Value;

    /// The old digest, as wafer computed it before 2026-12: the identity's
    /// hash state, fed each input's encoding in turn. The bytes and both
    /// digests are pinned too: stored rows were hashed from exactly these
    /// (computed with 03a254d's encoder), so a change to the encoding or to
    /// either hash crate's output must fail here, not re-embed a store.
    #[test]
    fn the_legacy_digest_is_the_one_stored_before() {
        let mut identity = Sha256::new();
        identity.update(b"a transformation");
        let inputs = [Value::String("title".into()), Value::Vector(vec![1.0, 2.5])];
        let mut old = identity.clone();
        for v in &inputs {
            let mut b = Vec::new();
            encode_value(&mut b, v);
            old.update(&b);
        }
        let old: InputDigest = old.finalize()[..16].try_into().unwrap();

        let d = Digester::new(identity);
        let mut buf = vec![7; 3];
        d.begin(&mut buf);
        inputs.iter().for_each(|v| encode_value(&mut buf, v));
        assert_eq!(d.legacy(&buf), old);
        assert_ne!(d.digest(&buf), old);
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(
            hex(&buf[32..]),
            "04050000007469746c6506020000000000803f00002040"
        );
        assert_eq!(hex(&old), "c013d99d4a96d300fde6fadbcb6dc0f0");
        assert_eq!(hex(&d.digest(&buf)), "c82405da65421fd9109bf090d73bad56");
        assert!(d.made_from([Some(&old)], &d.digest(&buf), &buf));
        assert!(d.made_from([Some(&d.digest(&buf))], &d.digest(&buf), &buf));
        assert!(!d.made_from([Some(&[0; 16]), Some(&old)], &d.digest(&buf), &buf));
        assert!(!d.made_from([None], &d.digest(&buf), &buf));
    }
}
