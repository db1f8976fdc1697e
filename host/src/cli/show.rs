//! Read-only views for people: one entity's features as JSON (`wafer get`)
//! and the configured views with their transformations (`wafer views`).

use super::App;
use crate::registry::Registry;
use crate::serve;
use anyhow::Context;

/// One entity's features as pretty JSON: `{feature: {value, status, event_timestamp}}`,
/// join key first.
pub fn get_one(app: &App, view: &str, key: &str) -> anyhow::Result<String> {
    let v = app
        .registry
        .view(view)
        .with_context(|| format!("no feature view named {view:?}"))?;
    let key_json = match v.key_type {
        crate::config::FieldType::Int64 => serde_json::Value::from(
            key.parse::<i64>()
                .with_context(|| format!("key {key:?} must be an integer"))?,
        ),
        _ => serde_json::Value::from(key),
    };
    let features: Vec<String> = v
        .fields
        .iter()
        .map(|f| format!("{view}:{}", f.name))
        .collect();
    let request =
        serde_json::json!({"features": features, "entities": {v.join_key.clone(): [key_json]}});
    let answer = serve::answer(&app.state(), &serde_json::to_vec(&request)?)
        .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    Ok(serde_json::to_string_pretty(&OneRow(answer))?)
}

#[derive(serde::Serialize)]
struct OneCell<'a> {
    value: &'a serve::Cell,
    status: &'a str,
    event_timestamp: &'a str,
}

/// Serializes a one-row answer as a map from feature name to its cell.
struct OneRow(serve::Answer);

impl serde::Serialize for OneRow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.results.len()))?;
        for (name, col) in self.0.metadata.feature_names.iter().zip(&self.0.results) {
            let cell = OneCell {
                value: &col.values[0],
                status: col.statuses[0],
                event_timestamp: &col.event_timestamps[0],
            };
            map.serialize_entry(name, &cell)?;
        }
        map.end()
    }
}

pub fn describe_views(registry: &Registry) -> String {
    let mut s = String::new();
    for v in registry.views() {
        let ttl = v.ttl.map_or("none".to_string(), |t| {
            humantime::format_duration(t).to_string()
        });
        s += &format!(
            "{}  (entity {}, key {} {}, ttl {ttl})\n",
            v.name,
            v.entity,
            v.join_key,
            v.key_type.name()
        );
        for f in &v.fields {
            let dims = f.dimensions.map(|d| format!("[{d}]")).unwrap_or_default();
            let t = f.transform.as_ref().map_or(String::new(), |t| {
                let llm = t
                    .llm
                    .as_ref()
                    .map(|l| format!(", llm {l}"))
                    .unwrap_or_default();
                format!("  <- {}({}{llm})", t.plugin, t.inputs.join(", "))
            });
            s += &format!("  {} {}{dims}{t}\n", f.name, f.ty.name());
        }
    }
    s
}
