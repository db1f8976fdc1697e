//! `wafer plugin check`: what a component file is — its size, compile time,
//! imports and exports — and whether it fits the `transformer` world, or
//! exactly why not (an import wafer does not provide, a missing or mistyped
//! export), without running any of it.

use super::{PluginEngine, TransformerPre};
use std::time::{Duration, Instant};
use wasmtime::component::Component;

#[derive(Debug)]
pub struct Report {
    pub bytes: usize,
    pub compile_time: Duration,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    /// `Err(reason)` when it does not fit the contract.
    pub fits: Result<(), String>,
}

impl PluginEngine {
    /// Compile `bytes` and check it against the `transformer` world. A file
    /// that is not a component at all is `Err`.
    pub fn check(&self, bytes: &[u8]) -> Result<Report, String> {
        let started = Instant::now();
        let component = Component::new(&self.engine, bytes).map_err(|e| format!("{e:#}"))?;
        let compile_time = started.elapsed();
        let ty = component.component_type();
        let imports = ty
            .imports(&self.engine)
            .map(|(n, _)| n.to_string())
            .collect();
        let exports = ty
            .exports(&self.engine)
            .map(|(n, _)| n.to_string())
            .collect();
        let fits = self
            .linker
            .instantiate_pre(&component)
            .and_then(TransformerPre::new)
            .map(|_| ())
            .map_err(|e| format!("{e:#}"));
        Ok(Report {
            bytes: bytes.len(),
            compile_time,
            imports,
            exports,
            fits,
        })
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "component: {} KiB, compiled in {:.0} ms",
            self.bytes / 1024,
            self.compile_time.as_secs_f64() * 1e3
        )?;
        writeln!(f, "imports:")?;
        for i in &self.imports {
            writeln!(f, "  {i}")?;
        }
        writeln!(f, "exports:")?;
        for e in &self.exports {
            writeln!(f, "  {e}")?;
        }
        match &self.fits {
            Ok(()) => write!(f, "fits world wafer:transform/transformer@0.1.0"),
            Err(why) => write!(
                f,
                "does NOT fit world wafer:transform/transformer@0.1.0: {why}"
            ),
        }
    }
}
