import assert from "node:assert/strict";
import { crc32 as zlibCrc32 } from "node:zlib";
import { crc32 } from "./crc32.ts";

const encoder = new TextEncoder();

Deno.test("crc32() matches the published check values", () => {
  const vectors: [string, number][] = [
    ["", 0x00000000],
    ["a", 0xe8b7be43],
    ["abc", 0x352441c2],
    ["123456789", 0xcbf43926],
    ["message digest", 0x20159d7f],
    ["abcdefghijklmnopqrstuvwxyz", 0x4c2750bd],
    ["The quick brown fox jumps over the lazy dog", 0x414fa339],
  ];
  for (const [text, expected] of vectors) {
    assert.equal(crc32(encoder.encode(text)), expected, JSON.stringify(text));
  }
});

Deno.test("crc32() matches zlib on every length and alignment up to 64 bytes", () => {
  const data = new Uint8Array(80);
  for (let i = 0; i < data.length; i++) data[i] = (i * 151 + 7) & 0xff;
  for (let start = 0; start < 8; start++) {
    for (let end = start; end <= start + 64; end++) {
      const slice = data.subarray(start, end);
      assert.equal(crc32(slice), zlibCrc32(slice), `${start}..${end}`);
    }
  }
});

Deno.test("crc32() matches zlib on 1 MiB of random bytes", () => {
  const data = new Uint8Array(1 << 20);
  for (let i = 0; i < data.length; i += 65536) {
    crypto.getRandomValues(data.subarray(i, i + 65536));
  }
  assert.equal(crc32(data), zlibCrc32(data));
});

Deno.test("crc32() continues a previous checksum when given one", () => {
  const data = encoder.encode("The quick brown fox jumps over the lazy dog");
  for (const cut of [0, 1, 7, 8, 9, 20, data.length]) {
    const head = crc32(data.subarray(0, cut));
    assert.equal(crc32(data.subarray(cut), head), 0x414fa339, `cut ${cut}`);
  }
});

Deno.test("crc32() detects a single flipped bit", () => {
  const data = encoder.encode("cpu,host=a usage=1 1\n");
  const before = crc32(data);
  data[5]! ^= 0x10;
  assert.notEqual(crc32(data), before);
});
