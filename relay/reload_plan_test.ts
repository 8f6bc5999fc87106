import assert from "node:assert/strict";
import { parseConfig } from "./config.ts";
import { planReload, sameConfig } from "./reload_plan.ts";

const A = "http://127.0.0.1:8086/write";
const B = "http://127.0.0.1:7086/write";

function config(text: string) {
  return parseConfig(text, { env: () => undefined });
}

const base = config(`
[[http]]
name = "h"
bind-addr = "127.0.0.1:9096"
output = [
  { name = "a", location = "${A}", buffer-size-mb = 8 },
  { name = "b", location = "${B}" },
]

[[udp]]
name = "u"
bind-addr = "127.0.0.1:9096"
output = [{ name = "ua", location = "127.0.0.1:8089" }]
`);

Deno.test("sameConfig() compares parsed configs deeply", () => {
  assert.ok(sameConfig(base, structuredClone(base)));
  assert.ok(!sameConfig({ a: [1, 2] }, { a: [1, 3] }));
  assert.ok(!sameConfig({ a: 1 }, { a: 1, b: undefined }));
  assert.ok(!sameConfig([1], { 0: 1 }));
  assert.ok(sameConfig(null, null));
  assert.ok(!sameConfig(null, {}));
});

Deno.test("planReload() changes nothing for the same config", () => {
  const plan = planReload(base, structuredClone(base));
  assert.ok(plan.unchanged);
  assert.deepEqual(plan.http.map((h) => [h.action, h.outputs, h.retired]), [
    ["keep", [0, 1], []],
  ]);
  assert.deepEqual(plan.udp.map((u) => u.action), ["keep"]);
  assert.equal(plan.admin.action, "none");
});

Deno.test("planReload() keeps the socket and unchanged outputs when settings change", () => {
  const next = config(`
[[http]]
name = "h"
bind-addr = "127.0.0.1:9096"
ack = "all"
output = [
  { name = "c", location = "${B}" },
  { name = "a", location = "${A}", buffer-size-mb = 8 },
  { name = "b", location = "${B}", timeout = "1s" },
]

[[udp]]
name = "u"
bind-addr = "127.0.0.1:9096"
output = [{ name = "ua", location = "127.0.0.1:8089" }]
`);
  const plan = planReload(base, next);
  assert.ok(!plan.unchanged);
  const [http] = plan.http;
  assert.equal(http?.action, "keep");
  // c is new, a is kept, b changed: retired and started anew.
  assert.deepEqual(http?.outputs, [null, 0, null]);
  assert.deepEqual(http?.retired, [1]);
  assert.equal(plan.udp[0]?.action, "keep");
});

Deno.test("planReload() rebinds a listener whose address or TLS files changed", () => {
  const moved = config(`
[[http]]
name = "h"
bind-addr = "127.0.0.1:9097"
output = [
  { name = "a", location = "${A}", buffer-size-mb = 8 },
  { name = "b", location = "${B}" },
]
`);
  const plan = planReload(base, moved);
  assert.equal(plan.http[0]?.action, "rebind");
  assert.deepEqual(plan.http[0]?.outputs, [0, 1]);
  assert.deepEqual(plan.udp.map((u) => [u.name, u.action]), [["u", "stop"]]);
  const renewed = planReload(base, structuredClone(base), {
    tlsChanged: new Set(["h"]),
  });
  assert.equal(renewed.http[0]?.action, "rebind");
  assert.ok(!renewed.unchanged);
});

Deno.test("planReload() starts, stops and restarts whole sections", () => {
  const next = config(`
[[http]]
name = "h2"
bind-addr = "127.0.0.1:9098"
output = [{ name = "a", location = "${A}" }]

[[udp]]
name = "u"
bind-addr = "127.0.0.1:9096"
precision = "s"
output = [{ name = "ua", location = "127.0.0.1:8089" }]

[admin]
bind-addr = "127.0.0.1:9099"
`);
  const plan = planReload(base, next);
  assert.deepEqual(plan.http.map((h) => [h.name, h.action, h.retired]), [
    ["h2", "start", []],
    ["h", "stop", [0, 1]],
  ]);
  assert.deepEqual(plan.udp.map((u) => [u.name, u.action]), [["u", "restart"]]);
  assert.equal(plan.admin.action, "start");
  assert.equal(planReload(next, base).admin.action, "stop");
});
