/**
 * Scenario C: UDP at fixed offered rates. For each rate, a fresh relay with
 * one `[[udp]]` listener and two outputs is started in its own process, two
 * counting UDP sinks run in two more (`tests/_udp_load.ts sink 1`, one
 * process each), and a paced sender in another (`tests/_udp_load.ts send …`) sends a bounded
 * burst. Every datagram the sinks did not receive is attributed where
 * possible: dropped by the kernel at the relay's socket (`/proc/net/udp`),
 * dropped by the relay's full queue (its counters, also logged), failed
 * sends, or dropped by the kernel at a sink's socket.
 *
 * @module
 */

import { permissionFlags } from "../deploy/compile.ts";
import { type DenoChild, spawnDeno } from "./deno_child.ts";
import {
  machineTicks,
  processCpuSeconds,
  processMemory,
  threadCpuSeconds,
} from "./proc_stats.ts";
import {
  kernelDrops,
  loadPayloads,
  type SinkCounts,
} from "../tests/_udp_load.ts";

/** The UDP scenario: rates and datagram shape. */
export interface UdpScenarioSpec {
  /** Short name shown in the tables, e.g. `C`. */
  id: string;
  /** One-line description. */
  title: string;
  /** Marks the scenario as UDP. */
  target: "udp";
  /** Offered points per second, one burst each. */
  rates: readonly number[];
  /** Lines per datagram. */
  linesPerDatagram: number;
  /** `mtu` of both outputs. */
  mtu: number;
}

/** Settings of the UDP bursts. */
export interface UdpContext {
  /** Directory for generated configs. */
  workDir: string;
  /** Seconds of each burst. */
  seconds: number;
  /** When set, the relay runs with `--cpu-prof` into this directory. */
  profileDir?: string;
  /**
   * V8 flags for the relay process.
   * @default none
   */
  relayV8Flags?: string;
  /**
   * Checkout whose `bench/relay_process.ts` (and so whose relay code) runs
   * as the relay.
   * @default this checkout
   */
  relayRoot?: string;
  /**
   * Called after each rate (for progress output).
   * @default nothing
   */
  onRate?: (result: UdpRateResult) => void;
}

/** What the relay counted for one output. */
export interface UdpOutputCounts {
  /** The output's name. */
  name: string;
  /** Datagrams sent to it. */
  datagramsSent: number;
  /** Sends that failed. */
  sendErrors: number;
  /** Lines left out for being longer than the MTU. */
  linesTooLong: number;
}

/** What the relay counted for its listener. */
export interface UdpRelayCounts {
  /** Datagrams read from its socket. */
  datagramsReceived: number;
  /** Datagrams dropped because its queue was full. */
  datagramsDropped: number;
  /** Datagrams handed to the fan-out. */
  datagramsForwarded: number;
  /** Lines handed to the fan-out. */
  linesForwarded: number;
  /** Bad lines left out. */
  linesInvalid: number;
  /** Per output. */
  outputs: UdpOutputCounts[];
}

/** One sink's view of one burst. */
export interface UdpSinkReport {
  /** The output's name in the relay config. */
  name: string;
  /** Datagrams received. */
  datagrams: number;
  /** Lines (points) received. */
  lines: number;
  /** Offered points not received. */
  lost: number;
  /** `lost` as a share of the offered points, 0–1. */
  lossShare: number;
  /** Datagrams the kernel dropped at the sink's socket, or null if unknown. */
  kernelDrops: number | null;
  /** Datagrams the relay sent to this sink. */
  relaySent: number | null;
  /** Failed relay sends to this sink. */
  sendErrors: number | null;
}

/** Everything one burst measured. */
export interface UdpRateResult {
  /** Offered points per second asked for. */
  rate: number;
  /** Datagrams per second asked for. */
  datagramRate: number;
  /** Datagrams sent. */
  sent: number;
  /** Points sent. */
  offeredPoints: number;
  /** Seconds the sender took. */
  sendSeconds: number;
  /** Points per second the sender achieved. */
  achievedRate: number;
  /** Average payload bytes per datagram sent. */
  datagramBytes: number;
  /** Datagrams the kernel dropped at the relay's socket, or null if unknown. */
  relayKernelDrops: number | null;
  /** The relay's counters, or null when it printed none. */
  relay: UdpRelayCounts | null;
  /** Per sink. */
  sinks: UdpSinkReport[];
  /** Relay CPU-seconds per million points it forwarded (burst and drain). */
  relayCpuPerMillion: number | null;
  /** Relay CPU-seconds per second of the burst. */
  relayCores: number;
  /** Relay CPU seconds per thread name over the burst and drain. */
  relayThreads: Map<string, number>;
  /** Sender CPU-seconds per second of the burst (sampled, slightly low). */
  senderCores: number;
  /** Both sink processes' CPU-seconds per second of the burst. */
  sinkCores: number;
  /**
   * CPU-seconds per second of the burst used by anything but the relay,
   * the sender and the sinks (other processes, and kernel work not charged
   * to them): a sign of a noisy run.
   */
  otherCores: number;
  /** Relay RSS a second after start, in bytes. */
  idleRss: number;
  /** Relay peak RSS (VmHWM) after the burst, in bytes. */
  maxRss: number;
  /** Whole-machine busy share during the burst, 0–1. */
  machineBusy: number;
  /** Warnings worth showing next to the table. */
  notes: string[];
}

/** The UDP scenario's results, one per rate. */
export interface UdpScenarioResult {
  /** The scenario. */
  spec: UdpScenarioSpec;
  /** One per rate, in order. */
  rates: UdpRateResult[];
}

/** The permissions of the `start` task and the default binary. */
const RELAY_FLAGS = permissionFlags();

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
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

function udpConfig(ports: readonly number[], mtu: number): string {
  return [
    "[[udp]]",
    'name = "bench-udp"',
    'bind-addr = "127.0.0.1:0"',
    "output = [",
    ...ports.map((port, i) =>
      `  { name = "sink${
        i + 1
      }", location = "127.0.0.1:${port}", mtu = ${mtu} },`
    ),
    "]",
    "",
  ].join("\n");
}

/** The relay's counters from its last stdout line, if it printed them. */
function relayCounts(stdout: readonly string[]): UdpRelayCounts | null {
  for (const line of stdout.toReversed()) {
    if (!line.includes('"udp"')) continue;
    const parsed = JSON.parse(line) as {
      udp?: {
        stats: Omit<UdpRelayCounts, "outputs">;
        outputs: { name: string; stats: Omit<UdpOutputCounts, "name"> }[];
      }[];
    };
    const listener = parsed.udp?.[0];
    if (listener === undefined || !("stats" in listener)) continue;
    const { stats } = listener;
    return {
      datagramsReceived: stats.datagramsReceived,
      datagramsDropped: stats.datagramsDropped,
      datagramsForwarded: stats.datagramsForwarded,
      linesForwarded: stats.linesForwarded,
      linesInvalid: stats.linesInvalid,
      outputs: listener.outputs.map((o) => ({
        name: o.name,
        datagramsSent: o.stats.datagramsSent,
        sendErrors: o.stats.sendErrors,
        linesTooLong: o.stats.linesTooLong,
      })),
    };
  }
  return null;
}

/** Average payload of the sender's datagrams (it cycles through 16). */
function averageBytes(lines: number): number {
  const payloads = loadPayloads(lines);
  return payloads.reduce((n, p) => n + p.length, 0) / payloads.length;
}

/** Samples a process's CPU seconds every 250 ms until stopped. */
function cpuSampler(pid: number): { stop(): number } {
  let seconds = 0;
  const timer = setInterval(() => {
    processCpuSeconds(pid).then((s) => seconds = s, () => {});
  }, 250);
  return {
    stop() {
      clearInterval(timer);
      return seconds;
    },
  };
}

async function runRate(
  spec: UdpScenarioSpec,
  rate: number,
  context: UdpContext,
): Promise<UdpRateResult> {
  const notes: string[] = [];
  const children: DenoChild[] = [];
  const datagramRate = Math.round(rate / spec.linesPerDatagram);
  const count = datagramRate * context.seconds;
  try {
    // One process per sink, like two servers: each socket gets an event
    // loop of its own (one process reading both lost more at its sockets).
    const sinks = [0, 1].map(() =>
      spawnDeno({
        denoFlags: ["-A"],
        script: "tests/_udp_load.ts",
        args: ["sink", "1"],
        pipeStdin: true,
      })
    );
    children.push(...sinks);
    const ports = await Promise.all(
      sinks.map(async (sink) =>
        ((await sink.ready) as { ports: number[] }).ports[0]!
      ),
    );

    const configPath = `${context.workDir}/relay-C-${rate}.toml`;
    await Deno.writeTextFile(configPath, udpConfig(ports, spec.mtu));
    const flags = [...RELAY_FLAGS];
    if (context.relayV8Flags !== undefined && context.relayV8Flags !== "") {
      flags.push(`--v8-flags=${context.relayV8Flags}`);
    }
    if (context.profileDir !== undefined) {
      flags.push("--cpu-prof", `--cpu-prof-dir=${context.profileDir}`);
    }
    const relay = spawnDeno({
      denoFlags: flags,
      ...(context.relayRoot === undefined ? {} : { cwd: context.relayRoot }),
      script: "bench/relay_process.ts",
      args: ["--config", configPath],
    });
    children.push(relay);
    const ready = (await relay.ready) as { udp?: { port: number }[] };
    const relayPort = ready.udp?.[0]?.port;
    if (relayPort === undefined) {
      throw new Error(
        "Cannot run scenario C: the relay process did not name its UDP port (a relay_process.ts from before scenario C?)",
      );
    }
    await delay(1000);
    const idleRss = (await processMemory(relay.pid)).rss;

    const relayCpu0 = await processCpuSeconds(relay.pid);
    const threads0 = await threadCpuSeconds(relay.pid);
    const sinkCpu0 = await Promise.all(
      sinks.map((sink) => processCpuSeconds(sink.pid)),
    );
    const machine0 = await machineTicks();
    const t0 = performance.now();
    const sender = spawnDeno({
      denoFlags: ["-A"],
      script: "tests/_udp_load.ts",
      args: [
        "send",
        String(relayPort),
        String(datagramRate),
        String(count),
        String(spec.linesPerDatagram),
      ],
      readyTimeoutMs: (context.seconds + 30) * 1000,
    });
    children.push(sender);
    const senderCpu = cpuSampler(sender.pid);
    const sent = (await sender.ready) as {
      sent: number;
      lines: number;
      seconds: number;
    };
    const senderSeconds = senderCpu.stop();
    const machine1 = await machineTicks();
    const wall = (performance.now() - t0) / 1000;
    const relayCpuBurst = await processCpuSeconds(relay.pid);
    const sinkCpu1 = await Promise.all(
      sinks.map((sink) => processCpuSeconds(sink.pid)),
    );
    await sender.stop(5000);

    await waitIdle(relay.pid, 5000);
    const relayCpu1 = await processCpuSeconds(relay.pid);
    const threads1 = await threadCpuSeconds(relay.pid);
    const memory = await processMemory(relay.pid);
    const [relayKernelDrops = null] = await kernelDrops([relayPort]);

    const status = await relay.stop(15_000);
    if (!status.success) notes.push(`relay exited with code ${status.code}`);
    const counted = relayCounts(relay.stdout);
    // A sink prints its counts (with its kernel drops) when stdin closes.
    const sinkCounts: (SinkCounts | undefined)[] = [];
    for (const sink of sinks) {
      const sinkStatus = await sink.finish(10_000);
      if (!sinkStatus.success) {
        notes.push(`a UDP sink exited with code ${sinkStatus.code}`);
      }
      const report = sink.stdout.find((l) => l.includes('"sinks"'));
      if (report === undefined) notes.push("a UDP sink printed no counts");
      sinkCounts.push(
        report === undefined
          ? undefined
          : (JSON.parse(report) as { sinks: SinkCounts[] }).sinks[0],
      );
    }

    const offered = sent.lines;
    const sinkReports: UdpSinkReport[] = ports.map((_, i) => {
      const got = sinkCounts[i];
      const lines = got?.lines ?? 0;
      const lost = Math.max(0, offered - lines);
      const output = counted?.outputs[i];
      return {
        name: `sink${i + 1}`,
        datagrams: got?.datagrams ?? 0,
        lines,
        lost,
        lossShare: offered === 0 ? 0 : lost / offered,
        kernelDrops: got?.kernelDrops ?? null,
        relaySent: output?.datagramsSent ?? null,
        sendErrors: output?.sendErrors ?? null,
      };
    });
    const threads = new Map<string, number>();
    for (const [name, after] of threads1) {
      threads.set(name, after - (threads0.get(name) ?? 0));
    }
    const relayCpu = relayCpu1 - relayCpu0;
    const machineBusy = (machine1.busy - machine0.busy) /
      Math.max(1, machine1.total - machine0.total);
    const sinkCores = sinkCpu1.reduce((n, v, i) =>
      n + v - (sinkCpu0[i] ?? 0), 0) / wall;
    const forwarded = counted?.linesForwarded ?? 0;
    if (counted === null) notes.push("the relay printed no UDP counters");
    for (const line of relay.stderr) {
      if (line.trim() === "" || line.includes("cannot keep up")) continue;
      notes.push(`relay stderr: ${line.slice(0, 300)}`);
      break;
    }
    return {
      rate,
      datagramRate,
      sent: sent.sent,
      offeredPoints: offered,
      sendSeconds: sent.seconds,
      achievedRate: sent.seconds > 0 ? offered / sent.seconds : 0,
      datagramBytes: averageBytes(spec.linesPerDatagram),
      relayKernelDrops,
      relay: counted,
      sinks: sinkReports,
      relayCpuPerMillion: forwarded === 0 ? null : relayCpu / (forwarded / 1e6),
      relayCores: (relayCpuBurst - relayCpu0) / wall,
      relayThreads: threads,
      senderCores: senderSeconds / wall,
      sinkCores,
      idleRss,
      maxRss: memory.peak,
      machineBusy,
      otherCores: Math.max(
        0,
        machineBusy * navigator.hardwareConcurrency -
          (relayCpuBurst - relayCpu0) / wall -
          senderSeconds / wall - sinkCores,
      ),
      notes,
    };
  } finally {
    await Promise.allSettled(children.map((c) => c.stop(10_000)));
  }
}

/**
 * Runs one burst per rate, each with a fresh relay and fresh sinks, and
 * always stops what it started.
 *
 * @param spec The scenario.
 * @param context Burst length, relay settings and progress callback.
 * @returns The measurements, one per rate.
 */
export async function runUdpScenario(
  spec: UdpScenarioSpec,
  context: UdpContext,
): Promise<UdpScenarioResult> {
  const rates: UdpRateResult[] = [];
  for (const rate of spec.rates) {
    const result = await runRate(spec, rate, context);
    context.onRate?.(result);
    rates.push(result);
  }
  return { spec, rates };
}
