// Serves the release edge-token Worker and a constant-200 "floor" Worker on
// workerd (through Miniflare's API, with direct sockets: no Node proxy in
// the request path), with local KV persisted in STATE_DIR.
//
// usage: node bench/serve.mjs STATE_DIR EDGE_PORT FLOOR_PORT [RUST_FLOOR_PORT [KV_FLOOR_PORT [JS_ISSUER_PORT]]]
// RUST_FLOOR_PORT also serves bench/rust-floor (the cheapest workers-rs Worker).
// KV_FLOOR_PORT serves the "KV floor": a JS Worker that does per request the
// KV I/O of one accepted private_key_jwt assertion (a get of a new key, then
// a put of "1" expiring in 16 minutes), on a namespace of its own in the same
// local KV, and answers a constant 200.
// JS_ISSUER_PORT serves bench/js-issuer, the same-design JS Worker (HS256
// tokens for client_secret_basic/post), with edge-token's KV namespaces,
// SIGNING_KEYS and vars (ISSUER included): the same client works on both.
// env:   SIGNING_KEYS (required), ISSUER (default http://127.0.0.1:EDGE_PORT),
//        BENCH_VARIANTS: more edge-token Workers on the same workerd and the
//        same local KV, a JSON array of {"name", "port", "build" (a build
//        directory relative to the repository, e.g. "target/bench/rust-signer"),
//        "signingKeys"} (make bench: the issuer signing ES256 and EdDSA, with
//        Web Crypto and with the rust-signer build).
// Prints "ready" on stdout when all accept connections; stops on SIGTERM/SIGINT.
import { Miniflare } from "miniflare";
import path from "node:path";

const [stateDir, edgePort, floorPort, rustFloorPort, kvFloorPort, jsIssuerPort] = process.argv.slice(2);
if (!stateDir || !edgePort || !floorPort || !process.env.SIGNING_KEYS) {
  console.error("usage: SIGNING_KEYS=... node bench/serve.mjs STATE_DIR EDGE_PORT FLOOR_PORT");
  process.exit(2);
}
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const compatibilityDate = "2026-04-01";

const variants = JSON.parse(process.env.BENCH_VARIANTS ?? "[]");
// What every issuer gets (edge-token's builds and the JS issuer): the same
// local KV (one client) and the same vars.
const issuerEnv = (signingKeys) => ({
  kvNamespaces: { CLIENTS: "edge-token-clients-local", REVOCATIONS: "edge-token-revocations-local" },
  bindings: {
    ISSUER: process.env.ISSUER ?? `http://127.0.0.1:${edgePort}`,
    SIGNING_KEYS: signingKeys,
    REQUIRE_HTTPS: "false",
    DEFAULT_AUDIENCE: "https://api.example.com",
    TOKEN_TTL: "300",
    KV_CACHE_TTL: "60",
  },
});
// The issuer built into `build` (relative to the repository), signing with
// `signingKeys`, on `port`.
const edgeToken = ({ name, port, build, signingKeys }) => ({
  name,
  modules: true,
  scriptPath: path.join(root, build, "index.js"),
  modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
  compatibilityDate,
  ...issuerEnv(signingKeys),
  unsafeDirectSockets: [{ host: "127.0.0.1", port: Number(port) }],
});

const mf = new Miniflare({
  host: "127.0.0.1",
  port: 0,
  kvPersist: path.join(path.resolve(stateDir), "v3", "kv"),
  workers: [
    edgeToken({ name: "edge-token", port: edgePort, build: "build", signingKeys: process.env.SIGNING_KEYS }),
    ...variants.map(edgeToken),
    {
      name: "floor",
      modules: true,
      // GET /log also writes one console line, like edge-token's audit log.
      script:
        'export default { fetch(req) { if (req.url.endsWith("/log")) console.log(\'{"event":"floor","status":200}\'); return new Response("ok"); } };',
      compatibilityDate,
      unsafeDirectSockets: [{ host: "127.0.0.1", port: Number(floorPort) }],
    },
    ...(rustFloorPort
      ? [
          {
            name: "rust-floor",
            modules: true,
            scriptPath: path.join(root, "bench", "rust-floor", "build", "index.js"),
            modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
            compatibilityDate,
            unsafeDirectSockets: [{ host: "127.0.0.1", port: Number(rustFloorPort) }],
          },
        ]
      : []),
    ...(kvFloorPort
      ? [
          {
            name: "kv-floor",
            modules: true,
            script: `export default { async fetch(req, env) {
  const key = "assertion:" + crypto.randomUUID() + "0123456";
  if ((await env.KV.get(key)) !== null) return new Response("seen", { status: 500 });
  await env.KV.put(key, "1", { expiration: Math.floor(Date.now() / 1000) + 960 });
  return new Response("ok");
} };`,
            compatibilityDate,
            kvNamespaces: { KV: "bench-kv-floor" },
            unsafeDirectSockets: [{ host: "127.0.0.1", port: Number(kvFloorPort) }],
          },
        ]
      : []),
    ...(jsIssuerPort
      ? [
          {
            name: "js-issuer",
            modules: true,
            scriptPath: path.join(root, "bench", "js-issuer", "index.mjs"),
            compatibilityDate,
            ...issuerEnv(process.env.SIGNING_KEYS),
            unsafeDirectSockets: [{ host: "127.0.0.1", port: Number(jsIssuerPort) }],
          },
        ]
      : []),
  ],
});

await mf.ready;
console.log("ready");
const stop = async () => {
  await mf.dispose();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
