//! What an export's sort of questions carries: a spine row's question to a
//! view ([`Target`], sorted by key and time), with the byte form it takes in
//! spilled chunks and runs.

use super::runs::Sortable;
use std::cmp::Ordering;
use std::io::{Read, Write};

/// Key bytes a target holds inline: a single key, or an int × int
/// composite (20 bytes), needs no allocation of its own.
const INLINE: usize = 24;

/// A spine row's question to one view: its entity key, prefix-free encoded
/// (so it sorts as the view's log does), its time and its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    /// The key's first [`INLINE`] bytes, zero-padded, as integers: they
    /// order as the bytes do, in a comparison or two instead of a
    /// `memcmp` call (a third of sorting the questions).
    head: (u128, u64),
    /// The key's bytes past the first [`INLINE`] (most keys: none).
    tail: Vec<u8>,
    len: u32,
    pub at: i64,
    pub row: u64,
}

impl Target {
    pub(super) fn new(key: &[u8], at: i64, row: u64) -> Self {
        let mut head = [0; INLINE];
        let inline = key.len().min(INLINE);
        head[..inline].copy_from_slice(&key[..inline]);
        Target {
            head: split(head),
            tail: key[inline..].to_vec(),
            len: u32::try_from(key.len()).unwrap_or(u32::MAX),
            at,
            row,
        }
    }

    /// A target before every other of its key: a key range's bound, so one
    /// key's questions stay in one range.
    pub(super) fn first_of_key(&self) -> Self {
        Target {
            at: i64::MIN,
            row: 0,
            ..self.clone()
        }
    }

    /// The key's bytes, into `buf` (cleared first).
    pub(super) fn key_into(&self, buf: &mut Vec<u8>) {
        let mut head = [0; INLINE];
        head[..16].copy_from_slice(&self.head.0.to_be_bytes());
        head[16..].copy_from_slice(&self.head.1.to_be_bytes());
        buf.clear();
        buf.extend_from_slice(&head[..(self.len as usize).min(INLINE)]);
        buf.extend_from_slice(&self.tail);
    }
}

/// A target's bytes in a run or bucket, its key's tail aside.
pub(super) const FIXED: usize = 48;

fn split(head: [u8; INLINE]) -> (u128, u64) {
    let (a, b) = head.split_at(16);
    let a = u128::from_be_bytes(a.try_into().expect("16 bytes"));
    (a, u64::from_be_bytes(b.try_into().expect("8 bytes")))
}

/// By key, then time, then row. Zero padding never misorders: of two
/// different prefix-free keys, neither starts the other, so they differ at
/// a byte both have; equal heads and tails are equal keys (`len` follows).
impl Ord for Target {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.head.cmp(&other.head))
            // Most keys have no tail: comparing two empty ones still
            // called `memcmp` (a fifth of merging the questions).
            .then_with(|| match self.tail.is_empty() && other.tail.is_empty() {
                true => Ordering::Equal,
                false => self.tail.cmp(&other.tail),
            })
            .then(self.at.cmp(&other.at))
            .then(self.row.cmp(&other.row))
    }
}

impl PartialOrd for Target {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Little-endian integers off a fixed-size header, read in one call (a
/// run is read an item at a time, and a call per field cost a tenth of
/// merging runs).
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let (head, rest) = self.0.split_at(N);
        self.0 = rest;
        head.try_into().expect("N bytes")
    }

    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
}

fn read_tail(r: &mut impl Read, len: u32) -> std::io::Result<Vec<u8>> {
    let mut b = vec![0; len as usize];
    r.read_exact(&mut b)?;
    Ok(b)
}

impl Sortable for Target {
    /// Head, key length, time, row, tail length, then the tail.
    fn encode<W: Write>(&self, w: &mut W) -> std::io::Result<()> {
        let mut b = [0; FIXED];
        b[..16].copy_from_slice(&self.head.0.to_le_bytes());
        b[16..24].copy_from_slice(&self.head.1.to_le_bytes());
        b[24..28].copy_from_slice(&self.len.to_le_bytes());
        b[28..36].copy_from_slice(&self.at.to_le_bytes());
        b[36..44].copy_from_slice(&self.row.to_le_bytes());
        b[44..].copy_from_slice(&tail_len(&self.tail)?.to_le_bytes());
        w.write_all(&b)?;
        w.write_all(&self.tail)
    }

    fn decode<R: Read>(r: &mut R) -> std::io::Result<Self> {
        let mut b = [0; FIXED];
        r.read_exact(&mut b)?;
        let mut f = Fields(&b);
        let head = (u128::from_le_bytes(f.take()), f.u64());
        let (len, at, row, tail) = (f.u32(), f.u64() as i64, f.u64(), f.u32());
        let tail = if tail == 0 {
            Vec::new()
        } else {
            read_tail(r, tail)?
        };
        Ok(Target {
            head,
            tail,
            len,
            at,
            row,
        })
    }
}

fn tail_len(b: &[u8]) -> std::io::Result<u32> {
    u32::try_from(b.len())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "an item over 4 GiB"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EntityKey;

    fn keys() -> Vec<Vec<u8>> {
        let mut keys: Vec<EntityKey> = Vec::new();
        for i in [-300i64, -1, 0, 1, 2, 255, 256, 1 << 40, i64::MAX] {
            keys.push(EntityKey::Int(i));
            keys.push(EntityKey::Composite(vec![
                EntityKey::Int(i),
                EntityKey::Int(7),
            ]));
        }
        for s in [
            "",
            "a",
            "ab",
            "a\0",
            "abcdefghijklmnopqrstuvw",
            "abcdefghijklmnopqrstuvwxyz0",
        ] {
            keys.push(EntityKey::Str(s.into()));
            keys.push(EntityKey::Composite(vec![
                EntityKey::Str(s.into()),
                EntityKey::Str("zz".into()),
            ]));
        }
        (keys.iter())
            .map(|k| {
                let mut b = Vec::new();
                k.encode_prefix_free(&mut b);
                b
            })
            .collect()
    }

    /// Targets order as (key bytes, time, row) do, and give their key back.
    #[test]
    fn targets_order_as_their_keys_and_keep_them() {
        let mut items: Vec<(Vec<u8>, i64, u64)> = Vec::new();
        for (i, k) in keys().into_iter().enumerate() {
            for at in [-5, 0, 9] {
                items.push((k.clone(), at, (i * 31 % 7) as u64));
            }
        }
        fastrand::seed(7);
        fastrand::shuffle(&mut items);
        let mut targets: Vec<Target> = (items.iter())
            .map(|(k, at, row)| Target::new(k, *at, *row))
            .collect();
        items.sort();
        targets.sort();
        let mut buf = Vec::new();
        for (t, (k, at, row)) in targets.iter().zip(&items) {
            t.key_into(&mut buf);
            assert_eq!((&buf, t.at, t.row), (k, *at, *row));
            let mut run = Vec::new();
            t.encode(&mut run).unwrap();
            assert_eq!(&Target::decode(&mut run.as_slice()).unwrap(), t);
        }
    }
}
