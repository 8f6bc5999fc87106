/**
 * Decoding of `Content-Encoding: gzip` request bodies, telling a body that
 * is not gzip at all (the client's mistake: 400) from a damaged stream
 * (500, as the original answers).
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

/**
 * Inflates a gzip body (one or more members).
 *
 * @param body The compressed bytes.
 * @returns The decompressed bytes.
 * @throws {GzipHeaderError} When the body has no valid gzip header.
 * @throws {TypeError} When the compressed stream is damaged or truncated.
 */
export async function decodeGzip(body: Uint8Array): Promise<Uint8Array> {
  if (body.length < 10) {
    throw new GzipHeaderError(
      `Cannot decode gzip body: ${body.length} bytes is shorter than a gzip header`,
    );
  }
  if (body[0] !== 0x1f || body[1] !== 0x8b || body[2] !== 8) {
    throw new GzipHeaderError("Cannot decode gzip body: no gzip header");
  }
  const { promise, resolve, reject } = Promise.withResolvers<Uint8Array>();
  gunzip(body, (error, result) => {
    if (error === null) {
      resolve(new Uint8Array(result.buffer, result.byteOffset, result.length));
    } else {reject(
        new TypeError(`Cannot decode gzip body: ${error.message}`, {
          cause: error,
        }),
      );}
  });
  return await promise;
}
