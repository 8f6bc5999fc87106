/**
 * Sends one batch to every backend of a listener at once and answers as
 * soon as the response rule has decided; slower backends finish in the
 * background, tracked so that shutdown can wait for them.
 *
 * @module
 */

import type {
  Backend,
  BackendQueued,
  BackendResponse,
  BackendResult,
} from "./backend.ts";
import { redactPasswords } from "./backend_auth.ts";
import type { WriteBatch } from "./batch.ts";
import type { Logger } from "./log.ts";
import {
  leftOutNote,
  LogThrottle,
  type LogThrottleOptions,
} from "./log_throttle.ts";
import {
  type AckPolicy,
  decideResponse,
  type Decision,
} from "./response_rule.ts";

export type { AckPolicy, Decision };

/** Options for {@linkcode Fanout}. */
export interface FanoutOptions {
  /** The listener's name, used in log lines. */
  relay: string;
  /** Where backend failures and 5xx answers are logged. */
  logger: Logger;
  /**
   * Log message for a failed backend write, with the placeholders
   * `{relay}`, `{backend}` and `{error}`.
   * @default {'Problem posting to relay "{relay}" backend "{backend}": {error}'}
   */
  failureMessage?: string;
  /**
   * Limits how often failures and 5xx answers are logged (for UDP, where
   * they can come at packet rate).
   * @default {every one is logged}
   */
  logThrottle?: LogThrottle;
  /**
   * How often a backend's 4xx answers to writes are logged, per backend;
   * the line after a pause says how many were left out.
   * @default {{ burst: 5, intervalMs: 10000 }}
   */
  refusedLogThrottle?: LogThrottleOptions;
  /**
   * When the client is answered: see {@linkcode decideResponse}.
   * @default "first"
   */
  ack?: AckPolicy;
  /**
   * Longest wait, in ms, for writes held in retry buffers to be delivered
   * before the answer is decided without them.
   * @default 10000
   */
  ackTimeoutMs?: number;
  /**
   * Count a write queued in a memory retry buffer as stored (a disk spool
   * always counts).
   * @default false
   */
  ackMemoryBuffer?: boolean;
}

const FAILURE_MESSAGE =
  'Problem posting to relay "{relay}" backend "{backend}": {error}';

/** Writes batches to all backends of one listener. */
export class Fanout {
  readonly #backends: readonly Backend[];
  readonly #relay: string;
  readonly #logger: Logger;
  readonly #failureMessage: string;
  readonly #logThrottle: LogThrottle | null;
  readonly #ack: AckPolicy;
  readonly #ackTimeoutMs: number;
  readonly #ackMemoryBuffer: boolean;
  /** Backend writes still running, with their backend's name. */
  readonly #inFlight = new Map<Promise<unknown>, string>();
  readonly #refusedLogThrottle: LogThrottleOptions;
  /** One throttle per backend that answered a write 4xx, made at the first. */
  readonly #refusedThrottles = new Map<string, LogThrottle>();

  /**
   * @param backends Every backend a batch goes to, in config order.
   * @param options Relay name, logger and how failures are logged.
   */
  constructor(backends: readonly Backend[], options: FanoutOptions) {
    const {
      relay,
      logger,
      failureMessage = FAILURE_MESSAGE,
      logThrottle = null,
      ack = "first",
      ackTimeoutMs = 10_000,
      ackMemoryBuffer = false,
      refusedLogThrottle = {},
    } = options;
    this.#refusedLogThrottle = refusedLogThrottle;
    this.#ack = ack;
    this.#ackTimeoutMs = ackTimeoutMs;
    this.#ackMemoryBuffer = ackMemoryBuffer;
    this.#backends = backends;
    this.#relay = relay;
    this.#logger = logger;
    this.#failureMessage = failureMessage;
    this.#logThrottle = logThrottle;
  }

  /** The backends, in config order. */
  get backends(): readonly Backend[] {
    return this.#backends;
  }

  /** Number of backend writes still running (also after their client was answered). */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Backend writes still running, counted per backend name. */
  inFlightByBackend(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const name of this.#inFlight.values()) {
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    return counts;
  }

  /**
   * Writes the batch to every backend concurrently.
   *
   * @param batch The write.
   * @returns The client's answer, as soon as it is decided.
   */
  write(batch: WriteBatch): Promise<Decision> {
    const backends = this.#backends;
    const rule = { ack: this.#ack };
    if (backends.length === 0) {
      return Promise.resolve(decideResponse([], 0, rule) as Decision);
    }
    const { promise, resolve } = Promise.withResolvers<Decision>();
    const outcomes: BackendResult[] = [];
    // Writes held in retry buffers that do not count as stored yet.
    const waiting = new Set<BackendQueued>();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let decided = false;
    let timedOut = 0;
    const arrive = (result: BackendResult) => {
      outcomes.push(result);
      if (decided) return;
      let decision = decideResponse(outcomes, backends.length, rule);
      if (decision === null) return;
      decided = true;
      clearTimeout(timer);
      if (decision.kind === "unavailable" && timedOut > 0) {
        decision = {
          kind: "unavailable",
          reason: `queued for retry on ${timedOut} of ${backends.length} ` +
            `backends, not delivered within ${this.#ackTimeoutMs}ms`,
        };
      }
      resolve(decision);
    };
    const expire = () => {
      for (const queued of [...waiting]) {
        waiting.delete(queued);
        timedOut++;
        arrive({
          kind: "failure",
          error: new Error(
            `not delivered within ack-timeout (${this.#ackTimeoutMs}ms)`,
          ),
        });
      }
    };
    for (const backend of backends) {
      const sent = backend.write(batch).then((result) => {
        this.#report(backend, result);
        if (
          result.kind === "queued" && !decided &&
          !(result.durable || this.#ackMemoryBuffer)
        ) {
          // Wait (bounded) for the delivery instead.
          waiting.add(result);
          timer ??= setTimeout(expire, this.#ackTimeoutMs);
          result.delivered.then((delivered) => {
            if (waiting.delete(result)) arrive(delivered);
          });
          return;
        }
        arrive(result);
      });
      this.#inFlight.set(sent, backend.name);
      sent.finally(() => this.#inFlight.delete(sent));
    }
    return promise;
  }

  /** Resolves once every backend write started so far has finished. */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0) {
      await Promise.allSettled([...this.#inFlight.keys()]);
    }
  }

  #report(backend: Backend, result: BackendResult): void {
    if (result.kind === "response") {
      if (result.status < 400) return;
      if (result.status < 500) {
        this.#reportRefused(backend, result);
        return;
      }
    } else if (result.kind !== "failure") {
      return;
    }
    let suppressed = 0;
    if (this.#logThrottle !== null) {
      suppressed = this.#logThrottle.admit();
      if (suppressed < 0) return;
    }
    const more = leftOutNote(suppressed);
    if (result.kind === "failure") {
      this.#logger.error(this.#failureMessage + more, {
        relay: this.#relay,
        backend: backend.name,
        // A client's `p` is part of the forwarded URL in the message.
        error: redactPasswords(result.error.message),
      });
      return;
    }
    // The original's line, with the backend's reason after it: when the
    // backend was already down, no other line says why it failed this time.
    const body = describeBody(result.body);
    this.#logger.error(
      (body === ""
        ? '5xx response for relay "{relay}" backend "{backend}": {status}'
        : '5xx response for relay "{relay}" backend "{backend}": {status}: {body}') +
        more,
      {
        relay: this.#relay,
        backend: backend.name,
        status: result.status,
        body,
      },
    );
  }

  /**
   * A backend refused a write (4xx): it misses that write whatever the
   * client is answered, so the backends now differ. Logged at warning,
   * throttled per backend: a client sending to a database one backend lacks
   * would otherwise log every write.
   */
  #reportRefused(backend: Backend, result: BackendResponse): void {
    let throttle = this.#refusedThrottles.get(backend.name);
    if (throttle === undefined) {
      throttle = new LogThrottle(this.#refusedLogThrottle);
      this.#refusedThrottles.set(backend.name, throttle);
    }
    const suppressed = throttle.admit();
    if (suppressed < 0) return;
    const body = describeBody(result.body);
    this.#logger.warn(
      REFUSED_MESSAGES[(body === "" ? 0 : 1) + (suppressed > 0 ? 2 : 0)]!,
      {
        relay: this.#relay,
        backend: backend.name,
        status: result.status,
        body,
        suppressed,
      },
    );
  }
}

/**
 * The lines of {@linkcode Fanout}'s 4xx report: without and with the
 * backend's answer, then the same with the count a throttle left out.
 */
const REFUSED_MESSAGES = [
  '4xx response for relay "{relay}" backend "{backend}": {status}; the backend refused this write, other backends may have stored it',
  '4xx response for relay "{relay}" backend "{backend}": {status}: {body}; the backend refused this write, other backends may have stored it',
  '4xx response for relay "{relay}" backend "{backend}": {status}; the backend refused this write, other backends may have stored it ({suppressed} similar lines left out before this one)',
  '4xx response for relay "{relay}" backend "{backend}": {status}: {body}; the backend refused this write, other backends may have stored it ({suppressed} similar lines left out before this one)',
] as const;

/** Longest part of a backend's answer quoted in a log line, in characters. */
const MAX_BODY_CHARS = 256;

const decoder = new TextDecoder();

/**
 * A backend's answer as a log line may quote it: on one line, cut at
 * {@linkcode MAX_BODY_CHARS} characters, and with the value of every `p=`
 * (a client's password in a URL the backend echoes) hidden.
 *
 * @param body The response body.
 * @returns The text, or `""` for an empty body.
 */
export function describeBody(body: Uint8Array): string {
  if (body.length === 0) return "";
  // Enough bytes for MAX_BODY_CHARS characters of any width.
  const read = MAX_BODY_CHARS * 4;
  const text = redactPasswords(
    decoder.decode(body.subarray(0, read)).replace(/\s+/g, " ").trim(),
  );
  return text.length > MAX_BODY_CHARS || body.length > read
    ? `${text.slice(0, MAX_BODY_CHARS)}… (${body.length} bytes)`
    : text;
}
