// The "same-design JS Worker" of issue 13: a hand-written JavaScript
// version of edge-token's token endpoint for client_secret_basic and
// client_secret_post, HS256 only, that `make bench` (bench/run.mjs) measures
// edge-token against. No build step, no dependencies.
//
// It reads the same KV records the CLI writes (CLIENTS, `client:<id>`) and
// the same vars and SIGNING_KEYS, and does per request what the Rust Worker
// does on this path (crates/edge-token-worker/src/entry.rs, and in
// edge-token-core: service.rs, credentials.rs, form.rs, client.rs,
// cache.rs, scope.rs, error.rs, audit.rs, signing.rs): POST only, body bound
// and body timer, content-type check, strict form parse, Basic decode with
// RFC 6749 §2.3.1 url-decoding, a per-isolate record cache (30 s) in front of
// a KV get with cacheTtl and a store timeout, a SHA-256 of the secret bound
// to the client id compared in constant time, scope and audience grants, a
// random jti, an HS256 signature (Web Crypto, key imported once per
// isolate), the RFC 6749 §5.1 / §5.2 JSON and headers, and one JSON audit
// line with the same fields as ours.
//
// Left out (not on the measured path): introspection, revocation, metadata,
// JWKS (404 here), private_key_jwt (401), ES256/EdDSA signing (a
// configuration error), the failure rate limits and their per-isolate
// blocklist, and most of the configuration and record validation (only
// what the token path relies on is checked).

// --- constants, as in the core -------------------------------------------
const MAX_BODY_BYTES = 16 * 1024; // http.rs
const BODY_TIMEOUT_MS = 10_000; // http.rs (the BODY_TIMEOUT_MS var overrides it here; 0: no timer)
const MAX_CREDENTIAL_LEN = 256; // credentials.rs
const CACHE_MAX_ENTRIES = 4096; // cache.rs DEFAULT_MAX_ENTRIES
const MAX_NEGATIVE_TTL = 5; // cache.rs
const MAX_SCOPES = 64, MAX_SCOPE_LEN = 128, MAX_SCOPE_BYTES = 1024; // scope.rs
const MAX_AUDIENCES = 16, MAX_AUDIENCE_LEN = 512, MAX_AUDIENCE_BYTES = 1536;
const SECRET_DOMAIN = "edge-token/client-secret/v1\0"; // client.rs SecretHash::compute
const DUMMY_DIGEST = new Uint8Array(32).fill(0x5a); // client.rs DUMMY_HASH
const RESERVED_CLAIMS = new Set(
  "iss sub aud exp nbf iat jti client_id scope typ cty alg kid cnf act may_act azp auth_time acr amr sid nonce roles groups entitlements token_type active username".split(" "),
); // grammar.rs
const SINGLE_PARAMS = new Set(["grant_type", "scope", "client_id", "client_secret", "client_assertion", "client_assertion_type", "audience", "token", "token_type_hint"]);

const encoder = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true });

// --- errors (error.rs) -----------------------------------------------------
const DESCRIPTIONS = {
  invalid_client: "client authentication failed",
  unsupported_grant_type: "only grant_type=client_credentials is supported",
  server_error: "internal error",
  temporarily_unavailable: "try again later",
};
const STATUS = { invalid_client: 401, server_error: 500, temporarily_unavailable: 503 };
class Failure {
  constructor(code, description, { status, cause, allow } = {}) {
    Object.assign(this, { code, description: description ?? DESCRIPTIONS[code], status: status ?? STATUS[code] ?? 400, cause, allow });
  }
}
const invalidRequest = (d, status) => new Failure("invalid_request", d, { status });
const invalidClient = (cause) => new Failure("invalid_client", undefined, { cause });

// RFC 6749 §5.1: never cached.
const jsonResponse = (status, body, extra) =>
  new Response(body, { status, headers: { "Content-Type": "application/json", "Cache-Control": "no-store", Pragma: "no-cache", ...extra } });

function renderFailure(f, audit) {
  const extra = {};
  if (f.code === "invalid_client") extra["WWW-Authenticate"] = 'Basic realm="edge-token", charset="UTF-8"';
  if (f.code === "temporarily_unavailable") extra["Retry-After"] = "5";
  if (f.allow) extra.Allow = f.allow;
  audit.error = f.code;
  if (f.cause) audit.cause = f.cause;
  return jsonResponse(f.status, `{"error":"${f.code}","error_description":"${f.description}"}`, extra);
}

// --- per-isolate state: configuration (config.rs), key, record cache ---------
let isolate;
function isolateState(env) {
  if (isolate) return isolate;
  const num = (name, dflt) => {
    const v = env[name] === undefined ? "" : String(env[name]).trim();
    if (v === "") return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number`);
    return n;
  };
  let config, key;
  try {
    const issuer = String(env.ISSUER ?? "").trim();
    if (!issuer) throw new Error("ISSUER is not set");
    const kvCacheTtl = num("KV_CACHE_TTL", 60);
    if (kvCacheTtl < 60 || kvCacheTtl > 300) throw new Error("KV_CACHE_TTL must be 60-300");
    const clientCacheTtl = num("CLIENT_CACHE_TTL", 30);
    if (clientCacheTtl > kvCacheTtl) throw new Error("CLIENT_CACHE_TTL must not exceed KV_CACHE_TTL");
    const entries = JSON.parse(env.SIGNING_KEYS ?? "null");
    const signer = Array.isArray(entries) ? entries[0] : undefined;
    if (!signer || (signer.alg ?? "HS256") !== "HS256" || typeof signer.key !== "string")
      throw new Error("this Worker signs HS256 only: the first SIGNING_KEYS entry must be {kid, key}");
    const secret = b64decode(signer.key, true);
    if (!secret || secret.length < 32) throw new Error(`key for kid ${JSON.stringify(signer.kid)} must be at least 32 bytes of base64url`);
    const https = String(env.REQUIRE_HTTPS ?? "true").trim();
    config = {
      issuer,
      tokenTtl: num("TOKEN_TTL", 300),
      maxTokenTtl: num("MAX_TOKEN_TTL", 3600),
      defaultAudiences: splitList(String(env.DEFAULT_AUDIENCE ?? "")),
      kvCacheTtl,
      clientCacheTtl,
      requireHttps: !(https === "false" || https === "0"),
      storeTimeoutMs: num("STORE_TIMEOUT_MS", 3000),
      bodyTimeoutMs: num("BODY_TIMEOUT_MS", BODY_TIMEOUT_MS),
      // The encoded protected header, once (token.rs header_b64: serde_json's
      // keys in sorted order).
      headerB64: b64url(encoder.encode(JSON.stringify({ alg: "HS256", kid: signer.kid, typ: "at+jwt" }))),
    };
    // Imported once per isolate; the first requests await the same promise.
    key = crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    key.catch(() => {}); // reported by the request that awaits it
  } catch (e) {
    config = { error: `invalid configuration: ${e.message}` };
  }
  isolate = { config, key, cache: new Map() };
  return isolate;
}

// cache.rs: records for CLIENT_CACHE_TTL, misses for min(ttl, 5) s; bounded,
// and misses never push out real clients.
function cacheGet(cache, id, now) {
  const e = cache.get(id);
  return e && now < e.expiresAt ? e : undefined;
}
function cacheInsert(cache, ttlFound, id, now, record) {
  const ttl = record ? ttlFound : Math.min(ttlFound, MAX_NEGATIVE_TTL);
  if (ttl === 0) return;
  if (cache.size >= CACHE_MAX_ENTRIES && !cache.has(id)) {
    for (const [k, e] of cache) if (now >= e.expiresAt) cache.delete(k);
    if (cache.size >= CACHE_MAX_ENTRIES) {
      if (!record) return;
      let victim = cache.keys().next().value;
      for (const [k, e] of cache) if (!e.record) { victim = k; break; }
      cache.delete(victim);
    }
  }
  cache.set(id, { expiresAt: now + ttl, record });
}

// service.rs load_client: the cache, else one bounded KV read, parsed and checked.
async function loadClient(env, state, id, now) {
  const hit = cacheGet(state.cache, id, now);
  if (hit) return hit.record;
  const { kvCacheTtl, storeTimeoutMs, clientCacheTtl } = state.config;
  if (!env.CLIENTS) throw new Failure("server_error", undefined, { cause: "KV binding CLIENTS is missing" });
  let json;
  try {
    json = await bounded(env.CLIENTS.get(`client:${id}`, { cacheTtl: kvCacheTtl }), storeTimeoutMs);
  } catch (e) {
    throw e instanceof Failure ? e : new Failure("temporarily_unavailable", undefined, { cause: String(e?.message ?? e) });
  }
  const record = json === null ? null : parseRecord(id, json);
  cacheInsert(state.cache, clientCacheTtl, id, now, record);
  return record;
}

// A store call bounded by STORE_TIMEOUT_MS (timer.rs with_timeout): 503.
function bounded(promise, ms) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Failure("temporarily_unavailable", undefined, { cause: `client store timed out after ${ms} ms` })), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// client.rs ClientRecord::from_json, the checks the token path relies on;
// the secret digests are decoded once here, not per request.
function parseRecord(id, json) {
  const bad = (why) => new Failure("server_error", undefined, { cause: `malformed client record: ${why}` });
  let r;
  try {
    r = JSON.parse(json);
  } catch (e) {
    throw bad(e.message);
  }
  if (!(r.version >= 1 && r.version <= 3)) throw new Failure("server_error", undefined, { cause: `unsupported client record version ${r.version}` });
  if (r.client_id !== id) throw new Failure("server_error", undefined, { cause: "client record id does not match its key" });
  const secrets = (r.secrets ?? []).map((s) => {
    const digest = b64decode(s.digest, false);
    if (!digest || digest.length !== 32) throw bad("secret digest must be 32 bytes");
    return { digest, expiresAt: s.expires_at ?? null };
  });
  if (secrets.length && r.keys?.length) throw bad("a client authenticates with secrets or with keys (private_key_jwt), not both");
  if (r.token_ttl === 0) throw bad("token_ttl must be positive");
  const allowedScopes = r.allowed_scopes ?? [], defaultScopes = r.default_scopes ?? [];
  const allowedAudiences = r.allowed_audiences ?? [], defaultAudiences = r.default_audiences ?? [];
  if (!defaultScopes.every((s) => allowedScopes.includes(s))) throw bad("default scope not among the allowed scopes");
  if (!defaultAudiences.every((a) => allowedAudiences.includes(a))) throw bad("default audience not among the allowed audiences");
  const extra = Object.entries(r.extra_claims ?? {}).filter(([name]) => isExtraClaimName(name));
  return { clientId: r.client_id, secrets, allowedScopes, defaultScopes, allowedAudiences, defaultAudiences, tokenTtl: r.token_ttl ?? null, disabled: r.disabled === true, extra };
}

// --- request parsing ---------------------------------------------------------
// entry.rs read_body: at most MAX_BODY_BYTES (a larger declared or streamed
// body is refused), within the body timer.
async function readBody(request, timeoutMs) {
  const read = readBodyUnbounded(request);
  if (!timeoutMs) return read;
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(invalidRequest("request body not received in time", 408)), timeoutMs);
  });
  return Promise.race([read, timeout]).finally(() => clearTimeout(timer));
}
async function readBodyUnbounded(request) {
  const tooLarge = () => invalidRequest("request body too large", 413);
  const unreadable = () => invalidRequest("request body could not be read");
  const declared = request.headers.get("content-length");
  if (declared !== null && /^\s*\d+\s*$/.test(declared)) {
    if (Number(declared) > MAX_BODY_BYTES) throw tooLarge();
    let buf;
    try {
      buf = await request.arrayBuffer();
    } catch {
      throw unreadable();
    }
    if (buf.byteLength > MAX_BODY_BYTES) throw tooLarge();
    return new Uint8Array(buf);
  }
  if (!request.body) return new Uint8Array(0);
  const chunks = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    let step;
    try {
      step = await reader.read();
    } catch {
      throw unreadable();
    }
    if (step.done) break;
    size += step.value.byteLength;
    if (size > MAX_BODY_BYTES) throw tooLarge();
    chunks.push(step.value);
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) body.set(c, (at += c.byteLength) - c.byteLength);
  return body;
}

// form.rs: `+` is a space, `%XX` a byte, anything else malformed; UTF-8 only.
const BAD_PERCENT = /%(?![0-9A-Fa-f]{2})/;
function decodeComponent(s) {
  if (!s.includes("%") && !s.includes("+")) return s;
  if (BAD_PERCENT.test(s)) throw new Error("bad percent-encoding");
  return decodeURIComponent(s.replaceAll("+", " ")); // throws on bytes that are not UTF-8
}
function parseForm(bytes) {
  try {
    const pairs = [];
    for (const segment of utf8.decode(bytes).split("&")) {
      if (segment === "") continue;
      const eq = segment.indexOf("=");
      pairs.push(eq < 0 ? [decodeComponent(segment), ""] : [decodeComponent(segment.slice(0, eq)), decodeComponent(segment.slice(eq + 1))]);
    }
    return pairs;
  } catch {
    throw invalidRequest("malformed form body");
  }
}

// service.rs Params::from_pairs: a single-valued parameter twice is invalid_request.
function params(pairs) {
  const p = { resource: [] };
  for (const [name, value] of pairs) {
    if (name === "resource") p.resource.push(value);
    else if (SINGLE_PARAMS.has(name)) {
      if (Object.hasOwn(p, name)) throw invalidRequest(`${name} given more than once`);
      p[name] = value;
    }
  }
  return p;
}

// credentials.rs extract / parse_basic: exactly one method; Basic is
// base64(urlencode(id) ":" urlencode(secret)).
function credentials(authorization, p) {
  if (authorization !== null) {
    if (p.client_secret !== undefined) throw invalidRequest("more than one client authentication method");
    const header = authorization.trim();
    const sp = header.indexOf(" ");
    if (sp < 0 || header.slice(0, sp).toLowerCase() !== "basic") throw invalidClient();
    const encoded = header.slice(sp + 1).trim();
    if (encoded.length > ((MAX_CREDENTIAL_LEN * 3 * 2 * 4) / 3) + 8) throw invalidClient();
    const decoded = b64decode(encoded, false, true);
    const colon = decoded ? decoded.indexOf(58) : -1;
    if (colon < 0) throw invalidClient();
    let id, secret;
    try {
      id = decodeComponent(utf8.decode(decoded.subarray(0, colon)));
      secret = decodeComponent(utf8.decode(decoded.subarray(colon + 1)));
    } catch {
      throw invalidClient();
    }
    if (!id || !secret || id.length > MAX_CREDENTIAL_LEN || secret.length > MAX_CREDENTIAL_LEN) throw invalidClient();
    if (p.client_id !== undefined && p.client_id !== id) throw invalidRequest("client_id does not match the Authorization header");
    return { id, secret, method: "client_secret_basic" };
  }
  const { client_id: id, client_secret: secret } = p;
  if (!id || !secret || id.length > MAX_CREDENTIAL_LEN || secret.length > MAX_CREDENTIAL_LEN) throw invalidClient();
  return { id, secret, method: "client_secret_post" };
}

// client.rs authenticate: the digest is computed and compared against every
// stored secret (or a dummy on a miss) whatever the outcome.
const ctEqual = crypto.subtle.timingSafeEqual
  ? (a, b) => crypto.subtle.timingSafeEqual(a, b)
  : (a, b) => a.reduce((d, x, i) => d | (x ^ b[i]), 0) === 0;
async function authenticate(record, id, secret, now) {
  const presented = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(`${SECRET_DOMAIN}${id}\0${secret}`)));
  if (!record) {
    ctEqual(presented, DUMMY_DIGEST);
    return false;
  }
  let matched = 0;
  for (const s of record.secrets) matched |= ctEqual(presented, s.digest) & (s.expiresAt === null || now < s.expiresAt);
  return matched === 1 && !record.disabled;
}

// --- scope.rs, grammar.rs ------------------------------------------------------
const splitList = (s) => s.split(" ").filter((t) => t !== "");
const dedup = (xs) => [...new Set(xs)];
const isScopeToken = (t) => t !== "" && /^[\x21\x23-\x5b\x5d-\x7e]+$/.test(t);
const isAudience = (v) => v !== "" && /^[\x21\x23-\x5b\x5d-\x7e]+$/.test(v); // visible ASCII but " and \
function isAbsoluteUri(uri) {
  const colon = uri.indexOf(":");
  if (colon < 0) return false;
  const rest = uri.slice(colon + 1);
  const emptyAuthority = rest.startsWith("//") && (rest.length === 2 || "/?#".includes(rest[2]));
  return /^[A-Za-z][A-Za-z0-9+.-]*$/.test(uri.slice(0, colon)) && rest !== "" && !emptyAuthority && !uri.includes("#") && /^[\x21-\x7e]+$/.test(uri);
}
const isExtraClaimName = (n) => /^[A-Za-z_.:-][A-Za-z0-9_.:-]{0,63}$/.test(n) && !RESERVED_CLAIMS.has(n.toLowerCase());

// check_scopes / check_audiences: entries in order, the first out of bounds decides.
function checkList(list, max, maxLen, maxBytes, valid, separator) {
  let bytes = 0;
  for (let i = 0; i < list.length; i++) {
    if (i >= max) return "too_many";
    if (list[i].length > maxLen) return "too_long";
    if (!valid(list[i])) return "malformed";
    bytes += list[i].length + (i > 0 ? separator : 0);
  }
  return bytes > maxBytes ? "too_large" : null;
}

function grantScopes(requested, c) {
  const list = requested === undefined ? [] : splitList(requested);
  const bad = checkList(list, MAX_SCOPES, MAX_SCOPE_LEN, MAX_SCOPE_BYTES, isScopeToken, 1);
  if (bad) throw new Failure("invalid_scope", bad === "malformed" ? "malformed scope" : "too many or too long scopes");
  if (list.length === 0) return c.defaultScopes;
  if (list.every((s) => c.allowedScopes.includes(s))) return dedup(list);
  throw new Failure("invalid_scope", "requested scope is not allowed for this client");
}

function grantAudiences(resources, audience, c, configDefault) {
  const target = (d) => new Failure("invalid_target", d);
  if (!resources.every(isAbsoluteUri)) throw target("resource must be an absolute URI without a fragment");
  const all = resources.concat(splitList(audience ?? ""));
  const bad = checkList(all, MAX_AUDIENCES, MAX_AUDIENCE_LEN, MAX_AUDIENCE_BYTES, isAudience, 0);
  if (bad) throw target(bad === "malformed" ? "malformed audience" : bad === "too_many" ? "too many audiences requested" : "requested audiences too long");
  const defaults = c.defaultAudiences.length ? c.defaultAudiences : configDefault;
  if (all.length === 0) {
    if (defaults.length === 0) throw target("no audience requested and none configured");
    return defaults;
  }
  if (all.every((a) => c.allowedAudiences.includes(a) || defaults.includes(a))) return dedup(all);
  throw target("requested audience is not allowed for this client");
}

// --- base64 --------------------------------------------------------------------
function b64url(bytes) {
  return btoa(String.fromCharCode.apply(null, bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}
// base64url (or standard, for Basic), padding optional; null when malformed.
function b64decode(s, anyPad, standard = false) {
  if (typeof s !== "string") return null;
  const body = s.replace(/=+$/, "");
  if (!anyPad && s.length !== body.length && s.length % 4 !== 0) return null;
  if (!(standard ? /^[A-Za-z0-9+/]*$/ : /^[A-Za-z0-9_-]*$/).test(body) || body.length % 4 === 1) return null;
  const bin = atob(standard ? body : body.replaceAll("-", "+").replaceAll("_", "/"));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// --- the token endpoint (service.rs token) ---------------------------------------
async function token(request, env, state, now, audit) {
  if (request.method !== "POST") throw new Failure("invalid_request", "method not allowed", { status: 405, allow: "POST" });
  const config = state.config;
  if (config.error) throw new Failure("server_error", undefined, { cause: config.error });
  if (config.requireHttps && !/^https:\/\//i.test(request.url)) throw invalidRequest("HTTPS is required");
  const body = await readBody(request, config.bodyTimeoutMs);
  const contentType = request.headers.get("content-type");
  if (contentType === null || contentType.split(";")[0].trim().toLowerCase() !== "application/x-www-form-urlencoded")
    throw invalidRequest("Content-Type must be application/x-www-form-urlencoded");
  const p = params(parseForm(body));
  if (!p.grant_type) throw invalidRequest("grant_type is required");
  if (p.grant_type !== "client_credentials") throw new Failure("unsupported_grant_type");

  // service.rs authenticate_caller (without the failure rate limits).
  const authorization = request.headers.get("authorization");
  if (authorization !== null && authorization.includes(",")) throw invalidRequest("more than one Authorization header");
  if (p.client_assertion !== undefined || p.client_assertion_type !== undefined) {
    audit.auth_method = "private_key_jwt";
    throw invalidClient("private_key_jwt is not implemented in this bench Worker");
  }
  const creds = credentials(authorization, p);
  audit.auth_method = creds.method;
  audit.client_id = creds.id.includes("ets_") ? "<redacted: looks like a client secret>" : creds.id;
  const client = await loadClient(env, state, creds.id, now);
  if (!(await authenticate(client, creds.id, creds.secret, now)))
    throw invalidClient(!client ? "unknown client" : client.disabled ? "client disabled" : "secret mismatch or expired");

  const scopes = grantScopes(p.scope, client);
  const audiences = grantAudiences(p.resource, p.audience, client, config.defaultAudiences);
  const ttl = Math.min(client.tokenTtl ?? config.tokenTtl, config.maxTokenTtl);
  const jti = b64url(crypto.getRandomValues(new Uint8Array(16)));
  const scope = scopes.join(" ");
  // token.rs AccessTokenClaims, in its order: the registered claims one
  // client's tokens share, its extra claims (names checked when the record
  // was read), then exp, iat and jti.
  const claims = { iss: config.issuer, sub: client.clientId, aud: audiences.length === 1 ? audiences[0] : audiences, client_id: client.clientId };
  if (scope) claims.scope = scope;
  for (const [name, value] of client.extra) Object.defineProperty(claims, name, { value, enumerable: true });
  Object.assign(claims, { exp: now + ttl, iat: now, jti });
  const input = `${config.headerB64}.${b64url(encoder.encode(JSON.stringify(claims)))}`;
  let signature;
  try {
    signature = await crypto.subtle.sign("HMAC", await state.key, encoder.encode(input));
  } catch (e) {
    throw new Failure("server_error", undefined, { cause: `signing failed: ${e.message}` });
  }
  const accessToken = `${input}.${b64url(new Uint8Array(signature))}`;
  Object.assign(audit, { outcome: "issued", jti, scope: scope || undefined, aud: audiences, exp: claims.exp });
  return jsonResponse(200, JSON.stringify({ access_token: accessToken, token_type: "Bearer", expires_in: ttl, scope: scope || undefined }));
}

export default {
  async fetch(request, env) {
    const nowMs = Date.now();
    const now = Math.floor(nowMs / 1000);
    const ray = request.headers.get("cf-ray");
    const state = isolateState(env);
    // http.rs split_url: the path without query or fragment.
    const url = request.url;
    const afterScheme = url.slice(url.indexOf("://") + 3);
    const slash = afterScheme.indexOf("/");
    const path = slash < 0 ? "/" : afterScheme.slice(slash).split(/[?#]/)[0];
    const isToken = path === "/oauth2/token";
    const audit = { event: isToken ? "token" : "not_found" };
    let response;
    try {
      if (!isToken) throw invalidRequest("unknown endpoint", 404);
      response = await token(request, env, state, now, audit);
    } catch (e) {
      response = renderFailure(e instanceof Failure ? e : new Failure("server_error", undefined, { cause: String(e?.message ?? e) }), audit);
    }
    // audit.rs: one line, its fields in this order, absent ones left out.
    const status = response.status;
    const outcome = status === 200 ? audit.outcome ?? "ok" : status === 429 ? "rate_limited" : status >= 500 ? "error" : "rejected";
    const colo = ray?.includes("-") ? ray.slice(ray.lastIndexOf("-") + 1) : undefined;
    const line = JSON.stringify({
      ts: nowMs, event: audit.event, status, outcome, client_id: audit.client_id, auth_method: audit.auth_method, error: audit.error,
      cause: audit.cause, jti: audit.jti, scope: audit.scope, aud: audit.aud, exp: audit.exp, ray: ray ?? undefined, colo,
    });
    if (status >= 500) console.error(line);
    else console.log(line);
    return response;
  },
};
