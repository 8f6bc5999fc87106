/**
 * Reads a client's `/query` request as InfluxDB 1.x does: parameters from
 * the URL and, for `POST`, from a form body (`application/x-www-form-urlencoded`
 * or `multipart/form-data`, whose `q` may also be a file), body values
 * first. Pure: a web `Request` in, the parameters out.
 *
 * @module
 */

/** A client's `/query` request, read. */
export interface QueryRequest {
  /** The client's method. */
  readonly method: "GET" | "POST";
  /** The InfluxQL text (`q`), never blank. */
  readonly q: string;
  /**
   * Every parameter, `q` included (with the text above), in the order
   * InfluxDB reads them: form body values before URL values.
   */
  readonly params: readonly (readonly [string, string])[];
  /** The client's `Authorization`, or `null`. */
  readonly authorization: string | null;
  /** The client's `Accept-Encoding`, or `null`. */
  readonly acceptEncoding: string | null;
}

/** Options for {@linkcode readQueryRequest}. */
export interface ReadQueryRequestOptions {
  /**
   * `rp` added when the client sent none (or an empty one), as on writes.
   * @default ""
   */
  defaultRetentionPolicy?: string;
}

/** A `/query` request the relay answers itself with an error. */
export class QueryRequestError extends Error {
  /** The HTTP status to answer. */
  readonly status: number;

  /**
   * @param status The HTTP status to answer.
   * @param message The client's error message, in InfluxDB's words.
   * @param options The underlying error.
   */
  constructor(status: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "QueryRequestError";
    this.status = status;
  }
}

function mediaType(request: Request): string {
  const type = request.headers.get("content-type") ?? "";
  return type.split(";", 1)[0]!.trim().toLowerCase();
}

/**
 * Reads the parameters of a `/query` request.
 *
 * @example Usage
 * ```ts
 * import { readQueryRequest } from "./query_request.ts";
 * import assert from "node:assert/strict";
 *
 * const query = await readQueryRequest(
 *   new Request("http://relay/query?db=x&q=SHOW+MEASUREMENTS"),
 *   { defaultRetentionPolicy: "week" },
 * );
 * assert.equal(query.q, "SHOW MEASUREMENTS");
 * assert.deepEqual(query.params, [
 *   ["db", "x"],
 *   ["q", "SHOW MEASUREMENTS"],
 *   ["rp", "week"],
 * ]);
 * ```
 *
 * @param request The client's request (`GET` or `POST`).
 * @param options The listener's default retention policy.
 * @returns The request's parameters.
 * @throws {QueryRequestError} 400 when the form body cannot be read or `q`
 * is missing or blank (`missing required parameter "q"`, as InfluxDB).
 */
export async function readQueryRequest(
  request: Request,
  options: ReadQueryRequestOptions = {},
): Promise<QueryRequest> {
  const { defaultRetentionPolicy = "" } = options;
  const method = request.method === "POST" ? "POST" : "GET";
  const params: [string, string][] = [];
  let fileQuery: string | null = null;
  if (method === "POST") {
    const type = mediaType(request);
    if (
      type === "application/x-www-form-urlencoded" ||
      type === "multipart/form-data"
    ) {
      let form: FormData;
      try {
        form = await request.formData();
      } catch (error) {
        throw new QueryRequestError(
          400,
          `unable to parse the form body: ${(error as Error).message}`,
          { cause: error },
        );
      }
      for (const [key, value] of form) {
        if (typeof value === "string") params.push([key, value]);
        else if (key === "q" && fileQuery === null) {
          fileQuery = await value.text();
        }
      }
    }
  }
  const url = new URL(request.url);
  for (const [key, value] of url.searchParams) params.push([key, value]);
  const given = params.find(([key]) => key === "q")?.[1] ?? "";
  const q = given.trim() !== "" ? given : fileQuery ?? "";
  if (q.trim() === "") {
    throw new QueryRequestError(400, 'missing required parameter "q"');
  }
  const forwarded: [string, string][] = params.filter(([key]) => key !== "q");
  forwarded.splice(
    Math.max(0, params.findIndex(([key]) => key === "q")),
    0,
    ["q", q],
  );
  if (
    defaultRetentionPolicy !== "" &&
    !forwarded.some(([key, value]) => key === "rp" && value !== "")
  ) {
    const kept = forwarded.filter(([key]) => key !== "rp");
    kept.push(["rp", defaultRetentionPolicy]);
    forwarded.length = 0;
    forwarded.push(...kept);
  }
  const authorization = request.headers.get("authorization");
  return {
    method,
    q,
    params: forwarded,
    authorization: authorization === "" ? null : authorization,
    acceptEncoding: request.headers.get("accept-encoding"),
  };
}
