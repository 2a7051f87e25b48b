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
import { FLOOR_SCRIPT, RUST_FLOOR, compatibilityDate, directSocket, edgeTokenWorker, serveUntilSignal } from "./lib.mjs";

const cfg = JSON.parse(process.env.PROFILE_SERVE ?? "{}");
if (!cfg.worker || !cfg.port || !cfg.state) {
  console.error("usage: PROFILE_SERVE='{\"worker\",\"port\",\"inspectorPort\",\"build\",\"state\"}' node bench/profile-serve.mjs");
  process.exit(2);
}
if (cfg.worker === "edge" && !process.env.SIGNING_KEYS) {
  console.error("profile-serve: SIGNING_KEYS is required for the edge Worker");
  process.exit(2);
}
const worker = {
  edge: () => edgeTokenWorker({ build: cfg.build, issuer: `http://127.0.0.1:${cfg.port}`, signingKeys: process.env.SIGNING_KEYS }),
  "rust-floor": () => RUST_FLOOR,
  floor: () => ({ name: "floor", modules: true, script: FLOOR_SCRIPT, compatibilityDate }),
}[cfg.worker]?.();
if (!worker) {
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
  workers: [{ ...worker, ...directSocket(cfg.port) }],
});
await serveUntilSignal(mf);
