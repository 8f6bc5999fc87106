import assert from "node:assert/strict";
import type { ProbeResult } from "./backend.ts";
import { HealthChecker } from "./health_checker.ts";

/** Records outcomes and resolves once `wanted` of them arrived. */
function collector(wanted: number) {
  const outcomes: { result: ProbeResult; latencyMs: number }[] = [];
  const { promise, resolve } = Promise.withResolvers<void>();
  return {
    outcomes,
    enough: promise,
    observer: {
      probed(result: ProbeResult, latencyMs: number) {
        outcomes.push({ result, latencyMs });
        if (outcomes.length === wanted) resolve();
      },
    },
  };
}

/** Resolves with `promise`, or rejects after `ms` (the timer is cleared). */
async function within<T>(promise: Promise<T>, ms = 5000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Timed out after ${ms} ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Settles when the signal aborts, with its reason, as real probes do. */
function hang(signal: AbortSignal): Promise<ProbeResult> {
  const { promise, resolve } = Promise.withResolvers<ProbeResult>();
  signal.addEventListener("abort", () =>
    resolve({
      kind: "failed",
      error: (signal.reason as Error).message,
    }), { once: true });
  return promise;
}

Deno.test("HealthChecker probes at once and then every interval", async () => {
  const { outcomes, enough, observer } = collector(3);
  let clock = 0;
  const checker = new HealthChecker({
    probe: () => {
      clock += 4;
      return Promise.resolve({ kind: "answered", status: 204 });
    },
    observer,
    intervalMs: 5,
    timeoutMs: 1000,
    now: () => clock,
  });
  try {
    await within(enough);
  } finally {
    await checker.close();
  }
  assert.ok(outcomes.length >= 3);
  assert.deepEqual(outcomes[0], {
    result: { kind: "answered", status: 204 },
    latencyMs: 4,
  });
});

Deno.test("HealthChecker reports a probe that does not answer in time as failed", async () => {
  const { outcomes, enough, observer } = collector(1);
  const checker = new HealthChecker({
    probe: hang,
    observer,
    intervalMs: 60_000,
    timeoutMs: 20,
  });
  try {
    await within(enough);
  } finally {
    await checker.close();
  }
  assert.deepEqual(outcomes[0]!.result, {
    kind: "failed",
    error: "no answer within 20ms",
  });
  assert.ok(outcomes[0]!.latencyMs >= 15);
});

Deno.test("HealthChecker.close() aborts a probe in flight and reports nothing", async () => {
  const { outcomes, observer } = collector(1);
  const started = Promise.withResolvers<AbortSignal>();
  const checker = new HealthChecker({
    probe: (signal) => {
      started.resolve(signal);
      return hang(signal);
    },
    observer,
    intervalMs: 60_000,
    timeoutMs: 60_000,
  });
  const signal = await within(started.promise);
  await checker.close();
  assert.ok(signal.aborted);
  assert.deepEqual(outcomes, []);
});

Deno.test("HealthChecker turns a probe that throws into a failure", async () => {
  const { outcomes, enough, observer } = collector(1);
  const checker = new HealthChecker({
    probe: () => Promise.reject(new Error("boom")),
    observer,
    intervalMs: 60_000,
    timeoutMs: 1000,
  });
  try {
    await within(enough);
  } finally {
    await checker.close();
  }
  assert.deepEqual(outcomes[0]!.result, { kind: "failed", error: "boom" });
});

Deno.test("new HealthChecker() throws RangeError for a zero interval", () => {
  assert.throws(
    () =>
      new HealthChecker({
        probe: hang,
        observer: { probed() {} },
        intervalMs: 0,
        timeoutMs: 1000,
      }),
    RangeError,
  );
});
