// One fresh workerd serving only one Worker on PORT; prints "ready" when it
// accepts requests. WHICH: "edge" (the issuer, build/; KV from STATE_DIR if
// given, so a client made there exists), "floor" (the constant-200 JS
// Worker; GET /log also writes one console line), "kv-floor" (the same,
// after one KV get of the key CLIENT_KEY, a client's record, read as text),
// "js-issuer" (bench/js-issuer, the same-design JS Worker) or "rust-floor"
// (bench/rust-floor: the cheapest workers-rs Worker).
// EDGE_BUILD: the issuer's build directory, relative to the repository (build), to
// compare two builds' start-up.
// usage: SIGNING_KEYS=... [CLIENT_KEY=client:etc_...] [EDGE_BUILD=DIR] node bench/coldstart.mjs WHICH PORT [STATE_DIR]
import { Miniflare } from "miniflare";
import os from "node:os";
import path from "node:path";
import { FLOOR_SCRIPT, RUST_FLOOR, compatibilityDate, directSocket, edgeTokenWorker, issuerEnv, root, serveUntilSignal } from "./lib.mjs";

const [which, port, stateDir] = process.argv.slice(2);
const worker = {
  edge: () => edgeTokenWorker({ build: process.env.EDGE_BUILD ?? "build", issuer: process.env.ISSUER ?? "http://127.0.0.1", signingKeys: process.env.SIGNING_KEYS }),
  floor: () => ({ script: FLOOR_SCRIPT }),
  // The JS floor reading one client's record from the same local KV (as
  // edge-token's first token request does): what the first KV read costs
  // any Worker here (Miniflare's KV service starts too).
  "kv-floor": () => ({
    script: `export default { async fetch(req, env) { const v = await env.CLIENTS.get(${JSON.stringify(process.env.CLIENT_KEY ?? "client:etc_absent")}, { cacheTtl: 60 }); return new Response(v === null ? "no record" : "ok", { status: v === null ? 500 : 200 }); } };`,
    kvNamespaces: { CLIENTS: "edge-token-clients-local" },
  }),
  "js-issuer": () => ({
    scriptPath: path.join(root, "bench", "js-issuer", "index.mjs"),
    ...issuerEnv({ issuer: process.env.ISSUER ?? "http://127.0.0.1", signingKeys: process.env.SIGNING_KEYS }),
  }),
  "rust-floor": () => RUST_FLOOR,
}[which]?.();
if (!worker || !port) {
  console.error("usage: node bench/coldstart.mjs edge|floor|kv-floor|js-issuer|rust-floor PORT [STATE_DIR]");
  process.exit(2);
}
const mf = new Miniflare({
  host: "127.0.0.1",
  port: 0,
  kvPersist: stateDir ? path.join(path.resolve(stateDir), "v3", "kv") : path.join(os.tmpdir(), `edge-token-cold-${process.pid}`),
  workers: [{ name: which, modules: true, compatibilityDate, ...worker, ...directSocket(port) }],
});
await serveUntilSignal(mf);
