import assert from "node:assert/strict";
import {
  BodyTimeoutError,
  BodyTooLargeError,
  declaredLength,
  readBody,
} from "./body_reader.ts";

const text = new TextEncoder();
const utf8 = new TextDecoder();

/** A body stream of `chunks` chunks of `size` bytes, counting its pulls. */
function chunked(chunks: number, size: number) {
  const state = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (state.pulled === chunks) {
        controller.close();
        return;
      }
      state.pulled++;
      controller.enqueue(new Uint8Array(size).fill(0x61));
    },
    cancel() {
      state.cancelled = true;
    },
  }, { highWaterMark: 0 });
  return { stream, state };
}

/** A body stream that sends one chunk, then nothing, ever. */
function stalled() {
  const state = { cancelled: false };
  let sent = false;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (!sent) {
        sent = true;
        controller.enqueue(text.encode("cpu value=1\n"));
      }
      // never again: the read after the first chunk stays pending
      return new Promise(() => {});
    },
    cancel() {
      state.cancelled = true;
    },
  }, { highWaterMark: 0 });
  return { stream, state };
}

function post(
  body: BodyInit | null,
  headers: Record<string, string> = {},
): Request {
  return new Request("http://relay/write", { method: "POST", body, headers });
}

Deno.test("readBody() returns a body within the limit", async () => {
  const body = await readBody(
    post("cpu value=1\n", { "content-length": "12" }),
    {
      maxBytes: 12,
    },
  );
  assert.equal(utf8.decode(body), "cpu value=1\n");
});

Deno.test("readBody() returns an empty array for a request without a body", async () => {
  const body = await readBody(
    new Request("http://relay/write", { method: "POST" }),
    { maxBytes: 10 },
  );
  assert.equal(body.length, 0);
});

Deno.test("readBody() refuses a declared length over the limit without reading", async () => {
  const { stream, state } = chunked(100, 1024);
  const request = post(stream, { "content-length": "102400" });
  const error = await readBody(request, { maxBytes: 1000 }).catch((e) => e);
  assert.ok(error instanceof BodyTooLargeError);
  assert.equal(error.limit, 1000);
  assert.equal(error.length, 102400);
  assert.equal(state.pulled, 0);
  assert.equal(request.bodyUsed, false);
  await stream.cancel();
});

Deno.test("readBody() counts a chunked body and stops at the limit", async () => {
  // An endless body: only counting can stop it.
  const { stream, state } = chunked(Number.POSITIVE_INFINITY, 1000);
  const error = await readBody(
    post(stream, { "transfer-encoding": "chunked" }),
    { maxBytes: 4500 },
  ).catch((e) => e);
  assert.ok(error instanceof BodyTooLargeError);
  assert.equal(error.length, 5000);
  assert.equal(state.pulled, 5);
  assert.ok(state.cancelled);
});

Deno.test("readBody() ignores Content-Length when Transfer-Encoding is present", async () => {
  const { stream, state } = chunked(10, 1000);
  const error = await readBody(
    post(stream, { "content-length": "10", "transfer-encoding": "chunked" }),
    { maxBytes: 2500 },
  ).catch((e) => e);
  assert.ok(error instanceof BodyTooLargeError);
  assert.equal(state.pulled, 3);
});

Deno.test("readBody() reads a chunked body of exactly the limit", async () => {
  const { stream } = chunked(4, 1000);
  const body = await readBody(post(stream), { maxBytes: 4000 });
  assert.equal(body.length, 4000);
  assert.ok(body.every((byte) => byte === 0x61));
});

Deno.test("readBody() refuses a body longer than it declared", async () => {
  const { stream } = chunked(3, 1000);
  await assert.rejects(
    readBody(post(stream, { "content-length": "10" }), { maxBytes: 2000 }),
    BodyTooLargeError,
  );
});

Deno.test("readBody() reads any size when maxBytes is 0", async () => {
  const { stream } = chunked(64, 16 * 1024);
  const body = await readBody(post(stream));
  assert.equal(body.length, 64 * 16 * 1024);
});

Deno.test("readBody() cancels a body of unknown length that stalls past the deadline", async () => {
  const { stream, state } = stalled();
  const started = performance.now();
  const error = await readBody(post(stream), { maxBytes: 1000, timeoutMs: 50 })
    .catch((e) => e);
  assert.ok(error instanceof BodyTimeoutError, String(error));
  assert.equal(error.timeoutMs, 50);
  assert.ok(performance.now() - started >= 45);
  assert.ok(state.cancelled);
});

Deno.test("readBody() gives up on a declared-length body that stalls past the deadline", async () => {
  const { stream } = stalled();
  const error = await readBody(
    post(stream, { "content-length": "100" }),
    { maxBytes: 1000, timeoutMs: 50 },
  ).catch((e) => e);
  assert.ok(error instanceof BodyTimeoutError, String(error));
});

Deno.test("readBody() passes on the error of a body that breaks", async () => {
  let sent = false;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent) {
        controller.error(new TypeError("connection reset"));
        return;
      }
      sent = true;
      controller.enqueue(text.encode("cpu "));
    },
  });
  await assert.rejects(
    readBody(post(stream), { maxBytes: 1000, timeoutMs: 1000 }),
    { name: "TypeError", message: "connection reset" },
  );
});

Deno.test("readBody() throws RangeError for negative options", async () => {
  await assert.rejects(readBody(post("x"), { maxBytes: -1 }), RangeError);
  await assert.rejects(readBody(post("x"), { timeoutMs: -1 }), RangeError);
});

Deno.test("declaredLength() trusts Content-Length only without Transfer-Encoding", () => {
  assert.equal(declaredLength(new Headers({ "content-length": "42" })), 42);
  assert.equal(declaredLength(new Headers()), null);
  assert.equal(
    declaredLength(
      new Headers({ "content-length": "42", "transfer-encoding": "chunked" }),
    ),
    null,
  );
  assert.equal(declaredLength(new Headers({ "content-length": "4 2" })), null);
  assert.equal(declaredLength(new Headers({ "content-length": "-1" })), null);
  assert.equal(declaredLength(new Headers({ "content-length": "1e3" })), null);
});
