/**
 * The UDP listener: reads line-protocol datagrams from one socket and hands
 * each datagram's valid lines to the relay's fan-out (spec §5).
 *
 * Reading and forwarding are decoupled: a read loop (in a Worker of its own
 * by default, see {@linkcode startUdpReceiver}) only appends datagrams to a
 * bounded pack, and this listener takes the pack whole whenever it is ready
 * for more. A slow fan-out or a busy main isolate can therefore never stall
 * reading; when the pack is full, datagrams are dropped and counted. Unlike
 * the original, which drops a whole datagram for one bad line, the good
 * lines of a datagram are forwarded and the bad ones counted and logged
 * (rate-limited, so that junk cannot flood the log).
 *
 * @module
 */

import type { WriteBatch } from "./batch.ts";
import { normalizeLines, type Precision } from "./line_protocol.ts";
import type { Logger } from "./log.ts";
import { leftOutNote, LogThrottle } from "./log_throttle.ts";
import {
  type ReceiverThread,
  startUdpReceiver,
  type UdpReceiver,
} from "./udp_receiver.ts";

/** Where each datagram's lines go (the listener's fan-out). */
export interface DatagramTarget {
  /** Sends one batch; the listener waits for it before the next datagram. */
  write(batch: WriteBatch): Promise<unknown>;
}

/** Options for {@linkcode listenUdp}. */
export interface UdpListenerOptions {
  /** The relay's name, for logs. */
  name: string;
  /** Where bad lines, queue overflows and read errors are logged. */
  logger: Logger;
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
   * Unit of explicit timestamps and of the filled-in receive time.
   * @default {"n"}
   */
  precision?: Precision;
  /**
   * Largest number of bytes of datagrams waiting to be forwarded; datagrams
   * arriving while it is reached are dropped and counted.
   * @default {8 MiB}
   */
  queueBytes?: number;
  /**
   * Where the read loop runs: `worker` (its own Worker) or `main`.
   * @default {"worker"}
   */
  thread?: ReceiverThread;
  /**
   * Limits how often bad lines are logged.
   * @default {a LogThrottle with its defaults}
   */
  badLineThrottle?: LogThrottle;
  /**
   * Limits how often queue overflows are logged.
   * @default {a LogThrottle with its defaults}
   */
  overflowThrottle?: LogThrottle;
}

/** Counters of one {@linkcode UdpListener}, since it started. */
export interface UdpListenerStats {
  /** Datagrams read from the socket. */
  datagramsReceived: number;
  /** Bytes read from the socket. */
  bytesReceived: number;
  /** Datagrams dropped because the queue was full. */
  datagramsDropped: number;
  /** Datagrams handed to the fan-out (including empty ones). */
  datagramsForwarded: number;
  /** Lines (points) handed to the fan-out. */
  linesForwarded: number;
  /** Bad lines left out. */
  linesInvalid: number;
  /** Datagrams with at least one bad line. */
  datagramsWithInvalidLines: number;
  /** Datagrams left out because every line was bad (none forwarded). */
  datagramsInvalid: number;
}

/**
 * Binds a UDP socket and starts forwarding its datagrams to `target`.
 *
 * @param target The fan-out.
 * @param options Address, precision, queue size, logging.
 * @returns The running listener, once the socket is bound.
 * @throws {Error} When the address cannot be bound; the error's `name` is
 * that of the socket error (e.g. `AddrInUse`).
 * @throws {RangeError} When `queueBytes` is not a positive integer.
 */
export async function listenUdp(
  target: DatagramTarget,
  options: UdpListenerOptions,
): Promise<UdpListener> {
  const { hostname = "0.0.0.0", port = 0, thread = "worker" } = options;
  const receiver = await startUdpReceiver({
    hostname,
    port,
    thread,
    ...(options.queueBytes === undefined
      ? {}
      : { queueBytes: options.queueBytes }),
  });
  return new UdpListener(receiver, target, options);
}

/** A running UDP listener; {@linkcode UdpListener.close} drains it. */
export class UdpListener implements AsyncDisposable {
  readonly #receiver: UdpReceiver;
  readonly #target: DatagramTarget;
  readonly #name: string;
  readonly #logger: Logger;
  readonly #precision: Precision;
  readonly #badLineThrottle: LogThrottle;
  readonly #overflowThrottle: LogThrottle;
  readonly #counts = {
    datagramsForwarded: 0,
    linesForwarded: 0,
    linesInvalid: 0,
    datagramsWithInvalidLines: 0,
    datagramsInvalid: 0,
  };
  #droppedSeen = 0;
  readonly #done: Promise<void>;

  /**
   * Starts forwarding what a receiver reads; prefer {@linkcode listenUdp}.
   *
   * @param receiver The running read loop; the listener owns it from now on.
   * @param target The fan-out.
   * @param options Name, logger, precision, log throttles.
   */
  constructor(
    receiver: UdpReceiver,
    target: DatagramTarget,
    options: UdpListenerOptions,
  ) {
    const {
      name,
      logger,
      precision = "n",
      badLineThrottle = new LogThrottle(),
      overflowThrottle = new LogThrottle(),
    } = options;
    this.#receiver = receiver;
    this.#target = target;
    this.#name = name;
    this.#logger = logger;
    this.#precision = precision;
    this.#badLineThrottle = badLineThrottle;
    this.#overflowThrottle = overflowThrottle;
    this.#done = this.#forward();
  }

  /** The bound address. */
  get addr(): Deno.NetAddr {
    return this.#receiver.addr;
  }

  /** A copy of the counters (the read loop's as it last reported them). */
  get stats(): UdpListenerStats {
    return { ...this.#receiver.stats, ...this.#counts };
  }

  /**
   * Stops reading, forwards every datagram already read, and resolves once
   * the fan-out has taken the last one. Calling it again returns the same
   * promise.
   */
  close(): Promise<void> {
    this.#receiver.close();
    return this.#done;
  }

  /** Same as {@linkcode UdpListener.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #forward(): Promise<void> {
    const receiver = this.#receiver;
    while (true) {
      const pack = await receiver.next();
      this.#checkDropped();
      if (pack === null) break;
      const { data, ends, times, sources, sourceOf } = pack;
      let start = 0;
      for (let k = 0; k < pack.count; k++) {
        const end = ends[k]!;
        const batch = this.#toBatch(
          data.subarray(start, end),
          times[k]!,
          sources,
          sourceOf[k]!,
        );
        start = end;
        if (batch === null) continue;
        try {
          await this.#target.write(batch);
        } catch (error) {
          // The fan-out never rejects; a target that does must not stop us.
          this.#logger.error(
            'Error writing points in relay "{relay}": {error}',
            { relay: this.#name, error: (error as Error).message },
          );
        }
      }
    }
    if (receiver.error !== null) {
      this.#logger.error(
        'Error reading packet in relay "{relay}": {error}; the relay stopped reading',
        { relay: this.#name, error: receiver.error },
      );
    }
  }

  /** The batch to forward for one datagram, or null when nothing goes out. */
  #toBatch(
    data: Uint8Array,
    at: number,
    sources: readonly string[],
    source: number,
  ): WriteBatch | null {
    const counts = this.#counts;
    const { body, points, skipped, firstError } = normalizeLines(data, {
      precision: this.#precision,
      now: BigInt(Math.floor(at * 1000)) * 1000n,
      skipInvalid: true,
    });
    if (skipped > 0) {
      counts.linesInvalid += skipped;
      counts.datagramsWithInvalidLines++;
      const suppressed = this.#badLineThrottle.admit();
      if (suppressed >= 0) {
        this.#logger.warn(
          "Error parsing packet in relay \"{relay}\" from {source}: unable to parse '{line}': {reason}; left out {skipped} bad line(s), forwarded {points}{more}",
          {
            relay: this.#name,
            source: sources[source] ?? "unknown",
            line: firstError?.text ?? "",
            reason: firstError?.message ?? "",
            skipped,
            points,
            more: leftOutNote(suppressed),
            linesInvalid: counts.linesInvalid,
          },
        );
      }
      // The original forwards empty datagrams, but nothing of junk ones.
      if (points === 0) {
        counts.datagramsInvalid++;
        return null;
      }
    }
    counts.datagramsForwarded++;
    counts.linesForwarded += points;
    return { query: "", auth: null, body, points };
  }

  #checkDropped(): void {
    const dropped = this.#receiver.stats.datagramsDropped;
    if (dropped === this.#droppedSeen) return;
    const recent = dropped - this.#droppedSeen;
    this.#droppedSeen = dropped;
    const suppressed = this.#overflowThrottle.admit();
    if (suppressed < 0) return;
    this.#logger.warn(
      'UDP relay "{relay}" cannot keep up: dropped {recent} datagram(s) because its queue was full ({dropped} in all){more}',
      {
        relay: this.#name,
        recent,
        dropped,
        more: leftOutNote(suppressed),
      },
    );
  }
}
