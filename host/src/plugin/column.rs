//! The columnar batches the host hands to plugins and takes back, whichever
//! contract a plugin speaks: typed columns with a validity mask, built from
//! a batch's values once (a column whose non-null cells share one type is
//! typed; any other is `Mixed`), and read back as values per row.

use super::RowError;
use crate::value::Value;

/// A batch handed to a plugin: `rows` rows, each column one cell per row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    pub rows: usize,
    pub columns: Vec<Column>,
}

/// A named column. `valid[i]` is false where row `i` is null; `None` when
/// no row is.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub data: ColumnData,
    pub valid: Option<Vec<bool>>,
}

/// A column's cells, all of one type, or `Mixed` when they are not.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    Bool(Vec<bool>),
    Int64(Vec<i64>),
    Float64(Vec<f64>),
    Text(Vec<String>),
    Bytes(Vec<Vec<u8>>),
    /// `dims` floats per row, row after row.
    Vector {
        dims: usize,
        values: Vec<f32>,
    },
    Mixed(Vec<Value>),
}

/// A plugin's answer: its columns, one cell per input row, and the rows that
/// failed, by index, in no particular order.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub columns: Vec<Column>,
    pub errors: Vec<(usize, RowError)>,
}

impl Batch {
    /// A batch from row-major cells: `rows[i][j]` is column `columns[j]` of row `i`.
    pub fn from_rows(columns: &[&str], rows: Vec<Vec<Value>>) -> Batch {
        let n = rows.len();
        let mut cells: Vec<Vec<Value>> = columns.iter().map(|_| Vec::with_capacity(n)).collect();
        for row in rows {
            let mut row = row.into_iter();
            for col in &mut cells {
                col.push(row.next().unwrap_or(Value::Null));
            }
        }
        Batch {
            rows: n,
            columns: (columns.iter().zip(cells))
                .map(|(name, cells)| Column::from_values(name, cells))
                .collect(),
        }
    }

    /// Row `i`'s cells, in column order.
    pub fn row(&self, i: usize) -> Vec<Value> {
        self.columns.iter().map(|c| c.value(i)).collect()
    }
}

/// What a column's non-null cells have in common, found in one pass.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Nothing,
    Bool,
    Int64,
    Float64,
    Text,
    Bytes,
    Vector(usize),
    Mixed,
}

fn kind_of(v: &Value) -> Kind {
    match v {
        Value::Null => Kind::Nothing,
        Value::Bool(_) => Kind::Bool,
        Value::Int64(_) => Kind::Int64,
        Value::Float64(_) => Kind::Float64,
        Value::String(_) => Kind::Text,
        Value::Bytes(_) => Kind::Bytes,
        Value::Vector(v) => Kind::Vector(v.len()),
        // A list of numbers is a vector, as under contract 0.1.
        Value::List(items)
            if items
                .iter()
                .all(|i| matches!(i, Value::Int64(_) | Value::Float64(_))) =>
        {
            Kind::Vector(items.len())
        }
        Value::List(_) => Kind::Mixed,
    }
}

impl Column {
    /// Type `cells` once: a column whose non-null cells share one type (and
    /// vectors one length) travels typed; any other, and one that is all
    /// null, travels `Mixed`.
    pub fn from_values(name: &str, cells: Vec<Value>) -> Column {
        Column::from_cells(name, cells.iter())
    }

    /// The same, borrowing the cells (a slice's, or references to the
    /// records' own): only text, bytes and mixed cells are copied. The first
    /// non-null cell says which type to try; one pass builds the typed list,
    /// and a cell of another type makes the column mixed.
    pub fn from_cells<'a, I>(name: &str, cells: I) -> Column
    where
        I: ExactSizeIterator<Item = &'a Value> + Clone,
    {
        let Some((data, nulls)) = typed_as(first_kind(cells.clone()), cells.clone()) else {
            let mixed = cells.cloned().collect();
            return Column {
                name: name.into(),
                data: ColumnData::Mixed(mixed),
                valid: None,
            };
        };
        Column {
            name: name.into(),
            data,
            valid: nulls.then(|| cells.map(|c| !matches!(c, Value::Null)).collect()),
        }
    }

    /// How many cells it has.
    pub fn len(&self) -> usize {
        match &self.data {
            ColumnData::Bool(v) => v.len(),
            ColumnData::Int64(v) => v.len(),
            ColumnData::Float64(v) => v.len(),
            ColumnData::Text(v) => v.len(),
            ColumnData::Bytes(v) => v.len(),
            ColumnData::Vector { dims, values } => values.len().checked_div(*dims).unwrap_or(0),
            ColumnData::Mixed(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn is_null(&self, i: usize) -> bool {
        self.valid.as_ref().is_some_and(|v| !v[i])
    }

    /// Row `i`'s cell as a value.
    pub fn value(&self, i: usize) -> Value {
        if self.is_null(i) {
            return Value::Null;
        }
        match &self.data {
            ColumnData::Bool(v) => Value::Bool(v[i]),
            ColumnData::Int64(v) => Value::Int64(v[i]),
            ColumnData::Float64(v) => Value::Float64(v[i]),
            ColumnData::Text(v) => Value::String(v[i].clone()),
            ColumnData::Bytes(v) => Value::Bytes(v[i].clone()),
            ColumnData::Vector { dims, values } => {
                Value::Vector(values[i * dims..][..*dims].to_vec())
            }
            ColumnData::Mixed(v) => v[i].clone(),
        }
    }

    /// Every cell as a value, in row order.
    pub fn into_values(self) -> Vec<Value> {
        let cells: Vec<Value> = match self.data {
            ColumnData::Bool(v) => v.into_iter().map(Value::Bool).collect(),
            ColumnData::Int64(v) => v.into_iter().map(Value::Int64).collect(),
            ColumnData::Float64(v) => v.into_iter().map(Value::Float64).collect(),
            ColumnData::Text(v) => v.into_iter().map(Value::String).collect(),
            ColumnData::Bytes(v) => v.into_iter().map(Value::Bytes).collect(),
            ColumnData::Vector { dims, values } => (values.chunks(dims.max(1)))
                .map(|x| Value::Vector(x.to_vec()))
                .collect(),
            ColumnData::Mixed(v) => v,
        };
        match self.valid {
            None => cells,
            Some(valid) => (cells.into_iter().zip(valid))
                .map(|(v, ok)| if ok { v } else { Value::Null })
                .collect(),
        }
    }
}

/// The kind of the first non-null cell (`Nothing` when all are null).
fn first_kind<'a>(cells: impl Iterator<Item = &'a Value>) -> Kind {
    (cells.map(kind_of))
        .find(|k| *k != Kind::Nothing)
        .unwrap_or(Kind::Nothing)
}

/// `cells` as a typed list of `kind` and whether one was null; `None` when
/// a cell is of another type, or the kind has no typed list.
fn typed_as<'a>(
    kind: Kind,
    cells: impl ExactSizeIterator<Item = &'a Value>,
) -> Option<(ColumnData, bool)> {
    match kind {
        Kind::Bool => typed(cells, ColumnData::Bool, |v| match v {
            Value::Bool(b) => Some(*b),
            _ => None,
        }),
        Kind::Int64 => typed(cells, ColumnData::Int64, |v| match v {
            Value::Int64(i) => Some(*i),
            _ => None,
        }),
        Kind::Float64 => typed(cells, ColumnData::Float64, |v| match v {
            Value::Float64(f) => Some(*f),
            _ => None,
        }),
        Kind::Text => typed(cells, ColumnData::Text, |v| match v {
            Value::String(s) => Some(s.clone()),
            _ => None,
        }),
        Kind::Bytes => typed(cells, ColumnData::Bytes, |v| match v {
            Value::Bytes(b) => Some(b.clone()),
            _ => None,
        }),
        // Empty vectors have no flat layout (0 floats a row say nothing
        // of how many rows): such a column travels mixed.
        Kind::Vector(dims) if dims > 0 => vectors(cells, dims),
        _ => None,
    }
}

/// Each cell through `take`, a null one as `T`'s default (a placeholder
/// the validity mask hides), and whether any was null; `None` if `take`
/// refused a cell. A map over the cells with no early exit or skip collects
/// into a buffer sized once, the length and values kept in registers (a
/// skip past a refused cell made a 1024-row plugin call about a tenth
/// slower). A refused cell is rare, a column of mixed types: the text and
/// bytes cells after it are copied for nothing then.
fn typed<'a, T: Default>(
    cells: impl Iterator<Item = &'a Value>,
    data: impl FnOnce(Vec<T>) -> ColumnData,
    take: impl Fn(&Value) -> Option<T>,
) -> Option<(ColumnData, bool)> {
    let (mut nulls, mut refused) = (false, false);
    let out = cells
        .map(|c| match c {
            Value::Null => {
                nulls = true;
                T::default()
            }
            c => take(c).unwrap_or_else(|| {
                refused = true;
                T::default()
            }),
        })
        .collect();
    (!refused).then(|| (data(out), nulls))
}

/// A vector column of `dims` floats a row and whether a row was null, or
/// `None` at the first cell that is not a vector (or list of numbers) of
/// that length.
fn vectors<'a>(
    cells: impl ExactSizeIterator<Item = &'a Value>,
    dims: usize,
) -> Option<(ColumnData, bool)> {
    let mut values = Vec::with_capacity(cells.len() * dims);
    let mut nulls = false;
    for c in cells {
        match c {
            Value::Null => {
                nulls = true;
                values.resize(values.len() + dims, 0.0)
            }
            c if kind_of(c) != Kind::Vector(dims) => return None,
            Value::Vector(v) => values.extend_from_slice(v),
            Value::List(items) => values.extend(items.iter().map(|i| match i {
                Value::Int64(n) => *n as f32,
                Value::Float64(f) => *f as f32,
                _ => unreachable!("kind_of: a list of numbers"),
            })),
            _ => unreachable!("kind_of: a vector or a list"),
        }
    }
    Some((ColumnData::Vector { dims, values }, nulls))
}

impl Output {
    /// Row-major: per row, its cells in column order, or its error.
    pub fn into_rows(self) -> Vec<Result<Vec<Value>, RowError>> {
        let n = self.columns.first().map_or(0, Column::len);
        let n = (self.errors.iter().map(|(i, _)| i + 1)).fold(n, usize::max);
        let mut columns: Vec<_> = (self.columns.into_iter())
            .map(|c| c.into_values().into_iter())
            .collect();
        let mut rows: Vec<Result<Vec<Value>, RowError>> = (0..n)
            .map(|_| {
                Ok(columns
                    .iter_mut()
                    .map(|c| c.next().unwrap_or(Value::Null))
                    .collect())
            })
            .collect();
        for (i, e) in self.errors.into_iter().rev() {
            rows[i] = Err(e);
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_a_column_whose_cells_agree_and_masks_its_nulls() {
        let c = Column::from_values("x", vec![Value::Int64(3), Value::Null, Value::Int64(5)]);
        assert_eq!(c.data, ColumnData::Int64(vec![3, 0, 5]));
        assert_eq!(c.valid, Some(vec![true, false, true]));
        assert_eq!(c.value(1), Value::Null);
        assert_eq!(
            c.into_values(),
            vec![Value::Int64(3), Value::Null, Value::Int64(5)]
        );
    }

    #[test]
    fn disagreeing_cells_and_all_nulls_travel_mixed() {
        let cells = vec![Value::Int64(3), Value::Float64(2.5), Value::Null];
        let c = Column::from_values("x", cells.clone());
        assert_eq!(
            (c.data.clone(), c.valid.clone()),
            (ColumnData::Mixed(cells.clone()), None)
        );
        assert_eq!(c.into_values(), cells);
        let c = Column::from_values("x", vec![Value::Null, Value::Null]);
        assert!(matches!(c.data, ColumnData::Mixed(_)));
        // Text refused midway: the cells after it are kept as they came.
        let text = |t: &str| Value::String(t.into());
        let cells = vec![text("a"), Value::Null, Value::Int64(1), text("b")];
        let c = Column::from_values("x", cells.clone());
        assert_eq!(c.data, ColumnData::Mixed(cells));
    }

    #[test]
    fn vectors_of_one_length_are_one_flat_list() {
        let cells = vec![
            Value::Vector(vec![1.0, 2.0]),
            Value::Null,
            Value::List(vec![Value::Int64(3), Value::Float64(4.5)]),
        ];
        let c = Column::from_values("v", cells);
        let flat = vec![1.0, 2.0, 0.0, 0.0, 3.0, 4.5];
        assert_eq!(
            c.data,
            ColumnData::Vector {
                dims: 2,
                values: flat
            }
        );
        assert_eq!((c.len(), c.value(2)), (3, Value::Vector(vec![3.0, 4.5])));
        let ragged = vec![Value::Vector(vec![1.0]), Value::Vector(vec![1.0, 2.0])];
        assert!(matches!(
            Column::from_values("v", ragged).data,
            ColumnData::Mixed(_)
        ));
        let empty = vec![Value::Vector(vec![]), Value::Null, Value::List(vec![])];
        let c = Column::from_values("v", empty.clone());
        assert_eq!((c.data, c.valid), (ColumnData::Mixed(empty), None));
    }

    #[test]
    fn a_batch_from_rows_reads_back_row_by_row() {
        let rows = vec![
            vec![Value::String("a".into()), Value::Bool(true)],
            vec![Value::String("b".into())],
        ];
        let b = Batch::from_rows(&["t", "f"], rows);
        assert_eq!(b.rows, 2);
        assert_eq!(b.row(1), vec![Value::String("b".into()), Value::Null]);
    }

    #[test]
    fn output_rows_put_errors_in_place() {
        let e = RowError {
            kind: super::super::RowErrorKind::Other,
            message: "no".into(),
        };
        let out = Output {
            columns: vec![Column::from_values(
                "y",
                vec![Value::Int64(1), Value::Int64(2)],
            )],
            errors: vec![(1, e.clone())],
        };
        assert_eq!(out.into_rows(), vec![Ok(vec![Value::Int64(1)]), Err(e)]);
    }
}
