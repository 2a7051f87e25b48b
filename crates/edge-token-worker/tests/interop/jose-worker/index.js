// A JS Worker that verifies edge-token access tokens the way a third-party
// API on Workers would: jose's createRemoteJWKSet on the issuer's jwks_uri
// and jwtVerify (issuer, audience, typ at+jwt, an algorithm allowlist). The
// e2e tests (tests/e2e/interop_jwt.rs) start it with wrangler dev and POST
// it tokens; it answers with the verification result as JSON.
//
// POST /verify {"token": "...", "algorithms": ["ES256", "EdDSA"]?, "jwks_uri": "..."?}
//   -> 200 {"ok": true, "alg", "kid", "claims"} or {"ok": false, "error", "code", "message"}
//
// Vars: JWKS_URI (the issuer's jwks_uri), ISSUER, AUDIENCE. A request may
// name another jwks_uri (a test's other issuers): that set is fetched anew
// for the request, never cached, so a restarted issuer's keys are what it
// checks. The JWKS_URI set is made once per isolate and cached by jose, as
// an API would do.
import { createRemoteJWKSet, jwtVerify } from "jose";

let configured;

function json(value, status = 200) {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname !== "/verify") {
      return json({ error: "not found" }, 404);
    }
    if (request.method !== "POST") {
      return new Response(null, { status: 405, headers: { Allow: "POST" } });
    }
    let body;
    try {
      body = await request.json();
    } catch {
      return json({ error: "the body must be JSON" }, 400);
    }
    if (typeof body.token !== "string") {
      return json({ error: "token must be a string" }, 400);
    }
    let keys;
    if (typeof body.jwks_uri === "string") {
      keys = createRemoteJWKSet(new URL(body.jwks_uri));
    } else {
      configured ??= createRemoteJWKSet(new URL(env.JWKS_URI));
      keys = configured;
    }
    try {
      const { payload, protectedHeader } = await jwtVerify(body.token, keys, {
        issuer: env.ISSUER,
        audience: env.AUDIENCE,
        typ: "at+jwt",
        algorithms: body.algorithms ?? ["ES256", "EdDSA"],
        requiredClaims: ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"],
      });
      return json({ ok: true, alg: protectedHeader.alg, kid: protectedHeader.kid, claims: payload });
    } catch (e) {
      return json({ ok: false, error: e?.name ?? "Error", code: e?.code ?? null, message: String(e?.message ?? e) });
    }
  },
};
