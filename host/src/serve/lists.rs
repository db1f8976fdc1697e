//! A JSON object of named lists, read in one pass in the body's order,
//! each item typed as it is read: a read's `entities` (each join key's
//! keys) and a write's `df` (each column's cells). A name given twice is
//! refused, where a map would keep one of the two lists without a word.

use crate::value::Value;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// What the lists hold and how their errors read.
pub(super) trait Lists {
    /// One item, read from JSON.
    type Item: de::DeserializeOwned + Into<Value>;
    /// What the object should be.
    const OBJECT: &'static str;
    /// What each list should be.
    const LIST: &'static str;
    /// The error for `name` given twice.
    fn twice(name: &str) -> String;
}

/// Named lists of values: a df's columns, a lookup's join keys.
pub(super) type Columns = Vec<(String, Vec<Value>)>;

/// The lists, named, in the body's order.
#[derive(Debug)]
pub(super) struct NamedLists<L>(pub Columns, PhantomData<L>);

impl<L> NamedLists<L> {
    /// How many items the first list has, and how many lists there are.
    pub fn shape(&self) -> (usize, usize) {
        (self.0.first().map_or(0, |(_, c)| c.len()), self.0.len())
    }
}

impl<'de, L: Lists> serde::Deserialize<'de> for NamedLists<L> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(Named::<L>(PhantomData))
    }
}

struct Named<L>(PhantomData<L>);

impl<'de, L: Lists> Visitor<'de> for Named<L> {
    type Value = NamedLists<L>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(L::OBJECT)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NamedLists<L>, A::Error> {
        let mut lists: Columns = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            if lists.iter().any(|(n, _)| *n == name) {
                return Err(de::Error::custom(L::twice(&name)));
            }
            let items = map.next_value_seed(List::<L>(PhantomData))?;
            lists.push((name, items));
        }
        Ok(NamedLists(lists, PhantomData))
    }
}

/// One list's items.
struct List<L>(PhantomData<L>);

impl<'de, L: Lists> DeserializeSeed<'de> for List<L> {
    type Value = Vec<Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Value>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, L: Lists> Visitor<'de> for List<L> {
    type Value = Vec<Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(L::LIST)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Value>, A::Error> {
        // A length the body claims is trusted for a page's worth at most.
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element::<L::Item>()? {
            items.push(item.into());
        }
        Ok(items)
    }
}
