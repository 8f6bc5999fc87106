import assert from "node:assert/strict";
import { QueryProxy, type QueryProxyOptions } from "./query_proxy.ts";
import type {
  BackendQuery,
  QueryTarget,
  QueryTargetState,
} from "./query_target.ts";
import { recordingLogger } from "../tests/_recording_logger.ts";

interface FakeTarget extends QueryTarget {
  state_: QueryTargetState;
  latency: number | null;
  readonly sent: BackendQuery[];
}

type Answer = (query: BackendQuery, signal: AbortSignal) =>
  | Response
  | Promise<Response>;

const RESULT = '{"results":[{"statement_id":0}]}\n';

function ok(body = RESULT): Response {
  return new Response(body, {
    headers: { "content-type": "application/json" },
  });
}

function refused(): never {
  throw new Error("connect ECONNREFUSED 127.0.0.1:1");
}

function fake(
  name: string,
  answer: Answer = () => ok(),
  options: {
    state?: QueryTargetState;
    latency?: number | null;
    takesWrites?: boolean;
  } = {},
): FakeTarget {
  const sent: BackendQuery[] = [];
  return {
    name,
    takesWrites: options.takesWrites ?? true,
    state_: options.state ?? "up",
    latency: options.latency ?? null,
    sent,
    state() {
      return this.state_;
    },
    latencyMs() {
      return this.latency;
    },
    send(query, signal) {
      sent.push(query);
      return Promise.resolve().then(() => answer(query, signal));
    },
  };
}

function proxy(
  targets: QueryTarget[],
  options: Partial<QueryProxyOptions> = {},
) {
  const logger = recordingLogger();
  const instance = new QueryProxy(targets, {
    relay: "r",
    logger,
    retryMs: 2,
    maxRetryDelayMs: 5,
    ...options,
  });
  return {
    proxy: instance,
    logger,
    [Symbol.asyncDispose]: () => instance.close(),
  };
}

function get(q: string, extra = ""): Request {
  return new Request(
    `http://relay/query?q=${encodeURIComponent(q)}${extra}`,
  );
}

function post(q: string): Request {
  return new Request("http://relay/query", {
    method: "POST",
    body: new URLSearchParams({ q, db: "x" }),
  });
}

function qOf(query: BackendQuery | undefined): string | undefined {
  return query?.params.find(([key]) => key === "q")?.[1];
}

Deno.test("QueryProxy.handle() sends a read to the first backend that is up, in config order", async () => {
  const a = fake("a", () => ok('{"results":"from a"}'));
  const b = fake("b");
  await using p = proxy([a, b]);
  const response = await p.proxy.handle(
    get("SELECT * FROM cpu", "&db=x&epoch=ms&chunked=true"),
  );
  assert.equal(response.status, 200);
  assert.equal(await response.text(), '{"results":"from a"}');
  assert.equal(response.headers.get("content-type"), "application/json");
  assert.equal(response.headers.get("x-relay-backend"), "a");
  assert.equal(b.sent.length, 0);
  assert.deepEqual(a.sent[0], {
    method: "GET",
    params: [["q", "SELECT * FROM cpu"], ["db", "x"], ["epoch", "ms"], [
      "chunked",
      "true",
    ]],
    authorization: null,
    acceptEncoding: null,
  });
});

Deno.test("QueryProxy.handle() skips backends that are down or catching up for reads", async () => {
  const a = fake("a", refused, { state: "down" });
  const b = fake("b", refused, { state: "catching-up" });
  const c = fake("c");
  await using p = proxy([a, b, c]);
  const response = await p.proxy.handle(get("SHOW DATABASES"));
  assert.equal(response.headers.get("x-relay-backend"), "c");
  await response.body?.cancel();
  assert.equal(a.sent.length + b.sent.length, 0);
});

Deno.test("QueryProxy.handle() fails a read over to the next backend on no answer or a 5xx", async () => {
  const a = fake("a", refused);
  const b = fake("b", () => new Response("overloaded", { status: 503 }));
  const c = fake("c");
  await using p = proxy([a, b, c]);
  const response = await p.proxy.handle(get("SHOW DATABASES"));
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("x-relay-backend"), "c");
  await response.body?.cancel();
  const warnings = p.logger.logged.filter((l) => l.level === "warning");
  assert.deepEqual(
    warnings.map((w) => [w.properties.backend, w.properties.next]),
    [
      ["a", ', trying "b"'],
      ["b", ', trying "c"'],
    ],
  );
  assert.equal(warnings[1]?.properties.reason, "HTTP 503: overloaded");
});

Deno.test("QueryProxy.handle() passes the last backend's 5xx through when every backend fails", async () => {
  const a = fake("a", refused);
  const b = fake("b", () => new Response('{"error":"boom"}', { status: 500 }));
  await using p = proxy([a, b]);
  const response = await p.proxy.handle(get("SHOW DATABASES"));
  assert.equal(response.status, 500);
  assert.equal(await response.text(), '{"error":"boom"}');
});

Deno.test("QueryProxy.handle() answers 503 naming every backend when none answers a read", async () => {
  await using p = proxy([fake("a", refused), fake("b", refused)]);
  const response = await p.proxy.handle(get("SHOW DATABASES"));
  assert.equal(response.status, 503);
  assert.deepEqual(await response.json(), {
    error:
      'unable to query: backend "a": connect ECONNREFUSED 127.0.0.1:1; backend "b": connect ECONNREFUSED 127.0.0.1:1',
  });
});

Deno.test("QueryProxy.handle() answers 503 with each backend's state when no backend is up to date", async () => {
  await using p = proxy([
    fake("a", refused, { state: "down" }),
    fake("b", refused, { state: "catching-up" }),
  ]);
  const response = await p.proxy.handle(get("SHOW DATABASES"));
  assert.equal(response.status, 503);
  assert.deepEqual(await response.json(), {
    error:
      'unable to query: no backend is up to date ("a" is down, "b" is catching up on queued writes)',
  });
});

Deno.test("QueryProxy.handle() fails a read over when a backend does not start answering within timeoutMs", async () => {
  const a = fake("a", (_, signal) =>
    new Promise<Response>((_, reject) => {
      signal.addEventListener("abort", () => reject(signal.reason));
    }));
  const b = fake("b");
  await using p = proxy([a, b], { timeoutMs: 20 });
  const response = await p.proxy.handle(get("SHOW DATABASES"));
  assert.equal(response.headers.get("x-relay-backend"), "b");
  await response.body?.cancel();
  assert.match(
    String(p.logger.logged[0]?.properties.reason),
    /no answer within 20ms \(query-timeout\)/,
  );
});

Deno.test("QueryProxy.handle() rotates reads over the candidates with policy round-robin", async () => {
  const targets = [fake("a"), fake("b"), fake("c")];
  await using p = proxy(targets, { policy: "round-robin" });
  const order: (string | null)[] = [];
  for (let i = 0; i < 4; i++) {
    const response = await p.proxy.handle(get("SHOW DATABASES"));
    order.push(response.headers.get("x-relay-backend"));
    await response.body?.cancel();
  }
  assert.deepEqual(order, ["a", "b", "c", "a"]);
});

Deno.test("QueryProxy.handle() prefers the lowest probe latency with policy lowest-latency, unknown last", async () => {
  const a = fake("a", () => ok(), { latency: null });
  const b = fake("b", () => ok(), { latency: 9 });
  const c = fake("c", refused, { latency: 2 });
  await using p = proxy([a, b, c], { policy: "lowest-latency" });
  const response = await p.proxy.handle(get("SHOW DATABASES"));
  assert.equal(response.headers.get("x-relay-backend"), "b");
  await response.body?.cancel();
  assert.equal(c.sent.length, 1);
  assert.equal(a.sent.length, 0);
});

Deno.test("QueryProxy.handle() passes a streamed read body through unchanged", async () => {
  const encoder = new TextEncoder();
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(
        encoder.encode('{"results":[{"statement_id":0,"partial":true}]}\n'),
      );
      controller.enqueue(encoder.encode('{"results":[{"statement_id":0}]}\n'));
      controller.close();
    },
  });
  await using p = proxy([fake("a", () => new Response(stream))]);
  const response = await p.proxy.handle(
    get("SELECT * FROM m", "&chunked=true"),
  );
  assert.equal(
    await response.text(),
    '{"results":[{"statement_id":0,"partial":true}]}\n{"results":[{"statement_id":0}]}\n',
  );
});

Deno.test("QueryProxy.handle() sends a write to every backend that takes writes, as a POST", async () => {
  const a = fake("a");
  const b = fake("b");
  const readOnly = fake("v2", refused, { takesWrites: false });
  await using p = proxy([a, b, readOnly]);
  const response = await p.proxy.handle(
    new Request(
      `http://relay/query?q=${encodeURIComponent("CREATE DATABASE x")}`,
      { headers: { authorization: "Basic dTpw", "accept-encoding": "gzip" } },
    ),
  );
  assert.equal(response.status, 200);
  assert.equal(await response.text(), RESULT);
  for (const target of [a, b]) {
    assert.deepEqual(target.sent, [{
      method: "POST",
      params: [["q", "CREATE DATABASE x"]],
      authorization: "Basic dTpw",
      acceptEncoding: null,
    }]);
  }
  assert.equal(readOnly.sent.length, 0);
});

Deno.test("QueryProxy.handle() refuses a write when a backend is down with whenDown refuse", async () => {
  const a = fake("a");
  const b = fake("b", refused, { state: "down" });
  await using p = proxy([a, b]);
  const response = await p.proxy.handle(post("DROP MEASUREMENT cpu"));
  assert.equal(response.status, 503);
  assert.deepEqual(await response.json(), {
    error:
      'unable to apply the query: backend "b" is down; nothing was changed (query-ddl-when-down = "refuse")',
  });
  assert.equal(a.sent.length + b.sent.length, 0);
});

Deno.test("QueryProxy.handle() names the backends a write failed on with whenDown refuse", async () => {
  const a = fake("a");
  const b = fake("b", refused);
  await using p = proxy([a, b]);
  const response = await p.proxy.handle(post("CREATE DATABASE x"));
  assert.equal(response.status, 503);
  assert.deepEqual(await response.json(), {
    error:
      'unable to apply the query on every backend: "a" applied it; "b" failed: connect ECONNREFUSED 127.0.0.1:1',
  });
});

Deno.test("QueryProxy.handle() answers 502 when backends answer a write differently", async () => {
  const a = fake("a");
  const b = fake(
    "b",
    () => ok('{"results":[{"statement_id":0,"error":"user already exists"}]}'),
  );
  await using p = proxy([a, b]);
  const response = await p.proxy.handle(
    post("CREATE USER u WITH PASSWORD 'x'"),
  );
  assert.equal(response.status, 502);
  assert.deepEqual(await response.json(), {
    error:
      'unable to apply the query on every backend: "a" applied it; "b" answered: user already exists',
  });
});

Deno.test("QueryProxy.handle() passes an error every backend answered alike through, queueing nothing", async () => {
  const error =
    '{"results":[{"statement_id":0,"error":"database not found: nope"}]}';
  const a = fake("a", () => ok(error));
  const b = fake("b", refused, { state: "down" });
  await using p = proxy([a, b], { whenDown: "queue" });
  const response = await p.proxy.handle(
    post("CREATE RETENTION POLICY r ON nope DURATION 1h REPLICATION 1"),
  );
  assert.equal(response.status, 200);
  assert.equal(await response.text(), error);
  assert.equal(p.proxy.queued("b"), 0);
});

Deno.test("QueryProxy.handle() applies a write to the live backends and queues it for a down one with whenDown queue", async () => {
  const a = fake("a");
  const b = fake("b", refused, { state: "down" });
  await using p = proxy([a, b], { whenDown: "queue" });
  const response = await p.proxy.handle(post("CREATE DATABASE x"));
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), {
    results: [{
      statement_id: 0,
      messages: [{
        level: "warning",
        text:
          'the relay queued this query for backend "b" (down); it is applied there when the backend answers again',
      }],
    }],
  });
  assert.equal(a.sent.length, 1);
  assert.equal(p.proxy.queued("b"), 1);

  // While the statement waits, b gets no reads even once it is up.
  b.state_ = "up";
  const read = await p.proxy.handle(get("SHOW DATABASES"));
  assert.equal(read.headers.get("x-relay-backend"), "a");
  await read.body?.cancel();

  // A later write queues behind the first instead of overtaking it.
  const second = await p.proxy.handle(post("CREATE DATABASE y"));
  await second.body?.cancel();
  assert.deepEqual(a.sent.map(qOf), [
    "CREATE DATABASE x",
    "SHOW DATABASES",
    "CREATE DATABASE y",
  ]);

  b.send = (query) => {
    b.sent.push(query);
    return Promise.resolve(ok());
  };
  await p.proxy.settled();
  assert.deepEqual(b.sent.slice(-2).map(qOf), [
    "CREATE DATABASE x",
    "CREATE DATABASE y",
  ]);
  assert.equal(p.proxy.queued("b"), 0);
});

Deno.test("QueryProxy.handle() queues a write for a backend that fails it with whenDown queue", async () => {
  const a = fake("a");
  const b = fake("b", () => new Response("busy", { status: 503 }));
  await using p = proxy([a, b], { whenDown: "queue" });
  const response = await p.proxy.handle(post("DELETE FROM cpu"));
  assert.equal(response.status, 200);
  await response.body?.cancel();
  assert.equal(p.proxy.queued("b"), 1);
});

Deno.test("QueryProxy.handle() refuses a write when every backend is down with whenDown queue", async () => {
  await using p = proxy([
    fake("a", refused, { state: "down" }),
    fake("b", refused, { state: "down" }),
  ], { whenDown: "queue" });
  const response = await p.proxy.handle(post("CREATE DATABASE x"));
  assert.equal(response.status, 503);
  assert.deepEqual(await response.json(), {
    error:
      'unable to apply the query: every backend is down ("a", "b"); nothing was changed',
  });
  assert.equal(p.proxy.queued("a"), 0);
});

Deno.test("QueryProxy.handle() refuses mixed and backend-local queries with 400", async () => {
  const a = fake("a");
  await using p = proxy([a]);
  const mixed = await p.proxy.handle(post("SHOW DATABASES; DROP DATABASE x"));
  assert.equal(mixed.status, 400);
  assert.match(
    (await mixed.json()).error,
    /^cannot mix reads and writes in one query through the relay/,
  );
  const kill = await p.proxy.handle(post("KILL QUERY 1"));
  assert.equal(kill.status, 400);
  await kill.body?.cancel();
  assert.equal(a.sent.length, 0);
});

Deno.test("QueryProxy.handle() answers a missing q, OPTIONS and other methods as InfluxDB", async () => {
  await using p = proxy([fake("a")]);
  const missing = await p.proxy.handle(new Request("http://relay/query"));
  assert.equal(missing.status, 400);
  assert.deepEqual(await missing.json(), {
    error: 'missing required parameter "q"',
  });
  const options = await p.proxy.handle(
    new Request("http://relay/query", { method: "OPTIONS" }),
  );
  assert.equal(options.status, 204);
  const put = await p.proxy.handle(
    new Request("http://relay/query", { method: "PUT" }),
  );
  assert.equal(put.status, 405);
  assert.equal(put.headers.get("allow"), "GET, POST");
  await put.body?.cancel();
});

Deno.test("QueryProxy.handle() keeps the client's credentials with forwardCredentials false", async () => {
  const a = fake("a");
  await using p = proxy([a], { forwardCredentials: false });
  for (const q of ["SHOW DATABASES", "CREATE DATABASE x"]) {
    const response = await p.proxy.handle(
      new Request(
        `http://relay/query?u=me&p=secret&q=${encodeURIComponent(q)}`,
        { headers: { authorization: "Basic bWU6c2VjcmV0" } },
      ),
    );
    await response.body?.cancel();
  }
  assert.deepEqual(
    a.sent.map((s) => [s.params, s.authorization]),
    [
      [[["q", "SHOW DATABASES"]], null],
      [[["q", "CREATE DATABASE x"]], null],
    ],
  );
});
