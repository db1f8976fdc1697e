//! The two steps of a C UDF's build that are not the C compiler's: C
//! bindings for the `transformer` world (what `wit-bindgen c` writes) and
//! turning the compiled core module into a component (what `wasm-tools
//! component new --adapt` does), from the same crates. With them, building a
//! C plugin takes Debian's clang and wasi-libc and this binary, and no
//! `cargo install` of either CLI (minutes on two cores).

use anyhow::Context;
use std::path::Path;
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wit_bindgen_core::wit_parser::Resolve;

/// `transformer.h`, `transformer.c` and `transformer_component_type.o` for
/// this wafer's contract, written into `out`.
pub fn bindings(out: &Path) -> anyhow::Result<()> {
    let mut resolve = Resolve::default();
    let pkg = resolve.push_str("transform.wit", super::scaffold::WIT)?;
    let world = resolve.select_world(&[pkg], Some("transformer"))?;
    let mut files = Default::default();
    let mut c = wit_bindgen_c::Opts::default().build();
    c.generate(&resolve, world, &mut files)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for (name, bytes) in files.iter() {
        let path = out.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// The component of `core`, a module linked with those bindings. Its WASI
/// preview 1 imports (what wasi-libc speaks) are adapted to preview 2 with
/// wasmtime 48's reactor adapter.
pub fn componentize(core: &Path, out: &Path) -> anyhow::Result<()> {
    let module = std::fs::read(core).with_context(|| format!("cannot read {}", core.display()))?;
    let component = wit_component::ComponentEncoder::default()
        .module(&module)
        .and_then(|e| {
            e.adapter(
                WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
                WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            )
        })
        .and_then(|e| e.validate(true).encode())
        .with_context(|| format!("{}: cannot make a component of it", core.display()))?;
    std::fs::write(out, component).with_context(|| format!("cannot write {}", out.display()))
}
