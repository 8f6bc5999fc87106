/**
 * The contract between the fan-out and whatever delivers a batch to one
 * backend (a plain HTTP sender today; retry buffers wrap the same contract).
 *
 * @module
 */

import type { WriteBatch } from "./batch.ts";

/** A backend answered with an HTTP status. */
export interface BackendResponse {
  readonly kind: "response";
  /** HTTP status code the backend answered. */
  readonly status: number;
  /** The response body, read in full. */
  readonly body: Uint8Array;
  /** The backend's `Content-Type`, or `null` when it sent none. */
  readonly contentType: string | null;
}

/** A backend could not be reached or did not answer in time. */
export interface BackendFailure {
  readonly kind: "failure";
  /** What went wrong, with the backend named in the message. */
  readonly error: Error;
}

/** The outcome of one write to one backend. */
export type BackendResult = BackendResponse | BackendFailure;

/** Something that can deliver batches to one backend. */
export interface Backend {
  /** Name used in logs and responses (the output's `name`). */
  readonly name: string;
  /**
   * Sends one batch. Never rejects: transport problems come back as a
   * {@linkcode BackendFailure}.
   */
  write(batch: WriteBatch): Promise<BackendResult>;
  /** Waits for in-flight writes (bounded by their timeouts), then frees resources. */
  close(): Promise<void>;
}
