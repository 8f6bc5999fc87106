/**
 * Test helper: HTTP/1.1 over a raw TCP connection, for what `fetch` cannot
 * do: send a malformed or endless request, send a body slowly, hold a
 * connection idle, and see exactly what the server answers (or that it
 * closes without answering).
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What came back on a raw connection. */
export interface RawResponse {
  /** The status code, or `0` when no status line arrived. */
  readonly status: number;
  /** Response headers, names lowercased (last value wins). */
  readonly headers: ReadonlyMap<string, string>;
  /** The body as text (`Content-Length` bytes, or up to EOF). */
  readonly body: string;
  /** Everything received, as text. */
  readonly raw: string;
  /** True when the server closed the connection. */
  readonly closed: boolean;
}

/** A raw client connection to a server. */
export class RawConnection implements AsyncDisposable {
  readonly #conn: Deno.TcpConn;
  #received = new Uint8Array(0);
  #closed = false;
  #disposed = false;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  /**
   * Connects to the host and port of `url`.
   *
   * @param url A base URL such as `http://127.0.0.1:9096`.
   * @returns The open connection.
   */
  static async open(url: string): Promise<RawConnection> {
    const { hostname, port } = new URL(url);
    return new RawConnection(
      await Deno.connect({ hostname, port: Number(port) }),
    );
  }

  /** True once the server closed the connection. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends bytes; resolves `false` instead of throwing when the server has
   * closed or reset the connection.
   */
  async send(data: string | Uint8Array): Promise<boolean> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    try {
      let offset = 0;
      while (offset < bytes.length) {
        offset += await this.#conn.write(bytes.subarray(offset));
      }
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Reads until one complete response has arrived, the server closes, or
   * `timeoutMs` passes.
   *
   * @returns The response (status `0` when nothing arrived).
   */
  async response(timeoutMs = 5000): Promise<RawResponse> {
    const deadline = performance.now() + timeoutMs;
    while (true) {
      const parsed = parse(this.#received, this.#closed);
      if (parsed !== null) {
        this.#received = this.#received.subarray(parsed.length);
        return parsed.response;
      }
      if (this.#closed) return parse(this.#received, true)!.response;
      const left = deadline - performance.now();
      if (left <= 0) {
        return {
          status: 0,
          headers: new Map(),
          body: "",
          raw: decoder.decode(this.#received),
          closed: false,
        };
      }
      await this.#readSome(left);
    }
  }

  /**
   * Waits until the server closes the connection.
   *
   * @returns `true` when it closed within `timeoutMs`.
   */
  async waitClosed(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (!this.#closed) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      await this.#readSome(left);
    }
    return true;
  }

  /** The read in progress, kept across timeouts so no bytes are lost. */
  #pending: Promise<void> | null = null;

  async #readSome(timeoutMs: number): Promise<void> {
    if (this.#pending === null) {
      const buffer = new Uint8Array(64 * 1024);
      this.#pending = this.#conn.read(buffer).then(
        (n) => this.#absorb(buffer, n),
        () => this.#absorb(buffer, null),
      ).finally(() => {
        this.#pending = null;
      });
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([this.#pending, timeout]);
    clearTimeout(timer);
  }

  #absorb(buffer: Uint8Array, n: number | null): void {
    if (n === null) {
      this.#closed = true;
      return;
    }
    const next = new Uint8Array(this.#received.length + n);
    next.set(this.#received);
    next.set(buffer.subarray(0, n), this.#received.length);
    this.#received = next;
  }

  /** Closes the connection (idempotent). */
  close(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.#pending;
  }
}

function parse(
  data: Uint8Array,
  closed: boolean,
): { response: RawResponse; length: number } | null {
  const text = decoder.decode(data);
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) {
    if (!closed) return null;
    return {
      response: {
        status: 0,
        headers: new Map(),
        body: "",
        raw: text,
        closed,
      },
      length: data.length,
    };
  }
  const [statusLine = "", ...lines] = text.slice(0, end).split("\r\n");
  const status = Number(statusLine.split(" ")[1] ?? 0);
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) {
      headers.set(
        line.slice(0, colon).trim().toLowerCase(),
        line.slice(colon + 1).trim(),
      );
    }
  }
  const headBytes = encoder.encode(text.slice(0, end + 4)).length;
  const length = headers.get("content-length");
  if (length !== undefined) {
    const total = headBytes + Number(length);
    if (data.length < total && !closed) return null;
    return {
      response: {
        status,
        headers,
        body: decoder.decode(data.subarray(headBytes, total)),
        raw: text,
        closed,
      },
      length: Math.min(total, data.length),
    };
  }
  if (status === 204 || status === 304 || (status >= 100 && status < 200)) {
    return {
      response: { status, headers, body: "", raw: text, closed },
      length: headBytes,
    };
  }
  if (!closed) return null;
  return {
    response: {
      status,
      headers,
      body: decoder.decode(data.subarray(headBytes)),
      raw: text,
      closed,
    },
    length: data.length,
  };
}
