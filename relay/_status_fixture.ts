/**
 * Test helper: a made-up {@linkcode RelayStatus} with one HTTP relay (a
 * buffered output that is down, an unbuffered one that is up) and one UDP
 * relay, for the tests of `/health`, `/status` and `/metrics`.
 *
 * @module
 */

import type { HealthSnapshot } from "./backend_health.ts";
import { LatencyHistogram } from "./latency_histogram.ts";
import type {
  HttpOutputStatus,
  RelayStatus,
  UdpOutputStatus,
} from "./relay_status.ts";

/** The snapshot's `now`: 2024-01-01T00:00:00Z. */
export const NOW = Date.UTC(2024, 0, 1);

/** A health snapshot in `state` since 60 s before {@linkcode NOW}. */
export function healthOf(
  state: HealthSnapshot["state"],
  extra: Partial<HealthSnapshot> = {},
): HealthSnapshot {
  return {
    state,
    since: NOW - 60_000,
    lastError: state === "down" ? "connect ECONNREFUSED" : null,
    lastErrorAt: state === "down" ? NOW - 60_000 : null,
    lastProbeAt: NOW - 1_000,
    lastProbeLatencyMs: 2.5,
    probeSuccesses: 10,
    probeFailures: state === "down" ? 6 : 0,
    downTransitions: state === "down" ? 1 : 0,
    ...extra,
  };
}

function latency(...seconds: number[]) {
  const histogram = new LatencyHistogram([0.01, 0.1, 1]);
  for (const s of seconds) histogram.observe(s);
  return histogram.snapshot();
}

/** The buffered output `a`, down with 3 writes queued. */
export function bufferedOutput(
  state: HealthSnapshot["state"] = "down",
): HttpOutputStatus {
  return {
    kind: "http",
    name: "a",
    location: "http://127.0.0.1:8086/write",
    api: "v1",
    health: healthOf(state),
    probe: { intervalMs: 10_000, timeoutMs: 2_000 },
    writes: {
      success: 5,
      clientError: 1,
      serverError: 0,
      failure: 4,
      sentBytes: 900,
      writtenPoints: 50,
      failedPoints: 40,
      latency: latency(0.005, 0.05, 2),
    },
    buffer: {
      durable: false,
      capacityBytes: 10 * 1024 * 1024,
      queuedBytes: 300,
      queuedBatches: 3,
      oldestQueuedAt: NOW - 42_000,
      enqueued: 7,
      delivered: 4,
      retries: 9,
      dropped: { rejected: 0, expired: 1, overflow: 0, full: 0, damaged: 2 },
      droppedPoints: 10,
    },
    acceptsWhileDown: false,
  };
}

/** The unbuffered output `b`. */
export function plainOutput(
  state: HealthSnapshot["state"] = "up",
): HttpOutputStatus {
  return {
    kind: "http",
    name: "b",
    location: "http://127.0.0.1:7086/write",
    api: "v2",
    health: healthOf(state),
    probe: null,
    writes: {
      success: 9,
      clientError: 0,
      serverError: 1,
      failure: 0,
      sentBytes: 1000,
      writtenPoints: 90,
      failedPoints: 10,
      latency: latency(0.001),
    },
    buffer: null,
    acceptsWhileDown: false,
  };
}

/** The UDP output `u1`. */
export function udpOutput(): UdpOutputStatus {
  return {
    kind: "udp",
    name: "u1",
    location: "127.0.0.1:8089",
    health: healthOf("up"),
    mtu: 1024,
    datagramsSent: 20,
    bytesSent: 2000,
    linesTooLong: 2,
    sendErrors: 1,
  };
}

/**
 * The whole snapshot: HTTP relay `h` with outputs `a` and `b`, UDP relay
 * `u` with output `u1`.
 */
export function relayStatus(
  outputs: readonly HttpOutputStatus[] = [bufferedOutput(), plainOutput()],
): RelayStatus {
  return {
    version: "1.2.3",
    now: NOW,
    startedAt: NOW - 3_600_000,
    listeners: [
      {
        kind: "http",
        name: "h",
        url: "http://127.0.0.1:9096",
        adminEndpoints: true,
        stats: {
          requests: [
            { path: "/write", status: 204, count: 9 },
            { path: "/write", status: 400, count: 1 },
            { path: "other", status: 404, count: 2 },
          ],
          bytesReceived: 1500,
          pointsReceived: 90,
          parseErrors: 1,
        },
        outputs,
      },
      {
        kind: "udp",
        name: "u",
        address: "127.0.0.1:9096",
        datagramsReceived: 25,
        bytesReceived: 2500,
        datagramsDropped: 3,
        kernelDrops: 4,
        datagramsForwarded: 20,
        linesForwarded: 200,
        linesInvalid: 5,
        datagramsWithInvalidLines: 2,
        datagramsInvalid: 1,
        outputs: [udpOutput()],
      },
    ],
    process: { rssBytes: 50_000_000, openFds: 12, cpuSeconds: 1.25 },
  };
}
