/**
 * Sends one batch to every backend of a listener at once and answers as
 * soon as the response rule has decided; slower backends finish in the
 * background, tracked so that shutdown can wait for them.
 *
 * @module
 */

import type { Backend, BackendResult } from "./backend.ts";
import type { WriteBatch } from "./batch.ts";
import type { Logger } from "./log.ts";
import { decideResponse, type Decision } from "./response_rule.ts";

export type { Decision };

/** Options for {@linkcode Fanout}. */
export interface FanoutOptions {
  /** The listener's name, used in log lines. */
  relay: string;
  /** Where backend failures and 5xx answers are logged. */
  logger: Logger;
}

/** Writes batches to all backends of one listener. */
export class Fanout {
  readonly #backends: readonly Backend[];
  readonly #relay: string;
  readonly #logger: Logger;
  readonly #inFlight = new Set<Promise<unknown>>();

  /**
   * @param backends Every backend a batch goes to, in config order.
   * @param options Relay name and logger.
   */
  constructor(backends: readonly Backend[], options: FanoutOptions) {
    this.#backends = backends;
    this.#relay = options.relay;
    this.#logger = options.logger;
  }

  /** The backends, in config order. */
  get backends(): readonly Backend[] {
    return this.#backends;
  }

  /** Number of backend writes still running (also after their client was answered). */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /**
   * Writes the batch to every backend concurrently.
   *
   * @param batch The write.
   * @returns The client's answer, as soon as it is decided.
   */
  write(batch: WriteBatch): Promise<Decision> {
    const backends = this.#backends;
    if (backends.length === 0) {
      return Promise.resolve(decideResponse([], 0) as Decision);
    }
    const { promise, resolve } = Promise.withResolvers<Decision>();
    const outcomes: BackendResult[] = [];
    let decided = false;
    for (const backend of backends) {
      const sent = backend.write(batch).then((result) => {
        this.#report(backend, result);
        outcomes.push(result);
        if (decided) return;
        const decision = decideResponse(outcomes, backends.length);
        if (decision !== null) {
          decided = true;
          resolve(decision);
        }
      });
      this.#inFlight.add(sent);
      sent.finally(() => this.#inFlight.delete(sent));
    }
    return promise;
  }

  /** Resolves once every backend write started so far has finished. */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0) {
      await Promise.allSettled([...this.#inFlight]);
    }
  }

  #report(backend: Backend, result: BackendResult): void {
    if (result.kind === "failure") {
      this.#logger.error(
        'Problem posting to relay "{relay}" backend "{backend}": {error}',
        {
          relay: this.#relay,
          backend: backend.name,
          error: result.error.message,
        },
      );
    } else if (result.status >= 500) {
      this.#logger.error(
        '5xx response for relay "{relay}" backend "{backend}": {status}',
        { relay: this.#relay, backend: backend.name, status: result.status },
      );
    }
  }
}
