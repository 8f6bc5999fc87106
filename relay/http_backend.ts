/**
 * Delivers batches to one HTTP backend (InfluxDB `/write`, Kapacitor, …)
 * with `node:http`/`node:https` and a keep-alive agent per backend.
 *
 * `node:http` is used rather than `fetch` because, measured inside Deno, it
 * costs markedly less CPU per forwarded request (see BENCHMARKS.md) and it
 * gives per-backend TLS options (`rejectUnauthorized`) that `fetch` lacks.
 *
 * @module
 */

import * as http from "node:http";
import * as https from "node:https";
import type {
  Backend,
  BackendResult,
  ProbeResult,
  WriteObserver,
} from "./backend.ts";
import { locationAuth, outputAuth, readCaCert } from "./backend_auth.ts";
import { concatBytes, type WriteBatch } from "./batch.ts";
import { scaleTimestamps } from "./timestamp_rewrite.ts";
import { ApiMapper, pingPath, type WriteApi } from "./write_api.ts";
import { WriteStats } from "./write_stats.ts";

/** Options for {@linkcode HttpBackend}. */
export interface HttpBackendOptions {
  /** Name used in logs and errors. */
  name: string;
  /** Full URL of the write endpoint; its query string is replaced. */
  location: string;
  /**
   * Whole-request timeout in milliseconds; 0 means none.
   * @default 10000
   */
  timeoutMs?: number;
  /**
   * Accept any certificate from an `https` backend.
   * @default false
   */
  skipTlsVerification?: boolean;
  /**
   * Idle connections kept open for reuse.
   * @default 64
   */
  maxIdleConnections?: number;
  /**
   * Most connections open at once; further writes wait (within their
   * timeout) for one to be free, so that bursts reuse connections instead
   * of opening ones that are closed again right after.
   * @default 64
   */
  maxConnections?: number;
  /** `User-Agent` sent to the backend. */
  userAgent?: string;
  /**
   * The write API the backend speaks: `"v1"` (`/write?db=…`), `"v2"`
   * (`/api/v2/write?bucket=…&org=…`) or `"v3"` (`/api/v3/write_lp?db=…`).
   * The location's path is used as given.
   * @default "v1"
   */
  api?: WriteApi;
  /**
   * v2: bucket every write goes to instead of the mapped one.
   * @default null
   */
  bucket?: string | null;
  /**
   * v2: `org` sent instead of the client's `org`/`orgID`.
   * @default null
   */
  org?: string | null;
  /**
   * v3: database every write goes to instead of the mapped one.
   * @default null
   */
  db?: string | null;
  /**
   * v1: user name sent with `password` as Basic auth instead of the
   * client's credentials (the client's `u`/`p` are then not forwarded).
   * @default null
   */
  username?: string | null;
  /**
   * v1: password for `username`.
   * @default null
   */
  password?: string | null;
  /**
   * Token sent as `Authorization: Token <token>` instead of the client's
   * credentials (the client's `u`/`p` are then not forwarded).
   * @default null
   */
  token?: string | null;
  /**
   * Path of a PEM file of CA certificates that an `https` backend's
   * certificate may chain to, in addition to the default trusted roots;
   * read once, here.
   * @default null
   */
  caCertFile?: string | null;
  /**
   * Told the outcome of every write attempt (the backend's health state).
   * @default null
   */
  observer?: WriteObserver | null;
}

const EMPTY = new Uint8Array(0);

/** Sends batches to one backend over HTTP/1.1 keep-alive connections. */
export class HttpBackend implements Backend {
  readonly name: string;
  readonly #url: URL;
  readonly #hostname: string;
  readonly #base: string;
  readonly #timeoutMs: number;
  readonly #agent: http.Agent;
  readonly #request: typeof http.request;
  readonly #userAgent: string;
  readonly #urlAuth: string | null;
  readonly #ownAuth: string | null;
  /** `null` when batches go out as they are (a v1 backend without credentials). */
  readonly #mapper: ApiMapper | null;
  readonly #pending = new Set<Promise<BackendResult>>();
  readonly #stats = new WriteStats();
  readonly #observer: WriteObserver | null;
  /** A connection of its own, so that a probe never queues behind writes. */
  readonly #probeAgent: http.Agent;
  readonly #pingPath: string;

  /**
   * @param options Where and how to send.
   * @throws {TypeError} When `location` is not an http(s) URL, options do not
   * fit the API, or `caCertFile` is given for an `http` location.
   * @throws {Error} When `caCertFile` cannot be read or holds no certificate.
   */
  constructor(options: HttpBackendOptions) {
    const {
      name,
      location,
      timeoutMs = 10_000,
      skipTlsVerification = false,
      maxIdleConnections = 64,
      maxConnections = 64,
      userAgent = "influxdb-relay",
      api = "v1",
      bucket = null,
      org = null,
      db = null,
      username = null,
      password = null,
      token = null,
      caCertFile = null,
      observer = null,
    } = options;
    const url = new URL(location);
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new TypeError(
        `Cannot send to backend "${name}": location "${location}" is not an http or https URL`,
      );
    }
    this.name = name;
    this.#url = url;
    this.#hostname = url.hostname.replace(/^\[|\]$/g, "");
    this.#base = url.pathname;
    this.#timeoutMs = timeoutMs;
    this.#userAgent = userAgent;
    this.#observer = observer;
    this.#pingPath = pingPath(api, url.pathname);
    // Like Go's client, credentials in the location are sent as Basic auth
    // when the client sent no Authorization of its own.
    this.#urlAuth = locationAuth(url);
    try {
      this.#ownAuth = outputAuth(api, { username, password, token });
      const mapper = new ApiMapper({
        api,
        bucket,
        org,
        db,
        ownCredentials: this.#ownAuth !== null,
      });
      // A v1 backend without credentials of its own takes batches as they are.
      this.#mapper = api === "v1" && this.#ownAuth === null ? null : mapper;
    } catch (error) {
      const reason = (error as Error).message.replace(/^Cannot [^:]*: /, "");
      throw new TypeError(`Cannot send to backend "${name}": ${reason}`, {
        cause: error,
      });
    }
    const ca = readCaCert(name, url, caCertFile);
    const agentOptions = {
      keepAlive: true,
      maxSockets: maxConnections,
      maxFreeSockets: maxIdleConnections,
    };
    if (url.protocol === "https:") {
      const tls = {
        rejectUnauthorized: !skipTlsVerification,
        ...(ca === null ? {} : { ca }),
      };
      this.#agent = new https.Agent({ ...agentOptions, ...tls });
      this.#probeAgent = new https.Agent({
        keepAlive: true,
        maxSockets: 1,
        ...tls,
      });
      this.#request = https.request as typeof http.request;
    } else {
      this.#agent = new http.Agent(agentOptions);
      this.#probeAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      this.#request = http.request;
    }
  }

  /** Counters of every write attempt (live; take a snapshot to read them). */
  get stats(): WriteStats {
    return this.#stats;
  }

  /** Number of writes waiting for their backend's answer. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * POSTs the batch's body to the location with the batch's query and
   * `Authorization`.
   *
   * @param batch The write.
   * @returns The backend's answer or the reason there is none.
   */
  write(batch: WriteBatch): Promise<BackendResult> {
    const sent = this.#send(batch);
    this.#pending.add(sent);
    sent.finally(() => this.#pending.delete(sent));
    return sent;
  }

  #send(batch: WriteBatch): Promise<BackendResult> {
    let query = batch.query;
    let body = batch.body;
    let auth = batch.auth ?? this.#urlAuth;
    if (this.#mapper !== null) {
      const mapped = this.#mapper.map(batch);
      query = mapped.query;
      body = scaleTimestamps(body, mapped.scale);
      auth = this.#ownAuth ?? batch.auth ??
        (mapped.password === null ? this.#urlAuth : `Token ${mapped.password}`);
    }
    const path = query === "" ? this.#base : `${this.#base}?${query}`;
    const headers: Record<string, string | number> = {
      "Content-Type": "text/plain",
      "Content-Length": body.length,
      "User-Agent": this.#userAgent,
    };
    if (auth !== null) headers["Authorization"] = auth;
    const { promise, resolve } = Promise.withResolvers<BackendResult>();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let timedOut = false;
    const started = performance.now();
    const finish = (result: BackendResult) => {
      this.#stats.record(
        result,
        (performance.now() - started) / 1000,
        body.length,
        batch.points,
      );
      this.#observer?.observe(result);
      resolve(result);
    };
    const fail = (error: Error) => {
      clearTimeout(timer);
      finish({
        kind: "failure",
        error: new Error(
          `POST "${this.#url.origin}${path}": ${error.message}`,
          { cause: error },
        ),
        timedOut,
      });
    };
    const request = this.#request({
      agent: this.#agent,
      method: "POST",
      protocol: this.#url.protocol,
      hostname: this.#hostname,
      port: this.#url.port,
      path,
      headers,
    }, (response) => {
      const chunks: Uint8Array[] = [];
      response.on("data", (chunk: Uint8Array) => chunks.push(chunk));
      response.on("error", fail);
      response.on("end", () => {
        clearTimeout(timer);
        const contentType = response.headers["content-type"];
        finish({
          kind: "response",
          status: response.statusCode ?? 0,
          body: chunks.length === 0
            ? EMPTY
            : chunks.length === 1
            ? chunks[0]!
            : concatBytes(chunks),
          contentType: contentType ?? null,
        });
      });
    });
    request.on("error", fail);
    if (this.#timeoutMs > 0) {
      timer = setTimeout(() => {
        timedOut = true;
        request.destroy(
          new Error(`timeout after ${this.#timeoutMs}ms awaiting the backend`),
        );
      }, this.#timeoutMs);
    }
    request.end(body);
    return promise;
  }

  /**
   * Asks the backend's `/ping` (next to its write endpoint, see
   * {@linkcode pingPath}) with the output's own credentials, on a
   * connection of its own.
   *
   * @param signal Aborts the probe (its timeout); the failure's error is the
   * signal's reason.
   * @returns The status the backend answered, or why it did not.
   */
  probe(signal: AbortSignal): Promise<ProbeResult> {
    const { promise, resolve } = Promise.withResolvers<ProbeResult>();
    if (signal.aborted) {
      return Promise.resolve({
        kind: "failed",
        error: (signal.reason as Error).message,
      });
    }
    const headers: Record<string, string> = { "User-Agent": this.#userAgent };
    const auth = this.#ownAuth ?? this.#urlAuth;
    if (auth !== null) headers["Authorization"] = auth;
    let settled = false;
    const settle = (result: ProbeResult) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", abort);
      resolve(result);
    };
    const fail = (error: Error) =>
      settle({
        kind: "failed",
        error: `GET "${this.#url.origin}${this.#pingPath}": ${error.message}`,
      });
    const request = this.#request({
      agent: this.#probeAgent,
      method: "GET",
      protocol: this.#url.protocol,
      hostname: this.#hostname,
      port: this.#url.port,
      path: this.#pingPath,
      headers,
    }, (response) => {
      response.on("data", () => {});
      response.on("error", fail);
      response.on(
        "end",
        () => settle({ kind: "answered", status: response.statusCode ?? 0 }),
      );
    });
    const abort = () => request.destroy(signal.reason as Error);
    signal.addEventListener("abort", abort);
    request.on("error", fail);
    request.end();
    return promise;
  }

  /** Waits for pending writes (bounded by their timeout), then closes idle connections. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
    this.#agent.destroy();
    this.#probeAgent.destroy();
  }
}
