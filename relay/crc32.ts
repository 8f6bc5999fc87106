/**
 * CRC-32 (IEEE 802.3, the polynomial of zlib, gzip and PNG), table-driven
 * with slicing-by-8 so that checksumming a spool record costs little next to
 * writing it.
 *
 * @module
 */

/** Eight 256-entry tables: `TABLE[k * 256 + b]` advances byte `b` by `k` bytes. */
const TABLE = makeTable();

function makeTable(): Uint32Array {
  const table = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = table[n]!;
    for (let k = 1; k < 8; k++) {
      c = table[c & 0xff]! ^ (c >>> 8);
      table[k * 256 + n] = c;
    }
  }
  return table;
}

/**
 * Computes the CRC-32 of `data`, optionally continuing a previous checksum
 * so that data can be checksummed in pieces.
 *
 * @example Usage
 * ```ts
 * import { crc32 } from "./crc32.ts";
 * import assert from "node:assert/strict";
 *
 * const data = new TextEncoder().encode("123456789");
 * assert.equal(crc32(data), 0xcbf43926);
 * assert.equal(crc32(data.subarray(4), crc32(data.subarray(0, 4))), 0xcbf43926);
 * ```
 *
 * @param data The bytes to checksum.
 * @param previous The CRC-32 of the bytes before `data`.
 * @returns The CRC-32 as an unsigned 32-bit integer.
 */
export function crc32(data: Uint8Array, previous = 0): number {
  const t = TABLE;
  let crc = ~previous;
  let i = 0;
  const end8 = data.length - (data.length & 7);
  while (i < end8) {
    const a = crc ^
      (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) |
        (data[i + 3]! << 24));
    const b = data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) |
      (data[i + 7]! << 24);
    crc = t[1792 + (a & 0xff)]! ^ t[1536 + ((a >>> 8) & 0xff)]! ^
      t[1280 + ((a >>> 16) & 0xff)]! ^ t[1024 + (a >>> 24)]! ^
      t[768 + (b & 0xff)]! ^ t[512 + ((b >>> 8) & 0xff)]! ^
      t[256 + ((b >>> 16) & 0xff)]! ^ t[b >>> 24]!;
    i += 8;
  }
  while (i < data.length) {
    crc = t[(crc ^ data[i++]!) & 0xff]! ^ (crc >>> 8);
  }
  return ~crc >>> 0;
}
