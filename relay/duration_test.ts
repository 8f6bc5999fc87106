import assert from "node:assert/strict";
import { parseDuration } from "./duration.ts";

/** Milliseconds from an exact count of nanoseconds, as parseDuration rounds. */
function ns(count: bigint): number {
  return Number(count) / 1e6;
}

const MAX_NS = (1n << 63n) - 1n;
const MIN_NS = -(1n << 63n);

Deno.test("parseDuration() parses every Go unit", () => {
  assert.equal(parseDuration("10ns"), ns(10n));
  assert.equal(parseDuration("11us"), ns(11_000n));
  assert.equal(parseDuration("12\u00b5s"), ns(12_000n)); // MICRO SIGN
  assert.equal(parseDuration("12\u03bcs"), ns(12_000n)); // GREEK SMALL MU
  assert.equal(parseDuration("13ms"), 13);
  assert.equal(parseDuration("14s"), 14_000);
  assert.equal(parseDuration("15m"), 900_000);
  assert.equal(parseDuration("16h"), 57_600_000);
});

Deno.test("parseDuration() parses plain values in milliseconds", () => {
  assert.equal(parseDuration("5s"), 5_000);
  assert.equal(parseDuration("30s"), 30_000);
  assert.equal(parseDuration("1478s"), 1_478_000);
  assert.equal(parseDuration("300ms"), 300);
  assert.equal(parseDuration("10s"), 10_000);
  assert.equal(parseDuration("52763797000ns"), 52_763.797);
});

Deno.test("parseDuration() accepts a bare zero with or without a sign", () => {
  assert.equal(parseDuration("0"), 0);
  assert.equal(parseDuration("+0"), 0);
  assert.ok(Object.is(parseDuration("-0"), 0));
  assert.ok(Object.is(parseDuration("-0s"), 0));
  assert.equal(parseDuration("0s"), 0);
  assert.equal(parseDuration("0.0h"), 0);
});

Deno.test("parseDuration() applies a leading sign", () => {
  assert.equal(parseDuration("-5s"), -5_000);
  assert.equal(parseDuration("+5s"), 5_000);
  assert.equal(parseDuration("-1.5h"), -5_400_000);
  assert.equal(parseDuration("-2m3.4s"), -123_400);
});

Deno.test("parseDuration() parses fractions", () => {
  assert.equal(parseDuration("1.5s"), 1_500);
  assert.equal(parseDuration("5.0s"), 5_000);
  assert.equal(parseDuration("5.6s"), 5_600);
  assert.equal(parseDuration("5.s"), 5_000);
  assert.equal(parseDuration(".5s"), 500);
  assert.equal(parseDuration("1.00s"), 1_000);
  assert.equal(parseDuration("1.004s"), 1_004);
  assert.equal(parseDuration("1.0040s"), 1_004);
  assert.equal(parseDuration("100.00100s"), 100_001);
  assert.equal(parseDuration("1.5ms"), 1.5);
  assert.equal(parseDuration("1500us"), 1.5);
  assert.equal(parseDuration("0.5ns"), 0); // truncated like Go
  // More digits than fit in 64 bits stop adding precision instead of failing.
  assert.equal(parseDuration("0.3333333333333333333h"), 1_200_000);
  assert.equal(parseDuration("0.100000000000000000000h"), 360_000);
  assert.equal(
    parseDuration("0.830103483285477580700h"),
    ns(2_988_372_539_827n),
  );
});

Deno.test("parseDuration() adds up combined units", () => {
  assert.equal(parseDuration("2h45m"), 9_900_000);
  assert.equal(parseDuration("1m30s"), 90_000);
  assert.equal(parseDuration("3h30m"), 12_600_000);
  assert.equal(parseDuration("10.5s4m"), 250_500);
  assert.equal(parseDuration("39h9m14.425s"), 140_954_425);
  assert.equal(parseDuration("1h2m3s4ms5us6ns"), ns(3_723_004_005_006n));
  assert.equal(parseDuration("1s1s"), 2_000);
});

Deno.test("parseDuration() accepts the int64 nanosecond limits", () => {
  assert.equal(parseDuration("9007199254740993ns"), ns(9007199254740993n));
  assert.equal(parseDuration("9223372036854775807ns"), ns(MAX_NS));
  assert.equal(parseDuration("9223372036854775.807us"), ns(MAX_NS));
  assert.equal(parseDuration("9223372036s854ms775us807ns"), ns(MAX_NS));
  assert.equal(parseDuration("2562047h47m16.854775807s"), ns(MAX_NS));
  assert.equal(parseDuration("-9223372036854775808ns"), ns(MIN_NS));
  assert.equal(parseDuration("-9223372036854775.808us"), ns(MIN_NS));
  assert.equal(parseDuration("-9223372036s854ms775us808ns"), ns(MIN_NS));
  assert.equal(parseDuration("-2562047h47m16.854775808s"), ns(MIN_NS));
});

Deno.test("parseDuration() throws SyntaxError when the text is not a duration", () => {
  for (
    const text of [
      "",
      "-",
      "+",
      "s",
      ".",
      "-.",
      ".s",
      "+.s",
      "abc",
      "\ufffd",
      "\ufffd hello \ufffd world",
      "+-5s",
      " 5s",
    ]
  ) {
    assert.throws(
      () => parseDuration(text),
      {
        name: "SyntaxError",
        message: `Cannot parse duration ${
          JSON.stringify(text)
        }: expected a number followed by a unit such as "500ms", "10s" or "1m30s"`,
      },
      text,
    );
  }
});

Deno.test("parseDuration() throws SyntaxError when a number has no unit", () => {
  for (const text of ["3", "10", "-10", "00", "1.5", "1s5", "1h30"]) {
    assert.throws(
      () => parseDuration(text),
      {
        name: "SyntaxError",
        message: `Cannot parse duration ${
          JSON.stringify(text)
        }: missing unit (expected a number followed by a unit such as "500ms", "10s" or "1m30s")`,
      },
      text,
    );
  }
});

Deno.test("parseDuration() throws SyntaxError when a unit is unknown", () => {
  const cases: [string, string][] = [
    ["1d", "d"],
    ["10sec", "sec"],
    ["5S", "S"],
    ["1 s", " s"],
    ["5s ", "s "],
    ["1h-5m", "h-"],
    ["2mn", "mn"],
    ["1e3", "e"],
    ["1e3s", "e"],
  ];
  for (const [text, unit] of cases) {
    assert.throws(
      () => parseDuration(text),
      {
        name: "SyntaxError",
        message: `Cannot parse duration ${JSON.stringify(text)}: unknown unit ${
          JSON.stringify(unit)
        } (valid units are "ns", "us", "µs", "ms", "s", "m" and "h")`,
      },
      text,
    );
  }
});

Deno.test("parseDuration() throws RangeError when the value overflows int64 nanoseconds", () => {
  for (
    const text of [
      "9223372036854775808ns",
      "9223372036854775810ns",
      "-9223372036854775809ns",
      "9223372036854776us",
      "3000000h",
      "9223372036854775.808us",
      "9223372036854ms775us808ns",
      "9223372036s854ms775us808ns",
      "2562047h47m16.854775808s",
      "99999999999999999999999h",
      "18446744073709551616ns",
    ]
  ) {
    assert.throws(
      () => parseDuration(text),
      {
        name: "RangeError",
        message: `Cannot parse duration ${
          JSON.stringify(text)
        }: out of range (durations are limited to ±2562047h47m16.854775807s)`,
      },
      text,
    );
  }
});
