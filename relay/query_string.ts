/**
 * The client's query string as the original relay (Go `net/url`) reads and
 * re-encodes it before forwarding: pairs split on `&`, pairs holding `;` or a
 * bad `%` escape dropped, keys sorted, values form-encoded.
 *
 * Keys and values are handled as byte strings (one char a byte) so that any
 * byte sequence round-trips exactly as in Go; the few values the relay reads
 * itself (`db`, `rp`, `precision`) are decoded from UTF-8.
 *
 * @module
 */

/** What the relay needs from a write request's query string. */
export interface WriteQuery {
  /** First `db` value (UTF-8), `""` when absent. */
  readonly db: string;
  /** First `rp` value after the default retention policy was applied. */
  readonly rp: string;
  /** First `precision` value, `""` when absent. */
  readonly precision: string;
  /** The query to forward, normalised as Go `url.Values.Encode()` does. */
  readonly normalized: string;
}

/** Options for {@linkcode parseWriteQuery}. */
export interface ParseWriteQueryOptions {
  /**
   * Retention policy set when the client gave none (`rp` absent or empty).
   * @default ""
   */
  defaultRetentionPolicy?: string;
}

const HEX = "0123456789ABCDEF";

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 65 && code <= 70) return code - 55;
  if (code >= 97 && code <= 102) return code - 87;
  return -1;
}

/** Go `url.QueryUnescape` on a byte string; `null` for a bad escape. */
function unescape(text: string): string | null {
  if (text.indexOf("%") < 0 && text.indexOf("+") < 0) return text;
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 43) {
      out += " ";
    } else if (c === 37) {
      const hi = hexValue(text.charCodeAt(i + 1));
      const lo = hexValue(text.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return null;
      out += String.fromCharCode(hi * 16 + lo);
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

function isUnreserved(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) ||
    (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95 || c === 126;
}

/** Go `url.QueryEscape` on a byte string. */
function escape(bytes: string): string {
  let plain = true;
  for (let i = 0; i < bytes.length; i++) {
    if (!isUnreserved(bytes.charCodeAt(i))) {
      plain = false;
      break;
    }
  }
  if (plain) return bytes;
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes.charCodeAt(i);
    if (isUnreserved(c)) out += bytes[i];
    else if (c === 32) out += "+";
    else out += "%" + HEX[c >> 4] + HEX[c & 15];
  }
  return out;
}

const utf8Decoder = new TextDecoder();
const utf8Encoder = new TextEncoder();

/** Byte string (one char a byte) → UTF-8 text. */
function decodeBytes(bytes: string): string {
  let ascii = true;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes.charCodeAt(i) > 127) {
      ascii = false;
      break;
    }
  }
  if (ascii) return bytes;
  return utf8Decoder.decode(Uint8Array.from(bytes, (ch) => ch.charCodeAt(0)));
}

/** UTF-8 text → byte string. */
function encodeBytes(text: string): string {
  return String.fromCharCode(...utf8Encoder.encode(text));
}

/** Turns the raw query's non-ASCII characters into UTF-8 bytes. */
function toByteString(raw: string): string {
  for (let i = 0; i < raw.length; i++) {
    if (raw.charCodeAt(i) > 127) return encodeBytes(raw);
  }
  return raw;
}

/**
 * Parses a query string like Go `URL.Query()` (Go ≥ 1.17: a pair that
 * contains `;` or a bad escape is dropped, a key without `=` has value `""`).
 *
 * @param raw The query without its leading `?`.
 * @returns Values by key, in order of appearance; keys and values are byte
 * strings.
 */
export function parseQuery(raw: string): Map<string, string[]> {
  const values = new Map<string, string[]>();
  const bytes = toByteString(raw);
  let start = 0;
  while (start <= bytes.length) {
    let end = bytes.indexOf("&", start);
    if (end < 0) end = bytes.length;
    const pair = bytes.slice(start, end);
    start = end + 1;
    if (pair === "" || pair.indexOf(";") >= 0) continue;
    const eq = pair.indexOf("=");
    const key = unescape(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? "" : unescape(pair.slice(eq + 1));
    if (key === null || value === null) continue;
    const list = values.get(key);
    if (list === undefined) values.set(key, [value]);
    else list.push(value);
  }
  return values;
}

/**
 * Encodes values like Go `url.Values.Encode()`: keys in byte order, the
 * values of one key in their original order, form-encoded.
 *
 * @param values Values by key, as returned by {@linkcode parseQuery}.
 * @returns The encoded query without a leading `?`.
 */
export function encodeQuery(values: Map<string, string[]>): string {
  const keys = [...values.keys()].sort();
  const parts: string[] = [];
  for (const key of keys) {
    const escapedKey = escape(key);
    for (const value of values.get(key) ?? []) {
      parts.push(escapedKey + "=" + escape(value));
    }
  }
  return parts.join("&");
}

/**
 * Reads a write request's query string: the values the relay acts on and
 * the normalised query it forwards to every backend.
 *
 * @param raw The query without its leading `?`.
 * @param options The listener's default retention policy.
 * @returns The parsed write query.
 */
export function parseWriteQuery(
  raw: string,
  options: ParseWriteQueryOptions = {},
): WriteQuery {
  const { defaultRetentionPolicy = "" } = options;
  const values = parseQuery(raw);
  const first = (key: string) => decodeBytes(values.get(key)?.[0] ?? "");
  let rp = first("rp");
  if (rp === "" && defaultRetentionPolicy !== "") {
    rp = defaultRetentionPolicy;
    values.set("rp", [encodeBytes(defaultRetentionPolicy)]);
  }
  return {
    db: first("db"),
    rp,
    precision: first("precision"),
    normalized: encodeQuery(values),
  };
}

/**
 * Encodes text values like Go `url.Values.Encode()` (keys sorted, UTF-8,
 * form-encoded); keys whose value is `""` are left out.
 *
 * @example Usage
 * ```ts
 * import { formatQuery } from "./query_string.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(
 *   formatQuery({ rp: "", db: "my db", precision: "ms" }),
 *   "db=my+db&precision=ms",
 * );
 * ```
 *
 * @param values Text values by key.
 * @returns The encoded query without a leading `?`.
 */
export function formatQuery(values: Readonly<Record<string, string>>): string {
  const map = new Map<string, string[]>();
  for (const [key, value] of Object.entries(values)) {
    if (value !== "") map.set(encodeBytes(key), [encodeBytes(value)]);
  }
  return encodeQuery(map);
}

/**
 * Reads the first value of each key of a query string as UTF-8 text, like Go
 * `url.Values.Get` (pairs with a bad escape or a `;` are dropped).
 *
 * @param raw The query without its leading `?`.
 * @returns The first value of every key.
 */
export function firstValues(raw: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, values] of parseQuery(raw)) {
    out.set(decodeBytes(key), decodeBytes(values[0] ?? ""));
  }
  return out;
}

/**
 * Removes every value of the given keys from a normalised query string,
 * keeping the rest exactly as it was.
 *
 * @param normalized A query as returned by {@linkcode encodeQuery}.
 * @param keys The keys to drop (plain ASCII names such as `"u"`, `"p"`).
 * @returns The query without those keys.
 */
export function withoutKeys(
  normalized: string,
  keys: readonly string[],
): string {
  if (normalized === "") return normalized;
  return normalized.split("&").filter((pair) => {
    const eq = pair.indexOf("=");
    return !keys.includes(eq < 0 ? pair : pair.slice(0, eq));
  }).join("&");
}
