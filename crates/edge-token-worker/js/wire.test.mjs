// Tests of the JS entry's wire helpers (wire.mjs) on Node's own Request and
// streams: `node --test crates/edge-token-worker/js/` (make unit runs it).
// The Worker as a whole, on workerd, is what the e2e tests drive.
import assert from "node:assert/strict";
import test from "node:test";
import {
  BODY_READ,
  BODY_TIMED_OUT,
  BODY_TOO_LARGE,
  BODY_UNREADABLE,
  answerer,
  base64url,
  base64urlByHand,
  declaredLength,
  headerValues,
  headersOf,
  readBody as readBodyThen,
  toResponse,
  unpack,
  warmSignature,
} from "./wire.mjs";

const MAX = 16;
// readBody with a `next` that answers what it was given.
const readBody = (request, max, ms) => readBodyThen(request, max, ms, (state, bytes) => [state, bytes]);
const post = (body, headers = {}) => new Request("https://issuer.example/oauth2/token", { method: "POST", body, headers, duplex: "half" });
const text = (bytes) => new TextDecoder().decode(bytes);

// A streamed body (no Content-Length) of `chunks`, then `end`: "close",
// "error", or "stall" (never ends).
function streamed(chunks, end = "close") {
  let i = 0;
  const stream = new ReadableStream({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(new TextEncoder().encode(chunks[i++]));
      else if (end === "close") controller.close();
      else if (end === "error") controller.error(new Error("connection reset"));
      else return new Promise(() => {});
    },
  });
  return post(stream);
}

test("a declared body within the bound is read whole", async () => {
  const [state, bytes] = await readBody(post("grant_type=x"), MAX, 1000);
  assert.equal(state, BODY_READ);
  assert.equal(text(bytes), "grant_type=x");
});

test("a body of exactly the bound is read; one byte more is too large", async () => {
  assert.equal((await readBody(post("a".repeat(MAX)), MAX, 1000))[0], BODY_READ);
  assert.equal((await readBody(post("a".repeat(MAX + 1)), MAX, 1000))[0], BODY_TOO_LARGE);
});

test("a declared length over the bound is refused before any read", async () => {
  const stream = new ReadableStream({ pull: () => new Promise(() => {}) });
  const req = post(stream, { "content-length": String(MAX + 1) });
  const [state] = await readBody(req, MAX, 1000);
  assert.equal(state, BODY_TOO_LARGE);
  assert.equal(req.bodyUsed, false);
  assert.equal(req.body.locked, false);
});

test("a Content-Length with a Transfer-Encoding is not trusted: the body is bounded as it streams", async () => {
  // What workerd does with such a request: reads it as chunked, to its
  // end, and shows both headers (seen on a direct socket).
  const chunks = new ReadableStream({
    start(controller) {
      for (let i = 0; i < 20; i++) controller.enqueue(new Uint8Array(4));
    },
    pull: () => new Promise(() => {}),
  });
  const req = post(chunks, { "content-length": "5", "transfer-encoding": "chunked" });
  const t0 = Date.now();
  const [state] = await readBody(req, MAX, 3000);
  assert.equal(state, BODY_TOO_LARGE);
  assert.ok(Date.now() - t0 < 1000, "refused at the bound, not at the deadline");
});

test("a body already used is unreadable, and next still comes once", async () => {
  const req = post("abc");
  await req.text();
  const seen = [];
  await readBodyThen(req, MAX, 1000, (state) => seen.push(state));
  assert.deepEqual(seen, [BODY_UNREADABLE]);
});

test("next is called once, from the read; what it throws rejects", async () => {
  let calls = 0;
  const out = await readBodyThen(post("abc"), MAX, 1000, (state, bytes) => (calls++, text(bytes)));
  assert.equal(out, "abc");
  assert.equal(calls, 1);
  await assert.rejects(readBodyThen(post("abc"), MAX, 1000, () => {
    throw new Error("boom");
  }), /boom/);
  // The deadline and then the read: next once, with the deadline's state.
  const seen = [];
  await readBodyThen(streamed(["abc"], "stall"), MAX, 50, (state) => seen.push(state));
  assert.deepEqual(seen, [BODY_TIMED_OUT]);
});

test("a streamed body is read chunk by chunk, joined, and bounded as it streams", async () => {
  const [state, bytes] = await readBody(streamed(["grant_", "type=", "x"]), MAX, 1000);
  assert.equal(state, BODY_READ);
  assert.equal(text(bytes), "grant_type=x");
  // Past the bound mid-stream: refused without waiting for an end that never comes.
  assert.equal((await readBody(streamed(["a".repeat(10), "b".repeat(10)], "stall"), MAX, 5000))[0], BODY_TOO_LARGE);
});

test("an empty or absent body reads as empty", async () => {
  for (const req of [post(""), new Request("https://issuer.example/oauth2/token", { method: "POST" }), streamed([])]) {
    const [state, bytes] = await readBody(req, MAX, 1000);
    assert.equal(state, BODY_READ);
    assert.equal(bytes.byteLength, 0);
  }
});

test("a stream that fails is unreadable", async () => {
  assert.equal((await readBody(streamed(["abc"], "error"), MAX, 1000))[0], BODY_UNREADABLE);
});

test("a body that never ends times out after the bound, not later", async () => {
  const t0 = Date.now();
  const [state] = await readBody(streamed(["abc"], "stall"), MAX, 200);
  const took = Date.now() - t0;
  assert.equal(state, BODY_TIMED_OUT);
  assert.ok(took >= 150 && took < 2000, `took ${took} ms`);
});

test("Content-Length is a decimal number or ignored", () => {
  assert.equal(declaredLength("12"), 12);
  assert.equal(declaredLength(" 12 "), 12);
  assert.equal(declaredLength("99999999999999999999"), 1e20);
  for (const v of [null, "", "-1", "1e3", "0x10", "12, 12", "abc"]) assert.ok(Number.isNaN(declaredLength(v)), String(v));
});

test("header values cross as one string, a missing one as NUL", () => {
  const h = new Headers({ authorization: "Basic YTpi", "cf-ray": "8f-LHR" });
  assert.equal(headerValues(h, ["authorization", "content-type", "cf-ray"]), "Basic YTpi\n\0\n8f-LHR");
  assert.equal(headerValues(new Headers(), ["a"]), "\0");
});

test("unpack splits status, log line, header block and body", () => {
  const body = '{"error":"invalid_client","x":"a:b\\nc"}';
  const packed = `401\n{"event":"token"}\ncontent-type:application/json\nwww-authenticate:Basic realm="edge-token", charset="UTF-8"\n\n${body}`;
  assert.deepEqual(unpack(packed), {
    status: 401,
    log: '{"event":"token"}',
    block: 'content-type:application/json\nwww-authenticate:Basic realm="edge-token", charset="UTF-8"',
    body,
    sign: null,
  });
  // No headers; a body with line breaks; an empty body.
  assert.deepEqual(unpack("200\n{}\n\nline 1\n\nline 2"), { status: 200, log: "{}", block: "", body: "line 1\n\nline 2", sign: null });
  assert.deepEqual(unpack("204\n{}\nallow:POST\n\n"), { status: 204, log: "{}", block: "allow:POST", body: "", sign: null });
  // A deferred signature on the first line.
  assert.deepEqual(unpack("200 3 9 86\n{}\n\nbody").sign, [3, 9, 86]);
  assert.equal(unpack("200 3 9 86\n{}\n\nbody").status, 200);
  assert.throws(() => unpack("200 3 9\n{}\n\nbody"));
  assert.throws(() => unpack("200 3 x 86\n{}\n\nbody"));
  assert.throws(() => unpack("200"));
  assert.throws(() => unpack("200\n{}\ncontent-type:x"));
});

test("headersOf makes one Headers per header block and keeps it", () => {
  const h = headersOf("content-type:application/json\ncache-control:no-store\nx-a:b:c");
  assert.deepEqual([...h], [["cache-control", "no-store"], ["content-type", "application/json"], ["x-a", "b:c"]]);
  assert.equal(headersOf("content-type:application/json\ncache-control:no-store\nx-a:b:c"), h);
  assert.deepEqual([...headersOf("")], []);
  // Past the bound, blocks are still right, just not kept.
  for (let i = 0; i < 100; i++) assert.equal(headersOf(`retry-after:${i}`).get("retry-after"), String(i));
});

test("toResponse builds the Response: status, exactly the answer's headers, body", async () => {
  const ok = toResponse('200\n{"event":"token"}\ncontent-type:application/json\ncache-control:no-store\npragma:no-cache\n\n{"access_token":"x"}');
  assert.equal(ok.status, 200);
  assert.equal(ok.log, '{"event":"token"}');
  assert.equal(ok.response.status, 200);
  assert.deepEqual([...ok.response.headers], [
    ["cache-control", "no-store"],
    ["content-type", "application/json"],
    ["pragma", "no-cache"],
  ]);
  assert.equal(await ok.response.text(), '{"access_token":"x"}');
  const denied = toResponse('401\n{}\ncontent-type:application/json\nwww-authenticate:Basic realm="edge-token"\n\n{"error":"invalid_client"}');
  assert.equal(denied.response.status, 401);
  assert.equal(denied.response.headers.get("www-authenticate"), 'Basic realm="edge-token"');
  // No Content-Type in the answer: none on the wire (not the string body's text/plain default).
  const bare = toResponse("405\n{}\nallow:POST\n\n");
  assert.equal(bare.response.status, 405);
  assert.equal(bare.response.headers.get("content-type"), null);
  assert.equal(bare.response.headers.get("allow"), "POST");
});

// The answerer around a stand-in for the wasm `handle` (a real trap needs a
// panic on a request path, which the lints keep out): what it answers when
// the wasm answers, throws, traps now or traps later while a request waits.
function harness(handle, signer = {}) {
  const lines = { log: [], error: [] };
  let resets = 0;
  const log = { log: (l) => lines.log.push(l), error: (l) => lines.error.push(l) };
  const a = answerer({ handle, reset: () => resets++, names: ["authorization", "cf-ray"], log, ...signer });
  const get = () => new Request("https://issuer.example/.well-known/oauth-authorization-server", { headers: { "cf-ray": "1-LHR" } });
  return { ...a, lines, resets: () => resets, call: () => a.answer(get(), {}, 1000, BODY_READ, new Uint8Array(0)) };
}
const OK = "200\n{\"event\":\"metadata\"}\ncontent-type:application/json\n\n{}";
const isServerError = async (response) => {
  assert.equal(response.status, 500);
  assert.equal(response.headers.get("content-type"), "application/json");
  assert.equal(response.headers.get("cache-control"), "no-store");
  assert.deepEqual(await response.json(), { error: "server_error", error_description: "internal error" });
};

test("the answerer passes the request to handle and logs its line", async () => {
  let args;
  const h = harness((...a) => ((args = a), OK));
  const response = h.call();
  assert.ok(response instanceof Response, "a string answer is answered without a Promise");
  assert.equal(response.status, 200);
  assert.deepEqual(args.slice(0, 3), ["GET", "https://issuer.example/.well-known/oauth-authorization-server", "\0\n1-LHR"]);
  assert.equal(args[6], 1000);
  assert.deepEqual(h.lines.log, ['{"event":"metadata"}']);
  const later = await harness(() => Promise.resolve(OK)).call();
  assert.equal(later.status, 200);
});

test("a trap in handle is a 500 JSON error, and the instance is reset at once", async () => {
  let calls = 0;
  const h = harness(() => {
    calls++;
    if (calls === 1) throw new WebAssembly.RuntimeError("unreachable");
    return OK;
  });
  await isServerError(h.call());
  assert.match(h.lines.error[0], /"event":"internal_error".*"cause":"unreachable"/);
  assert.equal(h.resets(), 1);
  assert.equal(h.call().status, 200);
  assert.equal(h.call().status, 200);
  assert.equal(h.resets(), 1, "reset once per trap");
  // A wasm stack overflow is a trap too.
  const o = harness(() => {
    throw new RangeError("Maximum call stack size exceeded");
  });
  await isServerError(o.call());
  assert.equal(o.resets(), 1);
});

test("a reset that fails is a 500 until a later one succeeds", async () => {
  const lines = [];
  let failing = 2;
  let resets = 0;
  let calls = 0;
  const a = answerer({
    handle: () => {
      calls++;
      if (calls === 1) throw new WebAssembly.RuntimeError("unreachable");
      return OK;
    },
    reset: () => {
      resets++;
      if (failing-- > 0) throw new Error("reset failed");
    },
    names: [],
    log: { log: () => {}, error: (l) => lines.push(l) },
  });
  const get = () => a.answer(new Request("https://issuer.example/"), {}, 1, BODY_READ, new Uint8Array(0));
  await isServerError(get());
  assert.equal(resets, 1);
  // The next request tries again (and fails: a 500, the wasm not called).
  await isServerError(get());
  assert.equal(resets, 2);
  assert.equal(calls, 1);
  assert.equal(get().status, 200);
  assert.equal(resets, 3);
  assert.equal(calls, 2);
});

test("a trap while requests wait answers them all with a 500 at once", async () => {
  const h = harness(() => new Promise(() => {}));
  const [first, second] = [h.call(), h.call()];
  assert.equal(h.waiting(), 2);
  // Not a trap (some other uncaught error): nobody is answered for it.
  assert.equal(h.trap(new Error("something else")), false);
  assert.equal(h.waiting(), 2);
  assert.equal(h.trap(new WebAssembly.RuntimeError("unreachable")), true);
  await isServerError(await first);
  await isServerError(await second);
  assert.equal(h.waiting(), 0);
  assert.equal(h.resets(), 1);
  h.call();
  assert.equal(h.resets(), 1);
  // Many waiting, one trap reported by a rejection: all answered, one reset.
  let reject;
  const m = harness(() => new Promise((_, r) => (reject ??= r)));
  const all = Array.from({ length: 200 }, () => m.call());
  reject(new WebAssembly.RuntimeError("unreachable"));
  for (const p of all) assert.equal((await p).status, 500);
  assert.equal(m.resets(), 1);
  assert.equal(m.waiting(), 0);
});

test("a rejected answer, a malformed answer, a bad header are a 500, not a throw", async () => {
  await isServerError(await harness(() => Promise.reject(new Error("Module terminated"))).call());
  await isServerError(harness(() => "200").call());
  await isServerError(harness(() => "200\n{}\nbad name:v\n\nbody").call());
  await isServerError(await harness(() => Promise.resolve("garbage")).call());
  const h = harness(() => Promise.reject(new TypeError("not a trap")));
  await isServerError(await h.call());
  h.call();
  assert.equal(h.resets(), 0, "only a trap resets the instance");
});

test("base64url matches Node's, by the runtime's toBase64 or by hand", () => {
  for (let n = 0; n <= 70; n++) {
    const bytes = new Uint8Array(n).map((_, i) => (i * 37 + n * 11) & 255);
    const expected = Buffer.from(bytes).toString("base64url");
    assert.equal(base64urlByHand(bytes), expected, `${n} bytes`);
    assert.equal(base64url(bytes), expected, `${n} bytes`);
  }
});

// A token answer whose signature the wasm left to the JS side, as `pack`
// (answer.rs) writes it: "status start end len" first.
function deferredAnswer(prefix = "") {
  const input = "eyJhbGciOiJFZERTQSJ9.eyJqdGkiOiJ4In0";
  const placeholder = "A".repeat(86);
  const body = `{${prefix}"access_token":"${input}.${placeholder}","token_type":"Bearer"}`;
  const start = body.indexOf(input);
  return { input, packed: `200 ${start} ${start + input.length} 86\n{"event":"token","outcome":"issued"}\ncontent-type:application/json\n\n${body}` };
}

test("a deferred signature is made with the signing key and put in the token before the line is logged", async () => {
  const { publicKey, privateKey } = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
  for (const prefix of ["", '"note":"é😀",']) {
    const { input, packed } = deferredAnswer(prefix);
    const h = harness(() => packed, { signingKey: () => [privateKey, { name: "Ed25519" }], sign: (p, k, d) => crypto.subtle.sign(p, k, d) });
    const answer = h.call();
    assert.ok(answer instanceof Promise, "signing answers a Promise");
    assert.deepEqual(h.lines.log, [], "nothing logged before the signature");
    const response = await answer;
    assert.equal(response.status, 200);
    const token = (await response.json()).access_token;
    const [head, payload, signature] = token.split(".");
    assert.equal(`${head}.${payload}`, input);
    assert.equal(signature.length, 86);
    const verified = await crypto.subtle.verify({ name: "Ed25519" }, publicKey, Buffer.from(signature, "base64url"), new TextEncoder().encode(input));
    assert.ok(verified, "the token's signature verifies");
    assert.deepEqual(h.lines.log, ['{"event":"token","outcome":"issued"}']);
  }
});

test("a deferred signature that cannot be made is a 500, and the issuance is not logged", async () => {
  const { packed } = deferredAnswer();
  const fails = [
    { signingKey: () => undefined, sign: () => Promise.resolve(new ArrayBuffer(64)) },
    { signingKey: () => ["key", {}], sign: () => Promise.reject(new Error("OperationError")) },
    { signingKey: () => ["key", {}], sign: () => { throw new Error("sync"); } },
    { signingKey: () => ["key", {}], sign: () => Promise.resolve(new ArrayBuffer(32)) },
  ];
  for (const signer of fails) {
    const h = harness(() => packed, signer);
    await isServerError(await h.call());
    assert.deepEqual(h.lines.log, []);
    assert.match(h.lines.error[0], /"event":"internal_error"/);
  }
  // Offsets that do not fit the body.
  const h = harness(() => "200 5 900 86\n{}\n\n{}", { signingKey: () => ["key", {}], sign: () => Promise.resolve(new ArrayBuffer(64)) });
  await isServerError(await h.call());
});

test("the start-up warm of the signature path signs with the key given and says whether it worked", async () => {
  for (const [gen, params] of [
    [{ name: "Ed25519" }, { name: "Ed25519" }],
    [{ name: "ECDSA", namedCurve: "P-256" }, { name: "ECDSA", hash: "SHA-256" }],
  ]) {
    const { privateKey } = await crypto.subtle.generateKey(gen, false, ["sign", "verify"]);
    const signed = [];
    const sign = (p, k, d) => {
      signed.push([p, k, new TextDecoder().decode(d)]);
      return crypto.subtle.sign(p, k, d);
    };
    assert.equal(await warmSignature(() => [privateKey, params], sign), true);
    assert.equal(signed.length, 1);
    assert.equal(signed[0][0], params);
    assert.equal(signed[0][1], privateKey);
    assert.ok(signed[0][2].length > 0 && !signed[0][2].includes("."), "a made-up input, not a token's signing input");
  }
  // A signature that left the placeholder as it was (all zero bytes) did
  // not go in: false.
  assert.equal(await warmSignature(() => ["key", {}], () => Promise.resolve(new ArrayBuffer(64))), false);
  // No key, or a signature of the wrong length: a throw or a rejection
  // (the entry then logs outcome "error" in its isolate_start line).
  await assert.rejects(warmSignature(() => ["key", {}], () => Promise.resolve(new ArrayBuffer(32))), /signature of 32 bytes/);
  assert.throws(() => warmSignature(() => undefined, () => Promise.resolve(new ArrayBuffer(64))), /without an imported signing key/);
});
