//! JSON input values as they come, with no declared type, read by serde
//! straight from JSON text: a write's `df` ([`JsonInput`] cells), a file's
//! JSON line or a stream's record ([`JsonObject`]). Through a
//! `serde_json::Value` tree first, then values, the conversion cost a
//! one-row push's handler a fifth more and a published row's reading a
//! third (callgrind). [`Value::from_json`] converts a tree that is there
//! anyway (a dead letter's row, `as_of`, a record that did not read
//! straight, for its message); the tests hold the readers to one meaning.

use super::Value;
use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::Value as Json;
use std::fmt;

/// A [`Value`] read from JSON with no declared type: a whole number in
/// range becomes int64 and any other float64, an array a list of scalars
/// (typed when it meets a field); objects are refused.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonInput(pub Value);

impl From<JsonInput> for Value {
    fn from(v: JsonInput) -> Value {
        v.0
    }
}

impl<'de> serde::Deserialize<'de> for JsonInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Input { element: None }).map(JsonInput)
    }
}

/// A JSON object's members as input values, sorted by name and the last
/// of a name given twice kept, as `serde_json::Map` holds them: a file's
/// JSON line or a stream's record, read straight from its text.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonObject(pub Vec<(String, Value)>);

impl JsonObject {
    /// A JSON object's members from its text (a file's JSON line, a
    /// stream's record), read straight; text that does not read is parsed
    /// again as a tree, which says what is wrong with it ("not a JSON
    /// object", "invalid JSON: ...", "column `c`: ..."), or reads it after
    /// all when a bad value was given a name twice and the last one is
    /// good, as the tree keeps only that one. Only such text is read twice.
    pub fn parse(text: &[u8]) -> Result<JsonObject, String> {
        serde_json::from_slice(text).or_else(|_| JsonObject::from_tree(text))
    }

    fn from_tree(text: &[u8]) -> Result<JsonObject, String> {
        let tree = match serde_json::from_slice::<Json>(text) {
            Ok(Json::Object(o)) => o,
            Ok(_) => return Err("not a JSON object".into()),
            Err(e) => return Err(format!("invalid JSON: {e}")),
        };
        (tree.into_iter())
            .map(|(k, v)| match Value::from_json(&v) {
                Ok(v) => Ok((k, v)),
                Err(e) => Err(format!("column `{k}`: {e}")),
            })
            .collect::<Result<_, _>>()
            .map(JsonObject)
    }
}

impl<'de> serde::Deserialize<'de> for JsonObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(Members)
    }
}

struct Members;

impl<'de> Visitor<'de> for Members {
    type Value = JsonObject;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<JsonObject, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0).min(256));
        while let Some((name, JsonInput(v))) = map.next_entry::<String, JsonInput>()? {
            members.push((name, v));
        }
        // Newest first, so a stable sort keeps a repeated name's last
        // value ahead of the others, and `dedup` keeps it.
        members.reverse();
        members.sort_by(|a: &(String, Value), b| a.0.cmp(&b.0));
        members.dedup_by(|later, kept| later.0 == kept.0);
        Ok(JsonObject(members))
    }
}

/// Reads one input value; `element`: its place in the list it is in.
#[derive(Clone, Copy)]
struct Input {
    element: Option<usize>,
}

impl Input {
    /// A list or an object, where only a scalar may be.
    fn nested<E: de::Error>(self, what: &str) -> Result<Value, E> {
        Err(E::custom(match self.element {
            Some(i) => format!("list element {i}: lists hold numbers, strings or bools"),
            None => format!("{what} are not a supported value"),
        }))
    }
}

impl<'de> DeserializeSeed<'de> for Input {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Input {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number, string, bool, null or list")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int64(i))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(i64::try_from(u).map_or(Value::Float64(u as f64), Value::Int64))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Float64(f))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        if self.element.is_some() {
            return self.nested("lists");
        }
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(v) = seq.next_element_seed(Input {
            element: Some(items.len()),
        })? {
            items.push(v);
        }
        Ok(Value::List(items))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Value, A::Error> {
        self.nested("objects")
    }
}

impl Value {
    /// A JSON input value as it comes, with no declared type: numbers become
    /// int64 or float64, arrays lists of them (typed when they meet a field).
    /// As [`JsonInput`] reads JSON text.
    pub fn from_json(j: &Json) -> Result<Value, String> {
        Ok(match j {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => Value::Int64(i),
                None => Value::Float64(n.as_f64().ok_or("number out of range")?),
            },
            Json::String(s) => Value::String(s.clone()),
            Json::Array(a) => Value::List(
                (a.iter().enumerate())
                    .map(|(i, x)| match x {
                        Json::Array(_) | Json::Object(_) => Err(format!(
                            "list element {i}: lists hold numbers, strings or bools"
                        )),
                        x => Value::from_json(x),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Json::Object(_) => return Err("objects are not a supported value".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Value, String> {
        let straight = serde_json::from_str::<JsonInput>(text).map(|v| v.0);
        let tree: serde_json::Value = serde_json::from_str(text).unwrap();
        let from_tree = Value::from_json(&tree);
        // The text and its parsed tree read alike, errors included.
        let straight = straight.map_err(|e| e.to_string());
        match (&straight, &from_tree) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{text}"),
            (Err(a), Err(b)) => assert!(a.starts_with(b.as_str()), "{text}: {a} / {b}"),
            _ => panic!("{text}: {straight:?} / {from_tree:?}"),
        }
        from_tree
    }

    #[test]
    fn numbers_strings_and_lists_are_read_as_they_come() {
        assert_eq!(read("null"), Ok(Value::Null));
        assert_eq!(read("true"), Ok(Value::Bool(true)));
        assert_eq!(read("-3"), Ok(Value::Int64(-3)));
        assert_eq!(read("9223372036854775807"), Ok(Value::Int64(i64::MAX)));
        // Past int64: a float, as serde_json's own `as_i64` / `as_f64` had it.
        let big = read("9223372036854775808").unwrap();
        assert_eq!(big, Value::Float64(9223372036854775808.0));
        assert_eq!(read("2.5"), Ok(Value::Float64(2.5)));
        assert_eq!(read(r#""a\nb""#), Ok(Value::String("a\nb".into())));
        let list = read(r#"[1, 2.5, "x", null, false]"#).unwrap();
        let want = [
            Value::Int64(1),
            Value::Float64(2.5),
            Value::String("x".into()),
            Value::Null,
            Value::Bool(false),
        ];
        assert_eq!(list, Value::List(want.to_vec()));
        assert_eq!(read("[]"), Ok(Value::List(vec![])));
    }

    #[test]
    fn an_object_is_read_as_its_tree_is() {
        let texts = [
            r#"{"b": [1, 2.5], "a": "x", "c": null, "a": 7}"#,
            r#"{"id": 18446744073709551615, "n": null, "t": true}"#,
            "{}",
            r#"{"id": 1, "o": {"a": 1}}"#,
            r#"{"id": 1, "v": [[1]]}"#,
            "[1, 2]",
            r#"{"id": 1,"#,
            r#"{"z": -0, "f": -0.0, "e": 1e300}"#,
            r#"{"e": 1e400}"#,
        ];
        for text in texts {
            let straight = serde_json::from_str::<JsonObject>(text).ok();
            let tree = JsonObject::from_tree(text.as_bytes());
            assert_eq!(straight, tree.clone().ok(), "{text}");
            assert_eq!(JsonObject::parse(text.as_bytes()), tree, "{text}");
        }
        // The one text the straight read refuses and the tree reads: a bad
        // value whose name comes again, with a good one.
        let twice = br#"{"a": [[1]], "a": 1}"#;
        let read = JsonObject::parse(twice).unwrap();
        assert_eq!(read.0, [("a".to_string(), Value::Int64(1))]);
        let read = JsonObject::parse(texts[0].as_bytes()).unwrap();
        assert_eq!(read.0[0], ("a".to_string(), Value::Int64(7)), "the last a");
        let says = |t: &str| JsonObject::parse(t.as_bytes()).unwrap_err();
        assert_eq!(says("[1, 2]"), "not a JSON object");
        assert!(says(r#"{"id": 1,"#).starts_with("invalid JSON: "));
        let nested = "column `o`: objects are not a supported value";
        assert_eq!(says(texts[3]), nested);
    }

    #[test]
    fn objects_and_nested_lists_are_refused_naming_where() {
        let e = read(r#"{"a": 1}"#).unwrap_err();
        assert_eq!(e, "objects are not a supported value");
        let e = read("[1, [2]]").unwrap_err();
        assert_eq!(e, "list element 1: lists hold numbers, strings or bools");
        let e = read(r#"[{"a": 1}]"#).unwrap_err();
        assert_eq!(e, "list element 0: lists hold numbers, strings or bools");
    }
}
