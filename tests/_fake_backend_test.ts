import assert from "node:assert/strict";
import { reservedPortThatRefuses, startFakeBackend } from "./_fake_backend.ts";
import { waitFor } from "./_wait.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Sends raw HTTP/1.1 bytes on one TCP connection and reads until EOF. */
async function rawHttp(port: number, requests: string): Promise<string> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode(requests));
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(4096);
  while (true) {
    const n = await conn.read(buf);
    if (n === null) break;
    chunks.push(buf.slice(0, n));
  }
  return decoder.decode(new Uint8Array(chunks.flatMap((c) => [...c])));
}

Deno.test("startFakeBackend() records method, path, query, headers and body", async () => {
  await using backend = await startFakeBackend();
  assert.match(backend.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(backend.writeUrl, `${backend.url}/write`);
  assert.equal(backend.url, `http://127.0.0.1:${backend.port}`);

  const res = await fetch(`${backend.writeUrl}?db=mydb&precision=s&u=a%20b`, {
    method: "POST",
    headers: { "authorization": "Token u:p", "x-extra": "1" },
    body: "cpu,host=a value=1 1700000000\n",
  });
  assert.equal(res.status, 204);
  assert.equal(await res.text(), "");

  assert.equal(backend.requests.length, 1);
  const [req] = backend.requests;
  assert.ok(req);
  assert.equal(req.method, "POST");
  assert.equal(req.path, "/write");
  assert.equal(req.query, "db=mydb&precision=s&u=a%20b");
  assert.equal(req.headers.get("authorization"), "Token u:p");
  assert.equal(req.headers.get("x-extra"), "1");
  assert.equal(req.text, "cpu,host=a value=1 1700000000\n");
  assert.deepEqual(req.body, encoder.encode(req.text));
  assert.equal(req.connection, 1);
});

Deno.test("startFakeBackend() records a gzip body as raw bytes", async () => {
  await using backend = await startFakeBackend();
  const gzipped = new Uint8Array(
    await new Response(
      new Blob(["m v=1\n"]).stream().pipeThrough(
        new CompressionStream("gzip"),
      ),
    ).arrayBuffer(),
  );
  const res = await fetch(backend.writeUrl, {
    method: "POST",
    headers: { "content-encoding": "gzip" },
    body: gzipped,
  });
  await res.body?.cancel();
  const [req] = backend.requests;
  assert.ok(req);
  assert.equal(req.headers.get("content-encoding"), "gzip");
  assert.deepEqual(req.body, gzipped);
  assert.equal(req.query, "");
});

Deno.test("startFakeBackend() answers with scripted statuses, bodies and headers", async () => {
  const seen: number[] = [];
  await using backend = await startFakeBackend({
    respond: (req, index) => {
      seen.push(index);
      if (index === 0) {
        return {
          status: 400,
          body: '{"error":"bad"}',
          headers: { "content-type": "application/json" },
        };
      }
      if (req.path === "/boom") throw new Error("scripted failure");
      // A body on a 204 is dropped instead of making Response throw.
      return { status: 204, body: "ignored" };
    },
  });

  const first = await fetch(backend.writeUrl, { method: "POST", body: "x" });
  assert.equal(first.status, 400);
  assert.equal(first.headers.get("content-type"), "application/json");
  assert.equal(await first.text(), '{"error":"bad"}');

  const second = await fetch(`${backend.url}/boom`);
  assert.equal(second.status, 500);
  assert.deepEqual(await second.json(), { error: "scripted failure" });

  const third = await fetch(`${backend.url}/query`);
  assert.equal(third.status, 204);
  assert.equal(await third.text(), "");

  assert.deepEqual(seen, [0, 1, 2]);
  assert.deepEqual(backend.requests.map((r) => r.path), [
    "/write",
    "/boom",
    "/query",
  ]);
});

Deno.test("startFakeBackend() answers health probes 204 and keeps them apart from requests", async () => {
  await using backend = await startFakeBackend({
    respond: () => ({ status: 500 }),
  });
  const ping = await fetch(`${backend.url}/ping`);
  assert.equal(ping.status, 204);
  await ping.body?.cancel();
  const prefixed = await fetch(`${backend.url}/kapacitor/v1/ping`);
  await prefixed.body?.cancel();
  assert.deepEqual(backend.requests, []);
  assert.deepEqual(backend.pings.map((r) => r.path), [
    "/ping",
    "/kapacitor/v1/ping",
  ]);
  assert.equal(backend.connections, 0);
});

Deno.test("startFakeBackend() answers after delayMs", async () => {
  await using backend = await startFakeBackend({
    respond: () => ({ status: 503, delayMs: 100 }),
  });
  const started = performance.now();
  const res = await fetch(backend.writeUrl, { method: "POST", body: "x" });
  await res.body?.cancel();
  assert.equal(res.status, 503);
  assert.ok(performance.now() - started >= 90, "answered before the delay");
});

Deno.test("FakeBackend.close() releases delayed and hanging requests", async () => {
  const backend = await startFakeBackend({
    respond: (_req, index) =>
      index === 0 ? { status: 200, body: "late", delayMs: 600_000 } : {
        hang: true,
      },
  });
  try {
    const delayed = fetch(backend.writeUrl, { method: "POST", body: "a" });
    const hanging = fetch(backend.writeUrl, { method: "POST", body: "b" });
    await backend.waitForRequests(2);
    await backend.close();
    const [d, h] = await Promise.all([delayed, hanging]);
    // The delayed answer is sent at once; the hanging one gets a 503.
    assert.equal(d.status, 200);
    assert.equal(await d.text(), "late");
    assert.equal(h.status, 503);
    await h.body?.cancel();
  } finally {
    await backend.close();
  }
});

Deno.test("FakeBackend hang keeps the request open until the client aborts", async () => {
  await using backend = await startFakeBackend({
    respond: () => ({ hang: true }),
  });
  const controller = new AbortController();
  const pending = fetch(backend.writeUrl, {
    method: "POST",
    body: "x",
    signal: controller.signal,
  });
  await backend.waitForRequests(1);
  controller.abort();
  await assert.rejects(pending, { name: "AbortError" });
});

Deno.test("FakeBackend.connections counts TCP connections and keep-alive reuse", async () => {
  await using backend = await startFakeBackend();
  // Two pipelined requests on one connection, then a second connection.
  const first = await rawHttp(
    backend.port,
    "POST /write?db=a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nm=1" +
      "GET /query HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
  );
  assert.equal(first.match(/HTTP\/1\.1 204/g)?.length, 2);
  await rawHttp(
    backend.port,
    "GET /query HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
  );
  assert.deepEqual(backend.requests.map((r) => r.connection), [1, 1, 2]);
  assert.equal(backend.requests[0]?.text, "m=1");
  assert.equal(backend.connections, 2);

  // fetch() keeps its connection alive between sequential requests.
  for (let i = 0; i < 3; i++) {
    const res = await fetch(backend.writeUrl, { method: "POST", body: "x" });
    await res.body?.cancel();
  }
  const viaFetch = backend.requests.slice(3).map((r) => r.connection);
  assert.equal(new Set(viaFetch).size, 1);
  assert.equal(backend.connections, 3);
});

Deno.test("FakeBackend.waitForRequests() rejects after its timeout", async () => {
  await using backend = await startFakeBackend();
  await assert.rejects(backend.waitForRequests(1, 50), /received 0/);
  const res = await fetch(backend.url);
  await res.body?.cancel();
  await backend.waitForRequests(1, 50);
});

Deno.test("FakeBackend.close() rejects pending waitForRequests() calls", async () => {
  const backend = await startFakeBackend();
  const waiting = assert.rejects(
    backend.waitForRequests(1, 600_000),
    /was closed/,
  );
  await backend.close();
  await waiting;
});

Deno.test("reservedPortThatRefuses() returns a port that refuses connections", async () => {
  const port = reservedPortThatRefuses();
  assert.ok(port > 0);
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port }),
    Deno.errors.ConnectionRefused,
  );
  await assert.rejects(fetch(`http://127.0.0.1:${port}/write`), TypeError);
});

Deno.test("waitFor() resolves once the predicate holds", async () => {
  await using backend = await startFakeBackend();
  const res = await fetch(backend.url);
  await res.body?.cancel();
  let calls = 0;
  await waitFor(() => ++calls >= 3, { intervalMs: 1 });
  assert.equal(calls, 3);
  await waitFor(async () => (await Promise.resolve(backend.connections)) > 0);
});

Deno.test("waitFor() throws after the timeout, on bad options and on predicate errors", async () => {
  let calls = 0;
  await assert.rejects(
    waitFor(() => (calls++, false), {
      timeoutMs: 30,
      intervalMs: 5,
      message: () => `calls to exceed ${calls}`,
    }),
    /Timed out after \d+ ms waiting for calls to exceed \d+/,
  );
  assert.ok(calls >= 2);
  await assert.rejects(waitFor(() => false, { timeoutMs: -1 }), RangeError);
  await assert.rejects(
    waitFor(() => {
      throw new Error("predicate failed");
    }),
    /predicate failed/,
  );
});
