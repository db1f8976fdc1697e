//! `value`: the typed cell shared by every layer (ingest, plugins, store,
//! serving), its conversion from input data (JSON, CSV text) into a declared
//! field type, and its JSON form in lookup answers.

mod input;

pub use input::{JsonInput, JsonObject};

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
    /// A list of scalars: an `array<int64>`, `array<float64>` or
    /// `array<string>` value, or a JSON array as it comes, before it meets
    /// a declared type.
    List(Vec<Value>),
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
            Value::List(_) => "list",
        }
    }

    /// The numbers of a list (named non-finite floats included), when it
    /// is one: a vector for a plugin of contract 0.1, or a vector field.
    pub fn numbers(items: &[Value]) -> Option<Vec<f32>> {
        items.iter().map(Value::number).collect()
    }

    /// A number, or a named non-finite float, as an f32.
    fn number(&self) -> Option<f32> {
        match self {
            Value::Int64(i) => Some(*i as f32),
            Value::Float64(f) => Some(*f as f32),
            Value::String(name) => named_float(name).map(|f| f as f32),
            _ => None,
        }
    }

    /// Convert to the declared type, or say why not. Lossless conversions only
    /// (an int to a float, numeric text to a number, `[..]` text to a list),
    /// and narrow types checked for range.
    pub fn coerce(self, ty: FieldType) -> Result<Value, String> {
        use FieldType as T;
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
            (T::Int32, v) => int32(v.coerce(T::Int64)?),
            (T::Float64, v @ Value::Float64(_)) => Ok(v),
            (T::Float64, Value::Int64(i)) => Ok(Value::Float64(i as f64)),
            (T::Float64, Value::String(s)) => {
                parse_text(&s, T::Float64, |t| t.parse().map(Value::Float64).ok())
            }
            (T::Float32, v) => float32(v.coerce(T::Float64)?),
            (T::Timestamp, v) => epoch_seconds(v),
            (T::String, v @ Value::String(_)) => Ok(v),
            (T::Bytes, v @ Value::Bytes(_)) => Ok(v),
            (T::Bytes, Value::String(s)) => Ok(Value::Bytes(s.into_bytes())),
            (T::Vector | T::Int64List | T::Float64List | T::StringList, v) => list(ty, v),
            (_, v) => Err(format!("expected {}, got {}", ty.name(), v.type_name())),
        }
    }
}

fn int32(v: Value) -> Result<Value, String> {
    match v {
        Value::Int64(i) if i32::try_from(i).is_err() => Err(format!("{i} is out of int32 range")),
        v => Ok(v),
    }
}

/// A float32 is kept as the exact float64 of its float32 value: what Feast
/// answers (`0.8999999761581421` for 0.9).
fn float32(v: Value) -> Result<Value, String> {
    match v {
        Value::Float64(f) if f.is_finite() && f.abs() > f32::MAX as f64 => {
            Err(format!("{f:e} is out of float32 range"))
        }
        Value::Float64(f) => Ok(Value::Float64(f as f32 as f64)),
        v => Ok(v),
    }
}

/// A time (RFC 3339, a date, or epoch seconds) as epoch seconds, the
/// way Feast keeps a `UnixTimestamp`.
fn epoch_seconds(v: Value) -> Result<Value, String> {
    match v {
        Value::String(s) if s.trim().is_empty() => Ok(Value::Null),
        v => {
            let t = crate::time::Micros::parse(&v)
                .map_err(|e| format!("expected unix_timestamp: {e}"))?;
            Ok(Value::Int64(t.0.div_euclid(1_000_000)))
        }
    }
}

/// A vector or a typed list from a list, a vector, or the JSON text of one.
fn list(ty: FieldType, v: Value) -> Result<Value, String> {
    let items = match v {
        Value::List(items) => items,
        Value::Vector(v) if ty == FieldType::Vector => return Ok(Value::Vector(v)),
        Value::Vector(v) => v.into_iter().map(|x| Value::Float64(x.into())).collect(),
        Value::String(s) => {
            let j: Json = serde_json::from_str(&s).map_err(|e| {
                format!(
                    "expected {}, got text that is not a JSON array: {e}",
                    ty.name()
                )
            })?;
            match Value::from_json(&j)? {
                Value::List(items) => items,
                _ => return Err(format!("expected {}, got {s:?}", ty.name())),
            }
        }
        other => return Err(format!("expected {}, got {}", ty.name(), other.type_name())),
    };
    let Some(element) = ty.element() else {
        return (Value::numbers(&items).map(Value::Vector)).ok_or_else(|| {
            let i = items.iter().position(|x| x.number().is_none());
            format!("vector element {} is not a number", i.unwrap_or(0))
        });
    };
    (items.into_iter().enumerate())
        .map(|(i, x)| match x.coerce(element) {
            Ok(Value::Null) => Err(format!("list element {i} is null")),
            Ok(x) => Ok(x),
            Err(e) => Err(format!("list element {i}: {e}")),
        })
        .collect::<Result<_, _>>()
        .map(Value::List)
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
            Value::List(items) => {
                use serde::ser::SerializeSeq;
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for x in items {
                    seq.serialize_element(x)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_numbers_and_arrays() {
        assert_eq!(Value::from_json(&json!(3)).unwrap(), Value::Int64(3));
        assert_eq!(Value::from_json(&json!(1.5)).unwrap(), Value::Float64(1.5));
        let list = Value::from_json(&json!([1, 2.5])).unwrap();
        assert_eq!(
            list,
            Value::List(vec![Value::Int64(1), Value::Float64(2.5)])
        );
        assert_eq!(
            list.coerce(FieldType::Vector),
            Ok(Value::Vector(vec![1.0, 2.5]))
        );
        let mixed = Value::from_json(&json!([1, "x"])).unwrap();
        assert!(
            mixed
                .coerce(FieldType::Vector)
                .unwrap_err()
                .contains("element 1")
        );
        assert!(
            Value::from_json(&json!([[1]]))
                .unwrap_err()
                .contains("element 0")
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
    fn feast_types_check_their_range_and_keep_their_exact_value() {
        use FieldType as T;
        let c = |v: Value, t: T| v.coerce(t);
        assert_eq!(c(Value::Int64(-7), T::Int32), Ok(Value::Int64(-7)));
        assert!(
            c(Value::Int64(1 << 31), T::Int32)
                .unwrap_err()
                .contains("int32 range")
        );
        assert!(c(Value::String("2147483648".into()), T::Int32).is_err());
        assert_eq!(
            c(Value::Float64(0.9), T::Float32),
            Ok(Value::Float64(0.8999999761581421))
        );
        assert!(
            c(Value::Float64(1e39), T::Float32)
                .unwrap_err()
                .contains("float32 range")
        );
        let inf = c(Value::String("-inf".into()), T::Float32).unwrap();
        assert_eq!(inf, Value::Float64(f64::NEG_INFINITY));
        let t = Value::String("2026-12-01T00:00:01.9Z".into());
        assert_eq!(c(t, T::Timestamp), Ok(Value::Int64(1_796_083_201)));
        assert_eq!(
            c(Value::Int64(1_796_083_201), T::Timestamp),
            Ok(Value::Int64(1_796_083_201))
        );
        assert!(c(Value::Bool(true), T::Timestamp).is_err());
        let ints = Value::from_json(&json!([9007199254740993_i64, -1])).unwrap();
        assert_eq!(
            c(ints, T::Int64List),
            Ok(Value::List(vec![
                Value::Int64(9007199254740993),
                Value::Int64(-1)
            ])),
            "int64 lists are exact, unlike a float vector"
        );
        let text = Value::String("[0.1, 2, \"NaN\"]".into());
        let Ok(Value::List(f)) = c(text, T::Float64List) else {
            panic!()
        };
        assert_eq!(
            (f[0].clone(), f[1].clone()),
            (Value::Float64(0.1), Value::Float64(2.0))
        );
        assert!(matches!(f[2], Value::Float64(x) if x.is_nan()));
        let words = Value::from_json(&json!(["a", "b"])).unwrap();
        assert_eq!(c(words.clone(), T::StringList), Ok(words));
        let holes = Value::from_json(&json!(["a", null])).unwrap();
        assert!(
            c(holes, T::StringList)
                .unwrap_err()
                .contains("list element 1 is null")
        );
        let wrong = Value::from_json(&json!(["a", 1])).unwrap();
        assert!(
            c(wrong, T::StringList)
                .unwrap_err()
                .contains("list element 1: expected string")
        );
        let answer = Value::List(vec![Value::Float64(f64::INFINITY), Value::Float64(0.5)]);
        assert_eq!(
            serde_json::to_string(&answer).unwrap(),
            "[\"Infinity\",0.5]"
        );
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
        assert_eq!(back.coerce(FieldType::Vector), Ok(v));
    }
}
