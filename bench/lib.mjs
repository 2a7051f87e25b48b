// What the bench scripts share: the Workers they serve on workerd (for
// serve.mjs, profile-serve.mjs and coldstart.mjs, which host Miniflare;
// own-work.mjs takes the compatibility date and port helpers) and
// the load driver's helpers (for run.mjs and profile.mjs: readiness of a
// serving child, CPU time of its workerd from /proc, small numbers).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

export const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
export const compatibilityDate = "2026-04-01";

// --- Workers -------------------------------------------------------------------
export const wasmModules = { modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }] };
// The JS floor: a constant 200; GET /log also writes one console line, like
// edge-token's audit log.
export const FLOOR_SCRIPT =
  'export default { fetch(req) { if (req.url.endsWith("/log")) console.log(\'{"event":"floor","status":200}\'); return new Response("ok"); } };';
// The JS floor plus one Web Crypto signature per request (/es256 or
// /eddsa, any method: ES256 or Ed25519 over a token-sized input, the key made once per
// isolate): what any Worker pays for one such signature here, the floor of
// an issuer signing with that algorithm.
export const SIGN_FLOOR_SCRIPT = `const input = new TextEncoder().encode("x".repeat(330));
const params = { "/es256": [{ name: "ECDSA", namedCurve: "P-256" }, { name: "ECDSA", hash: "SHA-256" }], "/eddsa": [{ name: "Ed25519" }, { name: "Ed25519" }] };
const keys = {};
export default { fetch(req) {
  const p = params[new URL(req.url).pathname];
  if (!p) return new Response("not found", { status: 404 });
  const key = (keys[p[0].name] ??= crypto.subtle.generateKey(p[0], false, ["sign"]));
  return key.then((k) => crypto.subtle.sign(p[1], k.privateKey, input)).then((sig) => new Response(sig.byteLength === 64 ? "ok" : "bad", { status: sig.byteLength === 64 ? 200 : 500 }));
} };`;
// The "shape floor": a JS Worker that does the I/O of edge-token's token
// request and none of its work: the five header reads (transfer-encoding,
// content-length, authorization, content-type, cf-connecting-ip), the body
// read within one 10 s timer (as js/wire.mjs reads a Content-Length body),
// one audit line of a token line's size, and a 200 with a token response's
// size and headers (one kept Headers). No form parse, no KV, no hash, no
// signature. What any Worker answering like edge-token pays here before the
// protocol: edge-token's issuance over it is what its own code costs.
export const SHAPE_FLOOR_SCRIPT = `const BODY = JSON.stringify({ access_token: "e".repeat(397), token_type: "Bearer", expires_in: 300, scope: "read" });
const HEADERS = new Headers({ "cache-control": "no-store", "content-type": "application/json", pragma: "no-cache" });
const LINE = ',"event":"token","status":200,"outcome":"issued","client_id":"etc_k7uVVokU6jefFyZ52cfcsQ","auth_method":"client_secret_basic","jti":"ufL1xR8nNO0iVjQRMihipw","scope":"read","aud":"https://api.example.com","exp":';
export default { fetch(req) {
  const now = Date.now();
  const h = req.headers;
  if (req.method !== "POST" || h.get("transfer-encoding") !== null || !(Number(h.get("content-length")) <= 16384)) return new Response("shape floor: a POST with a Content-Length only", { status: 400 });
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(new Response("timeout", { status: 408 })), 10000);
    req.arrayBuffer().then((body) => {
      clearTimeout(timer);
      const asked = h.get("authorization") !== null && h.get("content-type") !== null && body.byteLength > 0;
      h.get("cf-connecting-ip");
      console.log('{"ts":' + now + LINE + (Math.floor(now / 1000) + 300) + "}");
      resolve(asked ? new Response(BODY, { status: 200, headers: HEADERS }) : new Response("shape floor: no credentials or body", { status: 400 }));
    });
  });
} };`;
// What every issuer gets (edge-token's builds and the JS issuer): the same
// local KV (one client) and the same vars.
export const issuerEnv = ({ issuer, signingKeys }) => ({
  kvNamespaces: { CLIENTS: "edge-token-clients-local", REVOCATIONS: "edge-token-revocations-local" },
  bindings: {
    ISSUER: issuer,
    SIGNING_KEYS: signingKeys,
    REQUIRE_HTTPS: "false",
    DEFAULT_AUDIENCE: "https://api.example.com",
    TOKEN_TTL: "300",
    KV_CACHE_TTL: "60",
  },
});
// The issuer built into `build` (a directory relative to the repository).
export const edgeTokenWorker = ({ name = "edge-token", build = "build", issuer, signingKeys }) => ({
  name,
  modules: true,
  scriptPath: path.join(root, build, "index.js"),
  ...wasmModules,
  compatibilityDate,
  ...issuerEnv({ issuer, signingKeys }),
});
// The cheapest workers-rs Worker (bench/rust-floor), the same two answers.
export const RUST_FLOOR = {
  name: "rust-floor",
  modules: true,
  scriptPath: path.join(root, "bench", "rust-floor", "build", "index.js"),
  ...wasmModules,
  compatibilityDate,
};
// A direct socket on `port`: no Node proxy in the request path.
export const directSocket = (port) => ({ unsafeDirectSockets: [{ host: "127.0.0.1", port: Number(port) }] });
// Prints "ready" once `mf` serves, then serves until SIGTERM/SIGINT.
export async function serveUntilSignal(mf) {
  await mf.ready;
  console.log("ready");
  const stop = async () => {
    await mf.dispose();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

// --- the load driver's helpers -------------------------------------------------
export const b64url = (buf) => Buffer.from(buf).toString("base64url");
// A port for a Worker's direct socket: below Linux's ephemeral range
// (32768 up), where the many client sockets of a load run take theirs (a
// port drawn in that range can be in use: workerd then fails to start).
// The callers add offsets of up to 23.
export const freePort = () => 20000 + Math.floor(Math.random() * 12000);
export const pad = (s, n) => String(s).padEnd(n);
export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// Resolves when `child` prints "ready". From then on its output (workerd's
// log lines, relayed by Miniflare) is read and dropped, never left to pile
// up in a pipe or in memory; stderr is kept only up to 64 KiB, for errors,
// and after readiness handed to `afterReady` (if given).
export function waitReady(child, name, afterReady = () => {}) {
  return new Promise((resolve, reject) => {
    let out = "";
    let ready = false;
    const timer = setTimeout(() => reject(new Error(`${name} not ready in 60 s:\n${out}`)), 60000);
    child.stdout.on("data", (d) => {
      if (ready) return;
      out += d;
      if (out.includes("ready")) {
        ready = true;
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr.on("data", (d) => {
      if (out.length < 65536) out += d;
      if (ready) afterReady(d);
    });
    child.on("exit", (code) => {
      if (!ready) reject(new Error(`${name} exited (${code}):\n${out}`));
    });
  });
}

// CPU time (user + system, µs) of a process and all its threads, from
// /proc; null where there is no /proc.
export const clockTicks = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout?.trim()) || 100;
export function cpuMicros(pid) {
  if (!pid) return null;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1e6) / clockTicks;
  } catch {
    return null;
  }
}
// The workerd that Miniflare started for `parent` (its direct child).
export function workerdOf(parent) {
  for (const d of fs.existsSync("/proc") ? fs.readdirSync("/proc") : []) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (comm === "workerd" && ppid === parent) return Number(d);
    } catch {
      // gone meanwhile
    }
  }
  return null;
}
