"""A client_credentials client of edge-token that authenticates with
private_key_jwt (RFC 7523) through authlib, as a Python service would.

authlib's requests integration: OAuth2Session(client_id, <private key>,
token_endpoint_auth_method=PrivateKeyJWT(token_endpoint, alg=...), and the
same for revocation_endpoint_auth_method, which is client_secret_basic
unless given; introspection uses the token endpoint's method). authlib
signs a new assertion for every request: iss = sub = client_id, aud = the
token endpoint given to PrivateKeyJWT, iat = now, exp = now + 3600, a random
jti, and no kid unless --kid puts one in the header.

Steps: fetch_token (client_credentials), then, with --introspect-url and
--revoke-url, introspect_token (the new token: active), revoke_token, and
introspect_token again (inactive). Each request carries its own assertion.
Prints one JSON object and exits 0 when every request was answered:
  {"ok": true, "token": {...}, "introspected": {...}, "revoked_status": 200,
   "introspected_after_revoke": {...}, "assertions": [{header, claims}, ...]}
  {"ok": false, "error": "<exception class>", "message": "..."}
("assertions": each request's assertion header and claims, never its
signature.) Never prints the private key.

The requests go to --url (the local Worker); the assertions' aud is
--token-endpoint (the issuer's public token endpoint, as its metadata names
it), since the Worker sees its public URL behind the local proxy.

Used by the e2e tests (tests/e2e/private_key_jwt.rs) through the venv that
scripts/interop-venv.sh makes from scripts/interop-requirements.txt.

usage: authlib_private_key_jwt.py --url URL --token-endpoint URL
           --client-id ID --key PEM_FILE --alg ES256|RS256|PS256|EdDSA
           [--kid KID] [--scope SCOPE] [--introspect-url URL --revoke-url URL]
"""

import argparse
import base64
import json
from urllib.parse import parse_qs

from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc.jwk import ECKey, OKPKey, RSAKey

KEY_TYPES = {"ES256": ECKey, "EdDSA": OKPKey, "RS256": RSAKey, "PS256": RSAKey}


def decode_segment(segment: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def recorder(assertions: list):
    """A requests response hook noting each request's assertion header and
    claims (never its signature)."""

    def hook(response, *_args, **_kwargs):
        body = response.request.body or ""
        if isinstance(body, bytes):
            body = body.decode("ascii")
        for assertion in parse_qs(body).get("client_assertion", []):
            header, claims, _ = assertion.split(".")
            assertions.append(
                {"header": decode_segment(header), "claims": decode_segment(claims)}
            )
        return response

    return hook


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token-endpoint", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--alg", required=True, choices=sorted(KEY_TYPES))
    parser.add_argument("--kid")
    parser.add_argument("--scope")
    parser.add_argument("--introspect-url")
    parser.add_argument("--revoke-url")
    args = parser.parse_args()
    with open(args.key, encoding="ascii") as f:
        # A PEM string would be read as an RSA key: give authlib the key object.
        key = KEY_TYPES[args.alg].import_key(f.read())
    headers = {"kid": args.kid} if args.kid else None
    auth = PrivateKeyJWT(args.token_endpoint, headers=headers, alg=args.alg)
    assertions = []
    result = {"ok": True, "assertions": assertions}
    try:
        # Revocation has its own method (client_secret_basic unless set).
        with OAuth2Session(
            args.client_id,
            key,
            token_endpoint_auth_method=auth,
            revocation_endpoint_auth_method=auth,
            scope=args.scope,
        ) as session:
            session.hooks["response"].append(recorder(assertions))
            token = session.fetch_token(args.url, grant_type="client_credentials")
            result["token"] = dict(token)
            if args.introspect_url and args.revoke_url:
                access = token["access_token"]
                r = session.introspect_token(args.introspect_url, token=access)
                r.raise_for_status()
                result["introspected"] = r.json()
                r = session.revoke_token(args.revoke_url, token=access)
                r.raise_for_status()
                result["revoked_status"] = r.status_code
                r = session.introspect_token(args.introspect_url, token=access)
                r.raise_for_status()
                result["introspected_after_revoke"] = r.json()
    except Exception as e:  # noqa: BLE001 - reported to the test, which fails
        result = {"ok": False, "error": type(e).__name__, "message": str(e)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
