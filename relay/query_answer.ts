/**
 * A backend's whole answer to a statement that changes data or schema, read
 * and summarised so that the answers of several backends can be compared:
 * did the backend apply something, and which statements did it reject with
 * which error. Handles InfluxDB 1.x's JSON bodies, pretty-printed or not,
 * whole or chunked (one JSON document after another).
 *
 * @module
 */

/** A backend's answer to a query, read in full. */
export interface QueryAnswer {
  /** The HTTP status. */
  readonly status: number;
  /** The body. */
  readonly body: Uint8Array;
  /** The backend's `Content-Type`, or `null`. */
  readonly contentType: string | null;
  /**
   * The errors the backend reported: the top-level `error`, then each
   * statement's `error`, prefixed with its statement number when the query
   * had several statements.
   */
  readonly errors: readonly string[];
  /**
   * Whether at least one statement ran without error (a 2xx answer with a
   * result that has no `error`).
   */
  readonly applied: boolean;
  /**
   * Equal for two answers that mean the same: same status, same errors for
   * the same statements (row counts and messages may differ).
   */
  readonly signature: string;
}

const decoder = new TextDecoder();

/**
 * Splits text holding one or more JSON documents (InfluxDB's chunked
 * answers, possibly pretty-printed) into the documents' texts.
 */
function jsonDocuments(text: string): string[] {
  const documents: string[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
    } else if (c === "{" || c === "[") {
      if (depth === 0) start = i;
      depth++;
    } else if (c === "}" || c === "]") {
      depth--;
      if (depth === 0 && start >= 0) {
        documents.push(text.slice(start, i + 1));
        start = -1;
      }
    }
  }
  return documents;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Summarises a backend's answer.
 *
 * @example Usage
 * ```ts
 * import { summarizeAnswer } from "./query_answer.ts";
 * import assert from "node:assert/strict";
 *
 * const answer = summarizeAnswer(
 *   200,
 *   new TextEncoder().encode(
 *     '{"results":[{"statement_id":0,"error":"database not found: x"}]}',
 *   ),
 *   "application/json",
 * );
 * assert.deepEqual(answer.errors, ["database not found: x"]);
 * assert.equal(answer.applied, false);
 * ```
 *
 * @param status The HTTP status.
 * @param body The body, read in full.
 * @param contentType The `Content-Type`, or `null`.
 * @returns The summary.
 */
export function summarizeAnswer(
  status: number,
  body: Uint8Array,
  contentType: string | null,
): QueryAnswer {
  const text = decoder.decode(body);
  const errors: string[] = [];
  const statements = new Map<number, string | null>();
  let parsed = 0;
  for (const document of jsonDocuments(text)) {
    let value: unknown;
    try {
      value = JSON.parse(document);
    } catch {
      continue;
    }
    parsed++;
    if (!isRecord(value)) continue;
    if (typeof value.error === "string") errors.push(value.error);
    if (!Array.isArray(value.results)) continue;
    for (const [index, result] of value.results.entries()) {
      if (!isRecord(result)) continue;
      const id = typeof result.statement_id === "number"
        ? result.statement_id
        : index;
      const error = typeof result.error === "string" ? result.error : null;
      if (!statements.has(id) || error !== null) statements.set(id, error);
    }
  }
  const many = statements.size > 1;
  for (const [id, error] of [...statements].sort(([a], [b]) => a - b)) {
    if (error !== null) {
      errors.push(many ? `statement ${id + 1}: ${error}` : error);
    }
  }
  if (parsed === 0 && (status < 200 || status > 299)) {
    const plain = text.trim().slice(0, 512);
    errors.push(plain === "" ? `HTTP ${status}` : `HTTP ${status}: ${plain}`);
  }
  const ok = status >= 200 && status <= 299;
  const applied = ok &&
    [...statements.values()].some((error) => error === null);
  return {
    status,
    body,
    contentType,
    errors,
    applied,
    signature: JSON.stringify([
      ok ? 200 : status,
      errors,
      ok && parsed === 0 && statements.size === 0 ? "no results" : "",
    ]),
  };
}

/**
 * Reads a backend's response in full and summarises it.
 *
 * @param response The backend's response.
 * @returns The summary.
 * @throws {Error} When the body cannot be read to its end.
 */
export async function readAnswer(response: Response): Promise<QueryAnswer> {
  const body = new Uint8Array(await response.arrayBuffer());
  return summarizeAnswer(
    response.status,
    body,
    response.headers.get("content-type"),
  );
}
