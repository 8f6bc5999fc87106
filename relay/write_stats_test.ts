import assert from "node:assert/strict";
import type { BackendResult } from "./backend.ts";
import { WriteStats } from "./write_stats.ts";

function answer(status: number): BackendResult {
  return {
    kind: "response",
    status,
    body: new Uint8Array(0),
    contentType: null,
  };
}

Deno.test("WriteStats.snapshot() counts attempts by outcome with their bytes and points", () => {
  const stats = new WriteStats();
  stats.record(answer(204), 0.002, 100, 10);
  stats.record(answer(204), 0.004, 50, 5);
  stats.record(answer(400), 0.001, 30, 3);
  stats.record(answer(503), 0.003, 20, 2);
  stats.record(
    { kind: "failure", error: new Error("connect ECONNREFUSED") },
    2,
    40,
    4,
  );
  const snapshot = stats.snapshot();
  assert.equal(snapshot.success, 2);
  assert.equal(snapshot.clientError, 1);
  assert.equal(snapshot.serverError, 1);
  assert.equal(snapshot.failure, 1);
  assert.equal(snapshot.sentBytes, 240);
  assert.equal(snapshot.writtenPoints, 15);
  assert.equal(snapshot.failedPoints, 6);
  assert.equal(snapshot.latency.count, 5);
  assert.ok(Math.abs(snapshot.latency.sum - 2.01) < 1e-9);
});

Deno.test("WriteStats.snapshot() counts a datagram sent as a success", () => {
  const stats = new WriteStats();
  stats.record({ kind: "sent" }, 0, 10, 1);
  assert.equal(stats.snapshot().success, 1);
  assert.equal(stats.snapshot().writtenPoints, 1);
});
