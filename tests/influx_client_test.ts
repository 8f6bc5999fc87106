/**
 * End to end with real `influxd` 1.6 behind the relay: an InfluxDB 2.x
 * client (the npm `@influxdata/influxdb-client`, WriteApi) writing through
 * `/api/v2/write` lands in both servers under the `db/rp` of its bucket;
 * per-output credentials replace the client's on an `auth-enabled` server,
 * and the client's own are forwarded otherwise.
 */
import assert from "node:assert/strict";
import {
  InfluxDB,
  Point,
  type WriteApi,
  type WritePrecisionType,
} from "@influxdata/influxdb-client";
import {
  influxdSkipReason,
  startInfluxd,
  type StoredPoint,
} from "./_influxd.ts";
import { startRelay } from "./_relay.ts";

const ignore = influxdSkipReason() !== null;
const DB = "clientdb";

/** A WriteApi that sends only on flush and never retries in the background. */
function writeApi(
  url: string,
  bucket: string,
  precision: WritePrecisionType,
): WriteApi {
  return new InfluxDB({ url, token: "client-token" }).getWriteApi(
    "my-org",
    bucket,
    precision,
    { batchSize: 10_000, flushInterval: 0, maxRetries: 0 },
  );
}

/** `count` points of every field type, `base + i` in the write's unit. */
function points(
  count: number,
  measurement: string,
  base: bigint,
  unitNs: bigint,
): { sent: Point[]; stored: StoredPoint[] } {
  const sent: Point[] = [];
  const stored: StoredPoint[] = [];
  for (let i = 0; i < count; i++) {
    const host = `host ${i % 3}`;
    const ts = base + BigInt(i);
    sent.push(
      new Point(measurement)
        .tag("host", host)
        .floatField("value", i + 0.5)
        .intField("count", i * 1000)
        .stringField("msg", `say "hi" ${i}`)
        .booleanField("ok", i % 2 === 0)
        .timestamp(String(ts)),
    );
    stored.push({
      measurement,
      tags: { host },
      fields: {
        value: i + 0.5,
        count: BigInt(i * 1000),
        msg: `say "hi" ${i}`,
        ok: i % 2 === 0,
      },
      time: ts * unitNs,
    });
  }
  return { sent, stored: stored.sort(compareStored) };
}

function compareStored(a: StoredPoint, b: StoredPoint): number {
  const ka = `${a.tags["host"]}`;
  const kb = `${b.tags["host"]}`;
  if (ka !== kb) return ka < kb ? -1 : 1;
  return a.time < b.time ? -1 : a.time > b.time ? 1 : 0;
}

Deno.test({
  name:
    "relay stores an InfluxDB 2.x client's writes in both influxd under the bucket's db/rp",
  ignore,
  async fn() {
    await using a = await startInfluxd();
    await using b = await startInfluxd();
    for (const server of [a, b]) {
      await server.createDatabase(DB);
      await server.query(
        `CREATE RETENTION POLICY week ON ${DB} DURATION 7d REPLICATION 1`,
      );
    }
    await using relay = await startRelay(`
[[http]]
name = "v2-in"
bind-addr = "127.0.0.1:0"
output = [
  { name = "a", location = "${a.writeUrl}" },
  { name = "b", location = "${b.writeUrl}" },
]
`);
    // Recent times: the week policy drops older points.
    const hourAgoS = BigInt(Math.trunc(Date.now() / 1000) - 3600);
    const week = points(300, "cpu", hourAgoS * 1_000_000_000n, 1n);
    const weekApi = writeApi(relay.url, `${DB}/week`, "ns");
    weekApi.writePoints(week.sent);
    await weekApi.close();

    const autogen = points(5, "mem", hourAgoS, 1_000_000_000n);
    const autogenApi = writeApi(relay.url, DB, "s");
    autogenApi.writePoints(autogen.sent);
    await autogenApi.flush();
    await autogenApi.close();

    for (const server of [a, b]) {
      const inWeek = await server.points(DB, "cpu", { rp: "week" });
      assert.deepEqual(inWeek.sort(compareStored), week.stored, server.url);
      assert.deepEqual(await server.points(DB, "cpu"), [], "not in autogen");
      const inAutogen = await server.points(DB, "mem");
      assert.deepEqual(inAutogen.sort(compareStored), autogen.stored);
    }
  },
});

Deno.test({
  name:
    "relay replaces the client's credentials with an output's own on an auth-enabled influxd",
  ignore,
  async fn() {
    await using server = await startInfluxd({
      auth: { username: "admin", password: "admin-pw" },
    });
    await server.createDatabase(DB);
    await server.query("CREATE USER writer WITH PASSWORD 'writer-pw'");
    await server.query(`GRANT WRITE ON ${DB} TO writer`);
    await using relay = await startRelay(`
[[http]]
name = "basic"
bind-addr = "127.0.0.1:0"
output = [{ name = "own", location = "${server.writeUrl}", username = "writer", password = "writer-pw" }]
[[http]]
name = "pass"
bind-addr = "127.0.0.1:0"
output = [{ name = "client's", location = "${server.writeUrl}" }]
`);
    const [basic, pass] = relay.service.listeners.map((l) => l.url);
    async function write(
      url: string,
      query: string,
      line: string,
      headers: Record<string, string> = {},
    ): Promise<number> {
      const response = await fetch(`${url}/write?db=${DB}&${query}`, {
        method: "POST",
        body: `${line}\n`,
        headers,
      });
      await response.body?.cancel();
      return response.status;
    }
    // Outputs with credentials of their own: whatever the client sends.
    assert.equal(await write(basic!, "", "own v=1 1"), 204);
    assert.equal(await write(basic!, "u=nobody&p=wrong", "own v=2 2"), 204);
    // Without: the client's u/p or Authorization decide.
    assert.equal(await write(pass!, "", "pass v=1 1"), 401);
    assert.equal(await write(pass!, "u=nobody&p=wrong", "pass v=2 2"), 401);
    assert.equal(await write(pass!, "u=writer&p=writer-pw", "pass v=3 3"), 204);
    assert.equal(
      await write(pass!, "", "pass v=4 4", {
        Authorization: `Basic ${btoa("writer:writer-pw")}`,
      }),
      204,
    );
    // An InfluxDB 2.x client's token means nothing to InfluxDB 1.6 (1.8
    // reads `Token user:password`): the output's own credentials let it in.
    for (const [url, status] of [[pass!, 401], [basic!, 204]] as const) {
      const response = await fetch(
        `${url}/api/v2/write?bucket=${DB}&precision=s`,
        {
          method: "POST",
          body: "own v=3 3\n",
          headers: { Authorization: "Token client-token" },
        },
      );
      await response.body?.cancel();
      assert.equal(response.status, status, url);
    }

    const stored = (await server.points(DB)).map((p) =>
      `${p.measurement} ${p.fields["v"]} ${p.time}`
    );
    assert.deepEqual(stored, [
      "own 1 1",
      "own 2 2",
      "own 3 3000000000",
      "pass 3 3",
      "pass 4 4",
    ]);
  },
});
