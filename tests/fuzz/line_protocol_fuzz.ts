#!/usr/bin/env -S deno run -A
/**
 * Differential fuzzing of the relay's line-protocol validator
 * ({@linkcode normalizeLines}) against a real InfluxDB 1.6 `influxd`.
 *
 * Seeded cases (grammar-built lines with escapes, quoted strings, unicode,
 * number and timestamp edges; byte-level mutations of them; random junk; a
 * few 64 KiB keys) are judged by the validator on their own and by influxd,
 * and the two accept/reject verdicts must agree except for the documented
 * differences in {@linkcode KNOWN_DIFFERENCES}.
 *
 * Per-case verdicts at batch speed: influxd 1.6 answers a body with bad lines
 * with a 400 that lists every unparsable line as
 * `unable to parse '<line>': <reason>` (joined by `\n`, in body order) and
 * stores the good ones. Each batch interleaves the cases with sentinel lines
 * `,<token><k>` that always fail (`missing measurement`); the listing between
 * sentinel k and k + 1 is then exactly what influxd said about case k: nothing
 * means accepted. Cases are sent on their own (one request each) instead when
 * they would not end where their sentinel starts (an unbalanced quote or a
 * trailing backslash swallows the next line; checked with an independent port
 * of Go's `scanLine`, and again by finding every sentinel in the answer), or
 * when they might parse and still be refused by the storage layer (a `time`
 * key, bytes that are not UTF-8): such an error replaces the whole listing. A
 * batch that gets one anyway (a field type conflict) is split in halves until
 * the culprit is alone; a lone case with a type conflict is sent again to an
 * empty database, and a case with a storage error parsed.
 *
 * influxd 1.6.7 panics and exits on some lines its parser accepts (the
 * relay rejects them on purpose: the `D17` entry of
 * {@linkcode KNOWN_DIFFERENCES}): those are screened out, a couple are sent
 * to confirm, and any crash is caught, blamed on the one case sent with
 * nothing else in flight, and influxd restarted. influxd copies error
 * texts, control bytes included, into a response header that `fetch`
 * refuses, so writes use a small HTTP/1.1 client on raw sockets.
 *
 * A sample of accepted batches is also written twice, as received and as
 * the relay would forward it, to two empty databases, and what influxd
 * stored must be the same (the relay's filled-in timestamp and influxd's own
 * receive time are mapped to one marker).
 *
 * Usage:
 *
 * ```sh
 * deno run -A tests/fuzz/line_protocol_fuzz.ts --lines 1000000 --seed 1
 * deno task fuzz
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  LineProtocolError,
  normalizeLines,
  type Precision,
} from "../../relay/line_protocol.ts";
import { type Influxd, startInfluxd } from "../_influxd.ts";

// ---------------------------------------------------------------------------
// Public API

/** Where a case came from. */
export type CaseOrigin =
  | "valid"
  | "mutated"
  | "junk"
  | "huge"
  | "recheck";

/** One fuzz case: a whole request body, judged as one unit. */
export interface FuzzCase {
  /** Sequence number; also makes the case's measurement unique. */
  id: number;
  /** How the case was made. */
  origin: CaseOrigin;
  /** The `precision` of the request. */
  precision: Precision;
  /** The body. */
  bytes: Uint8Array;
}

/** The validator's verdict on a case. */
export interface RelayVerdict {
  /** Whether {@linkcode normalizeLines} accepted the body. */
  accepted: boolean;
  /** {@linkcode LineProtocolError.reason} when rejected, else `""`. */
  reason: string;
}

/** What influxd made of a case. */
export interface InfluxdVerdict {
  /**
   * `accepted`: every line parsed and was stored; `rejected`: some line did
   * not parse; `storage`: the case parsed but the storage layer refused a
   * point (a `time` key, a field type conflict inside the case, a 500);
   * `undetermined`: a storage error hid whether every line parsed;
   * `panic`: influxd crashed storing it (or would have: not sent), so it
   * parsed.
   */
  kind: "accepted" | "rejected" | "storage" | "undetermined" | "panic";
  /** Reasons of the unparsable lines, or the storage error. */
  reasons: string[];
  /** Whether the case was sent on its own rather than inside a batch. */
  isolated: boolean;
}

/** A documented or known difference between the validator and influxd. */
export interface KnownDifference {
  /** Short name used in reports. */
  id: string;
  /**
   * `documented`: on purpose; `bug`: a known failing case of the validator,
   * still to fix.
   */
  kind: "documented" | "bug";
  /** What differs and why. */
  description: string;
  /**
   * Whether this difference explains a disagreement. For D6 the engine then
   * confirms it by judging the case again without unsigned values.
   */
  matches(
    fuzzCase: FuzzCase,
    relay: RelayVerdict,
    influxd: InfluxdVerdict,
  ): boolean;
}

/**
 * Differences between the relay's validator and influxd 1.6.7 that the fuzz
 * test tolerates. Everything else is a disagreement.
 */
export const KNOWN_DIFFERENCES: readonly KnownDifference[] = [
  {
    id: "D6",
    kind: "documented",
    description:
      "unsigned integer fields (`1u`) are valid for the relay (decision D6); " +
      "influxd 1.6 OSS answers `invalid number`. Confirmed per case: the same " +
      "case with each unsigned value rewritten as an integer (or a float " +
      "beyond int64) must get the same verdict from both",
    matches(fuzzCase, relay, influxd) {
      return relay.accepted && influxd.kind === "rejected" &&
        influxd.reasons.length > 0 &&
        influxd.reasons.every((r) => r === "invalid number") &&
        rewriteUnsigned(fuzzCase.bytes) !== null;
    },
  },
  {
    id: "empty-field-key",
    kind: "documented",
    description:
      "a line whose first field key is empty and follows a tab or NUL after " +
      "the separating space (`m \\t=1`): influxd parses it (a field named " +
      '""); the original relay re-serialises it as `m =1`, which influxd ' +
      "rejects (`missing field key`), and this relay forwards the same on " +
      "purpose (relay/line_protocol.ts, D8: store what the original would). " +
      "Both validators accept the line; left out of the stored comparison",
    matches(fuzzCase, relay, influxd) {
      return relay.accepted && influxd.kind === "accepted" &&
        hasEmptyFieldKeyAfterTab(fuzzCase.bytes);
    },
  },
  {
    id: "storage",
    kind: "documented",
    description:
      "the relay checks syntax only; influxd parses the line but its storage " +
      "layer drops the point: a field or tag key `time`, or a field whose " +
      "type conflicts with another field of the same name in the same " +
      "request. influxd answers 400 `partial write: …`, which the relay " +
      "passes back to the client",
    matches(_fuzzCase, relay, influxd) {
      return relay.accepted && influxd.kind === "storage" &&
        !influxd.reasons.some((r) => r.startsWith("HTTP 500"));
    },
  },
  {
    id: "D17",
    kind: "documented",
    description:
      "lines influxd 1.6.7's parser accepts but its storage layer mishandles " +
      "are rejected by the relay (400) to protect the backends: a field key " +
      "ending with an escaped backslash (`m a\\\\=1,b=2`; the storage walk " +
      "reads `\\=` as an escaped `=`: influxd stores field `a\\=1,b` = 2, " +
      'answers 500 for `m a\\\\="=x"` and panics and exits for ' +
      '`m \\\\="="`), a field key that is not UTF-8 (500 ' +
      '`proto: field "tsdb.Field.Name" contains invalid UTF-8`) and a ' +
      "measurement that is not UTF-8 (stored, or 500; after the next " +
      "restart every write adding a field to that shard answers 500). " +
      "Confirmed per case: influxd did not reject the case as unparsable, " +
      "and an independent port of its walk (influxdMisreads) finds the line",
    matches(fuzzCase, relay, influxd) {
      return !relay.accepted && GUARD_REASONS.includes(relay.reason) &&
        influxd.kind !== "rejected" && influxd.kind !== "undetermined" &&
        influxdMisreads(fuzzCase.bytes) !== null;
    },
  },
];

/** One disagreement no known difference explains. */
export interface Disagreement {
  /** The case as generated. */
  fuzzCase: FuzzCase;
  /** The validator's verdict. */
  relay: RelayVerdict;
  /** influxd's verdict. */
  influxd: InfluxdVerdict;
  /** A smaller body with the same disagreement, when minimisation ran. */
  minimal: Uint8Array | null;
  /** Extra context, e.g. the verdicts after the D6 rewrite. */
  note: string;
}

/** A difference between what influxd stored for a body and for the relay's output. */
export interface StoredMismatch {
  /** The `precision` of both writes. */
  precision: Precision;
  /** Cases written. */
  cases: number;
  /** First differing series or field-key row, as received and as forwarded. */
  received: string;
  /** Same, for the relay's output. */
  forwarded: string;
}

/** Counts for one {@linkcode CaseOrigin}. */
export interface OriginCounts {
  /** Cases. */
  cases: number;
  /** Cases the validator accepted. */
  relayAccepted: number;
  /** Cases influxd accepted (all lines parsed). */
  influxdAccepted: number;
}

/** The outcome of {@linkcode runLineProtocolFuzz}. */
export interface FuzzReport {
  /** PRNG seed. */
  seed: number;
  /** Cases judged (the `lines` option), not counting rechecks. */
  cases: number;
  /** Non-blank physical lines in all cases. */
  physicalLines: number;
  /** Bytes in all cases. */
  bytes: number;
  /** Both accepted. */
  bothAccepted: number;
  /** Both rejected. */
  bothRejected: number;
  /** Cases per documented difference id (D6, storage). */
  documented: Record<string, number>;
  /** Storage-layer rejections by kind (part of `documented.storage`). */
  storageKinds: Record<string, number>;
  /**
   * Cases the relay rejects to protect influxd (part of `documented.D17`),
   * by the relay's reason and what influxd did with the case.
   */
  guarded: Record<string, number>;
  /** A few of those cases, for the log. */
  guardExamples: string[];
  /** Cases per known-bug id from {@linkcode KNOWN_DIFFERENCES}. */
  knownBugs: Record<string, number>;
  /** Undocumented disagreements (the first `keepDisagreements` are kept). */
  disagreements: Disagreement[];
  /** Number of undocumented disagreements. */
  disagreementCount: number;
  /** Undocumented disagreements by class (`relay-accepts`, `relay-rejects`). */
  disagreementsByClass: Record<string, number>;
  /** Cases whose influxd verdict a storage error hid. */
  undetermined: number;
  /**
   * Both rejected, no unsigned value (D6) in the case, but the validator's
   * reason differs from influxd's first one (information only).
   */
  reasonDifferences: number;
  /** The most frequent reason differences with a count and an example. */
  reasonExamples: string[];
  /** Per origin. */
  byOrigin: Record<CaseOrigin, OriginCounts>;
  /** Cases judged in sentinel batches. */
  batched: number;
  /** Cases (or their lines) sent on their own. */
  isolated: number;
  /** HTTP writes to influxd. */
  requests: number;
  /** Times influxd crashed and was restarted. */
  restarts: number;
  /** D6 rechecks (cases rewritten without unsigned values). */
  rechecks: number;
  /** Stored-point comparisons: batches, points and mismatches. */
  stored: { batches: number; points: number; mismatches: StoredMismatch[] };
  /** Wall time of the run. */
  durationMs: number;
}

/** Options for {@linkcode runLineProtocolFuzz}. */
export interface FuzzOptions {
  /**
   * Number of cases (lines) to generate and judge.
   *
   * @default {20000}
   */
  lines?: number;
  /**
   * PRNG seed; the same seed always generates the same cases.
   *
   * @default {1}
   */
  seed?: number;
  /**
   * Cases per sentinel batch.
   *
   * @default {400}
   */
  batchSize?: number;
  /**
   * Requests in flight to influxd.
   *
   * @default {3}
   */
  concurrency?: number;
  /**
   * Compare stored points for every n-th batch (0: never).
   *
   * @default {10}
   */
  compareEvery?: number;
  /**
   * Start a fresh database after this many cases: influxd rewrites its
   * whole field index on every new field, so it must stay small.
   *
   * @default {10000}
   */
  rotateEvery?: number;
  /**
   * Disagreements kept (and minimised) in the report.
   *
   * @default {20}
   */
  keepDisagreements?: number;
  /**
   * Timeout of one request to influxd, in milliseconds.
   *
   * @default {60000}
   */
  requestTimeoutMs?: number;
  /** Called after every chunk of batches with the cases done so far. */
  onProgress?: (done: number, report: FuzzReport) => void;
}

/**
 * Generates the cases of a run without judging them.
 *
 * @param options `lines`, `seed` and `batchSize` as for
 * {@linkcode runLineProtocolFuzz}.
 * @returns The cases, in order; the same options give the same bytes.
 */
export function generateFuzzCases(
  options: Pick<FuzzOptions, "lines" | "seed" | "batchSize"> = {},
): FuzzCase[] {
  const { lines = 20_000, seed = 1, batchSize = 400 } = options;
  const generator = new CaseGenerator(seed);
  const out: FuzzCase[] = [];
  while (out.length < lines) {
    out.push(...generator.batch(Math.min(batchSize, lines - out.length)));
  }
  return out;
}

/**
 * Judges a body with the relay's validator, as the HTTP listener would.
 *
 * @param bytes The body.
 * @param precision The request's precision.
 * @returns Accepted, or rejected with the reason.
 */
export function relayVerdict(
  bytes: Uint8Array,
  precision: Precision,
): RelayVerdict {
  try {
    normalizeLines(bytes, { precision, now: RELAY_NOW });
    return { accepted: true, reason: "" };
  } catch (error) {
    if (error instanceof LineProtocolError) {
      return { accepted: false, reason: error.reason };
    }
    throw error;
  }
}

/**
 * Runs the differential fuzz against a running influxd: creates and drops
 * its own databases (`fz_*`) on it.
 *
 * @param influxd The server to compare against (see tests/_influxd.ts).
 * @param options Size, seed and tuning.
 * @returns Counts, documented differences and every disagreement.
 * @throws {Error} When influxd answers something other than 204, 400 or
 * 500, or does not answer within `requestTimeoutMs`.
 */
export async function runLineProtocolFuzz(
  influxd: Influxd,
  options: FuzzOptions = {},
): Promise<FuzzReport> {
  const {
    lines = 20_000,
    seed = 1,
    batchSize = 400,
    concurrency = 3,
    compareEvery = 10,
    rotateEvery = 10_000,
    keepDisagreements = 20,
    requestTimeoutMs = 60_000,
    onProgress,
  } = options;
  if (!Number.isSafeInteger(lines) || lines < 0) {
    throw new RangeError(
      `Cannot fuzz as 'lines' must be a non-negative integer: current value is ${lines}`,
    );
  }
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new RangeError(
      `Cannot fuzz as 'batchSize' must be a positive integer: current value is ${batchSize}`,
    );
  }
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new RangeError(
      `Cannot fuzz as 'concurrency' must be a positive integer: current value is ${concurrency}`,
    );
  }
  const run = new FuzzRun(influxd, {
    seed,
    batchSize,
    concurrency,
    compareEvery,
    rotateEvery,
    keepDisagreements,
    requestTimeoutMs,
  });
  try {
    return await run.execute(lines, onProgress);
  } finally {
    await run.close();
  }
}

/**
 * Formats a report as the CLI prints it.
 *
 * @param report The report.
 * @returns Several lines of text.
 */
export function formatFuzzReport(report: FuzzReport): string {
  const seconds = report.durationMs / 1000;
  const rate = seconds > 0 ? Math.round(report.cases / seconds) : 0;
  const out = [
    `line-protocol differential fuzz: seed ${report.seed}`,
    `  cases (lines)      ${report.cases} (${report.physicalLines} physical lines, ${
      (report.bytes / 1e6).toFixed(1)
    } MB), ${report.rechecks} D6 rechecks`,
    `  origin             ${
      Object.entries(report.byOrigin).filter(([, c]) => c.cases > 0).map((
        [o, c],
      ) =>
        `${o} ${c.cases} (relay ok ${c.relayAccepted}, influxd ok ${c.influxdAccepted})`
      ).join("; ")
    }`,
    `  agree              ${
      report.bothAccepted + report.bothRejected
    } (accepted ${report.bothAccepted}, rejected ${report.bothRejected})`,
    `  documented         ${formatCounts(report.documented)}`,
    `  storage layer      ${formatCounts(report.storageKinds)}`,
    `  relay guard (D17)  ${
      formatCounts(report.guarded)
    } (influxd restarts: ${report.restarts})`,
    `  known bugs         ${formatCounts(report.knownBugs)}`,
    `  disagreements      ${report.disagreementCount} ${
      formatCounts(report.disagreementsByClass)
    }`,
    `  undetermined       ${report.undetermined}`,
    `  reason wording     ${report.reasonDifferences} both-rejected cases (no D6) with another first reason (info only)`,
    `  stored vs forwarded ${report.stored.batches} batches, ${report.stored.points} points, ${report.stored.mismatches.length} mismatches`,
    `  requests           ${report.requests} (${report.batched} cases batched, ${report.isolated} isolated)`,
    `  duration           ${seconds.toFixed(1)} s, ${rate} cases/s`,
  ];
  for (const example of report.guardExamples.slice(0, 5)) {
    out.push(`    guarded: ${example}`);
  }
  for (const example of report.reasonExamples.slice(0, 10)) {
    out.push(`    reason: ${example}`);
  }
  for (const d of report.disagreements) {
    out.push(
      `  DISAGREEMENT #${d.fuzzCase.id} (${d.fuzzCase.origin}, precision ${d.fuzzCase.precision}): relay ${
        d.relay.accepted ? "accepts" : `rejects (${d.relay.reason})`
      }, influxd ${d.influxd.kind}${
        d.influxd.reasons.length > 0 ? ` (${d.influxd.reasons[0]})` : ""
      }`,
      `    body    ${showBytes(d.fuzzCase.bytes)}`,
    );
    if (d.minimal !== null) out.push(`    minimal ${showBytes(d.minimal)}`);
    if (d.note !== "") out.push(`    note    ${d.note}`);
  }
  for (const m of report.stored.mismatches.slice(0, 5)) {
    out.push(
      `  STORED MISMATCH (precision ${m.precision}, ${m.cases} cases)`,
      `    received  ${m.received}`,
      `    forwarded ${m.forwarded}`,
    );
  }
  return out.join("\n");
}

// ---------------------------------------------------------------------------
// Constants

/** The relay's receive time for its verdicts (does not affect them). */
const RELAY_NOW = 1_700_000_000_123_456_789n;

const LF = 0x0a;
const SPACE = 0x20;
const QUOTE = 0x22;
const COMMA = 0x2c;
const EQUALS = 0x3d;
const BACKSLASH = 0x5c;

const PRECISIONS: readonly Precision[] = ["n", "u", "ms", "s", "m", "h"];
/** Relative weights of PRECISIONS per batch. */
const PRECISION_WEIGHTS = [8, 2, 2, 3, 1, 1];

const UNIT_NANOS: Record<Precision, bigint> = {
  n: 1n,
  u: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

const INT64_MAX = 9223372036854775807n;
/** influxd's largest |time| in ns (int64 minus two sentinel values). */
const MAX_TIME_NS = 9223372036854775806n;
/** 2001-09-09T01:46:40Z: explicit timestamps fall in the week after it. */
const BASE_NS = 1_000_000_000_000_000_000n;
const WEEK_NS = 604_800_000_000_000n;
/** influxd's limit on measurement + tags (and on key + field key + 4). */
const MAX_KEY_LENGTH = 65535;

/** A shard group of 100 years keeps every timestamp in a handful of shards. */
const SHARD_DURATION = "5200w";

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder();

// ---------------------------------------------------------------------------
// PRNG

/** sfc32 seeded through splitmix32: fast, small state, good enough. */
class Random {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = next();
    this.#b = next();
    this.#c = next();
    this.#d = next();
    for (let k = 0; k < 12; k++) this.u32();
  }

  u32(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0;
    this.#d = (this.#d + 1) >>> 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) >>> 0;
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0;
    this.#c = (this.#c + t) >>> 0;
    return t;
  }

  /** Integer in [0, n). */
  below(n: number): number {
    return Math.floor((this.u32() / 4294967296) * n);
  }

  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.below(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.u32() / 4294967296 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }

  weighted(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) total += w;
    let x = this.below(total);
    for (let k = 0; k < weights.length; k++) {
      x -= weights[k]!;
      if (x < 0) return k;
    }
    return weights.length - 1;
  }

  /** BigInt in [0, n) for n < 2^64. */
  bigBelow(n: bigint): bigint {
    const x = (BigInt(this.u32()) << 32n) | BigInt(this.u32());
    return x % n;
  }

  digits(count: number): string {
    let s = "";
    for (let k = 0; k < count; k++) {
      s += String.fromCharCode(48 + this.below(10));
    }
    return s;
  }
}

// ---------------------------------------------------------------------------
// Generator

const MEASUREMENT_DECOR = [
  "\\,",
  "\\ ",
  "\\\\",
  "é",
  "日本",
  "🙂",
  "=",
  '"',
  "'",
  "#",
  "-",
  ".",
  "_x",
  "\\=",
  '\\"',
  "\\n",
  "\t",
  "µ",
  "\u2028",
  "/",
];
const MEASUREMENT_PREFIX = ["cpu_", "disk\\ io_", "net\\,", "é", "🙂", "a=b"];
const TAG_KEYS = [
  "host",
  "region",
  "a",
  "b",
  "z",
  "tag\\ 1",
  "k\\,2",
  "k\\=3",
  "é",
  "日本",
  "Ключ",
  "x_y",
  '"q"',
  "#h",
  "A",
];
const TAG_VALUES = [
  "v1",
  "server-01",
  "us\\ west",
  "eu\\,central",
  "a\\=b",
  "ü",
  "🙂",
  "1",
  "true",
  '"q"',
  "#",
  "'s'",
  "\\n",
  "0.5",
  "-",
];
const FIELD_KEYS = [
  "value",
  "v",
  "f\\ 1",
  "f\\,2",
  "f\\=3",
  "é",
  "temp",
  "usage_idle",
  '"q"',
  "#",
  "日本",
  "x\\=y",
  "T",
  "'",
];
/** Keys and values with backslash runs and bare `=`: mostly invalid. */
const TRICKY_KEYS = [
  "\\\\",
  "a\\\\",
  "x=y",
  "a=b",
  "x\\\\",
  "\\",
  "\\\\\\",
  "k\\\\\\=",
  "",
];
const STRING_PIECES = [
  "a",
  "hello world",
  '\\"',
  "\\\\",
  "\n",
  "\t",
  ",",
  "=",
  " ",
  "é",
  "🙂",
  "日本語",
  "\\n",
  "'",
  "#",
  "\r",
  "{}",
  "\\t",
  "x\\y",
  "\u0000",
  "\u2028",
];
const GOOD_FLOATS = [
  "0",
  "-0",
  "1",
  "-1",
  ".5",
  "5.",
  "-.5",
  "0.0",
  "00012",
  "1e10",
  "1E-5",
  "1e+308",
  "-1.5e-3",
  "1.7976931348623157e308",
  "-1.7976931348623157e308",
  "4.9e-324",
  "1e-400",
  "2.2250738585072014e-308",
  "9223372036854775808",
  "18446744073709551616",
  "3.141592653589793",
  "1e0",
  "0e0",
  "1.e5",
  ".1e-5",
];
const BAD_FLOATS = [
  "1.8e308",
  "1e400",
  "-1e309",
  "1e",
  "1e+",
  "1e-",
  "1.2.3",
  "1e5e5",
  "NaN",
  "nan",
  "Inf",
  "-Inf",
  "+1",
  "1_0",
  "0x10",
  ".",
  "-",
  "-.",
  ".e5",
  "e5",
  "1ee5",
  "1e5.5",
  "1-",
  "1+1",
  "--1",
  "1..",
];
const GOOD_INTS = [
  "0i",
  "-0i",
  "1i",
  "-1i",
  "9223372036854775807i",
  "-9223372036854775808i",
  "0000000000000000000000000001i",
  "-00000000000000000000009223372036854775808i",
];
const BAD_INTS = [
  "9223372036854775808i",
  "-9223372036854775809i",
  "99999999999999999999i",
  "+5i",
  "1.0i",
  "1e3i",
  "i",
  "-i",
  "12ii",
  "1i2",
  "1iu",
  "1ui",
  "0xfi",
];
const GOOD_UINTS = [
  "0u",
  "42u",
  "18446744073709551615u",
  "9223372036854775808u",
  "000000000000000000000018446744073709551615u",
];
const BAD_UINTS = [
  "18446744073709551616u",
  "-1u",
  "-0u",
  "1.5u",
  "u",
  "1e3u",
  "99999999999999999999999u",
];
const GOOD_BOOLS = [
  "t",
  "T",
  "true",
  "True",
  "TRUE",
  "f",
  "F",
  "false",
  "False",
  "FALSE",
];
const BAD_BOOLS = [
  "tRUE",
  "Tru",
  "yes",
  "on",
  "truee",
  "FALSe",
  "fa",
  "TRUe",
  "tr",
  "null",
];
const TIME_TEXT_EDGES = [
  "-0",
  "0",
  "1",
  "-1",
  "+1",
  "1.5",
  "1e9",
  "0x10",
  "-",
  "00000000000000000000000000000042",
  "9223372036854775807",
  "-9223372036854775808",
  "9223372036854775808",
  "-9223372036854775809",
  "18446744073709551616",
  "99999999999999999999999999",
];
/** Bytes that matter to the grammar, plus control and non-UTF-8 bytes. */
const INTERESTING_BYTES = [
  0x00,
  0x09,
  0x0a,
  0x0d,
  0x0b,
  0x0c,
  0x1b,
  0x7f,
  0x20,
  0x22,
  0x23,
  0x27,
  0x2c,
  0x3d,
  0x5c,
  0x2d,
  0x2b,
  0x2e,
  0x30,
  0x31,
  0x39,
  0x65,
  0x45,
  0x69,
  0x75,
  0x74,
  0x66,
  0x54,
  0x46,
  0x4e,
  0x6e,
  0x80,
  0xbf,
  0xc0,
  0xc3,
  0xe2,
  0xf0,
  0xff,
  0xfe,
];
const INSERTED_TEXT = [
  "é",
  "🙂",
  "\u2028",
  "\ufeff",
  "\u00a0",
  "\\",
  "\\\\",
  '\\"',
  "\r\n",
  "\n#c\n",
  "\n\n",
  " \t",
  "\t ",
  " \u0000",
  "=1",
  ",a=b",
  '="x"',
  "=1i",
  "=1u",
  "=t",
  " 1",
  " -1",
  "99999999999999999999",
  "e5",
  ".5",
  "\n m v=1",
];
const JUNK_ALPHABET = encoder.encode(
  'abcmv=, "\\#i0123456789.-eEtTfFu\t\n\u0000',
);

/** Builds cases, batch by batch; each batch has one precision. */
class CaseGenerator {
  #random: Random;
  #nextId = 0;

  constructor(seed: number) {
    this.#random = new Random(seed);
  }

  batch(count: number): FuzzCase[] {
    const r = this.#random;
    const precision = PRECISIONS[r.weighted(PRECISION_WEIGHTS)]!;
    const out: FuzzCase[] = [];
    for (let k = 0; k < count; k++) out.push(this.#case(precision));
    return out;
  }

  #case(precision: Precision): FuzzCase {
    const r = this.#random;
    const id = this.#nextId++;
    const roll = r.below(10_000);
    let origin: CaseOrigin;
    let bytes: Uint8Array;
    if (roll < 2) {
      origin = "huge";
      bytes = this.#huge(id, precision);
    } else if (roll < 450) {
      origin = "junk";
      bytes = this.#junk();
    } else if (roll < 5200) {
      origin = "mutated";
      bytes = this.#mutate(encoder.encode(this.#body(id, precision)), id);
    } else {
      origin = "valid";
      bytes = encoder.encode(this.#body(id, precision));
    }
    return { id, origin, precision, bytes };
  }

  /** A grammar-built body: mostly one line, sometimes several. */
  #body(id: number, precision: Precision): string {
    const r = this.#random;
    const roll = r.below(1000);
    if (roll < 8) {
      return r.pick(["", " ", "\t \u0000", "# comment", "\n\n", " # c\n"]);
    }
    if (roll < 60) {
      const lines: string[] = [];
      const n = r.range(2, 4);
      for (let j = 0; j < n; j++) {
        lines.push(this.#line(id, precision, `x${j}`));
        if (r.chance(0.15)) lines.push(r.pick(["", "# note", "  ", "\t"]));
      }
      return lines.join("\n") + (r.chance(0.3) ? "\n" : "");
    }
    return this.#line(id, precision, "") + (r.chance(0.3) ? "\n" : "");
  }

  #line(id: number, precision: Precision, suffix: string): string {
    const r = this.#random;
    let line = "";
    if (r.chance(0.05)) line += r.pick([" ", "  ", "\t", " \t", "\u0000"]);
    line += this.#measurement(id, suffix);
    line += this.#tags();
    line += this.#separator();
    line += this.#fields();
    if (r.chance(0.7)) {
      line += this.#separator();
      line += this.#timestamp(precision);
      if (r.chance(0.04)) line += r.pick([" ", "  ", "\t", " \t", "\r"]);
    } else if (r.chance(0.04)) {
      line += r.pick([" ", "  ", "\t", "\r"]);
    }
    return line;
  }

  #measurement(id: number, suffix: string): string {
    const r = this.#random;
    let name = `m${id.toString(36)}${suffix}`;
    if (r.chance(0.1)) name = r.pick(MEASUREMENT_PREFIX) + name;
    if (r.chance(0.25)) {
      const n = r.range(1, 3);
      for (let k = 0; k < n; k++) name += r.pick(MEASUREMENT_DECOR);
    }
    return name;
  }

  #tags(): string {
    const r = this.#random;
    const count = r.pick([0, 0, 0, 1, 1, 2, 2, 3, 4]);
    if (count === 0) return "";
    const keys = new Set<string>();
    while (keys.size < count) {
      keys.add(
        r.chance(0.001)
          ? "time"
          : r.chance(0.8)
          ? (r.chance(0.97) ? r.pick(TAG_KEYS) : r.pick(TRICKY_KEYS))
          : `k${r.below(100)}`,
      );
    }
    const tags = [...keys].map((k) => [k, this.#tagValue()] as const);
    if (r.chance(0.5)) {
      tags.sort(([a], [b]) => compareUtf8(a, b));
    }
    let text = tags.map(([k, v]) => `,${k}=${v}`).join("");
    if (r.chance(0.03)) {
      const [k] = r.pick(tags);
      text += `,${k}=${this.#tagValue()}`;
    }
    return text;
  }

  #tagValue(): string {
    const r = this.#random;
    if (r.chance(0.02)) return r.pick(TRICKY_KEYS);
    if (r.chance(0.7)) return r.pick(TAG_VALUES);
    let v = `v${r.below(1000)}`;
    if (r.chance(0.3)) v += r.pick(TAG_VALUES);
    return v;
  }

  #separator(): string {
    const r = this.#random;
    if (r.chance(0.95)) return " ";
    return r.pick(["  ", " \t", " \u0000", "   ", "\t", " \t "]);
  }

  #fields(): string {
    const r = this.#random;
    const count = r.pick([1, 1, 1, 2, 2, 3, 4]);
    const parts: string[] = [];
    const used = new Set<string>();
    for (let k = 0; k < count; k++) {
      let key = r.chance(0.7) ? r.pick(FIELD_KEYS) : `f${r.below(50)}`;
      if (r.chance(0.03)) key = r.pick(TRICKY_KEYS);
      if (r.chance(0.001)) key = "time";
      if (used.has(key)) key = `${key}${k}`;
      used.add(key);
      parts.push(`${key}=${this.#fieldValue()}`);
    }
    return parts.join(",");
  }

  #fieldValue(): string {
    const r = this.#random;
    const bad = r.chance(0.03);
    switch (r.below(5)) {
      case 0:
        return bad ? r.pick(BAD_FLOATS) : this.#float();
      case 1:
        if (bad) return r.pick(BAD_INTS);
        if (r.chance(0.2)) return r.pick(GOOD_INTS);
        return `${r.chance(0.3) ? "-" : ""}${r.digits(r.range(1, 18))}i`;
      case 2:
        if (r.chance(0.3)) return bad ? r.pick(BAD_UINTS) : r.pick(GOOD_UINTS);
        return this.#string();
      case 3:
        return this.#string();
      default:
        return bad ? r.pick(BAD_BOOLS) : r.pick(GOOD_BOOLS);
    }
  }

  #float(): string {
    const r = this.#random;
    switch (r.below(6)) {
      case 0:
        return r.pick(GOOD_FLOATS);
      case 1:
        return String(r.range(-500, 500));
      case 2:
        return `${r.chance(0.3) ? "-" : ""}${r.digits(r.range(1, 6))}.${
          r.digits(r.range(1, 8))
        }`;
      case 3:
        return `${r.digits(r.range(1, 3))}${r.pick(["e", "E"])}${
          r.pick(["", "+", "-"])
        }${r.range(0, 400)}`;
      case 4:
        return r.digits(r.range(19, 40)) +
          (r.chance(0.5) ? `.${r.digits(r.range(1, 20))}` : "");
      default:
        return (r.below(2_000_001) / 1000 - 1000).toString();
    }
  }

  #string(): string {
    const r = this.#random;
    if (r.chance(0.005)) return `"${"x".repeat(r.range(2000, 70_000))}"`;
    const n = r.pick([0, 1, 1, 2, 3, 5]);
    let s = '"';
    for (let k = 0; k < n; k++) s += r.pick(STRING_PIECES);
    return s + '"';
  }

  #timestamp(precision: Precision): string {
    const r = this.#random;
    const unit = UNIT_NANOS[precision];
    if (r.chance(0.94)) {
      return ((BASE_NS + r.bigBelow(WEEK_NS)) / unit).toString();
    }
    if (r.chance(0.3)) return r.pick(TIME_TEXT_EDGES);
    const limit = MAX_TIME_NS / unit;
    const value = r.pick([
      limit,
      -limit,
      limit + 1n,
      -(limit + 1n),
      limit - 1n,
      INT64_MAX / unit,
      (INT64_MAX / unit) + 1n,
    ]);
    const text = value.toString();
    return r.chance(0.2)
      ? text.replace(/^(-?)/, `$1${"0".repeat(r.range(1, 6))}`)
      : text;
  }

  /**
   * A line a few bytes around influxd's key limit: series key + 4 + field
   * key must not exceed 65535.
   */
  #huge(id: number, precision: Precision): Uint8Array {
    const r = this.#random;
    const total = MAX_KEY_LENGTH + r.range(-2, 2);
    const measurement = `m${id.toString(36)}`;
    const ts = r.chance(0.5) ? ` ${this.#timestamp(precision)}` : "";
    switch (r.below(3)) {
      case 0: {
        // A long tag value, field key `v`.
        const pad = total - measurement.length - 3 - 4 - 1;
        return encoder.encode(`${measurement},t=${"x".repeat(pad)} v=1${ts}`);
      }
      case 1: {
        // A long field key.
        const key = `${measurement},t=${"y".repeat(r.range(100, 30000))}`;
        const field = total - 4 - key.length;
        return encoder.encode(`${key} ${"f".repeat(field)}=1i${ts}`);
      }
      default: {
        // A measurement made of escapes, and a long string value.
        let name = measurement;
        if ((total - 5 - name.length) % 2 !== 0) name += "_";
        const escapes = "\\ ".repeat((total - 5 - name.length) / 2);
        return encoder.encode(
          `${name}${escapes} v="${"z".repeat(r.range(10, 100_000))}"${ts}`,
        );
      }
    }
  }

  #junk(): Uint8Array {
    const r = this.#random;
    const n = r.range(0, 60);
    const out = new Uint8Array(n);
    for (let k = 0; k < n; k++) {
      out[k] = r.chance(0.7)
        ? JUNK_ALPHABET[r.below(JUNK_ALPHABET.length)]!
        : r.chance(0.5)
        ? r.pick(INTERESTING_BYTES)
        : r.below(256);
    }
    return out;
  }

  #mutate(input: Uint8Array, id: number): Uint8Array {
    const r = this.#random;
    let bytes: number[] = Array.from(input);
    const ops = r.pick([1, 1, 1, 2, 2, 3, 4]);
    for (let k = 0; k < ops; k++) bytes = this.#mutation(bytes, id);
    return Uint8Array.from(bytes);
  }

  #mutation(b: number[], id: number): number[] {
    const r = this.#random;
    const at = r.below(b.length + 1);
    switch (r.below(13)) {
      case 0: // delete one byte
        if (b.length > 0) b.splice(Math.min(at, b.length - 1), 1);
        return b;
      case 1: // delete a span
        b.splice(at, r.range(1, 8));
        return b;
      case 2: // insert an interesting byte
      case 3:
        b.splice(at, 0, r.pick(INTERESTING_BYTES));
        return b;
      case 4: // insert any byte
        b.splice(at, 0, r.below(256));
        return b;
      case 5: // insert interesting text
        b.splice(at, 0, ...encoder.encode(r.pick(INSERTED_TEXT)));
        return b;
      case 6: // replace a byte
        if (b.length > 0) {
          b[Math.min(at, b.length - 1)] = r.chance(0.8)
            ? r.pick(INTERESTING_BYTES)
            : r.below(256);
        }
        return b;
      case 7: // truncate
        return b.slice(0, at);
      case 8: { // duplicate a span somewhere
        const from = r.below(b.length + 1);
        const span = b.slice(from, from + r.range(1, 12));
        b.splice(r.below(b.length + 1), 0, ...span);
        return b;
      }
      case 9: { // duplicate a tag (the first `,…` of the key)
        const space = b.indexOf(SPACE);
        const comma = b.indexOf(COMMA);
        if (comma < 0 || (space >= 0 && comma > space)) return b;
        let end = b.indexOf(COMMA, comma + 1);
        if (end < 0 || (space >= 0 && end > space)) end = space;
        if (end < 0) return b;
        b.splice(end, 0, ...b.slice(comma, end));
        return b;
      }
      case 10: { // swap two bytes
        if (b.length < 2) return b;
        const x = r.below(b.length);
        const y = r.below(b.length);
        const t = b[x]!;
        b[x] = b[y]!;
        b[y] = t;
        return b;
      }
      case 11: // grow a number
        b.splice(at, 0, ...encoder.encode(r.digits(r.range(5, 25))));
        return b;
      default: { // append a second line, itself a little broken
        const more = encoder.encode(
          `\n${r.chance(0.5) ? " " : ""}m${id.toString(36)}y ${this.#fields()}`,
        );
        b.push(...more);
        return b;
      }
    }
  }
}

function compareUtf8(a: string, b: string): number {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  const n = Math.min(x.length, y.length);
  for (let k = 0; k < n; k++) if (x[k] !== y[k]) return x[k]! - y[k]!;
  return x.length - y.length;
}

// ---------------------------------------------------------------------------
// Go's line splitter, ported independently of relay/line_protocol.ts

/**
 * `models.scanLine` of InfluxDB 1.x: the end of the line starting at `i` (a
 * `\n` outside a quoted field value and not after a backslash), or the end
 * of `buf`. Used only to decide which cases can share a batch; the sentinel
 * check catches any mistake here.
 */
function goScanLine(buf: Uint8Array, i: number): number {
  let quoted = false;
  let fields = false;
  let equals = 0;
  let commas = 0;
  while (i < buf.length) {
    const c = buf[i]!;
    if (c === BACKSLASH && i + 2 < buf.length) {
      i += 2;
      continue;
    }
    if (c === SPACE) fields = true;
    if (fields) {
      if (!quoted && c === EQUALS) {
        i++;
        equals++;
        continue;
      }
      if (!quoted && c === COMMA) {
        i++;
        commas++;
        continue;
      }
      if (c === QUOTE && equals > commas) {
        i++;
        quoted = !quoted;
        continue;
      }
    }
    if (c === LF && !quoted) break;
    i++;
  }
  return i;
}

/** Whether every line of the case ends inside it when a line follows it. */
function splitsCleanly(bytes: Uint8Array): boolean {
  const buf = new Uint8Array(bytes.length + 3);
  buf.set(bytes);
  buf.set([LF, COMMA, 0x58], bytes.length);
  let pos = 0;
  while (pos < bytes.length) {
    const end = goScanLine(buf, pos);
    if (end > bytes.length) return false;
    pos = end + 1;
  }
  return true;
}

function physicalLines(bytes: Uint8Array): number {
  let n = 0;
  let content = false;
  for (const c of bytes) {
    if (c === LF) {
      if (content) n++;
      content = false;
    } else if (c !== SPACE && c !== 0x09) content = true;
  }
  return content ? n + 1 : n;
}

/**
 * The case with each unsigned field value (`=123u`) rewritten as an integer
 * (`=123i`), or as a float when beyond int64, or `null` when it has none.
 */
function rewriteUnsigned(bytes: Uint8Array): Uint8Array | null {
  // [first digit, the `u`) of each unsigned value.
  const found: [number, number][] = [];
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== EQUALS) continue;
    let j = i + 1;
    while (j < bytes.length && bytes[j]! >= 0x30 && bytes[j]! <= 0x39) j++;
    if (j === i + 1 || bytes[j] !== 0x75) continue;
    const after = bytes[j + 1];
    if (
      after === undefined || after === COMMA || after === SPACE || after === LF
    ) {
      found.push([i + 1, j]);
      i = j;
    }
  }
  if (found.length === 0) return null;
  const parts: Uint8Array[] = [];
  let from = 0;
  for (const [start, u] of found) {
    parts.push(bytes.subarray(from, u));
    const digits = String.fromCharCode(...bytes.subarray(start, u));
    if (BigInt(digits) <= INT64_MAX) parts.push(LETTER_I);
    from = u + 1;
  }
  parts.push(bytes.subarray(from));
  return concat(parts);
}

const LETTER_I = new Uint8Array([0x69]);

// ---------------------------------------------------------------------------
// HTTP/1.1 to influxd on raw sockets

/**
 * A keep-alive HTTP/1.1 connection. `fetch` refuses influxd's answers to
 * some bodies: influxd copies the error, NUL and other control bytes
 * included, into its `X-Influxdb-Error` header.
 */
class RawConnection {
  #port: number;
  #conn: Deno.TcpConn | null = null;
  #buf = new Uint8Array(1 << 16);
  #len = 0;

  constructor(port: number) {
    this.#port = port;
  }

  async post(
    path: string,
    body: Uint8Array,
    timeoutMs: number,
  ): Promise<{ status: number; body: string }> {
    for (let attempt = 0;; attempt++) {
      const fresh = this.#conn === null;
      const conn = this.#conn ??
        await Deno.connect({ hostname: "127.0.0.1", port: this.#port });
      this.#conn = conn;
      const timer = setTimeout(() => this.close(), timeoutMs);
      try {
        return await this.#exchange(conn, path, body);
      } catch (error) {
        this.close();
        // A reused keep-alive connection may have been closed by the server.
        if (!fresh && attempt === 0 && !(error instanceof HttpError)) continue;
        throw error instanceof HttpError ? error : new Error(
          `Cannot write to influxd on port ${this.#port}: ${
            error instanceof Error ? error.message : String(error)
          } (timeout ${timeoutMs} ms)`,
          { cause: error },
        );
      } finally {
        clearTimeout(timer);
      }
    }
  }

  close(): void {
    const conn = this.#conn;
    this.#conn = null;
    this.#len = 0;
    try {
      conn?.close();
    } catch {
      // already closed
    }
  }

  async #exchange(
    conn: Deno.TcpConn,
    path: string,
    body: Uint8Array,
  ): Promise<{ status: number; body: string }> {
    const head = encoder.encode(
      `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    const request = new Uint8Array(head.length + body.length);
    request.set(head);
    request.set(body, head.length);
    for (let o = 0; o < request.length;) {
      o += await conn.write(request.subarray(o));
    }
    let end: number;
    while ((end = this.#find(CRLF_CRLF, 0)) < 0) await this.#fill(conn);
    const header = latin1.decode(this.#buf.subarray(0, end));
    this.#consume(end + 4);
    const status = Number(header.slice(9, 12));
    const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(header);
    let payload: Uint8Array;
    if (length !== null) {
      const n = Number(length[1]);
      while (this.#len < n) await this.#fill(conn);
      payload = this.#buf.slice(0, n);
      this.#consume(n);
    } else if (/\r\ntransfer-encoding:[ \t]*chunked/i.test(header)) {
      const parts: Uint8Array[] = [];
      for (;;) {
        let eol: number;
        while ((eol = this.#find(CRLF, 0)) < 0) await this.#fill(conn);
        const size = parseInt(latin1.decode(this.#buf.subarray(0, eol)), 16);
        if (!Number.isFinite(size)) throw new HttpError("bad chunk size");
        this.#consume(eol + 2);
        while (this.#len < size + 2) await this.#fill(conn);
        if (size > 0) parts.push(this.#buf.slice(0, size));
        this.#consume(size + 2);
        if (size === 0) break;
      }
      payload = concat(parts);
    } else {
      payload = new Uint8Array(0);
    }
    if (/\r\nconnection:[ \t]*close/i.test(header)) this.close();
    return { status, body: utf8.decode(payload) };
  }

  #find(needle: Uint8Array, from: number): number {
    const buf = this.#buf;
    const stop = this.#len - needle.length;
    outer: for (let i = from; i <= stop; i++) {
      for (let k = 0; k < needle.length; k++) {
        if (buf[i + k] !== needle[k]) continue outer;
      }
      return i;
    }
    return -1;
  }

  #consume(n: number): void {
    this.#buf.copyWithin(0, n, this.#len);
    this.#len -= n;
  }

  async #fill(conn: Deno.TcpConn): Promise<void> {
    if (this.#len === this.#buf.length) {
      const grown = new Uint8Array(this.#buf.length * 2);
      grown.set(this.#buf);
      this.#buf = grown;
    }
    const n = await conn.read(this.#buf.subarray(this.#len));
    if (n === null) throw new Error("connection closed by influxd");
    this.#len += n;
  }
}

/** An answer that is not HTTP as expected; never retried. */
class HttpError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HttpError";
  }
}

const CRLF = encoder.encode("\r\n");
const CRLF_CRLF = encoder.encode("\r\n\r\n");

function concat(parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// ---------------------------------------------------------------------------
// influxd's answers

const UNABLE = "unable to parse '";

/**
 * The error of a 400, without `partial write: ` and ` dropped=N`; a 500 (the
 * storage layer failing, e.g. on a field key that is not UTF-8) as
 * `HTTP 500: <error>`.
 */
function writeError(status: number, body: string): string {
  if (status !== 400 && status !== 500) {
    throw new HttpError(
      `Cannot judge a case: influxd answered HTTP ${status} ${
        body.slice(0, 300)
      }`,
    );
  }
  let error: string;
  try {
    const parsed: unknown = JSON.parse(body);
    error = typeof parsed === "object" && parsed !== null &&
        "error" in parsed && typeof parsed.error === "string"
      ? parsed.error
      : "";
  } catch {
    throw new HttpError(
      `Cannot judge a case: influxd's 400 is not JSON: ${body.slice(0, 300)}`,
    );
  }
  if (status === 500) return `HTTP 500: ${error}`;
  if (error.startsWith("partial write: ")) {
    error = error.slice("partial write: ".length).replace(/ dropped=\d+$/, "");
  }
  return error;
}

/** Reasons of a `\n`-joined listing of `unable to parse '…': reason` entries. */
function listingReasons(listing: string): string[] {
  return listing.split(`\n${UNABLE}`).map((entry) => {
    const at = entry.lastIndexOf("': ");
    return at < 0 ? entry : entry.slice(at + 3);
  });
}

/**
 * Splits a batch's listing at its sentinels. Returns, per case, `null` when
 * the case cannot be judged from the listing (a sentinel next to it is
 * missing), `""` when influxd listed nothing for it, else its entries.
 */
function splitListing(
  error: string,
  cases: number,
  token: string,
): (string | null)[] {
  const starts: number[] = [];
  const ends: number[] = [];
  let from = 0;
  for (let k = 0; k <= cases; k++) {
    const marker = `${UNABLE},${token}${k}': missing measurement`;
    let at = error.indexOf(marker, from);
    while (
      at >= 0 &&
      !((at === 0 || error[at - 1] === "\n") &&
        (at + marker.length === error.length ||
          error[at + marker.length] === "\n"))
    ) {
      at = error.indexOf(marker, at + 1);
    }
    starts.push(at);
    ends.push(at < 0 ? -1 : at + marker.length);
    if (at >= 0) from = at + marker.length;
  }
  const out: (string | null)[] = [];
  for (let k = 0; k < cases; k++) {
    const a = ends[k]!;
    const b = starts[k + 1]!;
    if (a < 0 || b < 0 || b < a) {
      out.push(null);
      continue;
    }
    const gap = error.slice(a, b);
    if (gap === "\n") out.push("");
    else if (gap.startsWith(`\n${UNABLE}`) && gap.endsWith("\n")) {
      out.push(gap.slice(1 + UNABLE.length, -1));
    } else out.push(null);
  }
  if (starts[0] !== 0 || ends[cases] !== error.length) {
    // Something outside the sentinels: trust nothing at the edges.
    if (starts[0] !== 0 && cases > 0) out[0] = null;
    if (ends[cases] !== error.length && cases > 0) out[cases - 1] = null;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Bodies that crash influxd 1.6.7

/**
 * Whether storing the case would make influxd 1.6.7 panic and exit: its
 * storage layer walks the fields with `scanTo('=')`, which takes `\=` for an
 * escaped `=`, and `scanFieldValue`, and for a value of exactly `"` slices
 * `valueBuf[1:0]`. `m \\="="` does it: the parser reads field `\\` = `"="`,
 * the walk reads field `\\="` = `"`. Such cases are not sent (a
 * couple are, to confirm); should this screen miss one, the crash is caught
 * and influxd restarted.
 */
function mayPanicInfluxd(bytes: Uint8Array): boolean {
  return goLines(bytes).some(([from, to]) => lineMayPanic(bytes, from, to));
}

/** The lines of a body as Go's splitter cuts them, as `[from, to)` pairs. */
function goLines(bytes: Uint8Array): [number, number][] {
  const out: [number, number][] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const end = goScanLine(bytes, pos);
    out.push([pos, end]);
    pos = end + 1;
  }
  return out;
}

/** {@linkcode mayPanicInfluxd} for the line `bytes[from, to)`. */
function lineMayPanic(bytes: Uint8Array, from: number, to: number): boolean {
  // The key ends at the first space not right after a backslash.
  let p = from;
  while (p < to && isBlank(bytes[p]!)) p++;
  while (p < to && !(bytes[p] === SPACE && bytes[p - 1] !== BACKSLASH)) p++;
  while (p < to && isBlank(bytes[p]!)) p++;
  return fieldWalkHasLoneQuote(bytes, p, goScanFieldsEnd(bytes, p, to));
}

/** The given lines of a body joined by `\n`. */
function joinLines(bytes: Uint8Array, lines: [number, number][]): Uint8Array {
  const parts: Uint8Array[] = [];
  lines.forEach(([from, to], k) => {
    if (k > 0) parts.push(NEWLINE);
    parts.push(bytes.subarray(from, to));
  });
  return concat(parts);
}

const NEWLINE = new Uint8Array([LF]);

/**
 * Whether a line of the case has an empty first field key after a blank run
 * holding a tab or NUL (`m \t=1`), which the relay forwards as `m =1`.
 */
function hasEmptyFieldKeyAfterTab(bytes: Uint8Array): boolean {
  let pos = 0;
  while (pos < bytes.length) {
    const end = goScanLine(bytes, pos);
    let p = pos;
    while (p < end && isBlank(bytes[p]!)) p++;
    while (p < end && !(bytes[p] === SPACE && bytes[p - 1] !== BACKSLASH)) {
      p++;
    }
    let tab = false;
    while (p < end && isBlank(bytes[p]!)) {
      if (bytes[p] !== SPACE) tab = true;
      p++;
    }
    if (tab && bytes[p] === EQUALS) return true;
    pos = end + 1;
  }
  return false;
}

function isBlank(c: number): boolean {
  return c === SPACE || c === 0x09 || c === 0;
}

/** End of the field section starting at `i` (Go's `scanFields`). */
function goScanFieldsEnd(buf: Uint8Array, i: number, end: number): number {
  let quoted = false;
  let equals = 0;
  let commas = 0;
  while (i < end) {
    const c = buf[i]!;
    if (c === BACKSLASH && i + 1 < end) {
      i += 2;
      continue;
    }
    if (c === QUOTE && equals > commas) {
      quoted = !quoted;
      i++;
      continue;
    }
    if (c === EQUALS && !quoted) equals++;
    if (c === COMMA && !quoted) commas++;
    if (c === SPACE && !quoted) break;
    i++;
  }
  return i;
}

/** Whether the storage walk (`scanTo`, `scanFieldValue`) yields a value `"`. */
function fieldWalkHasLoneQuote(
  buf: Uint8Array,
  from: number,
  to: number,
): boolean {
  let p = from;
  while (p < to) {
    let k = p;
    while (
      k < to && !(buf[k] === EQUALS && (k === from || buf[k - 1] !== BACKSLASH))
    ) {
      k++;
    }
    let v = k + 1;
    const start = v;
    let quoted = false;
    while (v < to) {
      const c = buf[v]!;
      if (
        c === BACKSLASH && v + 1 < to &&
        (buf[v + 1] === QUOTE || buf[v + 1] === BACKSLASH)
      ) {
        v += 2;
        continue;
      }
      if (c === QUOTE) quoted = !quoted;
      else if (c === COMMA && !quoted) break;
      v++;
    }
    if (v - start === 1 && buf[start] === QUOTE) return true;
    p = v + 1;
  }
  return false;
}

// ---------------------------------------------------------------------------
// Lines influxd stores other than it parses (the relay rejects them: D17)

/** The relay's reasons for the lines it rejects to protect influxd. */
const GUARD_REASONS: readonly string[] = [
  "field key ends with a backslash (InfluxDB 1.x would misread it)",
  "measurement is not valid UTF-8",
  "field key is not valid UTF-8",
];

/**
 * Finds, independently of relay/line_protocol.ts, a line of the case that
 * influxd 1.6.7's parser may accept but its storage layer mishandles. The
 * parser ends a field key at an `=` it counts (escapes are pairs: `\\`
 * escapes a backslash); the storage walk (`scanTo`) at the first `=` not
 * right after a backslash; where such an `=` follows `\\`, the two split the
 * fields differently. Field keys as the walk splits them and the measurement
 * are stored in a protobuf index that refuses invalid UTF-8.
 *
 * @param bytes The body.
 * @returns What is wrong with the first such line (`field key ends with a
 * backslash`, `measurement is not UTF-8`, `field key is not UTF-8`), or
 * `null`. Lines the parser rejects may be named too.
 */
export function influxdMisreads(bytes: Uint8Array): string | null {
  for (const [from, to] of contentLines(bytes)) {
    let p = from;
    while (p < to && isBlank(bytes[p]!)) p++;
    // Go's scanMeasurement: a byte right after a backslash is escaped.
    let m = p + 1;
    while (
      m < to &&
      !((bytes[m] === COMMA || bytes[m] === SPACE) &&
        bytes[m - 1] !== BACKSLASH)
    ) m++;
    if (!isUtf8(bytes.subarray(p, m))) return "measurement is not UTF-8";
    // The key ends at the first space not right after a backslash.
    while (p < to && !(bytes[p] === SPACE && bytes[p - 1] !== BACKSLASH)) p++;
    while (p < to && isBlank(bytes[p]!)) p++;
    const end = goScanFieldsEnd(bytes, p, to);
    if (countedEqualsAfterBackslash(bytes, p, end)) {
      return "field key ends with a backslash";
    }
    for (const [k0, k1] of walkKeys(bytes, p, end)) {
      if (!isUtf8(bytes.subarray(k0, k1))) return "field key is not UTF-8";
    }
  }
  return null;
}

/** {@linkcode KNOWN_DIFFERENCES}' D17 entry. */
const GUARD = KNOWN_DIFFERENCES.find((d) => d.id === "D17")!;

function isUtf8(bytes: Uint8Array): boolean {
  try {
    strictUtf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether Go's `scanFields`, over the section `[from, to)`, counts an `=`
 * that directly follows a backslash (the second of a `\\` pair).
 */
function countedEqualsAfterBackslash(
  buf: Uint8Array,
  from: number,
  to: number,
): boolean {
  let quoted = false;
  let equals = 0;
  let commas = 0;
  for (let i = from; i < to; i++) {
    const c = buf[i]!;
    if (c === BACKSLASH && i + 1 < to) {
      i++;
      continue;
    }
    if (c === QUOTE && equals > commas) quoted = !quoted;
    else if (c === EQUALS && !quoted) {
      equals++;
      if (i > from && buf[i - 1] === BACKSLASH) return true;
    } else if (c === COMMA && !quoted) commas++;
  }
  return false;
}

/** Field keys as influxd's storage walk (`scanTo`, `scanFieldValue`) splits them. */
function walkKeys(
  buf: Uint8Array,
  from: number,
  to: number,
): [number, number][] {
  const keys: [number, number][] = [];
  let p = from;
  while (p < to) {
    let k = p;
    while (
      k < to && !(buf[k] === EQUALS && (k === from || buf[k - 1] !== BACKSLASH))
    ) {
      k++;
    }
    keys.push([p, k]);
    let v = k + 1;
    let quoted = false;
    while (v < to) {
      const c = buf[v]!;
      if (
        c === BACKSLASH && v + 1 < to &&
        (buf[v + 1] === QUOTE || buf[v + 1] === BACKSLASH)
      ) {
        v += 2;
        continue;
      }
      if (c === QUOTE) quoted = !quoted;
      else if (c === COMMA && !quoted) break;
      v++;
    }
    p = v + 1;
  }
  return keys;
}

// ---------------------------------------------------------------------------
// The run

interface RunSettings {
  seed: number;
  batchSize: number;
  concurrency: number;
  compareEvery: number;
  rotateEvery: number;
  keepDisagreements: number;
  requestTimeoutMs: number;
}

interface Judged {
  fuzzCase: FuzzCase;
  relay: RelayVerdict;
  influxd: InfluxdVerdict;
  /** Judged inside a sentinel batch (its lines end where the case ends). */
  clean: boolean;
}

/** Batches of generated cases are processed this many at a time. */
const CHUNK_BATCHES = 8;
/** Screened crash cases the validator accepts that are still sent, per run. */
const CONFIRM_PANICS = 2;
const NOT_SENT = "not sent: would crash influxd (see mayPanicInfluxd)";

/** influxd exited while a request was in flight; it has been restarted. */
class InfluxdCrashError extends Error {
  constructor() {
    super("influxd crashed and was restarted");
    this.name = "InfluxdCrashError";
  }
}

class FuzzRun {
  #influxd: Influxd;
  #settings: RunSettings;
  #connections: RawConnection[] = [];
  #idle: RawConnection[] = [];
  #waiters: ((conn: RawConnection) => void)[] = [];
  /** Connection for requests sent while nothing else is in flight. */
  #solo: RawConnection;
  #inflight = 0;
  #drained: (() => void) | null = null;
  /** Set while a solo request runs; other requests wait for it. */
  #gate: Promise<void> | null = null;
  #restarting: Promise<void> | null = null;
  #restarts = 0;
  #panicsConfirmed = 0;
  #token: string;
  #db = "";
  #dbCount = 0;
  #casesInDb = 0;
  /** Each connection's own empty database for second tries. */
  #scratchOf = new Map<RawConnection, string>();
  #report: FuzzReport;
  #batchNo = 0;
  #reasonPairs = new Map<string, { count: number; example: string }>();

  constructor(influxd: Influxd, settings: RunSettings) {
    this.#influxd = influxd;
    this.#settings = settings;
    this.#token = `~SENTINEL${settings.seed}~`;
    for (let k = 0; k < settings.concurrency; k++) {
      const conn = new RawConnection(influxd.port);
      this.#connections.push(conn);
      this.#idle.push(conn);
    }
    this.#solo = new RawConnection(influxd.port);
    this.#connections.push(this.#solo);
    this.#connections.forEach((conn, k) => {
      this.#scratchOf.set(conn, `fz_scratch_${k}`);
    });
    const origin = (): OriginCounts => ({
      cases: 0,
      relayAccepted: 0,
      influxdAccepted: 0,
    });
    this.#report = {
      seed: settings.seed,
      cases: 0,
      physicalLines: 0,
      bytes: 0,
      bothAccepted: 0,
      bothRejected: 0,
      documented: {},
      storageKinds: {},
      guarded: {},
      guardExamples: [],
      knownBugs: {},
      disagreements: [],
      disagreementCount: 0,
      disagreementsByClass: {},
      undetermined: 0,
      reasonDifferences: 0,
      reasonExamples: [],
      byOrigin: {
        valid: origin(),
        mutated: origin(),
        junk: origin(),
        huge: origin(),
        recheck: origin(),
      },
      batched: 0,
      isolated: 0,
      requests: 0,
      restarts: 0,
      rechecks: 0,
      stored: { batches: 0, points: 0, mismatches: [] },
      durationMs: 0,
    };
  }

  async execute(
    lines: number,
    onProgress: ((done: number, report: FuzzReport) => void) | undefined,
  ): Promise<FuzzReport> {
    const begin = performance.now();
    const generator = new CaseGenerator(this.#settings.seed);
    await this.#rotate();
    let done = 0;
    while (done < lines) {
      if (this.#casesInDb >= this.#settings.rotateEvery) await this.#rotate();
      const batches: FuzzCase[][] = [];
      for (let b = 0; b < CHUNK_BATCHES && done < lines; b++) {
        const n = Math.min(this.#settings.batchSize, lines - done);
        batches.push(generator.batch(n));
        done += n;
      }
      const judged = await Promise.all(batches.map((b) => this.#judge(b)));
      for (const batch of judged) await this.#classify(batch);
      for (const batch of judged) {
        this.#batchNo++;
        const every = this.#settings.compareEvery;
        if (every > 0 && this.#batchNo % every === 0) {
          await this.#compareStored(batch);
        }
      }
      this.#casesInDb += judged.reduce((n, b) => n + b.length, 0);
      this.#report.durationMs = performance.now() - begin;
      onProgress?.(done, this.#report);
    }
    await this.#minimizeDisagreements();
    this.#report.reasonExamples = [...this.#reasonPairs]
      .sort(([, a], [, b]) => b.count - a.count)
      .slice(0, 10)
      .map(([key, { count, example }]) => `${count}× ${key}, e.g. ${example}`);
    this.#report.restarts = this.#restarts;
    this.#report.durationMs = performance.now() - begin;
    return this.#report;
  }

  async close(): Promise<void> {
    for (const conn of this.#connections) conn.close();
    const dbs = [
      this.#db,
      CMP_RECEIVED,
      CMP_FORWARDED,
      ...this.#scratchOf.values(),
    ];
    for (const db of dbs) {
      if (db !== "") {
        await this.#influxd.query(`DROP DATABASE "${db}"`).catch(() => {});
      }
    }
  }

  async #rotate(): Promise<void> {
    const old = this.#db;
    this.#db = `fz_${this.#settings.seed}_${this.#dbCount++}`;
    await this.#createDatabase(this.#db);
    if (old !== "") await this.#query(`DROP DATABASE "${old}"`);
    this.#casesInDb = 0;
  }

  async #createDatabase(db: string, solo = false): Promise<void> {
    await this.#query(`DROP DATABASE "${db}"`, {}, solo);
    await this.#query(
      `CREATE DATABASE "${db}" WITH SHARD DURATION ${SHARD_DURATION}`,
      {},
      solo,
    );
  }

  /** An InfluxQL query through {@linkcode FuzzRun.#guard}, tried again after a crash. */
  async #query(
    q: string,
    options: { db?: string; epoch?: string } = {},
    solo = false,
  ): Promise<unknown> {
    const run = () =>
      bounded(
        this.#influxd.query(q, options),
        this.#settings.requestTimeoutMs,
        `query '${q}'`,
      );
    try {
      return await this.#guard(solo, run);
    } catch (error) {
      if (!(error instanceof InfluxdCrashError)) throw error;
      return await this.#guard(solo, run);
    }
  }

  async #withConnection<T>(
    work: (conn: RawConnection) => Promise<T>,
  ): Promise<T> {
    const conn = this.#idle.pop() ??
      await new Promise<RawConnection>((resolve) =>
        this.#waiters.push(resolve)
      );
    try {
      return await work(conn);
    } finally {
      const next = this.#waiters.shift();
      if (next !== undefined) next(conn);
      else this.#idle.push(conn);
    }
  }

  /**
   * Runs `work` on the solo connection once no other request is in flight,
   * holding back new ones, so that a crash can be blamed on it.
   */
  async #exclusive<T>(work: (conn: RawConnection) => Promise<T>): Promise<T> {
    while (this.#gate !== null) await this.#gate;
    let open!: () => void;
    this.#gate = new Promise((resolve) => open = resolve);
    try {
      while (this.#inflight > 0) {
        await new Promise<void>((resolve) => this.#drained = resolve);
      }
      this.#drained = null;
      return await work(this.#solo);
    } finally {
      this.#gate = null;
      open();
    }
  }

  /** A write; `db` null means the current database, read once it is sent. */
  #post(
    conn: RawConnection,
    db: string | null,
    precision: Precision,
    body: Uint8Array,
  ): Promise<{ status: number; body: string }> {
    this.#report.requests++;
    return this.#guard(conn === this.#solo, () =>
      conn.post(
        `/write?db=${
          encodeURIComponent(db ?? this.#db)
        }&precision=${precision}`,
        body,
        this.#settings.requestTimeoutMs,
      ));
  }

  /**
   * Runs a request to influxd: waits while a solo request runs (unless it
   * is that request), and turns a failure caused by influxd exiting into
   * {@linkcode InfluxdCrashError} after restarting it.
   */
  async #guard<T>(solo: boolean, work: () => Promise<T>): Promise<T> {
    if (!solo) {
      while (this.#gate !== null) await this.#gate;
    }
    const generation = this.#restarts;
    this.#inflight++;
    try {
      return await work();
    } catch (error) {
      if (error instanceof HttpError) throw error;
      if (this.#restarting !== null) await this.#restarting;
      if (this.#restarts !== generation) throw new InfluxdCrashError();
      if (await this.#alive()) throw error;
      await this.#restart();
      throw new InfluxdCrashError();
    } finally {
      this.#inflight--;
      if (this.#inflight === 0) this.#drained?.();
    }
  }

  async #alive(): Promise<boolean> {
    try {
      const res = await fetch(`${this.#influxd.url}/ping`, {
        signal: AbortSignal.timeout(2000),
      });
      await res.body?.cancel();
      return res.status === 204;
    } catch {
      return false;
    }
  }

  #restart(): Promise<void> {
    this.#restarting ??= (async () => {
      try {
        await this.#influxd.stop();
        await this.#influxd.start();
        this.#restarts++;
        // After a restart, a shard holding a measurement whose name is not
        // UTF-8 answers 500 to every write that adds a field: start afresh.
        const old = this.#db;
        this.#db = `fz_${this.#settings.seed}_${this.#dbCount++}`;
        await this.#influxd.query(
          `CREATE DATABASE "${this.#db}" WITH SHARD DURATION ${SHARD_DURATION}`,
        );
        await this.#influxd.query(`DROP DATABASE "${old}"`);
        this.#casesInDb = 0;
      } finally {
        this.#restarting = null;
      }
    })();
    return this.#restarting;
  }

  /** Judges one generated batch (all cases share a precision). */
  async #judge(cases: FuzzCase[]): Promise<Judged[]> {
    const relay = cases.map((c) => relayVerdict(c.bytes, c.precision));
    const verdicts: (InfluxdVerdict | null)[] = cases.map(() => null);
    const clean: boolean[] = cases.map(() => false);
    const batchable: number[] = [];
    const alone: number[] = [];
    const risky: number[] = [];
    const token = encoder.encode(this.#token);
    cases.forEach((c, k) => {
      if (mayPanicInfluxd(c.bytes)) risky.push(k);
      else if (
        splitsCleanly(c.bytes) && !contains(c.bytes, token) &&
        !mayFailStorage(c.bytes)
      ) {
        batchable.push(k);
      } else alone.push(k);
    });
    if (batchable.length > 0) {
      await this.#withConnection(async (conn) => {
        let results: (InfluxdVerdict | null)[];
        try {
          results = await this.#judgeBatch(
            conn,
            batchable.map((k) => cases[k]!),
          );
        } catch (error) {
          if (!(error instanceof InfluxdCrashError)) throw error;
          results = batchable.map(() => null);
        }
        results.forEach((v, j) => {
          const k = batchable[j]!;
          if (v === null) alone.push(k);
          else {
            verdicts[k] = v;
            clean[k] = true;
          }
        });
      });
    }
    this.#report.batched += clean.filter((c) => c).length;
    await Promise.all(
      alone.map((k) =>
        this.#withConnection(async (conn) => {
          verdicts[k] = await this.#judgeAloneSafely(conn, cases[k]!);
        })
      ),
    );
    for (const k of risky) verdicts[k] = await this.#judgeRisky(cases[k]!);
    this.#report.isolated += alone.length + risky.length;
    return cases.map((fuzzCase, k) => ({
      fuzzCase,
      relay: relay[k]!,
      influxd: verdicts[k]!,
      clean: clean[k]!,
    }));
  }

  /**
   * Sends the cases between sentinels; returns a verdict per case, or
   * `null` for the cases that must be sent alone.
   */
  async #judgeBatch(
    conn: RawConnection,
    cases: FuzzCase[],
  ): Promise<(InfluxdVerdict | null)[]> {
    const parts: Uint8Array[] = [];
    for (let k = 0; k <= cases.length; k++) {
      parts.push(encoder.encode(`${k === 0 ? "" : "\n"},${this.#token}${k}\n`));
      if (k < cases.length) parts.push(cases[k]!.bytes);
    }
    const precision = cases[0]!.precision;
    const res = await this.#post(conn, null, precision, concat(parts));
    const error = writeError(res.status, res.body);
    if (!error.startsWith(UNABLE)) {
      // A storage error hides the listing: split until the culprit is alone.
      if (cases.length === 1) return [null];
      const half = cases.length >> 1;
      return [
        ...await this.#judgeBatch(conn, cases.slice(0, half)),
        ...await this.#judgeBatch(conn, cases.slice(half)),
      ];
    }
    return splitListing(error, cases.length, this.#token).map((listing) =>
      listing === null
        ? null
        : listing === ""
        ? { kind: "accepted", reasons: [], isolated: false }
        : {
          kind: "rejected",
          reasons: listingReasons(listing),
          isolated: false,
        }
    );
  }

  /**
   * Judges a case with lines that would crash influxd. influxd parses (and
   * stores) each line on its own, so the case is judged in parts, in body
   * order: each crashing line alone with nothing else in flight while the
   * validator finds it unparsable (influxd should too) or to confirm a
   * couple of crashes, else taken as parsed (not sent: the relay must reject
   * it on purpose, D17); runs of other lines as usual.
   */
  async #judgeRisky(fuzzCase: FuzzCase): Promise<InfluxdVerdict> {
    const { bytes: body, precision } = fuzzCase;
    // Runs of ordinary lines, and each crashing line, in body order.
    const groups: { crashing: boolean; lines: [number, number][] }[] = [];
    for (const line of goLines(body)) {
      const crashing = lineMayPanic(body, line[0], line[1]);
      const last = groups.at(-1);
      if (!crashing && last !== undefined && !last.crashing) {
        last.lines.push(line);
      } else groups.push({ crashing, lines: [line] });
    }
    const verdicts: InfluxdVerdict[] = [];
    for (const group of groups) {
      const bytes = joinLines(body, group.lines);
      if (!group.crashing) {
        verdicts.push(
          await this.#withConnection((conn) =>
            this.#judgeAloneSafely(conn, { ...fuzzCase, bytes })
          ),
        );
        continue;
      }
      // Whether the original's parser accepts it, as the relay judges.
      const relay = relayVerdict(bytes, precision);
      const parses = relay.accepted || GUARD_REASONS.includes(relay.reason);
      if (parses && this.#panicsConfirmed >= CONFIRM_PANICS) {
        verdicts.push({ kind: "panic", reasons: [NOT_SENT], isolated: true });
        continue;
      }
      const verdict = await this.#judgeSolo({ ...fuzzCase, bytes });
      if (verdict.kind === "panic" && parses) this.#panicsConfirmed++;
      verdicts.push(verdict);
    }
    return combineVerdicts(verdicts);
  }

  /** {@linkcode FuzzRun.#judgeAlone}; after a crash, again on its own. */
  async #judgeAloneSafely(
    conn: RawConnection,
    fuzzCase: FuzzCase,
  ): Promise<InfluxdVerdict> {
    try {
      return await this.#judgeAlone(conn, fuzzCase);
    } catch (error) {
      if (!(error instanceof InfluxdCrashError)) throw error;
      return await this.#judgeSolo(fuzzCase);
    }
  }

  /** Judges a case with nothing else in flight; a crash is its own. */
  async #judgeSolo(fuzzCase: FuzzCase): Promise<InfluxdVerdict> {
    try {
      return await this.#exclusive((conn) => this.#judgeAlone(conn, fuzzCase));
    } catch (error) {
      if (!(error instanceof InfluxdCrashError)) throw error;
      return {
        kind: "panic",
        reasons: ["influxd crashed (and was restarted)"],
        isolated: true,
      };
    }
  }

  /** Sends one case as the whole body. */
  async #judgeAlone(
    conn: RawConnection,
    fuzzCase: FuzzCase,
  ): Promise<InfluxdVerdict> {
    let verdict = await this.#judgeBody(conn, null, fuzzCase);
    if (verdict.kind !== "storage") return verdict;
    if (verdict.reasons[0]!.includes("field type conflict")) {
      // Perhaps a conflict with another case: try an empty database.
      const scratch = this.#scratchOf.get(conn)!;
      await this.#createDatabase(scratch, conn === this.#solo);
      verdict = await this.#judgeBody(conn, scratch, fuzzCase);
      if (verdict.kind !== "storage") return verdict;
    }
    // Storage saw points, so a lone line parsed. The storage error hides
    // the listing of other lines: judge each line on its own (influxd
    // parses them one by one).
    const lines = contentLines(fuzzCase.bytes);
    if (lines.length <= 1) return verdict;
    const verdicts: InfluxdVerdict[] = [];
    for (const line of lines) {
      const bytes = joinLines(fuzzCase.bytes, [line]);
      verdicts.push(await this.#judgeAlone(conn, { ...fuzzCase, bytes }));
    }
    const combined = combineVerdicts(verdicts);
    return combined.kind === "accepted" ? verdict : combined;
  }

  async #judgeBody(
    conn: RawConnection,
    db: string | null,
    fuzzCase: FuzzCase,
  ): Promise<InfluxdVerdict> {
    const res = await this.#post(conn, db, fuzzCase.precision, fuzzCase.bytes);
    if (res.status === 204) {
      return { kind: "accepted", reasons: [], isolated: true };
    }
    const error = writeError(res.status, res.body);
    if (error.startsWith(UNABLE)) {
      return {
        kind: "rejected",
        reasons: listingReasons(error.slice(UNABLE.length)),
        isolated: true,
      };
    }
    return { kind: "storage", reasons: [error], isolated: true };
  }

  async #classify(batch: Judged[]): Promise<void> {
    const report = this.#report;
    const rechecks: { judged: Judged; rewritten: FuzzCase }[] = [];
    for (const judged of batch) {
      const { fuzzCase, relay, influxd } = judged;
      const counts = report.byOrigin[fuzzCase.origin];
      report.cases++;
      report.physicalLines += physicalLines(fuzzCase.bytes);
      report.bytes += fuzzCase.bytes.length;
      counts.cases++;
      if (relay.accepted) counts.relayAccepted++;
      if (influxd.kind === "accepted") counts.influxdAccepted++;
      if (influxd.kind === "undetermined") {
        report.undetermined++;
        continue;
      }
      if (relay.accepted && influxd.kind === "accepted") {
        const misread = influxdMisreads(fuzzCase.bytes);
        if (misread !== null) {
          // influxd stored it, but not as parsed: the relay must refuse it.
          this.#disagree(judged, `influxd misreads it: ${misread}`);
        } else if (hasEmptyFieldKeyAfterTab(fuzzCase.bytes)) {
          report.documented["empty-field-key"] =
            (report.documented["empty-field-key"] ?? 0) + 1;
        } else report.bothAccepted++;
        continue;
      }
      if (!relay.accepted && influxd.kind === "rejected") {
        report.bothRejected++;
        const first = influxd.reasons[0] ?? "";
        if (
          first !== relay.reason && rewriteUnsigned(fuzzCase.bytes) === null
        ) {
          report.reasonDifferences++;
          const key = latin1AsUtf8(relay.reason) === first
            ? `same reason, but the relay shows the non-ASCII bytes of the text as Latin-1 ("${
              shortReason(first)
            }")`
            : `relay "${shortReason(relay.reason)}", influxd "${
              shortReason(first)
            }"`;
          const seen = this.#reasonPairs.get(key);
          if (seen !== undefined) seen.count++;
          else {
            this.#reasonPairs.set(key, {
              count: 1,
              example: showBytes(fuzzCase.bytes, 100),
            });
          }
        }
        continue;
      }
      const known = KNOWN_DIFFERENCES.find((d) =>
        d.matches(fuzzCase, relay, influxd)
      );
      if (known?.id === "D6") {
        const bytes = rewriteUnsigned(fuzzCase.bytes)!;
        rechecks.push({
          judged,
          rewritten: { ...fuzzCase, origin: "recheck", bytes },
        });
        continue;
      }
      if (known !== undefined) this.#countKnown(known, judged);
      else this.#disagree(judged, "");
    }
    if (rechecks.length === 0) return;
    report.rechecks += rechecks.length;
    const again = await this.#judge(rechecks.map((r) => r.rewritten));
    again.forEach((second, k) => {
      const { judged } = rechecks[k]!;
      const counts = report.byOrigin.recheck;
      counts.cases++;
      if (second.relay.accepted) counts.relayAccepted++;
      if (second.influxd.kind === "accepted") counts.influxdAccepted++;
      if (second.influxd.kind === "undetermined") {
        report.undetermined++;
        return;
      }
      const agree = second.relay.accepted
        ? second.influxd.kind !== "rejected"
        : second.influxd.kind === "rejected" ||
          GUARD.matches(second.fuzzCase, second.relay, second.influxd);
      if (agree) {
        report.documented.D6 = (report.documented.D6 ?? 0) + 1;
      } else {
        this.#disagree(
          judged,
          `with unsigned values rewritten (${
            showBytes(second.fuzzCase.bytes, 120)
          }): relay ${
            second.relay.accepted
              ? "accepts"
              : `rejects (${second.relay.reason})`
          }, influxd ${second.influxd.kind} ${
            second.influxd.reasons.join("; ")
          }`,
        );
      }
    });
  }

  #countKnown(known: KnownDifference, judged: Judged): void {
    const report = this.#report;
    const bucket = known.kind === "bug" ? report.knownBugs : report.documented;
    bucket[known.id] = (bucket[known.id] ?? 0) + 1;
    if (known.id === "storage") {
      const kind = storageKind(judged.influxd.reasons[0] ?? "");
      report.storageKinds[kind] = (report.storageKinds[kind] ?? 0) + 1;
    }
    if (known.id === "D17") {
      const influxd = judged.influxd;
      const outcome = influxd.kind === "panic"
        ? influxd.reasons[0] === NOT_SENT
          ? "influxd would panic (not sent)"
          : "influxd panics"
        : influxd.kind === "accepted"
        ? "influxd stores it (204)"
        : influxd.reasons.some((r) => r.startsWith("HTTP 500"))
        ? "influxd answers 500"
        : "influxd answers 400 (storage)";
      const key = `${judged.relay.reason.replace(/ \(.*\)$/, "")}: ${outcome}`;
      report.guarded[key] = (report.guarded[key] ?? 0) + 1;
      if (report.guardExamples.length < 10) {
        report.guardExamples.push(
          `${showBytes(judged.fuzzCase.bytes, 120)} (${outcome}${
            influxd.reasons[0] === undefined || influxd.kind === "panic"
              ? ""
              : `: ${influxd.reasons[0].slice(0, 100)}`
          })`,
        );
      }
    }
  }

  #disagree(judged: Judged, note: string): void {
    const report = this.#report;
    const known = KNOWN_DIFFERENCES.find((d) =>
      d.kind === "bug" &&
      d.matches(judged.fuzzCase, judged.relay, judged.influxd)
    );
    if (known !== undefined) {
      this.#countKnown(known, judged);
      return;
    }
    const cls = judged.relay.accepted ? "relay-accepts" : "relay-rejects";
    report.disagreementCount++;
    report.disagreementsByClass[cls] = (report.disagreementsByClass[cls] ?? 0) +
      1;
    if (report.disagreements.length < this.#settings.keepDisagreements) {
      report.disagreements.push({
        fuzzCase: judged.fuzzCase,
        relay: judged.relay,
        influxd: judged.influxd,
        minimal: null,
        note,
      });
    }
  }

  /** Shrinks each kept disagreement while it stays a disagreement. */
  async #minimizeDisagreements(): Promise<void> {
    for (const d of this.#report.disagreements) {
      if (d.note !== "") continue;
      const relayAccepts = d.relay.accepted;
      const still = async (bytes: Uint8Array): Promise<boolean> => {
        const relay = relayVerdict(bytes, d.fuzzCase.precision);
        if (relay.accepted !== relayAccepts) return false;
        if (mayPanicInfluxd(bytes)) return false;
        const influxd = await this.#withConnection((conn) =>
          this.#judgeAloneSafely(conn, { ...d.fuzzCase, bytes })
        );
        if (influxd.kind === "undetermined") return false;
        return relayAccepts
          ? influxd.kind === "rejected"
          : influxd.kind !== "rejected";
      };
      d.minimal = await minimize(d.fuzzCase.bytes, still, 400);
    }
  }

  /**
   * Writes the batch's accepted cases as received to one empty database and
   * as the relay forwards them to another, and compares what was stored.
   */
  async #compareStored(batch: Judged[]): Promise<void> {
    const ok = batch.filter((j) =>
      j.clean && j.relay.accepted && j.influxd.kind === "accepted" &&
      !hasEmptyFieldKeyAfterTab(j.fuzzCase.bytes)
    );
    if (ok.length === 0) return;
    const precision = ok[0]!.fuzzCase.precision;
    const unit = UNIT_NANOS[precision];
    await this.#createDatabase(CMP_RECEIVED);
    await this.#createDatabase(CMP_FORWARDED);
    const raw: Uint8Array[] = [];
    ok.forEach((j, k) => {
      if (k > 0) raw.push(encoder.encode("\n"));
      raw.push(j.fuzzCase.bytes);
    });
    const now = BigInt(Date.now()) * 1_000_000n;
    const out = ok.map((j) =>
      normalizeLines(j.fuzzCase.bytes, { precision, now }).body
    );
    const [a, b] = await this.#withConnection(async (conn) => [
      await this.#post(conn, CMP_RECEIVED, precision, concat(raw)),
      await this.#post(conn, CMP_FORWARDED, precision, concat(out)),
    ]);
    // Lines without a timestamp: influxd's receive time on one side, the
    // relay's `now` on the other; both fall in [now, later].
    const windowEnd = BigInt(Date.now() + 1) * 1_000_000n;
    const windowStart = (now / unit) * unit;
    const report = this.#report;
    report.stored.batches++;
    const mismatch = (x: string, y: string) => {
      report.stored.mismatches.push({
        precision,
        cases: ok.length,
        received: x,
        forwarded: y,
      });
    };
    if (a.status !== b.status) {
      mismatch(`HTTP ${a.status} ${a.body}`, `HTTP ${b.status} ${b.body}`);
      return;
    }
    const sa = await this.#stored(CMP_RECEIVED, windowStart, windowEnd);
    const sb = await this.#stored(CMP_FORWARDED, windowStart, windowEnd);
    report.stored.points += sa.points;
    if (sa.rows.length !== sb.rows.length) {
      mismatch(
        `${sa.rows.length} rows: ${sa.rows.slice(0, 3).join(" | ")}`,
        `${sb.rows.length} rows: ${sb.rows.slice(0, 3).join(" | ")}`,
      );
      return;
    }
    for (let k = 0; k < sa.rows.length; k++) {
      if (sa.rows[k] !== sb.rows[k]) {
        mismatch(sa.rows[k]!, sb.rows[k]!);
        return;
      }
    }
  }

  /** Field keys with types and every series of `db`, times in a window mapped to `now`. */
  async #stored(
    db: string,
    from: bigint,
    to: bigint,
  ): Promise<{ rows: string[]; points: number }> {
    const keys = await this.#query("SHOW FIELD KEYS", { db });
    const data = await this.#query(
      "SELECT * FROM /.*/ GROUP BY *",
      { db, epoch: "ns" },
    );
    const rows: string[] = [];
    let points = 0;
    for (const s of seriesOf(keys)) rows.push(`keys ${stringify(s)}`);
    for (const s of seriesOf(data)) {
      const columns = Array.isArray(s.columns) ? s.columns : [];
      const timeAt = columns.indexOf("time");
      const values = Array.isArray(s.values) ? s.values : [];
      points += values.length;
      const mapped = values.map((row) => {
        if (!Array.isArray(row) || timeAt < 0) return row;
        const t = BigInt(row[timeAt] as number | bigint);
        return row.map((v, i) =>
          i === timeAt ? (t >= from && t <= to ? "now" : t) : v
        );
      });
      rows.push(stringify({ ...s, values: mapped }));
    }
    rows.sort();
    return { rows, points };
  }
}

/** `promise`, or a rejection once `ms` have passed. */
async function bounded<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new HttpError(`Cannot ${what} on influxd: no answer within ${ms} ms`),
        ),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const CMP_RECEIVED = "fz_cmp_received";
const CMP_FORWARDED = "fz_cmp_forwarded";

/** A reason with long numbers and quoted texts shortened, for grouping. */
function shortReason(reason: string): string {
  return reason.replace(/\d{4,}/g, "N").replace(/=[\s\S]*$/, "=…").slice(0, 70);
}

/**
 * The relay's text of bytes (one character per byte, as Latin-1 or, for long
 * texts, as windows-1252, which is what `TextDecoder("latin1")` decodes)
 * read back as UTF-8.
 */
function latin1AsUtf8(text: string): string {
  const bytes = new Uint8Array(text.length);
  for (let k = 0; k < text.length; k++) {
    const c = text.charCodeAt(k);
    bytes[k] = c < 256 ? c : WINDOWS_1252_BYTE.get(c) ?? 0x3f;
  }
  return utf8.decode(bytes);
}

/** Byte of each character `TextDecoder("latin1")` maps 0x80–0x9f to. */
const WINDOWS_1252_BYTE = new Map<number, number>(
  Array.from({ length: 32 }, (_, k) => 0x80 + k).map((b) => [
    latin1.decode(new Uint8Array([b])).charCodeAt(0),
    b,
  ]),
);

/** A short name for a storage-layer error. */
function storageKind(reason: string): string {
  if (reason.includes("field type conflict")) return "field type conflict";
  if (reason.includes("invalid field name")) return "field key time";
  if (reason.includes("invalid tag key")) return "tag key time";
  if (/HTTP 500.*invalid UTF-8/.test(reason)) {
    return "HTTP 500: field key not UTF-8";
  }
  return reason.slice(0, 60);
}

function seriesOf(result: unknown): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const results = (result as { results?: unknown[] }).results ?? [];
  for (const r of results) {
    const series = (r as { series?: unknown[] }).series ?? [];
    for (const s of series) out.push(s as Record<string, unknown>);
  }
  return out;
}

function stringify(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v) => (typeof v === "bigint" ? `${v}n` : v),
  );
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let k = 0; k < needle.length; k++) {
      if (haystack[i + k] !== needle[k]) continue outer;
    }
    return true;
  }
  return false;
}

/**
 * Whether the case might parse and still be refused by influxd's storage
 * layer, which would hide a whole batch's listing: a `time` key (400) or a
 * field key that is not UTF-8 (500). Such cases are sent on their own.
 */
function mayFailStorage(bytes: Uint8Array): boolean {
  try {
    strictUtf8.decode(bytes);
  } catch {
    return true;
  }
  return contains(bytes, TIME);
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const TIME = encoder.encode("time");

/** Lines (as Go's splitter cuts them) that are neither blank nor comments. */
function contentLines(bytes: Uint8Array): [number, number][] {
  return goLines(bytes).filter(([from, to]) => {
    let s = from;
    while (s < to && isBlank(bytes[s]!)) s++;
    return s < to && bytes[s] !== 0x23;
  });
}

/**
 * influxd's verdict on a body from its verdicts on parts of it (influxd
 * parses each line on its own): rejected if any part is, reasons in order.
 */
function combineVerdicts(verdicts: InfluxdVerdict[]): InfluxdVerdict {
  for (
    const kind of ["rejected", "undetermined", "panic", "storage"] as const
  ) {
    const parts = verdicts.filter((v) => v.kind === kind);
    if (parts.length > 0) {
      return {
        kind,
        reasons: parts.flatMap((v) => v.reasons),
        isolated: true,
      };
    }
  }
  return { kind: "accepted", reasons: [], isolated: true };
}

/**
 * Delta debugging light: removes ever smaller spans of bytes while `still`
 * holds, then tries to replace single bytes by `a`. At most `budget` calls.
 */
async function minimize(
  input: Uint8Array,
  still: (bytes: Uint8Array) => Promise<boolean>,
  budget: number,
): Promise<Uint8Array> {
  let best = input;
  let calls = 0;
  for (let span = best.length >> 1; span >= 1 && calls < budget;) {
    let removed = false;
    for (let at = 0; at < best.length && calls < budget;) {
      const candidate = concat([
        best.subarray(0, at),
        best.subarray(Math.min(best.length, at + span)),
      ]);
      calls++;
      if (candidate.length < best.length && await still(candidate)) {
        best = candidate;
        removed = true;
      } else at += span;
    }
    if (!removed) span >>= 1;
  }
  return best;
}

function formatCounts(counts: Record<string, number>): string {
  const entries = Object.entries(counts);
  return entries.length === 0
    ? "none"
    : entries.map(([k, v]) => `${k} ${v}`).join(", ");
}

/** A body as a JSON-ish string literal, cut to `max` characters. */
function showBytes(bytes: Uint8Array, max = 300): string {
  let text = "";
  for (const c of bytes.subarray(0, max)) {
    if (c === 0x5c) text += "\\\\";
    else if (c === 0x22) text += '\\"';
    else if (c === 0x0a) text += "\\n";
    else if (c === 0x09) text += "\\t";
    else if (c === 0x0d) text += "\\r";
    else if (c < 0x20 || c >= 0x7f) {
      text += `\\x${c.toString(16).padStart(2, "0")}`;
    } else text += String.fromCharCode(c);
  }
  return `"${text}"${bytes.length > max ? `… (${bytes.length} bytes)` : ""}`;
}

// ---------------------------------------------------------------------------
// CLI

const USAGE = `Usage: deno run -A tests/fuzz/line_protocol_fuzz.ts [options]

Differential fuzz of relay/line_protocol.ts against a real influxd (started
on loopback with a temp data directory).

Options:
  --lines N         cases (lines) to judge (default 1000000)
  --seed N          PRNG seed (default 1)
  --batch N         cases per batch (default 400)
  --concurrency N   requests in flight (default 3)
  --compare-every N compare stored points every N batches (default 10, 0 off)
  --json            print the report as JSON
  -h, --help        this text

Exits 1 when a disagreement no documented difference explains is found.`;

/** The report as JSON, bodies as escaped strings. */
function reportJson(report: FuzzReport): string {
  return stringify({
    ...report,
    disagreements: report.disagreements.map((d) => ({
      ...d,
      fuzzCase: { ...d.fuzzCase, bytes: showBytes(d.fuzzCase.bytes, 100_000) },
      minimal: d.minimal === null ? null : showBytes(d.minimal, 100_000),
    })),
  });
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      lines: { type: "string", default: "1000000" },
      seed: { type: "string", default: "1" },
      batch: { type: "string", default: "400" },
      concurrency: { type: "string", default: "3" },
      "compare-every": { type: "string", default: "10" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    // deno-lint-ignore no-console
    console.log(USAGE);
    return 0;
  }
  const number = (name: string, text: string): number => {
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new RangeError(
        `Cannot fuzz as '--${name}' must be a non-negative integer: current value is '${text}'`,
      );
    }
    return n;
  };
  const lines = number("lines", values.lines);
  const influxd = await startInfluxd();
  try {
    let last = 0;
    const report = await runLineProtocolFuzz(influxd, {
      lines,
      seed: number("seed", values.seed),
      batchSize: number("batch", values.batch),
      concurrency: number("concurrency", values.concurrency),
      compareEvery: number("compare-every", values["compare-every"]),
      onProgress(done, partial) {
        if (done - last < 50_000 && done < lines) return;
        last = done;
        // deno-lint-ignore no-console
        console.error(
          `${done}/${lines} cases, ${partial.disagreementCount} disagreements, ${
            (partial.durationMs / 1000).toFixed(0)
          } s`,
        );
      },
    });
    // deno-lint-ignore no-console
    console.log(values.json ? reportJson(report) : formatFuzzReport(report));
    return report.disagreementCount > 0 ||
        report.stored.mismatches.length > 0
      ? 1
      : 0;
  } finally {
    await influxd.close();
  }
}

if (import.meta.main) Deno.exit(await main());
