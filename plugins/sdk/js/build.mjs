#!/usr/bin/env node
// Builds a JavaScript UDF into a wafer plugin (a Wasm component).
//
//     node build.mjs APP_DIR OUT.wasm [--wit WIT_DIR]
//
// APP_DIR holds `app.js`, an ES module exporting `configure` and `transform`
// (usually `udf(...)` from `wafer_udf.js`, found in APP_DIR or beside this
// script). WIT_DIR defaults to APP_DIR/wit, else the repository's `wit/`.
//
// componentize-qjs (QuickJS; pinned below) is installed from npm once into
// the tool cache: $WAFER_TOOL_CACHE, else $XDG_CACHE_HOME/wafer/tools, else
// ~/.cache/wafer/tools. It builds with the synchronous runtime (`--sync`):
// wafer's host does not enable component-model async.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const COMPONENTIZE_QJS = "0.4.5";
const HERE = path.dirname(fileURLToPath(import.meta.url));

function toolCache() {
  if (process.env.WAFER_TOOL_CACHE) return process.env.WAFER_TOOL_CACHE;
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
  return path.join(base, "wafer", "tools");
}

// The componentize-qjs command, installed first if missing.
function componentizeQjs() {
  const home = path.join(toolCache(), `componentize-qjs-${COMPONENTIZE_QJS}`);
  const bin = path.join(home, "node_modules", ".bin", "componentize-qjs");
  if (fs.existsSync(bin)) return bin;
  fs.mkdirSync(toolCache(), { recursive: true });
  const staging = fs.mkdtempSync(path.join(toolCache(), ".install-"));
  try {
    execFileSync(
      "npm",
      ["install", "--silent", "--no-audit", "--no-fund", "--prefix", staging,
        `componentize-qjs@${COMPONENTIZE_QJS}`],
      { stdio: "inherit" },
    );
    fs.renameSync(staging, home);
  } catch (e) {
    fs.rmSync(staging, { recursive: true, force: true });
    // Another build installed it first; theirs is as good as ours.
    if (!fs.existsSync(bin)) throw e;
  }
  return bin;
}

function main() {
  const args = process.argv.slice(2);
  const witAt = args.indexOf("--wit");
  const wit = witAt >= 0 ? args.splice(witAt, 2)[1] : null;
  if (args.length !== 2) {
    console.error("usage: node build.mjs APP_DIR OUT.wasm [--wit WIT_DIR]");
    process.exit(2);
  }
  const [appDir, out] = args.map((a) => path.resolve(a));
  const witDir = wit ?? [path.join(appDir, "wit"), path.join(HERE, "..", "..", "..", "wit")]
    .find((d) => fs.existsSync(d));
  if (!witDir) throw new Error("no WIT folder: pass --wit");
  const app = path.join(appDir, "app.js");
  if (!fs.existsSync(app)) throw new Error(`${app}: not found`);
  const sdk = [appDir, HERE].map((d) => path.join(d, "wafer_udf.js")).find((f) => fs.existsSync(f));
  // The app's folder (its own modules included) with the SDK beside app.js,
  // where componentize-qjs resolves `./wafer_udf.js`.
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), "wafer-js-"));
  try {
    fs.cpSync(appDir, stage, { recursive: true });
    if (!fs.existsSync(path.join(stage, "wafer_udf.js"))) {
      fs.copyFileSync(sdk, path.join(stage, "wafer_udf.js"));
    }
    execFileSync(
      componentizeQjs(),
      ["--wit", witDir, "--js", path.join(stage, "app.js"), "--module-root", stage,
        "--sync", "--world", "transformer", "-o", out],
      { stdio: "inherit" },
    );
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

main();
