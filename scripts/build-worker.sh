#!/usr/bin/env bash
# Builds the release Worker into build/ with the pinned tools (no downloads from GitHub).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-tools.sh
export PATH="$PWD/.tools/bin:$PATH"
export WASM_BINDGEN_BIN="$PWD/.tools/bin/wasm-bindgen"
export WASM_OPT_BIN="$PWD/node_modules/.bin/wasm-opt"
worker-build --release
