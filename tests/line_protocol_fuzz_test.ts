/**
 * Differential fuzz of the line-protocol validator against a real influxd
 * 1.6, short version for CI (the long one is `deno task fuzz`). See
 * tests/fuzz/line_protocol_fuzz.ts for how cases are made and judged.
 */
import assert from "node:assert/strict";
import {
  formatFuzzReport,
  generateFuzzCases,
  relayVerdict,
  runLineProtocolFuzz,
} from "./fuzz/line_protocol_fuzz.ts";
import { influxdSkipReason, startInfluxd } from "./_influxd.ts";

const ignore = influxdSkipReason() !== null;
const SEED = 20_240_609;
const LINES = 20_000;

Deno.test("generateFuzzCases() makes the same cases from the same seed", () => {
  const a = generateFuzzCases({ lines: 3000, seed: SEED, batchSize: 50 });
  const b = generateFuzzCases({ lines: 3000, seed: SEED, batchSize: 50 });
  const c = generateFuzzCases({ lines: 3000, seed: SEED + 1, batchSize: 50 });
  assert.equal(a.length, 3000);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  const origins = new Set(a.map((x) => x.origin));
  for (const origin of ["valid", "mutated", "junk"] as const) {
    assert.ok(origins.has(origin), `no ${origin} case`);
  }
  const precisions = new Set(a.map((x) => x.precision));
  assert.equal(precisions.size, 6, `precisions: ${[...precisions]}`);
  const accepted = a.filter((x) => relayVerdict(x.bytes, x.precision).accepted);
  // Enough of both verdicts to be a useful differential test.
  assert.ok(accepted.length > 900, `${accepted.length} accepted`);
  assert.ok(accepted.length < 2700, `${accepted.length} accepted`);
});

Deno.test({
  name:
    "normalizeLines() agrees with influxd 1.6 on 20,000 fuzzed lines, documented differences aside",
  ignore,
  async fn() {
    await using influxd = await startInfluxd();
    const report = await runLineProtocolFuzz(influxd, {
      lines: LINES,
      seed: SEED,
      compareEvery: 4,
    });
    const summary = formatFuzzReport(report);
    assert.equal(report.cases, LINES, summary);
    assert.equal(report.disagreementCount, 0, summary);
    assert.deepEqual(report.stored.mismatches, [], summary);
    // The run exercised what it claims to.
    assert.ok(report.bothAccepted > 5000, summary);
    assert.ok(report.bothRejected > 5000, summary);
    assert.ok((report.documented.D6 ?? 0) > 0, summary);
    assert.ok(report.stored.points > 1000, summary);
    assert.ok(report.byOrigin.huge.cases > 0, summary);
  },
});
