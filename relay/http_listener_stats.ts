/**
 * Counters of one HTTP listener: requests by path and status, body bytes
 * and points received, and writes rejected as invalid line protocol. Plain
 * numbers updated by the handler; `/status` and `/metrics` read a snapshot.
 *
 * @module
 */

/**
 * The paths requests are counted by; every other path counts as `other`, so
 * that a scanner cannot make the number of series grow without bound.
 */
export const COUNTED_PATHS = [
  "/write",
  "/api/v2/write",
  "/api/v3/write_lp",
  "/query",
  "/ping",
  "/health",
  "/status",
  "/metrics",
  "other",
] as const;

/** One of {@linkcode COUNTED_PATHS}. */
export type CountedPath = typeof COUNTED_PATHS[number];

/** Requests answered with one status on one path. */
export interface RequestCount {
  /** The path, or `other`. */
  readonly path: CountedPath;
  /** The HTTP status answered. */
  readonly status: number;
  /** How many. */
  readonly count: number;
}

/** A copy of a {@linkcode HttpListenerStats}' figures. */
export interface HttpListenerStatsSnapshot {
  /** Requests by path and status, in path order then by status. */
  readonly requests: readonly RequestCount[];
  /** Body bytes of write requests, as received (before gunzip). */
  readonly bytesReceived: number;
  /** Points in writes that passed validation (forwarded). */
  readonly pointsReceived: number;
  /** Writes rejected because a line was not valid line protocol. */
  readonly parseErrors: number;
}

/**
 * Maps a request path to the path it is counted under.
 *
 * @param path The request's path.
 * @returns The path itself when it is one of {@linkcode COUNTED_PATHS}, else
 * `other`.
 */
export function countedPath(path: string): CountedPath {
  return (COUNTED_PATHS as readonly string[]).includes(path)
    ? path as CountedPath
    : "other";
}

/** Counts what one HTTP listener receives and answers. */
export class HttpListenerStats {
  readonly #requests = new Map<CountedPath, Map<number, number>>(
    COUNTED_PATHS.map((path) => [path, new Map()]),
  );
  #bytesReceived = 0;
  #pointsReceived = 0;
  #parseErrors = 0;

  /**
   * Counts one answered request.
   *
   * @param path Its counted path.
   * @param status The status answered.
   */
  countRequest(path: CountedPath, status: number): void {
    const byStatus = this.#requests.get(path)!;
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
  }

  /**
   * Counts the body of one write request, as received.
   *
   * @param bytes Its length.
   */
  countBytes(bytes: number): void {
    this.#bytesReceived += bytes;
  }

  /**
   * Counts the points of one write that passed validation.
   *
   * @param points How many.
   */
  countPoints(points: number): void {
    this.#pointsReceived += points;
  }

  /** Counts one write rejected as invalid line protocol. */
  countParseError(): void {
    this.#parseErrors++;
  }

  /**
   * Returns the figures so far.
   *
   * @returns A copy.
   */
  snapshot(): HttpListenerStatsSnapshot {
    const requests: RequestCount[] = [];
    for (const [path, byStatus] of this.#requests) {
      const statuses = [...byStatus.keys()].sort((a, b) => a - b);
      for (const status of statuses) {
        requests.push({ path, status, count: byStatus.get(status)! });
      }
    }
    return {
      requests,
      bytesReceived: this.#bytesReceived,
      pointsReceived: this.#pointsReceived,
      parseErrors: this.#parseErrors,
    };
  }
}
