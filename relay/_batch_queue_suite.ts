/**
 * The test suite every {@linkcode BatchQueue} implementation passes (memory
 * and disk alike), after Telegraf's shared buffer suite.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  type BatchQueue,
  BufferFullError,
  type FullPolicy,
  type NewWrite,
} from "./batch_queue.ts";

/** Creates a fresh queue for one test. */
export interface QueueFactoryOptions {
  /** Bound on queued bytes. */
  maxBytes: number;
  /** Full policy. */
  fullPolicy: FullPolicy;
}

/** How the suite makes queues. */
export interface QueueSuiteOptions {
  /** A new, empty queue. */
  create(options: QueueFactoryOptions): Promise<BatchQueue>;
  /**
   * Closes the queue and opens it again from the same storage, for durable
   * queues; omit for queues that do not survive a restart.
   */
  reopen?(queue: BatchQueue, options: QueueFactoryOptions): Promise<BatchQueue>;
  /** Frees what `create` allocated (temp dirs). */
  cleanup?(): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function write(
  text: string,
  query = "db=x",
  auth: string | null = null,
  acceptedAt = 1000,
): NewWrite {
  return {
    query,
    auth,
    body: encoder.encode(text),
    points: text.split("\n").filter((l) => l !== "").length,
    acceptedAt,
  };
}

/**
 * Registers the shared tests for one queue implementation.
 *
 * @param name The implementation's name, prefixed to every test name.
 * @param suite How to create (and reopen) queues.
 */
export function defineQueueSuite(name: string, suite: QueueSuiteOptions): void {
  async function withQueue(
    options: Partial<QueueFactoryOptions>,
    fn: (
      queue: BatchQueue,
      options: QueueFactoryOptions,
    ) => Promise<BatchQueue | void>,
  ): Promise<void> {
    const full: QueueFactoryOptions = {
      maxBytes: 1 << 20,
      fullPolicy: "reject",
      ...options,
    };
    let queue = await suite.create(full);
    try {
      queue = (await fn(queue, full)) ?? queue;
    } finally {
      await queue.close();
      await suite.cleanup?.();
    }
  }

  Deno.test(`${name}: head() returns null when empty`, async () => {
    await withQueue({}, async (queue) => {
      assert.equal(await queue.head(1024), null);
      assert.equal(queue.length, 0);
      assert.equal(queue.bytes, 0);
      assert.equal(queue.oldestAcceptedAt, null);
    });
  });

  Deno.test(`${name}: writes come out in FIFO order with increasing seq`, async () => {
    await withQueue({}, async (queue) => {
      const seqs: number[] = [];
      for (let i = 0; i < 5; i++) {
        seqs.push((await queue.push(write(`m v=${i} ${i}\n`, `db=${i}`))).seq);
      }
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
      assert.equal(new Set(seqs).size, 5);
      const seen: string[] = [];
      for (;;) {
        const head = await queue.head(1 << 20);
        if (head === null) break;
        seen.push(decoder.decode(head.body));
        await queue.remove(head.lastSeq);
      }
      assert.deepEqual(seen, [0, 1, 2, 3, 4].map((i) => `m v=${i} ${i}\n`));
    });
  });

  Deno.test(`${name}: head() merges consecutive writes with the same query and auth up to maxBytes`, async () => {
    await withQueue({}, async (queue) => {
      await queue.push(write("a v=1 1\n", "db=x", null, 10));
      await queue.push(write("a v=2 2\n", "db=x", null, 20));
      await queue.push(write("a v=3 3\n", "db=x", "Token t", 30));
      await queue.push(write("a v=4 4\n", "db=y", null, 40));
      await queue.push(write("a v=5 5\n", "db=y", null, 50));
      await queue.push(write("a v=6 6\n", "db=y", null, 60));
      const first = await queue.head(1024);
      assert.equal(decoder.decode(first!.body), "a v=1 1\na v=2 2\n");
      assert.equal(first!.points, 2);
      assert.equal(first!.query, "db=x");
      assert.equal(first!.auth, null);
      assert.equal(first!.acceptedAt, 10);
      assert.equal(queue.length, 6, "head() must not remove");
      await queue.remove(first!.lastSeq);
      const second = await queue.head(1024);
      assert.equal(decoder.decode(second!.body), "a v=3 3\n");
      assert.equal(second!.auth, "Token t");
      await queue.remove(second!.lastSeq);
      // maxBytes 16 fits two 8-byte writes, not three.
      const third = await queue.head(16);
      assert.equal(decoder.decode(third!.body), "a v=4 4\na v=5 5\n");
      assert.equal(third!.lastSeq - third!.firstSeq, 1);
      await queue.remove(third!.lastSeq);
      assert.equal(queue.length, 1);
      assert.equal(queue.oldestAcceptedAt, 60);
    });
  });

  Deno.test(`${name}: head() returns a write larger than maxBytes on its own`, async () => {
    await withQueue({}, async (queue) => {
      await queue.push(write("big value=1234567890 1\n"));
      await queue.push(write("a v=1 1\n"));
      const head = await queue.head(4);
      assert.equal(decoder.decode(head!.body), "big value=1234567890 1\n");
      assert.equal(head!.firstSeq, head!.lastSeq);
    });
  });

  Deno.test(`${name}: bytes and length follow push and remove`, async () => {
    await withQueue({}, async (queue) => {
      const a = await queue.push(write("a v=1 1\n"));
      await queue.push(write("bb v=1 1\n"));
      assert.equal(queue.bytes, 17);
      assert.equal(queue.length, 2);
      await queue.remove(a.seq);
      assert.equal(queue.bytes, 9);
      assert.equal(queue.length, 1);
      await queue.remove(a.seq);
      assert.equal(
        queue.length,
        1,
        "removing an already removed seq is a no-op",
      );
    });
  });

  Deno.test(`${name}: reject policy throws BufferFullError and keeps the queue`, async () => {
    await withQueue({ maxBytes: 20, fullPolicy: "reject" }, async (queue) => {
      await queue.push(write("a v=1 1\n"));
      await queue.push(write("a v=2 2\n"));
      await assert.rejects(queue.push(write("a v=3 3\n")), BufferFullError);
      assert.equal(queue.length, 2);
      assert.equal(queue.bytes, 16);
      await assert.rejects(
        queue.push(write("x".repeat(30) + " v=1 1\n")),
        BufferFullError,
      );
    });
  });

  Deno.test(`${name}: drop-oldest policy drops from the head to make room`, async () => {
    await withQueue(
      { maxBytes: 20, fullPolicy: "drop-oldest" },
      async (queue) => {
        const a = await queue.push(write("a v=1 1\n"));
        const b = await queue.push(write("a v=2 2\n"));
        const c = await queue.push(write("a v=3 3\n"));
        assert.deepEqual(c.dropped, { seqs: [a.seq], points: 1, bytes: 8 });
        assert.equal(b.dropped, null);
        assert.equal(queue.length, 2);
        const head = await queue.head(1024);
        assert.equal(decoder.decode(head!.body), "a v=2 2\na v=3 3\n");
        await assert.rejects(
          queue.push(write("x".repeat(30) + " v=1 1\n")),
          BufferFullError,
        );
      },
    );
  });

  if (suite.reopen !== undefined) {
    const reopen = suite.reopen;
    Deno.test(`${name}: queued writes survive a reopen, removed ones do not`, async () => {
      await withQueue({}, async (queue, options) => {
        const a = await queue.push(write("a v=1 1\n", "db=x", "Basic abc", 11));
        await queue.push(write("a v=2 2\n", "db=x", "Basic abc", 22));
        await queue.push(write("a v=3 3\n", "db=y", null, 33));
        await queue.remove(a.seq);
        const reopened = await reopen(queue, options);
        assert.equal(reopened.length, 2);
        assert.equal(reopened.bytes, 16);
        assert.equal(reopened.oldestAcceptedAt, 22);
        const head = await reopened.head(1024);
        assert.equal(decoder.decode(head!.body), "a v=2 2\n");
        assert.equal(head!.auth, "Basic abc");
        assert.ok(head!.firstSeq > a.seq);
        const next = await reopened.push(write("a v=4 4\n", "db=y"));
        assert.ok(
          next.seq > head!.lastSeq,
          "seq keeps increasing after reopen",
        );
        await reopened.remove(head!.lastSeq);
        const rest = await reopened.head(1024);
        assert.equal(decoder.decode(rest!.body), "a v=3 3\na v=4 4\n");
        return reopened;
      });
    });
  }
}
