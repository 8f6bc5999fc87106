/**
 * The original relay's rule for answering a client from its backends'
 * outcomes, as a pure function (spec §3.8).
 *
 * @module
 */

import type { BackendResponse, BackendResult } from "./backend.ts";

/** What the client is answered. */
export type Decision =
  /** Some backend took the write: answer 204. */
  | { readonly kind: "accepted" }
  /** Pass a backend's answer through (status, body, content type). */
  | { readonly kind: "forward"; readonly response: BackendResponse }
  /** No backend answered at all: 503 `unable to write points`. */
  | { readonly kind: "unavailable" };

/**
 * Decides the client's answer from the outcomes seen so far, in arrival
 * order: the first 2xx answers 204, the first 4xx is passed through; once
 * every backend has finished, the last other answer (5xx) is passed through,
 * or 503 when no backend answered.
 *
 * @param outcomes Backend results in the order they arrived.
 * @param backends How many backends were written to.
 * @returns The decision, or `null` while it still depends on pending backends.
 */
export function decideResponse(
  outcomes: readonly BackendResult[],
  backends: number,
): Decision | null {
  let last: BackendResponse | null = null;
  for (const outcome of outcomes) {
    if (outcome.kind !== "response") continue;
    if (outcome.status >= 200 && outcome.status < 300) {
      return { kind: "accepted" };
    }
    if (outcome.status >= 400 && outcome.status < 500) {
      return { kind: "forward", response: outcome };
    }
    last = outcome;
  }
  if (outcomes.length < backends) return null;
  return last === null
    ? { kind: "unavailable" }
    : { kind: "forward", response: last };
}
