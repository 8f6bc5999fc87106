/**
 * Just enough InfluxQL for the relay to route a `/query`: a query string is
 * split into statements at the `;` that stand outside strings (`'…'`),
 * quoted identifiers (`"…"`), regular expressions (`/…/`) and comments
 * (`-- …`, `/* … *\/`), and each statement is classified by its leading
 * keywords. Nothing is parsed further: the backends parse and answer.
 *
 * | Statement | Class | Route |
 * |---|---|---|
 * | `SELECT` without `INTO`, `SHOW …`, `EXPLAIN …` | `read` | one backend |
 * | `CREATE`/`DROP DATABASE`, `… RETENTION POLICY`, `ALTER RETENTION POLICY`, `… CONTINUOUS QUERY`, `… SUBSCRIPTION` | `schema` | every backend |
 * | `CREATE`/`DROP USER`, `GRANT`, `REVOKE`, `SET PASSWORD` | `admin` | every backend |
 * | `DELETE`, `DROP SERIES`, `DROP MEASUREMENT` | `delete` | every backend |
 * | `SELECT … INTO …` | `select-into` | every backend (each computes from its own data) |
 * | `KILL QUERY`, `DROP SHARD` | `backend-local` | refused: the ids differ per backend |
 * | anything else | `unknown` | one backend (which answers its parse error) |
 *
 * @module
 */

/** What a statement does, as far as routing is concerned. */
export type StatementClass =
  | "read"
  | "schema"
  | "admin"
  | "delete"
  | "select-into"
  | "backend-local"
  | "unknown";

/** One statement of a query. */
export interface Statement {
  /** The statement's text, without the `;` and surrounding blanks. */
  readonly text: string;
  /** Its class. */
  readonly class: StatementClass;
  /**
   * Its leading keywords for messages, upper case: `SELECT`, `SELECT INTO`,
   * `CREATE DATABASE`, `DROP SERIES`, `SHOW`, …
   */
  readonly keyword: string;
}

/** Where a whole query goes. */
export type QueryRoute =
  /** Only reads (or statements the relay does not know): one backend. */
  | { readonly kind: "read" }
  /** Only statements that change data or schema: every backend. */
  | { readonly kind: "fan-out" }
  /** Not forwarded at all; `reason` is the client's error message. */
  | { readonly kind: "refused"; readonly reason: string };

/** The classes that go to every backend. */
const FAN_OUT: ReadonlySet<StatementClass> = new Set([
  "schema",
  "admin",
  "delete",
  "select-into",
]);

type TokenKind = "word" | "ident" | "string" | "regex" | "number" | "op";

interface Token {
  readonly kind: TokenKind;
  /** The token's text; words keep their case. */
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

/** Clause keywords that end a FROM clause (where `/` starts a regex). */
const CLAUSES: ReadonlySet<string> = new Set([
  "SELECT",
  "FROM",
  "WHERE",
  "GROUP",
  "ORDER",
  "LIMIT",
  "OFFSET",
  "SLIMIT",
  "SOFFSET",
  "FILL",
  "INTO",
  "WITH",
  "ON",
  "TZ",
  "BY",
]);

function isWordStart(c: string): boolean {
  return (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c === "_" ||
    c === "$" || c > "\x7f";
}

function isWordPart(c: string): boolean {
  return isWordStart(c) || (c >= "0" && c <= "9");
}

function isDigit(c: string): boolean {
  return c >= "0" && c <= "9";
}

/** Index just past a quoted token starting at `start` (backslash escapes). */
function skipQuoted(text: string, start: number, quote: string): number {
  let i = start + 1;
  while (i < text.length) {
    const c = text[i];
    if (c === "\\") i += 2;
    else if (c === quote) return i + 1;
    else i++;
  }
  return text.length;
}

/**
 * Whether a `/` after `previous` starts a regular expression: after `=~`
 * and `!~`, and in a FROM clause right after `FROM`, `,` or `.` (as in
 * `FROM /cpu.*\/, "db"."rp"./mem/`). Elsewhere it divides.
 */
function startsRegex(previous: Token | undefined, clause: string): boolean {
  if (previous === undefined) return false;
  if (previous.kind === "op") {
    if (previous.text === "=~" || previous.text === "!~") return true;
    return clause === "FROM" &&
      (previous.text === "," || previous.text === ".");
  }
  return previous.kind === "word" && previous.text.toUpperCase() === "FROM";
}

/**
 * Splits a query into its tokens and statements' token ranges.
 *
 * @returns One token list per statement, empty statements left out.
 */
function tokenize(text: string): Token[][] {
  const statements: Token[][] = [];
  let tokens: Token[] = [];
  let clause = "";
  let i = 0;
  const push = (kind: TokenKind, end: number) => {
    const token = { kind, text: text.slice(i, end), start: i, end };
    tokens.push(token);
    if (kind === "word") {
      const upper = token.text.toUpperCase();
      if (CLAUSES.has(upper)) clause = upper;
    }
    i = end;
  };
  while (i < text.length) {
    const c = text[i]!;
    const next = text[i + 1] ?? "";
    if (c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\f") {
      i++;
    } else if (c === "-" && next === "-") {
      const end = text.indexOf("\n", i);
      i = end < 0 ? text.length : end + 1;
    } else if (c === "/" && startsRegex(tokens.at(-1), clause)) {
      push("regex", skipQuoted(text, i, "/"));
    } else if (c === "/" && next === "*") {
      const end = text.indexOf("*/", i + 2);
      i = end < 0 ? text.length : end + 2;
    } else if (c === ";") {
      if (tokens.length > 0) statements.push(tokens);
      tokens = [];
      clause = "";
      i++;
    } else if (c === "'") {
      push("string", skipQuoted(text, i, "'"));
    } else if (c === '"') {
      push("ident", skipQuoted(text, i, '"'));
    } else if (isWordStart(c)) {
      let end = i + 1;
      while (end < text.length && isWordPart(text[end]!)) end++;
      push("word", end);
    } else if (isDigit(c) || (c === "." && isDigit(next))) {
      let end = i + 1;
      while (
        end < text.length && (isWordPart(text[end]!) || text[end] === ".")
      ) end++;
      push("number", end);
    } else if (
      (c === "=" || c === "!") && next === "~" ||
      (c === "!" || c === "<" || c === ">") && next === "=" ||
      c === "<" && next === ">"
    ) {
      push("op", i + 2);
    } else {
      push("op", i + 1);
    }
  }
  if (tokens.length > 0) statements.push(tokens);
  return statements;
}

/** The upper-cased word at `index`, or `""` when it is not a word. */
function wordAt(tokens: readonly Token[], index: number): string {
  const token = tokens[index];
  return token?.kind === "word" ? token.text.toUpperCase() : "";
}

function classify(tokens: readonly Token[]): {
  class: StatementClass;
  keyword: string;
} {
  const first = wordAt(tokens, 0);
  const second = wordAt(tokens, 1);
  switch (first) {
    case "SELECT":
      return tokens.some((t) =>
          t.kind === "word" && t.text.toUpperCase() === "INTO"
        )
        ? { class: "select-into", keyword: "SELECT INTO" }
        : { class: "read", keyword: "SELECT" };
    case "SHOW":
    case "EXPLAIN":
      return { class: "read", keyword: second ? `${first} ${second}` : first };
    case "DELETE":
      return { class: "delete", keyword: "DELETE" };
    case "DROP":
      if (second === "SERIES" || second === "MEASUREMENT") {
        return { class: "delete", keyword: `DROP ${second}` };
      }
      if (second === "SHARD") {
        return { class: "backend-local", keyword: "DROP SHARD" };
      }
      return {
        class: second === "USER" ? "admin" : "schema",
        keyword: leading(tokens),
      };
    case "CREATE":
    case "ALTER":
      return {
        class: second === "USER" ? "admin" : "schema",
        keyword: leading(tokens),
      };
    case "GRANT":
    case "REVOKE":
      return { class: "admin", keyword: first };
    case "SET":
      return { class: "admin", keyword: leading(tokens) };
    case "KILL":
      return { class: "backend-local", keyword: leading(tokens) };
    default:
      return { class: "unknown", keyword: first || tokens[0]!.text };
  }
}

/** `CREATE RETENTION POLICY`, `DROP DATABASE`, `SET PASSWORD`, … */
function leading(tokens: readonly Token[]): string {
  const words = [wordAt(tokens, 0), wordAt(tokens, 1)];
  if (words[1] === "RETENTION" || words[1] === "CONTINUOUS") {
    words.push(wordAt(tokens, 2));
  }
  return words.filter((w) => w !== "").join(" ");
}

/**
 * Splits an InfluxQL query into its statements and classifies each; empty
 * statements (`;;`, comments only) are left out.
 *
 * @example Usage
 * ```ts
 * import { splitStatements } from "./influxql.ts";
 * import assert from "node:assert/strict";
 *
 * const statements = splitStatements(
 *   "SELECT * FROM \"a;b\" WHERE t = ';'; CREATE DATABASE x",
 * );
 * assert.deepEqual(statements.map((s) => s.class), ["read", "schema"]);
 * assert.equal(statements[1]!.keyword, "CREATE DATABASE");
 * ```
 *
 * @param query The query text (the `q` parameter).
 * @returns Its statements in order.
 */
export function splitStatements(query: string): Statement[] {
  return tokenize(query).map((tokens) => ({
    text: query.slice(tokens[0]!.start, tokens.at(-1)!.end),
    ...classify(tokens),
  }));
}

/**
 * Decides where a query goes: reads (and statements the relay does not
 * know, which the backend will reject) to one backend, statements that
 * change data or schema to every backend. A query that mixes the two, or
 * that names one backend's query or shard ids, is refused.
 *
 * @example Usage
 * ```ts
 * import { routeQuery, splitStatements } from "./influxql.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(routeQuery(splitStatements("SHOW DATABASES")).kind, "read");
 * assert.equal(
 *   routeQuery(splitStatements("DROP SERIES FROM cpu")).kind,
 *   "fan-out",
 * );
 * assert.equal(
 *   routeQuery(splitStatements("SHOW DATABASES; DROP DATABASE x")).kind,
 *   "refused",
 * );
 * ```
 *
 * @param statements The query's statements.
 * @returns The route, or why the query is refused.
 */
export function routeQuery(statements: readonly Statement[]): QueryRoute {
  const local = statements.findIndex((s) => s.class === "backend-local");
  if (local >= 0) {
    const statement = statements[local]!;
    return {
      kind: "refused",
      reason: `statement ${
        local + 1
      } (${statement.keyword}) names an id that differs on each backend behind the relay: run it on the backend itself`,
    };
  }
  const write = statements.findIndex((s) => FAN_OUT.has(s.class));
  if (write < 0) return { kind: "read" };
  const read = statements.findIndex((s) => !FAN_OUT.has(s.class));
  if (read < 0) return { kind: "fan-out" };
  const reading = statements[read]!;
  const writing = statements[write]!;
  return {
    kind: "refused",
    reason:
      `cannot mix reads and writes in one query through the relay: statement ${
        read + 1
      } (${reading.keyword}) is sent to one backend, statement ${
        write + 1
      } (${writing.keyword}) to every backend; send them as separate queries`,
  };
}
