import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import type { WriteBatch } from "./batch.ts";
import { Admission } from "./admission.ts";
import { ClientAuth, sha256Hex } from "./client_auth.ts";
import {
  type AdminHandler,
  type ClientInfo,
  createHttpHandler,
  formatAddress,
  type HttpHandlerOptions,
  printable,
  serveHttp,
  type WriteTarget,
} from "./http_listener.ts";
import { HttpListenerStats } from "./http_listener_stats.ts";
import type { Logger } from "./log.ts";
import type { Decision } from "./response_rule.ts";
import { silentLogger } from "../tests/_recording_logger.ts";

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

const silent = silentLogger;

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
  body: BodyInit,
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

// ---------------------------------------------------------------------------
// Log lines of refused requests

/** One log call, its message rendered as logtape renders string values. */
interface Line {
  level: string;
  text: string;
  properties: Record<string, unknown>;
}

/**
 * A logger that records rendered lines at the levels `enabled` lets
 * through, and fails the test when a line is written at another level.
 */
function linesLogger(
  enabled: readonly string[] = ["debug", "info", "warning", "error"],
): { logger: Logger; lines: Line[] } {
  const lines: Line[] = [];
  function record(level: string) {
    return (message: string, properties: Record<string, unknown> = {}) => {
      assert.ok(enabled.includes(level), `logged at ${level}: ${message}`);
      const text = message.replace(
        /\{([A-Za-z_][A-Za-z0-9_]*)\}/g,
        (_, key: string) => String(properties[key]),
      );
      lines.push({ level, text, properties });
    };
  }
  const logger = {
    isEnabledFor: (level: string) => enabled.includes(level),
    debug: record("debug"),
    info: record("info"),
    warn: record("warning"),
    warning: record("warning"),
    error: record("error"),
  } as unknown as Logger;
  return { logger, lines };
}

/** A logger that fails the test on any use at all. */
const untouchable = new Proxy({}, {
  get(_, key) {
    throw new Error(`the logger was used (${String(key)})`);
  },
}) as Logger;

const CLIENT: ClientInfo = {
  remoteAddr: { transport: "tcp", hostname: "192.0.2.7", port: 50432 },
};
const CLIENT_V6: ClientInfo = {
  remoteAddr: { transport: "tcp", hostname: "2001:db8::7", port: 443 },
};

function logged(
  target: WriteTarget,
  options: Partial<HttpHandlerOptions> = {},
) {
  const { logger, lines } = linesLogger();
  const handle = createHttpHandler(target, {
    name: "test",
    logger,
    clock: () => NOW,
    ...options,
  });
  return { handle, lines };
}

/** A body that sends `first`, then nothing more. */
function stalled(first: string): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (!sent) {
        sent = true;
        controller.enqueue(new TextEncoder().encode(first));
      }
      return new Promise(() => {});
    },
  }, { highWaterMark: 0 });
}

Deno.test("createHttpHandler() logs a rejected line at debug, quoted safely, with the client and the answer", async () => {
  const { handle, lines } = logged(recorder().target);
  const response = await handle(
    post(
      "/write?db=x&u=bob&p=secret",
      "cpu value=1\ncpu,host=\x1b[31ma value=\n",
    ),
    CLIENT,
  );
  assert.equal(response.status, 400);
  await response.body?.cancel();
  assert.deepEqual(lines.map((l) => [l.level, l.text]), [[
    "debug",
    "Rejected write on relay \"test\": line 2: missing field value: 'cpu,host=\\x1b[31ma value='; answered 400 to POST /write from 192.0.2.7:50432",
  ]]);
  assert.equal(lines[0]!.properties.client, "192.0.2.7:50432");
  assert.ok(!lines[0]!.text.includes("secret"), "the query is never logged");
});

Deno.test("createHttpHandler() logs every client error it answers itself at debug", async () => {
  const { target } = recorder();
  const { handle, lines } = logged(target, {
    maxBodyBytes: 150,
    maxDecompressedBytes: 1000,
    readTimeoutMs: 50,
  });
  const truncated = new Uint8Array(gzipSync("cpu value=1\n")).subarray(0, 30);
  const cases: [Request, number, string][] = [
    [
      post("/write", "cpu value=1"),
      400,
      'Rejected write on relay "test": missing parameter: db; answered 400 to POST /write from 192.0.2.7:50432',
    ],
    [
      post("/write?db=x", "cpu value=1", { "content-encoding": "gzip" }),
      400,
      'Rejected write on relay "test": Cannot decode gzip body: no gzip header; answered 400 to POST /write from 192.0.2.7:50432',
    ],
    [
      post("/write?db=x", truncated, { "content-encoding": "gzip" }),
      500,
      'Rejected write on relay "test": Cannot decode gzip body: unexpected end of file; answered 500 to POST /write from 192.0.2.7:50432',
    ],
    [
      post(
        "/write?db=x",
        new Uint8Array(gzipSync(new Uint8Array(100_000))),
        { "content-encoding": "gzip" },
      ),
      413,
      'Rejected write on relay "test": Cannot decode gzip body: it inflates to more than the limit of 1000 bytes; answered 413 to POST /write from 192.0.2.7:50432',
    ],
    [
      post("/write?db=x", "x".repeat(200)),
      413,
      'Rejected write on relay "test": Cannot read request body: 200 bytes is more than the limit of 150 bytes; answered 413 to POST /write from 192.0.2.7:50432',
    ],
    [
      post("/write?db=x", stalled("cpu v")),
      408,
      'Rejected write on relay "test": Cannot read request body: not complete after 50ms; answered 408 to POST /write from 192.0.2.7:50432',
    ],
    [
      new Request("http://relay/write?db=x"),
      405,
      'Refused request on relay "test": invalid write method; answered 405 to GET /write from 192.0.2.7:50432',
    ],
    [
      new Request("http://relay/write?db=x", { method: "HEAD" }),
      405,
      'Refused request on relay "test": invalid write method; answered 405 to HEAD /write from 192.0.2.7:50432',
    ],
    [
      new Request("http://relay/api/v2/write?bucket=x"),
      405,
      'Refused request on relay "test": method not allowed; answered 405 to GET /api/v2/write from 192.0.2.7:50432',
    ],
    [
      post("/api/v2/write?org=o", "cpu value=1"),
      404,
      'Rejected write on relay "test": bucket not found; answered 404 to POST /api/v2/write from 192.0.2.7:50432',
    ],
    [
      new Request("http://relay/wp-login.php?x=1"),
      404,
      'Refused request on relay "test": invalid write endpoint; answered 404 to GET /wp-login.php from 192.0.2.7:50432',
    ],
  ];
  for (const [request, status, line] of cases) {
    lines.length = 0;
    const response = await handle(request, CLIENT);
    await response.body?.cancel();
    assert.equal(response.status, status, line);
    assert.deepEqual(lines.map((l) => [l.level, l.text]), [["debug", line]]);
  }
});

Deno.test("createHttpHandler() names the user of a refused request, never a password or token", async () => {
  const auth = new ClientAuth({
    users: [{ name: "telegraf", sha256: sha256Hex("right") }],
    tokens: [sha256Hex("good-token")],
  });
  const { handle, lines } = logged(recorder().target, {
    auth,
    query: () => Promise.resolve(new Response("{}")),
  });
  const requests = [
    post("/write?db=x", "cpu value=1"),
    post("/write?db=x", "cpu value=1", {
      authorization: `Basic ${btoa("telegraf:wrong-password")}`,
    }),
    post("/write?db=x&u=grafana&p=query-password", "cpu value=1"),
    post("/write?db=x", "cpu value=1", {
      authorization: "Token bad-user:bad-token",
    }),
    new Request("http://relay/query?q=SHOW+DATABASES&u=ops", {
      headers: { authorization: "Bearer bad-bearer" },
    }),
  ];
  for (const request of requests) {
    const response = await handle(request, CLIENT_V6);
    await response.body?.cancel();
    assert.equal(response.status, 401);
  }
  assert.deepEqual(lines.map((l) => [l.level, l.text]), [
    [
      "debug",
      'Refused request on relay "test": unable to parse authentication credentials; answered 401 to POST /write from [2001:db8::7]:443',
    ],
    [
      "debug",
      'Refused request on relay "test": authorization failed for user "telegraf"; answered 401 to POST /write from [2001:db8::7]:443',
    ],
    [
      "debug",
      'Refused request on relay "test": authorization failed for user "grafana"; answered 401 to POST /write from [2001:db8::7]:443',
    ],
    [
      "debug",
      'Refused request on relay "test": authorization failed; answered 401 to POST /write from [2001:db8::7]:443',
    ],
    [
      "debug",
      'Refused request on relay "test": authorization failed for user "ops"; answered 401 to GET /query from [2001:db8::7]:443',
    ],
  ]);
  const everything = JSON.stringify(lines);
  for (const secret of ["wrong-password", "query-password", "bad-token"]) {
    assert.ok(!everything.includes(secret), `${secret} was logged`);
  }
});

Deno.test("createHttpHandler() logs the lines left out of a partial write with the answer it gave", async () => {
  const body = "cpu value=1\ncpu value=\ncpu value=3\n";
  const accepted = logged(recorder().target, { partialWrites: true });
  const first = await accepted.handle(post("/write?db=x", body), CLIENT);
  await first.body?.cancel();
  assert.equal(first.status, 400);
  assert.deepEqual(accepted.lines.map((l) => [l.level, l.text]), [[
    "debug",
    "Rejected lines of a write on relay \"test\": unable to parse 'cpu value=': line 2: missing field value; left out 1 bad line(s), forwarded 2; answered 400 to POST /write from 192.0.2.7:50432",
  ]]);
  const refused = logged(
    recorder({ kind: "unavailable" }).target,
    { partialWrites: true },
  );
  const second = await refused.handle(post("/write?db=x", body), CLIENT);
  await second.body?.cancel();
  assert.equal(second.status, 503);
  assert.deepEqual(refused.lines.map((l) => [l.level, l.text]), [
    [
      "warning",
      'Failed write on relay "test": unable to write points; answered 503 to POST /write from 192.0.2.7:50432',
    ],
    [
      "debug",
      "Rejected lines of a write on relay \"test\": unable to parse 'cpu value=': line 2: missing field value; left out 1 bad line(s), forwarded 2; answered 503 to POST /write from 192.0.2.7:50432",
    ],
  ]);
});

Deno.test("createHttpHandler() logs 429s at warning, a few per interval, then how many it left out", async () => {
  let now = 0;
  const { handle, lines } = logged(recorder().target, {
    admission: new Admission({ rate: 1, burst: 1, clock: () => now }),
    logThrottle: { burst: 2, intervalMs: 10_000, clock: () => now },
  });
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) {
    const response = await handle(post("/write?db=x", "cpu value=1"), CLIENT);
    await response.body?.cancel();
    statuses.push(response.status);
  }
  assert.deepEqual(statuses, [204, 429, 429, 429, 429, 429]);
  const line =
    'Shedding load on relay "test": rate limit exceeded (rate-limit); answered 429 to POST /write from 192.0.2.7:50432';
  assert.deepEqual(lines.map((l) => [l.level, l.text]), [
    ["warning", line],
    ["warning", line],
  ]);
  now = 10_000;
  await handle(post("/write?db=x", "cpu value=1"), CLIENT); // a new token
  const response = await handle(post("/write?db=x", "cpu value=1"), CLIENT);
  await response.body?.cancel();
  assert.equal(response.status, 429);
  assert.deepEqual(lines.at(-1), {
    level: "warning",
    text: `${line} (3 similar lines left out before this one)`,
    properties: {
      relay: "test",
      status: 429,
      method: "POST",
      path: "/write",
      client: "192.0.2.7:50432",
      error: "rate limit exceeded (rate-limit)",
      more: " (3 similar lines left out before this one)",
      suppressed: 3,
    },
  });
});

Deno.test("createHttpHandler() logs 503s of max-concurrent-requests at warning, apart from 429s", async () => {
  let now = 0;
  const release = Promise.withResolvers<Decision>();
  const entered = Promise.withResolvers<void>();
  let calls = 0;
  const target: WriteTarget = {
    write() {
      // The first write is answered at once, the second held in progress.
      if (++calls === 1) return Promise.resolve({ kind: "accepted" });
      entered.resolve();
      return release.promise;
    },
  };
  const { handle, lines } = logged(target, {
    admission: new Admission({
      maxConcurrent: 1,
      rate: 1,
      burst: 1,
      clock: () => now,
    }),
    logThrottle: { burst: 1, intervalMs: 10_000, clock: () => now },
  });
  const statuses: number[] = [];
  async function send(path: string): Promise<void> {
    const response = await handle(post(path, "cpu value=1"), CLIENT);
    await response.body?.cancel();
    statuses.push(response.status);
  }
  await send("/write?db=x");
  await send("/write?db=x");
  await send("/write?db=x");
  now = 1000;
  const held = handle(post("/write?db=x", "cpu value=1"), CLIENT);
  await entered.promise;
  await send("/api/v2/write?bucket=x");
  await send("/api/v2/write?bucket=x");
  release.resolve({ kind: "accepted" });
  assert.equal((await held).status, 204);
  assert.deepEqual(statuses, [204, 429, 429, 503, 503]);
  // The 429s used up their throttle; the 503s have their own.
  assert.deepEqual(lines.map((l) => [l.level, l.text]), [
    [
      "warning",
      'Shedding load on relay "test": rate limit exceeded (rate-limit); answered 429 to POST /write from 192.0.2.7:50432',
    ],
    [
      "warning",
      'Shedding load on relay "test": request throttled: 1 requests in progress (max-concurrent-requests); answered 503 to POST /api/v2/write from 192.0.2.7:50432',
    ],
  ]);
});

Deno.test("createHttpHandler() logs a write not delivered within ack-timeout at warning, throttled", async () => {
  let now = 0;
  const reason =
    "queued for retry on 1 of 1 backends, not delivered within 1000ms";
  const { handle, lines } = logged(
    recorder({ kind: "unavailable", reason }).target,
    { logThrottle: { burst: 1, intervalMs: 10_000, clock: () => now } },
  );
  for (let i = 0; i < 3; i++) {
    const response = await handle(post("/write?db=x", "cpu value=1"), CLIENT);
    assert.deepEqual(await response.json(), {
      error: `unable to write points: ${reason}`,
    });
  }
  now = 10_000;
  await (await handle(post("/write?db=x", "cpu value=1"), CLIENT)).body
    ?.cancel();
  const line =
    'Failed write on relay "test": unable to write points: queued for retry on 1 of 1 backends, not delivered within 1000ms; answered 503 to POST /write from 192.0.2.7:50432';
  assert.deepEqual(lines.map((l) => [l.level, l.text]), [
    ["warning", line],
    ["warning", `${line} (2 similar lines left out before this one)`],
  ]);
});

Deno.test("createHttpHandler() logs a write stored on too few backends at warning", async () => {
  const { handle, lines } = logged(
    recorder({
      kind: "insufficient",
      stored: 1,
      needed: 2,
      backends: 3,
      ack: "majority",
    }).target,
  );
  const response = await handle(post("/write?db=x", "cpu value=1"), CLIENT);
  await response.body?.cancel();
  assert.equal(response.status, 503);
  assert.deepEqual(lines.map((l) => [l.level, l.text]), [[
    "warning",
    'Failed write on relay "test": unable to write points: stored on 1 of 3 backends, ack = "majority" needs 2; answered 503 to POST /write from 192.0.2.7:50432',
  ]]);
});

Deno.test("createHttpHandler() answers 500 and logs an error when its own code fails", async () => {
  const target: WriteTarget = {
    write: () => Promise.reject(new Error("boom")),
  };
  const stats = new HttpListenerStats();
  const { handle, lines } = logged(target, { stats });
  const response = await handle(post("/write?db=x", "cpu value=1"), CLIENT);
  assert.equal(response.status, 500);
  assert.deepEqual(await response.json(), {
    error: "internal error: Error: boom",
  });
  assert.deepEqual(lines.map((l) => [l.level, l.text]), [[
    "error",
    'Cannot answer a request on relay "test": Error: boom; answered 500 to POST /write from 192.0.2.7:50432',
  ]]);
  assert.deepEqual(stats.snapshot().requests, [
    { path: "/write", status: 500, count: 1 },
  ]);
});

Deno.test("createHttpHandler() logs the client as unknown without connection info", async () => {
  const { handle, lines } = logged(recorder().target);
  await (await handle(new Request("http://relay/nowhere"))).body?.cancel();
  assert.deepEqual(lines.map((l) => l.text), [
    'Refused request on relay "test": invalid write endpoint; answered 404 to GET /nowhere from unknown',
  ]);
});

Deno.test("createHttpHandler() builds no log line for a level that is off", async () => {
  const { logger } = linesLogger(["error"]);
  const handle = createHttpHandler(recorder().target, {
    name: "test",
    logger,
    auth: new ClientAuth({ tokens: [sha256Hex("t")] }),
    admission: new Admission({ rate: 1, burst: 1, clock: () => 0 }),
  });
  const token = { authorization: "Token t" };
  for (
    const [request, status] of [
      [post("/write?db=x", "bad line", token), 400],
      [post("/write?db=x", "cpu value=1", token), 429],
      [post("/write?db=x", "cpu value=1"), 401],
      [new Request("http://relay/nowhere", { headers: token }), 404],
    ] as const
  ) {
    const response = await handle(request, CLIENT);
    await response.body?.cancel();
    assert.equal(response.status, status);
  }
});

Deno.test("createHttpHandler() does no logging work for a request that succeeds", async () => {
  const handle = createHttpHandler(recorder().target, {
    name: "test",
    logger: untouchable,
    partialWrites: true,
  });
  for (
    const request of [
      post("/write?db=x", "cpu value=1"),
      post("/api/v2/write?bucket=x", "cpu value=1"),
      new Request("http://relay/ping"),
      new Request("http://relay/write", { method: "OPTIONS" }),
    ]
  ) {
    assert.equal((await handle(request, CLIENT)).status, 204);
  }
});

/** Sends `GET <path>` on a connection of its own; the client's port. */
async function getFrom(port: number, path: string): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(
    new TextEncoder().encode(
      `GET ${path} HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n`,
    ),
  );
  const answer = await new Response(conn.readable).text();
  assert.match(answer, /^HTTP\/1\.1 404 /);
  return conn.localAddr.port;
}

Deno.test("serveHttp() gives the client's address through wrappers that pass the connection info on", async () => {
  const { logger, lines } = linesLogger();
  const inner = createHttpHandler(recorder().target, { name: "test", logger });
  let active = 0;
  // Shaped like the service's: a route, then a counting async wrapper.
  async function counting(
    request: Request,
    info?: ClientInfo,
  ): Promise<Response> {
    active++;
    try {
      return await inner(request, info);
    } finally {
      active--;
    }
  }
  // A wrapper that drops the info logs the client as unknown, never as
  // another request's.
  async function late(request: Request): Promise<Response> {
    await Promise.resolve();
    return await inner(request);
  }
  const listening = Promise.withResolvers<Deno.NetAddr>();
  const server = serveHttp(
    (request, info) =>
      new URL(request.url).pathname === "/late"
        ? late(request)
        : counting(request, info),
    { hostname: "127.0.0.1", port: 0, onListen: listening.resolve },
  );
  try {
    const { port } = await listening.promise;
    const [a, b] = await Promise.all([
      getFrom(port, "/nowhere"),
      getFrom(port, "/elsewhere"),
    ]);
    await getFrom(port, "/late");
    assert.deepEqual(lines.map((l) => l.text).sort(), [
      `Refused request on relay "test": invalid write endpoint; answered 404 to GET /elsewhere from 127.0.0.1:${b}`,
      'Refused request on relay "test": invalid write endpoint; answered 404 to GET /late from unknown',
      `Refused request on relay "test": invalid write endpoint; answered 404 to GET /nowhere from 127.0.0.1:${a}`,
    ]);
    assert.equal(active, 0);
  } finally {
    await server.shutdown();
  }
});

Deno.test("printable() escapes control and layout characters and cuts long text", () => {
  assert.equal(printable("cpu value=1", 100), "cpu value=1");
  assert.equal(
    printable("a\nb\r\tc\x00\x7f\x9b[2J\u2028\u202e", 100),
    "a\\x0ab\\x0d\\x09c\\x00\\x7f\\x9b[2J\\u2028\\u202e",
  );
  assert.equal(printable("abcdef", 4), "abcd…");
  assert.equal(
    printable("ab\u{1F600}", 3),
    "ab…",
    "no half of a surrogate pair",
  );
  assert.equal(printable("héllo wörld", 100), "héllo wörld");
});

Deno.test("formatAddress() brackets IPv6 addresses and names Unix sockets", () => {
  assert.equal(
    formatAddress({ transport: "tcp", hostname: "10.0.0.1", port: 80 }),
    "10.0.0.1:80",
  );
  assert.equal(
    formatAddress({ transport: "tcp", hostname: "::1", port: 9096 }),
    "[::1]:9096",
  );
  assert.equal(
    formatAddress({ transport: "unix", path: "/run/relay.sock" }),
    "/run/relay.sock",
  );
});
