//! Where a command's store work happens: through the server that owns the
//! store, when one runs, or in this process otherwise. Either way the
//! command prints the same thing and exits with the same code.

use super::progress::Progress;
use super::remote::Remote;
use crate::config::{Config, FieldType};
use crate::ingest::{DeadLetter, PublishRequest, Summary};
use crate::registry::{JoinKey, View};
use crate::runtime::{Lookup, Wafer};
use crate::value::Value;
use anyhow::Context;
use serde_json::{Value as Json, json};
use std::path::Path;

pub enum Target {
    Local(Wafer),
    Remote(Remote),
}

impl Target {
    /// The running server for the config's store, or the store opened here.
    pub async fn open(config: &Path) -> anyhow::Result<Target> {
        let store = Config::load(config)?.store_path();
        if let Some(remote) = Remote::find(&store).await? {
            tracing::debug!(url = remote.url(), "using the server that owns the store");
            return Ok(Target::Remote(remote));
        }
        Ok(Target::Local(Wafer::open(config).with_context(|| {
            "no running server answered for this store (a server that is still starting \
             announces itself once it listens)"
        })?))
    }

    /// A store opened here lands its writes and is made durable, as a
    /// server's clean stop does (an exit alone left them in an unsynced
    /// write-ahead log, for every later open to replay).
    pub async fn close(self) -> anyhow::Result<()> {
        match self {
            Target::Local(w) => Ok(w.close().await?),
            Target::Remote(_) => Ok(()),
        }
    }

    pub async fn publish(
        &self,
        req: PublishRequest,
        progress: &Progress,
    ) -> anyhow::Result<Summary> {
        match self {
            Target::Local(w) => {
                let on_batch = progress.on_batch();
                let mut on_batch = on_batch;
                Ok(w.publish(req, move |s: &Summary| on_batch(&s.progress()))
                    .await?)
            }
            Target::Remote(r) => r.publish(req, progress.on_batch()).await,
        }
    }

    pub async fn retry(&self, view: &str, progress: &Progress) -> anyhow::Result<Summary> {
        match self {
            Target::Local(w) => {
                let mut on_batch = progress.on_batch();
                Ok(
                    w.retry_dead_letters(view, move |s: &Summary| on_batch(&s.progress()))
                        .await?,
                )
            }
            Target::Remote(r) => r.retry(view, progress.on_batch()).await,
        }
    }

    pub async fn dead_letters(&self, view: &str) -> anyhow::Result<Vec<DeadLetter>> {
        match self {
            Target::Local(w) => Ok(w.dead_letters(view).await?),
            Target::Remote(r) => r.dead_letters(view).await,
        }
    }

    pub async fn backup(&self, dir: &Path) -> anyhow::Result<()> {
        match self {
            Target::Local(w) => Ok(w.backup(dir).await?),
            Target::Remote(r) => r.backup(dir).await,
        }
    }

    /// The sources' and sinks' status; with no server, only the offsets
    /// the store holds (nothing is consuming).
    pub async fn sources(&self) -> anyhow::Result<crate::stream::StreamsStatus> {
        match self {
            Target::Local(w) => Ok(w.stored_streams_status()?),
            Target::Remote(r) => r.sources().await,
        }
    }

    pub async fn reset_source(
        &self,
        name: &str,
        to: crate::config::StartAt,
    ) -> anyhow::Result<std::collections::BTreeMap<i32, i64>> {
        match self {
            Target::Local(w) => Ok(w.reset_source(name, to).await?),
            Target::Remote(r) => r.reset_source(name, to).await,
        }
    }

    pub async fn materialize(
        &self,
        view: &str,
        at: crate::time::Micros,
    ) -> anyhow::Result<crate::store::Materialized> {
        match self {
            Target::Local(w) => Ok(w.materialize(view, at).await?),
            Target::Remote(r) => r.materialize(view, at).await,
        }
    }

    pub async fn purge(&self, view: &str) -> anyhow::Result<u64> {
        match self {
            Target::Local(w) => Ok(w.purge_dead_letters(view).await?),
            Target::Remote(r) => r.purge(view).await,
        }
    }

    /// Every feature of `view` for one key, as pretty JSON `{feature: {value,
    /// status, event_timestamp}}`, the join key first.
    pub async fn get(&self, config: &Path, view: &str, key: &str) -> anyhow::Result<String> {
        let registry = match self {
            Target::Local(w) => w.registry(),
            Target::Remote(_) => {
                std::sync::Arc::new(crate::registry::Registry::new(Config::load(config)?))
            }
        };
        let v = registry
            .view(view)
            .with_context(|| format!("no feature view named {view:?}"))?;
        let key = key_columns(v, key)?;
        let features: Vec<String> = v
            .fields
            .iter()
            .map(|f| format!("{view}:{}", f.name))
            .collect();
        let epoch = crate::time::Micros::EPOCH.rfc3339();
        let mut out: Vec<(String, Json)> = (key.iter())
            .map(|(name, value)| {
                let value = serde_json::to_value(value).expect("values serialize");
                (name.clone(), cell(value, "PRESENT".into(), epoch.clone()))
            })
            .collect();
        let entities: Vec<(String, Vec<Value>)> =
            key.into_iter().map(|(name, v)| (name, vec![v])).collect();
        match self {
            Target::Local(w) => {
                let lookup = Lookup {
                    features,
                    feature_service: None,
                    entities,
                };
                for c in w.lookup(lookup).await?.columns {
                    let value = serde_json::to_value(&c.values[0])?;
                    let status = serde_json::to_value(c.statuses[0])?;
                    out.push((c.feature, cell(value, status, c.event_times[0].rfc3339())));
                }
            }
            Target::Remote(r) => {
                let answer = r.get(&features, &entities).await?;
                // The join-key columns come first, and are already out.
                out.extend(answer_cells(&answer, entities.len()));
            }
        }
        Ok(serde_json::to_string_pretty(&InOrder(out))?)
    }
}

/// A cell as `wafer get` prints it.
fn cell(value: Json, status: Json, time: String) -> Json {
    json!({"value": value, "status": status, "event_timestamp": time})
}

/// The columns of a Feast answer after its first `skip`, each as its
/// name and its first row's cell.
fn answer_cells(answer: &Json, skip: usize) -> Vec<(String, Json)> {
    let names = (answer["metadata"]["feature_names"].as_array()).map_or(&[][..], Vec::as_slice);
    let columns = names.iter().enumerate().skip(skip);
    (columns.map(|(i, name)| {
        let col = &answer["results"][i];
        let time = col["event_timestamps"][0].as_str().unwrap_or_default();
        let name = name.as_str().unwrap_or_default().to_string();
        let (value, status) = (col["values"][0].clone(), col["statuses"][0].clone());
        (name, cell(value, status, time.to_string()))
    }))
    .collect()
}

/// `--key` as join-key columns in the view's order: a bare value for a
/// view with one join key, `name=value` pairs split on `,` otherwise.
fn key_columns(v: &View, text: &str) -> anyhow::Result<Vec<(String, Value)>> {
    if let Some(k) = v.single_key() {
        let bare = text.strip_prefix(&format!("{}=", k.name)).unwrap_or(text);
        return Ok(vec![(k.name.clone(), key_value(k, bare)?)]);
    }
    let mut given: Vec<(&str, &str)> = Vec::new();
    for pair in text.split(',') {
        let (name, value) = pair.split_once('=').with_context(|| {
            format!(
                "--key {text:?}: view {} has several join keys; give each as name=value, e.g. {}",
                v.name,
                example(v)
            )
        })?;
        if !v.is_join_key(name.trim()) {
            anyhow::bail!(
                "--key: {name:?} is not a join key of view {} (its keys: {})",
                v.name,
                example(v)
            );
        }
        given.push((name.trim(), value.trim()));
    }
    (v.keys.iter())
        .map(|k| {
            let (_, value) = (given.iter().find(|(n, _)| *n == k.name)).with_context(|| {
                format!("--key has no {:?}, a join key of view {}", k.name, v.name)
            })?;
            Ok((k.name.clone(), key_value(k, value)?))
        })
        .collect()
}

fn key_value(k: &JoinKey, text: &str) -> anyhow::Result<Value> {
    Ok(match k.ty {
        FieldType::Int64 => Value::Int64(
            (text.parse())
                .with_context(|| format!("key {}={text:?} must be an integer", k.name))?,
        ),
        _ => Value::String(text.into()),
    })
}

fn example(v: &View) -> String {
    let parts: Vec<String> = v.keys.iter().map(|k| format!("{}=...", k.name)).collect();
    parts.join(",")
}

/// A JSON object whose keys print in the order given (serde_json's map sorts them).
struct InOrder(Vec<(String, Json)>);

impl serde::Serialize for InOrder {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    #[test]
    fn a_key_is_a_value_or_one_pair_per_join_key() {
        let config = crate::registry::USER_ITEM_CONFIG;
        let r = Registry::new(Config::parse(Path::new("wafer.toml"), config).unwrap());
        let (ui, items) = (r.view("ui").unwrap(), r.view("items").unwrap());
        let cols = |v, text| key_columns(v, text).map_err(|e| e.to_string());
        let item = |i| vec![("item_id".to_string(), Value::Int64(i))];
        assert_eq!(cols(items, "7"), Ok(item(7)));
        assert_eq!(cols(items, "item_id=7"), Ok(item(7)));
        let pair = vec![
            ("user_id".to_string(), Value::String("u1".into())),
            ("item_id".to_string(), Value::Int64(7)),
        ];
        assert_eq!(
            cols(ui, "item_id= 7, user_id=u1"),
            Ok(pair),
            "in the view's order"
        );
        for (text, needle) in [
            (
                "u1",
                "give each as name=value, e.g. user_id=...,item_id=...",
            ),
            ("user_id=u1", "--key has no \"item_id\""),
            (
                "user_id=u1,item_id=7,shop=1",
                "\"shop\" is not a join key of view ui",
            ),
            (
                "user_id=u1,item_id=x",
                "key item_id=\"x\" must be an integer",
            ),
        ] {
            let e = cols(ui, text).unwrap_err();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }
}
