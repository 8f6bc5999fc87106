/**
 * The unit of data the relay moves: one validated, normalised write and the
 * request context every backend needs to replay it.
 *
 * @module
 */

/** One write, ready to be sent to every backend unchanged. */
export interface WriteBatch {
  /**
   * The write's target and precision as an InfluxDB 1.x `/write` query
   * string, normalised the way the original relay does (keys sorted,
   * form-encoded, default retention policy applied), without the leading
   * `?`: the client's own query for `/write`, or the `db`, `rp` and
   * `precision` a `/api/v2/write` or `/api/v3/write_lp` write maps to. Sent
   * as is to v1 backends. Also the merge key of retry buffers together with
   * {@linkcode WriteBatch.auth} and {@linkcode WriteBatch.destination}.
   */
  readonly query: string;
  /** The client's `Authorization` header, or `null` when absent or empty. */
  readonly auth: string | null;
  /** Newline-terminated line protocol, every line with a timestamp. */
  readonly body: Uint8Array;
  /** Number of points (lines) in {@linkcode WriteBatch.body}. */
  readonly points: number;
  /**
   * How the client named the target when it wrote through the InfluxDB 2.x
   * or 3.x API, for backends that speak such an API: `"v2?bucket=…&org=…"`
   * (with `orgID` when given) or `"v3?db=…"`, values form-encoded and keys
   * sorted. Absent for `/write` writes, whose target is
   * {@linkcode WriteBatch.query} alone. A string so that buffers can compare
   * and store it like `query` and `auth`.
   */
  readonly destination?: string;
}

/**
 * Returns the key under which two batches may be merged into one request:
 * batches with equal keys go to the same URL with the same credentials on
 * every kind of backend.
 *
 * @param batch The batch to key.
 * @returns A string equal for mergeable batches only.
 */
export function batchKey(batch: WriteBatch): string {
  const key = `${batch.query}\n${batch.auth ?? ""}`;
  return batch.destination === undefined ? key : `${key}\n${batch.destination}`;
}

/**
 * Concatenates byte arrays into one (a single copy; none for one array).
 *
 * @param chunks The arrays, in order.
 * @returns One array holding them all.
 */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  let length = 0;
  for (const chunk of chunks) length += chunk.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
