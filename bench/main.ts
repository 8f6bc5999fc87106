/**
 * `deno task bench`: the relay's benchmark suite (issue 3). Starts the relay
 * from this checkout in its own process with a generated config, null sinks
 * or real `influxd` behind it, drives load with `wrk`, and prints a table;
 * `--write` also updates BENCHMARKS.md. Loopback only, every scenario
 * bounded (≤ 20 s), the default run under 3 minutes.
 *
 * ```sh
 * deno task bench                 # print the report
 * deno task bench --write         # … and update BENCHMARKS.md
 * deno task bench --only A,A-fetch --seconds 5 --no-profile
 * ```
 *
 * Needs `wrk` (`apt-get install -y wrk`) and, for scenario B, `influxd`
 * (`bash tests/setup.sh`); installs nothing itself.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { writeBenchData } from "./bench_data.ts";
import { summarizeCpuProfile } from "./cpu_profile.ts";
import { ROOT } from "./deno_child.ts";
import {
  type ProfileReport,
  renderReport,
  type RunInfo,
  type SkippedScenario,
  spliceReport,
} from "./report.ts";
import {
  runScenario,
  type ScenarioContext,
  type ScenarioResult,
  type ScenarioSpec,
} from "./scenario.ts";
import { WRK_INSTALL_HINT, wrkAvailable } from "./wrk.ts";
import { influxdPath } from "../tests/_influxd.ts";

/** Every scenario, in the order of a default run. */
export const SCENARIOS: readonly (ScenarioSpec | SkippedScenario)[] = [
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
    id: "B",
    title: "A into two real influxd (unique points)",
    target: "influxd",
    points: 1000,
  },
  {
    id: "C",
    title: "UDP at 50k/100k/200k points/s → relay → 2 UDP null sinks",
    reason: "not implemented yet (issue 4)",
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
  --no-profile       Skip the profiled run of scenario A
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

function isSkipped(s: ScenarioSpec | SkippedScenario): s is SkippedScenario {
  return "reason" in s;
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

function summaryLine(result: ScenarioResult): string {
  const cpu = result.relayCpuPerMillion === null
    ? ""
    : `, relay ${result.relayCpuPerMillion.toFixed(2)} CPU-s/M points`;
  const lost = result.sinks.reduce((n, s) => n + s.lost, 0);
  return `  ${result.spec.id}: ${
    Math.round(result.pointsPerSecond)
  } points/s${cpu}, lost ${lost}`;
}

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      write: { type: "boolean" },
      only: { type: "string" },
      seconds: { type: "string" },
      warmup: { type: "string" },
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
    const haveInfluxd = influxdPath() !== null;
    const results: ScenarioResult[] = [];
    const skipped: SkippedScenario[] = [];
    for (const scenario of SCENARIOS) {
      if (ids !== undefined && !ids.includes(scenario.id)) continue;
      if (isSkipped(scenario)) {
        log(`${scenario.id}: ${scenario.reason}`);
        skipped.push(scenario);
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
      const file = [...Deno.readDirSync(profileDir)].find((e) =>
        e.name.endsWith(".cpuprofile")
      );
      if (file === undefined) {
        log("  no .cpuprofile was written");
      } else {
        const keep = `${ROOT}.bench/relay-A.cpuprofile`;
        await Deno.mkdir(`${ROOT}.bench`, { recursive: true });
        await Deno.copyFile(`${profileDir}/${file.name}`, keep);
        const summary = summarizeCpuProfile(
          JSON.parse(await Deno.readTextFile(keep)),
        );
        profile = { result, summary, path: ".bench/relay-A.cpuprofile" };
      }
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
      relayV8Flags: v8Flags ?? "none",
      connections: context.connections,
      bytesPerLine: data.bytesPerLine,
      gzipRatio: data.gzipRatio,
      totalSeconds: (performance.now() - started) / 1000,
    };
    const text = renderReport({ info, results, skipped, profile });
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
