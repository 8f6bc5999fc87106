/**
 * The answer to a partial write: with `partial-writes = true` the good lines
 * of a body are forwarded and the client is told, as InfluxDB 1.x tells it,
 * `400 {"error":"partial write: unable to parse '<line>': <reason> dropped=<n>"}`.
 *
 * @module
 */

import type { NormalizedLines } from "./line_protocol.ts";

/**
 * Words a partial write like InfluxDB 1.x: the first bad line and why it was
 * rejected, then how many lines were dropped. (InfluxDB itself lists every
 * bad line and reports `dropped=0` for lines that did not parse; the relay
 * counts them.)
 *
 * @example Usage
 * ```ts
 * import { normalizeLines } from "./line_protocol.ts";
 * import { partialWriteMessage } from "./partial_write.ts";
 * import assert from "node:assert/strict";
 *
 * const lines = normalizeLines(
 *   new TextEncoder().encode("cpu value=1 1\nbad line\n"),
 *   { skipInvalid: true },
 * );
 * assert.equal(
 *   partialWriteMessage(lines),
 *   "partial write: unable to parse 'bad line': invalid field format dropped=1",
 * );
 * ```
 *
 * @param lines The result of `normalizeLines` with `skipInvalid`, with at
 * least one line skipped.
 * @returns The error message.
 */
export function partialWriteMessage(
  lines: Pick<NormalizedLines, "skipped" | "firstError">,
): string {
  const error = lines.firstError;
  const reason = error === null
    ? "invalid line protocol"
    : error.text === ""
    ? error.message
    : `unable to parse '${error.text}': ${error.reason}`;
  return `partial write: ${reason} dropped=${lines.skipped}`;
}
