import assert from "node:assert/strict";
import type { WriteBatch } from "./batch.ts";
import type { Logger } from "./log.ts";
import { recordingLogger } from "../tests/_recording_logger.ts";
import { LogThrottle } from "./log_throttle.ts";
import {
  type DatagramSender,
  formatAddress,
  MAX_UDP_PAYLOAD,
  resolveUdpLocation,
  UdpBackend,
} from "./udp_backend.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ADDRESS: Deno.NetAddr = {
  transport: "udp",
  hostname: "127.0.0.1",
  port: 8089,
};

function batch(text: string): WriteBatch {
  const body = encoder.encode(text);
  return { query: "", auth: null, body, points: text.split("\n").length - 1 };
}

/** A sender that records datagrams; `fail` makes the nth send (from 0) throw. */
function recordingSender(fail = -1): DatagramSender & { sent: string[] } {
  const sent: string[] = [];
  return {
    sent,
    send(data, address) {
      assert.deepEqual(address, ADDRESS);
      if (sent.length === fail) {
        sent.push("<failed>");
        return Promise.reject(
          new Error("Network is unreachable (os error 101)"),
        );
      }
      sent.push(decoder.decode(data));
      return Promise.resolve(data.length);
    },
  };
}

function backend(
  socket: DatagramSender,
  options: { mtu?: number; logger?: Logger; logThrottle?: LogThrottle } = {},
): UdpBackend {
  return new UdpBackend({
    name: "b1",
    relay: "udp-relay",
    address: ADDRESS,
    socket,
    logger: options.logger ?? recordingLogger(),
    ...options,
  });
}

Deno.test("UdpBackend.write() sends a body that fits as one datagram", async () => {
  const socket = recordingSender();
  const udp = backend(socket);
  assert.deepEqual(await udp.write(batch("cpu v=1 1\nmem f=2i 2\n")), {
    kind: "sent",
  });
  assert.deepEqual(socket.sent, ["cpu v=1 1\nmem f=2i 2\n"]);
  assert.deepEqual(udp.stats, {
    datagramsSent: 1,
    bytesSent: 21,
    linesTooLong: 0,
    sendErrors: 0,
  });
  await udp.close();
});

Deno.test("UdpBackend.write() splits a body larger than the mtu at line ends, in order", async () => {
  const socket = recordingSender();
  const udp = backend(socket, { mtu: 60 });
  const lines = Array.from({ length: 6 }, (_, k) => `m v=${k} 1000000\n`);
  assert.equal(lines[0]!.length, 14);
  await udp.write(batch(lines.join("")));
  assert.deepEqual(socket.sent, [
    lines.slice(0, 4).join(""),
    lines.slice(4).join(""),
  ]);
  assert.deepEqual(socket.sent.map((d) => d.length), [56, 28]);
  await udp.close();
});

Deno.test("UdpBackend.write() leaves out lines longer than the mtu, counts and logs them", async () => {
  const socket = recordingSender();
  const logger = recordingLogger();
  const udp = backend(socket, { mtu: 30, logger });
  const long = `m ${"x".repeat(40)}=1 1\n`;
  const result = await udp.write(batch(`a v=1 1\n${long}b v=2 2\n`));
  assert.deepEqual(result, { kind: "sent" });
  assert.deepEqual(socket.sent, ["a v=1 1\n", "b v=2 2\n"]);
  assert.equal(udp.stats.linesTooLong, 1);
  assert.equal(logger.logged.length, 1);
  assert.match(
    logger.logged[0]!.message,
    /^Error writing points in relay "\{relay\}" to backend "\{backend\}": payload larger than MTU/,
  );
  assert.equal(logger.logged[0]!.properties.lines, 1);
  assert.equal(logger.logged[0]!.properties.bytes, long.length);
  await udp.close();
});

Deno.test("UdpBackend.write() logs long lines at most as often as its throttle allows", async () => {
  const logger = recordingLogger();
  let now = 0;
  const udp = backend(recordingSender(), {
    mtu: 10,
    logger,
    logThrottle: new LogThrottle({
      burst: 2,
      intervalMs: 1000,
      clock: () => now,
    }),
  });
  for (let k = 0; k < 5; k++) await udp.write(batch(`m v=${"9".repeat(20)}\n`));
  assert.equal(logger.logged.length, 2);
  assert.equal(udp.stats.linesTooLong, 5);
  now = 1000;
  await udp.write(batch(`m v=${"9".repeat(20)}\n`));
  assert.equal(logger.logged.length, 3);
  assert.equal(
    logger.logged[2]!.properties.more,
    " (3 similar lines left out before this one)",
  );
  await udp.close();
});

Deno.test("UdpBackend.write() sends an empty body as one empty datagram", async () => {
  const socket = recordingSender();
  const udp = backend(socket);
  assert.deepEqual(await udp.write(batch("")), { kind: "sent" });
  assert.deepEqual(socket.sent, [""]);
  assert.equal(udp.stats.datagramsSent, 1);
  await udp.close();
});

Deno.test("UdpBackend.write() returns a failure naming the backend when a send fails", async () => {
  const socket = recordingSender(1);
  const udp = backend(socket, { mtu: 10 });
  const result = await udp.write(batch("a v=1 1\nb v=2 2\nc v=3 3\n"));
  assert.equal(result.kind, "failure");
  assert.equal(
    result.kind === "failure" && result.error.message,
    'Cannot send to UDP backend "b1" at 127.0.0.1:8089: Network is unreachable (os error 101)',
  );
  // The rest of that write is not sent.
  assert.deepEqual(socket.sent, ["a v=1 1\n", "<failed>"]);
  assert.deepEqual(udp.stats, {
    datagramsSent: 1,
    bytesSent: 8,
    linesTooLong: 0,
    sendErrors: 1,
  });
  await udp.close();
});

Deno.test("UdpBackend() caps the mtu at the largest UDP payload and rejects one below 1", () => {
  assert.equal(
    backend(recordingSender(), { mtu: 1_000_000 }).mtu,
    MAX_UDP_PAYLOAD,
  );
  assert.equal(backend(recordingSender()).mtu, 1024);
  assert.throws(() => backend(recordingSender(), { mtu: 0 }), RangeError);
});

Deno.test("UdpBackend.close() waits for sends in flight and refuses later writes", async () => {
  const { promise: gate, resolve: open } = Promise.withResolvers<void>();
  let finished = false;
  const udp = backend({
    async send(data) {
      await gate;
      finished = true;
      return data.length;
    },
  });
  const writing = udp.write(batch("a v=1 1\n"));
  const closing = udp.close();
  open();
  await closing;
  assert.ok(finished);
  assert.deepEqual(await writing, { kind: "sent" });
  const late = await udp.write(batch("b v=1 1\n"));
  assert.equal(late.kind, "failure");
});

Deno.test("UdpBackend.write() delivers datagrams over a real socket", async () => {
  const sink = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const socket = Deno.listenDatagram({
    transport: "udp",
    hostname: "0.0.0.0",
    port: 0,
  });
  try {
    const udp = new UdpBackend({
      name: "real",
      relay: "r",
      address: sink.addr as Deno.NetAddr,
      socket,
      logger: recordingLogger(),
      mtu: 12,
    });
    await udp.write(batch("a v=1 1\nb v=2 2\n"));
    const [first] = await sink.receive();
    const [second] = await sink.receive();
    assert.deepEqual([decoder.decode(first), decoder.decode(second)], [
      "a v=1 1\n",
      "b v=2 2\n",
    ]);
    await udp.close();
  } finally {
    socket.close();
    sink.close();
  }
});

Deno.test("resolveUdpLocation() resolves names, IP literals and an empty host", async () => {
  assert.deepEqual(await resolveUdpLocation("127.0.0.1:8089"), ADDRESS);
  assert.deepEqual(await resolveUdpLocation("localhost:8089"), ADDRESS);
  assert.deepEqual(await resolveUdpLocation(":8089"), ADDRESS);
  assert.deepEqual(await resolveUdpLocation("[::1]:8089"), {
    transport: "udp",
    hostname: "::1",
    port: 8089,
  });
});

Deno.test("resolveUdpLocation() rejects a host that does not resolve, naming the location", async () => {
  await assert.rejects(
    resolveUdpLocation("no-such-host.invalid:8089"),
    /^Error: Cannot resolve UDP location "no-such-host\.invalid:8089": /,
  );
  await assert.rejects(resolveUdpLocation("127.0.0.1"), /expected "host:port"/);
});

Deno.test("formatAddress() brackets IPv6 hosts", () => {
  assert.equal(formatAddress(ADDRESS), "127.0.0.1:8089");
  assert.equal(
    formatAddress({ transport: "udp", hostname: "::1", port: 1 }),
    "[::1]:1",
  );
});
