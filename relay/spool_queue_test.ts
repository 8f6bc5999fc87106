import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  defineQueueSuite,
  type QueueFactoryOptions,
  type QueueSuiteOptions,
} from "./_batch_queue_suite.ts";
import type { NewWrite } from "./batch_queue.ts";
import {
  type SpoolCorruption,
  SpoolQueue,
  type SpoolQueueOptions,
} from "./spool_queue.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function suiteFor(options: Partial<SpoolQueueOptions>): QueueSuiteOptions {
  const dirs: string[] = [];
  return {
    async create({ maxBytes, fullPolicy }: QueueFactoryOptions) {
      const dir = await Deno.makeTempDir({ prefix: "spool_test_" });
      dirs.push(dir);
      return await SpoolQueue.open({ ...options, dir, maxBytes, fullPolicy });
    },
    async reopen(queue, { maxBytes, fullPolicy }: QueueFactoryOptions) {
      assert.ok(queue instanceof SpoolQueue);
      await queue.close();
      return await SpoolQueue.open({
        ...options,
        dir: queue.dir,
        maxBytes,
        fullPolicy,
      });
    },
    async cleanup() {
      for (const dir of dirs.splice(0)) {
        await Deno.remove(dir, { recursive: true });
      }
    },
  };
}

defineQueueSuite("SpoolQueue", suiteFor({}));
defineQueueSuite("SpoolQueue (fsync always)", suiteFor({ fsync: "always" }));
// Every record gets a segment of its own: rollover, deletion, and reads
// that merge writes from several files.
defineQueueSuite(
  "SpoolQueue (tiny segments)",
  suiteFor({ segmentBytes: 16, fsync: "always" }),
);

function write(n: number, options: Partial<NewWrite> = {}): NewWrite {
  const body = encoder.encode(`m,n=${n} v=${n}i ${n}\n`);
  return {
    query: "db=x",
    auth: null,
    body,
    points: 1,
    acceptedAt: 1000 + n,
    ...options,
  };
}

/** Opens a spool in a fresh temp dir, runs `fn`, closes and deletes. */
async function withSpool(
  options: Partial<SpoolQueueOptions>,
  fn: (queue: SpoolQueue, dir: string) => Promise<SpoolQueue | void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "spool_test_" });
  let queue = await SpoolQueue.open({ dir, maxBytes: 1 << 20, ...options });
  try {
    queue = (await fn(queue, dir)) ?? queue;
  } finally {
    await queue.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function reopen(
  queue: SpoolQueue,
  options: Partial<SpoolQueueOptions> = {},
): Promise<SpoolQueue> {
  await queue.close();
  return await SpoolQueue.open({
    dir: queue.dir,
    maxBytes: 1 << 20,
    ...options,
  });
}

/** Takes every queued write out, one at a time: `[seq, body]` pairs. */
async function drain(queue: SpoolQueue): Promise<[number, string][]> {
  const out: [number, string][] = [];
  for (;;) {
    const head = await queue.head(1);
    if (head === null) return out;
    out.push([head.firstSeq, decoder.decode(head.body)]);
    await queue.remove(head.lastSeq);
  }
}

async function segments(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const item of Deno.readDir(dir)) {
    if (item.name.endsWith(".seg")) names.push(item.name);
  }
  return names.sort();
}

function bodies(from: number, to: number, skip: number[] = []): string[] {
  const out: string[] = [];
  for (let n = from; n < to; n++) {
    if (!skip.includes(n)) out.push(`m,n=${n} v=${n}i ${n}\n`);
  }
  return out;
}

/** Offset of the first occurrence of `text` in `data`. */
function find(data: Uint8Array, text: string): number {
  const needle = encoder.encode(text);
  outer: for (let i = 0; i + needle.length <= data.length; i++) {
    for (let k = 0; k < needle.length; k++) {
      if (data[i + k] !== needle[k]) continue outer;
    }
    return i;
  }
  throw new Error(`Cannot find ${JSON.stringify(text)}`);
}

Deno.test("SpoolQueue.open() creates the directory with mode 0700 and a lock file", async () => {
  const parent = await Deno.makeTempDir({ prefix: "spool_test_" });
  const dir = `${parent}/a/b`;
  const queue = await SpoolQueue.open({ dir, maxBytes: 100 });
  try {
    assert.equal(queue.dir, dir);
    assert.equal(queue.durable, true);
    assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
    assert.ok((await Deno.stat(`${dir}/lock`)).isFile);
    assert.deepEqual(await segments(dir), []);
  } finally {
    await queue.close();
    await Deno.remove(parent, { recursive: true });
  }
});

Deno.test("SpoolQueue.open() rejects out-of-range options", async () => {
  const dir = "/nonexistent/never-created";
  await assert.rejects(SpoolQueue.open({ dir, maxBytes: 0 }), RangeError);
  await assert.rejects(
    SpoolQueue.open({ dir, maxBytes: 10, segmentBytes: -1 }),
    RangeError,
  );
  await assert.rejects(
    SpoolQueue.open({ dir, maxBytes: 10, fsync: 0 }),
    /fsync must be "always" or a positive number of ms, got 0/,
  );
  await assert.rejects(SpoolQueue.open({ dir: "", maxBytes: 10 }), TypeError);
});

Deno.test("SpoolQueue.open() fails while another queue holds the directory", async () => {
  await withSpool({ name: "influx-a" }, async (_queue, dir) => {
    await assert.rejects(
      SpoolQueue.open({ dir, maxBytes: 100, name: "influx-a" }),
      (error: Error) => {
        assert.match(
          error.message,
          /^Cannot open the spool of backend "influx-a": ".*\/lock" is locked by another process/,
        );
        return true;
      },
    );
  });
});

Deno.test("SpoolQueue.open() takes the lock again once the holder closed", async () => {
  await withSpool({}, async (queue, dir) => {
    await queue.close();
    const again = await SpoolQueue.open({ dir, maxBytes: 100 });
    return again;
  });
});

Deno.test("SpoolQueue.push() rejects after close()", async () => {
  await withSpool({ name: "b" }, async (queue) => {
    await queue.close();
    await assert.rejects(
      queue.push(write(1)),
      /Cannot buffer a write for backend "b": the spool is closed/,
    );
  });
});

Deno.test("SpoolQueue.remove() saves the ack, which survives a reopen", async () => {
  await withSpool({ fsync: "always" }, async (queue, dir) => {
    for (let n = 0; n < 3; n++) await queue.push(write(n));
    await queue.remove(2);
    assert.equal(await Deno.readTextFile(`${dir}/ack`), "2\n");
    const reopened = await reopen(queue);
    assert.equal(reopened.length, 1);
    assert.deepEqual(await drain(reopened), [[3, bodies(2, 3)[0]!]]);
    return reopened;
  });
});

Deno.test("SpoolQueue with an fsync interval saves the ack in the background", async () => {
  await withSpool({ fsync: 20 }, async (queue, dir) => {
    await queue.push(write(0));
    await queue.push(write(1));
    await queue.remove(1);
    const deadline = Date.now() + 5000;
    let ack = "";
    while (ack !== "1\n" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      ack = await Deno.readTextFile(`${dir}/ack`).catch(() => "");
    }
    assert.equal(ack, "1\n");
  });
});

Deno.test("SpoolQueue.push() writes concurrent pushes in order (group commit)", async () => {
  await withSpool({ fsync: "always" }, async (queue) => {
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, n) => queue.push(write(n))),
    );
    assert.deepEqual(
      results.map((r) => r.seq),
      Array.from({ length: 200 }, (_, n) => n + 1),
    );
    const reopened = await reopen(queue);
    const seen = await drain(reopened);
    assert.deepEqual(seen.map(([, body]) => body), bodies(0, 200));
    return reopened;
  });
});

Deno.test("SpoolQueue starts a new segment at segmentBytes and deletes delivered ones", async () => {
  // Each record is 9 + 33 + 4 ("db=x") + ~22 body bytes = ~68 bytes.
  await withSpool({ segmentBytes: 150 }, async (queue, dir) => {
    for (let n = 0; n < 10; n++) await queue.push(write(n));
    const names = await segments(dir);
    assert.equal(names.length, 5, "two records per segment");
    assert.equal(names[0], "00000000000000000001.seg");
    assert.equal(names[1], "00000000000000000003.seg");
    for (const name of names) {
      assert.ok((await Deno.stat(`${dir}/${name}`)).size <= 150);
    }
    await queue.remove(3);
    assert.deepEqual(await segments(dir), names.slice(1), "only 1..2 gone");
    await queue.remove(4);
    assert.deepEqual(await segments(dir), names.slice(2));
    // A batch spanning segments is read back from both.
    const head = await queue.head(1 << 20);
    assert.equal(decoder.decode(head!.body), bodies(4, 10).join(""));
    await queue.remove(head!.lastSeq);
    assert.deepEqual(
      await segments(dir),
      names.slice(4),
      "the last segment stays for appends",
    );
    const reopened = await reopen(queue, { segmentBytes: 150 });
    assert.equal(reopened.length, 0);
    assert.equal((await reopened.push(write(10))).seq, 11);
    assert.deepEqual(await segments(dir), ["00000000000000000011.seg"]);
    return reopened;
  });
});

Deno.test("SpoolQueue.push() gives a record larger than segmentBytes a segment of its own", async () => {
  await withSpool({ segmentBytes: 10 }, async (queue, dir) => {
    await queue.push(write(1));
    await queue.push(write(2));
    assert.equal((await segments(dir)).length, 2);
    const reopened = await reopen(queue, { segmentBytes: 10 });
    assert.deepEqual((await drain(reopened)).map(([, b]) => b), bodies(1, 3));
    return reopened;
  });
});

Deno.test("SpoolQueue.push() rejects a write it cannot store and leaves it out of the queue", async () => {
  await withSpool({ segmentBytes: 10, name: "b" }, async (queue, dir) => {
    await queue.push(write(1));
    // The next segment's name is taken, so creating it fails.
    await Deno.mkdir(`${dir}/00000000000000000002.seg`);
    await assert.rejects(
      queue.push(write(2)),
      /^Error: Cannot buffer a write for backend "b": writing to the spool ".*" failed: /,
    );
    assert.equal(queue.length, 1);
    assert.equal(queue.bytes, write(1).body.length);
    assert.equal((await queue.push(write(3))).seq, 3);
    const reopened = await reopen(queue, { segmentBytes: 10 });
    assert.equal(reopened.corrupted, 0);
    assert.deepEqual(await drain(reopened), [
      [1, bodies(1, 2)[0]!],
      [3, bodies(3, 4)[0]!],
    ]);
    return reopened;
  });
});

Deno.test("SpoolQueue.open() cuts a torn final record off and keeps every earlier record", async () => {
  await withSpool({}, async (queue, dir) => {
    for (let n = 0; n < 5; n++) await queue.push(write(n));
    await queue.close();
    const [name] = await segments(dir);
    const path = `${dir}/${name}`;
    const size = (await Deno.stat(path)).size;
    await Deno.truncate(path, size - 3);
    const reports: SpoolCorruption[] = [];
    let reopened = await SpoolQueue.open({
      dir,
      maxBytes: 1 << 20,
      onCorruption: (info) => reports.push(info),
    });
    assert.equal(reopened.length, 4);
    assert.equal(reopened.corrupted, 0);
    assert.ok(reopened.truncatedBytes > 0 && reopened.truncatedBytes < 100);
    assert.deepEqual(reports, []);
    assert.equal(
      (await Deno.stat(path)).size,
      size - 3 - reopened.truncatedBytes,
    );
    // The torn write never resolved, so its seq is used again.
    assert.equal((await reopened.push(write(5))).seq, 5);
    reopened = await reopen(reopened);
    assert.equal(reopened.truncatedBytes, 0);
    assert.deepEqual(
      (await drain(reopened)).map(([, b]) => b),
      bodies(0, 6, [4]),
    );
    return reopened;
  });
});

Deno.test("SpoolQueue.open() cuts off a header torn after a few bytes", async () => {
  await withSpool({}, async (queue, dir) => {
    await queue.push(write(0));
    await queue.close();
    const [name] = await segments(dir);
    const file = await Deno.open(`${dir}/${name}`, { append: true });
    await file.write(new Uint8Array([0xfb, 7, 0]));
    file.close();
    const reopened = await SpoolQueue.open({ dir, maxBytes: 1 << 20 });
    assert.equal(reopened.truncatedBytes, 3);
    assert.equal(reopened.corrupted, 0);
    assert.equal(reopened.length, 1);
    return reopened;
  });
});

Deno.test("SpoolQueue.open() skips a corrupted middle record, counts it and delivers the rest", async () => {
  await withSpool({}, async (queue, dir) => {
    for (let n = 0; n < 5; n++) await queue.push(write(n));
    await queue.close();
    const [name] = await segments(dir);
    const path = `${dir}/${name}`;
    const data = await Deno.readFile(path);
    data[find(data, "m,n=2 ") + 7]! ^= 0x01;
    await Deno.writeFile(path, data);
    const reports: SpoolCorruption[] = [];
    const reopened = await SpoolQueue.open({
      dir,
      maxBytes: 1 << 20,
      onCorruption: (info) => reports.push(info),
    });
    assert.equal(reopened.corrupted, 1);
    assert.equal(reopened.truncatedBytes, 0);
    assert.equal(reports.length, 1);
    assert.equal(reports[0]!.segment, path);
    assert.match(reports[0]!.reason, /^CRC mismatch: skipped 1 records/);
    assert.deepEqual(await drain(reopened), [
      [1, bodies(0, 1)[0]!],
      [2, bodies(1, 2)[0]!],
      [4, bodies(3, 4)[0]!],
      [5, bodies(4, 5)[0]!],
    ]);
    assert.equal(reports[0]!.offset, (await Deno.stat(path)).size * 2 / 5);
    return reopened;
  });
});

Deno.test("SpoolQueue.open() finds the next record when a length field is corrupted", async () => {
  await withSpool({}, async (queue, dir) => {
    for (let n = 0; n < 5; n++) await queue.push(write(n));
    await queue.close();
    const [name] = await segments(dir);
    const path = `${dir}/${name}`;
    const data = await Deno.readFile(path);
    const recordBytes = data.length / 5;
    data[recordBytes + 2] = 0x7f; // length of seq 2 grows by 8 MiB
    await Deno.writeFile(path, data);
    const reports: SpoolCorruption[] = [];
    const reopened = await SpoolQueue.open({
      dir,
      maxBytes: 1 << 20,
      onCorruption: (info) => reports.push(info),
    });
    assert.equal(reopened.corrupted, 1);
    assert.deepEqual(reports.map((r) => r.offset), [recordBytes]);
    assert.match(reports[0]!.reason, /runs past the end of the segment/);
    assert.deepEqual(
      (await drain(reopened)).map(([seq]) => seq),
      [1, 3, 4, 5],
    );
    return reopened;
  });
});

Deno.test("SpoolQueue.open() skips the damaged end of a sealed segment and counts its records", async () => {
  await withSpool({ segmentBytes: 150 }, async (queue, dir) => {
    for (let n = 0; n < 6; n++) await queue.push(write(n));
    await queue.close();
    const names = await segments(dir);
    assert.equal(names.length, 3);
    // Zero the whole second segment (seq 3 and 4), as a lost page would.
    const path = `${dir}/${names[1]}`;
    await Deno.writeFile(path, new Uint8Array((await Deno.stat(path)).size));
    const reports: SpoolCorruption[] = [];
    const reopened = await SpoolQueue.open({
      dir,
      maxBytes: 1 << 20,
      segmentBytes: 150,
      onCorruption: (info) => reports.push(info),
    });
    assert.equal(reopened.corrupted, 2);
    assert.deepEqual(reports.map((r) => [r.segment, r.offset]), [[path, 0]]);
    assert.match(reports[0]!.reason, /bad magic byte 0x00: skipped 2 records/);
    assert.deepEqual((await drain(reopened)).map(([seq]) => seq), [1, 2, 5, 6]);
    return reopened;
  });
});

Deno.test("SpoolQueue.open() counts only undelivered records as corrupted", async () => {
  await withSpool({}, async (queue, dir) => {
    for (let n = 0; n < 5; n++) await queue.push(write(n));
    await queue.remove(3);
    await queue.close();
    const [name] = await segments(dir);
    const path = `${dir}/${name}`;
    const data = await Deno.readFile(path);
    data[find(data, "m,n=1 ") + 7]! ^= 0x01;
    await Deno.writeFile(path, data);
    const reports: SpoolCorruption[] = [];
    const reopened = await SpoolQueue.open({
      dir,
      maxBytes: 1 << 20,
      onCorruption: (info) => reports.push(info),
    });
    assert.equal(reopened.corrupted, 0);
    assert.deepEqual(reports, []);
    assert.deepEqual((await drain(reopened)).map(([seq]) => seq), [4, 5]);
    return reopened;
  });
});

Deno.test("SpoolQueue.open() reports damage at the very end of the last segment once", async () => {
  await withSpool({}, async (queue, dir) => {
    for (let n = 0; n < 3; n++) await queue.push(write(n));
    await queue.close();
    const [name] = await segments(dir);
    const path = `${dir}/${name}`;
    const data = await Deno.readFile(path);
    data[find(data, "m,n=2 ") + 7]! ^= 0x01;
    await Deno.writeFile(path, data);
    const reports: SpoolCorruption[] = [];
    const onCorruption = (info: SpoolCorruption) => reports.push(info);
    let reopened = await SpoolQueue.open({
      dir,
      maxBytes: 1 << 20,
      onCorruption,
    });
    assert.equal(reopened.corrupted, 1);
    assert.equal(reopened.truncatedBytes, 0);
    assert.match(reports[0]!.reason, /^CRC mismatch: cut off the last/);
    assert.equal(reopened.length, 2);
    await reopened.close();
    reopened = await SpoolQueue.open({ dir, maxBytes: 1 << 20, onCorruption });
    assert.equal(reopened.corrupted, 0);
    assert.equal(reports.length, 1);
    assert.equal(reopened.length, 2);
    return reopened;
  });
});

Deno.test("SpoolQueue.open() ignores unknown files and replaces a bad ack", async () => {
  await withSpool({}, async (queue, dir) => {
    await queue.push(write(0));
    await queue.push(write(1));
    await queue.remove(1);
    await queue.close();
    await Deno.writeTextFile(`${dir}/notes.txt`, "hello");
    await Deno.writeTextFile(`${dir}/12.seg`, "not a segment name");
    await Deno.writeTextFile(`${dir}/ack`, "garbage");
    const reports: SpoolCorruption[] = [];
    const reopened = await SpoolQueue.open({
      dir,
      maxBytes: 1 << 20,
      onCorruption: (info) => reports.push(info),
    });
    assert.equal(reports.length, 1);
    assert.equal(reports[0]!.segment, `${dir}/ack`);
    assert.equal(reopened.corrupted, 0);
    assert.equal(reopened.length, 2, "delivered again: at least once");
    assert.equal(await Deno.readTextFile(`${dir}/notes.txt`), "hello");
    assert.ok((await Deno.stat(`${dir}/12.seg`)).isFile);
    return reopened;
  });
});

Deno.test("SpoolQueue drop-oldest advances the ack past dropped writes", async () => {
  await withSpool(
    { maxBytes: 30, fullPolicy: "drop-oldest", fsync: "always" },
    async (queue) => {
      await queue.push(write(1));
      await queue.push(write(2));
      const third = await queue.push(write(3));
      assert.deepEqual(third.dropped?.seqs, [1]);
      const reopened = await reopen(queue, { maxBytes: 30 });
      assert.deepEqual((await drain(reopened)).map(([seq]) => seq), [2, 3]);
      return reopened;
    },
  );
});

Deno.test("SpoolQueue keeps query, auth, points and acceptedAt across a reopen", async () => {
  await withSpool({}, async (queue) => {
    await queue.push(
      write(1, { query: "db=ü&rp=x", auth: "Basic éa", acceptedAt: 1.5 }),
    );
    await queue.push(write(2, { auth: "", points: 7, acceptedAt: 2 ** 40 }));
    const reopened = await reopen(queue);
    const first = await reopened.head(1);
    assert.deepEqual(
      { ...first!, body: decoder.decode(first!.body) },
      {
        query: "db=ü&rp=x",
        auth: "Basic éa",
        body: bodies(1, 2)[0]!,
        points: 1,
        firstSeq: 1,
        lastSeq: 1,
        acceptedAt: 1.5,
      },
    );
    await reopened.remove(1);
    const second = await reopened.head(1);
    assert.equal(second!.auth, "", "an empty auth is not a missing one");
    assert.equal(second!.points, 7);
    assert.equal(second!.acceptedAt, 2 ** 40);
    return reopened;
  });
});

async function readLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + chunk).split("\n");
    rest = lines.pop()!;
    for (const line of lines) onLine(line);
  }
}

Deno.test("SpoolQueue keeps every acknowledged write when its process is killed with SIGKILL", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spool_test_" });
  const script = fileURLToPath(
    new URL("./testdata/spool_writer.ts", import.meta.url),
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      `--allow-read=${dir}`,
      `--allow-write=${dir}`,
      script,
      dir,
      "1000000",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const acked = new Map<number, number>();
  const enough = Promise.withResolvers<void>();
  let opened = false;
  const reading = readLines(child.stdout, (line) => {
    if (line === "open") {
      opened = true;
      return;
    }
    const [seq, n] = line.split(" ").map(Number);
    acked.set(seq!, n!);
    if (acked.size >= 400) enough.resolve();
  });
  const stderr = new Response(child.stderr).text();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error("Cannot see 400 acknowledged writes in 30s")),
      30_000,
    );
  });
  try {
    await Promise.race([enough.promise, reading, timeout]);
    assert.ok(opened && acked.size >= 400, "the child stopped early");
    // The child holds the lock.
    await assert.rejects(
      SpoolQueue.open({ dir, maxBytes: 1 << 30 }),
      /is locked by another process/,
    );
    child.kill("SIGKILL");
    const status = await Promise.race([child.status, timeout]);
    await Promise.race([reading, timeout]);
    assert.equal(status.signal, "SIGKILL", await stderr);
  } finally {
    clearTimeout(timer);
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await child.status;
    await reading.catch(() => {});
    await stderr;
  }
  const queue = await SpoolQueue.open({ dir, maxBytes: 1 << 30 });
  try {
    assert.equal(queue.corrupted, 0);
    const stored = new Map<number, string>();
    for (;;) {
      const head = await queue.head(1 << 20);
      if (head === null) break;
      const lines = decoder.decode(head.body).split("\n").slice(0, -1);
      assert.equal(lines.length, head.lastSeq - head.firstSeq + 1);
      lines.forEach((line, k) => stored.set(head.firstSeq + k, line + "\n"));
      await queue.remove(head.lastSeq);
    }
    assert.ok(stored.size >= acked.size);
    const missing = [...acked].filter(([seq, n]) =>
      stored.get(seq) !== bodies(n, n + 1)[0]
    );
    assert.deepEqual(missing, [], "every acknowledged write is on disk");
    // Seqs on disk are consecutive from 1: nothing lost in between.
    assert.deepEqual(
      [...stored.keys()],
      Array.from({ length: stored.size }, (_, k) => k + 1),
    );
  } finally {
    await queue.close();
    await Deno.remove(dir, { recursive: true });
  }
});
