/**
 * The rule for answering a client from its backends' outcomes, as a pure
 * function: the original relay's rule (spec §3.8) by default, or the
 * stricter acknowledgement policies `all` and `majority` (D11).
 *
 * @module
 */

import type { BackendResponse, BackendResult } from "./backend.ts";

/** When a write counts as done: see {@linkcode decideResponse}. */
export type AckPolicy = "first" | "all" | "majority";

/** What the client is answered. */
export type Decision =
  /** The write is stored as the policy requires: answer 204. */
  | { readonly kind: "accepted" }
  /** Pass a backend's answer through (status, body, content type). */
  | { readonly kind: "forward"; readonly response: BackendResponse }
  /**
   * No backend took the write: 503 `unable to write points`, with the
   * reason when there is more to say than the original did.
   */
  | { readonly kind: "unavailable"; readonly reason?: string }
  /** Some backends stored the write, fewer than the policy requires: 503. */
  | {
    readonly kind: "insufficient";
    readonly stored: number;
    readonly needed: number;
    readonly backends: number;
    readonly ack: AckPolicy;
  };

/** Options for {@linkcode decideResponse}. */
export interface DecideResponseOptions {
  /**
   * `first`: the first backend that stores the write decides (the original
   * relay); `all`: every backend must; `majority`: more than half must.
   * @default "first"
   */
  ack?: AckPolicy;
}

/**
 * True for an outcome that stored the write: a 2xx, a datagram sent, or a
 * write queued in a retry buffer (the caller only passes queued outcomes
 * that count as stored).
 */
function isStored(outcome: BackendResult): boolean {
  if (outcome.kind === "response") {
    return outcome.status >= 200 && outcome.status < 300;
  }
  return outcome.kind === "sent" || outcome.kind === "queued";
}

function isClientError(outcome: BackendResponse): boolean {
  return outcome.status >= 400 && outcome.status < 500;
}

/**
 * Decides the client's answer from the outcomes seen so far, in arrival
 * order.
 *
 * With `ack = "first"` (the original relay): the first stored outcome
 * answers 204 and the first 4xx is passed through, whichever comes first;
 * once every backend has finished, the last other answer (5xx) is passed
 * through, or 503 when no backend answered.
 *
 * With `all` or `majority`: 204 as soon as enough backends stored the
 * write; once that can no longer happen, the first 4xx is passed through,
 * else 503 saying how many stored it (or, when none did, the last 5xx or
 * 503 as above).
 *
 * @param outcomes Backend results in the order they arrived.
 * @param backends How many backends were written to.
 * @param options The acknowledgement policy.
 * @returns The decision, or `null` while it still depends on pending backends.
 */
export function decideResponse(
  outcomes: readonly BackendResult[],
  backends: number,
  options: DecideResponseOptions = {},
): Decision | null {
  const { ack = "first" } = options;
  if (backends === 0) return { kind: "unavailable" };
  let last: BackendResponse | null = null;
  if (ack === "first") {
    for (const outcome of outcomes) {
      if (isStored(outcome)) return { kind: "accepted" };
      if (outcome.kind !== "response") continue;
      if (isClientError(outcome)) return { kind: "forward", response: outcome };
      last = outcome;
    }
    if (outcomes.length < backends) return null;
    return last === null
      ? { kind: "unavailable" }
      : { kind: "forward", response: last };
  }
  const needed = ack === "all" ? backends : Math.floor(backends / 2) + 1;
  let stored = 0;
  let clientError: BackendResponse | null = null;
  for (const outcome of outcomes) {
    if (isStored(outcome)) stored++;
    else if (outcome.kind !== "response") continue;
    else if (isClientError(outcome)) clientError ??= outcome;
    else last = outcome;
  }
  if (stored >= needed) return { kind: "accepted" };
  const pending = backends - outcomes.length;
  if (stored + pending >= needed) return null;
  if (clientError !== null) return { kind: "forward", response: clientError };
  if (stored > 0) {
    return { kind: "insufficient", stored, needed, backends, ack };
  }
  return last === null
    ? { kind: "unavailable" }
    : { kind: "forward", response: last };
}
