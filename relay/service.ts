/**
 * The composition root: builds every listener, fan-out and backend from a
 * {@linkcode RelayConfig}, starts them, and stops them gracefully. The only
 * module that names the concrete listener and backend types.
 *
 * @module
 */

import type { Backend } from "./backend.ts";
import type { HttpConfig, RelayConfig } from "./config.ts";
import { Fanout } from "./fanout.ts";
import { HttpBackend } from "./http_backend.ts";
import { createHttpHandler, serveHttp } from "./http_listener.ts";
import { getRelayLogger } from "./log.ts";

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

/** Options for {@linkcode startService}. */
export interface StartServiceOptions {
  /**
   * `User-Agent` sent to backends.
   * @default "influxdb-relay"
   */
  userAgent?: string;
}

interface RunningHttp {
  readonly info: ListenerInfo;
  readonly server: Deno.HttpServer<Deno.NetAddr>;
  readonly fanout: Fanout;
  readonly backends: readonly Backend[];
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
  readonly #http: readonly RunningHttp[];
  #stopping: Promise<StopResult> | null = null;

  /** @param http The running HTTP listeners. */
  constructor(http: readonly RunningHttp[]) {
    this.#http = http;
  }

  /** The HTTP listeners with their bound addresses. */
  get listeners(): readonly ListenerInfo[] {
    return this.#http.map((listener) => listener.info);
  }

  /**
   * Stops accepting, lets in-flight requests and backend writes finish until
   * the deadline, then closes backend connections. Calling it again returns
   * the first call's result.
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
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<"deadline">((resolve) => {
      timer = setTimeout(() => resolve("deadline"), deadlineMs);
    });
    const work = (async () => {
      await Promise.all(
        this.#http.map((listener) => listener.server.shutdown()),
      );
      await Promise.all(this.#http.map((listener) => listener.fanout.drain()));
      return "done" as const;
    })();
    const outcome = await Promise.race([work, deadline]);
    clearTimeout(timer);
    const abandoned = this.#http.reduce((n, l) => n + l.fanout.inFlight, 0);
    if (outcome === "deadline") {
      logger.warn(
        "Shutdown deadline of {deadlineMs}ms passed with {abandoned} backend writes unfinished",
        { deadlineMs, abandoned },
      );
      for (const listener of this.#http) {
        for (const backend of listener.backends) {
          void backend.close();
        }
      }
      return { drained: false, abandoned };
    }
    await Promise.all(
      this.#http.flatMap((listener) => listener.backends.map((b) => b.close())),
    );
    return { drained: true, abandoned: 0 };
  }
}

function createBackends(
  config: HttpConfig,
  options: StartServiceOptions,
): Backend[] {
  const logger = getRelayLogger("http", config.name);
  return config.outputs.map((output) => {
    if (output.bufferSizeMb > 0) {
      logger.warn(
        'Backend "{backend}" of relay "{relay}": buffer-size-mb is read but retry buffering is not implemented yet; failed writes are not retried',
        { backend: output.name, relay: config.name },
      );
    }
    return new HttpBackend({
      name: output.name,
      location: output.location,
      timeoutMs: output.timeoutMs,
      skipTlsVerification: output.skipTlsVerification,
      ...(options.userAgent === undefined
        ? {}
        : { userAgent: options.userAgent }),
    });
  });
}

async function startHttp(
  config: HttpConfig,
  options: StartServiceOptions,
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
  const backends = createBackends(config, options);
  const fanout = new Fanout(backends, { relay: config.name, logger });
  const handler = createHttpHandler(fanout, {
    name: config.name,
    logger,
    defaultRetentionPolicy: config.defaultRetentionPolicy,
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
  return { info: { name: config.name, url }, server, fanout, backends };
}

/**
 * Starts every listener of the config. When one cannot start, those already
 * started are stopped again and the error is thrown.
 *
 * @param config A validated config.
 * @param options Settings that do not come from the config file.
 * @returns The running service.
 * @throws {StartError} When a listener cannot be started.
 */
export async function startService(
  config: RelayConfig,
  options: StartServiceOptions = {},
): Promise<RelayService> {
  const logger = getRelayLogger("service");
  for (const udp of config.udp) {
    logger.warn(
      'UDP relay "{relay}" on {address} is read from the config but UDP relaying is not implemented yet; it is not started',
      { relay: udp.name, address: udp.bindAddr },
    );
  }
  const http: RunningHttp[] = [];
  try {
    for (const listener of config.http) {
      http.push(await startHttp(listener, options));
    }
  } catch (error) {
    await new RelayService(http).stop(1000);
    throw error;
  }
  return new RelayService(http);
}
