// One fresh workerd serving only one Worker on PORT; prints "ready" when it
// accepts requests. WHICH: "edge" (the issuer, build/; KV from STATE_DIR if
// given, so a client made there exists), "floor" (the constant-200 JS
// Worker), "kv-floor" (the same, after one KV get) or "rust-floor"
// (bench/rust-floor: the cheapest workers-rs Worker).
// usage: SIGNING_KEYS=... node bench/coldstart.mjs WHICH PORT [STATE_DIR]
import { Miniflare } from "miniflare";
import os from "node:os";
import path from "node:path";

const [which, port, stateDir] = process.argv.slice(2);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const wasmModules = { modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }] };
const worker = {
  edge: {
    scriptPath: path.join(root, "build", "index.js"),
    ...wasmModules,
    kvNamespaces: { CLIENTS: "edge-token-clients-local", REVOCATIONS: "edge-token-revocations-local" },
    bindings: {
      ISSUER: process.env.ISSUER ?? "http://127.0.0.1",
      SIGNING_KEYS: process.env.SIGNING_KEYS,
      REQUIRE_HTTPS: "false",
      DEFAULT_AUDIENCE: "https://api.example.com",
      KV_CACHE_TTL: "60",
    },
  },
  floor: { script: 'export default { fetch() { return new Response("ok"); } };' },
  // The JS floor reading one absent key from the same local KV: what the
  // first KV read costs any Worker here (Miniflare's KV service starts too).
  "kv-floor": {
    script: 'export default { async fetch(req, env) { await env.CLIENTS.get("client:etc_absent", { cacheTtl: 60 }); return new Response("ok"); } };',
    kvNamespaces: { CLIENTS: "edge-token-clients-local" },
  },
  "rust-floor": { scriptPath: path.join(root, "bench", "rust-floor", "build", "index.js"), ...wasmModules },
}[which];
if (!worker || !port) {
  console.error("usage: node bench/coldstart.mjs edge|floor|kv-floor|rust-floor PORT [STATE_DIR]");
  process.exit(2);
}
const mf = new Miniflare({
  host: "127.0.0.1",
  port: 0,
  kvPersist: stateDir ? path.join(path.resolve(stateDir), "v3", "kv") : path.join(os.tmpdir(), `edge-token-cold-${process.pid}`),
  workers: [{ name: which, modules: true, compatibilityDate: "2026-04-01", ...worker, unsafeDirectSockets: [{ host: "127.0.0.1", port: Number(port) }] }],
});
await mf.ready;
console.log("ready");
process.on("SIGTERM", async () => {
  await mf.dispose();
  process.exit(0);
});
