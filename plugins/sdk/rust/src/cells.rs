//! Input columns read cell by cell, borrowing from the batch ([`Cell`]),
//! and output columns built row by row ([`ColumnBuilder`], [`VectorBuilder`]).

use crate::{Column, ColumnData, Value, Vectors};

/// One cell of a column, borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Null,
    Bool(bool),
    Int64(i64),
    Float64(f64),
    Text(&'a str),
    Bytes(&'a [u8]),
    Vector(&'a [f32]),
}

impl<'a> Cell<'a> {
    /// A short name of the cell's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Cell::Null => "null",
            Cell::Bool(_) => "bool",
            Cell::Int64(_) => "int64",
            Cell::Float64(_) => "float64",
            Cell::Text(_) => "string",
            Cell::Bytes(_) => "bytes",
            Cell::Vector(_) => "vector",
        }
    }

    /// An int, a float or numeric text as a number; `None` for null.
    pub fn number(&self) -> Result<Option<f64>, String> {
        match self {
            Cell::Null => Ok(None),
            Cell::Int64(i) => Ok(Some(*i as f64)),
            Cell::Float64(f) => Ok(Some(*f)),
            Cell::Text(t) => (t.trim().parse::<f64>())
                .map(Some)
                .map_err(|e| format!("{t:?} is not a number: {e}")),
            other => Err(format!("expected a number, got {}", other.type_name())),
        }
    }
}

impl<'a> From<&'a Value> for Cell<'a> {
    fn from(v: &'a Value) -> Self {
        match v {
            Value::Null => Cell::Null,
            Value::Boolean(b) => Cell::Bool(*b),
            Value::Int64(i) => Cell::Int64(*i),
            Value::Float64(f) => Cell::Float64(*f),
            Value::Text(t) => Cell::Text(t),
            Value::Bytes(b) => Cell::Bytes(b),
            Value::Vector(v) => Cell::Vector(v),
        }
    }
}

impl Column {
    /// A column without nulls.
    pub fn new(name: impl Into<String>, data: ColumnData) -> Column {
        Column {
            name: name.into(),
            data,
            valid: None,
        }
    }

    /// How many cells it has.
    pub fn len(&self) -> usize {
        match &self.data {
            ColumnData::Boolean(v) => v.len(),
            ColumnData::Int64(v) => v.len(),
            ColumnData::Float64(v) => v.len(),
            ColumnData::Text(v) => v.len(),
            ColumnData::Bytes(v) => v.len(),
            ColumnData::Vector(v) => v.values.len().checked_div(v.dims as usize).unwrap_or(0),
            ColumnData::Mixed(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether row `i` holds a value (not null).
    pub fn is_valid(&self, i: usize) -> bool {
        self.valid.as_ref().is_none_or(|v| v[i])
    }

    /// Row `i`'s cell.
    pub fn cell(&self, i: usize) -> Cell<'_> {
        if !self.is_valid(i) {
            return Cell::Null;
        }
        match &self.data {
            ColumnData::Boolean(v) => Cell::Bool(v[i]),
            ColumnData::Int64(v) => Cell::Int64(v[i]),
            ColumnData::Float64(v) => Cell::Float64(v[i]),
            ColumnData::Text(v) => Cell::Text(&v[i]),
            ColumnData::Bytes(v) => Cell::Bytes(&v[i]),
            ColumnData::Vector(v) => {
                let d = v.dims as usize;
                Cell::Vector(&v.values[i * d..][..d])
            }
            ColumnData::Mixed(v) => Cell::from(&v[i]),
        }
    }

    /// Every cell, in row order.
    pub fn cells(&self) -> Cells<'_> {
        let data = match &self.data {
            ColumnData::Boolean(v) => Typed::Bool(v.iter()),
            ColumnData::Int64(v) => Typed::Int64(v.iter()),
            ColumnData::Float64(v) => Typed::Float64(v.iter()),
            ColumnData::Text(v) => Typed::Text(v.iter()),
            ColumnData::Bytes(v) => Typed::Bytes(v.iter()),
            // `max(1)`: a 0-dims column has no floats, and no rows to iterate.
            ColumnData::Vector(v) => Typed::Vector(v.values.chunks_exact((v.dims as usize).max(1))),
            ColumnData::Mixed(v) => Typed::Mixed(v.iter()),
        };
        Cells {
            data,
            valid: self.valid.as_ref().map(|v| v.iter()),
        }
    }
}

/// The cells of a column, in row order: an iterator over its typed list
/// (no bounds checks), masked by its validity.
pub struct Cells<'a> {
    data: Typed<'a>,
    valid: Option<std::slice::Iter<'a, bool>>,
}

enum Typed<'a> {
    Bool(std::slice::Iter<'a, bool>),
    Int64(std::slice::Iter<'a, i64>),
    Float64(std::slice::Iter<'a, f64>),
    Text(std::slice::Iter<'a, String>),
    Bytes(std::slice::Iter<'a, Vec<u8>>),
    Vector(std::slice::ChunksExact<'a, f32>),
    Mixed(std::slice::Iter<'a, Value>),
}

impl<'a> Iterator for Cells<'a> {
    type Item = Cell<'a>;

    #[inline]
    fn next(&mut self) -> Option<Cell<'a>> {
        let cell = match &mut self.data {
            Typed::Bool(i) => Cell::Bool(*i.next()?),
            Typed::Int64(i) => Cell::Int64(*i.next()?),
            Typed::Float64(i) => Cell::Float64(*i.next()?),
            Typed::Text(i) => Cell::Text(i.next()?),
            Typed::Bytes(i) => Cell::Bytes(i.next()?),
            Typed::Vector(i) => Cell::Vector(i.next()?),
            Typed::Mixed(i) => Cell::from(i.next()?),
        };
        let valid = self
            .valid
            .as_mut()
            .and_then(|v| v.next())
            .is_none_or(|v| *v);
        Some(if valid { cell } else { Cell::Null })
    }
}

/// A cell type an output column can be built of.
pub trait Columnar: Default {
    fn data(values: Vec<Self>) -> ColumnData;
}

macro_rules! columnar {
    ($($t:ty => $variant:ident),*) => {$(
        impl Columnar for $t {
            fn data(values: Vec<Self>) -> ColumnData {
                ColumnData::$variant(values)
            }
        }
    )*};
}
columnar!(bool => Boolean, i64 => Int64, f64 => Float64, String => Text, Vec<u8> => Bytes);

/// An output column built row by row: `push` a value or `push_null`.
pub struct ColumnBuilder<T> {
    values: Vec<T>,
    /// Kept from the first null on: a column without nulls carries none.
    valid: Option<Vec<bool>>,
}

impl<T: Columnar> ColumnBuilder<T> {
    pub fn with_capacity(rows: usize) -> Self {
        ColumnBuilder {
            values: Vec::with_capacity(rows),
            valid: None,
        }
    }

    #[inline]
    pub fn push(&mut self, v: T) {
        self.values.push(v);
        if let Some(valid) = &mut self.valid {
            valid.push(true);
        }
    }

    /// A null cell (also what a failed row's cell should be).
    pub fn push_null(&mut self) {
        let n = self.values.len();
        let valid = self.valid.get_or_insert_with(|| vec![true; n]);
        valid.push(false);
        self.values.push(T::default());
    }

    pub fn push_option(&mut self, v: Option<T>) {
        match v {
            Some(v) => self.push(v),
            None => self.push_null(),
        }
    }

    pub fn finish(self, name: impl Into<String>) -> Column {
        Column {
            name: name.into(),
            data: T::data(self.values),
            valid: self.valid,
        }
    }
}

/// A vector output column built row by row. Its dims are the configured
/// ones, else the first vector's; a vector of other dims is refused.
pub struct VectorBuilder {
    dims: Option<usize>,
    /// The valid rows' floats; null rows are filled in by `finish`.
    values: Vec<f32>,
    valid: Vec<bool>,
}

impl VectorBuilder {
    pub fn with_capacity(rows: usize, dims: Option<usize>) -> Self {
        VectorBuilder {
            dims,
            values: Vec::with_capacity(rows * dims.unwrap_or(0)),
            valid: Vec::with_capacity(rows),
        }
    }

    /// `Err` (and nothing pushed) when `v` has other dims than the column.
    pub fn push(&mut self, v: &[f32]) -> Result<(), String> {
        match self.dims {
            Some(d) if d != v.len() => {
                return Err(format!("vector has {} dimensions, expected {d}", v.len()));
            }
            _ => self.dims = Some(v.len()),
        }
        self.values.extend_from_slice(v);
        self.valid.push(true);
        Ok(())
    }

    pub fn push_null(&mut self) {
        self.valid.push(false);
    }

    /// The column. With no dims known (all null) or 0 dims (empty
    /// vectors, which have no flat layout), it is a `mixed` column.
    pub fn finish(self, name: impl Into<String>) -> Column {
        let nulls = self.valid.iter().any(|v| !v);
        let Some(dims) = self.dims.filter(|d| *d > 0) else {
            let cell = |ok: &bool| {
                if *ok {
                    Value::Vector(Vec::new())
                } else {
                    Value::Null
                }
            };
            let data = ColumnData::Mixed(self.valid.iter().map(cell).collect());
            return Column::new(name, data);
        };
        let values = if nulls {
            let mut full = Vec::with_capacity(self.valid.len() * dims);
            let mut rows = self.values.chunks(dims.max(1));
            for ok in &self.valid {
                match ok {
                    true => full.extend_from_slice(rows.next().unwrap_or_default()),
                    false => full.resize(full.len() + dims, 0.0),
                }
            }
            full
        } else {
            self.values
        };
        Column {
            name: name.into(),
            data: ColumnData::Vector(Vectors {
                dims: dims as u32,
                values,
            }),
            valid: nulls.then_some(self.valid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_follow_the_typed_list_and_its_mask() {
        let mut c = Column::new("x", ColumnData::Float64(vec![1.5, 0.0, 3.0]));
        c.valid = Some(vec![true, false, true]);
        let cells: Vec<Cell> = c.cells().collect();
        assert_eq!(cells, [Cell::Float64(1.5), Cell::Null, Cell::Float64(3.0)]);
        assert_eq!(
            (c.len(), c.cell(1), c.cell(2)),
            (3, Cell::Null, Cell::Float64(3.0))
        );
        let v = Column::new(
            "v",
            ColumnData::Vector(Vectors {
                dims: 2,
                values: vec![1.0, 2.0, 3.0, 4.0],
            }),
        );
        assert_eq!(v.cells().nth(1), Some(Cell::Vector(&[3.0, 4.0])));
        let m = Column::new(
            "m",
            ColumnData::Mixed(vec![Value::Text("a".into()), Value::Null]),
        );
        assert_eq!(m.cells().collect::<Vec<_>>(), [Cell::Text("a"), Cell::Null]);
        assert_eq!(Cell::Text(" 2.5 ").number(), Ok(Some(2.5)));
        assert!(Cell::Bool(true).number().unwrap_err().contains("got bool"));
    }

    #[test]
    fn builders_carry_a_mask_only_once_a_null_arrives() {
        let mut b = ColumnBuilder::with_capacity(3);
        b.push(1i64);
        b.push(2);
        assert_eq!(
            ColumnBuilder::<i64>::with_capacity(0).finish("e").valid,
            None
        );
        b.push_null();
        let c = b.finish("n");
        assert_eq!(
            (c.data, c.valid),
            (
                ColumnData::Int64(vec![1, 2, 0]),
                Some(vec![true, true, false])
            )
        );
        let mut v = VectorBuilder::with_capacity(3, None);
        v.push_null();
        v.push(&[1.0, 2.0]).unwrap();
        assert!(v.push(&[1.0]).unwrap_err().contains("expected 2"));
        let c = v.finish("v");
        let flat = Vectors {
            dims: 2,
            values: vec![0.0, 0.0, 1.0, 2.0],
        };
        assert_eq!(
            (c.data, c.valid),
            (ColumnData::Vector(flat), Some(vec![false, true]))
        );
        let mut empty = VectorBuilder::with_capacity(2, None);
        empty.push(&[]).unwrap();
        empty.push_null();
        let c = empty.finish("e");
        assert_eq!(
            c.data,
            ColumnData::Mixed(vec![Value::Vector(vec![]), Value::Null])
        );
    }
}
