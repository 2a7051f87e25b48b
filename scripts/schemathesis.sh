#!/usr/bin/env bash
# schemathesis.sh: property-based API tests of the release Worker against
# openapi.yaml. Builds the issuer, serves it with `wrangler dev` (real workerd,
# local KV in a private state directory, on a free port), registers a client
# with the CLI, then runs schemathesis (pinned in
# scripts/schemathesis-requirements.txt, installed into .tools/schemathesis-venv)
# with that client's Basic credentials. Exits non-zero on any failed check:
# a 5xx, a status, header or body the document does not allow, a method that
# is not refused with 405 + Allow, authentication that is not enforced, ...
#
# Knobs (environment):
#   SCHEMATHESIS_MAX_EXAMPLES  test cases per operation and phase (default 60)
#   SCHEMATHESIS_MAX_TIME      time budget of the schemathesis run, s (default 75)
#   SCHEMATHESIS_SEED          a seed, to replay a run (default: random, printed)
#   SCHEMATHESIS_WORKERS       concurrent workers (default 2)
#   SCHEMATHESIS_EXCLUDE_CHECKS  more checks to skip, comma-separated (default none)
#   SIGNING_ALG                the issuer's key: HS256 (default), ES256, EdDSA or Ed25519
# The JUnit report, schemathesis' replay cache and the Worker's log are left
# in target/schemathesis/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
VENV="$ROOT/.tools/schemathesis-venv"
REQUIREMENTS="$ROOT/scripts/schemathesis-requirements.txt"
WRANGLER="$ROOT/node_modules/.bin/wrangler"
DIR="$ROOT/target/schemathesis"
AUDIENCE=https://api.example.com
export WRANGLER_SEND_METRICS=false NO_COLOR=1

# 1. schemathesis, pinned (reinstalled when the pins change).
if [ ! -x "$VENV/bin/schemathesis" ] || ! cmp -s "$REQUIREMENTS" "$VENV/requirements.txt"; then
  echo "installing schemathesis into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$REQUIREMENTS"
  cp "$REQUIREMENTS" "$VENV/requirements.txt"
fi

# 2. The release Worker and the CLI.
make --no-print-directory build-issuer
cargo build --quiet --bin edge-token
CLI="$ROOT/target/debug/edge-token"
# The Worker's wrangler.toml is in target/schemathesis, where no wrangler is
# installed: the CLI uses the project's.
export EDGE_TOKEN_WRANGLER="$ROOT/node_modules/.bin/wrangler"

# 3. A Worker of its own: config, key, state and log under target/schemathesis.
rm -rf "$DIR"
mkdir -p "$DIR"
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
PORT=$(free_port)
INSPECTOR_PORT=$(free_port)
ISSUER="http://127.0.0.1:$PORT"
cat > "$DIR/wrangler.toml" <<TOML
name = "edge-token-schemathesis"
main = "$ROOT/build/index.js"
compatibility_date = "2026-04-01"

[[kv_namespaces]]
binding = "CLIENTS"
id = "schemathesis-clients"

[[kv_namespaces]]
binding = "REVOCATIONS"
id = "schemathesis-revocations"

# Failed authentication is rate limited as in production by client id; the
# address limit is set high so one local caller is not blocked for the rest
# of the run (a 429 is still a documented answer).
[[ratelimits]]
name = "AUTH_FAILURES_BY_CLIENT"
namespace_id = "91001"
simple = { limit = 10, period = 60 }

[[ratelimits]]
name = "AUTH_FAILURES_BY_ADDRESS"
namespace_id = "91002"
simple = { limit = 100000, period = 60 }

[vars]
ISSUER = "$ISSUER"
REQUIRE_HTTPS = "false"
CLIENT_CACHE_TTL = "0"
SCOPES_SUPPORTED = "read write"
TOML
# `key generate` writes the key to a 0600 file only (its stdout is public);
# the array goes into .dev.vars on one line, and the file is removed.
keys="$DIR/signing-keys.json"
if ! err=$("$CLI" key generate --alg "${SIGNING_ALG:-HS256}" --kid schemathesis-1 --keys "$keys" 2>&1 >/dev/null); then
  echo "$err" >&2
  exit 1
fi
(
  umask 077
  printf "SIGNING_KEYS='%s'\n" "$(tr -d '\n ' < "$keys")" > "$DIR/.dev.vars"
)
rm -f "$keys"

# 4. Serve it. run-guarded.sh kills wrangler's whole process group when this
# script exits, however it exits; the trap does it at once.
guard=""
stop() {
  if [ -n "$guard" ]; then
    kill -TERM "$guard" 2>/dev/null || true
    wait "$guard" 2>/dev/null || true
  fi
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
(cd "$DIR" && exec "$ROOT/scripts/run-guarded.sh" $$ "$WRANGLER" dev --local --ip 127.0.0.1 \
  --show-interactive-dev-session=false --port "$PORT" --inspector-port "$INSPECTOR_PORT" \
  --config "$DIR/wrangler.toml" --persist-to "$DIR/state") > "$DIR/worker.log" 2>&1 &
guard=$!

ready=""
for _ in $(seq 1 240); do
  if ! kill -0 "$guard" 2>/dev/null; then
    break
  fi
  if [ "$(curl -s -o /dev/null -m 5 -w '%{http_code}' "$ISSUER/__ready" 2>/dev/null)" = 404 ]; then
    ready=1
    break
  fi
  sleep 0.5
done
if [ -z "$ready" ]; then
  echo "the Worker did not start; its log ($DIR/worker.log):" >&2
  cat "$DIR/worker.log" >&2
  exit 1
fi

# 5. A client that may use every endpoint.
created=$("$CLI" client create --name schemathesis --scope "read write" --default-scope read \
  --audience "$AUDIENCE" --introspect --local --config "$DIR/wrangler.toml" --persist-to "$DIR/state" --new-state)
read -r CLIENT_ID CLIENT_SECRET < <(python3 -c \
  'import json, sys; c = json.load(sys.stdin); print(c["client_id"], c["client_secret"])' <<<"$created")
echo "Worker on $ISSUER, client $CLIENT_ID"

# 6. schemathesis. Every check but positive_data_acceptance: a request that
# is valid for the schema may still be refused by design (a scope or
# audience the client may not have, a token that is not ours: 400/403 are
# documented answers, not failures).
# The stateful phase (token -> introspect/revoke -> introspect, through the
# document's links) generates valid requests only: in negative mode the
# values a link supplies (the token) and --auth put back what the mutation
# removed, and schemathesis then reports a valid request it believes invalid.
# The examples, coverage and fuzzing phases still test invalid requests.
cat > "$DIR/schemathesis.toml" <<'TOML'
[phases.stateful.generation]
mode = "positive"
TOML
args=(
  --config-file "$DIR/schemathesis.toml"
  run "$ROOT/openapi.yaml"
  --url "$ISSUER"
  --auth "$CLIENT_ID:$CLIENT_SECRET"
  --checks all
  --exclude-checks "positive_data_acceptance${SCHEMATHESIS_EXCLUDE_CHECKS:+,$SCHEMATHESIS_EXCLUDE_CHECKS}"
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-60}"
  --max-time "${SCHEMATHESIS_MAX_TIME:-75}"
  --workers "${SCHEMATHESIS_WORKERS:-2}"
  --request-timeout 10
  --generation-database none
  --report junit
  --report-dir "$DIR/report"
  --no-color
)
if [ -n "${SCHEMATHESIS_SEED:-}" ]; then
  args+=(--seed "$SCHEMATHESIS_SEED")
fi
# Run from $DIR, so schemathesis' and Hypothesis' caches (./.schemathesis,
# ./.hypothesis) land there, not in the checkout. To reproduce a failure, rerun
# with SCHEMATHESIS_SEED set to the seed printed, or use its curl line.
status=0
(cd "$DIR" && exec "$VENV/bin/schemathesis" "${args[@]}") || status=$?

# The Worker must not have thrown: an uncaught exception is a bug even if
# the response happened to look fine.
if grep -q -E "Uncaught|panicked|RuntimeError|Worker threw" "$DIR/worker.log"; then
  echo "the Worker logged an exception (see $DIR/worker.log):" >&2
  grep -E "Uncaught|panicked|RuntimeError|Worker threw" "$DIR/worker.log" | head -20 >&2
  status=1
fi
exit "$status"
