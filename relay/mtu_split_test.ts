import assert from "node:assert/strict";
import { splitByMtu } from "./mtu_split.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function split(text: string, mtu: number): {
  chunks: string[];
  tooLong: number;
  tooLongBytes: number;
} {
  const result = splitByMtu(encoder.encode(text), mtu);
  return { ...result, chunks: result.chunks.map((c) => decoder.decode(c)) };
}

/** `n` lines of exactly `size` bytes each, newline included. */
function lines(n: number, size: number): string[] {
  return Array.from({ length: n }, (_, k) => {
    const head = `m v=${k}`;
    return `${head}${" ".repeat(size - head.length - 1)}\n`;
  });
}

Deno.test("splitByMtu() cuts after the last whole line that fits, as the original (mtu 60, six 14-byte lines)", () => {
  const six = lines(6, 14);
  const result = split(six.join(""), 60);
  assert.deepEqual(result.chunks, [
    six.slice(0, 4).join(""),
    six.slice(4).join(""),
  ]);
  assert.deepEqual(result.chunks.map((c) => c.length), [56, 28]);
  assert.equal(result.tooLong, 0);
});

Deno.test("splitByMtu() returns the body itself when it fits", () => {
  const body = encoder.encode("cpu v=1 1\n");
  const result = splitByMtu(body, 10);
  assert.equal(result.chunks.length, 1);
  assert.equal(result.chunks[0], body);
});

Deno.test("splitByMtu() fills each payload to exactly mtu bytes when lines allow", () => {
  const ten = lines(10, 25);
  const result = split(ten.join(""), 100);
  assert.deepEqual(result.chunks.map((c) => c.length), [100, 100, 50]);
  assert.equal(result.chunks.join(""), ten.join(""));
});

Deno.test("splitByMtu() keeps a line of exactly mtu bytes and drops one of mtu + 1", () => {
  const [exact] = lines(1, 30);
  const [over] = lines(1, 31);
  const [small] = lines(1, 10);
  const result = split(`${small}${exact}${small}${over}${small}`, 30);
  assert.deepEqual(result.chunks, [small, exact, small, small]);
  assert.equal(result.tooLong, 1);
  assert.equal(result.tooLongBytes, 31);
});

Deno.test("splitByMtu() drops every line longer than mtu and still sends the others", () => {
  const [long] = lines(1, 100);
  const [short] = lines(1, 20);
  const result = split(`${long}${short}${short}${long}${long}${short}`, 50);
  assert.deepEqual(result.chunks, [`${short}${short}`, short]);
  assert.equal(result.tooLong, 3);
  assert.equal(result.tooLongBytes, 300);
});

Deno.test("splitByMtu() returns nothing for an empty body or one long line", () => {
  assert.deepEqual(split("", 10), { chunks: [], tooLong: 0, tooLongBytes: 0 });
  assert.deepEqual(split("cpu value=1 1\n", 5), {
    chunks: [],
    tooLong: 1,
    tooLongBytes: 14,
  });
});

Deno.test("splitByMtu() keeps a last line without a final newline", () => {
  const result = split("a v=1 1\nb v=2 2\nc v=3 3", 16);
  assert.deepEqual(result.chunks, ["a v=1 1\nb v=2 2\n", "c v=3 3"]);
  assert.deepEqual(split("a v=1 1\nb v=2 2", 8).chunks, [
    "a v=1 1\n",
    "b v=2 2",
  ]);
});

Deno.test("splitByMtu() never cuts at a newline inside a quoted string", () => {
  const multi = 'log msg="one\ntwo\nthree" 1\n';
  const body = `a v=1 1\n${multi}b v=2 2\n`;
  const result = split(body, multi.length + 2);
  assert.deepEqual(result.chunks, ["a v=1 1\n", multi, "b v=2 2\n"]);
  // Too long as a whole: the string's pieces are not sent on their own.
  const small = split(body, 16);
  assert.deepEqual(small.chunks, ["a v=1 1\n", "b v=2 2\n"]);
  assert.equal(small.tooLong, 1);
});

Deno.test("splitByMtu() gives payloads within mtu that add up to the body minus long lines", () => {
  let seed = 7;
  function random(n: number): number {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  }
  for (let round = 0; round < 200; round++) {
    const mtu = 1 + random(120);
    const all = Array.from(
      { length: random(30) },
      (_, k) => `m${"x".repeat(random(150))} v=${k}\n`,
    );
    const result = split(all.join(""), mtu);
    for (const chunk of result.chunks) {
      assert.ok(chunk.length <= mtu, `${chunk.length} > ${mtu}`);
      assert.ok(chunk.endsWith("\n"));
    }
    const kept = all.filter((line) => line.length <= mtu);
    assert.equal(result.chunks.join(""), kept.join(""));
    assert.equal(result.tooLong, all.length - kept.length);
  }
});

Deno.test("splitByMtu() rejects an mtu that is not a positive integer", () => {
  const body = encoder.encode("a v=1\n");
  for (const mtu of [0, -1, 1.5, Number.NaN]) {
    assert.throws(() => splitByMtu(body, mtu), RangeError);
  }
});
