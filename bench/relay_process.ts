/**
 * The relay under test, as its own process: like `main.ts`, but the sender
 * implementation is chosen on the command line, logs are JSON lines on
 * stderr (so the runner can count failed backend writes and read what
 * retry buffers still hold at shutdown), and the bound addresses are
 * printed on stdout as one JSON line once it listens:
 * `{"url": <first HTTP listener or null>, "udp": [{"name", "port"}, …]}`.
 *
 * ```sh
 * deno run --allow-net --allow-env --allow-read --allow-write \
 *   bench/relay_process.ts --config bench.toml --sender fetch
 * ```
 *
 * While running it samples `Deno.memoryUsage()` every 250 ms. SIGTERM or
 * SIGINT stops it gracefully (in-flight writes get 10 s), prints the
 * sampled peaks and every UDP listener's counters (with its outputs') as a
 * second JSON line, and exits normally, so `--cpu-prof` writes its profile.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  loadConfig,
  setupLogging,
  startService,
  type StartServiceOptions,
} from "../relay/mod.ts";

const SENDERS = ["node-http", "fetch"] as const;

async function main(args: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      config: { type: "string" },
      sender: { type: "string", default: "node-http" },
    },
    strict: true,
  });
  const sender = values.sender as StartServiceOptions["sender"];
  if (!(SENDERS as readonly (string | undefined)[]).includes(sender)) {
    throw new RangeError(
      `Cannot start the bench relay as '--sender' must be one of ${
        SENDERS.join(", ")
      }: current value is '${values.sender}'`,
    );
  }
  if (values.config === undefined) {
    throw new TypeError("Cannot start the bench relay: missing '--config'");
  }
  const config = await loadConfig(values.config);
  const logging = await setupLogging({ level: "warning", format: "json" });
  const service = await startService(config, {
    userAgent: "influxdb-relay-bench",
    ...(sender === undefined ? {} : { sender }),
  });
  // deno-lint-ignore no-console
  console.log(JSON.stringify({
    url: service.listeners[0]?.url ?? null,
    udp: service.udpListeners.map((u) => ({ name: u.name, port: u.addr.port })),
  }));

  // Peaks of V8's own accounting, to tell heap growth from other RSS.
  const peak = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0 };
  const sampler = setInterval(() => {
    const usage = Deno.memoryUsage();
    for (const key of Object.keys(peak) as (keyof typeof peak)[]) {
      peak[key] = Math.max(peak[key], usage[key]);
    }
  }, 250);

  const { promise, resolve } = Promise.withResolvers<void>();
  const signals = ["SIGTERM", "SIGINT"] as const;
  for (const signal of signals) Deno.addSignalListener(signal, resolve);
  await promise;
  for (const signal of signals) Deno.removeSignalListener(signal, resolve);
  clearInterval(sampler);
  const result = await service.stop(10_000);
  const udp = service.udpListeners.map((u) => ({
    name: u.name,
    stats: u.stats,
    outputs: u.outputs.map((o) => ({ name: o.name, stats: o.stats })),
  }));
  // deno-lint-ignore no-console
  console.log(JSON.stringify({ stopped: result, memoryPeak: peak, udp }));
  await logging[Symbol.asyncDispose]();
}

if (import.meta.main) await main(Deno.args);
