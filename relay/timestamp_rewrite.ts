/**
 * Rewrites the timestamps of normalised line protocol (the output of
 * `normalizeLines`: every line valid, ending in `\n` and carrying a
 * timestamp), for the rare writes whose unit a backend's API cannot
 * express: minutes and hours for InfluxDB 2.x/3.x backends, and InfluxDB
 * 3's `precision=auto`, where each line's unit is guessed from its size.
 *
 * @module
 */

import { findLineEnd } from "./line_protocol.ts";

const SPACE = 0x20;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;
const NS_PER_S = 1_000_000_000n;

const encoder = new TextEncoder();

/**
 * Multiplies every line's timestamp by `factor`, e.g. `60n` to turn
 * minutes into seconds.
 *
 * @example Usage
 * ```ts
 * import { scaleTimestamps } from "./timestamp_rewrite.ts";
 * import assert from "node:assert/strict";
 *
 * const body = new TextEncoder().encode("cpu value=1 2\nmem free=1i -1\n");
 * assert.equal(
 *   new TextDecoder().decode(scaleTimestamps(body, 60n)),
 *   "cpu value=1 120\nmem free=1i -60\n",
 * );
 * ```
 *
 * @param body Normalised lines, each with a timestamp.
 * @param factor What to multiply each timestamp by.
 * @returns The rewritten lines (the input itself when `factor` is `1n`).
 */
export function scaleTimestamps(body: Uint8Array, factor: bigint): Uint8Array {
  if (factor === 1n) return body;
  return rewriteTimestamps(body, (ts) => ts * factor);
}

/**
 * The unit InfluxDB 3 guesses for a timestamp written with
 * `precision=auto`, as nanoseconds per unit: seconds below 5e9, milliseconds
 * below 5e12, microseconds below 5e15, else nanoseconds (by absolute value).
 *
 * @param timestamp A timestamp in an unknown unit.
 * @returns `1_000_000_000n`, `1_000_000n`, `1_000n` or `1n`.
 */
export function guessUnitNs(timestamp: bigint): bigint {
  const seconds = (timestamp < 0n ? -timestamp : timestamp) / NS_PER_S;
  if (seconds < 5n) return NS_PER_S;
  if (seconds < 5_000n) return 1_000_000n;
  if (seconds < 5_000_000n) return 1_000n;
  return 1n;
}

/**
 * Resolves InfluxDB 3's `precision=auto`: turns every line's timestamp into
 * nanoseconds, guessing its unit from its size as InfluxDB 3 does
 * ({@linkcode guessUnitNs}).
 *
 * @example Usage
 * ```ts
 * import { resolveAutoTimestamps } from "./timestamp_rewrite.ts";
 * import assert from "node:assert/strict";
 *
 * const body = new TextEncoder().encode(
 *   "a v=1 1700000000\nb v=1 1700000000000\nc v=1 1700000000000000000\n",
 * );
 * assert.equal(
 *   new TextDecoder().decode(resolveAutoTimestamps(body)),
 *   "a v=1 1700000000000000000\nb v=1 1700000000000000000\n" +
 *     "c v=1 1700000000000000000\n",
 * );
 * ```
 *
 * @param body Normalised lines, each with a timestamp.
 * @returns The lines with nanosecond timestamps (the input itself when all
 * already were).
 */
export function resolveAutoTimestamps(body: Uint8Array): Uint8Array {
  return rewriteTimestamps(body, (ts) => ts * guessUnitNs(ts), 17);
}

/**
 * Applies `convert` to the timestamp that ends every line.
 *
 * @param body Normalised lines.
 * @param convert The new value of a timestamp.
 * @param keepDigits Timestamps with at least this many digits are kept
 * without calling `convert` (a shortcut for `resolveAutoTimestamps`).
 */
function rewriteTimestamps(
  body: Uint8Array,
  convert: (timestamp: bigint) => bigint,
  keepDigits = Infinity,
): Uint8Array {
  // [start, end) of each timestamp to replace, and its replacement.
  const spans: number[] = [];
  const replacements: Uint8Array[] = [];
  let delta = 0;
  let start = 0;
  while (start < body.length) {
    const lineEnd = findLineEnd(body, start);
    let end = lineEnd;
    while (end > start && body[end - 1] === SPACE) end--;
    let first = end;
    while (
      first > start && body[first - 1]! >= ZERO && body[first - 1]! <= NINE
    ) {
      first--;
    }
    const digits = end - first;
    if (first > start && body[first - 1] === MINUS) first--;
    if (digits > 0 && digits < keepDigits) {
      const text = String.fromCharCode(...body.subarray(first, end));
      const next = String(convert(BigInt(text)));
      if (next !== text) {
        const bytes = encoder.encode(next);
        spans.push(first, end);
        replacements.push(bytes);
        delta += bytes.length - (end - first);
      }
    }
    start = lineEnd + 1;
  }
  if (replacements.length === 0) return body;
  const out = new Uint8Array(body.length + delta);
  let read = 0;
  let write = 0;
  replacements.forEach((bytes, i) => {
    const from = spans[2 * i]!;
    const to = spans[2 * i + 1]!;
    out.set(body.subarray(read, from), write);
    write += from - read;
    out.set(bytes, write);
    write += bytes.length;
    read = to;
  });
  out.set(body.subarray(read), write);
  return out;
}
