//! Rust SDK for wafer transformation plugins: the bindings generated from
//! `wit/transform.wit`, helpers for options and batches, and the
//! [`Transform`] trait, so a plugin is one impl and one `export!` line.

#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "transformer",
        pub_export_macro: true,
        default_bindings_module: "wafer_plugin_sdk::bindings",
        export_macro_name: "export_transformer",
    });
}

pub use bindings::Guest;
pub use bindings::wafer::transform::host::{EmbedError, EmbedErrorKind, LogLevel, embed, log};
pub use bindings::wafer::transform::types::{Batch, Output, RowError, RowErrorKind, Value};

/// A transformation plugin: built once per instance from its options, then
/// called once per batch. Implement this and name the type in [`export!`].
pub trait Transform: Sized + 'static {
    /// Validate the options and build the plugin; an error fails the view's
    /// set-up with this message.
    fn configure(options: Options) -> Result<Self, String>;

    /// Transform a batch: exactly one output row per input row.
    fn transform(&self, input: Batch) -> Result<Output, String>;
}

/// Export a [`Transform`] implementation as the plugin's component exports.
/// Use it once per plugin crate.
#[macro_export]
macro_rules! export {
    ($ty:ident) => {
        ::std::thread_local! {
            static __WAFER_INSTANCE: ::std::cell::RefCell<::std::option::Option<$ty>> =
                const { ::std::cell::RefCell::new(::std::option::Option::None) };
        }

        #[doc(hidden)]
        pub struct __WaferGuest;

        impl $crate::Guest for __WaferGuest {
            fn configure(options: ::std::vec::Vec<(::std::string::String, ::std::string::String)>) -> ::std::result::Result<(), ::std::string::String> {
                let plugin = <$ty as $crate::Transform>::configure($crate::Options::new(options))?;
                __WAFER_INSTANCE.with(|i| *i.borrow_mut() = ::std::option::Option::Some(plugin));
                ::std::result::Result::Ok(())
            }

            fn transform(input: $crate::Batch) -> ::std::result::Result<$crate::Output, ::std::string::String> {
                __WAFER_INSTANCE.with(|i| match i.borrow().as_ref() {
                    ::std::option::Option::Some(p) => $crate::Transform::transform(p, input),
                    ::std::option::Option::None => ::std::result::Result::Err("transform called before configure".into()),
                })
            }
        }

        $crate::bindings::export_transformer!(__WaferGuest with_types_in $crate::bindings);
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
