import assert from "node:assert/strict";
import type { BackendResult } from "./backend.ts";
import { BackendHealth, formatSeconds } from "./backend_health.ts";
import { recordingLogger } from "../tests/_recording_logger.ts";

function answer(status: number, body = ""): BackendResult {
  return {
    kind: "response",
    status,
    body: new TextEncoder().encode(body),
    contentType: null,
  };
}

const REFUSED: BackendResult = {
  kind: "failure",
  error: new Error('POST "http://b/write": connect ECONNREFUSED'),
};

/** A backend with a retry buffer whose backlog and clock the test moves. */
function buffered() {
  const logger = recordingLogger();
  const world = { now: 1_000_000, queued: 0 };
  const health = new BackendHealth({
    relay: "r",
    backend: "b",
    logger,
    backlog: () => world.queued,
    clock: () => world.now,
  });
  return { health, logger, world };
}

Deno.test("BackendHealth moves up → down → catching-up → up and logs the two transitions once", () => {
  const { health, logger, world } = buffered();
  assert.equal(health.state, "up");
  const started = health.snapshot().since;

  world.now += 5_000;
  health.observe(REFUSED);
  world.queued = 1;
  assert.equal(health.state, "down");
  assert.equal(health.snapshot().since, world.now);
  assert.equal(
    health.snapshot().lastError,
    'POST "http://b/write": connect ECONNREFUSED',
  );

  // More failures and failed probes while down: no more log lines.
  for (let i = 0; i < 5; i++) {
    world.now += 1_000;
    world.queued += 100;
    health.observe(REFUSED);
    health.probed({ kind: "failed", error: "timeout after 2000ms" }, 2000);
  }
  assert.equal(health.state, "down");
  assert.equal(health.snapshot().probeFailures, 5);

  world.now += 37_000;
  health.probed({ kind: "answered", status: 204 }, 1.5);
  assert.equal(health.state, "catching-up");
  const caughtUpAt = world.now;
  assert.equal(health.snapshot().since, caughtUpAt);
  assert.equal(health.snapshot().lastProbeLatencyMs, 1.5);

  world.now += 3_000;
  health.observe(answer(204));
  assert.equal(health.state, "catching-up");
  world.queued = 0;
  assert.equal(health.state, "up");
  assert.equal(health.snapshot().since, world.now);
  assert.ok(health.snapshot().since > started);
  assert.equal(health.snapshot().downTransitions, 1);

  assert.deepEqual(
    logger.logged.map((l) => [l.level, l.message, l.properties.after]),
    [
      [
        "error",
        'Backend "{backend}" of relay "{relay}" down: {reason}',
        undefined,
      ],
      [
        "info",
        'Backend "{backend}" of relay "{relay}" up after {after}, {queued} writes queued',
        "42s",
      ],
    ],
  );
  assert.equal(logger.logged[1]!.properties.queued, 501);
  assert.equal(
    logger.logged[0]!.properties.reason,
    'POST "http://b/write": connect ECONNREFUSED',
  );
});

Deno.test("BackendHealth stays down after a 5xx write until a write is answered, whatever /ping says", () => {
  const { health, world } = buffered();
  health.observe(answer(500, '{"error":"engine: disk full"}'));
  assert.equal(health.state, "down");
  assert.equal(
    health.snapshot().lastError,
    'HTTP 500: {"error":"engine: disk full"}',
  );
  world.now += 10_000;
  health.probed({ kind: "answered", status: 204 }, 1);
  assert.equal(health.state, "down");
  health.observe(answer(204));
  assert.equal(health.state, "up");
});

Deno.test("BackendHealth counts a probe answered 4xx as up and a 5xx as down", () => {
  const { health } = buffered();
  // InfluxDB 3 answers /ping 401 without a token: the server is there.
  health.probed({ kind: "answered", status: 401 }, 1);
  assert.equal(health.state, "up");
  health.probed({ kind: "answered", status: 503 }, 1);
  assert.equal(health.state, "down");
  assert.equal(health.snapshot().lastError, "probe answered HTTP 503");
  health.probed({ kind: "answered", status: 204 }, 1);
  assert.equal(health.state, "up");
  assert.equal(health.snapshot().probeSuccesses, 2);
  assert.equal(health.snapshot().probeFailures, 1);
});

Deno.test("BackendHealth starts catching-up when the buffer holds writes from before a restart", () => {
  const logger = recordingLogger();
  const health = new BackendHealth({
    relay: "r",
    backend: "b",
    logger,
    backlog: () => 7,
  });
  assert.equal(health.state, "catching-up");
  assert.deepEqual(logger.logged, []);
});

Deno.test("BackendHealth of a backend without retry buffer says how many writes failed while down", () => {
  const logger = recordingLogger();
  let now = 0;
  const health = new BackendHealth({
    relay: "r",
    backend: "b",
    logger,
    clock: () => now,
  });
  health.observe(REFUSED);
  health.observe(REFUSED);
  health.observe(answer(503));
  now = 2_500;
  health.observe(answer(204));
  assert.equal(health.state, "up");
  assert.equal(logger.logged.length, 2);
  assert.match(logger.logged[1]!.message, /it has no retry buffer/);
  assert.equal(logger.logged[1]!.properties.failed, 3);
  assert.equal(logger.logged[1]!.properties.after, "2.5s");
});

Deno.test("formatSeconds() rounds to tenths below 10 s and to whole units above", () => {
  assert.equal(formatSeconds(0.04), "0s");
  assert.equal(formatSeconds(9.46), "9.5s");
  assert.equal(formatSeconds(42.4), "42s");
  assert.equal(formatSeconds(200), "3m20s");
  assert.equal(formatSeconds(7500), "2h5m");
});

Deno.test("BackendHealth redacts a client's password from the reason it keeps and logs", () => {
  const { health, logger } = buffered();
  health.observe({
    kind: "failure",
    error: new Error('POST "http://b/write?db=x&p=hunter2&u=me": timeout'),
  });
  const expected = 'POST "http://b/write?db=x&p=[redacted]&u=me": timeout';
  assert.equal(health.snapshot().lastError, expected);
  assert.equal(logger.logged[0]!.properties.reason, expected);
});

Deno.test("BackendHealth keeps a backend whose writes time out down until a write is answered", () => {
  const { health } = buffered();
  health.observe({
    kind: "failure",
    error: new Error('POST "http://b/write": timeout after 10000ms'),
    timedOut: true,
  });
  assert.equal(health.state, "down");
  // /ping answers fast while writes are too slow: no flapping.
  health.probed({ kind: "answered", status: 204 }, 1);
  assert.equal(health.state, "down");
  health.observe(answer(204));
  assert.equal(health.state, "up");
});

Deno.test("BackendHealth of a backend without retry buffer does not count failed probes as failed writes", () => {
  const logger = recordingLogger();
  let now = 0;
  const health = new BackendHealth({
    relay: "r",
    backend: "b",
    logger,
    clock: () => now,
  });
  // Down by a probe, six failed probes, no write at all.
  for (let i = 0; i < 6; i++) {
    health.probed({ kind: "failed", error: "connect ECONNREFUSED" }, 1);
    now += 1_000;
  }
  health.probed({ kind: "answered", status: 204 }, 1);
  assert.equal(health.snapshot().probeFailures, 6);
  assert.deepEqual(
    logger.logged.map((l) => [l.level, l.message, l.properties.failed]),
    [
      [
        "error",
        'Backend "{backend}" of relay "{relay}" down: {reason}',
        undefined,
      ],
      [
        "info",
        'Backend "{backend}" of relay "{relay}" up after {after}; no write to it failed meanwhile',
        0,
      ],
    ],
  );

  // The next outage: down by a probe, then two writes fail among probes.
  health.probed({ kind: "failed", error: "connect ECONNREFUSED" }, 1);
  health.observe(REFUSED);
  health.probed({ kind: "failed", error: "connect ECONNREFUSED" }, 1);
  health.observe(answer(503));
  health.probed({ kind: "failed", error: "connect ECONNREFUSED" }, 1);
  health.observe(answer(204));
  assert.equal(
    logger.logged.at(-1)!.message,
    'Backend "{backend}" of relay "{relay}" up after {after}; {failed} writes to it failed meanwhile (it has no retry buffer)',
  );
  assert.equal(logger.logged.at(-1)!.properties.failed, 2);
});

Deno.test("BackendHealth.queryFailed() marks a backend down until a probe answers", () => {
  const { health, logger } = buffered();
  health.queryFailed(
    'GET "http://b/query?q=x&p=hunter2": connect ECONNREFUSED 10.0.0.2:8086',
  );
  assert.equal(health.state, "down");
  assert.equal(
    health.snapshot().lastError,
    'query failed: GET "http://b/query?q=x&p=[redacted]": connect ECONNREFUSED 10.0.0.2:8086',
  );
  assert.equal(logger.logged.length, 1);
  assert.equal(logger.logged[0]!.level, "error");
  health.probed({ kind: "answered", status: 204 }, 1);
  assert.equal(health.state, "up");
});
