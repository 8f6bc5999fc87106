import assert from "node:assert/strict";
import {
  bufferedOutput,
  NOW,
  plainOutput,
  relayStatus,
} from "./_status_fixture.ts";
import { healthReport } from "./health_report.ts";

Deno.test("healthReport() is degraded, 200 and pass when some backends are down", () => {
  const report = healthReport(relayStatus());
  assert.equal(report.httpStatus, 200);
  const { checks, ...top } = report.body;
  assert.deepEqual(top, {
    name: "influxdb-relay",
    message: "ready for writes; 1 of 3 backends down (a)",
    status: "pass",
    health: "degraded",
    version: "1.2.3",
  });
  assert.deepEqual(checks[0], {
    name: "a",
    status: "fail",
    message: "down: connect ECONNREFUSED",
    relay: "h",
    state: "down",
    since: new Date(NOW - 60_000).toISOString(),
    lastError: "connect ECONNREFUSED",
    lastErrorAt: new Date(NOW - 60_000).toISOString(),
    lastProbeLatencySeconds: 0.0025,
    queuedBytes: 300,
    queuedBatches: 3,
    oldestQueuedAgeSeconds: 42,
  });
  assert.deepEqual(
    checks.map((c) => [c.relay, c.name, c.status]),
    [["h", "a", "fail"], ["h", "b", "pass"], ["u", "u1", "pass"]],
  );
});

Deno.test("healthReport() covers only the given relay's backends", () => {
  const report = healthReport(relayStatus(), { relay: "u" });
  assert.equal(report.body.health, "healthy");
  assert.equal(report.body.message, "ready for writes");
  assert.deepEqual(report.body.checks.map((c) => c.name), ["u1"]);
});

Deno.test("healthReport() is unhealthy, 503 and fail when every backend is down", () => {
  const report = healthReport(
    relayStatus([bufferedOutput("down"), plainOutput("down")]),
    { relay: "h" },
  );
  assert.equal(report.httpStatus, 503);
  assert.equal(report.body.status, "fail");
  assert.equal(report.body.health, "unhealthy");
  assert.equal(
    report.body.message,
    "cannot take writes: every backend is down (a, b)",
  );
});

Deno.test("healthReport() is degraded while a backend catches up", () => {
  const report = healthReport(
    relayStatus([bufferedOutput("catching-up"), plainOutput("up")]),
    { relay: "h" },
  );
  assert.equal(report.httpStatus, 200);
  assert.equal(report.body.health, "degraded");
  assert.equal(report.body.message, "ready for writes; 1 catching up (a)");
  assert.equal(report.body.checks[0]!.status, "pass");
});

Deno.test("healthReport() is unhealthy for a relay without backends", () => {
  const report = healthReport(relayStatus([]), { relay: "h" });
  assert.equal(report.httpStatus, 503);
  assert.equal(report.body.message, "cannot take writes: no backends");
  assert.deepEqual(report.body.checks, []);
});

Deno.test("healthReport() stays degraded and 200 when every backend is down but a disk spool takes writes", () => {
  const spooled = { ...bufferedOutput("down"), acceptsWhileDown: true };
  const report = healthReport(relayStatus([spooled, plainOutput("down")]), {
    relay: "h",
  });
  assert.equal(report.httpStatus, 200);
  assert.equal(report.body.status, "pass");
  assert.equal(report.body.health, "degraded");
  assert.equal(
    report.body.message,
    "ready for writes into retry buffers; every backend is down (a, b)",
  );
});
