/**
 * A recording UDP backend for tests: a socket on a loopback port that keeps
 * every datagram it receives (payload and sender), standing in for an
 * InfluxDB UDP listener.
 *
 * @module
 */

import { waitFor } from "./_wait.ts";

/** One datagram as the sink received it. */
export interface RecordedDatagram {
  /** The payload. */
  data: Uint8Array;
  /** The payload decoded as UTF-8. */
  text: string;
  /** Who sent it. */
  from: Deno.NetAddr;
}

/** A running recording sink; dispose it (or call `close()`) to stop it. */
export interface UdpSink extends AsyncDisposable {
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** `127.0.0.1:<port>`, for an output's `location`. */
  readonly location: string;
  /** Every datagram received so far, in arrival order (live array). */
  readonly datagrams: RecordedDatagram[];
  /** The payloads received so far as text. */
  texts(): string[];
  /**
   * Waits until at least `n` datagrams have arrived.
   *
   * @throws {Error} When they have not within `timeoutMs` (default 5000).
   */
  waitForDatagrams(n: number, timeoutMs?: number): Promise<void>;
  /** Stops receiving and closes the socket. */
  close(): Promise<void>;
}

/**
 * Starts a recording UDP sink on 127.0.0.1, on a free port.
 *
 * @returns The running sink.
 */
export function startUdpSink(): UdpSink {
  const conn = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const port = (conn.addr as Deno.NetAddr).port;
  const datagrams: RecordedDatagram[] = [];
  const decoder = new TextDecoder();
  const loop = (async () => {
    while (true) {
      let data: Uint8Array;
      let from: Deno.Addr;
      try {
        [data, from] = await conn.receive();
      } catch {
        return; // closed
      }
      datagrams.push({
        data: data.slice(),
        text: decoder.decode(data),
        from: from as Deno.NetAddr,
      });
    }
  })();
  let closed: Promise<void> | null = null;
  return {
    port,
    location: `127.0.0.1:${port}`,
    datagrams,
    texts: () => datagrams.map((d) => d.text),
    waitForDatagrams(n, timeoutMs = 5000) {
      return waitFor(() => datagrams.length >= n, {
        timeoutMs,
        message: () =>
          `${n} datagrams on sink ${port} (got ${datagrams.length})`,
      });
    },
    close() {
      closed ??= (async () => {
        conn.close();
        await loop;
      })();
      return closed;
    },
    [Symbol.asyncDispose]() {
      return this.close();
    },
  };
}
