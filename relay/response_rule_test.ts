import assert from "node:assert/strict";
import type { BackendFailure, BackendResponse } from "./backend.ts";
import { decideResponse } from "./response_rule.ts";

function answer(status: number, body = ""): BackendResponse {
  return {
    kind: "response",
    status,
    body: new TextEncoder().encode(body),
    contentType: body === "" ? null : "application/json",
  };
}

const failed: BackendFailure = {
  kind: "failure",
  error: new Error("connection refused"),
};

Deno.test("decideResponse() accepts on the first 2xx, even before others finish", () => {
  assert.deepEqual(decideResponse([answer(200)], 2), { kind: "accepted" });
  assert.deepEqual(decideResponse([answer(204)], 3), { kind: "accepted" });
  assert.deepEqual(decideResponse([answer(500), answer(204)], 3), {
    kind: "accepted",
  });
});

Deno.test("decideResponse() forwards the first 4xx when it arrives before a 2xx", () => {
  const bad = answer(400, '{"error":"bad"}');
  assert.deepEqual(decideResponse([bad], 2), {
    kind: "forward",
    response: bad,
  });
  assert.deepEqual(decideResponse([bad, answer(204)], 2), {
    kind: "forward",
    response: bad,
  });
  assert.deepEqual(decideResponse([answer(204), bad], 2), { kind: "accepted" });
});

Deno.test("decideResponse() waits while only 5xx or failures have arrived", () => {
  assert.equal(decideResponse([], 2), null);
  assert.equal(decideResponse([answer(500)], 2), null);
  assert.equal(decideResponse([failed], 2), null);
});

Deno.test("decideResponse() forwards the last 5xx once every backend finished", () => {
  const slow = answer(503, "slow");
  assert.deepEqual(decideResponse([answer(500, "fast"), slow], 2), {
    kind: "forward",
    response: slow,
  });
  const only = answer(502);
  assert.deepEqual(decideResponse([only, failed], 2), {
    kind: "forward",
    response: only,
  });
});

Deno.test("decideResponse() is unavailable when no backend answered", () => {
  assert.deepEqual(decideResponse([failed, failed], 2), {
    kind: "unavailable",
  });
  assert.deepEqual(decideResponse([], 0), { kind: "unavailable" });
});

Deno.test("decideResponse() treats 1xx and 3xx like 5xx", () => {
  const moved = answer(301);
  assert.equal(decideResponse([moved], 2), null);
  assert.deepEqual(decideResponse([moved, failed], 2), {
    kind: "forward",
    response: moved,
  });
});
