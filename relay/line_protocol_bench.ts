/**
 * Throughput of the line-protocol hot path. Each body is 1000 copies of one
 * Telegraf-like line (escaped tags, float, integer, boolean and string
 * fields); MB/s = body size × iterations per second.
 *
 * Run with `deno bench relay/line_protocol_bench.ts`.
 *
 * @module
 */

import { normalizeLines } from "./line_protocol.ts";

const LINE =
  'cpu,cpu=cpu-total,host=web\\ 01,region=eu\\,west usage_idle=98.51,usage_user=1.2,uptime=123456i,up=true,state="ok"';
const LINES = 1000;
const NOW = 1_700_000_000_123_456_789n;

const encoder = new TextEncoder();
const withTimestamps = encoder.encode(
  Array.from(
    { length: LINES },
    (_, k) => `${LINE} ${1_700_000_000_000_000_000n + BigInt(k) * 1000n}\n`,
  ).join(""),
);
const withoutTimestamps = encoder.encode(`${LINE}\n`.repeat(LINES));

function kilobytes(body: Uint8Array): string {
  return `${(body.length / 1000).toFixed(0)} kB`;
}

Deno.bench(
  `normalizeLines() validates ${LINES} lines with timestamps (${
    kilobytes(withTimestamps)
  }, zero copy)`,
  { group: "line protocol", baseline: true },
  () => {
    normalizeLines(withTimestamps, { now: NOW });
  },
);

Deno.bench(
  `normalizeLines() fills in ${LINES} timestamps (${
    kilobytes(withoutTimestamps)
  } in)`,
  { group: "line protocol" },
  () => {
    normalizeLines(withoutTimestamps, { now: NOW });
  },
);

Deno.bench(
  `normalizeLines() fills in ${LINES} timestamps in seconds (${
    kilobytes(withoutTimestamps)
  } in)`,
  { group: "line protocol" },
  () => {
    normalizeLines(withoutTimestamps, { precision: "s", now: NOW });
  },
);
