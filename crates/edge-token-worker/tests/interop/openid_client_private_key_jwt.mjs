// A client_credentials client of edge-token that authenticates with
// private_key_jwt (RFC 7523) through openid-client v6 (npm, pinned in
// package.json), as a Node service would: discovery of the issuer's RFC 8414
// metadata, client.PrivateKeyJwt({ key, kid }), then clientCredentialsGrant,
// tokenIntrospection, tokenRevocation and tokenIntrospection again.
// openid-client signs a new assertion for every request: iss = sub =
// client_id, aud = the issuer identifier, iat = nbf = now, exp = now + 60, a
// random jti, and client_id in the body as well.
//
// The issuer's URLs are https://ISSUER...; a custom fetch sends each request
// to the local Worker instead (--local), which sees its public URL behind
// wrangler's local proxy. So the client runs with its HTTPS checks on.
//
// Prints one JSON object and exits 0 when it ran:
//   {"ok": true, "token": {...}, "introspected": {...},
//    "introspected_after_revoke": {...}, "assertions": [{header, claims}, ...]}
//   {"ok": false, "error": "<error name or code>", "message": "..."}
// ("assertions": each request's assertion header and claims, never its
// signature.) Never prints the private key.
//
// Used by the e2e tests (tests/e2e/private_key_jwt.rs).
//
// usage: node openid_client_private_key_jwt.mjs --issuer URL --local URL
//          --client-id ID --key PEM_FILE --alg ES256|RS256|PS256|Ed25519
//          [--kid KID] [--scope SCOPE]

import { createPrivateKey, webcrypto } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

import * as client from "openid-client";

const { values: args } = parseArgs({
  options: {
    issuer: { type: "string" },
    local: { type: "string" },
    "client-id": { type: "string" },
    key: { type: "string" },
    alg: { type: "string" },
    kid: { type: "string" },
    scope: { type: "string" },
  },
});

const ALGORITHMS = {
  ES256: { name: "ECDSA", namedCurve: "P-256" },
  RS256: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
  PS256: { name: "RSA-PSS", hash: "SHA-256" },
  Ed25519: { name: "Ed25519" },
};

function decodeSegment(segment) {
  return JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
}

async function main() {
  for (const name of ["issuer", "local", "client-id", "key", "alg"]) {
    if (!args[name]) throw new Error(`--${name} is required`);
  }
  const algorithm = ALGORITHMS[args.alg];
  if (!algorithm) throw new Error(`--alg ${args.alg} is not one of ${Object.keys(ALGORITHMS)}`);
  // PKCS#1 or PKCS#8 PEM to a non-extractable Web Crypto signing key.
  const jwk = createPrivateKey(readFileSync(args.key)).export({ format: "jwk" });
  const key = await webcrypto.subtle.importKey("jwk", jwk, algorithm, false, ["sign"]);

  const issuer = args.issuer.replace(/\/$/, "");
  const local = args.local.replace(/\/$/, "");
  const assertions = [];
  const fetchLocally = (url, options) => {
    const body = options.body instanceof URLSearchParams ? options.body : null;
    const assertion = body?.get("client_assertion");
    if (assertion) {
      const [header, claims] = assertion.split(".");
      assertions.push({ header: decodeSegment(header), claims: decodeSegment(claims) });
    }
    if (!url.startsWith(issuer)) throw new Error(`unexpected request to ${url}`);
    return fetch(local + url.slice(issuer.length), options);
  };

  const config = await client.discovery(
    new URL(args.issuer),
    args["client-id"],
    undefined,
    client.PrivateKeyJwt({ key, kid: args.kid }),
    { algorithm: "oauth2", [client.customFetch]: fetchLocally },
  );
  config[client.customFetch] = fetchLocally;

  const parameters = args.scope ? { scope: args.scope } : {};
  const token = await client.clientCredentialsGrant(config, parameters);
  const introspected = await client.tokenIntrospection(config, token.access_token);
  await client.tokenRevocation(config, token.access_token);
  const after = await client.tokenIntrospection(config, token.access_token);
  return {
    ok: true,
    token: { ...token },
    introspected,
    introspected_after_revoke: after,
    assertions,
  };
}

let result;
try {
  result = await main();
} catch (e) {
  result = {
    ok: false,
    error: e?.code ?? e?.name ?? "Error",
    message: String(e?.message ?? e),
    cause: e?.cause ? String(e.cause?.message ?? JSON.stringify(e.cause)) : undefined,
  };
}
console.log(JSON.stringify(result));
