/**
 * Retry buffers with real influxd: a backend stopped during constant writes
 * catches up with identical points and no older value overwrites a newer
 * one (D10); a relay killed with SIGKILL while its disk spool holds writes
 * delivers every acknowledged write after a restart.
 */
import assert from "node:assert/strict";
import { influxdSkipReason, startInfluxd } from "./_influxd.ts";
import { startRelay } from "./_relay.ts";
import { spawnRelay } from "./_relay_process.ts";
import { waitFor } from "./_wait.ts";

const ignore = influxdSkipReason() !== null;
const DB = "buffered";

async function write(url: string, body: string): Promise<number> {
  const res = await fetch(`${url}/write?db=${DB}`, { method: "POST", body });
  await res.body?.cancel();
  return res.status;
}

Deno.test({
  name:
    "a stopped influxd catches up through the retry buffer with identical points",
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
  { name = "a", location = "${a.writeUrl}", buffer-size-mb = 10, max-delay-interval = "200ms" },
  { name = "b", location = "${b.writeUrl}", buffer-size-mb = 10, max-delay-interval = "200ms" },
]
`);
    const writes = 300;
    for (let i = 0; i < writes; i++) {
      if (i === 80) await b.stop();
      if (i === 220) await b.start();
      // One new point a write, plus the same point (series and time)
      // overwritten with an increasing value: the newest must survive.
      const body = `seq,n=${i % 7} value=${i}i ${1_000_000 + i}\n` +
        `latest,host=h value=${i}i 1000\n`;
      assert.equal(await write(relay.url, body), 204, `write ${i}`);
    }
    const expected = writes + 1;
    let held = 0;
    await waitFor(async () => (held = await b.count(DB)) === expected, {
      timeoutMs: 30_000,
      intervalMs: 100,
      message: () => `b holds ${held} of ${expected}`,
    });
    // With ack = first the last writes may still be on their way to a.
    await waitFor(async () => (held = await a.count(DB)) === expected, {
      timeoutMs: 30_000,
      intervalMs: 100,
      message: () => `a holds ${held} of ${expected}`,
    });
    assert.deepEqual(await b.points(DB), await a.points(DB));
    for (const server of [a, b]) {
      const [latest] = await server.points(DB, "latest");
      assert.equal(latest!.fields.value, BigInt(writes - 1));
    }
    assert.ok(
      relay.messages().some((m) =>
        m.startsWith('Backend "b" of relay "ha" caught up after')
      ),
    );
  },
});

Deno.test({
  name:
    "every acknowledged write survives kill -9 of the relay in the disk spool",
  ignore,
  async fn() {
    await using a = await startInfluxd();
    await using b = await startInfluxd();
    await a.createDatabase(DB);
    await b.createDatabase(DB);
    await b.stop();
    const dir = await Deno.makeTempDir();
    const configPath = `${dir}/relay.toml`;
    await Deno.writeTextFile(
      configPath,
      `
[[http]]
name = "spooled"
bind-addr = "127.0.0.1:0"
output = [
  { name = "a", location = "${a.writeUrl}" },
  { name = "b", location = "${b.writeUrl}", buffer-size-mb = 10, buffer-path = "${dir}/spool-b", max-delay-interval = "200ms" },
]
`,
    );
    try {
      const acknowledged: string[] = [];
      {
        await using relay = await spawnRelay(configPath);
        for (let i = 0; i < 200; i++) {
          const line = `spool,batch=${i % 5} value=${i}i ${2_000_000 + i}`;
          if (await write(relay.url, line) === 204) acknowledged.push(line);
        }
        assert.equal(await relay.stop("SIGKILL"), 137);
      }
      assert.equal(acknowledged.length, 200);
      await b.start();
      await using restarted = await spawnRelay(configPath);
      let held = 0;
      await waitFor(async () => (held = await b.count(DB)) === 200, {
        timeoutMs: 30_000,
        intervalMs: 100,
        message: () => `b holds ${held} of 200:\n${restarted.log()}`,
      });
      // b holds exactly the acknowledged writes. (With ack = first, a write
      // spooled for b counts as stored, so the client may be answered before
      // a has it: a may miss the writes in flight at the kill.)
      const stored = (await b.points(DB)).map((p) =>
        `spool,batch=${p.tags.batch} value=${p.fields.value}i ${p.time}`
      );
      assert.deepEqual(stored.sort(), [...acknowledged].sort());
      const onA = (await a.points(DB)).map((p) =>
        `spool,batch=${p.tags.batch} value=${p.fields.value}i ${p.time}`
      );
      assert.ok(onA.length > 0);
      assert.deepEqual(onA.filter((line) => !stored.includes(line)), []);
      assert.match(
        restarted.log(),
        /Spool of backend "b" holds \d+ writes \(\d+ bytes\) from before the restart/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
