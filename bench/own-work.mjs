// The issuer's own work per token request, on workerd, without the runtime's
// share: the wasm `handle` (our Rust code and its wasm-bindgen glue) and the
// whole JS half of the request path around it (js/wire.mjs `answer`:
// header reads, the call into the wasm, unpacking its answer, for ES256 and
// EdDSA the Web Crypto signature the wasm leaves to it, the Response), and,
// to compare, one Response alone and one signature alone. Each runs N times
// in a loop inside one request (awaiting each answer where it is a
// Promise), timed from outside, less the same request without the loop. No
// sockets, no body read, no timers, no log line in the loop: those are the
// runtime's and the shape floor's (bench/run.mjs). Several builds are
// compared side by side, in interleaved rounds on one workerd; a figure
// moves by about 1% between two copies of one build, where load runs move
// by 5-13%.
//
// The request is the warm-up's (crates/edge-token-worker/src/warm.rs):
// client_secret_basic, scope read, on made-up bindings (its vars, for ES256
// and EdDSA with a signing key made here, and a KV that answers at once with
// its client record), one Worker per build and algorithm. The record is cached
// by the first call, as under load; every loop runs at that call's clock,
// so the cached record never expires mid-run, and each loop's last answer
// is checked (a token, answered at once). The glue's internals are reached
// by appending exports to a non-minified bundle (NO_MINIFY=1
// scripts/build-worker.sh).
//
// usage: node bench/own-work.mjs [BUILD_DIR...]   (directories relative to
//        the repository; default: a NO_MINIFY build of the working tree in
//        target/bench/own-work). ROUNDS (15), N (20000) iterations per loop
//        (fewer where N would take over two seconds).
import { spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { Miniflare } from "miniflare";
import { compatibilityDate, directSocket, freePort, median, root } from "./lib.mjs";

const ROUNDS = Number(process.env.ROUNDS ?? 15);
const N = Number(process.env.N ?? 20000);
let builds = process.argv.slice(2);
if (builds.length === 0) {
  const out = "target/bench/own-work";
  const b = spawnSync(path.join(root, "scripts/build-worker.sh"), [], { cwd: root, stdio: "inherit", env: { ...process.env, NO_MINIFY: "1", BUILD_OUT: out } });
  if (b.status !== 0) process.exit(1);
  builds = [out];
}

// `Basic base64(ID:SECRET)` of the warm-up's client (crates/edge-token-worker/src/warm.rs
// BASIC; /check fails if they differ).
const BASIC = "Basic ZXRjX3dhcm13YXJtd2FybXdhcm13YXJtd2E6ZXRzX3dhcm0tbm90LWEtc2VjcmV0LXdhcm0tbm90LWEtc2VjcmV0LXdhcm0=";
// HS256 with the warm-up's key; ES256 and EdDSA with keys made here (their
// signature left to the JS half, made with Web Crypto as in the Worker).
const jwk = (alg, pair) => JSON.stringify([{ kid: `own-${alg}`, alg, ...pair.privateKey.export({ format: "jwk" }) }]);
const ALGS = {
  HS256: null,
  ES256: jwk("ES256", generateKeyPairSync("ec", { namedCurve: "P-256" })),
  EdDSA: jwk("EdDSA", generateKeyPairSync("ed25519")),
};
const harness = (keys) => `import * as i from "./issuer.js";
// The warm-up's own bindings (js/entry.mjs warmEnv), with the signing key.
const KEYS = ${JSON.stringify(keys)};
const env = KEYS === null ? i.__warmEnv() : { ...i.__warmEnv(), SIGNING_KEYS: KEYS };
const FORM = "grant_type=client_credentials&scope=read";
const body = new TextEncoder().encode(FORM);
const url = env.ISSUER + "/oauth2/token";
// Made in the first request (global scope may not make a body).
let request;
const quiet = { log() {}, error() {} };
let key;
const { answer } = i.__answerer({
  handle: i.__handle,
  reset() {},
  names: i.__HEADERS,
  log: quiet,
  signingKey: () => (key ??= i.__signing_key()),
  sign: (params, k, data) => crypto.subtle.sign(params, k, data),
});
// A token answered at once (its first line "200", or "200 start end len"
// with its signature left to the JS half).
const issued = (packed) => typeof packed === "string" && /^200[ \\n]/.test(packed);
let block = "", text = "", input, now = 0;
const bad = (what, x) => new Response(what + ": " + String(x).slice(0, 500), { status: 500 });
export default {
  async fetch(req) {
    const { pathname, searchParams } = new URL(req.url);
    const n = Number(searchParams.get("n"));
    if (pathname === "/check") {
      now = Date.now();
      request = new Request(url, { method: "POST", headers: { authorization: ${JSON.stringify(BASIC)}, "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": "192.0.2.1" }, body: FORM });
      const hv = i.__headerValues(request.headers, i.__HEADERS);
      // The KV miss (and an ES256/EdDSA key's import) wait; then at once.
      const first = await i.__handle("POST", url, hv, 0, body, env, now);
      const packed = i.__handle("POST", url, hv, 0, body, env, now);
      if (!issued(packed)) return bad("handle", String(first).slice(0, 300) + " / " + packed);
      const unpacked = i.__unpack(packed);
      ({ block, body: text } = unpacked);
      if (unpacked.sign !== null) input = new TextEncoder().encode(text.slice(unpacked.sign[0], unpacked.sign[1]));
      const res = await answer(request, env, now, 0, body);
      if (!(res instanceof Response) || res.status !== 200) return bad("answer", res instanceof Response ? res.status : res);
      // Whether the JS half signs (an ES256/EdDSA key in a Web Crypto build).
      return new Response(input === undefined ? "ok" : "ok, signed here");
    }
    if (pathname === "/wasm") {
      const hv = i.__headerValues(request.headers, i.__HEADERS);
      let packed;
      for (let k = 0; k < n; k++) packed = i.__handle("POST", url, hv, 0, body, env, now);
      if (!issued(packed)) return bad("handle", packed);
    } else if (pathname === "/js") {
      let res;
      if (KEYS === null) for (let k = 0; k < n; k++) res = answer(request, env, now, 0, body);
      else for (let k = 0; k < n; k++) res = await answer(request, env, now, 0, body);
      if (!(res instanceof Response) || res.status !== 200) return bad("answer", res instanceof Response ? res.status : res);
    } else if (pathname === "/response") {
      const headers = i.__headersOf(block);
      for (let k = 0; k < n; k++) new Response(text, { status: 200, headers });
    } else if (pathname === "/sign" && input !== undefined) {
      const [k0, params] = key;
      for (let k = 0; k < n; k++) await crypto.subtle.sign(params, k0, input);
    }
    return new Response("done");
  },
};
`;

for (const build of builds) {
  const src = fs.readFileSync(path.join(root, build, "index.js"), "utf8");
  if (!["handle", "answerer", "warmEnv"].every((f) => new RegExp(`^function ${f}\\(`, "m").test(src))) {
    console.error(`${build}: not a non-minified issuer build (NO_MINIFY=1 BUILD_OUT=${build} scripts/build-worker.sh)`);
    process.exit(2);
  }
}
const work = fs.mkdtempSync(path.join(os.tmpdir(), "own-work-"));
// Also when Miniflare fails to start (it rejects outside our awaits).
process.on("exit", () => fs.rmSync(work, { recursive: true, force: true }));
const port = freePort();
// One Worker (one isolate: its configuration is the isolate's) per build
// and algorithm.
const cases = builds.flatMap((build) => Object.keys(ALGS).map((alg) => ({ build, alg, signsHere: false })));
const workers = cases.map(({ build, alg }, c) => {
  const dir = path.join(work, String(c));
  fs.mkdirSync(dir);
  const src = fs.readFileSync(path.join(root, build, "index.js"), "utf8");
  // signing_key: absent from a rust-signer build (nothing to import there).
  const exports = "handle warmEnv headerValues HEADERS answerer unpack headersOf".split(" ");
  const exported = exports.map((e) => `${e} as __${e}`);
  exported.push(/^function signing_key\(/m.test(src) ? "signing_key as __signing_key" : "undefinedSigningKey as __signing_key");
  fs.writeFileSync(path.join(dir, "issuer.js"), `${src}\nfunction undefinedSigningKey() {}\nexport { ${exported.join(", ")} };\n`);
  fs.copyFileSync(path.join(root, build, "index_bg.wasm"), path.join(dir, "index_bg.wasm"));
  fs.writeFileSync(path.join(dir, "harness.js"), harness(ALGS[alg]));
  return {
    name: `own-work-${c}`,
    modulesRoot: dir,
    modules: [
      { type: "ESModule", path: path.join(dir, "harness.js") },
      { type: "ESModule", path: path.join(dir, "issuer.js") },
      { type: "CompiledWasm", path: path.join(dir, "index_bg.wasm") },
    ],
    compatibilityDate,
    ...directSocket(port + c),
  };
});
let mf;
const at = (c, what, n) => `http://127.0.0.1:${port + c}/${what}?n=${n}`;
const timed = async (c, what, n) => {
  const t0 = performance.now();
  const res = await fetch(at(c, what, n));
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${cases[c].build} ${cases[c].alg} /${what}: ${res.status} ${text}`);
  if (what === "check") cases[c].signsHere = text === "ok, signed here";
  return performance.now() - t0;
};
let failed = false;
try {
  mf = new Miniflare({ host: "127.0.0.1", port: 0, workers });
  await mf.ready;
  for (const c of cases.keys()) await timed(c, "check", 0);
  const whats = ["wasm", "js", "response", "sign"];
  // Iterations per loop: N, or fewer where a request costs so much (a
  // signature in wasm, in a rust-signer build) that N would take over a
  // two seconds (workerd drops a request that runs too long).
  const n = [];
  for (const c of cases.keys()) {
    await timed(c, "js", 200);
    const per = ((await timed(c, "js", 2000)) - (await timed(c, "none", 2000))) / 2000;
    n[c] = Math.max(200, Math.min(N, Math.round(2000 / Math.max(per, 1e-3))));
  }
  // Warm: V8 tiers the loops up.
  for (const c of cases.keys()) for (const what of whats) await timed(c, what, n[c]);
  const res = cases.map(() => Object.fromEntries(whats.map((w) => [w, []])));
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 ? [...cases.keys()].reverse() : [...cases.keys()];
    for (const c of order) {
      const empty = await timed(c, "none", n[c]);
      for (const what of whats) res[c][what].push(((await timed(c, what, n[c])) - empty) * (1000 / n[c]));
    }
  }
  const fewer = cases.flatMap(({ build, alg }, c) => (n[c] < N ? [`${build} ${alg} (${n[c]})`] : []));
  console.log(`own work per token request on workerd, µs (median of ${ROUNDS} rounds of ${N} iterations${fewer.length ? `, fewer for ${fewer.join(", ")}` : ""}; min-max)`);
  const fmt = (xs) => `${median(xs).toFixed(2).padStart(6)} (${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)})`;
  console.log(`${"build".padEnd(28)} ${"alg".padEnd(6)} ${"wasm handle".padEnd(21)} ${"JS half (incl. wasm)".padEnd(21)} ${"new Response alone".padEnd(21)} signature alone (Web Crypto)`);
  for (const [c, { build, alg, signsHere }] of cases.entries()) {
    // "-": no signature of the JS half's (HS256, or a rust-signer build).
    const sign = signsHere ? fmt(res[c].sign) : "-";
    console.log(`${build.padEnd(28)} ${alg.padEnd(6)} ${fmt(res[c].wasm).padEnd(21)} ${fmt(res[c].js).padEnd(21)} ${fmt(res[c].response).padEnd(21)} ${sign}`);
  }
} catch (e) {
  console.error(e.message);
  failed = true;
} finally {
  await mf?.dispose();
}
process.exit(failed ? 1 : 0);
