#!/usr/bin/env -S deno run --v8-flags=--max-semi-space-size=4 --allow-net --allow-env --allow-read --allow-write
/**
 * The `influxdb-relay` command: reads the config, starts every listener and
 * stops gracefully on SIGINT or SIGTERM.
 *
 * ```sh
 * influxdb-relay --config relay.toml
 * influxdb-relay -config relay.toml          # Go-style, as the original
 * influxdb-relay --check-config --config relay.toml
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import denoJson from "./deno.json" with { type: "json" };
import {
  checkFiles,
  ConfigError,
  configWarnings,
  loadConfig,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type LogLevel,
  parseDuration,
  type RelayConfig,
  type RelayService,
  setupLogging,
  startService,
  type StopResult,
} from "./relay/mod.ts";
import { getRelayLogger } from "./relay/log.ts";
import { withPermissionHint } from "./relay/permission_hint.ts";

/** The relay's version, from deno.json. */
export const VERSION: string = denoJson.version;

const USAGE = `Usage: influxdb-relay --config <file> [options]

Options:
  -config, --config <file>      Configuration file to use
  --check-config                Validate the configuration, print a summary, exit
  --log-level <level>           ${LOG_LEVELS.join(", ")} (default: info)
  --log-format <format>         ${LOG_FORMATS.join(", ")} (default: text)
  --shutdown-timeout <duration> How long in-flight writes may take on SIGINT or
                                SIGTERM, as a Go duration (default: 30s)
  -version, --version           Print the version and exit
  -h, -help, --help             Print this help and exit
`;

const OPTIONS = {
  config: { type: "string" },
  "check-config": { type: "boolean" },
  "log-level": { type: "string" },
  "log-format": { type: "string" },
  "shutdown-timeout": { type: "string" },
  version: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * Accepts Go-style single-dash long flags (`-config x`, `-config=x`), which
 * the original relay's packaged units use, by rewriting them to `--config`.
 */
function normalizeArgs(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      out.push(...args.slice(i));
      break;
    }
    out.push(/^-[a-z][a-z-]+(=.*)?$/s.test(arg) ? `-${arg}` : arg);
  }
  return out;
}

function fail(message: string, code: number): never {
  // deno-lint-ignore no-console
  console.error(message);
  Deno.exit(code);
}

/** The parenthesis of the `Stopped (…)` line: what did not finish, if anything. */
function stopOutcome(result: StopResult): string {
  const parts: string[] = [];
  if (result.abandoned > 0) {
    parts.push(`${result.abandoned} backend writes abandoned`);
  }
  if (result.lostWrites > 0) {
    parts.push(`${result.lostWrites} queued writes lost with memory buffers`);
  }
  if (result.keptWrites > 0) {
    parts.push(`${result.keptWrites} queued writes kept in disk spools`);
  }
  return parts.length === 0 ? "all writes finished" : parts.join("; ");
}

function summary(config: RelayConfig): string {
  const http = config.http.map((l) =>
    `http "${l.name}" on ${l.bindAddr || ":0"} -> ${l.outputs.length} output(s)`
  );
  const udp = config.udp.map((l) =>
    `udp "${l.name}" on ${l.bindAddr || ":0"} -> ${l.outputs.length} output(s)`
  );
  const admin = config.admin === null
    ? []
    : [`admin on ${config.admin.bindAddr}`];
  return [...http, ...udp, ...admin].join(", ") || "no listeners";
}

/**
 * SIGHUP: re-reads the config file and applies it to the running relay; a
 * config that cannot be loaded or applied is logged and the running one
 * kept.
 */
async function reloadConfig(
  service: RelayService,
  path: string,
): Promise<void> {
  const logger = getRelayLogger("service");
  logger.info('Received SIGHUP: reloading config "{config}"', {
    config: path,
  });
  let config: RelayConfig;
  try {
    config = await loadConfig(path);
    for (const warning of configWarnings(config)) {
      logger.warn("{warning}", { warning });
    }
    const { changes, failures } = await service.reload(config);
    logger.info('Reloaded config "{config}": {changes}', {
      config: path,
      changes: changes.join("; ") || "nothing changed",
    });
    for (const failure of failures) {
      logger.error('Reload of config "{config}" left out: {error}', {
        config: path,
        error: withPermissionHint(failure),
      });
    }
  } catch (error) {
    logger.error(
      'Cannot reload config "{config}", keeping the running one: {error}',
      { config: path, error: withPermissionHint((error as Error).message) },
    );
  }
}

/** Runs the command line. */
async function main(args: readonly string[]): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      args: normalizeArgs(args),
      options: OPTIONS,
      strict: true,
      allowPositionals: true,
    }));
  } catch (error) {
    fail(`${(error as Error).message}\n${USAGE}`, 2);
  }
  if (values.help) {
    // deno-lint-ignore no-console
    console.log(USAGE);
    return;
  }
  if (values.version) {
    // deno-lint-ignore no-console
    console.log(
      `influxdb-relay ${VERSION} (deno ${Deno.version.deno}, ${Deno.build.target}${
        Deno.build.standalone ? ", single binary" : ""
      })`,
    );
    return;
  }
  const level = values["log-level"] ?? "info";
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    fail(
      `Invalid --log-level "${level}": expected one of ${
        LOG_LEVELS.join(", ")
      }\n${USAGE}`,
      2,
    );
  }
  const format = values["log-format"] ?? "text";
  if (!(LOG_FORMATS as readonly string[]).includes(format)) {
    fail(
      `Invalid --log-format "${format}": expected one of ${
        LOG_FORMATS.join(", ")
      }\n${USAGE}`,
      2,
    );
  }
  let shutdownMs = 30_000;
  if (values["shutdown-timeout"] !== undefined) {
    try {
      shutdownMs = parseDuration(values["shutdown-timeout"]);
    } catch (error) {
      fail(`Invalid --shutdown-timeout: ${(error as Error).message}`, 2);
    }
    if (shutdownMs < 0) {
      fail("Invalid --shutdown-timeout: must not be negative", 2);
    }
  }
  if (values.config === undefined || values.config === "") {
    fail(`Missing configuration file\n${USAGE}`, 1);
  }

  let config: RelayConfig;
  try {
    config = await loadConfig(values.config);
  } catch (error) {
    if (error instanceof ConfigError) {
      fail(withPermissionHint(error.message), 1);
    }
    throw error;
  }
  if (values["check-config"]) {
    let warnings: string[] = [];
    try {
      warnings = [...configWarnings(config), ...await checkFiles(config)];
    } catch (error) {
      fail(withPermissionHint((error as Error).message), 1);
    }
    for (const warning of warnings) {
      // deno-lint-ignore no-console
      console.error(`warning: ${warning}`);
    }
    // deno-lint-ignore no-console
    console.log(`${values.config}: OK: ${summary(config)}`);
    return;
  }

  const logging = await setupLogging({
    level: level as LogLevel,
    format: format as LogFormat,
  });
  const logger = getRelayLogger("service");
  logger.info('Starting influxdb-relay {version} with config "{config}"', {
    version: VERSION,
    config: values.config,
  });
  for (const warning of configWarnings(config)) {
    logger.warn("{warning}", { warning });
  }
  let service;
  try {
    service = await startService(config, {
      userAgent: `influxdb-relay/${VERSION}`,
      version: VERSION,
    });
  } catch (error) {
    logger.fatal("{error}", {
      error: withPermissionHint((error as Error).message),
    });
    await logging[Symbol.asyncDispose]();
    Deno.exit(1);
  }

  const { promise: stopped, resolve } = Promise.withResolvers<string>();
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT"]
    : ["SIGINT", "SIGTERM"];
  for (const signal of signals) {
    Deno.addSignalListener(signal, () => resolve(signal));
  }
  // Windows has no SIGHUP.
  if (Deno.build.os !== "windows") {
    const path = values.config;
    Deno.addSignalListener("SIGHUP", () => void reloadConfig(service, path));
  }
  const signal = await stopped;
  logger.info(
    "Received {signal}: stopping, in-flight writes have {deadlineMs}ms",
    {
      signal,
      deadlineMs: shutdownMs,
    },
  );
  const result = await service.stop(shutdownMs);
  logger.info("Stopped ({outcome})", { outcome: stopOutcome(result) });
  await logging[Symbol.asyncDispose]();
  Deno.exit(0);
}

if (import.meta.main) {
  await main(Deno.args);
}
