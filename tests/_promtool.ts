/**
 * Test helper: checks Prometheus exposition text with the real parser and
 * linter, `promtool check metrics` (Debian package `prometheus`, installed
 * by `tests/setup.sh`).
 *
 * @module
 */

const INSTALL_HINT = "apt-get install -y --no-install-recommends prometheus";

/**
 * Finds `promtool`: `/usr/bin/promtool`, else the first on `PATH`.
 *
 * @returns Its path, or `null` when it is not installed.
 */
export function promtoolPath(): string | null {
  const candidates = ["/usr/bin/promtool"];
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir !== "") candidates.push(`${dir}/promtool`);
  }
  for (const candidate of candidates) {
    try {
      if (Deno.statSync(candidate).isFile) return candidate;
    } catch {
      // not there; try the next one
    }
  }
  return null;
}

let noticeShown = false;

/**
 * Tells whether promtool checks must be skipped, for `Deno.test`'s
 * `ignore`: prints (once) that they are SKIPPED and how to install
 * promtool; with `CI=true` a missing promtool throws instead.
 *
 * @returns `null` when promtool is available, else the reason to skip.
 * @throws {Error} When promtool is missing and `CI` is `"true"`.
 */
export function promtoolSkipReason(): string | null {
  if (promtoolPath() !== null) return null;
  const reason =
    `promtool not found (looked in /usr/bin and PATH): install it with '${INSTALL_HINT}'`;
  if (Deno.env.get("CI") === "true") {
    throw new Error(`Cannot run the promtool checks in CI: ${reason}`);
  }
  if (!noticeShown) {
    noticeShown = true;
    // deno-lint-ignore no-console
    console.warn(`\n*** promtool checks are SKIPPED: ${reason} ***\n`);
  }
  return reason;
}

/** What `promtool check metrics` said. */
export interface PromtoolResult {
  /** Exit code: 0 valid, 1 unparsable, 3 lint problems. */
  readonly code: number;
  /** Its stdout and stderr, joined. */
  readonly output: string;
}

/**
 * Runs `promtool check metrics` on exposition text.
 *
 * @param text The text, as `/metrics` answers it.
 * @returns promtool's exit code and output.
 */
export async function checkMetrics(text: string): Promise<PromtoolResult> {
  const path = promtoolPath();
  if (path === null) throw new Error("Cannot check metrics: no promtool");
  const child = new Deno.Command(path, {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return {
    code,
    output: (decoder.decode(stdout) + decoder.decode(stderr)).trim(),
  };
}
