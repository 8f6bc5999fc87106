/**
 * One benchmark scenario, end to end: start the sinks (null sinks or real
 * influxd) and the relay in their own processes, warm up, drive a measured
 * wrk run, wait for the relay to go idle, read its CPU time and memory from
 * `/proc`, stop it (draining its backend writes), and compare what every
 * sink received with what wrk saw acknowledged.
 *
 * @module
 */

import { type DenoChild, spawnDeno } from "./deno_child.ts";
import {
  findProcesses,
  machineTicks,
  processCpuSeconds,
  processMemory,
  threadCpuSeconds,
} from "./proc_stats.ts";
import { runWrk, type WrkResult } from "./wrk.ts";
import type { SinkCounts } from "./null_sink.ts";
import { startInfluxd } from "../tests/_influxd.ts";

/** What a scenario sends to and through. */
export interface ScenarioSpec {
  /** Short name shown in the table, e.g. `A-small`. */
  id: string;
  /** One-line description. */
  title: string;
  /** `direct`: wrk → one null sink; `null`: relay → 2 null sinks; `influxd`: relay → 2 influxd. */
  target: "direct" | "null" | "influxd";
  /** Lines per request body. */
  points: number;
  /**
   * Gzip request bodies.
   * @default false
   */
  gzip?: boolean;
  /**
   * The relay's sender.
   * @default "node-http"
   */
  sender?: "node-http" | "fetch";
  /**
   * V8 flags for the relay in this scenario, instead of the run's.
   * @default the run's ({@linkcode ScenarioContext.relayV8Flags})
   */
  v8Flags?: string;
}

/** Settings shared by every scenario of a run. */
export interface ScenarioContext {
  /** Directory with the generated bodies (`<points>/body-<i>.lp[.gz]`, `unique/prefixes.lp`). */
  dataDir: string;
  /** Directory for generated configs. */
  workDir: string;
  /** Number of static bodies per body size. */
  bodies: Record<number, number>;
  /** Warm-up seconds (not measured). */
  warmupSeconds: number;
  /** Measured seconds. */
  seconds: number;
  /** Client connections. */
  connections: number;
  /** When set, the relay runs with `--cpu-prof` into this directory. */
  profileDir?: string;
  /**
   * Checkout whose `bench/relay_process.ts` (and so whose relay code) runs
   * as the relay; another checkout gives a before/after comparison in one run.
   * @default this checkout
   */
  relayRoot?: string;
  /**
   * V8 flags for the relay process (`--v8-flags=…`), e.g. to compare heap
   * settings in one run.
   * @default none
   */
  relayV8Flags?: string;
}

/** One sink's view of the run. */
export interface SinkReport {
  /** The backend name in the relay config. */
  name: string;
  /** Lines received (null sink) or points stored (influxd). */
  received: number;
  /** Distinct connections that sent writes (null sinks only). */
  connections: number | null;
  /** Requests the sink received (null sinks only). */
  requests: number | null;
  /** Points the relay logged as failed for this backend. */
  failedPoints: number;
  /** Acknowledged points neither received nor logged as failed. */
  lost: number;
}

/** Peaks of `Deno.memoryUsage()` sampled in the relay process. */
export interface MemoryPeak {
  /** Resident set size. */
  rss: number;
  /** V8 heap reserved. */
  heapTotal: number;
  /** V8 heap in use. */
  heapUsed: number;
  /** Memory of ArrayBuffers and other objects outside the V8 heap. */
  external: number;
}

/** Everything one scenario measured. */
export interface ScenarioResult {
  /** The scenario. */
  spec: ScenarioSpec;
  /** The measured wrk run. */
  wrk: WrkResult;
  /** Acknowledged points per second in the measured run. */
  pointsPerSecond: number;
  /** Completed requests per second in the measured run. */
  requestsPerSecond: number;
  /** Points acknowledged over warm-up and measured run. */
  ackedPoints: number;
  /** Relay CPU-seconds per million acknowledged points (measured run). */
  relayCpuPerMillion: number | null;
  /** Relay CPU-seconds per second of the measured run. */
  relayCores: number | null;
  /** Relay CPU seconds per thread name over the measured run. */
  relayThreads: Map<string, number> | null;
  /** Relay RSS a second after start, before any load, in bytes. */
  idleRss: number | null;
  /** Relay peak RSS (VmHWM) after the run, in bytes. */
  maxRss: number | null;
  /** Relay RSS split after the run (anonymous vs file-backed), in bytes. */
  rssSplit: { anon: number; file: number } | null;
  /** Peaks of `Deno.memoryUsage()` in the relay, in bytes. */
  relayMemoryPeak: MemoryPeak | null;
  /** wrk's CPU-seconds per second of the measured run. */
  wrkCores: number;
  /** Null-sink CPU-seconds per million points each (null sinks only). */
  sinkCpuPerMillion: number | null;
  /** Idle RSS of a null sink (a bare Deno.serve process), in bytes. */
  sinkIdleRss: number | null;
  /** influxd CPU-seconds per second of the measured run, summed (B only). */
  influxdCores: number | null;
  /** Whole-machine busy share during the measured run, 0–1. */
  machineBusy: number;
  /** Per sink. */
  sinks: SinkReport[];
  /** Warnings worth showing next to the table. */
  notes: string[];
}

const RELAY_FLAGS = [
  "--allow-net",
  "--allow-read",
  "--allow-env",
  "--allow-sys",
];

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function sinkCounts(port: number): Promise<SinkCounts> {
  const response = await fetch(`http://127.0.0.1:${port}/count`, {
    signal: AbortSignal.timeout(5000),
  });
  return await response.json() as SinkCounts;
}

/** Waits (at most `limitMs`) until a process uses ≤ 1 tick per 300 ms. */
async function waitIdle(pid: number, limitMs: number): Promise<void> {
  const end = performance.now() + limitMs;
  let last = await processCpuSeconds(pid);
  while (performance.now() < end) {
    await delay(300);
    const now = await processCpuSeconds(pid);
    if (now - last <= 0.011) return;
    last = now;
  }
}

function relayConfig(outputs: readonly string[]): string {
  const lines = outputs.map((location, i) =>
    `  { name = "sink${i + 1}", location = "${location}", timeout = "10s" },`
  );
  return [
    "[[http]]",
    'name = "bench"',
    'bind-addr = "127.0.0.1:0"',
    "output = [",
    ...lines,
    "]",
    "",
  ].join("\n");
}

/** Failed backend writes per backend name, from the relay's JSON log lines. */
function failedWrites(stderr: readonly string[]): Map<string, number> {
  const failed = new Map<string, number>();
  for (const line of stderr) {
    if (!line.startsWith("{")) continue;
    let record: { message?: unknown; backend?: unknown };
    try {
      record = JSON.parse(line);
    } catch {
      continue;
    }
    const message = String(record.message ?? "");
    if (
      typeof record.backend === "string" &&
      (message.startsWith("Problem posting") ||
        message.startsWith("5xx response"))
    ) {
      failed.set(record.backend, (failed.get(record.backend) ?? 0) + 1);
    }
  }
  return failed;
}

interface InfluxCount {
  query(q: string, options: { db: string }): Promise<unknown>;
}

/** Stored points of `db`: per measurement the largest field count, summed. */
async function storedPoints(influxd: InfluxCount, db: string): Promise<number> {
  const result = await influxd.query("SELECT COUNT(*) FROM /.*/", { db }) as {
    results?: { series?: { values?: unknown[][] }[] }[];
  };
  let total = 0;
  for (const series of result.results?.[0]?.series ?? []) {
    const row = series.values?.[0] ?? [];
    let most = 0;
    for (const value of row.slice(1)) {
      const n = Number(value);
      if (Number.isFinite(n) && n > most) most = n;
    }
    total += most;
  }
  return total;
}

/**
 * Runs one scenario and always stops what it started.
 *
 * @param spec The scenario.
 * @param context Data, timing and load shape.
 * @returns The measurements.
 */
export async function runScenario(
  spec: ScenarioSpec,
  context: ScenarioContext,
): Promise<ScenarioResult> {
  const { gzip = false, sender = "node-http" } = spec;
  const notes: string[] = [];
  const children: DenoChild[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  let relay: DenoChild | null = null;
  try {
    // Sinks.
    let sinkPorts: number[] = [];
    let outputs: string[];
    let influxPids: number[] = [];
    let influxd: (InfluxCount & { writeUrl: string })[] = [];
    if (spec.target === "influxd") {
      const started = await Promise.all([startInfluxd(), startInfluxd()]);
      for (const server of started) cleanups.push(() => server.close());
      await Promise.all(started.map((s) => s.createDatabase("bench")));
      influxd = started;
      outputs = started.map((s) => s.writeUrl);
      influxPids = (await Promise.all(
        started.map((s) => findProcesses(s.configPath)),
      )).flat();
      if (influxPids.length !== 2) {
        notes.push(
          `found ${influxPids.length} influxd processes instead of 2; their CPU is not complete`,
        );
      }
    } else {
      const count = spec.target === "direct" ? 1 : 2;
      const sinks = Array.from(
        { length: count },
        () =>
          spawnDeno({
            denoFlags: ["--allow-net"],
            script: "bench/null_sink.ts",
          }),
      );
      children.push(...sinks);
      sinkPorts = (await Promise.all(sinks.map((s) => s.ready))).map((r) =>
        (r as { port: number }).port
      );
      outputs = sinkPorts.map((port) => `http://127.0.0.1:${port}/write`);
    }

    // Relay.
    let url = `http://127.0.0.1:${sinkPorts[0]}`;
    if (spec.target !== "direct") {
      const configPath = `${context.workDir}/relay-${spec.id}.toml`;
      await Deno.writeTextFile(configPath, relayConfig(outputs));
      const flags = [...RELAY_FLAGS];
      const v8Flags = spec.v8Flags ?? context.relayV8Flags;
      if (v8Flags !== undefined && v8Flags !== "") {
        flags.push(`--v8-flags=${v8Flags}`);
      }
      if (context.profileDir !== undefined) {
        flags.push("--cpu-prof", `--cpu-prof-dir=${context.profileDir}`);
      }
      relay = spawnDeno({
        denoFlags: flags,
        ...(context.relayRoot === undefined ? {} : { cwd: context.relayRoot }),
        script: "bench/relay_process.ts",
        args: ["--config", configPath, "--sender", sender],
      });
      children.push(relay);
      url = ((await relay.ready) as { url: string }).url;
    }
    await delay(1000);
    const idleRss = relay === null
      ? null
      : (await processMemory(relay.pid)).rss;
    const sinkIdleRss = spec.target === "influxd"
      ? null
      : (await processMemory(children[0]!.pid)).rss;

    // Load.
    const unique = spec.target === "influxd";
    const wrkBase = {
      url,
      path: "/write?db=bench",
      dataDir: unique
        ? `${context.dataDir}/unique`
        : `${context.dataDir}/${spec.points}`,
      mode: unique ? "unique" as const : "static" as const,
      bodies: context.bodies[spec.points] ?? 1,
      points: spec.points,
      gzip,
      connections: context.connections,
    };
    const warm = await runWrk({
      ...wrkBase,
      seconds: context.warmupSeconds,
      tsPrefix: "170000001",
    });
    const sinkPids = spec.target === "influxd"
      ? influxPids
      : children.filter((c) => c !== relay).map((c) => c.pid);
    const relayCpu0 = relay === null ? 0 : await processCpuSeconds(relay.pid);
    const threads0 = relay === null ? null : await threadCpuSeconds(relay.pid);
    const sinkCpu0 = await Promise.all(sinkPids.map(processCpuSeconds));
    const machine0 = await machineTicks();
    const t0 = performance.now();
    const main = await runWrk({
      ...wrkBase,
      seconds: context.seconds,
      tsPrefix: "170000002",
    });
    const machine1 = await machineTicks();
    const wall = (performance.now() - t0) / 1000;
    const sinkCpu1 = await Promise.all(sinkPids.map(processCpuSeconds));
    let relayCpu1 = 0;
    let threads1: Map<string, number> | null = null;
    let maxRss: number | null = null;
    let rssSplit: { anon: number; file: number } | null = null;
    if (relay !== null) {
      // Backend writes answered after the client may still be running.
      await waitIdle(relay.pid, 10_000);
      relayCpu1 = await processCpuSeconds(relay.pid);
      threads1 = await threadCpuSeconds(relay.pid);
      const memory = await processMemory(relay.pid);
      maxRss = memory.peak;
      rssSplit = { anon: memory.anon, file: memory.file };
    }

    // Stop the relay (drains its backend writes), then read the sinks.
    if (relay !== null) {
      const status = await relay.stop(15_000);
      if (!status.success) {
        notes.push(`relay exited with code ${status.code}`);
      }
    }
    let relayMemoryPeak: MemoryPeak | null = null;
    for (const line of relay?.stdout ?? []) {
      if (!line.includes('"memoryPeak"')) continue;
      relayMemoryPeak = (JSON.parse(line) as { memoryPeak: MemoryPeak })
        .memoryPeak;
    }
    const acked = (warm.acked + main.acked) * spec.points;
    const failed = relay === null ? new Map() : failedWrites(relay.stderr);
    const counts = spec.target === "influxd"
      ? null
      : await Promise.all(sinkPorts.map(sinkCounts));
    const received = counts === null
      ? await Promise.all(influxd.map((s) => storedPoints(s, "bench")))
      : counts.map((c) => c.lines);
    const sinks: SinkReport[] = received.map((got, i) => {
      const name = `sink${i + 1}`;
      const failedPoints = (failed.get(name) ?? 0) * spec.points;
      return {
        name,
        received: got,
        connections: counts?.[i]?.connections ?? null,
        requests: counts?.[i]?.requests ?? null,
        failedPoints,
        lost: Math.max(0, acked - got - failedPoints),
      };
    });

    const measuredPoints = main.acked * spec.points;
    const seconds = main.durationUs / 1e6;
    const relayCpu = relayCpu1 - relayCpu0;
    let relayThreads: Map<string, number> | null = null;
    if (threads0 !== null && threads1 !== null) {
      relayThreads = new Map();
      for (const [name, after] of threads1) {
        relayThreads.set(name, after - (threads0.get(name) ?? 0));
      }
    }
    const sinkCpu = sinkCpu1.reduce((n, v, i) => n + v - (sinkCpu0[i] ?? 0), 0);
    if (main.other > 0 || main.statusErrors > 0) {
      notes.push(`${main.other} requests were not answered 204`);
    }
    const socketErrors = main.connectErrors + main.readErrors +
      main.writeErrors + main.timeouts;
    if (socketErrors > 0) {
      notes.push(
        `wrk socket errors: connect ${main.connectErrors}, read ${main.readErrors}, write ${main.writeErrors}, timeout ${main.timeouts}`,
      );
    }
    for (const [backend, n] of failed) {
      notes.push(`relay logged ${n} failed writes to ${backend}`);
    }
    if (relay !== null) {
      const other = relay.stderr.filter((l) =>
        l.trim() !== "" && !l.includes('"backend"')
      );
      if (other.length > 0) {
        notes.push(`relay stderr: ${other.slice(0, 3).join(" | ")}`);
      }
    }
    return {
      spec,
      wrk: main,
      pointsPerSecond: measuredPoints / seconds,
      requestsPerSecond: main.requests / seconds,
      ackedPoints: acked,
      relayCpuPerMillion: relay === null || measuredPoints === 0
        ? null
        : relayCpu / (measuredPoints / 1e6),
      relayCores: relay === null ? null : relayCpu / wall,
      relayThreads,
      idleRss,
      maxRss,
      rssSplit,
      relayMemoryPeak,
      wrkCores: main.cpuSeconds / wall,
      sinkCpuPerMillion: spec.target === "influxd" || measuredPoints === 0
        ? null
        : sinkCpu / sinkPids.length / (measuredPoints / 1e6),
      sinkIdleRss,
      influxdCores: spec.target === "influxd" ? sinkCpu / wall : null,
      machineBusy: (machine1.busy - machine0.busy) /
        Math.max(1, machine1.total - machine0.total),
      sinks,
      notes,
    };
  } finally {
    await Promise.allSettled(children.map((c) => c.stop(10_000)));
    for (const cleanup of cleanups) await cleanup().catch(() => {});
  }
}
