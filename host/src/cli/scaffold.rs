//! `wafer plugin new`: a working plugin project to start a UDF from — the
//! logic as a plain, natively tested function, the component glue, the SDK
//! and the WIT contract (copied from this build of wafer, so the skeleton
//! builds offline against exactly the contract this binary speaks).

use anyhow::Context;
use std::path::Path;

pub const WIT: &str = include_str!("../../../wit/transform.wit");
/// The Rust SDK's sources, as `sdk/src/` of a new project.
const SDK_LIB: &str = include_str!("../../../plugins/sdk/rust/src/lib.rs");
const SDK_CELLS: &str = include_str!("../../../plugins/sdk/rust/src/cells.rs");
const SDK_CONFIG: &str = include_str!("../../../plugins/sdk/rust/src/config.rs");
/// The plugin workspace's lock file: the skeleton builds with the crate
/// versions wafer's own plugins are tested with.
const LOCK: &str = include_str!("../../../plugins/Cargo.lock");

const LIB: &str = r#"//! The UDF `{name}`: upper-cases the text column named by the option `input`
//! into the field `output`. Replace `shout` with your logic; the component
//! glue below stays the same.

/// The logic, plain Rust: unit-test it natively with `cargo test`.
pub fn shout(text: &str) -> String {
    text.to_uppercase()
}

#[cfg(test)]
mod tests {
    #[test]
    fn shouts() {
        assert_eq!(super::shout("quiet dog"), "QUIET DOG");
    }
}

#[cfg(target_arch = "wasm32")]
mod component {
    use wafer_plugin_sdk::{Batch, BatchError, Cell, ColumnBuilder, Config, Output, RowError, Transform};

    struct Plugin {
        input: String,
        output: String,
    }

    impl Transform for Plugin {
        fn configure(c: Config) -> Result<Self, String> {
            Ok(Plugin {
                input: c.input()?.to_string(),
                output: c.output()?.to_string(),
            })
        }

        /// One call per batch, a column at a time. A bad row goes in `errors`
        /// (its cell null), so it never fails the others.
        fn transform(&self, input: Batch) -> Result<Output, BatchError> {
            let text = input.column(&self.input)?;
            let mut out = ColumnBuilder::with_capacity(input.len());
            let mut errors = Vec::new();
            for (i, cell) in text.cells().enumerate() {
                match cell {
                    Cell::Text(t) => out.push(super::shout(t)),
                    Cell::Null => out.push_null(),
                    other => {
                        errors.push(RowError::invalid(i, format!("expected text, got {}", other.type_name())));
                        out.push_null();
                    }
                }
            }
            Ok(Output::single(out.finish(&self.output), errors))
        }
    }

    wafer_plugin_sdk::export!(Plugin);
}
"#;

const CARGO: &str = r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib", "rlib"]

[target.'cfg(target_arch = "wasm32")'.dependencies]
wafer-plugin-sdk = { path = "sdk" }

[workspace]
members = ["sdk"]

[profile.release]
opt-level = 3
lto = true
codegen-units = 1
strip = "debuginfo"
panic = "abort"
"#;

const SDK_CARGO: &str = r#"[package]
name = "wafer-plugin-sdk"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
wit-bindgen = { version = "0.46", default-features = false, features = ["macros", "realloc"] }
"#;

const README: &str = r#"# {name}: a wafer transformation plugin

    rustup target add wasm32-wasip2        # once
    cargo test                             # the logic, natively
    cargo build --release --target wasm32-wasip2
    wafer plugin check target/wasm32-wasip2/release/{file}.wasm
    wafer transform --view V --input rows.jsonl --plugin target/wasm32-wasip2/release/{file}.wasm

In the config: `transform = { plugin = "path/to/{file}.wasm", input = "some_text_column" }` on a
STRING field. `sdk/` and `wit/` are the plugin SDK and contract of the wafer that made this.
"#;

/// Write a Rust plugin project named `name` into `dir/name`.
pub fn new_rust(dir: &Path, name: &str) -> anyhow::Result<std::path::PathBuf> {
    write(
        dir,
        name,
        [
            ("Cargo.toml", fill(CARGO, name)),
            ("Cargo.lock", LOCK.to_string()),
            ("README.md", fill(README, name)),
            ("src/lib.rs", fill(LIB, name)),
            ("sdk/Cargo.toml", SDK_CARGO.to_string()),
            // The SDK finds the contract relative to itself.
            (
                "sdk/src/lib.rs",
                SDK_LIB.replace("\"../../../wit\"", "\"../wit\""),
            ),
            ("sdk/src/cells.rs", SDK_CELLS.to_string()),
            ("sdk/src/config.rs", SDK_CONFIG.to_string()),
            ("wit/transform.wit", WIT.to_string()),
        ],
    )
}

/// Write a Python plugin project named `name` into `dir/name`.
pub fn new_python(dir: &Path, name: &str) -> anyhow::Result<std::path::PathBuf> {
    write(
        dir,
        name,
        [
            ("app.py", fill(python::APP, name)),
            ("test_app.py", python::TEST.to_string()),
            ("README.md", fill(python::README, name)),
            ("wafer_udf.py", python::SDK.to_string()),
            ("build.py", python::BUILD.to_string()),
            ("wit/transform.wit", WIT.to_string()),
        ],
    )
}

/// Write a JavaScript plugin project named `name` into `dir/name`.
pub fn new_js(dir: &Path, name: &str) -> anyhow::Result<std::path::PathBuf> {
    write(
        dir,
        name,
        [
            ("app.js", fill(js::APP, name)),
            ("app.test.mjs", js::TEST.to_string()),
            ("package.json", fill(js::PACKAGE, name)),
            ("README.md", fill(js::README, name)),
            ("wafer_udf.js", js::SDK.to_string()),
            ("build.mjs", js::BUILD.to_string()),
            ("wit/transform.wit", WIT.to_string()),
        ],
    )
}

/// Write a C plugin project named `name` into `dir/name`.
pub fn new_c(dir: &Path, name: &str) -> anyhow::Result<std::path::PathBuf> {
    let root = write(
        dir,
        name,
        [
            ("app.c", c::APP.to_string()),
            ("shout.c", c::SHOUT.to_string()),
            ("shout.h", c::SHOUT_H.to_string()),
            ("test_shout.c", c::TEST.to_string()),
            ("wafer_udf.h", c::SDK.to_string()),
            ("build.sh", fill(c::BUILD, name)),
            ("README.md", fill(c::README, name)),
            ("wit/transform.wit", WIT.to_string()),
        ],
    )?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let build = root.join("build.sh");
        std::fs::set_permissions(&build, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(root)
}

/// The C skeleton's files, real files under `plugins/sdk/c/skeleton`.
mod c {
    pub const SDK: &str = include_str!("../../../plugins/sdk/c/wafer_udf.h");
    pub const APP: &str = include_str!("../../../plugins/sdk/c/skeleton/app.c");
    pub const SHOUT: &str = include_str!("../../../plugins/sdk/c/skeleton/shout.c");
    pub const SHOUT_H: &str = include_str!("../../../plugins/sdk/c/skeleton/shout.h");
    pub const TEST: &str = include_str!("../../../plugins/sdk/c/skeleton/test_shout.c");
    pub const BUILD: &str = include_str!("../../../plugins/sdk/c/skeleton/build.sh");
    pub const README: &str = include_str!("../../../plugins/sdk/c/skeleton/README.md");
}

/// A template with `{name}` (the project) and `{file}` (its file stem) filled in.
fn fill(template: &str, name: &str) -> String {
    template
        .replace("{name}", name)
        .replace("{file}", &name.replace('-', "_"))
}

fn write<const N: usize>(
    dir: &Path,
    name: &str,
    files: [(&str, String); N],
) -> anyhow::Result<std::path::PathBuf> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    anyhow::ensure!(
        valid,
        "plugin name {name:?}: use lowercase letters, digits, - and _, starting with a letter"
    );
    let root = dir.join(name);
    anyhow::ensure!(!root.exists(), "{} already exists", root.display());
    for (rel, body) in files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("files are in a directory"))?;
        std::fs::write(&p, body).with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(root)
}

/// The Python skeleton: a row function, its plain-Python test, and the SDK
/// and build script of `plugins/sdk/python`.
mod python {
    pub const SDK: &str = include_str!("../../../plugins/sdk/python/wafer_udf.py");
    pub const BUILD: &str = include_str!("../../../plugins/sdk/python/build.py");

    pub const APP: &str = r#""""The UDF `{name}`: upper-cases the text column named by the option
`input` into the field `output`. Replace `shout` with your logic."""

import wafer_udf
from wafer_udf import RowError


def setup(options):
    """Once per instance; a missing option is refused, naming it."""
    return options["input"]


def shout(row, column):
    """One row (cells by column name) in, the field's value out."""
    text = row.get(column)
    if text is None:
        return None
    if not isinstance(text, str):
        raise RowError(f"expected text, got {wafer_udf.TYPE_NAMES[type(text)]}")
    return text.upper()


WitWorld = wafer_udf.udf(shout, setup=setup)
"#;

    pub const TEST: &str = r#""""`python3 -m unittest`: the row function is plain Python."""

import unittest

import app


class ShoutTest(unittest.TestCase):
    def test_shouts(self):
        self.assertEqual(app.shout({"text": "quiet dog"}, "text"), "QUIET DOG")

    def test_null_stays_null(self):
        self.assertIsNone(app.shout({"text": None}, "text"))

    def test_a_number_fails_its_row(self):
        with self.assertRaises(app.RowError):
            app.shout({"text": 3}, "text")


if __name__ == "__main__":
    unittest.main()
"#;

    pub const README: &str = r#"# {name}: a wafer transformation plugin in Python

    python3 -m unittest                  # the logic, in plain Python
    python3 build.py . {file}.wasm       # fetches componentize-py once, then builds
    wafer plugin check {file}.wasm
    wafer transform --view V --input rows.jsonl --plugin {file}.wasm

In the config: `transform = { plugin = "path/to/{file}.wasm", input = "some_text_column" }` on a
STRING field. `wafer_udf.py`, `build.py` and `wit/` are the SDK, build script and contract of the
wafer that made this. The component carries CPython (about 18 MB): wafer compiles it once, on
first load, and keeps the compiled code in its plugin cache.
"#;
}

/// The JavaScript skeleton: a row function, its `node --test` test, and the
/// SDK and build script of `plugins/sdk/js`.
mod js {
    pub const SDK: &str = include_str!("../../../plugins/sdk/js/wafer_udf.js");
    pub const BUILD: &str = include_str!("../../../plugins/sdk/js/build.mjs");

    pub const APP: &str = r#"// The UDF `{name}`: upper-cases the text column named by the option
// `input` into the field `output`. Replace `shout` with your logic.

import { RowError, typeName, udf } from "./wafer_udf.js";

// Once per instance; a thrown error refuses the options.
function setup(options) {
  if (!("input" in options)) throw new Error("missing option `input`");
  return options.input;
}

// One row (cells by column name) in, the field's value out.
export function shout(row, column) {
  const text = row[column] ?? null;
  if (text === null) return null;
  if (typeof text !== "string") throw new RowError(`expected text, got ${typeName(text)}`);
  return text.toUpperCase();
}

export const { configure, transform } = udf(shout, setup);
"#;

    pub const TEST: &str = r#"// `node --test`: the row function is plain JavaScript.
import assert from "node:assert/strict";
import { test } from "node:test";
import { shout } from "./app.js";
import { RowError } from "./wafer_udf.js";

test("shouts", () => assert.equal(shout({ text: "quiet dog" }, "text"), "QUIET DOG"));
test("null stays null", () => assert.equal(shout({ text: null }, "text"), null));
test("a number fails its row", () => assert.throws(() => shout({ text: 3 }, "text"), RowError));
"#;

    pub const PACKAGE: &str = r#"{
  "name": "{name}",
  "private": true,
  "type": "module",
  "scripts": {
    "test": "node --test",
    "build": "node build.mjs . {file}.wasm"
  }
}
"#;

    pub const README: &str = r#"# {name}: a wafer transformation plugin in JavaScript

    node --test                          # the logic, in plain JavaScript
    node build.mjs . {file}.wasm         # fetches componentize-qjs once, then builds
    wafer plugin check {file}.wasm
    wafer transform --view V --input rows.jsonl --plugin {file}.wasm

In the config: `transform = { plugin = "path/to/{file}.wasm", input = "some_text_column" }` on a
STRING field. `wafer_udf.js`, `build.mjs` and `wit/` are the SDK, build script and contract of the
wafer that made this. The component carries QuickJS (about 1.6 MB).
"#;
}
