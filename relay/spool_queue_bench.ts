/**
 * Cost of `SpoolQueue.push()` on the write path: `deno bench -A
 * relay/spool_queue_bench.ts`. Writes/s is 1 / time per iteration (times 16
 * for the concurrent benches); MB/s multiplies that by the body size
 * printed at start. The spools live in temp dirs on the same disk as /tmp
 * and are removed at exit.
 *
 * @module
 */
import { crc32 as zlibCrc32 } from "node:zlib";
import type { NewWrite } from "./batch_queue.ts";
import { SpoolQueue, type SpoolQueueOptions } from "./spool_queue.ts";

function body(points: number): Uint8Array {
  const lines: string[] = [];
  for (let i = 0; i < points; i++) {
    lines.push(
      `cpu,host=server${
        i % 100
      },region=us-west,cpu=cpu-total usage_user=12.5,usage_system=3.2,usage_idle=84.3,usage_iowait=0.1,usage_steal=0 ${
        1700000000000000000 + i
      }\n`,
    );
  }
  return new TextEncoder().encode(lines.join(""));
}

const LARGE = body(1000);
const SMALL = body(10);
// deno-lint-ignore no-console
console.log(
  `bodies: 1000 points = ${LARGE.length} bytes, 10 points = ${SMALL.length} bytes`,
);

const dirs: string[] = [];
globalThis.addEventListener("unload", () => {
  for (const dir of dirs) Deno.removeSync(dir, { recursive: true });
});

async function spool(
  options: Partial<SpoolQueueOptions>,
): Promise<SpoolQueue> {
  const dir = await Deno.makeTempDir({ prefix: "spool_bench_" });
  dirs.push(dir);
  return await SpoolQueue.open({ dir, maxBytes: 1 << 30, ...options });
}

function write(data: Uint8Array, points: number): NewWrite {
  return {
    query: "db=bench&precision=ns",
    auth: "Basic dXNlcjpwYXNz",
    body: data,
    points,
    acceptedAt: Date.now(),
  };
}

/** Keeps the spool (and the disk) small: drains it outside the timing. */
async function trim(queue: SpoolQueue): Promise<void> {
  if (queue.bytes < 64 << 20) return;
  const head = await queue.head(Number.MAX_SAFE_INTEGER);
  if (head !== null) await queue.remove(head.lastSeq);
}

const cases: [string, Uint8Array, number][] = [
  ["1000 points", LARGE, 1000],
  ["10 points", SMALL, 10],
];
for (const [label, data, points] of cases) {
  const interval = await spool({ fsync: 1000 });
  const always = await spool({ fsync: "always" });
  const group = `push ${label}`;
  Deno.bench(`push() ${label}, fsync every 1000ms`, {
    group,
    baseline: true,
  }, async (b) => {
    await trim(interval);
    b.start();
    await interval.push(write(data, points));
    b.end();
  });
  Deno.bench(
    `push() ${label}, fsync always`,
    { group },
    async (b) => {
      await trim(always);
      b.start();
      await always.push(write(data, points));
      b.end();
    },
  );
  Deno.bench(
    `16 concurrent push() ${label}, fsync always`,
    { group },
    async (b) => {
      await trim(always);
      b.start();
      await Promise.all(
        Array.from({ length: 16 }, () => always.push(write(data, points))),
      );
      b.end();
    },
  );
  Deno.bench(
    `16 concurrent push() ${label}, fsync every 1000ms`,
    { group },
    async (b) => {
      await trim(interval);
      b.start();
      await Promise.all(
        Array.from({ length: 16 }, () => interval.push(write(data, points))),
      );
      b.end();
    },
  );
}

{
  const queue = await spool({ fsync: 1000 });
  Deno.bench("head(512 KiB) + remove() of 1000-point writes read from disk", {
    group: "read back",
  }, async (b) => {
    while (queue.length < 8) await queue.push(write(LARGE, 1000));
    b.start();
    const head = await queue.head(512 * 1024);
    await queue.remove(head!.lastSeq);
    b.end();
  });
}

Deno.bench(`node:zlib crc32() of ${LARGE.length} bytes (each record)`, () => {
  zlibCrc32(LARGE);
});
