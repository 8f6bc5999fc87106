/**
 * Settings that load but almost surely do not do what the operator meant:
 * said at start, on reload and by `--check-config`, never fatal (the
 * original accepted them too).
 *
 * @module
 */

import type { RelayConfig } from "./config.ts";

/** The write path each API's location usually ends with. */
const WRITE_PATHS = {
  v1: "/write",
  v2: "/api/v2/write",
  v3: "/api/v3/write_lp",
} as const;

/**
 * Warnings about a loaded config.
 *
 * - An HTTP output whose `location` has no path (`http://host:8086` or
 *   `http://host:8086/`): every write would go to `/`, which InfluxDB answers
 *   404, while the health probe (`/ping`) says the backend is up. Configs of
 *   the veepee fork name a base URL plus `endpoints`; here the location is the
 *   whole write URL.
 *
 * @param config A validated config.
 * @returns One sentence per problem, naming the relay and output.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConfig } from "./config.ts";
 * const config = parseConfig(`
 * [[http]]
 * name = "r"
 * output = [{ name = "a", location = "http://db1:8086/" }]
 * `);
 * assert.match(configWarnings(config)[0]!, /has no path: writes would go to "\/"/);
 * ```
 */
export function configWarnings(config: RelayConfig): string[] {
  const warnings: string[] = [];
  for (const http of config.http) {
    for (const output of http.outputs) {
      const url = new URL(output.location);
      if (url.pathname !== "/" && url.pathname !== "") continue;
      const base = `${url.protocol}//${url.host}`;
      warnings.push(
        `Output "${output.name}" of relay "${http.name}": location "${base}/" has no path: writes would go to "/", which InfluxDB answers 404; write the whole write URL, e.g. "${base}${
          WRITE_PATHS[output.api]
        }"`,
      );
    }
  }
  return warnings;
}
