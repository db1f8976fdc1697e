//! `embed`: the host's embedding service behind the plugins' `embed` import.
//! One service ([`EmbedService`]) over two backends: OpenAI-compatible
//! `/embeddings` APIs (DashScope compatible mode, OpenAI, vLLM, TEI) and a
//! sentence-transformers model run in process ([`local`]). Each `[[llm]]` is
//! set up on first use (`setup`), so commands that never embed never load a
//! model. Per call the service applies the `long_input` policy, embeds each
//! distinct text once (looking it up in the store's cache first), and hands
//! the misses to the `[[llm]]`'s `client`, which packs them into requests by
//! rows and tokens, runs at most `concurrency` at a time (shared by every
//! view and plugin) within the rate limits, retries, bisects a rejected
//! batch and checks every answer, whichever backend serves it.

mod client;
mod limit;
pub mod local;
mod retry;
mod setup;
mod tokens;

pub use local::{LocalModel, ModelError, run_candle_on_calling_threads};
pub use tokens::TokenCounter;

use crate::config::{LlmConfig, LongInput};
use crate::store::{CacheKey, Store};
use client::LlmClient;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// Why a text could not be embedded; maps one to one onto the WIT `embed-error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbedErrorKind {
    InvalidInput,
    Unauthorized,
    RateLimited,
    Timeout,
    Unavailable,
    BadResponse,
    UnknownLlm,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct EmbedError {
    pub kind: EmbedErrorKind,
    pub message: String,
}

impl EmbedError {
    fn new(kind: EmbedErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

pub type EmbedResult = Result<Vec<f32>, EmbedError>;

/// All configured `[[llm]]` endpoints, and the embedding cache they share.
#[derive(Debug, Default)]
pub struct EmbedService {
    llms: HashMap<String, Arc<Llm>>,
    /// Vectors by (model, dimensions, text), kept across views and restarts.
    cache: Option<Arc<Store>>,
    /// Shared with the services a reload makes from this one.
    counters: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    truncated: AtomicU64,
    chunked: AtomicU64,
}

/// An `[[llm]]`, set up the first time it is needed (loading a local model
/// takes a while and memory).
#[derive(Debug)]
struct Llm {
    config: LlmConfig,
    base_dir: PathBuf,
    client: OnceLock<Result<Arc<LlmClient>, EmbedError>>,
}

impl Llm {
    fn client(&self) -> &Result<Arc<LlmClient>, EmbedError> {
        self.client
            .get_or_init(|| LlmClient::new(&self.config, &self.base_dir).map(Arc::new))
    }

    fn loaded(&self) -> Option<&LlmClient> {
        self.client.get()?.as_deref().ok()
    }
}

/// Process-wide counters, for publish summaries and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EmbedStats {
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Requests that were repeats of a failed one.
    pub retries: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    /// Texts cut to `max_input_tokens` (`long_input = "truncate"`).
    pub truncated: u64,
    /// Texts embedded in pieces (`long_input = "chunk"`).
    pub chunked: u64,
}

impl EmbedStats {
    /// The work done since `before` was taken.
    pub fn since(&self, before: &EmbedStats) -> EmbedStats {
        EmbedStats {
            requests: self.requests - before.requests,
            retries: self.retries - before.retries,
            cache_hits: self.cache_hits - before.cache_hits,
            cache_misses: self.cache_misses - before.cache_misses,
            truncated: self.truncated - before.truncated,
            chunked: self.chunked - before.chunked,
        }
    }
}

/// One `[[llm]]`'s work so far, for metrics.
#[derive(Debug, Clone)]
pub struct LlmStats {
    pub name: String,
    pub requests: u64,
    pub retries: u64,
    /// Time in requests (a local model: in inference).
    pub busy: std::time::Duration,
}

/// A text as it will be sent: one piece, or several for `long_input = "chunk"`.
type Pieces = Vec<(String, usize)>;

impl EmbedService {
    /// Clients for every `[[llm]]`; `base_dir` resolves relative `api_key_file`s
    /// and tokenizers; `cache` is where embeddings are remembered (none: always
    /// call the API).
    pub fn new(configs: &[LlmConfig], base_dir: &Path, cache: Option<Arc<Store>>) -> Self {
        Self {
            cache,
            ..Self::default()
        }
        .reconfigure(configs, base_dir)
    }

    /// A service for a reloaded config: a local model whose settings did
    /// not change and that loaded keeps its client (loading takes seconds
    /// and memory); every other `[[llm]]` is set up anew on first use, so a
    /// reload re-reads API keys and retries what failed before.
    pub fn reconfigure(&self, configs: &[LlmConfig], base_dir: &Path) -> Self {
        let llms = configs
            .iter()
            .map(|c| {
                let name = c.name.get_ref().clone();
                let same = (self.llms.get(&name)).filter(|old| {
                    old.config == *c
                        && old.base_dir == base_dir
                        && old.loaded().is_some_and(LlmClient::is_local)
                });
                let llm = same.cloned().unwrap_or_else(|| {
                    Arc::new(Llm {
                        config: c.clone(),
                        base_dir: base_dir.to_path_buf(),
                        client: OnceLock::new(),
                    })
                });
                (name, llm)
            })
            .collect();
        Self {
            llms,
            cache: self.cache.clone(),
            counters: self.counters.clone(),
        }
    }

    /// Per `[[llm]]` set up so far: requests, retries and time in them.
    pub fn llm_stats(&self) -> Vec<LlmStats> {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut stats: Vec<LlmStats> = (self.llms.iter())
            .filter_map(|(name, l)| {
                let c = l.loaded()?;
                Some(LlmStats {
                    name: name.clone(),
                    requests: load(&c.requests),
                    retries: load(&c.retries),
                    busy: std::time::Duration::from_micros(load(&c.busy_micros)),
                })
            })
            .collect();
        stats.sort_by(|a, b| a.name.cmp(&b.name));
        stats
    }

    pub fn stats(&self) -> EmbedStats {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let c = &self.counters;
        let loaded = || self.llms.values().filter_map(|l| l.loaded());
        EmbedStats {
            requests: loaded().map(|l| load(&l.requests)).sum(),
            retries: loaded().map(|l| load(&l.retries)).sum(),
            cache_hits: load(&c.cache_hits),
            cache_misses: load(&c.cache_misses),
            truncated: load(&c.truncated),
            chunked: load(&c.chunked),
        }
    }

    /// `Err(reason)` when `llm` cannot be called (unknown, its API key,
    /// tokenizer or model is missing). Sets it up if that has not happened yet.
    pub fn ready(&self, llm: &str) -> Result<(), String> {
        self.client(llm).map(|_| ()).map_err(|e| e.message)
    }

    /// For a local model: the hash of what decides its vectors.
    pub fn fingerprint(&self, llm: &str) -> Option<[u8; 32]> {
        self.client(llm).ok()?.fingerprint()
    }

    fn client(&self, llm: &str) -> Result<&Arc<LlmClient>, EmbedError> {
        let entry = self.llms.get(llm).ok_or_else(|| {
            EmbedError::new(
                EmbedErrorKind::UnknownLlm,
                format!("no [[llm]] named {llm:?}"),
            )
        })?;
        entry.client().as_ref().map_err(Clone::clone)
    }

    /// Embed `texts` with `llm`: one result per text, in order. Each distinct
    /// piece of text is looked up in the cache, and only the misses go to the API.
    pub async fn embed(&self, llm: &str, texts: Vec<String>) -> Vec<EmbedResult> {
        let client = match self.client(llm) {
            Ok(c) => c,
            Err(e) => return vec![Err(e); texts.len()],
        };
        let planned: Vec<Result<Pieces, EmbedError>> =
            texts.iter().map(|t| self.plan(client, t)).collect();
        // Each piece's slot among the distinct pieces.
        let mut distinct: Vec<(&str, usize)> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        let slots: Vec<Result<Vec<usize>, &EmbedError>> = planned
            .iter()
            .map(|p| {
                let pieces = p.as_ref()?;
                Ok(pieces
                    .iter()
                    .map(|(t, n)| {
                        *index.entry(t.as_str()).or_insert_with(|| {
                            distinct.push((t, *n));
                            distinct.len() - 1
                        })
                    })
                    .collect())
            })
            .collect();
        let answers = self.embed_distinct(client, &distinct).await;
        slots
            .into_iter()
            .map(|s| {
                let s = s.map_err(Clone::clone)?;
                let vectors = s
                    .iter()
                    .map(|i| answers[*i].clone())
                    .collect::<Result<Vec<_>, _>>()?;
                if vectors.iter().any(|v| v.len() != vectors[0].len()) {
                    let m = "chunks of one text came back with different dimensions";
                    return Err(EmbedError::new(EmbedErrorKind::BadResponse, m));
                }
                let weights: Vec<usize> = s.iter().map(|i| distinct[*i].1).collect();
                Ok(client.finish(combine(vectors, &weights)))
            })
            .collect()
    }

    /// What to send for `text` under the `long_input` policy.
    fn plan(&self, client: &LlmClient, text: &str) -> Result<Pieces, EmbedError> {
        if text.trim().is_empty() {
            return Err(EmbedError::new(
                EmbedErrorKind::InvalidInput,
                "text is empty",
            ));
        }
        let max = client.max_input_tokens;
        let n = client.tokens.count(text);
        if n <= max {
            return Ok(vec![(text.to_string(), n)]);
        }
        let too_long = || format!("text has {n} tokens, over max_input_tokens {max}");
        match client.long_input {
            LongInput::Error => Err(EmbedError::new(EmbedErrorKind::InvalidInput, too_long())),
            // At the model's own limit, let it cut the token sequence, as
            // sentence-transformers does (a cut text can re-tokenise differently).
            LongInput::Truncate if client.model_max_tokens == Some(max) => {
                self.counters.truncated.fetch_add(1, Ordering::Relaxed);
                Ok(vec![(text.to_string(), max)])
            }
            _ => Ok(self.cut(client, text, max)),
        }
    }

    fn cut(&self, client: &LlmClient, text: &str, max: usize) -> Pieces {
        let pieces = client.tokens.split(text, max);
        match client.long_input {
            LongInput::Chunk => {
                self.counters.chunked.fetch_add(1, Ordering::Relaxed);
                pieces
                    .into_iter()
                    .map(|(p, n)| (p.to_string(), n))
                    .collect()
            }
            _ => {
                self.counters.truncated.fetch_add(1, Ordering::Relaxed);
                let (first, n) = pieces[0];
                vec![(first.to_string(), n)]
            }
        }
    }

    async fn embed_distinct(
        &self,
        client: &Arc<LlmClient>,
        texts: &[(&str, usize)],
    ) -> Vec<EmbedResult> {
        let keys: Vec<CacheKey> = texts.iter().map(|(t, _)| client.cache_key(t)).collect();
        let mut answers: Vec<Option<EmbedResult>> = self
            .cache_read(&keys)
            .into_iter()
            .map(|v| v.map(Ok))
            .collect();
        let mut misses: Vec<usize> = (0..texts.len()).filter(|i| answers[*i].is_none()).collect();
        if client.is_local() {
            // A batch is padded to its longest input: group similar lengths,
            // as sentence-transformers' encode does.
            misses.sort_by_key(|i| texts[*i].1);
        }
        let c = &self.counters;
        c.cache_hits
            .fetch_add((texts.len() - misses.len()) as u64, Ordering::Relaxed);
        c.cache_misses
            .fetch_add(misses.len() as u64, Ordering::Relaxed);
        let mut tasks = tokio::task::JoinSet::new();
        for idx in client.pack(&misses, |i| texts[i].1) {
            let batch: Vec<String> = idx.iter().map(|i| texts[*i].0.to_string()).collect();
            let tokens = idx.iter().map(|i| texts[*i].1).sum();
            let client = client.clone();
            tasks.spawn(async move { (idx, client.request_bisecting(&batch, tokens).await) });
        }
        // Each answer is cached as it arrives: a publish killed mid-call keeps
        // what it paid for, and its rerun does not ask again.
        while let Some(joined) = tasks.join_next().await {
            let (idx, results) = match joined {
                Ok(answered) => answered,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                // The runtime is shutting down: what was not answered fails;
                // what was answered is kept.
                Err(_) => continue,
            };
            let fresh: Vec<(CacheKey, &[f32])> = idx
                .iter()
                .zip(&results)
                .filter_map(|(i, r)| Some((keys[*i], r.as_ref().ok()?.as_slice())))
                .collect();
            self.cache_write(&fresh);
            for (i, r) in idx.into_iter().zip(results) {
                answers[i] = Some(r);
            }
        }
        let cancelled = || {
            let m = "the embedding request was cancelled: the process is stopping";
            Err(EmbedError::new(EmbedErrorKind::Unavailable, m))
        };
        answers
            .into_iter()
            .map(|r| r.unwrap_or_else(cancelled))
            .collect()
    }

    /// A cache that cannot be read is a miss, not a failure.
    fn cache_read(&self, keys: &[CacheKey]) -> Vec<Option<Vec<f32>>> {
        let Some(store) = &self.cache else {
            return vec![None; keys.len()];
        };
        store.cache_get(keys).unwrap_or_else(|e| {
            tracing::warn!("embedding cache read failed, calling the API instead: {e}");
            vec![None; keys.len()]
        })
    }

    fn cache_write(&self, items: &[(CacheKey, &[f32])]) {
        let Some(store) = self.cache.as_ref().filter(|_| !items.is_empty()) else {
            return;
        };
        if let Err(e) = store.cache_put(items) {
            tracing::warn!("embedding cache write failed: {e}");
        }
    }
}

/// One vector per text: a single piece as is; chunks averaged by their token
/// counts and scaled back to unit length (as LangChain's `len_safe` embedding).
fn combine(mut vectors: Vec<Vec<f32>>, weights: &[usize]) -> Vec<f32> {
    if vectors.len() == 1 {
        return vectors.pop().expect("one vector");
    }
    let dims = vectors[0].len();
    let total: usize = weights.iter().sum();
    let mut avg = vec![0f32; dims];
    for (v, w) in vectors.iter().zip(weights) {
        let w = *w as f32 / total.max(1) as f32;
        for (a, x) in avg.iter_mut().zip(v) {
            *a += w * x;
        }
    }
    normalize(&mut avg);
    avg
}

/// Scale `v` to unit L2 length (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_average_by_tokens_then_renormalise() {
        let v = combine(vec![vec![1.0, 0.0], vec![0.0, 1.0]], &[3, 1]);
        let n = (v[0] * v[0] + v[1] * v[1]).sqrt();
        assert!(
            (n - 1.0).abs() < 1e-6 && (v[0] / v[1] - 3.0).abs() < 1e-5,
            "{v:?}"
        );
        assert_eq!(
            combine(vec![vec![2.0, 0.0]], &[5]),
            vec![2.0, 0.0],
            "one piece is untouched"
        );
    }
}
