//! Rust SDK for wafer transformation plugins (contract 0.2, columnar): the
//! bindings generated from `wit/transform.wit`, borrowing accessors over
//! input columns ([`Column::cells`]), builders for output columns
//! ([`ColumnBuilder`]), option helpers on [`Config`], and the [`Transform`]
//! trait, so a plugin is one impl and one `export!` line.

#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "transformer",
        pub_export_macro: true,
        default_bindings_module: "wafer_plugin_sdk::bindings",
        export_macro_name: "export_transformer",
        additional_derives: [PartialEq],
    });
}

mod cells;
mod config;

pub use bindings::Guest;
pub use bindings::wafer::transform::host::{EmbedError, EmbedErrorKind, LogLevel, embed, log};
pub use bindings::wafer::transform::types::{
    Batch, BatchError, Column, ColumnData, Config, ErrorKind, OptionValue, Output, RowError, Value,
    Vectors,
};
pub use cells::{Cell, Cells, ColumnBuilder, VectorBuilder};

/// A transformation plugin: built once per instance from its configuration,
/// then called once per batch. Implement this and name the type in [`export!`].
pub trait Transform: Sized + 'static {
    /// Validate the configuration and build the plugin; an error fails the
    /// view's set-up with this message.
    fn configure(config: Config) -> Result<Self, String>;

    /// Transform a batch: each output column has one cell per input row;
    /// rows that fail are listed in the output's `errors`.
    fn transform(&self, input: Batch) -> Result<Output, BatchError>;
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
            fn configure(config: $crate::Config) -> ::std::result::Result<(), ::std::string::String> {
                let plugin = <$ty as $crate::Transform>::configure(config)?;
                __WAFER_INSTANCE.with(|i| *i.borrow_mut() = ::std::option::Option::Some(plugin));
                ::std::result::Result::Ok(())
            }

            fn transform(input: $crate::Batch) -> ::std::result::Result<$crate::Output, $crate::BatchError> {
                __WAFER_INSTANCE.with(|i| match i.borrow().as_ref() {
                    ::std::option::Option::Some(p) => $crate::Transform::transform(p, input),
                    ::std::option::Option::None => ::std::result::Result::Err(
                        $crate::BatchError::other("transform called before configure"),
                    ),
                })
            }
        }

        $crate::bindings::export_transformer!(__WaferGuest with_types_in $crate::bindings);
    };
}

impl Batch {
    /// The column `name`, or an invalid-input error naming it and the columns present.
    pub fn column(&self, name: &str) -> Result<&Column, BatchError> {
        let at = self.position(name)?;
        Ok(&self.columns[at])
    }

    /// The column `name`, moved out of the batch (to hand it on as it is).
    pub fn take(&mut self, name: &str) -> Result<Column, BatchError> {
        let at = self.position(name)?;
        Ok(self.columns.swap_remove(at))
    }

    fn position(&self, name: &str) -> Result<usize, BatchError> {
        self.columns
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
                BatchError::invalid(format!(
                    "input column `{name}` not in batch (columns: {})",
                    names.join(", ")
                ))
            })
    }

    /// How many rows it has.
    pub fn len(&self) -> usize {
        self.rows as usize
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }
}

impl Output {
    /// One column and the rows that failed.
    pub fn single(column: Column, errors: Vec<RowError>) -> Output {
        Output {
            columns: vec![column],
            errors,
        }
    }
}

impl RowError {
    /// Row `row`'s input is unusable.
    pub fn invalid(row: usize, message: impl Into<String>) -> Self {
        Self::new(row, ErrorKind::InvalidInput, message)
    }

    pub fn new(row: usize, kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            row: row as u32,
            kind,
            message: message.into(),
        }
    }
}

impl BatchError {
    /// The batch's input is unusable (a missing column, say).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::InvalidInput,
            message: message.into(),
        }
    }

    pub fn other(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Other,
            message: message.into(),
        }
    }
}

/// `?` on a `Result<_, String>` inside `transform` fails the batch as `other`.
impl From<String> for BatchError {
    fn from(message: String) -> Self {
        BatchError::other(message)
    }
}

impl Value {
    /// A short name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        Cell::from(self).type_name()
    }
}
