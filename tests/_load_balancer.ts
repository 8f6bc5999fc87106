/**
 * Test helper: runs the load-balancer recipes of `docs/load-balancing.md`
 * with real `nginx` and `haproxy` processes on loopback ports, as the
 * current user, with every file (config, pid, temp, log) in a temp dir.
 *
 * The recipes are taken from the document's fenced blocks; the only
 * change made to them is the replacement of the example addresses the
 * document lists ({@linkcode fillRecipe}). What the tests add around them
 * is process-level only: nginx's main file (pid, temp paths, the `http`
 * settings of Debian's stock `nginx.conf` that matter here) and HAProxy's
 * `global` section (logs to stderr).
 *
 * @module
 */

import { waitFor } from "./_wait.ts";

/** The load balancers the document has recipes for. */
export type LoadBalancerKind = "nginx" | "haproxy";

const INSTALL_HINT = "apt-get install -y --no-install-recommends nginx haproxy";
const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;
const START_ATTEMPTS = 5;

/**
 * Finds a binary in `/usr/sbin`, `/usr/bin`, then `PATH` (nginx and
 * haproxy are in `/usr/sbin`, which a non-root `PATH` often lacks).
 *
 * @param name The binary's name.
 * @returns Its path, or `null` when it is not installed.
 */
export function binaryPath(name: string): string | null {
  const candidates = [`/usr/sbin/${name}`, `/usr/bin/${name}`];
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir !== "") candidates.push(`${dir}/${name}`);
  }
  for (const candidate of candidates) {
    try {
      const info = Deno.statSync(candidate);
      if (info.isFile && ((info.mode ?? 0o755) & 0o111) !== 0) return candidate;
    } catch {
      // not there; try the next one
    }
  }
  return null;
}

const noticeShown = new Set<string>();

/**
 * Tells whether a load balancer's test must be skipped, for `Deno.test`'s
 * `ignore`: prints (once per binary) that it is SKIPPED and how to install
 * it; with `CI=true` a missing binary throws instead, because CI must run
 * every test.
 *
 * @param kind `nginx` or `haproxy`.
 * @returns `null` when the binary is there, else the reason to skip.
 * @throws {Error} When the binary is missing and `CI` is `"true"`.
 */
export function loadBalancerSkipReason(kind: LoadBalancerKind): string | null {
  if (binaryPath(kind) !== null) return null;
  const reason =
    `${kind} not found (looked in /usr/sbin, /usr/bin and PATH): install it with '${INSTALL_HINT}'`;
  if (Deno.env.get("CI") === "true") {
    throw new Error(
      `Cannot run the ${kind} load-balancer test in CI: ${reason}`,
    );
  }
  if (!noticeShown.has(kind)) {
    noticeShown.add(kind);
    // deno-lint-ignore no-console
    console.warn(
      `\n*** The ${kind} load-balancer test is SKIPPED: ${reason} (or run 'bash tests/setup.sh' as root) ***\n`,
    );
  }
  return reason;
}

/**
 * The one fenced block of a Markdown text whose info string is `info`
 * (e.g. ```` ```nginx ````).
 *
 * @param markdown The document.
 * @param info The block's language tag.
 * @returns The block's text, ending with a newline.
 * @throws {SyntaxError} When there is not exactly one such block.
 */
export function recipeBlock(markdown: string, info: string): string {
  const blocks: string[] = [];
  const pattern = /^```([^\n`]*)\n([\s\S]*?)^```[ \t]*$/gm;
  for (const match of markdown.matchAll(pattern)) {
    if ((match[1] ?? "").trim() === info) blocks.push(match[2] ?? "");
  }
  if (blocks.length !== 1) {
    throw new SyntaxError(
      `Cannot take the '${info}' recipe: the document has ${blocks.length} '${info}' blocks, expected exactly 1`,
    );
  }
  return blocks[0]!;
}

/**
 * Replaces the example addresses of a recipe, and nothing else: each key
 * must occur in the block (so a recipe that changed its addresses cannot
 * be run half-replaced), and no address of the document's example network
 * (`10.0.0.x`) may be left.
 *
 * @param block A recipe block.
 * @param replacements Example text → the test's value.
 * @returns The block with every occurrence replaced.
 * @throws {SyntaxError} When a key is missing or an example address is left.
 */
export function fillRecipe(
  block: string,
  replacements: Readonly<Record<string, string>>,
): string {
  let text = block;
  for (const [from, to] of Object.entries(replacements)) {
    if (!text.includes(from)) {
      throw new SyntaxError(
        `Cannot fill the recipe: it does not contain '${from}' (docs/load-balancing.md and the test disagree)`,
      );
    }
    text = text.replaceAll(from, to);
  }
  const left = text.match(/10\.0\.0\.\d+/);
  if (left !== null) {
    throw new SyntaxError(
      `Cannot fill the recipe: example address '${
        left[0]
      }' is left after replacement`,
    );
  }
  return text;
}

/** A free TCP port on 127.0.0.1 (free now; a start retries if it is taken). */
export function freeLoopbackPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** A running load balancer. */
export interface LoadBalancer extends AsyncDisposable {
  /** Its base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** Everything it wrote to stdout and stderr so far. */
  log(): string;
  /**
   * Waits (bounded) until its output matches `pattern`.
   *
   * @throws {Error} When it does not within `timeoutMs`.
   */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Stops it (SIGTERM, then SIGKILL after 10 s) and waits for the exit. */
  stop(): Promise<void>;
}

/** Options for {@linkcode startLoadBalancer}. */
export interface StartLoadBalancerOptions {
  /** Directory for its files (config, pid, temp); the caller removes it. */
  dir: string;
  /**
   * The recipe block with everything but the listening address filled;
   * `listen` (nginx) or `bind` (HAProxy) is replaced here, with a port
   * chosen per start attempt.
   */
  recipe: string;
}

/** The nginx main file around the recipe; only process-level settings. */
function nginxMain(dir: string, include: string): string {
  return `# Test wrapper around docs/load-balancing.md's nginx recipe.
pid ${dir}/nginx.pid;
error_log stderr warn;
worker_processes 1;
events {
    worker_connections 256;
}
http {
    # Files in the test's temp dir instead of the compiled-in /var paths.
    access_log off;
    client_body_temp_path ${dir}/client_body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
    # What Debian's stock nginx.conf sets in http { } and matters here.
    default_type application/octet-stream;
    gzip on;
    include ${include};
}
`;
}

/** HAProxy's global section for the test: logs to stderr. */
const HAPROXY_GLOBAL =
  `# Test wrapper around docs/load-balancing.md's HAProxy recipe.
global
    log stderr format raw local0 info
`;

interface Spawned {
  child: Deno.ChildProcess;
  text: () => string;
  done: Promise<void>;
}

function spawn(binary: string, args: string[]): Spawned {
  const child = new Deno.Command(binary, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  async function read(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      text += decoder.decode(chunk, { stream: true });
    }
  }
  const done = Promise.all([read(child.stdout), read(child.stderr)]).then(
    () => {},
  );
  return { child, text: () => text, done };
}

async function stopChild(spawned: Spawned): Promise<void> {
  const { child } = spawned;
  try {
    child.kill("SIGTERM");
  } catch {
    // already exited
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), STOP_TIMEOUT_MS);
  });
  try {
    if (await Promise.race([child.status, timedOut]) === "timeout") {
      try {
        child.kill("SIGKILL");
      } catch {
        // exited meanwhile
      }
      await child.status;
    }
  } finally {
    clearTimeout(timer);
  }
  await spawned.done;
}

/** `/ping` through the load balancer answers 204 (bounded by a timeout). */
async function pings(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/ping`, {
      signal: AbortSignal.timeout(2000),
    });
    await response.body?.cancel();
    return response.status === 204;
  } catch {
    return false;
  }
}

function launch(
  kind: LoadBalancerKind,
  dir: string,
  recipe: string,
  port: number,
): Spawned {
  const binary = binaryPath(kind);
  if (binary === null) throw new Error(`Cannot start ${kind}: not installed`);
  if (kind === "nginx") {
    const conf = `${dir}/influxdb-relay.conf`;
    Deno.writeTextFileSync(
      conf,
      fillRecipe(recipe, { "listen 8086;": `listen 127.0.0.1:${port};` }),
    );
    Deno.writeTextFileSync(`${dir}/nginx.conf`, nginxMain(dir, conf));
    // -e: the error log before the config is read, instead of the
    // compiled-in /var/log/nginx/error.log.
    return spawn(binary, [
      "-p",
      dir,
      "-e",
      "stderr",
      "-c",
      `${dir}/nginx.conf`,
      "-g",
      "daemon off;",
    ]);
  }
  const cfg = `${dir}/influxdb-relay.cfg`;
  Deno.writeTextFileSync(
    cfg,
    fillRecipe(recipe, { "bind :8086": `bind 127.0.0.1:${port}` }),
  );
  Deno.writeTextFileSync(`${dir}/global.cfg`, HAPROXY_GLOBAL);
  return spawn(binary, ["-f", `${dir}/global.cfg`, "-f", cfg, "-db"]);
}

/**
 * Starts nginx or HAProxy with a recipe on a free loopback port and waits
 * (bounded) until `/ping` through it answers 204. A start that lost its
 * port to another process is retried on a new one.
 *
 * @param kind `nginx` or `haproxy`.
 * @param options Its directory and the recipe.
 * @returns The running load balancer; disposing it stops it.
 * @throws {Error} When it exits or does not answer within 10 s.
 */
export async function startLoadBalancer(
  kind: LoadBalancerKind,
  options: StartLoadBalancerOptions,
): Promise<LoadBalancer> {
  const { dir, recipe } = options;
  if (Deno.uid() === 0) {
    // nginx's workers run as "nobody" when started by root: let them
    // reach the temp paths.
    await Deno.chmod(dir, 0o755);
  }
  for (let attempt = 1;; attempt++) {
    const port = freeLoopbackPort();
    const url = `http://127.0.0.1:${port}`;
    const spawned = launch(kind, dir, recipe, port);
    let exited = false;
    spawned.child.status.then(() => {
      exited = true;
    });
    try {
      await waitFor(async () => {
        if (exited) throw new Error(`${kind} exited:\n${spawned.text()}`);
        return await pings(url);
      }, {
        timeoutMs: READY_TIMEOUT_MS,
        intervalMs: 20,
        message: () => `${kind} to answer /ping on ${url}:\n${spawned.text()}`,
      });
    } catch (error) {
      await stopChild(spawned);
      if (
        /address already in use/i.test(spawned.text()) &&
        attempt < START_ATTEMPTS
      ) {
        continue;
      }
      throw error;
    }
    let stopped: Promise<void> | null = null;
    const stop = () => stopped ??= stopChild(spawned);
    return {
      url,
      log: spawned.text,
      waitForLog: (pattern: RegExp, timeoutMs = 15_000) =>
        waitFor(() => pattern.test(spawned.text()), {
          timeoutMs,
          intervalMs: 20,
          message: () => `${kind} to log ${pattern}:\n${spawned.text()}`,
        }),
      stop,
      [Symbol.asyncDispose]: stop,
    };
  }
}
