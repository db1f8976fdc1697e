//! Reading a plugin's [`Config`]: its input and output columns, and options
//! as the config file typed them, or as text where a plugin wants text.

use crate::{Config, OptionValue};

impl Config {
    /// The option `key`, if set.
    pub fn get(&self, key: &str) -> Option<&OptionValue> {
        self.options.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The first input column, or an error when the field names none.
    pub fn input(&self) -> Result<&str, String> {
        self.inputs
            .first()
            .map(String::as_str)
            .ok_or_else(|| "no input column (`input`)".to_string())
    }

    /// The first field to fill.
    pub fn output(&self) -> Result<&str, String> {
        self.outputs
            .first()
            .map(String::as_str)
            .ok_or_else(|| "no output field".to_string())
    }

    /// The option `key` as text (a number or flag as it would be written),
    /// `None` when unset.
    pub fn text(&self, key: &str) -> Option<String> {
        self.get(key).map(OptionValue::to_text)
    }

    /// The option `key` as text, or an error naming it.
    pub fn require(&self, key: &str) -> Result<String, String> {
        self.text(key)
            .ok_or_else(|| format!("missing option `{key}`"))
    }

    /// `key` parsed as `T` from its text, `None` when unset, an error naming
    /// the key when it does not parse.
    pub fn parse<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, String>
    where
        T::Err: std::fmt::Display,
    {
        self.text(key)
            .map(|v| (v.trim().parse::<T>()).map_err(|e| format!("option `{key}` = {v:?}: {e}")))
            .transpose()
    }

    /// `key` as numbers: an array, one number, or comma-separated text.
    pub fn floats(&self, key: &str) -> Result<Option<Vec<f64>>, String> {
        let parse = |s: &str| {
            (s.trim().parse::<f64>()).map_err(|e| format!("option `{key}`: {:?}: {e}", s.trim()))
        };
        Ok(Some(match self.get(key) {
            None => return Ok(None),
            Some(OptionValue::Floats(f)) => f.clone(),
            Some(OptionValue::Int64(i)) => vec![*i as f64],
            Some(OptionValue::Float64(f)) => vec![*f],
            Some(OptionValue::Text(t)) => t.split(',').map(parse).collect::<Result<_, _>>()?,
            Some(OptionValue::Texts(t)) => t.iter().map(|s| parse(s)).collect::<Result<_, _>>()?,
            Some(OptionValue::Boolean(_)) => {
                return Err(format!("option `{key}`: expected numbers"));
            }
        }))
    }
}

impl OptionValue {
    /// The value as text, as contract 0.1 passed it: arrays joined with commas.
    pub fn to_text(&self) -> String {
        let join = |items: Vec<String>| items.join(",");
        match self {
            OptionValue::Boolean(b) => b.to_string(),
            OptionValue::Int64(i) => i.to_string(),
            OptionValue::Float64(f) => f.to_string(),
            OptionValue::Text(t) => t.clone(),
            OptionValue::Floats(f) => join(f.iter().map(f64::to_string).collect()),
            OptionValue::Texts(t) => join(t.clone()),
        }
    }
}
