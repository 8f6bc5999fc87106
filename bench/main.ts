/**
 * `deno task bench`: the relay's benchmark suite (issue 3). Starts the relay
 * from this checkout in its own process with a generated config, null sinks
 * or real `influxd` behind it, drives load with `wrk` (HTTP) or a paced
 * sender (UDP, scenario C), and prints tables; `--write` also updates
 * BENCHMARKS.md. Loopback only, every scenario bounded (≤ 20 s), the
 * default run about 3 minutes.
 *
 * ```sh
 * deno task bench                 # print the report
 * deno task bench --write         # … and update BENCHMARKS.md
 * deno task bench --only A,A-fetch --seconds 5 --no-profile
 * deno task bench --only C --udp-seconds 10
 * ```
 *
 * Needs `wrk` (`apt-get install -y wrk`) and, for scenario B, `influxd`
 * (`bash tests/setup.sh`); installs nothing itself.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { writeBenchData } from "./bench_data.ts";
import { type CpuProfileSummary, summarizeCpuProfile } from "./cpu_profile.ts";
import { ROOT } from "./deno_child.ts";
import {
  type ProfileReport,
  renderReport,
  type RunInfo,
  type SkippedScenario,
  spliceReport,
  type UdpProfileReport,
} from "./report.ts";
import {
  runScenario,
  type ScenarioContext,
  type ScenarioResult,
  type ScenarioSpec,
} from "./scenario.ts";
import {
  runUdpScenario,
  type UdpContext,
  type UdpRateResult,
  type UdpScenarioResult,
  type UdpScenarioSpec,
} from "./udp_scenario.ts";
import { WRK_INSTALL_HINT, wrkAvailable } from "./wrk.ts";
import { influxdPath } from "../tests/_influxd.ts";

/** Every scenario, in the order of a default run. */
export const SCENARIOS: readonly (
  | ScenarioSpec
  | UdpScenarioSpec
  | SkippedScenario
)[] = [
  {
    id: "D",
    title: "ceiling: wrk → one null sink directly",
    target: "direct",
    points: 1000,
  },
  {
    id: "A",
    title: "1000-point bodies, 50 connections → relay → 2 null sinks",
    target: "null",
    points: 1000,
  },
  {
    id: "A-small",
    title: "A with 10-point bodies",
    target: "null",
    points: 10,
  },
  {
    id: "A-gzip",
    title: "A with gzip bodies",
    target: "null",
    points: 1000,
    gzip: true,
  },
  {
    id: "A-fetch",
    title: "A with the fetch sender",
    target: "null",
    points: 1000,
    sender: "fetch",
  },
  {
    id: "A-semi4",
    title: "A with the relay on --v8-flags=--max-semi-space-size=4",
    target: "null",
    points: 1000,
    v8Flags: "--max-semi-space-size=4",
  },
  {
    id: "A-small-fetch",
    title: "A-small with the fetch sender",
    target: "null",
    points: 10,
    sender: "fetch",
  },
  {
    id: "A-buffer-up",
    title: "A with a 64 MiB memory retry buffer on both (healthy) outputs",
    target: "null",
    points: 1000,
    buffer: { kind: "memory", sink2: "up", sizeMb: 64 },
  },
  {
    id: "A-buffer-down",
    title:
      "A with sink2 down (connection refused) behind a 4 GiB memory retry buffer",
    target: "null",
    points: 1000,
    buffer: { kind: "memory", sink2: "down", sizeMb: 4096 },
  },
  {
    id: "A-spool-down",
    title: "A-buffer-down with the buffer in a disk spool (buffer-path)",
    target: "null",
    points: 1000,
    buffer: { kind: "spool", sink2: "down", sizeMb: 4096 },
  },
  {
    id: "B",
    title: "A into two real influxd (unique points)",
    target: "influxd",
    points: 1000,
  },
  {
    id: "C",
    title:
      "UDP, 7-line datagrams at 50k/100k/200k points/s → relay → 2 UDP counting sinks",
    target: "udp",
    rates: [50_000, 100_000, 200_000],
    linesPerDatagram: 7,
    mtu: 1024,
  },
];

const USAGE = `Usage: deno task bench [options]

Options:
  --write            Update BENCHMARKS.md with the report (full run only)
  --only <ids>       Comma-separated scenarios: ${
  SCENARIOS.map((s) => s.id).join(", ")
}
  --seconds <n>      Measured seconds per scenario (default 8, at most 15)
  --warmup <n>       Warm-up seconds per scenario (default 2, at most 4)
  --udp-seconds <n>  Seconds of each UDP burst in C (default 5, at most 10)
  --no-profile       Skip the profiled runs of scenarios A and C
  --baseline <dir>   Also run every relay scenario with the relay of another
                     checkout (e.g. a copy before a change), just before the
                     same scenario with this one: "<id>@baseline" rows
  --compare-v8-flags <flags>
                     Also run every relay scenario with these V8 flags for
                     the relay, just before the plain run: "<id>+v8" rows
  --repeat <n>       Run every scenario n times in a row (default 1, at most 3)
  -h, --help         Print this help
`;

/**
 * The `--v8-flags=…` of the `start` task in deno.json: the relay is measured
 * with the settings it ships with.
 */
async function shippedV8Flags(): Promise<string | undefined> {
  const json = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)) as {
    tasks?: Record<string, string>;
  };
  return /--v8-flags=(\S+)/.exec(json.tasks?.start ?? "")?.[1];
}

function isSkipped(
  s: ScenarioSpec | UdpScenarioSpec | SkippedScenario,
): s is SkippedScenario {
  return "reason" in s;
}

function isUdp(
  s: ScenarioSpec | UdpScenarioSpec,
): s is UdpScenarioSpec {
  return s.target === "udp";
}

async function commandLine(
  cmd: string,
  args: string[],
  options: { mustSucceed?: boolean } = {},
): Promise<string> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (options.mustSucceed && !out.success) return "unknown";
    const text = new TextDecoder().decode(out.stdout) ||
      new TextDecoder().decode(out.stderr);
    return text.split("\n")[0]?.trim() ?? "";
  } catch {
    return `${cmd}: not found`;
  }
}

async function cpuModel(): Promise<string> {
  try {
    const text = await Deno.readTextFile("/proc/cpuinfo");
    return /^model name\s*:\s*(.*)$/m.exec(text)?.[1]?.trim() ?? "unknown CPU";
  } catch {
    return "unknown CPU";
  }
}

function log(message: string): void {
  // deno-lint-ignore no-console
  console.error(message);
}

function parseSeconds(
  value: string | undefined,
  fallback: number,
  max: number,
  name: string,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new RangeError(
      `Cannot run the benchmark as '--${name}' must be an integer from 1 to ${max}: current value is '${value}'`,
    );
  }
  return n;
}

function udpSummaryLine(id: string, r: UdpRateResult): string {
  const loss = r.sinks.map((s) => (s.lossShare * 100).toFixed(2)).join(" / ");
  const sinkDrops = r.sinks.map((s) => s.kernelDrops ?? "?").join(" / ");
  return `  ${id} ${
    r.rate / 1000
  }k points/s: loss ${loss} %; datagrams dropped at the relay socket ${
    r.relayKernelDrops ?? "?"
  }, in the relay queue ${
    r.relay?.datagramsDropped ?? "?"
  }, at the sink sockets ${sinkDrops}; relay ${
    r.relayCpuPerMillion?.toFixed(2) ?? "—"
  } CPU-s/M points; machine ${Math.round(r.machineBusy * 100)} % busy, ${
    r.otherCores.toFixed(2)
  } cores outside the benchmark`;
}

function summaryLine(result: ScenarioResult): string {
  const cpu = result.relayCpuPerMillion === null
    ? ""
    : `, relay ${result.relayCpuPerMillion.toFixed(2)} CPU-s/M points`;
  const lost = result.sinks.reduce((n, s) => n + s.lost, 0);
  const queued = result.sinks.filter((s) => s.queuedWrites !== null).map((
    s,
  ) => `${s.name} ${s.queuedWrites} writes`);
  return `  ${result.spec.id}: ${
    Math.round(result.pointsPerSecond)
  } points/s${cpu}, lost ${lost}${
    queued.length === 0 ? "" : `, queued at shutdown: ${queued.join(", ")}`
  }`;
}

/**
 * Keeps the main isolate's `.cpuprofile` of a profiled relay in `.bench/`
 * and summarises it (a Worker's profile, if any, is the smaller file).
 */
async function keepProfile<T>(
  profileDir: string,
  name: string,
  make: (summary: CpuProfileSummary, path: string) => T,
): Promise<T | null> {
  const files = [...Deno.readDirSync(profileDir)].filter((e) =>
    e.name.endsWith(".cpuprofile")
  ).map((e) => ({
    name: e.name,
    size: Deno.statSync(`${profileDir}/${e.name}`).size,
  }));
  files.sort((x, y) => y.size - x.size);
  const file = files[0];
  if (file === undefined) {
    log("  no .cpuprofile was written");
    return null;
  }
  const keep = `${ROOT}.bench/${name}`;
  await Deno.mkdir(`${ROOT}.bench`, { recursive: true });
  await Deno.copyFile(`${profileDir}/${file.name}`, keep);
  const summary = summarizeCpuProfile(
    JSON.parse(await Deno.readTextFile(keep)),
  );
  return make(summary, `.bench/${name}`);
}

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      write: { type: "boolean" },
      only: { type: "string" },
      seconds: { type: "string" },
      warmup: { type: "string" },
      "udp-seconds": { type: "string" },
      "no-profile": { type: "boolean" },
      baseline: { type: "string" },
      "compare-v8-flags": { type: "string" },
      repeat: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    // deno-lint-ignore no-console
    console.log(USAGE);
    return 0;
  }
  const seconds = parseSeconds(values.seconds, 8, 15, "seconds");
  const warmupSeconds = parseSeconds(values.warmup, 2, 4, "warmup");
  const udpSeconds = parseSeconds(values["udp-seconds"], 5, 10, "udp-seconds");
  const repeat = parseSeconds(values.repeat, 1, 3, "repeat");
  const baseline = values.baseline;
  if (baseline !== undefined) {
    await Deno.stat(`${baseline}/bench/relay_process.ts`);
  }
  const compareFlags = values["compare-v8-flags"];
  const ids = values.only?.split(",").map((s) => s.trim()).filter(Boolean);
  for (const id of ids ?? []) {
    if (!SCENARIOS.some((s) => s.id === id)) {
      throw new RangeError(
        `Cannot run the benchmark as scenario '${id}' is unknown: expected one of ${
          SCENARIOS.map((s) => s.id).join(", ")
        }`,
      );
    }
  }
  if (
    values.write &&
    (ids !== undefined || baseline !== undefined ||
      compareFlags !== undefined || repeat !== 1)
  ) {
    throw new TypeError(
      "Cannot write BENCHMARKS.md from a partial or comparison run: drop '--only', '--baseline', '--compare-v8-flags' and '--repeat'",
    );
  }
  if (!await wrkAvailable()) {
    log(
      `wrk is missing: the benchmark drives load with wrk and a Lua script. Install it with '${WRK_INSTALL_HINT}' (Debian/Ubuntu, as root) and run again.`,
    );
    return 1;
  }

  const started = performance.now();
  const dir = await Deno.makeTempDir({ prefix: "relay-bench-" });
  try {
    log("Generating bodies…");
    const data = await writeBenchData(dir);
    const context: ScenarioContext = {
      dataDir: dir,
      workDir: dir,
      bodies: data.bodies,
      warmupSeconds,
      seconds,
      connections: 50,
    };
    const v8Flags = await shippedV8Flags();
    if (v8Flags !== undefined) context.relayV8Flags = v8Flags;
    const udpContext: UdpContext = {
      workDir: dir,
      seconds: udpSeconds,
      ...(v8Flags === undefined ? {} : { relayV8Flags: v8Flags }),
    };
    const haveInfluxd = influxdPath() !== null;
    const results: ScenarioResult[] = [];
    const udpResults: UdpScenarioResult[] = [];
    const skipped: SkippedScenario[] = [];
    for (const scenario of SCENARIOS) {
      if (ids !== undefined && !ids.includes(scenario.id)) continue;
      if (isSkipped(scenario)) {
        log(`${scenario.id}: ${scenario.reason}`);
        skipped.push(scenario);
        continue;
      }
      if (isUdp(scenario)) {
        for (let round = 1; round <= repeat; round++) {
          const suffix = round === 1 ? "" : ` #${round}`;
          const variants: [string, Partial<typeof udpContext>][] = [];
          if (baseline !== undefined) {
            variants.push([`@baseline${suffix}`, { relayRoot: baseline }]);
          }
          if (compareFlags !== undefined) {
            variants.push([`+v8${suffix}`, { relayV8Flags: compareFlags }]);
          }
          variants.push([suffix, {}]);
          for (const [tag, change] of variants) {
            const spec = { ...scenario, id: `${scenario.id}${tag}` };
            log(`${spec.id}: ${scenario.title}…`);
            udpResults.push(
              await runUdpScenario(spec, {
                ...udpContext,
                ...change,
                onRate: (r) => log(udpSummaryLine(spec.id, r)),
              }),
            );
          }
        }
        continue;
      }
      if (scenario.target === "influxd" && !haveInfluxd) {
        const reason =
          "skipped: influxd not found (install with 'bash tests/setup.sh')";
        log(`${scenario.id}: ${reason}`);
        skipped.push({ id: scenario.id, title: scenario.title, reason });
        continue;
      }
      for (let round = 1; round <= repeat; round++) {
        const suffix = round === 1 ? "" : ` #${round}`;
        if (baseline !== undefined && scenario.target !== "direct") {
          const spec = { ...scenario, id: `${scenario.id}@baseline${suffix}` };
          log(`${spec.id}: ${scenario.title} (relay from ${baseline})…`);
          const result = await runScenario(spec, {
            ...context,
            relayRoot: baseline,
          });
          log(summaryLine(result));
          results.push(result);
        }
        if (compareFlags !== undefined && scenario.target !== "direct") {
          const spec = { ...scenario, id: `${scenario.id}+v8${suffix}` };
          log(`${spec.id}: ${scenario.title} (relay with ${compareFlags})…`);
          const result = await runScenario(spec, {
            ...context,
            relayV8Flags: compareFlags,
          });
          log(summaryLine(result));
          results.push(result);
        }
        const spec = { ...scenario, id: `${scenario.id}${suffix}` };
        log(`${spec.id}: ${scenario.title}…`);
        const result = await runScenario(spec, context);
        log(summaryLine(result));
        results.push(result);
      }
    }

    let profile: ProfileReport | null = null;
    const wantProfile = !values["no-profile"] &&
      (ids === undefined || ids.includes("A"));
    if (wantProfile) {
      log("A (profiled): relay with --cpu-prof…");
      const profileDir = `${dir}/profile`;
      await Deno.mkdir(profileDir);
      const spec = SCENARIOS.find((s) => s.id === "A") as ScenarioSpec;
      const result = await runScenario(spec, {
        ...context,
        seconds: Math.min(seconds, 6),
        profileDir,
      });
      log(summaryLine(result));
      profile = await keepProfile(profileDir, "relay-A.cpuprofile", (
        summary,
        path,
      ) => ({ result, summary, path }));
    }

    let udpProfile: UdpProfileReport | null = null;
    const udpSpec = SCENARIOS.find((s) => s.id === "C") as UdpScenarioSpec;
    if (!values["no-profile"] && (ids === undefined || ids.includes("C"))) {
      const rate = 100_000;
      log(`C (profiled): relay with --cpu-prof at ${rate / 1000}k points/s…`);
      const profileDir = `${dir}/profile-udp`;
      await Deno.mkdir(profileDir);
      const profiled = await runUdpScenario(
        { ...udpSpec, rates: [rate] },
        { ...udpContext, seconds: Math.min(udpSeconds, 4), profileDir },
      );
      const result = profiled.rates[0]!;
      log(udpSummaryLine("C (profiled)", result));
      udpProfile = await keepProfile(profileDir, "relay-C.cpuprofile", (
        summary,
        path,
      ) => ({ result, summary, path }));
    }

    const info: RunInfo = {
      date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      cores: navigator.hardwareConcurrency,
      cpuModel: await cpuModel(),
      kernel: Deno.osRelease(),
      revision: await commandLine("git", [
        "-C",
        ROOT,
        "describe",
        "--always",
        "--dirty",
      ], { mustSucceed: true }),
      deno:
        `Deno ${Deno.version.deno} (V8 ${Deno.version.v8}, TypeScript ${Deno.version.typescript})`,
      wrk: (await commandLine("wrk", ["-v"])).replace(/ \[.*$/, ""),
      influxd: haveInfluxd
        ? `influxd ${await commandLine("influxd", ["version"])}`.replace(
          "influxd InfluxDB",
          "InfluxDB",
        )
        : "influxd not installed",
      warmupSeconds,
      seconds,
      udpSeconds,
      relayV8Flags: v8Flags ?? "none",
      connections: context.connections,
      bytesPerLine: data.bytesPerLine,
      gzipRatio: data.gzipRatio,
      totalSeconds: (performance.now() - started) / 1000,
    };
    const text = renderReport({
      info,
      results,
      udp: udpResults,
      udpProfile,
      skipped,
      profile,
    });
    // deno-lint-ignore no-console
    console.log(text);
    if (values.write) {
      const path = `${ROOT}BENCHMARKS.md`;
      let existing = "";
      try {
        existing = await Deno.readTextFile(path);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
      await Deno.writeTextFile(path, spliceReport(existing, text));
      log("Wrote BENCHMARKS.md");
    }
    const lost = results.some((r) => r.sinks.some((s) => s.lost > 0));
    return lost ? 2 : 0;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
