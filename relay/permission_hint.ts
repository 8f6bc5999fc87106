/**
 * What to do when Deno refuses a file: the paths the relay may read and
 * write are fixed when it starts (`deno run --allow-read=…`) or when its
 * binary is built (`deno task compile --read/--write/--from-config`), so the
 * operator must widen them or move the file; Deno's own message only names
 * the flag.
 *
 * @module
 */

const DENIED = /Requires (read|write) access to "[^"]*"/;

/**
 * Adds the relay's advice to a message that holds Deno's permission error;
 * returns other messages unchanged.
 *
 * @param message An error message, possibly wrapped in context.
 * @param standalone Whether this is a compiled binary.
 * @returns The message, with advice when a path was refused.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const hinted = withPermissionHint(
 *   'Cannot read config file "/srv/r.toml": Requires read access to "/srv/r.toml"',
 *   true,
 * );
 * assert.match(hinted, /rebuild it allowing the path/);
 * ```
 */
export function withPermissionHint(
  message: string,
  standalone: boolean = Deno.build.standalone,
): string {
  if (!DENIED.test(message)) return message;
  // Deno's own advice names only the flag; ours replaces it.
  const bare = message
    .replace(/, run again with the --allow-\w+ flag/g, "")
    .replace(
      /, specify the required permissions during compilation using `deno compile --allow-\w+`/g,
      "",
    );
  const advice = standalone
    ? "this binary's file access was fixed when it was built (deno task compile --read/--write/--from-config): rebuild it allowing the path, or put the file under a path it may use"
    : "run the relay with --allow-read/--allow-write covering the path (deno task start allows every path)";
  return `${bare} (${advice})`;
}
