//! An export's rows cut down to the fields it wants ([`Projector`]), and
//! read back ([`decode_projected`]): the fields are found as a lookup
//! finds them (`wanted.rs`).

use super::StoreError;
use super::codec::{Reader, decode_value, encode_value, skip_value};
use super::wanted::{FieldIndex, each_wanted};
use crate::value::Value;

/// Cuts stored rows down to the fields a reader wants, for carrying them
/// elsewhere first (an export's answers are spilled to disk by row):
/// each wanted field's value as stored but without its name, in the
/// wanted order, a null for a field the row lacks. A row of numbers is
/// mostly names, so this is most of a row's bytes saved, and the reading
/// end finds its fields by place ([`decode_projected`]), not by name.
#[derive(Debug, Default)]
pub struct Projector {
    /// Each wanted field's value in the row being cut: its byte range,
    /// empty for none.
    spans: Vec<(usize, usize)>,
}

impl Projector {
    /// `row`'s wanted fields, cut down, appended to `out`. `view` names
    /// where a row that does not decode came from.
    pub fn project(
        &mut self,
        view: &str,
        row: &[u8],
        wanted: &FieldIndex,
        out: &mut Vec<u8>,
    ) -> Result<(), StoreError> {
        self.spans.clear();
        self.spans.resize(wanted.len(), (0, 0));
        let spans = &mut self.spans;
        each_wanted(row, (wanted, |_| true), |at, r| {
            let (start, first) = (r.pos(), spans[at].0 == spans[at].1);
            skip_value(r)?;
            spans[at] = (start, r.pos());
            Ok(first)
        })
        .map_err(|m| super::log::corrupt_value(view, m))?;
        for &(start, end) in spans.iter() {
            match start == end {
                true => encode_value(out, &Value::Null),
                false => out.extend_from_slice(&row[start..end]),
            }
        }
        Ok(())
    }
}

/// A row cut down by [`Projector::project`], decoded into `into` (one
/// place per wanted field, in the same order).
pub fn decode_projected(
    view: &str,
    b: &[u8],
    into: &mut [Option<Value>],
) -> Result<(), StoreError> {
    let mut r = Reader::new(b);
    for slot in into.iter_mut() {
        *slot = Some(decode_value(&mut r).map_err(|m| super::log::corrupt_value(view, m))?);
    }
    match r.pos() == b.len() {
        true => Ok(()),
        false => Err(super::log::corrupt_value(
            view,
            format!("{} trailing bytes", b.len() - r.pos()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoredRow;
    use crate::store::wanted::tests::decode_row;
    use crate::time::Micros;

    #[test]
    fn a_projected_row_decodes_as_its_wanted_fields_do() {
        let row = StoredRow {
            event_time: Micros(7),
            fields: vec![
                ("s".into(), Value::String("x".into())),
                ("v".into(), Value::Vector(vec![1.0, 2.0])),
                ("i".into(), Value::Int64(-7)),
                ("n".into(), Value::Null),
            ],
            inputs: vec![("v".into(), [9; 16])],
        }
        .encode();
        let mut wanted = FieldIndex::default();
        for name in ["i", "missing", "v", "n"] {
            wanted.insert(name);
        }
        let (_, want) = decode_row(&row, &wanted).unwrap();
        // A field the row lacks is a null, as a stored null is.
        let want: Vec<Option<Value>> = want.into_iter().map(Some).collect();
        let (mut projector, mut cut) = (Projector::default(), Vec::new());
        projector.project("view", &row, &wanted, &mut cut).unwrap();
        assert!(cut.len() < row.len() / 2, "names and digests left behind");
        let mut got = vec![None; wanted.len()];
        decode_projected("view", &cut, &mut got).unwrap();
        assert_eq!(got, want);
        // The projector's scratch is per row: a second row reuses it.
        let mut again = Vec::new();
        projector
            .project("view", &row, &wanted, &mut again)
            .unwrap();
        assert_eq!(again, cut);
        let truncated = projector.project("view", &row[..row.len() - 30], &wanted, &mut again);
        assert!(matches!(truncated, Err(StoreError::Corrupt { .. })));
        cut.push(0);
        let err = decode_projected("view", &cut, &mut got).unwrap_err();
        assert!(err.to_string().contains("trailing"), "{err}");
        assert!(decode_projected("view", &cut[..3], &mut got).is_err());
    }
}
