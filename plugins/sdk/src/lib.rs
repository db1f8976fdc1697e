//! Rust SDK for wafer transformation plugins: the bindings generated from
//! `wit/transform.wit` plus small helpers for options and batches, so a plugin
//! is a `Guest` impl and one `export!` line.

#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "transformer",
        pub_export_macro: true,
        default_bindings_module: "wafer_plugin_sdk::bindings",
        export_macro_name: "export_transformer",
    });
}

pub use bindings::Guest;
pub use bindings::wafer::transform::host::{EmbedError, EmbedErrorKind, LogLevel, embed, log};
pub use bindings::wafer::transform::types::{Batch, Output, RowError, RowErrorKind, Value};

/// Export a `Guest` implementation as the plugin's component exports.
#[macro_export]
macro_rules! export {
    ($ty:ident) => {
        $crate::bindings::export_transformer!($ty with_types_in $crate::bindings);
    };
}

/// The options a plugin instance was configured with.
#[derive(Debug, Clone, Default)]
pub struct Options(Vec<(String, String)>);

impl Options {
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `key`, or an error naming it.
    pub fn require(&self, key: &str) -> Result<&str, String> {
        self.get(key)
            .ok_or_else(|| format!("missing option `{key}`"))
    }

    /// `key` parsed as `T`, `None` when unset, an error naming the key when it does not parse.
    pub fn parse<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, String>
    where
        T::Err: std::fmt::Display,
    {
        self.get(key)
            .map(|v| {
                v.trim()
                    .parse::<T>()
                    .map_err(|e| format!("option `{key}` = {v:?}: {e}"))
            })
            .transpose()
    }
}

impl Batch {
    /// Index of the column `name`, or an error naming it and the columns present.
    pub fn column(&self, name: &str) -> Result<usize, String> {
        self.columns.iter().position(|c| c == name).ok_or_else(|| {
            format!(
                "input column `{name}` not in batch (columns: {})",
                self.columns.join(", ")
            )
        })
    }
}

impl RowError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            kind: RowErrorKind::InvalidInput,
            message: message.into(),
        }
    }
}

impl Value {
    /// A short name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Boolean(_) => "bool",
            Value::Int64(_) => "int64",
            Value::Float64(_) => "float64",
            Value::Text(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Vector(_) => "vector",
        }
    }
}

/// Build a one-column output from per-row results.
pub fn single_column(name: &str, rows: Vec<Result<Value, RowError>>) -> Output {
    Output {
        columns: vec![name.to_string()],
        rows: rows.into_iter().map(|r| r.map(|v| vec![v])).collect(),
    }
}
