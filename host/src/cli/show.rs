//! `wafer views` and `wafer sources`, for people: the configured views,
//! their fields and transformations; the sources' partitions and sinks.

use crate::registry::Registry;

pub fn describe_views(registry: &Registry) -> String {
    let mut s = String::new();
    for v in registry.views() {
        let ttl = v.ttl.map_or("none".to_string(), |t| {
            humantime::format_duration(t).to_string()
        });
        let entities: Vec<&str> = v.keys.iter().map(|k| k.entity.as_str()).collect();
        let keys: Vec<String> = (v.keys.iter())
            .map(|k| format!("{} {}", k.name, k.ty.name()))
            .collect();
        s += &format!(
            "{}  (entity {}, key {}, ttl {ttl})\n",
            v.name,
            entities.join(" × "),
            keys.join(" × "),
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

pub fn sources(status: &crate::stream::StreamsStatus) -> String {
    let opt = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
    let mut s = String::new();
    for src in &status.sources {
        s += &format!(
            "source {}  (topic {}, view {})\n",
            src.name, src.topic, src.view
        );
        if let Some(e) = &src.error {
            s += &format!("  error: {e}\n");
        }
        for p in &src.partitions {
            s += &format!(
                "  partition {}  offset {}  high watermark {}  lag {}  {:.0} rows/s{}\n",
                p.partition,
                opt(p.offset),
                opt(p.high_watermark),
                opt(p.lag),
                p.rows_per_sec,
                p.last_error
                    .as_ref()
                    .map_or(String::new(), |e| format!("  error: {e}")),
            );
        }
    }
    for k in &status.sinks {
        let e = k
            .last_error
            .as_ref()
            .map_or(String::new(), |e| format!("  error: {e}"));
        s += &format!(
            "sink {}  (topic {})  {} rows sent{e}\n",
            k.name, k.topic, k.rows
        );
    }
    if s.is_empty() {
        s = "no [[source]] or [[sink]] in the config\n".into();
    }
    s
}
