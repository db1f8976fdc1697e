//! Component glue: the `transformer` world over the checks in `lib.rs`.

use std::cell::RefCell;
use wafer_plugin_sdk::{Batch, Guest, Options, Output, RowError, Value};

struct Config {
    input: String,
    output: String,
    dimensions: Option<usize>,
}

thread_local! {
    static CONFIG: RefCell<Option<Config>> = const { RefCell::new(None) };
}

struct Passthrough;

impl Guest for Passthrough {
    fn configure(options: Vec<(String, String)>) -> Result<(), String> {
        let o = Options::new(options);
        let config = Config {
            input: o.require("input")?.to_string(),
            output: o.require("output")?.to_string(),
            dimensions: o.parse("dimensions")?,
        };
        CONFIG.with(|c| *c.borrow_mut() = Some(config));
        Ok(())
    }

    fn transform(input: Batch) -> Result<Output, String> {
        CONFIG.with(|c| {
            let c = c.borrow();
            let config = c.as_ref().ok_or("transform called before configure")?;
            let col = input.column(&config.input)?;
            let rows = input
                .rows
                .into_iter()
                .map(|row| one(config, row.into_iter().nth(col)))
                .collect();
            Ok(wafer_plugin_sdk::single_column(&config.output, rows))
        })
    }
}

fn one(config: &Config, cell: Option<Value>) -> Result<Value, RowError> {
    let v = match cell {
        None | Some(Value::Null) => return Ok(Value::Null),
        Some(Value::Vector(v)) => v,
        Some(Value::Text(t)) => crate::parse_vector(&t).map_err(RowError::invalid)?,
        Some(other) => {
            return Err(RowError::invalid(format!(
                "`{}` must be a vector, got {}",
                config.input,
                other.type_name()
            )));
        }
    };
    crate::check_vector(&v, config.dimensions).map_err(RowError::invalid)?;
    Ok(Value::Vector(v))
}

wafer_plugin_sdk::export!(Passthrough);
