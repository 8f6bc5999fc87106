/**
 * A fixed-bucket histogram of durations, kept as plain numbers so that an
 * observation on the write path costs a few comparisons and two additions;
 * the Prometheus exposition reads it at scrape time.
 *
 * @module
 */

/**
 * Upper bounds of the buckets, in seconds: from 1 ms (a write to a backend
 * on the same host) to 10 s (the default write timeout).
 */
export const LATENCY_BUCKETS: readonly number[] = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/** A copy of a histogram's figures. */
export interface HistogramSnapshot {
  /** Upper bound of each bucket, in seconds, ascending (no `+Inf`). */
  readonly bounds: readonly number[];
  /**
   * Cumulative count of each bucket (observations `<=` its bound), then the
   * `+Inf` bucket, which equals {@linkcode HistogramSnapshot.count}.
   */
  readonly cumulative: readonly number[];
  /** Sum of every observation, in seconds. */
  readonly sum: number;
  /** Number of observations. */
  readonly count: number;
}

/** Counts durations into fixed buckets. */
export class LatencyHistogram {
  readonly #bounds: readonly number[];
  /** Per-bucket (not cumulative) counts; the last one is `+Inf`. */
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  /**
   * @param bounds Upper bounds in seconds, strictly ascending and finite.
   * @throws {RangeError} When the bounds are empty, not finite or not
   * strictly ascending.
   */
  constructor(bounds: readonly number[] = LATENCY_BUCKETS) {
    if (bounds.length === 0) {
      throw new RangeError(
        "Cannot create a histogram as 'bounds' is empty: current value is []",
      );
    }
    for (let i = 0; i < bounds.length; i++) {
      const bound = bounds[i]!;
      if (!Number.isFinite(bound) || (i > 0 && bound <= bounds[i - 1]!)) {
        throw new RangeError(
          `Cannot create a histogram as 'bounds' must be finite and strictly ascending: current value is [${bounds}]`,
        );
      }
    }
    this.#bounds = [...bounds];
    this.#counts = new Array<number>(bounds.length + 1).fill(0);
  }

  /**
   * Counts one duration.
   *
   * @param seconds The duration, in seconds.
   */
  observe(seconds: number): void {
    const bounds = this.#bounds;
    let bucket = 0;
    while (bucket < bounds.length && seconds > bounds[bucket]!) bucket++;
    this.#counts[bucket]!++;
    this.#sum += seconds;
    this.#count++;
  }

  /** Number of observations. */
  get count(): number {
    return this.#count;
  }

  /**
   * Returns the figures with cumulative bucket counts, as Prometheus
   * exposes them.
   *
   * @returns A copy.
   */
  snapshot(): HistogramSnapshot {
    const cumulative: number[] = [];
    let running = 0;
    for (const count of this.#counts) {
      running += count;
      cumulative.push(running);
    }
    return {
      bounds: this.#bounds,
      cumulative,
      sum: this.#sum,
      count: this.#count,
    };
  }
}
