/**
 * The HTTP listener: a pure `Request → Response` handler implementing the
 * original relay's routing table and write pipeline, and a thin
 * `Deno.serve` wrapper around it. This module alone turns errors into HTTP
 * answers (InfluxDB's `{"error":"…"}` bodies).
 *
 * @module
 */

import type { WriteBatch } from "./batch.ts";
import type { Decision } from "./response_rule.ts";
import {
  LineProtocolError,
  normalizeLines,
  parsePrecision,
} from "./line_protocol.ts";
import type { Logger } from "./log.ts";
import { parseWriteQuery, type WriteQuery } from "./query_string.ts";
import { decodeGzip, GzipHeaderError } from "./gzip.ts";

/** Where the handler sends validated writes (the listener's fan-out). */
export interface WriteTarget {
  /** Sends one batch and resolves with the client's answer. */
  write(batch: WriteBatch): Promise<Decision>;
}

/** Options for {@linkcode createHttpHandler}. */
export interface HttpHandlerOptions {
  /** The listener's name, for logs. */
  name: string;
  /** Where client mistakes are logged (at debug level). */
  logger: Logger;
  /**
   * `rp` forwarded when the client sends none.
   * @default ""
   */
  defaultRetentionPolicy?: string;
  /**
   * Current time in nanoseconds since the epoch; tests pass a fixed clock.
   * @default the system clock
   */
  clock?: () => bigint;
}

/** Returns the system time in nanoseconds (microsecond resolution). */
export function systemClockNs(): bigint {
  const ms = performance.timeOrigin + performance.now();
  return BigInt(Math.trunc(ms * 1000)) * 1000n;
}

const JSON_HEADERS = { "Content-Type": "application/json" } as const;

/** InfluxDB's error body: `{"error":"<message>"}` and a newline. */
function jsonError(
  status: number,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify({ error: message }) + "\n", {
    status,
    headers: { ...JSON_HEADERS, ...headers },
  });
}

/** Splits an absolute request URL into its path and raw query. */
function splitTarget(url: string): { path: string; query: string } {
  const pathStart = url.indexOf("/", url.indexOf("//") + 2);
  if (pathStart < 0) return { path: "/", query: "" };
  const queryStart = url.indexOf("?", pathStart);
  return queryStart < 0 ? { path: url.slice(pathStart), query: "" } : {
    path: url.slice(pathStart, queryStart),
    query: url.slice(queryStart + 1),
  };
}

/**
 * Creates the request handler of one HTTP listener.
 *
 * @param target The fan-out writes go to.
 * @param options Listener name, logger, default retention policy, clock.
 * @returns A handler that never rejects.
 */
export function createHttpHandler(
  target: WriteTarget,
  options: HttpHandlerOptions,
): (request: Request) => Promise<Response> {
  const {
    name,
    logger,
    defaultRetentionPolicy = "",
    clock = systemClockNs,
  } = options;
  // Clients repeat the same few query strings; parsing once each is enough.
  const queries = new Map<string, WriteQuery>();
  function writeQuery(raw: string): WriteQuery {
    let query = queries.get(raw);
    if (query === undefined) {
      query = parseWriteQuery(raw, { defaultRetentionPolicy });
      if (queries.size >= 1024) queries.clear();
      queries.set(raw, query);
    }
    return query;
  }

  async function write(request: Request, rawQuery: string): Promise<Response> {
    const start = clock();
    const query = writeQuery(rawQuery);
    if (query.db === "") return jsonError(400, "missing parameter: db");
    let body: Uint8Array;
    try {
      body = new Uint8Array(await request.arrayBuffer());
    } catch (error) {
      logger.debug('Cannot read request body on relay "{relay}": {error}', {
        relay: name,
        error: String(error),
      });
      return jsonError(500, "problem reading request body");
    }
    if (request.headers.get("content-encoding") === "gzip") {
      try {
        body = await decodeGzip(body);
      } catch (error) {
        if (error instanceof GzipHeaderError) {
          return jsonError(400, "unable to decode gzip body");
        }
        return jsonError(500, "problem reading request body");
      }
    }
    let lines;
    try {
      lines = normalizeLines(body, {
        precision: parsePrecision(query.precision),
        now: start,
      });
    } catch (error) {
      if (!(error instanceof LineProtocolError)) throw error;
      logger.debug('Rejected write on relay "{relay}": {error}', {
        relay: name,
        error: error.message,
      });
      return jsonError(400, `unable to parse points: ${error.message}`);
    }
    const auth = request.headers.get("authorization");
    const decision = await target.write({
      query: query.normalized,
      auth: auth === "" ? null : auth,
      body: lines.body,
      points: lines.points,
    });
    return respond(decision);
  }

  return async function handle(request: Request): Promise<Response> {
    const { path, query } = splitTarget(request.url);
    const method = request.method;
    if (path === "/ping" && (method === "GET" || method === "HEAD")) {
      return new Response(null, {
        status: 204,
        headers: { "X-Influxdb-Version": "relay" },
      });
    }
    if (path !== "/write") return jsonError(404, "invalid write endpoint");
    if (method === "OPTIONS") {
      return new Response(null, { status: 204, headers: { Allow: "POST" } });
    }
    if (method !== "POST") {
      if (method === "HEAD") {
        return new Response(null, {
          status: 405,
          headers: { Allow: "POST", ...JSON_HEADERS },
        });
      }
      return jsonError(405, "invalid write method", { Allow: "POST" });
    }
    return await write(request, query);
  };
}

/** Turns the fan-out's decision into the client's answer (spec §3.8, D3). */
function respond(decision: Decision): Response {
  switch (decision.kind) {
    case "accepted":
      return new Response(null, { status: 204 });
    case "unavailable":
      return jsonError(503, "unable to write points");
    case "forward": {
      const { status, body, contentType } = decision.response;
      const headers: Record<string, string> = {};
      if (contentType !== null) headers["Content-Type"] = contentType;
      return new Response(
        body.length === 0 ? null : body as Uint8Array<ArrayBuffer>,
        { status, headers },
      );
    }
  }
}

/** Options for {@linkcode serveHttp}. */
export interface ServeHttpOptions {
  /** Interface to bind. */
  hostname: string;
  /** Port to bind; 0 picks a free one. */
  port: number;
  /** PEM text holding the certificate chain and the private key, for HTTPS. */
  combinedPem?: string;
  /** Called once the socket is bound. */
  onListen?: (addr: Deno.NetAddr) => void;
}

/**
 * Serves a handler with `Deno.serve`.
 *
 * @param handler The listener's request handler.
 * @param options Address and TLS material.
 * @returns The running server.
 * @throws When the address cannot be bound or the TLS material is invalid.
 */
export function serveHttp(
  handler: (request: Request) => Promise<Response>,
  options: ServeHttpOptions,
): Deno.HttpServer<Deno.NetAddr> {
  const { hostname, port, combinedPem, onListen = () => {} } = options;
  const tls = combinedPem === undefined
    ? {}
    : { cert: combinedPem, key: combinedPem };
  return Deno.serve({
    hostname,
    port,
    ...tls,
    onListen,
    onError(error) {
      return jsonError(500, `internal error: ${String(error)}`);
    },
  }, handler);
}
