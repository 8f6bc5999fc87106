/**
 * The health state of one backend, as a small state machine fed by probes
 * (`GET /ping`, see {@linkcode import("./health_checker.ts").HealthChecker})
 * and by the outcome of every write attempt, so that a failed write marks
 * the backend down at once instead of at the next probe.
 *
 * - **up**: the backend answers and nothing waits for it.
 * - **down**: the last probe or write got no answer (or a 5xx).
 * - **catching-up**: up again, but its retry buffer still holds writes.
 *
 * A client's `p` (password) in a failed write's URL is redacted from the
 * reasons kept and logged, since `/health` and `/status` show them.
 *
 * Transitions into and out of `down` are logged once each, not every probe:
 * `Backend "b" of relay "r" down: <reason>` and
 * `Backend "b" of relay "r" up after 42s, 1234 writes queued`.
 *
 * @module
 */

import type { BackendResult, ProbeResult, WriteObserver } from "./backend.ts";
import { redactPasswords } from "./backend_auth.ts";
import type { Logger } from "./log.ts";

/** The state of a backend: see the module documentation. */
export type BackendState = "up" | "down" | "catching-up";

/** Options for {@linkcode BackendHealth}. */
export interface BackendHealthOptions {
  /** The relay (listener) the backend belongs to, for logs. */
  relay: string;
  /** The backend's name, for logs. */
  backend: string;
  /** Where transitions are logged. */
  logger: Logger;
  /**
   * Number of writes waiting in the backend's retry buffer; `null` for a
   * backend without one. While it is above 0, an up backend is
   * `catching-up`.
   * @default null
   */
  backlog?: (() => number) | null;
  /**
   * Current time in ms since the epoch.
   * @default Date.now
   */
  clock?: () => number;
}

/** A copy of a {@linkcode BackendHealth}'s figures. */
export interface HealthSnapshot {
  /** The state now. */
  readonly state: BackendState;
  /** When the backend entered this state, in ms since the epoch. */
  readonly since: number;
  /** The last problem seen (probe or write), or `null` if none yet. */
  readonly lastError: string | null;
  /** When {@linkcode HealthSnapshot.lastError} happened, or `null`. */
  readonly lastErrorAt: number | null;
  /** When the last probe finished, or `null` before the first. */
  readonly lastProbeAt: number | null;
  /** How long the last probe took, in ms, or `null` before the first. */
  readonly lastProbeLatencyMs: number | null;
  /** Probes answered below 500. */
  readonly probeSuccesses: number;
  /** Probes unanswered or answered 5xx. */
  readonly probeFailures: number;
  /** Times the backend went down since start. */
  readonly downTransitions: number;
}

/**
 * Why a backend is down decides what brings it back: a backend that could
 * not be reached is up again at the first answer to a probe or a write; one
 * that answered a write with a 5xx, or did not answer it within the write
 * timeout, only when a write is answered below 500 (its `/ping` may well
 * answer at once while it refuses writes or takes too long for them, and
 * the state must not flap with every probe).
 */
type DownCause = "unreachable" | "rejecting";

const decoder = new TextDecoder();

/** One backend's health state. */
export class BackendHealth implements WriteObserver {
  readonly #relay: string;
  readonly #backend: string;
  readonly #logger: Logger;
  readonly #backlog: (() => number) | null;
  readonly #clock: () => number;
  /** `null` while up (or catching up). */
  #down: DownCause | null = null;
  #downAt = 0;
  /**
   * Failed write attempts since the backend went down (reported for
   * unbuffered backends); failed probes are not writes and do not count.
   */
  #failedWhileDown = 0;
  #state: BackendState = "up";
  #since: number;
  #lastError: string | null = null;
  #lastErrorAt: number | null = null;
  #lastProbeAt: number | null = null;
  #lastProbeLatencyMs: number | null = null;
  #probeSuccesses = 0;
  #probeFailures = 0;
  #downTransitions = 0;

  /**
   * @param options Names, logger, retry-buffer backlog and clock.
   */
  constructor(options: BackendHealthOptions) {
    const { relay, backend, logger, backlog = null, clock = Date.now } =
      options;
    this.#relay = relay;
    this.#backend = backend;
    this.#logger = logger;
    this.#backlog = backlog;
    this.#clock = clock;
    this.#since = clock();
    this.#refresh();
  }

  /** The state now (a retry buffer that emptied makes it `up`). */
  get state(): BackendState {
    this.#refresh();
    return this.#state;
  }

  /**
   * Takes the outcome of one write attempt: no answer (refused, timed out)
   * or a 5xx marks the backend down, any other answer marks it up.
   *
   * @param result The attempt's outcome.
   */
  observe(result: BackendResult): void {
    if (result.kind === "failure") {
      this.#writeFailed(
        result.error.message,
        result.timedOut === true ? "rejecting" : "unreachable",
      );
    } else if (result.kind === "response" && result.status >= 500) {
      this.#writeFailed(
        describeResponse(result.status, result.body),
        "rejecting",
      );
    } else if (this.#down !== null) {
      this.#markUp();
    }
  }

  /**
   * A query got no answer (refused, reset, TLS error): the backend cannot
   * be reached, as a failed probe would say, so reads and writes stop
   * waiting for it until a probe or a write is answered. A query that was
   * only slow is not reported here.
   *
   * @param error What the query's transport said.
   */
  queryFailed(error: string): void {
    this.#markDown(`query failed: ${error}`, "unreachable");
  }

  /**
   * Takes the outcome of one probe: an answer below 500 marks a backend
   * that could not be reached up again; no answer or a 5xx marks it down.
   *
   * @param result The probe's outcome.
   * @param latencyMs How long the probe took.
   */
  probed(result: ProbeResult, latencyMs: number): void {
    this.#lastProbeAt = this.#clock();
    this.#lastProbeLatencyMs = latencyMs;
    if (result.kind === "failed") {
      this.#probeFailures++;
      this.#markDown(`probe failed: ${result.error}`, "unreachable");
      return;
    }
    if (result.status >= 500) {
      this.#probeFailures++;
      this.#markDown(`probe answered HTTP ${result.status}`, "unreachable");
      return;
    }
    this.#probeSuccesses++;
    if (this.#down === "unreachable") this.#markUp();
    else this.#refresh();
  }

  /**
   * Returns the figures now.
   *
   * @returns A copy.
   */
  snapshot(): HealthSnapshot {
    this.#refresh();
    return {
      state: this.#state,
      since: this.#since,
      lastError: this.#lastError,
      lastErrorAt: this.#lastErrorAt,
      lastProbeAt: this.#lastProbeAt,
      lastProbeLatencyMs: this.#lastProbeLatencyMs,
      probeSuccesses: this.#probeSuccesses,
      probeFailures: this.#probeFailures,
      downTransitions: this.#downTransitions,
    };
  }

  /** A write attempt got no answer or a 5xx: the write failed. */
  #writeFailed(text: string, cause: DownCause): void {
    this.#failedWhileDown++;
    this.#markDown(text, cause);
  }

  #markDown(text: string, cause: DownCause): void {
    const reason = redactPasswords(text);
    const now = this.#clock();
    this.#lastError = reason;
    this.#lastErrorAt = now;
    if (this.#down !== null) {
      // A 5xx from a backend believed unreachable: only a write brings it up.
      if (cause === "rejecting") this.#down = cause;
      return;
    }
    this.#down = cause;
    this.#downAt = now;
    this.#downTransitions++;
    this.#setState("down", now);
    this.#logger.error(
      'Backend "{backend}" of relay "{relay}" down: {reason}',
      {
        backend: this.#backend,
        relay: this.#relay,
        reason,
      },
    );
  }

  #markUp(): void {
    const now = this.#clock();
    const downSeconds = (now - this.#downAt) / 1000;
    const failed = this.#failedWhileDown;
    this.#down = null;
    this.#failedWhileDown = 0;
    this.#refresh();
    const properties = {
      backend: this.#backend,
      relay: this.#relay,
      after: formatSeconds(downSeconds),
      downSeconds,
    };
    if (this.#backlog === null) {
      this.#logger.info(
        failed > 0
          ? 'Backend "{backend}" of relay "{relay}" up after {after}; {failed} writes to it failed meanwhile (it has no retry buffer)'
          : 'Backend "{backend}" of relay "{relay}" up after {after}; no write to it failed meanwhile',
        { ...properties, failed },
      );
    } else {
      this.#logger.info(
        'Backend "{backend}" of relay "{relay}" up after {after}, {queued} writes queued',
        { ...properties, queued: this.#backlog() },
      );
    }
  }

  #refresh(): void {
    if (this.#down !== null) return;
    const queued = this.#backlog === null ? 0 : this.#backlog();
    this.#setState(queued > 0 ? "catching-up" : "up", this.#clock());
  }

  #setState(state: BackendState, now: number): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#since = now;
  }
}

/**
 * Formats a duration for a log line: `0.4s`, `9.5s`, `42s`, `3m20s`, `2h5m`.
 *
 * @param seconds The duration.
 * @returns The text.
 */
export function formatSeconds(seconds: number): string {
  if (seconds < 10) return `${Math.max(0, Math.round(seconds * 10) / 10)}s`;
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole}s`;
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  if (hours > 0) return `${hours}h${minutes}m`;
  return `${minutes}m${whole % 60}s`;
}

function describeResponse(status: number, body: Uint8Array): string {
  const text = decoder.decode(body.subarray(0, 256)).trim();
  return text === "" ? `HTTP ${status}` : `HTTP ${status}: ${text}`;
}
