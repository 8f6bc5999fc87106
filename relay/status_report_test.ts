import assert from "node:assert/strict";
import { relayStatus } from "./_status_fixture.ts";
import { statusReport } from "./status_report.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

Deno.test("statusReport() adds up totals since start over every relay and output", () => {
  const report: Json = statusReport(relayStatus());
  assert.equal(report.version, "1.2.3");
  assert.equal(report.uptimeSeconds, 3600);
  assert.equal(report.health, "degraded");
  assert.deepEqual(report.totals, {
    requests: 12,
    bytesReceived: 4000,
    pointsReceived: 290,
    parseErrors: 3,
    writes: { success: 14, clientError: 1, serverError: 1, failure: 4 },
    queuedBytes: 300,
    queuedBatches: 3,
    droppedBatches: 5,
    droppedPoints: 20,
    udpDatagramsReceived: 25,
    udpDatagramsDropped: 8,
    udpDatagramsSent: 20,
  });
});

Deno.test("statusReport() details each output with its state, probe, writes, buffer and drops", () => {
  const report: Json = statusReport(relayStatus());
  const [http, udp] = report.listeners;
  assert.equal(http.health, "degraded");
  assert.equal(udp.health, "healthy");
  const [a, b] = http.outputs;
  assert.equal(a.state, "down");
  assert.equal(a.lastError, "connect ECONNREFUSED");
  assert.deepEqual(a.probe, {
    intervalSeconds: 10,
    timeoutSeconds: 2,
    lastAt: "2023-12-31T23:59:59.000Z",
    lastLatencySeconds: 0.0025,
    successes: 10,
    failures: 6,
  });
  assert.equal(a.buffer.oldestQueuedAgeSeconds, 42);
  assert.deepEqual(a.dropped, {
    batches: { rejected: 0, expired: 1, overflow: 0, full: 0, damaged: 2 },
    points: 10,
  });
  assert.equal(b.probe, null);
  assert.equal(b.buffer, null);
  assert.deepEqual(b.dropped, { batches: { unbuffered: 1 }, points: 10 });
  assert.deepEqual(udp.dropped, { queueFull: 3, invalid: 1, kernel: 4 });
  assert.equal(udp.outputs[0].dropped.linesTooLong, 2);
  // The document survives a JSON round trip unchanged.
  assert.deepEqual(JSON.parse(JSON.stringify(report)), report);
});
