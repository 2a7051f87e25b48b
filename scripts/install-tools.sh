#!/usr/bin/env bash
# Installs everything the build and tests need that a machine with Rust, Node
# and make may lack, all pinned: the wasm32 target of the toolchain that
# rust-toolchain.toml names (exactly 1.95.0), worker-build 0.8.7 and
# wasm-bindgen-cli at exactly the `wasm-bindgen` version in Cargo.lock, both
# `cargo install --locked` (their own published Cargo.lock, so no dependency
# floats at install time), and the npm packages (wrangler, workerd, binaryen,
# jose for the JWKS interop test, openid-client for the private_key_jwt one)
# from package-lock.json. Idempotent and quiet when done. (PyJWT and authlib
# for those tests: scripts/interop-venv.sh, run by make e2e.)
#
# Why wasm-bindgen is 0.2.129 in Cargo.lock, not 0.2.130: the Cargo.lock that
# wasm-bindgen-cli 0.2.130 was published with pins webpki-roots 1.0.11, a
# version the crates.io index no longer lists, so `cargo install --locked`
# of 0.2.130 cannot resolve. 0.2.129's lock resolves (cargo warns that one
# entry, yoke-derive 0.8.3, was yanked since; yanked crates stay installable
# from a lock file). worker 0.8.7 needs wasm-bindgen ^0.2.129. Moving
# wasm-bindgen up means checking the new CLI's lock installs --locked here.
set -euo pipefail
cd "$(dirname "$0")/.."

WORKER_BUILD_VERSION=0.8.7
TOOLS="$PWD/.tools"
export PATH="$TOOLS/bin:$PATH"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Node 20.3+ (wrangler 4.80.0's floor).
node_major=$(node -p 'process.versions.node.split(".").map(Number).reduce((a,b,i)=>i<2?a*1000+b:a)' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20003 ]; then
  echo "edge-token needs Node.js 20.3 or newer (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

# rust-toolchain.toml names the wasm target; make sure it is really there.
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  log "adding Rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

if ! worker-build --version 2>/dev/null | grep -qxE "(worker-build )?$WORKER_BUILD_VERSION"; then
  log "installing worker-build $WORKER_BUILD_VERSION into .tools"
  cargo install --quiet --locked --root "$TOOLS" worker-build --version "=$WORKER_BUILD_VERSION"
fi

bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ -z "$bindgen_version" ]; then
  echo "cannot find the wasm-bindgen version in Cargo.lock" >&2
  exit 1
fi
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $bindgen_version"; then
  log "installing wasm-bindgen-cli $bindgen_version into .tools (matches Cargo.lock)"
  cargo install --quiet --locked --force --root "$TOOLS" wasm-bindgen-cli --version "=$bindgen_version"
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] \
   || [ ! -x node_modules/.bin/wrangler ] || [ ! -x node_modules/.bin/wasm-opt ] || [ ! -x node_modules/.bin/esbuild ] \
   || [ ! -f node_modules/jose/package.json ] || [ ! -f node_modules/openid-client/package.json ]; then
  log "installing npm packages (wrangler, workerd, binaryen, esbuild, jose, openid-client) from package-lock.json"
  npm ci --no-audit --no-fund --loglevel=error
fi
