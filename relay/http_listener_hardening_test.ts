/**
 * The listener's limits, client authentication and partial writes, driven
 * through the pure handler (`createHttpHandler`) without a socket.
 */
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { Admission } from "./admission.ts";
import type { WriteBatch } from "./batch.ts";
import { ClientAuth, sha256Hex } from "./client_auth.ts";
import {
  type AdminHandler,
  createHttpHandler,
  type HttpHandlerOptions,
  type WriteTarget,
} from "./http_listener.ts";
import type { Decision } from "./response_rule.ts";
import { silentLogger } from "../tests/_recording_logger.ts";

const NOW = 1_700_000_000_123_456_789n;
const decoder = new TextDecoder();
const encoder = new TextEncoder();

const silent = silentLogger;

function recorder(decision: Decision = { kind: "accepted" }) {
  const batches: WriteBatch[] = [];
  const target: WriteTarget = {
    write(batch) {
      batches.push(batch);
      return Promise.resolve(decision);
    },
  };
  return { batches, target };
}

function handler(
  target: WriteTarget,
  options: Partial<HttpHandlerOptions> = {},
): (request: Request) => Promise<Response> {
  return createHttpHandler(target, {
    name: "test",
    logger: silent,
    clock: () => NOW,
    ...options,
  });
}

function post(
  path: string,
  body: BodyInit,
  headers: Record<string, string> = {},
): Request {
  return new Request(`http://relay${path}`, { method: "POST", body, headers });
}

/** A body that sends one line, then stalls forever. */
function stalledBody(): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (!sent) {
        sent = true;
        controller.enqueue(encoder.encode("cpu value=1\n"));
      }
      return new Promise(() => {});
    },
  }, { highWaterMark: 0 });
}

async function v1Error(response: Response): Promise<string> {
  assert.equal(response.headers.get("content-type"), "application/json");
  const text = await response.text();
  assert.ok(text.endsWith("\n"));
  return (JSON.parse(text) as { error: string }).error;
}

const TELEGRAF = sha256Hex("telegraf-secret");
const TOKEN = sha256Hex("token-secret");
const auth = new ClientAuth({
  users: [{ name: "telegraf", sha256: TELEGRAF }],
  tokens: [TOKEN],
});
const BASIC = `Basic ${btoa("telegraf:telegraf-secret")}`;

Deno.test("createHttpHandler() answers 413 with InfluxDB's body to a declared length over max-body-size", async () => {
  const { batches, target } = recorder();
  const handle = handler(target, { maxBodyBytes: 10 });
  const response = await handle(
    post("/write?db=x", "cpu value=1 1\n", { "content-length": "14" }),
  );
  assert.equal(response.status, 413);
  assert.equal(await v1Error(response), "Request Entity Too Large");
  assert.equal(batches.length, 0);
});

Deno.test("createHttpHandler() answers 413 to a chunked body once it passes max-body-size", async () => {
  const { batches, target } = recorder();
  const handle = handler(target, { maxBodyBytes: 1000 });
  const endless = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(encoder.encode("cpu value=1 1\n".repeat(10)));
    },
  });
  const response = await handle(post("/write?db=x", endless));
  assert.equal(response.status, 413);
  assert.equal(await v1Error(response), "Request Entity Too Large");
  assert.equal(batches.length, 0);
});

Deno.test("createHttpHandler() answers 413 to a gzip body that inflates past max-decompressed-size", async () => {
  const { batches, target } = recorder();
  const handle = handler(target, {
    maxBodyBytes: 1_000_000,
    maxDecompressedBytes: 100_000,
  });
  const bomb = new Uint8Array(gzipSync(new Uint8Array(50_000_000)));
  const v1 = await handle(
    post("/write?db=x", bomb, { "content-encoding": "gzip" }),
  );
  assert.equal(v1.status, 413);
  assert.equal(await v1Error(v1), "Request Entity Too Large");
  const v2 = await handle(
    post("/api/v2/write?bucket=x", bomb, { "content-encoding": "gzip" }),
  );
  assert.equal(v2.status, 413);
  assert.equal(v2.headers.get("x-platform-error-code"), "request too large");
  assert.deepEqual(await v2.json(), {
    code: "request too large",
    message: "Request Entity Too Large",
  });
  assert.equal(batches.length, 0);
  // Within the limit, the same path works.
  const ok = await handle(
    post(
      "/write?db=x",
      new Uint8Array(gzipSync(encoder.encode("cpu value=1 1\n"))),
      { "content-encoding": "gzip" },
    ),
  );
  assert.equal(ok.status, 204);
});

Deno.test("createHttpHandler() answers 408 when the body does not arrive within read-timeout", async () => {
  const { batches, target } = recorder();
  const handle = handler(target, { readTimeoutMs: 50 });
  const response = await handle(post("/write?db=x", stalledBody()));
  assert.equal(response.status, 408);
  assert.equal(await v1Error(response), "timeout reading request body");
  assert.equal(batches.length, 0);
});

Deno.test("createHttpHandler() answers 503 with Retry-After beyond max-concurrent-requests", async () => {
  const release = Promise.withResolvers<Decision>();
  const batches: WriteBatch[] = [];
  const target: WriteTarget = {
    write(batch) {
      batches.push(batch);
      return release.promise;
    },
  };
  const handle = handler(target, {
    admission: new Admission({ maxConcurrent: 1 }),
  });
  const first = handle(post("/write?db=x", "cpu value=1 1\n"));
  // The first write is in progress while its batch waits for the fan-out.
  while (batches.length === 0) await new Promise((r) => setTimeout(r, 1));
  const second = await handle(post("/write?db=x", "cpu value=2 2\n"));
  assert.equal(second.status, 503);
  assert.equal(second.headers.get("retry-after"), "1");
  assert.match(await v1Error(second), /request throttled/);
  const ping = await handle(new Request("http://relay/ping"));
  assert.equal(ping.status, 204, "/ping is never throttled");
  release.resolve({ kind: "accepted" });
  assert.equal((await first).status, 204);
  const third = await handle(post("/write?db=x", "cpu value=3 3\n"));
  assert.equal(third.status, 204);
});

Deno.test("createHttpHandler() answers 429 with Retry-After over the rate limit", async () => {
  let now = 0;
  const { batches, target } = recorder();
  const handle = handler(target, {
    admission: new Admission({ rate: 0.5, burst: 1, clock: () => now }),
  });
  assert.equal((await handle(post("/write?db=x", "cpu v=1 1\n"))).status, 204);
  const limited = await handle(post("/write?db=x", "cpu v=1 1\n"));
  assert.equal(limited.status, 429);
  assert.equal(limited.headers.get("retry-after"), "2");
  const v2 = await handle(post("/api/v2/write?bucket=x", "cpu v=1 1\n"));
  assert.equal(v2.status, 429);
  assert.equal(v2.headers.get("x-platform-error-code"), "too many requests");
  now = 2000;
  assert.equal((await handle(post("/write?db=x", "cpu v=1 1\n"))).status, 204);
  assert.equal(batches.length, 2);
});

Deno.test("createHttpHandler() answers 401 with WWW-Authenticate to missing or wrong credentials", async () => {
  const { batches, target } = recorder();
  const handle = handler(target, { auth });
  const cases: [Request, string][] = [
    [
      post("/write?db=x", "cpu v=1 1\n"),
      "unable to parse authentication credentials",
    ],
    [
      post("/write?db=x", "cpu v=1 1\n", {
        authorization: `Basic ${btoa("telegraf:wrong")}`,
      }),
      "authorization failed",
    ],
    [
      post("/write?db=x&u=telegraf&p=wrong", "cpu v=1 1\n"),
      "authorization failed",
    ],
    [
      post("/write", "cpu v=1 1\n", { authorization: "Token nope" }),
      "authorization failed",
    ],
  ];
  for (const [request, message] of cases) {
    const response = await handle(request);
    assert.equal(response.status, 401, request.url);
    assert.equal(
      response.headers.get("www-authenticate"),
      'Basic realm="InfluxDB"',
    );
    assert.equal(await v1Error(response), message);
  }
  const v2 = await handle(post("/api/v2/write?bucket=x", "cpu v=1 1\n"));
  assert.equal(v2.status, 401);
  assert.deepEqual(await v2.json(), {
    code: "unauthorized",
    message: "unauthorized access",
  });
  assert.equal(batches.length, 0, "nothing reached the fan-out");
  assert.equal((await handle(new Request("http://relay/ping"))).status, 204);
});

Deno.test("createHttpHandler() accepts good credentials and forwards none of them", async () => {
  const { batches, target } = recorder();
  const handle = handler(target, { auth });
  const accepted = [
    post("/write?db=x", "cpu v=1 1\n", { authorization: BASIC }),
    post("/write?db=x&u=telegraf&p=telegraf-secret&rp=r", "cpu v=1 1\n"),
    post("/api/v2/write?bucket=x", "cpu v=1 1\n", {
      authorization: "Token token-secret",
    }),
    post("/api/v3/write_lp?db=x", "cpu v=1 1\n", {
      authorization: "Bearer token-secret",
    }),
  ];
  for (const request of accepted) {
    assert.equal((await handle(request)).status, 204, request.url);
  }
  assert.deepEqual(batches.map((b) => [b.query, b.auth]), [
    ["db=x", null],
    ["db=x&rp=r", null],
    ["db=x&precision=n", null],
    ["db=x&precision=n", null],
  ]);
});

Deno.test("createHttpHandler() forwards the client's credentials with forwardCredentials", async () => {
  const { batches, target } = recorder();
  const handle = handler(target, { auth, forwardCredentials: true });
  await handle(post("/write?db=x", "cpu v=1 1\n", { authorization: BASIC }));
  await handle(post("/write?db=x&p=telegraf-secret&u=telegraf", "cpu v=1 1\n"));
  assert.deepEqual(batches.map((b) => [b.query, b.auth]), [
    ["db=x", BASIC],
    ["db=x&p=telegraf-secret&u=telegraf", null],
  ]);
});

Deno.test("createHttpHandler() asks for credentials on the admin paths unless told not to", async () => {
  const { target } = recorder();
  const admin: AdminHandler = () =>
    Promise.resolve(new Response("ok", { status: 200 }));
  const guarded = handler(target, { auth, admin });
  for (const path of ["/health", "/status", "/metrics"]) {
    const refused = await guarded(new Request(`http://relay${path}`));
    assert.equal(refused.status, 401, path);
    await refused.body?.cancel();
    const allowed = await guarded(
      new Request(`http://relay${path}`, { headers: { authorization: BASIC } }),
    );
    assert.equal(allowed.status, 200, path);
    await allowed.body?.cancel();
  }
  const open = handler(target, { auth, admin, authAdminEndpoints: false });
  const health = await open(new Request("http://relay/health"));
  assert.equal(health.status, 200);
  await health.body?.cancel();
});

Deno.test("createHttpHandler() forwards the good lines and answers a partial write", async () => {
  const { batches, target } = recorder();
  const handle = handler(target, { partialWrites: true });
  const response = await handle(
    post("/write?db=x", "cpu v=1 1\nbad line\ncpu v=2 2\ncpu,x v=\n"),
  );
  assert.equal(response.status, 400);
  assert.equal(
    await v1Error(response),
    "partial write: unable to parse 'bad line': invalid field format dropped=2",
  );
  assert.equal(batches.length, 1);
  assert.equal(decoder.decode(batches[0]?.body), "cpu v=1 1\ncpu v=2 2\n");
  assert.equal(batches[0]?.points, 2);
});

Deno.test("createHttpHandler() rejects a body without one good line as before, partial writes or not", async () => {
  const { batches, target } = recorder();
  const handle = handler(target, { partialWrites: true });
  const response = await handle(post("/write?db=x", "bad line\nalso bad\n"));
  assert.equal(response.status, 400);
  assert.equal(
    await v1Error(response),
    "unable to parse points: line 1: invalid field format",
  );
  assert.equal(batches.length, 0);
});

Deno.test("createHttpHandler() rejects the whole body for one bad line without partial writes", async () => {
  const { batches, target } = recorder();
  const handle = handler(target);
  const response = await handle(post("/write?db=x", "cpu v=1 1\nbad line\n"));
  assert.equal(response.status, 400);
  assert.equal(batches.length, 0);
  await response.body?.cancel();
});

Deno.test("createHttpHandler() passes a backend's answer through on a partial write", async () => {
  const { target } = recorder({
    kind: "forward",
    response: {
      kind: "response",
      status: 404,
      body: encoder.encode('{"error":"database not found: \\"x\\""}\n'),
      contentType: "application/json",
    },
  });
  const handle = handler(target, { partialWrites: true });
  const response = await handle(post("/write?db=x", "cpu v=1 1\nbad line\n"));
  assert.equal(response.status, 404);
  await response.body?.cancel();
});

Deno.test("createHttpHandler() answers a partial write on /api/v2/write in InfluxDB 2.x's form", async () => {
  const { batches, target } = recorder();
  const handle = handler(target, { partialWrites: true });
  const response = await handle(
    post("/api/v2/write?bucket=x", "cpu v=1 1\nbad line\n"),
  );
  assert.equal(response.status, 400);
  assert.deepEqual(await response.json(), {
    code: "invalid",
    message:
      "partial write: unable to parse 'bad line': invalid field format dropped=1",
  });
  assert.equal(batches.length, 1);
});
