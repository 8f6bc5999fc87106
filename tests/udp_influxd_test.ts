/**
 * End to end over UDP with two real `influxd` 1.6 whose UDP listener is
 * enabled: thousands of points sent as datagrams to the relay must be
 * stored identically on both servers, with the filled-in timestamps equal
 * on both (spec §5, D8).
 */
import assert from "node:assert/strict";
import {
  type Influxd,
  influxdSkipReason,
  pointToLine,
  startInfluxd,
  type StoredPoint,
} from "./_influxd.ts";
import { startRelay } from "./_relay.ts";
import { waitFor } from "./_wait.ts";
import { kernelDrops } from "./_udp_load.ts";

const ignore = influxdSkipReason() !== null;
const DB = "udpdb";
const POINTS = 3000;
const LINES_PER_DATAGRAM = 5;
/** Datagrams sent before waiting for both servers to store them. */
const CHUNK = 20;

function relayToml(a: Influxd, b: Influxd, precision: string): string {
  return `
[[udp]]
name = "udp-e2e"
bind-addr = "127.0.0.1:0"
precision = "${precision}"
output = [
  { name = "influxd-a", location = "127.0.0.1:${a.udpPort}", mtu = 512 },
  { name = "influxd-b", location = "127.0.0.1:${b.udpPort}" },
]
`;
}

/** Point `i`: every field type; even points carry a timestamp, odd ones not. */
function generate(i: number): { line: string; point: StoredPoint | null } {
  const tags = { host: `server-${i % 7}`, seq: String(i) };
  const value = i * 0.5 + 0.25;
  const count = BigInt(i) * 1_000_003n - 5_000_000n;
  const msg = `point ${i}, "quoted"`;
  const ok = i % 3 === 0;
  const fields = `value=${value},count=${count}i,msg="${
    msg.replaceAll('"', '\\"')
  }",ok=${ok}`;
  const key = `udp_cpu,host=${tags.host},seq=${i}`;
  if (i % 2 === 1) return { line: `${key} ${fields}`, point: null };
  const time = 1_600_000_000_000_000_000n + BigInt(i);
  return {
    line: `${key} ${fields} ${time}`,
    point: {
      measurement: "udp_cpu",
      tags,
      fields: { value, count, msg, ok },
      time,
    },
  };
}

async function countPoints(server: Influxd): Promise<number> {
  const result = await server.query('SELECT count("value") FROM "udp_cpu"', {
    db: DB,
  }) as {
    results: { series?: { values: [unknown, number][] }[] }[];
  };
  return Number(result.results[0]?.series?.[0]?.values[0]?.[1] ?? 0);
}

Deno.test({
  name:
    "UDP relay stores thousands of points identically on two real influxd UDP listeners",
  ignore,
  async fn() {
    await using a = await startInfluxd({ udp: { database: DB } });
    await using b = await startInfluxd({ udp: { database: DB } });
    await a.createDatabase(DB);
    await b.createDatabase(DB);
    await using relay = await startRelay(relayToml(a, b, "n"));
    const info = relay.service.udpListeners[0]!;
    const client = Deno.listenDatagram({
      transport: "udp",
      hostname: "127.0.0.1",
      port: 0,
    });
    const expected: StoredPoint[] = [];
    const before = BigInt(Date.now()) * 1_000_000n;
    try {
      const encoder = new TextEncoder();
      for (let d = 0; d * LINES_PER_DATAGRAM < POINTS; d++) {
        const lines: string[] = [];
        for (let k = 0; k < LINES_PER_DATAGRAM; k++) {
          const { line, point } = generate(d * LINES_PER_DATAGRAM + k);
          lines.push(line);
          if (point !== null) expected.push(point);
        }
        await client.send(encoder.encode(lines.join("\n") + "\n"), info.addr);
        const sent = (d + 1) * LINES_PER_DATAGRAM;
        if ((d + 1) % CHUNK === 0 || sent >= POINTS) {
          // Flow control: a loaded machine can leave a reader off the CPU
          // long enough for a default-sized socket buffer (~90 datagrams) to
          // overflow; wait until both servers stored this chunk.
          await waitFor(
            async () =>
              (await countPoints(a)) === sent &&
              (await countPoints(b)) === sent,
            {
              timeoutMs: 20_000,
              intervalMs: 10,
              message: `chunk up to ${sent}`,
            },
          );
        }
      }
    } finally {
      client.close();
    }

    // influxd batches UDP points (batch-timeout 10ms); poll until all landed.
    let seen = "";
    await waitFor(
      async () => {
        const counts = [await countPoints(a), await countPoints(b)];
        if (counts.every((n) => n === POINTS)) return true;
        const drops = await kernelDrops([
          info.addr.port,
          a.udpPort!,
          b.udpPort!,
        ]);
        seen = `counts ${counts}; relay ${JSON.stringify(info.stats)}; ` +
          `outputs ${JSON.stringify(info.outputs)}; kernel drops ${drops}`;
        return false;
      },
      {
        timeoutMs: 30_000,
        intervalMs: 200,
        message: () => `${POINTS} points on both servers (${seen})`,
      },
    );
    // Every datagram was received by now; the receive clock follows
    // Date.now() to within about a millisecond.
    const after = BigInt(Date.now() + 3) * 1_000_000n;
    const storedA = await a.points(DB);
    const storedB = await b.points(DB);
    assert.deepEqual(storedA, storedB);
    const timed = storedA.filter((p) => p.time < before);
    assert.deepEqual(
      timed.map(pointToLine).sort(),
      expected.map(pointToLine).sort(),
    );
    const untimed = storedA.filter((p) => p.time >= before);
    assert.equal(untimed.length, POINTS / 2);
    for (const point of untimed) {
      assert.ok(point.time <= after, `${point.time} after ${after}`);
    }
    // Split by mtu 512 for influxd-a: each 5-line datagram went out whole
    // or in pieces, never with a line cut.
    const [toA, toB] = info.outputs.map((o) => o.stats);
    assert.ok(toA!.datagramsSent > toB!.datagramsSent);
    assert.equal(toA!.linesTooLong, 0);
  },
});
