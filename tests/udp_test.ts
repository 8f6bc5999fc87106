/**
 * End to end over UDP: the relay in-process with `[[udp]]` listeners,
 * clients sending real datagrams, recording UDP sockets as backends. Covers
 * the cases of spec §5 (precision, timestamp filling, MTU splitting, bad
 * lines, empty datagrams, one sending port) and this relay's differences
 * (good lines of a datagram are kept, junk cannot stall the relay, queued
 * datagrams are drained on stop, read-buffer is reported, not pretended).
 */
import assert from "node:assert/strict";
import { StartError } from "../relay/mod.ts";
import { startRelay, type TestRelay } from "./_relay.ts";
import { startUdpSink, type UdpSink } from "./_udp_sink.ts";
import { waitFor } from "./_wait.ts";

const encoder = new TextEncoder();
/**
 * The receive clock follows Date.now() to within about a millisecond (it
 * has sub-millisecond resolution and is re-anchored on drift).
 */
const CLOCK_SLACK_MS = 3;

interface Output {
  name?: string;
  mtu?: number;
}

function udpToml(
  sinks: UdpSink[],
  outputs: Output[] = [],
  extra = "",
): string {
  const entries = sinks.map((sink, i) => {
    const o = outputs[i] ?? {};
    const mtu = o.mtu === undefined ? "" : `, mtu = ${o.mtu}`;
    return `  { name = "${
      o.name ?? `s${i}`
    }", location = "${sink.location}"${mtu} },`;
  });
  return `
[[udp]]
name = "udp-test"
bind-addr = "127.0.0.1:0"
${extra}
output = [
${entries.join("\n")}
]
`;
}

interface UdpSetup {
  relay: TestRelay;
  sinks: UdpSink[];
  /** Sends one datagram to the relay's UDP listener. */
  send(payload: string | Uint8Array): Promise<void>;
  /** The client socket's port (the source of every datagram sent). */
  clientPort: number;
}

async function withUdpRelay(
  options: { sinks?: number; outputs?: Output[]; extra?: string },
  test: (setup: UdpSetup) => void | Promise<void>,
): Promise<void> {
  const sinks = Array.from({ length: options.sinks ?? 2 }, startUdpSink);
  const client = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  let relay: TestRelay | undefined;
  try {
    relay = await startRelay(
      udpToml(sinks, options.outputs, options.extra ?? ""),
    );
    const addr = relay.service.udpListeners[0]!.addr;
    await test({
      relay,
      sinks,
      clientPort: (client.addr as Deno.NetAddr).port,
      async send(payload) {
        await client.send(
          typeof payload === "string" ? encoder.encode(payload) : payload,
          addr,
        );
      },
    });
  } finally {
    client.close();
    await relay?.[Symbol.asyncDispose]();
    for (const sink of sinks) await sink.close();
  }
}

function lines(n: number, size: number): string[] {
  return Array.from({ length: n }, (_, k) => {
    const head = `m v=${k}`;
    return `${head} ${"1".repeat(size - head.length - 2)}\n`;
  });
}

Deno.test("UDP relay logs Starting UDP relay with its bound address", async () => {
  await withUdpRelay({}, ({ relay }) => {
    const { port } = relay.service.udpListeners[0]!.addr;
    assert.ok(
      relay.messages().includes(
        `Starting UDP relay "udp-test" on 127.0.0.1:${port}`,
      ),
      relay.messages().join("\n"),
    );
  });
});

Deno.test("UDP relay fills in the receive time in its precision, the same on every backend", async () => {
  await withUdpRelay(
    { extra: 'precision = "s"' },
    async ({ sinks, send }) => {
      const before = Math.floor((Date.now() - CLOCK_SLACK_MS) / 1000);
      await send("cpu v=1\n# comment\nmem f=2i 1500000000\n  disk u=1\n");
      for (const sink of sinks) await sink.waitForDatagrams(1);
      const after = Math.ceil((Date.now() + CLOCK_SLACK_MS) / 1000);
      const [a, b] = sinks.map((sink) => sink.texts());
      assert.deepEqual(a, b);
      const match = /^cpu v=1 (\d+)\nmem f=2i 1500000000\ndisk u=1 (\d+)\n$/
        .exec(a![0]!);
      assert.ok(match, a![0]);
      assert.equal(match[1], match[2]);
      const ts = Number(match[1]);
      assert.ok(ts >= before && ts <= after, `${before} <= ${ts} <= ${after}`);
    },
  );
});

Deno.test("UDP relay uses nanoseconds when precision is absent or unrecognised", async () => {
  for (const extra of ["", 'precision = "ns"', 'precision = "us"']) {
    await withUdpRelay({ sinks: 1, extra }, async ({ sinks, send }) => {
      const before = BigInt(Date.now() - CLOCK_SLACK_MS) * 1_000_000n;
      await send("cpu v=1\ncpu v=2 5\n");
      await sinks[0]!.waitForDatagrams(1);
      const after = BigInt(Date.now() + CLOCK_SLACK_MS) * 1_000_000n;
      const match = /^cpu v=1 (\d+)\ncpu v=2 5\n$/.exec(sinks[0]!.texts()[0]!);
      assert.ok(match, `${extra}: ${sinks[0]!.texts()[0]}`);
      const ts = BigInt(match[1]!);
      assert.ok(ts >= before && ts <= after, `${extra}: ${ts}`);
    });
  }
});

Deno.test("UDP relay splits at line ends to each output's mtu (mtu 60: six 14-byte lines go as 56 + 28)", async () => {
  await withUdpRelay(
    { outputs: [{ mtu: 60 }, {}] },
    async ({ sinks, send }) => {
      const six = lines(6, 14);
      await send(six.join(""));
      await sinks[0]!.waitForDatagrams(2);
      await sinks[1]!.waitForDatagrams(1);
      assert.deepEqual(sinks[0]!.texts(), [
        six.slice(0, 4).join(""),
        six.slice(4).join(""),
      ]);
      assert.deepEqual(sinks[0]!.datagrams.map((d) => d.data.length), [
        56,
        28,
      ]);
      assert.deepEqual(sinks[1]!.texts(), [six.join("")]);
    },
  );
});

Deno.test("UDP relay drops a line longer than the mtu for that output only, sends the rest and logs it", async () => {
  await withUdpRelay(
    { outputs: [{ name: "small", mtu: 30 }, { name: "big" }] },
    async ({ relay, sinks, send }) => {
      const [a, b, , d] = lines(4, 14);
      const long = `m s="${"2".repeat(30)}" 1\n`;
      await send(`${a}${b}${long}${d}`);
      await sinks[0]!.waitForDatagrams(2);
      await sinks[1]!.waitForDatagrams(1);
      assert.deepEqual(sinks[0]!.texts(), [`${a}${b}`, d]);
      assert.deepEqual(sinks[1]!.texts(), [`${a}${b}${long}${d}`]);
      const info = relay.service.udpListeners[0]!;
      assert.deepEqual(info.outputs.map((o) => o.stats.linesTooLong), [1, 0]);
      await waitFor(() =>
        relay.messages().some((m) =>
          m.startsWith(
            'Error writing points in relay "udp-test" to backend "small": payload larger than MTU',
          )
        ), { message: "the MTU log line" });
    },
  );
});

Deno.test("UDP relay forwards the good lines of a datagram and logs the bad ones (unlike the original)", async () => {
  await withUdpRelay({}, async ({ relay, sinks, send, clientPort }) => {
    await send("cpu v=1 1\nbad line\nmem f=2i 2\n");
    for (const sink of sinks) await sink.waitForDatagrams(1);
    for (const sink of sinks) {
      assert.deepEqual(sink.texts(), ["cpu v=1 1\nmem f=2i 2\n"]);
    }
    const stats = relay.service.udpListeners[0]!.stats;
    assert.equal(stats.linesInvalid, 1);
    assert.equal(stats.linesForwarded, 2);
    assert.ok(
      relay.messages().some((m) =>
        m.startsWith(
          `Error parsing packet in relay "udp-test" from 127.0.0.1:${clientPort}: unable to parse 'bad line': line 2: invalid field format`,
        )
      ),
      relay.messages().join("\n"),
    );
  });
});

Deno.test("UDP relay forwards an empty datagram as an empty datagram to every output", async () => {
  await withUdpRelay({}, async ({ sinks, send }) => {
    await send("");
    await send("# just a comment\n\n");
    for (const sink of sinks) await sink.waitForDatagrams(2);
    for (const sink of sinks) assert.deepEqual(sink.texts(), ["", ""]);
  });
});

Deno.test("UDP relay sends to every output from one source port", async () => {
  await withUdpRelay({ sinks: 3 }, async ({ sinks, send }) => {
    await send("cpu v=1 1\n");
    for (const sink of sinks) await sink.waitForDatagrams(1);
    const ports = new Set(sinks.map((s) => s.datagrams[0]!.from.port));
    assert.equal(ports.size, 1);
  });
});

Deno.test("UDP relay survives a flood of junk, logs a few lines and still forwards good datagrams", async () => {
  await withUdpRelay({}, async ({ relay, sinks, send }) => {
    let seed = 1;
    for (let k = 0; k < 500; k++) {
      const junk = new Uint8Array(1 + (k % 700));
      for (let i = 0; i < junk.length; i++) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        junk[i] = seed & 0xff;
      }
      await send(junk);
    }
    // The burst may overflow the socket's receive buffer, so the good
    // datagram is sent until it arrives (bounded).
    const good = () => sinks.every((s) => s.texts().includes("cpu v=1 1\n"));
    for (let attempt = 0; attempt < 10 && !good(); attempt++) {
      await send("cpu v=1 1\n");
      await waitFor(good, { timeoutMs: 500 }).catch(() => {});
    }
    assert.ok(good(), "the good datagram never arrived after the junk");
    const stats = relay.service.udpListeners[0]!.stats;
    assert.ok(
      stats.datagramsWithInvalidLines > 100,
      `${stats.datagramsWithInvalidLines} junk datagrams seen`,
    );
    const parseLogs = relay.messages().filter((m) =>
      m.startsWith('Error parsing packet in relay "udp-test"')
    );
    assert.ok(parseLogs.length <= 5, `${parseLogs.length} log lines`);
  });
});

Deno.test("RelayService.stop() forwards every datagram the UDP listener had read", async () => {
  const sinks = [startUdpSink(), startUdpSink()];
  const client = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  try {
    const relay = await startRelay(udpToml(sinks));
    const info = relay.service.udpListeners[0]!;
    for (let k = 0; k < 300; k++) {
      await client.send(encoder.encode(`cpu v=${k} ${k}\n`), info.addr);
    }
    await sinks[0]!.waitForDatagrams(1);
    const result = await relay.service.stop(10_000);
    assert.deepEqual(result, {
      drained: true,
      abandoned: 0,
      lostWrites: 0,
      keptWrites: 0,
    });
    const forwarded = info.stats.datagramsForwarded;
    assert.equal(forwarded, info.stats.datagramsReceived);
    assert.ok(forwarded > 0);
    for (const sink of sinks) {
      await sink.waitForDatagrams(forwarded);
      assert.deepEqual(
        sink.texts(),
        Array.from({ length: forwarded }, (_, k) => `cpu v=${k} ${k}\n`),
      );
    }
    await relay[Symbol.asyncDispose]();
  } finally {
    client.close();
    for (const sink of sinks) await sink.close();
  }
});

Deno.test("UDP relay says at start that read-buffer cannot be applied and what the socket gets", async () => {
  await withUdpRelay(
    { sinks: 1, extra: "read-buffer = 8388608" },
    async ({ relay }) => {
      let rmem: string | null = null;
      try {
        rmem = (await Deno.readTextFile("/proc/sys/net/core/rmem_default"))
          .trim();
      } catch {
        // not Linux
      }
      const warning = relay.messages().find((m) =>
        m.startsWith(
          'UDP relay "udp-test": read-buffer = 8388608 cannot be applied',
        )
      );
      assert.ok(warning, relay.messages().join("\n"));
      assert.match(
        warning,
        new RegExp(
          `the system default net\\.core\\.rmem_default ${
            rmem === null ? "\\(size unknown" : `of ${rmem} bytes`
          }`,
        ),
      );
    },
  );
});

Deno.test("startService() fails with a StartError when a UDP output does not resolve", async () => {
  await assert.rejects(
    startRelay(`
[[udp]]
name = "unresolved"
bind-addr = "127.0.0.1:0"
output = [{ name = "nowhere", location = "no-such-host.invalid:8089" }]
`),
    (error: Error) => {
      assert.ok(error instanceof StartError);
      assert.match(
        error.message,
        /^Cannot start UDP relay "unresolved": output "nowhere": Cannot resolve UDP location "no-such-host\.invalid:8089"/,
      );
      return true;
    },
  );
});

Deno.test("startService() fails with a StartError when the UDP address is in use", async () => {
  const taken = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  try {
    const port = (taken.addr as Deno.NetAddr).port;
    await assert.rejects(
      startRelay(`
[[udp]]
name = "busy"
bind-addr = "127.0.0.1:${port}"
output = [{ location = "127.0.0.1:8089" }]
`),
      new RegExp(
        `^StartError: Cannot start UDP relay "busy" on "127\\.0\\.0\\.1:${port}": Address already in use`,
      ),
    );
  } finally {
    taken.close();
  }
});

Deno.test("HTTP and UDP relays share a port number, as in the original's sample", async () => {
  const sink = startUdpSink();
  const client = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  // Find a port free for both TCP and UDP.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  try {
    await using relay = await startRelay(`
[[http]]
name = "h"
bind-addr = "127.0.0.1:${port}"
output = [{ location = "http://127.0.0.1:1/write" }]

[[udp]]
name = "u"
bind-addr = "127.0.0.1:${port}"
output = [{ location = "${sink.location}" }]
`);
    assert.equal(relay.url, `http://127.0.0.1:${port}`);
    assert.equal(relay.service.udpListeners[0]!.addr.port, port);
    const ping = await fetch(`${relay.url}/ping`);
    await ping.body?.cancel();
    assert.equal(ping.status, 204);
    await client.send(
      encoder.encode("cpu v=1 1\n"),
      relay.service.udpListeners[0]!.addr,
    );
    await sink.waitForDatagrams(1);
  } finally {
    client.close();
    await sink.close();
  }
});
