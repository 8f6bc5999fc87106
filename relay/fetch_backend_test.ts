import assert from "node:assert/strict";
import { FetchBackend } from "./fetch_backend.ts";
import type { WriteBatch } from "./batch.ts";
import {
  reservedPortThatRefuses,
  startFakeBackend,
} from "../tests/_fake_backend.ts";

function batch(overrides: Partial<WriteBatch> = {}): WriteBatch {
  return {
    query: "db=mydb",
    auth: null,
    body: new TextEncoder().encode("cpu value=1 1\n"),
    points: 1,
    ...overrides,
  };
}

Deno.test("FetchBackend.write() posts the body with the query, auth and user agent", async () => {
  await using fake = await startFakeBackend();
  const backend = new FetchBackend({
    name: "b",
    location: `${fake.writeUrl}?ignored=1`,
    userAgent: "relay-test",
  });
  const result = await backend.write(batch({ auth: "Token abc" }));
  await backend.close();
  assert.equal(result.kind, "response");
  assert.equal(result.kind === "response" && result.status, 204);
  const [request] = fake.requests;
  assert.equal(request?.method, "POST");
  assert.equal(request?.path, "/write");
  assert.equal(request?.query, "db=mydb");
  assert.equal(request?.text, "cpu value=1 1\n");
  assert.equal(request?.headers.get("authorization"), "Token abc");
  assert.equal(request?.headers.get("user-agent"), "relay-test");
  assert.equal(request?.headers.get("content-type"), "text/plain");
});

Deno.test("FetchBackend.write() returns a 4xx answer with its body and content type", async () => {
  await using fake = await startFakeBackend({
    respond: () => ({
      status: 400,
      body: '{"error":"bad"}',
      headers: { "Content-Type": "application/json" },
    }),
  });
  const backend = new FetchBackend({ name: "b", location: fake.writeUrl });
  const result = await backend.write(batch());
  await backend.close();
  assert.equal(result.kind, "response");
  if (result.kind !== "response") return;
  assert.equal(result.status, 400);
  assert.equal(new TextDecoder().decode(result.body), '{"error":"bad"}');
  assert.equal(result.contentType, "application/json");
});

Deno.test("FetchBackend.write() sends location credentials as Basic auth when the client sent none", async () => {
  await using fake = await startFakeBackend();
  const location = `http://us%40er:p%3Ass@127.0.0.1:${fake.port}/write`;
  const backend = new FetchBackend({ name: "b", location });
  await backend.write(batch());
  await backend.write(batch({ auth: "Token mine" }));
  await backend.close();
  assert.equal(
    fake.requests[0]?.headers.get("authorization"),
    `Basic ${btoa("us@er:p:ss")}`,
  );
  assert.equal(fake.requests[1]?.headers.get("authorization"), "Token mine");
});

Deno.test("FetchBackend.write() reports a refused connection as a failure naming the URL", async () => {
  const port = reservedPortThatRefuses();
  const backend = new FetchBackend({
    name: "b",
    location: `http://127.0.0.1:${port}/write`,
  });
  const result = await backend.write(batch());
  await backend.close();
  assert.equal(result.kind, "failure");
  if (result.kind !== "failure") return;
  assert.match(
    result.error.message,
    new RegExp(`^POST "http://127\\.0\\.0\\.1:${port}/write\\?db=mydb": `),
  );
});

Deno.test("FetchBackend.write() fails after its timeout", async () => {
  await using fake = await startFakeBackend({
    respond: () => ({ delayMs: 2000 }),
  });
  const backend = new FetchBackend({
    name: "b",
    location: fake.writeUrl,
    timeoutMs: 50,
  });
  const result = await backend.write(batch());
  await backend.close();
  assert.equal(result.kind, "failure");
  if (result.kind !== "failure") return;
  assert.match(result.error.message, /timeout after 50ms awaiting the backend/);
});

Deno.test("FetchBackend reuses its connection across sequential writes", async () => {
  await using fake = await startFakeBackend();
  const backend = new FetchBackend({ name: "b", location: fake.writeUrl });
  for (let i = 0; i < 10; i++) await backend.write(batch());
  await backend.close();
  assert.equal(fake.requests.length, 10);
  assert.equal(fake.connections, 1);
});

Deno.test("FetchBackend() refuses non-http locations and skipTlsVerification", () => {
  assert.throws(
    () => new FetchBackend({ name: "b", location: "udp://127.0.0.1:1" }),
    TypeError,
  );
  assert.throws(
    () =>
      new FetchBackend({
        name: "b",
        location: "https://127.0.0.1:1/write",
        skipTlsVerification: true,
      }),
    /skip-tls-verification is not supported/,
  );
});

Deno.test("FetchBackend.write() addresses a v2 backend with its token like HttpBackend", async () => {
  await using fake = await startFakeBackend();
  const backend = new FetchBackend({
    name: "b",
    location: `${fake.url}/api/v2/write`,
    api: "v2",
    org: "ops",
    token: "t0k",
  });
  await backend.write(batch({
    query: "db=mydb&precision=m&u=c&p=client",
    auth: "Token client",
  }));
  await backend.close();
  const [request] = fake.requests;
  assert.equal(request?.path, "/api/v2/write");
  assert.equal(request?.query, "bucket=mydb%2Fautogen&org=ops&precision=s");
  assert.equal(request?.headers.get("authorization"), "Token t0k");
  assert.equal(request?.text, "cpu value=1 60\n");
});
