/**
 * `deno task soak`: a bounded soak of the relay process (minutes, not part
 * of `deno task test`). Two real `influxd` behind the relay, the second
 * flapping (stopped and started again on a schedule) and buffered in a disk
 * spool, the first buffered in memory; constant writes through the relay,
 * each retried by its writer until it is acknowledged (204), as a client
 * would. Every few seconds it prints the relay's RSS and open file
 * descriptors; at the end it waits for the buffers to drain and compares
 * what each InfluxDB stored with what was acknowledged.
 *
 * Fails (exit 1) when an acknowledged point is missing from either InfluxDB,
 * when RSS grows in the last third of the run beyond the middle third's peak
 * by more than 25 % + 16 MiB, or when open descriptors grow by more than 16.
 *
 * ```sh
 * deno task soak                       # 5 minutes
 * deno task soak --minutes 2 --rate 80
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type Influxd, influxdPath, startInfluxd } from "./_influxd.ts";
import { spawnRelay } from "./_relay_process.ts";

const DB = "soak";

interface Sample {
  readonly second: number;
  readonly rssMiB: number;
  /** Bytes queued in the retry buffers, from the relay's /status. */
  readonly queuedMiB: number;
  readonly fds: number;
  readonly acked: number;
  readonly retries: number;
  readonly backendUp: boolean;
}

function log(line: string): void {
  // deno-lint-ignore no-console
  console.log(line);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function rssMiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

/** What the relay's retry buffers hold, from its `/status`. */
async function queuedMiB(url: string): Promise<number> {
  try {
    const response = await fetch(`${url}/status`);
    const status = await response.json() as {
      listeners: { outputs?: { buffer?: { queuedBytes: number } | null }[] }[];
    };
    let bytes = 0;
    for (const listener of status.listeners) {
      for (const output of listener.outputs ?? []) {
        bytes += output.buffer?.queuedBytes ?? 0;
      }
    }
    return bytes / 1024 / 1024;
  } catch {
    return Number.NaN;
  }
}

async function openFds(pid: number): Promise<number> {
  let count = 0;
  for await (const _ of Deno.readDir(`/proc/${pid}/fd`)) count++;
  return count;
}

/** One writer: sequential writes of `points` lines, paced, retried until 204. */
async function writer(
  url: string,
  id: number,
  options: {
    points: number;
    intervalMs: number;
    until: number;
    stats: { acked: number; retries: number; requests: number };
  },
): Promise<void> {
  const { points, intervalMs, until, stats } = options;
  const base = 1_600_000_000_000_000_000n + BigInt(id) * 10_000_000_000_000n;
  let seq = 0;
  let next = performance.now();
  while (performance.now() < until) {
    let body = "";
    for (let i = 0; i < points; i++) {
      const n = seq * points + i;
      body += `soak,writer=w${id} v=${n}i,load=${(n % 97) / 7} ${
        base + BigInt(n)
      }\n`;
    }
    while (true) {
      stats.requests++;
      let status = 0;
      try {
        const response = await fetch(`${url}/write?db=${DB}`, {
          method: "POST",
          body,
        });
        status = response.status;
        await response.body?.cancel();
      } catch {
        status = 0;
      }
      if (status === 204) break;
      stats.retries++;
      await sleep(250);
    }
    stats.acked += points;
    seq++;
    next += intervalMs;
    const wait = next - performance.now();
    if (wait > 0) await sleep(wait);
    else next = performance.now();
  }
}

/** Stops and starts `influxd` on a schedule until `until`. */
async function flap(
  influxd: Influxd,
  options: {
    upMs: number;
    downMs: number;
    until: number;
    state: { up: boolean };
  },
): Promise<number> {
  const { upMs, downMs, until, state } = options;
  let outages = 0;
  while (performance.now() + upMs + downMs < until) {
    await sleep(upMs);
    await influxd.stop();
    state.up = false;
    outages++;
    await sleep(downMs);
    await influxd.start();
    state.up = true;
  }
  return outages;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      minutes: { type: "string", default: "5" },
      rate: { type: "string", default: "40" },
      points: { type: "string", default: "100" },
      writers: { type: "string", default: "4" },
      "flap-up": { type: "string", default: "20" },
      "flap-down": { type: "string", default: "10" },
      sample: { type: "string", default: "5" },
    },
  });
  const minutes = Number(values.minutes);
  const rate = Number(values.rate);
  const points = Number(values.points);
  const writers = Number(values.writers);
  const upMs = Number(values["flap-up"]) * 1000;
  const downMs = Number(values["flap-down"]) * 1000;
  const sampleMs = Number(values.sample) * 1000;
  if (
    ![minutes, rate, points, writers, upMs, downMs, sampleMs].every((v) =>
      Number.isFinite(v) && v > 0
    )
  ) {
    log("Cannot run the soak: every option must be a positive number");
    return 2;
  }
  if (influxdPath() === null) {
    log("Cannot run the soak: influxd is not installed (bash tests/setup.sh)");
    return 2;
  }

  await using stable = await startInfluxd();
  await using flapping = await startInfluxd();
  await stable.createDatabase(DB);
  await flapping.createDatabase(DB);
  const dir = await Deno.makeTempDir({ prefix: "relay-soak-" });
  try {
    const config = `${dir}/relay.toml`;
    await Deno.writeTextFile(
      config,
      `[[http]]
name = "soak"
bind-addr = "127.0.0.1:0"
output = [
  { name = "stable", location = "${stable.writeUrl}", buffer-size-mb = 256 },
  { name = "flapping", location = "${flapping.writeUrl}", buffer-size-mb = 256, buffer-path = "${dir}/spool", max-delay-interval = "2s", timeout = "5s" },
]
`,
    );
    await using relay = await spawnRelay(config);
    const pid = relay.child.pid;
    const started = performance.now();
    const until = started + minutes * 60_000;
    const stats = { acked: 0, retries: 0, requests: 0 };
    const state = { up: true };
    log(
      `Soak: ${minutes} min, ${rate} writes/s of ${points} points (${writers} writers), backend "flapping" up ${
        upMs / 1000
      }s / down ${downMs / 1000}s; relay pid ${pid}`,
    );
    log(
      "second  rss MiB  queued MiB  fds  acked points  retries  flapping backend",
    );
    const samples: Sample[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const sample: Sample = {
          second: Math.round((performance.now() - started) / 1000),
          rssMiB: await rssMiB(pid),
          queuedMiB: await queuedMiB(relay.url),
          fds: await openFds(pid),
          acked: stats.acked,
          retries: stats.retries,
          backendUp: state.up,
        };
        samples.push(sample);
        log(
          `${String(sample.second).padStart(6)}  ${
            sample.rssMiB.toFixed(1).padStart(7)
          }  ${sample.queuedMiB.toFixed(1).padStart(10)}  ${
            String(sample.fds).padStart(3)
          }  ${String(sample.acked).padStart(12)}  ${
            String(sample.retries).padStart(7)
          }  ${sample.backendUp ? "up" : "down"}`,
        );
        await sleep(sampleMs);
      }
    })();
    const load = Array.from(
      { length: writers },
      (_, id) =>
        writer(relay.url, id, {
          points,
          intervalMs: (writers / rate) * 1000,
          until,
          stats,
        }),
    );
    const outages = await flap(flapping, { upMs, downMs, until, state });
    await Promise.all(load);
    sampling = false;
    await sampler;

    // Let both buffers deliver what they hold (bounded).
    const expected = stats.acked;
    const drainStart = performance.now();
    let stored = [0, 0];
    while (performance.now() - drainStart < 180_000) {
      stored = [await stable.count(DB), await flapping.count(DB)];
      if (stored[0] === expected && stored[1] === expected) break;
      await sleep(1000);
    }
    const drainSeconds = (performance.now() - drainStart) / 1000;
    const finalRss = await rssMiB(pid);
    const finalFds = await openFds(pid);
    const exit = await relay.stop("SIGTERM");

    const third = Math.max(1, Math.floor(samples.length / 3));
    const middle = samples.slice(third, 2 * third);
    const last = samples.slice(2 * third);
    const peak = (list: Sample[]) => Math.max(...list.map((s) => s.rssMiB));
    const middlePeak = peak(middle.length > 0 ? middle : samples);
    const lastPeak = peak(last.length > 0 ? last : samples);
    const firstFds = samples[Math.min(1, samples.length - 1)]?.fds ?? 0;
    const maxFds = Math.max(...samples.map((s) => s.fds));
    const rssOk = lastPeak <= middlePeak * 1.25 + 16;
    const fdsOk = maxFds <= firstFds + 16 && finalFds <= firstFds + 16;
    const lost = [expected - stored[0]!, expected - stored[1]!];
    const dataOk = lost[0] === 0 && lost[1] === 0;

    log("");
    log(
      `Requests ${stats.requests}, of which ${stats.retries} were retries (503s while the flapping backend was down and so on); ${outages} outages`,
    );
    log(
      `Points acknowledged ${expected}; stored: stable ${stored[0]}, flapping ${
        stored[1]
      } (buffers drained in ${drainSeconds.toFixed(1)}s); lost ${lost[0]} / ${
        lost[1]
      }`,
    );
    log(
      `RSS MiB: first ${samples[0]?.rssMiB.toFixed(1)}, middle-third peak ${
        middlePeak.toFixed(1)
      }, last-third peak ${lastPeak.toFixed(1)}, after drain ${
        finalRss.toFixed(1)
      }`,
    );
    log(
      `Open fds: ${firstFds} at start, at most ${maxFds}, ${finalFds} after drain; relay exit code ${exit}`,
    );
    const verdict = [
      dataOk ? null : "acknowledged points are missing",
      rssOk ? null : "RSS kept growing",
      fdsOk ? null : "open file descriptors kept growing",
      exit === 0 ? null : `the relay exited ${exit}`,
    ].filter((v) => v !== null);
    log(
      verdict.length === 0
        ? "SOAK PASSED"
        : `SOAK FAILED: ${verdict.join("; ")}`,
    );
    return verdict.length === 0 ? 0 : 1;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  Deno.exit(await main());
}
