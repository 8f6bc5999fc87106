/**
 * The contract between the query proxy and one backend it can send
 * `/query` requests to: its name, its health, its probe latency, and a way
 * to send. The proxy never sees sockets or configs, so tests hand it fakes;
 * the composition root builds real targets from an output's
 * {@linkcode import("./query_client.ts").QueryClient} and its
 * {@linkcode import("./backend_health.ts").BackendHealth}.
 *
 * @module
 */

/**
 * A backend's health, as {@linkcode import("./backend_health.ts").BackendHealth}
 * reports it: `up`, `down`, or `catching-up` (answering, but its retry
 * buffer still holds writes it has not stored).
 */
export type QueryTargetState = "up" | "down" | "catching-up";

/** One `/query` request as it goes to a backend. */
export interface BackendQuery {
  /**
   * `GET` sends the parameters in the URL, `POST` as a form body
   * (`application/x-www-form-urlencoded`).
   */
  readonly method: "GET" | "POST";
  /** Every parameter (`q`, `db`, `rp`, `epoch`, `u`, `p`, …), in order. */
  readonly params: readonly (readonly [string, string])[];
  /** The client's `Authorization`, or `null`. */
  readonly authorization: string | null;
  /**
   * The client's `Accept-Encoding`, or `null` to ask for a plain body (the
   * proxy reads fan-out answers itself).
   */
  readonly acceptEncoding: string | null;
}

/** One backend as the query proxy sees it. */
export interface QueryTarget {
  /** The output's name, for logs and error messages. */
  readonly name: string;
  /**
   * Whether statements that change data or schema are sent to it (InfluxDB
   * 1.x); `false` for backends that only answer reads (the `/query` of
   * InfluxDB 2.x and 3 takes no `CREATE DATABASE`).
   */
  readonly takesWrites: boolean;
  /** The backend's health now. */
  state(): QueryTargetState;
  /** Latency of its last health probe in ms, or `null` when unknown. */
  latencyMs(): number | null;
  /**
   * Sends one query. Resolves once the response headers arrived (the body
   * streams); rejects when no answer came (connection refused, reset, TLS
   * error, `signal` aborted). The whole exchange, body included, stops
   * when `signal` aborts.
   */
  send(query: BackendQuery, signal: AbortSignal): Promise<Response>;
}
