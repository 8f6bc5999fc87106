import assert from "node:assert/strict";
import { ClientAuth, sha256Hex } from "./client_auth.ts";
import { createHttpHandler, type WriteTarget } from "./http_listener.ts";
import { HttpListenerStats } from "./http_listener_stats.ts";
import { silentLogger } from "../tests/_recording_logger.ts";

const target: WriteTarget = {
  write: () => Promise.resolve({ kind: "accepted" }),
};

const silent = silentLogger;

Deno.test("createHttpHandler() answers /query 404 invalid write endpoint without a query handler", async () => {
  const handle = createHttpHandler(target, { name: "t", logger: silent });
  const response = await handle(
    new Request("http://relay/query?q=SHOW+DATABASES"),
  );
  assert.equal(response.status, 404);
  assert.deepEqual(await response.json(), { error: "invalid write endpoint" });
});

Deno.test("createHttpHandler() hands /query to the query handler and counts it under /query", async () => {
  const seen: string[] = [];
  const stats = new HttpListenerStats();
  const handle = createHttpHandler(target, {
    name: "t",
    logger: silent,
    stats,
    query(request) {
      seen.push(`${request.method} ${new URL(request.url).search}`);
      return Promise.resolve(new Response("{}", { status: 200 }));
    },
  });
  for (const method of ["GET", "POST"]) {
    const response = await handle(
      new Request("http://relay/query?q=SHOW+DATABASES", { method }),
    );
    assert.equal(response.status, 200);
    await response.body?.cancel();
  }
  assert.deepEqual(seen, ["GET ?q=SHOW+DATABASES", "POST ?q=SHOW+DATABASES"]);
  assert.deepEqual(
    stats.snapshot().requests.filter((r) => r.path === "/query"),
    [{ path: "/query", status: 200, count: 2 }],
  );
});

Deno.test("createHttpHandler() checks the client's credentials before /query when the relay asks for them", async () => {
  let calls = 0;
  const handle = createHttpHandler(target, {
    name: "t",
    logger: silent,
    auth: new ClientAuth({
      users: [{ name: "grafana", sha256: sha256Hex("secret") }],
    }),
    query() {
      calls++;
      return Promise.resolve(new Response("{}", { status: 200 }));
    },
  });
  const refused = await handle(
    new Request("http://relay/query?q=SHOW+DATABASES"),
  );
  assert.equal(refused.status, 401);
  await refused.body?.cancel();
  assert.equal(calls, 0);
  const accepted = await handle(
    new Request("http://relay/query?q=SHOW+DATABASES&u=grafana&p=secret"),
  );
  assert.equal(accepted.status, 200);
  await accepted.body?.cancel();
  assert.equal(calls, 1);
});
