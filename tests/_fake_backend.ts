/**
 * A recording HTTP backend for tests: `Deno.serve` on a loopback port that
 * records every request (method, path, query, headers, raw body and the TCP
 * connection it came on) and answers with scripted responses. Health probes
 * (`GET`/`HEAD` of a path ending in `/ping`, as the relay sends them) are
 * answered 204 like InfluxDB does and kept apart, in `pings`, so that they
 * never mix with the writes a test checks.
 *
 * @module
 */

/** One request as the fake backend received it. */
export interface RecordedRequest {
  /** HTTP method, e.g. `"POST"`. */
  method: string;
  /** URL path, e.g. `"/write"`. */
  path: string;
  /** Raw query string without the leading `"?"` (`""` when there is none). */
  query: string;
  /** Request headers as received. */
  headers: Headers;
  /** Raw body bytes, not decompressed. */
  body: Uint8Array;
  /** The body decoded as UTF-8 (meaningless for gzip bodies). */
  text: string;
  /**
   * Id (1, 2, …) of the TCP connection the request came on, in order of
   * first appearance; equal ids mean a keep-alive connection was reused.
   */
  connection: number;
}

/** How the fake backend answers one request. */
export interface ScriptedResponse {
  /**
   * HTTP status.
   *
   * @default {204}
   */
  status?: number;
  /** Response body; ignored for statuses that cannot have one (204, 304…). */
  body?: string | Uint8Array;
  /** Response headers. */
  headers?: Record<string, string>;
  /**
   * Answer only after this many milliseconds. When the backend closes first,
   * the timer is cleared and the answer is sent at once.
   */
  delayMs?: number;
  /**
   * Never answer: the request stays open (even if the client goes away) until
   * the backend closes, which answers it 503.
   */
  hang?: boolean;
}

/** Options for {@linkcode startFakeBackend}. */
export interface FakeBackendOptions {
  /**
   * Decides the answer to each request. `index` is the request's position in
   * {@linkcode FakeBackend.requests}. A throwing callback answers 500 with
   * `{"error": message}`.
   *
   * @default {() => ({ status: 204 })}
   */
  respond?: (
    req: RecordedRequest,
    index: number,
  ) => ScriptedResponse | Promise<ScriptedResponse>;
  /**
   * Decides the answer to each health probe (`GET /ping`).
   *
   * @default {() => ({ status: 204 })}
   */
  ping?: (req: RecordedRequest) => ScriptedResponse;
}

/** A running fake backend; dispose it (or call `close()`) to stop it. */
export interface FakeBackend extends AsyncDisposable {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** `url + "/write"`. */
  readonly writeUrl: string;
  /** The loopback port it listens on. */
  readonly port: number;
  /** Every request received so far, in arrival order (live array), probes aside. */
  readonly requests: RecordedRequest[];
  /** Every health probe (`GET /ping`) received so far (live array). */
  readonly pings: RecordedRequest[];
  /** Number of distinct TCP connections seen so far. */
  readonly connections: number;
  /**
   * Resolves once at least `count` requests have been recorded.
   *
   * @throws {Error} After `timeoutMs` (default 5000) with fewer requests.
   */
  waitForRequests(count: number, timeoutMs?: number): Promise<void>;
  /** Releases pending (delayed or hanging) requests and stops the server. */
  close(): Promise<void>;
}

const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

interface Waiter {
  count: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

class FakeBackendImpl implements FakeBackend {
  readonly requests: RecordedRequest[] = [];
  readonly pings: RecordedRequest[] = [];
  /** Resolves once the server listens. */
  readonly listening: Promise<void>;
  #port = 0;
  #respond: NonNullable<FakeBackendOptions["respond"]>;
  #ping: NonNullable<FakeBackendOptions["ping"]>;
  #decoder = new TextDecoder();
  #connectionIds = new Map<string, number>();
  #waiters = new Set<Waiter>();
  #closing = new AbortController();
  #server: Deno.HttpServer<Deno.NetAddr>;
  #closed: Promise<void> | null = null;

  constructor(
    respond: NonNullable<FakeBackendOptions["respond"]>,
    ping: NonNullable<FakeBackendOptions["ping"]>,
  ) {
    this.#respond = respond;
    this.#ping = ping;
    const listening = Promise.withResolvers<void>();
    this.listening = listening.promise;
    this.#server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: (addr) => {
        this.#port = addr.port;
        listening.resolve();
      },
      onError: (error) => {
        const message = error instanceof Error ? error.message : String(error);
        return Response.json({ error: message }, { status: 500 });
      },
    }, (request, info) => this.#handle(request, info));
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  get writeUrl(): string {
    return `${this.url}/write`;
  }

  async #handle(
    request: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ): Promise<Response> {
    const url = new URL(request.url);
    const body = new Uint8Array(await request.arrayBuffer());
    const probe = (request.method === "GET" || request.method === "HEAD") &&
      url.pathname.endsWith("/ping");
    const recorded: RecordedRequest = {
      method: request.method,
      path: url.pathname,
      query: url.search.startsWith("?") ? url.search.slice(1) : url.search,
      headers: new Headers(request.headers),
      body,
      text: this.#decoder.decode(body),
      // Probes come on a connection of their own: not one writes reuse.
      connection: probe ? 0 : this.#connectionId(info.remoteAddr),
    };
    if (probe) {
      this.pings.push(recorded);
      return buildResponse(this.#ping(recorded));
    }
    const index = this.#record(recorded);
    let scripted: ScriptedResponse;
    try {
      scripted = await this.#respond(recorded, index);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return Response.json({ error: message }, { status: 500 });
    }
    // request.signal is not watched: in Deno.serve it also aborts after
    // normal responses (legacy behaviour, with a warning), so a hanging
    // request simply lasts until close().
    const signals = [this.#closing.signal];
    if (scripted.hang === true) {
      await pause(Infinity, signals);
      return new Response(null, { status: 503 });
    }
    if (scripted.delayMs !== undefined && scripted.delayMs > 0) {
      await pause(scripted.delayMs, signals);
    }
    return buildResponse(scripted);
  }

  get connections(): number {
    return this.#connectionIds.size;
  }

  #connectionId(addr: Deno.NetAddr): number {
    const key = `${addr.hostname}:${addr.port}`;
    let id = this.#connectionIds.get(key);
    if (id === undefined) {
      id = this.#connectionIds.size + 1;
      this.#connectionIds.set(key, id);
    }
    return id;
  }

  #record(req: RecordedRequest): number {
    const index = this.requests.push(req) - 1;
    for (const waiter of this.#waiters) {
      if (this.requests.length >= waiter.count) waiter.resolve();
    }
    return index;
  }

  waitForRequests(count: number, timeoutMs = 5000): Promise<void> {
    if (this.requests.length >= count) return Promise.resolve();
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const timer = setTimeout(() => {
      waiter.reject(
        new Error(
          `Timed out after ${timeoutMs} ms waiting for ${count} request(s) on ${this.url}: received ${this.requests.length}`,
        ),
      );
    }, timeoutMs);
    const waiter: Waiter = {
      count,
      resolve: () => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
        resolve();
      },
      reject: (error) => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
        reject(error);
      },
    };
    this.#waiters.add(waiter);
    return promise;
  }

  close(): Promise<void> {
    if (this.#closed === null) {
      this.#closing.abort();
      for (const waiter of this.#waiters) {
        waiter.reject(
          new Error(
            `Cannot wait for ${waiter.count} request(s) as ${this.url} was closed: received ${this.requests.length}`,
          ),
        );
      }
      this.#closed = this.#server.shutdown();
    }
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Resolves after `ms` milliseconds, or as soon as one of the signals aborts.
 * The timer and listeners are always released.
 */
function pause(ms: number, signals: AbortSignal[]): Promise<void> {
  if (signals.some((s) => s.aborted)) return Promise.resolve();
  const { promise, resolve } = Promise.withResolvers<void>();
  const timer = Number.isFinite(ms) ? setTimeout(done, ms) : undefined;
  function done(): void {
    clearTimeout(timer);
    for (const s of signals) s.removeEventListener("abort", done);
    resolve();
  }
  for (const s of signals) s.addEventListener("abort", done, { once: true });
  return promise;
}

function buildResponse(scripted: ScriptedResponse): Response {
  const status = scripted.status ?? 204;
  const init: ResponseInit = { status };
  if (scripted.headers !== undefined) init.headers = scripted.headers;
  const body = NULL_BODY_STATUSES.has(status) ? undefined : scripted.body;
  if (body === undefined) return new Response(null, init);
  // Copy bytes so a view over a SharedArrayBuffer is accepted too.
  return new Response(typeof body === "string" ? body : body.slice(), init);
}

/**
 * Starts a recording backend on `127.0.0.1` and a free port; resolves once it
 * listens.
 *
 * @param options How to answer requests (default: 204 for everything).
 * @returns The running backend.
 */
export async function startFakeBackend(
  options: FakeBackendOptions = {},
): Promise<FakeBackend> {
  const {
    respond = () => ({ status: 204 }),
    ping = () => ({ status: 204 }),
  } = options;
  const backend = new FakeBackendImpl(respond, ping);
  await backend.listening;
  return backend;
}

/**
 * A loopback port with nothing listening on it, for "connection refused"
 * tests: binds port 0, reads the port and closes the listener. Another
 * process could take the port in between, which is unlikely in practice.
 *
 * @returns A port on `127.0.0.1` that currently refuses connections.
 */
export function reservedPortThatRefuses(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}
