#!/usr/bin/env bash
# `make dev`: local signing key, demo client on first run, then two
# `wrangler dev` servers (real workerd) on one local KV state, .wrangler/state:
#   the issuer                          on 127.0.0.1:$PORT     (default 8787)
#   the example API (resource-worker)   on 127.0.0.1:$API_PORT (default 8788)
# Ctrl-C (or any exit of this script) stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
PORT="${1:-8787}"
API_PORT="${API_PORT:-8788}"
INSPECTOR_PORT="${INSPECTOR_PORT:-9229}"
API_INSPECTOR_PORT="${API_INSPECTOR_PORT:-$((INSPECTOR_PORT + 1))}"
ISSUER="http://127.0.0.1:$PORT"
AUDIENCE=https://api.example.com
STATE="$ROOT/.wrangler/state"
WRANGLER="$ROOT/node_modules/.bin/wrangler"
API_DIR="$ROOT/examples/resource-worker"
export WRANGLER_SEND_METRICS=false
# No fetch of the Request.cf object from Cloudflare (offline it fails with a
# stack trace per Worker); the local placeholder is used.
export CLOUDFLARE_CF_FETCH_ENABLED=false

# SIGNING_ALG (make dev SIGNING_ALG=ES256): the algorithm of the key made
# for a new .dev.vars (default HS256); with an existing .dev.vars, it must
# be the algorithm its key signs with.
SIGNING_ALG="${SIGNING_ALG:-}"
case "$SIGNING_ALG" in
  "" | HS256 | ES256 | EdDSA | Ed25519) ;;
  *)
    echo "SIGNING_ALG must be HS256, ES256, EdDSA or Ed25519 (case-sensitive), not \"$SIGNING_ALG\"" >&2
    exit 1
    ;;
esac

cargo build --quiet --bin edge-token
CLI=target/debug/edge-token

# A private temporary file for a SIGNING_KEYS array (mktemp: mode 0600),
# removed on any exit until the servers' own trap takes over.
keys_tmp=$(mktemp)
trap 'rm -f "$keys_tmp"' EXIT

if [ ! -f .dev.vars ]; then
  alg="${SIGNING_ALG:-HS256}"
  # `key generate` writes the key to the file only; its stdout is public.
  if ! err=$("$CLI" key generate --alg "$alg" --kid dev-1 --keys "$keys_tmp" 2>&1 >/dev/null); then
    echo "$err" >&2
    exit 1
  fi
  # One line: the entries hold no spaces (kids and base64url values).
  key=$(tr -d '\n ' < "$keys_tmp")
  : > "$keys_tmp"
  (
    umask 077
    cat > .dev.vars <<VARS
# Local-only settings for \`make dev\` (overrides [vars] in wrangler.toml). Not committed.
SIGNING_KEYS='$key'
REQUIRE_HTTPS=false
DEFAULT_AUDIENCE=$AUDIENCE
# Changes made with the CLI take effect on the next request (no isolate cache).
CLIENT_CACHE_TTL=0
VARS
  )
  echo "created .dev.vars with a fresh local $alg signing key (kid dev-1)"
fi

# The key .dev.vars signs with, checked as the Worker checks it.
if ! line=$(grep -m 1 '^SIGNING_KEYS=' .dev.vars); then
  echo ".dev.vars has no SIGNING_KEYS line; delete it and run make dev again" >&2
  exit 1
fi
value=${line#SIGNING_KEYS=}
case "$value" in
  \'*\') value=${value:1:${#value}-2} ;;
  \"*\") value=${value:1:${#value}-2} ;;
esac
printf '%s\n' "$value" > "$keys_tmp"
if ! listing=$("$CLI" key list --keys "$keys_tmp" 2>&1); then
  echo "${listing//$keys_tmp/.dev.vars SIGNING_KEYS}" >&2
  echo "fix SIGNING_KEYS in .dev.vars, or delete .dev.vars and run make dev again for a fresh one" >&2
  exit 1
fi
rm -f "$keys_tmp"
trap - EXIT
# The listing is pretty JSON, signer first: its first "alg" and "kid".
first() { # MEMBER: its first value in the listing
  sed -n "/^ *\"$1\": \"/{s/^ *\"$1\": \"\([^\"]*\)\".*/\1/p;q;}" <<<"$listing"
}
have_alg=$(first alg)
have_kid=$(first kid)
if [ -n "$SIGNING_ALG" ] && [ "$SIGNING_ALG" != "$have_alg" ]; then
  echo "SIGNING_ALG=$SIGNING_ALG, but .dev.vars signs with $have_alg (kid $have_kid): delete .dev.vars to switch (make dev then creates it with a fresh $SIGNING_ALG key; copy any settings of yours first), or run make dev without SIGNING_ALG" >&2
  exit 1
fi

# Both Workers, before wrangler starts: its own build command then finds them
# up to date (scripts/build-worker.sh), so the servers answer at once.
make --no-print-directory build

# The API verifies with the issuer's keys, written on every start so a
# changed root .dev.vars is picked up (not committed either): an HS256
# signer is shared, so the API gets the SIGNING_KEYS line; an ES256/EdDSA
# signer is public, so the API gets the issuer's JWKS URL instead.
(
  umask 077
  {
    echo "# Written by scripts/dev.sh from ../../.dev.vars on every make dev. Not committed."
    if [ "$have_alg" = HS256 ]; then
      echo "$line"
    else
      echo "JWKS_URL=$ISSUER/.well-known/jwks.json"
    fi
  } > "$API_DIR/.dev.vars"
)
if [ "$have_alg" = HS256 ]; then
  echo "signing with $have_alg (kid $have_kid); the example API shares SIGNING_KEYS"
else
  echo "signing with $have_alg (kid $have_kid); the example API verifies with $ISSUER/.well-known/jwks.json"
fi

marker=.wrangler/demo-client-id
secret=""
if [ ! -s "$marker" ]; then
  mkdir -p .wrangler
  created=$("$CLI" client create --local --persist-to "$STATE" --new-state --name demo --scope "read write" --audience "$AUDIENCE")
  id=$(sed -n 's/.*"client_id": "\(.*\)".*/\1/p' <<<"$created")
  secret=$(sed -n 's/.*"client_secret": "\(.*\)".*/\1/p' <<<"$created")
  echo "$id" > "$marker"
  cat <<MSG

Demo client created (the secret is shown only this once):
  client_id:     $id
  client_secret: $secret

MSG
else
  id=$(cat "$marker")
  echo "demo client: $id (its secret was printed when it was created; make another with:"
  echo "  cargo run -q -- client create --name demo2 --scope \"read write\" --audience $AUDIENCE)"
fi

# Each server runs under run-guarded.sh, in its own process group, which the
# guard kills when this script exits (even if it is killed with SIGKILL).
pids=()
stop() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

common=(dev --local --ip 127.0.0.1 --show-interactive-dev-session=false --persist-to "$STATE")
scripts/run-guarded.sh $$ "$WRANGLER" "${common[@]}" \
  --port "$PORT" --inspector-port "$INSPECTOR_PORT" --var "ISSUER:$ISSUER" &
pids+=($!)
(cd "$API_DIR" && exec "$ROOT/scripts/run-guarded.sh" $$ "$WRANGLER" "${common[@]}" \
  --port "$API_PORT" --inspector-port "$API_INSPECTOR_PORT" \
  --var "ISSUER:$ISSUER" --var "AUDIENCE:$AUDIENCE") &
pids+=($!)

# Once both Workers answer (the first start compiles both; wrangler opens its
# port before its build ends), print the curl pair.
answers() { # PORT PATH STATUS
  [ "$(curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1:$1$2" 2>/dev/null)" = "$3" ]
}
for _ in $(seq 1 1200); do
  if ! command -v curl >/dev/null \
    || { answers "$PORT" /oauth2/token 405 && answers "$API_PORT" /api/hello 401; }; then
    cat <<MSG

Issuer: $ISSUER    API (examples/resource-worker): http://127.0.0.1:$API_PORT
Get a token, then call the API with it:
  TOKEN=\$(curl -s -u "$id:${secret:-\$DEMO_SECRET}" -d grant_type=client_credentials \\
    $ISSUER/oauth2/token | sed -n 's/.*"access_token":"\\([^"]*\\)".*/\\1/p')
  curl -i -H "Authorization: Bearer \$TOKEN" http://127.0.0.1:$API_PORT/api/hello
MSG
    if [ -z "$secret" ]; then
      echo "(set DEMO_SECRET to the demo client's secret first)"
    fi
    echo "Ctrl-C stops both."
    echo
    break
  fi
  # Stop waiting (and stop the other server) if either has exited.
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || exit 1
  done
  sleep 0.5
done

# Runs until either server exits or the script is interrupted.
wait -n "${pids[@]}"
