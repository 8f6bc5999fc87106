/**
 * `deno task compile`: builds the single `influxdb-relay` executable with
 * `deno compile`, for this machine or for other targets, with the relay's
 * permissions baked in: network, environment (for `${NAME}` secrets in the
 * config), and file access. Nothing else: no subprocesses, no FFI, no
 * system information, no code from the network at run time.
 *
 * ```sh
 * deno task compile                                  # ./influxdb-relay, any file path
 * deno task compile --read /etc/influxdb-relay --write /var/lib/influxdb-relay
 * deno task compile --from-config /etc/influxdb-relay/relay.toml
 * deno task compile --all                            # dist/, five targets
 * deno task compile --target aarch64-unknown-linux-gnu --dry-run
 * ```
 *
 * File access is any path unless narrowed: `--read` and `--write` name the
 * directories or files the binary may read (config, TLS files, credentials
 * file, spools) and write (spools; writable paths are readable too), and
 * `--from-config` takes exactly the files one config names. A binary that
 * meets a path outside them stops with the path in its error
 * (README, "Single binary").
 *
 * `deno compile` downloads Deno's `denort` runtime for each target the first
 * time (or uses the file named by `DENORT_BIN`, for the host's target).
 *
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import denoJson from "../deno.json" with { type: "json" };
import { ConfigError, loadConfig, type RelayConfig } from "../relay/mod.ts";

/** The targets `deno compile --target` accepts, as Deno names them. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
] as const;

/** One of {@linkcode TARGETS}. */
export type Target = typeof TARGETS[number];

/**
 * V8 flags baked into the binary: a 4 MiB semi-space cut the relay's memory
 * under load from 265 to 156 MB at no CPU cost (BENCHMARKS.md, A-semi4).
 */
export const V8_FLAGS = "--max-semi-space-size=4";

/** What the binary may touch on disk; `null` means any path. */
export interface FileAccess {
  /** Absolute paths the binary may read, or `null` for any. */
  read: string[] | null;
  /** Absolute paths the binary may write, or `null` for any. */
  write: string[] | null;
}

/** File access of a binary that may read and write any path. */
export const ANY_PATH: FileAccess = { read: null, write: null };

/**
 * The permission flags of the relay, for `deno compile` and `deno run`
 * alike. Writable paths are also readable (a spool is read back).
 *
 * @param access What the relay may touch on disk.
 * @returns `--allow-*` flags.
 * @throws {Error} When a path is not absolute: a binary would resolve it
 * against whatever directory it is started in.
 */
export function permissionFlags(access: FileAccess = ANY_PATH): string[] {
  for (const path of [...access.read ?? [], ...access.write ?? []]) {
    if (!isAbsolute(path)) {
      throw new Error(
        `file access path "${path}" is not absolute: a binary would resolve it against the directory it is started in; give an absolute path`,
      );
    }
  }
  const read = access.read === null || access.write === null
    ? null
    : unique([...access.read, ...access.write]);
  const flags = ["--allow-net", "--allow-env"];
  flags.push(read === null ? "--allow-read" : `--allow-read=${read.join(",")}`);
  // An empty list must leave the flag out: `--allow-write=` is not "none".
  if (access.write === null) flags.push("--allow-write");
  else if (access.write.length > 0) {
    flags.push(`--allow-write=${unique(access.write).join(",")}`);
  }
  return flags;
}

/**
 * The files and directories one config makes the relay read and write:
 * the config file itself (read again on SIGHUP), TLS files, the credentials
 * file, CA files, and each output's spool directory (read and written).
 *
 * @param configPath The config file.
 * @param config The loaded config.
 * @returns Absolute paths.
 * @throws {Error} When the config names a relative path: the binary would
 * resolve it against the directory it is started in.
 */
export function fileAccessOf(
  configPath: string,
  config: RelayConfig,
): FileAccess {
  const read: string[] = [resolve(configPath)];
  const write: string[] = [];
  const named = (path: string | null, key: string, list: string[]) => {
    if (path === null || path === "") return;
    if (!isAbsolute(path)) {
      throw new Error(
        `${configPath}: ${key} = "${path}" is a relative path: the binary would resolve it against the directory it is started in; write it as an absolute path to bake it in`,
      );
    }
    list.push(path);
  };
  for (const http of config.http) {
    named(
      http.sslCombinedPem,
      `[[http]] "${http.name}" ssl-combined-pem`,
      read,
    );
    named(http.tlsCert, `[[http]] "${http.name}" tls-cert`, read);
    named(http.tlsKey, `[[http]] "${http.name}" tls-key`, read);
    named(http.authFile, `[[http]] "${http.name}" auth-file`, read);
    for (const output of http.outputs) {
      const where = `[[http]] "${http.name}" output "${output.name}"`;
      named(output.caCert, `${where} ca-cert`, read);
      named(output.bufferPath, `${where} buffer-path`, write);
    }
  }
  return { read: unique(read), write: unique(write) };
}

/** Options of one `deno compile` run. */
export interface CompileOptions {
  /** Target triple, or `null` for this machine. */
  target: Target | null;
  /** Output file. */
  output: string;
  /** File access baked in. */
  access: FileAccess;
}

/**
 * The `deno compile` arguments for one binary.
 *
 * @param options Target, output file and file access.
 * @returns Arguments after `deno`.
 */
export function compileArgs(options: CompileOptions): string[] {
  return [
    "compile",
    "--frozen",
    `--v8-flags=${V8_FLAGS}`,
    ...permissionFlags(options.access),
    ...(options.target === null ? [] : ["--target", options.target]),
    "--output",
    options.output,
    fileURLToPath(new URL("../main.ts", import.meta.url)),
  ];
}

/**
 * Output file name of a cross-compiled binary in `dir`.
 *
 * @param dir Output directory.
 * @param target Target triple.
 * @returns e.g. `dist/influxdb-relay-0.1.0-aarch64-apple-darwin`.
 */
export function distName(dir: string, target: Target): string {
  const exe = target.includes("windows") ? ".exe" : "";
  return `${dir}/influxdb-relay-${denoJson.version}-${target}${exe}`;
}

function unique(paths: string[]): string[] {
  return [...new Set(paths)];
}

function describe(access: FileAccess): string {
  if (access.read === null || access.write === null) {
    return "file access: any path (narrow it with --read/--write or --from-config)";
  }
  const write = access.write.length === 0 ? "nothing" : access.write.join(", ");
  const read = unique([...access.read, ...access.write]).join(", ");
  return `file access: reads ${read}; writes ${write}`;
}

const USAGE = `Usage: deno task compile [options]

Builds the influxdb-relay executable with deno compile.

Options:
  --target <triple>      Build for this target (repeatable); one of:
                         ${TARGETS.join(", ")}
  --all                  Build for every target above, into --out-dir
  --out-dir <dir>        Where --target/--all binaries go (default: dist)
  --output <file>        The host binary's file (default: influxdb-relay)
  --read <path>          Let the binary read only these paths (repeatable)
  --write <path>         ... and write only these (repeatable; readable too)
  --from-config <file>   Read/write exactly the files this config names
  --dry-run              Print the deno compile commands, build nothing
  -h, --help             Print this help`;

async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        target: { type: "string", multiple: true },
        all: { type: "boolean" },
        "out-dir": { type: "string" },
        output: { type: "string" },
        read: { type: "string", multiple: true },
        write: { type: "string", multiple: true },
        "from-config": { type: "string" },
        "dry-run": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    return fail(`${(error as Error).message}\n${USAGE}`, 2);
  }
  const { values } = parsed;
  if (values.help) {
    // deno-lint-ignore no-console
    console.log(USAGE);
    return 0;
  }
  for (const target of values.target ?? []) {
    if (!(TARGETS as readonly string[]).includes(target)) {
      return fail(
        `Unknown --target "${target}": expected one of ${TARGETS.join(", ")}`,
        2,
      );
    }
  }
  const narrowed = values.read !== undefined || values.write !== undefined;
  if (narrowed && values["from-config"] !== undefined) {
    return fail("Give --read/--write or --from-config, not both", 2);
  }

  let access = ANY_PATH;
  if (values["from-config"] !== undefined) {
    const path = values["from-config"];
    try {
      access = fileAccessOf(path, await loadConfig(path));
    } catch (error) {
      if (error instanceof ConfigError) return fail(error.message, 1);
      return fail((error as Error).message, 1);
    }
  } else if (narrowed) {
    access = { read: values.read ?? [], write: values.write ?? [] };
  }
  try {
    permissionFlags(access);
  } catch (error) {
    return fail((error as Error).message, 2);
  }

  const targets: Target[] = values.all
    ? [...TARGETS]
    : (values.target ?? []) as Target[];
  const foreign = targets.filter((target) => target !== Deno.build.target);
  if (Deno.env.get("DENORT_BIN") && foreign.length > 0 && !values["dry-run"]) {
    return fail(
      `DENORT_BIN is a runtime for one target; unset it to cross-compile for ${
        foreign.join(", ")
      } (deno compile then downloads each target's runtime)`,
      2,
    );
  }
  const outDir = values["out-dir"] ?? "dist";
  const builds: CompileOptions[] = targets.length === 0
    ? [{ target: null, output: values.output ?? "influxdb-relay", access }]
    : targets.map((target) => ({
      target,
      output: distName(outDir, target),
      access,
    }));

  // deno-lint-ignore no-console
  console.error(`compile: ${describe(access)}`);
  for (const build of builds) {
    const commandArgs = compileArgs(build);
    if (values["dry-run"]) {
      // deno-lint-ignore no-console
      console.log(["deno", ...commandArgs].join(" "));
      continue;
    }
    if (build.target !== null) await Deno.mkdir(outDir, { recursive: true });
    const { code } = await new Deno.Command(Deno.execPath(), {
      args: commandArgs,
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (code !== 0) {
      return fail(
        `compile: deno compile for ${
          build.target ?? Deno.build.target
        } failed (exit ${code}); it needs internet access once to download its denort runtime, or DENORT_BIN naming one`,
        1,
      );
    }
    // deno-lint-ignore no-console
    console.error(`compile: wrote ${build.output}`);
  }
  return 0;
}

function fail(message: string, code: number): number {
  // deno-lint-ignore no-console
  console.error(message);
  return code;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
