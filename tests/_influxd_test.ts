import assert from "node:assert/strict";
import {
  influxdPath,
  influxdSkipReason,
  pointToLine,
  startInfluxd,
  type StoredPoint,
} from "./_influxd.ts";
import { waitFor } from "./_wait.ts";

const ignore = influxdSkipReason() !== null;

const LINES = [
  'cpu,host=a,region=eu\\ west value=0.5,count=42i,ok=true,msg="hi \\"there\\"" 1700000000123456789',
  "cpu,host=b value=2,count=-9223372036854775807i 1700000000123456790",
  "cpu,host=a,region=eu\\ west value=1.25 1700000001000000000",
  "mem\\,x,host=a used=9007199254740993i 1",
].join("\n");

const EXPECTED: StoredPoint[] = [
  {
    measurement: "cpu",
    tags: { host: "a", region: "eu west" },
    fields: { value: 0.5, count: 42n, ok: true, msg: 'hi "there"' },
    time: 1700000000123456789n,
  },
  {
    measurement: "cpu",
    tags: { host: "a", region: "eu west" },
    fields: { value: 1.25 },
    time: 1700000001000000000n,
  },
  {
    measurement: "cpu",
    tags: { host: "b" },
    fields: { value: 2, count: -9223372036854775807n },
    time: 1700000000123456790n,
  },
  {
    measurement: "mem,x",
    tags: { host: "a" },
    fields: { used: 9007199254740993n },
    time: 1n,
  },
];

Deno.test("influxdPath() and influxdSkipReason() agree on whether influxd is installed", () => {
  const path = influxdPath();
  if (path === null) {
    assert.notEqual(influxdSkipReason(), null);
  } else {
    assert.match(path, /influxd$/);
    assert.equal(influxdSkipReason(), null);
  }
});

Deno.test({
  name: "startInfluxd() serves /ping and stores exactly what was written",
  ignore,
  async fn() {
    await using influxd = await startInfluxd();
    assert.match(influxd.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(influxd.writeUrl, `${influxd.url}/write`);
    assert.equal(influxd.udpPort, null);
    assert.ok(influxd.running);
    assert.ok(influxd.startupMs > 0);

    const ping = await fetch(`${influxd.url}/ping`);
    await ping.body?.cancel();
    assert.equal(ping.status, 204);
    assert.ok(ping.headers.get("x-influxdb-version"));

    assert.equal(await influxd.count("db"), 0, "missing database reads empty");
    await influxd.createDatabase("db");
    assert.equal(await influxd.count("db"), 0);

    // A plain client write, as the relay will send it.
    const res = await fetch(`${influxd.writeUrl}?db=db`, {
      method: "POST",
      body: LINES,
    });
    await res.body?.cancel();
    assert.equal(res.status, 204);

    assert.equal(await influxd.count("db"), 4);
    assert.deepEqual(await influxd.points("db"), EXPECTED);
    assert.deepEqual(
      await influxd.points("db", "mem,x"),
      EXPECTED.slice(3),
    );
    assert.equal(
      (await influxd.points("db")).map(pointToLine).join("\n"),
      [
        'cpu,host=a,region=eu\\ west count=42i,msg="hi \\"there\\"",ok=true,value=0.5 1700000000123456789',
        "cpu,host=a,region=eu\\ west value=1.25 1700000001000000000",
        "cpu,host=b count=-9223372036854775807i,value=2 1700000000123456790",
        "mem\\,x,host=a used=9007199254740993i 1",
      ].join("\n"),
    );

    const result = await influxd.query("SELECT count FROM cpu", {
      db: "db",
      epoch: "ns",
    });
    assert.deepEqual(result, {
      results: [{
        statement_id: 0,
        series: [{
          name: "cpu",
          columns: ["time", "count"],
          values: [
            [1700000000123456789n, 42],
            [1700000000123456790n, -9223372036854775807n],
          ],
        }],
      }],
    });
    await assert.rejects(
      influxd.query("SELECT * FROM cpu", { db: "nope" }),
      /database not found/,
    );
    await assert.rejects(influxd.write("db", "not line protocol"), /HTTP 400/);
  },
});

Deno.test({
  name: "Influxd.points() compares equal across two servers with the same data",
  ignore,
  async fn() {
    await using a = await startInfluxd();
    await using b = await startInfluxd();
    assert.notEqual(a.port, b.port);
    for (const server of [a, b]) {
      await server.createDatabase("db");
      await server.write("db", LINES);
    }
    assert.deepEqual(await a.points("db"), await b.points("db"));

    await b.write("db", "cpu,host=b value=3 1700000000123456790");
    assert.notDeepEqual(await a.points("db"), await b.points("db"));
  },
});

Deno.test({
  name: "Influxd.points() reads a non-default retention policy and precision",
  ignore,
  async fn() {
    await using influxd = await startInfluxd();
    await influxd.createDatabase("db");
    await influxd.query(
      'CREATE RETENTION POLICY "short" ON "db" DURATION 1h REPLICATION 1',
    );
    const now = BigInt(Math.floor(Date.now() / 1000));
    await influxd.write("db", `m v=1i ${now}`, { rp: "short", precision: "s" });
    assert.deepEqual(await influxd.points("db"), []);
    assert.deepEqual(await influxd.points("db", undefined, { rp: "short" }), [
      {
        measurement: "m",
        tags: {},
        fields: { v: 1n },
        time: now * 1_000_000_000n,
      },
    ]);
    assert.equal(await influxd.count("db", { rp: "short" }), 1);
  },
});

Deno.test({
  name: "Influxd.stop() and start() keep the data and the port",
  ignore,
  async fn() {
    await using influxd = await startInfluxd();
    await influxd.createDatabase("db");
    await influxd.write("db", LINES);
    const { port } = influxd;

    await influxd.stop();
    assert.equal(influxd.running, false);
    await assert.rejects(fetch(`${influxd.url}/ping`), TypeError);
    await influxd.stop(); // idempotent

    await influxd.start();
    assert.equal(influxd.running, true);
    assert.equal(influxd.port, port);
    assert.deepEqual(await influxd.points("db"), EXPECTED);
  },
});

Deno.test({
  name: "startInfluxd() with udp stores datagrams in the configured database",
  ignore,
  async fn() {
    await using influxd = await startInfluxd({
      udp: { database: "udpdb", precision: "s" },
    });
    const udpPort = influxd.udpPort;
    assert.ok(udpPort !== null && udpPort > 0);
    const sender = Deno.listenDatagram({
      hostname: "127.0.0.1",
      port: 0,
      transport: "udp",
    });
    try {
      await sender.send(
        new TextEncoder().encode(
          "m,src=udp v=1i 1700000000\nm,src=udp v=2i 1700000001\n",
        ),
        { transport: "udp", hostname: "127.0.0.1", port: udpPort },
      );
    } finally {
      sender.close();
    }
    await waitFor(async () => (await influxd.count("udpdb")) === 2, {
      timeoutMs: 10_000,
      message: "2 UDP points in udpdb",
    });
    assert.deepEqual(await influxd.points("udpdb"), [
      {
        measurement: "m",
        tags: { src: "udp" },
        fields: { v: 1n },
        time: 1700000000000000000n,
      },
      {
        measurement: "m",
        tags: { src: "udp" },
        fields: { v: 2n },
        time: 1700000001000000000n,
      },
    ]);
  },
});

Deno.test({
  name: "startInfluxd() with auth rejects anonymous writes",
  ignore,
  async fn() {
    await using influxd = await startInfluxd({
      auth: { username: "admin", password: "s'ecret" },
    });
    await influxd.createDatabase("db");
    const anonymous = await fetch(`${influxd.writeUrl}?db=db`, {
      method: "POST",
      body: "m v=1",
    });
    await anonymous.body?.cancel();
    assert.equal(anonymous.status, 401);
    const withQueryCredentials = await fetch(
      `${influxd.writeUrl}?db=db&u=admin&p=${encodeURIComponent("s'ecret")}`,
      { method: "POST", body: "m v=1 5" },
    );
    await withQueryCredentials.body?.cancel();
    assert.equal(withQueryCredentials.status, 204);
    assert.equal(await influxd.count("db"), 1);
  },
});

Deno.test({
  name: "Influxd.start() fails fast with the log tail when the port is taken",
  ignore,
  async fn() {
    await using influxd = await startInfluxd();
    await influxd.stop();
    const squatter = Deno.listen({ hostname: "127.0.0.1", port: influxd.port });
    try {
      const started = performance.now();
      await assert.rejects(
        influxd.start(),
        /Cannot start influxd on .*exited with code 1[^]*address already in use/,
      );
      assert.ok(performance.now() - started < 10_000, "did not fail fast");
      assert.equal(influxd.running, false);
    } finally {
      squatter.close();
    }
    await influxd.start();
    assert.equal(influxd.running, true);
  },
});

Deno.test({
  name: "Influxd.close() removes the data directory and can be repeated",
  ignore,
  async fn() {
    const influxd = await startInfluxd();
    await influxd.close();
    await influxd.close();
    await assert.rejects(Deno.stat(influxd.dir), Deno.errors.NotFound);
    await assert.rejects(influxd.start(), /was closed/);
  },
});
