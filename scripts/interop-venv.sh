#!/usr/bin/env bash
# interop-venv.sh: installs PyJWT and authlib, pinned in
# scripts/interop-requirements.txt, into .tools/interop-venv for the interop
# e2e tests (which run crates/edge-token-worker/tests/interop/pyjwt_verify.py
# and authlib_private_key_jwt.py with that venv's python). Reinstalls when the
# pins change; quiet and quick when done.
# `make e2e` runs it, and so do the tests themselves before their first run.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="$PWD/.tools/interop-venv"
REQUIREMENTS="$PWD/scripts/interop-requirements.txt"
if [ ! -x "$VENV/bin/python" ] || ! cmp -s "$REQUIREMENTS" "$VENV/requirements.txt"; then
  echo "installing PyJWT and authlib into $VENV" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$REQUIREMENTS"
  cp "$REQUIREMENTS" "$VENV/requirements.txt"
fi
