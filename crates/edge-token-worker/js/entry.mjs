// The issuer Worker's entry (issue 13): reads the request in JS, makes one
// call into the wasm (`handle` in src/entry.rs: the whole protocol, KV and
// the rate limiters through workers-rs), writes the log line and builds the
// Response in JS. scripts/build-worker.sh bundles it with wasm-bindgen's
// glue (./glue.js) into build/index.js.
import * as wasm from "./glue.js";
import { BODY_READ, headerValues, readBody, unpack } from "./wire.mjs";

const HEADERS = wasm.request_headers().split("\n");
const [MAX_BODY_BYTES, BODY_TIMEOUT_MS] = wasm.body_limits();
const EMPTY = new Uint8Array(0);

// A trap in the wasm (a Rust panic; request paths are kept panic-free by
// lints) leaves its instance unusable: the next request gets a fresh one.
let trapped = false;
const isTrap = (e) => e instanceof WebAssembly.RuntimeError || (e instanceof Error && e.message === "Module terminated");
addEventListener("error", (event) => {
  if (isTrap(event.error)) trapped = true;
});

const SERVER_ERROR = JSON.stringify({ error: "server_error", error_description: "internal error" });

export default {
  async fetch(request, env) {
    const now = Date.now();
    const method = request.method;
    let state = BODY_READ;
    let body = EMPTY;
    if (method === "POST") [state, body] = await readBody(request, MAX_BODY_BYTES, BODY_TIMEOUT_MS);
    if (trapped) {
      trapped = false;
      wasm.__wbg_reset_state();
    }
    let answer;
    try {
      // A string when the wasm never waited on I/O, else a Promise of one.
      let packed = wasm.handle(method, request.url, headerValues(request.headers, HEADERS), state, body, env, now);
      if (typeof packed !== "string") packed = await packed;
      answer = unpack(packed);
    } catch (e) {
      if (isTrap(e)) trapped = true;
      console.error(JSON.stringify({ event: "internal_error", ts: now, status: 500, cause: String(e && e.message) }));
      return new Response(SERVER_ERROR, { status: 500, headers: { "content-type": "application/json", "cache-control": "no-store" } });
    }
    if (answer.status >= 500) console.error(answer.log);
    else console.log(answer.log);
    return new Response(answer.body, { status: answer.status, headers: answer.headers });
  },
};
