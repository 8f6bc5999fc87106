/**
 * An HTTP null sink for the benchmark: reads every request body in full,
 * counts its lines and answers 204. `GET /count` returns what it has seen as
 * JSON ({@linkcode SinkCounts}), including the number of distinct TCP
 * connections that sent writes, so connection reuse can be checked.
 *
 * Run as its own process so its CPU time is not the relay's:
 *
 * ```sh
 * deno run --allow-net bench/null_sink.ts   # prints {"port":…} once bound
 * ```
 *
 * @module
 */

/** What a null sink has received. */
export interface SinkCounts {
  /** Write requests (any path but `/count` and `/ping`). */
  requests: number;
  /** Lines (newline bytes) in all bodies. */
  lines: number;
  /** Body bytes. */
  bytes: number;
  /** Distinct client connections (remote address and port) that sent writes. */
  connections: number;
}

/** A running null sink. */
export interface NullSink extends AsyncDisposable {
  /** The loopback port it listens on. */
  readonly port: number;
  /** The counts so far. */
  counts(): SinkCounts;
}

/** Options for {@linkcode startNullSink}. */
export interface NullSinkOptions {
  /**
   * Port to bind on 127.0.0.1; 0 picks a free one.
   * @default 0
   */
  port?: number;
}

const LF = 0x0a;

function countLines(body: Uint8Array): number {
  let n = 0;
  let i = body.indexOf(LF);
  while (i >= 0) {
    n++;
    i = body.indexOf(LF, i + 1);
  }
  return n;
}

/**
 * Starts a null sink on 127.0.0.1.
 *
 * @param options The port.
 * @returns The sink, once it listens.
 */
export async function startNullSink(
  options: NullSinkOptions = {},
): Promise<NullSink> {
  const { port = 0 } = options;
  const counts: SinkCounts = {
    requests: 0,
    lines: 0,
    bytes: 0,
    connections: 0,
  };
  const peers = new Set<string>();
  const listening = Promise.withResolvers<number>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port,
    onListen: (addr) => listening.resolve(addr.port),
  }, async (request, info) => {
    const path = new URL(request.url).pathname;
    if (path === "/count") return Response.json(counts);
    if (path === "/ping") return new Response(null, { status: 204 });
    const body = await request.bytes();
    const peer = `${info.remoteAddr.hostname}:${info.remoteAddr.port}`;
    if (!peers.has(peer)) {
      peers.add(peer);
      counts.connections = peers.size;
    }
    counts.requests++;
    counts.bytes += body.length;
    counts.lines += countLines(body);
    return new Response(null, { status: 204 });
  });
  const bound = await listening.promise;
  return {
    port: bound,
    counts: () => ({ ...counts }),
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

async function main(): Promise<void> {
  const sink = await startNullSink();
  // deno-lint-ignore no-console
  console.log(JSON.stringify({ port: sink.port }));
  const { promise, resolve } = Promise.withResolvers<void>();
  Deno.addSignalListener("SIGTERM", resolve);
  Deno.addSignalListener("SIGINT", resolve);
  await promise;
  // Idle keep-alive connections from the relay would hold a graceful
  // shutdown open; the counts have been read by now.
  Deno.exit(0);
}

if (import.meta.main) await main();
