/**
 * The unit of data the relay moves: one validated, normalised write and the
 * request context every backend needs to replay it.
 *
 * @module
 */

/** One write, ready to be sent to every backend unchanged. */
export interface WriteBatch {
  /**
   * The client's query string, normalised the way the original relay does
   * (keys sorted, form-encoded, default retention policy applied), without
   * the leading `?`. Also the merge key of retry buffers together with
   * {@linkcode WriteBatch.auth}.
   */
  readonly query: string;
  /** The client's `Authorization` header, or `null` when absent or empty. */
  readonly auth: string | null;
  /** Newline-terminated line protocol, every line with a timestamp. */
  readonly body: Uint8Array;
  /** Number of points (lines) in {@linkcode WriteBatch.body}. */
  readonly points: number;
}

/**
 * Returns the key under which two batches may be merged into one request:
 * batches with equal keys go to the same URL with the same credentials.
 *
 * @param batch The batch to key.
 * @returns A string equal for mergeable batches only.
 */
export function batchKey(batch: WriteBatch): string {
  return `${batch.query}\n${batch.auth ?? ""}`;
}
