#!/usr/bin/env bash
# `make dev`: local signing key, demo client on first run, then wrangler dev
# (real workerd, local KV in .wrangler/state) on 127.0.0.1:$PORT.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${1:-8787}"
export WRANGLER_SEND_METRICS=false

cargo build --quiet --bin edge-token
CLI=target/debug/edge-token

if [ ! -f .dev.vars ]; then
  key=$("$CLI" key generate --kid dev-1 2>/dev/null)
  umask 077
  cat > .dev.vars <<VARS
# Local-only settings for \`make dev\` (overrides [vars] in wrangler.toml). Not committed.
SIGNING_KEYS='[$key]'
REQUIRE_HTTPS=false
DEFAULT_AUDIENCE=https://api.example.com
VARS
  echo "created .dev.vars with a fresh local signing key (kid dev-1)"
fi

marker=.wrangler/demo-client-id
if [ ! -s "$marker" ]; then
  mkdir -p .wrangler
  created=$("$CLI" client create --local --name demo --scope "read write" --audience https://api.example.com)
  id=$(sed -n 's/.*"client_id": "\(.*\)".*/\1/p' <<<"$created")
  secret=$(sed -n 's/.*"client_secret": "\(.*\)".*/\1/p' <<<"$created")
  echo "$id" > "$marker"
  cat <<MSG

Demo client created (the secret is shown only this once):
  client_id:     $id
  client_secret: $secret
Get a token once the server is up:
  curl -u '$id:$secret' -d grant_type=client_credentials http://127.0.0.1:$PORT/oauth2/token

MSG
else
  echo "demo client: $(cat "$marker") (its secret was printed when it was created; make another with:"
  echo "  cargo run -q -- client create --name demo2 --scope \"read write\")"
fi

exec node_modules/.bin/wrangler dev --ip 127.0.0.1 --port "$PORT" --local --var "ISSUER:http://127.0.0.1:$PORT"
