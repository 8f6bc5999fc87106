/**
 * Test helper: runs `main.ts` as a real process with a config file and
 * finds its HTTP listener's address in its log.
 */
import { fileURLToPath } from "node:url";
import { permissionFlags } from "../deploy/compile.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** The permissions `deno task start` and the default binary grant. */
export const RELAY_PERMISSIONS: readonly string[] = permissionFlags();

/** A relay process. */
export interface RelayProcess extends AsyncDisposable {
  /** Base URL of the first HTTP listener, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** The child process. */
  readonly child: Deno.ChildProcess;
  /** Everything it wrote to stderr so far. */
  log(): string;
  /** Sends a signal and waits for the exit code. */
  stop(signal: Deno.Signal): Promise<number>;
}

/** Options for {@linkcode spawnRelay}. */
export interface SpawnRelayOptions {
  /**
   * Permission flags for `deno run`.
   * @default {RELAY_PERMISSIONS}
   */
  permissions?: readonly string[];
  /** A compiled relay binary to run instead of `deno run main.ts`. */
  executable?: string;
  /** More arguments after `--config <path>`, e.g. `--log-format json`. */
  args?: readonly string[];
}

/**
 * Starts `main.ts --config <path>` and waits (bounded) until it logs its
 * HTTP listener's address.
 *
 * @param configPath The config file.
 * @param options Permissions, or a compiled binary to run.
 * @returns The running process; disposing it kills it.
 */
export async function spawnRelay(
  configPath: string,
  options: SpawnRelayOptions = {},
): Promise<RelayProcess> {
  const { permissions = RELAY_PERMISSIONS, executable, args: extra = [] } =
    options;
  const command = executable ?? Deno.execPath();
  const args = executable === undefined
    ? [
      "run",
      ...permissions,
      `${ROOT}main.ts`,
      "--config",
      configPath,
      ...extra,
    ]
    : ["--config", configPath, ...extra];
  const child = new Deno.Command(command, {
    args,
    cwd: ROOT,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let text = "";
  const found = Promise.withResolvers<string>();
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      text += decoder.decode(chunk, { stream: true });
      const match = text.match(/Starting HTTPS? relay "[^"]*" on (\S+)/);
      if (match) found.resolve(`http://${match[1]}`);
    }
    found.reject(new Error(`relay exited before listening:\n${text}`));
  })();
  const timer = setTimeout(
    () => found.reject(new Error(`relay did not listen within 20s:\n${text}`)),
    20_000,
  );
  let url: string;
  try {
    url = await found.promise;
  } catch (error) {
    child.kill("SIGKILL");
    await child.status;
    await reading;
    throw error;
  } finally {
    clearTimeout(timer);
  }
  let exited = false;
  const stop = async (signal: Deno.Signal) => {
    if (!exited) {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
    }
    const status = await child.status;
    exited = true;
    await reading;
    return status.code;
  };
  return {
    url,
    child,
    log: () => text,
    stop,
    async [Symbol.asyncDispose]() {
      await stop("SIGKILL");
    },
  };
}

/** What a finished `main.ts` run printed, and its exit code. */
export interface RelayRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `main.ts` with these arguments to its end (for `--check-config`,
 * `--version`, or a start that must fail).
 *
 * @param args Arguments after `main.ts`.
 * @param permissions Permission flags for `deno run`.
 * @returns Exit code and output.
 */
export async function runRelay(
  args: readonly string[],
  permissions: readonly string[] = RELAY_PERMISSIONS,
): Promise<RelayRun> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, `${ROOT}main.ts`, ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}
