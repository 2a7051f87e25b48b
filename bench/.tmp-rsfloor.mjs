import { Miniflare } from "miniflare";
const mf = new Miniflare({ host: "127.0.0.1", port: 0, workers: [
 { name: "rs", modules: true, scriptPath: "target/rsfloor-build/index.js", modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }], compatibilityDate: "2026-04-01", unsafeDirectSockets: [{ host: "127.0.0.1", port: 31021 }] },
]});
await mf.ready; console.log("ready");
