/**
 * /metrics, /status and /health end to end with recording backends: the
 * counters match the writes made, the exposition passes Prometheus' own
 * parser (`promtool check metrics`), and the admin paths can be turned off
 * on a write listener and served on the `[admin]` listener instead.
 */
import assert from "node:assert/strict";
import { reservedPortThatRefuses, startFakeBackend } from "./_fake_backend.ts";
import { checkMetrics, promtoolSkipReason } from "./_promtool.ts";
import { startRelay } from "./_relay.ts";
import { startUdpSink } from "./_udp_sink.ts";
import { waitFor } from "./_wait.ts";

/** Sample lines of an exposition, by series (name and labels). */
function samples(text: string): Map<string, number> {
  const map = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const cut = line.lastIndexOf(" ");
    map.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return map;
}

async function get(url: string): Promise<Response> {
  return await fetch(url);
}

async function post(url: string, body: string): Promise<number> {
  const response = await fetch(url, { method: "POST", body });
  await response.body?.cancel();
  return response.status;
}

Deno.test("/metrics counters match the writes made, and the output passes promtool", async () => {
  await using a = await startFakeBackend();
  await using b = await startFakeBackend({
    // b rejects the third write with a 400 and fails the fourth with a 500.
    respond: (_req, index) =>
      index === 2
        ? { status: 400, body: '{"error":"partial write"}' }
        : index === 3
        ? { status: 500 }
        : { status: 204 },
  });
  await using sink = await startUdpSink();
  await using relay = await startRelay(`
[[http]]
name = "h"
bind-addr = "127.0.0.1:0"
output = [
  { name = "a", location = "${a.writeUrl}", health-check-interval = "50ms" },
  { name = "b", location = "${b.writeUrl}", health-check-interval = "0" },
]

[[udp]]
name = "u"
bind-addr = "127.0.0.1:0"
output = [{ name = "s", location = "${sink.location}", mtu = 40 }]
`);
  const bodies = [
    "cpu,host=a v=1 1\ncpu,host=b v=2 2\n",
    "mem used=3i 3\n",
    "disk free=4i 4\n",
    "net rx=5i 5\nnet tx=6i 6\nnet err=0i 6\n",
    "load v=1 7\n",
  ];
  let bytes = 0;
  for (const body of bodies) {
    assert.equal(await post(`${relay.url}/write?db=x`, body), 204);
    bytes += new TextEncoder().encode(body).length;
  }
  assert.equal(await post(`${relay.url}/write?db=x`, "cpu v= 1\n"), 400);
  bytes += "cpu v= 1\n".length;
  assert.equal(await post(`${relay.url}/nowhere?q=x`, ""), 404);
  await b.waitForRequests(5);

  // UDP: one datagram with a bad line, one all junk, one with a line
  // longer than the output's mtu of 40 bytes.
  const udp = relay.service.udpListeners[0]!;
  const socket = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  try {
    const send = (text: string) =>
      socket.send(new TextEncoder().encode(text), udp.addr);
    await send("cpu v=1 1\nnot a line\n");
    await send("junk\n");
    await send(`cpu v=2 2\ncpu s="${"x".repeat(60)}" 3\n`);
  } finally {
    socket.close();
  }
  await waitFor(() => udp.stats.datagramsReceived === 3, {
    message: "3 datagrams received",
  });
  await sink.waitForDatagrams(2);
  await waitFor(() => a.pings.length > 0, { message: "a probed" });

  const response = await get(`${relay.url}/metrics`);
  assert.equal(response.status, 200);
  assert.equal(
    response.headers.get("content-type"),
    "text/plain; version=0.0.4; charset=utf-8",
  );
  const text = await response.text();
  const m = samples(text);
  const expect = (series: string, value: number) =>
    assert.equal(m.get(series), value, series);

  expect(
    'influxdb_relay_http_requests_total{relay="h",path="/write",status="204"}',
    5,
  );
  expect(
    'influxdb_relay_http_requests_total{relay="h",path="/write",status="400"}',
    1,
  );
  expect(
    'influxdb_relay_http_requests_total{relay="h",path="other",status="404"}',
    1,
  );
  expect('influxdb_relay_received_points_total{relay="h"}', 8);
  expect('influxdb_relay_received_bytes_total{relay="h"}', bytes);
  expect('influxdb_relay_parse_errors_total{relay="h"}', 1);

  const a_ = 'relay="h",backend="a"';
  const b_ = 'relay="h",backend="b"';
  expect(`influxdb_relay_backend_writes_total{${a_},outcome="success"}`, 5);
  expect(`influxdb_relay_backend_written_points_total{${a_}}`, 8);
  expect(`influxdb_relay_backend_write_duration_seconds_count{${a_}}`, 5);
  expect(
    `influxdb_relay_backend_write_duration_seconds_bucket{${a_},le="+Inf"}`,
    5,
  );
  expect(`influxdb_relay_backend_up{${a_}}`, 1);
  expect(`influxdb_relay_backend_writes_total{${b_},outcome="success"}`, 3);
  expect(
    `influxdb_relay_backend_writes_total{${b_},outcome="client_error"}`,
    1,
  );
  expect(
    `influxdb_relay_backend_writes_total{${b_},outcome="server_error"}`,
    1,
  );
  expect(`influxdb_relay_backend_written_points_total{${b_}}`, 4);
  // b answered 500 to a write and has no retry buffer: that write is lost
  // for it. The next write's 204 brought b back up (its probes are off).
  expect(`influxdb_relay_dropped_batches_total{${b_},reason="unbuffered"}`, 1);
  expect(`influxdb_relay_dropped_points_total{${b_}}`, 3);
  expect(`influxdb_relay_backend_up{${b_}}`, 1);
  assert.ok(
    m.get(`influxdb_relay_backend_probes_total{${a_},result="success"}`)! >= 1,
  );
  assert.equal(
    m.has(`influxdb_relay_backend_probes_total{${b_},result="success"}`),
    false,
  );

  expect('influxdb_relay_udp_datagrams_received_total{relay="u"}', 3);
  expect('influxdb_relay_udp_datagrams_forwarded_total{relay="u"}', 2);
  expect(
    'influxdb_relay_udp_datagrams_dropped_total{relay="u",reason="invalid"}',
    1,
  );
  expect(
    'influxdb_relay_udp_datagrams_dropped_total{relay="u",reason="queue_full"}',
    0,
  );
  expect('influxdb_relay_udp_invalid_lines_total{relay="u"}', 2);
  expect('influxdb_relay_parse_errors_total{relay="u"}', 2);
  expect('influxdb_relay_received_points_total{relay="u"}', 3);
  expect('influxdb_relay_udp_datagrams_sent_total{relay="u",backend="s"}', 2);
  expect(
    'influxdb_relay_udp_dropped_lines_total{relay="u",backend="s",reason="too_long"}',
    1,
  );
  assert.ok(m.get("process_resident_memory_bytes")! > 0);
  assert.ok(m.has("process_cpu_seconds_total"));

  if (promtoolSkipReason() === null) {
    const result = await checkMetrics(text);
    assert.equal(result.code, 0, `${result.output}\n${text}`);
    assert.equal(result.output, "");
  }
});

Deno.test("/status reports totals since start and each output's figures", async () => {
  await using a = await startFakeBackend();
  const refused = reservedPortThatRefuses();
  await using relay = await startRelay(`
[[http]]
name = "h"
bind-addr = "127.0.0.1:0"
output = [
  { name = "a", location = "http://me:s3cret@127.0.0.1:${a.port}/write" },
  { name = "gone", location = "http://127.0.0.1:${refused}/write", buffer-size-mb = 1, max-delay-interval = "50ms", health-check-interval = "0" },
]
`);
  for (let i = 0; i < 3; i++) {
    assert.equal(
      await post(
        `${relay.url}/write?db=x&u=client&p=pa55`,
        `cpu v=${i} ${i}\n`,
      ),
      204,
    );
  }
  const response = await get(`${relay.url}/status`);
  assert.equal(response.status, 200);
  const text = await response.text();
  // Neither the location's credentials nor a client's password show.
  assert.doesNotMatch(text, /s3cret|pa55/);
  const status = JSON.parse(text);
  assert.equal(status.listeners[0].outputs[0].location, a.writeUrl);
  assert.equal(status.health, "degraded");
  assert.equal(status.totals.pointsReceived, 3);
  assert.equal(status.totals.writes.success, 3);
  assert.ok(status.totals.writes.failure >= 1);
  assert.equal(status.totals.queuedBatches, 3);
  const [listener] = status.listeners;
  assert.equal(listener.name, "h");
  const gone = listener.outputs[1];
  assert.equal(gone.state, "down");
  assert.match(gone.lastError, /ECONNREFUSED/);
  assert.equal(gone.buffer.queuedBatches, 3);
  assert.equal(gone.buffer.capacityBytes, 1024 * 1024);
  assert.ok(gone.buffer.oldestQueuedAgeSeconds >= 0);
  assert.equal(gone.probe, null);
  assert.equal(listener.outputs[0].probe.intervalSeconds, 10);
  assert.ok(
    relay.messages().some((m) =>
      m.startsWith('Backend "gone" of relay "h" down: POST ')
    ),
  );
});

Deno.test("admin-endpoints = false answers the admin paths 404; [admin] serves them for every relay", async () => {
  await using a = await startFakeBackend();
  await using relay = await startRelay(`
[[http]]
name = "writes"
bind-addr = "127.0.0.1:0"
admin-endpoints = false
output = [{ name = "a", location = "${a.writeUrl}" }]

[admin]
bind-addr = "127.0.0.1:0"
`);
  for (const path of ["/health", "/status", "/metrics"]) {
    const response = await get(`${relay.url}${path}`);
    assert.equal(response.status, 404, path);
    await response.body?.cancel();
  }
  const admin = relay.service.adminUrl!;
  assert.match(admin, /^http:\/\/127\.0\.0\.1:\d+$/);
  const health = await get(`${admin}/health`);
  assert.equal(health.status, 200);
  const body = await health.json();
  assert.equal(body.health, "healthy");
  assert.deepEqual(body.checks.map((c: { name: string }) => c.name), ["a"]);
  const metrics = await (await get(`${admin}/metrics`)).text();
  assert.match(
    metrics,
    /^influxdb_relay_http_requests_total\{relay="writes",path="\/health",status="404"\} 1$/m,
  );
  const ping = await get(`${admin}/ping`);
  assert.equal(ping.status, 204);
  const write = await fetch(`${admin}/write?db=x`, {
    method: "POST",
    body: "cpu v=1 1\n",
  });
  assert.equal(write.status, 404);
  await write.body?.cancel();
  assert.deepEqual(a.requests, []);
  assert.ok(
    relay.messages().some((m) => m.startsWith("Starting admin listener")),
  );
});

Deno.test({
  name: "/metrics of a running relay passes promtool check metrics",
  ignore: promtoolSkipReason() !== null,
  async fn() {
    await using a = await startFakeBackend();
    await using relay = await startRelay(`
[[http]]
name = "with \\"quotes\\" and \\\\ backslash"
bind-addr = "127.0.0.1:0"
output = [
  { name = "a", location = "${a.writeUrl}", buffer-size-mb = 1 },
  { name = "v2", location = "${a.url}/api/v2/write", api = "v2", org = "o" },
]
`);
    assert.equal(await post(`${relay.url}/write?db=x`, "cpu v=1 1\n"), 204);
    const text = await (await get(`${relay.url}/metrics`)).text();
    assert.match(text, /relay="with \\"quotes\\" and \\\\ backslash"/);
    const result = await checkMetrics(text);
    assert.equal(result.code, 0, `${result.output}\n${text}`);
  },
});

Deno.test("the relay does not start when the [admin] address is in use", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  await assert.rejects(
    () =>
      startRelay(
        `
[[http]]
bind-addr = "127.0.0.1:0"

[admin]
bind-addr = "127.0.0.1:${taken.addr.port}"
`,
        { logging: false },
      ),
    {
      name: "StartError",
      message: new RegExp(
        `^Cannot start the admin listener on "127\\.0\\.0\\.1:${taken.addr.port}": `,
      ),
    },
  );
});
