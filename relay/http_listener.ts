/**
 * The HTTP listener: a pure `Request → Response` handler implementing the
 * original relay's routing table and write pipeline, the InfluxDB 2.x and
 * 3.x write endpoints (`/api/v2/write`, `/api/v3/write_lp`), the admin
 * paths (`/health`, `/status`, `/metrics`, answered by an injected handler),
 * InfluxQL on `/query` (answered by an injected handler, the query proxy)
 * and request counters, and a thin `Deno.serve` wrapper around it. This
 * module alone turns errors into HTTP answers: InfluxDB 1.x's
 * `{"error":"…"}` bodies on `/write`, InfluxDB 2.x's
 * `{"code":"…","message":"…"}` on the newer endpoints.
 *
 * @module
 */

import type { WriteBatch } from "./batch.ts";
import type { Decision } from "./response_rule.ts";
import {
  LineProtocolError,
  MAX_ERROR_TEXT,
  type NormalizedLines,
  normalizeLines,
  parsePrecision,
  type Precision,
} from "./line_protocol.ts";
import type { Logger } from "./log.ts";
import {
  leftOutNote,
  LogThrottle,
  type LogThrottleOptions,
} from "./log_throttle.ts";
import {
  firstValues,
  parseWriteQuery,
  withoutKeys,
  type WriteQuery,
} from "./query_string.ts";
import { decodeGzip, GzipHeaderError, GzipTooLargeError } from "./gzip.ts";
import type { Admission, Refusal } from "./admission.ts";
import {
  BodyTimeoutError,
  BodyTooLargeError,
  readBody,
} from "./body_reader.ts";
import {
  type ClientAuth,
  type ClientCredentials,
  presentedUser,
} from "./client_auth.ts";
import { partialWriteMessage } from "./partial_write.ts";
import {
  type CountedPath,
  countedPath,
  HttpListenerStats,
} from "./http_listener_stats.ts";
import { resolveAutoTimestamps } from "./timestamp_rewrite.ts";
import {
  formatDestination,
  parseV2Precision,
  parseV3Precision,
  splitBucket,
  v1Query,
  V2_PRECISIONS,
  V3_PRECISIONS,
} from "./write_api.ts";

/** Where the handler sends validated writes (the listener's fan-out). */
export interface WriteTarget {
  /** Sends one batch and resolves with the client's answer. */
  write(batch: WriteBatch): Promise<Decision>;
}

/**
 * What the listener knows of a request's connection: `Deno.serve`'s handler
 * info, or what a test passes.
 */
export interface ClientInfo {
  /** The client's address. */
  readonly remoteAddr: Deno.Addr;
}

/**
 * A listener's request handler: `Deno.serve`'s handler shape, the
 * connection info optional (without it the client is logged as `unknown`).
 */
export type HttpHandler = (
  request: Request,
  info?: ClientInfo,
) => Promise<Response>;

/**
 * Answers the admin paths (`/health`, `/status`, `/metrics`): a response,
 * or `null` for a path it does not serve.
 */
export type AdminHandler = (
  request: Request,
  path: string,
) => Promise<Response> | null;

/**
 * Answers `/query` (any method): the relay's query proxy. The listener
 * only checks the client's credentials first.
 */
export type QueryHandler = (request: Request) => Promise<Response>;

/** Options for {@linkcode createHttpHandler}. */
export interface HttpHandlerOptions {
  /** The listener's name, for logs. */
  name: string;
  /**
   * Where refused requests are logged: client mistakes at debug level,
   * load shedding and undelivered writes at warning level, the relay's own
   * failures at error level.
   */
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
  /**
   * Answers `/health`, `/status` and `/metrics`; `null` answers them 404
   * like any unknown path (`admin-endpoints = false`).
   * @default null
   */
  admin?: AdminHandler | null;
  /**
   * Answers `/query`; `null` answers it 404 `invalid write endpoint` like
   * any unknown path, as the original did (`query = false`).
   * @default null
   */
  query?: QueryHandler | null;
  /**
   * Where requests, bytes, points and parse errors are counted.
   * @default a new HttpListenerStats
   */
  stats?: HttpListenerStats;
  /**
   * Largest request body accepted as received (compressed or not), in
   * bytes; larger ones are answered 413. `0` means no limit.
   * @default {0}
   */
  maxBodyBytes?: number;
  /**
   * Largest size a gzip body may inflate to, in bytes, checked while it
   * inflates; larger ones are answered 413. `0` means no limit.
   * @default {0}
   */
  maxDecompressedBytes?: number;
  /**
   * Longest a write's body may take to arrive, in milliseconds; slower ones
   * are answered 408. `0` means no deadline.
   * @default {0}
   */
  readTimeoutMs?: number;
  /**
   * Caps writes in progress and their rate (503 and 429); `null` admits
   * every write.
   * @default {null}
   */
  admission?: Admission | null;
  /**
   * The users and tokens a write (and, with
   * {@linkcode HttpHandlerOptions.authAdminEndpoints}, an admin path) must
   * present; `null` asks for none.
   * @default {null}
   */
  auth?: ClientAuth | null;
  /**
   * With {@linkcode HttpHandlerOptions.auth}: `/health`, `/status` and
   * `/metrics` need credentials too (`/ping` never does).
   * @default {true}
   */
  authAdminEndpoints?: boolean;
  /**
   * With {@linkcode HttpHandlerOptions.auth}: forward the client's
   * `Authorization` header and `u`/`p` to the backends although the relay
   * checked them; otherwise they are not forwarded.
   * @default {false}
   */
  forwardCredentials?: boolean;
  /**
   * Forward the valid lines of a body with invalid ones and answer 400
   * `partial write: … dropped=N`, as InfluxDB does, instead of rejecting
   * the whole body.
   * @default {false}
   */
  partialWrites?: boolean;
  /**
   * How often each kind of warning about refused writes (429 and 503 from
   * the limits, 503 for undelivered writes) and each error is logged: at
   * most `burst` lines per `intervalMs`, the next one saying how many were
   * left out. Client mistakes (debug) are not limited.
   * @default {{ burst: 5, intervalMs: 10000 }}
   */
  logThrottle?: LogThrottleOptions;
}

/** The paths an {@linkcode AdminHandler} may answer. */
const ADMIN_PATHS: ReadonlySet<string> = new Set([
  "/health",
  "/status",
  "/metrics",
]);

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

/** The InfluxDB 2.x error code of each status the relay itself answers. */
const V2_CODES: Readonly<Record<number, string>> = {
  400: "invalid",
  401: "unauthorized",
  404: "not found",
  405: "method not allowed",
  408: "request timeout",
  413: "request too large",
  429: "too many requests",
  500: "internal error",
  503: "unavailable",
};

/**
 * InfluxDB 2.x's error body, `{"code":"<code>","message":"<message>"}`, with
 * its `X-Platform-Error-Code` header; the code follows from the status.
 */
function v2Error(
  status: number,
  message: string,
  headers: Record<string, string> = {},
): Response {
  const code = V2_CODES[status] ?? "internal error";
  return new Response(JSON.stringify({ code, message }), {
    status,
    headers: {
      "Content-Type": "application/json; charset=utf-8",
      "X-Platform-Error-Code": code,
      ...headers,
    },
  });
}

/** Builds the answer to a request the relay itself rejects. */
type ErrorResponder = (
  status: number,
  message: string,
  headers?: Record<string, string>,
) => Response;

/** InfluxDB 1.x's answer to a body over `max-body-size`. */
const TOO_LARGE = "Request Entity Too Large";
/** What InfluxDB adds to every 401. */
const CHALLENGE = { "WWW-Authenticate": 'Basic realm="InfluxDB"' } as const;

/** A write's target, read once per distinct query string. */
interface ParsedTarget {
  /** Why the query is rejected (status and message), or `null`. */
  readonly error: { readonly status: number; readonly message: string } | null;
  /** Unit of the body's timestamps; `"auto"` guesses per line (v3). */
  readonly precision: Precision | "auto";
  /** {@linkcode WriteBatch.query}. */
  readonly query: string;
  /** {@linkcode WriteBatch.destination}. */
  readonly destination: string;
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
 * A client's address as log lines name it: `127.0.0.1:50432`,
 * `[::1]:50432`, a Unix socket's path.
 *
 * @param addr The address.
 * @returns The address as text.
 */
export function formatAddress(addr: Deno.Addr): string {
  if ("hostname" in addr) {
    return addr.hostname.includes(":")
      ? `[${addr.hostname}]:${addr.port}`
      : `${addr.hostname}:${addr.port}`;
  }
  if ("path" in addr) return addr.path === "" ? addr.transport : addr.path;
  return addr.transport;
}

/** Longest request path quoted in a log line, in characters. */
const MAX_LOGGED_PATH = 100;
/** Longest user name quoted in a log line, in characters. */
const MAX_LOGGED_USER = 64;

/**
 * Control characters, and the characters that reorder or break what a
 * terminal shows (line separators, bidirectional overrides).
 */
const UNPRINTABLE =
  // deno-lint-ignore no-control-regex -- finding them is the point
  /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * Client-sent text made safe for one log line: cut to `max` characters
 * (`…` marks the cut), then control and layout characters written as
 * `\xNN` or `\uNNNN`, so a line of junk cannot forge log lines or colour a
 * terminal.
 *
 * @example Usage
 * ```ts
 * import { printable } from "./http_listener.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(printable("cpu\tvalue=\x1b[31m", 100), "cpu\\x09value=\\x1b[31m");
 * assert.equal(printable("abcdef", 3), "abc…");
 * ```
 *
 * @param text The text as the client sent it.
 * @param max Most characters kept.
 * @returns The text to log.
 */
export function printable(text: string, max: number): string {
  let cut = text;
  if (cut.length > max) {
    // Never split a surrogate pair.
    const end = /[\ud800-\udbff]/.test(cut[max - 1] ?? "") ? max - 1 : max;
    cut = `${cut.slice(0, end)}…`;
  }
  return cut.replace(UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/** An error's message, or what was thrown as text. */
function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Creates the request handler of one HTTP listener: `/write` and `/ping` as
 * the original relay, `/api/v2/write` (InfluxDB 2.x) and `/api/v3/write_lp`
 * (InfluxDB 3) writes turned into batches with the same v1 query plus the
 * client's {@linkcode WriteBatch.destination}, the admin paths when an
 * admin handler is given, and `/query` when a query handler is given. Every
 * answer is counted by path and status.
 *
 * Every request the listener itself refuses is logged with the client's
 * address (from the handler's connection info), method, path and answer:
 * client mistakes at debug level, writes refused by a limit and writes not
 * stored as required at warning level (throttled), the relay's own failures
 * at error level. Nothing is built for a log line whose level is off, and
 * nothing at all for a request that succeeds.
 *
 * @param target The fan-out writes go to.
 * @param options Listener name, logger, default retention policy, clock,
 * admin handler, counters.
 * @returns A handler that never rejects.
 */
export function createHttpHandler(
  target: WriteTarget,
  options: HttpHandlerOptions,
): HttpHandler {
  const {
    name,
    logger,
    defaultRetentionPolicy = "",
    clock = systemClockNs,
    admin = null,
    query: answerQuery = null,
    stats = new HttpListenerStats(),
    maxBodyBytes = 0,
    maxDecompressedBytes = 0,
    readTimeoutMs = 0,
    admission = null,
    auth = null,
    authAdminEndpoints = true,
    forwardCredentials = false,
    partialWrites = false,
    logThrottle = {},
  } = options;
  // Each kind has its own throttle, so one flood cannot hide another.
  const shedRateThrottle = new LogThrottle(logThrottle);
  const shedConcurrencyThrottle = new LogThrottle(logThrottle);
  const undeliveredThrottle = new LogThrottle(logThrottle);
  const failureThrottle = new LogThrottle(logThrottle);
  // Credentials the relay checked stay here unless told otherwise.
  const stripCredentials = auth !== null && !forwardCredentials;
  // Clients repeat the same few query strings; parsing once each is enough.
  const queries = new Map<string, WriteQuery>();
  function writeQuery(raw: string): WriteQuery {
    let query = queries.get(raw);
    if (query === undefined) {
      query = parseWriteQuery(raw, { defaultRetentionPolicy });
      if (stripCredentials) {
        query = {
          ...query,
          normalized: withoutKeys(query.normalized, ["u", "p"]),
        };
      }
      if (queries.size >= 1024) queries.clear();
      queries.set(raw, query);
    }
    return query;
  }
  const v2Targets = new Map<string, ParsedTarget>();
  const v3Targets = new Map<string, ParsedTarget>();
  function parsedTarget(
    cache: Map<string, ParsedTarget>,
    raw: string,
    parse: (raw: string) => ParsedTarget,
  ): ParsedTarget {
    let parsed = cache.get(raw);
    if (parsed === undefined) {
      parsed = parse(raw);
      if (cache.size >= 1024) cache.clear();
      cache.set(raw, parsed);
    }
    return parsed;
  }

  // Log lines about refused requests. Each is built only when its level is
  // on; none is built for a request that succeeds.

  /** Who asked what, and the answer: the tail of every such line. */
  function requestValues(
    request: Request,
    info: ClientInfo | undefined,
    status: number,
  ): Record<string, unknown> {
    const addr = info?.remoteAddr;
    return {
      relay: name,
      status,
      method: request.method,
      path: printable(splitTarget(request.url).path, MAX_LOGGED_PATH),
      client: addr === undefined ? "unknown" : formatAddress(addr),
    };
  }

  /** Logs a write refused for what the client sent (debug). */
  function rejectedWrite(
    request: Request,
    info: ClientInfo | undefined,
    status: number,
    error: string,
  ): void {
    if (!logger.isEnabledFor("debug")) return;
    logger.debug(
      'Rejected write on relay "{relay}": {error}; answered {status} to {method} {path} from {client}',
      { ...requestValues(request, info, status), error },
    );
  }

  /** Logs a write refused for one bad line, quoting the line (debug). */
  function rejectedLine(
    request: Request,
    info: ClientInfo | undefined,
    error: LineProtocolError,
  ): void {
    if (!logger.isEnabledFor("debug")) return;
    if (error.text === "") {
      rejectedWrite(request, info, 400, error.message);
      return;
    }
    logger.debug(
      "Rejected write on relay \"{relay}\": {error}: '{line}'; answered {status} to {method} {path} from {client}",
      {
        ...requestValues(request, info, 400),
        error: error.message,
        // Already cut to MAX_ERROR_TEXT characters and a "…".
        line: printable(error.text, MAX_ERROR_TEXT + 1),
      },
    );
  }

  /** Logs the bad lines left out of a partial write (debug). */
  function rejectedLines(
    request: Request,
    info: ClientInfo | undefined,
    status: number,
    lines: NormalizedLines,
  ): void {
    if (!logger.isEnabledFor("debug")) return;
    const error = lines.firstError;
    logger.debug(
      "Rejected lines of a write on relay \"{relay}\": unable to parse '{line}': {error}; left out {skipped} bad line(s), forwarded {points}; answered {status} to {method} {path} from {client}",
      {
        ...requestValues(request, info, status),
        line: printable(error?.text ?? "", MAX_ERROR_TEXT + 1),
        error: error?.message ?? "invalid line protocol",
        skipped: lines.skipped,
        points: lines.points,
      },
    );
  }

  /** Logs a request refused by authentication or routing (debug). */
  function refusedRequest(
    request: Request,
    info: ClientInfo | undefined,
    status: number,
    error: string,
    credentials: ClientCredentials | null = null,
  ): void {
    if (!logger.isEnabledFor("debug")) return;
    const user = credentials === null ? null : presentedUser(credentials);
    const values = { ...requestValues(request, info, status), error };
    if (user === null) {
      logger.debug(
        'Refused request on relay "{relay}": {error}; answered {status} to {method} {path} from {client}',
        values,
      );
    } else {
      logger.debug(
        'Refused request on relay "{relay}": {error} for user "{user}"; answered {status} to {method} {path} from {client}',
        { ...values, user: printable(user, MAX_LOGGED_USER) },
      );
    }
  }

  /** Logs a write refused by a limit (warning, throttled per limit). */
  function shedLoad(
    request: Request,
    info: ClientInfo | undefined,
    refusal: Refusal,
  ): void {
    if (!logger.isEnabledFor("warning")) return;
    const throttle = refusal.status === 429
      ? shedRateThrottle
      : shedConcurrencyThrottle;
    const suppressed = throttle.admit();
    if (suppressed < 0) return;
    logger.warn(
      'Shedding load on relay "{relay}": {error}; answered {status} to {method} {path} from {client}{more}',
      {
        ...requestValues(request, info, refusal.status),
        error: refusal.message,
        more: leftOutNote(suppressed),
        suppressed,
      },
    );
  }

  /** Logs a write no backend stored as required (warning, throttled). */
  function undelivered(
    request: Request,
    info: ClientInfo | undefined,
    error: string,
  ): void {
    if (!logger.isEnabledFor("warning")) return;
    const suppressed = undeliveredThrottle.admit();
    if (suppressed < 0) return;
    logger.warn(
      'Failed write on relay "{relay}": {error}; answered {status} to {method} {path} from {client}{more}',
      {
        ...requestValues(request, info, 503),
        error,
        more: leftOutNote(suppressed),
        suppressed,
      },
    );
  }

  /** Logs a request the relay failed to answer (error, throttled). */
  function failedRequest(
    request: Request,
    info: ClientInfo | undefined,
    error: unknown,
  ): void {
    if (!logger.isEnabledFor("error")) return;
    const suppressed = failureThrottle.admit();
    if (suppressed < 0) return;
    logger.error(
      'Cannot answer a request on relay "{relay}": {error}; answered {status} to {method} {path} from {client}{more}',
      {
        ...requestValues(request, info, 500),
        error: String(error),
        more: leftOutNote(suppressed),
        suppressed,
      },
    );
  }

  /** `db`/`rp` of a v2 bucket or v3 database, as v1 backends get them. */
  function v1QueryOf(name: string, precision: Precision): string {
    const { db, rp } = splitBucket(name);
    return v1Query({ db, rp: rp || defaultRetentionPolicy }, precision);
  }

  function parseV2Target(raw: string): ParsedTarget {
    const values = firstValues(raw);
    const precision = parseV2Precision(values.get("precision") ?? "");
    const bucket = values.get("bucket") ?? "";
    let error: ParsedTarget["error"] = null;
    if (precision === null) {
      error = {
        status: 400,
        message:
          `invalid precision; valid precision units are ${V2_PRECISIONS}`,
      };
    } else if (bucket === "") {
      error = { status: 404, message: "bucket not found" };
    }
    return {
      error,
      precision: precision ?? "n",
      query: v1QueryOf(bucket, precision ?? "n"),
      destination: formatDestination({
        bucket,
        org: values.get("org") ?? "",
        orgID: values.get("orgID") ?? "",
      }),
    };
  }

  function parseV3Target(raw: string): ParsedTarget {
    const values = firstValues(raw);
    const precision = parseV3Precision(values.get("precision") ?? "");
    const db = values.get("db") ?? "";
    let error: ParsedTarget["error"] = null;
    if (precision === null) {
      error = {
        status: 400,
        message: `invalid precision; valid values are ${V3_PRECISIONS}`,
      };
    } else if (db === "") {
      error = { status: 400, message: "missing parameter: db" };
    }
    // `auto` is resolved here: timestamps reach every backend in ns.
    const unit = precision === null || precision === "auto" ? "n" : precision;
    return {
      error,
      precision: precision ?? "n",
      query: v1QueryOf(db, unit),
      destination: formatDestination({ db }),
    };
  }

  /**
   * Reads, decompresses and validates the body of a write.
   *
   * @returns The lines to forward, or the client's answer to a bad body.
   */
  async function readLines(
    request: Request,
    info: ClientInfo | undefined,
    precision: Precision,
    now: bigint,
    fail: ErrorResponder,
  ): Promise<NormalizedLines | Response> {
    let body: Uint8Array;
    try {
      body = await readBody(request, {
        maxBytes: maxBodyBytes,
        timeoutMs: readTimeoutMs,
      });
    } catch (error) {
      // Too large or too slow is the client's doing; so is a body that
      // breaks off (the client went away), answered 500 as the original.
      const [status, message] = error instanceof BodyTooLargeError
        ? [413, TOO_LARGE]
        : error instanceof BodyTimeoutError
        ? [408, "timeout reading request body"]
        : [500, "problem reading request body"];
      rejectedWrite(
        request,
        info,
        status,
        error instanceof BodyTooLargeError || error instanceof BodyTimeoutError
          ? error.message
          : `Cannot read request body: ${messageOf(error)}`,
      );
      return fail(status, message);
    }
    stats.countBytes(body.length);
    if (request.headers.get("content-encoding") === "gzip") {
      try {
        body = await decodeGzip(body, { maxBytes: maxDecompressedBytes });
      } catch (error) {
        // A damaged or truncated stream is the client's too (500, as the
        // original answers it).
        const [status, message] = error instanceof GzipHeaderError
          ? [400, "unable to decode gzip body"]
          : error instanceof GzipTooLargeError
          ? [413, TOO_LARGE]
          : [500, "problem reading request body"];
        rejectedWrite(request, info, status, messageOf(error));
        return fail(status, message);
      }
    }
    try {
      const lines = normalizeLines(body, {
        precision,
        now,
        skipInvalid: partialWrites,
      });
      if (lines.skipped > 0) {
        stats.countParseError();
        // Nothing valid: the whole write is rejected, as InfluxDB does.
        if (lines.points === 0) {
          const error = lines.firstError;
          if (error !== null) rejectedLine(request, info, error);
          return fail(400, `unable to parse points: ${error?.message ?? ""}`);
        }
      }
      stats.countPoints(lines.points);
      return lines;
    } catch (error) {
      if (!(error instanceof LineProtocolError)) throw error;
      stats.countParseError();
      rejectedLine(request, info, error);
      return fail(400, `unable to parse points: ${error.message}`);
    }
  }

  function authorization(request: Request): string | null {
    if (stripCredentials) return null;
    const header = request.headers.get("authorization");
    return header === "" ? null : header;
  }

  const credentialQueries = new Map<string, Map<string, string>>();
  /** The credentials a request presents (header, `u` and `p`). */
  function credentials(request: Request, rawQuery: string): ClientCredentials {
    let values = credentialQueries.get(rawQuery);
    if (values === undefined) {
      values = firstValues(rawQuery);
      if (credentialQueries.size >= 1024) credentialQueries.clear();
      credentialQueries.set(rawQuery, values);
    }
    return {
      authorization: request.headers.get("authorization"),
      u: values.get("u") ?? null,
      p: values.get("p") ?? null,
    };
  }

  /** The 401 for a request whose credentials were refused, or `null`. */
  function unauthorized(
    request: Request,
    info: ClientInfo | undefined,
    rawQuery: string,
    v1: boolean,
  ): Response | null {
    if (auth === null) return null;
    const presented = credentials(request, rawQuery);
    const failure = auth.check(presented);
    if (failure === null) return null;
    refusedRequest(request, info, 401, failure, presented);
    return v1
      ? jsonError(401, failure, CHALLENGE)
      : v2Error(401, "unauthorized access", CHALLENGE);
  }

  function refused(refusal: Refusal, fail: ErrorResponder): Response {
    return fail(refusal.status, refusal.message, {
      "Retry-After": String(refusal.retryAfterSeconds),
    });
  }

  /**
   * Runs a write once its credentials are accepted and admission control
   * lets it in; answers 401, 429 or 503 otherwise.
   */
  async function guarded(
    request: Request,
    info: ClientInfo | undefined,
    rawQuery: string,
    api: "v1" | "v2",
    run: () => Promise<Response>,
  ): Promise<Response> {
    const fail = api === "v1" ? jsonError : v2Error;
    const refusedAuth = unauthorized(request, info, rawQuery, api === "v1");
    if (refusedAuth !== null) return refusedAuth;
    if (admission === null) return await run();
    const refusal = admission.enter();
    if (refusal !== null) {
      shedLoad(request, info, refusal);
      return refused(refusal, fail);
    }
    try {
      return await run();
    } finally {
      admission.leave();
    }
  }

  /**
   * The answer to a forwarded write: a partial write, or the decision's.
   * Logs the lines left out, and a 503 of the relay's own.
   */
  function answer(
    request: Request,
    info: ClientInfo | undefined,
    decision: Decision,
    lines: NormalizedLines,
    fail: ErrorResponder,
  ): Response {
    let response: Response;
    if (decision.kind === "accepted") {
      if (lines.skipped === 0) return new Response(null, { status: 204 });
      response = fail(400, partialWriteMessage(lines));
    } else if (decision.kind === "forward") {
      response = respond(decision, fail);
    } else {
      const message = undeliveredMessage(decision);
      undelivered(request, info, message);
      response = fail(503, message);
    }
    if (lines.skipped > 0) {
      rejectedLines(request, info, response.status, lines);
    }
    return response;
  }

  async function write(
    request: Request,
    info: ClientInfo | undefined,
    rawQuery: string,
  ): Promise<Response> {
    const start = clock();
    const query = writeQuery(rawQuery);
    if (query.db === "") {
      rejectedWrite(request, info, 400, "missing parameter: db");
      return jsonError(400, "missing parameter: db");
    }
    const lines = await readLines(
      request,
      info,
      parsePrecision(query.precision),
      start,
      jsonError,
    );
    if (lines instanceof Response) return lines;
    const decision = await target.write({
      query: query.normalized,
      auth: authorization(request),
      body: lines.body,
      points: lines.points,
    });
    return answer(request, info, decision, lines, jsonError);
  }

  /** `/api/v2/write` and `/api/v3/write_lp`, once the method is POST. */
  async function writeNewApi(
    request: Request,
    info: ClientInfo | undefined,
    parsed: ParsedTarget,
  ): Promise<Response> {
    const start = clock();
    const { error } = parsed;
    if (error !== null) {
      rejectedWrite(request, info, error.status, error.message);
      return v2Error(error.status, error.message);
    }
    const auto = parsed.precision === "auto";
    const lines = await readLines(
      request,
      info,
      auto ? "n" : parsed.precision as Precision,
      start,
      v2Error,
    );
    if (lines instanceof Response) return lines;
    const decision = await target.write({
      query: parsed.query,
      auth: authorization(request),
      body: auto ? resolveAutoTimestamps(lines.body) : lines.body,
      points: lines.points,
      destination: parsed.destination,
    });
    return answer(request, info, decision, lines, v2Error);
  }

  /** Counts the answer to a request on `path`, and returns it. */
  function counted(path: CountedPath, response: Response): Response {
    stats.countRequest(path, response.status);
    return response;
  }

  /** Logs and counts a request refused by its method or path. */
  function misrouted(
    request: Request,
    info: ClientInfo | undefined,
    path: CountedPath,
    response: Response,
    error: string,
  ): Response {
    refusedRequest(request, info, response.status, error);
    return counted(path, response);
  }

  async function route(
    request: Request,
    info: ClientInfo | undefined,
  ): Promise<Response> {
    const { path, query } = splitTarget(request.url);
    const method = request.method;
    if (path === "/write") {
      if (method === "POST") {
        return counted(
          path,
          await guarded(
            request,
            info,
            query,
            "v1",
            () => write(request, info, query),
          ),
        );
      }
      if (method === "OPTIONS") {
        return counted(
          path,
          new Response(null, { status: 204, headers: { Allow: "POST" } }),
        );
      }
      if (method === "HEAD") {
        return misrouted(
          request,
          info,
          path,
          new Response(null, {
            status: 405,
            headers: { Allow: "POST", ...JSON_HEADERS },
          }),
          "invalid write method",
        );
      }
      return misrouted(
        request,
        info,
        path,
        jsonError(405, "invalid write method", { Allow: "POST" }),
        "invalid write method",
      );
    }
    if (path === "/ping" && (method === "GET" || method === "HEAD")) {
      return counted(
        path,
        new Response(null, {
          status: 204,
          headers: { "X-Influxdb-Version": "relay" },
        }),
      );
    }
    const v2 = path === "/api/v2/write";
    if (v2 || path === "/api/v3/write_lp") {
      if (method === "POST") {
        return counted(
          path,
          await guarded(request, info, query, "v2", () =>
            writeNewApi(
              request,
              info,
              v2
                ? parsedTarget(v2Targets, query, parseV2Target)
                : parsedTarget(v3Targets, query, parseV3Target),
            )),
        );
      }
      if (method === "OPTIONS") {
        return counted(
          path,
          new Response(null, { status: 204, headers: { Allow: "POST" } }),
        );
      }
      return misrouted(
        request,
        info,
        path,
        v2Error(405, "method not allowed", { Allow: "POST" }),
        "method not allowed",
      );
    }
    if (path === "/query" && answerQuery !== null) {
      const refusedAuth = unauthorized(request, info, query, true);
      return counted(path, refusedAuth ?? await answerQuery(request));
    }
    if (admin !== null && ADMIN_PATHS.has(path)) {
      if (authAdminEndpoints) {
        const refusedAuth = unauthorized(request, info, query, true);
        if (refusedAuth !== null) {
          return counted(countedPath(path), refusedAuth);
        }
      }
      const answer = admin(request, path);
      if (answer !== null) return counted(countedPath(path), await answer);
    }
    return misrouted(
      request,
      info,
      countedPath(path),
      jsonError(404, "invalid write endpoint"),
      "invalid write endpoint",
    );
  }

  return async function handle(
    request: Request,
    info?: ClientInfo,
  ): Promise<Response> {
    try {
      return await route(request, info);
    } catch (error) {
      // A bug of the relay's, not the client's: answered as Deno.serve's
      // onError would, but logged and counted.
      failedRequest(request, info, error);
      return counted(
        countedPath(splitTarget(request.url).path),
        jsonError(500, `internal error: ${String(error)}`),
      );
    }
  };
}

/** The relay's own 503 for a write not stored as required. */
function undeliveredMessage(
  decision: Extract<Decision, { kind: "unavailable" | "insufficient" }>,
): string {
  if (decision.kind === "insufficient") {
    return `unable to write points: stored on ${decision.stored} of ${decision.backends} backends, ack = "${decision.ack}" needs ${decision.needed}`;
  }
  return decision.reason === undefined
    ? "unable to write points"
    : `unable to write points: ${decision.reason}`;
}

/**
 * Turns the fan-out's decision into the client's answer (spec §3.8, D3);
 * `fail` words the relay's own 503 in the client's API.
 */
function respond(decision: Decision, fail: ErrorResponder): Response {
  switch (decision.kind) {
    case "accepted":
      return new Response(null, { status: 204 });
    case "unavailable":
    case "insufficient":
      return fail(503, undeliveredMessage(decision));
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
  /** PEM certificate chain, for HTTPS with {@linkcode ServeHttpOptions.key}. */
  cert?: string;
  /** PEM private key, for HTTPS with {@linkcode ServeHttpOptions.cert}. */
  key?: string;
  /** Called once the socket is bound. */
  onListen?: (addr: Deno.NetAddr) => void;
}

/**
 * Serves a handler with `Deno.serve`. The handler gets each request's
 * connection info; a handler made by {@linkcode createHttpHandler} and
 * called (without awaiting first) through wrappers that pass only the
 * request still finds it, for its log lines.
 *
 * @param handler The listener's request handler.
 * @param options Address and TLS material.
 * @returns The running server.
 * @throws When the address cannot be bound or the TLS material is invalid.
 */
export function serveHttp(
  handler: HttpHandler,
  options: ServeHttpOptions,
): Deno.HttpServer<Deno.NetAddr> {
  const { hostname, port, combinedPem, cert, key, onListen = () => {} } =
    options;
  // Deno's TLS (rustls) speaks TLS 1.2 and 1.3 with AEAD ciphers only, and
  // offers HTTP/2 and HTTP/1.1 by ALPN.
  const tls = combinedPem !== undefined
    ? { cert: combinedPem, key: combinedPem }
    : cert !== undefined && key !== undefined
    ? { cert, key }
    : {};
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
