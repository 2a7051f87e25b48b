# edge-token: `make dev` to try it, `make test` to test it.
SHELL := /bin/bash
PORT ?= 8787
export WRANGLER_SEND_METRICS := false
export PATH := $(CURDIR)/.tools/bin:$(PATH)
WRANGLER := node_modules/.bin/wrangler
CLI := cargo run --quiet --bin edge-token --

API_PORT ?= 8788
# make dev SIGNING_ALG=ES256 (or EdDSA, Ed25519): the key type of a new .dev.vars (default HS256).
SIGNING_ALG ?=
RESOURCE_WORKER := examples/resource-worker

.PHONY: help install build build-issuer build-resource-worker dev test lint unit e2e schemathesis deploy-check cli clean bench soak fuzz

help:
	@echo "make dev                    run the issuer on http://127.0.0.1:$(PORT) with a demo client, and the example API on :$(API_PORT)"
	@echo "                            (SIGNING_ALG=ES256, EdDSA or Ed25519: an asymmetric key in a new .dev.vars; the API then uses the JWKS)"
	@echo "make test                   everything CI runs, in order: install, lint, unit, e2e, schemathesis, deploy-check"
	@echo "make install                install the pinned tools into .tools/ and node_modules/ (wasm32 target, worker-build, wasm-bindgen, wrangler)"
	@echo "make build                  build the release Workers: the issuer into build/, the example API into $(RESOURCE_WORKER)/build/"
	@echo "make build-issuer           build only the issuer (what wrangler.toml's [build] runs)"
	@echo "make build-resource-worker  build only the example API (what its wrangler.toml's [build] runs)"
	@echo "make cli                    build the admin CLI (target/release/edge-token)"
	@echo "make lint                   cargo fmt --check; clippy -D warnings natively (all targets) and for wasm32"
	@echo "make unit                   unit, service, property, OpenAPI, timing and doc tests, the JS entry's tests (no Worker build)"
	@echo "make e2e                    build both Workers and the CLI (and the interop venv), then the end-to-end tests on real workerd"
	@echo "make schemathesis           property-based API tests of the release issuer against openapi.yaml ($(SCHEMATHESIS_MAX_TIME) s)"
	@echo "make deploy-check           build, then wrangler deploy --dry-run of both Workers (offline); prints the wasm sizes"
	@echo "make fuzz                   cargo-fuzz the service, token verification and parsers ($(FUZZ_SECONDS) s per target), then a long schemathesis run"
	@echo "make soak                   sustained mixed load on workerd for $(SOAK_MINUTES) min: errors, p50/p99 and memory over time"
	@echo "make bench                  micro-benchmarks + load run on workerd vs the floor Worker and oidc-provider, HS256/ES256/EdDSA (see BENCHMARKS.md)"
	@echo "make clean                  remove target/, both Workers' build/, .wrangler/ (local KV: the next make dev makes a new demo client) and fuzz output"
	@echo "make help                   this list"

install:
	@scripts/install-tools.sh

build:
	@scripts/build-worker.sh
	@scripts/build-worker.sh $(RESOURCE_WORKER)

# One Worker only (each wrangler.toml's [build] command uses one of these).
build-issuer:
	@scripts/build-worker.sh

build-resource-worker:
	@scripts/build-worker.sh $(RESOURCE_WORKER)

cli:
	cargo build --release --bin edge-token

dev: install
	@API_PORT=$(API_PORT) SIGNING_ALG=$(SIGNING_ALG) scripts/dev.sh $(PORT)

# Native: every default member (the Workers' wasm-only parts compile to
# nothing there; the example API's settings and JWKS cache are tested), all
# targets. wasm32: what ships in a Worker.
lint: install
	python3 scripts/check-links.py
	cargo fmt --all --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy -p edge-token-worker -p edge-token-core -p edge-token-verify -p resource-worker --target wasm32-unknown-unknown -- -D warnings
	@# The issuer as it ships: core and verify without rust-crypto (no asymmetric crypto in its wasm).
	cargo clippy -p edge-token-worker --target wasm32-unknown-unknown -- -D warnings
	@if cargo tree -p edge-token-worker -e normal --target wasm32-unknown-unknown --prefix none | grep -E '^(p256|ed25519-dalek|rsa) '; then \
	  echo "the issuer Worker must not link the crates above (Web Crypto does its asymmetric crypto)" >&2; exit 1; fi
	@# The verify crate is what APIs link: nothing Workers-specific, and publishable.
	@if cargo tree -p edge-token-verify -e normal --target wasm32-unknown-unknown --prefix none | grep -E '^(worker|wasm-bindgen|getrandom|js-sys) '; then \
	  echo "edge-token-verify must not depend on the crates above" >&2; exit 1; fi
	cargo package -p edge-token-verify --allow-dirty --quiet

# Unit, service, property, OpenAPI and timing tests, doc tests, and the JS
# entry's own tests (its body reader and answer parsing, on Node).
unit:
	cargo test -p edge-token-verify -p edge-token-core -p edge-token-cli -p edge-token-testkit -p resource-worker
	cargo test -p edge-token-worker --lib
	@# The verify crate as the issuer Worker links it: without rust-crypto. (The
	@# core's tests always get rust-crypto through the test kit; the Worker's
	@# wasm32 clippy in make lint builds the core without it.)
	cargo test -p edge-token-verify --no-default-features --lib
	node --test crates/edge-token-worker/js/

e2e: build
	cargo build --bin edge-token
	@scripts/interop-venv.sh
	cargo test -p edge-token-worker --test e2e -- --test-threads 8

# Proves the bundle deploys (offline): wrangler bundles it and prints the upload size.
deploy-check: build
	$(WRANGLER) deploy --dry-run --outdir target/deploy-dry-run
	@printf 'wasm: %s bytes raw, %s bytes gzip -9\n' "$$(stat -c%s build/index_bg.wasm)" "$$(gzip -9c build/index_bg.wasm | wc -c)"
	cd $(RESOURCE_WORKER) && $(CURDIR)/$(WRANGLER) deploy --dry-run --outdir $(CURDIR)/target/deploy-dry-run-resource-worker
	@printf 'resource-worker wasm: %s bytes raw, %s bytes gzip -9\n' "$$(stat -c%s $(RESOURCE_WORKER)/build/index_bg.wasm)" "$$(gzip -9c $(RESOURCE_WORKER)/build/index_bg.wasm | wc -c)"

# Benchmarks: native micro-benchmarks of the core, the issuer's own work per
# request on workerd (bench/own-work.mjs), then the end-to-end load run on
# workerd against the floor Worker and oidc-provider (bench/run.mjs).
# The issuer is built three times: the release build (Web Crypto signs
# ES256/EdDSA) and the rust-signer build (they are signed in wasm), measured
# side by side, and own-work.mjs's non-minified copy of the release build.
bench: install build-issuer
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -q wrk >/dev/null; } || { echo "bench needs wrk (Debian: apt-get install wrk)"; exit 1; }
	cd bench/peer && npm ci --no-audit --no-fund --loglevel=error
	@scripts/build-worker.sh bench/rust-floor
	@WORKER_FEATURES=rust-signer BUILD_OUT=target/bench/rust-signer scripts/build-worker.sh
	cargo build --release --bin edge-token
	cargo bench -p edge-token-bench --bench core -- --warm-up-time 1 --measurement-time 5
	node bench/own-work.mjs
	node bench/run.mjs

# Property-based API tests of the release Worker against openapi.yaml
# (builds the issuer itself). make test runs a short budget; make fuzz a long one.
SCHEMATHESIS_MAX_TIME ?= 45
schemathesis: install
	@SCHEMATHESIS_MAX_TIME=$(SCHEMATHESIS_MAX_TIME) scripts/schemathesis.sh

test: install lint unit e2e schemathesis deploy-check

# Soak: sustained mixed load on workerd (bench/soak.mjs); fails on any
# unexpected status, connection error or memory growth. (At 128 connections
# this 2-core machine's workerd resets all connections now and then, for any
# Worker doing real work; 64 is the default here.)
SOAK_MINUTES ?= 3
SOAK_CONCURRENCY ?= 64
soak: install build-issuer
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -q wrk >/dev/null; } || { echo "soak needs wrk (Debian: apt-get install wrk)"; exit 1; }
	cargo build --release --bin edge-token
	SOAK_MINUTES=$(SOAK_MINUTES) SOAK_CONCURRENCY=$(SOAK_CONCURRENCY) node bench/soak.mjs

# Fuzzing with cargo-fuzz/libFuzzer (the pinned Rust + RUSTC_BOOTSTRAP=1), FUZZ_SECONDS
# per target (FUZZ_TARGETS="request verify form" to choose), then schemathesis
# with a longer budget.
FUZZ_SECONDS ?= 60
fuzz: install
	@FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh $(FUZZ_TARGETS)
	@SCHEMATHESIS_MAX_TIME=$(FUZZ_SECONDS) scripts/schemathesis.sh

clean:
	rm -rf target build crates/edge-token-worker/build .wrangler $(RESOURCE_WORKER)/build bench/rust-floor/build fuzz/target fuzz/corpus fuzz/artifacts
