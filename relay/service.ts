/**
 * The composition root: builds every listener, fan-out and backend from a
 * {@linkcode RelayConfig}, starts them, and stops them gracefully. The only
 * module that names the concrete listener and backend types.
 *
 * @module
 */

import { dirname } from "node:path";
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
import { displayLocation, readCaCert } from "./backend_auth.ts";
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
import {
  createHttpHandler,
  type HttpHandler,
  type HttpHandlerOptions,
  serveHttp,
} from "./http_listener.ts";
import { Admission } from "./admission.ts";
import { ClientAuth, parseCredentialFile } from "./client_auth.ts";
import { planReload, sameConfig } from "./reload_plan.ts";
import { QueryClient } from "./query_client.ts";
import { QueryProxy } from "./query_proxy.ts";
import type { QueryTarget } from "./query_target.ts";
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
  /** Its `/query`, or `null` with `query = false`. */
  readonly queries: RunningQueries | null;
  /** What the server's requests go to; a reload swaps `handle`. */
  readonly route: Route;
  /** This pipeline's requests in progress. */
  readonly requests: RequestTracker;
  /** The TLS material being served, or `null` for plain HTTP. */
  readonly tls: TlsMaterial | null;
}

/** The request handler a listener's socket calls, swapped on reload. */
interface Route {
  handle: HttpHandler;
}

/** An HTTPS listener's certificate chain and key, as read from its files. */
interface TlsMaterial {
  readonly cert: string;
  readonly key: string;
}

/** The `/query` of one HTTP relay. */
interface RunningQueries {
  readonly proxy: QueryProxy;
  /** Stops replaying queued statements and closes query connections. */
  close(): Promise<void>;
}

interface RunningUdp {
  readonly name: string;
  readonly config: UdpConfig;
  readonly listener: UdpListener;
  readonly fanout: Fanout;
  readonly backends: readonly UdpBackend[];
  /** Each output's health, in config order. */
  readonly healths: readonly BackendHealth[];
  /** Sending sockets, one per address family in use. */
  readonly sockets: readonly Deno.DatagramConn[];
}

interface RunningAdmin {
  readonly config: AdminConfig;
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
  /** How the service was started, for listeners a reload starts. */
  readonly options: StartServiceOptions;
}

/** What {@linkcode RelayService.stop} achieved. */
export interface StopResult {
  /** True when every request and backend write finished before the deadline. */
  readonly drained: boolean;
  /** Backend writes still running when the deadline passed. */
  readonly abandoned: number;
  /** Writes left in memory retry buffers, lost with the process. */
  readonly lostWrites: number;
  /** Writes left in disk spools, delivered after the next start. */
  readonly keptWrites: number;
}

/** Every listener of one relay process. */
export class RelayService {
  readonly #parts: Parts;
  readonly #http: readonly RunningHttp[];
  readonly #udp: readonly RunningUdp[];
  #stopping: Promise<StopResult> | null = null;
  /** The reload in progress (reloads run one at a time). */
  #reloading: Promise<void> = Promise.resolve();
  /** Outputs a reload removed, still delivering what they hold. */
  readonly #retiring = new Set<RunningOutput>();
  /** Old pipelines of reloaded listeners, finishing their requests. */
  readonly #background = new Set<Promise<void>>();
  /** Aborted when the service stops: retiring outputs stop waiting. */
  readonly #stopSignal = new AbortController();

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
   * Applies a new config to the running relay (SIGHUP). What changes is
   * decided by {@linkcode planReload}: an HTTP listener keeps its socket and
   * open connections unless its address or TLS files changed; an output
   * with unchanged settings is kept with its retry buffer, spool and
   * health; a changed or removed output is retired: it gets no new writes,
   * delivers what it holds, then closes (a new output on the same
   * `buffer-path` takes its spool over instead). Requests in progress finish
   * with the settings they started with. Reloads run one at a time.
   *
   * @param config The new, validated config.
   * @returns What changed, and what could not be applied.
   * @throws {ReloadError} When a file the new config names (TLS, auth-file)
   * cannot be read or a UDP output's location does not resolve: then
   * nothing is changed.
   */
  reload(config: RelayConfig): Promise<ReloadResult> {
    const run = this.#reloading.then(() => this.#reload(config));
    this.#reloading = run.then(() => {}, () => {});
    return run;
  }

  async #reload(next: RelayConfig): Promise<ReloadResult> {
    if (this.#stopping !== null) {
      throw new ReloadError("Cannot reload the config: the relay is stopping");
    }
    const parts = this.#parts;
    const running: RelayConfig = {
      http: parts.http.map((listener) => listener.config),
      udp: parts.udp.map((udp) => udp.config),
      admin: parts.admin?.config ?? null,
    };
    const tlsChanged = new Set<string>();
    for (const listener of parts.http) {
      if (listener.tls === null) continue;
      const now = await readTls(listener.config).catch(() => null);
      if (
        now === null || now.cert !== listener.tls.cert ||
        now.key !== listener.tls.key
      ) {
        tlsChanged.add(listener.config.name);
      }
    }
    const plan = planReload(running, next, { tlsChanged });
    const changes: string[] = [];
    const failures: string[] = [];
    if (plan.unchanged) return { changes, failures };

    // Whatever can fail because of a file or a name fails here, before
    // anything changes.
    try {
      for (const entry of plan.http) {
        if (entry.config === null) continue;
        if (entry.action !== "keep") await readTls(entry.config);
        await readGuards(entry.config);
      }
      for (const entry of plan.udp) {
        if (entry.action !== "start" && entry.action !== "restart") continue;
        await resolveUdpOutputs(entry.config!);
      }
    } catch (error) {
      throw new ReloadError(
        `Cannot reload the config: ${(error as Error).message}`,
        { cause: error },
      );
    }

    const snapshot = () => takeSnapshot(parts);
    const { options } = parts;
    for (const entry of plan.http) {
      const index = parts.http.findIndex((h) => h.config.name === entry.name);
      const old = index < 0 ? null : parts.http[index]!;
      const config = entry.config;
      if (entry.action === "start" && config !== null) {
        try {
          parts.http.push(await startHttp(config, options, snapshot));
          changes.push(`HTTP relay "${entry.name}" started`);
        } catch (error) {
          failures.push((error as Error).message);
        }
        continue;
      }
      if (old === null) continue;
      if (entry.action === "stop" || config === null) {
        parts.http.splice(index, 1);
        this.#retirePipeline(old, old.outputs, old.server.shutdown());
        changes.push(`HTTP relay "${entry.name}" stopped`);
        continue;
      }
      // Untouched by the new file: nothing to rebuild (unless it reads an
      // auth-file, whose lines a reload reads again).
      const untouched = entry.action === "keep" &&
        sameConfig(old.config, config);
      if (untouched && config.authFile === null) continue;
      const kept = entry.outputs.map((i) =>
        i === null ? null : old.outputs[i]!
      );
      let retired = entry.retired.map((i) => old.outputs[i]!);
      // A new output on a retired output's spool directory takes the spool
      // over: the retired buffer stops, its writes stay on disk for the new
      // one.
      const takenOver = retired.filter((output) =>
        output.config.bufferPath !== null &&
        config.outputs.some((o, i) =>
          kept[i] === null && o.bufferPath === output.config.bufferPath
        )
      );
      for (const output of takenOver) {
        await output.backend.close(AbortSignal.abort());
      }
      retired = retired.filter((output) => !takenOver.includes(output));
      const rebind = entry.action === "rebind";
      const sameAddress = rebind &&
        old.config.bind.hostname === config.bind.hostname &&
        old.config.bind.port === config.bind.port && config.bind.port !== 0;
      // The address must be free before it can be bound again.
      let closing: Promise<void> | null = sameAddress
        ? old.server.shutdown()
        : null;
      let replacement: RunningHttp;
      try {
        replacement = await startHttp(
          config,
          options,
          snapshot,
          rebind
            ? { outputs: kept, bindRetryMs: sameAddress ? 5000 : 0 }
            : { outputs: kept, socket: old },
        );
      } catch (error) {
        failures.push((error as Error).message);
        if (sameAddress) {
          parts.http.splice(index, 1);
          this.#retirePipeline(old, old.outputs, closing);
        }
        continue;
      }
      parts.http[index] = replacement;
      await Promise.all(old.checkers.map((checker) => checker.close()));
      if (rebind && !sameAddress) closing = old.server.shutdown();
      this.#retirePipeline(old, retired, closing);
      const names = (list: readonly RunningOutput[]) =>
        list.map((o) => `"${o.config.name}"`).join(", ") || "none";
      if (untouched) {
        changes.push(
          `HTTP relay "${entry.name}" read auth-file "${config.authFile}" again`,
        );
        continue;
      }
      changes.push(
        `HTTP relay "${entry.name}" ${
          rebind ? `moved to ${replacement.info.url}` : "updated"
        } (outputs kept: ${names(kept.filter((o) => o !== null))}; started: ${
          names(replacement.outputs.filter((o) => !kept.includes(o)))
        }; retired: ${names([...retired, ...takenOver])})`,
      );
    }

    for (const entry of plan.udp) {
      if (entry.action === "keep") continue;
      const index = parts.udp.findIndex((u) => u.name === entry.name);
      if (index >= 0) {
        const [old] = parts.udp.splice(index, 1);
        await stopUdp(old!);
      }
      if (entry.config === null) {
        changes.push(`UDP relay "${entry.name}" stopped`);
        continue;
      }
      try {
        const started = await startUdp(entry.config, options);
        parts.udp.splice(index < 0 ? parts.udp.length : index, 0, started);
        changes.push(`UDP relay "${entry.name}" ${entry.action}ed`);
      } catch (error) {
        failures.push((error as Error).message);
      }
    }

    const admin = plan.admin;
    if (admin.action !== "keep" && admin.action !== "none") {
      if (parts.admin !== null) {
        await parts.admin.server.shutdown();
        parts.admin = null;
      }
      if (admin.config !== null) {
        try {
          parts.admin = startAdmin(admin.config, snapshot);
        } catch (error) {
          failures.push((error as Error).message);
        }
      }
      changes.push(
        `admin listener ${
          admin.action === "stop" ? "stopped" : `${admin.action}ed`
        }`,
      );
    }
    return { changes, failures };
  }

  /**
   * Lets a replaced pipeline finish: once its socket is closed (when it
   * is being closed) and its requests and backend writes are done, the
   * outputs no longer in use are retired.
   */
  #retirePipeline(
    old: RunningHttp,
    retired: readonly RunningOutput[],
    closing: Promise<void> | null,
  ): void {
    const task = (async () => {
      await closing;
      await old.requests.idle();
      await old.fanout.drain();
      await Promise.all(old.checkers.map((checker) => checker.close()));
      if (old.queries !== null) {
        // Statements queued for a down backend are still replayed by the
        // old /query until they are through (or the relay stops).
        await Promise.race([
          old.queries.proxy.settled(),
          whenAborted(this.#stopSignal.signal),
        ]);
        await old.queries.close();
      }
      for (const output of retired) this.#retire(output);
    })();
    this.#background.add(task);
    void task.finally(() => this.#background.delete(task));
  }

  /**
   * An output that gets no more writes delivers what its retry buffer
   * holds, then closes; at shutdown it is closed with the others.
   */
  #retire(output: RunningOutput): void {
    this.#retiring.add(output);
    void (async () => {
      const signal = this.#stopSignal.signal;
      const buffer = output.buffer;
      while (buffer !== null && buffer.queue.length > 0 && !signal.aborted) {
        await abortableSleep(250, signal);
      }
      if (signal.aborted) return;
      this.#retiring.delete(output);
      await output.backend.close();
    })();
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
    this.#stopSignal.abort();
    await this.#reloading;
    const started = performance.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<"deadline">((resolve) => {
      timer = setTimeout(() => resolve("deadline"), deadlineMs);
    });
    const relays = [...this.#http, ...this.#udp];
    const retiring = [...this.#retiring].map((output) => output.backend);
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
      await Promise.all(
        this.#http.map((listener) => listener.queries?.close()),
      );
      await Promise.all(relays.map((relay) => relay.fanout.drain()));
      await Promise.all(this.#background);
      return "done" as const;
    })();
    const outcome = await Promise.race([work, deadline]);
    clearTimeout(timer);
    const abandoned = relays.reduce((n, r) => n + r.fanout.inFlight, 0);
    if (outcome === "deadline") {
      const unfinished = relays.flatMap((relay) =>
        [...relay.fanout.inFlightByBackend()].map(([backend, writes]) =>
          `${writes} to "${backend}" of relay "${relay.config.name}"`
        )
      );
      logger.warn(
        "Shutdown deadline of {deadlineMs}ms passed with {abandoned} backend writes unfinished ({unfinished})",
        { deadlineMs, abandoned, unfinished: unfinished.join(", ") },
      );
      for (const relay of relays) {
        for (const backend of relay.backends) {
          void backend.close();
        }
      }
      for (const backend of retiring) void backend.close();
      for (const listener of this.#http) void listener.queries?.close();
      for (const udp of this.#udp) closeSockets(udp.sockets);
      return { drained: false, abandoned, ...this.#leftInBuffers() };
    }
    // Retry buffers get the rest of the deadline for a last delivery.
    const rest = new AbortController();
    const left = Math.max(0, deadlineMs - (performance.now() - started));
    const restTimer = setTimeout(() => rest.abort(), left);
    await Promise.all([
      ...relays.flatMap((relay) =>
        relay.backends.map((b) => b.close(rest.signal))
      ),
      ...retiring.map((backend) => backend.close(rest.signal)),
    ]);
    clearTimeout(restTimer);
    for (const udp of this.#udp) closeSockets(udp.sockets);
    return { drained: true, abandoned: 0, ...this.#leftInBuffers() };
  }

  /** What the retry buffers still hold, by whether it survives the process. */
  #leftInBuffers(): { lostWrites: number; keptWrites: number } {
    let lostWrites = 0;
    let keptWrites = 0;
    const outputs = [
      ...this.#http.flatMap((listener) => listener.outputs),
      ...this.#retiring,
    ];
    for (const { buffer } of outputs) {
      if (buffer === null) continue;
      if (buffer.queue.durable) keptWrites += buffer.queue.length;
      else lostWrites += buffer.queue.length;
    }
    return { lostWrites, keptWrites };
  }
}

/** What {@linkcode RelayService.reload} changed. */
export interface ReloadResult {
  /** One line per listener that changed, e.g. `HTTP relay "a" updated (…)`. */
  readonly changes: readonly string[];
  /** Parts of the new config that could not be applied, with why. */
  readonly failures: readonly string[];
}

/** A new config cannot be applied; the running one is kept unchanged. */
export class ReloadError extends Error {
  /**
   * @param message Why, naming the listener and file.
   * @param options The underlying error.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ReloadError";
  }
}

/** Counts a listener's requests in progress, so a reload can wait them out. */
class RequestTracker {
  #active = 0;
  #idle: (() => void)[] = [];

  /** Wraps a handler so that its requests are counted. */
  wrap(handler: HttpHandler): HttpHandler {
    return async (request, info) => {
      this.#active++;
      try {
        return await handler(request, info);
      } finally {
        if (--this.#active === 0) {
          for (const resolve of this.#idle.splice(0)) resolve();
        }
      }
    };
  }

  /** Resolves once no request is in progress. */
  idle(): Promise<void> {
    if (this.#active === 0) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#idle.push(resolve);
    return promise;
  }
}

function whenAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) =>
    signal.addEventListener("abort", () => resolve(), { once: true })
  );
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  const { promise, resolve } = Promise.withResolvers<void>();
  const done = () => {
    clearTimeout(timer);
    signal.removeEventListener("abort", done);
    resolve();
  };
  const timer = setTimeout(done, ms);
  signal.addEventListener("abort", done);
  return promise;
}

async function stopUdp(udp: RunningUdp): Promise<void> {
  await udp.listener.close();
  await udp.fanout.drain();
  await Promise.all(udp.backends.map((backend) => backend.close()));
  closeSockets(udp.sockets);
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

/**
 * Builds a relay's outputs; `kept[i]`, when given, is a running output a
 * reload keeps in place of the i-th (it is not closed on failure).
 */
async function createOutputs(
  config: HttpConfig,
  options: StartServiceOptions,
  kept: readonly (RunningOutput | null)[] = [],
): Promise<RunningOutput[]> {
  const logger = getRelayLogger("http", config.name);
  const outputs: RunningOutput[] = [];
  try {
    for (const [index, output] of config.outputs.entries()) {
      const reused = kept[index];
      if (reused !== undefined && reused !== null) {
        outputs.push(reused);
        continue;
      }
      let buffer: RetryBuffer | null = null;
      const health = new BackendHealth({
        relay: config.name,
        backend: output.name,
        logger: getRelayLogger("backend", output.name),
        backlog: output.bufferSizeMb > 0
          ? () => buffer?.queue.length ?? 0
          : null,
      });
      let sender: Sender;
      try {
        sender = createSender(output, options, health);
      } catch (error) {
        throw new StartError(
          `Cannot start HTTP relay "${config.name}": ${
            (error as Error).message
          }`,
          { cause: error },
        );
      }
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
    await Promise.all(
      outputs.filter((output) => !kept.includes(output)).map((output) =>
        output.backend.close()
      ),
    );
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
        `Cannot start HTTP relay "${relay}": ${(error as Error).message}`,
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

/** What a reload hands over to a listener it rebuilds. */
interface Reuse {
  /** Running outputs kept in place of the new config's, by index. */
  readonly outputs?: readonly (RunningOutput | null)[];
  /** The running listener whose socket, TLS and counters are kept. */
  readonly socket?: RunningHttp;
  /** Retry binding this long: the previous socket on the address is closing. */
  readonly bindRetryMs?: number;
}

async function startHttp(
  config: HttpConfig,
  options: StartServiceOptions,
  snapshot: () => Promise<RelayStatus>,
  reuse: Reuse = {},
): Promise<RunningHttp> {
  const logger = getRelayLogger("http", config.name);
  const tls = reuse.socket === undefined
    ? await readTls(config)
    : reuse.socket.tls;
  const scheme = tls === null ? "HTTP" : "HTTPS";
  const guards = await readGuards(config);
  const kept = reuse.outputs ?? [];
  const outputs = await createOutputs(config, options, kept);
  const backends = outputs.map((output) => output.backend);
  // On failure only what this call created is closed.
  const created = outputs.filter((output) => !kept.includes(output)).map((
    output,
  ) => output.backend);
  const fanout = new Fanout(backends, {
    relay: config.name,
    logger,
    ack: config.ack,
    ackTimeoutMs: config.ackTimeoutMs,
    ackMemoryBuffer: config.ackMemoryBuffer,
  });
  const stats = reuse.socket?.stats ?? new HttpListenerStats();
  let queries: RunningQueries | null = null;
  try {
    queries = config.query ? startQueries(config, outputs, options) : null;
  } catch (error) {
    await Promise.all(created.map((backend) => backend.close()));
    throw new StartError(
      `Cannot start ${scheme} relay "${config.name}": ${
        (error as Error).message
      }`,
      { cause: error },
    );
  }
  const pipeline = createHttpHandler(fanout, {
    name: config.name,
    logger,
    defaultRetentionPolicy: config.defaultRetentionPolicy,
    stats,
    admin: config.adminEndpoints
      ? createAdminHandler({ snapshot, relay: config.name })
      : null,
    query: queries === null ? null : (request) => queries.proxy.handle(request),
    ...guards,
  });
  const requests = new RequestTracker();
  const handler = requests.wrap(pipeline);
  if (reuse.socket !== undefined) {
    // Same socket: requests from now on take the new pipeline; those in
    // progress finish on the old one.
    const { server, route, info } = reuse.socket;
    route.handle = handler;
    return {
      info,
      config,
      server,
      fanout,
      backends,
      outputs,
      stats,
      checkers: startCheckers(outputs),
      queries,
      route,
      requests,
      tls,
    };
  }
  const route: Route = { handle: handler };
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = await bindRetrying(
      () =>
        serveHttp((request, info) => route.handle(request, info), {
          hostname: config.bind.hostname,
          port: config.bind.port,
          ...(tls ?? {}),
        }),
      reuse.bindRetryMs ?? 0,
    );
  } catch (error) {
    await queries?.close();
    await Promise.all(created.map((backend) => backend.close()));
    const reason = tls !== null && isTlsMaterialError(error)
      ? `${tlsFiles(config)}: ${(error as Error).message}`
      : (error as Error).message;
    throw new StartError(
      `Cannot start ${scheme} relay "${config.name}" on "${config.bindAddr}": ${reason}`,
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
    queries,
    route,
    requests,
    tls,
  };
}

/**
 * Binds with `bind`, retrying every 10 ms for up to `retryMs` while the
 * address is still in use (a socket being shut down frees it a moment
 * later).
 */
async function bindRetrying<T>(bind: () => T, retryMs: number): Promise<T> {
  const until = performance.now() + retryMs;
  while (true) {
    try {
      return bind();
    } catch (error) {
      if (
        !(error instanceof Deno.errors.AddrInUse) || performance.now() >= until
      ) {
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

/** Where an HTTPS listener's certificate and key come from, for messages. */
function tlsFiles(config: HttpConfig): string {
  return config.sslCombinedPem !== null
    ? `ssl-combined-pem "${config.sslCombinedPem}"`
    : `tls-cert "${config.tlsCert}" and tls-key "${config.tlsKey}"`;
}

/** Whether a failed TLS listen was about the certificate or key (not the address). */
function isTlsMaterialError(error: unknown): boolean {
  return error instanceof Deno.errors.InvalidData ||
    /certificate|private key|\bkey\b|PEM/i.test((error as Error).message);
}

/** Reads an HTTPS listener's certificate and key (`null` for HTTP). */
async function readTls(config: HttpConfig): Promise<TlsMaterial | null> {
  const read = async (key: string, path: string) => {
    try {
      return await Deno.readTextFile(path);
    } catch (error) {
      throw new StartError(
        `Cannot start HTTPS relay "${config.name}": cannot read ${key} "${path}": ${
          (error as Error).message
        }`,
        { cause: error },
      );
    }
  };
  if (config.sslCombinedPem !== null) {
    const pem = await read("ssl-combined-pem", config.sslCombinedPem);
    return { cert: pem, key: pem };
  }
  if (config.tlsCert !== null && config.tlsKey !== null) {
    return {
      cert: await read("tls-cert", config.tlsCert),
      key: await read("tls-key", config.tlsKey),
    };
  }
  return null;
}

/** The handler options of a listener's limits, authentication and partial writes. */
type Guards = Pick<
  HttpHandlerOptions,
  | "maxBodyBytes"
  | "maxDecompressedBytes"
  | "readTimeoutMs"
  | "admission"
  | "auth"
  | "authAdminEndpoints"
  | "forwardCredentials"
  | "partialWrites"
>;

/** Builds a listener's limits and authentication, reading its auth-file. */
async function readGuards(config: HttpConfig): Promise<Guards> {
  const users = [...config.authUsers];
  const tokens = [...config.authTokens];
  if (config.authFile !== null) {
    try {
      const file = parseCredentialFile(
        await Deno.readTextFile(config.authFile),
      );
      users.push(...file.users);
      tokens.push(...file.tokens);
    } catch (error) {
      throw new StartError(
        `Cannot start HTTP relay "${config.name}": cannot read auth-file "${config.authFile}": ${
          (error as Error).message
        }`,
        { cause: error },
      );
    }
  }
  let auth: ClientAuth | null = null;
  if (users.length > 0 || tokens.length > 0 || config.authFile !== null) {
    try {
      auth = new ClientAuth({ users, tokens });
    } catch (error) {
      throw new StartError(
        `Cannot start HTTP relay "${config.name}": ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
  const limited = config.maxConcurrentRequests > 0 || config.rateLimit > 0;
  return {
    maxBodyBytes: config.maxBodySize,
    maxDecompressedBytes: config.maxDecompressedSize,
    readTimeoutMs: config.readTimeoutMs,
    admission: limited
      ? new Admission({
        maxConcurrent: config.maxConcurrentRequests,
        rate: config.rateLimit,
        burst: config.rateLimitBurst,
      })
      : null,
    auth,
    authAdminEndpoints: config.authAdminEndpoints,
    forwardCredentials: config.forwardCredentials,
    partialWrites: config.partialWrites,
  };
}

/**
 * Builds the `/query` of an HTTP relay: a query client for every output
 * with a `query-location`, seen by the proxy with its health state and
 * probe latency; only v1 outputs take statements that change data or
 * schema.
 */
function startQueries(
  config: HttpConfig,
  outputs: readonly RunningOutput[],
  options: StartServiceOptions,
): RunningQueries {
  const logger = getRelayLogger("http", config.name);
  const clients: QueryClient[] = [];
  const targets: QueryTarget[] = [];
  try {
    for (const output of outputs) {
      const location = output.config.queryLocation;
      if (location === null) continue;
      const { config: out, health } = output;
      const client = new QueryClient({
        name: out.name,
        location,
        api: out.api,
        skipTlsVerification: out.skipTlsVerification,
        caCertFile: location.startsWith("https:") ? out.caCert : null,
        username: out.username,
        password: out.password,
        token: out.token,
        ...(options.userAgent === undefined
          ? {}
          : { userAgent: options.userAgent }),
      });
      clients.push(client);
      targets.push({
        name: out.name,
        takesWrites: out.api === "v1",
        state: () => health.state,
        latencyMs: () => health.snapshot().lastProbeLatencyMs,
        async send(query, signal) {
          try {
            return await client.send(query, signal);
          } catch (error) {
            // No answer at all (not a query the proxy gave up on).
            if (!signal.aborted) health.queryFailed((error as Error).message);
            throw error;
          }
        },
      });
    }
  } catch (error) {
    for (const client of clients) client.close();
    throw error;
  }
  const proxy = new QueryProxy(targets, {
    relay: config.name,
    logger,
    policy: config.queryPolicy,
    whenDown: config.queryDdlWhenDown,
    timeoutMs: config.queryTimeoutMs,
    defaultRetentionPolicy: config.defaultRetentionPolicy,
  });
  logger.debug("Queries of relay {relay} go to {backends}", {
    relay: config.name,
    backends: targets.map((t) => t.takesWrites ? t.name : `${t.name} (reads)`),
  });
  let closing: Promise<void> | null = null;
  return {
    proxy,
    close() {
      closing ??= proxy.close().then(() => {
        for (const client of clients) client.close();
      });
      return closing;
    },
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

/**
 * Resolves a UDP relay's output locations, in order, as the start does.
 *
 * @throws {StartError} Naming the relay and output whose name does not resolve.
 */
async function resolveUdpOutputs(config: UdpConfig): Promise<Deno.NetAddr[]> {
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
  return addresses;
}

async function startUdp(
  config: UdpConfig,
  options: StartServiceOptions,
): Promise<RunningUdp> {
  const logger = getRelayLogger("udp", config.name);
  const addresses = await resolveUdpOutputs(config);
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
    config,
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
  return { url: `http://${host}:${addr.port}`, server, config };
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
 * Checks what a config names outside itself, as a start would, without
 * starting anything: each HTTPS listener's certificate and key (read, and
 * loaded into a TLS listener on an ephemeral loopback port that is closed
 * at once), each auth-file and each output's ca-cert. For
 * `--check-config`, which systemd runs before every start and reload.
 *
 * Whether each UDP output's name resolves depends on where the check runs
 * (a build host may not know the servers' names), so a name that does not
 * resolve is returned as a warning, not thrown; a start there fails.
 *
 * @param config A validated config.
 * @returns Warnings: UDP output names that do not resolve here.
 * @throws {StartError} With the message a start would fail with.
 */
export async function checkFiles(config: RelayConfig): Promise<string[]> {
  const warnings: string[] = [];
  for (const listener of config.http) {
    const tls = await readTls(listener);
    if (tls !== null) {
      try {
        Deno.listenTls({ hostname: "127.0.0.1", port: 0, ...tls }).close();
      } catch (error) {
        throw new StartError(
          `Cannot start HTTPS relay "${listener.name}": ${
            tlsFiles(listener)
          }: ${(error as Error).message}`,
          { cause: error },
        );
      }
    }
    await readGuards(listener);
    for (const output of listener.outputs) {
      try {
        readCaCert(output.name, new URL(output.location), output.caCert);
        if (output.bufferPath !== null && output.bufferSizeMb > 0) {
          await checkSpoolDir(output.name, output.bufferPath);
        }
      } catch (error) {
        throw new StartError(
          `Cannot start HTTP relay "${listener.name}": ${
            (error as Error).message
          }`,
          { cause: error },
        );
      }
    }
  }
  for (const listener of config.udp) {
    for (const output of listener.outputs) {
      try {
        await resolveUdpLocation(output.location);
      } catch (error) {
        warnings.push(
          `UDP relay "${listener.name}" cannot start here: output "${output.name}": ${
            (error as Error).message
          }`,
        );
      }
    }
  }
  return warnings;
}

/**
 * Whether a spool directory could be opened, without opening it (the
 * running relay holds its lock during a reload's check) and without
 * creating it: the relay may write there (its permissions), the path is a
 * directory, and a file can be made in it (or, when it is missing, in the
 * directory above it where the start would create it).
 *
 * @throws {Error} Worded as the start's failure would be.
 */
async function checkSpoolDir(backend: string, dir: string): Promise<void> {
  const fail = (reason: string, cause?: unknown) =>
    new Error(
      `Cannot open the spool of backend "${backend}" in "${dir}": ${reason}`,
      { cause },
    );
  const allowed = await Deno.permissions.query({ name: "write", path: dir });
  if (allowed.state !== "granted") {
    throw fail(
      `Requires write access to "${dir}", run again with the --allow-write flag`,
    );
  }
  // The directory, or (when it is missing) the nearest existing directory
  // above it, where the start would create it.
  let target = dir;
  while (true) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(target);
    } catch (error) {
      const parent = dirname(target);
      if (!(error instanceof Deno.errors.NotFound) || parent === target) {
        throw fail((error as Error).message, error);
      }
      target = parent;
      continue;
    }
    if (!info.isDirectory) {
      throw fail(`"${target}" is not a directory`);
    }
    break;
  }
  if (target !== dir) {
    const above = await Deno.permissions.query({ name: "write", path: target });
    // A binary allowed only the spool itself cannot try its parent.
    if (above.state !== "granted") return;
  }
  try {
    await Deno.remove(
      await Deno.makeTempFile({ dir: target, prefix: ".check-config-" }),
    );
  } catch (error) {
    throw fail((error as Error).message, error);
  }
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
    options,
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
