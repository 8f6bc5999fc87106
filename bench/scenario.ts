/**
 * One benchmark scenario, end to end: start the sinks (null sinks or real
 * influxd) and the relay in their own processes, warm up, drive a measured
 * wrk run, wait for the relay to go idle, read its CPU time and memory from
 * `/proc`, stop it (draining its backend writes), and compare what every
 * sink received with what wrk saw acknowledged. With retry buffers
 * ({@linkcode BufferSpec}) the second output can be a dead port; what its
 * buffer still holds at shutdown is read from the relay's log (and, for a
 * spool, from the size of its directory).
 *
 * @module
 */

import { permissionFlags } from "../deploy/compile.ts";
import { type DenoChild, spawnDeno } from "./deno_child.ts";
import {
  findProcesses,
  machineTicks,
  processCpuSeconds,
  type ProcessCpuTimes,
  processCpuTimes,
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
  /**
   * Retry buffers on the relay's outputs (`target: "null"` only).
   * @default none
   */
  buffer?: BufferSpec;
}

/** Retry buffers in a scenario, and whether the second output is down. */
export interface BufferSpec {
  /** `memory`: `buffer-size-mb` only; `spool`: also `buffer-path` (a temp dir). */
  kind: "memory" | "spool";
  /**
   * `down`: the second output is a port that refuses connections, and only
   * it has the buffer; `up`: both outputs are null sinks, both buffered.
   */
  sink2: "down" | "up";
  /** `buffer-size-mb` of each buffered output. */
  sizeMb: number;
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
  /**
   * Acknowledged points neither received, nor logged as failed, nor (for a
   * down output) still queued in its retry buffer at shutdown.
   */
  lost: number;
  /** True for an output that refused every connection. */
  down: boolean;
  /**
   * Writes its retry buffer still held at shutdown (from the relay's log;
   * 0 when it logged nothing), or null without a buffer.
   */
  queuedWrites: number | null;
  /** Body bytes of those writes (from the same log line), or null. */
  queuedBytes: number | null;
  /** Bytes of the spool's files at shutdown (segments, ack, lock), or null. */
  spoolFileBytes: number | null;
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
  /**
   * Relay user and system CPU seconds and minor page faults over the
   * measured run (and its drain).
   */
  relayCpuTimes: ProcessCpuTimes | null;
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

/** The permissions of the `start` task and the default binary. */
const RELAY_FLAGS = permissionFlags();

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

/** A retry buffer's settings for one output in the generated config. */
interface OutputBuffer {
  sizeMb: number;
  /** `buffer-path`, or null for a memory buffer. */
  path: string | null;
}

function relayConfig(
  outputs: readonly string[],
  buffers: readonly (OutputBuffer | null)[] = [],
): string {
  const lines = outputs.map((location, i) => {
    const buffer = buffers[i] ?? null;
    const extra = buffer === null
      ? ""
      : `, buffer-size-mb = ${buffer.sizeMb}${
        buffer.path === null
          ? ""
          : `, buffer-path = ${JSON.stringify(buffer.path)}`
      }`;
    return `  { name = "sink${
      i + 1
    }", location = "${location}", timeout = "10s"${extra} },`;
  });
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

/** What a retry buffer reported holding at shutdown. */
interface QueuedAtStop {
  writes: number;
  bytes: number;
}

/**
 * Writes and bytes each retry buffer still held at shutdown, per backend:
 * the memory buffer's "lost … undelivered writes" and the spool's "keeps …
 * writes … on disk" log lines.
 */
function queuedAtStop(stderr: readonly string[]): Map<string, QueuedAtStop> {
  const queued = new Map<string, QueuedAtStop>();
  for (const line of stderr) {
    if (!line.startsWith("{")) continue;
    let record: {
      message?: unknown;
      backend?: unknown;
      writes?: unknown;
      bytes?: unknown;
    };
    try {
      record = JSON.parse(line);
    } catch {
      continue;
    }
    const message = String(record.message ?? "");
    if (
      typeof record.backend === "string" &&
      message.startsWith("Retry buffer of relay") &&
      (message.includes("undelivered writes") ||
        message.includes("on disk for the next start"))
    ) {
      queued.set(record.backend, {
        writes: Number(record.writes),
        bytes: Number(record.bytes),
      });
    }
  }
  return queued;
}

/** Total size of the files in `dir` (not recursive), or null when it is gone. */
async function directoryBytes(dir: string): Promise<number | null> {
  let total = 0;
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isFile) continue;
      total += (await Deno.stat(`${dir}/${entry.name}`)).size;
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  return total;
}

/**
 * A loopback port below the ephemeral range that refuses connections, for
 * an output that is down. (A freed ephemeral port could be taken by one of
 * the relay's own outgoing connections, or even connect to itself.)
 */
async function refusedPort(): Promise<number> {
  for (const port of [9, 1, 7, 13, 19, 37, 79]) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
    } catch (error) {
      if (error instanceof Deno.errors.ConnectionRefused) return port;
    }
  }
  throw new Error(
    "Cannot find a loopback port that refuses connections for the down output",
  );
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
      const down = spec.buffer?.sink2 === "down";
      const count = spec.target === "direct" || down ? 1 : 2;
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
      if (down) outputs.push(`http://127.0.0.1:${await refusedPort()}/write`);
    }

    // Retry buffers: on the down output only, or on both.
    const buffer = spec.buffer;
    const spoolDirs: (string | null)[] = [];
    const buffers = outputs.map((_, i) => {
      if (buffer === undefined || (buffer.sink2 === "down" && i === 0)) {
        spoolDirs.push(null);
        return null;
      }
      const path = buffer.kind === "spool"
        ? `${context.workDir}/spool-${spec.id}-sink${i + 1}`
        : null;
      spoolDirs.push(path);
      return { sizeMb: buffer.sizeMb, path };
    });
    for (const dir of spoolDirs) {
      if (dir === null) continue;
      cleanups.push(() => Deno.remove(dir, { recursive: true }));
    }

    // Relay.
    let url = `http://127.0.0.1:${sinkPorts[0]}`;
    if (spec.target !== "direct") {
      const configPath = `${context.workDir}/relay-${spec.id}.toml`;
      await Deno.writeTextFile(configPath, relayConfig(outputs, buffers));
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
    const times0 = relay === null ? null : await processCpuTimes(relay.pid);
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
    let times1: ProcessCpuTimes | null = null;
    let maxRss: number | null = null;
    let rssSplit: { anon: number; file: number } | null = null;
    if (relay !== null) {
      // Backend writes answered after the client may still be running.
      await waitIdle(relay.pid, 10_000);
      relayCpu1 = await processCpuSeconds(relay.pid);
      threads1 = await threadCpuSeconds(relay.pid);
      times1 = await processCpuTimes(relay.pid);
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
    const queued = relay === null ? new Map() : queuedAtStop(relay.stderr);
    const spoolBytes = await Promise.all(
      spoolDirs.map((dir) => dir === null ? null : directoryBytes(dir)),
    );
    const counts = spec.target === "influxd"
      ? null
      : await Promise.all(sinkPorts.map(sinkCounts));
    const received = counts === null
      ? await Promise.all(influxd.map((s) => storedPoints(s, "bench")))
      : outputs.map((_, i) => counts[i]?.lines ?? 0);
    const sinks: SinkReport[] = received.map((got, i) => {
      const name = `sink${i + 1}`;
      const failedPoints = (failed.get(name) ?? 0) * spec.points;
      const buffered = buffers[i] ?? null;
      const atStop = queued.get(name);
      const queuedWrites = buffered === null ? null : atStop?.writes ?? 0;
      const queuedPoints = (queuedWrites ?? 0) * spec.points;
      return {
        name,
        received: got,
        connections: counts?.[i]?.connections ?? null,
        requests: counts?.[i]?.requests ?? null,
        failedPoints,
        lost: Math.max(0, acked - got - failedPoints - queuedPoints),
        down: counts !== null && i >= sinkPorts.length,
        queuedWrites,
        queuedBytes: buffered === null ? null : atStop?.bytes ?? 0,
        spoolFileBytes: spoolBytes[i] ?? null,
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
      relayCpuTimes: times0 === null || times1 === null ? null : {
        user: times1.user - times0.user,
        system: times1.system - times0.system,
        minorFaults: times1.minorFaults - times0.minorFaults,
      },
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
