/**
 * Delivers batches to one InfluxDB UDP listener: the body is cut into
 * datagrams of at most the output's `mtu` bytes, each made of whole lines
 * (spec §5), and sent from the relay's shared sending socket.
 *
 * @module
 */

import { lookup } from "node:dns/promises";
import type { Backend, BackendResult, WriteObserver } from "./backend.ts";
import type { WriteBatch } from "./batch.ts";
import type { Logger } from "./log.ts";
import { leftOutNote, LogThrottle } from "./log_throttle.ts";
import { splitByMtu } from "./mtu_split.ts";

/** Something that sends one datagram, such as a `Deno.DatagramConn`. */
export interface DatagramSender {
  /** Sends `data` as one datagram to `address`; resolves with the bytes sent. */
  send(data: Uint8Array, address: Deno.NetAddr): Promise<number>;
}

/**
 * Largest UDP payload over IPv4 (65535 - 8 - 20 bytes); larger datagrams
 * cannot be sent, so a larger `mtu` acts as this one.
 */
export const MAX_UDP_PAYLOAD = 65507;

/** Options for {@linkcode UdpBackend}. */
export interface UdpBackendOptions {
  /** Name used in logs (the output's `name`). */
  name: string;
  /** The relay's name, for logs. */
  relay: string;
  /** Where datagrams go, resolved (see {@linkcode resolveUdpLocation}). */
  address: Deno.NetAddr;
  /** The socket datagrams are sent from; shared by the relay's backends. */
  socket: DatagramSender;
  /** Where lines longer than the MTU are logged. */
  logger: Logger;
  /**
   * Largest payload per datagram in bytes; values above
   * {@linkcode MAX_UDP_PAYLOAD} act as it.
   * @default {1024}
   */
  mtu?: number;
  /**
   * Limits how often left-out lines are logged.
   * @default {a LogThrottle with its defaults}
   */
  logThrottle?: LogThrottle;
  /**
   * Told the outcome of every send (the output's health state).
   * @default null
   */
  observer?: WriteObserver | null;
}

/** Counters of one {@linkcode UdpBackend}, since it was created. */
export interface UdpBackendStats {
  /** Datagrams sent. */
  datagramsSent: number;
  /** Payload bytes sent. */
  bytesSent: number;
  /** Lines left out because each alone was longer than the MTU. */
  linesTooLong: number;
  /** Sends that failed (the rest of that write was not sent). */
  sendErrors: number;
}

const SENT: BackendResult = Object.freeze({ kind: "sent" });
const EMPTY = new Uint8Array(0);

/** Sends batches to one InfluxDB UDP listener, split by its MTU. */
export class UdpBackend implements Backend {
  readonly name: string;
  /** The resolved destination. */
  readonly address: Deno.NetAddr;
  /** The effective MTU. */
  readonly mtu: number;
  readonly #relay: string;
  readonly #socket: DatagramSender;
  readonly #logger: Logger;
  readonly #logThrottle: LogThrottle;
  readonly #observer: WriteObserver | null;
  readonly #pending = new Set<Promise<BackendResult>>();
  readonly #stats: UdpBackendStats = {
    datagramsSent: 0,
    bytesSent: 0,
    linesTooLong: 0,
    sendErrors: 0,
  };
  #closed = false;

  /**
   * @param options Destination, socket, MTU and logging.
   * @throws {RangeError} When `mtu` is not a positive integer.
   */
  constructor(options: UdpBackendOptions) {
    const {
      name,
      relay,
      address,
      socket,
      logger,
      mtu = 1024,
      logThrottle = new LogThrottle(),
      observer = null,
    } = options;
    if (!Number.isSafeInteger(mtu) || mtu < 1) {
      throw new RangeError(
        `Cannot send to UDP backend "${name}" as 'mtu' must be a positive integer: current value is ${mtu}`,
      );
    }
    this.name = name;
    this.address = address;
    this.mtu = Math.min(mtu, MAX_UDP_PAYLOAD);
    this.#relay = relay;
    this.#socket = socket;
    this.#logger = logger;
    this.#logThrottle = logThrottle;
    this.#observer = observer;
  }

  /** A copy of the counters. */
  get stats(): UdpBackendStats {
    return { ...this.#stats };
  }

  /**
   * Sends the batch's body as datagrams of at most {@linkcode mtu} bytes, in
   * order. Lines longer than the MTU are left out (counted and logged); an
   * empty body is sent as one empty datagram, as the original does.
   *
   * @param batch The write; only its body is used.
   * @returns `sent`, or a failure when a send failed.
   */
  write(batch: WriteBatch): Promise<BackendResult> {
    if (this.#closed) {
      return Promise.resolve({
        kind: "failure",
        error: new Error(
          `Cannot send to UDP backend "${this.name}": it is closed`,
        ),
      });
    }
    const sending = this.#send(batch.body);
    this.#pending.add(sending);
    sending.finally(() => this.#pending.delete(sending));
    return sending;
  }

  /** Waits for the sends in flight; the shared socket stays open. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#pending.size > 0) {
      await Promise.allSettled([...this.#pending]);
    }
  }

  async #send(body: Uint8Array): Promise<BackendResult> {
    if (body.length <= this.mtu) {
      return await this.#sendOne(body.length === 0 ? EMPTY : body);
    }
    const { chunks, tooLong, tooLongBytes } = splitByMtu(body, this.mtu);
    if (tooLong > 0) this.#reportTooLong(tooLong, tooLongBytes);
    for (const chunk of chunks) {
      const result = await this.#sendOne(chunk);
      if (result !== SENT) return result;
    }
    return SENT;
  }

  async #sendOne(datagram: Uint8Array): Promise<BackendResult> {
    try {
      this.#stats.bytesSent += await this.#socket.send(datagram, this.address);
      this.#stats.datagramsSent++;
      this.#observer?.observe(SENT);
      return SENT;
    } catch (error) {
      this.#stats.sendErrors++;
      const failure: BackendResult = {
        kind: "failure",
        error: new Error(
          `Cannot send to UDP backend "${this.name}" at ${
            formatAddress(this.address)
          }: ${(error as Error).message}`,
          { cause: error },
        ),
      };
      this.#observer?.observe(failure);
      return failure;
    }
  }

  #reportTooLong(lines: number, bytes: number): void {
    this.#stats.linesTooLong += lines;
    const suppressed = this.#logThrottle.admit();
    if (suppressed < 0) return;
    this.#logger.warn(
      'Error writing points in relay "{relay}" to backend "{backend}": payload larger than MTU: left out {lines} line(s) of {bytes} bytes longer than the mtu of {mtu} bytes; the other lines were sent{more}',
      {
        relay: this.#relay,
        backend: this.name,
        lines,
        bytes,
        mtu: this.mtu,
        more: leftOutNote(suppressed),
        linesTooLong: this.#stats.linesTooLong,
      },
    );
  }
}

/**
 * Formats an address as `host:port`, with brackets around IPv6 hosts.
 *
 * @param address The address.
 * @returns E.g. `127.0.0.1:8089` or `[::1]:8089`.
 */
export function formatAddress(address: Deno.NetAddr): string {
  return address.hostname.includes(":")
    ? `[${address.hostname}]:${address.port}`
    : `${address.hostname}:${address.port}`;
}

/**
 * Resolves an output's `location` (`host:port` or `[ipv6]:port`) once, as
 * the original does at start-up. Like Go's resolver for `"udp"`, an IPv4
 * address is preferred when the name has both; an empty host means this
 * machine.
 *
 * @param location The output's `location`.
 * @returns The address to send to.
 * @throws {Error} When the location is malformed or the host does not resolve.
 */
export async function resolveUdpLocation(
  location: string,
): Promise<Deno.NetAddr> {
  const colon = location.lastIndexOf(":");
  const port = Number(location.slice(colon + 1));
  let host = location.slice(0, Math.max(colon, 0));
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  if (colon < 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(
      `Cannot resolve UDP location "${location}": expected "host:port"`,
    );
  }
  if (host === "") host = "127.0.0.1";
  let addresses: { address: string; family: number }[];
  try {
    addresses = await lookup(host, { all: true });
  } catch (error) {
    throw new Error(
      `Cannot resolve UDP location "${location}": ${(error as Error).message}`,
      { cause: error },
    );
  }
  const chosen = addresses.find((a) => a.family === 4) ?? addresses[0];
  if (chosen === undefined) {
    throw new Error(
      `Cannot resolve UDP location "${location}": no address found`,
    );
  }
  return { transport: "udp", hostname: chosen.address, port };
}
