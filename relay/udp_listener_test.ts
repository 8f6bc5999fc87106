import assert from "node:assert/strict";
import { recordingLogger } from "../tests/_recording_logger.ts";
import { waitFor } from "../tests/_wait.ts";
import type { WriteBatch } from "./batch.ts";
import type { Precision } from "./line_protocol.ts";
import { LogThrottle } from "./log_throttle.ts";
import { listenUdp, type UdpListener } from "./udp_listener.ts";
import type { ReceiverThread } from "./udp_receiver.ts";

const encoder = new TextEncoder();
/**
 * The receive clock follows Date.now() to within about a millisecond (it
 * has sub-millisecond resolution and is re-anchored on drift).
 */
const CLOCK_SLACK_MS = 3;
const decoder = new TextDecoder();

/** A fan-out stand-in that records batches (optionally slowly). */
function recordingTarget(delay?: () => Promise<void>): {
  batches: WriteBatch[];
  texts(): string[];
  write(batch: WriteBatch): Promise<unknown>;
} {
  const batches: WriteBatch[] = [];
  return {
    batches,
    texts: () => batches.map((b) => decoder.decode(b.body)),
    async write(batch) {
      if (delay !== undefined) await delay();
      batches.push({ ...batch, body: batch.body.slice() });
    },
  };
}

interface Setup {
  listener: UdpListener;
  target: ReturnType<typeof recordingTarget>;
  logger: ReturnType<typeof recordingLogger>;
  send(text: string): Promise<void>;
}

async function withListener(
  options: {
    precision?: Precision;
    thread?: ReceiverThread;
    badLineThrottle?: LogThrottle;
    delay?: () => Promise<void>;
  },
  test: (setup: Setup) => Promise<void>,
): Promise<void> {
  const target = recordingTarget(options.delay);
  const logger = recordingLogger();
  const listener = await listenUdp(target, {
    name: "udp-test",
    logger,
    hostname: "127.0.0.1",
    port: 0,
    ...options,
  });
  const client = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  try {
    await test({
      listener,
      target,
      logger,
      async send(text) {
        await client.send(encoder.encode(text), listener.addr);
      },
    });
  } finally {
    client.close();
    await listener.close();
  }
}

function forwarded(target: ReturnType<typeof recordingTarget>, n: number) {
  return waitFor(() => target.batches.length >= n, {
    message: () => `${n} batches (got ${target.batches.length})`,
  });
}

Deno.test("listenUdp() forwards each datagram as one batch with the receive time filled in", async () => {
  await withListener({ precision: "ms" }, async ({ target, send }) => {
    const before = Date.now();
    await send("cpu v=1\nmem f=2i 1500000000000\n");
    await forwarded(target, 1);
    const after = Date.now();
    const [batch] = target.batches;
    assert.equal(batch!.points, 2);
    assert.equal(batch!.query, "");
    assert.equal(batch!.auth, null);
    const match = /^cpu v=1 (\d+)\nmem f=2i 1500000000000\n$/.exec(
      target.texts()[0]!,
    );
    assert.ok(match, target.texts()[0]);
    const ms = Number(match[1]);
    assert.ok(
      ms >= before - CLOCK_SLACK_MS && ms <= after + CLOCK_SLACK_MS,
      `${before} <= ${ms} <= ${after}`,
    );
  });
});

Deno.test("listenUdp() fills in the receive time in its precision", async () => {
  const cases: [Precision, number][] = [
    ["n", 1e6],
    ["u", 1e3],
    ["s", 1e-3],
    ["h", 1 / 3_600_000],
  ];
  for (const [precision, perMs] of cases) {
    await withListener({ precision }, async ({ target, send }) => {
      const before = Date.now();
      await send("cpu v=1\n");
      await forwarded(target, 1);
      const after = Date.now();
      const ts = Number(/ (\d+)\n$/.exec(target.texts()[0]!)![1]);
      assert.ok(
        ts >= Math.floor((before - CLOCK_SLACK_MS) * perMs) &&
          ts <= Math.ceil((after + CLOCK_SLACK_MS) * perMs),
        `${precision}: ${ts}`,
      );
    });
  }
});

Deno.test("listenUdp() forwards the good lines of a datagram and counts the bad ones", async () => {
  await withListener({}, async ({ listener, target, logger, send }) => {
    await send("cpu v=1 1\nnot line protocol\nmem f=2i 2\ncpu v=\n");
    await forwarded(target, 1);
    assert.deepEqual(target.texts(), ["cpu v=1 1\nmem f=2i 2\n"]);
    const stats = listener.stats;
    assert.equal(stats.linesForwarded, 2);
    assert.equal(stats.linesInvalid, 2);
    assert.equal(stats.datagramsWithInvalidLines, 1);
    assert.equal(logger.logged.length, 1);
    const [log] = logger.logged;
    assert.equal(log!.level, "warning");
    assert.match(
      log!.message,
      /^Error parsing packet in relay "\{relay\}" from \{source\}: unable to parse '\{line\}': \{reason\}/,
    );
    assert.equal(log!.properties.line, "not line protocol");
    assert.equal(log!.properties.reason, "line 2: invalid field format");
    assert.equal(log!.properties.skipped, 2);
    assert.match(String(log!.properties.source), /^127\.0\.0\.1:\d+$/);
  });
});

Deno.test("listenUdp() forwards an empty datagram but nothing of an all-junk one", async () => {
  await withListener({}, async ({ listener, target, send }) => {
    await send("\x00\xff junk\n\nmore junk");
    await send("");
    await send("# only a comment\n");
    await send("cpu v=1 1\n");
    await forwarded(target, 3);
    assert.deepEqual(target.texts(), ["", "", "cpu v=1 1\n"]);
    assert.deepEqual(target.batches.map((b) => b.points), [0, 0, 1]);
    assert.equal(listener.stats.datagramsForwarded, 3);
    assert.equal(listener.stats.linesInvalid, 2);
    assert.equal(listener.stats.datagramsInvalid, 1);
  });
});

Deno.test("listenUdp() logs bad lines at most as often as its throttle allows", async () => {
  let now = 0;
  const badLineThrottle = new LogThrottle({
    burst: 2,
    intervalMs: 1000,
    clock: () => now,
  });
  await withListener(
    { badLineThrottle },
    async ({ listener, target, logger, send }) => {
      for (let k = 0; k < 50; k++) await send(`junk ${k}\n`);
      await send("cpu v=1 1\n");
      await forwarded(target, 1);
      assert.equal(listener.stats.linesInvalid, 50);
      assert.equal(logger.logged.length, 2);
      now = 1000;
      await send("junk again\n");
      await send("cpu v=2 2\n");
      await forwarded(target, 2);
      assert.equal(logger.logged.length, 3);
      assert.equal(
        logger.logged[2]!.properties.more,
        " (48 similar lines left out before this one)",
      );
    },
  );
});

for (const thread of ["worker", "main"] as const) {
  Deno.test(`UdpListener.close() forwards every datagram already read before it resolves (${thread})`, async () => {
    // A slow fan-out: datagrams pile up in the queue while it works.
    const target = recordingTarget(() =>
      new Promise((resolve) => setTimeout(resolve, 1))
    );
    const listener = await listenUdp(target, {
      name: "udp-drain",
      logger: recordingLogger(),
      hostname: "127.0.0.1",
      thread,
    });
    const client = Deno.listenDatagram({
      transport: "udp",
      hostname: "127.0.0.1",
      port: 0,
    });
    try {
      for (let k = 0; k < 100; k++) {
        await client.send(encoder.encode(`cpu v=${k} ${k}\n`), listener.addr);
      }
      await waitFor(() => target.batches.length > 0, {
        message: "the first batch",
      });
      if (thread === "main") {
        await waitFor(() => listener.stats.datagramsReceived === 100, {
          message: "100 datagrams read",
        });
      }
      await listener.close();
      const read = listener.stats.datagramsReceived;
      assert.equal(target.batches.length, read);
      assert.deepEqual(
        target.texts(),
        Array.from({ length: read }, (_, k) => `cpu v=${k} ${k}\n`),
      );
      if (thread === "main") assert.equal(read, 100);
    } finally {
      client.close();
      await listener.close();
    }
  });
}

Deno.test("listenUdp() rejects when the address is taken", async () => {
  const taken = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  try {
    await assert.rejects(
      listenUdp(recordingTarget(), {
        name: "udp-taken",
        logger: recordingLogger(),
        hostname: "127.0.0.1",
        port: (taken.addr as Deno.NetAddr).port,
      }),
      (error: Error) => error.name === "AddrInUse",
    );
  } finally {
    taken.close();
  }
});
