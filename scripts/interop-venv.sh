#!/usr/bin/env bash
# interop-venv.sh: installs PyJWT, pinned in scripts/interop-requirements.txt,
# into .tools/interop-venv for the JWKS interop e2e test (which runs
# crates/edge-token-worker/tests/interop/pyjwt_verify.py with that venv's
# python). Reinstalls when the pins change; quiet and quick when done.
# `make e2e` runs it, and so does the test itself before its first PyJWT run.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="$PWD/.tools/interop-venv"
REQUIREMENTS="$PWD/scripts/interop-requirements.txt"
if [ ! -x "$VENV/bin/python" ] || ! cmp -s "$REQUIREMENTS" "$VENV/requirements.txt"; then
  echo "installing PyJWT into $VENV" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$REQUIREMENTS"
  cp "$REQUIREMENTS" "$VENV/requirements.txt"
fi
