/**
 * Reading a request body with a size limit and a deadline, so that a huge or
 * endless body cannot exhaust memory and a slow client cannot hold a request
 * open forever.
 *
 * The size is checked the way Hono's body-limit middleware does it: a
 * `Content-Length` is trusted only when the request has no
 * `Transfer-Encoding`. A declared length over the limit is refused before a
 * byte is read; a declared length within it is read in one go (the fast
 * path: `Deno.serve` never delivers more bytes than declared); any other body
 * (chunked, HTTP/2 without a length) is counted while it is read and the read
 * is cancelled as soon as the count passes the limit.
 *
 * @module
 */

import { concatBytes } from "./batch.ts";

/** A request body is larger than the limit. */
export class BodyTooLargeError extends RangeError {
  /** The limit in bytes. */
  readonly limit: number;
  /**
   * The declared length, or how many bytes had arrived when reading
   * stopped (at least `limit + 1`).
   */
  readonly length: number;

  /**
   * @param limit The limit in bytes.
   * @param length The declared or counted length.
   */
  constructor(limit: number, length: number) {
    super(
      `Cannot read request body: ${length} bytes is more than the limit of ${limit} bytes`,
    );
    this.name = "BodyTooLargeError";
    this.limit = limit;
    this.length = length;
  }
}

/** A request body did not arrive in full before the deadline. */
export class BodyTimeoutError extends Error {
  /** The deadline in milliseconds. */
  readonly timeoutMs: number;

  /** @param timeoutMs The deadline in milliseconds. */
  constructor(timeoutMs: number) {
    super(
      `Cannot read request body: not complete after ${timeoutMs}ms`,
    );
    this.name = "BodyTimeoutError";
    this.timeoutMs = timeoutMs;
  }
}

/** Options for {@linkcode readBody}. */
export interface ReadBodyOptions {
  /**
   * Largest body accepted, in bytes; `0` means no limit.
   * @default {0}
   */
  maxBytes?: number;
  /**
   * Longest the whole body may take to arrive, in milliseconds, counted from
   * the call; `0` means no deadline.
   * @default {0}
   */
  timeoutMs?: number;
}

const EMPTY = new Uint8Array(0);

/**
 * The body length a request declares: its `Content-Length` when it has no
 * `Transfer-Encoding` and the value is one plain decimal number.
 *
 * @param headers The request headers.
 * @returns The declared length, or `null` when the length is not known up
 * front.
 */
export function declaredLength(headers: Headers): number | null {
  if (headers.has("transfer-encoding")) return null;
  const value = headers.get("content-length");
  if (value === null || !/^[0-9]{1,15}$/.test(value)) return null;
  return Number(value);
}

/**
 * Reads a whole request body, refusing bodies larger than `maxBytes` and
 * bodies that take longer than `timeoutMs`. A body refused for its size or
 * its deadline is cancelled: nothing more of it is buffered.
 *
 * @example Usage
 * ```ts
 * import { BodyTooLargeError, readBody } from "./body_reader.ts";
 * import assert from "node:assert/strict";
 *
 * const request = new Request("http://relay/write", {
 *   method: "POST",
 *   body: "cpu value=1\n",
 * });
 * await assert.rejects(readBody(request, { maxBytes: 4 }), BodyTooLargeError);
 * ```
 *
 * @param request The request whose body to read.
 * @param options Size limit and deadline.
 * @returns The body's bytes (empty when there is no body).
 * @throws {BodyTooLargeError} When the declared or counted length is over
 * `maxBytes`.
 * @throws {BodyTimeoutError} When the body is not complete within
 * `timeoutMs`.
 * @throws {RangeError} When `maxBytes` or `timeoutMs` is negative or not a
 * number.
 * @throws {TypeError} When the body cannot be read (the client went away).
 */
export async function readBody(
  request: Request,
  options: ReadBodyOptions = {},
): Promise<Uint8Array> {
  const { maxBytes = 0, timeoutMs = 0 } = options;
  if (!(maxBytes >= 0)) {
    throw new RangeError(
      `Cannot read request body as 'maxBytes' must not be negative: current value is ${maxBytes}`,
    );
  }
  if (!(timeoutMs >= 0)) {
    throw new RangeError(
      `Cannot read request body as 'timeoutMs' must not be negative: current value is ${timeoutMs}`,
    );
  }
  const declared = declaredLength(request.headers);
  if (declared !== null && maxBytes > 0 && declared > maxBytes) {
    throw new BodyTooLargeError(maxBytes, declared);
  }
  if (declared === null && maxBytes > 0) {
    // `request.body` is touched only here: once it is, `Deno.serve` reads
    // the body through a stream instead of its much faster direct path.
    const stream = request.body;
    if (stream === null) return EMPTY;
    return await readCounted(stream, maxBytes, timeoutMs);
  }
  const body = new Uint8Array(
    await withDeadline(request.arrayBuffer(), timeoutMs),
  );
  // Only a request built in-process can carry more than it declares.
  if (maxBytes > 0 && body.length > maxBytes) {
    throw new BodyTooLargeError(maxBytes, body.length);
  }
  return body;
}

/**
 * Settles like `promise`, or rejects with a {@linkcode BodyTimeoutError}
 * after `timeoutMs`. `Request.arrayBuffer()` cannot be cancelled once
 * started: on a timeout its promise is left to settle unobserved, bounded by
 * the declared length, which is within the limit.
 */
function withDeadline<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  if (timeoutMs === 0) return promise;
  const { promise: result, resolve, reject } = Promise.withResolvers<T>();
  const timer = setTimeout(() => {
    promise.catch(() => {});
    reject(new BodyTimeoutError(timeoutMs));
  }, timeoutMs);
  promise.then(
    (value) => {
      clearTimeout(timer);
      resolve(value);
    },
    (error: unknown) => {
      clearTimeout(timer);
      reject(error);
    },
  );
  return result;
}

/** Reads a body of unknown length chunk by chunk, counting. */
async function readCounted(
  stream: ReadableStream<Uint8Array>,
  maxBytes: number,
  timeoutMs: number,
): Promise<Uint8Array> {
  const reader = stream.getReader();
  let timedOut = false;
  const timer = timeoutMs === 0 ? undefined : setTimeout(() => {
    timedOut = true;
    reader.cancel().catch(() => {});
  }, timeoutMs);
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (timedOut) throw new BodyTimeoutError(timeoutMs);
      if (done) break;
      total += value.length;
      if (total > maxBytes) {
        await reader.cancel().catch(() => {});
        throw new BodyTooLargeError(maxBytes, total);
      }
      chunks.push(value);
    }
  } catch (error) {
    if (timedOut && !(error instanceof BodyTimeoutError)) {
      throw new BodyTimeoutError(timeoutMs);
    }
    throw error;
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
  return chunks.length === 0 ? new Uint8Array(0) : concatBytes(chunks);
}
