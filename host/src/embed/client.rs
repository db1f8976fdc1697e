//! One `[[llm]]`: requests of at most `batch_size` inputs and
//! `max_batch_tokens` tokens, at most `concurrency` in flight, inside the
//! rate limits; transient failures retried with jittered exponential backoff
//! (honouring `Retry-After`); a 400 bisected down to the bad input; and every
//! answer checked (count, index, dimensions, finiteness) before it is used.
//! A request goes to an OpenAI-compatible API over HTTP, or to a local model
//! on a blocking thread; everything around it is the same for both.

use super::limit::RateLimits;
use super::local::LocalModel;
use super::retry::{Failed, RetryPolicy, retry_after};
use super::setup::{ApiKey, Backend, http_setup, local_setup};
use super::tokens::TokenCounter;
use super::{EmbedError, EmbedErrorKind, EmbedResult};
use crate::config::{LlmConfig, LongInput, Provider};
use crate::store::CacheKey;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;

#[derive(Debug)]
pub(super) struct LlmClient {
    name: String,
    /// What the cache keys vectors by besides the model: the URL, or the local model's hash.
    endpoint: String,
    model: String,
    dimensions: Option<usize>,
    batch_size: usize,
    max_batch_tokens: Option<usize>,
    pub(super) max_input_tokens: usize,
    /// A local model cuts inputs at this many content tokens by itself.
    pub(super) model_max_tokens: Option<usize>,
    pub(super) long_input: LongInput,
    pub(super) tokens: TokenCounter,
    normalize: bool,
    backend: Backend,
    in_flight: Arc<Semaphore>,
    limits: RateLimits,
    retry: RetryPolicy,
    pub(super) requests: AtomicU64,
    pub(super) retries: AtomicU64,
    /// Time spent in requests (local: inference), in microseconds.
    pub(super) busy_micros: AtomicU64,
}

#[derive(Deserialize)]
struct EmbeddingResponse {
    data: Vec<EmbeddingItem>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    embedding: Vec<f32>,
    index: usize,
}

impl LlmClient {
    /// Set up the `[[llm]]`: read its key and tokenizer, or load its local
    /// model. `Err` says why it cannot be used at all.
    pub(super) fn new(c: &LlmConfig, base_dir: &Path) -> Result<Self, EmbedError> {
        let setup = match c.provider {
            Provider::OpenAi => http_setup(c, base_dir),
            Provider::Local => local_setup(c, base_dir),
        }?;
        Ok(LlmClient {
            name: c.name.get_ref().clone(),
            endpoint: setup.endpoint,
            model: c.model.clone(),
            dimensions: setup.dimensions,
            batch_size: c.batch_size(),
            max_batch_tokens: c.max_batch_tokens.as_ref().map(|b| *b.get_ref()),
            max_input_tokens: setup.max_input_tokens,
            model_max_tokens: setup.model_max_tokens,
            long_input: c.long_input,
            tokens: setup.tokens,
            normalize: c.normalize,
            backend: setup.backend,
            in_flight: Arc::new(Semaphore::new(c.concurrency())),
            limits: RateLimits::new(
                c.requests_per_minute.as_ref().map(|r| *r.get_ref()),
                c.tokens_per_minute.as_ref().map(|r| *r.get_ref()),
            ),
            retry: RetryPolicy {
                max_attempts: c.max_attempts.max(1),
                initial: Duration::from_millis(c.retry_initial_ms),
                max: Duration::from_millis(c.retry_max_ms),
            },
            requests: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            busy_micros: AtomicU64::new(0),
        })
    }

    /// A local model pays for padding, so its batches should hold similar lengths.
    pub(super) fn is_local(&self) -> bool {
        matches!(self.backend, Backend::Local(_))
    }

    /// For a local model: the hash of its weights, tokenizer, config and pooling.
    pub(super) fn fingerprint(&self) -> Option<[u8; 32]> {
        match &self.backend {
            Backend::Local(m) => Some(m.fingerprint()),
            Backend::Http { .. } => None,
        }
    }

    /// Group `items` into requests of at most `batch_size` inputs and
    /// `max_batch_tokens` tokens, in order.
    pub(super) fn pack(&self, items: &[usize], tokens: impl Fn(usize) -> usize) -> Vec<Vec<usize>> {
        let budget = self.max_batch_tokens.unwrap_or(usize::MAX);
        let mut out: Vec<Vec<usize>> = Vec::new();
        let mut used = 0;
        for &i in items {
            let n = tokens(i);
            match out.last_mut() {
                Some(b) if b.len() < self.batch_size && used + n <= budget => {
                    b.push(i);
                    used += n;
                }
                _ => {
                    out.push(vec![i]);
                    used = n;
                }
            }
        }
        out
    }

    /// The vector as stored: unit length when the config asks for it.
    pub(super) fn finish(&self, mut v: Vec<f32>) -> Vec<f32> {
        if self.normalize {
            super::normalize(&mut v);
        }
        v
    }

    /// Embed `texts` in one request; when the API rejects the request as
    /// invalid (a 400 for one bad input sinks the whole batch), split it in
    /// halves until the bad inputs are alone, so their neighbours still land.
    pub(super) fn request_bisecting<'a>(
        &'a self,
        texts: &'a [String],
        tokens: usize,
    ) -> Pin<Box<dyn Future<Output = Vec<EmbedResult>> + Send + 'a>> {
        Box::pin(async move {
            match self.request_with_retries(texts, tokens).await {
                Ok(vectors) => vectors,
                Err(e) if e.kind == EmbedErrorKind::InvalidInput && texts.len() > 1 => {
                    let (a, b) = texts.split_at(texts.len() / 2);
                    let half = tokens.div_ceil(2);
                    let mut out = self.request_bisecting(a, half).await;
                    out.extend(self.request_bisecting(b, half).await);
                    out
                }
                Err(e) => vec![Err(e); texts.len()],
            }
        })
    }

    /// One request, tried up to `max_attempts` times while its failure is
    /// transient. The concurrency slot is held only while a request is in
    /// flight, never while backing off.
    async fn request_with_retries(
        &self,
        texts: &[String],
        tokens: usize,
    ) -> Result<Vec<EmbedResult>, EmbedError> {
        let mut attempt = 1;
        loop {
            let answer = {
                let _permit = self
                    .in_flight
                    .acquire()
                    .await
                    .expect("semaphore is never closed");
                self.limits.acquire(tokens).await;
                self.request(texts).await
            };
            let failed = match answer {
                Ok(vectors) => return Ok(vectors),
                Err(f) => f,
            };
            if !failed.retryable || attempt >= self.retry.max_attempts {
                let mut e = failed.error;
                if attempt > 1 {
                    e.message = format!("{} (after {attempt} attempts)", e.message);
                }
                return Err(e);
            }
            let wait = failed
                .retry_after
                .filter(|d| *d <= RetryPolicy::MAX_RETRY_AFTER)
                .unwrap_or_else(|| self.retry.backoff(attempt));
            tracing::debug!(llm = %self.name, attempt, ?wait, error = %failed.error, "retrying embeddings request");
            tokio::time::sleep(wait).await;
            self.retries.fetch_add(1, Ordering::Relaxed);
            attempt += 1;
        }
    }

    /// What identifies a vector: the endpoint, the model, its dimensions and the text.
    pub(super) fn cache_key(&self, text: &str) -> CacheKey {
        let mut h = Sha256::new();
        h.update(self.endpoint.as_bytes());
        h.update([0]);
        h.update(self.model.as_bytes());
        h.update([0]);
        h.update(self.dimensions.unwrap_or(0).to_le_bytes());
        h.update(text.as_bytes());
        h.finalize().into()
    }

    /// One request for `texts`; a failure of the whole request is the outer error.
    async fn request(&self, texts: &[String]) -> Result<Vec<EmbedResult>, Failed> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let answer = match &self.backend {
            Backend::Http { url, http, api_key } => {
                self.request_http(http, url, api_key.as_ref(), texts).await
            }
            Backend::Local(model) => self.request_local(model, texts).await,
        };
        let took = started.elapsed().as_micros() as u64;
        self.busy_micros.fetch_add(took, Ordering::Relaxed);
        answer
    }

    /// Inference blocks a thread for the whole batch, so it runs off the runtime.
    async fn request_local(
        &self,
        model: &Arc<LocalModel>,
        texts: &[String],
    ) -> Result<Vec<EmbedResult>, Failed> {
        let (model, batch) = (model.clone(), texts.to_vec());
        let fail = |m: String| {
            Failed::fatal(EmbedError::new(
                EmbedErrorKind::Unavailable,
                format!("{}: {m}", self.name),
            ))
        };
        let vectors = tokio::task::spawn_blocking(move || model.embed(&batch))
            .await
            .map_err(|e| fail(format!("inference task failed: {e}")))?
            .map_err(|e| fail(e.to_string()))?;
        if vectors.len() != texts.len() {
            return Err(fail(format!(
                "{} vectors for {} inputs",
                vectors.len(),
                texts.len()
            )));
        }
        Ok(vectors.into_iter().map(|v| self.check_vector(v)).collect())
    }

    async fn request_http(
        &self,
        http: &reqwest::Client,
        url: &str,
        api_key: Option<&ApiKey>,
        texts: &[String],
    ) -> Result<Vec<EmbedResult>, Failed> {
        let mut body =
            serde_json::json!({ "model": self.model, "input": texts, "encoding_format": "float" });
        if let Some(d) = self.dimensions {
            body["dimensions"] = d.into();
        }
        let mut req = http.post(url).json(&body);
        if let Some(key) = api_key {
            req = req.bearer_auth(&key.0);
        }
        let resp = req.send().await.map_err(|e| self.transport_error(e))?;
        let status = resp.status();
        let retry_after = retry_after(resp.headers());
        let bytes = resp.bytes().await.map_err(|e| self.transport_error(e))?;
        if !status.is_success() {
            return Err(self.status_error(status, &bytes, retry_after));
        }
        // A body that does not parse is likely cut short on the way: retry it.
        let parsed: EmbeddingResponse = serde_json::from_slice(&bytes).map_err(|e| Failed {
            error: EmbedError::new(
                EmbedErrorKind::BadResponse,
                format!("{}: response is not an embeddings answer: {e}", self.name),
            ),
            retryable: true,
            retry_after: None,
        })?;
        self.check(texts.len(), parsed).map_err(Failed::fatal)
    }

    fn check(&self, n: usize, parsed: EmbeddingResponse) -> Result<Vec<EmbedResult>, EmbedError> {
        let bad =
            |m: String| EmbedError::new(EmbedErrorKind::BadResponse, format!("{}: {m}", self.name));
        if parsed.data.len() != n {
            return Err(bad(format!(
                "{} embeddings for {n} inputs",
                parsed.data.len()
            )));
        }
        let mut out: Vec<Option<EmbedResult>> = vec![None; n];
        for item in parsed.data {
            let slot = out
                .get_mut(item.index)
                .ok_or_else(|| bad(format!("index {} out of range", item.index)))?;
            if slot.is_some() {
                return Err(bad(format!("index {} answered twice", item.index)));
            }
            *slot = Some(self.check_vector(item.embedding));
        }
        Ok(out
            .into_iter()
            .map(|v| v.expect("n distinct indices below n"))
            .collect())
    }

    fn check_vector(&self, v: Vec<f32>) -> EmbedResult {
        let bad = |m: String| {
            Err(EmbedError::new(
                EmbedErrorKind::BadResponse,
                format!("{}: {m}", self.name),
            ))
        };
        match self.dimensions {
            Some(d) if v.len() != d => {
                bad(format!("vector has {} dimensions, expected {d}", v.len()))
            }
            _ if v.is_empty() => bad("empty vector".into()),
            _ if v.iter().any(|x| !x.is_finite()) => bad("vector has non-finite values".into()),
            _ => Ok(v),
        }
    }

    fn transport_error(&self, e: reqwest::Error) -> Failed {
        let kind = if e.is_timeout() {
            EmbedErrorKind::Timeout
        } else {
            EmbedErrorKind::Unavailable
        };
        // reqwest's message names the URL, never headers, so the key stays out.
        let error = EmbedError::new(kind, format!("{}: {e}", self.name));
        Failed {
            error,
            retryable: true,
            retry_after: None,
        }
    }

    fn status_error(
        &self,
        status: reqwest::StatusCode,
        body: &[u8],
        retry_after: Option<Duration>,
    ) -> Failed {
        let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
        // OpenAI answers an exhausted quota with a 429 that no wait will fix.
        let no_quota = text.contains("insufficient_quota");
        let (kind, retryable) = match status.as_u16() {
            400 | 413 | 422 => (EmbedErrorKind::InvalidInput, false),
            401 | 403 => (EmbedErrorKind::Unauthorized, false),
            429 if no_quota => (EmbedErrorKind::Unauthorized, false),
            408 => (EmbedErrorKind::Timeout, true),
            409 | 429 => (EmbedErrorKind::RateLimited, true),
            500..=599 => (EmbedErrorKind::Unavailable, true),
            _ => (EmbedErrorKind::Unavailable, false),
        };
        let error = EmbedError::new(kind, format!("{}: HTTP {status}: {text}", self.name));
        Failed {
            error,
            retryable,
            retry_after,
        }
    }
}
