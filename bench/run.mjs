// `make bench`: end-to-end load benchmark. Serves the release Worker and a
// constant-200 floor Worker on workerd (bench/serve.mjs, direct sockets),
// and the peer (oidc-provider, bench/peer/oidc.mjs), then drives each with
// wrk at several concurrency levels, RUNS times, and prints medians and
// ratios to the floor. Any failed request fails the run.
//
// Issuance is measured per signing algorithm too: the same issuer signing
// HS256, ES256 and EdDSA, the ES256/EdDSA ones both with Web Crypto (the
// release build, build/) and in wasm (the `rust-signer` build,
// target/bench/rust-signer/, which make bench builds). For every scenario
// the server's CPU time per request is read from /proc (workerd's, or the
// peer's Node process), besides the req/s.
//
// And issuance authenticated by private_key_jwt (issue 12), per client key
// algorithm (ES256, EdDSA, RS256 and PS256 with 2048-bit keys; four
// clients created with the CLI's --auth private_key_jwt --jwk): on build/
// (Web Crypto checks the assertion) and on the rust-signer build (pure Rust
// in wasm). Every request carries a new assertion (its jti is used once):
// before each measurement this process signs enough of them (Node's crypto,
// on libuv's thread pool, while no load runs) into a file, one request body
// a line, that bench/wrk.lua sends once each. Each accepted assertion costs
// the Worker a KV read and one KV write (its replay marker), which the
// figures include (local KV here: Miniflare's, inside the same workerd).
//
// And the same-design JS Worker (bench/js-issuer, issue 13): a hand-written
// JS issuer of edge-token's design (KV with a per-isolate record cache, Web
// Crypto SHA-256 and HMAC, one log line), on the same workerd, KV, client
// and vars. Before it is measured its token must verify with the HS256 key
// and carry the header and claim names of edge-token's; the summary gives
// edge-token's issuance as a multiple of it.
//
// And the shape floor (lib.mjs SHAPE_FLOOR_SCRIPT): a JS Worker doing the
// I/O of edge-token's token request (its header reads, the bounded body
// read, one log line, a token-sized Response) and none of its work. The
// summary splits HS256 issuance's distance to the JS floor in two: what a
// Worker of that shape pays anyway, and what edge-token's own work adds.
//
// And introspection of an active token: each measurement introspects a
// token issued just before it, checked active then and after it (an
// expired token is answered inactive before the revocation check, a
// cheaper path that earlier runs measured once the first token had
// expired). Its KV read floor (the JS floor plus one local KV get of a key
// never written: the I/O of the revocation check) splits its distance to
// the JS floor like the shape floor does for issuance.
//
// env: RUNS (3), DURATION seconds per measurement (5), CONCURRENCY ("16,64,256"),
//      RUST_SIGNER_BUILD (target/bench/rust-signer), STARTUP_ONLY=1 (size and start-up only),
//      ONLY (a regular expression: measure only the scenarios it matches, with
//      the JS floor and the baselines they need, and print their tables only;
//      ONLY=private_key_jwt measures the issue 12 part alone)
import { spawn, spawnSync, execFileSync } from "node:child_process";
import { constants, createHmac, createPublicKey, generateKeyPairSync, randomBytes, sign, timingSafeEqual, verify } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { b64url, cpuMicros, freePort, median, pad, root, waitReady, workerdOf } from "./lib.mjs";

const RUNS = Number(process.env.RUNS ?? 3);
const DURATION = Number(process.env.DURATION ?? 5);
const LEVELS = (process.env.CONCURRENCY ?? "16,64,256").split(",").map(Number);
const children = [];
const die = (msg) => {
  console.error(`bench: ${msg}`);
  for (const c of children) c.kill("SIGTERM");
  process.exit(1);
};
process.on("exit", () => children.forEach((c) => c.kill("SIGTERM")));


// The JWS signature of `input` with a client's private key (RFC 7518: ES256
// as r || s; PS256 with a 32-byte salt), on libuv's thread pool.
const signJws = (alg, input, key) =>
  new Promise((resolve, reject) => {
    const [digest, k] =
      alg === "EdDSA"
        ? [null, key]
        : alg === "ES256"
          ? ["sha256", { key, dsaEncoding: "ieee-p1363" }]
          : alg === "PS256"
            ? ["sha256", { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }]
            : ["sha256", key];
    sign(digest, Buffer.from(input), k, (e, sig) => (e ? reject(e) : resolve(sig)));
  });
const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
// `n` token request bodies, each with a new assertion of client `kc` for
// audience `aud` (jti: a random tag of this batch and the index).
async function assertionBodies(kc, aud, n) {
  const now = Math.floor(Date.now() / 1000);
  const header = b64url(JSON.stringify({ alg: kc.alg, kid: kc.kid, typ: "JWT" }));
  const prefix = `grant_type=client_credentials&client_assertion_type=${encodeURIComponent(JWT_BEARER)}&client_assertion=`;
  const tag = b64url(randomBytes(12));
  const bodies = new Array(n);
  let next = 0;
  const signer = async () => {
    while (next < n) {
      const i = next++;
      const claims = b64url(JSON.stringify({ iss: kc.clientId, sub: kc.clientId, aud, iat: now, exp: now + 900, jti: `${tag}.${i}` }));
      const input = `${header}.${claims}`;
      bodies[i] = `${prefix}${input}.${b64url(await signJws(kc.alg, input, kc.privateKey))}`;
    }
  };
  await Promise.all(Array.from({ length: 8 }, signer));
  return bodies;
}

// --- set-up ----------------------------------------------------------------
// RUST_SIGNER_BUILD: another rust-signer build to measure instead (e.g. one
// built with other optimisation settings).
const RUST_SIGNER_BUILD = process.env.RUST_SIGNER_BUILD ?? "target/bench/rust-signer";
for (const f of ["build/index.js", "build/index_bg.wasm", "bench/rust-floor/build/index.js", `${RUST_SIGNER_BUILD}/index.js`]) {
  if (!fs.existsSync(path.join(root, f)))
    die(`${f} missing: run make build-issuer, scripts/build-worker.sh bench/rust-floor and WORKER_FEATURES=rust-signer BUILD_OUT=${RUST_SIGNER_BUILD} scripts/build-worker.sh (make bench does)`);
}
// The cargo features a build was made with (scripts/build-worker.sh records them).
const featuresOf = (dir) => {
  try {
    return fs.readFileSync(path.join(root, dir, ".features"), "utf8").trim();
  } catch {
    return null;
  }
};
if (featuresOf(RUST_SIGNER_BUILD) !== "rust-signer") die(`${RUST_SIGNER_BUILD} is not a rust-signer build`);
if (![null, ""].includes(featuresOf("build"))) die("build/ is not the default (Web Crypto) build: run make build-issuer");
if (spawnSync("wrk", ["--version"]).error) die("wrk not found (Debian: apt-get install wrk)");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "edge-token-bench-"));
const state = path.join(work, "state");
const key = randomBytes(32);
const signingKeys = JSON.stringify([{ kid: "bench-1", key: b64url(key) }]);
// Fresh asymmetric signing keys, generated here (SIGNING_KEYS' private JWK form).
const es256Keys = JSON.stringify([{ kid: "bench-es", alg: "ES256", ...generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "jwk" }) }]);
const eddsaKeys = JSON.stringify([{ kid: "bench-ed", alg: "EdDSA", ...generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }) }]);

const cli = path.join(root, "target/release/edge-token");
const create = (stateDir, ...extra) => {
  const out = execFileSync(
    cli,
    ["client", "create", "--name", "bench", "--scope", "read", "--local", "--config", path.join(root, "wrangler.toml"), "--persist-to", stateDir, "--new-state", ...extra],
    { cwd: root, env: { ...process.env, WRANGLER_SEND_METRICS: "false" } },
  );
  return JSON.parse(out.toString());
};
const client = create(state, "--introspect");

// private_key_jwt clients, one per key algorithm, created through the CLI
// with their public JWK; the private keys stay here and sign the assertions.
const keyPairs = {
  ES256: () => generateKeyPairSync("ec", { namedCurve: "P-256" }),
  EdDSA: () => generateKeyPairSync("ed25519"),
  RS256: () => generateKeyPairSync("rsa", { modulusLength: 2048 }),
  PS256: () => generateKeyPairSync("rsa", { modulusLength: 2048 }),
};
const keyClients = Object.entries(keyPairs).map(([alg, make]) => {
  const { publicKey, privateKey } = make();
  const kid = `bench-${alg.toLowerCase()}`;
  const file = path.join(work, `${kid}.jwk`);
  fs.writeFileSync(file, JSON.stringify({ ...publicKey.export({ format: "jwk" }), kid, alg }));
  const created = create(state, "--auth", "private_key_jwt", "--jwk", file);
  if (created.client_secret !== undefined || created.token_endpoint_auth_method !== "private_key_jwt")
    die(`${alg}: client create --auth private_key_jwt printed ${JSON.stringify(Object.keys(created))}`);
  return { alg, kid, privateKey, clientId: created.client_id };
});

const edgePort = freePort();
const floorPort = edgePort + 1;
const rustFloorPort = edgePort + 3;
const kvFloorPort = edgePort + 20;
const jsIssuerPort = edgePort + 21;
const signFloorPort = edgePort + 22;
const shapeFloorPort = edgePort + 23;
// The issuer per signing algorithm and signer (the HS256 one on build/ is
// edgePort itself). The rust-signer build's HS256 is the control: the two
// builds differ only in how ES256/EdDSA are signed.
const variants = [
  { name: "es256-webcrypto", alg: "ES256", build: "build", label: "ES256, Web Crypto", signingKeys: es256Keys },
  { name: "es256-rust", alg: "ES256", build: RUST_SIGNER_BUILD, label: "ES256, pure Rust (rust-signer build)", signingKeys: es256Keys },
  { name: "eddsa-webcrypto", alg: "EdDSA", build: "build", label: "EdDSA, Web Crypto", signingKeys: eddsaKeys },
  { name: "eddsa-rust", alg: "EdDSA", build: RUST_SIGNER_BUILD, label: "EdDSA, pure Rust (rust-signer build)", signingKeys: eddsaKeys },
  { name: "hs256-rust", alg: "HS256", build: RUST_SIGNER_BUILD, label: "HS256 (rust-signer build)", signingKeys },
].map((v, i) => ({ ...v, port: edgePort + 4 + i }));
const serve = spawn(process.execPath, [path.join(root, "bench/serve.mjs"), state, String(edgePort), String(floorPort), String(rustFloorPort), String(kvFloorPort), String(jsIssuerPort), String(signFloorPort), String(shapeFloorPort)], {
  env: { ...process.env, SIGNING_KEYS: signingKeys, BENCH_VARIANTS: JSON.stringify(variants.map(({ name, port, build, signingKeys }) => ({ name, port, build, signingKeys }))) },
});
children.push(serve);
await waitReady(serve, "workerd");
const workerdPid = workerdOf(serve.pid);

const peerPort = edgePort + 2;
const peerSecret = b64url(randomBytes(32));
const peer = spawn(process.execPath, [path.join(root, "bench/peer/oidc.mjs"), String(peerPort), "bench-client", peerSecret], { cwd: root });
children.push(peer);
await waitReady(peer, "oidc-provider");
if (!workerdPid) console.error("bench: no /proc or no workerd child found: CPU per request not measured");

const basic = (id, secret) => "Basic " + Buffer.from(`${id}:${secret}`).toString("base64");
const form = "application/x-www-form-urlencoded";
const edge = `http://127.0.0.1:${edgePort}`;
const KV_READ = "KV read floor: JS, 1 KV get (a miss)";
// A POST by the bench's client (client_secret_basic) to edge-token.
const post = (urlPath, body) =>
  fetch(`${edge}${urlPath}`, { method: "POST", headers: { authorization: basic(client.client_id, client.client_secret), "content-type": form }, body });
// A token issued now: the Response and its JSON.
async function issue() {
  const res = await post("/oauth2/token", "grant_type=client_credentials");
  if (res.status !== 200) die(`token request failed: ${res.status} ${await res.text()}`);
  return { res, json: await res.json() };
}
// The introspection of `token` by the same client.
async function introspected(token) {
  const res = await post("/oauth2/introspect", `token=${token}`);
  const text = await res.text();
  if (res.status !== 200) die(`introspection failed: ${res.status} ${text}`);
  return JSON.parse(text);
}
const { res: tokenRes, json: tokenJson } = await issue();
const token = tokenJson.access_token;

// The same-design JS Worker must answer the same client as edge-token does:
// a 200 whose token verifies with the HS256 key (Node's crypto), with the
// same header and claim names, the same response fields and no-store
// headers; and the same 401 for a wrong secret.
const jsIssuer = `http://127.0.0.1:${jsIssuerPort}`;
{
  const jwtParts = (jwt) => {
    const [h, p, sig] = jwt.split(".");
    return { h, p, sig, header: JSON.parse(Buffer.from(h, "base64url")), claims: JSON.parse(Buffer.from(p, "base64url")) };
  };
  const names = (o) => Object.keys(o).sort().join(",");
  const request = (base, auth) =>
    fetch(`${base}/oauth2/token`, { method: "POST", headers: { authorization: auth, "content-type": form }, body: "grant_type=client_credentials" });
  const res = await request(jsIssuer, basic(client.client_id, client.client_secret));
  const text = await res.text();
  if (res.status !== 200) die(`js issuer: token request failed: ${res.status} ${text}`);
  const json = JSON.parse(text);
  const js = jwtParts(json.access_token);
  const ours = jwtParts(token);
  const mac = createHmac("sha256", key).update(`${js.h}.${js.p}`).digest();
  if (!timingSafeEqual(mac, Buffer.from(js.sig, "base64url"))) die("js issuer: its token does not verify with the HS256 key");
  if (names(js.header) !== names(ours.header)) die(`js issuer: header names ${names(js.header)}, edge-token's ${names(ours.header)}`);
  if (names(js.claims) !== names(ours.claims)) die(`js issuer: claim names ${names(js.claims)}, edge-token's ${names(ours.claims)}`);
  if (names(json) !== names(tokenJson)) die(`js issuer: response fields ${names(json)}, edge-token's ${names(tokenJson)}`);
  for (const h of ["content-type", "cache-control", "pragma"])
    if (res.headers.get(h) !== tokenRes.headers.get(h)) die(`js issuer: ${h} ${res.headers.get(h)}, edge-token's ${tokenRes.headers.get(h)}`);
  const wrong = basic(client.client_id, "ets_" + b64url(randomBytes(32)));
  const [a, b] = await Promise.all([request(edge, wrong), request(jsIssuer, wrong)]);
  const [ta, tb] = [await a.text(), await b.text()];
  if (a.status !== 401 || b.status !== 401 || ta !== tb || a.headers.get("www-authenticate") !== b.headers.get("www-authenticate"))
    die(`js issuer: a wrong secret gets ${b.status} ${tb}, edge-token ${a.status} ${ta}`);
}

// The shape floor must answer edge-token's token request as edge-token
// does on the wire: 200, the same headers, a body of the same length.
{
  const res = await fetch(`http://127.0.0.1:${shapeFloorPort}/oauth2/token`, {
    method: "POST",
    headers: { authorization: basic(client.client_id, client.client_secret), "content-type": form },
    body: "grant_type=client_credentials",
  });
  const text = await res.text();
  if (res.status !== 200) die(`shape floor: ${res.status} ${text}`);
  const headers = (r) => JSON.stringify([...r.headers].filter(([h]) => h !== "content-length"));
  if (headers(res) !== headers(tokenRes)) die(`shape floor: headers ${headers(res)}, edge-token's ${headers(tokenRes)}`);
  const ours = JSON.stringify(tokenJson).length;
  if (Math.abs(text.length - ours) > 16) die(`shape floor: a ${text.length}-byte body, edge-token's ${ours}`);
}

// Each variant must issue a token with its algorithm and kid, whose
// signature its own JWKS verifies (Node's crypto), before it is measured.
const hs256Variant = { name: "hs256", alg: "HS256", build: "build", label: "HS256", port: edgePort };
for (const v of variants) {
  const base = `http://127.0.0.1:${v.port}`;
  const res = await fetch(`${base}/oauth2/token`, {
    method: "POST",
    headers: { authorization: basic(client.client_id, client.client_secret), "content-type": form },
    body: "grant_type=client_credentials",
  });
  if (res.status !== 200) die(`${v.name}: token request failed: ${res.status} ${await res.text()}`);
  const jwt = (await res.json()).access_token;
  const [h, p, sig] = jwt.split(".");
  const header = JSON.parse(Buffer.from(h, "base64url"));
  const kid = JSON.parse(v.signingKeys)[0].kid;
  if (header.alg !== v.alg || header.kid !== kid) die(`${v.name}: token header ${JSON.stringify(header)}, expected alg ${v.alg} kid ${kid}`);
  if (v.alg === "HS256") continue;
  const jwks = await (await fetch(`${base}/.well-known/jwks.json`)).json();
  const jwk = jwks.keys.find((k) => k.kid === kid);
  if (!jwk) die(`${v.name}: kid ${kid} not in its JWKS`);
  const pub = createPublicKey({ key: jwk, format: "jwk" });
  const data = Buffer.from(`${h}.${p}`);
  const ok =
    v.alg === "ES256"
      ? verify("sha256", data, { key: pub, dsaEncoding: "ieee-p1363" }, Buffer.from(sig, "base64url"))
      : verify(null, data, pub, Buffer.from(sig, "base64url"));
  if (!ok) die(`${v.name}: the ${v.alg} signature does not verify with the JWKS key`);
}
const algName = (v) => `token ${v.label}`;

// private_key_jwt on build/ (Web Crypto checks the assertion) and on the
// rust-signer build (pure Rust): each client's assertion must get a token
// once, and be refused the second time (replay).
const hs256Rust = variants.find((v) => v.name === "hs256-rust");
const checkers = [
  { name: "webcrypto", label: "Web Crypto", port: edgePort, base: "token, client_secret_basic" },
  { name: "rust", label: "pure Rust (rust-signer build)", port: hs256Rust.port, base: algName(hs256Rust) },
];
const pkjwt = [];
for (const checker of checkers) {
  for (const kc of keyClients) {
    const url = `http://127.0.0.1:${checker.port}/oauth2/token`;
    const [body] = await assertionBodies(kc, `${edge}/oauth2/token`, 1);
    for (const expected of [200, 401]) {
      const res = await fetch(url, { method: "POST", headers: { "content-type": form }, body });
      const text = await res.text();
      if (res.status !== expected) die(`private_key_jwt ${kc.alg} on ${checker.name}: status ${res.status}, expected ${expected}: ${text}`);
      if (expected === 200 && !JSON.parse(text).access_token) die(`private_key_jwt ${kc.alg} on ${checker.name}: no access_token`);
    }
    pkjwt.push({ name: `token, private_key_jwt ${kc.alg}, ${checker.label}`, alg: kc.alg, checker, kc, url });
  }
}

const scenarios = [
  { name: "floor (constant 200)", url: `http://127.0.0.1:${floorPort}/`, method: "GET", floor: true },
  { name: "floor + 1 log line", url: `http://127.0.0.1:${floorPort}/log`, method: "GET", floor: true },
  { name: "rust floor (workers-rs)", url: `http://127.0.0.1:${rustFloorPort}/`, method: "GET", floor: true },
  { name: "rust floor + 1 log line", url: `http://127.0.0.1:${rustFloorPort}/log`, method: "GET", floor: true },
  // The floor of an issuer signing ES256 / EdDSA: the JS floor plus one Web Crypto signature.
  { name: "sign floor: JS + 1 ES256 signature", url: `http://127.0.0.1:${signFloorPort}/es256`, method: "GET", signs: true },
  { name: "sign floor: JS + 1 Ed25519 signature", url: `http://127.0.0.1:${signFloorPort}/eddsa`, method: "GET", signs: true },
  // edge-token's I/O and none of its work (the same request as the next).
  {
    name: "shape floor: JS, edge-token's I/O only",
    url: `http://127.0.0.1:${shapeFloorPort}/oauth2/token`,
    method: "POST",
    auth: basic(client.client_id, client.client_secret),
    body: "grant_type=client_credentials",
    // Measured with edge-token's Basic issuance (ONLY='shape' too): the summary compares the two.
    base: "token, client_secret_basic",
    floor: true,
  },
  {
    name: "token, client_secret_basic",
    url: `${edge}/oauth2/token`,
    method: "POST",
    auth: basic(client.client_id, client.client_secret),
    body: "grant_type=client_credentials",
  },
  {
    name: "token, client_secret_post",
    url: `${edge}/oauth2/token`,
    method: "POST",
    body: `grant_type=client_credentials&client_id=${client.client_id}&client_secret=${client.client_secret}`,
  },
  {
    name: "js issuer (same design), client_secret_basic",
    url: `${jsIssuer}/oauth2/token`,
    method: "POST",
    auth: basic(client.client_id, client.client_secret),
    body: "grant_type=client_credentials",
    // Measured with edge-token's Basic issuance (ONLY='js issuer' too): the summary compares the two.
    base: "token, client_secret_basic",
  },
  ...variants.map((v) => ({
    name: algName(v),
    variant: v,
    signs: v.alg !== "HS256" && v.build === "build",
    url: `http://127.0.0.1:${v.port}/oauth2/token`,
    method: "POST",
    auth: basic(client.client_id, client.client_secret),
    body: "grant_type=client_credentials",
  })),
  // Reads only: one local KV get of a key never written, as introspection's
  // revocation check does (a JS Worker, no code of ours).
  { name: KV_READ, url: `http://127.0.0.1:${kvFloorPort}/read`, method: "GET", floor: true },
  // Each measurement introspects a token issued just before it, checked
  // active then and again after it (see `fresh`): an expired token is
  // answered inactive before the revocation check, which would measure a
  // cheaper path.
  {
    name: "introspection",
    url: `${edge}/oauth2/introspect`,
    method: "POST",
    auth: basic(client.client_id, client.client_secret),
    base: KV_READ,
    fresh: true,
  },
  {
    name: "peer: oidc-provider token",
    peer: true,
    url: `http://127.0.0.1:${peerPort}/token`,
    method: "POST",
    auth: basic("bench-client", peerSecret),
    body: "grant_type=client_credentials&scope=read",
  },
  // Last, the scenarios that write to KV: a busy local KV was seen to slow
  // the measurement that followed. The KV I/O of one accepted assertion
  // alone (a get, then a put), then private_key_jwt, after their baselines
  // (Basic on the same build), whose req/s of the same run and level bound
  // how many assertions a measurement can use.
  { name: "KV floor: JS, 1 KV get + 1 KV put", url: `http://127.0.0.1:${kvFloorPort}/`, method: "GET", kvWrites: true },
  ...pkjwt.map((p) => ({ name: p.name, url: p.url, method: "POST", pkjwt: p, base: p.checker.base, kvWrites: true })),
];

const ONLY = process.env.ONLY ? new RegExp(process.env.ONLY) : null;
const measured = ONLY
  ? scenarios.filter((s) => s.name === "floor (constant 200)" || (s.name.startsWith("KV floor") && scenarios.some((t) => t.pkjwt && ONLY.test(t.name))) || ONLY.test(s.name) || scenarios.some((t) => ONLY.test(t.name) && t.base === s.name))
  : scenarios;
if (ONLY) console.error(`bench: ONLY=${process.env.ONLY}: ${measured.map((s) => s.name).join("; ")}`);

// One wrk measurement, run asynchronously: this process keeps reading
// (and dropping) the servers' output meanwhile. `cpu` is the server's CPU
// time per request, in µs (workerd's for our Workers, the peer's Node
// process's for the peer), or null.
// `bodies`: a file of request bodies, each sent once (private_key_jwt);
// when wrk ran out of them, the result is { exhausted } instead.
async function wrk(s, connections, bodies) {
  const threads = Math.min(2, connections);
  const pid = s.peer ? peer.pid : workerdPid;
  const cpu0 = cpuMicros(pid);
  const child = spawn(
    "wrk",
    ["-t", String(threads), "-c", String(connections), "-d", `${DURATION}s`, "--timeout", "10s", "-s", path.join(root, "bench/wrk.lua"), s.url],
    {
      env: {
        ...process.env,
        BENCH_METHOD: s.method,
        BENCH_BODY: s.body ?? "",
        BENCH_AUTH: s.auth ?? "",
        BENCH_CT: s.body || bodies ? form : "",
        BENCH_BODIES: bodies ?? "",
        BENCH_THREADS: String(threads),
      },
    },
  );
  const r = { stdout: "", stderr: "" };
  child.stdout.on("data", (d) => (r.stdout += d));
  child.stderr.on("data", (d) => (r.stderr += d));
  await new Promise((resolve) => child.on("close", resolve));
  const cpu1 = cpuMicros(pid);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1]);
  const m = /BENCH p50_us=(\d+) p99_us=(\d+) requests=(\d+) errors_connect=(\d+) errors_read=(\d+) errors_write=(\d+) errors_status=(\d+) errors_timeout=(\d+)/.exec(r.stdout);
  if (!m || !Number.isFinite(rps)) die(`unexpected wrk output for ${s.name}:\n${r.stdout}\n${r.stderr}`);
  if (bodies) {
    const exhausted = Number(/BENCH_BODIES exhausted=(\d+)/.exec(r.stdout)?.[1]);
    if (!Number.isFinite(exhausted)) die(`unexpected wrk output for ${s.name}:\n${r.stdout}\n${r.stderr}`);
    if (exhausted > 0) return { exhausted, requests: Number(m[3]) };
  }
  const errors = m.slice(4, 9).map(Number).reduce((a, b) => a + b, 0);
  // Our Workers must answer every request. The peer's failures (timeouts
  // under overload) are counted and reported instead. So are dropped
  // connections (wrk read errors, never a wrong status) where every request
  // writes local KV: Miniflare's on-disk KV, not the Worker, stalls them
  // (the JS KV floor drops them too); they are printed, not hidden.
  // Likewise, at most 0.5 % of requests, where every request signs with Web
  // Crypto (ES256/EdDSA issuance, the signature floors): workerd was seen
  // to stall for seconds under such load and drop connections, the JS
  // signature floor (nothing but crypto.subtle.sign) too. And for the
  // floors (code of no issuer: the shape floor was seen to lose 0.3 % at
  // c=256): workerd's drops, never our Workers'.
  const dropped = Number(m[5]);
  const stall = s.kvWrites ? "local KV stall" : s.signs ? "workerd stall under Web Crypto signing load" : s.floor ? "workerd dropped a floor Worker's connections" : null;
  const tolerated = stall && errors === dropped && (s.kvWrites || dropped <= 0.005 * Number(m[3])) ? dropped : 0;
  if (tolerated > 0) console.log(`  ${s.name} at c=${connections}: ${dropped} connections dropped by workerd of ${m[3]} requests (${stall}): reported, tolerated`);
  // Not fatal at once: the run goes on, its figures are printed, and the
  // bench fails at the end (see `failures`).
  if (errors > tolerated && !s.peer) {
    failures.push(`${s.name} at c=${connections}: ${errors} failed requests of ${m[3]} (${m.slice(4, 9).map((n, i) => `${["connect", "read", "write", "status", "timeout"][i]} ${n}`).join(", ")})`);
    console.error(`bench: ${failures.at(-1)}\n${r.stdout}`);
  }
  const requests = Number(m[3]);
  const cpu = cpu0 !== null && cpu1 !== null && requests > 0 ? (cpu1 - cpu0) / requests : null;
  return { rps, p50: Number(m[1]) / 1000, p99: Number(m[2]) / 1000, requests, errors, cpu };
}

// --- measure ---------------------------------------------------------------
const results = {}; // name -> level -> [{rps,p50,p99}]
// Measurements in which one of our Workers failed requests: printed when
// they happen and again at the end, where they fail the bench.
const failures = [];
// Assertions for one private_key_jwt measurement: the baseline's req/s of
// this run and level (Basic on the same build: less work, so faster),
// or 1.5 times this scenario's best so far if lower, for DURATION s, plus
// a margin; doubled after a measurement that ran out.
async function pkjwtBodies(s, run, level, factor) {
  const bound = results[s.base][level][run - 1].rps;
  const prior = Object.values(results[s.name] ?? {}).flat().map((r) => r.rps);
  const rate = prior.length ? Math.min(bound, 1.5 * Math.max(...prior)) : bound;
  const n = Math.ceil(factor * (rate * DURATION * 1.2 + 500));
  const t0 = Date.now();
  const bodies = await assertionBodies(s.pkjwt.kc, `${edge}/oauth2/token`, n);
  const file = path.join(work, "assertions.txt");
  fs.writeFileSync(file, bodies.join("\n") + "\n");
  return { file, n, ms: Date.now() - t0 };
}
for (let run = 1; run <= (process.env.STARTUP_ONLY ? 0 : RUNS); run++) {
  for (const level of LEVELS) {
    for (const s of measured) {
      let r;
      if (s.pkjwt) {
        for (let factor = 1; ; factor *= 2) {
          const pool = await pkjwtBodies(s, run, level, factor);
          r = await wrk(s, level, pool.file);
          if (!r.exhausted) {
            r.assertions = pool;
            break;
          }
          console.error(`run ${run}/${RUNS} c=${level} ${s.name}: ${pool.n} assertions ran out (${r.requests} requests); again with twice as many`);
          if (factor >= 8) die(`${s.name}: the assertions ran out ${Math.log2(factor) + 1} times`);
        }
      } else if (s.fresh) {
        const fresh = (await issue()).json.access_token;
        if ((await introspected(fresh)).active !== true) die(`${s.name}: a token issued now is not active`);
        r = await wrk({ ...s, body: `token=${fresh}` }, level);
        if ((await introspected(fresh)).active !== true) failures.push(`${s.name} at c=${level}: its token was no longer active after the measurement`);
      } else r = await wrk(s, level);
      ((results[s.name] ??= {})[level] ??= []).push(r);
      const cpu = r.cpu === null ? "" : ` cpu ${r.cpu.toFixed(0)} µs/req`;
      const signed = r.assertions ? ` (${r.assertions.n} assertions signed in ${(r.assertions.ms / 1000).toFixed(1)} s beforehand)` : "";
      console.error(`run ${run}/${RUNS} c=${level} ${s.name}: ${r.rps.toFixed(0)} req/s p50 ${r.p50.toFixed(2)} ms p99 ${r.p99.toFixed(2)} ms${cpu}${signed}`);
    }
  }
}

// --- report ----------------------------------------------------------------
if (!process.env.STARTUP_ONLY) {
const cpu = os.cpus()[0]?.model ?? "unknown CPU";
console.log(`\nedge-token end-to-end benchmark: ${os.cpus().length} x ${cpu}, Node ${process.version}, wrk, ${RUNS} runs x ${DURATION}s, medians`);
console.log("workerd via Miniflare direct sockets (no wrangler dev proxy); local KV; per-isolate record cache on (CLIENT_CACHE_TTL default)\n");
const floor = results["floor (constant 200)"];
const W = 46;
console.log(pad("scenario", W) + pad("conns", 7) + pad("req/s", 10) + pad("p50 ms", 9) + pad("p99 ms", 9) + pad("rps/floor", 11) + pad("p99/floor", 11) + "cpu µs/req");
const summary = {};
for (const s of measured) {
  for (const level of LEVELS) {
    const rs = results[s.name][level];
    const rps = median(rs.map((r) => r.rps));
    const p50 = median(rs.map((r) => r.p50));
    const p99 = median(rs.map((r) => r.p99));
    const cpu = rs.every((r) => r.cpu !== null) ? median(rs.map((r) => r.cpu)) : null;
    const frps = median(floor[level].map((r) => r.rps));
    const fp99 = median(floor[level].map((r) => r.p99));
    (summary[s.name] ??= []).push({ level, rps, p50, p99, cpu, ratio: rps / frps, p99ratio: p99 / fp99 });
    console.log(
      pad(s.name, W) + pad(level, 7) + pad(rps.toFixed(0), 10) + pad(p50.toFixed(2), 9) + pad(p99.toFixed(2), 9) + pad((rps / frps).toFixed(2), 11) + pad((p99 / fp99).toFixed(2), 11) + (cpu === null ? "n/a" : cpu.toFixed(1)),
    );
  }
}
const has = (name) => name in summary;
// A scenario's best level, and one level.
const best = (name) => summary[name].reduce((a, b) => (b.rps > a.rps ? b : a));
const at = (name, level) => summary[name].find((r) => r.level === level);
// Level by level, scenario `a` against `b`: the req/s ratios (each followed
// by `suffix`), and workerd's CPU per request of each (then `note(a, b)`).
const byLevel = (a, b, suffix, note = () => "") => ({
  ratios: LEVELS.map((l) => `c=${l} ${(at(a, l).rps / at(b, l).rps).toFixed(2)}${suffix}`).join(", "),
  cpu: LEVELS.map((l) => {
    const [x, y] = [at(a, l).cpu, at(b, l).cpu];
    return x === null || y === null ? `c=${l} n/a` : `c=${l} ${x.toFixed(1)} vs ${y.toFixed(1)}${note(x, y)}`;
  }).join(", "),
});
// edge-token's issuance against the same-design JS Worker (issue 13), at
// the best concurrency of each, and level by level.
const JS_ISSUER = "js issuer (same design), client_secret_basic";
if (has(JS_ISSUER) && has("token, client_secret_basic")) {
  const [ours, js, fl] = [best("token, client_secret_basic"), best(JS_ISSUER), best("floor (constant 200)")];
  const { ratios: perLevel, cpu } = byLevel("token, client_secret_basic", JS_ISSUER, "x");
  console.log(`\ntoken issuance is ${(ours.rps / js.rps).toFixed(2)}x the same-design JS Worker (target >= 1.5): best ${ours.rps.toFixed(0)} req/s at c=${ours.level} vs ${js.rps.toFixed(0)} req/s at c=${js.level}`);
  console.log(`  by concurrency: ${perLevel}; workerd cpu µs/req, edge-token vs JS: ${cpu}`);
  console.log(`  the same-design JS Worker reaches ${(js.rps / fl.rps).toFixed(2)} of the floor (edge-token ${(ours.rps / fl.rps).toFixed(2)})`);
}
// HS256 issuance's distance to the JS floor, in two parts: the shape floor
// (what a Worker doing edge-token's I/O pays anyway) and edge-token's own
// work over it (workerd CPU per request, level by level).
const SHAPE = "shape floor: JS, edge-token's I/O only";
if (has(SHAPE) && has("token, client_secret_basic")) {
  const [ours, shape, fl] = [best("token, client_secret_basic"), best(SHAPE), best("floor (constant 200)")];
  const { ratios: perLevel, cpu } = byLevel("token, client_secret_basic", SHAPE, "", (o, s) => ` (+${(o - s).toFixed(1)})`);
  console.log(`\nthe shape floor (edge-token's I/O, none of its work) reaches ${(shape.rps / fl.rps).toFixed(2)} of the JS floor (best ${shape.rps.toFixed(0)} req/s at c=${shape.level});`);
  console.log(`  HS256 issuance reaches ${(ours.rps / shape.rps).toFixed(2)} of it at the best levels; by concurrency: ${perLevel}`);
  console.log(`  workerd cpu µs/req, edge-token vs the shape floor (+ edge-token's own work): ${cpu}`);
}
// Introspection of an active token against the JS floor (issue 13), and
// against the KV read floor (the JS floor plus the one local KV get of its
// revocation check).
if (has("introspection")) {
  const [ours, fl] = [best("introspection"), best("floor (constant 200)")];
  console.log(`\nintrospection of an active token reaches ${(ours.rps / fl.rps).toFixed(2)} of the JS floor (target >= 0.25): best ${ours.rps.toFixed(0)} req/s at c=${ours.level}`);
  if (has(KV_READ)) {
    const kv = best(KV_READ);
    const { ratios: perLevel, cpu } = byLevel("introspection", KV_READ, "", (o, k) => ` (+${(o - k).toFixed(1)})`);
    console.log(`  the JS floor with one local KV get (a miss) reaches ${(kv.rps / fl.rps).toFixed(2)} of the JS floor (best ${kv.rps.toFixed(0)} req/s at c=${kv.level}); introspection ${(ours.rps / kv.rps).toFixed(2)} of that; by concurrency: ${perLevel}`);
    console.log(`  workerd cpu µs/req, introspection vs the KV read floor (+ edge-token's own work): ${cpu}`);
  }
}
// The full report's sections need every scenario (not under ONLY).
if (!ONLY) {
const peerErrors = Object.values(results["peer: oidc-provider token"]).flat().reduce((a, r) => a + r.errors, 0);
const peerRequests = Object.values(results["peer: oidc-provider token"]).flat().reduce((a, r) => a + r.requests, 0);
console.log(`\npeer failed requests (timeouts under load): ${peerErrors} of ${peerRequests}; our Workers: ${failures.length === 0 ? "none" : `failures in ${failures.length} measurement(s), listed at the end`}`);
const basicBest = best("token, client_secret_basic");
const rustBest = best("rust floor (workers-rs)");
const rustLogBest = best("rust floor + 1 log line");
const jsLogBest = best("floor + 1 log line");
const floorBest = best("floor (constant 200)");
const peerBest = best("peer: oidc-provider token");
console.log(`\nbest token issuance (basic): ${basicBest.rps.toFixed(0)} req/s at c=${basicBest.level}; floor best ${floorBest.rps.toFixed(0)} req/s at c=${floorBest.level}`);
console.log(`  ratio to floor at best concurrency: ${(basicBest.rps / floorBest.rps).toFixed(2)} (target >= 0.5)`);
console.log(`  p99 ratio to floor at c=${basicBest.level}: ${basicBest.p99ratio.toFixed(2)} (target <= 1.5)`);
console.log(`  the JS floor writing one log line per request reaches ${(jsLogBest.rps / floorBest.rps).toFixed(2)} of the floor;`);
console.log(`  the cheapest workers-rs Worker reaches ${(rustBest.rps / floorBest.rps).toFixed(2)} of the floor; with one log line ${(rustLogBest.rps / floorBest.rps).toFixed(2)};`);
console.log(`  token issuance reaches ${(basicBest.rps / rustLogBest.rps).toFixed(2)} of the logging workers-rs floor (target >= 0.75)`);
console.log(`  vs oidc-provider best ${peerBest.rps.toFixed(0)} req/s: ${(basicBest.rps / peerBest.rps).toFixed(1)}x`);

if (peerBest.rps >= basicBest.rps) die("edge-token did not come out ahead of oidc-provider");

// Issuance per signing algorithm. The cost of a signature per token, two
// ways, each against HS256 on the same build (so only the signature differs):
// - from throughput: at saturation workerd's one request thread is the
//   bottleneck, so 1e6 / (req/s) is its time per request in µs, and the
//   difference to HS256's is the signature's time (an upper bound when the
//   load generator steals that thread's core on this 2-core machine);
// - measured: workerd's CPU time (all its threads, /proc) per request.
const rows = [hs256Variant, ...variants.filter((v) => v !== hs256Rust), hs256Rust];
const nameOf = (v) => (v === hs256Variant ? "token, client_secret_basic" : algName(v));
const fmt = (x, d = 0) => (x === null || !Number.isFinite(x) ? "n/a" : x.toFixed(d));
const signed = (x) => (x === null || !Number.isFinite(x) ? "n/a" : (x >= 0 ? "+" : "") + x.toFixed(1));
console.log(`\nissuance by signing algorithm (client_secret_basic, record cached; medians; Δ: against HS256 on the same build)`);
console.log(
  pad("alg, signer", 44) + pad("conns", 7) + pad("req/s", 9) + pad("/JS floor", 11) + pad("/rs floor+log", 15) + pad("µs/req (1e6/rps)", 18) + pad("Δ µs/token", 12) + pad("cpu µs/req", 12) + "Δ cpu µs/token",
);
const deltas = {}; // variant name -> { wall: [per level], cpu: [per level] }
for (const level of LEVELS) {
  const frps = at("floor (constant 200)", level).rps;
  const rlrps = at("rust floor + 1 log line", level).rps;
  for (const v of rows) {
    const r = at(nameOf(v), level);
    const base = at(v.build === "build" ? nameOf(hs256Variant) : nameOf(hs256Rust), level);
    const dWall = v.alg === "HS256" ? null : 1e6 / r.rps - 1e6 / base.rps;
    const dCpu = v.alg === "HS256" || r.cpu === null || base.cpu === null ? null : r.cpu - base.cpu;
    const d = (deltas[v.name] ??= { wall: [], cpu: [] });
    if (dWall !== null) d.wall.push(dWall);
    if (dCpu !== null) d.cpu.push(dCpu);
    console.log(
      pad(v.label, 44) + pad(level, 7) + pad(r.rps.toFixed(0), 9) + pad((r.rps / frps).toFixed(2), 11) + pad((r.rps / rlrps).toFixed(2), 15) + pad(fmt(1e6 / r.rps, 1), 18) + pad(v.alg === "HS256" ? "-" : signed(dWall), 12) + pad(fmt(r.cpu, 1), 12) + (v.alg === "HS256" ? "-" : signed(dCpu)),
    );
  }
}
const cost = (name, k) => (deltas[name][k].length ? median(deltas[name][k]) : null);
console.log(`\nsignature cost per token, median over c=${LEVELS.join(",")} of the Δs above (workerd CPU measured; from throughput):`);
for (const v of rows.filter((v) => v.alg !== "HS256")) {
  console.log(`  ${pad(v.label, 40)} ${pad(signed(cost(v.name, "cpu")) + " µs CPU", 16)} ${signed(cost(v.name, "wall"))} µs from req/s`);
}
for (const alg of ["ES256", "EdDSA"]) {
  const [wc, rs] = ["webcrypto", "rust"].map((k) => `${alg.toLowerCase()}-${k}`);
  const ratio = (k) => (cost(wc, k) > 0 && cost(rs, k) !== null ? (cost(rs, k) / cost(wc, k)).toFixed(1) + "x" : "n/a");
  console.log(`  ${alg}: pure Rust in wasm costs ${ratio("cpu")} the CPU of Web Crypto per signature (${ratio("wall")} from req/s)`);
}
// Against the floor of such an issuer: the JS floor plus the one signature.
console.log(`
ES256 / EdDSA issuance (Web Crypto) against the JS floor and against the JS floor signing once (best levels):`);
for (const [alg, floorName] of [["ES256", "sign floor: JS + 1 ES256 signature"], ["EdDSA", "sign floor: JS + 1 Ed25519 signature"]]) {
  const ours = best(algName(variants.find((v) => v.name === `${alg.toLowerCase()}-webcrypto`)));
  const sf = best(floorName);
  const signCpu = median(
    LEVELS.map((l) => [at(floorName, l).cpu, at("floor (constant 200)", l).cpu])
      .filter(([a, b]) => a !== null && b !== null)
      .map(([a, b]) => a - b),
  );
  console.log(
    `  ${pad(alg, 6)} ${(ours.rps / floorBest.rps).toFixed(2)} of the JS floor (target >= 0.35); the JS floor signing once reaches ${(sf.rps / floorBest.rps).toFixed(2)} (the signature alone: ${signed(signCpu)} µs CPU); edge-token reaches ${(ours.rps / sf.rps).toFixed(2)} of that`,
  );
}
}

// private_key_jwt issuance per client key algorithm and checker, against
// client_secret_basic on the same build (both mint HS256 tokens, so the
// difference is the client authentication: the assertion's parse, claims
// and signature check, a KV read and the KV write of its replay marker,
// instead of one SHA-256 of the secret).
const pk = pkjwt.filter((p) => has(p.name));
if (pk.length) {
  const fmt = (x, d = 0) => (x === null || !Number.isFinite(x) ? "n/a" : x.toFixed(d));
  const signed = (x) => (x === null || !Number.isFinite(x) ? "n/a" : (x >= 0 ? "+" : "") + x.toFixed(1));
  console.log(`\nprivate_key_jwt issuance (a new assertion per request; each writes one KV key, its replay marker; record cached; HS256 tokens; medians;`);
  console.log(`Δ: against client_secret_basic on the same build; the native µs of the check alone are in the criterion summary above)`);
  console.log(
    pad("client key alg, checker", 44) + pad("conns", 7) + pad("req/s", 9) + pad("/JS floor", 11) + pad("/basic", 9) + pad("µs/req (1e6/rps)", 18) + pad("Δ µs/req", 11) + pad("cpu µs/req", 12) + "Δ cpu µs/req",
  );
  const deltas = {}; // name -> { wall: [per level], cpu: [per level] }
  const KV = "KV floor: JS, 1 KV get + 1 KV put";
  for (const level of LEVELS) {
    const frps = at("floor (constant 200)", level).rps;
    if (has(KV)) {
      // The KV I/O alone, over the JS floor.
      const [k, f] = [at(KV, level), at("floor (constant 200)", level)];
      const d = (deltas[KV] ??= { wall: [], cpu: [] });
      d.wall.push(1e6 / k.rps - 1e6 / f.rps);
      if (k.cpu !== null && f.cpu !== null) d.cpu.push(k.cpu - f.cpu);
      console.log(
        pad("KV floor: 1 get + 1 put (Δ: over the JS floor)", 44) + pad(level, 7) + pad(k.rps.toFixed(0), 9) + pad((k.rps / frps).toFixed(2), 11) + pad("-", 9) + pad(fmt(1e6 / k.rps, 1), 18) + pad(signed(1e6 / k.rps - 1e6 / f.rps), 11) + pad(fmt(k.cpu, 1), 12) + signed(k.cpu === null || f.cpu === null ? null : k.cpu - f.cpu),
      );
    }
    for (const p of pk) {
      const r = at(p.name, level);
      const base = at(p.checker.base, level);
      const dWall = 1e6 / r.rps - 1e6 / base.rps;
      const dCpu = r.cpu === null || base.cpu === null ? null : r.cpu - base.cpu;
      const d = (deltas[p.name] ??= { wall: [], cpu: [] });
      d.wall.push(dWall);
      if (dCpu !== null) d.cpu.push(dCpu);
      console.log(
        pad(`${p.alg}, ${p.checker.label}`, 44) + pad(level, 7) + pad(r.rps.toFixed(0), 9) + pad((r.rps / frps).toFixed(2), 11) + pad((r.rps / base.rps).toFixed(2), 9) + pad(fmt(1e6 / r.rps, 1), 18) + pad(signed(dWall), 11) + pad(fmt(r.cpu, 1), 12) + signed(dCpu),
      );
    }
  }
  const cost = (name, k) => (deltas[name]?.[k].length ? median(deltas[name][k]) : null);
  console.log(`\nprivate_key_jwt over Basic per token, median over c=${LEVELS.join(",")} (workerd CPU measured, incl. local KV; from throughput):`);
  const kvCpu = has(KV) ? cost(KV, "cpu") : null;
  if (has(KV)) console.log(`  ${pad("the KV I/O alone (KV floor over the JS floor)", 44)} ${pad(signed(kvCpu) + " µs CPU", 16)} ${signed(cost(KV, "wall"))} µs from req/s`);
  for (const p of pk) {
    const rest = kvCpu === null || cost(p.name, "cpu") === null ? "" : `; less the KV I/O: ${signed(cost(p.name, "cpu") - kvCpu)} µs CPU`;
    console.log(`  ${pad(`${p.alg}, ${p.checker.label}`, 44)} ${pad(signed(cost(p.name, "cpu")) + " µs CPU", 16)} ${signed(cost(p.name, "wall"))} µs from req/s${rest}`);
  }
  for (const alg of Object.keys(keyPairs)) {
    const [wc, rs] = checkers.map((c) => pk.find((p) => p.alg === alg && p.checker === c)?.name);
    if (!wc || !rs) continue;
    const ratio = (k) => (cost(wc, k) > 0 && cost(rs, k) !== null ? (cost(rs, k) / cost(wc, k)).toFixed(1) + "x" : "n/a");
    console.log(`  ${alg}: with pure Rust in wasm, private_key_jwt costs ${ratio("cpu")} the extra CPU it costs with Web Crypto (${ratio("wall")} from req/s)`);
  }
}
}

// Ends the run non-zero when one of our Workers failed a measurement
// (failed requests, or an introspected token no longer active after it).
function failIfAny() {
  if (failures.length === 0) return;
  console.log(`\nFAILED: our Workers failed in ${failures.length} measurement(s) (the figures above include them):`);
  for (const f of failures) console.log(`  ${f}`);
  for (const c of children) c.kill("SIGTERM");
  process.exit(1);
}

// --- size and start-up -------------------------------------------------------
if (ONLY) {
  fs.rmSync(work, { recursive: true, force: true });
  failIfAny();
  process.exit(0);
}
const wasm = fs.readFileSync(path.join(root, "build/index_bg.wasm"));
const gz = zlib.gzipSync(wasm, { level: 9 }).length;
// The same issuer with ES256/EdDSA signed in wasm, and (when built by hand,
// see BENCHMARKS.md) the HS256-only issuer from before issue 11.
const sizeOf = (dir) => {
  const f = path.join(root, dir, "index_bg.wasm");
  if (!fs.existsSync(f)) return null;
  const b = fs.readFileSync(f);
  return { raw: b.length, gz: zlib.gzipSync(b, { level: 9 }).length };
};
const sizes = [
  ["build/ (release: Web Crypto signs ES256/EdDSA)", { raw: wasm.length, gz }],
  [`${RUST_SIGNER_BUILD}/ (rust-signer: p256 and ed25519-dalek sign)`, sizeOf(RUST_SIGNER_BUILD)],
  ["target/bench/hs256-only/ (before issue 11, HS256 only)", sizeOf("target/bench/hs256-only")],
];
// Start-up on the real runtime: a fresh workerd serving only one Worker
// (bench/coldstart.mjs), then its first request and a second one, median of
// 9 fresh workerds each. In workerd the module is compiled and instantiated
// when the process starts (before it reports ready), so that part is the
// start-up time over the JS floor's; the first request then pays for the
// first calls into the code, and for edge-token for parsing its
// configuration, the KV miss of its first client, and with an ES256 key its
// import (and the d/x/y check) into Web Crypto. Each part is the difference
// of two medians below. The issuer runs its request path once on made-up
// bindings while its module loads (js/entry.mjs, warm()), so V8 compiles
// those wasm functions and their glue at start-up rather than in the first
// request, and writes its isolate_start line then (a workerd isolate's
// first console.log costs milliseconds: the JS floor's /log case).
const coldState = path.join(work, "cold-state");
const coldClient = create(coldState, "--introspect");
async function firstRequest(which, { path: urlPath = "/", keys = signingKeys, auth } = {}) {
  const port = freePort();
  // A copy of the client's state for each fresh workerd: its KV miss is real.
  const stateCopy = fs.mkdtempSync(path.join(work, "cold-"));
  fs.cpSync(coldState, stateCopy, { recursive: true });
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, [path.join(root, "bench/coldstart.mjs"), which, String(port), stateCopy], {
    env: { ...process.env, SIGNING_KEYS: keys, CLIENT_KEY: `client:${coldClient.client_id}` },
  });
  await waitReady(child, `coldstart ${which}`);
  const ready = Number(process.hrtime.bigint() - t0) / 1e6;
  const req = () =>
    auth
      ? fetch(`http://127.0.0.1:${port}${urlPath}`, { method: "POST", headers: { authorization: auth, "content-type": form }, body: "grant_type=client_credentials" })
      : fetch(`http://127.0.0.1:${port}${urlPath}`);
  const t1 = process.hrtime.bigint();
  const res = await req();
  const text = await res.text();
  const first = Number(process.hrtime.bigint() - t1) / 1e6;
  if (res.status !== 200) die(`coldstart ${which} ${urlPath}: status ${res.status}: ${text}`);
  const t2 = process.hrtime.bigint();
  await (await req()).arrayBuffer();
  const second = Number(process.hrtime.bigint() - t2) / 1e6;
  child.kill("SIGTERM");
  await new Promise((r) => child.on("exit", r));
  fs.rmSync(stateCopy, { recursive: true, force: true });
  return { ready, first, second };
}
const coldAuth = basic(coldClient.client_id, coldClient.client_secret);
const coldCases = [
  ["JS floor (constant 200)", "floor", {}],
  ["JS floor + 1 KV get of a record (local KV's 1st)", "kv-floor", {}],
  ["JS floor, one console line (GET /log)", "floor", { path: "/log" }],
  ["workers-rs floor (Response::ok)", "rust-floor", {}],
  ["edge-token: metadata (configuration only)", "edge", { path: "/.well-known/oauth-authorization-server" }],
  ["edge-token: token, HS256 (+ KV miss)", "edge", { path: "/oauth2/token", auth: coldAuth }],
  ["edge-token: token, ES256 (+ KV miss; key imported at start-up)", "edge", { path: "/oauth2/token", auth: coldAuth, keys: es256Keys }],
  ["same-design JS Worker: token, HS256 (+ KV miss)", "js-issuer", { path: "/oauth2/token", auth: coldAuth }],
];
const cold = Object.fromEntries(coldCases.map(([name]) => [name, []]));
for (let i = 0; i < 9; i++) {
  for (const [name, which, opts] of coldCases) cold[name].push(await firstRequest(which, opts));
}
const med = (xs, k) => median(xs.map((x) => x[k]));
console.log(`\nwasm: ${wasm.length} bytes raw, ${gz} bytes gzip -9 (target <= 150 KB = 153600)`);
for (const [name, sz] of sizes) {
  if (sz) console.log(`  ${pad(name, 68)} ${String(sz.raw).padStart(8)} B raw ${String(sz.gz).padStart(8)} B gzip -9 (${(sz.gz - gz >= 0 ? "+" : "") + (sz.gz - gz)} vs build/)`);
}
console.log(`\nstart-up on a fresh workerd (median of 9 each): process start to ready, first request, second request (ms)`);
for (const [name] of coldCases) {
  const c = cold[name];
  console.log(`  ${pad(name, 52)} ready ${pad(med(c, "ready").toFixed(1), 8)} first ${pad(med(c, "first").toFixed(2), 8)} then ${med(c, "second").toFixed(2)}`);
}
const [jsF, kvF, logF, rsF, meta, hs, es, jsI] = coldCases.map(([name]) => cold[name]);
const d = (a, b, k = "first") => (med(a, k) - med(b, k)).toFixed(2);
console.log(`  parts of edge-token's first token request (differences of the medians above):`);
console.log(`    module compile + instantiate (at start-up, before the first request): ${d(meta, jsF, "ready")} ms over the JS floor's start-up (workers-rs floor: ${d(rsF, jsF, "ready")})`);
console.log(`    first calls + configuration (metadata over the JS floor's first request): ${d(meta, jsF)} ms`);
console.log(`    the KV miss and the token (HS256 token over metadata): ${d(hs, meta)} ms, of which the local KV's first read of a record costs any Worker ${d(kvF, jsF)} ms (JS floor + 1 KV get over the JS floor)`);
console.log(`    (an isolate's first console line, which edge-token writes at start-up: ${d(logF, jsF)} ms for the JS floor, /log over /)`);
console.log(`    ES256 over HS256 (its key import, d/x/y check and the JS signature path's first run happen at start-up): ${d(es, hs)} ms`);
console.log(`  the same-design JS Worker's first token request: ${med(jsI, "first").toFixed(2)} ms; edge-token's HS256 one is ${(med(hs, "first") / med(jsI, "first")).toFixed(2)}x that`);
for (const [label, c] of [["metadata", meta], ["token, HS256", hs], ["token, ES256", es]]) {
  console.log(`  edge-token ${pad(label + ":", 14)} first request ${(med(c, "first") / med(rsF, "first")).toFixed(2)}x the workers-rs floor's (target <= 2), ${(med(c, "first") / med(jsF, "first")).toFixed(2)}x the JS floor's`);
}

fs.rmSync(work, { recursive: true, force: true });
failIfAny();
process.exit(0);
