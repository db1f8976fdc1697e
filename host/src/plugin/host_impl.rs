//! What a plugin instance sees of the host, under either contract: the
//! `host` imports (`log`, `embed`) and the conversions of a cell, whose WIT
//! shapes are the same in 0.1 and 0.2, so one macro each serves both.

use super::PluginState;
use crate::embed::EmbedError;
use crate::value::Value;

impl PluginState {
    /// A plugin's log line, tagged with the plugin and view.
    pub(super) fn log_line(&self, level: tracing::Level, message: &str) {
        let (plugin, view) = (&self.plugin, &self.view);
        match level {
            tracing::Level::TRACE => tracing::trace!(plugin, view, "{message}"),
            tracing::Level::DEBUG => tracing::debug!(plugin, view, "{message}"),
            tracing::Level::INFO => tracing::info!(plugin, view, "{message}"),
            tracing::Level::WARN => tracing::warn!(plugin, view, "{message}"),
            tracing::Level::ERROR => tracing::error!(plugin, view, "{message}"),
        }
    }

    /// Embed `texts`, one result per text, giving up a little before the
    /// call's deadline (so the plugin can still answer with per-row errors
    /// instead of trapping).
    pub(super) fn embed_texts(
        &mut self,
        llm: &str,
        texts: Vec<String>,
    ) -> Vec<Result<Vec<f32>, EmbedError>> {
        use crate::embed::EmbedErrorKind;
        let n = texts.len();
        let failed = |kind, message: String| vec![Err(EmbedError { kind, message }); n];
        let Some(rt) = &self.runtime else {
            let message = "no async runtime on this thread".into();
            return failed(EmbedErrorKind::Unavailable, message);
        };
        let margin = super::EPOCH_TICK * 5;
        let left = self
            .deadline
            .saturating_duration_since(std::time::Instant::now())
            .saturating_sub(margin);
        // Plugin calls run on blocking threads, so blocking on the runtime here is allowed.
        let call = tokio::time::timeout(left, self.embed.embed(llm, texts));
        rt.block_on(call).unwrap_or_else(|_| {
            let message = format!(
                "plugin {} (view {}): the transform call's deadline passed while embedding",
                self.plugin, self.view
            );
            failed(EmbedErrorKind::Timeout, message)
        })
    }
}

/// A list that is not all numbers, as a plugin sees it: JSON text (neither
/// contract has a list type).
pub(super) fn list_text(items: Vec<Value>) -> String {
    serde_json::to_string(&Value::List(items)).expect("lists serialize")
}

/// `impl Host for PluginState` for one contract's `host` interface module,
/// and `add_to_linker` for the contract's world (`Transformer` in scope).
macro_rules! host_interface {
    ($host:ident) => {
        pub(super) fn add_to_linker(
            linker: &mut wasmtime::component::Linker<PluginState>,
        ) -> wasmtime::Result<()> {
            Transformer::add_to_linker::<_, wasmtime::component::HasSelf<_>>(linker, |s| s)
        }

        impl $host::Host for PluginState {
            fn log(&mut self, level: $host::LogLevel, message: String) {
                use tracing::Level;
                let level = match level {
                    $host::LogLevel::Trace => Level::TRACE,
                    $host::LogLevel::Debug => Level::DEBUG,
                    $host::LogLevel::Info => Level::INFO,
                    $host::LogLevel::Warn => Level::WARN,
                    $host::LogLevel::Error => Level::ERROR,
                };
                self.log_line(level, &message);
            }

            fn embed(
                &mut self,
                llm: String,
                texts: Vec<String>,
            ) -> Vec<Result<Vec<f32>, $host::EmbedError>> {
                use crate::embed::EmbedErrorKind as K;
                use $host::EmbedErrorKind as W;
                let kind = |k| match k {
                    K::InvalidInput => W::InvalidInput,
                    K::Unauthorized => W::Unauthorized,
                    K::RateLimited => W::RateLimited,
                    K::Timeout => W::Timeout,
                    K::Unavailable => W::Unavailable,
                    K::BadResponse => W::BadResponse,
                    K::UnknownLlm => W::UnknownLlm,
                };
                (self.embed_texts(&llm, texts).into_iter())
                    .map(|r| {
                        r.map_err(|e| $host::EmbedError {
                            kind: kind(e.kind),
                            message: e.message,
                        })
                    })
                    .collect()
            }
        }
    };
}
pub(super) use host_interface;

/// `to_wit` and `from_wit` between wafer's values and one contract's
/// `types::value`, which both contracts shape alike.
macro_rules! value_conversions {
    ($wit:ident) => {
        fn to_wit(v: Value) -> $wit::Value {
            match v {
                Value::Null => $wit::Value::Null,
                Value::Bool(b) => $wit::Value::Boolean(b),
                Value::Int64(i) => $wit::Value::Int64(i),
                Value::Float64(f) => $wit::Value::Float64(f),
                Value::String(s) => $wit::Value::Text(s),
                Value::Bytes(b) => $wit::Value::Bytes(b),
                Value::Vector(v) => $wit::Value::Vector(v),
                // Neither contract has a list type: a list of numbers reaches
                // a plugin as a vector, as JSON arrays always did, and any
                // other as JSON text.
                Value::List(items) => match Value::numbers(&items) {
                    Some(v) => $wit::Value::Vector(v),
                    None => $wit::Value::Text(super::host_impl::list_text(items)),
                },
            }
        }

        fn from_wit(v: $wit::Value) -> Value {
            match v {
                $wit::Value::Null => Value::Null,
                $wit::Value::Boolean(b) => Value::Bool(b),
                $wit::Value::Int64(i) => Value::Int64(i),
                $wit::Value::Float64(f) => Value::Float64(f),
                $wit::Value::Text(s) => Value::String(s),
                $wit::Value::Bytes(b) => Value::Bytes(b),
                $wit::Value::Vector(v) => Value::Vector(v),
            }
        }
    };
}
pub(super) use value_conversions;
