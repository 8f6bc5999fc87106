/**
 * The relay's `/query`: InfluxQL reads go to ONE backend that is up and has
 * nothing queued (so a reader never sees the gap a returning backend still
 * has), chosen by a policy, with failover to the next on no answer or a
 * 5xx; statements that change data or schema go to EVERY backend and
 * succeed only when all applied them. Answers stream through; the relay's
 * own errors are InfluxDB 1.x's `{"error":"…"}`.
 *
 * | Query | Goes to | Client gets |
 * |---|---|---|
 * | reads only (`SELECT`, `SHOW`, `EXPLAIN`) | the first candidate by `policy` among backends `up` with nothing queued; the next on no answer or 5xx | the backend's answer, streamed; 503 when no backend is a candidate or none answered |
 * | writes only (`CREATE`/`DROP`/`ALTER`, users and grants, `DELETE`, `DROP SERIES`/`MEASUREMENT`, `SELECT INTO`) | every backend that takes writes | the first backend's answer when all answered alike; else 503 (some did not answer) or 502 (answers differ) naming the backends |
 * | both, or `KILL QUERY`/`DROP SHARD` | nowhere | 400 |
 *
 * When a backend is down, a write is refused (`whenDown = "refuse"`, 503,
 * nothing changed) or applied to the others and queued for it
 * (`"queue"`, see {@linkcode StatementQueue}).
 *
 * @module
 */

import { routeQuery, splitStatements, type Statement } from "./influxql.ts";
import type { Logger } from "./log.ts";
import { type QueryAnswer, readAnswer } from "./query_answer.ts";
import {
  type QueryRequest,
  QueryRequestError,
  readQueryRequest,
} from "./query_request.ts";
import type { BackendQuery, QueryTarget } from "./query_target.ts";
import { StatementQueue } from "./statement_queue.ts";

/** How a read picks its backend among the candidates. */
export type QueryPolicy = "first" | "round-robin" | "lowest-latency";

/** What a write does when a backend is down. */
export type WhenDown = "refuse" | "queue";

/** Options for {@linkcode QueryProxy}. */
export interface QueryProxyOptions {
  /** The relay (listener) name, for logs and messages. */
  relay: string;
  /** Where failovers, fan-outs and queued statements are logged. */
  logger: Logger;
  /**
   * `first`: candidates in config order; `round-robin`: each read starts
   * one further; `lowest-latency`: by the last health probe's latency
   * (unknown last), ties in config order.
   * @default "first"
   */
  policy?: QueryPolicy;
  /**
   * A write while a backend is down: `refuse` it (503, nothing changed), or
   * apply it to the others and `queue` it for the down backend.
   * @default "refuse"
   */
  whenDown?: WhenDown;
  /**
   * Longest a backend may take to start answering (connect and response
   * headers), in ms, before a read fails over and a write counts the
   * backend as not answering; 0 means no limit.
   * @default 0
   */
  timeoutMs?: number;
  /**
   * `rp` added when the client sent none, as on writes.
   * @default ""
   */
  defaultRetentionPolicy?: string;
  /**
   * Forward the client's `Authorization` and `u`/`p` to the backends (an
   * output's own credentials replace them anyway); `false` when the relay
   * checked them itself and keeps them.
   * @default true
   */
  forwardCredentials?: boolean;
  /**
   * First pause between two replays of a queued statement, in ms.
   * @default 1000
   */
  retryMs?: number;
  /**
   * Longest pause between two replays of a queued statement, in ms.
   * @default 30000
   */
  maxRetryDelayMs?: number;
  /**
   * Most statements queued per backend.
   * @default 1000
   */
  maxQueuedStatements?: number;
}

const JSON_HEADERS = { "Content-Type": "application/json" } as const;

/** InfluxDB's error body, `{"error":"<message>"}` and a newline. */
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

/** A backend's outcome in a fan-out. */
type Outcome =
  | { readonly target: QueryTarget; readonly answer: QueryAnswer }
  | { readonly target: QueryTarget; readonly failure: string };

/** Longest statement text quoted in logs and messages. */
const MAX_QUOTED = 200;

function describe(statements: readonly Statement[]): string {
  const text = statements.map((s) => s.text).join("; ");
  return text.length > MAX_QUOTED ? `${text.slice(0, MAX_QUOTED)}…` : text;
}

/** Routes `/query` requests to the backends of one relay. */
export class QueryProxy {
  readonly #targets: readonly QueryTarget[];
  readonly #queues: ReadonlyMap<QueryTarget, StatementQueue>;
  readonly #relay: string;
  readonly #logger: Logger;
  readonly #policy: QueryPolicy;
  readonly #whenDown: WhenDown;
  readonly #timeoutMs: number;
  readonly #defaultRetentionPolicy: string;
  readonly #forwardCredentials: boolean;
  #turn = 0;

  /**
   * @param targets The relay's backends that answer `/query`, in config
   * order.
   * @param options Policies, timeout, logger.
   * @throws {RangeError} When a timing is out of range.
   */
  constructor(targets: readonly QueryTarget[], options: QueryProxyOptions) {
    const {
      relay,
      logger,
      policy = "first",
      whenDown = "refuse",
      timeoutMs = 0,
      defaultRetentionPolicy = "",
      forwardCredentials = true,
      retryMs = 1000,
      maxRetryDelayMs = 30_000,
      maxQueuedStatements = 1000,
    } = options;
    if (!(timeoutMs >= 0) || !Number.isFinite(timeoutMs)) {
      throw new RangeError(
        `Cannot proxy queries as 'timeoutMs' must be a non-negative number: current value is ${timeoutMs}`,
      );
    }
    this.#targets = targets;
    this.#relay = relay;
    this.#logger = logger;
    this.#policy = policy;
    this.#whenDown = whenDown;
    this.#timeoutMs = timeoutMs;
    this.#defaultRetentionPolicy = defaultRetentionPolicy;
    this.#forwardCredentials = forwardCredentials;
    this.#queues = new Map(
      targets.map((target) => [
        target,
        new StatementQueue(target, {
          relay,
          logger,
          retryMs,
          maxDelayMs: maxRetryDelayMs,
          maxLength: maxQueuedStatements,
          timeoutMs: timeoutMs === 0 ? 30_000 : timeoutMs,
        }),
      ]),
    );
  }

  /**
   * Statements waiting for a backend (`query-ddl-when-down = "queue"`).
   *
   * @param name The backend's name.
   * @returns How many, 0 for an unknown name.
   */
  queued(name: string): number {
    for (const [target, queue] of this.#queues) {
      if (target.name === name) return queue.length;
    }
    return 0;
  }

  /**
   * Settles once no statement is queued for any backend.
   *
   * @returns When every queue is empty.
   */
  async settled(): Promise<void> {
    await Promise.all([...this.#queues.values()].map((q) => q.idle()));
  }

  /**
   * Answers one `/query` request. Never rejects.
   *
   * @param request The client's request (any method).
   * @returns The answer: a backend's (streamed) or the relay's own error.
   */
  async handle(request: Request): Promise<Response> {
    if (request.method === "OPTIONS") {
      return new Response(null, {
        status: 204,
        headers: { Allow: "GET, POST, OPTIONS" },
      });
    }
    if (request.method !== "GET" && request.method !== "POST") {
      return jsonError(405, "invalid query method", { Allow: "GET, POST" });
    }
    let query: QueryRequest;
    try {
      query = await readQueryRequest(request, {
        defaultRetentionPolicy: this.#defaultRetentionPolicy,
      });
    } catch (error) {
      if (error instanceof QueryRequestError) {
        return jsonError(error.status, error.message);
      }
      return jsonError(500, "problem reading request body");
    }
    const statements = splitStatements(query.q);
    const route = routeQuery(statements);
    switch (route.kind) {
      case "refused":
        this.#logger.debug('Refused a query on relay "{relay}": {reason}', {
          relay: this.#relay,
          reason: route.reason,
        });
        return jsonError(400, route.reason);
      case "read":
        return await this.#read(query);
      case "fan-out":
        return await this.#fanOut(query, statements);
    }
  }

  /** Stops replaying queued statements (those left are logged). */
  async close(): Promise<void> {
    await Promise.all([...this.#queues.values()].map((q) => q.close()));
  }

  /** The read candidates in the order the policy tries them. */
  #candidates(): QueryTarget[] {
    const candidates = this.#targets.filter((target) =>
      target.state() === "up" && this.#queues.get(target)!.length === 0
    );
    if (candidates.length < 2) return candidates;
    switch (this.#policy) {
      case "first":
        return candidates;
      case "round-robin": {
        const start = this.#turn++ % candidates.length;
        if (this.#turn >= Number.MAX_SAFE_INTEGER) this.#turn = 0;
        return [...candidates.slice(start), ...candidates.slice(0, start)];
      }
      case "lowest-latency": {
        const latency = (target: QueryTarget) =>
          target.latencyMs() ?? Number.POSITIVE_INFINITY;
        // Array.prototype.sort is stable: ties stay in config order.
        return candidates
          .map((target) => ({ target, latency: latency(target) }))
          .sort((a, b) => a.latency - b.latency)
          .map(({ target }) => target);
      }
    }
  }

  /** Why no backend can take a read: each backend's state. */
  #unavailable(): string {
    const states = this.#targets.map((target) => {
      const queued = this.#queues.get(target)!.length;
      const state = target.state();
      const why = state !== "up"
        ? (state === "down" ? "down" : "catching up on queued writes")
        : `${queued} queued statements to apply first`;
      return `"${target.name}" is ${why}`;
    });
    return states.length === 0
      ? "unable to query: the relay has no backend that answers queries"
      : `unable to query: no backend is up to date (${states.join(", ")})`;
  }

  /**
   * Sends one query to one backend, aborted when the backend does not start
   * answering within the timeout.
   *
   * The client's `request.signal` is not used: Deno 2 warns once the first
   * time a successful response's request had its signal read (its legacy
   * abort-on-success), and a client that goes away cancels the streamed
   * body, which closes the backend request.
   *
   * @returns The response, its body still streaming.
   */
  async #send(target: QueryTarget, query: BackendQuery): Promise<Response> {
    const timeout = new AbortController();
    if (this.#timeoutMs === 0) return await target.send(query, timeout.signal);
    const timer = setTimeout(
      () =>
        timeout.abort(
          new Error(`no answer within ${this.#timeoutMs}ms (query-timeout)`),
        ),
      this.#timeoutMs,
    );
    try {
      return await target.send(query, timeout.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  async #read(query: QueryRequest): Promise<Response> {
    const candidates = this.#candidates();
    if (candidates.length === 0) {
      const message = this.#unavailable();
      this.#logger.warn('Relay "{relay}" cannot answer a query: {reason}', {
        relay: this.#relay,
        reason: message,
      });
      return jsonError(503, message);
    }
    const backendQuery: BackendQuery = {
      ...this.#forwarded(query),
      method: query.method,
      acceptEncoding: query.acceptEncoding,
    };
    const failures: string[] = [];
    for (const [index, target] of candidates.entries()) {
      const last = index === candidates.length - 1;
      let reason: string;
      try {
        const response = await this.#send(target, backendQuery);
        if (response.status < 500 || last) {
          const headers = new Headers(response.headers);
          headers.set("X-Relay-Backend", target.name);
          return new Response(response.body, {
            status: response.status,
            headers,
          });
        }
        const text = (await response.text().catch(() => "")).trim();
        reason = `HTTP ${response.status}${
          text === "" ? "" : `: ${text.slice(0, 512)}`
        }`;
      } catch (error) {
        reason = (error as Error).message;
      }
      failures.push(`backend "${target.name}": ${reason}`);
      this.#logger.warn(
        'Query to backend "{backend}" of relay "{relay}" failed{next}: {reason}',
        {
          backend: target.name,
          relay: this.#relay,
          next: last ? "" : `, trying "${candidates[index + 1]!.name}"`,
          reason,
        },
      );
    }
    return jsonError(503, `unable to query: ${failures.join("; ")}`);
  }

  async #fanOut(
    query: QueryRequest,
    statements: readonly Statement[],
  ): Promise<Response> {
    const description = describe(statements);
    const targets = this.#targets.filter((target) => target.takesWrites);
    if (targets.length === 0) {
      return jsonError(
        503,
        "unable to apply the query: the relay has no backend that takes statements changing data or schema",
      );
    }
    const deferred = targets.filter((target) =>
      target.state() === "down" || this.#queues.get(target)!.length > 0
    );
    const live = targets.filter((target) => !deferred.includes(target));
    const refusal = this.#refusal(deferred, live);
    if (refusal !== null) {
      this.#logger.warn('Relay "{relay}" refused "{statement}": {reason}', {
        relay: this.#relay,
        statement: description,
        reason: refusal,
      });
      return jsonError(503, `unable to apply the query: ${refusal}`);
    }
    const backendQuery: BackendQuery = {
      ...this.#forwarded(query),
      method: "POST",
      acceptEncoding: null,
    };
    const outcomes = await Promise.all(
      live.map((target) => this.#apply(target, backendQuery)),
    );
    const answered = outcomes.filter((o) => "answer" in o);
    const failed = outcomes.filter((o) => "failure" in o);
    const reference = answered[0]?.answer;
    const consistent = reference !== undefined &&
      answered.every((o) => o.answer.signature === reference.signature);
    if (reference !== undefined && consistent) {
      if (failed.length === 0 || !reference.applied) {
        return this.#applied(reference, backendQuery, description, deferred);
      }
      if (this.#whenDown === "queue") {
        return this.#applied(reference, backendQuery, description, [
          ...deferred,
          ...failed.map((o) => o.target),
        ]);
      }
    }
    const message = outcomes.map((outcome) => {
      const name = `"${outcome.target.name}"`;
      if ("failure" in outcome) return `${name} failed: ${outcome.failure}`;
      const { errors, applied } = outcome.answer;
      if (errors.length === 0) return `${name} applied it`;
      return `${name} ${
        applied ? "partly applied it, then answered" : "answered"
      }: ${errors.join("; ")}`;
    }).join("; ");
    this.#logger.error(
      'Relay "{relay}" applied "{statement}" on only some backends: {outcomes}',
      { relay: this.#relay, statement: description, outcomes: message },
    );
    return jsonError(
      failed.length > 0 ? 503 : 502,
      `unable to apply the query on every backend: ${message}`,
    );
  }

  /** The parameters and `Authorization` the backends get. */
  #forwarded(
    query: QueryRequest,
  ): Pick<BackendQuery, "params" | "authorization"> {
    if (this.#forwardCredentials) {
      return { params: query.params, authorization: query.authorization };
    }
    return {
      params: query.params.filter(([key]) => key !== "u" && key !== "p"),
      authorization: null,
    };
  }

  /** Why a write cannot start, or `null` when it can. */
  #refusal(
    deferred: readonly QueryTarget[],
    live: readonly QueryTarget[],
  ): string | null {
    if (deferred.length === 0) return null;
    const names = deferred.map((t) => `"${t.name}"`).join(", ");
    if (this.#whenDown === "refuse") {
      return `backend ${names} ${
        deferred.length === 1 ? "is" : "are"
      } down; nothing was changed (query-ddl-when-down = "refuse")`;
    }
    if (live.length === 0) {
      return `every backend is down (${names}); nothing was changed`;
    }
    const full = deferred.filter((t) => this.#queues.get(t)!.full);
    if (full.length > 0) {
      return `the statement queue of backend ${
        full.map((t) => `"${t.name}"`).join(", ")
      } is full; nothing was changed`;
    }
    return null;
  }

  /** One backend's outcome: its answer below 500, else the failure. */
  async #apply(
    target: QueryTarget,
    query: BackendQuery,
  ): Promise<Outcome> {
    try {
      const answer = await readAnswer(
        await this.#send(target, query),
      );
      if (answer.status >= 500) {
        return { target, failure: answer.errors.join("; ") };
      }
      return { target, answer };
    } catch (error) {
      return { target, failure: (error as Error).message };
    }
  }

  /**
   * Answers a write every live backend answered alike, queueing it for
   * `later` when something was applied.
   */
  #applied(
    answer: QueryAnswer,
    query: BackendQuery,
    description: string,
    later: readonly QueryTarget[],
  ): Response {
    const queuedFor: string[] = [];
    if (answer.applied) {
      for (const target of later) {
        if (this.#queues.get(target)!.push(query, description)) {
          queuedFor.push(target.name);
        } else {
          this.#logger.error(
            'Backend "{backend}" of relay "{relay}" will miss "{statement}": its statement queue is full',
            {
              backend: target.name,
              relay: this.#relay,
              statement: description,
            },
          );
        }
      }
    }
    this.#logger.info(
      'Relay "{relay}" applied "{statement}"{queued}{errors}',
      {
        relay: this.#relay,
        statement: description,
        queued: queuedFor.length === 0
          ? ""
          : `, queued for ${queuedFor.map((n) => `"${n}"`).join(", ")}`,
        errors: answer.errors.length === 0
          ? ""
          : `; every backend answered: ${answer.errors.join("; ")}`,
      },
    );
    const headers: Record<string, string> = {};
    if (answer.contentType !== null) {
      headers["Content-Type"] = answer.contentType;
    }
    const body = queuedFor.length === 0 ? answer.body : withWarning(
      answer.body,
      `the relay queued this query for backend ${
        queuedFor.map((n) => `"${n}"`).join(", ")
      } (down); it is applied there when the backend answers again`,
    );
    return new Response(
      body.length === 0 ? null : body as Uint8Array<ArrayBuffer>,
      { status: answer.status, headers },
    );
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Adds a warning to the first statement result of a single JSON answer (the
 * `influx` CLI prints result messages); other bodies are left alone.
 */
function withWarning(body: Uint8Array, text: string): Uint8Array {
  try {
    const value = JSON.parse(decoder.decode(body)) as {
      results?: { messages?: { level: string; text: string }[] }[];
    };
    const first = value.results?.[0];
    if (first === undefined) return body;
    first.messages = [...(first.messages ?? []), { level: "warning", text }];
    return encoder.encode(JSON.stringify(value) + "\n");
  } catch {
    return body;
  }
}
