import assert from "node:assert/strict";
import {
  createAdminHandler,
  createAdminListenerHandler,
} from "./admin_routes.ts";
import { bufferedOutput, plainOutput, relayStatus } from "./_status_fixture.ts";

const snapshot = () => Promise.resolve(relayStatus());

Deno.test("createAdminHandler() answers /health with the relay's own backends", async () => {
  const admin = createAdminHandler({ snapshot, relay: "h" });
  const response = await admin(new Request("http://relay/health"), "/health")!;
  assert.equal(response.status, 200);
  assert.equal(
    response.headers.get("content-type"),
    "application/json; charset=utf-8",
  );
  const body = await response.json();
  assert.equal(body.health, "degraded");
  assert.deepEqual(body.checks.map((c: { name: string }) => c.name), [
    "a",
    "b",
  ]);
});

Deno.test("createAdminHandler() answers /health 503 when no backend can take writes, also to HEAD", async () => {
  const admin = createAdminHandler({
    snapshot: () =>
      Promise.resolve(
        relayStatus([bufferedOutput("down"), plainOutput("down")]),
      ),
    relay: "h",
  });
  const get = await admin(new Request("http://relay/health"), "/health")!;
  assert.equal(get.status, 503);
  assert.equal((await get.json()).status, "fail");
  const head = await admin(
    new Request("http://relay/health", { method: "HEAD" }),
    "/health",
  )!;
  assert.equal(head.status, 503);
  assert.equal(await head.text(), "");
});

Deno.test("createAdminHandler() answers /metrics in the text format and /status as JSON", async () => {
  const admin = createAdminHandler({ snapshot });
  const metrics = await admin(new Request("http://relay/metrics"), "/metrics")!;
  assert.equal(
    metrics.headers.get("content-type"),
    "text/plain; version=0.0.4; charset=utf-8",
  );
  assert.match(
    await metrics.text(),
    /^influxdb_relay_backend_up\{relay="h",backend="a"\} 0$/m,
  );
  const status = await admin(new Request("http://relay/status"), "/status")!;
  assert.equal(status.status, 200);
  assert.equal((await status.json()).totals.requests, 12);
});

Deno.test("createAdminHandler() answers other methods 405 and declines other paths", async () => {
  const admin = createAdminHandler({ snapshot });
  const post = await admin(
    new Request("http://relay/metrics", { method: "POST", body: "x" }),
    "/metrics",
  )!;
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET, HEAD");
  await post.body?.cancel();
  assert.equal(admin(new Request("http://relay/write"), "/write"), null);
});

Deno.test("createAdminListenerHandler() answers /ping, the admin paths for every relay, and 404", async () => {
  const handle = createAdminListenerHandler({ snapshot });
  const ping = await handle(new Request("http://admin/ping"));
  assert.equal(ping.status, 204);
  const health = await handle(new Request("http://admin/health"));
  assert.deepEqual(
    (await health.json()).checks.map((c: { name: string }) => c.name),
    ["a", "b", "u1"],
  );
  const write = await handle(
    new Request("http://admin/write?db=x", { method: "POST", body: "x" }),
  );
  assert.equal(write.status, 404);
  assert.deepEqual(await write.json(), { error: "not found" });
});
