//! What the benches share: the view they publish into through the
//! `passthrough` plugin, its rows, their size knobs and how latencies
//! print. Each bench is its own crate and uses a part of this.
#![allow(dead_code)]

use std::time::Duration;

/// Entity `item`, view `vec`: a `dims`-dimension vector through
/// `passthrough`, and a price.
pub fn passthrough_view(dims: usize) -> String {
    format!(
        r#"
[[entity]]
name = "item"
join_key = "item_id"
type = "int64"

[[feature_view]]
name = "vec"
entity = "item"
fields = [
  {{ name = "item_id", type = "INT64", primary_key = true }},
  {{ name = "v", type = "ARRAY<FLOAT>", dimensions = {dims}, transform = {{ plugin = "passthrough" }} }},
  {{ name = "price", type = "DOUBLE" }},
]
"#
    )
}

/// Row `i` of [`passthrough_view`]`(16)`, as JSON input.
pub fn row(i: usize) -> serde_json::Value {
    let v: Vec<f32> = (0..16).map(|d| (d + i) as f32 / 100.0).collect();
    serde_json::json!({"item_id": i, "v": v, "price": i as f64 / 10.0})
}

/// A size from the environment, else `default`.
pub fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}
