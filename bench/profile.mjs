// A V8 CPU profile of workerd running a Worker under load (or of one first
// request on a fresh workerd), and where the time goes per request.
//
// usage: node bench/profile.mjs [--build DIR] [--scenario S] [--seconds N] [--connections C]
//          [--interval US] [--path P] [--runs R] [--reinit K] [--all-targets] [--top N]
//   --build DIR     the issuer's build directory, relative to the repository (default
//                   target/profile-build when it exists, else build). Build it with
//                     NO_MINIFY=1 KEEP_WASM_NAMES=1 FORCE_BUILD=1 BUILD_OUT=target/profile-build scripts/build-worker.sh
//                   KEEP_WASM_NAMES keeps the wasm name section (wasm frames carry Rust
//                   paths); NO_MINIFY stops worker-build's esbuild step from minifying
//                   (the wasm-bindgen glue keeps its function names). Same code otherwise.
//   --alg A         token-basic, introspect: the signing algorithm, HS256 (default), ES256
//                   or EdDSA (a fresh key each run)
//   --scenario S    token-basic (default): POST /oauth2/token, client_secret_basic, HS256,
//                   the record in the per-isolate cache; introspect: POST
//                   /oauth2/introspect of a token (Basic); floor: the constant-200 JS
//                   Worker; rust-floor: bench/rust-floor; cold: first requests (below)
//   --seconds N     seconds per load measurement (5); --connections C: wrk's (32)
//   --interval US   V8 sampling interval, µs (100; cold: 50)
//   --path P        floor, rust-floor: the path (/; /log writes one console line)
//   --runs R        cold: fresh workerds per Worker (5); --reinit K: re-instantiation
//                   probes per fresh workerd (10)
//   --all-targets   also profile workerd's other isolates (Miniflare's KV service...) and
//                   print their busy time per request (slows everything down a lot)
//   --top N         rows of the top-functions tables (25)
//   --mute-console  make console.log a no-op in the isolate (Runtime.evaluate) before
//                   profiling: with workerd's inspector on, a console line costs several
//                   times what it costs without (compare floor --path /log and /), which
//                   would skew the profile; measure logging from the floors instead
//
// How: bench/profile-serve.mjs (a child process, so that the process hosting
// Miniflare never waits on anything here) starts workerd with Miniflare's
// `inspectorPort` (workerd's own --inspector-addr, no inspector proxy) and the
// Worker on a direct socket; it reads and drops workerd's stdout itself. This
// process lists the inspector's targets (GET http://127.0.0.1:PORT/json; the
// Worker is "core:user:NAME"), opens a WebSocket to the target (Node 20's
// global WebSocket, behind --experimental-websocket: the script re-executes
// itself with the flag; no dependency) and speaks the Chrome DevTools
// Protocol: Profiler.enable, Profiler.setSamplingInterval, Profiler.start, then
// wrk (spawned; never waited on synchronously), then Profiler.stop. The raw
// profile goes to target/profile/NAME-TIME.cpuprofile (Chrome DevTools,
// Performance panel, "Load profile"); the summary is printed. Before it, the
// same load runs on a workerd without --inspector-addr and on this one with
// the inspector but no profiler: req/s and workerd's CPU per request (/proc)
// of the three show what the inspector and the profiler cost.
//
// The edge Worker has bench/serve.mjs's configuration: KV namespaces CLIENTS
// and REVOCATIONS persisted in a temporary directory, a fresh HS256 signing
// key in SIGNING_KEYS' JSON form, the same vars; its client is created with
// the real CLI (target/release/edge-token client create --local --persist-to
// STATE --new-state --introspect). Requests are checked before profiling (a
// token's HS256 signature verifies with the key; introspection says active),
// and any failed request under load fails the run.
//
// cold: for edge-token, the workers-rs floor and the JS floor, R fresh
// workerds each: the profiler is started before the first request, then
// exactly one request (edge-token: POST /oauth2/token with Basic; the floors:
// GET /), its wall time taken at the client. Then, on the same workerd, K
// re-instantiation probes (edge-token and the Rust floor): Runtime.evaluate
// sets the worker-build shim's globalThis.__worker_init_state.criticalError,
// so that the next request re-instantiates the wasm module (new
// WebAssembly.Instance + __wbindgen_start) and, on the fresh memory, parses the
// configuration and misses the record cache again: instantiation measured in
// a profiled window (workerd compiles the module and instantiates it when it
// loads the script, before an inspector can attach), with the functions
// already compiled. And R fresh workerds per Worker without any inspector,
// for the first request's wall time at the client.
//
// The summary, from the profile's samples. A sample lasts until the next one,
// but at most GAP_CAP: workerd's isolate is not sampled while its thread has
// let go of it (between requests, waiting on I/O), and the next sample comes
// after a gap, reported as "unsampled". Busy = everything but "(idle)";
// per request = busy / the requests wrk got answered in the profiled window.
// Self time is grouped into categories by the sample's leaf frame:
//   (e) GC:       "(garbage collector)".
//   (f) runtime:  "(program)" (native code with no JS frame: request dispatch,
//                 compilation, the inspector), "(root)", natives with no JS caller
//                 (promise reactions, microtask dispatch), JS of workerd's own
//                 modules (node-internal:internal_inspect formats console.log's
//                 arguments), anything else.
//   (a) wasm:     url "wasm://...": by Rust crate (our edge_token_* crates by
//                 crate::module), from the name-section name: hash suffixes
//                 (::h0123.., [0123..]) dropped; "<A as B>::f" and "<A>::f" go to A's
//                 crate (B's when A is no path: &T, [T], a primitive); else the first
//                 path segment; no path: __wbindgen_*/__externref_* (wasm-bindgen's
//                 wasm side), mem* (compiler builtins), __rust_*/__rdl_* (alloc);
//                 without a name section "(unnamed wasm)".
//   (c) shim:     index.js code at or after the bundled shim.js (its first statement,
//                 "Error.stackTraceLimit"): the Proxy handlers (construct, get, apply),
//                 Entrypoint and fetch2 (WorkerEntrypoint), checkReinitialize; and
//                 natives it calls (WorkerEntrypoint's constructor).
//   (d) Web APIs: an import shim of index.js (a __wbg_* function, one per JS function
//                 the wasm imports) counts as the Web API it calls, named by the first
//                 SHIM_APIS rule matching its source (Headers.get, console.log,
//                 request.arrayBuffer(), setTimeout, new Response, crypto.subtle.*...):
//                 its own time includes the native call when that has no frame of its
//                 own (console.log, Headers.get do not; new Response, setTimeout do);
//                 a native frame (empty url) under an import shim counts as that API
//                 too, and under the Function.call shim as the binding method it is
//                 (KV get).
//   (b) glue:     the rest of index.js, wasm-bindgen's glue, by function name: string
//                 encode (passStringToWasm0) and decode (getStringFromWasm0,
//                 decodeText, with TextDecoder.decode under it), the externref table,
//                 closures (makeMutClosure's real, *_invoke__*), memory views,
//                 __wbg_call_guard, casts (__wbindgen_generic_*), the fetch export
//                 wrapper; and V8's JS<->wasm call wrappers (js-to-wasm, wasm-to-js).
//                 Minified builds keep only the import shims' names.
// Then the top functions by self time and by total (inclusive) time, with
// their category, in µs per request and % of busy time.
// Caveats: sampled time is wall time of the isolate's thread, so on a loaded
// machine it includes time the thread was runnable but not running (compare the
// /proc CPU per request); a call blocking on the stdout pipe would count too.
import { spawn, spawnSync, execFileSync } from "node:child_process";
import { createHmac, generateKeyPairSync, randomBytes, verify as verifySignature } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { b64url, cpuMicros, freePort, median, pad, root, waitReady, workerdOf } from "./lib.mjs";

// Node 20: WebSocket is behind a flag. Re-run with it (the parent only waits).
if (typeof globalThis.WebSocket === "undefined") {
  if (process.env.PROFILE_REEXEC) {
    console.error("profile: no WebSocket even with --experimental-websocket (Node >= 20.10 needed)");
    process.exit(1);
  }
  const child = spawn(process.execPath, ["--experimental-websocket", "--no-warnings", ...process.argv.slice(1)], {
    stdio: "inherit",
    env: { ...process.env, PROFILE_REEXEC: "1" },
  });
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
  process.on("SIGINT", () => child.kill("SIGINT"));
  process.on("SIGTERM", () => child.kill("SIGTERM"));
} else {
  await main();
}

async function main() {
process.env.WRANGLER_SEND_METRICS = "false";

// --- arguments ---------------------------------------------------------------
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const flag = (name) => args.includes(`--${name}`);
if (flag("help") || flag("h")) {
  console.log(fs.readFileSync(new URL(import.meta.url), "utf8").split("\n").filter((l) => l.startsWith("//")).slice(0, 25).join("\n"));
  process.exit(0);
}
const SCENARIOS = ["token-basic", "introspect", "floor", "rust-floor", "cold"];
const scenario = opt("scenario", "token-basic");
if (!SCENARIOS.includes(scenario)) die(`unknown --scenario ${scenario} (${SCENARIOS.join(", ")})`);
const build = opt("build", fs.existsSync(path.join(root, "target/profile-build/index.js")) ? "target/profile-build" : "build");
const SECONDS = Number(opt("seconds", 5));
const CONNECTIONS = Number(opt("connections", 32));
const INTERVAL = Number(opt("interval", scenario === "cold" ? 50 : 100));
const RUNS = Number(opt("runs", 5));
const TOP = Number(opt("top", 25));
const ALL_TARGETS = flag("all-targets");
// The most one sample is charged (see analyse()).
const GAP_CAP = Math.max(2000, 20 * INTERVAL);
const PATH = opt("path", "/");
const MUTE = flag("mute-console");

// --- helpers -----------------------------------------------------------------
const children = new Set();
// The tail of what each workerd wrote to stderr after it was ready (printed on failure).
const serverErrors = new Map();
function die(msg) {
  console.error(`profile: ${msg}`);
  for (const [name, err] of serverErrors) if (err.trim()) console.error(`--- ${name} stderr (last 4 KiB):\n${err.slice(-4096)}`);
  for (const c of children) c.kill("SIGTERM");
  process.exit(1);
}
process.on("exit", () => children.forEach((c) => c.kill("SIGTERM")));
process.on("SIGINT", () => die("interrupted"));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const lpad = (s, n) => String(s).padStart(n);
const nowUs = () => Number(process.hrtime.bigint() / 1000n); // CLOCK_MONOTONIC, as V8's profile timestamps on Linux

for (const f of [`${build}/index.js`, `${build}/index_bg.wasm`, "target/release/edge-token", "bench/rust-floor/build/index.js"]) {
  if (!fs.existsSync(path.join(root, f))) die(`${f} missing (see the usage at the top of bench/profile.mjs)`);
}
if (spawnSync("wrk", ["--version"]).error) die("wrk not found");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "edge-token-profile-"));
process.on("exit", () => fs.rmSync(work, { recursive: true, force: true }));
const state = path.join(work, "state");
// --alg: the issuer's signing algorithm (HS256, ES256 or EdDSA; the last
// two signed by Web Crypto unless --build is a rust-signer build).
const ALG = opt("alg", "HS256");
if (!["HS256", "ES256", "EdDSA"].includes(ALG)) die(`unknown --alg ${ALG} (HS256, ES256, EdDSA)`);
const key = randomBytes(32);
const pair = ALG === "ES256" ? generateKeyPairSync("ec", { namedCurve: "P-256" }) : ALG === "EdDSA" ? generateKeyPairSync("ed25519") : null;
const signingKeys = JSON.stringify([
  pair ? { kid: "profile-1", alg: ALG, ...pair.privateKey.export({ format: "jwk" }) } : { kid: "profile-1", key: b64url(key) },
]);
const outDir = path.join(root, "target", "profile");
fs.mkdirSync(outDir, { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);

// The client, created with the CLI (as bench/run.mjs does); its secret stays in memory.
let client = null;
const needsClient = ["token-basic", "introspect", "cold"].includes(scenario);
if (needsClient) {
  const out = execFileSync(
    path.join(root, "target/release/edge-token"),
    ["client", "create", "--name", "profile", "--scope", "read", "--local", "--config", path.join(root, "wrangler.toml"), "--persist-to", state, "--new-state", "--introspect"],
    { cwd: root, env: process.env },
  );
  client = JSON.parse(out.toString());
  if (!client.client_id || !client.client_secret) die("client create printed no client_id/client_secret");
}
const basic = () => "Basic " + Buffer.from(`${client.client_id}:${client.client_secret}`).toString("base64");
const form = "application/x-www-form-urlencoded";

// Resolves when `child` prints "ready" (see lib.mjs); what it writes to
// stderr after that is kept, the last 8 KiB, for `die`.
function waitReadyKept(child, name) {
  serverErrors.set(name, "");
  child.on("exit", () => {
    children.delete(child);
    serverErrors.delete(name);
  });
  return waitReady(child, name, (d) => serverErrors.set(name, (serverErrors.get(name) + d).slice(-8192)));
}
const WORKER_NAMES = { edge: "edge-token", "rust-floor": "rust-floor", floor: "floor" };
// A fresh workerd serving `worker` ("edge", "rust-floor", "floor").
async function serve(worker, { inspector = true } = {}) {
  const port = freePort();
  const inspectorPort = inspector ? port + 1 : 0;
  const t0 = nowUs();
  const child = spawn(process.execPath, [path.join(root, "bench/profile-serve.mjs")], {
    env: { ...process.env, SIGNING_KEYS: signingKeys, PROFILE_SERVE: JSON.stringify({ worker, port, inspectorPort, build, state }) },
  });
  children.add(child);
  await waitReadyKept(child, `workerd (${worker}${inspector ? ", inspector" : ""}) on ${port}`);
  return {
    child,
    port,
    inspectorPort,
    readyMs: (nowUs() - t0) / 1000,
    target: `core:user:${WORKER_NAMES[worker]}`,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.on("exit", r));
      child.kill("SIGTERM");
      await exited;
    },
  };
}
// --- Chrome DevTools Protocol ------------------------------------------------
// One WebSocket session to one inspector target.
async function cdpConnect(inspectorPort, targetId) {
  let targets;
  for (let i = 0; ; i++) {
    try {
      targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json();
      if (targets.some((t) => t.id === targetId)) break;
    } catch {
      // not listening yet
    }
    if (i >= 50) die(`inspector on ${inspectorPort}: no target ${targetId} (${JSON.stringify(targets?.map((t) => t.id))})`);
    await sleep(100);
  }
  const target = targets.find((t) => t.id === targetId);
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  ws.binaryType = "arraybuffer";
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = (e) => reject(new Error(`WebSocket to ${target.webSocketDebuggerUrl}: ${e.message ?? e.type}`));
  });
  let nextId = 1;
  const pending = new Map();
  const contexts = [];
  ws.onmessage = (ev) => {
    const msg = JSON.parse(typeof ev.data === "string" ? ev.data : Buffer.from(ev.data).toString("utf8"));
    if (msg.id !== undefined && pending.has(msg.id)) {
      const { resolve, reject, method } = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) reject(new Error(`${method}: ${JSON.stringify(msg.error)}`));
      else resolve(msg.result);
    }
    // Events: kept only as far as Runtime.executionContextCreated (the rest dropped).
    if (msg.method === "Runtime.executionContextCreated") contexts.push(msg.params.context);
  };
  ws.onclose = () => {
    for (const { reject, method } of pending.values()) reject(new Error(`${method}: inspector connection closed`));
    pending.clear();
  };
  return {
    targets,
    contexts,
    send(method, params = {}) {
      const id = nextId++;
      ws.send(JSON.stringify({ id, method, params }));
      return new Promise((resolve, reject) => pending.set(id, { resolve, reject, method }));
    },
    close() {
      ws.close();
    },
  };
}
// Evaluates `expression` in the target's context (Runtime.enable for the
// context's id, its console events dropped; then Runtime.disable).
async function evaluate(session, expression) {
  await session.send("Runtime.enable");
  for (let i = 0; i < 20 && !session.contexts.length; i++) await sleep(50);
  if (!session.contexts.length) die("Runtime.enable: no execution context reported");
  const ev = await session.send("Runtime.evaluate", { expression, returnByValue: true, contextId: session.contexts.at(-1).id });
  await session.send("Runtime.disable");
  if (ev.exceptionDetails || ev.result?.value !== true) die(`Runtime.evaluate ${expression}: ${JSON.stringify(ev)}`);
}
async function startProfiler(session) {
  await session.send("Profiler.enable");
  await session.send("Profiler.setSamplingInterval", { interval: INTERVAL });
  await session.send("Profiler.start");
}
async function stopProfiler(session, name) {
  const { profile } = await session.send("Profiler.stop");
  const file = path.join(outDir, `${name}-${stamp}.cpuprofile`);
  fs.writeFileSync(file, JSON.stringify(profile));
  return { profile, file };
}

// --- load --------------------------------------------------------------------
// wrk, spawned (this process keeps running its event loop meanwhile).
async function wrk(url, req, seconds, connections, label = "load") {
  const threads = Math.min(2, connections);
  const child = spawn(
    "wrk",
    ["-t", String(threads), "-c", String(connections), "-d", `${seconds}s`, "--timeout", "10s", "-s", path.join(root, "bench/wrk.lua"), url],
    {
      env: { ...process.env, BENCH_METHOD: req.method, BENCH_BODY: req.body ?? "", BENCH_AUTH: req.auth ?? "", BENCH_CT: req.body ? form : "", BENCH_BODIES: "", BENCH_THREADS: String(threads) },
    },
  );
  children.add(child);
  const r = { stdout: "", stderr: "" };
  child.stdout.on("data", (d) => (r.stdout += d));
  child.stderr.on("data", (d) => (r.stderr += d));
  await new Promise((resolve) => child.on("close", resolve));
  children.delete(child);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1]);
  const m = /BENCH p50_us=(\d+) p99_us=(\d+) requests=(\d+) errors_connect=(\d+) errors_read=(\d+) errors_write=(\d+) errors_status=(\d+) errors_timeout=(\d+)/.exec(r.stdout);
  if (!m || !Number.isFinite(rps)) die(`unexpected wrk output:\n${r.stdout}\n${r.stderr}`);
  const errors = m.slice(4, 9).map(Number).reduce((a, b) => a + b, 0);
  if (errors > 0) die(`${label}: ${errors} failed requests of ${m[3]} (wrk: ${m.slice(4, 9).join(" ")} connect/read/write/status/timeout):\n${r.stdout}`);
  return { rps, requests: Number(m[3]), p50: Number(m[1]) / 1000, p99: Number(m[2]) / 1000 };
}

// The request of each scenario, and a check of its answer.
function verifyToken(jwt) {
  const [h, p, sig] = String(jwt).split(".");
  const header = JSON.parse(Buffer.from(h ?? "", "base64url"));
  if (header.alg !== ALG || header.kid !== "profile-1") return false;
  if (!pair) return createHmac("sha256", key).update(`${h}.${p}`).digest("base64url") === sig;
  const publicKey = pair.publicKey;
  const options = ALG === "ES256" ? { key: publicKey, dsaEncoding: "ieee-p1363" } : publicKey;
  return verifySignature(ALG === "ES256" ? "sha256" : null, Buffer.from(`${h}.${p}`), options, Buffer.from(sig ?? "", "base64url"));
}
async function tokenRequest(port) {
  const res = await fetch(`http://127.0.0.1:${port}/oauth2/token`, {
    method: "POST",
    headers: { authorization: basic(), "content-type": form },
    body: "grant_type=client_credentials",
  });
  const text = await res.text();
  if (res.status !== 200) die(`token request: ${res.status} ${text}`);
  const token = JSON.parse(text).access_token;
  if (!verifyToken(token)) die(`token request: the access token's ${ALG} signature does not verify with the signing key`);
  return token;
}
async function checkedGet(port, p = "/") {
  const res = await fetch(`http://127.0.0.1:${port}${p}`);
  const text = await res.text();
  if (res.status !== 200 || text !== "ok") die(`GET /: ${res.status} ${text}`);
}

// --- analysis ----------------------------------------------------------------
// What an import shim (a __wbg_* function of index.js, one per JS function
// the wasm imports) calls, from its source text: the first rule matching the
// shim's body names the Web API. Unlisted shims keep their name.
const SHIM_APIS = [
  [/console\.log/, "console.log"],
  [/console\.error/, "console.error"],
  [/Reflect\.get/, "Reflect.get (env vars, bindings)"],
  [/Reflect\.set/, "Reflect.set"],
  [/\.get\(\w+\(\w+, ?\w+\)\)/, "Headers.get"],
  [/\.set\(\w+\(\w+, ?\w+\), ?\w+\(\w+, ?\w+\)\)/, "Headers.set"],
  [/new Headers/, "new Headers"],
  [/new Response/, "new Response"],
  [/\.arrayBuffer\(\)/, "request.arrayBuffer()"],
  [/clearTimeout/, "clearTimeout"],
  [/setTimeout/, "setTimeout"],
  [/\bqueueMicrotask\(/, "queueMicrotask()"],
  [/\.queueMicrotask\b/, "globalThis.queueMicrotask (read)"],
  [/crypto\.subtle\.(\w+)/, "crypto.subtle.$1"],
  [/getRandomValues/, "crypto.getRandomValues"],
  [/new Date/, "new Date"],
  [/\.getTime\(\)/, "Date.getTime"],
  [/\.call\(/, "Function.call (KV binding methods, callbacks)"],
  [/\.then\(/, "Promise.then"],
  [/Promise\.resolve/, "Promise.resolve"],
  [/new Promise/, "new Promise"],
  [/\.url\b/, "request.url"],
  [/\.method\b/, "request.method"],
  [/\.headers\b/, "request.headers"],
  [/JSON\.parse/, "JSON.parse"],
  [/new Uint8Array|Uint8Array\.prototype\.set/, "Uint8Array (new, set)"],
  [/\._wbg_cb_unref\(\)/, "closure unref"],
  [/\w\[\w+( >>> 0)?\] = \w/, "property set (obj[key] = value)"],
];
const stripHash = (s) => s.replace(/::h[0-9a-f]{16}$/, "").replace(/\[[0-9a-f]{16}\]/g, "");
// The crate (our crates: crate::module) of a demangled Rust path.
function rustGroup(name) {
  const n = stripHash(name);
  let p = n;
  if (n.startsWith("<")) {
    // <A as B>::f or <A>::f: the implementing type A, else the trait B.
    let depth = 0;
    let end = -1;
    let asAt = -1;
    for (let i = 0; i < n.length; i++) {
      const c = n[i];
      if (c === "<") depth++;
      else if (c === ">") {
        depth--;
        if (depth === 0) {
          end = i;
          break;
        }
      } else if (depth === 1 && n.startsWith(" as ", i)) asAt = i;
    }
    const self = n.slice(1, asAt >= 0 ? asAt : end).replace(/^(&mut |&|\*const |\*mut |dyn )+/, "");
    const trait = asAt >= 0 ? n.slice(asAt + 4, end) : "";
    p = /^[a-z_][a-z0-9_]*::/.test(self) ? self : trait || self;
  }
  const segs = p.split("::");
  if (segs.length < 2) {
    if (/^(__wbindgen|__externref|__wbg)/.test(n)) return "wasm-bindgen (wasm side)";
    if (/^(memcpy|memset|memmove|memcmp|bcmp)$/.test(n)) return "compiler builtins (mem*)";
    if (/^(__rust_|__rdl_|__rg_)/.test(n)) return "alloc";
    return `(other wasm: ${n.slice(0, 40)})`;
  }
  const crate = segs[0].replace(/<.*$/, "");
  if (crate.startsWith("edge_token")) return `${crate}::${segs[1].replace(/<.*$/, "")}`;
  return crate;
}

function analyse(profile, { requests, indexUrl, indexSrc }) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Offsets of line starts in index.js, and where the bundled shim.js code begins.
  const lineStarts = [0];
  for (let i = 0; i < indexSrc.length; i++) if (indexSrc.charCodeAt(i) === 10) lineStarts.push(i + 1);
  const shimAt = indexSrc.indexOf("Error.stackTraceLimit");
  const offsetOf = (cf) => (lineStarts[cf.lineNumber] ?? 0) + cf.columnNumber;
  const isIndex = (cf) => cf.url === indexUrl;
  const isWasm = (cf) => cf.url.startsWith("wasm://");
  const minified = !/\bfunction passStringToWasm0\b/.test(indexSrc);

  const glueGroup = (name) => {
    if (/^(passStringToWasm0|passArray|encode)/.test(name)) return "string encode (passStringToWasm0)";
    if (/^(getStringFromWasm0|decodeText)$/.test(name)) return "string decode (getStringFromWasm0, decodeText)";
    if (/Externref|externref/.test(name)) return "externref table";
    if (/closure|Closure|_invoke__|_wbg_cb_unref|^real$/.test(name)) return "closures (makeMutClosure's real, *_invoke__*)";
    if (/Memory0$/.test(name)) return "memory views (get*Memory0)";
    if (/^__wbg_call_guard$|^__wbg_handle_catch$/.test(name)) return "__wbg_call_guard";
    if (name === "fetch") return "fetch export wrapper";
    if (/^__wbg___wbindgen_/.test(name)) return "intrinsics (__wbg___wbindgen_*: string_get, is_string...)";
    if (name === "isLikeNone") return "isLikeNone";
    return minified ? "(minified: build with NO_MINIFY=1)" : `other glue (${name || "anonymous"})`;
  };
  // The body of the function starting at `at` (brace matching, strings skipped).
  const bodyAt = (at) => {
    let i = indexSrc.indexOf("{", at);
    if (i < 0) return "";
    const start = i;
    let depth = 0;
    for (; i < indexSrc.length && i < start + 4000; i++) {
      const c = indexSrc[i];
      if (c === '"' || c === "'" || c === "`") {
        for (i++; i < indexSrc.length && indexSrc[i] !== c; i++) if (indexSrc[i] === "\\") i++;
      } else if (c === "{") depth++;
      else if (c === "}" && --depth === 0) break;
    }
    return indexSrc.slice(start, i + 1);
  };
  // wasm-bindgen's own intrinsics (__wbg___wbindgen_string_get, _is_string...) are glue, not Web APIs.
  const isShim = (fn) => /^__wbg_/.test(fn) && !/^__wbg___wbindgen_/.test(fn) && !/^__wbg_(call_guard|handle_catch|reset_state|get_imports|call_abort_hook)$/.test(fn);
  const shimApi = new Map();
  const apiOfShim = (cf) => {
    const k = `${cf.lineNumber}:${cf.columnNumber}`;
    if (!shimApi.has(k)) {
      const body = bodyAt(offsetOf(cf));
      const rule = SHIM_APIS.find(([re]) => re.test(body));
      const m = rule && body.match(rule[0]);
      shimApi.set(k, rule ? rule[1].replace("$1", m[1] ?? "") : cf.functionName.replace(/_[0-9a-f]{16}$/, ""));
    }
    return shimApi.get(k);
  };
  const isShimCode = (cf) => isIndex(cf) && shimAt >= 0 && offsetOf(cf) >= shimAt;
  // Category and group of a node, by its own frame; a native frame (no url)
  // by its nearest caller of ours: under an import shim it is that shim's Web
  // API (d), under a glue helper that helper's group (b: TextDecoder.decode in
  // decodeText), under wasm a V8 wasm->JS wrapper (b), under the shim (c).
  const info = new Map();
  const classify = (id) => {
    if (info.has(id)) return info.get(id);
    const cf = nodes.get(id).callFrame;
    const fn = cf.functionName;
    const name = fn || "(anonymous)";
    let cat;
    let group;
    let label = name;
    if (fn === "(garbage collector)") [cat, group] = ["e", "GC"];
    else if (fn === "(program)" || fn === "(idle)" || fn === "(root)") [cat, group] = ["f", fn];
    else if (isWasm(cf)) {
      if (/^(js-to-wasm|wasm-to-js)/.test(fn)) [cat, group] = ["b", "V8 JS<->wasm call wrappers"];
      else if (/^(wasm-function\[|\$func)/.test(fn) || fn === "") [cat, group] = ["a", "(unnamed wasm: build with KEEP_WASM_NAMES=1)"];
      else [cat, group] = ["a", rustGroup(fn)];
      label = stripHash(fn);
    } else if (isIndex(cf)) {
      label = `${name} (index.js:${cf.lineNumber + 1})`;
      if (isShimCode(cf)) [cat, group] = ["c", `shim: ${name}`];
      else if (isShim(fn)) {
        // The import shim's own time includes the native call when that has no frame (console.log, Headers.get).
        [cat, group] = ["d", apiOfShim(cf)];
        label = `${name.replace(/_[0-9a-f]{16}$/, "")}: ${apiOfShim(cf)} (index.js:${cf.lineNumber + 1})`;
      } else if (/^__wbindgen_/.test(fn)) {
        // wasm-bindgen's casts (__wbindgen_generic_*): a closure made, a string decoded, a value passed.
        const body = bodyAt(offsetOf(cf));
        [cat, group] = ["b", /makeMutClosure|makeClosure/.test(body) ? glueGroup("closure") : /getStringFromWasm0/.test(body) ? glueGroup("decodeText") : "casts (__wbindgen_generic_*)"];
      } else [cat, group] = ["b", glueGroup(fn)];
    } else if (cf.url === "") {
      let owner = null;
      for (let p = parent.get(id); p !== undefined && !owner; p = parent.get(p)) {
        const pcf = nodes.get(p).callFrame;
        if (isIndex(pcf) || isWasm(pcf) || pcf.url !== "") owner = pcf;
      }
      if (fn === "wasm-to-js" || fn === "js-to-wasm") [cat, group] = ["b", "V8 JS<->wasm call wrappers"];
      else if (!owner) [cat, group] = ["f", `native ${name} (no JS caller: promise reactions, microtasks)`];
      else if (isShimCode(owner)) [cat, group] = ["c", `shim: native ${name}`];
      else if (isIndex(owner) && isShim(owner.functionName))
        // A binding's method called through Function.call (workers-rs's KvStore: get, put;
        // the issuer's own KV calls, src/kv.rs, are wasm-bindgen imports).
        [cat, group] = [
          "d",
          /^Function\.call/.test(apiOfShim(owner))
            ? /^(get|put|delete|list|getWithMetadata)$/.test(fn)
              ? `KV ${fn} (the binding's method, called via Function.call)`
              : `${apiOfShim(owner)}: native ${name}`
            : apiOfShim(owner),
        ];
      else if (isIndex(owner)) [cat, group] = ["b", glueGroup(owner.functionName)];
      else if (isWasm(owner)) [cat, group] = ["b", "V8 JS<->wasm call wrappers"];
      else [cat, group] = ["f", `runtime JS: ${owner.url}`];
      label = `${name} [native; ${group}]`;
    } else {
      [cat, group] = ["f", `runtime JS: ${cf.url}`];
      label = `${name} (${cf.url}:${cf.lineNumber + 1})`;
    }
    const r = { cat, group, label, key: `${label}|${cf.url}|${cf.lineNumber}|${cf.columnNumber}` };
    info.set(id, r);
    return r;
  };

  // Sample times: each sample lasts until the next one.
  const samples = profile.samples;
  const deltas = profile.timeDeltas;
  const ts = new Array(samples.length);
  let t = profile.startTime;
  for (let i = 0; i < samples.length; i++) ts[i] = t += deltas[i];
  // workerd's isolate is not sampled while its thread has let go of it
  // (waiting for I/O between requests): the next sample then comes after a
  // long gap. A sample is charged at most GAP_CAP; the rest is "unsampled".
  const raw = (i) => (i + 1 < samples.length ? ts[i + 1] - ts[i] : Math.max(0, profile.endTime - ts[i]));
  const dur = (i) => Math.min(raw(i), GAP_CAP);
  let gaps = 0;
  for (let i = 0; i < samples.length; i++) gaps += raw(i) - dur(i);
  const selfOf = new Map();
  let total = 0;
  for (let i = 0; i < samples.length; i++) {
    const d = dur(i);
    total += d;
    selfOf.set(samples[i], (selfOf.get(samples[i]) ?? 0) + d);
  }
  const idle = [...selfOf].filter(([id]) => nodes.get(id).callFrame.functionName === "(idle)").reduce((a, [, d]) => a + d, 0);
  const busy = total - idle;

  // Self time by category/group and by function; total time by function.
  const cats = {};
  const groups = {};
  const fself = new Map();
  const fincl = new Map();
  const keysCache = new Map();
  const keysOf = (id) => {
    if (keysCache.has(id)) return keysCache.get(id);
    const p = parent.get(id);
    const up = p === undefined ? [] : keysOf(p);
    const k = classify(id).key;
    const r = up.includes(k) ? up : [...up, k];
    keysCache.set(id, r);
    return r;
  };
  const meta = new Map();
  for (const [id, d] of selfOf) {
    const c = classify(id);
    if (nodes.get(id).callFrame.functionName === "(idle)") continue;
    cats[c.cat] = (cats[c.cat] ?? 0) + d;
    const g = `${c.cat}|${c.group}`;
    groups[g] = (groups[g] ?? 0) + d;
    fself.set(c.key, (fself.get(c.key) ?? 0) + d);
    meta.set(c.key, c);
    for (const k of keysOf(id)) fincl.set(k, (fincl.get(k) ?? 0) + d);
  }
  for (const id of keysCache.keys()) meta.set(classify(id).key, classify(id));

  const out = [];
  const us = (x) => (requests ? (x / requests).toFixed(2) : "-");
  const pct = (x) => ((100 * x) / busy).toFixed(1);
  out.push(`profile ${((profile.endTime - profile.startTime) / 1000).toFixed(1)} ms: sampled ${(total / 1000).toFixed(1)} ms (${profile.samples.length} samples), unsampled gaps ${(gaps / 1000).toFixed(1)} ms; idle ${(idle / 1000).toFixed(1)} ms, busy ${(busy / 1000).toFixed(1)} ms` + (requests ? `; ${requests} requests: busy ${us(busy)} µs/request` : ""));
  const CAT_NAMES = {
    a: "(a) wasm: our Rust code and its dependencies",
    b: "(b) wasm-bindgen JS glue (index.js)",
    c: "(c) worker-build shim (Proxy / WorkerEntrypoint wrappers)",
    d: "(d) Web API builtins (native)",
    e: "(e) GC",
    f: "(f) runtime: (program), workerd JS, other",
  };
  out.push("");
  out.push(pad("self time by category / group", 78) + lpad("µs/req", 9) + lpad("% busy", 8));
  for (const cat of ["a", "b", "c", "d", "e", "f"]) {
    out.push(pad(CAT_NAMES[cat], 78) + lpad(us(cats[cat] ?? 0), 9) + lpad(pct(cats[cat] ?? 0), 8));
    const gs = Object.entries(groups).filter(([g]) => g.startsWith(`${cat}|`)).sort((a, b) => b[1] - a[1]);
    for (const [g, d] of gs) {
      if (d / busy < 0.001) continue;
      out.push(pad(`    ${g.slice(2)}`.slice(0, 77), 78) + lpad(us(d), 9) + lpad(pct(d), 8));
    }
  }
  const table = (title, map) => {
    out.push("");
    out.push(pad(title, 96) + lpad("µs/req", 9) + lpad("% busy", 8) + "  cat");
    for (const [k, d] of [...map].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
      const m = meta.get(k);
      out.push(pad(m.label.slice(0, 95), 96) + lpad(us(d), 9) + lpad(pct(d), 8) + "  " + m.cat);
    }
  };
  table(`top ${TOP} functions by self time`, fself);
  table(`top ${TOP} functions by total (inclusive) time`, fincl);
  return { text: out.join("\n"), total, gaps, idle, busy, raw, cats, groups, ts, dur, classify, nodes, parent, samples };
}

// The index.js URL as the profile names it (workerd: the module's path or a
// file: URL); found from the profile's frames.
function indexUrlOf(profile) {
  const urls = new Set(profile.nodes.map((n) => n.callFrame.url));
  return [...urls].find((u) => /(^|\/)index\.js$/.test(u)) ?? "index.js";
}

// --- warm scenarios ----------------------------------------------------------
if (scenario !== "cold") {
  const worker = { "token-basic": "edge", introspect: "edge", floor: "floor", "rust-floor": "rust-floor" }[scenario];
  const load0 = os.loadavg()[0];
  // The same load on a workerd without --inspector-addr: what the inspector costs.
  const plain = await serve(worker, { inspector: false });
  let base;
  {
    const p = plain.port;
    if (worker === "edge") await tokenRequest(p);
    else await checkedGet(p);
    const u = `http://127.0.0.1:${p}${worker === "edge" ? (scenario === "token-basic" ? "/oauth2/token" : "/oauth2/introspect") : PATH}`;
    // Introspection needs a token of this workerd's issuer: any token of the same key and issuer verifies.
    const r = worker === "edge" ? (scenario === "token-basic" ? { method: "POST", auth: basic(), body: "grant_type=client_credentials" } : { method: "POST", auth: basic(), body: `token=${await tokenRequest(p)}` }) : { method: "GET" };
    await wrk(u, r, Math.min(SECONDS, 3), CONNECTIONS, "warm-up, no inspector");
    const pid = workerdOf(plain.child.pid);
    const c0 = cpuMicros(pid);
    const l = await wrk(u, r, SECONDS, CONNECTIONS, "no inspector");
    const c1 = cpuMicros(pid);
    base = { ...l, cpu: c0 !== null && c1 !== null ? (c1 - c0) / l.requests : null };
    await plain.stop();
  }
  const srv = await serve(worker);
  const workerd = workerdOf(srv.child.pid);
  let req;
  let url;
  if (worker === "edge") {
    const token = await tokenRequest(srv.port);
    if (scenario === "token-basic") {
      url = `http://127.0.0.1:${srv.port}/oauth2/token`;
      req = { method: "POST", auth: basic(), body: "grant_type=client_credentials" };
    } else {
      url = `http://127.0.0.1:${srv.port}/oauth2/introspect`;
      req = { method: "POST", auth: basic(), body: `token=${token}` };
      const res = await fetch(url, { method: "POST", headers: { authorization: req.auth, "content-type": form }, body: req.body });
      const text = await res.text();
      if (res.status !== 200 || JSON.parse(text).active !== true) die(`introspection: ${res.status} ${text}`);
    }
  } else {
    await checkedGet(srv.port);
    url = `http://127.0.0.1:${srv.port}${PATH}`;
    req = { method: "GET" };
  }
  await wrk(url, req, Math.min(SECONDS, 3), CONNECTIONS, "warm-up, inspector");
  const cpuW0 = cpuMicros(workerd);
  const warm = await wrk(url, req, SECONDS, CONNECTIONS, "inspector, not profiling");
  const cpuW1 = cpuMicros(workerd);
  const session = await cdpConnect(srv.inspectorPort, srv.target);
  const others = [];
  if (ALL_TARGETS) {
    for (const t of session.targets.filter((t) => t.id !== srv.target)) {
      const s = await cdpConnect(srv.inspectorPort, t.id);
      await startProfiler(s);
      others.push({ id: t.id, s });
    }
  }
  // --mute-console: console.log a no-op in the isolate from here on (under
  // the inspector a console line costs several times what it costs without).
  if (MUTE) await evaluate(session, "(globalThis.console.log = function log() {}, true)");
  await startProfiler(session);
  const cpu0 = cpuMicros(workerd);
  const load = await wrk(url, req, SECONDS, CONNECTIONS, "profiling");
  const cpu1 = cpuMicros(workerd);
  const { profile, file } = await stopProfiler(session, scenario);
  const otherProfiles = [];
  for (const o of others) otherProfiles.push({ id: o.id, ...(await stopProfiler(o.s, `${scenario}-${o.id.replace(/[^\w-]/g, "_")}`)) });
  session.close();
  others.forEach((o) => o.s.close());
  await srv.stop();

  const indexSrc = worker === "floor" ? "" : fs.readFileSync(path.join(root, worker === "edge" ? build : "bench/rust-floor/build", "index.js"), "utf8");
  const a = analyse(profile, { requests: load.requests, indexUrl: indexUrlOf(profile), indexSrc });
  const perReq = (c0, c1, n) => (c0 !== null && c1 !== null ? ((c1 - c0) / n).toFixed(1) : "n/a");
  console.log(`profile of ${scenario}${worker === "edge" && ALG !== "HS256" ? " " + ALG : ""}${worker === "edge" ? "" : PATH === "/" ? "" : " " + PATH} (${worker === "edge" ? build : worker}), wrk -t2 -c ${CONNECTIONS}, ${SECONDS}s per measurement, sampling every ${INTERVAL} µs; ${os.cpus().length} x ${os.cpus()[0]?.model ?? "CPU"}, load average ${load0.toFixed(1)} -> ${os.loadavg()[0].toFixed(1)}`);
  console.log(`  no inspector:            ${lpad(base.rps.toFixed(0), 6)} req/s, workerd CPU (all threads, /proc) ${base.cpu === null ? "n/a" : base.cpu.toFixed(1)} µs/request`);
  console.log(`  inspector, not profiling: ${lpad(warm.rps.toFixed(0), 6)} req/s, workerd CPU ${perReq(cpuW0, cpuW1, warm.requests)} µs/request`);
  console.log(`  profiling${MUTE ? ", console.log muted" : ""}:${MUTE ? "" : "               "} ${lpad(load.rps.toFixed(0), 6)} req/s, workerd CPU ${perReq(cpu0, cpu1, load.requests)} µs/request, p50 ${load.p50.toFixed(2)} ms; 0 failed requests`);
  console.log(`  raw profile: ${path.relative(root, file)}`);
  console.log(a.text);
  for (const o of otherProfiles) {
    const t = analyse(o.profile, { requests: load.requests, indexUrl: "\0", indexSrc: "" });
    console.log(`\nother isolate ${o.id}: busy ${(t.busy / load.requests).toFixed(2)} µs/request (${path.relative(root, o.file)})`);
  }
  process.exit(0);
}

// --- cold --------------------------------------------------------------------
// Parts of a first request: each busy sample in the request's window (the
// client's send to its answer; the profile's clock is CLOCK_MONOTONIC, as
// process.hrtime is on Linux) goes to the first part whose rule matches a
// frame of its stack, leaf to root (innermost first); the rest by category.
const PARTS = [
  ["wasm instantiate (new WebAssembly.Instance, __wbindgen_start)", (cf) => (cf.url === "" && /^(WebAssembly\.)?(Instance|instantiate|Module|compile)$/.test(cf.functionName)) || /__wbindgen_start|__wbg_reset_state/.test(cf.functionName)],
  ["signing key import (crypto.subtle.importKey)", (cf) => /^__wbg_importKey_|^importKey$/.test(cf.functionName)],
  ["KV calls (edge_token_worker::kv: KV get, the text read; a rate limiter call, rare on this path)", (cf) => /^(<)?edge_token_worker::kv::/.test(cf.functionName)],
  ["configuration parse (Config::from_lookup, isolate_state)", (cf) => /Config::from_lookup|entry::isolate_state/.test(cf.functionName)],
  ["GC", (cf) => cf.functionName === "(garbage collector)"],
  ["(program): native code, lazy compilation", (cf) => cf.functionName === "(program)"],
];
const REST = [
  ["a", "rest: wasm (the request's own work)"],
  ["b", "rest: wasm-bindgen glue"],
  ["c", "rest: worker-build shim"],
  ["d", "rest: Web API builtins"],
  ["f", "rest: runtime JS, other"],
];
function parts(a, t0, t1) {
  const r = { busy: 0, idle: 0, outside: 0, by: {} };
  for (let i = 0; i < a.samples.length; i++) {
    const id = a.samples[i];
    // The part of this sample's interval inside the window.
    const s0 = a.ts[i];
    const s1 = s0 + a.raw(i);
    const inside = Math.max(0, Math.min(s1, t1) - Math.max(s0, t0));
    const charged = Math.min(inside, a.dur(i));
    const fn = a.nodes.get(id).callFrame.functionName;
    if (fn === "(idle)") {
      r.idle += inside;
      continue;
    }
    r.idle += inside - charged; // an unsampled gap in the window: the isolate was let go
    r.outside += a.dur(i) - charged;
    if (charged <= 0) continue;
    r.busy += charged;
    let part = null;
    for (let p = id; p !== undefined && !part; p = a.parent.get(p)) {
      const hit = PARTS.find(([, test]) => test(a.nodes.get(p).callFrame));
      if (hit) part = hit[0];
    }
    part ??= REST.find(([c]) => c === a.classify(id).cat)?.[1] ?? REST.at(-1)[1];
    r.by[part] = (r.by[part] ?? 0) + charged;
  }
  return r;
}
// Did the profile see the module's top-level code (script evaluation) at all?
const sawTopLevel = (profile, indexUrl) =>
  profile.nodes.some((n) => n.callFrame.url === indexUrl && n.callFrame.functionName === "" && n.callFrame.lineNumber === 0 && n.callFrame.columnNumber === 0 && n.hitCount > 0);

const REINIT = Number(opt("reinit", 10));
const coldKinds = [
  { worker: "edge", name: "edge-token (POST /oauth2/token, Basic)", index: path.join(root, build, "index.js") },
  { worker: "rust-floor", name: "workers-rs floor (GET /)", index: path.join(root, "bench/rust-floor/build/index.js") },
  { worker: "floor", name: "JS floor (GET /)", index: null },
  // The first console line in an isolate loads workerd's console formatting (node-internal:internal_inspect).
  { worker: "floor", path: "/log", key: "floor-log", name: "JS floor, one console line (GET /log)", index: null },
];
const oneRequest = async (kind, port) => {
  const t0 = nowUs();
  if (kind.worker === "edge") await tokenRequest(port);
  else await checkedGet(port, kind.path);
  return { t0, t1: nowUs() };
};
// One request under the profiler: its wall time and parts.
async function profiledRequest(session, kind, port, name, indexSrc) {
  await startProfiler(session);
  await sleep(20);
  const { t0, t1 } = await oneRequest(kind, port);
  await sleep(20);
  const { profile, file } = await stopProfiler(session, name);
  const indexUrl = indexUrlOf(profile);
  const a = analyse(profile, { requests: 1, indexUrl, indexSrc });
  const aligned = profile.startTime <= t0 && t1 <= profile.endTime;
  return { wall: (t1 - t0) / 1000, parts: parts(a, aligned ? t0 : -Infinity, aligned ? t1 : Infinity), aligned, a, file, topLevel: sawTopLevel(profile, indexUrl) };
}
const results = {};
for (const kind of coldKinds) {
  kind.key ??= kind.worker;
  const rs = (results[kind.key] = { first: [], reinit: [], reinitPlain: [], warmPlain: [], plain: [], second: [], ready: [] });
  const indexSrc = kind.index ? fs.readFileSync(kind.index, "utf8") : "";
  for (let run = 0; run < RUNS; run++) {
    const srv = await serve(kind.worker);
    rs.ready.push(srv.readyMs);
    const session = await cdpConnect(srv.inspectorPort, srv.target);
    rs.first.push(await profiledRequest(session, kind, srv.port, `cold-${kind.key}-${run + 1}`, indexSrc));
    const t2 = nowUs();
    await oneRequest(kind, srv.port);
    rs.second.push((nowUs() - t2) / 1000);
    // Re-instantiation probes: the next request re-instantiates the wasm module.
    for (let k = 0; kind.worker !== "floor" && k < REINIT; k++) {
      await evaluate(session, "globalThis.__worker_init_state.criticalError = true");
      const r = await profiledRequest(session, kind, srv.port, `cold-${kind.key}-reinit-${run + 1}-${k + 1}`, indexSrc);
      if (!(r.parts.by[PARTS[0][0]] > 0) && !r.a.nodes.size) die("re-instantiation probe: no samples");
      rs.reinit.push(r);
      // The same without the profiler (the inspector session stays): a
      // re-instantiating request, then a warm one, both timed at the client.
      await evaluate(session, "globalThis.__worker_init_state.criticalError = true");
      const a = await oneRequest(kind, srv.port);
      const b = await oneRequest(kind, srv.port);
      rs.reinitPlain.push((a.t1 - a.t0) / 1000);
      rs.warmPlain.push((b.t1 - b.t0) / 1000);
    }
    session.close();
    await srv.stop();
  }
  // The same first request with no inspector at all (no --inspector-addr).
  for (let run = 0; run < RUNS; run++) {
    const srv = await serve(kind.worker, { inspector: false });
    const { t0, t1 } = await oneRequest(kind, srv.port);
    rs.plain.push((t1 - t0) / 1000);
    await srv.stop();
  }
}

// --- cold report ---------------------------------------------------------------
const ms = (x) => (x / 1000).toFixed(2);
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
console.log(`cold start: ${RUNS} fresh workerds per Worker, sampling every ${INTERVAL} µs; ${os.cpus().length} x ${os.cpus()[0]?.model ?? "CPU"}, load average ${os.loadavg()[0].toFixed(1)}; issuer build ${build}`);
console.log(`Where the module is compiled and instantiated: at script load, before the inspector can attach, unless the profile of a first request shows the module's top-level code:`);
for (const kind of coldKinds) {
  const rs = results[kind.key];
  const aligned = rs.first.filter((f) => f.aligned).length;
  console.log(`  ${pad(kind.name, 42)} top-level code in a first request's profile: ${rs.first.some((f) => f.topLevel) ? "yes" : "no"}; fresh workerd ready ${median(rs.ready).toFixed(0)} ms after spawn (median); client and profile clocks aligned in ${aligned}/${rs.first.length}`);
}
console.log("");
console.log(pad("first request on a fresh workerd (medians)", 44) + lpad("wall ms", 9) + lpad("profiled", 10) + lpad("/rs floor", 11) + lpad("2nd req", 9) + lpad("busy ms", 9) + lpad("waiting", 9));
const rows = Object.fromEntries(
  coldKinds.map((k) => {
    const rs = results[k.key];
    return [k.key, { plain: median(rs.plain), wall: median(rs.first.map((f) => f.wall)), second: median(rs.second), busy: median(rs.first.map((f) => f.parts.busy)), idle: median(rs.first.map((f) => f.parts.idle)) }];
  }),
);
for (const kind of coldKinds) {
  const r = rows[kind.key];
  console.log(pad(kind.name, 44) + lpad(r.plain.toFixed(2), 9) + lpad(r.wall.toFixed(2), 10) + lpad((r.plain / rows["rust-floor"].plain).toFixed(2) + "x", 11) + lpad(r.second.toFixed(2), 9) + lpad(ms(r.busy), 9) + lpad(ms(r.idle), 9));
}
console.log(`(wall: at the client, fresh workerd without --inspector-addr; profiled: the same with the profiler on; 2nd req: the next request, profiler off;`);
console.log(` busy: the Worker's isolate sampled inside the profiled request's window; waiting: the window's idle and unsampled time: KV, I/O, other isolates)`);
const partTable = (title, list) => {
  console.log(`\n${title}`);
  for (const n of [...PARTS.map(([n]) => n), ...REST.map(([, n]) => n)]) {
    const v = mean(list.map((f) => f.parts.by[n] ?? 0));
    if (v > 0) console.log(`  ${pad(n, 66)} ${lpad(ms(v), 8)} ms`);
  }
  console.log(`  ${pad("= busy in the request's window", 66)} ${lpad(ms(mean(list.map((f) => f.parts.busy))), 8)} ms; waiting ${ms(mean(list.map((f) => f.parts.idle)))} ms; wall ${mean(list.map((f) => f.wall)).toFixed(2)} ms (means)`);
};
for (const kind of coldKinds) {
  const rs = results[kind.key];
  partTable(`${kind.name}: parts of the first request (means of ${rs.first.length}; last profile ${path.relative(root, rs.first.at(-1).file)})`, rs.first);
  if (rs.reinit.length) {
    partTable(`${kind.name}: parts of a request that re-instantiates the module (warm workerd; means of ${rs.reinit.length})`, rs.reinit);
    // The same wasm code runs in both; the first request also compiles each
    // function it calls for the first time (V8 compiles wasm lazily, charging
    // the time to the calling frame).
    const w = (list) => mean(list.map((f) => f.parts.by[REST[0][1]] ?? 0));
    console.log(`  first-call compilation of wasm functions, estimated: the first request's wasm time less the re-instantiated one's: ${ms(w(rs.first) - w(rs.reinit))} ms`);
    console.log(`  without the profiler (inspector session only; medians of ${rs.reinitPlain.length}): a re-instantiating request ${median(rs.reinitPlain).toFixed(2)} ms wall, the warm one after it ${median(rs.warmPlain).toFixed(2)} ms`);
  }
}
const edgeFirst = results.edge.first.reduce((a, b) => (b.parts.busy < a.parts.busy ? b : a));
console.log(`\nedge-token's first request with the least busy time (${path.relative(root, edgeFirst.file)}):`);
console.log(edgeFirst.a.text);
process.exit(0);
}
