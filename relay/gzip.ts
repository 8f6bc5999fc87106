/**
 * Decoding of `Content-Encoding: gzip` request bodies, telling a body that
 * is not gzip at all (the client's mistake: 400) from a damaged stream
 * (500, as the original answers) and from one that inflates past a limit
 * (413). The limit is enforced by zlib while it inflates (`maxOutputLength`),
 * so a gzip bomb stops at the limit instead of being allocated.
 *
 * @module
 */

import { gunzip } from "node:zlib";

/** The body does not start with a gzip header. */
export class GzipHeaderError extends SyntaxError {
  /** @param message What is wrong with the header. */
  constructor(message: string) {
    super(message);
    this.name = "GzipHeaderError";
  }
}

/** The body inflates to more bytes than the limit. */
export class GzipTooLargeError extends RangeError {
  /** The limit on the decompressed size, in bytes. */
  readonly limit: number;

  /**
   * @param limit The limit on the decompressed size, in bytes.
   * @param options The zlib error.
   */
  constructor(limit: number, options?: ErrorOptions) {
    super(
      `Cannot decode gzip body: it inflates to more than the limit of ${limit} bytes`,
      options,
    );
    this.name = "GzipTooLargeError";
    this.limit = limit;
  }
}

/** Options for {@linkcode decodeGzip}. */
export interface DecodeGzipOptions {
  /**
   * Largest decompressed size accepted, in bytes; `0` means no limit.
   * Inflating stops as soon as the output passes it.
   * @default {0}
   */
  maxBytes?: number;
}

/**
 * Inflates a gzip body (one or more members).
 *
 * @example Usage
 * ```ts
 * import { decodeGzip, GzipTooLargeError } from "./gzip.ts";
 * import { gzipSync } from "node:zlib";
 * import assert from "node:assert/strict";
 *
 * const bomb = new Uint8Array(gzipSync(new Uint8Array(10_000_000)));
 * await assert.rejects(decodeGzip(bomb, { maxBytes: 1000 }), GzipTooLargeError);
 * ```
 *
 * @param body The compressed bytes.
 * @param options The limit on the decompressed size.
 * @returns The decompressed bytes.
 * @throws {GzipHeaderError} When the body has no valid gzip header.
 * @throws {GzipTooLargeError} When the body inflates past `maxBytes`.
 * @throws {TypeError} When the compressed stream is damaged or truncated.
 * @throws {RangeError} When `maxBytes` is negative or not a number.
 */
export async function decodeGzip(
  body: Uint8Array,
  options: DecodeGzipOptions = {},
): Promise<Uint8Array> {
  const { maxBytes = 0 } = options;
  if (!(maxBytes >= 0)) {
    throw new RangeError(
      `Cannot decode gzip body as 'maxBytes' must not be negative: current value is ${maxBytes}`,
    );
  }
  if (body.length < 10) {
    throw new GzipHeaderError(
      `Cannot decode gzip body: ${body.length} bytes is shorter than a gzip header`,
    );
  }
  if (body[0] !== 0x1f || body[1] !== 0x8b || body[2] !== 8) {
    throw new GzipHeaderError("Cannot decode gzip body: no gzip header");
  }
  const { promise, resolve, reject } = Promise.withResolvers<Uint8Array>();
  gunzip(body, maxBytes === 0 ? {} : { maxOutputLength: maxBytes }, (
    error,
    result,
  ) => {
    if (error === null) {
      resolve(new Uint8Array(result.buffer, result.byteOffset, result.length));
    } else if ((error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") {
      reject(new GzipTooLargeError(maxBytes, { cause: error }));
    } else {
      reject(
        new TypeError(`Cannot decode gzip body: ${error.message}`, {
          cause: error,
        }),
      );
    }
  });
  return await promise;
}
