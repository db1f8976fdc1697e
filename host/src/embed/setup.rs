//! Setting up one `[[llm]]` before its first request: for an API, its key
//! and tokenizer; for a local model, loading it and taking its tokenizer,
//! `max_seq_length` and dimensions. Failures here make the `[[llm]]`
//! unusable with a reason, checked before any row is read.

use super::local::{LocalModel, ModelError};
use super::tokens::TokenCounter;
use super::{EmbedError, EmbedErrorKind};
use crate::config::LlmConfig;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Where an `[[llm]]`'s requests go.
#[derive(Debug)]
pub(super) enum Backend {
    Http {
        url: String,
        http: reqwest::Client,
        api_key: Option<ApiKey>,
    },
    Local(Arc<LocalModel>),
}

/// An API key. Its `Debug` never shows the secret.
#[derive(Clone)]
pub(super) struct ApiKey(pub String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// How a backend was set up: the request path, how tokens are counted, and
/// the limits the model itself imposes.
pub(super) struct Setup {
    pub backend: Backend,
    pub endpoint: String,
    pub tokens: TokenCounter,
    pub max_input_tokens: usize,
    /// A local model's own cut, in content tokens.
    pub model_max_tokens: Option<usize>,
    pub dimensions: Option<usize>,
}

pub(super) fn http_setup(c: &LlmConfig, base_dir: &Path) -> Result<Setup, EmbedError> {
    let name = c.name.get_ref();
    let unusable = |m: String| EmbedError::new(EmbedErrorKind::Unauthorized, m);
    let tokens = match &c.tokenizer {
        None => TokenCounter::Estimate,
        Some(p) => TokenCounter::from_file(&base_dir.join(p))
            .map_err(|e| unusable(format!("llm {name:?}: {e}")))?,
    };
    let api_key = match (&c.api_key_env, &c.api_key_file) {
        (Some(var), _) => match std::env::var(var) {
            Ok(k) if !k.trim().is_empty() => Some(ApiKey(k.trim().to_string())),
            _ => {
                return Err(unusable(format!(
                    "llm {name:?}: environment variable {var} (api_key_env) is not set"
                )));
            }
        },
        (None, Some(file)) => match std::fs::read_to_string(base_dir.join(file)) {
            Ok(k) if !k.trim().is_empty() => Some(ApiKey(k.trim().to_string())),
            Ok(_) => {
                let m = format!("llm {name:?}: api_key_file {} is empty", file.display());
                return Err(unusable(m));
            }
            Err(e) => {
                let m = format!(
                    "llm {name:?}: cannot read api_key_file {}: {e}",
                    file.display()
                );
                return Err(unusable(m));
            }
        },
        (None, None) => None,
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(c.timeout_secs))
        .build()
        .expect("a TLS backend is compiled in");
    let base = c.base_url.as_ref().ok_or_else(|| {
        let m = format!("llm {name:?}: base_url is required for provider \"openai\"");
        EmbedError::new(EmbedErrorKind::Unavailable, m)
    })?;
    let url = format!("{}/embeddings", base.get_ref().trim_end_matches('/'));
    Ok(Setup {
        endpoint: url.clone(),
        backend: Backend::Http { url, http, api_key },
        tokens,
        max_input_tokens: c.max_input_tokens().unwrap_or(8192),
        model_max_tokens: None,
        dimensions: c.dimensions.as_ref().map(|d| *d.get_ref()),
    })
}

/// Load the model; its tokenizer counts tokens and its `max_seq_length`
/// caps `max_input_tokens`.
pub(super) fn local_setup(c: &LlmConfig, base_dir: &Path) -> Result<Setup, EmbedError> {
    let name = c.name.get_ref();
    let dir = c.model_dir.as_ref().map_or_else(
        || crate::embed::local::files::cache_dir().join(&c.model),
        |d| base_dir.join(d),
    );
    let model = LocalModel::load(&dir, c.threads()).map_err(|e| {
        let hint = match (&e, crate::embed::local::files::known(&c.model)) {
            (ModelError::Missing { .. }, Ok(m)) if c.model_dir.is_none() => {
                format!(" (get it with `wafer model pull {}`)", m.name)
            }
            _ => String::new(),
        };
        EmbedError::new(
            EmbedErrorKind::Unavailable,
            format!("llm {name:?}: {e}{hint}"),
        )
    })?;
    if let Some(d) = c.dimensions.as_ref().map(|d| *d.get_ref())
        && d != model.dims()
    {
        let m = format!(
            "llm {name:?}: dimensions = {d}, but the model at {} makes {}-dimensional vectors",
            dir.display(),
            model.dims()
        );
        return Err(EmbedError::new(EmbedErrorKind::Unavailable, m));
    }
    // The model reads max_seq_length tokens, [CLS] and [SEP] among them.
    let model_max = model.max_seq_length().saturating_sub(2).max(1);
    let fingerprint: String = model
        .fingerprint()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Setup {
        endpoint: format!("local:{fingerprint}"),
        tokens: TokenCounter::Exact(Box::new(model.counting_tokenizer())),
        max_input_tokens: c.max_input_tokens().map_or(model_max, |m| m.min(model_max)),
        model_max_tokens: Some(model_max),
        dimensions: Some(model.dims()),
        backend: Backend::Local(Arc::new(model)),
    })
}
