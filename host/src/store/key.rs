//! Byte layout of the online store's keys, the on-disk contract as
//! `codec.rs` is for values.
//!
//! Key:   `0x01` + big-endian `i64 ^ i64::MIN` (sorts like the integer), or
//!        `0x02` + UTF-8 bytes, or, for a view keyed by several entities,
//!        `0x03` + per part its tag and payload, a string part escaped
//!        (`0x00` as `0x00 0xFF`) and ended by `0x00 0x01` so that the parts
//!        sort one after the other. One-part keys keep their old bytes.

/// The typed entity key (the view's primary key value). In JSON it is the
/// plain number or string; a composite key is the list of its parts in the
/// view's join-key order.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(untagged)]
pub enum EntityKey {
    Int(i64),
    Str(String),
    /// Two or more `Int` or `Str` parts: a view keyed by several entities.
    Composite(Vec<EntityKey>),
}

impl std::fmt::Display for EntityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EntityKey::Int(i) => write!(f, "{i}"),
            EntityKey::Str(s) => write!(f, "{s:?}"),
            EntityKey::Composite(parts) => {
                f.write_str("(")?;
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{p}")?;
                }
                f.write_str(")")
            }
        }
    }
}

impl EntityKey {
    pub fn encode(&self) -> Vec<u8> {
        let mut k = Vec::with_capacity(16);
        match self {
            EntityKey::Int(i) => {
                k.push(1);
                k.extend_from_slice(&((*i ^ i64::MIN) as u64).to_be_bytes());
            }
            EntityKey::Str(s) => {
                k.push(2);
                k.extend_from_slice(s.as_bytes());
            }
            EntityKey::Composite(parts) => {
                k.push(3);
                for p in parts {
                    p.encode_part(&mut k);
                }
            }
        }
        k
    }

    fn encode_part(&self, k: &mut Vec<u8>) {
        match self {
            EntityKey::Str(s) => {
                k.push(2);
                for &b in s.as_bytes() {
                    k.push(b);
                    if b == 0 {
                        k.push(0xFF);
                    }
                }
                k.extend_from_slice(&[0, 1]);
            }
            // Parts are ints or strings (views build them so): a nested
            // composite would encode, but `decode` rejects it.
            other => {
                debug_assert!(
                    matches!(other, EntityKey::Int(_)),
                    "a nested key part: {other}"
                );
                k.extend_from_slice(&other.encode())
            }
        }
    }

    /// The key in a form no other key's bytes start with (the offline
    /// log's entries of one key follow it): single keys encode as a
    /// composite's parts do, and a composite key's parts end with `0x00`.
    pub(crate) fn encode_prefix_free(&self, k: &mut Vec<u8>) {
        match self {
            EntityKey::Composite(parts) => {
                k.push(3);
                for p in parts {
                    p.encode_part(k);
                }
                k.push(0);
            }
            single => single.encode_part(k),
        }
    }

    /// The key [`EntityKey::encode_prefix_free`] wrote and the bytes after it.
    pub(super) fn decode_prefix_free(b: &[u8]) -> Option<(Self, &[u8])> {
        let Some((3, mut rest)) = b.split_first() else {
            return decode_part(b);
        };
        let mut parts = Vec::new();
        while let Some((&tag, tail)) = rest.split_first() {
            if tag == 0 {
                return (parts.len() >= 2).then_some((EntityKey::Composite(parts), tail));
            }
            let (part, tail) = decode_part(rest)?;
            parts.push(part);
            rest = tail;
        }
        None
    }

    pub fn decode(b: &[u8]) -> Option<Self> {
        match b.split_first()? {
            (1, rest) => Some(EntityKey::Int(int_of(rest.try_into().ok()?))),
            (2, rest) => Some(EntityKey::Str(String::from_utf8(rest.to_vec()).ok()?)),
            (3, mut rest) => {
                let mut parts = Vec::new();
                while !rest.is_empty() {
                    let (part, tail) = decode_part(rest)?;
                    parts.push(part);
                    rest = tail;
                }
                (parts.len() >= 2).then_some(EntityKey::Composite(parts))
            }
            _ => None,
        }
    }
}

fn int_of(b: [u8; 8]) -> i64 {
    (u64::from_be_bytes(b) as i64) ^ i64::MIN
}

/// One part of a composite key and the bytes after it.
fn decode_part(b: &[u8]) -> Option<(EntityKey, &[u8])> {
    match b.split_first()? {
        (1, rest) if rest.len() >= 8 => {
            let (int, tail) = rest.split_at(8);
            Some((EntityKey::Int(int_of(int.try_into().ok()?)), tail))
        }
        (2, rest) => {
            let mut text = Vec::new();
            let mut i = 0;
            loop {
                match (rest.get(i)?, rest.get(i + 1)) {
                    (0, Some(1)) => break,
                    (0, Some(0xFF)) => (text.push(0), i += 2),
                    (0, _) => return None,
                    (&b, _) => (text.push(b), i += 1),
                };
            }
            let text = String::from_utf8(text).ok()?;
            Some((EntityKey::Str(text), &rest[i + 2..]))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_keys_sort_like_integers() {
        let keys = [i64::MIN, -5, -1, 0, 1, 901, i64::MAX];
        let enc: Vec<_> = keys.iter().map(|k| EntityKey::Int(*k).encode()).collect();
        assert!(enc.windows(2).all(|w| w[0] < w[1]));
        for k in keys {
            assert_eq!(
                EntityKey::decode(&EntityKey::Int(k).encode()),
                Some(EntityKey::Int(k))
            );
        }
        assert_eq!(
            EntityKey::decode(&EntityKey::Str("a".into()).encode()),
            Some(EntityKey::Str("a".into()))
        );
    }

    #[test]
    fn one_part_keys_keep_the_bytes_stores_were_written_with() {
        assert_eq!(EntityKey::Int(1).encode(), [1, 128, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(EntityKey::Str("ab".into()).encode(), [2, b'a', b'b']);
    }

    #[test]
    fn prefix_free_keys_round_trip_and_never_prefix_another() {
        let keys = [
            EntityKey::Int(-3),
            EntityKey::Str("a".into()),
            EntityKey::Str("ab".into()),
            EntityKey::Str("a\0".into()),
            EntityKey::Composite(vec![EntityKey::Str("a".into()), EntityKey::Int(1)]),
            EntityKey::Composite(vec![
                EntityKey::Str("a".into()),
                EntityKey::Int(1),
                EntityKey::Int(2),
            ]),
        ];
        let enc: Vec<Vec<u8>> = keys
            .iter()
            .map(|k| {
                let mut b = Vec::new();
                k.encode_prefix_free(&mut b);
                b
            })
            .collect();
        for (k, e) in keys.iter().zip(&enc) {
            let mut tail = e.clone();
            tail.push(9);
            assert_eq!(
                EntityKey::decode_prefix_free(&tail),
                Some((k.clone(), &[9u8][..]))
            );
            for other in &enc {
                assert!(
                    other == e || !other.starts_with(e),
                    "{e:?} prefixes {other:?}"
                );
            }
        }
    }

    #[test]
    fn composite_keys_round_trip_and_sort_part_by_part() {
        let key = |u: &str, i: i64| {
            EntityKey::Composite(vec![EntityKey::Str(u.into()), EntityKey::Int(i)])
        };
        // In order: the first part decides, a prefix sorts first, an
        // embedded NUL sorts after the end of the string.
        let keys = [
            key("", 5),
            key("a", -1),
            key("a", 0),
            key("a\0", -9),
            key("a\0b", 0),
            key("ab", i64::MIN),
            key("b", 0),
        ];
        let enc: Vec<_> = keys.iter().map(EntityKey::encode).collect();
        for (k, e) in keys.iter().zip(&enc) {
            assert_eq!(EntityKey::decode(e).as_ref(), Some(k));
        }
        assert!(enc.windows(2).all(|w| w[0] < w[1]), "{enc:?}");
        let three = EntityKey::Composite(vec![
            EntityKey::Int(7),
            EntityKey::Str("x".into()),
            EntityKey::Int(-7),
        ]);
        assert_eq!(EntityKey::decode(&three.encode()), Some(three));
        assert_eq!(EntityKey::decode(&[3, 2, b'a', 0]), None, "unterminated");
        assert_eq!(EntityKey::decode(&[3, 1, 0, 0]), None, "short int");
    }
}
