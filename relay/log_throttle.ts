/**
 * Rate limiting for log lines that a client can trigger at packet rate (junk
 * UDP datagrams, lines longer than the MTU, a backend whose sends fail): a
 * flood must neither flood the log nor slow the relay. The counters of the
 * listener or backend keep the exact totals; the log only samples them.
 *
 * @module
 */

/** Options for {@linkcode LogThrottle}. */
export interface LogThrottleOptions {
  /**
   * Log lines let through per window.
   * @default {5}
   */
  burst?: number;
  /**
   * Length of a window in milliseconds.
   * @default {10000}
   */
  intervalMs?: number;
  /**
   * Monotonic clock in milliseconds; tests pass a fake one.
   * @default {performance.now}
   */
  clock?: () => number;
}

/**
 * Lets the first `burst` log lines of every `intervalMs` window through and
 * counts the rest, so that the next line let through can say how many were
 * left out.
 *
 * @example Usage
 * ```ts
 * import { LogThrottle } from "./log_throttle.ts";
 * import assert from "node:assert/strict";
 *
 * let now = 0;
 * const throttle = new LogThrottle({ burst: 1, intervalMs: 1000, clock: () => now });
 * assert.equal(throttle.admit(), 0); // log it
 * assert.equal(throttle.admit(), -1); // leave it out
 * now = 1000;
 * assert.equal(throttle.admit(), 1); // log it, one was left out before it
 * ```
 */
export class LogThrottle {
  readonly #burst: number;
  readonly #intervalMs: number;
  readonly #clock: () => number;
  #windowStart = Number.NEGATIVE_INFINITY;
  #admitted = 0;
  #suppressed = 0;

  /**
   * @param options Burst, window length and clock.
   * @throws {RangeError} When `burst` is not a positive integer or
   * `intervalMs` is negative or not finite.
   */
  constructor(options: LogThrottleOptions = {}) {
    const { burst = 5, intervalMs = 10_000, clock = performanceNow } = options;
    if (!Number.isInteger(burst) || burst < 1) {
      throw new RangeError(
        `Cannot throttle logging as 'burst' must be a positive integer: current value is ${burst}`,
      );
    }
    if (!Number.isFinite(intervalMs) || intervalMs < 0) {
      throw new RangeError(
        `Cannot throttle logging as 'intervalMs' must be a non-negative number: current value is ${intervalMs}`,
      );
    }
    this.#burst = burst;
    this.#intervalMs = intervalMs;
    this.#clock = clock;
  }

  /** Log lines left out since the last one let through. */
  get suppressed(): number {
    return this.#suppressed;
  }

  /**
   * Asks whether one more log line may be written now.
   *
   * @returns `-1` when the line must be left out; otherwise how many lines
   * were left out since the last one let through (and resets that count).
   */
  admit(): number {
    const now = this.#clock();
    if (now - this.#windowStart >= this.#intervalMs) {
      this.#windowStart = now;
      this.#admitted = 0;
    }
    if (this.#admitted >= this.#burst) {
      this.#suppressed++;
      return -1;
    }
    this.#admitted++;
    const suppressed = this.#suppressed;
    this.#suppressed = 0;
    return suppressed;
  }
}

function performanceNow(): number {
  return performance.now();
}

/**
 * The end of a throttled line: how many lines the throttle left out before
 * it, or nothing.
 *
 * @param suppressed What {@linkcode LogThrottle.admit} returned (≥ 0).
 * @returns e.g. `" (3 similar lines left out before this one)"`.
 */
export function leftOutNote(suppressed: number): string {
  return suppressed > 0
    ? ` (${suppressed} similar lines left out before this one)`
    : "";
}
