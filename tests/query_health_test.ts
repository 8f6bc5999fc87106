/**
 * A query that gets no answer marks its backend down, so the next reads
 * go straight to a backend that answers instead of waiting on the dead one
 * until the next probe.
 */
import assert from "node:assert/strict";
import { reservedPortThatRefuses, startFakeBackend } from "./_fake_backend.ts";
import { startRelay } from "./_relay.ts";

Deno.test("a /query to a backend that refuses the connection marks it down for the next reads", async () => {
  await using good = await startFakeBackend({
    respond: () => ({
      status: 200,
      headers: { "Content-Type": "application/json" },
      body: '{"results":[{"statement_id":0}]}',
    }),
  });
  const refused = reservedPortThatRefuses();
  await using relay = await startRelay(`
[[http]]
name = "r"
bind-addr = "127.0.0.1:0"
output = [
  { name = "dead", location = "http://127.0.0.1:${refused}/write", health-check-interval = "0" },
  { name = "good", location = "${good.url}/write", health-check-interval = "0" },
]
`);
  const read = async () => {
    const response = await fetch(
      `${relay.url}/query?db=d&q=${encodeURIComponent("SELECT * FROM m")}`,
    );
    assert.equal(response.status, 200, await response.clone().text());
    return await response.text();
  };
  assert.equal(await read(), '{"results":[{"statement_id":0}]}');
  const tried = () =>
    relay.messages().filter((m) =>
      m.startsWith('Query to backend "dead" of relay "r" failed, trying "good"')
    ).length;
  assert.equal(tried(), 1);
  assert.ok(
    relay.messages().some((m) =>
      /^Backend "dead" of relay "r" down: query failed: .*ECONNREFUSED/.test(m)
    ),
    relay.messages().join("\n"),
  );
  // The dead backend is down now: the next reads do not try it first.
  assert.equal(await read(), '{"results":[{"statement_id":0}]}');
  assert.equal(await read(), '{"results":[{"statement_id":0}]}');
  assert.equal(tried(), 1);
  assert.equal(good.requests.filter((r) => r.path === "/query").length, 3);
});
