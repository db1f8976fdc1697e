//! `[[llm]]`: an embedding endpoint (an OpenAI-compatible API) or a model
//! run in process, with the defaults that depend on which.

use serde::Deserialize;
use std::path::PathBuf;
use toml::Spanned;

/// `PartialEq` compares values, not where they stand in the file: a reload
/// keeps an `[[llm]]` whose settings did not change.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    pub name: Spanned<String>,
    /// `openai`: an OpenAI-compatible HTTP API; `local`: a sentence-transformers
    /// model run inside wafer (no network, no key).
    #[serde(default)]
    pub provider: Provider,
    /// OpenAI-compatible base URL, e.g. `https://dashscope-intl.aliyuncs.com/compatible-mode/v1`.
    /// Required for `provider = "openai"`.
    pub base_url: Option<Spanned<String>>,
    /// The API's model name; for `local`, the model's name (`all-MiniLM-L6-v2`).
    pub model: String,
    /// `local`: the model's HF-format folder (relative to the config file);
    /// default: the model cache's `<model>` folder, where `wafer model pull` puts it.
    pub model_dir: Option<PathBuf>,
    /// `local`: inference threads; default: one per core.
    pub threads: Option<Spanned<usize>>,
    /// Environment variable holding the API key (sent as a bearer token).
    pub api_key_env: Option<String>,
    /// Or a file holding it (relative to the config file), e.g. a mounted secret.
    pub api_key_file: Option<PathBuf>,
    /// Requests (`local`: batches) in flight at once; default 4 (`local`: `threads`).
    pub concurrency: Option<Spanned<usize>>,
    /// Inputs per request; default 10 (`local`: 32).
    pub batch_size: Option<Spanned<usize>>,
    /// Longest input the model takes, in tokens (DashScope text-embedding-v3:
    /// 8192, the default); `local`: the model's `max_seq_length` less its two
    /// special tokens, and never more.
    pub max_input_tokens: Option<Spanned<usize>>,
    /// What to do with a longer input: truncate it, fail the row, or embed it
    /// in chunks and average them.
    #[serde(default)]
    pub long_input: LongInput,
    /// A Hugging Face `tokenizer.json` (relative to the config file) to count
    /// tokens exactly; without it tokens are estimated conservatively.
    pub tokenizer: Option<PathBuf>,
    /// Token budget of one request (sum over its inputs); none: only `batch_size` limits it.
    pub max_batch_tokens: Option<Spanned<usize>>,
    /// Client-side rate limits, shared by every view using this `[[llm]]`.
    pub requests_per_minute: Option<Spanned<u32>>,
    pub tokens_per_minute: Option<Spanned<u32>>,
    /// Scale every vector to unit length before storing it.
    #[serde(default)]
    pub normalize: bool,
    /// Output dimensions; sent to the API and checked on every vector.
    pub dimensions: Option<Spanned<usize>>,
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Tries per request for transient failures (429, 5xx, timeouts); 1 = no retry.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// First backoff wait; it doubles per attempt up to `retry_max_ms`.
    #[serde(default = "default_retry_initial_ms")]
    pub retry_initial_ms: u64,
    #[serde(default = "default_retry_max_ms")]
    pub retry_max_ms: u64,
}

/// Where an `[[llm]]`'s vectors come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    #[default]
    OpenAi,
    Local,
}

impl LlmConfig {
    pub fn concurrency(&self) -> usize {
        let default = match self.provider {
            Provider::OpenAi => 4,
            // Measured: two batches at once on two threads beat one batch
            // split across both (candle parallelises small matrices poorly).
            Provider::Local => self.threads(),
        };
        self.concurrency.as_ref().map_or(default, |c| *c.get_ref())
    }

    /// `local`: inference threads, one per core unless set.
    pub fn threads(&self) -> usize {
        self.threads.as_ref().map_or_else(
            || std::thread::available_parallelism().map_or(1, usize::from),
            |t| *t.get_ref(),
        )
    }

    pub fn batch_size(&self) -> usize {
        let default = match self.provider {
            Provider::OpenAi => 10,
            Provider::Local => 32,
        };
        self.batch_size.as_ref().map_or(default, |c| *c.get_ref())
    }

    /// The configured limit; a local model's own limit is applied on load.
    pub fn max_input_tokens(&self) -> Option<usize> {
        match (&self.max_input_tokens, self.provider) {
            (Some(m), _) => Some(*m.get_ref()),
            (None, Provider::OpenAi) => Some(8192),
            (None, Provider::Local) => None,
        }
    }
}

/// The `long_input` policy for texts over `max_input_tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LongInput {
    /// Keep the first `max_input_tokens` tokens (counted in the publish summary).
    #[default]
    Truncate,
    /// Fail the row (it is dead-lettered with the reason).
    Error,
    /// Split into pieces of at most `max_input_tokens`, embed each, and
    /// average them weighted by tokens, re-normalised (as LangChain does).
    Chunk,
}

fn default_timeout_secs() -> u64 {
    30
}
fn default_max_attempts() -> u32 {
    5
}
fn default_retry_initial_ms() -> u64 {
    500
}
fn default_retry_max_ms() -> u64 {
    20_000
}
