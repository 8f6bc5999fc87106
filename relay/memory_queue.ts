/**
 * A retry buffer's queue kept in memory: fast, bounded in bytes, lost on
 * restart (the original relay's only kind of buffer).
 *
 * @module
 */

import { concatBytes } from "./batch.ts";
import {
  type BatchQueue,
  BufferFullError,
  type Dropped,
  type FullPolicy,
  type HeadBatch,
  type NewWrite,
  type PushResult,
  type QueuedWrite,
} from "./batch_queue.ts";

/** Options for {@linkcode MemoryQueue}. */
export interface MemoryQueueOptions {
  /** Bound on queued body bytes. */
  maxBytes: number;
  /**
   * What to do with a write that does not fit.
   * @default "reject"
   */
  fullPolicy?: FullPolicy;
  /**
   * Name used in error messages.
   * @default "backend"
   */
  name?: string;
}

/** A FIFO of writes in memory. */
export class MemoryQueue implements BatchQueue {
  readonly durable = false;
  readonly #maxBytes: number;
  readonly #fullPolicy: FullPolicy;
  readonly #name: string;
  #writes: QueuedWrite[] = [];
  #start = 0;
  #bytes = 0;
  #nextSeq = 1;

  /**
   * @param options Bound and full policy.
   * @throws {RangeError} When `maxBytes` is not a positive number.
   */
  constructor(options: MemoryQueueOptions) {
    const { maxBytes, fullPolicy = "reject", name = "backend" } = options;
    if (!(maxBytes > 0)) {
      throw new RangeError(
        `Cannot create a memory queue: maxBytes must be positive, got ${maxBytes}`,
      );
    }
    this.#maxBytes = maxBytes;
    this.#fullPolicy = fullPolicy;
    this.#name = name;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get length(): number {
    return this.#writes.length - this.#start;
  }

  get oldestAcceptedAt(): number | null {
    return this.#writes[this.#start]?.acceptedAt ?? null;
  }

  push(write: NewWrite): Promise<PushResult> {
    const size = write.body.length;
    if (size > this.#maxBytes) {
      return Promise.reject(
        new BufferFullError(
          `Cannot buffer a write of ${size} bytes for backend "${this.#name}": larger than the whole buffer (${this.#maxBytes} bytes)`,
        ),
      );
    }
    let dropped: Dropped | null = null;
    if (this.#bytes + size > this.#maxBytes) {
      if (this.#fullPolicy === "reject") {
        return Promise.reject(
          new BufferFullError(
            `Cannot buffer a write of ${size} bytes for backend "${this.#name}": retry buffer full (${this.#bytes} of ${this.#maxBytes} bytes queued)`,
          ),
        );
      }
      dropped = this.#dropOldest(size);
    }
    const seq = this.#nextSeq++;
    this.#writes.push({ ...write, seq });
    this.#bytes += size;
    return Promise.resolve({ seq, dropped });
  }

  #dropOldest(room: number): Dropped {
    const seqs: number[] = [];
    let points = 0;
    let bytes = 0;
    while (this.#bytes + room > this.#maxBytes && this.length > 0) {
      const write = this.#writes[this.#start]!;
      this.#shift();
      seqs.push(write.seq);
      points += write.points;
      bytes += write.body.length;
    }
    return { seqs, points, bytes };
  }

  #shift(): void {
    const write = this.#writes[this.#start]!;
    this.#bytes -= write.body.length;
    this.#writes[this.#start] = undefined as unknown as QueuedWrite;
    this.#start++;
    // Compact once the consumed prefix dominates, keeping shift O(1) amortised.
    if (this.#start > 1024 && this.#start * 2 > this.#writes.length) {
      this.#writes = this.#writes.slice(this.#start);
      this.#start = 0;
    }
  }

  head(maxBytes: number): Promise<HeadBatch | null> {
    const first = this.#writes[this.#start];
    if (first === undefined) return Promise.resolve(null);
    const bodies = [first.body];
    let size = first.body.length;
    let points = first.points;
    let last = first;
    for (let i = this.#start + 1; i < this.#writes.length; i++) {
      const next = this.#writes[i]!;
      if (
        next.query !== first.query || next.auth !== first.auth ||
        size + next.body.length > maxBytes
      ) break;
      bodies.push(next.body);
      size += next.body.length;
      points += next.points;
      last = next;
    }
    return Promise.resolve({
      query: first.query,
      auth: first.auth,
      body: concatBytes(bodies),
      points,
      firstSeq: first.seq,
      lastSeq: last.seq,
      acceptedAt: first.acceptedAt,
    });
  }

  remove(lastSeq: number): Promise<void> {
    while (this.length > 0 && this.#writes[this.#start]!.seq <= lastSeq) {
      this.#shift();
    }
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
