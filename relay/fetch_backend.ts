/**
 * Delivers batches to one HTTP backend with the global `fetch` and a
 * keep-alive connection pool of its own. Same contract as
 * {@linkcode import("./http_backend.ts").HttpBackend}; kept so that the
 * benchmark can compare the two senders in one run (`deno task bench`).
 * The relay uses `node:http` by default, which costs less CPU per request.
 *
 * @module
 */

import type { Backend, BackendResult } from "./backend.ts";
import type { WriteBatch } from "./batch.ts";

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
}

/** Sends batches to one backend over HTTP/1.1 keep-alive connections. */
export class FetchBackend implements Backend {
  readonly name: string;
  readonly #base: string;
  readonly #timeoutMs: number;
  readonly #client: Deno.HttpClient;
  readonly #headers: Record<string, string>;
  readonly #urlAuth: string | null;
  readonly #pending = new Set<Promise<BackendResult>>();

  /**
   * @param options Where and how to send.
   * @throws {TypeError} When `location` is not an http(s) URL, or
   * `skipTlsVerification` is set.
   */
  constructor(options: FetchBackendOptions) {
    const {
      name,
      location,
      timeoutMs = 10_000,
      skipTlsVerification = false,
      maxIdleConnections = 64,
      userAgent = "influxdb-relay",
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
    // As HttpBackend: credentials in the location become Basic auth when the
    // client sent no Authorization (fetch refuses URLs with credentials).
    this.#urlAuth = url.username === "" && url.password === ""
      ? null
      : "Basic " + btoa(String.fromCharCode(
        ...new TextEncoder().encode(
          `${decodeURIComponent(url.username)}:${
            decodeURIComponent(url.password)
          }`,
        ),
      ));
    this.#headers = {
      "Content-Type": "text/plain",
      "User-Agent": userAgent,
    };
    this.#client = Deno.createHttpClient({
      poolMaxIdlePerHost: maxIdleConnections,
      http2: false,
    });
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
    const target = batch.query === ""
      ? this.#base
      : `${this.#base}?${batch.query}`;
    const auth = batch.auth ?? this.#urlAuth;
    const headers = auth === null
      ? this.#headers
      : { ...this.#headers, "Authorization": auth };
    try {
      const response = await fetch(target, {
        method: "POST",
        headers,
        body: batch.body as Uint8Array<ArrayBuffer>,
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
      const message = cause.name === "TimeoutError"
        ? `timeout after ${this.#timeoutMs}ms awaiting the backend`
        : cause.message;
      return {
        kind: "failure",
        error: new Error(
          `POST "${target}": ${message}`,
          { cause },
        ),
      };
    }
  }

  /** Waits for pending writes (bounded by their timeout), then closes idle connections. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
    this.#client.close();
  }
}
