/**
 * The read side of a UDP listener: a loop that does nothing but read
 * datagrams from the socket and append them to a bounded pack, which the
 * listener takes whole when it is ready for more.
 *
 * The loop runs in a Worker of its own by default, so that nothing on the
 * main isolate (HTTP load, garbage collection, logging, validation) can
 * stall reading: the kernel's default receive buffer (`rmem_default`, about
 * 208 KiB) holds only about 150 datagrams, a few milliseconds of traffic at
 * 20 000 datagrams a second. Measured on a 2-core machine, reading on the
 * main isolate lost several times more datagrams than reading in a Worker
 * (README, "UDP").
 *
 * @module
 */

/** Datagrams read since the last pack was taken, back to back. */
export interface DatagramPack {
  /** Number of datagrams in the pack. */
  count: number;
  /** Their payloads, back to back. */
  data: Uint8Array<ArrayBuffer>;
  /** `ends[k]` is where datagram `k` ends in {@linkcode DatagramPack.data}. */
  ends: Int32Array<ArrayBuffer>;
  /** `times[k]`: receive time of datagram `k`, milliseconds since the epoch. */
  times: Float64Array<ArrayBuffer>;
  /** `sources[sourceOf[k]]` is who sent datagram `k` (`host:port`). */
  sources: string[];
  /** Index into {@linkcode DatagramPack.sources} per datagram. */
  sourceOf: Uint16Array<ArrayBuffer>;
}

/** Counters of the read loop, since it started. */
export interface ReceiverStats {
  /** Datagrams read from the socket. */
  datagramsReceived: number;
  /** Bytes read from the socket. */
  bytesReceived: number;
  /** Datagrams dropped because the pack was full. */
  datagramsDropped: number;
}

/** Where the read loop runs. */
export type ReceiverThread = "worker" | "main";

/** Options for {@linkcode startUdpReceiver}. */
export interface UdpReceiverOptions {
  /**
   * Address to bind.
   * @default {"0.0.0.0"}
   */
  hostname?: string;
  /**
   * Port to bind; `0` lets the system choose.
   * @default {0}
   */
  port?: number;
  /**
   * Largest pack in bytes: datagrams that arrive while the waiting pack is
   * this large are dropped and counted.
   * @default {8 MiB}
   */
  queueBytes?: number;
  /**
   * `worker` reads in a Worker of its own; `main` reads on the calling
   * isolate (for tests and comparison).
   * @default {"worker"}
   */
  thread?: ReceiverThread;
}

/** A running read loop; see {@linkcode startUdpReceiver}. */
export interface UdpReceiver {
  /** The bound address. */
  readonly addr: Deno.NetAddr;
  /** The counters as last reported by the read loop. */
  readonly stats: ReceiverStats;
  /**
   * Waits for datagrams and takes all that have arrived.
   *
   * @returns The next pack, or `null` once the receiver was closed (or
   * failed) and every datagram read before was returned.
   */
  next(): Promise<DatagramPack | null>;
  /** The read error that stopped the loop, if any. */
  readonly error: string | null;
  /** Stops reading; {@linkcode UdpReceiver.next} still returns what was read. */
  close(): void;
}

const DEFAULT_QUEUE_BYTES = 8 * 1024 * 1024;
/** Above the largest UDP payload (65507 bytes), so no datagram is cut. */
const READ_BUFFER_BYTES = 65536;
const INITIAL_PACK_BYTES = 64 * 1024;
const INITIAL_PACK_DATAGRAMS = 256;
/** Distinct senders named per pack; beyond that, one shared slot says so. */
const MAX_SOURCES = 65535;
const OTHER_SOURCES = "(one of many senders)";

/**
 * Binds a UDP socket and starts reading it into packs.
 *
 * @param options Address, pack size, thread.
 * @returns The running receiver, once the socket is bound.
 * @throws {Error} When the address cannot be bound; the error's `name` is
 * that of the socket error (e.g. `AddrInUse`).
 * @throws {RangeError} When `queueBytes` is not a positive integer.
 */
export async function startUdpReceiver(
  options: UdpReceiverOptions = {},
): Promise<UdpReceiver> {
  const {
    hostname = "0.0.0.0",
    port = 0,
    queueBytes = DEFAULT_QUEUE_BYTES,
    thread = "worker",
  } = options;
  if (!Number.isSafeInteger(queueBytes) || queueBytes < 1) {
    throw new RangeError(
      `Cannot start UDP receiver as 'queueBytes' must be a positive integer: current value is ${queueBytes}`,
    );
  }
  const start: StartRequest = { type: "start", hostname, port, queueBytes };
  return thread === "main" ? startInline(start) : await startWorker(start);
}

// ---------------------------------------------------------------------------
// The read loop (runs in the worker, or inline)

/** Reads datagrams into a growing pack until its socket is closed. */
export class PackingReader {
  readonly #conn: Deno.DatagramConn;
  readonly #limit: number;
  /** The loop's counters (live). */
  readonly stats: ReceiverStats = {
    datagramsReceived: 0,
    bytesReceived: 0,
    datagramsDropped: 0,
  };
  #data = new Uint8Array(INITIAL_PACK_BYTES);
  #used = 0;
  #ends = new Int32Array(INITIAL_PACK_DATAGRAMS);
  #times = new Float64Array(INITIAL_PACK_DATAGRAMS);
  #sourceOf = new Uint16Array(INITIAL_PACK_DATAGRAMS);
  #count = 0;
  #sources: string[] = [];
  #sourceIds = new Map<string, number>();
  #lastSource = "";
  #lastSourceId = 0;
  #closed = false;
  #finished = false;
  /** Called once when a datagram arrives (or reading ends) while it is set. */
  onData: (() => void) | null = null;
  /** The read error that stopped the loop, if any. */
  error: string | null = null;

  /**
   * @param conn The bound socket; the reader closes it when stopped.
   * @param limit Largest pack in bytes.
   */
  constructor(conn: Deno.DatagramConn, limit: number) {
    this.#conn = conn;
    this.#limit = limit;
  }

  /** Datagrams waiting in the current pack. */
  get count(): number {
    return this.#count;
  }

  /** Whether the loop has stopped reading (closed, or a read error). */
  get finished(): boolean {
    return this.#finished;
  }

  /** Stops reading and closes the socket. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }

  /** Reads until {@linkcode PackingReader.close} or a read error. */
  async run(): Promise<void> {
    const buffer = new Uint8Array(READ_BUFFER_BYTES);
    const stats = this.stats;
    while (!this.#closed) {
      let data: Uint8Array;
      let from: Deno.Addr;
      try {
        [data, from] = await this.#conn.receive(buffer);
      } catch (error) {
        if (!this.#closed) this.error = (error as Error).message;
        break;
      }
      const at = wallClockMs();
      const size = data.length;
      stats.datagramsReceived++;
      stats.bytesReceived += size;
      if (this.#used + size > this.#limit && this.#count > 0) {
        stats.datagramsDropped++;
        continue;
      }
      this.#append(data, at, from as Deno.NetAddr);
      if (this.onData !== null) {
        const notify = this.onData;
        this.onData = null;
        notify();
      }
    }
    this.close();
    this.#finished = true;
    const notify = this.onData;
    this.onData = null;
    notify?.();
  }

  /** Takes the current pack, or returns null when it is empty. */
  take(): DatagramPack | null {
    const count = this.#count;
    if (count === 0) return null;
    const pack: DatagramPack = {
      count,
      data: this.#data.slice(0, this.#used),
      ends: this.#ends.slice(0, count),
      times: this.#times.slice(0, count),
      sources: this.#sources,
      sourceOf: this.#sourceOf.slice(0, count),
    };
    this.#used = 0;
    this.#count = 0;
    this.#sources = [];
    this.#sourceIds.clear();
    this.#lastSource = "";
    return pack;
  }

  #append(data: Uint8Array, at: number, from: Deno.NetAddr): void {
    const size = data.length;
    if (this.#used + size > this.#data.length) {
      let grown = this.#data.length * 2;
      while (grown < this.#used + size) grown *= 2;
      const bigger = new Uint8Array(grown);
      bigger.set(this.#data.subarray(0, this.#used));
      this.#data = bigger;
    }
    this.#data.set(data, this.#used);
    this.#used += size;
    const k = this.#count;
    if (k === this.#ends.length) {
      const ends = new Int32Array(k * 2);
      ends.set(this.#ends);
      this.#ends = ends;
      const times = new Float64Array(k * 2);
      times.set(this.#times);
      this.#times = times;
      const sourceOf = new Uint16Array(k * 2);
      sourceOf.set(this.#sourceOf);
      this.#sourceOf = sourceOf;
    }
    this.#ends[k] = this.#used;
    this.#times[k] = at;
    this.#sourceOf[k] = this.#sourceId(from);
    this.#count = k + 1;
  }

  #sourceId(from: Deno.NetAddr): number {
    const source = from.hostname.includes(":")
      ? `[${from.hostname}]:${from.port}`
      : `${from.hostname}:${from.port}`;
    if (source === this.#lastSource) return this.#lastSourceId;
    let id = this.#sourceIds.get(source);
    if (id === undefined) {
      if (this.#sources.length < MAX_SOURCES - 1) {
        id = this.#sources.length;
        this.#sources.push(source);
        this.#sourceIds.set(source, id);
      } else {
        if (this.#sources.length < MAX_SOURCES) {
          this.#sources.push(OTHER_SOURCES);
        }
        id = MAX_SOURCES - 1;
      }
    }
    this.#lastSource = source;
    this.#lastSourceId = id;
    return id;
  }
}

let wallAnchor = 0;
let monotonicAnchor = 0;

/**
 * Wall-clock milliseconds with sub-millisecond resolution: the monotonic
 * clock, re-anchored to `Date.now()` whenever the two drift apart by more
 * than a millisecond, so that points of one series rarely share a filled-in
 * timestamp (the original used Go's `time.Now()`).
 */
function wallClockMs(): number {
  const wall = Date.now();
  const monotonic = performance.now();
  let ms = wallAnchor + (monotonic - monotonicAnchor);
  if (wallAnchor === 0 || Math.abs(ms - wall) > 1) {
    wallAnchor = wall;
    monotonicAnchor = monotonic;
    ms = wall;
  }
  return ms;
}

// ---------------------------------------------------------------------------
// Messages between the listener and its worker

/** Listener → worker: bind and start reading. */
export interface StartRequest {
  type: "start";
  hostname: string;
  port: number;
  queueBytes: number;
}

/** Messages the listener sends to the worker. */
export type ReceiverRequest =
  | StartRequest
  /** Send the next pack as soon as there is one. */
  | { type: "pull" }
  /** Stop reading. */
  | { type: "close" };

/** Messages the worker sends to the listener. */
export type ReceiverEvent =
  | { type: "listening"; hostname: string; port: number }
  | { type: "failed"; name: string; message: string }
  | { type: "pack"; pack: DatagramPack; stats: ReceiverStats }
  /** Reading stopped and the last pack was sent. */
  | { type: "closed"; stats: ReceiverStats; error: string | null };

/** What {@linkcode serveReceiver} needs of a worker's global scope. */
export interface ReceiverScope {
  /** Set to the request handler. */
  onmessage: ((event: MessageEvent<ReceiverRequest>) => void) | null;
  /** Sends an event to the listener. */
  postMessage(message: ReceiverEvent, transfer?: Transferable[]): void;
}

/**
 * The worker's side: binds on `start`, answers each `pull` with the next
 * non-empty pack (at once, or when the next datagram arrives), and on
 * `close` (or a read error) sends what is left and `closed`.
 *
 * @param scope The worker's global scope (`self`).
 */
export function serveReceiver(scope: ReceiverScope): void {
  let reader: PackingReader | null = null;
  let pulled = false;
  let finished = false;

  function sendPack(): boolean {
    const pack = reader?.take() ?? null;
    if (pack === null) return false;
    pulled = false;
    scope.postMessage(
      { type: "pack", pack, stats: { ...reader!.stats } },
      [
        pack.data.buffer,
        pack.ends.buffer,
        pack.times.buffer,
        pack.sourceOf.buffer,
      ],
    );
    return true;
  }

  function serve(): void {
    if (!pulled || reader === null) return;
    if (sendPack()) return;
    if (finished) {
      pulled = false;
      scope.postMessage({
        type: "closed",
        stats: { ...reader.stats },
        error: reader.error,
      });
      return;
    }
    reader.onData = serve;
  }

  scope.onmessage = (event) => {
    const request = event.data;
    if (request.type === "start") {
      let conn: Deno.DatagramConn;
      try {
        conn = Deno.listenDatagram({
          transport: "udp",
          hostname: request.hostname,
          port: request.port,
        });
      } catch (error) {
        scope.postMessage({
          type: "failed",
          name: (error as Error).name,
          message: (error as Error).message,
        });
        return;
      }
      const addr = conn.addr as Deno.NetAddr;
      const started = new PackingReader(conn, request.queueBytes);
      reader = started;
      scope.postMessage({
        type: "listening",
        hostname: addr.hostname,
        port: addr.port,
      });
      started.run().then(() => {
        finished = true;
        serve();
      });
    } else if (request.type === "pull") {
      pulled = true;
      serve();
    } else {
      reader?.close();
    }
  };
}

// ---------------------------------------------------------------------------
// The listener's side

function failure(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

function startInline(start: StartRequest): UdpReceiver {
  let conn: Deno.DatagramConn;
  try {
    conn = Deno.listenDatagram({
      transport: "udp",
      hostname: start.hostname,
      port: start.port,
    });
  } catch (error) {
    throw failure((error as Error).name, (error as Error).message);
  }
  const reader = new PackingReader(conn, start.queueBytes);
  void reader.run();
  return {
    addr: conn.addr as Deno.NetAddr,
    get stats() {
      return { ...reader.stats };
    },
    get error() {
      return reader.error;
    },
    async next() {
      while (true) {
        const pack = reader.take();
        if (pack !== null) return pack;
        if (reader.finished) return null;
        const { promise, resolve } = Promise.withResolvers<void>();
        reader.onData = resolve;
        await promise;
      }
    },
    close() {
      reader.close();
    },
  };
}

/**
 * The worker's whole program, as JavaScript text: the read loop's constants,
 * {@linkcode PackingReader}, `wallClockMs` and {@linkcode serveReceiver}
 * (their run-time text, already stripped of types), then the call that
 * serves the worker's scope. Loaded from a `blob:` URL, the worker needs no
 * module file on disk: no read permission for it under `deno run` and no
 * `--include` for `deno compile`, so a binary whose read permission is
 * narrowed to its config and spool still reads UDP. Everything these
 * functions use must be in this text; the UDP tests fail otherwise.
 */
function workerSource(): string {
  return [
    `"use strict";`,
    `const READ_BUFFER_BYTES = ${READ_BUFFER_BYTES};`,
    `const INITIAL_PACK_BYTES = ${INITIAL_PACK_BYTES};`,
    `const INITIAL_PACK_DATAGRAMS = ${INITIAL_PACK_DATAGRAMS};`,
    `const MAX_SOURCES = ${MAX_SOURCES};`,
    `const OTHER_SOURCES = ${JSON.stringify(OTHER_SOURCES)};`,
    `let wallAnchor = 0;`,
    `let monotonicAnchor = 0;`,
    wallClockMs.toString(),
    PackingReader.toString(),
    serveReceiver.toString(),
    `serveReceiver(self);`,
  ].join("\n");
}

let workerUrl: string | null = null;

async function startWorker(start: StartRequest): Promise<UdpReceiver> {
  workerUrl ??= URL.createObjectURL(
    new Blob([workerSource()], { type: "text/javascript" }),
  );
  const worker = new Worker(workerUrl, {
    type: "module",
    name: "udp-receiver",
  });
  let stats: ReceiverStats = {
    datagramsReceived: 0,
    bytesReceived: 0,
    datagramsDropped: 0,
  };
  let error: string | null = null;
  let terminated = false;
  let waiter: PromiseWithResolvers<ReceiverEvent> | null = null;
  const early: ReceiverEvent[] = [];

  function terminate(): void {
    if (terminated) return;
    terminated = true;
    worker.terminate();
  }
  function deliver(event: ReceiverEvent): void {
    if (waiter === null) {
      early.push(event);
      return;
    }
    const w = waiter;
    waiter = null;
    w.resolve(event);
  }
  function nextEvent(): Promise<ReceiverEvent> {
    const event = early.shift();
    if (event !== undefined) return Promise.resolve(event);
    waiter = Promise.withResolvers<ReceiverEvent>();
    return waiter.promise;
  }

  worker.onmessage = (event: MessageEvent<ReceiverEvent>) =>
    deliver(event.data);
  worker.onerror = (event: ErrorEvent) => {
    event.preventDefault();
    deliver({
      type: "closed",
      stats,
      error: `the UDP receiver worker failed: ${event.message}`,
    });
  };
  worker.postMessage(start satisfies ReceiverRequest);

  const first = await nextEvent();
  if (first.type !== "listening") {
    terminate();
    if (first.type === "failed") throw failure(first.name, first.message);
    throw new Error(
      `Cannot start UDP receiver: ${
        first.type === "closed" ? first.error : "unexpected message"
      }`,
    );
  }

  let closedSeen = false;
  return {
    addr: { transport: "udp", hostname: first.hostname, port: first.port },
    get stats() {
      return { ...stats };
    },
    get error() {
      return error;
    },
    async next() {
      if (closedSeen) return null;
      worker.postMessage({ type: "pull" } satisfies ReceiverRequest);
      const event = await nextEvent();
      if (event.type === "pack") {
        stats = event.stats;
        return event.pack;
      }
      closedSeen = true;
      if (event.type === "closed") {
        stats = event.stats;
        error = event.error;
      }
      terminate();
      return null;
    },
    close() {
      if (!terminated) {
        worker.postMessage({ type: "close" } satisfies ReceiverRequest);
      }
    },
  };
}
