/**
 * End to end with two real `influxd` 1.6 processes behind the relay:
 * thousands of points of every field type and precision written through
 * the relay (and with the real `influx` CLI) must be stored identically on
 * both servers, exactly as sent.
 */
import assert from "node:assert/strict";
import {
  influxdSkipReason,
  pointToLine,
  startInfluxd,
  type StoredPoint,
} from "./_influxd.ts";
import { startRelay } from "./_relay.ts";
import { waitFor } from "./_wait.ts";

const ignore = influxdSkipReason() !== null;
const DB = "relaydb";

function relayToml(a: string, b: string): string {
  return `
[[http]]
name = "e2e"
bind-addr = "127.0.0.1:0"
output = [
  { name = "influxd-a", location = "${a}/write" },
  { name = "influxd-b", location = "${b}/write" },
]
`;
}

const UNIT_NS: Record<string, bigint> = {
  n: 1n,
  u: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
};

interface Generated {
  line: string;
  point: StoredPoint;
}

/** One point with escapes in names, every field type, an explicit time. */
function generate(i: number, precision: string): Generated {
  const measurements = ["cpu", "disk usage", "net,io"];
  const measurement = measurements[i % 3]!;
  const lpMeasurement = measurement.replace(/[, ]/g, (c) => `\\${c}`);
  const tags = {
    host: `server-${i % 17}`,
    region: i % 2 === 0 ? "us west" : "eu,central",
    path: `/a=b/${precision}`,
  };
  const lpTags = `,host=${tags.host},region=${
    tags.region.replace(/[, ]/g, (c) => `\\${c}`)
  },path=${tags.path.replace(/=/g, "\\=")}`;
  const float = i * 0.25 + 0.5;
  const int = BigInt(i) * 1_000_003n - 5_000_000n;
  const text = `say "hi" ${i}\\ end`;
  const bool = i % 3 === 0;
  const unit = UNIT_NS[precision]!;
  const ts = 1_600_000_000n * 1_000_000_000n / unit + BigInt(i);
  const lpText = text.replaceAll("\\", "\\\\").replaceAll('"', '\\"');
  const line = `${lpMeasurement}${lpTags} value=${float},count=${int}i,` +
    `msg="${lpText}",ok=${bool ? "t" : "false"} ${ts}`;
  return {
    line,
    point: {
      measurement,
      tags,
      fields: { value: float, count: int, msg: text, ok: bool },
      time: ts * unit,
    },
  };
}

async function write(
  url: string,
  body: string,
  query: string,
): Promise<number> {
  const response = await fetch(`${url}/write?${query}`, {
    method: "POST",
    body,
  });
  await response.body?.cancel();
  return response.status;
}

Deno.test({
  name: "relay stores thousands of points identically on two real influxd",
  ignore,
  async fn() {
    await using a = await startInfluxd();
    await using b = await startInfluxd();
    await a.createDatabase(DB);
    await b.createDatabase(DB);
    await using relay = await startRelay(relayToml(a.url, b.url));

    const expected: StoredPoint[] = [];
    let n = 0;
    for (const precision of ["n", "u", "ms", "s"]) {
      for (let batch = 0; batch < 2; batch++) {
        const lines: string[] = [];
        for (let k = 0; k < 500; k++) {
          const generated = generate(n++, precision);
          lines.push(generated.line);
          expected.push(generated.point);
        }
        const status = await write(
          relay.url,
          lines.join("\n") + "\n",
          `db=${DB}&precision=${precision}`,
        );
        assert.equal(status, 204, `batch ${precision}/${batch}`);
      }
    }

    // Lines without a timestamp get the relay's receive time, the same on
    // both servers (D8).
    const before = BigInt(Date.now()) * 1_000_000n;
    const stamped = Array.from(
      { length: 20 },
      (_, i) => `untimed,seq=${i} value=${i}i`,
    ).join("\n");
    assert.equal(await write(relay.url, stamped, `db=${DB}`), 204);
    const after = BigInt(Date.now()) * 1_000_000n;

    const want = expected.map(pointToLine).sort();
    for (const server of [a, b]) {
      const stored = await server.points(DB);
      const timed = stored.filter((p) => p.measurement !== "untimed");
      assert.deepEqual(timed.map(pointToLine).sort(), want);
      const untimed = stored.filter((p) => p.measurement === "untimed");
      assert.equal(untimed.length, 20);
      const times = new Set(untimed.map((p) => p.time));
      assert.equal(times.size, 1, "one filled timestamp per request");
      const [time] = times;
      assert.ok(time! >= before - 1_000_000n && time! <= after + 1_000_000n);
    }
    assert.deepEqual(await a.points(DB), await b.points(DB));
    assert.equal(await a.count(DB), 4020);
  },
});

Deno.test({
  name:
    "relay passes InfluxDB's 4xx through and writes nothing for a rejected batch",
  ignore,
  async fn() {
    await using a = await startInfluxd();
    await using b = await startInfluxd();
    await a.createDatabase(DB);
    await b.createDatabase(DB);
    await using relay = await startRelay(relayToml(a.url, b.url));

    // Unknown database: InfluxDB's own 404 and message reach the client.
    const missing = await fetch(`${relay.url}/write?db=nope`, {
      method: "POST",
      body: "cpu value=1 1\n",
    });
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get("content-type"), "application/json");
    assert.match(await missing.text(), /database not found: \\?"nope\\?"/);

    // Unsigned integers pass the relay (D6); InfluxDB 1.6 decides (400).
    const unsigned = await fetch(`${relay.url}/write?db=${DB}`, {
      method: "POST",
      body: "cpu value=1u 1\n",
    });
    assert.equal(unsigned.status, 400);
    assert.match(await unsigned.text(), /unable to parse/);

    // A field type conflict is a 400 from both servers.
    assert.equal(await write(relay.url, "cpu value=1 1\n", `db=${DB}`), 204);
    const conflict = await fetch(`${relay.url}/write?db=${DB}`, {
      method: "POST",
      body: 'cpu value="text" 2\n',
    });
    assert.equal(conflict.status, 400);
    assert.match(await conflict.text(), /field type conflict/);
    // ack = "first": the 204 may come before the slower server stored it.
    await waitFor(
      async () => await a.count(DB) === 1 && await b.count(DB) === 1,
      { message: "the first point on both servers" },
    );
    assert.equal(await a.count(DB), 1);
    assert.equal(await b.count(DB), 1);
  },
});

Deno.test({
  name: "the influx CLI writes through the relay with INSERT",
  ignore,
  async fn() {
    await using a = await startInfluxd();
    await using b = await startInfluxd();
    await a.createDatabase(DB);
    await b.createDatabase(DB);
    await using relay = await startRelay(relayToml(a.url, b.url));
    const port = new URL(relay.url).port;
    for (
      const statement of [
        "INSERT cli,host=a value=42",
        'INSERT cli,host=b value=1.5,text="from the CLI" 1600000000000000000',
      ]
    ) {
      const result = await new Deno.Command("influx", {
        args: [
          "-host",
          "127.0.0.1",
          "-port",
          port,
          "-database",
          DB,
          "-execute",
          statement,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(result.stderr);
      assert.equal(result.code, 0, stderr);
      assert.equal(stderr, "");
    }
    for (const server of [a, b]) {
      const points = await server.points(DB, "cli");
      assert.equal(points.length, 2);
      assert.deepEqual(points.map((p) => p.fields), [
        { value: 42 },
        { value: 1.5, text: "from the CLI" },
      ]);
      assert.equal(points[1]!.time, 1_600_000_000_000_000_000n);
    }
    assert.deepEqual(await a.points(DB), await b.points(DB));
  },
});
