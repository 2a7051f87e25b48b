// The JS half of the issuer's adapter, without the wasm: reading the request
// body within its bounds, calling the wasm `handle` (given, so that tests can
// stand in for it) and turning what it answers into the Response, a 500 when
// anything on the way fails. entry.mjs uses these; wire.test.mjs tests them
// on Node's own Request (`node --test`).

// What became of the body: the `body_state` argument of the wasm `handle`
// (crates/edge-token-worker/src/entry.rs has the same numbers).
export const BODY_READ = 0;
export const BODY_TOO_LARGE = 1;
export const BODY_TIMED_OUT = 2;
export const BODY_UNREADABLE = 3;

const EMPTY = new Uint8Array(0);

// A promise of what `next(state, bytes)` answers: `next` gets the whole
// body, at most `maxBytes` long, or why not (the BODY_ states), within
// `timeoutMs` (one timer for the whole read, cleared as soon as the read
// ends; at the deadline `next` gets BODY_TIMED_OUT and the read is left to
// the runtime to drop with the request). A declared Content-Length over the
// bound is refused before reading; a declared one within it is read in one
// arrayBuffer() (the runtime reads such a body to the length declared).
// With a Transfer-Encoding, though, the runtime reads the body as chunked,
// to its end, whatever Content-Length says (and shows the Worker both): that
// body, like one without a length, is read chunk by chunk and refused as
// soon as it passes the bound. Plain promise chains, no async functions, and
// `next` called from the read's own reaction: each await or extra `then`
// costs the runtime microtasks on every request.
export function readBody(request, maxBytes, timeoutMs, next) {
  const headers = request.headers;
  const declared = headers.get("transfer-encoding") === null ? declaredLength(headers.get("content-length")) : NaN;
  if (declared > maxBytes) return Promise.resolve(next(BODY_TOO_LARGE, EMPTY));
  return new Promise((resolve, reject) => {
    let timer = 0;
    const finish = (state, bytes) => {
      if (timer === -1) return;
      clearTimeout(timer);
      timer = -1;
      try {
        resolve(next(state, bytes));
      } catch (e) {
        reject(e);
      }
    };
    timer = setTimeout(finish, timeoutMs, BODY_TIMED_OUT, EMPTY);
    if (Number.isNaN(declared)) {
      readStream(request, maxBytes).then(([state, bytes]) => finish(state, bytes));
      return;
    }
    let read;
    try {
      read = request.arrayBuffer();
    } catch {
      // a body already read or locked
      finish(BODY_UNREADABLE, EMPTY);
      return;
    }
    read.then(
      (buffer) => (buffer.byteLength <= maxBytes ? finish(BODY_READ, new Uint8Array(buffer)) : finish(BODY_TOO_LARGE, EMPTY)),
      () => finish(BODY_UNREADABLE, EMPTY),
    );
  });
}

// The Content-Length value as a number, or NaN when absent or not a decimal
// number (then the stream is read and bounded instead).
export function declaredLength(value) {
  if (value === null) return NaN;
  const text = value.trim();
  return /^\+?[0-9]+$/.test(text) ? Number(text) : NaN;
}

async function readStream(request, maxBytes) {
  if (request.body === null) return [BODY_READ, EMPTY];
  try {
    const reader = request.body.getReader();
    const chunks = [];
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        reader.cancel().catch(() => {});
        return [BODY_TOO_LARGE, EMPTY];
      }
      chunks.push(value);
    }
    if (chunks.length === 1) return [BODY_READ, chunks[0]];
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, at);
      at += chunk.byteLength;
    }
    return [BODY_READ, bytes];
  } catch {
    return [BODY_UNREADABLE, EMPTY];
  }
}

// The values of the request headers `names`, one per line, a missing one as
// "\0" (no header value holds a line break or a NUL): one string for wasm.
export function headerValues(headers, names) {
  let out = "";
  for (let i = 0; i < names.length; i++) {
    const value = headers.get(names[i]);
    out += (i === 0 ? "" : "\n") + (value === null ? "\0" : value);
  }
  return out;
}

// The Response of what `handle` answered (see `unpack`), and its log line.
// Its headers come from a Headers object made once per distinct header
// block (a token response, each error kind...): building a Headers from
// strings on every request costs more than the Response copying a ready one.
export function toResponse(packed) {
  return responseOf(unpack(packed));
}

function responseOf({ status, log, block, body }) {
  const headers = headersOf(block);
  const response = new Response(body, { status, headers });
  // A string body brings a text/plain Content-Type unless one is given:
  // an answer without one gets none.
  if (!typed.has(headers)) response.headers.delete("content-type");
  return { response, status, log };
}

// The Headers of a header block ("name:value" lines), kept for the next
// response with the same block; at most HEADERS_KEPT blocks are kept (a
// block with a changing value, such as Retry-After, is rebuilt).
const HEADERS_KEPT = 64;
const kept = new Map();
// The Headers made here that hold a Content-Type.
const typed = new WeakSet();
export function headersOf(block) {
  let headers = kept.get(block);
  if (headers === undefined) {
    headers = new Headers();
    if (block !== "") {
      for (const line of block.split("\n")) {
        const colon = line.indexOf(":");
        headers.append(line.slice(0, colon), line.slice(colon + 1));
      }
    }
    if (headers.has("content-type")) typed.add(headers);
    if (kept.size < HEADERS_KEPT) kept.set(block, headers);
  }
  return headers;
}

// What `handle` answers, "status\nlog line\nname:value\n...\n\nbody" (see
// `pack` in answer.rs), as { status, log, block: the header lines, body,
// sign }. `sign` is null, or, when the first line is "status start end
// len", the signature the wasm left to this side: [start, end, len], the
// body's signing input body.slice(start, end), followed by "." and the len
// placeholder characters its base64url replaces.
export function unpack(packed) {
  const a = packed.indexOf("\n");
  const b = packed.indexOf("\n", a + 1);
  if (a < 0 || b < 0) throw new Error("malformed answer from wasm");
  const first = packed.slice(0, a);
  const space = first.indexOf(" ");
  const status = Number(space < 0 ? first : first.slice(0, space));
  const sign = space < 0 ? null : first.slice(space + 1).split(" ").map(Number);
  if (sign !== null && (sign.length !== 3 || !sign.every(Number.isSafeInteger))) throw new Error("malformed answer from wasm");
  const log = packed.slice(a + 1, b);
  // No headers: the blank line comes right after the log line.
  if (packed.startsWith("\n", b + 1)) return { status, log, block: "", body: packed.slice(b + 2), sign };
  const end = packed.indexOf("\n\n", b + 1);
  if (end < 0) throw new Error("malformed answer from wasm");
  return { status, log, block: packed.slice(b + 1, end), body: packed.slice(end + 2), sign };
}

// Unpadded base64url of bytes (RFC 7515 §2), by the runtime's
// Uint8Array.prototype.toBase64 where it has one (workerd), else by hand.
export function base64url(bytes) {
  if (typeof bytes.toBase64 === "function") return bytes.toBase64({ alphabet: "base64url", omitPadding: true });
  return base64urlByHand(bytes);
}
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
export function base64urlByHand(bytes) {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63] + ALPHABET[n & 63];
  }
  if (i + 1 === bytes.length) {
    const n = bytes[i] << 16;
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63];
  } else if (i + 2 === bytes.length) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63];
  }
  return out;
}

const encoder = new TextEncoder();

// The answer with its deferred signature made: `sign(params, key, data)`
// (crypto.subtle.sign) with `signingKey()`'s [key, params], its base64url
// put in the placeholder's place. A promise of the unpacked answer.
function withSignature(answer, signingKey, sign) {
  const [start, end, len] = answer.sign;
  const body = answer.body;
  if (end < start || end + 1 + len > body.length || body[end] !== ".") throw new Error("malformed deferred signature from wasm");
  const pair = signingKey();
  if (!Array.isArray(pair)) throw new Error("deferred signature without an imported signing key");
  return Promise.resolve(sign(pair[1], pair[0], encoder.encode(body.slice(start, end)))).then((signature) => {
    const text = base64url(new Uint8Array(signature));
    if (text.length !== len) throw new Error(`signature of ${signature.byteLength} bytes where ${len} base64url characters were left`);
    return { ...answer, body: body.slice(0, end + 1) + text + body.slice(end + 1 + len), sign: null };
  });
}

// The deferred-signature path once, on a made-up answer, with the
// isolate's real key: at start-up (global scope allows Web Crypto's sign),
// so that V8 compiles unpacking a "status start end len" answer, the
// signature's reaction, its base64url and the splice then, not in the
// isolate's first ES256/EdDSA token request. The signature signs the
// made-up input alone and is dropped. A promise of whether the path gave a
// signed body of the placeholder's length.
export function warmSignature(signingKey, sign) {
  // Not a token (no "."): the signature signs nothing a verifier accepts.
  const input = "edge-token-warm-up-not-a-token";
  const len = 86; // a 64-byte signature (ES256's r || s, Ed25519's), base64url
  const placeholder = "A".repeat(len);
  const body = `{"access_token":"${input}.${placeholder}"}`;
  const start = body.indexOf(input);
  const end = start + input.length;
  const packed = `200 ${start} ${end} ${len}\n{}\ncontent-type:application/json\n\n${body}`;
  return withSignature(unpack(packed), signingKey, sign).then(
    (signed) => signed.sign === null && signed.body.length === body.length && signed.body.slice(end + 1, end + 1 + len) !== placeholder,
  );
}

// A trap in the wasm: a Rust panic (request paths are kept panic-free by
// lints), a wasm stack overflow, or a call into an instance a trap has ended.
export const isTrap = (e) =>
  e instanceof WebAssembly.RuntimeError ||
  (e instanceof RangeError && /call stack/i.test(e.message)) ||
  (e instanceof Error && e.message === "Module terminated");

const SERVER_ERROR = JSON.stringify({ error: "server_error", error_description: "internal error" });
const SERVER_ERROR_HEADERS = { "content-type": "application/json", "cache-control": "no-store" };

// The request path around the wasm: `answer(request, env, now, state, body)`
// calls `handle` (the wasm export) and answers its Response, or a Promise of
// one; `trap(error)` is told of errors the runtime reports (its "error" and
// "unhandledrejection" events), since a trap while the wasm runs a waiting
// request's task reaches no caller. A trap ends the instance: the requests
// still waiting on it get a 500 at once, and it is reset at once (`reset`:
// wasm-bindgen's __wbg_reset_state, so that no callback of the old instance
// runs against the new one); a reset that fails is tried again by the next
// request, which meanwhile gets a 500. Whatever throws on the way (the wasm,
// unpacking its answer, building the Response) becomes the 500 JSON error
// and an internal_error log line, never the runtime's own error page.
// A signature the wasm left to this side (see `unpack`) is made with
// `sign(params, key, data)` (crypto.subtle.sign) and `signingKey()` (the
// wasm's `signing_key`) before the Response is built and the line logged;
// if it fails, the answer is the 500. `log` is console-like (log, error).
export function answerer({ handle, reset, names, log, signingKey = () => undefined, sign = () => Promise.reject(new Error("no signer")) }) {
  // The instance trapped and is not reset yet.
  let broken = false;
  let resetting = false;
  // The settle functions of the requests whose answer is a Promise.
  const waiting = new Set();

  const serverError = (now, e) => {
    log.error(JSON.stringify({ event: "internal_error", ts: now, status: 500, cause: String(e && e.message) }));
    return new Response(SERVER_ERROR, { status: 500, headers: SERVER_ERROR_HEADERS });
  };

  function resetNow() {
    // A trap while resetting (reset runs wasm) is this reset's failure.
    if (resetting) return;
    resetting = true;
    try {
      reset();
      broken = false;
    } catch {
      broken = true;
    } finally {
      resetting = false;
    }
  }

  function trap(e) {
    if (!isTrap(e)) return false;
    broken = true;
    const settles = [...waiting];
    waiting.clear();
    for (const settle of settles) settle(e);
    resetNow();
    return true;
  }

  function built(answer, now) {
    try {
      const { response, status, log: line } = responseOf(answer);
      if (status >= 500) log.error(line);
      else log.log(line);
      return response;
    } catch (e) {
      return serverError(now, e);
    }
  }

  // The Response of what `handle` answered, or a Promise of it when a
  // signature is still to be made.
  function respond(packed, now) {
    let answer;
    try {
      answer = unpack(packed);
      if (answer.sign !== null) {
        return withSignature(answer, signingKey, sign).then(
          (signed) => built(signed, now),
          (e) => serverError(now, e),
        );
      }
    } catch (e) {
      return serverError(now, e);
    }
    return built(answer, now);
  }

  function answer(request, env, now, state, body) {
    if (broken) {
      resetNow();
      if (broken) return serverError(now, new Error("wasm instance not reset after a trap"));
    }
    let packed;
    try {
      packed = handle(request.method, request.url, headerValues(request.headers, names), state, body, env, now);
    } catch (e) {
      trap(e);
      return serverError(now, e);
    }
    if (typeof packed === "string") return respond(packed, now);
    return new Promise((resolve) => {
      const settle = (e) => resolve(serverError(now, e));
      waiting.add(settle);
      Promise.resolve(packed).then(
        (p) => {
          if (waiting.delete(settle)) resolve(respond(p, now));
        },
        (e) => {
          // A trap settles every waiting request, this one too.
          trap(e);
          if (waiting.delete(settle)) settle(e);
        },
      );
    });
  }

  return { answer, trap, waiting: () => waiting.size };
}
