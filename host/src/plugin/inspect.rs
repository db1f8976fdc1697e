//! `wafer plugin check`: what a component file is — its size, compile time,
//! imports and exports — and which contract's `transformer` world it fits,
//! or exactly why it fits neither (an import wafer does not provide, a
//! missing or mistyped export), without running any of it.

use super::{Contract, PluginEngine, Pre};
use std::time::{Duration, Instant};
use wasmtime::component::Component;

#[derive(Debug)]
pub struct Report {
    pub bytes: usize,
    pub compile_time: Duration,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    /// The contract it implements, or why it fits neither.
    pub fits: Result<Contract, String>,
}

impl PluginEngine {
    /// Compile `bytes` and check it against both contracts' `transformer` worlds. A file
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
        let fits = self.link(&component).map(|pre| match pre {
            Pre::V1(_) => Contract::V0_1,
            Pre::V2(_) => Contract::V0_2,
        });
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
            Ok(contract) => write!(f, "fits world {contract}"),
            Err(why) => write!(f, "does NOT fit a wafer contract: {why}"),
        }
    }
}
