import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import type {
  Backend,
  BackendFailure,
  BackendQueued,
  BackendResponse,
  BackendResult,
} from "./backend.ts";
import type { WriteBatch } from "./batch.ts";
import { getRelayLogger, renderMessage, setupLogging } from "./log.ts";
import { MemoryQueue } from "./memory_queue.ts";
import {
  classify,
  RetryBuffer,
  type RetryBufferOptions,
} from "./retry_buffer.ts";
import { recordingLogger } from "../tests/_recording_logger.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function response(
  status: number,
  body = "",
  retryAfter?: string,
): BackendResponse {
  return {
    kind: "response",
    status,
    body: encoder.encode(body),
    contentType: null,
    retryAfter: retryAfter ?? null,
  };
}

const refused: BackendResult = {
  kind: "failure",
  error: new Error("connect ECONNREFUSED"),
};

function batch(text: string, query = "db=x"): WriteBatch {
  return { query, auth: null, body: encoder.encode(text), points: 1 };
}

/** A backend that answers from a script and records what it received. */
class ScriptedBackend implements Backend {
  readonly name = "b";
  readonly received: { query: string; text: string; destination?: string }[] =
    [];
  answer: (text: string, attempt: number) => BackendResult;
  closed = false;
  constructor(answer: (text: string, attempt: number) => BackendResult) {
    this.answer = answer;
  }
  write(batch: WriteBatch): Promise<BackendResult> {
    const text = decoder.decode(batch.body);
    this.received.push({
      query: batch.query,
      text,
      ...(batch.destination === undefined
        ? {}
        : { destination: batch.destination }),
    });
    return Promise.resolve(this.answer(text, this.received.length));
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

interface Harness {
  buffer: RetryBuffer;
  backend: ScriptedBackend;
  sleeps: number[];
  now: { value: number };
}

function harness(
  answer: (text: string, attempt: number) => BackendResult,
  options: Partial<RetryBufferOptions> = {},
): Harness {
  const backend = new ScriptedBackend(answer);
  const sleeps: number[] = [];
  const now = { value: 1_000_000 };
  const buffer = new RetryBuffer(backend, {
    queue: new MemoryQueue({ maxBytes: 1 << 20 }),
    logger: getRelayLogger("backend", "b"),
    relay: "r",
    clock: () => now.value,
    sleep: (ms) => {
      sleeps.push(ms);
      now.value += ms;
      return Promise.resolve();
    },
    random: () => 0.999999,
    ...options,
  });
  return { buffer, backend, sleeps, now };
}

async function delivered(result: BackendResult): Promise<BackendResult> {
  assert.equal(result.kind, "queued");
  return await (result as BackendQueued).delivered;
}

Deno.test("classify() retries failures, 5xx, 429 and database not found; rejects other 4xx", () => {
  assert.equal(classify(refused), "retry");
  assert.equal(classify(response(204)), "ok");
  assert.equal(classify(response(200)), "ok");
  assert.equal(classify(response(500)), "retry");
  assert.equal(classify(response(503)), "retry");
  assert.equal(classify(response(429)), "retry");
  assert.equal(classify(response(400, "unable to parse")), "reject");
  assert.equal(classify(response(401)), "reject");
  const notFound = response(404, '{"error":"database not found: \\"x\\""}');
  assert.equal(classify(notFound), "retry");
  assert.equal(classify(notFound, false), "reject");
  assert.equal(classify(response(404, "page not found")), "reject");
  assert.equal(classify({ kind: "sent" }), "ok");
});

Deno.test("RetryBuffer.write() passes a direct answer through when nothing is queued", async () => {
  const { buffer, backend } = harness((text) =>
    text.includes("bad") ? response(400, "bad") : response(204)
  );
  assert.deepEqual(await buffer.write(batch("a v=1 1\n")), response(204));
  const rejected = await buffer.write(batch("bad v=1 1\n"));
  assert.equal(rejected.kind === "response" && rejected.status, 400);
  assert.equal(buffer.queue.length, 0);
  assert.equal(backend.received.length, 2);
  await buffer.close();
});

Deno.test("RetryBuffer.write() does not buffer a direct 404 database not found", async () => {
  const { buffer } = harness(() => response(404, "database not found"));
  const result = await buffer.write(batch("a v=1 1\n"));
  assert.equal(result.kind === "response" && result.status, 404);
  assert.equal(buffer.queue.length, 0);
  await buffer.close();
});

Deno.test("RetryBuffer queues a failed write and delivers it when the backend recovers", async () => {
  const { buffer, backend, sleeps } = harness((_text, attempt) =>
    attempt <= 4 ? response(503, "busy") : response(204)
  );
  const result = await buffer.write(batch("a v=1 1\n"));
  assert.equal((result as BackendQueued).durable, false);
  assert.deepEqual(await delivered(result), response(204));
  assert.equal(backend.received.length, 5);
  // 1 direct attempt + 3 failed retries; back-off doubles from 2×500 ms.
  assert.deepEqual(sleeps.map(Math.round), [1000, 2000, 4000]);
  assert.equal(buffer.stats.delivered, 1);
  assert.equal(buffer.stats.retries, 3);
  assert.equal(buffer.queue.length, 0);
  await buffer.close();
});

Deno.test("RetryBuffer back-off doubles up to max-delay-interval, with jitter below the step", async () => {
  const { buffer, sleeps } = harness(
    (_text, attempt) => attempt <= 9 ? refused : response(204),
    { maxDelayMs: 5000, random: () => 0 },
  );
  await delivered(await buffer.write(batch("a v=1 1\n")));
  // Jitter 0 gives half of each step: 1 s, 2 s, 4 s, 5 s, 5 s … halved.
  assert.deepEqual(sleeps, [500, 1000, 2000, 2500, 2500, 2500, 2500, 2500]);
  await buffer.close();
});

Deno.test("RetryBuffer queues new writes behind queued ones and keeps their order (D10)", async () => {
  let up = false;
  const { buffer, backend } = harness(() => up ? response(204) : refused, {
    sleep: async () => {
      await Promise.resolve();
    },
  });
  const first = await buffer.write(batch("a v=1 1\n"));
  const rest: Promise<BackendResult>[] = [];
  for (let i = 2; i <= 6; i++) {
    rest.push(
      buffer.write(batch(`a v=${i} ${i}\n`, i === 4 ? "db=y" : "db=x")),
    );
  }
  const queuedResults = await Promise.all(rest);
  assert.ok(queuedResults.every((r) => r.kind === "queued"));
  assert.ok(buffer.catchingUp);
  up = true;
  await Promise.all([first, ...queuedResults].map(delivered));
  const successful = backend.received.slice(-3);
  assert.deepEqual(successful, [
    { query: "db=x", text: "a v=1 1\na v=2 2\na v=3 3\n" },
    { query: "db=y", text: "a v=4 4\n" },
    { query: "db=x", text: "a v=5 5\na v=6 6\n" },
  ]);
  assert.equal(buffer.stats.delivered, 6);
  await buffer.close();
});

Deno.test("RetryBuffer drops a batch the backend rejects with 4xx and goes on (D9)", async () => {
  const logs: LogRecord[] = [];
  await using _logging = await setupLogging({ sink: (r) => logs.push(r) });
  let up = false;
  const { buffer, backend } = harness((text) => {
    if (!up) return response(500);
    return text.includes("poison")
      ? response(400, "partial write")
      : response(204);
  });
  const poison = await buffer.write(batch("poison v=1 1\n", "db=p"));
  const good = await buffer.write(batch("good v=1 1\n"));
  up = true;
  const poisonResult = await delivered(poison);
  assert.equal(poisonResult.kind === "response" && poisonResult.status, 400);
  assert.deepEqual(await delivered(good), response(204));
  assert.equal(buffer.stats.dropped.rejected, 1);
  assert.equal(buffer.stats.droppedPoints, 1);
  assert.equal(backend.received.at(-1)!.text, "good v=1 1\n");
  assert.ok(
    logs.map(renderMessage).some((m) =>
      m.startsWith(
        'Dropped 1 writes (1 points) for relay "r" backend "b": the backend rejected them: HTTP 400: partial write',
      )
    ),
  );
  await buffer.close();
});

Deno.test("RetryBuffer keeps retrying 404 database not found until the database exists", async () => {
  let created = false;
  const { buffer, backend } = harness((_text, attempt) => {
    if (attempt === 1) return refused;
    if (attempt === 6) created = true;
    return created
      ? response(204)
      : response(404, '{"error":"database not found: \\"x\\""}');
  });
  const result = await delivered(await buffer.write(batch("a v=1 1\n")));
  assert.deepEqual(result, response(204));
  assert.equal(backend.received.length, 6);
  assert.equal(buffer.stats.dropped.rejected, 0);
  await buffer.close();
});

Deno.test("RetryBuffer honours Retry-After on 429", async () => {
  const { buffer, sleeps } = harness((_text, attempt) =>
    attempt <= 2 ? response(429, "slow down", "7") : response(204)
  );
  await delivered(await buffer.write(batch("a v=1 1\n")));
  assert.deepEqual(sleeps, [7000]);
  await buffer.close();
});

Deno.test("RetryBuffer drops writes older than the maximum age with a log line and a counter", async () => {
  const logs: LogRecord[] = [];
  await using _logging = await setupLogging({ sink: (r) => logs.push(r) });
  const { buffer } = harness(() => refused, { maxAgeMs: 60_000 });
  const result = await delivered(await buffer.write(batch("a v=1 1\n")));
  assert.equal(result.kind, "failure");
  assert.equal(buffer.stats.dropped.expired, 1);
  assert.equal(buffer.queue.length, 0);
  assert.ok(
    logs.map(renderMessage).some((m) =>
      m.includes("older than the maximum age of 60000ms") &&
      m.includes("ECONNREFUSED")
    ),
  );
  await buffer.close();
});

Deno.test("RetryBuffer answers a failure when the buffer is full (reject policy)", async () => {
  const { buffer } = harness(() => refused, {
    queue: new MemoryQueue({ maxBytes: 10 }),
    sleep: () => new Promise(() => {}),
  });
  const first = await buffer.write(batch("a v=1 1\n"));
  assert.equal(first.kind, "queued");
  const second = await buffer.write(batch("a v=2 2\n"));
  assert.equal(second.kind, "failure");
  assert.match((second as { error: Error }).error.message, /retry buffer full/);
  assert.equal(buffer.stats.dropped.full, 1);
});

Deno.test("RetryBuffer.close() makes one last attempt and settles what it could not deliver", async () => {
  const logs: LogRecord[] = [];
  await using _logging = await setupLogging({ sink: (r) => logs.push(r) });
  const { promise: parked, resolve: wakeUp } = Promise.withResolvers<void>();
  const { buffer, backend } = harness(() => refused, {
    sleep: (_ms, signal) => {
      signal.addEventListener("abort", () => wakeUp());
      return parked;
    },
  });
  const queued = await buffer.write(batch("a v=1 1\n"));
  await buffer.close(AbortSignal.timeout(5000));
  const result = await delivered(queued);
  assert.equal(result.kind, "failure");
  assert.ok(backend.received.length >= 2, "no final attempt was made");
  assert.ok(backend.closed);
  assert.ok(
    logs.map(renderMessage).some((m) =>
      m ===
        'Retry buffer of relay "r" backend "b" lost 1 undelivered writes (8 bytes) at shutdown'
    ),
  );
});

Deno.test("RetryBuffer keeps a v2/v3 destination through the queue and merges only equal ones", async () => {
  let up = false;
  const { buffer, backend } = harness(() => up ? response(204) : refused, {
    sleep: async () => {
      await Promise.resolve();
    },
  });
  const writes = [
    { ...batch("a v=1 1\n"), destination: "v2?bucket=x&org=o" },
    { ...batch("a v=2 2\n"), destination: "v2?bucket=x&org=o" },
    { ...batch("a v=3 3\n"), destination: "v2?bucket=x&org=other" },
    batch("a v=4 4\n"),
  ];
  const results = [];
  for (const write of writes) results.push(await buffer.write(write));
  up = true;
  await Promise.all(results.map(delivered));
  assert.deepEqual(backend.received.slice(-3), [
    {
      query: "db=x",
      text: "a v=1 1\na v=2 2\n",
      destination: "v2?bucket=x&org=o",
    },
    { query: "db=x", text: "a v=3 3\n", destination: "v2?bucket=x&org=other" },
    { query: "db=x", text: "a v=4 4\n" },
  ]);
  await buffer.close();
});

Deno.test("RetryBuffer says caught up only when the backend took queued writes", async () => {
  const logger = recordingLogger();
  const { buffer } = harness(
    (_text, attempt) => attempt <= 2 ? refused : response(204),
    { logger },
  );
  await delivered(await buffer.write(batch("a v=1 1\n")));
  await buffer.close();
  const lines = logger.logged.filter((l) => l.level === "info");
  assert.deepEqual(lines.map((l) => l.message), [
    'Backend "{backend}" of relay "{relay}" caught up after {seconds}s: {writes} queued writes delivered',
  ]);
  assert.equal(lines[0]!.properties.writes, 1);
});

Deno.test("RetryBuffer says its queue emptied by expiry while the backend still fails, not caught up", async () => {
  const logger = recordingLogger();
  const { buffer, backend } = harness(() => refused, {
    logger,
    maxAgeMs: 3_000,
  });
  const result = await delivered(await buffer.write(batch("a v=1 1\n")));
  assert.equal(result.kind, "failure");
  await buffer.close();
  assert.ok(backend.received.length >= 2);
  assert.ok(
    !logger.logged.some((l) => l.message.includes("caught up")),
    logger.logged.map((l) => l.message).join("\n"),
  );
  const empty = logger.logged.find((l) => l.message.includes("is empty"));
  assert.deepEqual(empty && [empty.level, empty.message], [
    "warning",
    'Retry buffer of relay "{relay}" backend "{backend}" is empty after {seconds}s, none of its writes delivered: {why}; the backend is still failing',
  ]);
  assert.equal(empty!.properties.why, "1 writes expired");
  assert.equal(empty!.properties.expired, 1);
  assert.equal(empty!.properties.writes, 0);
});

Deno.test("RetryBuffer says its queue emptied by rejections without calling the backend failing", async () => {
  const logger = recordingLogger();
  let up = false;
  const { buffer } = harness(() => up ? response(400, "bad") : refused, {
    logger,
  });
  const queued = await buffer.write(batch("a v=1 1\n"));
  up = true;
  await delivered(queued);
  await buffer.close();
  const empty = logger.logged.find((l) => l.message.includes("is empty"));
  assert.equal(
    empty?.message,
    'Retry buffer of relay "{relay}" backend "{backend}" is empty after {seconds}s, none of its writes delivered: {why}',
  );
  assert.equal(empty!.properties.why, "1 rejected by the backend");
});

Deno.test("RetryBuffer counts queued writes it dropped on the way to catching up", async () => {
  const logger = recordingLogger();
  let up = false;
  const { buffer } = harness(
    (text) =>
      !up
        ? refused
        : text.includes("poison")
        ? response(400, "bad")
        : response(204),
    { logger },
  );
  const poison = await buffer.write(batch("poison v=1 1\n", "db=p"));
  const good = await buffer.write(batch("good v=1 1\n"));
  up = true;
  await delivered(poison);
  await delivered(good);
  await buffer.close();
  const caughtUp = logger.logged.find((l) => l.message.includes("caught up"));
  assert.equal(
    caughtUp?.message,
    'Backend "{backend}" of relay "{relay}" caught up after {seconds}s: {writes} queued writes delivered, {dropped} dropped',
  );
  assert.equal(caughtUp!.properties.writes, 1);
  assert.equal(caughtUp!.properties.dropped, 1);
});

Deno.test("RetryBuffer passes a queue's write error through without wrapping it again", async () => {
  const message =
    'Cannot buffer a write for backend "b": writing to the spool "/s" failed: No space left on device (os error 28)';
  const queue = new MemoryQueue({ maxBytes: 1 << 20 });
  queue.push = () => Promise.reject(new Error(message));
  const { buffer } = harness(() => refused, { queue });
  const result = await buffer.write(batch("a v=1 1\n"));
  assert.equal(result.kind, "failure");
  assert.equal((result as BackendFailure).error.message, message);
  assert.equal(buffer.stats.dropped.full, 1);
  await buffer.close();
});

Deno.test("RetryBuffer counts the records its spool skipped as damaged", async () => {
  const queue = Object.assign(new MemoryQueue({ maxBytes: 1 << 20 }), {
    corrupted: 2,
  });
  const { buffer } = harness(() => response(204), { queue });
  assert.equal(buffer.stats.dropped.damaged, 2);
  assert.equal(buffer.stats.droppedPoints, 0);
  await buffer.close();
  const plain = harness(() => response(204));
  assert.equal(plain.buffer.stats.dropped.damaged, 0);
  await plain.buffer.close();
});
