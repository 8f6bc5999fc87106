/**
 * What a configuration reload (SIGHUP) changes: a pure comparison of the
 * running config with the new one, which the service then carries out.
 *
 * - An HTTP listener keeps its socket (and its open connections) when its
 *   `bind-addr` and TLS files are unchanged; every other setting of the
 *   listener (limits, authentication, acknowledgement, partial writes…)
 *   applies to the requests that arrive after the reload.
 * - An output is kept, with its retry buffer, spool, connections and health,
 *   when the same listener still has an output of that name with exactly
 *   the same settings; otherwise it is retired (it gets no new writes and
 *   delivers what it still holds) and a new one is started.
 * - A UDP listener or the `[admin]` listener is kept when its whole section
 *   is unchanged, and restarted otherwise.
 *
 * @module
 */

import type {
  AdminConfig,
  HttpConfig,
  HttpOutputConfig,
  RelayConfig,
  UdpConfig,
} from "./config.ts";

/** What happens to one HTTP listener. */
export interface HttpListenerPlan {
  /** The listener's name. */
  readonly name: string;
  /**
   * `keep`: same socket, new settings; `rebind`: a new socket (bind address
   * or TLS changed); `start`: a new listener; `stop`: removed.
   */
  readonly action: "keep" | "rebind" | "start" | "stop";
  /** The new config (`null` for `stop`). */
  readonly config: HttpConfig | null;
  /**
   * For each output of the new config, in order, the index of the running
   * output it keeps, or `null` when a new one is started.
   */
  readonly outputs: readonly (number | null)[];
  /** Indexes of the running outputs that are retired. */
  readonly retired: readonly number[];
}

/** What happens to one UDP listener. */
export interface UdpListenerPlan {
  /** The listener's name. */
  readonly name: string;
  /** `keep`: untouched; `restart`: stopped and started anew; `start`; `stop`. */
  readonly action: "keep" | "restart" | "start" | "stop";
  /** The new config (`null` for `stop`). */
  readonly config: UdpConfig | null;
}

/** Everything a reload changes. */
export interface ReloadPlan {
  /** HTTP listeners: the new config's in order, then the removed ones. */
  readonly http: readonly HttpListenerPlan[];
  /** UDP listeners: the new config's in order, then the removed ones. */
  readonly udp: readonly UdpListenerPlan[];
  /** The `[admin]` listener. */
  readonly admin: {
    readonly action: "keep" | "restart" | "start" | "stop" | "none";
    readonly config: AdminConfig | null;
  };
  /** True when nothing at all changes. */
  readonly unchanged: boolean;
}

/**
 * Whether two values of a parsed config are equal: plain objects, arrays
 * and primitives, compared deeply.
 *
 * @param a One value.
 * @param b The other.
 * @returns True when they are equal.
 */
export function sameConfig(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (
    typeof a !== "object" || typeof b !== "object" || a === null ||
    b === null || Array.isArray(a) !== Array.isArray(b)
  ) {
    return false;
  }
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  if (keysA.length !== keysB.length) return false;
  const recordA = a as Record<string, unknown>;
  const recordB = b as Record<string, unknown>;
  return keysA.every((key) =>
    Object.hasOwn(recordB, key) && sameConfig(recordA[key], recordB[key])
  );
}

/** The settings of an HTTP listener that its socket depends on. */
function socketOf(config: HttpConfig): unknown {
  const { bindAddr, sslCombinedPem, tlsCert, tlsKey } = config;
  return [bindAddr, sslCombinedPem, tlsCert, tlsKey];
}

/** Options for {@linkcode planReload}. */
export interface PlanReloadOptions {
  /**
   * Names of HTTP listeners whose TLS files changed on disk (same paths,
   * new contents, e.g. a renewed certificate): they get a new socket.
   * @default {new Set()}
   */
  tlsChanged?: ReadonlySet<string>;
}

/**
 * Compares the running config with a new one.
 *
 * @example Usage
 * ```ts
 * import { parseConfig } from "./config.ts";
 * import { planReload } from "./reload_plan.ts";
 * import assert from "node:assert/strict";
 *
 * const before = parseConfig(`[[http]]
 * name = "a"
 * bind-addr = "127.0.0.1:9096"
 * output = [{ name = "x", location = "http://127.0.0.1:8086/write" }]`);
 * const after = parseConfig(`[[http]]
 * name = "a"
 * bind-addr = "127.0.0.1:9096"
 * output = [
 *   { name = "x", location = "http://127.0.0.1:8086/write" },
 *   { name = "y", location = "http://127.0.0.1:7086/write" },
 * ]`);
 * const plan = planReload(before, after);
 * assert.equal(plan.http[0]?.action, "keep");
 * assert.deepEqual(plan.http[0]?.outputs, [0, null]);
 * ```
 *
 * @param running The config the service runs.
 * @param next The new config.
 * @param options Listeners whose TLS files changed.
 * @returns The plan.
 */
export function planReload(
  running: RelayConfig,
  next: RelayConfig,
  options: PlanReloadOptions = {},
): ReloadPlan {
  const { tlsChanged = new Set<string>() } = options;
  const http: HttpListenerPlan[] = [];
  const oldHttp = new Map(running.http.map((config) => [config.name, config]));
  for (const config of next.http) {
    const old = oldHttp.get(config.name);
    oldHttp.delete(config.name);
    if (old === undefined) {
      http.push({
        name: config.name,
        action: "start",
        config,
        outputs: config.outputs.map(() => null),
        retired: [],
      });
      continue;
    }
    const rebind = !sameConfig(socketOf(old), socketOf(config)) ||
      tlsChanged.has(config.name);
    const { kept, retired } = matchOutputs(old.outputs, config.outputs);
    http.push({
      name: config.name,
      action: rebind ? "rebind" : "keep",
      config,
      outputs: kept,
      retired,
    });
  }
  for (const old of oldHttp.values()) {
    http.push({
      name: old.name,
      action: "stop",
      config: null,
      outputs: [],
      retired: old.outputs.map((_, index) => index),
    });
  }

  const udp: UdpListenerPlan[] = [];
  const oldUdp = new Map(running.udp.map((config) => [config.name, config]));
  for (const config of next.udp) {
    const old = oldUdp.get(config.name);
    oldUdp.delete(config.name);
    udp.push({
      name: config.name,
      action: old === undefined
        ? "start"
        : sameConfig(old, config)
        ? "keep"
        : "restart",
      config,
    });
  }
  for (const old of oldUdp.values()) {
    udp.push({ name: old.name, action: "stop", config: null });
  }

  const admin = running.admin === null
    ? { action: next.admin === null ? "none" as const : "start" as const }
    : next.admin === null
    ? { action: "stop" as const }
    : {
      action: sameConfig(running.admin, next.admin)
        ? "keep" as const
        : "restart" as const,
    };

  const unchanged = sameConfig(running, next) && tlsChanged.size === 0;
  return { http, udp, admin: { ...admin, config: next.admin }, unchanged };
}

/**
 * Pairs each new output with a running output of the same name and
 * settings, each running output used at most once.
 */
function matchOutputs(
  running: readonly HttpOutputConfig[],
  next: readonly HttpOutputConfig[],
): { kept: (number | null)[]; retired: number[] } {
  const used = new Set<number>();
  const kept = next.map((output) => {
    const index = running.findIndex((old, i) =>
      !used.has(i) && old.name === output.name && sameConfig(old, output)
    );
    if (index < 0) return null;
    used.add(index);
    return index;
  });
  const retired = running.map((_, index) => index).filter((index) =>
    !used.has(index)
  );
  return { kept, retired };
}
