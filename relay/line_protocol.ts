/**
 * Validation and normalisation of InfluxDB line protocol, the relay's hot
 * path.
 *
 * The accept/reject rules are those of the parser the original relay used
 * (influxdb1-client `models`, `ParsePointsWithPrecision`), byte for byte,
 * with two deliberate differences: unsigned integer fields (`1u`) are
 * accepted (decision D6), and the few lines that parser accepts but InfluxDB
 * 1.x's storage layer then mishandles are rejected, to protect the backends
 * (see {@linkcode LineProtocolError.reason}). Valid lines are forwarded as
 * received rather than re-serialised (decision D8): leading blanks, blank
 * lines and comments are dropped, a timestamp is appended where one is
 * missing and every line ends with `\n`.
 *
 * The scanner works on bytes, allocates nothing per line on the happy path
 * and returns the input itself when nothing has to change.
 *
 * @module
 */

/** Unit of line-protocol timestamps, as named by the `precision` parameter. */
export type Precision = "n" | "u" | "ms" | "s" | "m" | "h";

/** Options for {@linkcode normalizeLines}. */
export interface NormalizeOptions {
  /**
   * Unit of explicit timestamps and of the filled-in timestamp.
   *
   * @default {"n"}
   */
  precision?: Precision;
  /**
   * Receive time in nanoseconds since the epoch; lines without a timestamp
   * get `floor(now / unit)`.
   *
   * @default {the current time}
   */
  now?: bigint;
  /**
   * Leave out the lines the original parser would reject and forward the
   * others, instead of throwing for the first bad line. The result counts
   * them in {@linkcode NormalizedLines.skipped} and describes the first in
   * {@linkcode NormalizedLines.firstError}. The UDP listener uses this: one
   * bad line in a datagram must not cost the good ones.
   *
   * @default {false}
   */
  skipInvalid?: boolean;
}

/** The body to forward, as returned by {@linkcode normalizeLines}. */
export interface NormalizedLines {
  /**
   * Newline-terminated lines, each with a timestamp; blank and comment lines
   * removed. May be the input array itself (or a subarray of it) when nothing
   * had to change.
   */
  body: Uint8Array;
  /** Number of points (lines) in {@linkcode NormalizedLines.body}. */
  points: number;
  /**
   * Number of bad lines left out; always `0` unless
   * {@linkcode NormalizeOptions.skipInvalid} is set.
   */
  skipped: number;
  /** Why the first bad line was left out, or `null` when none was. */
  firstError: LineProtocolError | null;
}

/**
 * The error {@linkcode normalizeLines} throws for the first bad line.
 *
 * Its message is `line <n>: <reason>`, where `n` counts the physical lines of
 * the input from 1 (the line the bad point starts on) and `reason` is the
 * original parser's wording, e.g. `line 3: invalid field format`.
 */
export class LineProtocolError extends SyntaxError {
  /** Physical line (from 1) on which the rejected point starts. */
  readonly line: number;
  /**
   * Why the point was rejected, in the original parser's words; or, for a
   * line that parser accepts but InfluxDB 1.x would store wrongly, crash on
   * or fail on from then on (seen with 1.6.7), one of:
   *
   * - `field key ends with a backslash (InfluxDB 1.x would misread it)`:
   *   the `=` after a field key follows an escaped backslash (`a\\=1`);
   *   InfluxDB's storage walk takes that `\=` for an escaped `=`, so it
   *   stores another field than the one parsed, answers 500, or panics and
   *   exits (`m \\="="`).
   * - `measurement is not valid UTF-8`: InfluxDB stores the point, but from
   *   its next restart on answers 500 to every write that adds a field to
   *   that shard.
   * - `field key is not valid UTF-8`: InfluxDB answers 500.
   */
  readonly reason: string;
  /**
   * The rejected line as text (invalid UTF-8 replaced), cut to its first
   * {@linkcode MAX_ERROR_TEXT} characters; `""` when not known.
   */
  readonly text: string;

  /**
   * Creates the error for a point starting on `line`.
   *
   * @param line Physical line number, counted from 1.
   * @param reason Why the point was rejected.
   * @param text The rejected line, for logs.
   */
  constructor(line: number, reason: string, text = "") {
    super(`line ${line}: ${reason}`);
    this.name = "LineProtocolError";
    this.line = line;
    this.reason = reason;
    this.text = text.length > MAX_ERROR_TEXT
      ? `${text.slice(0, MAX_ERROR_TEXT)}…`
      : text;
  }
}

/** Longest {@linkcode LineProtocolError.text}, in characters. */
export const MAX_ERROR_TEXT = 200;

/**
 * Maps a client's `precision` value to a unit. Anything unrecognised
 * (including `null`, `""`, `"ns"`, `"us"` and `"rfc3339"`) means
 * nanoseconds, as in the original.
 *
 * @example Usage
 * ```ts
 * import { parsePrecision } from "./line_protocol.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parsePrecision("ms"), "ms");
 * assert.equal(parsePrecision("ns"), "n");
 * assert.equal(parsePrecision(null), "n");
 * ```
 *
 * @param value The raw query-string value, if any.
 * @returns The unit to read and write timestamps in.
 */
export function parsePrecision(value: string | null | undefined): Precision {
  switch (value) {
    case "u":
    case "ms":
    case "s":
    case "m":
    case "h":
      return value;
    default:
      return "n";
  }
}

/**
 * Validates every line of a line-protocol body and returns the body to
 * forward to the backends.
 *
 * Lines are split, skipped and checked exactly as the original relay's
 * parser does it (a newline inside a quoted string field value, or after a
 * backslash, does not end the line). Each valid line is forwarded as
 * received, except that leading blanks are removed, lines without a
 * timestamp get ` <ts>` appended (the same value for every line of the call)
 * after their field section, and every line ends with `\n`. When nothing has
 * to change the input itself is returned; otherwise the output is built with
 * one allocation.
 *
 * @example Usage
 * ```ts
 * import { normalizeLines } from "./line_protocol.ts";
 * import assert from "node:assert/strict";
 *
 * const input = new TextEncoder().encode("# hi\ncpu value=1\n");
 * const { body, points } = normalizeLines(input, {
 *   precision: "s",
 *   now: 1_700_000_000_123_456_789n,
 * });
 * assert.equal(new TextDecoder().decode(body), "cpu value=1 1700000000\n");
 * assert.equal(points, 1);
 * ```
 *
 * @param body The request body (already decompressed).
 * @param options Precision and receive time.
 * @returns The lines to forward and how many there are.
 * @throws {LineProtocolError} For the first line that the original parser
 * would reject, unless `skipInvalid` is set.
 * @throws {RangeError} If `precision` is not a {@linkcode Precision} or the
 * body is 2 GiB or larger.
 * @throws {TypeError} If `now` is given and is not a bigint.
 */
export function normalizeLines(
  body: Uint8Array,
  options: NormalizeOptions = {},
): NormalizedLines {
  const { precision = "n", now, skipInvalid = false } = options;
  const unit = unitIndex(precision);
  if (now !== undefined && typeof now !== "bigint") {
    throw new TypeError(
      `Cannot normalize line protocol as 'now' must be a bigint: current type is '${typeof now}'`,
    );
  }
  const len = body.length;
  if (len > MAX_BODY) {
    throw new RangeError(
      `Cannot normalize line protocol as the body is too large: current length is ${len} bytes`,
    );
  }

  let pos = 0;
  let lineNo = 1;
  let points = 0;
  let outSize = 0;
  let missing = 0;
  let skipped = 0;
  let firstError: LineProtocolError | null = null;
  // The output equals body[runStart, runEnd) while every forwarded line is
  // verbatim, newline included, and directly follows the previous one.
  let verbatim = true;
  let runStart = -1;
  let runEnd = -1;
  let rec = records;
  junctions.length = 0;

  while (pos < len) {
    const lineStart = pos;
    let s = pos;
    let leadingSpace = false;
    while (s < len) {
      const c = body[s]!;
      if (BLANK[c] === 0) break;
      if (c === SPACE) leadingSpace = true;
      s++;
    }
    if (s === len || body[s] === LF) {
      // Empty or blank: nothing in it can extend the line past this `\n`.
      pos = s + 1;
      lineNo++;
      continue;
    }
    if (body[s] === HASH) {
      const end = scanLineEnd(body, lineStart, len);
      lineNo += 1 + countNewlines(body, lineStart, end);
      pos = end + 1;
      continue;
    }

    // Fast pass: the line ends at the first `\n`. It stands unless the
    // original's splitter could end the line elsewhere (its own quote
    // counting after leading spaces, escape pairing that differs from the key
    // scanner's, an escaped newline); the exact pass also words errors.
    let ok = parseLine(body, s, len, unit, LF);
    let end = parsedLineEnd;
    let e = end;
    if (
      !ok || leadingSpace || keyComplex || (end < len && body[end - 1] === BS)
    ) {
      const exact = scanLineEnd(body, lineStart, len);
      if (!ok || exact !== end) {
        end = exact;
        e = body[end - 1] === LF ? end - 1 : end;
        ok = parseLine(body, s, e, unit, NO_TERMINATOR);
        if (!ok) {
          if (!skipInvalid || firstError === null) {
            const error = new LineProtocolError(
              lineNo,
              failReason,
              lineText(body, s, e),
            );
            if (!skipInvalid) throw error;
            firstError = error;
          }
          // Leave the line out (junk must stay cheap: only the first bad
          // line gets an error object). Later lines are no longer contiguous
          // with the verbatim run, so the output is copied.
          skipped++;
          lineNo += 1 + countNewlines(body, lineStart, end);
          pos = end + 1;
          continue;
        }
      }
      lineNo += countNewlines(body, lineStart, end);
    }
    lineNo++;
    pos = end + 1;

    const r = points * 3;
    if (r + 3 > rec.length) rec = growRecords(rec, r + 3);
    let kind: number;
    let b: number;
    if (!parsedTimestamp) {
      kind = KIND_APPEND_TS;
      b = parsedFieldsEnd;
      outSize += parsedFieldsEnd - s + 2;
      missing++;
    } else if (e < len && body[e] === LF) {
      kind = KIND_VERBATIM;
      b = e + 1;
      outSize += b - s;
    } else {
      kind = KIND_APPEND_LF;
      b = e;
      outSize += e - s + 1;
    }
    if (body[parsedFieldsStart] === EQUALS) {
      // An empty first field key after a tab or NUL separator: the original
      // sends `<key> =…`, which its backends reject; send the same.
      kind |= KIND_JOIN;
      junctions.push(parsedKeyEnd, parsedFieldsStart);
      outSize -= parsedFieldsStart - parsedKeyEnd - 1;
    }
    rec[r] = s;
    rec[r + 1] = b;
    rec[r + 2] = kind;
    if (verbatim) {
      if (kind !== KIND_VERBATIM) verbatim = false;
      else if (runStart < 0) runStart = s;
      else if (s !== runEnd) verbatim = false;
      runEnd = b;
    }
    points++;
  }

  // Do not keep the scratch of a huge body alive between calls.
  if (rec.length > RECORDS_KEPT) records = new Int32Array(RECORDS_INITIAL);
  if (points === 0) {
    return { body: new Uint8Array(0), points: 0, skipped, firstError };
  }
  if (verbatim) {
    return {
      body: runStart === 0 && runEnd === len
        ? body
        : body.subarray(runStart, runEnd),
      points,
      skipped,
      firstError,
    };
  }

  const ts = missing > 0
    ? renderTimestamp(now ?? currentNanoseconds(), unit)
    : EMPTY;
  const out = new Uint8Array(outSize + missing * ts.length);
  let o = 0;
  // Pending run of verbatim lines that are contiguous in the input.
  let cs = -1;
  let ce = -1;
  let join = 0;
  const stop = points * 3;
  for (let r = 0; r < stop; r += 3) {
    let a = rec[r]!;
    const b = rec[r + 1]!;
    const kind = rec[r + 2]!;
    if (kind === KIND_VERBATIM) {
      if (a !== ce) {
        if (ce > cs) {
          out.set(body.subarray(cs, ce), o);
          o += ce - cs;
        }
        cs = a;
      }
      ce = b;
      continue;
    }
    if (ce > cs) {
      out.set(body.subarray(cs, ce), o);
      o += ce - cs;
    }
    cs = ce = -1;
    if ((kind & KIND_JOIN) !== 0) {
      const keyStop = junctions[join++]!;
      out.set(body.subarray(a, keyStop), o);
      o += keyStop - a;
      out[o++] = SPACE;
      a = junctions[join++]!;
    }
    out.set(body.subarray(a, b), o);
    o += b - a;
    if ((kind & 3) === KIND_APPEND_TS) {
      out[o++] = SPACE;
      out.set(ts, o);
      o += ts.length;
    }
    if ((kind & 3) !== KIND_VERBATIM) out[o++] = LF;
  }
  if (ce > cs) {
    out.set(body.subarray(cs, ce), o);
    o += ce - cs;
  }
  junctions.length = 0;
  return {
    body: o === out.length ? out : out.subarray(0, o),
    points,
    skipped,
    firstError,
  };
}

/**
 * Finds where the line starting at `start` ends, splitting lines exactly as
 * {@linkcode normalizeLines} and the original's parser do: a `\n` inside a
 * quoted string field value, or right after a backslash, does not end it.
 *
 * @example Usage
 * ```ts
 * import { findLineEnd } from "./line_protocol.ts";
 * import assert from "node:assert/strict";
 *
 * const body = new TextEncoder().encode('a s="x\ny" 1\nb v=1 2\n');
 * assert.equal(findLineEnd(body, 0), 11); // the first `\n` is inside a string
 * assert.equal(findLineEnd(body, 12), 19);
 * ```
 *
 * @param body Line protocol.
 * @param start Offset of the first byte of a line.
 * @returns The offset of the `\n` that ends the line, or `body.length` when
 * the last line has none.
 */
export function findLineEnd(body: Uint8Array, start: number): number {
  return scanLineEnd(body, start, body.length);
}

// ---------------------------------------------------------------------------
// Internals

const LF = 0x0a;
const SPACE = 0x20;
const QUOTE = 0x22;
const HASH = 0x23;
const PLUS = 0x2b;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DOT = 0x2e;
const EQUALS = 0x3d;
const UPPER_E = 0x45;
const UPPER_F = 0x46;
const UPPER_N = 0x4e;
const UPPER_T = 0x54;
const BS = 0x5c;
const LOWER_E = 0x65;
const LOWER_F = 0x66;
const LOWER_I = 0x69;
const LOWER_N = 0x6e;
const LOWER_T = 0x74;
const LOWER_U = 0x75;
/** Bytes from here on belong to multi-byte UTF-8 characters (or none). */
const NON_ASCII = 0x80;

/** Largest combined measurement and tag-set length (`models.MaxKeyLength`). */
const MAX_KEY_LENGTH = 65535;
/** Offsets are kept in an Int32Array. */
const MAX_BODY = 0x7fff_fffe;

const KIND_VERBATIM = 0;
const KIND_APPEND_LF = 1;
const KIND_APPEND_TS = 2;
/** Flag: rewrite the separator between key and fields as one space. */
const KIND_JOIN = 4;

/** Key end and fields start of the lines flagged KIND_JOIN, in order. */
const junctions: number[] = [];

const EMPTY = new Uint8Array(0);
/** `term` of the exact pass: no byte ends the line early. */
const NO_TERMINATOR = -1;

function byteTable(chars: string, nonAscii = false): Uint8Array {
  const table = new Uint8Array(256);
  for (let k = 0; k < chars.length; k++) table[chars.charCodeAt(k)] = 1;
  if (nonAscii) table.fill(1, NON_ASCII);
  return table;
}

/** Bytes the original skips before a line and between sections. */
const BLANK = byteTable(" \t\0");
/**
 * Bytes that end or escape within a measurement name, and the bytes of
 * non-ASCII characters (checked for UTF-8).
 */
const MEASUREMENT_STOP = byteTable(", \\\n", true);
/** Bytes that end or escape within a tag key or value. */
const TAG_STOP = byteTable(", \\=\n");
/**
 * Bytes of interest in the field section outside a quoted string, including
 * the bytes of non-ASCII characters (field keys are checked for UTF-8).
 */
const FIELD_STOP = byteTable('\\"=, \n', true);
/** Bytes of interest inside a quoted string. */
const STRING_STOP = byteTable('\\"\n');
const DIGIT = byteTable("0123456789");

function asciiDigits(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let k = 0; k < text.length; k++) out[k] = text.charCodeAt(k);
  return out;
}

const INT64_MAX = asciiDigits("9223372036854775807");
const INT64_MIN_ABS = asciiDigits("9223372036854775808");
const UINT64_MAX = asciiDigits("18446744073709551615");

/** Nanoseconds per unit, indexed like {@linkcode TIME_LIMIT}. */
const UNIT_NANOS = [
  1n,
  1_000n,
  1_000_000n,
  1_000_000_000n,
  60_000_000_000n,
  3_600_000_000_000n,
];
/**
 * Largest |timestamp| per unit: `timestamp × unit` must stay within
 * ±9223372036854775806 ns (int64 minus the two sentinel values).
 */
const TIME_LIMIT = [
  "9223372036854775806",
  "9223372036854775",
  "9223372036854",
  "9223372036",
  "153722867",
  "2562047",
].map(asciiDigits);
/** Timestamps with at most this many digits need no range check. */
const SAFE_DIGITS = TIME_LIMIT.map((limit) => limit.length - 1);
const TIME_RANGE_REASON =
  "time outside range -9223372036854775806 - 9223372036854775806";

function unitIndex(precision: Precision): number {
  switch (precision) {
    case "n":
      return 0;
    case "u":
      return 1;
    case "ms":
      return 2;
    case "s":
      return 3;
    case "m":
      return 4;
    case "h":
      return 5;
    default:
      throw new RangeError(
        `Cannot normalize line protocol as 'precision' must be one of n, u, ms, s, m, h: current value is '${precision}'`,
      );
  }
}

const RECORDS_INITIAL = 3 * 1024;
const RECORDS_KEPT = 3 * 65536;
/** Line records (start, end, kind) of the current call; reused across calls. */
let records: Int32Array = new Int32Array(RECORDS_INITIAL);

function growRecords(old: Int32Array, needed: number): Int32Array {
  let size = old.length * 2;
  while (size < needed) size *= 2;
  const grown = new Int32Array(size);
  grown.set(old);
  records = grown;
  return grown;
}

/** Tag-key offsets (start, end pairs) of the line being parsed. */
let tagKeys: Int32Array = new Int32Array(64);

// Results of parseLine(); module state keeps the per-line path allocation-free.
let failReason = "";
let parsedKeyEnd = 0;
let parsedFieldsStart = 0;
let parsedFieldsEnd = 0;
let parsedTimestamp = false;
/** End of the line found by the fast pass (its `\n`, or the body's end). */
let parsedLineEnd = 0;
/** The key used escape runs longer than one backslash. */
let keyComplex = false;

// Lines the original's parser accepts but InfluxDB 1.x's storage layer
// mishandles (bits of parseLine's `hazard`). The reasons take the place of
// a parser reason, so they are only given when the line parses otherwise.
const HAZARD_MEASUREMENT_UTF8 = 1;
const HAZARD_KEY_BACKSLASH = 2;
const HAZARD_KEY_UTF8 = 4;
const MEASUREMENT_UTF8_REASON = "measurement is not valid UTF-8";
const KEY_BACKSLASH_REASON =
  "field key ends with a backslash (InfluxDB 1.x would misread it)";
const KEY_UTF8_REASON = "field key is not valid UTF-8";
/** Set by {@linkcode walkFields}: a key as its walk splits them is not UTF-8. */
let walkKeyNotUtf8 = false;

function fail(reason: string): false {
  failReason = reason;
  return false;
}

function failAt(reason: string): -1 {
  failReason = reason;
  return -1;
}

/**
 * Where the original's line splitter (`scanLine`) ends the line starting at
 * `i`: at the first `\n` that is neither escaped by a backslash (pairwise) nor
 * inside a double quote, counting quotes only after the first space and only
 * where more `=` than `,` have been seen. Returns `len` when there is none.
 */
function scanLineEnd(buf: Uint8Array, i: number, len: number): number {
  let quoted = false;
  let fields = false;
  let equals = 0;
  let commas = 0;
  while (i < len) {
    const c = buf[i]!;
    if (c === BS && i + 2 < len) {
      i += 2;
      continue;
    }
    if (c === SPACE) fields = true;
    if (fields) {
      if (!quoted && c === EQUALS) {
        equals++;
        i++;
        continue;
      }
      if (!quoted && c === COMMA) {
        commas++;
        i++;
        continue;
      }
      if (c === QUOTE && equals > commas) {
        quoted = !quoted;
        i++;
        continue;
      }
    }
    if (c === LF && !quoted) break;
    i++;
  }
  return i;
}

function countNewlines(buf: Uint8Array, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) if (buf[i] === LF) n++;
  return n;
}

/**
 * Skips an escape in a measurement or tag, where a byte counts as escaped
 * when the byte before it is a backslash: the whole run of backslashes and
 * the byte after it. Returns the index after that byte, or `e + 1` when that
 * byte is the terminator.
 */
function skipKeyEscape(
  buf: Uint8Array,
  i: number,
  e: number,
  term: number,
): number {
  let j = i + 1;
  while (j < e && buf[j] === BS) j++;
  if (j - i > 1) keyComplex = true;
  return buf[j] === term ? e + 1 : j + 1;
}

/**
 * Checks one line the way the original's `parsePoint` does, starting at `s`
 * (its first non-blank byte) and ending at `e` or at the first `term` byte
 * (`LF` for the fast pass, {@linkcode NO_TERMINATOR} when `e` is the exact
 * end). On success sets the `parsed…` variables; on failure `failReason`,
 * which is only meaningful for the exact pass.
 */
function parseLine(
  buf: Uint8Array,
  s: number,
  e: number,
  unit: number,
  term: number,
): boolean {
  keyComplex = false;
  let i = s;
  let c = 0;
  let hazard = 0;

  // Measurement.
  if (buf[s] === COMMA) return fail("missing measurement");
  for (;;) {
    while (i < e && MEASUREMENT_STOP[buf[i]!] === 0) i++;
    if (i >= e) return fail("missing fields");
    c = buf[i]!;
    if (c === BS) {
      i = skipKeyEscape(buf, i, e, term);
      // An escaped byte of a character is checked below, from there (the
      // escapes are ASCII: the name is UTF-8 escaped iff it is unescaped).
      if (buf[i - 1]! >= NON_ASCII) i--;
      continue;
    }
    if (c === LF) {
      if (term === LF) return fail("missing fields");
      i++;
      continue;
    }
    if (c >= NON_ASCII) {
      const next = utf8End(buf, i, e);
      if (next < 0) {
        hazard = HAZARD_MEASUREMENT_UTF8;
        i++;
      } else {
        i = next;
      }
      continue;
    }
    break;
  }

  // Tags.
  if (c === COMMA) {
    i++;
    let tags = 0;
    let sorted = true;
    let duplicate = false;
    for (;;) {
      if (i >= e) return fail("missing tag key");
      c = buf[i]!;
      if (c === SPACE || c === COMMA || c === EQUALS || c === term) {
        return fail("missing tag key");
      }
      const keyStart = i;
      for (;;) {
        while (i < e && TAG_STOP[buf[i]!] === 0) i++;
        if (i >= e) return fail("missing tag value");
        c = buf[i]!;
        if (c === BS) {
          i = skipKeyEscape(buf, i, e, term);
          continue;
        }
        if (c === EQUALS) break;
        if (c === LF && term !== LF) {
          i++;
          continue;
        }
        return fail("missing tag value");
      }
      const t = tags * 2;
      if (t + 2 > tagKeys.length) {
        const grown = new Int32Array(tagKeys.length * 2);
        grown.set(tagKeys);
        tagKeys = grown;
      }
      tagKeys[t] = keyStart;
      tagKeys[t + 1] = i;
      if (sorted && tags > 0) {
        const order = compareBytes(
          buf,
          tagKeys[t - 2]!,
          tagKeys[t - 1]!,
          keyStart,
          i,
        );
        if (order === 0) duplicate = true;
        else if (order > 0) sorted = false;
      }
      tags++;

      // Tag value; its first byte is never taken for a separator `=`.
      i++;
      if (i >= e) return fail("missing tag value");
      c = buf[i]!;
      if (c === COMMA || c === SPACE || c === term) {
        return fail("missing tag value");
      }
      i = c === BS ? skipKeyEscape(buf, i, e, term) : i + 1;
      for (;;) {
        while (i < e && TAG_STOP[buf[i]!] === 0) i++;
        if (i >= e) return fail("missing fields");
        c = buf[i]!;
        if (c === BS) {
          i = skipKeyEscape(buf, i, e, term);
          continue;
        }
        if (c === LF) {
          if (term === LF) return fail("missing fields");
          i++;
          continue;
        }
        break;
      }
      if (c === EQUALS) return fail("invalid tag format");
      if (c === SPACE) break;
      i++;
    }
    if (duplicate || (!sorted && hasDuplicateKey(buf, tags))) {
      return fail("duplicate tags");
    }
  }

  const keyEnd = i;
  if (keyEnd - s > MAX_KEY_LENGTH) {
    return fail(`max key length exceeded: ${keyEnd - s} > ${MAX_KEY_LENGTH}`);
  }

  // Fields.
  while (i < e && BLANK[buf[i]!] !== 0) i++;
  const fieldsStart = i;
  let equals = 0;
  let commas = 0;
  // Set when a backslash sits outside a quoted string, or a comma-separated
  // part of the section does not hold exactly one `=`.
  let irregular = false;
  while (i < e) {
    c = buf[i]!;
    if (FIELD_STOP[c] === 0) {
      i++;
      continue;
    }
    if (c === BS) {
      if (i + 1 < e) {
        const next = buf[i + 1];
        if (next === term) return fail("escaped newline");
        // `\\=`: the original counts this `=` (the key ends with an escaped
        // backslash), InfluxDB's storage walk (`scanTo`) takes `\=` for an
        // escaped `=` and reads the rest of the section differently.
        if (next === BS && buf[i + 2] === EQUALS) {
          hazard |= HAZARD_KEY_BACKSLASH;
        }
        irregular = true;
        i += 2;
      } else {
        i++;
      }
      continue;
    }
    if (c === QUOTE) {
      i++;
      if (equals > commas) {
        for (;;) {
          while (i < e && STRING_STOP[buf[i]!] === 0) i++;
          if (i >= e) return fail("unbalanced quotes");
          c = buf[i]!;
          if (c === QUOTE) {
            i++;
            break;
          }
          if (c === BS) {
            if (i + 1 < e) {
              if (buf[i + 1] === term) return fail("unbalanced quotes");
              i += 2;
            } else {
              i++;
            }
            continue;
          }
          if (term === LF) return fail("unbalanced quotes");
          i++;
        }
      }
      continue;
    }
    if (c === EQUALS) {
      if (equals !== commas) irregular = true;
      equals++;
      const before = buf[i - 1];
      if ((before === SPACE || before === COMMA) && buf[i - 2] !== BS) {
        return fail("missing field key");
      }
      if (i + 1 >= e) return fail("missing field value");
      c = buf[i + 1]!;
      if (c === COMMA || c === SPACE || c === term) {
        return fail("missing field value");
      }
      if (
        DIGIT[c] !== 0 || c === DOT || c === MINUS || c === UPPER_N ||
        c === LOWER_N
      ) {
        i = scanNumber(buf, i + 1, e, term);
        if (i < 0) return false;
      } else if (c !== QUOTE) {
        i = scanBoolean(buf, i + 1, e, term);
        if (i < 0) return false;
      } else {
        i++;
      }
      continue;
    }
    if (c === COMMA) {
      if (equals !== commas + 1) irregular = true;
      commas++;
      i++;
      continue;
    }
    if (c === LF && term !== LF) {
      i++;
      continue;
    }
    if (c >= NON_ASCII) {
      // In a key: without escapes in the section (else `irregular`, and the
      // walk checks the keys) each character is seen here from its start.
      if (equals === commas) {
        const next = utf8End(buf, i, e);
        if (next < 0) {
          hazard |= HAZARD_KEY_UTF8;
          i++;
        } else {
          i = next;
        }
      } else {
        i++;
      }
      continue;
    }
    break; // unquoted space, or the terminator
  }
  if (equals === 0 || commas !== equals - 1) {
    return fail("invalid field format");
  }
  const fieldsStop = i;

  // The original walks the fields once more, splitting them with slightly
  // different rules; that walk can only disagree on an irregular section, and
  // can only hit the key limit when the whole section could.
  if (
    irregular ||
    keyEnd - s + 4 + (fieldsStop - fieldsStart) > MAX_KEY_LENGTH
  ) {
    const reason = walkFields(buf, fieldsStart, fieldsStop, keyEnd - s);
    if (reason !== null) return fail(reason);
    // InfluxDB stores the keys as the walk splits them.
    if (irregular) {
      hazard = (hazard & ~HAZARD_KEY_UTF8) |
        (walkKeyNotUtf8 ? HAZARD_KEY_UTF8 : 0);
    }
  }

  // Timestamp.
  while (i < e && BLANK[buf[i]!] !== 0) i++;
  const tsStart = i;
  if (i < e && buf[i] === MINUS) i++;
  while (i < e && DIGIT[buf[i]!] !== 0) i++;
  if (i < e) {
    c = buf[i]!;
    if (c !== SPACE && c !== LF) return fail("bad timestamp");
  }
  parsedKeyEnd = keyEnd;
  parsedFieldsStart = fieldsStart;
  parsedFieldsEnd = fieldsStop;
  if (i === tsStart) {
    if (hazard !== 0) return fail(hazardReason(hazard));
    // Also when a `\n` follows: the original ignores the rest of the line.
    parsedTimestamp = false;
    parsedLineEnd = i;
    return true;
  }
  const tsEnd = i;
  const negative = buf[tsStart] === MINUS;
  const digits = negative ? tsStart + 1 : tsStart;
  if (digits === tsEnd) {
    return fail('strconv.ParseInt: parsing "-": invalid syntax');
  }
  if (tsEnd - digits > SAFE_DIGITS[unit]!) {
    if (exceeds(buf, digits, tsEnd, negative ? INT64_MIN_ABS : INT64_MAX)) {
      return fail(
        `strconv.ParseInt: parsing "${
          ascii(buf, tsStart, tsEnd)
        }": value out of range`,
      );
    }
    if (exceeds(buf, digits, tsEnd, TIME_LIMIT[unit]!)) {
      return fail(TIME_RANGE_REASON);
    }
  }
  for (; i < e; i++) {
    c = buf[i]!;
    if (c === term) break;
    if (c !== SPACE) return fail("point is invalid");
  }
  if (hazard !== 0) return fail(hazardReason(hazard));
  parsedTimestamp = true;
  parsedLineEnd = i;
  return true;
}

/**
 * Scans a number field value starting at `start` like the original's
 * `scanNumber` (with unsigned support on). Returns the index after it, or -1.
 */
function scanNumber(
  buf: Uint8Array,
  start: number,
  e: number,
  term: number,
): number {
  let i = start;
  let isInt = false;
  let isUnsigned = false;
  let decimal = false;
  let scientific = false;
  if (buf[i] === MINUS) {
    i++;
    if (i === e || buf[i] === term) return failAt("invalid number");
  }
  while (i < e) {
    const c = buf[i]!;
    if (DIGIT[c] !== 0) {
      i++;
      continue;
    }
    if (c === COMMA || c === SPACE || c === term) break;
    if (c === LOWER_I && i > start && !isInt && !isUnsigned) {
      isInt = true;
    } else if (c === LOWER_U && i > start && !isInt && !isUnsigned) {
      isUnsigned = true;
    } else if (c === DOT) {
      if (decimal) return failAt("invalid number");
      decimal = true;
    } else if (i > start && (c === LOWER_E || c === UPPER_E)) {
      scientific = true;
    } else if (
      (c === PLUS || c === MINUS) &&
      (buf[i - 1] === LOWER_E || buf[i - 1] === UPPER_E)
    ) {
      // exponent sign
    } else {
      return failAt("invalid number"); // includes NaN
    }
    i++;
  }
  if ((isInt || isUnsigned) && (decimal || scientific)) {
    return failAt("invalid number");
  }
  const negative = buf[start] === MINUS;
  let digits = i - start;
  if (isInt) digits--;
  if (decimal) digits--;
  if (negative) digits--;
  if (digits === 0) return failAt("invalid number");

  if (isInt) {
    if (buf[i - 1] !== LOWER_I) return failAt("invalid number");
    if (i - 1 - start >= 19) {
      const from = negative ? start + 1 : start;
      if (exceeds(buf, from, i - 1, negative ? INT64_MIN_ABS : INT64_MAX)) {
        const text = ascii(buf, start, i - 1);
        return failAt(
          `unable to parse integer ${text}: strconv.ParseInt: parsing "${text}": value out of range`,
        );
      }
    }
  } else if (isUnsigned) {
    if (buf[i - 1] !== LOWER_U || negative) return failAt("invalid number");
    if (i - 1 - start >= 20 && exceeds(buf, start, i - 1, UINT64_MAX)) {
      const text = ascii(buf, start, i - 1);
      return failAt(
        `unable to parse unsigned ${text}: strconv.ParseUint: parsing "${text}": value out of range`,
      );
    }
  } else if (scientific || i - start >= 25) {
    // The scanner has limited the text to Go float syntax up to details such
    // as `1e` or `1e5e5`, where Number() and strconv.ParseFloat agree.
    if (!Number.isFinite(Number(ascii(buf, start, i)))) {
      return failAt("invalid float");
    }
  }
  return i;
}

/**
 * Scans a boolean field value (t, T, true, True, TRUE, f, F, false, False,
 * FALSE) starting at `start`. Returns the index after it, or -1.
 */
function scanBoolean(
  buf: Uint8Array,
  start: number,
  e: number,
  term: number,
): number {
  const first = buf[start];
  let i = start + 1;
  while (i < e) {
    const c = buf[i];
    if (c === COMMA || c === SPACE || c === term) break;
    i++;
  }
  const n = i - start;
  let valid = false;
  switch (first) {
    case LOWER_T:
      valid = n === 1 || (n === 4 && matches(buf, start + 1, "rue"));
      break;
    case UPPER_T:
      valid = n === 1 ||
        (n === 4 && (matches(buf, start + 1, "RUE") ||
          matches(buf, start + 1, "rue")));
      break;
    case LOWER_F:
      valid = n === 1 || (n === 5 && matches(buf, start + 1, "alse"));
      break;
    case UPPER_F:
      valid = n === 1 ||
        (n === 5 && (matches(buf, start + 1, "ALSE") ||
          matches(buf, start + 1, "alse")));
      break;
  }
  return valid ? i : failAt("invalid boolean");
}

function matches(buf: Uint8Array, at: number, text: string): boolean {
  for (let k = 0; k < text.length; k++) {
    if (buf[at + k] !== text.charCodeAt(k)) return false;
  }
  return true;
}

/**
 * The original's second pass over the field section (`walkFields`): keys end
 * at an `=` not preceded by a backslash, string values only know `\"` and
 * `\\`. Returns the reason it fails, or null. InfluxDB 1.x stores the
 * fields as this walk splits them: sets {@linkcode walkKeyNotUtf8}.
 */
function walkFields(
  buf: Uint8Array,
  from: number,
  to: number,
  keyLength: number,
): string | null {
  walkKeyNotUtf8 = false;
  let p = from;
  while (p < to) {
    let k = p;
    let nonAscii = false;
    while (k < to && !(buf[k] === EQUALS && (k === p || buf[k - 1] !== BS))) {
      if (buf[k]! >= NON_ASCII) nonAscii = true;
      k++;
    }
    if (k > to - 2) return `invalid value: field-key=${ascii(buf, p, k)}`;
    if (nonAscii && !isUtf8(buf, p, k)) walkKeyNotUtf8 = true;
    let v = k + 1;
    let quoted = false;
    while (v < to) {
      const c = buf[v];
      if (
        c === BS && v + 1 < to && (buf[v + 1] === QUOTE || buf[v + 1] === BS)
      ) {
        v += 2;
        continue;
      }
      if (c === QUOTE) quoted = !quoted;
      else if (c === COMMA && !quoted) break;
      v++;
    }
    const size = keyLength + 4 + (k - p);
    if (size > MAX_KEY_LENGTH) {
      return `max key length exceeded: ${size} > ${MAX_KEY_LENGTH}`;
    }
    p = v < to ? v + 1 : v;
  }
  return null;
}

/** The reason for a line with the given {@linkcode parseLine} hazard bits. */
function hazardReason(hazard: number): string {
  if ((hazard & HAZARD_MEASUREMENT_UTF8) !== 0) return MEASUREMENT_UTF8_REASON;
  if ((hazard & HAZARD_KEY_BACKSLASH) !== 0) return KEY_BACKSLASH_REASON;
  return KEY_UTF8_REASON;
}

/**
 * End of the UTF-8 character whose first byte (not ASCII) is at `i`, or -1
 * when the bytes from `i` to `to` do not start with one (as Go's
 * `utf8.Valid` decides: no overlong forms, surrogates or values beyond
 * U+10FFFF).
 */
function utf8End(buf: Uint8Array, i: number, to: number): number {
  const c = buf[i]!;
  let n: number;
  let low = 0x80;
  let high = 0xbf;
  if (c < 0xc2) return -1;
  if (c < 0xe0) {
    n = 1;
  } else if (c < 0xf0) {
    n = 2;
    if (c === 0xe0) low = 0xa0;
    else if (c === 0xed) high = 0x9f;
  } else if (c < 0xf5) {
    n = 3;
    if (c === 0xf0) low = 0x90;
    else if (c === 0xf4) high = 0x8f;
  } else {
    return -1;
  }
  if (i + n >= to) return -1;
  const second = buf[i + 1]!;
  if (second < low || second > high) return -1;
  for (let k = 2; k <= n; k++) {
    const b = buf[i + k]!;
    if (b < 0x80 || b > 0xbf) return -1;
  }
  return i + n + 1;
}

/** Whether `buf[from, to)` is valid UTF-8. */
function isUtf8(buf: Uint8Array, from: number, to: number): boolean {
  let i = from;
  while (i < to) {
    if (buf[i]! < NON_ASCII) {
      i++;
      continue;
    }
    i = utf8End(buf, i, to);
    if (i < 0) return false;
  }
  return true;
}

/** Byte-wise comparison of `buf[a0, a1)` and `buf[b0, b1)` (Go's bytes.Compare). */
function compareBytes(
  buf: Uint8Array,
  a0: number,
  a1: number,
  b0: number,
  b1: number,
): number {
  const n = Math.min(a1 - a0, b1 - b0);
  for (let k = 0; k < n; k++) {
    const d = buf[a0 + k]! - buf[b0 + k]!;
    if (d !== 0) return d;
  }
  return (a1 - a0) - (b1 - b0);
}

/** Whether two of the first `count` tag keys in `tagKeys` are equal. */
function hasDuplicateKey(buf: Uint8Array, count: number): boolean {
  if (count <= 32) {
    for (let a = 0; a < count; a++) {
      const a0 = tagKeys[2 * a]!;
      const a1 = tagKeys[2 * a + 1]!;
      for (let b = a + 1; b < count; b++) {
        const b0 = tagKeys[2 * b]!;
        const b1 = tagKeys[2 * b + 1]!;
        if (b1 - b0 === a1 - a0 && compareBytes(buf, a0, a1, b0, b1) === 0) {
          return true;
        }
      }
    }
    return false;
  }
  const order = Array.from({ length: count }, (_, k) => k);
  order.sort((x, y) =>
    compareBytes(
      buf,
      tagKeys[2 * x]!,
      tagKeys[2 * x + 1]!,
      tagKeys[2 * y]!,
      tagKeys[2 * y + 1]!,
    )
  );
  for (let k = 1; k < count; k++) {
    const x = order[k - 1]!;
    const y = order[k]!;
    if (
      compareBytes(
        buf,
        tagKeys[2 * x]!,
        tagKeys[2 * x + 1]!,
        tagKeys[2 * y]!,
        tagKeys[2 * y + 1]!,
      ) === 0
    ) return true;
  }
  return false;
}

/**
 * Whether the unsigned decimal `buf[from, to)` (leading zeros allowed) is
 * greater than `limit` (ASCII digits without leading zeros).
 */
function exceeds(
  buf: Uint8Array,
  from: number,
  to: number,
  limit: Uint8Array,
): boolean {
  while (from < to && buf[from] === 0x30) from++;
  const n = to - from;
  if (n !== limit.length) return n > limit.length;
  for (let k = 0; k < n; k++) {
    const d = buf[from + k]! - limit[k]!;
    if (d !== 0) return d > 0;
  }
  return false;
}

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder();

/** A rejected line as text for error messages (error path only). */
function lineText(buf: Uint8Array, from: number, to: number): string {
  return utf8.decode(
    buf.subarray(from, Math.min(to, from + 4 * MAX_ERROR_TEXT)),
  );
}

/** Text of `buf[from, to)`, one character per byte (error paths and floats). */
function ascii(buf: Uint8Array, from: number, to: number): string {
  if (to - from > 64) return latin1.decode(buf.subarray(from, to));
  let text = "";
  for (let k = from; k < to; k++) text += String.fromCharCode(buf[k]!);
  return text;
}

/** `floor(now / unit)` as ASCII digits. */
function renderTimestamp(now: bigint, unit: number): Uint8Array {
  const nanos = UNIT_NANOS[unit]!;
  let value = now / nanos;
  if (now < 0n && value * nanos !== now) value -= 1n;
  return asciiDigits(value.toString());
}

let wallAnchor = 0;
let monotonicAnchor = 0;

/**
 * Wall-clock time in nanoseconds with sub-millisecond resolution: the
 * monotonic clock, re-anchored to Date.now() whenever they drift apart by
 * more than a millisecond. Requests that share a series then rarely share a
 * filled-in timestamp, as with Go's time.Now().
 */
function currentNanoseconds(): bigint {
  const wall = Date.now();
  const monotonic = performance.now();
  let ms = wallAnchor + (monotonic - monotonicAnchor);
  if (wallAnchor === 0 || Math.abs(ms - wall) > 1) {
    wallAnchor = wall;
    monotonicAnchor = monotonic;
    ms = wall;
  }
  const whole = Math.floor(ms);
  return BigInt(whole) * 1_000_000n +
    BigInt(Math.floor((ms - whole) * 1e6));
}
