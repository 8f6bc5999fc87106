/**
 * The contract between the fan-out and whatever delivers a batch to one
 * backend (an HTTP sender or a UDP sender; retry buffers wrap the same
 * contract).
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
  /** The backend's `Retry-After` (with a 429 or 503), if any. */
  readonly retryAfter?: string | null;
}

/** A backend could not be reached or did not answer in time. */
export interface BackendFailure {
  readonly kind: "failure";
  /** What went wrong, with the backend named in the message. */
  readonly error: Error;
  /**
   * True when no answer came within the write timeout (the backend may be
   * there but too slow), false or absent when it could not be reached.
   */
  readonly timedOut?: boolean;
}

/**
 * A datagram backend sent the write. UDP has no answer, so a send that went
 * out counts like a 2xx.
 */
export interface BackendSent {
  readonly kind: "sent";
}

/**
 * A retry buffer queued the write for later delivery (the backend failed or
 * is still catching up).
 */
export interface BackendQueued {
  readonly kind: "queued";
  /** True when the queue survives a restart (a disk spool). */
  readonly durable: boolean;
  /**
   * Settles with the backend's answer once the write is delivered, or with
   * a failure when it is dropped (rejected, expired, overflow, shutdown).
   */
  readonly delivered: Promise<BackendResult>;
}

/** The outcome of one write to one backend. */
export type BackendResult =
  | BackendResponse
  | BackendSent
  | BackendQueued
  | BackendFailure;

/**
 * Told the outcome of every attempt to deliver a write to one backend (a
 * direct write or a retry), as soon as it is known; the backend's health
 * state follows it. Called on the write path: it must be cheap.
 */
export interface WriteObserver {
  /**
   * One attempt finished.
   *
   * @param result The backend's answer, `sent` for a datagram that went out,
   * or the failure.
   */
  observe(result: BackendResult): void;
}

/** The outcome of one health probe of a backend (`GET /ping`). */
export type ProbeResult =
  /** The backend answered, with this HTTP status. */
  | { readonly kind: "answered"; readonly status: number }
  /** No answer within the timeout, or the connection failed. */
  | { readonly kind: "failed"; readonly error: string };

/** Something that can deliver batches to one backend. */
export interface Backend {
  /** Name used in logs and responses (the output's `name`). */
  readonly name: string;
  /**
   * Sends one batch. Never rejects: transport problems come back as a
   * {@linkcode BackendFailure}.
   */
  write(batch: WriteBatch): Promise<BackendResult>;
  /**
   * Waits for in-flight writes (bounded by their timeouts), then frees
   * resources. A buffering backend makes a last delivery attempt until
   * `signal` aborts (the shutdown deadline).
   */
  close(signal?: AbortSignal): Promise<void>;
}
