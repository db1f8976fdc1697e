//! What a view field configures its plugin instances with: input and output
//! columns, typed options, the `[[llm]]` and the dimensions. Contract 0.2
//! takes it as it is; contract 0.1 takes the same as string pairs
//! (`legacy`), exactly as wafer always wrote them.

/// A plugin instance's configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PluginConfig {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    /// The field's `options`, typed as the config file wrote them.
    pub options: Vec<(String, OptionValue)>,
    pub llm: Option<String>,
    pub dimensions: Option<usize>,
    /// The same as contract 0.1's string pairs: the options as text (arrays
    /// joined with commas), then `input`, `output`, `llm` and `dimensions`
    /// unless an option of that name came first. Also what a transformed
    /// value's digest hashes, so upgrading wafer recomputes nothing.
    pub legacy: Vec<(String, String)>,
}

/// An option's value.
#[derive(Debug, Clone, PartialEq)]
pub enum OptionValue {
    Bool(bool),
    Int64(i64),
    Float64(f64),
    Text(String),
    Ints(Vec<i64>),
    Floats(Vec<f64>),
    Texts(Vec<String>),
}

impl OptionValue {
    /// A TOML value as an option: arrays of integers, of numbers or of
    /// strings keep their items; anything else (dates, tables, other
    /// arrays) is TOML text.
    pub fn from_toml(v: &toml::Value) -> OptionValue {
        use toml::Value as T;
        match v {
            T::String(s) => OptionValue::Text(s.clone()),
            T::Integer(i) => OptionValue::Int64(*i),
            T::Float(f) => OptionValue::Float64(*f),
            T::Boolean(b) => OptionValue::Bool(*b),
            T::Array(items) if items.iter().all(|i| i.is_str()) => OptionValue::Texts(
                (items.iter().filter_map(|i| i.as_str().map(String::from))).collect(),
            ),
            T::Array(items) if !items.is_empty() && items.iter().all(|i| i.is_integer()) => {
                OptionValue::Ints(items.iter().filter_map(toml::Value::as_integer).collect())
            }
            T::Array(items) => match (items.iter())
                .map(|i| i.as_float().or(i.as_integer().map(|n| n as f64)))
                .collect::<Option<Vec<f64>>>()
            {
                Some(floats) => OptionValue::Floats(floats),
                None => OptionValue::Text(v.to_string()),
            },
            other => OptionValue::Text(other.to_string()),
        }
    }
}

/// The keys contract 0.1 passed among the options.
const STANDARD: [&str; 4] = ["input", "output", "llm", "dimensions"];

fn list(text: &str) -> Vec<String> {
    (text.split(','))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect()
}

impl PluginConfig {
    /// Options named like a standard key (`options = { dimensions = 4 }`)
    /// win over it, as they always did under contract 0.1 (`legacy` has
    /// them first): they move into the typed fields, so a 0.2 plugin sees
    /// what a 0.1 plugin would.
    pub fn with_standard_options(mut self) -> Self {
        let set = |k: &str| self.options.iter().any(|(n, _)| n == k);
        let text = |k: &str| (self.legacy.iter().find(|(n, _)| n == k)).map(|(_, v)| v.clone());
        if set("input") {
            self.inputs = list(&text("input").unwrap_or_default());
        }
        if set("output") {
            let output = list(&text("output").unwrap_or_default());
            self.outputs.splice(..1.min(self.outputs.len()), output);
        }
        if set("llm") {
            self.llm = text("llm");
        }
        if set("dimensions") {
            self.dimensions = text("dimensions").and_then(|d| d.trim().parse().ok());
        }
        self.options
            .retain(|(k, _)| !STANDARD.contains(&k.as_str()));
        self
    }

    /// From contract 0.1's string pairs: `input` (comma-separated),
    /// `output`, `llm` and `dimensions` are read out; every other pair is a
    /// text option.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> PluginConfig {
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        PluginConfig {
            inputs: list(get("input").unwrap_or("")),
            outputs: list(get("output").unwrap_or("")),
            options: (pairs.iter())
                .filter(|(k, _)| !STANDARD.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), OptionValue::Text(v.clone())))
                .collect(),
            llm: get("llm").map(String::from),
            dimensions: get("dimensions").and_then(|d| d.trim().parse().ok()),
            legacy: pairs,
        }
    }
}

impl From<Vec<(String, String)>> for PluginConfig {
    fn from(pairs: Vec<(String, String)>) -> Self {
        PluginConfig::from_pairs(pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_named_like_standard_keys_win_over_them() {
        let c = PluginConfig {
            inputs: vec!["a".into()],
            outputs: vec!["f".into(), "g".into()],
            options: vec![
                ("dimensions".into(), OptionValue::Int64(4)),
                ("k".into(), OptionValue::Bool(true)),
            ],
            dimensions: Some(8),
            legacy: [
                ("dimensions", "4"),
                ("k", "true"),
                ("input", "a"),
                ("dimensions", "8"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .to_vec(),
            ..Default::default()
        };
        let c = c.with_standard_options();
        assert_eq!(
            (c.dimensions, c.inputs.clone()),
            (Some(4), vec!["a".to_string()])
        );
        assert_eq!(c.options, vec![("k".to_string(), OptionValue::Bool(true))]);
        assert_eq!(c.outputs, vec!["f", "g"]);
    }

    #[test]
    fn toml_options_keep_their_types() {
        let t: toml::Table = toml::from_str(
            "b = [10, 2.5]\ni = [9007199254740993, -1]\ns = [\"a\", \"b\"]\nn = 3\nf = 1.0\nx = true\nd = 1979-05-27\nm = [1, \"a\"]",
        )
        .unwrap();
        let o = |k: &str| OptionValue::from_toml(&t[k]);
        assert_eq!(o("b"), OptionValue::Floats(vec![10.0, 2.5]));
        assert_eq!(o("i"), OptionValue::Ints(vec![9007199254740993, -1]));
        assert_eq!(o("s"), OptionValue::Texts(vec!["a".into(), "b".into()]));
        assert_eq!(
            (o("n"), o("f"), o("x")),
            (
                OptionValue::Int64(3),
                OptionValue::Float64(1.0),
                OptionValue::Bool(true)
            )
        );
        assert_eq!(o("d"), OptionValue::Text("1979-05-27".into()));
        assert_eq!(o("m"), OptionValue::Text("[1, \"a\"]".into()));
    }

    #[test]
    fn string_pairs_split_into_the_standard_keys_and_text_options() {
        let pairs = [
            ("input", "a, b"),
            ("output", "o"),
            ("dimensions", "4"),
            ("k", "v"),
        ];
        let c = PluginConfig::from_pairs(pairs.map(|(k, v)| (k.into(), v.into())).to_vec());
        assert_eq!(c.inputs, vec!["a", "b"]);
        assert_eq!(
            (c.outputs, c.dimensions, c.llm),
            (vec!["o".to_string()], Some(4), None)
        );
        assert_eq!(
            c.options,
            vec![("k".to_string(), OptionValue::Text("v".into()))]
        );
        assert_eq!(c.legacy.len(), 4);
    }
}
