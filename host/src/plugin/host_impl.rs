//! What a plugin instance sees of the host: the `host` imports (`log`,
//! `embed`) and the conversions between wafer's values and the WIT types.

use super::bindings::wafer::transform::{host, types as wit};
use super::{Batch, PluginState};
use crate::embed::EmbedErrorKind;
use crate::value::Value;

pub(super) fn to_wit_batch(b: Batch) -> wit::Batch {
    wit::Batch {
        columns: b.columns,
        rows: b
            .rows
            .into_iter()
            .map(|r| r.into_iter().map(to_wit).collect())
            .collect(),
    }
}

fn to_wit(v: Value) -> wit::Value {
    match v {
        Value::Null => wit::Value::Null,
        Value::Bool(b) => wit::Value::Boolean(b),
        Value::Int64(i) => wit::Value::Int64(i),
        Value::Float64(f) => wit::Value::Float64(f),
        Value::String(s) => wit::Value::Text(s),
        Value::Bytes(b) => wit::Value::Bytes(b),
        Value::Vector(v) => wit::Value::Vector(v),
        // Contract 0.1 has no list type: a list of numbers reaches a plugin
        // as a vector, as JSON arrays always did, and any other as JSON text.
        Value::List(items) => match Value::numbers(&items) {
            Some(v) => wit::Value::Vector(v),
            None => wit::Value::Text(
                serde_json::to_string(&Value::List(items)).expect("lists serialize"),
            ),
        },
    }
}

pub(super) fn from_wit(v: wit::Value) -> Value {
    match v {
        wit::Value::Null => Value::Null,
        wit::Value::Boolean(b) => Value::Bool(b),
        wit::Value::Int64(i) => Value::Int64(i),
        wit::Value::Float64(f) => Value::Float64(f),
        wit::Value::Text(s) => Value::String(s),
        wit::Value::Bytes(b) => Value::Bytes(b),
        wit::Value::Vector(v) => Value::Vector(v),
    }
}

impl host::Host for PluginState {
    fn log(&mut self, level: host::LogLevel, message: String) {
        let (plugin, view) = (&self.plugin, &self.view);
        match level {
            host::LogLevel::Trace => tracing::trace!(plugin, view, "{message}"),
            host::LogLevel::Debug => tracing::debug!(plugin, view, "{message}"),
            host::LogLevel::Info => tracing::info!(plugin, view, "{message}"),
            host::LogLevel::Warn => tracing::warn!(plugin, view, "{message}"),
            host::LogLevel::Error => tracing::error!(plugin, view, "{message}"),
        }
    }

    fn embed(
        &mut self,
        llm: String,
        texts: Vec<String>,
    ) -> Vec<Result<Vec<f32>, host::EmbedError>> {
        let Some(rt) = &self.runtime else {
            let e = host::EmbedError {
                kind: host::EmbedErrorKind::Unavailable,
                message: "no async runtime on this thread".into(),
            };
            return vec![Err(e); texts.len()];
        };
        // Plugin calls run on blocking threads, so blocking on the runtime here is allowed.
        let n = texts.len();
        // Stop a little before the epoch deadline, so the plugin can still
        // take the answers and return per-row errors instead of trapping.
        let margin = super::EPOCH_TICK * 5;
        let left = self
            .deadline
            .saturating_duration_since(std::time::Instant::now())
            .saturating_sub(margin);
        let call = tokio::time::timeout(left, self.embed.embed(&llm, texts));
        let Ok(results) = rt.block_on(call) else {
            let e = host::EmbedError {
                kind: host::EmbedErrorKind::Timeout,
                message: format!(
                    "plugin {} (view {}): the transform call's deadline passed while embedding",
                    self.plugin, self.view
                ),
            };
            return vec![Err(e); n];
        };
        results
            .into_iter()
            .map(|r| {
                r.map_err(|e| host::EmbedError {
                    kind: wit_kind(e.kind),
                    message: e.message,
                })
            })
            .collect()
    }
}

impl wit::Host for PluginState {}

fn wit_kind(k: EmbedErrorKind) -> host::EmbedErrorKind {
    use host::EmbedErrorKind as W;
    match k {
        EmbedErrorKind::InvalidInput => W::InvalidInput,
        EmbedErrorKind::Unauthorized => W::Unauthorized,
        EmbedErrorKind::RateLimited => W::RateLimited,
        EmbedErrorKind::Timeout => W::Timeout,
        EmbedErrorKind::Unavailable => W::Unavailable,
        EmbedErrorKind::BadResponse => W::BadResponse,
        EmbedErrorKind::UnknownLlm => W::UnknownLlm,
    }
}
