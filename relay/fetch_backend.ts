/**
 * Delivers batches to one HTTP backend with the global `fetch` and a
 * keep-alive connection pool of its own. Same contract as
 * {@linkcode import("./http_backend.ts").HttpBackend}; kept so that the
 * benchmark can compare the two senders in one run (`deno task bench`).
 * The relay uses `node:http` by default, which costs less CPU per request.
 *
 * @module
 */

import type {
  Backend,
  BackendResult,
  ProbeResult,
  WriteObserver,
} from "./backend.ts";
import { locationAuth, outputAuth, readCaCert } from "./backend_auth.ts";
import type { WriteBatch } from "./batch.ts";
import { scaleTimestamps } from "./timestamp_rewrite.ts";
import { ApiMapper, pingPath, type WriteApi } from "./write_api.ts";
import { WriteStats } from "./write_stats.ts";

/** Options for {@linkcode FetchBackend}. */
export interface FetchBackendOptions {
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
   * Accept any certificate from an `https` backend. `fetch` has no such
   * option, so `true` is refused.
   * @default false
   */
  skipTlsVerification?: boolean;
  /**
   * Idle connections kept open for reuse.
   * @default 64
   */
  maxIdleConnections?: number;
  /**
   * `User-Agent` sent to the backend.
   * @default "influxdb-relay"
   */
  userAgent?: string;
  /**
   * The write API the backend speaks (see `HttpBackendOptions.api`).
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
   * client's credentials.
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
   * credentials.
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

/** Sends batches to one backend over HTTP/1.1 keep-alive connections. */
export class FetchBackend implements Backend {
  readonly name: string;
  readonly #base: string;
  readonly #timeoutMs: number;
  readonly #client: Deno.HttpClient;
  readonly #headers: Record<string, string>;
  readonly #urlAuth: string | null;
  readonly #ownAuth: string | null;
  readonly #mapper: ApiMapper | null;
  readonly #pending = new Set<Promise<BackendResult>>();
  readonly #stats = new WriteStats();
  readonly #observer: WriteObserver | null;
  readonly #pingUrl: string;
  readonly #userAgent: string;

  /**
   * @param options Where and how to send.
   * @throws {TypeError} When `location` is not an http(s) URL, options do not
   * fit the API, `caCertFile` is given for an `http` location, or
   * `skipTlsVerification` is set.
   * @throws {Error} When `caCertFile` cannot be read or holds no certificate.
   */
  constructor(options: FetchBackendOptions) {
    const {
      name,
      location,
      timeoutMs = 10_000,
      skipTlsVerification = false,
      maxIdleConnections = 64,
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
    if (skipTlsVerification) {
      throw new TypeError(
        `Cannot send to backend "${name}" with fetch: skip-tls-verification is not supported by this sender`,
      );
    }
    this.name = name;
    this.#base = `${url.origin}${url.pathname}`;
    this.#timeoutMs = timeoutMs;
    this.#observer = observer;
    this.#userAgent = userAgent;
    this.#pingUrl = `${url.origin}${pingPath(api, url.pathname)}`;
    // As HttpBackend: credentials in the location become Basic auth when the
    // client sent no Authorization (fetch refuses URLs with credentials).
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
    this.#headers = {
      "Content-Type": "text/plain",
      "User-Agent": userAgent,
    };
    this.#client = Deno.createHttpClient({
      poolMaxIdlePerHost: maxIdleConnections,
      http2: false,
      ...(ca === null ? {} : { caCerts: [ca] }),
    });
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

  async #send(batch: WriteBatch): Promise<BackendResult> {
    const started = performance.now();
    const result = await this.#post(batch);
    this.#stats.record(
      result,
      (performance.now() - started) / 1000,
      batch.body.length,
      batch.points,
    );
    this.#observer?.observe(result);
    return result;
  }

  async #post(batch: WriteBatch): Promise<BackendResult> {
    let query = batch.query;
    let payload = batch.body;
    let auth = batch.auth ?? this.#urlAuth;
    if (this.#mapper !== null) {
      const mapped = this.#mapper.map(batch);
      query = mapped.query;
      payload = scaleTimestamps(payload, mapped.scale);
      auth = this.#ownAuth ?? batch.auth ??
        (mapped.password === null ? this.#urlAuth : `Token ${mapped.password}`);
    }
    const target = query === "" ? this.#base : `${this.#base}?${query}`;
    const headers = auth === null
      ? this.#headers
      : { ...this.#headers, "Authorization": auth };
    try {
      const response = await fetch(target, {
        method: "POST",
        headers,
        body: payload as Uint8Array<ArrayBuffer>,
        client: this.#client,
        ...(this.#timeoutMs > 0
          ? { signal: AbortSignal.timeout(this.#timeoutMs) }
          : {}),
      });
      const body = new Uint8Array(await response.arrayBuffer());
      return {
        kind: "response",
        status: response.status,
        body,
        contentType: response.headers.get("content-type"),
      };
    } catch (error) {
      const cause = error instanceof Error ? error : new Error(String(error));
      const timedOut = cause.name === "TimeoutError";
      const message = timedOut
        ? `timeout after ${this.#timeoutMs}ms awaiting the backend`
        : cause.message;
      return {
        kind: "failure",
        error: new Error(
          `POST "${target}": ${message}`,
          { cause },
        ),
        timedOut,
      };
    }
  }

  /**
   * Asks the backend's `/ping` with the output's own credentials (see
   * `HttpBackend.probe`).
   *
   * @param signal Aborts the probe; the failure's error is its reason.
   * @returns The status the backend answered, or why it did not.
   */
  async probe(signal: AbortSignal): Promise<ProbeResult> {
    const auth = this.#ownAuth ?? this.#urlAuth;
    try {
      const response = await fetch(this.#pingUrl, {
        headers: auth === null
          ? { "User-Agent": this.#userAgent }
          : { "User-Agent": this.#userAgent, "Authorization": auth },
        client: this.#client,
        signal,
      });
      await response.body?.cancel();
      return { kind: "answered", status: response.status };
    } catch (error) {
      const reason = signal.aborted ? signal.reason : error;
      return {
        kind: "failed",
        error: `GET "${this.#pingUrl}": ${(reason as Error).message}`,
      };
    }
  }

  /** Waits for pending writes (bounded by their timeout), then closes idle connections. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
    this.#client.close();
  }
}
