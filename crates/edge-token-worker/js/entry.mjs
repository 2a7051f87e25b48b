// The issuer Worker's entry (issue 13): reads the request in JS, makes one
// call into the wasm (`handle` in src/entry.rs: the whole protocol, which
// calls KV and the rate limiters itself, src/kv.rs), writes the log line
// and builds the Response in JS. scripts/build-worker.sh bundles it with
// wasm-bindgen's glue (./glue.js) into build/index.js.
import { env } from "cloudflare:workers";
import * as wasm from "./glue.js";
import { BODY_READ, answerer, readBody, warmSignature } from "./wire.mjs";

const HEADERS = wasm.request_headers().split("\n");
const [MAX_BODY_BYTES, BODY_TIMEOUT_MS] = wasm.body_limits();
const EMPTY = new Uint8Array(0);

// wasm-bindgen's task queue (behind each request that waits on I/O)
// schedules its runs with queueMicrotask when the global has it, else with a
// then() on a resolved Promise, which workerd runs for less: the queue is
// made here, per instance, with queueMicrotask out of its sight. Never
// fatal: where the global cannot be hidden, the queue uses queueMicrotask.
function startTasks() {
  const queueMicrotask = globalThis.queueMicrotask;
  let hidden = false;
  try {
    globalThis.queueMicrotask = undefined;
    hidden = true;
  } catch {
    // not writable here
  }
  try {
    wasm.start_tasks();
  } catch (e) {
    trap(e);
  }
  if (hidden) globalThis.queueMicrotask = queueMicrotask;
}

// [CryptoKey, sign() parameters] of the wasm's imported signing key.
let importedKey;
// The ES256/EdDSA signatures the wasm leaves to this side once it has
// imported the key (none in a rust-signer build). The key is the isolate's
// (fixed with its configuration): asked of the wasm once, and again after
// a reset.
const signingKey = () => (importedKey ??= typeof wasm.signing_key === "function" ? wasm.signing_key() : undefined);
const sign = (params, key, data) => crypto.subtle.sign(params, key, data);
const { answer, trap } = answerer({
  handle: wasm.handle,
  reset: () => {
    importedKey = undefined;
    wasm.__wbg_reset_state();
    startTasks();
  },
  names: HEADERS,
  log: console,
  signingKey,
  sign,
});
addEventListener("error", (event) => trap(event.error));
addEventListener("unhandledrejection", (event) => trap(event.reason));
startTasks();

// The request path once, on made-up data, while the module loads: V8
// compiles each wasm function (and the JS glue it calls) on its first call, so
// that cost moves from the isolate's first request to its start (on
// Cloudflare, during the TLS handshake). The wasm's `serve` runs three
// requests on made-up bindings (src/warm.rs): its vars, and a KV that
// answers at once with its one client record (global scope has no I/O).
// Never fatal: the Worker works the same without it (after a trap here, the
// first request resets the instance).
function warmEnv() {
  // Name and value on alternate lines; CLIENTS: the record its KV answers.
  const lines = wasm.warm_bindings().split("\n");
  const vars = {};
  for (let i = 0; i + 1 < lines.length; i += 2) vars[lines[i]] = lines[i + 1];
  const record = vars.CLIENTS;
  const resolve = (value) => () => Promise.resolve(value);
  // The two KV methods the wasm calls (src/kv.rs).
  const kv = (value) => ({ get: resolve(value), put: resolve(undefined) });
  return { ...vars, CLIENTS: kv(record), REVOCATIONS: kv(null) };
}
let warming;
try {
  warming = Promise.resolve(wasm.warm(warmEnv()));
} catch (e) {
  warming = Promise.reject(e);
}
// Then, on the Worker's own bindings (`env` of cloudflare:workers, the
// same as each request's): a valid configuration kept as the isolate's, and
// an ES256/EdDSA signing key imported into Web Crypto (and checked), which
// the first request would otherwise do (src/entry.rs, `prepare`). Never
// fatal either: on "error" (an invalid or empty env here: nothing is kept)
// the first request does it.
let preparing;
try {
  preparing = Promise.resolve(wasm.prepare(env));
} catch (e) {
  preparing = Promise.reject(e);
}
// With a key imported, the deferred-signature path runs once on a made-up
// answer (wire.mjs, warmSignature): the JS half of an ES256/EdDSA token
// request that the wasm's warm-up cannot reach.
// Then one log line (docs/logs.md): whether the warm-up covered the request
// path, and what became of the signing key. Written with the very call each
// request makes (one string), because workerd compiles its console.log path
// on the first call, about 4 ms (BENCHMARKS.md): at start-up, not in the
// first request.
const failed = (e) => {
  trap(e);
  return "error";
};
const keyOutcome = (key) => (typeof key === "string" ? key : "error");
const unwarmed = (e) => {
  failed(e);
  return false;
};
function signatureWarmed(key) {
  if (key !== "imported") return true;
  try {
    return warmSignature(signingKey, sign).catch(unwarmed);
  } catch (e) {
    return unwarmed(e);
  }
}
const prepared = preparing.then(keyOutcome, failed);
Promise.all([warming.then((good) => (good === 3 ? "ok" : "error"), failed), prepared, prepared.then(signatureWarmed)]).then(([outcome, key, signature]) =>
  console.log(JSON.stringify({ event: "isolate_start", outcome: signature ? outcome : "error", signing_key: key })),
);

// Plain functions and promise chains, no async/await: on the usual path
// (a POST whose record is cached) the only wait is the body read, and the
// wasm is called from its reaction.
export default {
  fetch(request, env) {
    const now = Date.now();
    if (request.method !== "POST") return answer(request, env, now, BODY_READ, EMPTY);
    return readBody(request, MAX_BODY_BYTES, BODY_TIMEOUT_MS, (state, body) => answer(request, env, now, state, body));
  },
};
