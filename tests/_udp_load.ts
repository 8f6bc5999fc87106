/**
 * UDP load helpers for tests and benchmarks: counting sinks (UDP sockets
 * that count the datagrams and lines they receive), a paced sender, and the
 * kernel's per-socket drop counter. Also a command line, so that a benchmark
 * can run sinks and sender in processes of their own:
 *
 * ```sh
 * # two sinks; prints {"ports":[…]} and, once stdin closes, the counts as JSON
 * deno run -A tests/_udp_load.ts sink 2
 * # 60 000 datagrams of 5 lines at 20 000 a second to 127.0.0.1:9096;
 * # prints {"sent":…,"seconds":…,"lines":…}
 * deno run -A tests/_udp_load.ts send 9096 20000 60000 5
 * ```
 *
 * @module
 */

/** What one counting sink received. */
export interface SinkCounts {
  /** The sink's UDP port on 127.0.0.1. */
  port: number;
  /** Datagrams received. */
  datagrams: number;
  /** Payload bytes received. */
  bytes: number;
  /** `\n` bytes received, i.e. lines when every line ends with one. */
  lines: number;
  /** Datagrams the kernel dropped because the socket buffer was full. */
  kernelDrops: number | null;
}

/** UDP sockets on 127.0.0.1 that count what they receive. */
export interface CountingSinks extends AsyncDisposable {
  /** Ports, one per sink. */
  readonly ports: readonly number[];
  /** Counts so far, one per sink. */
  counts(): Promise<SinkCounts[]>;
  /** Stops reading and closes the sockets. */
  close(): Promise<void>;
}

/**
 * Starts `n` counting sinks on 127.0.0.1, each on a free port.
 *
 * @param n How many sinks.
 * @returns The running sinks.
 */
export function startCountingSinks(n: number): CountingSinks {
  const conns = Array.from(
    { length: n },
    () =>
      Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 }),
  );
  const ports = conns.map((conn) => (conn.addr as Deno.NetAddr).port);
  const tallies = conns.map(() => ({ datagrams: 0, bytes: 0, lines: 0 }));
  const loops = conns.map(async (conn, index) => {
    const buffer = new Uint8Array(65536);
    const tally = tallies[index]!;
    while (true) {
      let data: Uint8Array;
      try {
        [data] = await conn.receive(buffer);
      } catch {
        return; // closed
      }
      tally.datagrams++;
      tally.bytes += data.length;
      for (let at = data.indexOf(10); at >= 0; at = data.indexOf(10, at + 1)) {
        tally.lines++;
      }
    }
  });
  let closed: Promise<void> | null = null;
  return {
    ports,
    async counts() {
      const drops = await kernelDrops(ports);
      return tallies.map((tally, index) => ({
        port: ports[index]!,
        ...tally,
        kernelDrops: drops[index] ?? null,
      }));
    },
    close() {
      closed ??= (async () => {
        for (const conn of conns) conn.close();
        await Promise.all(loops);
      })();
      return closed;
    },
    [Symbol.asyncDispose]() {
      return this.close();
    },
  };
}

/**
 * Reads the kernel's drop counters of the UDP sockets bound to these ports
 * on 127.0.0.1 (the last column of `/proc/net/udp`).
 *
 * @param ports Local ports.
 * @returns One count per port; `null` where the socket is not found or
 * `/proc` cannot be read.
 */
export async function kernelDrops(
  ports: readonly number[],
): Promise<(number | null)[]> {
  let table: string;
  try {
    table = await Deno.readTextFile("/proc/net/udp");
  } catch {
    return ports.map(() => null);
  }
  const byPort = new Map<number, number>();
  for (const line of table.split("\n").slice(1)) {
    const columns = line.trim().split(/\s+/);
    const local = columns[1];
    const drops = columns.at(-1);
    if (local === undefined || drops === undefined) continue;
    const port = parseInt(local.slice(local.indexOf(":") + 1), 16);
    byPort.set(port, (byPort.get(port) ?? 0) + Number(drops));
  }
  return ports.map((port) => byPort.get(port) ?? null);
}

/** Options for {@linkcode sendPaced}. */
export interface SendPacedOptions {
  /** Destination port on `hostname`. */
  port: number;
  /**
   * Destination host.
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /** Datagrams per second. */
  rate: number;
  /** Datagrams to send. */
  count: number;
  /**
   * Lines per datagram (Telegraf-like, half of them without a timestamp).
   * @default {5}
   */
  linesPerDatagram?: number;
  /** Stops sending early. */
  signal?: AbortSignal;
}

/** What {@linkcode sendPaced} did. */
export interface SendPacedResult {
  /** Datagrams sent. */
  sent: number;
  /** Lines sent. */
  lines: number;
  /** Seconds from the first send to the last. */
  seconds: number;
}

/**
 * Builds 16 different datagrams of `lines` Telegraf-like lines each; odd
 * lines carry a timestamp, even ones do not (the relay fills it in).
 *
 * @param lines Lines per datagram.
 * @returns The payloads.
 */
export function loadPayloads(lines: number): Uint8Array[] {
  const encoder = new TextEncoder();
  return Array.from({ length: 16 }, (_, k) =>
    encoder.encode(
      Array.from(
        { length: lines },
        (_, j) =>
          `cpu,host=server${k},region=eu-west-${j} usage_idle=${
            98.5 + j
          },usage_user=1.${k},uptime=${k * 1000 + j}i${
            j % 2 === 1 ? ` ${1_700_000_000_000_000_000n + BigInt(j)}` : ""
          }\n`,
      ).join(""),
    ));
}

/**
 * Sends `count` datagrams to `port` at `rate` a second, as evenly as the
 * event loop allows (it catches up after a pause rather than skipping).
 *
 * @param options Destination, rate, count and payload shape.
 * @returns How many were sent and how long it took.
 */
export async function sendPaced(
  options: SendPacedOptions,
): Promise<SendPacedResult> {
  const {
    port,
    hostname = "127.0.0.1",
    rate,
    count,
    linesPerDatagram = 5,
    signal,
  } = options;
  const payloads = loadPayloads(linesPerDatagram);
  const address: Deno.NetAddr = { transport: "udp", hostname, port };
  const conn = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const start = performance.now();
  let sent = 0;
  try {
    while (sent < count && !signal?.aborted) {
      const due = Math.min(
        count,
        Math.floor((performance.now() - start) / 1000 * rate),
      );
      if (due <= sent) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        continue;
      }
      while (sent < due) {
        await conn.send(payloads[sent & 15]!, address);
        sent++;
      }
    }
  } finally {
    conn.close();
  }
  return {
    sent,
    lines: sent * linesPerDatagram,
    seconds: (performance.now() - start) / 1000,
  };
}

async function main(args: string[]): Promise<void> {
  const [command, ...rest] = args;
  if (command === "sink") {
    await using sinks = startCountingSinks(Number(rest[0] ?? 1));
    // deno-lint-ignore no-console
    console.log(JSON.stringify({ ports: sinks.ports }));
    // Runs until stdin closes, then reports.
    for await (const _ of Deno.stdin.readable) {
      // ignore input
    }
    // deno-lint-ignore no-console
    console.log(JSON.stringify({ sinks: await sinks.counts() }));
  } else if (command === "send") {
    const [port, rate, count, lines] = rest.map(Number);
    const result = await sendPaced({
      port: port!,
      rate: rate!,
      count: count!,
      ...(lines === undefined ? {} : { linesPerDatagram: lines }),
    });
    // deno-lint-ignore no-console
    console.log(JSON.stringify(result));
  } else {
    // deno-lint-ignore no-console
    console.error(
      "usage: _udp_load.ts sink <n> | send <port> <rate> <count> [lines]",
    );
    Deno.exit(2);
  }
}

if (import.meta.main) {
  await main(Deno.args);
}
