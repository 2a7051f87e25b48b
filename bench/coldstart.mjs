// One fresh workerd serving only edge-token ("edge") or only the constant
// JS Worker ("floor") on PORT; prints "ready" when it accepts requests.
import { Miniflare } from "miniflare";
import os from "node:os";
import path from "node:path";

const [which, port] = process.argv.slice(2);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const worker =
  which === "edge"
    ? {
        scriptPath: path.join(root, "build", "index.js"),
        modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
        kvNamespaces: { CLIENTS: "bench-cold", REVOCATIONS: "bench-cold-revocations" },
        bindings: { ISSUER: "http://127.0.0.1", SIGNING_KEYS: process.env.SIGNING_KEYS, REQUIRE_HTTPS: "false" },
      }
    : { script: 'export default { fetch() { return new Response("ok"); } };' };
const mf = new Miniflare({
  host: "127.0.0.1",
  port: 0,
  kvPersist: path.join(os.tmpdir(), `edge-token-cold-${process.pid}`),
  workers: [{ name: which, modules: true, compatibilityDate: "2026-04-01", ...worker, unsafeDirectSockets: [{ host: "127.0.0.1", port: Number(port) }] }],
});
await mf.ready;
console.log("ready");
process.on("SIGTERM", async () => {
  await mf.dispose();
  process.exit(0);
});
