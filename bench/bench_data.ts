/**
 * Writes the request bodies wrk sends: for each body size, a few distinct
 * bodies (plain and gzip), and the timestamp-less lines of the "unique"
 * mode that real-InfluxDB scenarios use.
 *
 * @module
 */

import { gzipSync } from "node:zlib";
import { encodeBody, telegrafLines } from "./line_data.ts";

/** What {@linkcode writeBenchData} wrote. */
export interface BenchData {
  /** Number of `body-<i>` files per body size (points per body). */
  bodies: Record<number, number>;
  /** Average bytes per line. */
  bytesPerLine: number;
  /** Average gzip ratio (compressed / plain) of the largest bodies. */
  gzipRatio: number;
}

/** Options for {@linkcode writeBenchData}. */
export interface WriteBenchDataOptions {
  /**
   * Body sizes in points, each with its number of distinct bodies.
   * @default {{ 1000: 8, 10: 64 }}
   */
  sizes?: Record<number, number>;
  /**
   * Lines of `unique/prefixes.lp`.
   * @default 1000
   */
  uniqueLines?: number;
}

/**
 * Writes `<dir>/<points>/body-<i>.lp` and `.lp.gz` for every size, and
 * `<dir>/unique/prefixes.lp`.
 *
 * @param dir An existing directory.
 * @param options Body sizes and the number of unique-mode lines.
 * @returns What was written.
 */
export async function writeBenchData(
  dir: string,
  options: WriteBenchDataOptions = {},
): Promise<BenchData> {
  const { sizes = { 1000: 8, 10: 64 }, uniqueLines = 1000 } = options;
  let bytes = 0;
  let lines = 0;
  let gzipRatio = 0;
  let largest = 0;
  for (const [key, count] of Object.entries(sizes)) {
    const points = Number(key);
    await Deno.mkdir(`${dir}/${points}`, { recursive: true });
    const all = telegrafLines(points * count, { seed: points });
    let plain = 0;
    let packed = 0;
    for (let i = 0; i < count; i++) {
      const body = encodeBody(all.slice(i * points, (i + 1) * points));
      const gz = gzipSync(body);
      await Deno.writeFile(`${dir}/${points}/body-${i + 1}.lp`, body);
      await Deno.writeFile(`${dir}/${points}/body-${i + 1}.lp.gz`, gz);
      plain += body.length;
      packed += gz.length;
      bytes += body.length;
      lines += points;
    }
    if (points > largest) {
      largest = points;
      gzipRatio = packed / plain;
    }
  }
  await Deno.mkdir(`${dir}/unique`, { recursive: true });
  const prefixes = telegrafLines(uniqueLines, { seed: 7, startNs: null });
  await Deno.writeTextFile(
    `${dir}/unique/prefixes.lp`,
    prefixes.join("\n") + "\n",
  );
  return {
    bodies: sizes,
    bytesPerLine: lines === 0 ? 0 : bytes / lines,
    gzipRatio,
  };
}
