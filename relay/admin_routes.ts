/**
 * The admin paths, `GET /health`, `GET /status` and `GET /metrics`, as pure
 * request handlers over a snapshot of the relay: served on every `[[http]]`
 * listener with `admin-endpoints = true` (the default) and on the separate
 * `[admin]` listener.
 *
 * @module
 */

import { healthReport } from "./health_report.ts";
import {
  EXPOSITION_CONTENT_TYPE,
  formatRelayMetrics,
} from "./relay_metrics.ts";
import type { RelayStatus } from "./relay_status.ts";
import { statusReport } from "./status_report.ts";

/** Options for {@linkcode createAdminHandler}. */
export interface AdminHandlerOptions {
  /** Takes a snapshot of the whole relay. */
  snapshot: () => Promise<RelayStatus>;
  /**
   * `/health` reports only this relay's backends; `null` reports every
   * relay's. `/status` and `/metrics` always cover the whole relay.
   * @default null
   */
  relay?: string | null;
}

const JSON_TYPE = "application/json; charset=utf-8";

/** InfluxDB 2.x's 405 body, as the write endpoints answer it. */
function methodNotAllowed(): Response {
  return new Response(
    JSON.stringify({
      code: "method not allowed",
      message: "method not allowed",
    }),
    {
      status: 405,
      headers: {
        "Content-Type": JSON_TYPE,
        "X-Platform-Error-Code": "method not allowed",
        Allow: "GET, HEAD",
      },
    },
  );
}

function answer(
  method: string,
  status: number,
  contentType: string,
  body: string,
): Response {
  return new Response(method === "HEAD" ? null : body, {
    status,
    headers: { "Content-Type": contentType, "Cache-Control": "no-store" },
  });
}

/**
 * Creates the handler of the admin paths.
 *
 * @param options Where snapshots come from, and the relay `/health` covers.
 * @returns A handler that answers `/health`, `/status` and `/metrics`
 * (`GET` and `HEAD`; other methods 405) and returns `null` for any other
 * path.
 */
export function createAdminHandler(
  options: AdminHandlerOptions,
): (request: Request, path: string) => Promise<Response> | null {
  const { snapshot, relay = null } = options;
  return function admin(request: Request, path: string) {
    if (path !== "/health" && path !== "/status" && path !== "/metrics") {
      return null;
    }
    const method = request.method;
    if (method !== "GET" && method !== "HEAD") {
      return Promise.resolve(methodNotAllowed());
    }
    return snapshot().then((status) => {
      if (path === "/health") {
        const report = healthReport(status, { relay });
        return answer(
          method,
          report.httpStatus,
          JSON_TYPE,
          JSON.stringify(report.body),
        );
      }
      if (path === "/status") {
        return answer(
          method,
          200,
          JSON_TYPE,
          JSON.stringify(statusReport(status), null, 2) + "\n",
        );
      }
      return answer(
        method,
        200,
        EXPOSITION_CONTENT_TYPE,
        formatRelayMetrics(status),
      );
    });
  };
}

/**
 * Creates the request handler of the separate admin listener (`[admin]`):
 * the admin paths for the whole relay, `GET /ping` (204), and 404 for
 * anything else; it takes no writes.
 *
 * @param options Where snapshots come from.
 * @returns The listener's request handler.
 */
export function createAdminListenerHandler(
  options: Omit<AdminHandlerOptions, "relay">,
): (request: Request) => Promise<Response> {
  const admin = createAdminHandler({ ...options, relay: null });
  return async function handle(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    const answered = admin(request, path);
    if (answered !== null) return await answered;
    if (
      path === "/ping" &&
      (request.method === "GET" || request.method === "HEAD")
    ) {
      return new Response(null, {
        status: 204,
        headers: { "X-Influxdb-Version": "relay" },
      });
    }
    return new Response(JSON.stringify({ error: "not found" }) + "\n", {
      status: 404,
      headers: { "Content-Type": "application/json" },
    });
  };
}
