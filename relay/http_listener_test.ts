import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import type { WriteBatch } from "./batch.ts";
import {
  type AdminHandler,
  createHttpHandler,
  type WriteTarget,
} from "./http_listener.ts";
import { HttpListenerStats } from "./http_listener_stats.ts";
import type { Logger } from "./log.ts";
import type { Decision } from "./response_rule.ts";

const NOW = 1_700_000_000_123_456_789n;
const decoder = new TextDecoder();

/** A fan-out stand-in that records batches and answers `decision`. */
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

const silent = {
  debug() {},
} as unknown as Logger;

function handler(
  target: WriteTarget,
  defaultRetentionPolicy = "",
  extra: { admin?: AdminHandler; stats?: HttpListenerStats } = {},
): (request: Request) => Promise<Response> {
  return createHttpHandler(target, {
    name: "test",
    logger: silent,
    clock: () => NOW,
    defaultRetentionPolicy,
    ...extra,
  });
}

function post(
  path: string,
  body: string | Uint8Array<ArrayBuffer>,
  headers: Record<string, string> = {},
): Request {
  return new Request(`http://relay${path}`, { method: "POST", body, headers });
}

async function v2Body(response: Response): Promise<unknown> {
  assert.equal(
    response.headers.get("content-type"),
    "application/json; charset=utf-8",
  );
  return await response.json();
}

Deno.test("createHttpHandler() maps /api/v2/write to a v1 query and keeps the bucket and org", async () => {
  const { batches, target } = recorder();
  const handle = handler(target);
  const response = await handle(
    post(
      "/api/v2/write?org=my%20org&bucket=telegraf/week&precision=ms",
      "cpu,host=a value=1 1700000000123\nmem free=2i\n",
      { Authorization: "Token abc" },
    ),
  );
  assert.equal(response.status, 204);
  const [batch] = batches;
  assert.equal(batch?.query, "db=telegraf&precision=ms&rp=week");
  assert.equal(batch?.destination, "v2?bucket=telegraf%2Fweek&org=my+org");
  assert.equal(batch?.auth, "Token abc");
  assert.equal(batch?.points, 2);
  assert.equal(
    decoder.decode(batch?.body),
    "cpu,host=a value=1 1700000000123\nmem free=2i 1700000000123\n",
  );
});

Deno.test("createHttpHandler() applies default-retention-policy to a bucket without one", async () => {
  const { batches, target } = recorder();
  const handle = handler(target, "autogen");
  for (const bucket of ["telegraf", "telegraf/week"]) {
    const response = await handle(
      post(`/api/v2/write?bucket=${bucket}&orgID=0001`, "cpu v=1 1\n"),
    );
    assert.equal(response.status, 204);
  }
  assert.deepEqual(batches.map((b) => [b.query, b.destination]), [
    ["db=telegraf&precision=n&rp=autogen", "v2?bucket=telegraf&orgID=0001"],
    ["db=telegraf&precision=n&rp=week", "v2?bucket=telegraf%2Fweek&orgID=0001"],
  ]);
});

Deno.test("createHttpHandler() answers /api/v2/write errors with InfluxDB 2.x bodies", async () => {
  const { batches, target } = recorder({ kind: "unavailable" });
  const handle = handler(target);
  const cases: [Request, number, string, string][] = [
    [
      post("/api/v2/write?bucket=b&precision=n", "cpu v=1"),
      400,
      "invalid",
      "invalid precision; valid precision units are ns, us, ms, and s",
    ],
    [
      post("/api/v2/write?org=o", "cpu v=1"),
      404,
      "not found",
      "bucket not found",
    ],
    [
      post("/api/v2/write?bucket=b", "cpu v=1\ncpu v=\n"),
      400,
      "invalid",
      "unable to parse points: line 2: missing field value",
    ],
    [
      post("/api/v2/write?bucket=b", "cpu v=1", { "Content-Encoding": "gzip" }),
      400,
      "invalid",
      "unable to decode gzip body",
    ],
    [
      post("/api/v2/write?bucket=b", "cpu v=1"),
      503,
      "unavailable",
      "unable to write points",
    ],
  ];
  for (const [request, status, code, message] of cases) {
    const response = await handle(request);
    assert.equal(response.status, status, request.url);
    assert.equal(response.headers.get("x-platform-error-code"), code);
    assert.deepEqual(await v2Body(response), { code, message });
  }
  assert.equal(batches.length, 1, "only the valid write reached the fan-out");
});

Deno.test("createHttpHandler() answers other methods on the v2/v3 endpoints 405 and OPTIONS 204", async () => {
  const handle = handler(recorder().target);
  for (const path of ["/api/v2/write", "/api/v3/write_lp"]) {
    const options = await handle(
      new Request(`http://relay${path}`, { method: "OPTIONS" }),
    );
    assert.equal(options.status, 204);
    assert.equal(options.headers.get("allow"), "POST");
    const get = await handle(new Request(`http://relay${path}?bucket=b`));
    assert.equal(get.status, 405);
    assert.equal(get.headers.get("allow"), "POST");
    assert.deepEqual(await v2Body(get), {
      code: "method not allowed",
      message: "method not allowed",
    });
  }
});

Deno.test("createHttpHandler() decodes gzip on /api/v2/write", async () => {
  const { batches, target } = recorder();
  const body = new Uint8Array(gzipSync("cpu v=1 5\n"));
  const response = await handler(target)(
    post("/api/v2/write?bucket=b&precision=s", body, {
      "Content-Encoding": "gzip",
    }),
  );
  assert.equal(response.status, 204);
  assert.equal(decoder.decode(batches[0]?.body), "cpu v=1 5\n");
});

Deno.test("createHttpHandler() maps /api/v3/write_lp and resolves precision=auto to nanoseconds", async () => {
  const { batches, target } = recorder();
  const handle = handler(target);
  const response = await handle(
    post(
      "/api/v3/write_lp?db=sensors/week&accept_partial=false",
      "a v=1 1700000000\nb v=1 1700000000123\nc v=1\n",
    ),
  );
  assert.equal(response.status, 204);
  const [batch] = batches;
  assert.equal(batch?.query, "db=sensors&precision=n&rp=week");
  assert.equal(batch?.destination, "v3?db=sensors%2Fweek");
  assert.equal(
    decoder.decode(batch?.body),
    "a v=1 1700000000000000000\nb v=1 1700000000123000000\n" +
      "c v=1 1700000000123456789\n",
  );
});

Deno.test("createHttpHandler() reads InfluxDB 3 precision names on /api/v3/write_lp", async () => {
  const { batches, target } = recorder();
  const handle = handler(target);
  for (const precision of ["second", "s", "millisecond", "u", "nanosecond"]) {
    const response = await handle(
      post(`/api/v3/write_lp?db=d&precision=${precision}`, "cpu v=1\n"),
    );
    assert.equal(response.status, 204, precision);
  }
  assert.deepEqual(batches.map((b) => decoder.decode(b.body)), [
    "cpu v=1 1700000000\n",
    "cpu v=1 1700000000\n",
    "cpu v=1 1700000000123\n",
    "cpu v=1 1700000000123456\n",
    "cpu v=1 1700000000123456789\n",
  ]);
  assert.deepEqual(batches.map((b) => b.query), [
    "db=d&precision=s",
    "db=d&precision=s",
    "db=d&precision=ms",
    "db=d&precision=u",
    "db=d&precision=n",
  ]);
});

Deno.test("createHttpHandler() answers /api/v3/write_lp errors with InfluxDB 2.x bodies", async () => {
  const { batches, target } = recorder();
  const handle = handler(target);
  const missing = await handle(post("/api/v3/write_lp", "cpu v=1"));
  assert.equal(missing.status, 400);
  assert.deepEqual(await v2Body(missing), {
    code: "invalid",
    message: "missing parameter: db",
  });
  const precision = await handle(
    post("/api/v3/write_lp?db=d&precision=m", "cpu v=1"),
  );
  assert.equal(precision.status, 400);
  assert.deepEqual(await v2Body(precision), {
    code: "invalid",
    message:
      "invalid precision; valid values are auto, ns, nanosecond, us, u, microsecond, ms, millisecond, s, second",
  });
  assert.equal(batches.length, 0);
});

Deno.test("createHttpHandler() hands /health, /status and /metrics to its admin handler", async () => {
  const seen: string[] = [];
  const admin: AdminHandler = (request, path) => {
    seen.push(`${request.method} ${path}`);
    return path === "/status"
      ? null
      : Promise.resolve(new Response("ok", { status: 200 }));
  };
  const stats = new HttpListenerStats();
  const handle = handler(recorder().target, "", { admin, stats });
  const health = await handle(new Request("http://relay/health"));
  assert.equal(health.status, 200);
  assert.equal(await health.text(), "ok");
  const metrics = await handle(new Request("http://relay/metrics"));
  assert.equal(await metrics.text(), "ok");
  // A path the admin handler declines answers 404 like any unknown one.
  const status = await handle(new Request("http://relay/status"));
  assert.equal(status.status, 404);
  await status.body?.cancel();
  assert.deepEqual(seen, ["GET /health", "GET /metrics", "GET /status"]);
  assert.deepEqual(stats.snapshot().requests, [
    { path: "/health", status: 200, count: 1 },
    { path: "/status", status: 404, count: 1 },
    { path: "/metrics", status: 200, count: 1 },
  ]);
});

Deno.test("createHttpHandler() answers the admin paths 404 without an admin handler", async () => {
  const handle = handler(recorder().target);
  for (const path of ["/health", "/status", "/metrics"]) {
    const response = await handle(new Request(`http://relay${path}`));
    assert.equal(response.status, 404, path);
    assert.equal(await response.text(), '{"error":"invalid write endpoint"}\n');
  }
});

Deno.test("createHttpHandler() counts requests by path and status, bytes, points and parse errors", async () => {
  const stats = new HttpListenerStats();
  const handle = handler(recorder().target, "", { stats });
  const bodies = ["cpu v=1 1\nmem v=2 2\n", "cpu v=1 1\n", "cpu v= 1\n"];
  for (const body of bodies) {
    const response = await handle(post("/write?db=x", body));
    await response.body?.cancel();
  }
  for (
    const request of [
      post("/api/v2/write?bucket=b", "cpu v=1 1\n"),
      new Request("http://relay/ping"),
      new Request("http://relay/query?q=x"),
      new Request("http://relay/write", { method: "GET" }),
    ]
  ) {
    const response = await handle(request);
    await response.body?.cancel();
  }
  assert.deepEqual(stats.snapshot(), {
    requests: [
      { path: "/write", status: 204, count: 2 },
      { path: "/write", status: 400, count: 1 },
      { path: "/write", status: 405, count: 1 },
      { path: "/api/v2/write", status: 204, count: 1 },
      { path: "/query", status: 404, count: 1 },
      { path: "/ping", status: 204, count: 1 },
    ],
    bytesReceived: bodies.join("").length + "cpu v=1 1\n".length,
    pointsReceived: 4,
    parseErrors: 1,
  });
});

Deno.test("createHttpHandler() keeps the original's 404 body for unknown paths", async () => {
  const handle = handler(recorder().target);
  for (
    const path of [
      "/api/v2/query",
      "/api/v2/write/",
      "/health/",
      "/api/v3/write",
    ]
  ) {
    const response = await handle(post(path, ""));
    assert.equal(response.status, 404, path);
    assert.equal(await response.text(), '{"error":"invalid write endpoint"}\n');
  }
});
