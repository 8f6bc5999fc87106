/**
 * Health state with real influxd: a stopped backend turns /health
 * degraded and the transition is logged once; restarted, it comes back
 * (catching up through its retry buffer, then up) and /health is healthy
 * again; /metrics agrees with what was written.
 */
import assert from "node:assert/strict";
import { influxdSkipReason, startInfluxd } from "./_influxd.ts";
import { startRelay } from "./_relay.ts";
import { waitFor } from "./_wait.ts";

const ignore = influxdSkipReason() !== null;
const DB = "observed";

interface Check {
  name: string;
  status: string;
  state: string;
  lastError: string | null;
  queuedBatches: number;
}

interface Health {
  status: string;
  health: string;
  message: string;
  checks: Check[];
}

async function health(url: string): Promise<{ code: number; body: Health }> {
  const response = await fetch(`${url}/health`);
  return { code: response.status, body: await response.json() };
}

async function write(url: string, body: string): Promise<number> {
  const response = await fetch(`${url}/write?db=${DB}`, {
    method: "POST",
    body,
  });
  await response.body?.cancel();
  return response.status;
}

/** The value of one sample line of /metrics, or `undefined`. */
async function metric(
  url: string,
  series: string,
): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

Deno.test({
  name:
    "a stopped influxd turns /health degraded with one log line, and a restart brings it back",
  ignore,
  async fn() {
    await using a = await startInfluxd();
    await using b = await startInfluxd();
    await a.createDatabase(DB);
    await b.createDatabase(DB);
    await using relay = await startRelay(`
[[http]]
name = "ha"
bind-addr = "127.0.0.1:0"
output = [
  { name = "a", location = "${a.writeUrl}", health-check-interval = "100ms", health-check-timeout = "1s" },
  { name = "b", location = "${b.writeUrl}", buffer-size-mb = 10, max-delay-interval = "200ms", health-check-interval = "100ms", health-check-timeout = "1s" },
]
`);
    let seen: Health | null = null;
    const healthIs = (wanted: string, timeoutMs = 15_000) =>
      waitFor(async () => {
        seen = (await health(relay.url)).body;
        return seen.health === wanted;
      }, {
        timeoutMs,
        intervalMs: 50,
        message: () =>
          `/health ${wanted}, last: ${JSON.stringify(seen)}\n${
            relay.messages().join("\n")
          }`,
      });

    await healthIs("healthy");
    const before = await health(relay.url);
    assert.equal(before.code, 200);
    assert.equal(before.body.status, "pass");
    assert.equal(before.body.message, "ready for writes");

    for (let i = 0; i < 10; i++) {
      assert.equal(await write(relay.url, `cpu v=${i}i ${1000 + i}\n`), 204);
    }

    await b.stop();
    await healthIs("degraded");
    const degraded = await health(relay.url);
    assert.equal(degraded.code, 200);
    assert.equal(degraded.body.status, "pass");
    const down = degraded.body.checks.find((c) => c.name === "b")!;
    assert.equal(down.state, "down");
    assert.equal(down.status, "fail");
    assert.ok(
      down.lastError !== null && down.lastError !== "",
      down.lastError!,
    );

    // Writes while b is down are queued for it.
    for (let i = 10; i < 20; i++) {
      assert.equal(await write(relay.url, `cpu v=${i}i ${1000 + i}\n`), 204);
    }
    const queued = (await health(relay.url)).body.checks.find((c) =>
      c.name === "b"
    )!;
    assert.ok(queued.queuedBatches > 0, JSON.stringify(queued));
    assert.ok(
      (await metric(
        relay.url,
        'influxdb_relay_buffer_queued_batches{relay="ha",backend="b"}',
      ))! > 0,
    );
    assert.equal(
      await metric(
        relay.url,
        'influxdb_relay_backend_up{relay="ha",backend="b"}',
      ),
      0,
    );

    await b.start();
    await healthIs("healthy");
    const healthy = await health(relay.url);
    assert.equal(healthy.code, 200);
    assert.deepEqual(healthy.body.checks.map((c) => c.state), ["up", "up"]);
    await waitFor(async () => await b.count(DB) === 20, {
      timeoutMs: 10_000,
      intervalMs: 100,
      message: "b holds all 20 points",
    });

    // Each transition logged once, however many probes failed meanwhile.
    const messages = relay.messages();
    const downLines = messages.filter((m) =>
      m.startsWith('Backend "b" of relay "ha" down: ')
    );
    const upLines = messages.filter((m) =>
      /^Backend "b" of relay "ha" up after [\d.]+s, \d+ writes queued$/.test(m)
    );
    assert.equal(downLines.length, 1, messages.join("\n"));
    assert.equal(upLines.length, 1, messages.join("\n"));
    assert.ok(
      !messages.some((m) => m.startsWith('Backend "a" of relay "ha" down')),
    );

    assert.equal(
      await metric(
        relay.url,
        'influxdb_relay_backend_up{relay="ha",backend="b"}',
      ),
      1,
    );
    assert.equal(
      await metric(
        relay.url,
        'influxdb_relay_backend_down_transitions_total{relay="ha",backend="b"}',
      ),
      1,
    );
    assert.equal(
      await metric(
        relay.url,
        'influxdb_relay_backend_written_points_total{relay="ha",backend="a"}',
      ),
      20,
    );
    assert.equal(
      await metric(
        relay.url,
        'influxdb_relay_backend_written_points_total{relay="ha",backend="b"}',
      ),
      20,
    );
    assert.equal(
      await metric(
        relay.url,
        'influxdb_relay_received_points_total{relay="ha"}',
      ),
      20,
    );
  },
});
