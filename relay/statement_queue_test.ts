import assert from "node:assert/strict";
import { StatementQueue } from "./statement_queue.ts";
import type {
  BackendQuery,
  QueryTarget,
  QueryTargetState,
} from "./query_target.ts";
import { recordingLogger } from "../tests/_recording_logger.ts";

function statement(q: string): BackendQuery {
  return {
    method: "POST",
    params: [["q", q]],
    authorization: null,
    acceptEncoding: null,
  };
}

/** A backend that answers each query with `answer` and records it. */
function backend(
  answer: (q: string) => Response | Promise<Response>,
  initial: QueryTargetState = "down",
) {
  const sent: string[] = [];
  const target: QueryTarget & { current: QueryTargetState } = {
    name: "b",
    takesWrites: true,
    current: initial,
    state() {
      return this.current;
    },
    latencyMs: () => null,
    send(query) {
      const q = query.params.find(([key]) => key === "q")![1];
      sent.push(q);
      return Promise.resolve().then(() => answer(q));
    },
  };
  return { target, sent };
}

const OK = () =>
  new Response('{"results":[{"statement_id":0}]}', {
    headers: { "content-type": "application/json" },
  });

/** Fails the test when `promise` takes longer than `ms`. */
async function within<T>(promise: Promise<T>, ms = 5000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`not settled within ${ms}ms`)),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("StatementQueue.push() replays queued statements in order once the backend is no longer down", async () => {
  let reachable = false;
  const { target, sent } = backend(() => {
    if (!reachable) throw new Error("connect ECONNREFUSED");
    return OK();
  });
  const logger = recordingLogger();
  const queue = new StatementQueue(target, {
    relay: "r",
    logger,
    retryMs: 5,
    maxDelayMs: 20,
  });
  try {
    assert.equal(
      queue.push(statement("CREATE DATABASE a"), "CREATE DATABASE a"),
      true,
    );
    assert.equal(
      queue.push(statement("CREATE DATABASE b"), "CREATE DATABASE b"),
      true,
    );
    assert.equal(queue.length, 2);
    reachable = true;
    target.current = "up";
    await within(queue.idle());
    assert.equal(queue.length, 0);
    const delivered = sent.filter((_, i) => i >= sent.length - 2);
    assert.deepEqual(delivered, ["CREATE DATABASE a", "CREATE DATABASE b"]);
    assert.ok(
      logger.logged.some((l) =>
        l.level === "info" && l.message.startsWith("Applied queued") &&
        l.properties.statement === "CREATE DATABASE b"
      ),
    );
    assert.ok(
      logger.logged.some((l) =>
        l.message.includes("applied every queued statement") &&
        l.properties.count === 2
      ),
    );
  } finally {
    await queue.close();
  }
});

Deno.test("StatementQueue.push() keeps a statement at the head while the backend answers 5xx", async () => {
  let attempts = 0;
  const { target, sent } = backend(() => {
    attempts++;
    return attempts < 3
      ? new Response('{"error":"timeout"}', { status: 500 })
      : OK();
  }, "up");
  const queue = new StatementQueue(target, {
    relay: "r",
    logger: recordingLogger(),
    retryMs: 2,
    maxDelayMs: 4,
  });
  try {
    queue.push(statement("DROP DATABASE a"), "DROP DATABASE a");
    queue.push(statement("DROP DATABASE b"), "DROP DATABASE b");
    await within(queue.idle());
    assert.deepEqual(sent, [
      "DROP DATABASE a",
      "DROP DATABASE a",
      "DROP DATABASE a",
      "DROP DATABASE b",
    ]);
  } finally {
    await queue.close();
  }
});

Deno.test("StatementQueue.push() drops a statement the backend rejects, with an error log", async () => {
  const { target } = backend(
    () =>
      new Response(
        '{"results":[{"statement_id":0,"error":"retention policy conflicts"}]}',
      ),
    "up",
  );
  const logger = recordingLogger();
  const queue = new StatementQueue(target, {
    relay: "r",
    logger,
    retryMs: 2,
  });
  try {
    queue.push(statement("CREATE RETENTION POLICY"), "CREATE RETENTION POLICY");
    await within(queue.idle());
    const rejected = logger.logged.find((l) => l.level === "error");
    assert.equal(
      rejected?.message,
      'Backend "{backend}" of relay "{relay}" rejected queued "{statement}": {error}',
    );
    assert.equal(rejected?.properties.error, "retention policy conflicts");
  } finally {
    await queue.close();
  }
});

Deno.test("StatementQueue.push() refuses statements beyond maxLength", async () => {
  const { target } = backend(() => {
    throw new Error("down");
  });
  const queue = new StatementQueue(target, {
    relay: "r",
    logger: recordingLogger(),
    maxLength: 1,
  });
  try {
    assert.equal(queue.push(statement("a"), "a"), true);
    assert.equal(queue.full, true);
    assert.equal(queue.push(statement("b"), "b"), false);
    assert.equal(queue.length, 1);
  } finally {
    await queue.close();
  }
});

Deno.test("StatementQueue.close() stops replaying and logs what was never applied", async () => {
  const { target } = backend(() => {
    throw new Error("down");
  });
  const logger = recordingLogger();
  const queue = new StatementQueue(target, {
    relay: "r",
    logger,
    retryMs: 1,
  });
  queue.push(statement("CREATE DATABASE a"), "CREATE DATABASE a");
  await queue.close();
  assert.equal(queue.push(statement("b"), "b"), false);
  const lost = logger.logged.find((l) => l.level === "error");
  assert.equal(lost?.properties.statements, "CREATE DATABASE a");
  assert.equal(lost?.properties.count, 1);
});
