/**
 * The composition root: builds every listener, fan-out and backend from a
 * {@linkcode RelayConfig}, starts them, and stops them gracefully. The only
 * module that names the concrete listener and backend types.
 *
 * @module
 */

import type { Backend } from "./backend.ts";
import type {
  AdminConfig,
  HttpConfig,
  HttpOutputConfig,
  RelayConfig,
  UdpConfig,
} from "./config.ts";
import {
  createAdminHandler,
  createAdminListenerHandler,
} from "./admin_routes.ts";
import { BackendHealth } from "./backend_health.ts";
import { displayLocation } from "./backend_auth.ts";
import { HealthChecker } from "./health_checker.ts";
import { HttpListenerStats } from "./http_listener_stats.ts";
import { readProcessStats, readUdpKernelDrops } from "./process_stats.ts";
import type {
  BufferStatus,
  HttpListenerStatus,
  ListenerStatus,
  RelayStatus,
  UdpListenerStatus,
} from "./relay_status.ts";
import type { BatchQueue } from "./batch_queue.ts";
import { MemoryQueue } from "./memory_queue.ts";
import { RetryBuffer } from "./retry_buffer.ts";
import { SpoolQueue } from "./spool_queue.ts";
import { Fanout } from "./fanout.ts";
import { FetchBackend } from "./fetch_backend.ts";
import { HttpBackend } from "./http_backend.ts";
import { createHttpHandler, serveHttp } from "./http_listener.ts";
import { parsePrecision } from "./line_protocol.ts";
import { getRelayLogger } from "./log.ts";
import { LogThrottle } from "./log_throttle.ts";
import {
  formatAddress,
  resolveUdpLocation,
  UdpBackend,
  type UdpBackendStats,
} from "./udp_backend.ts";
import {
  listenUdp,
  type UdpListener,
  type UdpListenerStats,
} from "./udp_listener.ts";
import type { ReceiverThread } from "./udp_receiver.ts";

/** A relay part could not be started (bad TLS file, address in use, …). */
export class StartError extends Error {
  /**
   * @param message What failed, naming the listener.
   * @param options The underlying error.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StartError";
  }
}

/** A running HTTP listener, as tests and logs see it. */
export interface ListenerInfo {
  /** The listener's configured name. */
  readonly name: string;
  /** Base URL of the bound socket, e.g. `http://127.0.0.1:9096`. */
  readonly url: string;
}

export type { RelayStatus, UdpBackendStats, UdpListenerStats };

/** A running UDP listener with its counters, as tests and logs see it. */
export interface UdpListenerInfo {
  /** The listener's configured name. */
  readonly name: string;
  /** The bound address. */
  readonly addr: Deno.NetAddr;
  /** The listener's counters now. */
  readonly stats: UdpListenerStats;
  /** Each output's name and counters now, in config order. */
  readonly outputs: readonly {
    readonly name: string;
    readonly stats: UdpBackendStats;
  }[];
}

/** Options for {@linkcode startService}. */
export interface StartServiceOptions {
  /**
   * `User-Agent` sent to backends.
   * @default "influxdb-relay"
   */
  userAgent?: string;
  /**
   * How backends are written to: `node:http` keep-alive agents, or the
   * global `fetch` (kept for the benchmark's comparison; it refuses
   * `skip-tls-verification`).
   * @default "node-http"
   */
  sender?: "node-http" | "fetch";
  /**
   * Where UDP listeners read their sockets: each in a Worker of its own, or
   * on the main isolate (kept for loss comparisons).
   * @default "worker"
   */
  udpThread?: ReceiverThread;
  /**
   * Version reported by `/health`, `/status` and `/metrics`.
   * @default "relay"
   */
  version?: string;
}

/** An HTTP sender: writes, counts, and can be probed. */
type Sender = HttpBackend | FetchBackend;

/** One output of an HTTP relay with everything that watches it. */
interface RunningOutput {
  readonly config: HttpOutputConfig;
  readonly sender: Sender;
  /** The retry buffer around the sender, or `null`. */
  readonly buffer: RetryBuffer | null;
  readonly health: BackendHealth;
  /** The output's backend as the fan-out sees it (buffer or sender). */
  readonly backend: Backend;
}

interface RunningHttp {
  readonly info: ListenerInfo;
  readonly config: HttpConfig;
  readonly server: Deno.HttpServer<Deno.NetAddr>;
  readonly fanout: Fanout;
  readonly backends: readonly Backend[];
  readonly outputs: readonly RunningOutput[];
  readonly stats: HttpListenerStats;
  /** Probe loops; empty until the listener is up. */
  readonly checkers: HealthChecker[];
}

interface RunningUdp {
  readonly name: string;
  readonly listener: UdpListener;
  readonly fanout: Fanout;
  readonly backends: readonly UdpBackend[];
  /** Each output's health, in config order. */
  readonly healths: readonly BackendHealth[];
  /** Sending sockets, one per address family in use. */
  readonly sockets: readonly Deno.DatagramConn[];
}

interface RunningAdmin {
  readonly url: string;
  readonly server: Deno.HttpServer<Deno.NetAddr>;
}

/** Everything a service runs; filled as listeners start. */
interface Parts {
  readonly http: RunningHttp[];
  readonly udp: RunningUdp[];
  admin: RunningAdmin | null;
  readonly version: string;
  readonly startedAt: number;
}

/** What {@linkcode RelayService.stop} achieved. */
export interface StopResult {
  /** True when every request and backend write finished before the deadline. */
  readonly drained: boolean;
  /** Backend writes still running when the deadline passed. */
  readonly abandoned: number;
}

/** Every listener of one relay process. */
export class RelayService {
  readonly #parts: Parts;
  readonly #http: readonly RunningHttp[];
  readonly #udp: readonly RunningUdp[];
  #stopping: Promise<StopResult> | null = null;

  /**
   * @param parts The running listeners, the admin listener and the start time.
   */
  constructor(parts: Parts) {
    this.#parts = parts;
    this.#http = parts.http;
    this.#udp = parts.udp;
  }

  /** The HTTP listeners with their bound addresses. */
  get listeners(): readonly ListenerInfo[] {
    return this.#http.map((listener) => listener.info);
  }

  /** Base URL of the `[admin]` listener, or `null` when there is none. */
  get adminUrl(): string | null {
    return this.#parts.admin?.url ?? null;
  }

  /**
   * Takes a snapshot of every listener, output and the process, as
   * `/status` and `/metrics` report it.
   *
   * @returns The snapshot.
   */
  snapshot(): Promise<RelayStatus> {
    return takeSnapshot(this.#parts);
  }

  /** The UDP listeners with their bound addresses and counters. */
  get udpListeners(): readonly UdpListenerInfo[] {
    return this.#udp.map((udp) => ({
      name: udp.name,
      addr: udp.listener.addr,
      get stats() {
        return udp.listener.stats;
      },
      get outputs() {
        return udp.backends.map((b) => ({ name: b.name, stats: b.stats }));
      },
    }));
  }

  /**
   * Stops accepting, lets in-flight requests, queued UDP datagrams and
   * backend writes finish until the deadline, then closes backend
   * connections. Calling it again returns the first call's result.
   *
   * @param deadlineMs How long in-flight work may take.
   * @returns Whether everything finished in time.
   */
  stop(deadlineMs: number): Promise<StopResult> {
    this.#stopping ??= this.#stop(deadlineMs);
    return this.#stopping;
  }

  async #stop(deadlineMs: number): Promise<StopResult> {
    const logger = getRelayLogger("service");
    const started = performance.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<"deadline">((resolve) => {
      timer = setTimeout(() => resolve("deadline"), deadlineMs);
    });
    const relays = [...this.#http, ...this.#udp];
    // Probes stop first: closing backends is not an outage to log.
    await Promise.all(
      this.#http.flatMap((listener) => listener.checkers.map((c) => c.close())),
    );
    const work = (async () => {
      // UDP listeners stop reading and hand every queued datagram to their
      // fan-out before close() resolves.
      await Promise.all([
        ...this.#http.map((listener) => listener.server.shutdown()),
        ...this.#udp.map((udp) => udp.listener.close()),
        ...(this.#parts.admin === null
          ? []
          : [this.#parts.admin.server.shutdown()]),
      ]);
      await Promise.all(relays.map((relay) => relay.fanout.drain()));
      return "done" as const;
    })();
    const outcome = await Promise.race([work, deadline]);
    clearTimeout(timer);
    const abandoned = relays.reduce((n, r) => n + r.fanout.inFlight, 0);
    if (outcome === "deadline") {
      logger.warn(
        "Shutdown deadline of {deadlineMs}ms passed with {abandoned} backend writes unfinished",
        { deadlineMs, abandoned },
      );
      for (const relay of relays) {
        for (const backend of relay.backends) {
          void backend.close();
        }
      }
      for (const udp of this.#udp) closeSockets(udp.sockets);
      return { drained: false, abandoned };
    }
    // Retry buffers get the rest of the deadline for a last delivery.
    const rest = new AbortController();
    const left = Math.max(0, deadlineMs - (performance.now() - started));
    const restTimer = setTimeout(() => rest.abort(), left);
    await Promise.all(
      relays.flatMap((relay) =>
        relay.backends.map((b) => b.close(rest.signal))
      ),
    );
    clearTimeout(restTimer);
    for (const udp of this.#udp) closeSockets(udp.sockets);
    return { drained: true, abandoned: 0 };
  }
}

function closeSockets(sockets: readonly Deno.DatagramConn[]): void {
  for (const socket of sockets) {
    try {
      socket.close();
    } catch {
      // already closed
    }
  }
}

async function createOutputs(
  config: HttpConfig,
  options: StartServiceOptions,
): Promise<RunningOutput[]> {
  const logger = getRelayLogger("http", config.name);
  const outputs: RunningOutput[] = [];
  try {
    for (const output of config.outputs) {
      let buffer: RetryBuffer | null = null;
      const health = new BackendHealth({
        relay: config.name,
        backend: output.name,
        logger: getRelayLogger("backend", output.name),
        backlog: output.bufferSizeMb > 0
          ? () => buffer?.queue.length ?? 0
          : null,
      });
      const sender = createSender(output, options, health);
      if (output.bufferSizeMb > 0) {
        buffer = await createRetryBuffer(sender, output, config.name);
      }
      outputs.push({
        config: output,
        sender,
        buffer,
        health,
        backend: buffer ?? sender,
      });
    }
  } catch (error) {
    await Promise.all(outputs.map((output) => output.backend.close()));
    throw error;
  }
  logger.debug("Backends of relay {relay}: {backends}", {
    relay: config.name,
    backends: outputs.map((o) => o.config.name),
  });
  return outputs;
}

function createSender(
  output: HttpOutputConfig,
  options: StartServiceOptions,
  observer: BackendHealth,
): Sender {
  const backendOptions = {
    name: output.name,
    location: output.location,
    timeoutMs: output.timeoutMs,
    skipTlsVerification: output.skipTlsVerification,
    api: output.api,
    org: output.org,
    bucket: output.bucket,
    db: output.db,
    username: output.username,
    password: output.password,
    token: output.token,
    caCertFile: output.caCert,
    observer,
    ...(options.userAgent === undefined
      ? {}
      : { userAgent: options.userAgent }),
  };
  return options.sender === "fetch"
    ? new FetchBackend(backendOptions)
    : new HttpBackend(backendOptions);
}

/** Starts probing every output that has `health-check-interval` above 0. */
function startCheckers(outputs: readonly RunningOutput[]): HealthChecker[] {
  return outputs
    .filter((output) => output.config.healthCheckIntervalMs > 0)
    .map((output) =>
      new HealthChecker({
        probe: (signal) => output.sender.probe(signal),
        observer: output.health,
        intervalMs: output.config.healthCheckIntervalMs,
        timeoutMs: output.config.healthCheckTimeoutMs,
      })
    );
}

/** Wraps a sender in a retry buffer kept in memory or in a disk spool. */
async function createRetryBuffer(
  sender: Backend,
  output: HttpOutputConfig,
  relay: string,
): Promise<RetryBuffer> {
  const logger = getRelayLogger("backend", output.name);
  const maxBytes = output.bufferSizeMb * 1024 * 1024;
  let queue: BatchQueue;
  if (output.bufferPath === null) {
    queue = new MemoryQueue({
      maxBytes,
      fullPolicy: output.bufferFullPolicy,
      name: output.name,
    });
  } else {
    const dir = output.bufferPath;
    try {
      queue = await SpoolQueue.open({
        dir,
        maxBytes,
        fullPolicy: output.bufferFullPolicy,
        name: output.name,
        fsync: output.bufferFsync,
        onCorruption(info) {
          logger.error(
            'Spool of backend "{backend}": skipped a damaged record in {segment} at offset {offset}: {reason}',
            { backend: output.name, ...info },
          );
        },
      });
    } catch (error) {
      await sender.close();
      throw new StartError(
        `Cannot start HTTP relay "${relay}": cannot open the spool of backend "${output.name}" in "${dir}": ${
          (error as Error).message
        }`,
        { cause: error },
      );
    }
    const spool = queue as SpoolQueue;
    if (spool.truncatedBytes > 0) {
      logger.warn(
        'Spool of backend "{backend}": cut {bytes} bytes of a write torn by a crash (never acknowledged)',
        { backend: output.name, bytes: spool.truncatedBytes },
      );
    }
    if (queue.length > 0) {
      logger.info(
        'Spool of backend "{backend}" holds {writes} writes ({bytes} bytes) from before the restart: delivering them first',
        { backend: output.name, writes: queue.length, bytes: queue.bytes },
      );
    }
  }
  return new RetryBuffer(sender, {
    queue,
    logger,
    relay,
    maxBatchBytes: output.maxBatchKb * 1024,
    maxDelayMs: output.maxDelayIntervalMs,
    maxAgeMs: output.bufferMaxAgeMs,
    retryDatabaseNotFound: output.retryDatabaseNotFound,
  });
}

async function startHttp(
  config: HttpConfig,
  options: StartServiceOptions,
  snapshot: () => Promise<RelayStatus>,
): Promise<RunningHttp> {
  const logger = getRelayLogger("http", config.name);
  const scheme = config.sslCombinedPem === null ? "HTTP" : "HTTPS";
  let combinedPem: string | undefined;
  if (config.sslCombinedPem !== null) {
    try {
      combinedPem = await Deno.readTextFile(config.sslCombinedPem);
    } catch (error) {
      throw new StartError(
        `Cannot start HTTPS relay "${config.name}": cannot read ssl-combined-pem "${config.sslCombinedPem}": ${
          (error as Error).message
        }`,
        { cause: error },
      );
    }
  }
  const outputs = await createOutputs(config, options);
  const backends = outputs.map((output) => output.backend);
  const fanout = new Fanout(backends, {
    relay: config.name,
    logger,
    ack: config.ack,
    ackTimeoutMs: config.ackTimeoutMs,
    ackMemoryBuffer: config.ackMemoryBuffer,
  });
  const stats = new HttpListenerStats();
  const handler = createHttpHandler(fanout, {
    name: config.name,
    logger,
    defaultRetentionPolicy: config.defaultRetentionPolicy,
    stats,
    admin: config.adminEndpoints
      ? createAdminHandler({ snapshot, relay: config.name })
      : null,
  });
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = serveHttp(handler, {
      hostname: config.bind.hostname,
      port: config.bind.port,
      ...(combinedPem === undefined ? {} : { combinedPem }),
    });
  } catch (error) {
    await Promise.all(backends.map((backend) => backend.close()));
    throw new StartError(
      `Cannot start ${scheme} relay "${config.name}" on "${config.bindAddr}": ${
        (error as Error).message
      }`,
      { cause: error },
    );
  }
  const addr = server.addr;
  const host = addr.hostname.includes(":")
    ? `[${addr.hostname}]`
    : addr.hostname;
  const url = `${scheme.toLowerCase()}://${host}:${addr.port}`;
  logger.info(`Starting ${scheme} relay "{relay}" on {address}`, {
    relay: config.name,
    address: `${host}:${addr.port}`,
    outputs: config.outputs.map((output) => output.name),
  });
  return {
    info: { name: config.name, url },
    config,
    server,
    fanout,
    backends,
    outputs,
    stats,
    checkers: startCheckers(outputs),
  };
}

/** The original's log line for a failed UDP send. */
const UDP_FAILURE_MESSAGE =
  'Error writing points in relay "{relay}" to backend "{backend}": {error}';

const RMEM_DEFAULT = "/proc/sys/net/core/rmem_default";

/**
 * The socket receive buffer a UDP listener gets: Deno cannot set SO_RCVBUF
 * (`Deno.listenDatagram` has no such option and `node:dgram`'s
 * `recvBufferSize` has no effect), so it is always the kernel's default.
 *
 * @returns `net.core.rmem_default` in bytes, or why it cannot be read (Deno
 * lets a process read `/proc/sys` only with `--allow-all`).
 */
async function defaultReceiveBuffer(): Promise<number | string> {
  try {
    const text = await Deno.readTextFile(RMEM_DEFAULT);
    const bytes = Number(text.trim());
    return Number.isSafeInteger(bytes)
      ? bytes
      : `${RMEM_DEFAULT} is not a number`;
  } catch (error) {
    return error instanceof Deno.errors.NotCapable
      ? `Deno reads ${RMEM_DEFAULT} only with --allow-all; see 'sysctl net.core.rmem_default'`
      : `cannot read ${RMEM_DEFAULT}: ${(error as Error).message}`;
  }
}

async function startUdp(
  config: UdpConfig,
  options: StartServiceOptions,
): Promise<RunningUdp> {
  const logger = getRelayLogger("udp", config.name);
  const addresses: Deno.NetAddr[] = [];
  for (const output of config.outputs) {
    try {
      addresses.push(await resolveUdpLocation(output.location));
    } catch (error) {
      throw new StartError(
        `Cannot start UDP relay "${config.name}": output "${output.name}": ${
          (error as Error).message
        }`,
        { cause: error },
      );
    }
  }
  // One unconnected sending socket per address family, shared by the
  // relay's outputs, as the original's single socket (all backends see the
  // same source port).
  const sockets = new Map<string, Deno.DatagramConn>();
  const healths = config.outputs.map((output) =>
    new BackendHealth({
      relay: config.name,
      backend: output.name,
      logger: getRelayLogger("backend", output.name),
    })
  );
  let listener: UdpListener;
  let backends: UdpBackend[];
  let fanout: Fanout;
  try {
    backends = config.outputs.map((output, index) => {
      const address = addresses[index]!;
      const family = address.hostname.includes(":") ? "::" : "0.0.0.0";
      let socket = sockets.get(family);
      if (socket === undefined) {
        socket = Deno.listenDatagram({
          transport: "udp",
          hostname: family,
          port: 0,
        });
        sockets.set(family, socket);
      }
      return new UdpBackend({
        name: output.name,
        relay: config.name,
        address,
        socket,
        logger,
        mtu: output.mtu,
        observer: healths[index]!,
      });
    });
    fanout = new Fanout(backends, {
      relay: config.name,
      logger,
      failureMessage: UDP_FAILURE_MESSAGE,
      logThrottle: new LogThrottle(),
    });
    listener = await listenUdp(fanout, {
      name: config.name,
      logger,
      hostname: config.bind.hostname,
      port: config.bind.port,
      precision: parsePrecision(config.precision),
      ...(options.udpThread === undefined ? {} : { thread: options.udpThread }),
    });
  } catch (error) {
    closeSockets([...sockets.values()]);
    throw new StartError(
      `Cannot start UDP relay "${config.name}" on "${config.bindAddr}": ${
        (error as Error).message
      }`,
      { cause: error },
    );
  }
  const receiveBuffer = await defaultReceiveBuffer();
  if (config.readBuffer > 0) {
    logger.warn(
      'UDP relay "{relay}": read-buffer = {readBuffer} cannot be applied (Deno cannot set a socket\'s receive buffer); the socket gets the system default net.core.rmem_default{effective}: raise that with sysctl instead',
      {
        relay: config.name,
        readBuffer: config.readBuffer,
        effective: typeof receiveBuffer === "number"
          ? ` of ${receiveBuffer} bytes`
          : ` (size unknown: ${receiveBuffer})`,
      },
    );
  }
  logger.info('Starting UDP relay "{relay}" on {address}', {
    relay: config.name,
    address: formatAddress(listener.addr),
    outputs: config.outputs.map((output, index) =>
      `${output.name} (${formatAddress(addresses[index]!)}, mtu ${
        backends[index]!.mtu
      })`
    ),
    receiveBufferBytes: typeof receiveBuffer === "number"
      ? receiveBuffer
      : null,
  });
  return {
    name: config.name,
    listener,
    fanout,
    backends,
    healths,
    sockets: [...sockets.values()],
  };
}

function startAdmin(
  config: AdminConfig,
  snapshot: () => Promise<RelayStatus>,
): RunningAdmin {
  const logger = getRelayLogger("service");
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = serveHttp(createAdminListenerHandler({ snapshot }), {
      hostname: config.bind.hostname,
      port: config.bind.port,
    });
  } catch (error) {
    throw new StartError(
      `Cannot start the admin listener on "${config.bindAddr}": ${
        (error as Error).message
      }`,
      { cause: error },
    );
  }
  const addr = server.addr;
  const host = addr.hostname.includes(":")
    ? `[${addr.hostname}]`
    : addr.hostname;
  logger.info(
    "Starting admin listener (/health, /status, /metrics) on {address}",
    { address: `${host}:${addr.port}` },
  );
  return { url: `http://${host}:${addr.port}`, server };
}

function bufferStatus(
  buffer: RetryBuffer,
  config: HttpOutputConfig,
): BufferStatus {
  const { queue, stats } = buffer;
  return {
    durable: queue.durable,
    capacityBytes: config.bufferSizeMb * 1024 * 1024,
    queuedBytes: queue.bytes,
    queuedBatches: queue.length,
    oldestQueuedAt: queue.oldestAcceptedAt,
    enqueued: stats.queued,
    delivered: stats.delivered,
    retries: stats.retries,
    dropped: { ...stats.dropped },
    droppedPoints: stats.droppedPoints,
  };
}

function httpStatus(running: RunningHttp): HttpListenerStatus {
  return {
    kind: "http",
    name: running.config.name,
    url: running.info.url,
    adminEndpoints: running.config.adminEndpoints,
    stats: running.stats.snapshot(),
    outputs: running.outputs.map((output) => ({
      kind: "http",
      name: output.config.name,
      location: displayLocation(output.config.location),
      api: output.config.api,
      health: output.health.snapshot(),
      probe: output.config.healthCheckIntervalMs > 0
        ? {
          intervalMs: output.config.healthCheckIntervalMs,
          timeoutMs: output.config.healthCheckTimeoutMs,
        }
        : null,
      writes: output.sender.stats.snapshot(),
      buffer: output.buffer === null
        ? null
        : bufferStatus(output.buffer, output.config),
      acceptsWhileDown: output.buffer !== null &&
        (output.buffer.queue.durable || running.config.ackMemoryBuffer),
    })),
  };
}

function udpStatus(
  running: RunningUdp,
  kernelDrops: Map<number, number> | null,
): UdpListenerStatus {
  const stats = running.listener.stats;
  return {
    kind: "udp",
    name: running.name,
    address: formatAddress(running.listener.addr),
    ...stats,
    kernelDrops: kernelDrops?.get(running.listener.addr.port) ?? null,
    outputs: running.backends.map((backend, index) => ({
      kind: "udp",
      name: backend.name,
      location: formatAddress(backend.address),
      health: running.healths[index]!.snapshot(),
      mtu: backend.mtu,
      ...backend.stats,
    })),
  };
}

async function takeSnapshot(parts: Parts): Promise<RelayStatus> {
  const [process, kernelDrops] = await Promise.all([
    readProcessStats(),
    parts.udp.length === 0
      ? Promise.resolve(null)
      : readUdpKernelDrops(parts.udp.map((u) => u.listener.addr.port)),
  ]);
  const listeners: ListenerStatus[] = [
    ...parts.http.map(httpStatus),
    ...parts.udp.map((udp) => udpStatus(udp, kernelDrops)),
  ];
  return {
    version: parts.version,
    now: Date.now(),
    startedAt: parts.startedAt,
    listeners,
    process,
  };
}

/**
 * Starts every listener of the config. When one cannot start, those already
 * started are stopped again and the error is thrown.
 *
 * @param config A validated config.
 * @param options Settings that do not come from the config file.
 * @returns The running service.
 * @throws {StartError} When a listener cannot be started or a UDP output's
 * location does not resolve.
 */
export async function startService(
  config: RelayConfig,
  options: StartServiceOptions = {},
): Promise<RelayService> {
  const parts: Parts = {
    http: [],
    udp: [],
    admin: null,
    version: options.version ?? "relay",
    startedAt: Date.now(),
  };
  const snapshot = () => takeSnapshot(parts);
  try {
    for (const listener of config.http) {
      parts.http.push(await startHttp(listener, options, snapshot));
    }
    for (const listener of config.udp) {
      parts.udp.push(await startUdp(listener, options));
    }
    if (config.admin !== null) {
      parts.admin = startAdmin(config.admin, snapshot);
    }
  } catch (error) {
    await new RelayService(parts).stop(1000);
    throw error;
  }
  return new RelayService(parts);
}
