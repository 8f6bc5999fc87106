/**
 * Counters of one HTTP backend's write attempts (direct writes and retries
 * alike): outcomes, bytes, points and a latency histogram. Plain numbers
 * updated where the answer arrives, so that counting costs almost nothing
 * on the write path; `/status` and `/metrics` read a snapshot at request
 * time.
 *
 * @module
 */

import type { BackendResult } from "./backend.ts";
import {
  type HistogramSnapshot,
  LatencyHistogram,
} from "./latency_histogram.ts";

/** A copy of a {@linkcode WriteStats}' figures. */
export interface WriteStatsSnapshot {
  /** Attempts answered 2xx. */
  readonly success: number;
  /** Attempts answered 4xx. */
  readonly clientError: number;
  /** Attempts answered with any other status (5xx). */
  readonly serverError: number;
  /** Attempts that got no answer (refused, timeout, TLS error, …). */
  readonly failure: number;
  /** Body bytes sent, every attempt. */
  readonly sentBytes: number;
  /** Points in attempts answered 2xx. */
  readonly writtenPoints: number;
  /** Points in attempts answered 5xx or not answered. */
  readonly failedPoints: number;
  /** How long attempts took, answered or not. */
  readonly latency: HistogramSnapshot;
}

/** Counts the write attempts of one backend. */
export class WriteStats {
  #success = 0;
  #clientError = 0;
  #serverError = 0;
  #failure = 0;
  #sentBytes = 0;
  #writtenPoints = 0;
  #failedPoints = 0;
  readonly #latency = new LatencyHistogram();

  /**
   * Counts one finished attempt.
   *
   * @param result The backend's answer or the failure.
   * @param seconds How long the attempt took.
   * @param bytes Body bytes sent.
   * @param points Points in the body.
   */
  record(
    result: BackendResult,
    seconds: number,
    bytes: number,
    points: number,
  ): void {
    this.#sentBytes += bytes;
    this.#latency.observe(seconds);
    if (result.kind === "response") {
      const status = result.status;
      if (status >= 200 && status < 300) {
        this.#success++;
        this.#writtenPoints += points;
        return;
      }
      if (status >= 400 && status < 500) {
        this.#clientError++;
        return;
      }
      this.#serverError++;
    } else if (result.kind === "failure") {
      this.#failure++;
    } else {
      this.#success++;
      this.#writtenPoints += points;
      return;
    }
    this.#failedPoints += points;
  }

  /**
   * Returns the figures so far.
   *
   * @returns A copy.
   */
  snapshot(): WriteStatsSnapshot {
    return {
      success: this.#success,
      clientError: this.#clientError,
      serverError: this.#serverError,
      failure: this.#failure,
      sentBytes: this.#sentBytes,
      writtenPoints: this.#writtenPoints,
      failedPoints: this.#failedPoints,
      latency: this.#latency.snapshot(),
    };
  }
}
