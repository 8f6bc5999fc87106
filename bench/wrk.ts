/**
 * Runs `wrk` with `bench/wrk/write.lua` and parses the line its `done()`
 * prints. Every run is bounded: wrk stops itself after its duration and is
 * killed if it is still running 30 s later.
 *
 * @module
 */

import { fileURLToPath as fromFileUrl } from "node:url";
import { processCpuSeconds } from "./proc_stats.ts";

/** Where the Lua script lives. */
export const WRK_SCRIPT: string = fromFileUrl(
  new URL("./wrk/write.lua", import.meta.url),
);

/** How to install wrk, for the message shown when it is missing. */
export const WRK_INSTALL_HINT = "apt-get install -y wrk";

/**
 * Tells whether `wrk` can be run.
 *
 * @returns `true` when `wrk` is on `PATH`.
 */
export async function wrkAvailable(): Promise<boolean> {
  try {
    await new Deno.Command("wrk", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Options for {@linkcode runWrk}. */
export interface WrkOptions {
  /** Base URL to write to, e.g. `http://127.0.0.1:9096`. */
  url: string;
  /** Path and query of every request, e.g. `/write?db=bench`. */
  path: string;
  /** Directory with the bodies (`body-<i>.lp[.gz]`) or `prefixes.lp`. */
  dataDir: string;
  /** `static` rotates pre-built bodies; `unique` builds bodies of unique points. */
  mode: "static" | "unique";
  /** Number of `body-<i>` files (static mode). */
  bodies: number;
  /** Lines in every body. */
  points: number;
  /**
   * Send the `.gz` bodies with `Content-Encoding: gzip`.
   * @default false
   */
  gzip?: boolean;
  /** Open connections. */
  connections: number;
  /**
   * wrk threads.
   * @default 2
   */
  threads?: number;
  /** Seconds to run. */
  seconds: number;
  /**
   * First 9 digits of every timestamp (unique mode); differ per run.
   * @default "170000000"
   */
  tsPrefix?: string;
}

/** What one wrk run reported. */
export interface WrkResult {
  /** Requests answered 204. */
  acked: number;
  /** Requests answered with another status. */
  other: number;
  /** Requests completed. */
  requests: number;
  /** Run time in microseconds. */
  durationUs: number;
  /** Response bytes read. */
  bytes: number;
  /** Socket connect errors. */
  connectErrors: number;
  /** Socket read errors. */
  readErrors: number;
  /** Socket write errors. */
  writeErrors: number;
  /** Non-2xx/3xx answers. */
  statusErrors: number;
  /** Requests that timed out. */
  timeouts: number;
  /** Median latency in microseconds. */
  p50Us: number;
  /** 90th percentile latency in microseconds. */
  p90Us: number;
  /** 99th percentile latency in microseconds. */
  p99Us: number;
  /** Largest latency in microseconds. */
  maxUs: number;
  /** wrk's own CPU-seconds (sampled every 250 ms, so slightly low). */
  cpuSeconds: number;
}

/**
 * Runs wrk once.
 *
 * @param options Target, data and load shape.
 * @returns The parsed counters.
 * @throws {Error} When wrk fails or prints no result line.
 */
export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  const {
    url,
    path,
    dataDir,
    mode,
    bodies,
    points,
    gzip = false,
    connections,
    threads = 2,
    seconds,
    tsPrefix = "170000000",
  } = options;
  const child = new Deno.Command("wrk", {
    args: [
      `-t${threads}`,
      `-c${connections}`,
      `-d${seconds}s`,
      "--timeout",
      "10s",
      "--latency",
      "-s",
      WRK_SCRIPT,
      url,
      "--",
      dataDir,
      mode,
      String(bodies),
      String(points),
      path,
      gzip ? "1" : "0",
      String(threads),
      tsPrefix,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const killer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, (seconds + 30) * 1000);
  let cpuSeconds = 0;
  const sampler = setInterval(() => {
    processCpuSeconds(child.pid).then((s) => cpuSeconds = s, () => {});
  }, 250);
  let output: Deno.CommandOutput;
  try {
    output = await child.output();
  } finally {
    clearTimeout(killer);
    clearInterval(sampler);
  }
  const stdout = new TextDecoder().decode(output.stdout);
  const line = stdout.split("\n").find((l) => l.startsWith("BENCH_RESULT "));
  if (!output.success || line === undefined) {
    throw new Error(
      `Cannot run wrk: exit code ${output.code}\n${stdout}\n${
        new TextDecoder().decode(output.stderr)
      }`,
    );
  }
  const parsed = JSON.parse(line.slice("BENCH_RESULT ".length)) as Omit<
    WrkResult,
    "cpuSeconds"
  >;
  return { ...parsed, cpuSeconds };
}
