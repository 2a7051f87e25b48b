// One fresh workerd (through Miniflare's API, direct socket: no Node proxy in
// the request path) serving a single Worker, with the V8 inspector on
// INSPECTOR_PORT, for bench/profile.mjs. It runs as a child of profile.mjs so
// that the process hosting Miniflare never waits on the load generator or the
// inspector connection.
//
// usage: PROFILE_SERVE='{"worker","port","inspectorPort","build","state"}' [SIGNING_KEYS=...] node bench/profile-serve.mjs
//   (inspectorPort 0 or absent: no inspector; "relayLogs": true relays workerd's stdout)
//   worker: "edge" (the issuer built into `build`, a directory relative to the
//           repository; KV namespaces CLIENTS/REVOCATIONS persisted in
//           state/v3/kv, the layout `edge-token client create --persist-to` writes),
//           "rust-floor" (bench/rust-floor/build) or "floor" (the constant-200 JS Worker);
//           on both floors GET /log also writes one console line.
// The edge Worker's configuration is bench/serve.mjs's. Prints "ready" on
// stdout when workerd accepts connections; stops on SIGTERM/SIGINT.
import { Miniflare } from "miniflare";
import path from "node:path";

const cfg = JSON.parse(process.env.PROFILE_SERVE ?? "{}");
if (!cfg.worker || !cfg.port || !cfg.state) {
  console.error("usage: PROFILE_SERVE='{\"worker\",\"port\",\"inspectorPort\",\"build\",\"state\"}' node bench/profile-serve.mjs");
  process.exit(2);
}
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const compatibilityDate = "2026-04-01";
const socket = { unsafeDirectSockets: [{ host: "127.0.0.1", port: Number(cfg.port) }] };

let worker;
if (cfg.worker === "edge") {
  if (!process.env.SIGNING_KEYS) {
    console.error("profile-serve: SIGNING_KEYS is required for the edge Worker");
    process.exit(2);
  }
  worker = {
    name: "edge-token",
    scriptPath: path.join(root, cfg.build ?? "build", "index.js"),
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    kvNamespaces: { CLIENTS: "edge-token-clients-local", REVOCATIONS: "edge-token-revocations-local" },
    bindings: {
      ISSUER: `http://127.0.0.1:${cfg.port}`,
      SIGNING_KEYS: process.env.SIGNING_KEYS,
      REQUIRE_HTTPS: "false",
      DEFAULT_AUDIENCE: "https://api.example.com",
      TOKEN_TTL: "300",
      KV_CACHE_TTL: "60",
    },
  };
} else if (cfg.worker === "rust-floor") {
  worker = {
    name: "rust-floor",
    scriptPath: path.join(root, "bench", "rust-floor", "build", "index.js"),
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
  };
} else if (cfg.worker === "floor") {
  // GET /log also writes one console line (bench/serve.mjs's floor).
  worker = {
    name: "floor",
    script:
      'export default { fetch(req) { if (req.url.endsWith("/log")) console.log(\'{"event":"floor","status":200}\'); return new Response("ok"); } };',
  };
} else {
  console.error(`profile-serve: unknown worker ${cfg.worker}`);
  process.exit(2);
}

const mf = new Miniflare({
  host: "127.0.0.1",
  port: 0,
  // workerd's own inspector (--inspector-addr), no Miniflare inspector proxy;
  // none without inspectorPort.
  ...(cfg.inspectorPort ? { inspectorPort: Number(cfg.inspectorPort) } : {}),
  kvPersist: path.join(path.resolve(cfg.state), "v3", "kv"),
  // workerd's stdout (the Worker's console lines) is read and dropped here,
  // unless relayLogs: then Miniflare pipes it on to this process's stdout, as
  // with bench/serve.mjs (one more pipe hop to a busy Node reader, which a
  // log line may wait on). stderr is always relayed.
  ...(cfg.relayLogs
    ? {}
    : {
        handleRuntimeStdio: (stdout, stderr) => {
          stdout.resume();
          stderr.pipe(process.stderr);
        },
      }),
  workers: [{ modules: true, compatibilityDate, ...worker, ...socket }],
});
await mf.ready;
console.log("ready");
const stop = async () => {
  await mf.dispose();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
