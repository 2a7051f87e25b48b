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
  declaredLength,
  headerValues,
  headersOf,
  readBody,
  toResponse,
  unpack,
} from "./wire.mjs";

const MAX = 16;
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
  });
  // No headers; a body with line breaks; an empty body.
  assert.deepEqual(unpack("200\n{}\n\nline 1\n\nline 2"), { status: 200, log: "{}", block: "", body: "line 1\n\nline 2" });
  assert.deepEqual(unpack("204\n{}\nallow:POST\n\n"), { status: 204, log: "{}", block: "allow:POST", body: "" });
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
