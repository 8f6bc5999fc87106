import assert from "node:assert/strict";
import type { Backend, BackendResponse, BackendResult } from "./backend.ts";
import { redactPasswords } from "./backend_auth.ts";
import type { WriteBatch } from "./batch.ts";
import { describeBody, Fanout } from "./fanout.ts";
import { recordingLogger } from "../tests/_recording_logger.ts";

const encoder = new TextEncoder();

function response(status: number, body = ""): BackendResponse {
  return {
    kind: "response",
    status,
    body: encoder.encode(body),
    contentType: body === "" ? null : "application/json",
  };
}

/** A backend that answers every write with `answer`, after `delay`. */
function backend(
  name: string,
  answer: () => BackendResult,
  delay: () => Promise<void> = () => Promise.resolve(),
): Backend {
  return {
    name,
    async write() {
      await delay();
      return answer();
    },
    close: () => Promise.resolve(),
  };
}

const BATCH: WriteBatch = {
  query: "db=mydb",
  auth: null,
  body: encoder.encode("cpu value=1\n"),
  points: 1,
};

const NOT_FOUND = '{"error":"database not found: \\"mydb\\""}';

const REFUSED_LINE =
  '4xx response for relay "{relay}" backend "{backend}": {status}: {body}; the backend refused this write, other backends may have stored it';

Deno.test("Fanout.write() logs a backend's 4xx at warning while the client gets 204 from a faster backend", async () => {
  const logger = recordingLogger();
  const { promise: late, resolve: release } = Promise.withResolvers<void>();
  const fanout = new Fanout([
    backend("local1", () => response(204)),
    backend("local2", () => response(404, NOT_FOUND), () => late),
  ], { relay: "example-http", logger });
  const decision = await fanout.write(BATCH);
  assert.deepEqual(decision, { kind: "accepted" });
  release();
  await fanout.drain();
  assert.deepEqual(logger.logged, [{
    level: "warning",
    message: REFUSED_LINE,
    properties: {
      relay: "example-http",
      backend: "local2",
      status: 404,
      body: NOT_FOUND,
      suppressed: 0,
    },
  }]);
});

Deno.test("Fanout.write() still forwards the first 4xx to the client, and logs it", async () => {
  const logger = recordingLogger();
  const { promise: late, resolve: release } = Promise.withResolvers<void>();
  const fanout = new Fanout([
    backend("local1", () => response(204), () => late),
    backend("local2", () => response(404, NOT_FOUND)),
  ], { relay: "example-http", logger });
  const decision = await fanout.write(BATCH);
  assert.equal(decision.kind, "forward");
  assert.equal(
    decision.kind === "forward" && decision.response.status,
    404,
  );
  release();
  await fanout.drain();
  assert.equal(logger.logged.length, 1);
  assert.equal(logger.logged[0]!.properties.backend, "local2");
});

Deno.test("Fanout.write() throttles 4xx lines per backend and says how many it left out", async () => {
  const logger = recordingLogger();
  let now = 0;
  const fanout = new Fanout([
    backend("a", () => response(400, '{"error":"bad"}')),
    backend("b", () => response(404, NOT_FOUND)),
  ], {
    relay: "r",
    logger,
    refusedLogThrottle: { burst: 2, intervalMs: 10_000, clock: () => now },
  });
  for (let i = 0; i < 5; i++) await fanout.write(BATCH);
  await fanout.drain();
  const count = (name: string) =>
    logger.logged.filter((l) => l.properties.backend === name).length;
  // Each backend has its own budget: one cannot hide the other.
  assert.equal(count("a"), 2);
  assert.equal(count("b"), 2);
  now = 10_000;
  await fanout.write(BATCH);
  await fanout.drain();
  const last = logger.logged.filter((l) => l.properties.backend === "a").at(
    -1,
  )!;
  assert.equal(
    last.message,
    REFUSED_LINE + " ({suppressed} similar lines left out before this one)",
  );
  assert.equal(last.properties.suppressed, 3);
});

Deno.test("Fanout.write() logs a 4xx without a body without an empty quote", async () => {
  const logger = recordingLogger();
  const fanout = new Fanout([backend("b", () => response(401))], {
    relay: "r",
    logger,
  });
  await fanout.write(BATCH);
  await fanout.drain();
  assert.equal(
    logger.logged[0]!.message,
    '4xx response for relay "{relay}" backend "{backend}": {status}; the backend refused this write, other backends may have stored it',
  );
});

Deno.test("Fanout.write() adds the backend's body to the original's 5xx line", async () => {
  const logger = recordingLogger();
  const fanout = new Fanout([
    backend(
      "local2",
      () => response(500, '{"error":"engine: cache-max-memory-size exceeded"}'),
    ),
    backend("local3", () => response(503)),
  ], { relay: "example-http", logger });
  const decision = await fanout.write(BATCH);
  assert.equal(decision.kind, "forward");
  await fanout.drain();
  assert.deepEqual(
    logger.logged.map((l) => [l.level, l.message, l.properties.body]),
    [
      [
        "error",
        '5xx response for relay "{relay}" backend "{backend}": {status}: {body}',
        '{"error":"engine: cache-max-memory-size exceeded"}',
      ],
      [
        "error",
        '5xx response for relay "{relay}" backend "{backend}": {status}',
        "",
      ],
    ],
  );
});

Deno.test("Fanout.write() logs nothing for 2xx answers", async () => {
  const logger = recordingLogger();
  const fanout = new Fanout([
    backend("a", () => response(204)),
    backend("b", () => response(200, "{}")),
  ], { relay: "r", logger });
  await fanout.write(BATCH);
  await fanout.drain();
  assert.deepEqual(logger.logged, []);
});

Deno.test("describeBody() puts a body on one line, cuts it and hides passwords as redactPasswords() does", () => {
  assert.equal(describeBody(new Uint8Array(0)), "");
  assert.equal(describeBody(encoder.encode(" \n ")), "");
  assert.equal(
    describeBody(encoder.encode('{"error":"a"}\n')),
    '{"error":"a"}',
  );
  assert.equal(
    describeBody(encoder.encode("<html>\n  <body>Bad Gateway</body>\n</html>")),
    "<html> <body>Bad Gateway</body> </html>",
  );
  const echoed = 'unable to parse "http://h/write?db=x&p=hunter2&u=me" here';
  assert.equal(describeBody(encoder.encode(echoed)), redactPasswords(echoed));
  assert.ok(!describeBody(encoder.encode(echoed)).includes("hunter2"));
  const long = describeBody(encoder.encode("x".repeat(5000)));
  assert.equal(long, `${"x".repeat(256)}… (5000 bytes)`);
  const wide = describeBody(encoder.encode("é".repeat(300)));
  assert.equal(wide, `${"é".repeat(256)}… (600 bytes)`);
});

Deno.test("Fanout.write() hides a client's password in the 'Problem posting' line", async () => {
  const logger = recordingLogger();
  const fanout = new Fanout([
    backend("a", () => ({
      kind: "failure",
      error: new Error(
        'POST "http://10.0.0.2:8086/write?db=x&p=hunter2&u=me": connect ECONNREFUSED 10.0.0.2:8086',
      ),
    })),
  ], { relay: "r", logger });
  await fanout.write(BATCH);
  await fanout.drain();
  assert.equal(logger.logged.length, 1);
  assert.equal(
    logger.logged[0]!.properties.error,
    'POST "http://10.0.0.2:8086/write?db=x&p=[redacted]&u=me": connect ECONNREFUSED 10.0.0.2:8086',
  );
});
