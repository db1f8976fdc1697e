//! Byte layout of the online store's values (keys: `key.rs`).
//!
//! Hand-rolled rather than a serde format crate: the layout is the on-disk
//! contract, so it is written down here, versioned by its first byte, and
//! cannot shift under a dependency upgrade.
//!
//! Value: `0x01` (version), `i64` LE event time in microseconds, `u16` LE field
//!        count, then per field: `u8` name length, name, `u8` tag, payload.
//!        Tags: 0 null, 1 bool (`u8`), 2 int64, 3 float64 (LE), 4 string and
//!        5 bytes (`u32` LE length + bytes), 6 vector (`u32` LE count + f32 LE),
//!        7 list (`u32` LE count, then each element's tag and payload; an
//!        element is never a list).
//!        Version `0x02` is the same followed by the input digests of the
//!        transformed fields: `u8` count, then per field `u8` name length, name,
//!        16 digest bytes (XXH3-128, little-endian; the first 16 bytes of
//!        SHA-256 in rows written before 2026-12: `ingest/identity.rs` reads
//!        both). Rows without digests are written as version 1.

use super::Cells;
use crate::time::Micros;
use crate::value::Value;

/// What a transformed field was computed from: a digest of the transformation
/// (plugin, options, model) and its input values. Equal digests mean the stored
/// value can be reused instead of calling the plugin again.
pub type InputDigest = [u8; 16];

/// A value's first byte: which variant follows (the layout above). Named
/// once, as the general decoder and the lookup's in-line one both read them.
mod tag {
    pub const NULL: u8 = 0;
    pub const BOOL: u8 = 1;
    pub const INT64: u8 = 2;
    pub const FLOAT64: u8 = 3;
    pub const STRING: u8 = 4;
    pub const BYTES: u8 = 5;
    pub const VECTOR: u8 = 6;
    pub const LIST: u8 = 7;
}

/// A stored row: the event time it describes, its feature values and, for
/// transformed fields, the digest of the inputs each value was computed from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredRow {
    pub event_time: Micros,
    pub fields: Vec<(String, Value)>,
    pub inputs: Vec<(String, InputDigest)>,
}

impl StoredRow {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The digest of the inputs `name` was computed from, if it was transformed.
    pub fn input_digest(&self, name: &str) -> Option<&InputDigest> {
        self.inputs.iter().find(|(n, _)| n == name).map(|(_, d)| d)
    }

    /// Field names are validated by the config (short identifiers); a name
    /// over 255 bytes or more than 65535 fields is a caller bug.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = self.encode_without_inputs();
        if !self.inputs.is_empty() {
            b[0] = 2;
            b.push(u8::try_from(self.inputs.len()).expect("too many transformed fields"));
            for (name, digest) in &self.inputs {
                b.push(u8::try_from(name.len()).expect("field name too long"));
                b.extend_from_slice(name.as_bytes());
                b.extend_from_slice(digest);
            }
        }
        b
    }

    /// The row as version 1: event time and fields, no digests (what the
    /// offline log keeps).
    pub fn encode_without_inputs(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(16 + self.fields.len() * 16);
        b.push(1);
        b.extend_from_slice(&self.event_time.0.to_le_bytes());
        b.extend_from_slice(
            &u16::try_from(self.fields.len())
                .expect("too many fields")
                .to_le_bytes(),
        );
        for (name, v) in &self.fields {
            b.push(u8::try_from(name.len()).expect("field name too long"));
            b.extend_from_slice(name.as_bytes());
            encode_value(&mut b, v);
        }
        b
    }

    /// The event time of an encoded row, without decoding the rest.
    pub fn event_time_of(b: &[u8]) -> Option<Micros> {
        match b {
            [1 | 2, t @ ..] if t.len() >= 8 => {
                Some(Micros(i64::from_le_bytes(t[..8].try_into().ok()?)))
            }
            _ => None,
        }
    }

    pub fn decode(b: &[u8]) -> Result<Self, String> {
        let mut r = Reader { b, pos: 0 };
        let (version, event_time, n) = r.header()?;
        let mut fields = Vec::with_capacity(n);
        for _ in 0..n {
            let len = r.u8()? as usize;
            let name =
                String::from_utf8(r.take(len)?.to_vec()).map_err(|_| "field name is not UTF-8")?;
            fields.push((name, decode_value(&mut r)?));
        }
        let mut inputs = Vec::new();
        if version == 2 {
            for _ in 0..r.u8()? {
                let len = r.u8()? as usize;
                let name = String::from_utf8(r.take(len)?.to_vec())
                    .map_err(|_| "field name is not UTF-8")?;
                inputs.push((name, r.array()?));
            }
        }
        if r.pos != b.len() {
            return Err(format!("{} trailing bytes", b.len() - r.pos));
        }
        Ok(StoredRow {
            event_time,
            fields,
            inputs,
        })
    }
}

pub(super) fn skip_value(r: &mut Reader) -> Result<(), String> {
    let n = match r.u8()? {
        tag::NULL => 0,
        tag::BOOL => 1,
        tag::INT64 | tag::FLOAT64 => 8,
        tag::STRING | tag::BYTES => r.len()?,
        tag::VECTOR => r.len()?.checked_mul(4).ok_or("vector too long")?,
        tag::LIST => {
            for _ in 0..r.len()? {
                if r.b.get(r.pos) == Some(&tag::LIST) {
                    return Err("a list inside a list".into());
                }
                skip_value(r)?;
            }
            0
        }
        t => return Err(format!("unknown value tag {t}")),
    };
    r.take(n).map(|_| ())
}

/// The stable byte form of a value, as stored; also what input digests hash.
pub fn encode_value(b: &mut Vec<u8>, v: &Value) {
    let put_len = |b: &mut Vec<u8>, n: usize| {
        b.extend_from_slice(&u32::try_from(n).expect("value too large").to_le_bytes())
    };
    match v {
        Value::Null => b.push(tag::NULL),
        Value::Bool(x) => b.extend_from_slice(&[tag::BOOL, *x as u8]),
        Value::Int64(i) => {
            b.push(tag::INT64);
            b.extend_from_slice(&i.to_le_bytes());
        }
        Value::Float64(f) => {
            b.push(tag::FLOAT64);
            b.extend_from_slice(&f.to_le_bytes());
        }
        Value::String(s) => {
            b.push(tag::STRING);
            put_len(b, s.len());
            b.extend_from_slice(s.as_bytes());
        }
        Value::Bytes(x) => {
            b.push(tag::BYTES);
            put_len(b, x.len());
            b.extend_from_slice(x);
        }
        Value::Vector(v) => {
            b.push(tag::VECTOR);
            put_len(b, v.len());
            // Sized first, then filled in place: pushing four bytes at a time
            // updated the length per float and did not vectorise (a vector
            // is encoded for the store and again for its input digest).
            let start = b.len();
            b.resize(start + v.len() * 4, 0);
            for (to, x) in b[start..].chunks_exact_mut(4).zip(v) {
                to.copy_from_slice(&x.to_le_bytes());
            }
        }
        Value::List(items) => {
            b.push(tag::LIST);
            put_len(b, items.len());
            for x in items {
                encode_value(b, x);
            }
        }
    }
}

/// [`decode_value`] pushed onto `into`, nulls and the numbers most
/// features hold read in place: a 100 × 50 lookup decodes 5,000 values, and the call
/// with its result cost more than reading the eight bytes (callgrind: 49
/// instructions a value in the call alone). Pushes nothing when the value
/// does not decode.
#[inline]
pub(super) fn push_value_inline(r: &mut Reader, into: &mut impl Cells) -> Result<(), String> {
    let first = r.b.get(r.pos).copied();
    let number = (r.b.get(r.pos + 1..r.pos + 9)).map(|b| <[u8; 8]>::try_from(b).expect("8 bytes"));
    match (first, number) {
        (Some(tag::FLOAT64), Some(bytes)) => {
            r.pos += 9;
            into.push_f64(f64::from_le_bytes(bytes));
        }
        (Some(tag::INT64), Some(bytes)) => {
            r.pos += 9;
            into.push_i64(i64::from_le_bytes(bytes));
        }
        (Some(tag::NULL), _) => {
            r.pos += 1;
            into.push_null();
        }
        _ => into.push_value(decode_value(r)?),
    }
    Ok(())
}

pub(super) fn decode_value(r: &mut Reader) -> Result<Value, String> {
    Ok(match r.u8()? {
        tag::NULL => Value::Null,
        tag::BOOL => Value::Bool(r.u8()? != 0),
        tag::INT64 => Value::Int64(i64::from_le_bytes(r.array()?)),
        tag::FLOAT64 => Value::Float64(f64::from_le_bytes(r.array()?)),
        tag::STRING => {
            let n = r.len()?;
            Value::String(
                String::from_utf8(r.take(n)?.to_vec()).map_err(|_| "string is not UTF-8")?,
            )
        }
        tag::BYTES => {
            let n = r.len()?;
            Value::Bytes(r.take(n)?.to_vec())
        }
        tag::VECTOR => {
            let n = r.len()?;
            let raw = r.take(n.checked_mul(4).ok_or("vector too long")?)?;
            Value::Vector(
                raw.chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
            )
        }
        tag::LIST => {
            let n = r.len()?;
            let mut items = Vec::with_capacity(n.min(r.b.len()));
            for _ in 0..n {
                // Checked before decoding, so corrupt bytes cannot recurse deep.
                if r.b.get(r.pos) == Some(&tag::LIST) {
                    return Err("a list inside a list".into());
                }
                items.push(decode_value(r)?);
            }
            Value::List(items)
        }
        t => return Err(format!("unknown value tag {t}")),
    })
}

pub(super) struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(b: &'a [u8]) -> Self {
        Reader { b, pos: 0 }
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or("value is truncated")?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    /// Where the next read starts.
    pub(super) fn pos(&self) -> usize {
        self.pos
    }
    pub(super) fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().unwrap())
    }
    fn len(&mut self) -> Result<usize, String> {
        Ok(u32::from_le_bytes(self.array()?) as usize)
    }
    /// A row's version, event time and field count.
    pub(super) fn header(&mut self) -> Result<(u8, Micros, usize), String> {
        let version = self.u8()?;
        if version != 1 && version != 2 {
            return Err(format!("unknown value version {version}"));
        }
        let event_time = Micros(i64::from_le_bytes(self.array()?));
        Ok((
            version,
            event_time,
            u16::from_le_bytes(self.array()?) as usize,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip() {
        let row = StoredRow {
            event_time: Micros(1_746_748_800_000_000),
            fields: vec![
                ("n".into(), Value::Null),
                ("b".into(), Value::Bool(true)),
                ("i".into(), Value::Int64(-7)),
                ("f".into(), Value::Float64(2.5)),
                ("s".into(), Value::String("狗粮".into())),
                ("x".into(), Value::Bytes(vec![0, 255])),
                ("v".into(), Value::Vector(vec![1.0, -0.5])),
                (
                    "l".into(),
                    Value::List(vec![Value::String("a".into()), Value::Int64(2)]),
                ),
            ],
            inputs: vec![],
        };
        assert_eq!(row.encode()[0], 1);
        assert_eq!(StoredRow::decode(&row.encode()).unwrap(), row);
        let with_digests = StoredRow {
            inputs: vec![("v".into(), [7; 16])],
            ..row
        };
        assert_eq!(with_digests.encode()[0], 2);
        assert_eq!(
            StoredRow::decode(&with_digests.encode()).unwrap(),
            with_digests
        );
    }

    #[test]
    fn corrupt_values_are_errors_not_panics() {
        let enc = StoredRow {
            event_time: Micros(1),
            fields: vec![("v".into(), Value::Vector(vec![1.0; 4]))],
            inputs: vec![("v".into(), [1; 16])],
        }
        .encode();
        for cut in 0..enc.len() {
            assert!(StoredRow::decode(&enc[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = enc.clone();
        bad[0] = 9;
        assert!(StoredRow::decode(&bad).unwrap_err().contains("version"));
    }

    /// The lookup's decoding in line reads what the general one reads, and
    /// a number cut short is an error there too.
    #[test]
    fn numbers_decoded_in_line_are_the_values_stored() {
        let values = [
            Value::Float64(-2.5e-300),
            Value::Int64(i64::MIN),
            Value::Null,
            Value::String("7".into()),
        ];
        for v in values {
            let mut enc = Vec::new();
            encode_value(&mut enc, &v);
            enc.push(0xAB);
            let (mut r, mut into) = (Reader::new(&enc), vec![Value::Null]);
            push_value_inline(&mut r, &mut into).unwrap();
            assert_eq!(into, [Value::Null, v.clone()]);
            assert_eq!(r.pos(), enc.len() - 1, "{v:?} read to its end");
            for cut in 0..enc.len() - 1 {
                let err = push_value_inline(&mut Reader::new(&enc[..cut]), &mut into);
                assert!(err.is_err(), "{v:?} cut at {cut}");
                assert_eq!(into.len(), 2, "{v:?} cut at {cut}: nothing pushed");
            }
        }
    }
}
