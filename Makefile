# edge-token: `make dev` to try it, `make test` to test it.
SHELL := /bin/bash
PORT ?= 8787
export WRANGLER_SEND_METRICS := false
export PATH := $(CURDIR)/.tools/bin:$(PATH)
WRANGLER := node_modules/.bin/wrangler
CLI := cargo run --quiet --bin edge-token --

.PHONY: help install build dev test lint unit e2e cli clean

help:
	@echo "make dev    run the Worker locally on http://127.0.0.1:$(PORT) with a demo client"
	@echo "make test   formatting, lints (native + wasm32), unit, service and end-to-end tests"
	@echo "make build  build the release Worker into build/"
	@echo "make cli    build the admin CLI (target/release/edge-token)"

install:
	@scripts/install-tools.sh

build:
	@scripts/build-worker.sh

cli:
	cargo build --release --bin edge-token

dev: install
	@scripts/dev.sh $(PORT)

lint: install
	cargo fmt --all --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --lib --target wasm32-unknown-unknown -- -D warnings

unit:
	cargo test --lib --bins --test service

e2e: build
	cargo test --test e2e -- --test-threads 8

test: install lint unit e2e

clean:
	rm -rf target build .wrangler
