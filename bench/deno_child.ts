/**
 * A Deno script run as a child process of the benchmark: its stdout is read
 * line by line (the first line is its JSON "ready" message), its stderr is
 * kept, and stopping it is bounded (SIGTERM, then SIGKILL).
 *
 * @module
 */

import { fileURLToPath as fromFileUrl } from "node:url";

/** The checkout's root directory (where deno.json is). */
export const ROOT: string = fromFileUrl(new URL("../", import.meta.url));

/** A running child. */
export interface DenoChild {
  /** Its process id (the deno process itself). */
  readonly pid: number;
  /** The first stdout line, parsed as JSON. */
  readonly ready: Promise<unknown>;
  /** Every stdout line so far. */
  readonly stdout: readonly string[];
  /** Every stderr line so far. */
  readonly stderr: readonly string[];
  /**
   * Sends SIGTERM and waits for the exit; sends SIGKILL after `timeoutMs`.
   * @returns The exit status.
   */
  stop(timeoutMs?: number): Promise<Deno.CommandStatus>;
  /**
   * Closes the child's stdin (when it was piped) and waits for it to exit
   * on its own; sends SIGKILL after `timeoutMs`.
   * @returns The exit status.
   */
  finish(timeoutMs?: number): Promise<Deno.CommandStatus>;
}

/** Options for {@linkcode spawnDeno}. */
export interface SpawnDenoOptions {
  /** Flags before the script, e.g. permissions and `--cpu-prof`. */
  denoFlags: readonly string[];
  /** The script, relative to `cwd`. */
  script: string;
  /**
   * Directory to run in (whose deno.json applies).
   * @default {@linkcode ROOT}
   */
  cwd?: string;
  /**
   * Arguments after the script.
   * @default []
   */
  args?: readonly string[];
  /**
   * How long the first stdout line may take.
   * @default 30000
   */
  readyTimeoutMs?: number;
  /**
   * Give the child a stdin pipe that stays open until
   * {@linkcode DenoChild.finish} (for children that report when their stdin
   * closes); otherwise stdin is `/dev/null`.
   * @default false
   */
  pipeStdin?: boolean;
}

async function collectLines(
  stream: ReadableStream<Uint8Array>,
  lines: string[],
  onLine: (line: string) => void,
): Promise<void> {
  let rest = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    rest += text;
    let nl = rest.indexOf("\n");
    while (nl >= 0) {
      const line = rest.slice(0, nl);
      rest = rest.slice(nl + 1);
      lines.push(line);
      onLine(line);
      nl = rest.indexOf("\n");
    }
  }
  if (rest !== "") {
    lines.push(rest);
    onLine(rest);
  }
}

/**
 * Starts `deno run <denoFlags> <script> <args>` in `cwd`.
 *
 * @param options Flags, script and arguments.
 * @returns The child; await `ready` before using it.
 */
export function spawnDeno(options: SpawnDenoOptions): DenoChild {
  const {
    denoFlags,
    script,
    cwd = ROOT,
    args = [],
    readyTimeoutMs = 30_000,
    pipeStdin = false,
  } = options;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...denoFlags, script, ...args],
    cwd,
    stdin: pipeStdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout: string[] = [];
  const stderr: string[] = [];
  const ready = Promise.withResolvers<unknown>();
  const timer = setTimeout(() => {
    ready.reject(
      new Error(
        `Cannot start ${script}: no ready line after ${readyTimeoutMs} ms\n${
          stderr.join("\n")
        }`,
      ),
    );
  }, readyTimeoutMs);
  const out = collectLines(child.stdout, stdout, (line) => {
    if (stdout.length === 1) {
      clearTimeout(timer);
      try {
        ready.resolve(JSON.parse(line));
      } catch (error) {
        ready.reject(error);
      }
    }
  });
  const err = collectLines(child.stderr, stderr, () => {});
  void child.status.then((status) => {
    clearTimeout(timer);
    ready.reject(
      new Error(
        `Cannot start ${script}: exited with code ${status.code}\n${
          stderr.join("\n")
        }`,
      ),
    );
  });
  // Once resolved, a later rejection is ignored; keep it from surfacing.
  ready.promise.catch(() => {});
  const stdin = pipeStdin ? child.stdin.getWriter() : null;
  async function closeStdin(): Promise<void> {
    await stdin?.close().catch(() => {});
  }
  /** Waits for the exit (SIGKILL after `timeoutMs`) and for its output. */
  async function exited(timeoutMs: number): Promise<Deno.CommandStatus> {
    const killer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }, timeoutMs);
    const status = await child.status;
    clearTimeout(killer);
    await Promise.all([out, err]);
    return status;
  }
  let stopping: Promise<Deno.CommandStatus> | null = null;
  return {
    pid: child.pid,
    ready: ready.promise,
    stdout,
    stderr,
    stop(timeoutMs = 15_000) {
      stopping ??= (async () => {
        try {
          child.kill("SIGTERM");
        } catch {
          // already gone
        }
        await closeStdin();
        return await exited(timeoutMs);
      })();
      return stopping;
    },
    finish(timeoutMs = 15_000) {
      stopping ??= (async () => {
        await closeStdin();
        return await exited(timeoutMs);
      })();
      return stopping;
    },
  };
}
