import assert from "node:assert/strict";
import { defineQueueSuite } from "./_batch_queue_suite.ts";
import { MemoryQueue } from "./memory_queue.ts";

defineQueueSuite("MemoryQueue", {
  create: (options) => Promise.resolve(new MemoryQueue(options)),
});

Deno.test("MemoryQueue() rejects a non-positive bound", () => {
  assert.throws(() => new MemoryQueue({ maxBytes: 0 }), RangeError);
});

Deno.test("MemoryQueue stays FIFO across many pushes and removes", async () => {
  const queue = new MemoryQueue({ maxBytes: 1 << 24 });
  const encoder = new TextEncoder();
  let expected = 0;
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 500; i++) {
      await queue.push({
        query: "db=x",
        auth: null,
        body: encoder.encode(`m v=${round * 500 + i}\n`),
        points: 1,
        acceptedAt: 0,
      });
    }
    for (let i = 0; i < 400; i++) {
      const head = await queue.head(1);
      assert.equal(new TextDecoder().decode(head!.body), `m v=${expected++}\n`);
      await queue.remove(head!.lastSeq);
    }
  }
  assert.equal(queue.length, 2000);
});
