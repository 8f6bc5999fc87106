/**
 * A token bucket: the rate limiter of an HTTP listener. Tokens refill
 * continuously at `rate` per second up to `burst`; each request takes one.
 *
 * @module
 */

/** Options for {@linkcode TokenBucket}. */
export interface TokenBucketOptions {
  /** Tokens added per second; must be positive. */
  rate: number;
  /**
   * Most tokens the bucket holds (and holds at the start): how many
   * requests may arrive at once after a quiet period.
   * @default {Math.max(1, rate)}
   */
  burst?: number;
  /**
   * Current time in milliseconds; tests pass a fake clock.
   * @default {performance.now}
   */
  clock?: () => number;
}

/** A token bucket. */
export class TokenBucket {
  readonly #perMs: number;
  readonly #burst: number;
  readonly #clock: () => number;
  #tokens: number;
  #last: number;

  /**
   * @param options Rate, burst and clock.
   * @throws {RangeError} When `rate` is not positive or `burst` is below 1.
   */
  constructor(options: TokenBucketOptions) {
    const {
      rate,
      burst = Math.max(1, rate),
      clock = () => performance.now(),
    } = options;
    if (!(rate > 0) || !Number.isFinite(rate)) {
      throw new RangeError(
        `Cannot create a token bucket as 'rate' must be a positive number: current value is ${rate}`,
      );
    }
    if (!(burst >= 1) || !Number.isFinite(burst)) {
      throw new RangeError(
        `Cannot create a token bucket as 'burst' must be at least 1: current value is ${burst}`,
      );
    }
    this.#perMs = rate / 1000;
    this.#burst = burst;
    this.#clock = clock;
    this.#tokens = burst;
    this.#last = clock();
  }

  /**
   * Takes one token if there is one.
   *
   * @example Usage
   * ```ts
   * import { TokenBucket } from "./token_bucket.ts";
   * import assert from "node:assert/strict";
   *
   * let now = 0;
   * const bucket = new TokenBucket({ rate: 2, burst: 1, clock: () => now });
   * assert.equal(bucket.take(), 0);
   * assert.equal(bucket.take(), 500);
   * now = 500;
   * assert.equal(bucket.take(), 0);
   * ```
   *
   * @returns `0` when a token was taken, else how many milliseconds until
   * the next one (nothing is taken then).
   */
  take(): number {
    const now = this.#clock();
    const elapsed = now - this.#last;
    this.#last = now;
    if (elapsed > 0) {
      this.#tokens = Math.min(
        this.#burst,
        this.#tokens + elapsed * this.#perMs,
      );
    }
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - this.#tokens) / this.#perMs));
  }
}
