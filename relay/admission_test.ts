import assert from "node:assert/strict";
import { Admission } from "./admission.ts";

Deno.test("Admission.enter() admits everything without limits", () => {
  const admission = new Admission();
  for (let i = 0; i < 10_000; i++) assert.equal(admission.enter(), null);
  assert.equal(admission.active, 10_000);
});

Deno.test("Admission.enter() refuses 503 while maxConcurrent writes are in progress", () => {
  const admission = new Admission({ maxConcurrent: 2 });
  assert.equal(admission.enter(), null);
  assert.equal(admission.enter(), null);
  const refusal = admission.enter();
  assert.equal(refusal?.status, 503);
  assert.equal(refusal?.retryAfterSeconds, 1);
  assert.match(refusal?.message ?? "", /2 requests in progress/);
  assert.equal(admission.stats.throttled, 1);
  admission.leave();
  assert.equal(admission.enter(), null);
  assert.equal(admission.active, 2);
});

Deno.test("Admission.enter() refuses 429 with Retry-After seconds over the rate", () => {
  let now = 0;
  const admission = new Admission({ rate: 0.25, burst: 2, clock: () => now });
  assert.equal(admission.enter(), null);
  assert.equal(admission.enter(), null);
  const refusal = admission.enter();
  assert.equal(refusal?.status, 429);
  assert.equal(refusal?.retryAfterSeconds, 4);
  assert.equal(admission.stats.rateLimited, 1);
  now = 4000;
  assert.equal(admission.enter(), null);
});

Deno.test("Admission.enter() takes no token when the concurrency cap refuses", () => {
  let now = 0;
  const admission = new Admission({
    maxConcurrent: 1,
    rate: 1,
    burst: 1,
    clock: () => now,
  });
  assert.equal(admission.enter(), null);
  assert.equal(admission.enter()?.status, 503);
  admission.leave();
  now = 1000;
  assert.equal(admission.enter(), null);
});

Deno.test("Admission.leave() never goes below zero", () => {
  const admission = new Admission({ maxConcurrent: 1 });
  admission.leave();
  assert.equal(admission.active, 0);
  assert.equal(admission.enter(), null);
  assert.equal(admission.enter()?.status, 503);
});

Deno.test("Admission() throws RangeError for negative limits", () => {
  assert.throws(() => new Admission({ maxConcurrent: -1 }), RangeError);
  assert.throws(() => new Admission({ maxConcurrent: 1.5 }), RangeError);
  assert.throws(() => new Admission({ rate: -1 }), RangeError);
  assert.throws(() => new Admission({ rate: 1, burst: -1 }), RangeError);
});
