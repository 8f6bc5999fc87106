/**
 * A snapshot of everything the relay can tell about itself: every listener
 * and output with its counters and health state, and the process. The
 * composition root fills it at request time; `/health`, `/status` and
 * `/metrics` are pure functions of it, so each is tested with a snapshot
 * made up in the test.
 *
 * @module
 */

import type { BackendState, HealthSnapshot } from "./backend_health.ts";
import type { HttpListenerStatsSnapshot } from "./http_listener_stats.ts";
import type { WriteStatsSnapshot } from "./write_stats.ts";

export type { BackendState, HealthSnapshot };

/** The relay's (or one listener's) health, from its backends' states. */
export type OverallHealth = "healthy" | "degraded" | "unhealthy";

/** Writes dropped by a retry buffer, by reason. */
export interface DroppedWrites {
  /** The backend answered a 4xx that retrying cannot fix. */
  readonly rejected: number;
  /** Older than `buffer-max-age`. */
  readonly expired: number;
  /** Removed by the `drop-oldest` policy to make room. */
  readonly overflow: number;
  /** Refused because the buffer was full (`reject` policy). */
  readonly full: number;
  /**
   * Skipped as damaged when its disk spool was opened (points unknown, so
   * not in {@linkcode BufferStatus.droppedPoints}).
   */
  readonly damaged: number;
}

/** One output's retry buffer. */
export interface BufferStatus {
  /** True for a disk spool (`buffer-path`). */
  readonly durable: boolean;
  /** `buffer-size-mb` in bytes. */
  readonly capacityBytes: number;
  /** Bytes of queued writes. */
  readonly queuedBytes: number;
  /** Queued writes (batches). */
  readonly queuedBatches: number;
  /** When the oldest queued write was accepted (ms since the epoch), or `null`. */
  readonly oldestQueuedAt: number | null;
  /** Writes put into the buffer since start. */
  readonly enqueued: number;
  /** Queued writes delivered since start. */
  readonly delivered: number;
  /** Failed delivery attempts of queued writes. */
  readonly retries: number;
  /** Writes dropped, by reason. */
  readonly dropped: DroppedWrites;
  /** Points in dropped writes (all reasons but `damaged`). */
  readonly droppedPoints: number;
}

/** How an output is probed, or `null` when `health-check-interval = 0`. */
export interface ProbeSettings {
  /** `health-check-interval` in ms. */
  readonly intervalMs: number;
  /** `health-check-timeout` in ms. */
  readonly timeoutMs: number;
}

/** An output of an HTTP relay. */
export interface HttpOutputStatus {
  readonly kind: "http";
  /** The output's name. */
  readonly name: string;
  /** Its `location`. */
  readonly location: string;
  /** The write API it speaks. */
  readonly api: string;
  /** Its health state. */
  readonly health: HealthSnapshot;
  /** Probe settings, or `null` when it is not probed. */
  readonly probe: ProbeSettings | null;
  /** Every write attempt (direct and retries). */
  readonly writes: WriteStatsSnapshot;
  /** Its retry buffer, or `null` without `buffer-size-mb`. */
  readonly buffer: BufferStatus | null;
  /**
   * Writes still count as stored for it while it is down: it has a disk
   * spool, or a memory buffer with `ack-memory-buffer = true`.
   */
  readonly acceptsWhileDown: boolean;
}

/** An output of a UDP relay. */
export interface UdpOutputStatus {
  readonly kind: "udp";
  /** The output's name. */
  readonly name: string;
  /** Its resolved `host:port`. */
  readonly location: string;
  /** Its health state (from send errors; UDP cannot be probed). */
  readonly health: HealthSnapshot;
  /** Its effective MTU. */
  readonly mtu: number;
  /** Datagrams sent. */
  readonly datagramsSent: number;
  /** Payload bytes sent. */
  readonly bytesSent: number;
  /** Lines left out because each alone was longer than the MTU. */
  readonly linesTooLong: number;
  /** Failed sends. */
  readonly sendErrors: number;
}

/** An `[[http]]` relay. */
export interface HttpListenerStatus {
  readonly kind: "http";
  /** The relay's name. */
  readonly name: string;
  /** Base URL of its socket. */
  readonly url: string;
  /** Whether it answers `/health`, `/status` and `/metrics`. */
  readonly adminEndpoints: boolean;
  /** Its counters. */
  readonly stats: HttpListenerStatsSnapshot;
  /** Its outputs, in config order. */
  readonly outputs: readonly HttpOutputStatus[];
}

/** A `[[udp]]` relay. */
export interface UdpListenerStatus {
  readonly kind: "udp";
  /** The relay's name. */
  readonly name: string;
  /** Its bound `host:port`. */
  readonly address: string;
  /** Datagrams read from the socket. */
  readonly datagramsReceived: number;
  /** Bytes read from the socket. */
  readonly bytesReceived: number;
  /** Datagrams dropped because the relay's queue was full. */
  readonly datagramsDropped: number;
  /** Datagrams the kernel dropped on this socket, or `null` when unreadable. */
  readonly kernelDrops: number | null;
  /** Datagrams handed to the outputs. */
  readonly datagramsForwarded: number;
  /** Lines (points) handed to the outputs. */
  readonly linesForwarded: number;
  /** Bad lines left out. */
  readonly linesInvalid: number;
  /** Datagrams with at least one bad line. */
  readonly datagramsWithInvalidLines: number;
  /** Datagrams left out because every line was bad. */
  readonly datagramsInvalid: number;
  /** Its outputs, in config order. */
  readonly outputs: readonly UdpOutputStatus[];
}

/** Any relay. */
export type ListenerStatus = HttpListenerStatus | UdpListenerStatus;

/** The relay process. */
export interface ProcessStatus {
  /** Resident memory, in bytes. */
  readonly rssBytes: number;
  /** Open file descriptors, or `null` when the runtime cannot tell. */
  readonly openFds: number | null;
  /** User plus system CPU time, in seconds. */
  readonly cpuSeconds: number;
}

/** Everything, at one moment. */
export interface RelayStatus {
  /** The relay's version. */
  readonly version: string;
  /** When the snapshot was taken, in ms since the epoch. */
  readonly now: number;
  /** When the relay started, in ms since the epoch. */
  readonly startedAt: number;
  /** Every relay, `[[http]]` first, in config order. */
  readonly listeners: readonly ListenerStatus[];
  /** The process. */
  readonly process: ProcessStatus;
}

/** What the overall health needs to know of one backend. */
export interface BackendAvailability {
  /** Its state. */
  readonly state: BackendState;
  /**
   * Writes still count as stored for it while it is down (a disk spool, or
   * a memory buffer with `ack-memory-buffer`).
   * @default false
   */
  readonly acceptsWhileDown?: boolean;
}

/**
 * The health of a set of backends: `healthy` when every one is up,
 * `unhealthy` when none can take writes (there are none, or all are down
 * without a retry buffer that still takes writes for them), `degraded`
 * otherwise (some down, or catching up).
 *
 * @param backends The backends.
 * @returns The overall health.
 */
export function overallHealth(
  backends: readonly BackendAvailability[],
): OverallHealth {
  if (backends.every((b) => b.state === "up") && backends.length > 0) {
    return "healthy";
  }
  const canTake = backends.some((b) =>
    b.state !== "down" || b.acceptsWhileDown === true
  );
  return canTake ? "degraded" : "unhealthy";
}

/**
 * The availability of one output.
 *
 * @param output The output.
 * @returns Its state and whether it takes writes while down.
 */
export function availability(
  output: HttpOutputStatus | UdpOutputStatus,
): BackendAvailability {
  return {
    state: output.health.state,
    acceptsWhileDown: output.kind === "http" && output.acceptsWhileDown,
  };
}

/**
 * The health of one relay (listener) from its outputs.
 *
 * @param listener The relay.
 * @returns Its overall health.
 */
export function listenerHealth(listener: ListenerStatus): OverallHealth {
  return overallHealth(listener.outputs.map(availability));
}
