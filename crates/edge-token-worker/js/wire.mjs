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

// [state, bytes]: the whole body, at most `maxBytes` long, or why not,
// within `timeoutMs` (one timer for the whole read, cleared at once). A
// declared Content-Length over the bound is refused before reading; a
// declared one within it is read in one arrayBuffer() (the runtime holds
// the body to the length declared); without one the stream is read chunk by
// chunk and cancelled as soon as it passes the bound.
export async function readBody(request, maxBytes, timeoutMs) {
  let timer;
  const deadline = new Promise((resolve) => {
    timer = setTimeout(resolve, timeoutMs, TIMED_OUT);
  });
  try {
    return await Promise.race([readAll(request, maxBytes), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

// The Content-Length value as a number, or NaN when absent or not a decimal
// number (then the stream is read and bounded instead).
export function declaredLength(value) {
  if (value === null) return NaN;
  const text = value.trim();
  return /^\+?[0-9]+$/.test(text) ? Number(text) : NaN;
}

async function readAll(request, maxBytes) {
  const declared = declaredLength(request.headers.get("content-length"));
  if (declared > maxBytes) return [BODY_TOO_LARGE, EMPTY];
  try {
    if (!Number.isNaN(declared)) {
      const bytes = new Uint8Array(await request.arrayBuffer());
      return bytes.byteLength <= maxBytes ? [BODY_READ, bytes] : [BODY_TOO_LARGE, EMPTY];
    }
    if (request.body === null) return [BODY_READ, EMPTY];
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

// What `handle` answers, "status\nlog line\nname:value\n...\n\nbody" (see
// `pack` in entry.rs), as { status, log, headers: [[name, value]], body }.
export function unpack(packed) {
  const a = packed.indexOf("\n");
  const b = packed.indexOf("\n", a + 1);
  if (a < 0 || b < 0) throw new Error("malformed answer from wasm");
  const status = Number(packed.slice(0, a));
  const log = packed.slice(a + 1, b);
  const headers = [];
  let i = b + 1;
  for (;;) {
    const end = packed.indexOf("\n", i);
    if (end < 0) throw new Error("malformed answer from wasm");
    if (end === i) {
      i++;
      break;
    }
    const colon = packed.indexOf(":", i);
    headers.push([packed.slice(i, colon), packed.slice(colon + 1, end)]);
    i = end + 1;
  }
  return { status, log, headers, body: packed.slice(i) };
}
