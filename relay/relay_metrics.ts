/**
 * `GET /metrics`: the relay's {@linkcode RelayStatus} as Prometheus metric
 * families, named `influxdb_relay_…` in base units (seconds, bytes) with
 * counters ending in `_total`. Every series carries the `relay` label (the
 * `[[http]]`/`[[udp]]` name), per-backend series also `backend`.
 *
 * @module
 */

import {
  EXPOSITION_CONTENT_TYPE,
  formatExposition,
  type HistogramSample,
  type MetricFamily,
  type Sample,
} from "./prometheus_text.ts";
import type {
  BackendState,
  HttpOutputStatus,
  RelayStatus,
  UdpOutputStatus,
} from "./relay_status.ts";

export { EXPOSITION_CONTENT_TYPE };

const STATES: readonly BackendState[] = ["up", "down", "catching-up"];

/** Collects samples per family, in a fixed family order. */
class Families {
  readonly #families = new Map<
    string,
    { help: string; type: "counter" | "gauge"; samples: Sample[] }
  >();
  readonly #histograms = new Map<
    string,
    { help: string; samples: HistogramSample[] }
  >();

  define(name: string, type: "counter" | "gauge", help: string): void {
    this.#families.set(name, { help, type, samples: [] });
  }

  defineHistogram(name: string, help: string): void {
    this.#histograms.set(name, { help, samples: [] });
  }

  add(name: string, labels: Record<string, string>, value: number): void {
    this.#families.get(name)!.samples.push({ labels, value });
  }

  addHistogram(name: string, sample: HistogramSample): void {
    this.#histograms.get(name)!.samples.push(sample);
  }

  list(): MetricFamily[] {
    const families: MetricFamily[] = [];
    for (const [name, { help, type, samples }] of this.#families) {
      families.push({ name, help, type, samples });
    }
    for (const [name, { help, samples }] of this.#histograms) {
      families.push({ name, help, type: "histogram", samples });
    }
    return families;
  }
}

const P = "influxdb_relay_";

function defineAll(f: Families): void {
  f.define(`${P}build_info`, "gauge", "Always 1; the relay's version.");
  // Listeners.
  f.define(
    `${P}http_requests_total`,
    "counter",
    "HTTP requests answered, by relay, path (unknown paths as other) and status.",
  );
  f.define(
    `${P}received_bytes_total`,
    "counter",
    "Bytes received: HTTP write bodies as sent (before gunzip), UDP datagrams.",
  );
  f.define(
    `${P}received_points_total`,
    "counter",
    "Points received and forwarded to the backends (valid lines).",
  );
  f.define(
    `${P}parse_errors_total`,
    "counter",
    "HTTP writes rejected for invalid line protocol, and UDP datagrams with invalid lines.",
  );
  f.define(
    `${P}udp_datagrams_received_total`,
    "counter",
    "UDP datagrams read from the socket.",
  );
  f.define(
    `${P}udp_datagrams_forwarded_total`,
    "counter",
    "UDP datagrams handed to the outputs.",
  );
  f.define(
    `${P}udp_datagrams_dropped_total`,
    "counter",
    "UDP datagrams dropped, by reason: queue_full (the relay fell behind), invalid (every line bad), kernel (socket buffer overflow; only when readable).",
  );
  f.define(
    `${P}udp_invalid_lines_total`,
    "counter",
    "Invalid lines left out of UDP datagrams.",
  );
  // Backends.
  f.define(
    `${P}backend_up`,
    "gauge",
    "1 when the backend takes writes (up or catching up), 0 when down.",
  );
  f.define(
    `${P}backend_state`,
    "gauge",
    "1 for the backend's current state (up, down, catching-up), 0 for the others.",
  );
  f.define(
    `${P}backend_down_transitions_total`,
    "counter",
    "Times the backend went down.",
  );
  f.define(
    `${P}backend_writes_total`,
    "counter",
    "HTTP write attempts (direct and retries), by outcome: success (2xx), client_error (4xx), server_error (5xx), failure (no answer).",
  );
  f.define(
    `${P}backend_sent_bytes_total`,
    "counter",
    "Bytes sent to the backend (HTTP bodies of every attempt, UDP payloads).",
  );
  f.define(
    `${P}backend_written_points_total`,
    "counter",
    "Points in HTTP writes the backend answered 2xx.",
  );
  f.define(
    `${P}backend_probes_total`,
    "counter",
    "Health probes (GET /ping), by result: success (answered below 500) or failure.",
  );
  f.define(
    `${P}backend_probe_duration_seconds`,
    "gauge",
    "How long the last health probe took.",
  );
  f.define(
    `${P}buffer_capacity_bytes`,
    "gauge",
    "Size of the retry buffer (buffer-size-mb).",
  );
  f.define(
    `${P}buffer_queued_bytes`,
    "gauge",
    "Bytes of writes waiting in the retry buffer.",
  );
  f.define(
    `${P}buffer_queued_batches`,
    "gauge",
    "Writes (batches) waiting in the retry buffer.",
  );
  f.define(
    `${P}buffer_oldest_age_seconds`,
    "gauge",
    "Age of the oldest write waiting in the retry buffer; 0 when empty.",
  );
  f.define(
    `${P}buffer_enqueued_batches_total`,
    "counter",
    "Writes put into the retry buffer.",
  );
  f.define(
    `${P}buffer_delivered_batches_total`,
    "counter",
    "Queued writes delivered from the retry buffer.",
  );
  f.define(
    `${P}buffer_retries_total`,
    "counter",
    "Failed delivery attempts of queued writes.",
  );
  f.define(
    `${P}dropped_batches_total`,
    "counter",
    "Writes a backend will never get, by reason: rejected (4xx on retry), expired (buffer-max-age), overflow (drop-oldest), full (buffer full), damaged (spool record skipped as damaged at start), unbuffered (failed, no retry buffer), send_error (UDP send failed).",
  );
  f.define(
    `${P}dropped_points_total`,
    "counter",
    "Points in writes a backend will never get (all reasons but damaged, whose points are unknown).",
  );
  f.define(
    `${P}udp_datagrams_sent_total`,
    "counter",
    "Datagrams sent to the UDP output.",
  );
  f.define(
    `${P}udp_dropped_lines_total`,
    "counter",
    "Lines left out for a UDP output, by reason: too_long (longer than its mtu).",
  );
  // Process.
  f.define(
    "process_resident_memory_bytes",
    "gauge",
    "Resident memory size in bytes.",
  );
  f.define(
    "process_open_fds",
    "gauge",
    "Open file descriptors (only when the relay may read /proc/self/fd).",
  );
  f.define(
    "process_cpu_seconds_total",
    "counter",
    "User and system CPU time spent, in seconds.",
  );
  f.define(
    "process_start_time_seconds",
    "gauge",
    "Start time of the process since the Unix epoch, in seconds.",
  );
  f.defineHistogram(
    `${P}backend_write_duration_seconds`,
    "How long HTTP write attempts to the backend took (answered or not).",
  );
}

function addHealth(
  f: Families,
  labels: Record<string, string>,
  output: HttpOutputStatus | UdpOutputStatus,
): void {
  const { state, downTransitions } = output.health;
  f.add(`${P}backend_up`, labels, state === "down" ? 0 : 1);
  for (const candidate of STATES) {
    f.add(
      `${P}backend_state`,
      { ...labels, state: candidate },
      candidate === state ? 1 : 0,
    );
  }
  f.add(`${P}backend_down_transitions_total`, labels, downTransitions);
}

function addHttpOutput(
  f: Families,
  relay: string,
  output: HttpOutputStatus,
  now: number,
): void {
  const labels = { relay, backend: output.name };
  addHealth(f, labels, output);
  const { writes, buffer, health } = output;
  for (
    const [outcome, value] of [
      ["success", writes.success],
      ["client_error", writes.clientError],
      ["server_error", writes.serverError],
      ["failure", writes.failure],
    ] as const
  ) {
    f.add(`${P}backend_writes_total`, { ...labels, outcome }, value);
  }
  f.add(`${P}backend_sent_bytes_total`, labels, writes.sentBytes);
  f.add(`${P}backend_written_points_total`, labels, writes.writtenPoints);
  f.addHistogram(`${P}backend_write_duration_seconds`, {
    labels,
    ...writes.latency,
  });
  if (output.probe !== null) {
    f.add(
      `${P}backend_probes_total`,
      { ...labels, result: "success" },
      health.probeSuccesses,
    );
    f.add(
      `${P}backend_probes_total`,
      { ...labels, result: "failure" },
      health.probeFailures,
    );
    if (health.lastProbeLatencyMs !== null) {
      f.add(
        `${P}backend_probe_duration_seconds`,
        labels,
        health.lastProbeLatencyMs / 1000,
      );
    }
  }
  if (buffer === null) {
    f.add(
      `${P}dropped_batches_total`,
      { ...labels, reason: "unbuffered" },
      writes.serverError + writes.failure,
    );
    f.add(`${P}dropped_points_total`, labels, writes.failedPoints);
    return;
  }
  f.add(`${P}buffer_capacity_bytes`, labels, buffer.capacityBytes);
  f.add(`${P}buffer_queued_bytes`, labels, buffer.queuedBytes);
  f.add(`${P}buffer_queued_batches`, labels, buffer.queuedBatches);
  f.add(
    `${P}buffer_oldest_age_seconds`,
    labels,
    buffer.oldestQueuedAt === null
      ? 0
      : Math.max(0, now - buffer.oldestQueuedAt) / 1000,
  );
  f.add(`${P}buffer_enqueued_batches_total`, labels, buffer.enqueued);
  f.add(`${P}buffer_delivered_batches_total`, labels, buffer.delivered);
  f.add(`${P}buffer_retries_total`, labels, buffer.retries);
  for (const [reason, value] of Object.entries(buffer.dropped)) {
    f.add(`${P}dropped_batches_total`, { ...labels, reason }, value);
  }
  f.add(`${P}dropped_points_total`, labels, buffer.droppedPoints);
}

function addUdpOutput(f: Families, relay: string, output: UdpOutputStatus) {
  const labels = { relay, backend: output.name };
  addHealth(f, labels, output);
  f.add(`${P}backend_sent_bytes_total`, labels, output.bytesSent);
  f.add(`${P}udp_datagrams_sent_total`, labels, output.datagramsSent);
  f.add(
    `${P}udp_dropped_lines_total`,
    { ...labels, reason: "too_long" },
    output.linesTooLong,
  );
  f.add(
    `${P}dropped_batches_total`,
    { ...labels, reason: "send_error" },
    output.sendErrors,
  );
}

/**
 * Builds the metric families of a snapshot.
 *
 * @param status The snapshot.
 * @returns The families, in a fixed order.
 */
export function relayMetricFamilies(status: RelayStatus): MetricFamily[] {
  const f = new Families();
  defineAll(f);
  f.add(`${P}build_info`, { version: status.version }, 1);
  for (const listener of status.listeners) {
    const relay = { relay: listener.name };
    if (listener.kind === "http") {
      const { stats } = listener;
      for (const { path, status: code, count } of stats.requests) {
        f.add(
          `${P}http_requests_total`,
          { ...relay, path, status: String(code) },
          count,
        );
      }
      f.add(`${P}received_bytes_total`, relay, stats.bytesReceived);
      f.add(`${P}received_points_total`, relay, stats.pointsReceived);
      f.add(`${P}parse_errors_total`, relay, stats.parseErrors);
      for (const output of listener.outputs) {
        addHttpOutput(f, listener.name, output, status.now);
      }
      continue;
    }
    f.add(`${P}received_bytes_total`, relay, listener.bytesReceived);
    f.add(`${P}received_points_total`, relay, listener.linesForwarded);
    f.add(
      `${P}parse_errors_total`,
      relay,
      listener.datagramsWithInvalidLines,
    );
    f.add(
      `${P}udp_datagrams_received_total`,
      relay,
      listener.datagramsReceived,
    );
    f.add(
      `${P}udp_datagrams_forwarded_total`,
      relay,
      listener.datagramsForwarded,
    );
    const dropped = `${P}udp_datagrams_dropped_total`;
    f.add(
      dropped,
      { ...relay, reason: "queue_full" },
      listener.datagramsDropped,
    );
    f.add(dropped, { ...relay, reason: "invalid" }, listener.datagramsInvalid);
    if (listener.kernelDrops !== null) {
      f.add(dropped, { ...relay, reason: "kernel" }, listener.kernelDrops);
    }
    f.add(`${P}udp_invalid_lines_total`, relay, listener.linesInvalid);
    for (const output of listener.outputs) {
      addUdpOutput(f, listener.name, output);
    }
  }
  const { process } = status;
  f.add("process_resident_memory_bytes", {}, process.rssBytes);
  if (process.openFds !== null) f.add("process_open_fds", {}, process.openFds);
  f.add("process_cpu_seconds_total", {}, process.cpuSeconds);
  f.add("process_start_time_seconds", {}, status.startedAt / 1000);
  return f.list();
}

/**
 * Formats a snapshot in the Prometheus text exposition format.
 *
 * @param status The snapshot.
 * @returns The text to answer `GET /metrics` with
 * ({@linkcode EXPOSITION_CONTENT_TYPE}).
 */
export function formatRelayMetrics(status: RelayStatus): string {
  return formatExposition(relayMetricFamilies(status));
}
