/**
 * `GET /health`: InfluxDB 2.x's health document (`name`, `message`,
 * `status: "pass" | "fail"`, `checks`, `version`), so that InfluxDB 2.x
 * clients and tools keep reading it, extended with the relay's overall
 * `health` and one check per backend with its state and buffer figures.
 * HTTP 200 while the relay can take writes (`healthy` or `degraded`), 503
 * when it cannot (`unhealthy`), so that a load balancer can use it as is.
 *
 * @module
 */

import {
  availability,
  type BackendAvailability,
  type BackendState,
  type HttpOutputStatus,
  type ListenerStatus,
  type OverallHealth,
  overallHealth,
  type RelayStatus,
  type UdpOutputStatus,
} from "./relay_status.ts";

/** One backend, as a check of the health document. */
export interface BackendCheck {
  /** The backend's name. */
  readonly name: string;
  /** `pass` unless the backend is down. */
  readonly status: "pass" | "fail";
  /** The state, and the last error when down. */
  readonly message: string;
  /** The relay (listener) the backend belongs to. */
  readonly relay: string;
  /** `up`, `down` or `catching-up`. */
  readonly state: BackendState;
  /** When the backend entered this state (ISO 8601). */
  readonly since: string;
  /** The last problem seen, or `null`. */
  readonly lastError: string | null;
  /** When it happened (ISO 8601), or `null`. */
  readonly lastErrorAt: string | null;
  /** How long the last probe took, or `null` (not probed yet, or never). */
  readonly lastProbeLatencySeconds: number | null;
  /** Bytes waiting in the retry buffer (0 without one). */
  readonly queuedBytes: number;
  /** Writes waiting in the retry buffer (0 without one). */
  readonly queuedBatches: number;
  /** Age of the oldest waiting write, in seconds (0 when none). */
  readonly oldestQueuedAgeSeconds: number;
}

/** The health document. */
export interface HealthDocument {
  /** Always `influxdb-relay`. */
  readonly name: string;
  /** What the relay can do, and which backends are not up. */
  readonly message: string;
  /** InfluxDB 2.x's `pass` (can take writes) or `fail`. */
  readonly status: "pass" | "fail";
  /** `healthy`, `degraded` or `unhealthy`. */
  readonly health: OverallHealth;
  /** One check per backend. */
  readonly checks: readonly BackendCheck[];
  /** The relay's version. */
  readonly version: string;
}

/** Options for {@linkcode healthReport}. */
export interface HealthReportOptions {
  /**
   * Report only this relay's backends (the `/health` of a write listener);
   * `null` reports every relay's (the admin listener).
   * @default null
   */
  relay?: string | null;
}

/** The answer to `GET /health`. */
export interface HealthReport {
  /** 200, or 503 when `unhealthy`. */
  readonly httpStatus: 200 | 503;
  /** The document. */
  readonly body: HealthDocument;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function check(
  relay: string,
  output: HttpOutputStatus | UdpOutputStatus,
  now: number,
): BackendCheck {
  const { health } = output;
  const buffer = output.kind === "http" ? output.buffer : null;
  const down = health.state === "down";
  return {
    name: output.name,
    status: down ? "fail" : "pass",
    message: down ? `down: ${health.lastError ?? "unknown"}` : health.state,
    relay,
    state: health.state,
    since: iso(health.since),
    lastError: health.lastError,
    lastErrorAt: health.lastErrorAt === null ? null : iso(health.lastErrorAt),
    lastProbeLatencySeconds: health.lastProbeLatencyMs === null
      ? null
      : Math.round(health.lastProbeLatencyMs * 1000) / 1e6,
    queuedBytes: buffer?.queuedBytes ?? 0,
    queuedBatches: buffer?.queuedBatches ?? 0,
    oldestQueuedAgeSeconds: buffer === null || buffer.oldestQueuedAt === null
      ? 0
      : Math.max(0, now - buffer.oldestQueuedAt) / 1000,
  };
}

function describe(checks: readonly BackendCheck[], health: OverallHealth) {
  if (checks.length === 0) return "cannot take writes: no backends";
  const names = (state: BackendState) =>
    checks.filter((c) => c.state === state).map((c) => c.name);
  const down = names("down");
  if (health === "unhealthy") {
    return `cannot take writes: every backend is down (${down.join(", ")})`;
  }
  const parts: string[] = [];
  if (down.length === checks.length) {
    return `ready for writes into retry buffers; every backend is down (${
      down.join(", ")
    })`;
  }
  if (down.length > 0) {
    parts.push(
      `${down.length} of ${checks.length} backends down (${down.join(", ")})`,
    );
  }
  const catchingUp = names("catching-up");
  if (catchingUp.length > 0) {
    parts.push(
      `${catchingUp.length} catching up (${catchingUp.join(", ")})`,
    );
  }
  return parts.length === 0
    ? "ready for writes"
    : `ready for writes; ${parts.join(", ")}`;
}

/**
 * Builds the answer to `GET /health` from a snapshot.
 *
 * @param status The snapshot.
 * @param options Which relay to report on.
 * @returns The HTTP status and the document.
 */
export function healthReport(
  status: RelayStatus,
  options: HealthReportOptions = {},
): HealthReport {
  const { relay = null } = options;
  const listeners: readonly ListenerStatus[] = relay === null
    ? status.listeners
    : status.listeners.filter((l) => l.name === relay);
  const checks: BackendCheck[] = [];
  const backends: BackendAvailability[] = [];
  for (const listener of listeners) {
    for (const output of listener.outputs) {
      checks.push(check(listener.name, output, status.now));
      backends.push(availability(output));
    }
  }
  const health = overallHealth(backends);
  const pass = health !== "unhealthy";
  return {
    httpStatus: pass ? 200 : 503,
    body: {
      name: "influxdb-relay",
      message: describe(checks, health),
      status: pass ? "pass" : "fail",
      health,
      checks,
      version: status.version,
    },
  };
}
