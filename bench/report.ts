/**
 * Renders benchmark results as Markdown: the results table, the retry
 * buffers' costs, the UDP scenario with its loss attribution, the targets
 * of issue 3 with met/missed, the sender comparison, the relay's CPU per
 * thread and memory, and the profile summaries. The same text is printed
 * and, with `--write`, placed between the markers in BENCHMARKS.md.
 *
 * @module
 */

import type { CpuProfileSummary } from "./cpu_profile.ts";
import type { ScenarioResult } from "./scenario.ts";
import type { UdpRateResult, UdpScenarioResult } from "./udp_scenario.ts";

/** Where and with what the run happened. */
export interface RunInfo {
  /** ISO date and time of the run. */
  date: string;
  /** `nproc`. */
  cores: number;
  /** CPU model from /proc/cpuinfo. */
  cpuModel: string;
  /** Kernel release. */
  kernel: string;
  /** `git describe --always --dirty` of the checkout. */
  revision: string;
  /** Deno, V8 and TypeScript versions. */
  deno: string;
  /** `wrk -v` first line. */
  wrk: string;
  /** `influxd version`, or why B did not run. */
  influxd: string;
  /** Warm-up and measured seconds per scenario, connections. */
  warmupSeconds: number;
  /** Measured seconds per scenario. */
  seconds: number;
  /** Seconds of each UDP burst (scenario C). */
  udpSeconds: number;
  /** V8 flags of the relay (from the `start` task), or `none`. */
  relayV8Flags: string;
  /** Client connections. */
  connections: number;
  /** Average bytes per generated line. */
  bytesPerLine: number;
  /** gzip size / plain size of the 1000-point bodies. */
  gzipRatio: number;
  /** Wall-clock seconds of the whole run. */
  totalSeconds: number;
}

/** A scenario that did not run, with the reason. */
export interface SkippedScenario {
  /** Scenario id. */
  id: string;
  /** One-line description. */
  title: string;
  /** Why it did not run. */
  reason: string;
}

/** The profiled run of scenario A. */
export interface ProfileReport {
  /** The profiled scenario's result (its figures include profiler overhead). */
  result: ScenarioResult;
  /** Main-thread summary. */
  summary: CpuProfileSummary;
  /** Where the `.cpuprofile` was kept. */
  path: string;
}

/** A profiled UDP burst. */
export interface UdpProfileReport {
  /** The profiled burst's result (its figures include profiler overhead). */
  result: UdpRateResult;
  /** Main-thread summary. */
  summary: CpuProfileSummary;
  /** Where the `.cpuprofile` was kept. */
  path: string;
}

/** Everything {@linkcode renderReport} needs. */
export interface Report {
  /** Machine and settings. */
  info: RunInfo;
  /** HTTP scenarios that ran, in order. */
  results: ScenarioResult[];
  /** UDP scenarios that ran, in order. */
  udp: UdpScenarioResult[];
  /** The profiled UDP burst, if any. */
  udpProfile: UdpProfileReport | null;
  /** Scenarios that did not run. */
  skipped: SkippedScenario[];
  /** The profiled A run, if any. */
  profile: ProfileReport | null;
}

/** The CPU-per-point target of scenario A (issue 3). */
export const TARGET_CPU_PER_MILLION = 1.15;
/** Idle RSS target in bytes. */
export const TARGET_IDLE_RSS = 60 * 1024 * 1024;
/** Peak RSS target under scenario A in bytes. */
export const TARGET_LOAD_RSS = 150 * 1024 * 1024;
/** UDP loss targets of scenario C: offered points/s → largest loss share. */
export const TARGET_UDP_LOSS: readonly {
  rate: number;
  loss: number;
  stretch?: number;
}[] = [
  { rate: 50_000, loss: 0.001 },
  { rate: 100_000, loss: 0.09, stretch: 0.001 },
];

const MB = 1024 * 1024;

function thousands(n: number): string {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

function fixed(n: number | null, digits: number): string {
  return n === null || !Number.isFinite(n) ? "—" : n.toFixed(digits);
}

function mb(bytes: number | null): string {
  return bytes === null ? "—" : (bytes / MB).toFixed(0);
}

function row(cells: readonly string[]): string {
  return `| ${cells.join(" | ")} |`;
}

function table(header: readonly string[], rows: readonly string[][]): string {
  return [
    row(header),
    row(header.map(() => "---")),
    ...rows.map(row),
  ].join("\n");
}

function find(results: readonly ScenarioResult[], id: string) {
  return results.find((r) => r.spec.id === id);
}

function lost(result: ScenarioResult): number {
  return result.sinks.reduce((n, s) => n + s.lost, 0);
}

function resultsTable(report: Report): string {
  const rows = report.results.map((r) => {
    const relay = r.spec.target !== "direct";
    return [
      r.spec.id,
      relay ? r.spec.sender ?? "node-http" : "—",
      thousands(r.pointsPerSecond),
      thousands(r.requestsPerSecond),
      fixed(r.wrk.p50Us / 1000, 1),
      fixed(r.wrk.p99Us / 1000, 1),
      fixed(r.relayCpuPerMillion, 2),
      fixed(r.relayCores, 2),
      mb(r.maxRss),
      mb(r.idleRss),
      thousands(r.ackedPoints),
      r.sinks.map((s) => s.down ? "0 (down)" : thousands(s.received)).join(
        " / ",
      ),
      r.sinks.map((s) => thousands(s.failedPoints)).join(" / "),
      String(lost(r)),
      r.sinks.map((s) => s.connections ?? "—").join(" / "),
      fixed(r.wrkCores, 2),
      `${Math.round(r.machineBusy * 100)}`,
    ];
  });
  for (const skipped of report.skipped) {
    rows.push([
      skipped.id,
      "—",
      skipped.reason,
      ...Array.from({ length: 14 }, () => ""),
    ]);
  }
  return table([
    "Scenario",
    "Sender",
    "Points/s",
    "Req/s",
    "p50 ms",
    "p99 ms",
    "Relay CPU-s / M points",
    "Relay cores",
    "Relay max RSS MB",
    "Relay idle RSS MB",
    "Acked points",
    "Received per sink",
    "Failed per sink",
    "Lost",
    "Conns per sink",
    "wrk cores",
    "Machine busy %",
  ], rows);
}

function percent(share: number, digits = 2): string {
  return `${(share * 100).toFixed(digits)} %`;
}

function signed(n: number, digits: number): string {
  return `${n >= 0 ? "+" : "−"}${Math.abs(n).toFixed(digits)}`;
}

const BUFFER_IDS = ["A", "A-buffer-up", "A-buffer-down", "A-spool-down"];

function bufferLabel(r: ScenarioResult): string {
  const b = r.spec.buffer;
  if (b === undefined) return "none";
  const size = b.sizeMb >= 1024 ? `${b.sizeMb / 1024} GiB` : `${b.sizeMb} MiB`;
  const where = b.sink2 === "down" ? "sink2 (down)" : "both outputs";
  return `${b.kind === "spool" ? "spool" : "memory"} ${size} on ${where}`;
}

function queuedCell(r: ScenarioResult): string {
  const parts = r.sinks.filter((s) => s.queuedWrites !== null).map((s) =>
    `${s.name}: ${thousands(s.queuedWrites!)} writes = ${
      thousands(s.queuedWrites! * r.spec.points)
    } points, ${mb(s.queuedBytes)} MB${
      s.spoolFileBytes === null
        ? ""
        : ` (spool files ${mb(s.spoolFileBytes)} MB)`
    }`
  );
  return parts.length === 0 ? "—" : parts.join("; ");
}

function bufferTable(report: Report): string {
  const a = find(report.results, "A");
  const rows = BUFFER_IDS.map((id) => find(report.results, id))
    .filter((r): r is ScenarioResult => r !== undefined)
    .map((r) => {
      const live = r.sinks.filter((s) => !s.down);
      const base = a?.relayCpuPerMillion ?? null;
      const delta = base === null || r.relayCpuPerMillion === null || r === a
        ? "—"
        : `${signed(r.relayCpuPerMillion - base, 2)} (${
          signed((r.relayCpuPerMillion / base - 1) * 100, 0)
        } %)`;
      const peak = r.relayMemoryPeak;
      const millions = r.wrk.acked * r.spec.points / 1e6;
      const times = r.relayCpuTimes;
      const threads = r.relayThreads;
      let io = 0;
      for (const [name, seconds] of threads ?? []) {
        if (name.startsWith("tokio")) io += seconds;
      }
      return [
        r.spec.id,
        bufferLabel(r),
        thousands(r.pointsPerSecond),
        fixed(r.wrk.p99Us / 1000, 1),
        fixed(r.relayCpuPerMillion, 2),
        delta,
        times === null || millions === 0
          ? "—"
          : `${fixed(times.user / millions, 2)} / ${
            fixed(times.system / millions, 2)
          }`,
        times === null || millions === 0
          ? "—"
          : thousands(times.minorFaults / millions),
        threads === null || millions === 0
          ? "—"
          : `${fixed((threads.get("deno (main)") ?? 0) / millions, 2)} / ${
            fixed(io / millions, 2)
          }`,
        mb(r.maxRss),
        peak === null ? "—" : `${mb(peak.heapUsed)} / ${mb(peak.external)}`,
        thousands(r.ackedPoints),
        live.map((s) => `${s.name} ${thousands(s.received)}`).join(", "),
        String(live.reduce((n, s) => n + s.lost, 0)),
        queuedCell(r),
        r.sinks.map((s) => thousands(s.failedPoints)).join(" / "),
        String(r.sinks.filter((s) => s.down).reduce((n, s) => n + s.lost, 0)),
      ];
    });
  if (rows.length <= 1) return "_Not run._";
  return table([
    "Scenario",
    "Retry buffer",
    "Points/s",
    "p99 ms",
    "Relay CPU-s / M points",
    "vs A",
    "User / system CPU-s per M points",
    "Page faults per M points",
    "CPU-s per M points: main thread / tokio threads (file I/O)",
    "Relay max RSS MB",
    "V8 heap used / external peak MB",
    "Acked points",
    "Received at live sinks",
    "Lost at live sinks",
    "Queued at shutdown",
    "Failed per sink",
    "Acked but neither queued nor failed (down sink)",
  ], rows);
}

function threadShare(threads: Map<string, number>): {
  main: number;
  receiver: number;
  helpers: number;
  other: number;
} {
  let main = 0;
  let receiver = 0;
  let helpers = 0;
  let other = 0;
  for (const [name, seconds] of threads) {
    if (name.endsWith("(main)")) main += seconds;
    else if (name.startsWith("worker")) receiver += seconds;
    else if (name.startsWith("V8")) helpers += seconds;
    else other += seconds;
  }
  return { main, receiver, helpers, other };
}

/** Datagrams a sink missed that no counter explains. */
function unexplained(r: UdpRateResult, i: number): number {
  const sink = r.sinks[i]!;
  const missed = r.sent - sink.datagrams;
  return missed - (r.relayKernelDrops ?? 0) -
    (r.relay?.datagramsDropped ?? 0) - (sink.sendErrors ?? 0) -
    (sink.kernelDrops ?? 0);
}

/** Share of the offered points the relay itself lost (before any sink). */
function relayLossShare(r: UdpRateResult): number {
  const datagrams = (r.relayKernelDrops ?? 0) +
    (r.relay?.datagramsDropped ?? 0);
  return r.sent === 0 ? 0 : datagrams / r.sent;
}

function worstLoss(r: UdpRateResult): number {
  return Math.max(0, ...r.sinks.map((s) => s.lossShare));
}

function udpTable(report: Report): string {
  const rows: string[][] = [];
  for (const scenario of report.udp) {
    for (const r of scenario.rates) {
      const threads = threadShare(r.relayThreads);
      const seconds = Math.max(r.sendSeconds, 1e-9);
      rows.push([
        `${scenario.spec.id} ${r.rate / 1000}k`,
        `${thousands(r.sent)} × ${r.datagramBytes.toFixed(0)} B`,
        thousands(r.achievedRate),
        r.sinks.map((s) => thousands(s.lines)).join(" / "),
        r.sinks.map((s) => percent(s.lossShare)).join(" / "),
        percent(relayLossShare(r)),
        String(r.relayKernelDrops ?? "?"),
        String(r.relay?.datagramsDropped ?? "?"),
        r.sinks.map((s) => s.sendErrors ?? "?").join(" / "),
        r.sinks.map((s) => s.kernelDrops ?? "?").join(" / "),
        r.sinks.map((_, i) => String(unexplained(r, i))).join(" / "),
        fixed(r.relayCpuPerMillion, 2),
        `${fixed(threads.main / seconds, 2)} / ${
          fixed(threads.receiver / seconds, 2)
        } / ${fixed(threads.helpers / seconds, 2)}`,
        mb(r.maxRss),
        mb(r.idleRss),
        `${fixed(r.senderCores, 2)} / ${fixed(r.sinkCores, 2)}`,
        fixed(r.otherCores, 2),
        `${Math.round(r.machineBusy * 100)}`,
      ]);
    }
  }
  if (rows.length === 0) return "_Not run._";
  return table([
    "Rate (points/s offered)",
    "Datagrams sent × payload",
    "Points/s sent",
    "Points received per sink",
    "Loss per sink",
    "Lost by the relay",
    "Dropped at relay socket (kernel)",
    "Dropped in relay queue",
    "Relay send errors per sink",
    "Dropped at sink socket (kernel) per sink",
    "Unexplained per sink",
    "Relay CPU-s / M points",
    "Relay cores: main / receiver worker / V8 helpers",
    "Relay max RSS MB",
    "Relay idle RSS MB",
    "Cores: sender / sinks",
    "Cores: everything else",
    "Machine busy %",
  ], rows);
}

function udpTargetRows(report: Report): string[][] {
  const c = report.udp.find((u) => u.spec.id === "C");
  return TARGET_UDP_LOSS.map((target) => {
    const r = c?.rates.find((x) => x.rate === target.rate);
    const goal = `≤ ${percent(target.loss, 1)}${
      target.stretch === undefined
        ? ""
        : ` (stretch ≤ ${percent(target.stretch, 1)})`
    }`;
    const label = `C: UDP loss at ${
      thousands(target.rate)
    } points/s offered (worse sink)`;
    if (r === undefined) return [label, goal, "—", "not measured"];
    const worst = worstLoss(r);
    const measured = `${percent(worst)} (${
      r.sinks.map((s) => `${s.name} ${percent(s.lossShare)}`).join(", ")
    }); lost by the relay itself ${
      percent(relayLossShare(r))
    }, at the sinks' sockets ${
      r.sinks.map((s) => s.kernelDrops ?? "?").join(" / ")
    } datagrams`;
    const own = relayLossShare(r);
    let verdict = status(worst <= target.loss);
    if (target.stretch !== undefined) {
      verdict += `, stretch ${status(worst <= target.stretch)}`;
    }
    verdict += `; the relay's own loss: ${status(own <= target.loss)}`;
    if (target.stretch !== undefined) {
      verdict += `, stretch ${status(own <= target.stretch)}`;
    }
    return [label, goal, measured, verdict];
  });
}

function bufferTargetRows(report: Report): string[][] {
  const rows: string[][] = [];
  const a = find(report.results, "A");
  for (const id of ["A-buffer-down", "A-spool-down"]) {
    const r = find(report.results, id);
    if (r === undefined) continue;
    const live = r.sinks.filter((s) => !s.down);
    const down = r.sinks.filter((s) => s.down);
    const liveLost = live.reduce((n, s) => n + s.lost, 0);
    const downLost = down.reduce((n, s) => n + s.lost, 0);
    rows.push([
      `${id}: acked points lost at the live sink; acked points neither queued nor failed for the down one`,
      "0; 0",
      `${liveLost}; ${downLost} (queued ${
        down.map((s) => thousands((s.queuedWrites ?? 0) * r.spec.points))
          .join(", ")
      } points for ${thousands(r.ackedPoints)} acked)`,
      status(liveLost === 0 && downLost === 0),
    ]);
  }
  const ids = ["A-buffer-up", "A-buffer-down", "A-spool-down"];
  const costs = ids.map((id) => find(report.results, id)).filter((
    r,
  ): r is ScenarioResult => r !== undefined);
  if (costs.length > 0) {
    rows.push([
      "Retry buffers' cost per point (issue 5: the spool's cost must show)",
      "recorded, no target",
      costs.map((r) => {
        const base = a?.relayCpuPerMillion ?? null;
        return `${r.spec.id} ${
          fixed(r.relayCpuPerMillion, 2)
        } CPU-s / M points${
          base === null || r.relayCpuPerMillion === null
            ? ""
            : ` (${signed(r.relayCpuPerMillion - base, 2)} vs A)`
        }, max RSS ${mb(r.maxRss)} MB`;
      }).join("; ") +
      (a === undefined ? "" : `; A ${fixed(a.relayCpuPerMillion, 2)}`),
      "recorded",
    ]);
  }
  return rows;
}

function status(ok: boolean | null): string {
  return ok === null ? "not measured" : ok ? "**met**" : "**missed**";
}

function targetsTable(report: Report): string {
  const a = find(report.results, "A");
  const b = find(report.results, "B");
  const rows: string[][] = [];
  rows.push([
    "A: relay CPU-seconds per million points",
    `≤ ${TARGET_CPU_PER_MILLION}`,
    fixed(a?.relayCpuPerMillion ?? null, 2),
    status(
      a === undefined || a.relayCpuPerMillion === null
        ? null
        : a.relayCpuPerMillion <= TARGET_CPU_PER_MILLION,
    ),
  ]);
  rows.push([
    "A: points lost",
    "0",
    a === undefined ? "—" : String(lost(a)),
    status(a === undefined ? null : lost(a) === 0),
  ]);
  for (const id of ["A-small", "A-gzip"]) {
    const r = find(report.results, id);
    rows.push([
      `${id}: CPU-s per million points, lost`,
      "recorded, no target yet; lost 0",
      r === undefined
        ? "—"
        : `${fixed(r.relayCpuPerMillion, 2)}, lost ${lost(r)}`,
      r === undefined
        ? "not measured"
        : lost(r) === 0
        ? "recorded"
        : "**lost points**",
    ]);
  }
  rows.push([
    "B: every acked point stored by both influxd or counted as failed",
    "0 missing silently",
    b === undefined
      ? "—"
      : b.sinks.map((s) =>
        `${s.name}: stored ${thousands(s.received)} of ${
          thousands(b.ackedPoints)
        } acked, failed ${thousands(s.failedPoints)}, missing ${s.lost}`
      ).join("; "),
    status(b === undefined ? null : lost(b) === 0),
  ]);
  rows.push(...udpTargetRows(report));
  rows.push(...bufferTargetRows(report));
  rows.push([
    "Relay idle RSS",
    `≤ ${TARGET_IDLE_RSS / MB} MB`,
    `${mb(a?.idleRss ?? null)} MB`,
    status(
      a === undefined || a.idleRss === null
        ? null
        : a.idleRss <= TARGET_IDLE_RSS,
    ),
  ]);
  rows.push([
    "Relay RSS under A",
    `≤ ${TARGET_LOAD_RSS / MB} MB`,
    `${mb(a?.maxRss ?? null)} MB`,
    status(
      a === undefined || a.maxRss === null ? null : a.maxRss <= TARGET_LOAD_RSS,
    ),
  ]);
  const semi = find(report.results, "A-semi4");
  if (semi !== undefined && semi.maxRss !== null) {
    rows.push([
      "Relay RSS under A with `--v8-flags=--max-semi-space-size=4` (A-semi4)",
      `≤ ${TARGET_LOAD_RSS / MB} MB`,
      `${mb(semi.maxRss)} MB (CPU ${
        fixed(semi.relayCpuPerMillion, 2)
      } CPU-s / M points)`,
      semi.maxRss <= TARGET_LOAD_RSS ? "would be met" : "would still be missed",
    ]);
  }
  return table(["Target (issues 3 and 5)", "Goal", "Measured", "Status"], rows);
}

function senderComparison(report: Report): string {
  const pairs = [["A", "A-fetch"], ["A-small", "A-small-fetch"]] as const;
  const rows: string[][] = [];
  for (const [nodeId, fetchId] of pairs) {
    const node = find(report.results, nodeId);
    const viaFetch = find(report.results, fetchId);
    if (node === undefined || viaFetch === undefined) continue;
    const extra = node.relayCpuPerMillion === null ||
        viaFetch.relayCpuPerMillion === null
      ? null
      : (viaFetch.relayCpuPerMillion / node.relayCpuPerMillion - 1) * 100;
    rows.push([
      `${nodeId} (${node.spec.points}-point bodies)`,
      `${fixed(node.relayCpuPerMillion, 2)} / ${
        fixed(viaFetch.relayCpuPerMillion, 2)
      }`,
      extra === null ? "—" : `${extra >= 0 ? "+" : ""}${extra.toFixed(0)} %`,
      `${thousands(node.pointsPerSecond)} / ${
        thousands(viaFetch.pointsPerSecond)
      }`,
      `${fixed(node.wrk.p99Us / 1000, 1)} / ${
        fixed(viaFetch.wrk.p99Us / 1000, 1)
      }`,
      `${mb(node.maxRss)} / ${mb(viaFetch.maxRss)}`,
      `${node.sinks.map((s) => s.connections).join("+")} / ${
        viaFetch.sinks.map((s) => s.connections).join("+")
      }`,
    ]);
  }
  if (rows.length === 0) return "_Not run._";
  return table([
    "Load",
    "CPU-s / M points node:http / fetch",
    "fetch costs",
    "Points/s node:http / fetch",
    "p99 ms node:http / fetch",
    "Max RSS MB node:http / fetch",
    "Sink connections node:http / fetch",
  ], rows);
}

function threadsTable(result: ScenarioResult): string {
  if (result.relayThreads === null) return "_Not measured._";
  const total = [...result.relayThreads.values()].reduce((a, b) => a + b, 0);
  const rows = [...result.relayThreads]
    .filter(([, seconds]) => seconds > 0)
    .sort((x, y) => y[1] - x[1])
    .map(([name, seconds]) => [
      name,
      seconds.toFixed(2),
      `${(seconds / Math.max(total, 1e-9) * 100).toFixed(0)} %`,
    ]);
  return table(["Thread", "CPU-s (measured run)", "Share"], rows);
}

function memoryLine(result: ScenarioResult): string {
  const m = result.relayMemoryPeak;
  if (m === null) return "_Not measured._";
  return `Peaks of \`Deno.memoryUsage()\` in the relay under ${result.spec.id}: rss ${
    mb(m.rss)
  } MB, V8 heap total ${mb(m.heapTotal)} MB (used ${
    mb(m.heapUsed)
  } MB), external (ArrayBuffers) ${mb(m.external)} MB.${
    result.rssSplit === null
      ? ""
      : ` After the run: RssAnon ${mb(result.rssSplit.anon)} MB, RssFile ${
        mb(result.rssSplit.file)
      } MB (file-backed: mostly the deno executable's own pages).`
  }`;
}

function profileSection(profile: ProfileReport | null): string {
  if (profile === null) return "_Profile not taken (`--no-profile`)._";
  const { summary, result } = profile;
  const areas = table(
    ["Area (main thread self time)", "ms", "Share"],
    summary.areas.filter((a) => a.share >= 0.005).map((a) => [
      a.name,
      a.ms.toFixed(0),
      `${(a.share * 100).toFixed(1)} %`,
    ]),
  );
  const top = table(
    ["Function", "Self ms", "Share"],
    summary.top.map((f) => [
      `\`${f.name}\``,
      f.ms.toFixed(0),
      `${(f.share * 100).toFixed(1)} %`,
    ]),
  );
  return [
    `Scenario A again with \`--cpu-prof\` (${
      thousands(result.pointsPerSecond)
    } points/s, ${
      fixed(result.relayCpuPerMillion, 2)
    } CPU-s per million points with the profiler on). Main thread: ${
      (summary.busyMs / 1000).toFixed(1)
    } s busy, ${
      (summary.idleMs / 1000).toFixed(1)
    } s idle. Profile kept in \`${profile.path}\` (open it in Chrome DevTools).`,
    "",
    areas,
    "",
    top,
  ].join("\n");
}

function udpProfileSection(profile: UdpProfileReport | null): string {
  if (profile === null) return "_Profile not taken._";
  const { summary, result } = profile;
  const areas = table(
    ["Area (main thread self time)", "ms", "Share"],
    summary.areas.filter((a) => a.share >= 0.005).map((a) => [
      a.name,
      a.ms.toFixed(0),
      `${(a.share * 100).toFixed(1)} %`,
    ]),
  );
  const top = table(
    ["Function", "Self ms", "Share"],
    summary.top.map((f) => [
      `\`${f.name}\``,
      f.ms.toFixed(0),
      `${(f.share * 100).toFixed(1)} %`,
    ]),
  );
  return [
    `C at ${thousands(result.rate)} points/s again with \`--cpu-prof\` (${
      fixed(result.relayCpuPerMillion, 2)
    } CPU-s per million points and ${
      r2(result)
    } with the profiler on). Main thread: ${
      (summary.busyMs / 1000).toFixed(1)
    } s busy, ${
      (summary.idleMs / 1000).toFixed(1)
    } s idle; the receiver worker is not in this profile. Profile kept in \`${profile.path}\`.`,
    "",
    areas,
    "",
    top,
  ].join("\n");
}

function r2(result: UdpRateResult): string {
  return `loss ${
    result.sinks.map((s) => percent(s.lossShare)).join(" / ")
  }, lost by the relay ${percent(relayLossShare(result))}`;
}

function udpNotes(report: Report): string[] {
  const lines: string[] = [];
  for (const scenario of report.udp) {
    for (const r of scenario.rates) {
      const id = `${scenario.spec.id} ${r.rate / 1000}k`;
      if (Math.abs(r.achievedRate - r.rate) > r.rate * 0.02) {
        lines.push(
          `${id}: the sender reached only ${
            thousands(r.achievedRate)
          } points/s of the ${thousands(r.rate)} asked for`,
        );
      }
      for (const note of r.notes) lines.push(`${id}: ${note}`);
    }
  }
  return lines.map((line) => `- ${line}`);
}

function notesSection(report: Report): string {
  const lines: string[] = [];
  const a = find(report.results, "A");
  const d = find(report.results, "D");
  if (a !== undefined && d !== undefined) {
    lines.push(
      `- Ceiling: wrk → one null sink (D) moved ${
        thousands(d.pointsPerSecond)
      } points/s, ${
        (a.pointsPerSecond / d.pointsPerSecond * 100).toFixed(0)
      } % of which A reached; wrk used ${
        fixed(a.wrkCores, 2)
      } cores in A, so the load generator is not what limits A. The machine was ${
        Math.round(a.machineBusy * 100)
      } % busy during A: relay, wrk and two null sinks share ${report.info.cores} cores, so points/s is a machine figure and CPU-s per million points is the relay's.`,
    );
  }
  if (d !== undefined && d.sinkIdleRss !== null) {
    lines.push(
      `- Deno's own footprint: a bare \`Deno.serve\` process (the null sink) idles at ${
        mb(d.sinkIdleRss)
      } MB RSS; a null sink spends ${
        fixed(d.sinkCpuPerMillion, 2)
      } CPU-s per million points receiving 1000-point bodies.`,
    );
  }
  if (a !== undefined) {
    const requests = a.sinks.map((s) => s.requests ?? 0);
    lines.push(
      `- Connection reuse (A): the sinks saw ${
        a.sinks.map((s) => s.connections).join(" and ")
      } distinct connections for ${
        requests.map(thousands).join(" and ")
      } requests.`,
    );
  }
  const b = find(report.results, "B");
  if (b !== undefined) {
    lines.push(
      `- B: the two influxd used ${
        fixed(b.influxdCores, 2)
      } cores together, the relay ${fixed(b.relayCores, 2)}; p50 latency ${
        fixed(b.wrk.p50Us / 1000, 0)
      } ms against ${
        fixed(a?.wrk.p50Us === undefined ? null : a.wrk.p50Us / 1000, 0)
      } ms in A: InfluxDB is the limit. Stored counts are \`SELECT COUNT(*)\` per measurement; every line has a unique timestamp. Points received beyond the acknowledged ones are requests wrk abandoned at the end of its runs.`,
    );
  }
  for (const r of report.results) {
    for (const note of r.notes) lines.push(`- ${r.spec.id}: ${note}`);
  }
  lines.push(...udpNotes(report));
  return lines.join("\n");
}

/**
 * Renders the whole report.
 *
 * @param report Results, machine and profile.
 * @returns Markdown.
 */
export function renderReport(report: Report): string {
  const { info } = report;
  const a = find(report.results, "A");
  return [
    `Run ${info.date}: ${info.cores} cores (\`nproc\`), ${info.cpuModel}, Linux ${info.kernel}; checkout ${info.revision}; ${info.deno}; ${info.wrk}; ${info.influxd}.`,
    `Each HTTP scenario: ${info.warmupSeconds} s warm-up, then ${info.seconds} s measured; ${info.connections} keep-alive connections, 2 wrk threads; relay V8 flags (from the \`start\` task): ${info.relayV8Flags}; lines average ${
      info.bytesPerLine.toFixed(0)
    } bytes (gzip to ${(info.gzipRatio * 100).toFixed(0)} %). Whole run ${
      info.totalSeconds.toFixed(0)
    } s.`,
    "",
    "### Results",
    "",
    resultsTable(report),
    "",
    "Acked points, received, failed and lost count the warm-up and the measured run; rates, latency and CPU the measured run only. Lost = acknowledged points a sink neither received nor was logged as failed for (for a down output: nor still queued in its retry buffer at shutdown).",
    "",
    "### Retry buffers (one output down, and both up)",
    "",
    bufferTable(report),
    "",
    "A down output is a loopback port that refuses connections; its retry buffer queues every write after the first refused one, and what it still holds at shutdown comes from the relay's log line (`lost … undelivered writes` for memory, `keeps … writes … on disk` for a spool) and, for a spool, from the size of its directory. CPU-s per million points counts the points acknowledged in the measured run, as in A.",
    "",
    "### UDP (C)",
    "",
    udpTable(report),
    "",
    `Each rate: a fresh relay (one \`[[udp]]\` listener, 2 outputs with \`mtu = 1024\`), two counting sinks in a process each, and a paced sender (\`tests/_udp_load.ts\`), ${report.info.udpSeconds} s burst, no warm-up. Losses are in points (sent − received per sink); the attribution columns are in datagrams (7 points each): the kernel's drops at the relay's socket (\`/proc/net/udp\`, read before the relay stops), datagrams the relay's receiver dropped because its queue was full (its counter; also logged as \`cannot keep up\`), failed sends, and the kernel's drops at each sink's socket. Relay CPU-s per million points counts the points it forwarded, burst and drain. "Everything else" is machine busy time not charged to the relay, the sender or the sinks (other processes, and kernel work such as loopback softirqs): a sign of a noisy run.`,
    "",
    "### Targets",
    "",
    targetsTable(report),
    "",
    "### Sender comparison (node:http vs fetch, same run)",
    "",
    senderComparison(report),
    "",
    "### Where the relay's CPU goes",
    "",
    a === undefined ? "_A not run._" : threadsTable(a),
    "",
    a === undefined ? "" : memoryLine(a),
    "",
    profileSection(report.profile),
    "",
    "### Where the relay's CPU goes under UDP (C)",
    "",
    udpProfileSection(report.udpProfile),
    "",
    "### Notes",
    "",
    notesSection(report),
  ].join("\n");
}

/** Markers around the generated part of BENCHMARKS.md. */
export const BEGIN_MARKER =
  "<!-- bench:begin (generated by `deno task bench --write`; edit outside the markers) -->";
/** End marker. */
export const END_MARKER = "<!-- bench:end -->";

/**
 * Puts the generated text between the markers of BENCHMARKS.md, keeping
 * everything outside them; appends the markers when they are missing.
 *
 * @param existing The current file, or `""`.
 * @param generated The report.
 * @returns The new file.
 */
export function spliceReport(existing: string, generated: string): string {
  const block = `${BEGIN_MARKER}\n\n${generated}\n\n${END_MARKER}`;
  const begin = existing.indexOf("<!-- bench:begin");
  const end = existing.indexOf(END_MARKER);
  if (begin < 0 || end < begin) {
    const head = existing === ""
      ? "# Benchmarks\n\n"
      : `${existing.trimEnd()}\n\n`;
    return `${head}## Latest run\n\n${block}\n`;
  }
  return existing.slice(0, begin) + block +
    existing.slice(end + END_MARKER.length);
}
