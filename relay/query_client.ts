/**
 * Sends `/query` requests to one backend with `node:http`/`node:https` and a
 * keep-alive agent of its own (with the output's TLS settings), applying
 * the output's own credentials, and hands the answer back as a web
 * `Response` whose body streams, so that chunked query results reach the
 * client as the backend produces them.
 *
 * @module
 */

import * as http from "node:http";
import * as https from "node:https";
import { locationAuth, outputAuth, readCaCert } from "./backend_auth.ts";
import type { BackendQuery } from "./query_target.ts";
import type { WriteApi } from "./write_api.ts";

/** Options for {@linkcode QueryClient}. */
export interface QueryClientOptions {
  /** The output's name, for error messages. */
  name: string;
  /**
   * Full URL of the backend's query endpoint, e.g.
   * `http://127.0.0.1:8086/query`; a query string in it is replaced.
   */
  location: string;
  /**
   * The API of the output (decides which own credentials are allowed).
   * @default "v1"
   */
  api?: WriteApi;
  /**
   * Accept any certificate from an `https` backend.
   * @default false
   */
  skipTlsVerification?: boolean;
  /**
   * PEM file of CA certificates an `https` backend's certificate may chain
   * to, in addition to the default roots; read once, here.
   * @default null
   */
  caCertFile?: string | null;
  /**
   * The output's user name (v1), sent with `password` as Basic auth instead
   * of the client's credentials.
   * @default null
   */
  username?: string | null;
  /**
   * Password for `username`.
   * @default null
   */
  password?: string | null;
  /**
   * The output's token, sent as `Authorization: Token …` instead of the
   * client's credentials.
   * @default null
   */
  token?: string | null;
  /**
   * `User-Agent` sent to the backend.
   * @default "influxdb-relay"
   */
  userAgent?: string;
  /**
   * Most connections open at once; further queries wait for one.
   * @default 128
   */
  maxConnections?: number;
}

/** Response headers of a backend passed on to the client. */
const FORWARDED_HEADERS = [
  "content-type",
  "content-encoding",
  "x-influxdb-version",
  "x-influxdb-build",
  "x-influxdb-error",
  "request-id",
  "x-request-id",
] as const;

/** Client parameters an output's own credentials replace. */
const CLIENT_CREDENTIALS: ReadonlySet<string> = new Set(["u", "p"]);

/** Sends queries to one backend over keep-alive connections. */
export class QueryClient {
  /** The output's name. */
  readonly name: string;
  readonly #url: URL;
  readonly #hostname: string;
  readonly #agent: http.Agent;
  readonly #request: typeof http.request;
  readonly #userAgent: string;
  readonly #urlAuth: string | null;
  readonly #ownAuth: string | null;

  /**
   * @param options Where and how to send.
   * @throws {TypeError} When `location` is not an http(s) URL, the
   * credentials do not fit the API, or `caCertFile` is given for an `http`
   * location.
   * @throws {Error} When `caCertFile` cannot be read or holds no certificate.
   */
  constructor(options: QueryClientOptions) {
    const {
      name,
      location,
      api = "v1",
      skipTlsVerification = false,
      caCertFile = null,
      username = null,
      password = null,
      token = null,
      userAgent = "influxdb-relay",
      maxConnections = 128,
    } = options;
    const url = new URL(location);
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new TypeError(
        `Cannot query backend "${name}": location "${location}" is not an http or https URL`,
      );
    }
    this.name = name;
    this.#url = url;
    this.#hostname = url.hostname.replace(/^\[|\]$/g, "");
    this.#userAgent = userAgent;
    this.#urlAuth = locationAuth(url);
    this.#ownAuth = outputAuth(api, { username, password, token });
    const ca = readCaCert(name, url, caCertFile);
    const agentOptions = {
      keepAlive: true,
      maxSockets: maxConnections,
      maxFreeSockets: 16,
    };
    if (url.protocol === "https:") {
      this.#agent = new https.Agent({
        ...agentOptions,
        rejectUnauthorized: !skipTlsVerification,
        ...(ca === null ? {} : { ca }),
      });
      this.#request = https.request as typeof http.request;
    } else {
      this.#agent = new http.Agent(agentOptions);
      this.#request = http.request;
    }
  }

  /**
   * Sends one query: `GET <location>?<params>` or `POST <location>` with
   * the parameters as a form body. The output's own credentials replace
   * the client's `Authorization`, `u` and `p`; credentials in the location
   * are used when neither applies.
   *
   * @param query The request.
   * @param signal Stops the exchange, body included.
   * @returns The backend's answer once its headers arrived; the body
   * streams.
   * @throws {Error} When the backend did not answer (naming the URL), or
   * `signal` aborted first.
   */
  send(query: BackendQuery, signal: AbortSignal): Promise<Response> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const params = this.#ownAuth === null
      ? query.params
      : query.params.filter(([key]) => !CLIENT_CREDENTIALS.has(key));
    const encoded = new URLSearchParams(params as [string, string][])
      .toString();
    const base = this.#url.pathname;
    const path = query.method === "GET" && encoded !== ""
      ? `${base}?${encoded}`
      : base;
    const body = query.method === "POST" ? encoded : "";
    const headers: Record<string, string | number> = {
      "User-Agent": this.#userAgent,
    };
    if (query.method === "POST") {
      headers["Content-Type"] = "application/x-www-form-urlencoded";
      headers["Content-Length"] = new TextEncoder().encode(body).length;
    }
    const auth = this.#ownAuth ?? query.authorization ?? this.#urlAuth;
    if (auth !== null) headers["Authorization"] = auth;
    if (query.acceptEncoding !== null) {
      headers["Accept-Encoding"] = query.acceptEncoding;
    }
    const described = `${query.method} "${this.#url.origin}${base}"`;
    const { promise, resolve, reject } = Promise.withResolvers<Response>();
    let answered = false;
    let stream: ReadableStreamDefaultController<Uint8Array> | null = null;
    const fail = (error: Error) => {
      if (!answered) {
        answered = true;
        reject(
          new Error(`${described}: ${error.message}`, { cause: error }),
        );
      } else {
        try {
          stream?.error(error);
        } catch {
          // the stream is already closed or cancelled
        }
      }
    };
    const request = this.#request({
      agent: this.#agent,
      method: query.method,
      protocol: this.#url.protocol,
      hostname: this.#hostname,
      port: this.#url.port,
      path,
      headers,
    }, (response) => {
      const status = response.statusCode ?? 0;
      if (status < 200 || status > 599) {
        response.resume();
        fail(new Error(`unexpected HTTP status ${status}`));
        return;
      }
      answered = true;
      const forwarded = new Headers();
      for (const name of FORWARDED_HEADERS) {
        const value = response.headers[name];
        if (typeof value === "string") forwarded.set(name, value);
      }
      if (status === 204 || status === 205 || status === 304) {
        response.resume();
        signal.removeEventListener("abort", abort);
        resolve(new Response(null, { status, headers: forwarded }));
        return;
      }
      const bodyStream = new ReadableStream<Uint8Array>({
        start(controller) {
          stream = controller;
          response.on("data", (chunk: Uint8Array) => {
            controller.enqueue(chunk);
            if ((controller.desiredSize ?? 0) <= 0) response.pause();
          });
          response.on("end", () => {
            signal.removeEventListener("abort", abort);
            try {
              controller.close();
            } catch {
              // cancelled meanwhile
            }
          });
          response.on("error", fail);
        },
        pull() {
          response.resume();
        },
        cancel() {
          signal.removeEventListener("abort", abort);
          request.destroy();
        },
      }, { highWaterMark: 4 });
      resolve(new Response(bodyStream, { status, headers: forwarded }));
    });
    const abort = () => request.destroy(signal.reason as Error);
    signal.addEventListener("abort", abort, { once: true });
    request.on("error", (error: Error) => {
      signal.removeEventListener("abort", abort);
      fail(error);
    });
    request.end(body);
    return promise;
  }

  /** Closes idle connections (queries in flight keep theirs until done). */
  close(): void {
    this.#agent.destroy();
  }
}
