import assert from "node:assert/strict";
import { batchKey, type WriteBatch } from "./batch.ts";

function batch(overrides: Partial<WriteBatch> = {}): WriteBatch {
  return {
    query: "db=x&precision=n",
    auth: null,
    body: new Uint8Array(0),
    points: 0,
    ...overrides,
  };
}

Deno.test("batchKey() is equal for batches with the same query, auth and destination", () => {
  assert.equal(batchKey(batch()), batchKey(batch({ points: 3 })));
  assert.equal(
    batchKey(batch({ destination: "v2?bucket=x&org=a" })),
    batchKey(batch({ destination: "v2?bucket=x&org=a" })),
  );
});

Deno.test("batchKey() differs when the auth or the client's v2/v3 destination differs", () => {
  const keys = [
    batchKey(batch()),
    batchKey(batch({ auth: "Token a" })),
    batchKey(batch({ destination: "v2?bucket=x&org=a" })),
    batchKey(batch({ destination: "v2?bucket=x&org=b" })),
    batchKey(batch({ destination: "v3?db=x" })),
  ];
  assert.equal(new Set(keys).size, keys.length);
});
