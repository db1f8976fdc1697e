//! What a reader takes of stored rows: only the fields it asks for, found
//! by name in each row's bytes (layout: `codec.rs`). A lookup decodes them
//! into a column per field for all the keys it reads; an export cuts
//! logged rows down to them (`projector.rs`) to carry through its sorts.

use super::codec::{Reader, push_value_inline, skip_value};
use super::{Cells, EntityKey, Reach, Store, StoreError};
use crate::time::Micros;
use crate::value::Value;
use rustc_hash::FxHashMap;

/// What a lookup read of some keys: per key, its row's event time (none:
/// no row), and per wanted field a column of values, a key's at its
/// place: null where its row has none, is not fresh, or there is no row.
/// Decoded straight into the columns a lookup answers: a row-major buffer
/// of optional values, moved into columns after, was a tenth of a 100 × 50
/// lookup's instructions (filling, moving and dropping it).
#[derive(Debug, Default)]
pub struct WantedRows<C = Vec<Value>> {
    pub times: Vec<Option<Micros>>,
    pub columns: Vec<C>,
}

/// The fields a lookup wants, each at its place (the order they were
/// added). A few names are found by comparing bytes: cheaper than hashing
/// each of a row's names, which was a fifth of a 1 × 3 lookup. Past
/// [`FieldIndex::SCAN`] names, a hash map.
#[derive(Debug, Default)]
pub struct FieldIndex<'a> {
    names: Vec<&'a str>,
    hashed: FxHashMap<&'a [u8], usize>,
}

impl<'a> FieldIndex<'a> {
    const SCAN: usize = 8;

    /// `name`'s place: the one it has, or the next.
    pub fn insert(&mut self, name: &'a str) -> usize {
        if let Some(at) = self.place(name.as_bytes()) {
            return at;
        }
        self.names.push(name);
        if self.names.len() > Self::SCAN {
            if self.hashed.is_empty() {
                self.hashed = (self.names.iter().enumerate())
                    .map(|(i, n)| (n.as_bytes(), i))
                    .collect();
            }
            self.hashed.insert(name.as_bytes(), self.names.len() - 1);
        }
        self.names.len() - 1
    }

    pub fn place(&self, name: &[u8]) -> Option<usize> {
        if self.names.len() > Self::SCAN {
            return self.hashed.get(name).copied();
        }
        self.names.iter().position(|n| same(n.as_bytes(), name))
    }

    /// The names, in place order.
    pub fn names(&self) -> &[&'a str] {
        &self.names
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Byte equality in line: field names are a few bytes, and a call to
/// `memcmp` for each of a row's names cost more than comparing them
/// (callgrind: 19 instructions a name inside it, besides the call).
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

impl Store {
    /// For a lookup: per key, its row's event time and the `wanted` fields
    /// of the rows that are `fresh` (by their event time), in one batched
    /// read.
    pub fn get_wanted<C: Cells>(
        &self,
        view: &str,
        keys: &[EntityKey],
        (wanted, fresh): (&FieldIndex, impl Fn(Micros) -> bool),
        reach: Reach,
    ) -> Result<WantedRows<C>, StoreError> {
        let mut columns: Vec<C> = (0..wanted.len())
            .map(|_| C::with_capacity(keys.len()))
            .collect();
        let decode = |i, b: &[u8]| decode_wanted(b, (wanted, &fresh), i, &mut columns);
        let times = self.multi_get(view, keys, reach, decode)?;
        pad(&mut columns, keys.len());
        debug_assert!(columns.iter().all(|c| c.len() == keys.len()));
        Ok(WantedRows { times, columns })
    }
}

/// Nulls up to `rows` in every column: the rows before that had no value
/// for it, or were not found.
fn pad(columns: &mut [impl Cells], rows: usize) {
    for column in columns {
        for _ in column.len()..rows {
            column.push_null();
        }
    }
}

/// Decode only the fields of `b` that `wanted` names into `row` of their
/// columns (one per wanted field; rows are decoded in order, and the
/// rows before `row` that are missing are nulls first), skipping the
/// rest without allocating and stopping once all are found: a lookup of
/// 3 features of a 50-field row builds 3 values, not 50 names and values;
/// the rest of the row is not read, so not checked either (a publish or
/// `wafer get` reads it whole). Names are compared as bytes: the writer
/// checked them as UTF-8. A row that is not `fresh` has nothing decoded.
/// The row's event time.
pub(super) fn decode_wanted(
    b: &[u8],
    (wanted, fresh): (&FieldIndex, impl Fn(Micros) -> bool),
    row: usize,
    columns: &mut [impl Cells],
) -> Result<Micros, String> {
    pad(columns, row);
    each_wanted(b, (wanted, fresh), |at, r| {
        let column = &mut columns[at];
        let first = column.len() == row;
        if !first {
            // A field the row names twice (no writer does): the later value,
            // when read before every wanted field was found.
            column.pop();
        }
        push_value_inline(r, column)?;
        Ok(first)
    })
}

/// Calls `read` with the place of each field of `b` that `wanted` names
/// and a reader at its value, which `read` consumes, telling whether the
/// place was filled for the first time; skips the other fields, and all
/// of a row that is not `fresh`. The row's event time.
pub(super) fn each_wanted(
    b: &[u8],
    (wanted, fresh): (&FieldIndex, impl Fn(Micros) -> bool),
    mut read: impl FnMut(usize, &mut Reader) -> Result<bool, String>,
) -> Result<Micros, String> {
    let mut r = Reader::new(b);
    let (_, event_time, n) = r.header()?;
    if !fresh(event_time) {
        return Ok(event_time);
    }
    let (mut missing, mut next) = (wanted.len(), 0);
    for _ in 0..n {
        if missing == 0 {
            break;
        }
        let len = r.u8()? as usize;
        let name = r.take(len)?;
        // Rows keep the config's field order, and a lookup often asks in
        // it too: the field after the last one found is tried first.
        let guess = (wanted.names.get(next)).filter(|n| same(n.as_bytes(), name));
        match guess.map(|_| next).or_else(|| wanted.place(name)) {
            Some(at) => {
                missing -= usize::from(read(at, &mut r)?);
                next = at + 1;
            }
            None => skip_value(&mut r)?,
        }
    }
    Ok(event_time)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::store::StoredRow;

    /// `b`'s wanted fields as the one row of their columns.
    pub(in crate::store) fn decode_row(
        b: &[u8],
        wanted: &FieldIndex,
    ) -> Result<(Micros, Vec<Value>), String> {
        let mut columns: Vec<Vec<Value>> = vec![Vec::new(); wanted.len()];
        let time = decode_wanted(b, (wanted, |_| true), 0, &mut columns)?;
        pad(&mut columns, 1);
        let values = columns.into_iter().map(|mut c| c.pop().expect("a row"));
        Ok((time, values.collect()))
    }

    /// Rows decode into their places in the columns whatever came before:
    /// a key with no row, a row without a field, a field named twice.
    #[test]
    fn each_row_decodes_at_its_place_in_the_columns() {
        let row = |fields: &[(&str, i64)]| {
            let fields = fields
                .iter()
                .map(|(n, v)| (n.to_string(), Value::Int64(*v)));
            let row = StoredRow {
                event_time: Micros(1),
                fields: fields.collect(),
                inputs: vec![],
            };
            row.encode()
        };
        let mut wanted = FieldIndex::default();
        wanted.insert("a");
        wanted.insert("b");
        let mut columns: Vec<Vec<Value>> = vec![Vec::new(); 2];
        let rows = [
            (0, row(&[("a", 1), ("b", 2)])),
            (2, row(&[("b", 3)])),
            (3, row(&[("a", 4), ("a", 5), ("b", 6)])),
        ];
        for (i, b) in &rows {
            decode_wanted(b, (&wanted, |_| true), *i, &mut columns).unwrap();
        }
        pad(&mut columns, 5);
        let ints = |v: &[Option<i64>]| -> Vec<Value> {
            v.iter()
                .map(|v| v.map_or(Value::Null, Value::Int64))
                .collect()
        };
        assert_eq!(columns[0], ints(&[Some(1), None, None, Some(5), None]));
        assert_eq!(columns[1], ints(&[Some(2), None, Some(3), Some(6), None]));
    }

    /// A row that is not fresh has its time read, and nothing else.
    #[test]
    fn a_stale_row_decodes_no_values() {
        let row = StoredRow {
            event_time: Micros(5),
            fields: vec![("a".into(), Value::Int64(1))],
            inputs: vec![],
        };
        let mut wanted = FieldIndex::default();
        wanted.insert("a");
        let mut columns: Vec<Vec<Value>> = vec![Vec::new()];
        let fresh = |t: Micros| t > Micros(5);
        let time = decode_wanted(&row.encode(), (&wanted, fresh), 0, &mut columns);
        assert_eq!(time, Ok(Micros(5)));
        pad(&mut columns, 1);
        assert_eq!(columns[0], [Value::Null]);
    }

    #[test]
    fn a_lookup_decodes_only_the_fields_it_wants() {
        let row = StoredRow {
            event_time: Micros(7),
            fields: vec![
                ("s".into(), Value::String("skip me".into())),
                ("v".into(), Value::Vector(vec![1.0, 2.0])),
                (
                    "l".into(),
                    Value::List(vec![Value::Int64(1), Value::String("x".into())]),
                ),
                ("b".into(), Value::Bytes(vec![1, 2, 3])),
                ("i".into(), Value::Int64(-7)),
                ("n".into(), Value::Null),
            ],
            inputs: vec![("v".into(), [9; 16])],
        };
        let mut wanted = FieldIndex::default();
        for name in ["i", "missing", "l", "n", "i"] {
            wanted.insert(name);
        }
        assert_eq!(wanted.names(), ["i", "missing", "l", "n"]);
        let (time, values) = decode_row(&row.encode(), &wanted).unwrap();
        assert_eq!(time, Micros(7));
        let list = Value::List(vec![Value::Int64(1), Value::String("x".into())]);
        assert_eq!(values, [Value::Int64(-7), Value::Null, list, Value::Null]);
        let enc = row.encode();
        assert!(
            decode_row(&enc[..enc.len() - 30], &wanted).is_err(),
            "truncated"
        );
        // Asked in the row's order, all found: the rest is never read
        // (here, cut off), and each next field is the one guessed.
        let mut in_order = FieldIndex::default();
        for name in ["v", "l", "b"] {
            in_order.insert(name);
        }
        let (_, values) = decode_row(&enc[..enc.len() - 30], &in_order).unwrap();
        assert_eq!(values[2], Value::Bytes(vec![1, 2, 3]));
        // Past the scan limit names are hashed; the places stay the same.
        let mut many = FieldIndex::default();
        let names: Vec<String> = (0..12).map(|i| format!("x{i}")).collect();
        for name in &names {
            many.insert(name);
        }
        for name in ["n", "s", "x3"] {
            many.insert(name);
        }
        assert_eq!((many.place(b"x3"), many.place(b"s")), (Some(3), Some(13)));
        let (_, values) = decode_row(&row.encode(), &many).unwrap();
        assert_eq!(values[12], Value::Null);
        assert_eq!(values[13], Value::String("skip me".into()));
    }
}
