/**
 * Differential fuzz of the line-protocol validator against a real influxd
 * 1.6, short version for CI (the long one is `deno task fuzz`). See
 * tests/fuzz/line_protocol_fuzz.ts for how cases are made and judged.
 */
import assert from "node:assert/strict";
import {
  formatFuzzReport,
  generateFuzzCases,
  influxdMisreads,
  relayVerdict,
  runLineProtocolFuzz,
} from "./fuzz/line_protocol_fuzz.ts";
import {
  influxdSkipReason,
  startInfluxd,
  type StoredPoint,
} from "./_influxd.ts";
import { startRelay } from "./_relay.ts";
import { waitFor } from "./_wait.ts";

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

Deno.test("normalizeLines() refuses exactly the lines influxdMisreads() finds, of 20,000 fuzzed ones", () => {
  const guards = new Set([
    "field key ends with a backslash (InfluxDB 1.x would misread it)",
    "measurement is not valid UTF-8",
    "field key is not valid UTF-8",
  ]);
  const encoder = new TextEncoder();
  const known = [
    'm \\\\="="',
    'm a\\\\="=x"',
    "m a=1,b\\\\=2,c=3",
    "m k\u00e9=1",
  ].map((text) => encoder.encode(text));
  known.push(new Uint8Array([0x6d, 0xff, 0x20, 0x66, 0x3d, 0x31]));
  known.push(new Uint8Array([0x6d, 0x20, 0x6b, 0xff, 0x3d, 0x31]));
  const cases = [
    ...generateFuzzCases({ lines: LINES, seed: SEED }),
    ...known.map((bytes) => ({ bytes, precision: "n" as const })),
  ];
  let guarded = 0;
  for (const { bytes, precision } of cases) {
    const relay = relayVerdict(bytes, precision);
    const misread = influxdMisreads(bytes);
    const text = new TextDecoder().decode(bytes);
    if (relay.accepted) {
      assert.equal(misread, null, JSON.stringify(text));
    } else if (guards.has(relay.reason)) {
      guarded++;
      assert.notEqual(misread, null, JSON.stringify(text));
    }
  }
  assert.ok(guarded >= 5, `${guarded} guarded`);
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
    // Lines influxd would mishandle, refused by the relay on purpose.
    assert.ok((report.documented.D17 ?? 0) > 0, summary);
    assert.ok(report.stored.points > 1000, summary);
    assert.ok(report.byOrigin.huge.cases > 0, summary);
  },
});

const KEY_BACKSLASH =
  "field key ends with a backslash (InfluxDB 1.x would misread it)";

/** Text with `\xNN` escapes as raw bytes (e.g. `\xff`, not valid UTF-8). */
function raw(text: string): Uint8Array<ArrayBuffer> {
  const out: number[] = [];
  text.split(/\\x([0-9a-f]{2})/).forEach((part, k) => {
    if (k % 2 === 1) out.push(parseInt(part, 16));
    else out.push(...new TextEncoder().encode(part));
  });
  return Uint8Array.from(out);
}

function point(src: string, v: number, time: bigint): StoredPoint {
  return { measurement: "good", tags: { src }, fields: { v }, time };
}

Deno.test({
  name:
    "the relay answers 400 to lines that crash or corrupt influxd 1.6, which stays up and stores the good lines",
  ignore,
  async fn() {
    const db = "guard";
    await using influxd = await startInfluxd({ udp: { database: db } });
    await influxd.createDatabase(db);
    const output = `[{ name = "influxd", location = "${influxd.url}/write" }]`;
    await using relay = await startRelay(`
[[http]]
name = "whole"
bind-addr = "127.0.0.1:0"
output = ${output}

[[http]]
name = "partial"
bind-addr = "127.0.0.1:0"
partial-writes = true
output = ${output}

[[udp]]
name = "udp"
bind-addr = "127.0.0.1:0"
output = [{ name = "influxd", location = "127.0.0.1:${influxd.udpPort}" }]
`);
    const [whole, partial] = relay.service.listeners.map((l) => l.url);
    const write = async (
      url: string | undefined,
      body: Uint8Array<ArrayBuffer>,
    ) => {
      const res = await fetch(`${url}/write?db=${db}`, {
        method: "POST",
        body,
      });
      return { status: res.status, body: await res.json() };
    };
    const alive = async () => {
      const res = await fetch(`${influxd.url}/ping`);
      await res.body?.cancel();
      return res.status;
    };

    // Sent to influxd 1.6.7, the second line makes it panic and exit.
    assert.deepEqual(
      await write(whole, raw('good,src=a v=1 1000\nm \\\\="="\n')),
      {
        status: 400,
        body: { error: `unable to parse points: line 2: ${KEY_BACKSLASH}` },
      },
    );
    for (
      const [body, reason] of [
        ['m a\\\\="=x"', KEY_BACKSLASH], // influxd: 500
        ['m a\\\\="=",b=1', KEY_BACKSLASH], // influxd: field `a\="` = `,b=`
        ["m\\xff f=1", "measurement is not valid UTF-8"],
        ["m k\\xff=1", "field key is not valid UTF-8"],
      ]
    ) {
      assert.deepEqual(await write(whole, raw(body!)), {
        status: 400,
        body: { error: `unable to parse points: line 1: ${reason}` },
      });
    }
    assert.equal(await alive(), 204);
    assert.equal(await influxd.count(db), 0);

    // With partial writes the other lines are stored.
    assert.deepEqual(
      await write(
        partial,
        raw(
          'good,src=b v=2 2000\nm \\\\="="\nm\\xff f=1\ngood,src=b v=3 3000\n',
        ),
      ),
      {
        status: 400,
        body: {
          error:
            `partial write: unable to parse 'm \\\\="="': ${KEY_BACKSLASH} dropped=2`,
        },
      },
    );

    // Over UDP the bad lines of a datagram are left out, as other bad lines.
    const client = Deno.listenDatagram({
      transport: "udp",
      hostname: "127.0.0.1",
      port: 0,
    });
    const udp = relay.service.udpListeners[0]!;
    try {
      await client.send(
        raw(
          'good,src=c v=4 4000\nm \\\\="="\nm k\\xff=1\ngood,src=c v=5 5000\n',
        ),
        udp.addr,
      );
    } finally {
      client.close();
    }
    await waitFor(async () => (await influxd.count(db)) === 4, {
      timeoutMs: 20_000,
      message: "4 points stored",
    });
    assert.equal(udp.stats.linesInvalid, 2);

    assert.equal(await alive(), 204);
    assert.deepEqual(await influxd.points(db), [
      point("b", 2, 2000n),
      point("b", 3, 3000n),
      point("c", 4, 4000n),
      point("c", 5, 5000n),
    ]);
  },
});
