/**
 * The contract of a retry buffer's queue: writes a backend has not taken
 * yet, oldest first, bounded in bytes. Kept in memory
 * ({@linkcode MemoryQueue}) or in an on-disk spool that survives restarts;
 * both pass one shared test suite.
 *
 * @module
 */

/** One write waiting for its backend. */
export interface QueuedWrite {
  /** Position in the queue, increasing by one per write (survives restarts for a spool). */
  readonly seq: number;
  /** The normalised query string forwarded to the backend. */
  readonly query: string;
  /** The client's `Authorization`, or `null`. */
  readonly auth: string | null;
  /** Newline-terminated line protocol. */
  readonly body: Uint8Array;
  /** Number of points in {@linkcode QueuedWrite.body}. */
  readonly points: number;
  /** When the relay accepted the write, in ms since the epoch. */
  readonly acceptedAt: number;
}

/** What a write brings into the queue (the queue assigns `seq`). */
export type NewWrite = Omit<QueuedWrite, "seq">;

/** The oldest queued writes merged into one request. */
export interface HeadBatch {
  /** Query string shared by every merged write. */
  readonly query: string;
  /** `Authorization` shared by every merged write. */
  readonly auth: string | null;
  /** The merged bodies, in queue order. */
  readonly body: Uint8Array;
  /** Points in the merged body. */
  readonly points: number;
  /** `seq` of the first and last merged write. */
  readonly firstSeq: number;
  /** `seq` of the last merged write; pass it to {@linkcode BatchQueue.remove}. */
  readonly lastSeq: number;
  /** `acceptedAt` of the first (oldest) merged write. */
  readonly acceptedAt: number;
}

/** What to do when a write does not fit into the queue's byte bound. */
export type FullPolicy = "reject" | "drop-oldest";

/** The queue is full and its policy is `reject`. */
export class BufferFullError extends Error {
  /**
   * @param message What did not fit, naming the backend.
   */
  constructor(message: string) {
    super(message);
    this.name = "BufferFullError";
  }
}

/** Writes removed to make room under the `drop-oldest` policy. */
export interface Dropped {
  /** `seq` of every dropped write, oldest first. */
  readonly seqs: readonly number[];
  /** Points they held. */
  readonly points: number;
  /** Bytes they held. */
  readonly bytes: number;
}

/** The outcome of {@linkcode BatchQueue.push}. */
export interface PushResult {
  /** The new write's `seq`. */
  readonly seq: number;
  /** What `drop-oldest` removed to make room, if anything. */
  readonly dropped: Dropped | null;
}

/** A FIFO of writes for one backend, bounded in bytes. */
export interface BatchQueue {
  /** True when queued writes survive a restart or a crash. */
  readonly durable: boolean;
  /** Bytes of queued bodies. */
  readonly bytes: number;
  /** Number of queued writes. */
  readonly length: number;
  /** `acceptedAt` of the oldest queued write, or `null` when empty. */
  readonly oldestAcceptedAt: number | null;
  /**
   * Appends a write.
   *
   * @throws {BufferFullError} When it does not fit and the policy is
   * `reject` (also for a write larger than the whole bound).
   */
  push(write: NewWrite): Promise<PushResult>;
  /**
   * Returns the oldest writes merged into one request: consecutive writes
   * with the same query and auth, up to `maxBytes` (always at least one
   * write), or `null` when the queue is empty. Does not remove them.
   */
  head(maxBytes: number): Promise<HeadBatch | null>;
  /**
   * Removes every write up to and including `lastSeq` (those already gone,
   * e.g. dropped, are skipped).
   */
  remove(lastSeq: number): Promise<void>;
  /** Releases resources; a spool syncs to disk first. */
  close(): Promise<void>;
}
