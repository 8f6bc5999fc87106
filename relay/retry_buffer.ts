/**
 * A retry buffer: wraps one backend behind the same {@linkcode Backend}
 * contract (the fan-out never knows it is there). Writes the backend cannot
 * take right now are queued and delivered in order by one worker with
 * exponential back-off; while anything is queued, new writes queue behind it
 * (D10). Retries are classified (D9) and bounded by a maximum age; every
 * drop is logged and counted.
 *
 * @module
 */

import type {
  Backend,
  BackendFailure,
  BackendQueued,
  BackendResponse,
  BackendResult,
} from "./backend.ts";
import type { WriteBatch } from "./batch.ts";
import type { BatchQueue } from "./batch_queue.ts";
import type { Logger } from "./log.ts";

/** Options for {@linkcode RetryBuffer}. */
export interface RetryBufferOptions {
  /** Where queued writes wait (memory or disk). */
  queue: BatchQueue;
  /** Where buffering, recovery and drops are logged. */
  logger: Logger;
  /** The listener's name, for logs. */
  relay: string;
  /**
   * Largest merged request sent while catching up, in bytes.
   * @default 524288
   */
  maxBatchBytes?: number;
  /**
   * Cap of the back-off between retries, in ms.
   * @default 10000
   */
  maxDelayMs?: number;
  /**
   * First back-off step, doubled before the first sleep as in the original.
   * @default 500
   */
  initialDelayMs?: number;
  /**
   * A queued write older than this is dropped (logged, counted); 0 keeps
   * retrying forever.
   * @default 86400000
   */
  maxAgeMs?: number;
  /**
   * Keep retrying a batch the backend answers `404 database not found` (a
   * rebuilt node may not have the database yet); otherwise drop it.
   * @default true
   */
  retryDatabaseNotFound?: boolean;
  /**
   * Current time in ms since the epoch.
   * @default Date.now
   */
  clock?: () => number;
  /**
   * Waits `ms`, or less when `signal` aborts.
   * @default a timer
   */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /**
   * Random number in [0, 1) for back-off jitter.
   * @default Math.random
   */
  random?: () => number;
}

/** Figures of one retry buffer since start. */
export interface RetryBufferStats {
  /** Writes queued (after a failed attempt, or behind a non-empty queue). */
  queued: number;
  /** Queued writes delivered. */
  delivered: number;
  /** Failed delivery attempts of queued batches. */
  retries: number;
  /** Writes dropped, by reason. */
  dropped: {
    /** The backend answered a 4xx that retrying cannot fix. */
    rejected: number;
    /** Older than the maximum age. */
    expired: number;
    /** Removed by the `drop-oldest` policy to make room. */
    overflow: number;
    /** Refused because the buffer was full (`reject` policy). */
    full: number;
    /**
     * Skipped as damaged when a disk spool was opened (bad CRC, …); their
     * points are unknown and not in {@linkcode RetryBufferStats.droppedPoints}.
     */
    damaged: number;
  };
  /** Points in dropped writes, all reasons but `damaged`. */
  droppedPoints: number;
}

/** How a backend's answer is treated by the buffer (D9). */
export type Classification = "ok" | "retry" | "reject";

/**
 * Classifies a backend's answer: 2xx is delivered; network errors,
 * timeouts, 5xx, 429 and (optionally) 404 `database not found` are retried;
 * any other 4xx is rejected for good.
 *
 * @param result The backend's answer.
 * @param retryDatabaseNotFound Retry 404 `database not found`.
 * @returns What to do with the batch.
 */
export function classify(
  result: BackendResult,
  retryDatabaseNotFound = true,
): Classification {
  if (result.kind === "failure") return "retry";
  if (result.kind !== "response") return "ok";
  const { status } = result;
  if (status >= 200 && status < 300) return "ok";
  if (status === 429) return "retry";
  if (status === 404 && retryDatabaseNotFound && databaseNotFound(result)) {
    return "retry";
  }
  if (status >= 400 && status < 500) return "reject";
  return "retry";
}

const decoder = new TextDecoder();

function databaseNotFound(response: BackendResponse): boolean {
  return decoder.decode(response.body.subarray(0, 512)).includes(
    "database not found",
  );
}

/** Seconds of a `Retry-After: <seconds>` header value, or null. */
function retryAfterMs(result: BackendResult): number | null {
  if (result.kind !== "response" || result.status !== 429) return null;
  const value = result.retryAfter;
  if (value === undefined || value === null) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - Date.now());
}

function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
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

/**
 * Queues keep a write's target as one string: the v1 query, then the v2/v3
 * destination after a newline (a normalised query never holds one), so that
 * queued writes merge only when both match and a spool stores both.
 */
function storedQuery(batch: WriteBatch): string {
  return batch.destination === undefined
    ? batch.query
    : `${batch.query}\n${batch.destination}`;
}

/** Splits {@linkcode storedQuery}'s string back into query and destination. */
function target(stored: string): Pick<WriteBatch, "query" | "destination"> {
  const cut = stored.indexOf("\n");
  return cut < 0
    ? { query: stored }
    : { query: stored.slice(0, cut), destination: stored.slice(cut + 1) };
}

function failure(message: string): BackendFailure {
  return { kind: "failure", error: new Error(message) };
}

/**
 * What a queue found damaged when it was opened: a disk spool counts the
 * unacknowledged records it had to skip (`SpoolQueue.corrupted`); a memory
 * queue has no such figure.
 */
interface DamageCount {
  readonly corrupted?: number;
}

/** A backend with a retry queue in front of it. */
export class RetryBuffer implements Backend {
  readonly name: string;
  readonly #backend: Backend;
  readonly #queue: BatchQueue;
  readonly #logger: Logger;
  readonly #relay: string;
  readonly #maxBatchBytes: number;
  readonly #maxDelayMs: number;
  readonly #initialDelayMs: number;
  readonly #maxAgeMs: number;
  readonly #retryDatabaseNotFound: boolean;
  readonly #clock: () => number;
  readonly #sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly #random: () => number;
  /** Resolvers of writes waiting for delivery, by queue seq. */
  readonly #waiters = new Map<number, (result: BackendResult) => void>();
  /**
   * Outcomes of writes settled before their waiter was registered (a spool's
   * push resolves after drop-oldest may already have dropped the write).
   */
  readonly #early = new Map<number, BackendResult>();
  /** Aborted to cut the current back-off short. */
  #wake = new AbortController();
  /** Set by close(): stop after the next failed attempt. */
  #closing = false;
  /** Set by close() at the deadline: stop as soon as possible. */
  #stopped = false;
  readonly #stats: RetryBufferStats = {
    queued: 0,
    delivered: 0,
    retries: 0,
    dropped: { rejected: 0, expired: 0, overflow: 0, full: 0, damaged: 0 },
    droppedPoints: 0,
  };
  #worker: Promise<void> | null = null;
  /** Pushes not yet resolved (their waiters are not registered yet). */
  #pushing = 0;
  #direct = 0;
  #failingSince: number | null = null;
  #lastError = "";

  /**
   * @param backend The backend to deliver to.
   * @param options Queue, logging and retry policy.
   */
  constructor(backend: Backend, options: RetryBufferOptions) {
    const {
      queue,
      logger,
      relay,
      maxBatchBytes = 512 * 1024,
      maxDelayMs = 10_000,
      initialDelayMs = 500,
      maxAgeMs = 86_400_000,
      retryDatabaseNotFound = true,
      clock = Date.now,
      sleep = defaultSleep,
      random = Math.random,
    } = options;
    this.name = backend.name;
    this.#backend = backend;
    this.#queue = queue;
    this.#logger = logger;
    this.#relay = relay;
    this.#maxBatchBytes = maxBatchBytes;
    this.#maxDelayMs = maxDelayMs;
    this.#initialDelayMs = initialDelayMs;
    this.#maxAgeMs = maxAgeMs;
    this.#retryDatabaseNotFound = retryDatabaseNotFound;
    this.#clock = clock;
    this.#sleep = sleep;
    this.#random = random;
    // Records a disk spool skipped as damaged when it was opened.
    this.#stats.dropped.damaged = (queue as DamageCount).corrupted ?? 0;
    // A spool may hold writes from before a restart.
    if (queue.length > 0) this.#startWorker();
  }

  /** Figures since start (a live object; copy it to keep a snapshot). */
  get stats(): Readonly<RetryBufferStats> {
    return this.#stats;
  }

  /** The queue (for its bytes, length and oldest write). */
  get queue(): BatchQueue {
    return this.#queue;
  }

  /** True while queued writes wait for the backend. */
  get catchingUp(): boolean {
    return this.#queue.length > 0;
  }

  /**
   * Sends the batch straight to the backend when nothing is queued; queues
   * it when the attempt fails in a way worth retrying, or when older writes
   * are still queued (so that they stay in order).
   *
   * @param batch The write.
   * @returns The backend's answer, `queued` with a promise of the eventual
   * delivery, or a failure when the buffer is full.
   */
  async write(batch: WriteBatch): Promise<BackendResult> {
    const acceptedAt = this.#clock();
    if (this.#queue.length === 0 && this.#worker === null) {
      this.#direct++;
      let result: BackendResult;
      try {
        result = await this.#backend.write(batch);
      } finally {
        this.#direct--;
      }
      if (classify(result, false) !== "retry") return result;
      this.#noteFailure(result);
    }
    return await this.#enqueue(batch, acceptedAt);
  }

  async #enqueue(
    batch: WriteBatch,
    acceptedAt: number,
  ): Promise<BackendResult> {
    let pushed;
    this.#pushing++;
    try {
      pushed = await this.#queue.push({
        query: storedQuery(batch),
        auth: batch.auth,
        body: batch.body,
        points: batch.points,
        acceptedAt,
      });
    } catch (error) {
      this.#pushing--;
      this.#stats.dropped.full++;
      this.#stats.droppedPoints += batch.points;
      // The queue's errors name the backend and the cause (buffer full, a
      // spool that cannot write, which is as good as full): the backend
      // misses this write, and the fan-out logs it.
      return {
        kind: "failure",
        error: error instanceof Error ? error : new Error(
          `Cannot buffer a write for backend "${this.name}": ${String(error)}`,
        ),
      };
    }
    this.#pushing--;
    this.#stats.queued++;
    if (pushed.dropped !== null) {
      const { seqs, points, bytes } = pushed.dropped;
      this.#stats.dropped.overflow += seqs.length;
      this.#stats.droppedPoints += points;
      this.#logger.error(
        'Retry buffer of relay "{relay}" backend "{backend}" full: dropped the {writes} oldest writes ({points} points, {bytes} bytes) to make room',
        {
          relay: this.#relay,
          backend: this.name,
          writes: seqs.length,
          points,
          bytes,
        },
      );
      const dropped = failure(
        `dropped from the full retry buffer of backend "${this.name}"`,
      );
      for (const seq of seqs) this.#settle(seq, dropped);
    }
    const { promise, resolve } = Promise.withResolvers<BackendResult>();
    const early = this.#early.get(pushed.seq);
    if (early === undefined) {
      this.#waiters.set(pushed.seq, resolve);
    } else {
      this.#early.delete(pushed.seq);
      resolve(early);
    }
    // Outcomes kept for writes no push is waiting for any more.
    if (this.#pushing === 0) this.#early.clear();
    this.#startWorker();
    const queued: BackendQueued = {
      kind: "queued",
      durable: this.#queue.durable,
      delivered: promise,
    };
    return queued;
  }

  #settle(seq: number, result: BackendResult): void {
    const resolve = this.#waiters.get(seq);
    if (resolve !== undefined) {
      this.#waiters.delete(seq);
      resolve(result);
    } else if (this.#pushing > 0) {
      this.#early.set(seq, result);
    }
  }

  #settleRange(first: number, last: number, result: BackendResult): void {
    if (this.#waiters.size === 0) return;
    for (let seq = first; seq <= last; seq++) this.#settle(seq, result);
  }

  #noteFailure(result: BackendResult): void {
    this.#lastError = describe(result);
    if (this.#failingSince !== null) return;
    this.#failingSince = this.#clock();
    this.#logger.warn(
      'Backend "{backend}" of relay "{relay}" is failing, buffering its writes: {error}',
      { backend: this.name, relay: this.#relay, error: this.#lastError },
    );
  }

  #startWorker(): void {
    if (this.#worker !== null || this.#stopped) return;
    this.#worker = this.#drain().finally(() => {
      this.#worker = null;
      // A write may have been queued after the last head() came back empty.
      if (this.#queue.length > 0 && !this.#stopped && !this.#closing) {
        this.#startWorker();
      }
    });
  }

  async #drain(): Promise<void> {
    let attempt = 0;
    let delivered = 0;
    // Drops while this worker runs (overflow happens in write()).
    const before = { ...this.#stats.dropped };
    // The last delivery attempt failed in a way worth retrying.
    let failing = false;
    while (!this.#stopped) {
      const head = await this.#queue.head(this.#maxBatchBytes);
      if (head === null) break;
      const writes = head.lastSeq - head.firstSeq + 1;
      if (
        this.#maxAgeMs > 0 && this.#clock() - head.acceptedAt > this.#maxAgeMs
      ) {
        await this.#queue.remove(head.lastSeq);
        this.#stats.dropped.expired += writes;
        this.#stats.droppedPoints += head.points;
        this.#logger.error(
          'Dropped {writes} writes ({points} points) for relay "{relay}" backend "{backend}": older than the maximum age of {maxAgeMs}ms; last error: {error}',
          {
            writes,
            points: head.points,
            relay: this.#relay,
            backend: this.name,
            maxAgeMs: this.#maxAgeMs,
            error: this.#lastError,
          },
        );
        this.#settleRange(
          head.firstSeq,
          head.lastSeq,
          failure(`expired in the retry buffer of backend "${this.name}"`),
        );
        continue;
      }
      const result = await this.#backend.write({
        ...target(head.query),
        auth: head.auth,
        body: head.body,
        points: head.points,
      });
      const verdict = classify(result, this.#retryDatabaseNotFound);
      failing = verdict === "retry";
      if (verdict === "retry") {
        this.#stats.retries++;
        this.#noteFailure(result);
        attempt++;
        const step = Math.min(
          this.#initialDelayMs * 2 ** Math.min(attempt, 30),
          this.#maxDelayMs,
        );
        // Jitter in [step/2, step) keeps relays from retrying in lockstep.
        let delay = step / 2 + (step / 2) * this.#random();
        const after = retryAfterMs(result);
        if (after !== null) delay = Math.max(delay, after);
        if (this.#closing) break;
        await this.#sleep(delay, this.#wake.signal);
        if (this.#wake.signal.aborted) this.#wake = new AbortController();
        continue;
      }
      attempt = 0;
      await this.#queue.remove(head.lastSeq);
      if (verdict === "reject") {
        this.#stats.dropped.rejected += writes;
        this.#stats.droppedPoints += head.points;
        this.#logger.error(
          'Dropped {writes} writes ({points} points) for relay "{relay}" backend "{backend}": the backend rejected them: {error}',
          {
            writes,
            points: head.points,
            relay: this.#relay,
            backend: this.name,
            error: describe(result),
          },
        );
      } else {
        this.#stats.delivered += writes;
        delivered += writes;
      }
      this.#settleRange(head.firstSeq, head.lastSeq, result);
    }
    if (this.#queue.length === 0 && this.#failingSince !== null) {
      const seconds = Math.round((this.#clock() - this.#failingSince) / 1000);
      this.#failingSince = null;
      const { expired, rejected, overflow } = this.#stats.dropped;
      this.#reportEmpty({
        seconds,
        delivered,
        expired: expired - before.expired,
        rejected: rejected - before.rejected,
        overflow: overflow - before.overflow,
        failing,
      });
    }
  }

  /**
   * Says why the queue is empty again: "caught up" only when the backend
   * took queued writes; a queue emptied by drops alone says so, and whether
   * the backend still fails.
   */
  #reportEmpty(episode: {
    seconds: number;
    delivered: number;
    expired: number;
    rejected: number;
    overflow: number;
    failing: boolean;
  }): void {
    const { seconds, delivered, expired, rejected, overflow, failing } =
      episode;
    const dropped = expired + rejected + overflow;
    const properties = {
      backend: this.name,
      relay: this.#relay,
      seconds,
      writes: delivered,
      dropped,
      expired,
      rejected,
      overflow,
    };
    if (delivered > 0) {
      this.#logger.info(
        dropped === 0
          ? 'Backend "{backend}" of relay "{relay}" caught up after {seconds}s: {writes} queued writes delivered'
          : 'Backend "{backend}" of relay "{relay}" caught up after {seconds}s: {writes} queued writes delivered, {dropped} dropped',
        properties,
      );
      return;
    }
    const why = [
      ...(expired > 0 ? [`${expired} writes expired`] : []),
      ...(rejected > 0 ? [`${rejected} rejected by the backend`] : []),
      ...(overflow > 0 ? [`${overflow} dropped to make room`] : []),
    ].join(", ") || "they were dropped";
    this.#logger.warn(
      failing
        ? 'Retry buffer of relay "{relay}" backend "{backend}" is empty after {seconds}s, none of its writes delivered: {why}; the backend is still failing'
        : 'Retry buffer of relay "{relay}" backend "{backend}" is empty after {seconds}s, none of its writes delivered: {why}',
      { ...properties, why },
    );
  }

  /**
   * Makes one last delivery attempt of what is queued (bounded by the
   * backend's timeout and `signal`), then stops the worker and closes the
   * queue and the backend. Writes still queued stay in a spool; for a memory
   * queue they are reported as lost.
   *
   * @param signal Aborts the final attempt (the shutdown deadline).
   */
  async close(signal?: AbortSignal): Promise<void> {
    this.#closing = true;
    this.#wake.abort();
    if (this.#worker !== null && signal !== undefined && !signal.aborted) {
      const { promise: deadline, resolve } = Promise.withResolvers<void>();
      signal.addEventListener("abort", () => resolve(), { once: true });
      await Promise.race([this.#worker, deadline]);
    }
    this.#stopped = true;
    // The worker stops after its current step (a send is bounded by the
    // backend's timeout).
    await this.#worker;
    const left = { writes: this.#queue.length, bytes: this.#queue.bytes };
    if (left.writes > 0) {
      const message = this.#queue.durable
        ? 'Retry buffer of relay "{relay}" backend "{backend}" keeps {writes} writes ({bytes} bytes) on disk for the next start'
        : 'Retry buffer of relay "{relay}" backend "{backend}" lost {writes} undelivered writes ({bytes} bytes) at shutdown';
      const log = this.#queue.durable
        ? this.#logger.warn.bind(this.#logger)
        : this.#logger.error.bind(this.#logger);
      log(message, { relay: this.#relay, backend: this.name, ...left });
    }
    const undelivered = failure(
      `undelivered at shutdown by the retry buffer of backend "${this.name}"`,
    );
    for (const seq of [...this.#waiters.keys()]) this.#settle(seq, undelivered);
    await this.#queue.close();
    await this.#backend.close();
  }
}

function describe(result: BackendResult): string {
  if (result.kind === "failure") return result.error.message;
  if (result.kind !== "response") return result.kind;
  const body = decoder.decode(result.body.subarray(0, 256)).trim();
  return body === ""
    ? `HTTP ${result.status}`
    : `HTTP ${result.status}: ${body}`;
}
