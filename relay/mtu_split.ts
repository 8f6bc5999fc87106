/**
 * Cuts a line-protocol body into datagram payloads of at most `mtu` bytes
 * without cutting a line, as the original relay's UDP backend does (spec §5):
 * each payload ends after the last whole line that fits.
 *
 * @module
 */

import { findLineEnd } from "./line_protocol.ts";

/** What {@linkcode splitByMtu} returns. */
export interface MtuSplit {
  /**
   * Payloads in order, each at most `mtu` bytes and made of whole lines;
   * views of the input, not copies.
   */
  chunks: Uint8Array[];
  /** Lines left out because a line alone is longer than `mtu`. */
  tooLong: number;
  /** Bytes of the lines left out. */
  tooLongBytes: number;
}

/**
 * Splits `body` into payloads of at most `mtu` bytes, each made of whole
 * lines (with their `\n`), packing as many lines as fit into each. A line
 * longer than `mtu` is left out and counted; the lines around it still go
 * out. Lines end where {@linkcode findLineEnd} says, so a newline inside a
 * quoted string never splits a point. A last line without `\n` is kept as
 * it is. An empty body gives no payloads.
 *
 * @example Usage
 * ```ts
 * import { splitByMtu } from "./mtu_split.ts";
 * import assert from "node:assert/strict";
 *
 * const body = new TextEncoder().encode("cpu v=1 1\ncpu v=2 2\ncpu v=3 3\n");
 * const { chunks, tooLong } = splitByMtu(body, 20);
 * assert.deepEqual(chunks.map((c) => c.length), [20, 10]);
 * assert.equal(tooLong, 0);
 * ```
 *
 * @param body Line protocol, normally newline-terminated.
 * @param mtu Largest payload in bytes.
 * @returns The payloads and what was left out.
 * @throws {RangeError} When `mtu` is not a positive integer.
 */
export function splitByMtu(body: Uint8Array, mtu: number): MtuSplit {
  if (!Number.isSafeInteger(mtu) || mtu < 1) {
    throw new RangeError(
      `Cannot split by MTU as 'mtu' must be a positive integer: current value is ${mtu}`,
    );
  }
  const len = body.length;
  if (len <= mtu) {
    return {
      chunks: len === 0 ? [] : [body],
      tooLong: 0,
      tooLongBytes: 0,
    };
  }
  const chunks: Uint8Array[] = [];
  let tooLong = 0;
  let tooLongBytes = 0;
  // The pending payload is body[start, end): whole lines, at most mtu bytes.
  let start = 0;
  let end = 0;
  while (end < len) {
    const lineEnd = Math.min(findLineEnd(body, end) + 1, len);
    if (lineEnd - start <= mtu) {
      end = lineEnd;
      continue;
    }
    if (end > start) chunks.push(body.subarray(start, end));
    if (lineEnd - end > mtu) {
      tooLong++;
      tooLongBytes += lineEnd - end;
      start = end = lineEnd;
    } else {
      start = end;
      end = lineEnd;
    }
  }
  if (end > start) chunks.push(body.subarray(start, end));
  return { chunks, tooLong, tooLongBytes };
}
