"""Verifies one edge-token access token with PyJWT, as a Python API would.

Reads the token from standard input, fetches the issuer's JWK Set with
PyJWKClient, and checks the signature (an algorithm allowlist), issuer,
audience and expiry. Prints one JSON object and exits 0 either way:
  {"ok": true, "alg": ..., "kid": ..., "claims": {...}}
  {"ok": false, "error": "<exception class>", "message": "..."}
Used by the e2e tests (tests/e2e/interop_jwt.rs) through the venv that
scripts/interop-venv.sh makes from scripts/interop-requirements.txt.

usage: pyjwt_verify.py --jwks-uri URI --issuer ISS --audience AUD
                      [--algorithms ES256,EdDSA] [--key-alg ALG] < token
--key-alg reads the token's JWK (by kid) as a key of algorithm ALG, whatever
its "alg" member says, instead of PyJWKClient's own choice (to tell apart
PyJWT refusing a JWK's alg name from refusing the token header's).
"""

import argparse
import json
import sys

import jwt


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jwks-uri", required=True)
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--audience", required=True)
    parser.add_argument("--algorithms", default="ES256,EdDSA")
    parser.add_argument("--key-alg")
    args = parser.parse_args()
    token = sys.stdin.read().strip()
    try:
        client = jwt.PyJWKClient(args.jwks_uri, cache_keys=False, timeout=20)
        if args.key_alg is None:
            key = client.get_signing_key_from_jwt(token)
        else:
            kid = jwt.get_unverified_header(token).get("kid")
            jwks = client.fetch_data()
            jwk = next((k for k in jwks["keys"] if k.get("kid") == kid), None)
            if jwk is None:
                raise jwt.PyJWKClientError(f"no key {kid!r} in the JWK Set")
            key = jwt.PyJWK(jwk, algorithm=args.key_alg)
        decoded = jwt.decode_complete(
            token,
            key.key,
            algorithms=args.algorithms.split(","),
            audience=args.audience,
            issuer=args.issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
        )
        header = decoded["header"]
        result = {
            "ok": True,
            "alg": header.get("alg"),
            "kid": header.get("kid"),
            "claims": decoded["payload"],
        }
    except jwt.PyJWTError as e:
        result = {"ok": False, "error": type(e).__name__, "message": str(e)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
