//! `value`: the typed cell shared by every layer (ingest, plugins, store,
//! serving), its conversion from input data (JSON, CSV text) into a declared
//! field type, and its JSON form in lookup answers.

use crate::config::FieldType;
use serde_json::Value as Json;

/// One typed cell. Mirrors the WIT `value` variant without depending on the
/// generated bindings, so the store and the server never touch wasmtime.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int64(i64),
    Float64(f64),
    String(String),
    Bytes(Vec<u8>),
    Vector(Vec<f32>),
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int64(_) => "int64",
            Value::Float64(_) => "float64",
            Value::String(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Vector(_) => "array<float>",
        }
    }

    /// A JSON input value as it comes, with no declared type: numbers become
    /// int64 or float64, arrays of numbers become vectors.
    pub fn from_json(j: &Json) -> Result<Value, String> {
        Ok(match j {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => Value::Int64(i),
                None => Value::Float64(n.as_f64().ok_or("number out of range")?),
            },
            Json::String(s) => Value::String(s.clone()),
            Json::Array(a) => Value::Vector(json_vector(a)?),
            Json::Object(_) => return Err("objects are not a supported value".into()),
        })
    }

    /// Convert to the declared type, or say why not. Lossless conversions only
    /// (an int to a float, numeric text to a number, `[..]` text to a vector).
    pub fn coerce(self, ty: FieldType) -> Result<Value, String> {
        use FieldType as T;
        let fail = |v: &Value| Err(format!("expected {}, got {}", ty.name(), v.type_name()));
        match (ty, self) {
            (_, Value::Null) => Ok(Value::Null),
            (T::Bool, v @ Value::Bool(_)) => Ok(v),
            (T::Bool, Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(Value::Bool(true)),
                "false" | "0" => Ok(Value::Bool(false)),
                _ => Err(format!("expected bool, got {s:?}")),
            },
            (T::Int64, v @ Value::Int64(_)) => Ok(v),
            (T::Int64, Value::String(s)) => {
                parse_text(&s, T::Int64, |t| t.parse().map(Value::Int64).ok())
            }
            (T::Float64, v @ Value::Float64(_)) => Ok(v),
            (T::Float64, Value::Int64(i)) => Ok(Value::Float64(i as f64)),
            (T::Float64, Value::String(s)) => {
                parse_text(&s, T::Float64, |t| t.parse().map(Value::Float64).ok())
            }
            (T::String, v @ Value::String(_)) => Ok(v),
            (T::Bytes, v @ Value::Bytes(_)) => Ok(v),
            (T::Bytes, Value::String(s)) => Ok(Value::Bytes(s.into_bytes())),
            (T::Vector, v @ Value::Vector(_)) => Ok(v),
            (T::Vector, Value::String(s)) => {
                let j: Json = serde_json::from_str(&s).map_err(|e| {
                    format!("expected array<float>, got text that is not a JSON array: {e}")
                })?;
                match j {
                    Json::Array(a) => json_vector(&a).map(Value::Vector),
                    _ => Err("expected array<float>".into()),
                }
            }
            (_, v) => fail(&v),
        }
    }
}

/// The value in a lookup answer. Serialized directly (not through
/// `serde_json::Value`) so vectors print as the shortest `f32` text
/// (`0.1`, not `0.10000000149011612`) and no intermediate tree is built.
/// Named cells (a row's fields or an input record) as one JSON object.
pub fn cells_to_json(cells: &[(String, Value)]) -> serde_json::Map<String, Json> {
    cells
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                serde_json::to_value(v).expect("values serialize"),
            )
        })
        .collect()
}

impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int64(i) => s.serialize_i64(*i),
            Value::Float64(f) => match non_finite(*f) {
                Some(name) => s.serialize_str(name),
                None => s.serialize_f64(*f),
            },
            Value::String(x) => s.serialize_str(x),
            Value::Bytes(b) => s.serialize_str(&base64_text(b)),
            Value::Vector(v) => {
                use serde::ser::SerializeSeq;
                let mut seq = s.serialize_seq(Some(v.len()))?;
                for x in v {
                    seq.serialize_element(&F32(*x))?;
                }
                seq.end()
            }
        }
    }
}

/// Bytes as Feast answers them: standard base64, padded.
pub fn base64_text(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// The bytes of base64 text (what [`base64_text`] made).
pub fn base64_bytes(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD.decode(text);
    decoded.map_err(|e| format!("expected base64 bytes: {e}"))
}

/// JSON has no NaN or infinities: Feast's server sends these names (and
/// its client reads them back), where serde_json would write `null`.
fn non_finite(f: f64) -> Option<&'static str> {
    if f.is_nan() {
        Some("NaN")
    } else if f.is_infinite() {
        Some(if f > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        None
    }
}

/// A vector element, printed as the shortest `f32` text.
struct F32(f32);

impl serde::Serialize for F32 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match non_finite(self.0.into()) {
            Some(name) => s.serialize_str(name),
            None => s.serialize_f32(self.0),
        }
    }
}

fn parse_text(s: &str, ty: FieldType, f: impl Fn(&str) -> Option<Value>) -> Result<Value, String> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(Value::Null);
    }
    f(t).ok_or_else(|| format!("expected {}, got {s:?}", ty.name()))
}

/// `"NaN"`, `"Infinity"`, `"-Infinity"`: the names JSON answers use.
fn named_float(name: &str) -> Option<f64> {
    match name {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

fn json_vector(a: &[Json]) -> Result<Vec<f32>, String> {
    a.iter()
        .enumerate()
        .map(|(i, x)| {
            let f = match x {
                Json::String(name) => named_float(name),
                x => x.as_f64(),
            };
            f.map(|f| f as f32)
                .ok_or_else(|| format!("vector element {i} is not a number: {x}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_numbers_and_arrays() {
        assert_eq!(Value::from_json(&json!(3)).unwrap(), Value::Int64(3));
        assert_eq!(Value::from_json(&json!(1.5)).unwrap(), Value::Float64(1.5));
        assert_eq!(
            Value::from_json(&json!([1, 2.5])).unwrap(),
            Value::Vector(vec![1.0, 2.5])
        );
        assert!(
            Value::from_json(&json!([1, "x"]))
                .unwrap_err()
                .contains("element 1")
        );
        assert!(Value::from_json(&json!({"a": 1})).is_err());
    }

    #[test]
    fn coercion_is_lossless_or_an_error() {
        assert_eq!(
            Value::String("42".into()).coerce(FieldType::Int64).unwrap(),
            Value::Int64(42)
        );
        assert_eq!(
            Value::Int64(2).coerce(FieldType::Float64).unwrap(),
            Value::Float64(2.0)
        );
        assert_eq!(
            Value::String("[1,2]".into())
                .coerce(FieldType::Vector)
                .unwrap(),
            Value::Vector(vec![1.0, 2.0])
        );
        assert_eq!(
            Value::String(" ".into()).coerce(FieldType::Int64).unwrap(),
            Value::Null
        );
        assert!(Value::Float64(1.5).coerce(FieldType::Int64).is_err());
        assert!(
            Value::String("abc".into())
                .coerce(FieldType::Int64)
                .unwrap_err()
                .contains("\"abc\"")
        );
        assert!(Value::Int64(1).coerce(FieldType::String).is_err());
    }

    #[test]
    fn answers_print_short_floats() {
        let v = Value::Vector(vec![0.1, -2.5]);
        assert_eq!(serde_json::to_string(&v).unwrap(), "[0.1,-2.5]");
        assert_eq!(
            serde_json::to_string(&Value::Bytes(vec![0, 171, 255])).unwrap(),
            "\"AKv/\""
        );
        assert_eq!(serde_json::to_string(&Value::Null).unwrap(), "null");
    }

    #[test]
    fn non_finite_floats_print_as_feast_names_and_read_back() {
        for (f, name) in [
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ] {
            let text = serde_json::to_string(&Value::Float64(f)).unwrap();
            assert_eq!(text, format!("\"{name}\""));
            let back = Value::String(name.into()).coerce(FieldType::Float64);
            let Ok(Value::Float64(b)) = back else {
                panic!("{name}: {back:?}")
            };
            assert!(b.is_nan() == f.is_nan() && (f.is_nan() || b == f), "{name}");
        }
        let v = Value::Vector(vec![1.5, f32::INFINITY]);
        let text = serde_json::to_string(&v).unwrap();
        assert_eq!(text, "[1.5,\"Infinity\"]");
        let back = Value::from_json(&serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(back, v);
    }
}
