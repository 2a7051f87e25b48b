// The issuer Worker's entry (issue 13): reads the request in JS, makes one
// call into the wasm (`handle` in src/entry.rs: the whole protocol, KV and
// the rate limiters through workers-rs), writes the log line and builds the
// Response in JS. scripts/build-worker.sh bundles it with wasm-bindgen's
// glue (./glue.js) into build/index.js.
import * as wasm from "./glue.js";
import { BODY_READ, headerValues, readBody, toResponse } from "./wire.mjs";

const HEADERS = wasm.request_headers().split("\n");
const [MAX_BODY_BYTES, BODY_TIMEOUT_MS] = wasm.body_limits();
const EMPTY = new Uint8Array(0);

// The request path once, on made-up data, while the module loads: V8
// compiles each wasm function on its first call, so that cost moves from
// the isolate's first request to its start (on Cloudflare, during the TLS
// handshake). Never fatal: the Worker works the same without it.
try {
  wasm.warm();
} catch {
  // a trap here is the next request's to report (the instance is reset)
}

// A trap in the wasm (a Rust panic; request paths are kept panic-free by
// lints) leaves its instance unusable: the next request gets a fresh one.
let trapped = false;
const isTrap = (e) => e instanceof WebAssembly.RuntimeError || (e instanceof Error && e.message === "Module terminated");
addEventListener("error", (event) => {
  if (isTrap(event.error)) trapped = true;
});

const SERVER_ERROR = JSON.stringify({ error: "server_error", error_description: "internal error" });

const serverError = (now, e) => {
  console.error(JSON.stringify({ event: "internal_error", ts: now, status: 500, cause: String(e && e.message) }));
  return new Response(SERVER_ERROR, { status: 500, headers: { "content-type": "application/json", "cache-control": "no-store" } });
};

// One request into the wasm and its answer out: a string when the wasm
// never waited on I/O (most requests), else a Promise of one.
function call(request, env, now, state, body) {
  if (trapped) {
    trapped = false;
    wasm.__wbg_reset_state();
  }
  let packed;
  try {
    packed = wasm.handle(request.method, request.url, headerValues(request.headers, HEADERS), state, body, env, now);
  } catch (e) {
    if (isTrap(e)) trapped = true;
    return serverError(now, e);
  }
  if (typeof packed === "string") return respond(packed);
  return packed.then(respond, (e) => {
    if (isTrap(e)) trapped = true;
    return serverError(now, e);
  });
}

function respond(packed) {
  const { response, status, log } = toResponse(packed);
  if (status >= 500) console.error(log);
  else console.log(log);
  return response;
}

// Plain functions and promise chains, no async/await: on the usual path
// (a POST whose record is cached) the only wait is the body read.
export default {
  fetch(request, env) {
    const now = Date.now();
    if (request.method !== "POST") return call(request, env, now, BODY_READ, EMPTY);
    return readBody(request, MAX_BODY_BYTES, BODY_TIMEOUT_MS).then(([state, body]) => call(request, env, now, state, body));
  },
};
