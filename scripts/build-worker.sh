#!/usr/bin/env bash
# build-worker.sh [CRATE_DIR]: builds a release Worker with the pinned tools
# (no downloads from GitHub). CRATE_DIR defaults to the issuer
# (crates/edge-token-worker), whose output goes to build/ at the repository
# root (wrangler.toml's `main`); any other crate (`examples/resource-worker`,
# `bench/rust-floor`) builds into CRATE_DIR/build/. All share the workspace's
# Cargo.lock and target/.
# WORKER_FEATURES="a b" builds with those cargo features; BUILD_OUT=DIR puts
# the output there instead (make bench builds the issuer's `rust-signer`
# variant this way, beside the real one).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-tools.sh
root="$PWD"
export PATH="$root/.tools/bin:$PATH"
export WASM_BINDGEN_BIN="$root/.tools/bin/wasm-bindgen"
export WASM_OPT_BIN="$root/node_modules/.bin/wasm-opt"
crate="${1:-crates/edge-token-worker}"
out="$crate/build"
[ "$crate" = crates/edge-token-worker ] && out=build
[ -n "${BUILD_OUT:-}" ] && out="$BUILD_OUT"
features="${WORKER_FEATURES:-}"
# Nothing to do when the output is newer than every input (the workspace's
# crates, this crate, the manifests, the toolchain, the pinned tools and
# this script): a second
# `make dev` (whose wrangler runs this on every start) is ready in seconds.
# FORCE_BUILD=1 builds anyway.
if [ "${FORCE_BUILD:-0}" != 1 ] && [ -f "$out/index_bg.wasm" ] && [ -f "$out/index.js" ] \
  && [ "$(cat "$out/.features" 2>/dev/null)" = "$features" ] \
  && [ -z "$(find crates "$crate" Cargo.toml Cargo.lock rust-toolchain.toml scripts/build-worker.sh \
        scripts/install-tools.sh package.json package-lock.json \
        -type f \( -name '*.rs' -o -name '*.mjs' -o -name Cargo.toml -o -name Cargo.lock -o -name '*.sh' \
        -o -name rust-toolchain.toml -o -name 'package*.json' \) \
        -not -path '*/build/*' -newer "$out/index_bg.wasm" -print -quit)" ]; then
  echo "$out is up to date"
  exit 0
fi
wasm_features=(--enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int
               --enable-bulk-memory --enable-multivalue --enable-reference-types --enable-exception-handling)
# worker-build (like wasm-pack) keeps the wasm "name" section (~90 KB raw,
# ~25 KB gzipped for the issuer) for symbolicated panic traces. Request paths
# are kept panic-free by lints, so the deployed Worker goes without it.
# KEEP_WASM_NAMES=1 keeps it, and NO_MINIFY=1 keeps the JS readable (for profiles).
strip=(--strip-debug --strip-producers)
[ "${KEEP_WASM_NAMES:-0}" = 1 ] && strip=(-g)
if [ "$crate" = crates/edge-token-worker ]; then
  # The issuer has its own JS entry (crates/edge-token-worker/js/entry.mjs:
  # it reads the request, calls the wasm export `handle` once, and builds
  # the Response), so it is built the way worker-build builds a Worker, with
  # that entry in place of worker-build's generated one: cargo, then
  # wasm-bindgen with worker-build's flags (the instance can be reset after
  # a trap), wasm-opt -Oz, then esbuild bundles the entry with the glue.
  cargo build --quiet --lib --release --target wasm32-unknown-unknown -p edge-token-worker ${features:+--features "$features"}
  stage="$(mktemp -d)"
  trap 'rm -rf "$stage"' EXIT
  wasm-bindgen target/wasm32-unknown-unknown/release/edge_token_worker.wasm --out-dir "$stage" \
    --target module --out-name index --no-typescript --experimental-reset-state-function --force-enable-abort-handler
  # workerd imports a .wasm module as a WebAssembly.Module (no source phase).
  sed 's/^import source /import /' "$stage/index.js" > "$stage/glue.js"
  rm "$stage/index.js"
  cp "$crate"/js/entry.mjs "$crate"/js/wire.mjs "$stage/"
  # -Oz until it converges; the low 1 KiB of memory is unused (wasm-ld puts
  # data from 1024 up) and memory starts zeroed (also a reset instance's).
  "$WASM_OPT_BIN" "${wasm_features[@]}" -Oz --converge --low-memory-unused --zero-filled-memory "${strip[@]}" \
    "$stage/index_bg.wasm" -o "$stage/index_bg.opt.wasm"
  rm -rf "$out.tmp"
  mkdir -p "$out.tmp"
  mv "$stage/index_bg.opt.wasm" "$out.tmp/index_bg.wasm"
  minify=(--minify)
  [ "${NO_MINIFY:-0}" = 1 ] && minify=()
  node_modules/.bin/esbuild --bundle --format=esm "${minify[@]}" --log-level=warning \
    --external:./index_bg.wasm --external:'cloudflare:*' "$stage/entry.mjs" --outfile="$out.tmp/index.js"
  printf '%s' "$features" > "$out.tmp/.features"
  rm -rf "$out"
  mv "$out.tmp" "$out"
  exit 0
fi
# Every other Worker: worker-build builds the package in the current directory.
cd "$crate"
rm -rf build
if [ -n "$features" ]; then
  worker-build --release --features "$features"
else
  worker-build --release
fi
printf '%s' "$features" > build/.features
if [ "${KEEP_WASM_NAMES:-0}" != 1 ]; then
  "$WASM_OPT_BIN" "${wasm_features[@]}" "${strip[@]}" build/index_bg.wasm -o build/index_bg.wasm.tmp
  mv build/index_bg.wasm.tmp build/index_bg.wasm
fi
# The issuer's build is what the root wrangler.toml deploys.
case "$out" in /*) dest="$out" ;; *) dest="$root/$out" ;; esac
if [ "$dest" != "$PWD/build" ]; then
  rm -rf "$dest"
  mkdir -p "$(dirname "$dest")"
  mv build "$dest"
fi
