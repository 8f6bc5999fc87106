import assert from "node:assert/strict";
import { waitFor } from "../tests/_wait.ts";
import {
  type DatagramPack,
  type ReceiverThread,
  startUdpReceiver,
  type UdpReceiver,
} from "./udp_receiver.ts";

const encoder = new TextEncoder();
/**
 * The receive clock follows Date.now() to within about a millisecond (it
 * has sub-millisecond resolution and is re-anchored on drift).
 */
const CLOCK_SLACK_MS = 3;
const decoder = new TextDecoder();
const THREADS: ReceiverThread[] = ["worker", "main"];

function datagrams(pack: DatagramPack): string[] {
  const out: string[] = [];
  let start = 0;
  for (let k = 0; k < pack.count; k++) {
    out.push(decoder.decode(pack.data.subarray(start, pack.ends[k])));
    start = pack.ends[k]!;
  }
  return out;
}

/** Takes packs until `n` datagrams came, bounded by a timeout. */
async function receive(
  receiver: UdpReceiver,
  n: number,
): Promise<{ texts: string[]; packs: DatagramPack[] }> {
  const texts: string[] = [];
  const packs: DatagramPack[] = [];
  const timeout = AbortSignal.timeout(5000);
  while (texts.length < n) {
    const pack = await Promise.race([
      receiver.next(),
      new Promise<never>((_, reject) =>
        timeout.addEventListener("abort", () => reject(timeout.reason), {
          once: true,
        })
      ),
    ]);
    if (pack === null) break;
    packs.push(pack);
    texts.push(...datagrams(pack));
  }
  return { texts, packs };
}

async function drain(receiver: UdpReceiver): Promise<void> {
  receiver.close();
  while (await receiver.next() !== null) {
    // discard
  }
}

for (const thread of THREADS) {
  Deno.test(`startUdpReceiver() packs datagrams with their source and receive time (${thread})`, async () => {
    const receiver = await startUdpReceiver({
      hostname: "127.0.0.1",
      port: 0,
      thread,
    });
    const client = Deno.listenDatagram({
      transport: "udp",
      hostname: "127.0.0.1",
      port: 0,
    });
    try {
      assert.equal(receiver.addr.hostname, "127.0.0.1");
      assert.ok(receiver.addr.port > 0);
      const before = Date.now();
      const sent = ["cpu v=1\n", "", "mem f=2i 10\n", "x".repeat(60_000)];
      for (const text of sent) {
        await client.send(encoder.encode(text), receiver.addr);
      }
      const { texts, packs } = await receive(receiver, sent.length);
      const after = Date.now();
      assert.deepEqual(texts, sent);
      const clientPort = (client.addr as Deno.NetAddr).port;
      for (const pack of packs) {
        assert.deepEqual(pack.sources, [`127.0.0.1:${clientPort}`]);
        for (let k = 0; k < pack.count; k++) {
          assert.equal(pack.sourceOf[k], 0);
          assert.ok(
            pack.times[k]! >= before - CLOCK_SLACK_MS &&
              pack.times[k]! <= after + CLOCK_SLACK_MS,
          );
        }
      }
      assert.deepEqual(receiver.stats, {
        datagramsReceived: 4,
        bytesReceived: 60_020,
        datagramsDropped: 0,
      });
    } finally {
      client.close();
      await drain(receiver);
    }
  });

  Deno.test(`startUdpReceiver() returns null once closed and every pack was taken (${thread})`, async () => {
    const receiver = await startUdpReceiver({
      hostname: "127.0.0.1",
      thread,
    });
    const client = Deno.listenDatagram({
      transport: "udp",
      hostname: "127.0.0.1",
      port: 0,
    });
    try {
      for (let k = 0; k < 3; k++) {
        await client.send(encoder.encode(`b v=${k}\n`), receiver.addr);
      }
      const { texts } = await receive(receiver, 3);
      assert.deepEqual(texts, ["b v=0\n", "b v=1\n", "b v=2\n"]);
      receiver.close();
      assert.equal(await receiver.next(), null);
      assert.equal(await receiver.next(), null);
      assert.equal(receiver.error, null);
      assert.equal(receiver.stats.datagramsReceived, 3);
    } finally {
      client.close();
      await drain(receiver);
    }
  });

  Deno.test(`startUdpReceiver() fails with the socket error's name when the address is taken (${thread})`, async () => {
    const taken = Deno.listenDatagram({
      transport: "udp",
      hostname: "127.0.0.1",
      port: 0,
    });
    try {
      await assert.rejects(
        startUdpReceiver({
          hostname: "127.0.0.1",
          port: (taken.addr as Deno.NetAddr).port,
          thread,
        }),
        (error: Error) => {
          assert.equal(error.name, "AddrInUse");
          return true;
        },
      );
    } finally {
      taken.close();
    }
  });
}

// Reading on the main isolate makes the loop's progress observable without
// taking packs; the pack logic is the same in the worker.

Deno.test("startUdpReceiver() hands over what was read before close (main)", async () => {
  const receiver = await startUdpReceiver({
    hostname: "127.0.0.1",
    thread: "main",
  });
  const client = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  try {
    for (let k = 0; k < 3; k++) {
      await client.send(encoder.encode(`b v=${k}\n`), receiver.addr);
    }
    await waitFor(() => receiver.stats.datagramsReceived === 3, {
      message: "three datagrams read",
    });
    receiver.close();
    const texts: string[] = [];
    let pack: DatagramPack | null;
    while ((pack = await receiver.next()) !== null) {
      texts.push(...datagrams(pack));
    }
    assert.deepEqual(texts, ["b v=0\n", "b v=1\n", "b v=2\n"]);
  } finally {
    client.close();
    await drain(receiver);
  }
});

Deno.test("startUdpReceiver() drops and counts datagrams when the pack is full (main)", async () => {
  const receiver = await startUdpReceiver({
    hostname: "127.0.0.1",
    queueBytes: 1000,
    thread: "main",
  });
  const client = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  try {
    // Nobody takes the pack while ten 300-byte datagrams arrive: three fit
    // in 1000 bytes, seven are dropped.
    const payload = encoder.encode(`${"x".repeat(299)}\n`);
    for (let k = 0; k < 10; k++) await client.send(payload, receiver.addr);
    await waitFor(() => receiver.stats.datagramsReceived === 10, {
      message: "ten datagrams read",
    });
    const { texts } = await receive(receiver, 1);
    assert.equal(texts.length, 3);
    assert.deepEqual(receiver.stats, {
      datagramsReceived: 10,
      bytesReceived: 3000,
      datagramsDropped: 7,
    });
    // The next pack has room again.
    await client.send(payload, receiver.addr);
    assert.equal((await receive(receiver, 1)).texts.length, 1);
  } finally {
    client.close();
    await drain(receiver);
  }
});

Deno.test("startUdpReceiver() rejects a queueBytes below 1", async () => {
  await assert.rejects(startUdpReceiver({ queueBytes: 0 }), RangeError);
});
