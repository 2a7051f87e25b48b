// The JS half of the issuer's adapter, without the wasm: reading the request
// body within its bounds, and turning what the wasm `handle` answers back
// into its parts. entry.mjs uses both; wire.test.mjs tests them on Node's
// own Request (`node --test`).

// What became of the body: the `body_state` argument of the wasm `handle`
// (crates/edge-token-worker/src/entry.rs has the same numbers).
export const BODY_READ = 0;
export const BODY_TOO_LARGE = 1;
export const BODY_TIMED_OUT = 2;
export const BODY_UNREADABLE = 3;

const EMPTY = new Uint8Array(0);
const TIMED_OUT = [BODY_TIMED_OUT, EMPTY];

// A promise of [state, bytes]: the whole body, at most `maxBytes` long, or
// why not, within `timeoutMs` (one timer for the whole read, cleared as
// soon as the read ends). A declared Content-Length over the bound is
// refused before reading; a declared one within it is read in one
// arrayBuffer() (the runtime holds the body to the length declared);
// without one the stream is read chunk by chunk and cancelled as soon as it
// passes the bound. Plain promise chains, no async functions: each await of
// those costs the runtime microtasks on every request.
export function readBody(request, maxBytes, timeoutMs) {
  const declared = declaredLength(request.headers.get("content-length"));
  if (declared > maxBytes) return Promise.resolve([BODY_TOO_LARGE, EMPTY]);
  let timer;
  const read = (Number.isNaN(declared) ? readStream(request, maxBytes) : readDeclared(request, maxBytes)).then(
    (result) => {
      clearTimeout(timer);
      return result;
    },
  );
  const deadline = new Promise((resolve) => {
    timer = setTimeout(resolve, timeoutMs, TIMED_OUT);
  });
  return Promise.race([read, deadline]);
}

function readDeclared(request, maxBytes) {
  return request.arrayBuffer().then(
    (buffer) => (buffer.byteLength <= maxBytes ? [BODY_READ, new Uint8Array(buffer)] : [BODY_TOO_LARGE, EMPTY]),
    () => [BODY_UNREADABLE, EMPTY],
  );
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
  const { status, log, block, body } = unpack(packed);
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
// `pack` in entry.rs), as { status, log, block: the header lines, body }.
export function unpack(packed) {
  const a = packed.indexOf("\n");
  const b = packed.indexOf("\n", a + 1);
  if (a < 0 || b < 0) throw new Error("malformed answer from wasm");
  const status = Number(packed.slice(0, a));
  const log = packed.slice(a + 1, b);
  // No headers: the blank line comes right after the log line.
  if (packed.startsWith("\n", b + 1)) return { status, log, block: "", body: packed.slice(b + 2) };
  const end = packed.indexOf("\n\n", b + 1);
  if (end < 0) throw new Error("malformed answer from wasm");
  return { status, log, block: packed.slice(b + 1, end), body: packed.slice(end + 2) };
}
