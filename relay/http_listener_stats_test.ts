import assert from "node:assert/strict";
import { countedPath, HttpListenerStats } from "./http_listener_stats.ts";

Deno.test("HttpListenerStats.snapshot() lists requests by path, then status", () => {
  const stats = new HttpListenerStats();
  stats.countRequest("/write", 204);
  stats.countRequest("other", 404);
  stats.countRequest("/write", 400);
  stats.countRequest("/write", 204);
  stats.countBytes(120);
  stats.countPoints(10);
  stats.countParseError();
  assert.deepEqual(stats.snapshot(), {
    requests: [
      { path: "/write", status: 204, count: 2 },
      { path: "/write", status: 400, count: 1 },
      { path: "other", status: 404, count: 1 },
    ],
    bytesReceived: 120,
    pointsReceived: 10,
    parseErrors: 1,
  });
});

Deno.test("countedPath() counts unknown paths as other", () => {
  assert.equal(countedPath("/write"), "/write");
  assert.equal(countedPath("/metrics"), "/metrics");
  assert.equal(countedPath("/query"), "/query");
  assert.equal(countedPath("/query/"), "other");
  assert.equal(countedPath("/write/"), "other");
});
