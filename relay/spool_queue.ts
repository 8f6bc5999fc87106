/**
 * A retry buffer's queue kept on disk: queued writes survive a restart and a
 * `kill -9`, bounded in bytes like the `MemoryQueue`.
 *
 * ## Layout of the spool directory
 *
 * - `<seq>.seg`: append-only segment files, named by the `seq` of their
 *   first record, zero-padded to 20 digits (`00000000000000000001.seg`).
 *   Records never span segments; a new segment starts when the next record
 *   would take the current one past `segmentBytes` (a single record larger
 *   than that gets a segment of its own).
 * - `ack`: the `seq` of the last removed write, in decimal with a newline,
 *   replaced atomically (written to `ack.tmp`, synced, renamed, directory
 *   synced).
 * - `lock`: held with an exclusive `flock` while the spool is open, so that
 *   a second process (or a second open in the same process) fails.
 *
 * Any other file is ignored.
 *
 * ## Record format (version 1, little-endian)
 *
 * | bytes | field |
 * |---|---|
 * | 1 | magic `0xFB` (a byte that never occurs in UTF-8; names the version) |
 * | 4 | u32 payload length |
 * | 4 | u32 CRC-32 (IEEE) of the payload |
 * | 8 | payload: u64 seq |
 * | 8 | f64 acceptedAt (ms since the epoch) |
 * | 4 | u32 points |
 * | 4 + n | u32 query length, query (UTF-8) |
 * | 1 + 4 + n | u8 1 when auth is present, u32 auth length, auth (UTF-8) |
 * | 4 + n | u32 body length, body |
 *
 * The three inner lengths must add up to the payload length, which checks
 * the (otherwise unprotected) length field.
 *
 * ## Recovery
 *
 * {@linkcode SpoolQueue.open} reads every segment in order, verifies each
 * record's CRC, skips records at or below the ack, and rebuilds an index in
 * memory (bodies stay on disk and are read back by `head()`). Segments
 * without a queued record are deleted, except the last one, which takes the
 * next appends. The bound is not enforced on open: a spool reopened with a
 * smaller `maxBytes` keeps everything it holds, and new writes are rejected
 * (or drop the oldest) until it fits.
 *
 * - A torn final record (the process died inside the append: fewer bytes
 *   left than a header, or a header whose record runs past the end of the
 *   last segment, with no valid record after it) is cut off and counted in
 *   {@linkcode SpoolQueue.truncatedBytes}, not as corruption: its push never
 *   resolved, so nothing acknowledged is lost.
 * - Any other damage (bad CRC, bad magic, impossible lengths, out-of-order
 *   seq) is corruption: the spool resumes at the next valid record (the
 *   record the length field points to, else the next offset where a whole
 *   valid record starts), counts the unacknowledged records in between
 *   (from the gap in seq) in {@linkcode SpoolQueue.corrupted}, and reports
 *   the damage through `onCorruption`. Damage at the end of the last segment
 *   is also cut off; elsewhere it is reported again at each open until the
 *   ack passes it. Opening never fails on damaged data.
 *
 * ## Durability
 *
 * `push()` resolves once its record is written to the segment file (and,
 * with `fsync: "always"`, synced with `fdatasync`). A killed process
 * therefore never loses an acknowledged write: the data is in the kernel.
 * The `fsync` policy only matters when the machine itself fails (power loss,
 * kernel crash): with an interval of `n` ms, writes acknowledged in the last
 * `n` ms plus the duration of one sync can be lost, and removed writes may
 * be delivered again (at least once). Concurrent pushes are written and
 * synced together (group commit), so `"always"` costs one sync per group,
 * not per write.
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
} from "./batch_queue.ts";
import { crc32 } from "node:zlib";

/** When a spool syncs written records to disk. */
export type SpoolFsync = "always" | number;

/** Damage found in a segment while opening a spool. */
export interface SpoolCorruption {
  /** Path of the damaged segment file (or of the ack file). */
  readonly segment: string;
  /** Byte offset of the damage in that file. */
  readonly offset: number;
  /** What was wrong and what was skipped. */
  readonly reason: string;
}

/** Options for {@linkcode SpoolQueue.open}. */
export interface SpoolQueueOptions {
  /**
   * The spool directory, owned by this queue alone; created (mode 0700)
   * when missing.
   */
  dir: string;
  /** Bound on queued body bytes (headers and delivered data not counted). */
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
  /**
   * Size at which a new segment file is started, in bytes.
   * @default 67108864
   */
  segmentBytes?: number;
  /**
   * `"always"` syncs (`fdatasync`) before `push()` resolves and before
   * `remove()` resolves; a number of ms syncs in the background at most
   * that often, so a power loss can cost the writes of that window.
   * @default 1000
   */
  fsync?: SpoolFsync;
  /** Called for each damaged region found while opening. */
  onCorruption?: (info: SpoolCorruption) => void;
}

const MAGIC = 0xfb;
const HEADER_BYTES = 9;
/** seq, acceptedAt, points, query length, auth flag, auth length, body length. */
const MIN_PAYLOAD = 8 + 8 + 4 + 4 + 1 + 4 + 4;
const SEGMENT_NAME = /^(\d{20})\.seg$/;
const ACK_FILE = "ack";
const ACK_TEMP = "ack.tmp";
const LOCK_FILE = "lock";
const HEAD_ATTEMPTS = 3;
/** Largest group of records concatenated into one `write`. */
const MAX_WRITE_BYTES = 8 * 1024 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Segment {
  readonly firstSeq: number;
  readonly path: string;
  /** Bytes of valid records (the append offset). */
  size: number;
  /** Highest seq written to it (`firstSeq - 1` while empty). */
  lastSeq: number;
}

interface Entry {
  readonly seq: number;
  readonly query: string;
  readonly auth: string | null;
  readonly points: number;
  readonly acceptedAt: number;
  readonly size: number;
  /** The body until its record is written; `null` once it is on disk. */
  body: Uint8Array | null;
  segment: Segment | null;
  bodyOffset: number;
}

interface Pending {
  readonly entry: Entry;
  readonly record: Uint8Array;
  readonly bodyStart: number;
  readonly result: PushResult;
  readonly resolve: (result: PushResult) => void;
  readonly reject: (error: unknown) => void;
}

interface Recovered {
  segments: Segment[];
  entries: Entry[];
  bytes: number;
  ack: number;
  nextSeq: number;
  corrupted: number;
  truncatedBytes: number;
}

interface Config {
  readonly dir: string;
  readonly maxBytes: number;
  readonly fullPolicy: FullPolicy;
  readonly name: string;
  readonly segmentBytes: number;
  readonly fsync: SpoolFsync;
}

/**
 * A FIFO of writes in append-only segment files, with an index in memory.
 * Create it with {@linkcode SpoolQueue.open}.
 *
 * @example Usage
 * ```ts
 * import { SpoolQueue } from "./spool_queue.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const queue = await SpoolQueue.open({ dir, maxBytes: 1 << 20 });
 * const body = new TextEncoder().encode("cpu v=1 1\n");
 * await queue.push({ query: "db=x", auth: null, body, points: 1, acceptedAt: 0 });
 * await queue.close();
 *
 * const reopened = await SpoolQueue.open({ dir, maxBytes: 1 << 20 });
 * const head = await reopened.head(1 << 20);
 * assert.deepEqual(head?.body, body);
 * await reopened.remove(head!.lastSeq);
 * await reopened.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class SpoolQueue implements BatchQueue {
  readonly durable = true;
  /** The spool directory. */
  readonly dir: string;
  readonly #config: Config;
  readonly #lock: Deno.FsFile;
  #segments: Segment[];
  #entries: Entry[];
  #start = 0;
  #bytes: number;
  #nextSeq: number;
  /** Highest removed (or dropped) seq, in memory. */
  #ack: number;
  /** Highest seq written to the ack file. */
  #savedAck: number;
  #corrupted: number;
  #truncatedBytes: number;
  /** The last segment's file, open for appending; `null` until needed. */
  #writer: Deno.FsFile | null = null;
  /** Start a new segment before the next append (after a write error). */
  #sealed = false;
  #pending: Pending[] = [];
  #flushQueued = false;
  #ackQueued: Promise<void> | null = null;
  /** Serialises every write, sync and file deletion. */
  #io: Promise<void> = Promise.resolve();
  #unsynced = false;
  #syncTimer: ReturnType<typeof setTimeout> | null = null;
  #closed = false;
  #closing: Promise<void> | null = null;
  #lastQuery = "";
  #lastQueryBytes = new Uint8Array(0);
  #lastAuth: string | null = null;
  #lastAuthBytes: Uint8Array | null = null;

  private constructor(
    config: Config,
    lock: Deno.FsFile,
    recovered: Recovered,
    writer: Deno.FsFile | null,
  ) {
    this.dir = config.dir;
    this.#config = config;
    this.#lock = lock;
    this.#segments = recovered.segments;
    this.#entries = recovered.entries;
    this.#bytes = recovered.bytes;
    this.#ack = recovered.ack;
    this.#savedAck = recovered.ack;
    this.#nextSeq = recovered.nextSeq;
    this.#corrupted = recovered.corrupted;
    this.#truncatedBytes = recovered.truncatedBytes;
    this.#writer = writer;
  }

  /**
   * Opens (or creates) the spool in `options.dir`: takes its lock, replays
   * its segments and deletes those already delivered.
   *
   * @param options Directory, bound and policies.
   * @returns The open queue, holding every write not yet removed.
   * @throws {RangeError} When `maxBytes`, `segmentBytes` or `fsync` is out
   * of range.
   * @throws {Error} When another process (or another queue in this one)
   * holds the spool, or the directory cannot be used.
   */
  static async open(options: SpoolQueueOptions): Promise<SpoolQueue> {
    const {
      dir,
      maxBytes,
      fullPolicy = "reject",
      name = "backend",
      segmentBytes = 64 * 1024 * 1024,
      fsync = 1000,
      onCorruption,
    } = options;
    if (!(maxBytes > 0)) {
      throw new RangeError(
        `Cannot open the spool of backend "${name}": maxBytes must be positive, got ${maxBytes}`,
      );
    }
    if (!(segmentBytes > 0)) {
      throw new RangeError(
        `Cannot open the spool of backend "${name}": segmentBytes must be positive, got ${segmentBytes}`,
      );
    }
    if (fsync !== "always" && !(fsync > 0 && Number.isFinite(fsync))) {
      throw new RangeError(
        `Cannot open the spool of backend "${name}": fsync must be "always" or a positive number of ms, got ${
          JSON.stringify(fsync)
        }`,
      );
    }
    if (typeof dir !== "string" || dir === "") {
      throw new TypeError(
        `Cannot open the spool of backend "${name}": dir must be a non-empty path`,
      );
    }
    const config: Config = {
      dir,
      maxBytes,
      fullPolicy,
      name,
      segmentBytes,
      fsync,
    };
    const lockPath = join(dir, LOCK_FILE);
    let lock: Deno.FsFile;
    try {
      await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
      lock = await Deno.open(lockPath, {
        read: true,
        write: true,
        create: true,
        mode: 0o600,
      });
    } catch (error) {
      throw openError(name, dir, error);
    }
    let writer: Deno.FsFile | null = null;
    try {
      if (!await lock.tryLock(true)) {
        throw new Error(
          `Cannot open the spool of backend "${name}": "${lockPath}" is locked by another process (or another open spool)`,
        );
      }
    } catch (error) {
      lock.close();
      throw error;
    }
    try {
      const report = onCorruption ?? (() => {});
      const recovered = await recover(dir, report);
      // The last segment is the last file; a full one is deleted at the
      // first append once delivered.
      const last = recovered.segments.at(-1);
      if (last !== undefined && last.size < segmentBytes) {
        writer = await Deno.open(last.path, { write: true, append: true });
      }
      return new SpoolQueue(config, lock, recovered, writer);
    } catch (error) {
      writer?.close();
      lock.close();
      throw openError(name, dir, error);
    }
  }

  /** Bytes of queued bodies. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Number of queued writes. */
  get length(): number {
    return this.#entries.length - this.#start;
  }

  /** `acceptedAt` of the oldest queued write, or `null` when empty. */
  get oldestAcceptedAt(): number | null {
    return this.#entries[this.#start]?.acceptedAt ?? null;
  }

  /** Unacknowledged records skipped as damaged when the spool was opened. */
  get corrupted(): number {
    return this.#corrupted;
  }

  /** Bytes of a torn final record cut off when the spool was opened. */
  get truncatedBytes(): number {
    return this.#truncatedBytes;
  }

  /**
   * Appends a write: one `write` call per record (or per group of
   * concurrent pushes), resolved once written, and synced first with
   * `fsync: "always"`.
   *
   * @param write The write.
   * @returns Its `seq` and what `drop-oldest` removed for it.
   * @throws {BufferFullError} When it does not fit and the policy is
   * `reject`, or it is larger than the whole bound.
   * @throws {Error} When the spool is closed or the record cannot be
   * written (the write is then not queued).
   */
  push(write: NewWrite): Promise<PushResult> {
    const name = this.#config.name;
    if (this.#closed) {
      return Promise.reject(
        new Error(
          `Cannot buffer a write for backend "${name}": the spool is closed`,
        ),
      );
    }
    const size = write.body.length;
    const maxBytes = this.#config.maxBytes;
    if (size > maxBytes) {
      return Promise.reject(
        new BufferFullError(
          `Cannot buffer a write of ${size} bytes for backend "${name}": larger than the whole buffer (${maxBytes} bytes)`,
        ),
      );
    }
    let dropped: Dropped | null = null;
    if (this.#bytes + size > maxBytes) {
      if (this.#config.fullPolicy === "reject") {
        return Promise.reject(
          new BufferFullError(
            `Cannot buffer a write of ${size} bytes for backend "${name}": retry buffer full (${this.#bytes} of ${maxBytes} bytes queued)`,
          ),
        );
      }
      dropped = this.#dropOldest(size);
    }
    const seq = this.#nextSeq++;
    const { record, bodyStart } = this.#encode(seq, write);
    const entry: Entry = {
      seq,
      query: write.query,
      auth: write.auth,
      points: write.points,
      acceptedAt: write.acceptedAt,
      size,
      body: write.body,
      segment: null,
      bodyOffset: -1,
    };
    this.#entries.push(entry);
    this.#bytes += size;
    const { promise, resolve, reject } = Promise.withResolvers<PushResult>();
    this.#pending.push({
      entry,
      record,
      bodyStart,
      result: { seq, dropped },
      resolve,
      reject,
    });
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      // #flush() settles every pending push itself.
      this.#enqueue(() => this.#flush()).catch(() => {});
    }
    // A failure to save the ack is retried by the next remove() or close().
    if (dropped !== null) this.#ackChanged().catch(() => {});
    return promise;
  }

  #encode(
    seq: number,
    write: NewWrite,
  ): { record: Uint8Array; bodyStart: number } {
    if (write.query !== this.#lastQuery) {
      this.#lastQuery = write.query;
      this.#lastQueryBytes = encoder.encode(write.query);
    }
    if (write.auth !== this.#lastAuth) {
      this.#lastAuth = write.auth;
      this.#lastAuthBytes = write.auth === null
        ? null
        : encoder.encode(write.auth);
    }
    const query = this.#lastQueryBytes;
    const auth = this.#lastAuthBytes;
    const authLength = auth?.length ?? 0;
    const payloadLength = MIN_PAYLOAD + query.length + authLength +
      write.body.length;
    const record = new Uint8Array(HEADER_BYTES + payloadLength);
    const view = new DataView(record.buffer);
    let at = HEADER_BYTES;
    view.setUint32(at, seq >>> 0, true);
    view.setUint32(at + 4, Math.floor(seq / 0x1_0000_0000), true);
    view.setFloat64(at + 8, write.acceptedAt, true);
    view.setUint32(at + 16, write.points, true);
    view.setUint32(at + 20, query.length, true);
    at += 24;
    record.set(query, at);
    at += query.length;
    record[at] = auth === null ? 0 : 1;
    view.setUint32(at + 1, authLength, true);
    at += 5;
    if (auth !== null) record.set(auth, at);
    at += authLength;
    view.setUint32(at, write.body.length, true);
    at += 4;
    record.set(write.body, at);
    record[0] = MAGIC;
    view.setUint32(1, payloadLength, true);
    view.setUint32(5, crc32(record.subarray(HEADER_BYTES)), true);
    return { record, bodyStart: at };
  }

  #dropOldest(room: number): Dropped {
    const seqs: number[] = [];
    let points = 0;
    let bytes = 0;
    while (this.#bytes + room > this.#config.maxBytes && this.length > 0) {
      const entry = this.#shift();
      seqs.push(entry.seq);
      points += entry.points;
      bytes += entry.size;
    }
    if (seqs.length > 0) this.#ack = Math.max(this.#ack, seqs.at(-1)!);
    return { seqs, points, bytes };
  }

  #shift(): Entry {
    const entry = this.#entries[this.#start]!;
    this.#bytes -= entry.size;
    this.#entries[this.#start] = undefined as unknown as Entry;
    this.#start++;
    // Compact once the consumed prefix dominates, keeping shift O(1) amortised.
    if (this.#start > 1024 && this.#start * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#start);
      this.#start = 0;
    }
    return entry;
  }

  /**
   * Returns the oldest writes merged into one request (consecutive writes
   * with the same query and auth, up to `maxBytes`, at least one), reading
   * their bodies back from disk; `null` when empty.
   *
   * @param maxBytes Largest merged body, in bytes.
   * @returns The merged batch, or `null`.
   * @throws {Error} When a segment cannot be read.
   */
  async head(maxBytes: number): Promise<HeadBatch | null> {
    for (let attempt = 1;; attempt++) {
      const first = this.#entries[this.#start];
      if (first === undefined) return null;
      // Snapshot where each body is now: a concurrent flush moves bodies
      // from memory to disk.
      const parts: Part[] = [];
      let size = 0;
      let points = 0;
      let last = first;
      for (let i = this.#start; i < this.#entries.length; i++) {
        const entry = this.#entries[i]!;
        if (
          i > this.#start && (entry.query !== first.query ||
            entry.auth !== first.auth || size + entry.size > maxBytes)
        ) break;
        parts.push({
          body: entry.body,
          path: entry.segment?.path ?? "",
          offset: entry.bodyOffset,
          size: entry.size,
        });
        size += entry.size;
        points += entry.points;
        last = entry;
      }
      let body: Uint8Array;
      try {
        body = await readParts(parts, size);
      } catch (error) {
        // A concurrent remove() or drop-oldest may have deleted the segment;
        // the index has moved on, so look again.
        if (error instanceof Deno.errors.NotFound && attempt < HEAD_ATTEMPTS) {
          continue;
        }
        throw new Error(
          `Cannot read queued writes of backend "${this.#config.name}" from "${this.dir}": ${
            error instanceof Error ? error.message : String(error)
          }`,
          { cause: error },
        );
      }
      return {
        query: first.query,
        auth: first.auth,
        body,
        points,
        firstSeq: first.seq,
        lastSeq: last.seq,
        acceptedAt: first.acceptedAt,
      };
    }
  }

  /**
   * Removes every write up to and including `lastSeq`, records the new ack
   * (saved before resolving with `fsync: "always"`, else within the sync
   * interval) and deletes segments that hold only removed writes.
   *
   * @param lastSeq The `lastSeq` of a delivered {@linkcode HeadBatch}.
   * @throws {Error} With `fsync: "always"`, when the ack cannot be saved.
   */
  async remove(lastSeq: number): Promise<void> {
    while (this.length > 0 && this.#entries[this.#start]!.seq <= lastSeq) {
      this.#shift();
    }
    const ack = Math.min(lastSeq, this.#nextSeq - 1);
    if (ack <= this.#ack) return;
    this.#ack = ack;
    await this.#ackChanged();
  }

  /** Deletes the segments the new ack delivered in full, then saves the ack. */
  #ackChanged(): Promise<void> {
    // After close() the final ack is saved by close() itself.
    if (this.#closed) return Promise.resolve();
    const doomed = this.#takeDelivered();
    const deleted = doomed.length === 0
      ? Promise.resolve()
      : this.#enqueue(() => removeFiles(doomed));
    if (this.#config.fsync === "always") {
      return Promise.all([deleted, this.#saveAck()]).then(() => {});
    }
    this.#scheduleSync();
    return deleted;
  }

  /** Takes the segments (never the last) whose writes are all removed off the list. */
  #takeDelivered(): Segment[] {
    let count = 0;
    while (
      count + 1 < this.#segments.length &&
      this.#segments[count]!.lastSeq <= this.#ack
    ) count++;
    return count === 0 ? [] : this.#segments.splice(0, count);
  }

  /** Saves the ack once for any number of concurrent callers. */
  #saveAck(): Promise<void> {
    if (this.#ackQueued !== null) return this.#ackQueued;
    const saved = this.#enqueue(async () => {
      this.#ackQueued = null;
      const ack = this.#ack;
      if (ack <= this.#savedAck) return;
      await writeAck(this.dir, ack);
      this.#savedAck = ack;
    });
    this.#ackQueued = saved;
    return saved;
  }

  /** Runs `job` after every earlier write, sync and deletion. */
  #enqueue(job: () => Promise<void>): Promise<void> {
    const run = this.#io.then(job);
    this.#io = run.catch(() => {});
    return run;
  }

  #scheduleSync(): void {
    if (this.#syncTimer !== null || this.#closed) return;
    const timer = setTimeout(() => {
      this.#syncTimer = null;
      // A failed sync is tried again at the next interval, and by close().
      this.#enqueue(() => this.#syncData()).catch(() => this.#scheduleSync());
      this.#saveAck().catch(() => this.#scheduleSync());
    }, this.#config.fsync as number);
    Deno.unrefTimer(timer);
    this.#syncTimer = timer;
  }

  async #syncData(): Promise<void> {
    if (!this.#unsynced || this.#writer === null) return;
    this.#unsynced = false;
    try {
      await this.#writer.syncData();
    } catch (error) {
      this.#unsynced = true;
      throw error;
    }
  }

  /**
   * Writes every pending record (group commit: one `write` per segment
   * touched and per 8 MiB, one sync with "always"); runs on the I/O chain.
   */
  async #flush(): Promise<void> {
    this.#flushQueued = false;
    const batch = this.#pending;
    this.#pending = [];
    let appended = 0;
    try {
      while (appended < batch.length) {
        const first = batch[appended]!;
        const segment = await this.#segmentFor(
          first.entry.seq,
          first.record.length,
        );
        let end = appended + 1;
        let bytes = first.record.length;
        while (end < batch.length) {
          const length = batch[end]!.record.length;
          if (
            segment.size + bytes + length > this.#config.segmentBytes ||
            bytes + length > MAX_WRITE_BYTES
          ) break;
          bytes += length;
          end++;
        }
        const run = batch.slice(appended, end);
        await this.#append(segment, run);
        let offset = segment.size;
        for (const pending of run) {
          pending.entry.segment = segment;
          pending.entry.bodyOffset = offset + pending.bodyStart;
          pending.entry.body = null;
          offset += pending.record.length;
        }
        segment.size = offset;
        segment.lastSeq = run.at(-1)!.entry.seq;
        appended = end;
      }
      if (this.#config.fsync === "always") {
        await this.#writer!.syncData();
      } else {
        this.#unsynced = true;
        this.#scheduleSync();
      }
    } catch (error) {
      this.#fail(batch, appended, error);
      return;
    }
    for (const pending of batch) pending.resolve(pending.result);
  }

  /** The segment to append a record of `length` bytes with `seq` to. */
  async #segmentFor(seq: number, length: number): Promise<Segment> {
    const current = this.#segments.at(-1);
    if (
      current !== undefined && this.#writer !== null && !this.#sealed &&
      (current.size === 0 ||
        current.size + length <= this.#config.segmentBytes)
    ) return current;
    if (this.#writer !== null) {
      const writer = this.#writer;
      this.#writer = null;
      try {
        await writer.syncData();
      } finally {
        writer.close();
      }
    }
    const path = join(this.dir, segmentName(seq));
    const writer = await Deno.open(path, {
      write: true,
      append: true,
      createNew: true,
      mode: 0o600,
    });
    const segment: Segment = { firstSeq: seq, path, size: 0, lastSeq: seq - 1 };
    this.#segments.push(segment);
    this.#writer = writer;
    this.#sealed = false;
    // Make the new file's name durable, not just its data.
    await syncDir(this.dir);
    // The sealed segment may hold only removed writes by now.
    await removeFiles(this.#takeDelivered());
    return segment;
  }

  /**
   * Appends the records of `run` to `segment` with one `write` (looped on
   * short writes). Gathering costs a copy, but measured in the bench
   * (A-spool-down) one write call a record cost twice the CPU and let
   * pending writes pile up in memory.
   */
  async #append(segment: Segment, run: readonly Pending[]): Promise<void> {
    const writer = this.#writer!;
    const chunks = run.length === 1
      ? [run[0]!.record]
      : [concatBytes(run.map((pending) => pending.record))];
    let written = 0;
    try {
      for (const data of chunks) {
        let offset = 0;
        while (offset < data.length) {
          const n = await writer.write(data.subarray(offset));
          if (n <= 0) throw new Error("the write made no progress");
          offset += n;
          written += n;
        }
      }
    } catch (error) {
      // Cut the partial record off so that later records follow valid
      // ones; if even that fails, continue in a new segment.
      if (written > 0) {
        await writer.truncate(segment.size).catch(() => {
          this.#sealed = true;
        });
      }
      throw error;
    }
  }

  /**
   * Fails a group: records not appended leave the index (the index always
   * matches the disk); with "always", appended but unsynced records stay
   * queued yet their pushes fail too, since their durability is unknown.
   */
  #fail(batch: readonly Pending[], appended: number, error: unknown): void {
    const lost = new Set(batch.slice(appended).map((pending) => pending.entry));
    if (lost.size > 0) {
      this.#entries = this.#entries.slice(this.#start).filter((entry) => {
        if (!lost.has(entry)) return true;
        this.#bytes -= entry.size;
        return false;
      });
      this.#start = 0;
    }
    const message = error instanceof Error ? error.message : String(error);
    const failAll = this.#config.fsync === "always";
    batch.forEach((pending, i) => {
      if (i < appended && !failAll) {
        pending.resolve(pending.result);
        return;
      }
      pending.reject(
        new Error(
          `Cannot buffer a write for backend "${this.#config.name}": writing to the spool "${this.dir}" failed: ${message}`,
          { cause: error },
        ),
      );
    });
    if (!failAll) {
      this.#unsynced = true;
      this.#scheduleSync();
    }
  }

  /**
   * Writes what is pending, syncs, saves the ack and releases the lock.
   * Queued writes stay on disk for the next {@linkcode SpoolQueue.open}.
   * Calling it again returns the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    if (this.#syncTimer !== null) {
      clearTimeout(this.#syncTimer);
      this.#syncTimer = null;
    }
    try {
      await this.#enqueue(async () => {
        const writer = this.#writer;
        this.#writer = null;
        if (writer !== null) {
          try {
            await writer.syncData();
          } finally {
            writer.close();
          }
        }
        if (this.#ack > this.#savedAck) {
          await writeAck(this.dir, this.#ack);
          this.#savedAck = this.#ack;
        }
      });
    } finally {
      this.#lock.close();
    }
  }
}

async function removeFiles(segments: readonly Segment[]): Promise<void> {
  for (const segment of segments) {
    // A file left behind is deleted again at the next open.
    await Deno.remove(segment.path).catch(() => {});
  }
}

function openError(name: string, dir: string, error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  return new Error(
    `Cannot open the spool of backend "${name}" in "${dir}": ${message}`,
    { cause: error },
  );
}

interface Part {
  readonly body: Uint8Array | null;
  readonly path: string;
  readonly offset: number;
  readonly size: number;
}

/** Reads the bodies of `parts` into one array: one read per run of parts in one segment. */
async function readParts(
  parts: readonly Part[],
  total: number,
): Promise<Uint8Array> {
  if (parts.length === 1 && parts[0]!.body !== null) return parts[0]!.body;
  const out = new Uint8Array(total);
  let at = 0;
  let i = 0;
  while (i < parts.length) {
    const part = parts[i]!;
    if (part.body !== null) {
      out.set(part.body, at);
      at += part.size;
      i++;
      continue;
    }
    let end = i + 1;
    while (
      end < parts.length && parts[end]!.body === null &&
      parts[end]!.path === part.path
    ) end++;
    const last = parts[end - 1]!;
    const span = last.offset + last.size - part.offset;
    let needed = 0;
    for (let k = i; k < end; k++) needed += parts[k]!.size;
    const file = await Deno.open(part.path, { read: true });
    try {
      if (end === i + 1 || span > 2 * needed + 65536) {
        // One body, or bodies far apart (records skipped as damaged or
        // delivered lie between): read each body on its own.
        for (let k = i; k < end; k++) {
          const p = parts[k]!;
          await readAt(file, p.offset, out.subarray(at, at + p.size));
          at += p.size;
        }
      } else {
        // Headers between the bodies cost less than one read per body.
        const range = new Uint8Array(span);
        await readAt(file, part.offset, range);
        for (let k = i; k < end; k++) {
          const p = parts[k]!;
          const from = p.offset - part.offset;
          out.set(range.subarray(from, from + p.size), at);
          at += p.size;
        }
      }
    } finally {
      file.close();
    }
    i = end;
  }
  return out;
}

async function readAt(
  file: Deno.FsFile,
  offset: number,
  into: Uint8Array,
): Promise<void> {
  await file.seek(offset, Deno.SeekMode.Start);
  let filled = 0;
  while (filled < into.length) {
    const n = await file.read(into.subarray(filled));
    if (n === null) {
      throw new Error(
        `the segment ends ${into.length - filled} bytes early at offset ${
          offset + filled
        }`,
      );
    }
    filled += n;
  }
}

function join(dir: string, name: string): string {
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}

function segmentName(firstSeq: number): string {
  return `${String(firstSeq).padStart(20, "0")}.seg`;
}

async function syncDir(dir: string): Promise<void> {
  const handle = await Deno.open(dir, { read: true });
  try {
    await handle.syncData();
  } finally {
    handle.close();
  }
}

async function writeAck(dir: string, ack: number): Promise<void> {
  const temp = join(dir, ACK_TEMP);
  const file = await Deno.open(temp, {
    write: true,
    create: true,
    truncate: true,
    mode: 0o600,
  });
  try {
    const data = encoder.encode(`${ack}\n`);
    let written = 0;
    while (written < data.length) {
      written += await file.write(data.subarray(written));
    }
    await file.syncData();
  } finally {
    file.close();
  }
  await Deno.rename(temp, join(dir, ACK_FILE));
  await syncDir(dir);
}

async function readAck(
  dir: string,
  report: (info: SpoolCorruption) => void,
): Promise<number> {
  const path = join(dir, ACK_FILE);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return 0;
    throw error;
  }
  if (/^\d{1,16}\n$/.test(text)) {
    const ack = Number(text.slice(0, -1));
    if (Number.isSafeInteger(ack)) return ack;
  }
  report({
    segment: path,
    offset: 0,
    reason: `the ack file holds ${
      JSON.stringify(text.slice(0, 40))
    }, not a seq; every record on disk is delivered again`,
  });
  return 0;
}

interface Parsed {
  readonly seq: number;
  readonly end: number;
}

/** Reads a little-endian u32. */
function u32(data: Uint8Array, at: number): number {
  return (data[at]! | (data[at + 1]! << 8) | (data[at + 2]! << 16) |
    (data[at + 3]! << 24)) >>> 0;
}

/**
 * Checks the record at `pos`: whole, consistent, CRC intact, and its seq in
 * `(low, high)`. Returns the reason when it is not.
 */
function checkRecord(
  data: Uint8Array,
  pos: number,
  low: number,
  high: number,
): Parsed | string {
  const left = data.length - pos;
  if (left < HEADER_BYTES) {
    return `only ${left} bytes left, fewer than a record header`;
  }
  if (data[pos] !== MAGIC) {
    return `bad magic byte 0x${data[pos]!.toString(16).padStart(2, "0")}`;
  }
  const length = u32(data, pos + 1);
  if (length > left - HEADER_BYTES) {
    return `a record of ${
      HEADER_BYTES + length
    } bytes runs past the end of the segment (${left} bytes left)`;
  }
  const p = pos + HEADER_BYTES;
  const end = p + length;
  // The inner lengths must add up to the payload length exactly.
  let at = p + 24;
  const consistent = length >= MIN_PAYLOAD &&
    (at += u32(data, p + 20)) + 5 <= end &&
    data[at]! <= 1 &&
    (data[at] === 1 || u32(data, at + 1) === 0) &&
    (at += 5 + u32(data, at + 1)) + 4 <= end &&
    at + 4 + u32(data, at) === end;
  if (!consistent) return "its field lengths do not add up";
  if (crc32(data.subarray(p, end)) !== u32(data, pos + 5)) {
    return "CRC mismatch";
  }
  const seq = u32(data, p + 4) * 0x1_0000_0000 + u32(data, p);
  if (!(seq > low && seq < high)) {
    return `seq ${seq} out of order (expected between ${low} and ${high})`;
  }
  return { seq, end };
}

/** The next valid record after damage at `pos`, or `null`. */
function findRecord(
  data: Uint8Array,
  pos: number,
  low: number,
  high: number,
): (Parsed & { at: number }) | null {
  // Most damage spares the length field: try where it points first.
  if (data[pos] === MAGIC && data.length - pos >= HEADER_BYTES) {
    const at = pos + HEADER_BYTES + u32(data, pos + 1);
    const next = at < data.length ? checkRecord(data, at, low, high) : "";
    if (typeof next !== "string") return { ...next, at };
  }
  for (let at = data.indexOf(MAGIC, pos + 1); at !== -1;) {
    const next = checkRecord(data, at, low, high);
    if (typeof next !== "string") return { ...next, at };
    at = data.indexOf(MAGIC, at + 1);
  }
  return null;
}

/** True when the bytes from `pos` on look like an append cut short. */
function isTorn(data: Uint8Array, pos: number): boolean {
  const left = data.length - pos;
  return left < HEADER_BYTES ||
    (data[pos] === MAGIC && u32(data, pos + 1) > left - HEADER_BYTES);
}

/** Records with a seq in `(low, high)` that were not yet removed. */
function unacked(low: number, high: number, ack: number): number {
  return Math.max(0, high - 1 - Math.max(low, ack));
}

/**
 * Replays the spool in `dir`: reads the ack, checks every segment, indexes
 * the records not yet removed, cuts a torn or damaged tail off the last
 * segment and deletes segments with nothing left to deliver.
 */
async function recover(
  dir: string,
  report: (info: SpoolCorruption) => void,
): Promise<Recovered> {
  const ack = await readAck(dir, report);
  const files: { firstSeq: number; path: string }[] = [];
  for await (const item of Deno.readDir(dir)) {
    const match = item.isFile ? SEGMENT_NAME.exec(item.name) : null;
    if (match !== null) {
      files.push({ firstSeq: Number(match[1]), path: join(dir, item.name) });
    }
  }
  files.sort((a, b) => a.firstSeq - b.firstSeq);
  const recovered: Recovered = {
    segments: [],
    entries: [],
    bytes: 0,
    ack,
    nextSeq: ack + 1,
    corrupted: 0,
    truncatedBytes: 0,
  };
  const doomed: Segment[] = [];
  // Replayed entries share equal query and auth strings.
  const strings = new Map<string, string>();
  let low = 0;
  for (let i = 0; i < files.length; i++) {
    const { firstSeq, path } = files[i]!;
    const isLast = i === files.length - 1;
    const high = files[i + 1]?.firstSeq ?? Number.MAX_SAFE_INTEGER;
    low = Math.max(low, firstSeq - 1);
    const data = await Deno.readFile(path);
    const segment: Segment = {
      firstSeq,
      path,
      size: data.length,
      lastSeq: low,
    };
    const live = recovered.entries.length;
    let pos = 0;
    while (pos < data.length) {
      const parsed = checkRecord(data, pos, low, high);
      if (typeof parsed !== "string") {
        if (parsed.seq > ack) {
          const entry = decodeEntry(data, pos, parsed.seq, segment, strings);
          recovered.entries.push(entry);
          recovered.bytes += entry.size;
        }
        low = parsed.seq;
        pos = parsed.end;
        continue;
      }
      const next = findRecord(data, pos, low, high);
      if (next !== null) {
        const lost = unacked(low, next.seq, ack);
        if (lost > 0) {
          recovered.corrupted += lost;
          report({
            segment: path,
            offset: pos,
            reason: `${parsed}: skipped ${lost} records (${
              next.at - pos
            } bytes) up to seq ${next.seq}`,
          });
        }
        pos = next.at;
        continue;
      }
      if (isLast) {
        // Appends go after valid records only, and damage is reported once.
        await Deno.truncate(path, pos);
        segment.size = pos;
        if (isTorn(data, pos)) {
          recovered.truncatedBytes += data.length - pos;
        } else {
          recovered.corrupted++;
          report({
            segment: path,
            offset: pos,
            reason: `${parsed}: cut off the last ${
              data.length - pos
            } bytes (at least 1 record after seq ${low})`,
          });
        }
      } else {
        const lost = unacked(low, high, ack);
        if (lost > 0) {
          recovered.corrupted += lost;
          report({
            segment: path,
            offset: pos,
            reason: `${parsed}: skipped ${lost} records (${
              data.length - pos
            } bytes) to the end of the segment`,
          });
        }
      }
      break;
    }
    segment.lastSeq = low;
    recovered.nextSeq = Math.max(recovered.nextSeq, low + 1, firstSeq);
    // The last file stays, even when delivered: appends continue there.
    if (recovered.entries.length > live || isLast) {
      recovered.segments.push(segment);
    } else {
      doomed.push(segment);
    }
  }
  await removeFiles(doomed);
  return recovered;
}

function decodeEntry(
  data: Uint8Array,
  pos: number,
  seq: number,
  segment: Segment,
  strings: Map<string, string>,
): Entry {
  const text = (from: number, length: number) => {
    const value = decoder.decode(data.subarray(from, from + length));
    const known = strings.get(value);
    if (known !== undefined) return known;
    strings.set(value, value);
    return value;
  };
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let at = pos + HEADER_BYTES + 16;
  const acceptedAt = view.getFloat64(at - 8, true);
  const points = u32(data, at);
  const queryLength = u32(data, at + 4);
  at += 8;
  const query = text(at, queryLength);
  at += queryLength;
  const hasAuth = data[at] === 1;
  const authLength = u32(data, at + 1);
  at += 5;
  const auth = hasAuth ? text(at, authLength) : null;
  at += authLength;
  const size = u32(data, at);
  return {
    seq,
    query,
    auth,
    points,
    acceptedAt,
    size,
    body: null,
    segment,
    bodyOffset: at + 4,
  };
}
