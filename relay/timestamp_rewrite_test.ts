import assert from "node:assert/strict";
import { normalizeLines } from "./line_protocol.ts";
import {
  guessUnitNs,
  resolveAutoTimestamps,
  scaleTimestamps,
} from "./timestamp_rewrite.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Normalises like the listener, so the input has the shapes backends see. */
function normalized(text: string, precision: "n" | "m" = "n"): Uint8Array {
  return normalizeLines(encoder.encode(text), {
    precision,
    now: 1_700_000_000_000_000_000n,
  }).body;
}

Deno.test("scaleTimestamps() multiplies the timestamp ending every line", () => {
  const body = normalized(
    'cpu,host=a value=1 2\nmsg text="a 1\\nb 2",n=3i -5   \nmem free=1i 010\n',
    "m",
  );
  assert.equal(
    decoder.decode(scaleTimestamps(body, 60n)),
    'cpu,host=a value=1 120\nmsg text="a 1\\nb 2",n=3i -300   \nmem free=1i 600\n',
  );
});

Deno.test("scaleTimestamps() keeps a newline inside a string field in its line", () => {
  const body = normalized('note text="line 1\nline 2" 7\ncpu v=1 8\n', "m");
  assert.equal(
    decoder.decode(scaleTimestamps(body, 3600n)),
    'note text="line 1\nline 2" 25200\ncpu v=1 28800\n',
  );
});

Deno.test("scaleTimestamps() returns the input itself for a factor of one or an empty body", () => {
  const body = normalized("cpu v=1 2\n");
  assert.equal(scaleTimestamps(body, 1n), body);
  const empty = new Uint8Array(0);
  assert.equal(scaleTimestamps(empty, 60n), empty);
});

Deno.test("guessUnitNs() follows InfluxDB 3's magnitude rule at each boundary", () => {
  assert.equal(guessUnitNs(4_999_999_999n), 1_000_000_000n);
  assert.equal(guessUnitNs(5_000_000_000n), 1_000_000n);
  assert.equal(guessUnitNs(4_999_999_999_999n), 1_000_000n);
  assert.equal(guessUnitNs(5_000_000_000_000n), 1_000n);
  assert.equal(guessUnitNs(4_999_999_999_999_999n), 1_000n);
  assert.equal(guessUnitNs(5_000_000_000_000_000n), 1n);
  assert.equal(guessUnitNs(-1_700_000_000n), 1_000_000_000n);
  assert.equal(guessUnitNs(0n), 1_000_000_000n);
});

Deno.test("resolveAutoTimestamps() turns each line's guessed unit into nanoseconds", () => {
  const body = normalized(
    "s v=1 1700000000\nms v=1 1700000000123\nus v=1 1700000000123456\n" +
      "ns v=1 1700000000123456789\nneg v=1 -1\nnow v=1\n",
  );
  assert.equal(
    decoder.decode(resolveAutoTimestamps(body)),
    "s v=1 1700000000000000000\nms v=1 1700000000123000000\n" +
      "us v=1 1700000000123456000\nns v=1 1700000000123456789\n" +
      "neg v=1 -1000000000\nnow v=1 1700000000000000000\n",
  );
});

Deno.test("resolveAutoTimestamps() returns the input itself when every timestamp is in ns", () => {
  const body = normalized("cpu v=1\nmem v=2 1700000000123456789\n");
  assert.equal(resolveAutoTimestamps(body), body);
});
