//! A lookup's values as the answer's JSON text, written as they are read
//! from the store (`store::Cells`): numbers as serde_json writes them,
//! without its writer's calls per piece; bytes in base64, NaN and the
//! infinities by name and the rest as `Value`'s own serialization (what
//! `wafer get` prints too).

use crate::store::Cells;
use crate::value::Value;

/// A column's values, comma-separated: the inside of its JSON list.
#[derive(Debug, Clone, Default)]
pub(crate) struct JsonCells {
    /// Each value followed by a comma.
    text: Vec<u8>,
    rows: usize,
    /// Where the last row's value starts in `text`.
    last: usize,
    /// The rows whose value is null, in order: most columns have none, so
    /// a column's statuses cost a copy of its rows' (keeping each value's
    /// position and comparing its text was 6 % of a 100 × 50 request's
    /// instructions).
    nulls: Vec<usize>,
}

impl JsonCells {
    /// The values, ready to go between `[` and `]`.
    pub(super) fn text(&self) -> &[u8] {
        &self.text[..self.text.len().saturating_sub(1)]
    }

    /// A row's value, written by `write`. Inlined by force, as the
    /// float's writer is: left to the compiler, the calls were 6 % of a
    /// 100 × 50 request's instructions.
    #[inline(always)]
    fn row(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        self.last = self.text.len();
        write(&mut self.text);
        self.text.push(b',');
        self.rows += 1;
    }
}

impl Cells for JsonCells {
    fn with_capacity(rows: usize) -> Self {
        JsonCells {
            // A float's text is at most 24 bytes; most are 17 or 18.
            text: Vec::with_capacity(rows * 20),
            ..JsonCells::default()
        }
    }
    fn len(&self) -> usize {
        self.rows
    }
    fn push_null(&mut self) {
        self.nulls.push(self.rows);
        self.row(|text| text.extend_from_slice(b"null"))
    }
    #[inline]
    fn push_f64(&mut self, f: f64) {
        self.row(|text| write_f64(text, f))
    }
    #[inline]
    fn push_i64(&mut self, i: i64) {
        self.row(|text| write_i64(text, i))
    }
    fn push_value(&mut self, v: Value) {
        match v {
            Value::Null => self.push_null(),
            v => self.row(|text| write_value(text, &v)),
        }
    }
    fn pop(&mut self) {
        debug_assert!(
            self.text.len() > self.last || self.rows == 0,
            "popped twice"
        );
        if self.rows > 0 {
            self.text.truncate(self.last);
            self.rows -= 1;
            if self.nulls.last() == Some(&self.rows) {
                self.nulls.pop();
            }
        }
    }
    fn nulls(&self) -> impl Iterator<Item = usize> + '_ {
        self.nulls.iter().copied()
    }
}

/// `v` as the answer writes it.
pub(super) fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Int64(i) => write_i64(out, *i),
        Value::Float64(f) => write_f64(out, *f),
        v => serde_json::to_writer(out, v).expect("a value serializes to a Vec"),
    }
}

#[inline]
fn write_i64(out: &mut Vec<u8>, i: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes())
}

#[inline(always)]
fn write_f64(out: &mut Vec<u8>, f: f64) {
    match f.is_finite() {
        true => out.extend_from_slice(zmij::Buffer::new().format_finite(f).as_bytes()),
        // By name, as a string.
        false => serde_json::to_writer(out, &Value::Float64(f)).expect("a name serializes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_written_as_serde_json_writes_them() {
        let values = [0.1, 1e300, -2.5e-8, 3.0, f64::INFINITY, f64::NAN, -0.0]
            .map(Value::Float64)
            .into_iter()
            .chain([i64::MIN, 0, 42].map(Value::Int64))
            .chain([Value::Null, Value::Bytes(vec![1, 2]), Value::Bool(true)])
            .collect::<Vec<_>>();
        let mut cells = JsonCells::with_capacity(1);
        for v in &values {
            cells.push_value(v.clone());
        }
        let text = format!("[{}]", std::str::from_utf8(cells.text()).unwrap());
        assert_eq!(text, serde_json::to_string(&values).unwrap());
        assert_eq!(cells.nulls().collect::<Vec<_>>(), [10]);
    }

    /// Pushed by kind, popped and pushed again: the text is the values'.
    #[test]
    fn a_popped_value_leaves_no_trace() {
        let mut cells = JsonCells::default();
        cells.push_null();
        assert!(cells.nulls().eq([0]));
        cells.pop();
        assert!(cells.is_empty() && cells.text().is_empty());
        cells.push_i64(-7);
        cells.push_f64(2.5);
        cells.pop();
        cells.push_null();
        cells.push_null();
        cells.pop();
        cells.push_f64(f64::NEG_INFINITY);
        assert_eq!(cells.text(), br#"-7,null,"-Infinity""#);
        assert!(cells.nulls().eq([1]));
    }
}
