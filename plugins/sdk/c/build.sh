#!/usr/bin/env bash
# Builds a C UDF into a wafer plugin (a Wasm component):
#
#     plugins/sdk/c/build.sh APP_DIR OUT.wasm
#
# Compiles every .c file in APP_DIR with clang for wasm32-wasi against the
# bindings `wafer plugin bindings --lang c` writes and wafer_udf.h (from
# APP_DIR, else beside this script), then `wafer plugin componentize`.
# Needs Debian's clang, lld, wasi-libc and libclang-rt-dev-wasm32, and a
# wafer binary: $WAFER, default `wafer` on PATH.
set -euo pipefail
app=$(cd "$1" && pwd)
out=$2
here=$(cd "$(dirname "$0")" && pwd)
wafer=${WAFER:-wafer}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$wafer" plugin bindings --lang c "$work"
# -msimd128: Wasm SIMD, which wasmtime runs on any x86-64 or aarch64 host;
# clang vectorises column loops with it (Cranelift does not on its own).
# -mbulk-memory: memset and memcpy in the code built here (not in the
# prebuilt wasi-libc) become `memory.fill` and `memory.copy`, which wasmtime
# runs as the host's own (wafer_udf.h zeroes output columns so).
clang --target=wasm32-wasi -mexec-model=reactor -O2 -msimd128 -mbulk-memory -Wall \
  -I"$work" -I"$app" -I"$here" \
  "$app"/*.c "$work/transformer.c" "$work/transformer_component_type.o" \
  -o "$work/core.wasm"
"$wafer" plugin componentize "$work/core.wasm" "$out"
