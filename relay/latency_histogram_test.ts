import assert from "node:assert/strict";
import { LATENCY_BUCKETS, LatencyHistogram } from "./latency_histogram.ts";

Deno.test("LatencyHistogram.snapshot() counts each duration into the first bucket whose bound holds it", () => {
  const histogram = new LatencyHistogram([0.01, 0.1, 1]);
  for (const seconds of [0.001, 0.01, 0.05, 0.1, 0.5, 2, 30]) {
    histogram.observe(seconds);
  }
  const snapshot = histogram.snapshot();
  assert.deepEqual(snapshot.bounds, [0.01, 0.1, 1]);
  // <= 0.01: 2, <= 0.1: 4, <= 1: 5, +Inf: 7 (cumulative, as Prometheus).
  assert.deepEqual(snapshot.cumulative, [2, 4, 5, 7]);
  assert.equal(snapshot.count, 7);
  assert.equal(histogram.count, 7);
  assert.ok(Math.abs(snapshot.sum - 32.661) < 1e-9);
});

Deno.test("LatencyHistogram.snapshot() starts at zero in every bucket", () => {
  const snapshot = new LatencyHistogram().snapshot();
  assert.deepEqual(snapshot.bounds, LATENCY_BUCKETS);
  assert.equal(snapshot.cumulative.length, LATENCY_BUCKETS.length + 1);
  assert.ok(snapshot.cumulative.every((n) => n === 0));
  assert.equal(snapshot.sum, 0);
});

Deno.test("new LatencyHistogram() throws RangeError when bounds are not strictly ascending", () => {
  assert.throws(() => new LatencyHistogram([]), RangeError);
  assert.throws(() => new LatencyHistogram([1, 1]), RangeError);
  assert.throws(() => new LatencyHistogram([1, Infinity]), RangeError);
});
