import assert from "node:assert/strict";
import type {
  BackendFailure,
  BackendResponse,
  BackendResult,
  BackendSent,
} from "./backend.ts";
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

Deno.test("decideResponse() accepts a sent datagram like a 2xx", () => {
  const sent: BackendSent = { kind: "sent" };
  assert.deepEqual(decideResponse([sent], 2), { kind: "accepted" });
  assert.deepEqual(decideResponse([failed, sent], 2), { kind: "accepted" });
  const bad = answer(400);
  assert.deepEqual(decideResponse([bad, sent], 2), {
    kind: "forward",
    response: bad,
  });
});

Deno.test("decideResponse() treats 1xx and 3xx like 5xx", () => {
  const moved = answer(301);
  assert.equal(decideResponse([moved], 2), null);
  assert.deepEqual(decideResponse([moved, failed], 2), {
    kind: "forward",
    response: moved,
  });
});

const queued: BackendResult = {
  kind: "queued",
  durable: true,
  delivered: new Promise(() => {}),
};

Deno.test("decideResponse() counts a queued outcome as stored", () => {
  assert.deepEqual(decideResponse([queued], 2), { kind: "accepted" });
  assert.deepEqual(decideResponse([queued], 2, { ack: "all" }), null);
  assert.deepEqual(decideResponse([queued, answer(204)], 2, { ack: "all" }), {
    kind: "accepted",
  });
});

Deno.test("decideResponse() with ack all waits for every backend", () => {
  const all = { ack: "all" } as const;
  assert.equal(decideResponse([answer(204)], 2, all), null);
  assert.deepEqual(decideResponse([answer(204), answer(204)], 2, all), {
    kind: "accepted",
  });
  assert.deepEqual(decideResponse([answer(204), failed], 2, all), {
    kind: "insufficient",
    stored: 1,
    needed: 2,
    backends: 2,
    ack: "all",
  });
  const bad = answer(400, "bad");
  assert.deepEqual(decideResponse([answer(204), bad], 2, all), {
    kind: "forward",
    response: bad,
  });
  const down = answer(503, "down");
  assert.deepEqual(decideResponse([failed, down], 2, all), {
    kind: "forward",
    response: down,
  });
});

Deno.test("decideResponse() with ack majority needs more than half", () => {
  const majority = { ack: "majority" } as const;
  assert.equal(decideResponse([answer(204)], 3, majority), null);
  assert.deepEqual(decideResponse([answer(204), answer(200)], 3, majority), {
    kind: "accepted",
  });
  // One 4xx still leaves two backends that may store it.
  assert.equal(decideResponse([answer(400)], 3, majority), null);
  assert.deepEqual(
    decideResponse([answer(204), failed, failed], 3, majority),
    {
      kind: "insufficient",
      stored: 1,
      needed: 2,
      backends: 3,
      ack: "majority",
    },
  );
  assert.equal(decideResponse([answer(204)], 2, majority), null);
});

Deno.test("decideResponse() is unavailable with no backends whatever the policy", () => {
  for (const ack of ["first", "all", "majority"] as const) {
    assert.deepEqual(decideResponse([], 0, { ack }), { kind: "unavailable" });
  }
});
