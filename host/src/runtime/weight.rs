//! How much a lookup asks of the store, which decides where it may run:
//! its reads (entity rows × views, one RocksDB read each) and its values
//! (entity rows × features, each decoded and written into the answer).
//! `read.rs` runs a lookup within [`Limits`] on the task that asked.

use super::lookup::Lookup;
use crate::registry::Registry;

/// What a lookup may ask of the store and still run on the async task that
/// asked (when its rows are in memory: `read.rs`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    reads: usize,
    values: usize,
    /// Whether a feature service is expanded to be weighed (a registry
    /// look-up and a list of names) or counts as past the limits.
    expand_services: bool,
}

/// Any caller's: a few reads, each a few microseconds from memory, cost
/// less than the two thread hand-offs of a blocking task, which were most
/// of a one-key lookup's time over HTTP.
pub(super) const ANY_CALLER: Limits = Limits {
    reads: 8,
    values: usize::MAX,
    expand_services: false,
};

/// A server's lookup, on the task that took its request, where handing it
/// to another thread cost more (docs/benchmarks.md). Both bounds hold:
/// `callgrind` puts a read from memory at about 5,300 instructions and a
/// float at about 390 (decoded, written as text and answered: the rest of
/// a 100 × 50 request's 2.5 million; its read 0.18 ms in process on the development
/// machine), and 8,192 one-feature keys would be about 45 million.
pub(super) const SERVER_TASK: Limits = Limits {
    reads: 128,
    values: 8_192,
    expand_services: true,
};

/// Whether `req` stays within `limits`. A feature service's features are
/// weighed as the registry expands them; an unknown service weighs
/// nothing (the lookup fails at once). Counting stops at the first view
/// past the limit: a body may list any number of features, and this runs
/// before anything is checked.
pub(super) fn fits(registry: &Registry, req: &Lookup, limits: Limits) -> bool {
    let rows = req.entities.first().map_or(0, |(_, k)| k.len());
    let features: &[String] = match &req.feature_service {
        None => &req.features,
        Some(_) if !limits.expand_services => return false,
        Some(name) => match registry.feature_service(name) {
            Some(expanded) => expanded,
            None => return true,
        },
    };
    if rows.saturating_mul(features.len()) > limits.values {
        return false;
    }
    let mut views: Vec<&str> = Vec::new();
    for f in features {
        let view = f.split(':').next().unwrap_or_default();
        if !views.contains(&view) {
            views.push(view);
            if rows.saturating_mul(views.len()) > limits.reads {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    const TOML: &str = r#"
[[entity]]
name = "item"
join_key = "id"
type = "int64"

[[feature_view]]
name = "a"
entity = "item"
fields = [
  { name = "id", type = "INT64", primary_key = true },
  { name = "x", type = "DOUBLE" },
  { name = "y", type = "DOUBLE" },
]

[[feature_view]]
name = "b"
entity = "item"
fields = [
  { name = "id", type = "INT64", primary_key = true },
  { name = "z", type = "DOUBLE" },
]

[[feature_service]]
name = "s"
features = ["a", "a:x", "b:z"]
"#;

    fn lookup(features: &[&str], keys: usize, service: Option<&str>) -> Lookup {
        Lookup {
            features: features.iter().map(|f| f.to_string()).collect(),
            feature_service: service.map(String::from),
            entities: vec![("id".into(), vec![Value::Int64(1); keys])],
        }
    }

    fn registry() -> Registry {
        let path = std::path::Path::new("w.toml");
        Registry::new(crate::config::Config::parse(path, TOML).unwrap())
    }

    #[test]
    fn any_caller_reads_a_few_keys_where_it_asks() {
        let (r, any) = (registry(), ANY_CALLER);
        // 4 keys × 2 views is 8 reads; a third view or a ninth key is more.
        assert!(fits(&r, &lookup(&["a:x", "b:z", "a:y"], 4, None), any));
        assert!(!fits(&r, &lookup(&["a:x", "b:z", "c:w"], 4, None), any));
        assert!(!fits(&r, &lookup(&["a:x"], 9, None), any));
        assert!(!fits(&r, &lookup(&[], 1, Some("s")), any));
    }

    /// Reads and values both bound a server's lookup; a service weighs
    /// its features as it expands (a bare view is each of its fields, a
    /// feature named twice is once: 3 features of 2 views).
    #[test]
    fn a_servers_lookup_is_bounded_by_its_reads_and_its_values() {
        let (r, task) = (registry(), SERVER_TASK);
        assert!(fits(&r, &lookup(&["a:x", "b:z"], 64, None), task));
        assert!(!fits(&r, &lookup(&["a:x", "b:z"], 65, None), task));
        assert!(fits(&r, &lookup(&["a:x"], 128, None), task));
        assert!(!fits(&r, &lookup(&["a:x"], 129, None), task));
        let wide: Vec<String> = (0..100).map(|i| format!("a:f{i}")).collect();
        let wide: Vec<&str> = wide.iter().map(String::as_str).collect();
        assert!(fits(&r, &lookup(&wide, 81, None), task));
        assert!(!fits(&r, &lookup(&wide, 82, None), task));
        assert!(fits(&r, &lookup(&[], 64, Some("s")), task));
        assert!(!fits(&r, &lookup(&[], 65, Some("s")), task));
        assert!(fits(&r, &lookup(&[], 10_000, Some("unknown")), task));
    }
}
