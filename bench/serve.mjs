// Serves the release edge-token Worker and a constant-200 "floor" Worker on
// workerd (through Miniflare's API, with direct sockets: no Node proxy in
// the request path), with local KV persisted in STATE_DIR.
//
// usage: node bench/serve.mjs STATE_DIR EDGE_PORT FLOOR_PORT [RUST_FLOOR_PORT [KV_FLOOR_PORT [JS_ISSUER_PORT [SIGN_FLOOR_PORT [SHAPE_FLOOR_PORT]]]]]
// RUST_FLOOR_PORT also serves bench/rust-floor (the cheapest workers-rs Worker).
// KV_FLOOR_PORT serves the "KV floor": a JS Worker that does per request the
// KV I/O of one accepted private_key_jwt assertion (a get of a new key, then
// a put of "1" expiring in 16 minutes), on a namespace of its own in the same
// local KV, and answers a constant 200; on GET /read, the "KV read floor":
// one get of a key that is never written (the I/O of introspection's
// revocation check), and a constant 200.
// SIGN_FLOOR_PORT serves the "signature floors" (lib.mjs SIGN_FLOOR_SCRIPT):
// the JS floor plus one Web Crypto ES256 (/es256) or Ed25519 (/eddsa) signature.
// SHAPE_FLOOR_PORT serves the "shape floor" (lib.mjs SHAPE_FLOOR_SCRIPT): the I/O
// of edge-token's token request (headers, bounded body read, one log line, a
// token-sized Response) and none of its work.
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
import { FLOOR_SCRIPT, RUST_FLOOR, SHAPE_FLOOR_SCRIPT, SIGN_FLOOR_SCRIPT, compatibilityDate, directSocket, edgeTokenWorker, issuerEnv, root, serveUntilSignal } from "./lib.mjs";

const [stateDir, edgePort, floorPort, rustFloorPort, kvFloorPort, jsIssuerPort, signFloorPort, shapeFloorPort] = process.argv.slice(2);
if (!stateDir || !edgePort || !floorPort || !process.env.SIGNING_KEYS) {
  console.error("usage: SIGNING_KEYS=... node bench/serve.mjs STATE_DIR EDGE_PORT FLOOR_PORT");
  process.exit(2);
}
const issuer = process.env.ISSUER ?? `http://127.0.0.1:${edgePort}`;
const variants = JSON.parse(process.env.BENCH_VARIANTS ?? "[]");
// An issuer build on `port` (the same local KV and vars as every issuer).
const edgeToken = ({ name, port, build, signingKeys }) => ({
  ...edgeTokenWorker({ name, build, issuer, signingKeys }),
  ...directSocket(port),
});

const mf = new Miniflare({
  host: "127.0.0.1",
  port: 0,
  kvPersist: path.join(path.resolve(stateDir), "v3", "kv"),
  workers: [
    edgeToken({ name: "edge-token", port: edgePort, build: "build", signingKeys: process.env.SIGNING_KEYS }),
    ...variants.map(edgeToken),
    { name: "floor", modules: true, script: FLOOR_SCRIPT, compatibilityDate, ...directSocket(floorPort) },
    ...(rustFloorPort ? [{ ...RUST_FLOOR, ...directSocket(rustFloorPort) }] : []),
    ...(signFloorPort ? [{ name: "sign-floor", modules: true, script: SIGN_FLOOR_SCRIPT, compatibilityDate, ...directSocket(signFloorPort) }] : []),
    ...(shapeFloorPort ? [{ name: "shape-floor", modules: true, script: SHAPE_FLOOR_SCRIPT, compatibilityDate, ...directSocket(shapeFloorPort) }] : []),
    ...(kvFloorPort
      ? [
          {
            name: "kv-floor",
            modules: true,
            script: `export default { async fetch(req, env) {
  if (req.url.endsWith("/read")) {
    const found = await env.KV.get("revoked:kv-read-floor-0000000");
    return new Response(found === null ? "ok" : "found", { status: found === null ? 200 : 500 });
  }
  const key = "assertion:" + crypto.randomUUID() + "0123456";
  if ((await env.KV.get(key)) !== null) return new Response("seen", { status: 500 });
  await env.KV.put(key, "1", { expiration: Math.floor(Date.now() / 1000) + 960 });
  return new Response("ok");
} };`,
            compatibilityDate,
            kvNamespaces: { KV: "bench-kv-floor" },
            ...directSocket(kvFloorPort),
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
            ...issuerEnv({ issuer, signingKeys: process.env.SIGNING_KEYS }),
            ...directSocket(jsIssuerPort),
          },
        ]
      : []),
  ],
});

await serveUntilSignal(mf);
