/**
 * Statements that change data or schema, queued for one backend that was
 * down when they were applied to the others (`query-ddl-when-down =
 * "queue"`), and replayed to it in order once it answers again. Kept in
 * memory: a relay restart forgets them (logged).
 *
 * An attempt is made as soon as the backend's health leaves `down`, and
 * otherwise with a back-off from `retryMs` up to `maxDelayMs` (so that a
 * backend whose health is not probed is still tried). A statement is done
 * once the backend answered it below 500, also with an error (logged: it
 * would have failed the same way on the others); no answer or a 5xx keeps
 * it at the head of the queue.
 *
 * @module
 */

import type { Logger } from "./log.ts";
import { readAnswer } from "./query_answer.ts";
import type { BackendQuery, QueryTarget } from "./query_target.ts";

/** Options for {@linkcode StatementQueue}. */
export interface StatementQueueOptions {
  /** The relay (listener) the backend belongs to, for logs. */
  relay: string;
  /** Where replays and failures are logged. */
  logger: Logger;
  /**
   * First pause between two attempts while the backend fails, in ms; also
   * how often its health is looked at.
   * @default 1000
   */
  retryMs?: number;
  /**
   * Longest pause between two attempts, in ms.
   * @default 30000
   */
  maxDelayMs?: number;
  /**
   * Longest one attempt may take, in ms; 0 means no limit.
   * @default 30000
   */
  timeoutMs?: number;
  /**
   * Most statements held; {@linkcode StatementQueue.push} refuses more.
   * @default 1000
   */
  maxLength?: number;
  /**
   * Current time in ms.
   * @default Date.now
   */
  clock?: () => number;
}

interface Queued {
  readonly query: BackendQuery;
  /** The statements, for logs: `CREATE DATABASE x`. */
  readonly description: string;
  readonly queuedAt: number;
}

/** The statements waiting for one backend. */
export class StatementQueue {
  readonly #target: QueryTarget;
  readonly #relay: string;
  readonly #logger: Logger;
  readonly #retryMs: number;
  readonly #maxDelayMs: number;
  readonly #timeoutMs: number;
  readonly #maxLength: number;
  readonly #clock: () => number;
  readonly #items: Queued[] = [];
  readonly #closed = new AbortController();
  #running: Promise<void> | null = null;
  #replayed = 0;
  #idle = Promise.withResolvers<void>();

  /**
   * @param target The backend the statements are for.
   * @param options Names, logger and timing.
   * @throws {RangeError} When a timing or the length is not positive.
   */
  constructor(target: QueryTarget, options: StatementQueueOptions) {
    const {
      relay,
      logger,
      retryMs = 1000,
      maxDelayMs = 30_000,
      timeoutMs = 30_000,
      maxLength = 1000,
      clock = Date.now,
    } = options;
    for (
      const [name, value] of [
        ["retryMs", retryMs],
        ["maxDelayMs", maxDelayMs],
        ["maxLength", maxLength],
      ] as const
    ) {
      if (!(value > 0)) {
        throw new RangeError(
          `Cannot queue statements as '${name}' must be positive: current value is ${value}`,
        );
      }
    }
    this.#target = target;
    this.#relay = relay;
    this.#logger = logger;
    this.#retryMs = retryMs;
    this.#maxDelayMs = Math.max(maxDelayMs, retryMs);
    this.#timeoutMs = timeoutMs;
    this.#maxLength = maxLength;
    this.#clock = clock;
    this.#idle.resolve();
  }

  /** Number of statements waiting. */
  get length(): number {
    return this.#items.length;
  }

  /** Whether {@linkcode StatementQueue.push} would refuse a statement. */
  get full(): boolean {
    return this.#items.length >= this.#maxLength;
  }

  /** Settles once nothing is queued (at once when nothing is). */
  idle(): Promise<void> {
    return this.#idle.promise;
  }

  /**
   * Queues a query for the backend, behind those already queued.
   *
   * @param query The query as the other backends got it.
   * @param description Its statements, for logs.
   * @returns `false` when the queue is full or closed (nothing queued).
   */
  push(query: BackendQuery, description: string): boolean {
    if (this.full || this.#closed.signal.aborted) return false;
    if (this.#items.length === 0) this.#idle = Promise.withResolvers<void>();
    this.#items.push({ query, description, queuedAt: this.#clock() });
    this.#logger.warn(
      'Queued "{statement}" for backend "{backend}" of relay "{relay}" ({queued} waiting): it is applied when the backend answers again',
      {
        statement: description,
        backend: this.#target.name,
        relay: this.#relay,
        queued: this.#items.length,
      },
    );
    this.#running ??= this.#run().finally(() => {
      this.#running = null;
    });
    return true;
  }

  /**
   * Stops replaying (an attempt in flight is aborted) and logs the
   * statements that were never applied.
   */
  async close(): Promise<void> {
    this.#closed.abort(new Error("the relay is stopping"));
    await this.#running;
    if (this.#items.length > 0) {
      this.#logger.error(
        'Backend "{backend}" of relay "{relay}" never got {count} queued statements (the relay stopped): {statements}',
        {
          backend: this.#target.name,
          relay: this.#relay,
          count: this.#items.length,
          statements: this.#items.map((item) => item.description).join("; "),
        },
      );
    }
  }

  async #run(): Promise<void> {
    const closed = this.#closed.signal;
    let delay = this.#retryMs;
    let lastAttempt = this.#clock();
    let wasDown = this.#target.state() === "down";
    while (!closed.aborted && this.#items.length > 0) {
      const down = this.#target.state() === "down";
      const cameBack = wasDown && !down;
      wasDown = down;
      if (!cameBack && this.#clock() - lastAttempt < delay) {
        await sleep(this.#retryMs, closed);
        continue;
      }
      lastAttempt = this.#clock();
      const head = this.#items[0]!;
      const failure = await this.#attempt(head);
      if (closed.aborted) break;
      if (failure === null) {
        this.#items.shift();
        this.#replayed++;
        delay = this.#retryMs;
      } else {
        this.#logger.debug(
          'Queued "{statement}" for backend "{backend}" of relay "{relay}" not applied yet: {error}',
          {
            statement: head.description,
            backend: this.#target.name,
            relay: this.#relay,
            error: failure,
          },
        );
        delay = Math.min(delay * 2, this.#maxDelayMs);
      }
    }
    if (this.#items.length === 0) {
      if (this.#replayed > 0) {
        this.#logger.info(
          'Backend "{backend}" of relay "{relay}" applied every queued statement ({count})',
          {
            backend: this.#target.name,
            relay: this.#relay,
            count: this.#replayed,
          },
        );
      }
      this.#replayed = 0;
      this.#idle.resolve();
    }
  }

  /** One attempt: `null` when the statement is done, else why not. */
  async #attempt(item: Queued): Promise<string | null> {
    const attempt = new AbortController();
    const stop = () => attempt.abort(this.#closed.signal.reason);
    this.#closed.signal.addEventListener("abort", stop);
    const timer = this.#timeoutMs > 0
      ? setTimeout(
        () => attempt.abort(new Error(`no answer within ${this.#timeoutMs}ms`)),
        this.#timeoutMs,
      )
      : undefined;
    try {
      const response = await this.#target.send(item.query, attempt.signal);
      const answer = await readAnswer(response);
      if (answer.status >= 500) {
        return answer.errors.join("; ") || `HTTP ${answer.status}`;
      }
      const properties = {
        statement: item.description,
        backend: this.#target.name,
        relay: this.#relay,
        waitedSeconds: Math.round((this.#clock() - item.queuedAt) / 1000),
      };
      if (answer.errors.length === 0) {
        this.#logger.info(
          'Applied queued "{statement}" on backend "{backend}" of relay "{relay}" after {waitedSeconds}s',
          properties,
        );
      } else {
        this.#logger.error(
          'Backend "{backend}" of relay "{relay}" rejected queued "{statement}": {error}',
          { ...properties, error: answer.errors.join("; ") },
        );
      }
      return null;
    } catch (error) {
      return (error as Error).message;
    } finally {
      clearTimeout(timer);
      this.#closed.signal.removeEventListener("abort", stop);
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
