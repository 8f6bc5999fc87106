/**
 * What the relay says about its backends' answers, end to end: a backend's
 * 4xx to a write is logged (throttled) while the client's answer follows the
 * original's rule, a 5xx line carries the backend's reason, an outage with
 * only failed probes reports no failed writes, a queue emptied by expiry is
 * not "caught up", and spool records skipped as damaged are counted in
 * `/status` and `/metrics`.
 */
import assert from "node:assert/strict";
import { SpoolQueue } from "../relay/spool_queue.ts";
import { reservedPortThatRefuses, startFakeBackend } from "./_fake_backend.ts";
import { startRelay } from "./_relay.ts";
import { waitFor } from "./_wait.ts";

const NOT_FOUND = '{"error":"database not found: \\"mydb\\""}';

function relayToml(outputs: string[]): string {
  return `
[[http]]
name = "example-http"
bind-addr = "127.0.0.1:0"
output = [
  ${outputs.join(",\n  ")},
]
`;
}

async function post(url: string, body = "cpu value=1"): Promise<number> {
  const res = await fetch(`${url}/write?db=mydb`, { method: "POST", body });
  await res.body?.cancel();
  return res.status;
}

Deno.test("relay logs a backend's 4xx to a write while the client gets 204 from a faster backend", async () => {
  await using good = await startFakeBackend();
  // The 404 comes after the 204: the client is answered 204, as before.
  await using missing = await startFakeBackend({
    respond: () => ({ status: 404, body: NOT_FOUND, delayMs: 200 }),
  });
  await using relay = await startRelay(relayToml([
    `{ name = "local1", location = "${good.writeUrl}" }`,
    `{ name = "local2", location = "${missing.writeUrl}" }`,
  ]));
  for (let i = 0; i < 7; i++) assert.equal(await post(relay.url), 204);
  await missing.waitForRequests(7);
  const line =
    `4xx response for relay "example-http" backend "local2": 404: ${NOT_FOUND}; the backend refused this write, other backends may have stored it`;
  await waitFor(
    () => relay.messages().filter((m) => m === line).length === 5,
    { message: () => relay.messages().join("\n") },
  );
  // At most 5 such lines per 10 s and backend; the counter has every one.
  assert.equal(relay.messages().filter((m) => m.startsWith("4xx")).length, 5);
  const record = relay.logs.find((r) => r.properties.status === 404)!;
  assert.equal(record.level, "warning");
  // The client had its 204 before the slow 404s were counted.
  let clientErrors = 0;
  await waitFor(async () => {
    const status = await (await fetch(`${relay.url}/status`)).json();
    clientErrors = status.listeners[0].outputs[1].writes.clientError;
    return clientErrors === 7;
  }, { message: () => `clientError is ${clientErrors}, not 7` });
});

Deno.test("relay passes a first 4xx through to the client and logs it", async () => {
  await using slow = await startFakeBackend({
    respond: () => ({ status: 204, delayMs: 100 }),
  });
  await using missing = await startFakeBackend({
    respond: () => ({ status: 404, body: NOT_FOUND }),
  });
  await using relay = await startRelay(relayToml([
    `{ name = "local1", location = "${slow.writeUrl}" }`,
    `{ name = "local2", location = "${missing.writeUrl}" }`,
  ]));
  assert.equal(await post(relay.url), 404);
  await waitFor(
    () =>
      relay.messages().some((m) =>
        m.startsWith('4xx response for relay "example-http" backend "local2"')
      ),
    { message: () => relay.messages().join("\n") },
  );
});

Deno.test("relay's 5xx line starts as the original's and carries the backend's reason", async () => {
  await using full = await startFakeBackend({
    respond: () => ({
      status: 500,
      body: '{"error":"engine: cache-max-memory-size exceeded"}',
      headers: { "Content-Type": "application/json" },
    }),
  });
  await using relay = await startRelay(relayToml([
    `{ name = "local2", location = "${full.writeUrl}", health-check-interval = "0" }`,
  ]));
  assert.equal(await post(relay.url), 500);
  assert.equal(await post(relay.url), 500);
  const line =
    '5xx response for relay "example-http" backend "local2": 500: {"error":"engine: cache-max-memory-size exceeded"}';
  // The second write found the backend down already: no "down:" line for
  // it, and this line is the only one with the reason.
  await waitFor(
    () => relay.messages().filter((m) => m === line).length === 2,
    { message: () => relay.messages().join("\n") },
  );
});

Deno.test("relay reports no failed writes for an outage seen only by probes", async () => {
  const ping = { status: 503 };
  await using flaky = await startFakeBackend({ ping: () => ping });
  await using relay = await startRelay(relayToml([
    `{ name = "local2", location = "${flaky.writeUrl}", health-check-interval = "50ms" }`,
  ]));
  await waitFor(() =>
    relay.messages().some((m) =>
      m.startsWith('Backend "local2" of relay "example-http" down:')
    )
  );
  await waitFor(() => flaky.pings.length >= 4);
  ping.status = 204;
  await waitFor(
    () =>
      relay.messages().some((m) =>
        /^Backend "local2" of relay "example-http" up after [\d.]+m?s; no write to it failed meanwhile$/
          .test(m)
      ),
    { message: () => relay.messages().join("\n") },
  );
  assert.ok(!relay.messages().some((m) => m.includes("writes to it failed")));
});

Deno.test("relay does not call a queue emptied by expiry caught up", async () => {
  const refused = `http://127.0.0.1:${reservedPortThatRefuses()}/write`;
  await using relay = await startRelay(relayToml([
    `{ name = "local2", location = "${refused}", timeout = "1s", buffer-size-mb = 1, buffer-max-age = "200ms", max-delay-interval = "50ms", health-check-interval = "0" }`,
  ]));
  await post(relay.url);
  await waitFor(
    () => relay.messages().some((m) => m.includes(" is empty after ")),
    { message: () => relay.messages().join("\n") },
  );
  const messages = relay.messages();
  assert.ok(
    !messages.some((m) => m.includes("caught up")),
    messages.join("\n"),
  );
  assert.ok(
    messages.some((m) =>
      /^Retry buffer of relay "example-http" backend "local2" is empty after \d+s, none of its writes delivered: 1 writes expired; the backend is still failing$/
        .test(m)
    ),
    messages.join("\n"),
  );
});

Deno.test("relay counts spool records skipped as damaged in /status and /metrics", async () => {
  const dir = await Deno.makeTempDir({ prefix: "damaged-spool-" });
  try {
    const spool = `${dir}/local2`;
    const queue = await SpoolQueue.open({ dir: spool, maxBytes: 1 << 20 });
    const encoder = new TextEncoder();
    for (let i = 1; i <= 3; i++) {
      await queue.push({
        query: "db=mydb",
        auth: null,
        body: encoder.encode(`cpu value=${i} ${i}\n`),
        points: 1,
        acceptedAt: Date.now(),
      });
    }
    await queue.close();
    // Damage the body of the second record: its CRC no longer matches.
    const segment = `${spool}/00000000000000000001.seg`;
    const data = await Deno.readFile(segment);
    const second = new TextDecoder("latin1").decode(data).indexOf("value=2");
    assert.ok(second > 0);
    data[second] = data[second]! ^ 0xff;
    await Deno.writeFile(segment, data);

    const refused = `http://127.0.0.1:${reservedPortThatRefuses()}/write`;
    await using relay = await startRelay(relayToml([
      `{ name = "local2", location = "${refused}", timeout = "1s", buffer-size-mb = 1, buffer-path = "${spool}", health-check-interval = "0" }`,
    ]));
    assert.ok(
      relay.messages().some((m) =>
        m.startsWith(
          'Spool of backend "local2": skipped a damaged record in ',
        )
      ),
      relay.messages().join("\n"),
    );
    const status = await (await fetch(`${relay.url}/status`)).json();
    assert.equal(status.listeners[0].outputs[0].dropped.batches.damaged, 1);
    assert.equal(status.totals.droppedBatches, 1);
    const metrics = await (await fetch(`${relay.url}/metrics`)).text();
    assert.ok(
      metrics.includes(
        'influxdb_relay_dropped_batches_total{relay="example-http",backend="local2",reason="damaged"} 1\n',
      ),
      metrics,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
