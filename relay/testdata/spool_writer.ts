/**
 * Child process for the `kill -9` test of `SpoolQueue`: opens the spool in
 * `Deno.args[0]` with `fsync: "always"`, pushes `Deno.args[1]` writes four
 * at a time and prints `<seq> <i>` for each push that resolved. It never
 * closes the spool: the test kills it.
 *
 * @module
 */
import { SpoolQueue } from "../spool_queue.ts";

const [dir = "", count = "0"] = Deno.args;
const encoder = new TextEncoder();

async function print(line: string): Promise<void> {
  const data = encoder.encode(line + "\n");
  let written = 0;
  while (written < data.length) {
    written += await Deno.stdout.write(data.subarray(written));
  }
}

const queue = await SpoolQueue.open({
  dir,
  maxBytes: 1 << 30,
  fsync: "always",
  name: "child",
});
await print("open");
for (let i = 0; i < Number(count); i += 4) {
  await Promise.all([i, i + 1, i + 2, i + 3].map(async (n) => {
    const { seq } = await queue.push({
      query: "db=kill",
      auth: n % 2 === 0 ? null : "Token t",
      body: encoder.encode(`m,n=${n} v=${n}i ${n}\n`),
      points: 1,
      acceptedAt: n,
    });
    await print(`${seq} ${n}`);
  }));
}
