/**
 * A bounded polling wait for tests, for conditions that have no event to
 * await (data arriving in an external process, a counter reaching a value).
 * Prefer awaiting a real event (`onListen`, a promise) where one exists.
 *
 * @module
 */

/** Options for {@linkcode waitFor}. */
export interface WaitForOptions {
  /**
   * Give up after this many milliseconds.
   *
   * @default {5000}
   */
  timeoutMs?: number;
  /**
   * Pause between two evaluations of the predicate, in milliseconds.
   *
   * @default {10}
   */
  intervalMs?: number;
  /**
   * What is being waited for, used in the timeout error message.
   *
   * @default {"condition"}
   */
  message?: string | (() => string);
}

/**
 * Evaluates `predicate` until it returns `true`, pausing `intervalMs` between
 * evaluations, and fails once `timeoutMs` has passed. The predicate is always
 * evaluated at least once, and once more after the deadline, so a slow
 * machine cannot make a condition that is already true time out. A predicate
 * that throws stops the wait with that error. The predicate must itself be
 * bounded: a call that never settles is not interrupted.
 *
 * @param predicate The condition to wait for.
 * @param options Timeout, interval and message.
 * @returns Resolves once the predicate returned `true`.
 * @throws {Error} When the condition is still false after `timeoutMs`.
 * @throws {RangeError} When `timeoutMs` or `intervalMs` is negative or not finite.
 */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  options: WaitForOptions = {},
): Promise<void> {
  const { timeoutMs = 5000, intervalMs = 10, message = "condition" } = options;
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
    throw new RangeError(
      `Cannot wait as 'timeoutMs' must be a non-negative number: current value is ${timeoutMs}`,
    );
  }
  if (!Number.isFinite(intervalMs) || intervalMs < 0) {
    throw new RangeError(
      `Cannot wait as 'intervalMs' must be a non-negative number: current value is ${intervalMs}`,
    );
  }
  const start = performance.now();
  const deadline = start + timeoutMs;
  while (true) {
    const expired = performance.now() >= deadline;
    if (await predicate()) return;
    if (expired) break;
    const pause = Math.min(
      intervalMs,
      Math.max(0, deadline - performance.now()),
    );
    await new Promise<void>((resolve) => setTimeout(resolve, pause));
  }
  const what = typeof message === "function" ? message() : message;
  throw new Error(
    `Timed out after ${
      Math.round(performance.now() - start)
    } ms waiting for ${what}`,
  );
}
