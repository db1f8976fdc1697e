//! `wafer views`: the configured views, their fields and transformations,
//! for people.

use crate::registry::Registry;

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
