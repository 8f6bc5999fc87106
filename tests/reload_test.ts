/**
 * Configuration reload: `RelayService.reload()` in-process (outputs added,
 * changed and removed under constant load; a kept output's retry buffer
 * keeps its queue; a kept listener keeps its open connections) and SIGHUP
 * on the real process (applied, or refused with the running config kept).
 */
import assert from "node:assert/strict";
import {
  type FakeBackend,
  reservedPortThatRefuses,
  startFakeBackend,
} from "./_fake_backend.ts";
import { startRelay } from "./_relay.ts";
import { startUdpSink, type UdpSink } from "./_udp_sink.ts";
import { spawnRelay } from "./_relay_process.ts";
import { waitFor } from "./_wait.ts";
import { parseConfig } from "../relay/mod.ts";

function listener(outputs: string[], extra = ""): string {
  return `
[[http]]
name = "reload"
bind-addr = "127.0.0.1:0"
${extra}
output = [
${outputs.map((o) => `  ${o},`).join("\n")}
]
`;
}

function out(name: string, backend: FakeBackend, extra = ""): string {
  return `{ name = "${name}", location = "${backend.writeUrl}", health-check-interval = "0"${
    extra === "" ? "" : `, ${extra}`
  } }`;
}

/** Every line the backend received, as a set. */
function lines(backend: FakeBackend): Set<string> {
  return new Set(
    backend.requests.flatMap((r) => r.text.split("\n").filter((l) => l !== "")),
  );
}

Deno.test("RelayService.reload() swaps outputs under constant load without losing an acknowledged write", async () => {
  await using keep = await startFakeBackend();
  await using a = await startFakeBackend();
  await using b = await startFakeBackend();
  // ack = "all": a 204 means every output of that moment stored the write.
  await using relay = await startRelay(
    listener([out("keep", keep), out("a", a)], 'ack = "all"'),
  );
  const url = relay.url;
  const acked: string[] = [];
  const failures: string[] = [];
  let running = true;
  const writers = Array.from({ length: 4 }, (_, w) =>
    (async () => {
      for (let n = 0; running; n++) {
        const line = `load,w=${w} n=${n}i ${1_000_000 + n}`;
        const response = await fetch(`${url}/write?db=x`, {
          method: "POST",
          body: `${line}\n`,
        });
        await response.body?.cancel();
        if (response.status === 204) acked.push(line);
        else failures.push(`${line}: ${response.status}`);
      }
    })());
  const configs = [
    listener([out("keep", keep), out("a", a), out("b", b)], 'ack = "all"'),
    listener([out("keep", keep), out("b", b)], 'ack = "all"'),
    listener(
      [out("keep", keep), out("b", b, 'timeout = "3s"')],
      'ack = "all"',
    ),
  ];
  for (const text of configs) {
    await waitFor(() => acked.length >= 50, { message: "writes flowing" });
    const before = acked.length;
    await relay.service.reload(parseConfig(text));
    await waitFor(() => acked.length >= before + 50, {
      message: "writes after the reload",
    });
  }
  running = false;
  await Promise.all(writers);
  assert.deepEqual(failures, []);
  assert.equal(relay.service.listeners[0]?.url, url, "same socket");
  const kept = lines(keep);
  const either = new Set([...lines(a), ...lines(b)]);
  const missing = acked.filter((line) => !kept.has(line));
  assert.deepEqual(missing, [], "every write reached the kept output");
  assert.deepEqual(
    acked.filter((line) => !either.has(line)),
    [],
    "every write reached a or b",
  );
});

Deno.test("RelayService.reload() keeps a kept output's queued writes and delivers them", async () => {
  let down = true;
  await using flaky = await startFakeBackend({
    respond: () => (down ? { status: 503 } : {}),
  });
  await using other = await startFakeBackend();
  const flakyOut = out(
    "flaky",
    flaky,
    'buffer-size-mb = 8, max-delay-interval = "100ms"',
  );
  await using relay = await startRelay(
    listener([flakyOut, out("other", other)]),
  );
  for (let i = 0; i < 10; i++) {
    const response = await fetch(`${relay.url}/write?db=x`, {
      method: "POST",
      body: `q,i=${i} v=1 ${i}\n`,
    });
    assert.equal(response.status, 204);
    await response.body?.cancel();
  }
  // The other output goes; the flaky one (unchanged) keeps its queue.
  await relay.service.reload(parseConfig(listener([flakyOut])));
  down = false;
  await waitFor(
    () => [...lines(flaky)].filter((l) => l.startsWith("q,")).length === 10,
    { timeoutMs: 10_000, message: "the 10 queued writes delivered" },
  );
});

Deno.test("RelayService.reload() keeps an open keep-alive connection on a kept listener", async () => {
  await using first = await startFakeBackend();
  await using second = await startFakeBackend();
  await using relay = await startRelay(listener([out("first", first)]));
  const { hostname, port } = new URL(relay.url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const post = async (body: string) => {
    await conn.write(encoder.encode(
      `POST /write?db=x HTTP/1.1\r\nHost: relay\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    ));
    const buffer = new Uint8Array(4096);
    const n = await conn.read(buffer);
    return decoder.decode(buffer.subarray(0, n ?? 0));
  };
  try {
    assert.match(await post("c v=1 1\n"), /^HTTP\/1\.1 204/);
    await relay.service.reload(parseConfig(listener([out("second", second)])));
    assert.match(await post("c v=2 2\n"), /^HTTP\/1\.1 204/);
  } finally {
    conn.close();
  }
  assert.deepEqual([...lines(first)], ["c v=1 1"]);
  assert.deepEqual([...lines(second)], ["c v=2 2"]);
});

Deno.test("RelayService.reload() starts, stops and moves listeners", async () => {
  await using backend = await startFakeBackend();
  await using relay = await startRelay(listener([out("b", backend)]));
  const oldUrl = relay.url;
  await relay.service.reload(parseConfig(`
[[http]]
name = "reload"
bind-addr = "127.0.0.1:0"
max-body-size = 100
output = [${out("b", backend)}]

[[http]]
name = "added"
bind-addr = "127.0.0.1:0"
output = [${out("b", backend)}]
`));
  const [kept, added] = relay.service.listeners;
  assert.equal(kept?.url, oldUrl);
  assert.equal(added?.name, "added");
  const big = await fetch(`${oldUrl}/write?db=x`, {
    method: "POST",
    body: "c v=1 1\n".repeat(100),
  });
  assert.equal(big.status, 413, "the new limit applies");
  await big.body?.cancel();
  const viaAdded = await fetch(`${added!.url}/write?db=x`, {
    method: "POST",
    body: "c v=1 1\n",
  });
  assert.equal(viaAdded.status, 204);
  await viaAdded.body?.cancel();
  await relay.service.reload(parseConfig(`
[[http]]
name = "added"
bind-addr = "127.0.0.1:0"
output = [${out("b", backend)}]
`));
  assert.deepEqual(relay.service.listeners.map((l) => l.name), ["added"]);
  await assert.rejects(fetch(`${oldUrl}/ping`));

  // A new bind-addr: a new socket, the outputs kept.
  const port = reservedPortThatRefuses();
  const { changes } = await relay.service.reload(parseConfig(`
[[http]]
name = "added"
bind-addr = "127.0.0.1:${port}"
output = [${out("b", backend)}]
`));
  assert.deepEqual(changes, [
    `HTTP relay "added" moved to http://127.0.0.1:${port} (outputs kept: "b"; started: none; retired: none)`,
  ]);
  // Another listener added: the untouched one is not reported (or rebuilt).
  const { changes: addedOnly } = await relay.service.reload(parseConfig(`
[[http]]
name = "added"
bind-addr = "127.0.0.1:${port}"
output = [${out("b", backend)}]

[[http]]
name = "third"
bind-addr = "127.0.0.1:0"
output = [${out("b", backend)}]
`));
  assert.deepEqual(addedOnly, ['HTTP relay "third" started']);
  const moved = await fetch(`http://127.0.0.1:${port}/write?db=x`, {
    method: "POST",
    body: "c v=2 2\n",
  });
  assert.equal(moved.status, 204);
  await moved.body?.cancel();
  await assert.rejects(fetch(`${added!.url}/ping`));
});

Deno.test("RelayService.reload() hands a changed output's spool to its successor", async () => {
  const dir = await Deno.makeTempDir({ prefix: "relay-reload-spool-" });
  try {
    let down = true;
    await using first = await startFakeBackend({
      respond: () => (down ? { status: 503 } : {}),
    });
    await using second = await startFakeBackend();
    const spooled = (backend: FakeBackend, extra = "") =>
      listener([
        out(
          "s",
          backend,
          `buffer-size-mb = 8, buffer-path = "${dir}/spool", max-delay-interval = "100ms"${extra}`,
        ),
      ], 'ack = "all"');
    await using relay = await startRelay(spooled(first));
    for (let i = 0; i < 5; i++) {
      const response = await fetch(`${relay.url}/write?db=x`, {
        method: "POST",
        body: `sp,i=${i} v=1 ${i}\n`,
      });
      // A spool counts as stored: acknowledged although the backend is down.
      assert.equal(response.status, 204);
      await response.body?.cancel();
    }
    // The output now points elsewhere: the new one delivers the spool.
    const { changes } = await relay.service.reload(
      parseConfig(spooled(second)),
    );
    assert.match(changes[0] ?? "", /started: "s"; retired: "s"/);
    await waitFor(
      () => [...lines(second)].filter((l) => l.startsWith("sp,")).length === 5,
      { timeoutMs: 10_000, message: "the 5 spooled writes at the new backend" },
    );
    down = false;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(
  "main.ts reloads its config on SIGHUP and keeps it when the new one is invalid",
  {
    ignore: Deno.build.os === "windows",
  },
  async () => {
    await using first = await startFakeBackend();
    await using second = await startFakeBackend();
    const dir = await Deno.makeTempDir({ prefix: "relay-sighup-" });
    try {
      const path = `${dir}/relay.toml`;
      await Deno.writeTextFile(path, listener([out("first", first)]));
      await using relay = await spawnRelay(path);
      const write = async (line: string) => {
        const response = await fetch(`${relay.url}/write?db=x`, {
          method: "POST",
          body: `${line}\n`,
        });
        await response.body?.cancel();
        return response.status;
      };
      assert.equal(await write("c v=1 1"), 204);

      await Deno.writeTextFile(path, listener([out("second", second)]));
      relay.child.kill("SIGHUP");
      await waitFor(() => /Reloaded config/.test(relay.log()), {
        message: () => `the reload in the log:\n${relay.log()}`,
      });
      assert.equal(await write("c v=2 2"), 204);

      await Deno.writeTextFile(path, "[[http]]\nbind_addr = 1\n");
      relay.child.kill("SIGHUP");
      await waitFor(() => /Cannot reload config/.test(relay.log()), {
        message: () => `the refusal in the log:\n${relay.log()}`,
      });
      assert.equal(await write("c v=3 3"), 204);
      assert.deepEqual([...lines(first)], ["c v=1 1"]);
      assert.deepEqual([...lines(second)], ["c v=2 2", "c v=3 3"]);
      assert.equal(await relay.stop("SIGTERM"), 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("RelayService.reload() restarts a changed UDP listener on its address and admin listener", async () => {
  await using first = startUdpSink();
  await using second = startUdpSink();
  const udpPort = freeUdpPort();
  const udp = (sink: UdpSink, admin: string) => `
[[udp]]
name = "u"
bind-addr = "127.0.0.1:${udpPort}"
output = [{ name = "sink", location = "${sink.location}" }]
${admin}
`;
  await using relay = await startRelay(udp(first, ""));
  const client = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const target = {
    transport: "udp" as const,
    hostname: "127.0.0.1",
    port: udpPort,
  };
  try {
    await client.send(new TextEncoder().encode("u v=1 1\n"), target);
    await first.waitForDatagrams(1);
    const { changes } = await relay.service.reload(
      parseConfig(udp(second, '[admin]\nbind-addr = "127.0.0.1:0"')),
    );
    assert.deepEqual(changes, [
      'UDP relay "u" restarted',
      "admin listener started",
    ]);
    assert.equal(relay.service.udpListeners[0]?.addr.port, udpPort);
    await client.send(new TextEncoder().encode("u v=2 2\n"), target);
    await second.waitForDatagrams(1);
    assert.deepEqual(second.texts(), ["u v=2 2\n"]);
    const ping = await fetch(`${relay.service.adminUrl}/ping`);
    assert.equal(ping.status, 204);
  } finally {
    client.close();
  }
});

function freeUdpPort(): number {
  const socket = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const { port } = socket.addr as Deno.NetAddr;
  socket.close();
  return port;
}
