/**
 * Probes one backend at a fixed interval (`health-check-interval`), each
 * probe bounded by `health-check-timeout`, and hands every outcome to the
 * backend's {@linkcode import("./backend_health.ts").BackendHealth}. One
 * probe at a time; {@linkcode HealthChecker.close} clears the timer and
 * aborts a probe in flight.
 *
 * @module
 */

import type { ProbeResult } from "./backend.ts";

/** Where probe outcomes go. */
export interface ProbeObserver {
  /**
   * One probe finished.
   *
   * @param result Its outcome.
   * @param latencyMs How long it took.
   */
  probed(result: ProbeResult, latencyMs: number): void;
}

/** Options for {@linkcode HealthChecker}. */
export interface HealthCheckerOptions {
  /**
   * Probes the backend once. It must settle soon after `signal` aborts (the
   * timeout or close), with a failure whose error is the signal's reason.
   */
  probe: (signal: AbortSignal) => Promise<ProbeResult>;
  /** Takes every outcome. */
  observer: ProbeObserver;
  /** Time from the end of one probe to the start of the next, in ms. */
  intervalMs: number;
  /** Longest a probe may take, in ms. */
  timeoutMs: number;
  /**
   * Monotonic time in ms, for latencies.
   * @default performance.now
   */
  now?: () => number;
}

/** Probes one backend until closed; the first probe starts at once. */
export class HealthChecker {
  readonly #probe: (signal: AbortSignal) => Promise<ProbeResult>;
  readonly #observer: ProbeObserver;
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  readonly #closed = new AbortController();
  readonly #done: Promise<void>;

  /**
   * @param options Probe, observer, interval and timeout.
   * @throws {RangeError} When the interval or the timeout is not positive.
   */
  constructor(options: HealthCheckerOptions) {
    const { probe, observer, intervalMs, timeoutMs, now = performance.now } =
      options;
    for (
      const [name, value] of [["intervalMs", intervalMs], [
        "timeoutMs",
        timeoutMs,
      ]] as const
    ) {
      if (!(value > 0) || !Number.isFinite(value)) {
        throw new RangeError(
          `Cannot start health checks as '${name}' must be a positive number: current value is ${value}`,
        );
      }
    }
    this.#probe = probe;
    this.#observer = observer;
    this.#intervalMs = intervalMs;
    this.#timeoutMs = timeoutMs;
    this.#now = now.bind(performance);
    this.#done = this.#run();
  }

  /** Stops probing: clears the timer, aborts a probe in flight and waits for it. */
  close(): Promise<void> {
    this.#closed.abort();
    return this.#done;
  }

  async #run(): Promise<void> {
    const closed = this.#closed.signal;
    while (!closed.aborted) {
      const attempt = new AbortController();
      const stop = () => attempt.abort(new Error("health checks stopped"));
      closed.addEventListener("abort", stop);
      const timer = setTimeout(
        () =>
          attempt.abort(
            new Error(`no answer within ${this.#timeoutMs}ms`),
          ),
        this.#timeoutMs,
      );
      const started = this.#now();
      let result: ProbeResult;
      try {
        result = await this.#probe(attempt.signal);
      } catch (error) {
        result = { kind: "failed", error: (error as Error).message };
      } finally {
        clearTimeout(timer);
        closed.removeEventListener("abort", stop);
      }
      if (closed.aborted) break;
      this.#observer.probed(result, this.#now() - started);
      await sleep(this.#intervalMs, closed);
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  const { promise, resolve } = Promise.withResolvers<void>();
  const done = () => {
    clearTimeout(timer);
    signal.removeEventListener("abort", done);
    resolve();
  };
  const timer = setTimeout(done, ms);
  signal.addEventListener("abort", done);
  return promise;
}
