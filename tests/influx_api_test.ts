/**
 * End to end, InfluxDB 2.x and 3.x: writes through `/write`,
 * `/api/v2/write` and `/api/v3/write_lp` reach v1, v2 and v3 backends with
 * the path, query, credentials and body each backend's API expects. No
 * InfluxDB 2/3 server can be installed here, so the v2/v3 backends are
 * recording fakes; the v1 side runs against real influxd in
 * influx_client_test.ts.
 */
import assert from "node:assert/strict";
import {
  type FakeBackend,
  type RecordedRequest,
  reservedPortThatRefuses,
  startFakeBackend,
} from "./_fake_backend.ts";
import { startRelay } from "./_relay.ts";

/** A relay whose outputs are written by `outputs(fakes)`, one fake each. */
async function withBackends(
  count: number,
  outputs: (fakes: FakeBackend[]) => string[],
  test: (url: string, fakes: FakeBackend[]) => Promise<void>,
): Promise<void> {
  const fakes: FakeBackend[] = [];
  try {
    for (let i = 0; i < count; i++) fakes.push(await startFakeBackend());
    await using relay = await startRelay(`
[[http]]
name = "apis"
bind-addr = "127.0.0.1:0"
output = [
${outputs(fakes).map((o) => `  ${o},`).join("\n")}
]
`);
    await test(relay.url, fakes);
  } finally {
    for (const fake of fakes) await fake.close();
  }
}

async function post(
  url: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<Response> {
  const response = await fetch(url, { method: "POST", body, headers });
  await response.body?.cancel();
  return response;
}

/** The one request each fake received. */
async function received(fakes: FakeBackend[]): Promise<RecordedRequest[]> {
  for (const fake of fakes) await fake.waitForRequests(1);
  return fakes.map((fake) => fake.requests[0]!);
}

Deno.test("relay sends a v1 write to v2 and v3 backends in their own API", async () => {
  await withBackends(3, ([v1, v2, v3]) => [
    `{ name = "v1", location = "${v1!.writeUrl}" }`,
    `{ name = "v2", location = "${
      v2!.url
    }/api/v2/write", api = "v2", org = "ops", token = "v2-token" }`,
    `{ name = "v3", location = "${
      v3!.url
    }/api/v3/write_lp", api = "v3", token = "apiv3_token" }`,
  ], async (url, fakes) => {
    const body = "cpu,host=a value=1 1700000000\nmem free=2i 1700000001\n";
    const response = await post(
      `${url}/write?db=telegraf&rp=week&precision=s&consistency=all`,
      body,
      { Authorization: "Token client:secret" },
    );
    assert.equal(response.status, 204);
    const [v1, v2, v3] = await received(fakes);
    assert.equal(v1!.path, "/write");
    assert.equal(v1!.query, "consistency=all&db=telegraf&precision=s&rp=week");
    assert.equal(v1!.headers.get("authorization"), "Token client:secret");
    assert.equal(v2!.path, "/api/v2/write");
    assert.equal(v2!.query, "bucket=telegraf%2Fweek&org=ops&precision=s");
    assert.equal(v2!.headers.get("authorization"), "Token v2-token");
    assert.equal(v3!.path, "/api/v3/write_lp");
    assert.equal(v3!.query, "db=telegraf%2Fweek&precision=second");
    assert.equal(v3!.headers.get("authorization"), "Token apiv3_token");
    for (const request of [v1, v2, v3]) {
      assert.equal(request!.method, "POST");
      assert.equal(request!.text, body);
      assert.equal(request!.headers.get("content-type"), "text/plain");
    }
  });
});

Deno.test("relay maps a v1 write without rp to bucket db/autogen and v3 database db", async () => {
  await withBackends(2, ([v2, v3]) => [
    `{ name = "v2", location = "${v2!.url}/api/v2/write", api = "v2" }`,
    `{ name = "v3", location = "${v3!.url}/api/v3/write_lp", api = "v3" }`,
  ], async (url, fakes) => {
    const response = await post(`${url}/write?db=telegraf`, "cpu v=1 1\n");
    assert.equal(response.status, 204);
    const [v2, v3] = await received(fakes);
    assert.equal(v2!.query, "bucket=telegraf%2Fautogen&precision=ns");
    assert.equal(v3!.query, "db=telegraf&precision=nanosecond");
    assert.equal(v2!.headers.get("authorization"), null);
  });
});

Deno.test("relay turns minute and hour timestamps into seconds for v2 and v3 backends only", async () => {
  await withBackends(3, ([v1, v2, v3]) => [
    `{ name = "v1", location = "${v1!.writeUrl}" }`,
    `{ name = "v2", location = "${
      v2!.url
    }/api/v2/write", api = "v2", bucket = "b" }`,
    `{ name = "v3", location = "${
      v3!.url
    }/api/v3/write_lp", api = "v3", db = "d" }`,
  ], async (url, fakes) => {
    const response = await post(
      `${url}/write?db=x&precision=h`,
      "cpu v=1 2\nmem v=2 -1\n",
    );
    assert.equal(response.status, 204);
    const [v1, v2, v3] = await received(fakes);
    assert.equal(v1!.query, "db=x&precision=h");
    assert.equal(v1!.text, "cpu v=1 2\nmem v=2 -1\n");
    assert.equal(v2!.query, "bucket=b&precision=s");
    assert.equal(v2!.text, "cpu v=1 7200\nmem v=2 -3600\n");
    assert.equal(v3!.query, "db=d&precision=second");
    assert.equal(v3!.text, "cpu v=1 7200\nmem v=2 -3600\n");
  });
});

Deno.test("relay writes an /api/v2/write client's points to v1, v2 and v3 backends", async () => {
  await withBackends(3, ([v1, v2, v3]) => [
    `{ name = "v1", location = "${v1!.writeUrl}" }`,
    `{ name = "v2", location = "${v2!.url}/api/v2/write", api = "v2" }`,
    `{ name = "v3", location = "${v3!.url}/api/v3/write_lp", api = "v3" }`,
  ], async (url, fakes) => {
    const response = await post(
      `${url}/api/v2/write?org=ops&orgID=0a1b&bucket=telegraf/autogen&precision=ms`,
      "cpu v=1 1700000000123\n",
      { Authorization: "Token client-token" },
    );
    assert.equal(response.status, 204);
    const [v1, v2, v3] = await received(fakes);
    assert.equal(v1!.path, "/write");
    assert.equal(v1!.query, "db=telegraf&precision=ms&rp=autogen");
    assert.equal(
      v2!.query,
      "bucket=telegraf%2Fautogen&org=ops&orgID=0a1b&precision=ms",
    );
    assert.equal(v3!.query, "db=telegraf%2Fautogen&precision=millisecond");
    for (const request of [v1, v2, v3]) {
      assert.equal(request!.headers.get("authorization"), "Token client-token");
      assert.equal(request!.text, "cpu v=1 1700000000123\n");
    }
  });
});

Deno.test("relay writes an /api/v3/write_lp client's points with auto precision resolved", async () => {
  await withBackends(2, ([v1, v3]) => [
    `{ name = "v1", location = "${v1!.writeUrl}" }`,
    `{ name = "v3", location = "${v3!.url}/api/v3/write_lp", api = "v3" }`,
  ], async (url, fakes) => {
    const response = await post(
      `${url}/api/v3/write_lp?db=sensors`,
      "temp v=1 1700000000\ntemp v=2 1700000001000\n",
      { Authorization: "Bearer apiv3_client" },
    );
    assert.equal(response.status, 204);
    const [v1, v3] = await received(fakes);
    assert.equal(v1!.query, "db=sensors&precision=n");
    assert.equal(v3!.query, "db=sensors&precision=nanosecond");
    for (const request of [v1, v3]) {
      assert.equal(
        request!.headers.get("authorization"),
        "Bearer apiv3_client",
      );
      assert.equal(
        request!.text,
        "temp v=1 1700000000000000000\ntemp v=2 1700000001000000000\n",
      );
    }
  });
});

Deno.test("relay replaces the client's credentials only for outputs that have their own", async () => {
  await withBackends(4, ([own, token, pass, v2]) => [
    `{ name = "own", location = "${
      own!.writeUrl
    }", username = "relay", password = "relay-pw" }`,
    `{ name = "token", location = "${token!.writeUrl}", token = "relay:pw" }`,
    `{ name = "pass", location = "${pass!.writeUrl}" }`,
    `{ name = "v2", location = "${v2!.url}/api/v2/write", api = "v2" }`,
  ], async (url, fakes) => {
    const response = await post(
      `${url}/write?db=x&u=client&p=client-pw`,
      "cpu v=1 1\n",
    );
    assert.equal(response.status, 204);
    const [own, token, pass, v2] = await received(fakes);
    assert.equal(own!.query, "db=x");
    assert.equal(
      own!.headers.get("authorization"),
      `Basic ${btoa("relay:relay-pw")}`,
    );
    assert.equal(token!.query, "db=x");
    assert.equal(token!.headers.get("authorization"), "Token relay:pw");
    assert.equal(pass!.query, "db=x&p=client-pw&u=client");
    assert.equal(pass!.headers.get("authorization"), null);
    // InfluxDB 2.x and 3 read v1 `p` as a token: the v2 API gets it so.
    assert.equal(v2!.query, "bucket=x%2Fautogen&precision=ns");
    assert.equal(v2!.headers.get("authorization"), "Token client-pw");
  });
});

Deno.test("relay reads an output token from the environment", async () => {
  const variable = "RELAY_TEST_TOKEN_INFLUX_API";
  Deno.env.set(variable, "token-from-env");
  try {
    await withBackends(1, ([v2]) => [
      `{ name = "v2", location = "${
        v2!.url
      }/api/v2/write", api = "v2", token = "\${${variable}}" }`,
    ], async (url, [fake]) => {
      const response = await post(`${url}/write?db=x`, "cpu v=1 1\n");
      assert.equal(response.status, 204);
      await fake!.waitForRequests(1);
      assert.equal(
        fake!.requests[0]!.headers.get("authorization"),
        "Token token-from-env",
      );
    });
  } finally {
    Deno.env.delete(variable);
  }
});

Deno.test("relay logs no output secret when a backend fails", async () => {
  const refused = `http://127.0.0.1:${reservedPortThatRefuses()}`;
  await using relay = await startRelay(`
[[http]]
name = "secrets"
bind-addr = "127.0.0.1:0"
output = [
  { name = "v1", location = "${refused}/write", username = "me", password = "PASSWORD-1" },
  { name = "v2", location = "${refused}/api/v2/write", api = "v2", token = "TOKEN-2" },
]
`);
  const response = await fetch(`${relay.url}/write?db=x&u=c&p=CLIENT-3`, {
    method: "POST",
    body: "cpu v=1 1\n",
  });
  assert.equal(response.status, 503);
  assert.deepEqual(await response.json(), { error: "unable to write points" });
  const logged = JSON.stringify(
    relay.logs.map((r) => [r.message, r.properties]),
    (_key, value) => typeof value === "bigint" ? String(value) : value,
  );
  assert.match(logged, /Problem posting to relay/);
  assert.doesNotMatch(logged, /PASSWORD-1|TOKEN-2|CLIENT-3/);
});

Deno.test("relay answers /health for InfluxDB 2.x clients and /api/v2/write errors in 2.x form", async () => {
  await using relay = await startRelay(`
[[http]]
name = "health"
bind-addr = "127.0.0.1:0"
`);
  // No outputs: every write answers 503, so /health says "fail" (in the
  // InfluxDB 2.x shape a v2 client reads) and a load balancer gets 503.
  const health = await fetch(`${relay.url}/health`);
  assert.equal(health.status, 503);
  const body = await health.json();
  assert.equal(body.status, "fail");
  assert.equal(body.health, "unhealthy");
  assert.equal(body.name, "influxdb-relay");
  assert.deepEqual(body.checks, []);
  const unavailable = await fetch(`${relay.url}/api/v2/write?bucket=b`, {
    method: "POST",
    body: "cpu v=1 1\n",
  });
  assert.equal(unavailable.status, 503);
  assert.deepEqual(await unavailable.json(), {
    code: "unavailable",
    message: "unable to write points",
  });
});
