/**
 * Deterministic, Telegraf-like line protocol for the benchmark: about 140
 * bytes a line, tags with escaped spaces, commas and equals signs, float,
 * integer, string (with an escaped quote) and boolean fields, nanosecond
 * timestamps. The same seed always gives the same lines.
 *
 * @module
 */

/** Options for {@linkcode telegrafLines}. */
export interface TelegrafLinesOptions {
  /**
   * Seed of the pseudo-random values.
   * @default 1
   */
  seed?: number;
  /**
   * Timestamp of the first line in nanoseconds, as decimal digits; `null`
   * leaves the timestamp out (the caller appends one).
   * @default "1700000000000000000"
   */
  startNs?: string | null;
}

/** Returns a deterministic pseudo-random generator (mulberry32). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return function next(): number {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Template = (rnd: () => number, host: string, n: number) => string;

function float(rnd: () => number, scale: number): string {
  return (rnd() * scale).toFixed(3);
}

function int(rnd: () => number, scale: number): string {
  return `${Math.floor(rnd() * scale)}i`;
}

/** Line templates (measurement, tags and fields, no timestamp). */
const TEMPLATES: readonly Template[] = [
  (rnd, host, n) =>
    `cpu,cpu=cpu${n % 8},host=${host},region=eu-west usage_idle=${
      float(rnd, 100)
    },usage_iowait=${float(rnd, 5)},usage_system=${float(rnd, 20)},usage_user=${
      float(rnd, 60)
    }`,
  (rnd, host) =>
    `mem,host=${host},region=eu-west active=${
      int(rnd, 8e9)
    },available_percent=${float(rnd, 100)},free=${int(rnd, 4e9)},used=${
      int(rnd, 8e9)
    }`,
  (rnd, host, n) =>
    `disk,device=nvme0n1p${
      n % 4
    },fstype=ext4,host=${host},mode=rw,path=/var/lib/docker used=${
      int(rnd, 5e11)
    },used_percent=${float(rnd, 100)}`,
  (rnd, host, n) =>
    `procstat,host=${host},process_name=nginx\\ worker,user=www-data cmdline="nginx: worker \\"w${
      n % 4
    }\\"",cpu_usage=${float(rnd, 100)},running=${
      rnd() < 0.9 ? "true" : "false"
    }`,
  (rnd, host) =>
    `win_disk,host=${host},instance=C:\\ Program\\ Files,objectname=Logical\\,Disk Free_Megabytes=${
      int(rnd, 1e6)
    },Percent_Free=${float(rnd, 100)}`,
  (rnd, host, n) =>
    `net,host=${host},interface=eth${n % 2},label=tier\\=web bytes_recv=${
      int(rnd, 1e12)
    },bytes_sent=${int(rnd, 1e12)},drop_in=${int(rnd, 10)},err_in=0i`,
];

/**
 * Generates `count` lines, without trailing newlines. Timestamps, when
 * present, are `startNs + index` so that every line is a distinct point.
 *
 * @example Usage
 * ```ts
 * import { telegrafLines } from "./line_data.ts";
 * import assert from "node:assert/strict";
 *
 * const [line] = telegrafLines(1);
 * assert.ok(line?.startsWith("cpu,"));
 * ```
 *
 * @param count Number of lines.
 * @param options Seed and first timestamp.
 * @returns The lines.
 */
export function telegrafLines(
  count: number,
  options: TelegrafLinesOptions = {},
): string[] {
  const { seed = 1, startNs = "1700000000000000000" } = options;
  const rnd = random(seed);
  const base = startNs === null ? 0n : BigInt(startNs);
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const template = TEMPLATES[i % TEMPLATES.length]!;
    const hostNo = Math.floor(rnd() * 50);
    const host = `web-${String(hostNo).padStart(2, "0")}.dc1.lan`;
    const text = template(rnd, host, Math.floor(rnd() * 64));
    lines.push(startNs === null ? text : `${text} ${base + BigInt(i)}`);
  }
  return lines;
}

/**
 * Joins lines into one newline-terminated body.
 *
 * @param lines Lines without newlines.
 * @returns The UTF-8 body.
 */
export function encodeBody(lines: readonly string[]): Uint8Array {
  return new TextEncoder().encode(lines.join("\n") + "\n");
}
