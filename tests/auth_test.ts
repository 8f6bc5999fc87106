/**
 * Relay-side authentication end to end: a listener with users and tokens
 * (in the config, hashed; from the environment; from a credential file)
 * answers 401 to missing or wrong credentials and sends nothing to its
 * backends; good credentials are checked by the relay and not forwarded.
 */
import assert from "node:assert/strict";
import { startFakeBackend } from "./_fake_backend.ts";
import { startRelay } from "./_relay.ts";
import { sha256Hex } from "../relay/client_auth.ts";

const LINE = "cpu,host=a value=1 1000\n";

Deno.test("relay with auth refuses missing and wrong credentials with 401 and forwards nothing", async () => {
  await using backend = await startFakeBackend();
  const dir = await Deno.makeTempDir({ prefix: "relay-auth-" });
  try {
    await Deno.writeTextFile(
      `${dir}/credentials`,
      "# from a file\nuser filed file-secret\ntoken file-token\n",
    );
    Deno.env.set("RELAY_TEST_TOKEN", "env-token");
    await using relay = await startRelay(`
[[http]]
name = "auth"
bind-addr = "127.0.0.1:0"
auth-users = [{ name = "telegraf", password = "sha256:${
      sha256Hex("telegraf-secret")
    }" }]
auth-tokens = ["sha256:${sha256Hex("hashed-token")}", "\${RELAY_TEST_TOKEN}"]
auth-file = "${dir}/credentials"
output = [{ name = "b", location = "${backend.writeUrl}" }]
`);
    const refused: [string, RequestInit, string][] = [
      ["/write?db=x", {}, "unable to parse authentication credentials"],
      [
        "/write?db=x",
        { headers: { Authorization: `Basic ${btoa("telegraf:nope")}` } },
        "authorization failed",
      ],
      ["/write?db=x&u=telegraf&p=nope", {}, "authorization failed"],
      [
        "/write?db=x",
        { headers: { Authorization: "Token wrong-token" } },
        "authorization failed",
      ],
      [
        "/write?db=x",
        { headers: { Authorization: "Bearer " } },
        "unable to parse authentication credentials",
      ],
    ];
    for (const [path, init, message] of refused) {
      const response = await fetch(`${relay.url}${path}`, {
        method: "POST",
        body: LINE,
        ...init,
      });
      assert.equal(response.status, 401, path);
      assert.equal(
        response.headers.get("www-authenticate"),
        'Basic realm="InfluxDB"',
      );
      assert.deepEqual(await response.json(), { error: message });
    }
    const v2 = await fetch(`${relay.url}/api/v2/write?bucket=x`, {
      method: "POST",
      body: LINE,
    });
    assert.equal(v2.status, 401);
    await v2.body?.cancel();
    assert.equal(backend.requests.length, 0, "nothing reached the backend");

    const ping = await fetch(`${relay.url}/ping`);
    assert.equal(ping.status, 204);
    const health = await fetch(`${relay.url}/health`);
    assert.equal(health.status, 401, "/health needs credentials");
    await health.body?.cancel();

    const accepted: [string, RequestInit][] = [
      [
        "/write?db=x",
        {
          headers: {
            Authorization: `Basic ${btoa("telegraf:telegraf-secret")}`,
          },
        },
      ],
      ["/write?db=x&u=filed&p=file-secret", {}],
      ["/write?db=x", { headers: { Authorization: "Token hashed-token" } }],
      ["/write?db=x", { headers: { Authorization: "Token env-token" } }],
      ["/api/v2/write?bucket=x", {
        headers: { Authorization: "Token file-token" },
      }],
    ];
    for (const [path, init] of accepted) {
      const response = await fetch(`${relay.url}${path}`, {
        method: "POST",
        body: LINE,
        ...init,
      });
      assert.equal(response.status, 204, path);
      await response.body?.cancel();
    }
    assert.equal(backend.requests.length, accepted.length);
    for (const request of backend.requests) {
      assert.equal(request.headers.get("authorization"), null);
      assert.ok(!/(^|&)[up]=/.test(request.query), request.query);
    }
  } finally {
    Deno.env.delete("RELAY_TEST_TOKEN");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("relay with forward-credentials passes the checked credentials on", async () => {
  await using backend = await startFakeBackend();
  await using relay = await startRelay(`
[[http]]
name = "auth"
bind-addr = "127.0.0.1:0"
auth-tokens = ["sha256:${sha256Hex("t")}"]
forward-credentials = true
auth-admin-endpoints = false
output = [{ name = "b", location = "${backend.writeUrl}" }]
`);
  const response = await fetch(`${relay.url}/write?db=x`, {
    method: "POST",
    body: LINE,
    headers: { Authorization: "Token t" },
  });
  assert.equal(response.status, 204);
  assert.equal(backend.requests[0]?.headers.get("authorization"), "Token t");
  const health = await fetch(`${relay.url}/health`);
  assert.notEqual(health.status, 401);
  await health.body?.cancel();
});
