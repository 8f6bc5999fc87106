/**
 * Test helper: the `openssl` command, for throwaway certificates.
 */
import assert from "node:assert/strict";

/**
 * Runs `openssl` with these arguments.
 *
 * @param args Its arguments.
 * @throws {AssertionError} When it exits non-zero (with its stderr).
 */
export async function openssl(args: string[]): Promise<void> {
  const result = await new Deno.Command("openssl", {
    args,
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
}

/** Whether `openssl` cannot be run here (tests that need it are ignored). */
export const opensslMissing: boolean = (() => {
  try {
    new Deno.Command("openssl", { args: ["version"] }).outputSync();
    return false;
  } catch {
    return true;
  }
})();
