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
import type { Backend, BackendResult } from "./backend.ts";
import type { WriteBatch } from "./batch.ts";

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
  readonly #pending = new Set<Promise<BackendResult>>();

  /**
   * @param options Where and how to send.
   * @throws {TypeError} When `location` is not an http(s) URL.
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
    // Like Go's client, credentials in the location are sent as Basic auth
    // when the client sent no Authorization of its own.
    this.#urlAuth = url.username === "" && url.password === ""
      ? null
      : "Basic " + btoa(String.fromCharCode(
        ...new TextEncoder().encode(
          `${decodeURIComponent(url.username)}:${
            decodeURIComponent(url.password)
          }`,
        ),
      ));
    const agentOptions = {
      keepAlive: true,
      maxSockets: maxConnections,
      maxFreeSockets: maxIdleConnections,
    };
    if (url.protocol === "https:") {
      this.#agent = new https.Agent({
        ...agentOptions,
        rejectUnauthorized: !skipTlsVerification,
      });
      this.#request = https.request as typeof http.request;
    } else {
      this.#agent = new http.Agent(agentOptions);
      this.#request = http.request;
    }
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
    const path = batch.query === ""
      ? this.#base
      : `${this.#base}?${batch.query}`;
    const headers: Record<string, string | number> = {
      "Content-Type": "text/plain",
      "Content-Length": batch.body.length,
      "User-Agent": this.#userAgent,
    };
    const auth = batch.auth ?? this.#urlAuth;
    if (auth !== null) headers["Authorization"] = auth;
    const { promise, resolve } = Promise.withResolvers<BackendResult>();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const fail = (error: Error) => {
      clearTimeout(timer);
      resolve({
        kind: "failure",
        error: new Error(
          `POST "${this.#url.origin}${path}": ${error.message}`,
          { cause: error },
        ),
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
        resolve({
          kind: "response",
          status: response.statusCode ?? 0,
          body: chunks.length === 0
            ? EMPTY
            : chunks.length === 1
            ? chunks[0]!
            : concat(chunks),
          contentType: contentType ?? null,
        });
      });
    });
    request.on("error", fail);
    if (this.#timeoutMs > 0) {
      timer = setTimeout(() => {
        request.destroy(
          new Error(`timeout after ${this.#timeoutMs}ms awaiting the backend`),
        );
      }, this.#timeoutMs);
    }
    request.end(batch.body);
    return promise;
  }

  /** Waits for pending writes (bounded by their timeout), then closes idle connections. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
    this.#agent.destroy();
  }
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const chunk of chunks) length += chunk.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
