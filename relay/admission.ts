/**
 * Admission control of one HTTP listener's writes: a cap on how many are in
 * progress at once and an optional rate limit (a {@linkcode TokenBucket}).
 * A refused write is answered at once, before its body is read, so an
 * overload costs the relay neither memory nor backend traffic.
 *
 * @module
 */

import { TokenBucket } from "./token_bucket.ts";

/** Options for {@linkcode Admission}. */
export interface AdmissionOptions {
  /**
   * Most writes in progress at once (from arrival to answer); `0` means no
   * cap.
   * @default {0}
   */
  maxConcurrent?: number;
  /**
   * Writes admitted per second on average; `0` turns rate limiting off.
   * @default {0}
   */
  rate?: number;
  /**
   * Writes admitted at once after a quiet period; `0` means `rate` (at
   * least 1).
   * @default {0}
   */
  burst?: number;
  /**
   * Current time in milliseconds, for the rate limit; tests pass a fake
   * clock.
   * @default {performance.now}
   */
  clock?: () => number;
}

/** Why a write was not admitted, and how the client is told. */
export interface Refusal {
  /** `503` (too many in progress) or `429` (over the rate limit). */
  readonly status: 429 | 503;
  /** The error message for the client. */
  readonly message: string;
  /** Whole seconds after which a retry may succeed, for `Retry-After`. */
  readonly retryAfterSeconds: number;
}

/** Counters of refused writes. */
export interface AdmissionStats {
  /** Writes refused 503 because `maxConcurrent` were in progress. */
  throttled: number;
  /** Writes refused 429 by the rate limit. */
  rateLimited: number;
}

/** Admission control of one listener. */
export class Admission {
  readonly #maxConcurrent: number;
  readonly #bucket: TokenBucket | null;
  #active = 0;
  readonly #stats: AdmissionStats = { throttled: 0, rateLimited: 0 };

  /**
   * @param options Concurrency cap, rate and burst.
   * @throws {RangeError} When a limit is negative or not a number.
   */
  constructor(options: AdmissionOptions = {}) {
    const { maxConcurrent = 0, rate = 0, burst = 0, clock } = options;
    if (!Number.isSafeInteger(maxConcurrent) || maxConcurrent < 0) {
      throw new RangeError(
        `Cannot create admission control as 'maxConcurrent' must be a non-negative integer: current value is ${maxConcurrent}`,
      );
    }
    if (!(rate >= 0) || !(burst >= 0)) {
      throw new RangeError(
        `Cannot create admission control as 'rate' and 'burst' must not be negative: current values are ${rate} and ${burst}`,
      );
    }
    this.#maxConcurrent = maxConcurrent;
    this.#bucket = rate === 0 ? null : new TokenBucket({
      rate,
      burst: burst === 0 ? Math.max(1, rate) : burst,
      ...(clock === undefined ? {} : { clock }),
    });
  }

  /** Writes in progress now. */
  get active(): number {
    return this.#active;
  }

  /** Refusals so far. */
  get stats(): Readonly<AdmissionStats> {
    return this.#stats;
  }

  /**
   * Admits one write, or says why not. An admitted write must be followed
   * by exactly one {@linkcode Admission.leave} when it is answered.
   *
   * @example Usage
   * ```ts
   * import { Admission } from "./admission.ts";
   * import assert from "node:assert/strict";
   *
   * const admission = new Admission({ maxConcurrent: 1 });
   * assert.equal(admission.enter(), null);
   * assert.equal(admission.enter()?.status, 503);
   * admission.leave();
   * assert.equal(admission.enter(), null);
   * ```
   *
   * @returns `null` when admitted, else the refusal.
   */
  enter(): Refusal | null {
    if (this.#maxConcurrent > 0 && this.#active >= this.#maxConcurrent) {
      this.#stats.throttled++;
      return {
        status: 503,
        message:
          `request throttled: ${this.#maxConcurrent} requests in progress (max-concurrent-requests)`,
        retryAfterSeconds: 1,
      };
    }
    if (this.#bucket !== null) {
      const waitMs = this.#bucket.take();
      if (waitMs > 0) {
        this.#stats.rateLimited++;
        return {
          status: 429,
          message: "rate limit exceeded (rate-limit)",
          retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)),
        };
      }
    }
    this.#active++;
    return null;
  }

  /** Ends an admitted write. */
  leave(): void {
    if (this.#active > 0) this.#active--;
  }
}
