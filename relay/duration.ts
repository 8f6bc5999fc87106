/**
 * Parses durations written the way Go's `time.ParseDuration` reads them, so
 * that `timeout` and `max-delay-interval` values accepted by the original
 * relay are accepted here with the same meaning.
 *
 * @module
 */

const EXAMPLES = 'such as "500ms", "10s" or "1m30s"';
const UNITS_HINT = 'valid units are "ns", "us", "µs", "ms", "s", "m" and "h"';

/** Nanoseconds per unit, exactly as Go's `unitMap`. */
const UNIT_NS: ReadonlyMap<string, bigint> = new Map([
  ["ns", 1n],
  ["us", 1_000n],
  ["\u00b5s", 1_000n], // U+00B5 MICRO SIGN
  ["\u03bcs", 1_000n], // U+03BC GREEK SMALL LETTER MU
  ["ms", 1_000_000n],
  ["s", 1_000_000_000n],
  ["m", 60_000_000_000n],
  ["h", 3_600_000_000_000n],
]);

/** 2^63: one more than Go's largest `time.Duration`, in nanoseconds. */
const LIMIT = 1n << 63n;

function syntaxError(text: string, reason: string): SyntaxError {
  return new SyntaxError(
    `Cannot parse duration ${JSON.stringify(text)}: ${reason}`,
  );
}

function rangeError(text: string): RangeError {
  return new RangeError(
    `Cannot parse duration ${
      JSON.stringify(text)
    }: out of range (durations are limited to ±2562047h47m16.854775807s)`,
  );
}

function isDigit(char: string | undefined): boolean {
  return char !== undefined && char >= "0" && char <= "9";
}

/**
 * Parses a Go duration string (`time.ParseDuration` syntax) into
 * milliseconds.
 *
 * The syntax is an optional sign followed by one or more decimal numbers,
 * each with an optional fraction and a required unit: `"300ms"`, `"-1.5h"`,
 * `"2h45m"`, `"1m30s"`. Units are `ns`, `us` (or `µs`, written with either
 * U+00B5 or U+03BC), `ms`, `s`, `m` and `h`. The bare string `"0"` (optionally
 * signed) is the only number allowed without a unit. Like Go, the value must
 * fit in a signed 64-bit count of nanoseconds, and fractions finer than a
 * nanosecond are truncated.
 *
 * @param text The duration, e.g. `"10s"`.
 * @returns The duration in milliseconds; fractional for sub-millisecond
 * values (`"1500us"` is `1.5`), negative for negative durations.
 * @throws {SyntaxError} If `text` is not a valid Go duration (empty string,
 * missing or unknown unit, stray characters).
 * @throws {RangeError} If the duration does not fit in a signed 64-bit count
 * of nanoseconds (about ±292 years).
 *
 * @example Parse durations
 * ```ts
 * import { parseDuration } from "./duration.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseDuration("10s"), 10_000);
 * assert.equal(parseDuration("1m30s"), 90_000);
 * assert.equal(parseDuration("1.5ms"), 1.5);
 * assert.equal(parseDuration("0"), 0);
 * ```
 */
export function parseDuration(text: string): number {
  const generic = `expected a number followed by a unit ${EXAMPLES}`;

  let rest = text;
  let negative = false;
  const first = rest[0];
  if (first === "-" || first === "+") {
    negative = first === "-";
    rest = rest.slice(1);
  }
  if (rest === "0") return 0;
  if (rest === "") throw syntaxError(text, generic);

  let total = 0n;
  while (rest !== "") {
    const next = rest[0];
    if (next !== "." && !isDigit(next)) throw syntaxError(text, generic);

    // Integer part: [0-9]*
    let i = 0;
    let whole = 0n;
    while (isDigit(rest[i])) {
      whole = whole * 10n + BigInt(rest.charCodeAt(i) - 48);
      if (whole > LIMIT) throw rangeError(text);
      i++;
    }
    const hasWhole = i > 0;
    rest = rest.slice(i);

    // Fraction part: (\.[0-9]*)? — like Go, stop gaining precision instead
    // of failing once the digits no longer fit.
    let fraction = 0n;
    let scale = 1;
    let hasFraction = false;
    if (rest[0] === ".") {
      rest = rest.slice(1);
      let overflow = false;
      i = 0;
      while (isDigit(rest[i])) {
        if (!overflow) {
          const digit = BigInt(rest.charCodeAt(i) - 48);
          const shifted = fraction * 10n + digit;
          if (fraction > (LIMIT - 1n) / 10n || shifted > LIMIT) {
            overflow = true;
          } else {
            fraction = shifted;
            scale *= 10;
          }
        }
        i++;
      }
      hasFraction = i > 0;
      rest = rest.slice(i);
    }
    if (!hasWhole && !hasFraction) throw syntaxError(text, generic); // ".s", "-.5"…

    // Unit: everything up to the next digit or ".".
    i = 0;
    while (i < rest.length && rest[i] !== "." && !isDigit(rest[i])) i++;
    if (i === 0) {
      throw syntaxError(text, `missing unit (${generic})`);
    }
    const unitText = rest.slice(0, i);
    rest = rest.slice(i);
    const unit = UNIT_NS.get(unitText);
    if (unit === undefined) {
      throw syntaxError(
        text,
        `unknown unit ${JSON.stringify(unitText)} (${UNITS_HINT})`,
      );
    }

    if (whole > LIMIT / unit) throw rangeError(text);
    let value = whole * unit;
    if (fraction > 0n) {
      // Float arithmetic as in Go, which is nanosecond-accurate up to hours.
      value += BigInt(
        Math.trunc(Number(fraction) * (Number(unit) / scale)),
      );
      if (value > LIMIT) throw rangeError(text);
    }
    total += value;
    if (total > LIMIT) throw rangeError(text);
  }
  if (!negative && total > LIMIT - 1n) throw rangeError(text);

  const milliseconds = Number(negative ? -total : total) / 1e6;
  // "-0s" is zero, not negative zero.
  return milliseconds === 0 ? 0 : milliseconds;
}
