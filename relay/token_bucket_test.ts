import assert from "node:assert/strict";
import { TokenBucket } from "./token_bucket.ts";

Deno.test("TokenBucket.take() allows a burst, then one token per interval", () => {
  let now = 1000;
  const bucket = new TokenBucket({ rate: 10, burst: 3, clock: () => now });
  assert.equal(bucket.take(), 0);
  assert.equal(bucket.take(), 0);
  assert.equal(bucket.take(), 0);
  assert.equal(bucket.take(), 100);
  now += 40;
  assert.equal(bucket.take(), 60);
  now += 60;
  assert.equal(bucket.take(), 0);
  assert.equal(bucket.take(), 100);
});

Deno.test("TokenBucket.take() refills no further than the burst", () => {
  let now = 0;
  const bucket = new TokenBucket({ rate: 100, burst: 2, clock: () => now });
  now += 60_000;
  assert.equal(bucket.take(), 0);
  assert.equal(bucket.take(), 0);
  assert.ok(bucket.take() > 0);
});

Deno.test("TokenBucket.take() holds the long-run rate", () => {
  let now = 0;
  const bucket = new TokenBucket({ rate: 50, clock: () => now });
  let taken = 0;
  for (let ms = 0; ms < 10_000; ms++) {
    now = ms;
    if (bucket.take() === 0) taken++;
  }
  // 50 at the start (the default burst is the rate) plus 50 a second.
  assert.ok(taken >= 540 && taken <= 551, `${taken}`);
});

Deno.test("TokenBucket.take() handles rates below one a second", () => {
  let now = 0;
  const bucket = new TokenBucket({ rate: 0.5, clock: () => now });
  assert.equal(bucket.take(), 0);
  assert.equal(bucket.take(), 2000);
  now = 2000;
  assert.equal(bucket.take(), 0);
});

Deno.test("TokenBucket() throws RangeError for a bad rate or burst", () => {
  assert.throws(() => new TokenBucket({ rate: 0 }), RangeError);
  assert.throws(() => new TokenBucket({ rate: -1 }), RangeError);
  assert.throws(() => new TokenBucket({ rate: Number.NaN }), RangeError);
  assert.throws(() => new TokenBucket({ rate: 1, burst: 0.5 }), RangeError);
});
