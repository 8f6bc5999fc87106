import assert from "node:assert/strict";
import { LogThrottle } from "./log_throttle.ts";

Deno.test("LogThrottle.admit() lets a burst through, then leaves lines out until the window ends", () => {
  let now = 0;
  const throttle = new LogThrottle({
    burst: 3,
    intervalMs: 1000,
    clock: () => now,
  });
  assert.deepEqual([1, 2, 3, 4, 5].map(() => throttle.admit()), [
    0,
    0,
    0,
    -1,
    -1,
  ]);
  assert.equal(throttle.suppressed, 2);
  now = 999;
  assert.equal(throttle.admit(), -1);
  now = 1000;
  assert.equal(throttle.admit(), 3);
  assert.equal(throttle.suppressed, 0);
  assert.equal(throttle.admit(), 0);
});

Deno.test("LogThrottle.admit() lets every line through when the lines are far apart", () => {
  let now = 0;
  const throttle = new LogThrottle({
    burst: 1,
    intervalMs: 10,
    clock: () => now,
  });
  for (let k = 0; k < 5; k++) {
    assert.equal(throttle.admit(), 0);
    now += 10;
  }
});

Deno.test("LogThrottle() rejects a burst below 1 and a negative interval", () => {
  assert.throws(() => new LogThrottle({ burst: 0 }), RangeError);
  assert.throws(() => new LogThrottle({ burst: 1.5 }), RangeError);
  assert.throws(() => new LogThrottle({ intervalMs: -1 }), RangeError);
  assert.throws(
    () => new LogThrottle({ intervalMs: Number.NaN }),
    /'intervalMs' must be a non-negative number: current value is NaN/,
  );
});
