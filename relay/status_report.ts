/**
 * `GET /status`: every figure of a {@linkcode RelayStatus} as one JSON
 * document, per relay (listener) and output, with times in ISO 8601, ages
 * and durations in seconds, each relay's health, and totals since start.
 *
 * @module
 */

import {
  availability,
  type HttpListenerStatus,
  type HttpOutputStatus,
  listenerHealth,
  overallHealth,
  type RelayStatus,
  type UdpListenerStatus,
  type UdpOutputStatus,
} from "./relay_status.ts";

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** Milliseconds as seconds, to the microsecond. */
function seconds(ms: number | null): number | null {
  return ms === null ? null : Math.round(ms * 1000) / 1e6;
}

function healthFields(output: HttpOutputStatus | UdpOutputStatus) {
  const { health } = output;
  return {
    state: health.state,
    since: iso(health.since),
    lastError: health.lastError,
    lastErrorAt: iso(health.lastErrorAt),
    downTransitions: health.downTransitions,
  };
}

function httpOutput(output: HttpOutputStatus, now: number) {
  const { health, writes, buffer, probe } = output;
  const { latency } = writes;
  const dropped = buffer === null
    ? {
      batches: { unbuffered: writes.serverError + writes.failure },
      points: writes.failedPoints,
    }
    : { batches: buffer.dropped, points: buffer.droppedPoints };
  return {
    name: output.name,
    location: output.location,
    api: output.api,
    ...healthFields(output),
    probe: probe === null ? null : {
      intervalSeconds: probe.intervalMs / 1000,
      timeoutSeconds: probe.timeoutMs / 1000,
      lastAt: iso(health.lastProbeAt),
      lastLatencySeconds: seconds(health.lastProbeLatencyMs),
      successes: health.probeSuccesses,
      failures: health.probeFailures,
    },
    writes: {
      success: writes.success,
      clientError: writes.clientError,
      serverError: writes.serverError,
      failure: writes.failure,
      sentBytes: writes.sentBytes,
      writtenPoints: writes.writtenPoints,
      failedPoints: writes.failedPoints,
      latency: {
        count: latency.count,
        sumSeconds: latency.sum,
        meanSeconds: latency.count === 0 ? null : latency.sum / latency.count,
      },
    },
    buffer: buffer === null ? null : {
      durable: buffer.durable,
      capacityBytes: buffer.capacityBytes,
      queuedBytes: buffer.queuedBytes,
      queuedBatches: buffer.queuedBatches,
      oldestQueuedAt: iso(buffer.oldestQueuedAt),
      oldestQueuedAgeSeconds: buffer.oldestQueuedAt === null
        ? 0
        : Math.max(0, now - buffer.oldestQueuedAt) / 1000,
      enqueued: buffer.enqueued,
      delivered: buffer.delivered,
      retries: buffer.retries,
    },
    dropped,
  };
}

function udpOutput(output: UdpOutputStatus) {
  return {
    name: output.name,
    location: output.location,
    mtu: output.mtu,
    ...healthFields(output),
    datagramsSent: output.datagramsSent,
    bytesSent: output.bytesSent,
    dropped: {
      linesTooLong: output.linesTooLong,
      sendErrors: output.sendErrors,
    },
  };
}

function httpListener(listener: HttpListenerStatus, now: number) {
  const { stats } = listener;
  return {
    name: listener.name,
    kind: "http" as const,
    url: listener.url,
    adminEndpoints: listener.adminEndpoints,
    health: listenerHealth(listener),
    requests: stats.requests,
    bytesReceived: stats.bytesReceived,
    pointsReceived: stats.pointsReceived,
    parseErrors: stats.parseErrors,
    outputs: listener.outputs.map((output) => httpOutput(output, now)),
  };
}

function udpListener(listener: UdpListenerStatus) {
  return {
    name: listener.name,
    kind: "udp" as const,
    address: listener.address,
    health: listenerHealth(listener),
    datagramsReceived: listener.datagramsReceived,
    bytesReceived: listener.bytesReceived,
    datagramsForwarded: listener.datagramsForwarded,
    pointsReceived: listener.linesForwarded,
    linesInvalid: listener.linesInvalid,
    datagramsWithInvalidLines: listener.datagramsWithInvalidLines,
    dropped: {
      queueFull: listener.datagramsDropped,
      invalid: listener.datagramsInvalid,
      kernel: listener.kernelDrops,
    },
    outputs: listener.outputs.map(udpOutput),
  };
}

function totals(status: RelayStatus) {
  const sum = {
    requests: 0,
    bytesReceived: 0,
    pointsReceived: 0,
    parseErrors: 0,
    writes: { success: 0, clientError: 0, serverError: 0, failure: 0 },
    queuedBytes: 0,
    queuedBatches: 0,
    droppedBatches: 0,
    droppedPoints: 0,
    udpDatagramsReceived: 0,
    udpDatagramsDropped: 0,
    udpDatagramsSent: 0,
  };
  for (const listener of status.listeners) {
    if (listener.kind === "udp") {
      sum.bytesReceived += listener.bytesReceived;
      sum.pointsReceived += listener.linesForwarded;
      sum.parseErrors += listener.datagramsWithInvalidLines;
      sum.udpDatagramsReceived += listener.datagramsReceived;
      sum.udpDatagramsDropped += listener.datagramsDropped +
        listener.datagramsInvalid + (listener.kernelDrops ?? 0);
      for (const output of listener.outputs) {
        sum.udpDatagramsSent += output.datagramsSent;
        sum.droppedBatches += output.sendErrors;
      }
      continue;
    }
    const { stats } = listener;
    for (const request of stats.requests) sum.requests += request.count;
    sum.bytesReceived += stats.bytesReceived;
    sum.pointsReceived += stats.pointsReceived;
    sum.parseErrors += stats.parseErrors;
    for (const { writes, buffer } of listener.outputs) {
      sum.writes.success += writes.success;
      sum.writes.clientError += writes.clientError;
      sum.writes.serverError += writes.serverError;
      sum.writes.failure += writes.failure;
      if (buffer === null) {
        sum.droppedBatches += writes.serverError + writes.failure;
        sum.droppedPoints += writes.failedPoints;
        continue;
      }
      sum.queuedBytes += buffer.queuedBytes;
      sum.queuedBatches += buffer.queuedBatches;
      const { rejected, expired, overflow, full, damaged } = buffer.dropped;
      sum.droppedBatches += rejected + expired + overflow + full + damaged;
      sum.droppedPoints += buffer.droppedPoints;
    }
  }
  return sum;
}

/**
 * Builds the `/status` document of a snapshot.
 *
 * @param status The snapshot.
 * @returns A JSON-serialisable object.
 */
export function statusReport(status: RelayStatus): Record<string, unknown> {
  const states = status.listeners.flatMap((l) => l.outputs.map(availability));
  return {
    version: status.version,
    now: iso(status.now),
    startedAt: iso(status.startedAt),
    uptimeSeconds: Math.max(0, status.now - status.startedAt) / 1000,
    health: overallHealth(states),
    totals: totals(status),
    listeners: status.listeners.map((listener) =>
      listener.kind === "http"
        ? httpListener(listener, status.now)
        : udpListener(listener)
    ),
    process: status.process,
  };
}
