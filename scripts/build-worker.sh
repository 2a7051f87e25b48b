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
