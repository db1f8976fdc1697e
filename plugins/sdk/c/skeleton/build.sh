#!/usr/bin/env bash
# Builds {file}.wasm: bindings and componentizing by wafer ($WAFER, default
# `wafer` on PATH), compiling by clang for wasm32-wasi (Debian: clang lld
# wasi-libc libclang-rt-dev-wasm32).
set -euo pipefail
cd "$(dirname "$0")"
wafer=${WAFER:-wafer}
mkdir -p target/bindings
"$wafer" plugin bindings --lang c target/bindings
# -msimd128: Wasm SIMD (wasmtime runs it anywhere), so clang vectorises loops;
# -mbulk-memory: this code's memset and memcpy run as the host's (wafer_udf.h
# zeroes output columns so).
clang --target=wasm32-wasi -mexec-model=reactor -O2 -msimd128 -mbulk-memory -Wall -Itarget/bindings -I. \
  app.c shout.c target/bindings/transformer.c target/bindings/transformer_component_type.o \
  -o target/core.wasm
"$wafer" plugin componentize target/core.wasm {file}.wasm
