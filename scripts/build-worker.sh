#!/usr/bin/env bash
# build-worker.sh [CRATE_DIR]: builds a release Worker with the pinned tools
# (no downloads from GitHub) into CRATE_DIR/build/. CRATE_DIR defaults to the
# issuer (the repository root); `examples/resource-worker` builds the example
# API. Both share the workspace's Cargo.lock and target/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-tools.sh
root="$PWD"
export PATH="$root/.tools/bin:$PATH"
export WASM_BINDGEN_BIN="$root/.tools/bin/wasm-bindgen"
export WASM_OPT_BIN="$root/node_modules/.bin/wasm-opt"
# Both Workers share target/, where cargo writes edge-token's own wasm under
# one name whatever its features (with its entry point for the issuer, without
# it as the example's dependency). Parallel builds (`make dev` starts both
# Workers) hold this lock from `cargo build` until wasm-bindgen has read it.
if command -v flock >/dev/null; then
  mkdir -p target
  exec 9>target/.worker-build.lock
  flock 9
fi
# worker-build builds the package in the current directory.
cd "${1:-.}"
worker-build --release
# worker-build keeps the wasm "name" section (~90 KB raw, ~25 KB gzipped for
# the issuer) for symbolicated panic traces. Request paths are kept panic-free
# by lints, so the deployed Worker goes without it. KEEP_WASM_NAMES=1 keeps it.
if [ "${KEEP_WASM_NAMES:-0}" != 1 ]; then
  features=(--enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int
            --enable-bulk-memory --enable-multivalue --enable-reference-types --enable-exception-handling)
  "$WASM_OPT_BIN" "${features[@]}" --strip-debug --strip-producers build/index_bg.wasm -o build/index_bg.wasm.tmp
  mv build/index_bg.wasm.tmp build/index_bg.wasm
fi
