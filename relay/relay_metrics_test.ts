import assert from "node:assert/strict";
import {
  bufferedOutput,
  NOW,
  plainOutput,
  relayStatus,
} from "./_status_fixture.ts";
import { formatRelayMetrics, relayMetricFamilies } from "./relay_metrics.ts";
import { checkMetrics, promtoolSkipReason } from "../tests/_promtool.ts";

function lines(text: string): Set<string> {
  return new Set(text.split("\n"));
}

Deno.test("formatRelayMetrics() exposes listener counters by relay, path and status", () => {
  const text = lines(formatRelayMetrics(relayStatus()));
  for (
    const line of [
      'influxdb_relay_build_info{version="1.2.3"} 1',
      'influxdb_relay_http_requests_total{relay="h",path="/write",status="204"} 9',
      'influxdb_relay_http_requests_total{relay="h",path="other",status="404"} 2',
      'influxdb_relay_received_bytes_total{relay="h"} 1500',
      'influxdb_relay_received_points_total{relay="h"} 90',
      'influxdb_relay_parse_errors_total{relay="h"} 1',
      'influxdb_relay_received_points_total{relay="u"} 200',
      'influxdb_relay_udp_datagrams_received_total{relay="u"} 25',
      'influxdb_relay_udp_datagrams_forwarded_total{relay="u"} 20',
      'influxdb_relay_udp_datagrams_dropped_total{relay="u",reason="queue_full"} 3',
      'influxdb_relay_udp_datagrams_dropped_total{relay="u",reason="invalid"} 1',
      'influxdb_relay_udp_datagrams_dropped_total{relay="u",reason="kernel"} 4',
      'influxdb_relay_udp_invalid_lines_total{relay="u"} 5',
      "process_resident_memory_bytes 50000000",
      "process_open_fds 12",
      "process_cpu_seconds_total 1.25",
      `process_start_time_seconds ${(NOW - 3_600_000) / 1000}`,
    ]
  ) {
    assert.ok(text.has(line), line);
  }
});

Deno.test("formatRelayMetrics() exposes each backend's state, writes, latency, buffer and drops", () => {
  const text = lines(formatRelayMetrics(relayStatus()));
  const a = 'relay="h",backend="a"';
  const b = 'relay="h",backend="b"';
  for (
    const line of [
      `influxdb_relay_backend_up{${a}} 0`,
      `influxdb_relay_backend_up{${b}} 1`,
      `influxdb_relay_backend_state{${a},state="down"} 1`,
      `influxdb_relay_backend_state{${a},state="up"} 0`,
      `influxdb_relay_backend_down_transitions_total{${a}} 1`,
      `influxdb_relay_backend_writes_total{${a},outcome="success"} 5`,
      `influxdb_relay_backend_writes_total{${a},outcome="client_error"} 1`,
      `influxdb_relay_backend_writes_total{${a},outcome="failure"} 4`,
      `influxdb_relay_backend_sent_bytes_total{${a}} 900`,
      `influxdb_relay_backend_written_points_total{${a}} 50`,
      `influxdb_relay_backend_probes_total{${a},result="failure"} 6`,
      `influxdb_relay_backend_probe_duration_seconds{${a}} 0.0025`,
      `influxdb_relay_backend_write_duration_seconds_bucket{${a},le="0.01"} 1`,
      `influxdb_relay_backend_write_duration_seconds_bucket{${a},le="+Inf"} 3`,
      `influxdb_relay_backend_write_duration_seconds_count{${a}} 3`,
      `influxdb_relay_buffer_capacity_bytes{${a}} 10485760`,
      `influxdb_relay_buffer_queued_bytes{${a}} 300`,
      `influxdb_relay_buffer_queued_batches{${a}} 3`,
      `influxdb_relay_buffer_oldest_age_seconds{${a}} 42`,
      `influxdb_relay_buffer_enqueued_batches_total{${a}} 7`,
      `influxdb_relay_buffer_delivered_batches_total{${a}} 4`,
      `influxdb_relay_buffer_retries_total{${a}} 9`,
      `influxdb_relay_dropped_batches_total{${a},reason="expired"} 1`,
      // Spool records skipped as damaged at start; their points are unknown.
      `influxdb_relay_dropped_batches_total{${a},reason="damaged"} 2`,
      `influxdb_relay_dropped_points_total{${a}} 10`,
      // An unbuffered backend's failed writes are lost for it.
      `influxdb_relay_dropped_batches_total{${b},reason="unbuffered"} 1`,
      `influxdb_relay_dropped_points_total{${b}} 10`,
      'influxdb_relay_udp_datagrams_sent_total{relay="u",backend="u1"} 20',
      'influxdb_relay_udp_dropped_lines_total{relay="u",backend="u1",reason="too_long"} 2',
      'influxdb_relay_dropped_batches_total{relay="u",backend="u1",reason="send_error"} 1',
      'influxdb_relay_backend_sent_bytes_total{relay="u",backend="u1"} 2000',
    ]
  ) {
    assert.ok(text.has(line), line);
  }
  // Not probed: no probe series for b.
  assert.ok(
    ![...text].some((l) =>
      l.startsWith(`influxdb_relay_backend_probes_total{${b}`)
    ),
  );
});

Deno.test("relayMetricFamilies() names counters *_total and uses base units", () => {
  for (const family of relayMetricFamilies(relayStatus())) {
    if (family.type === "counter") {
      assert.match(family.name, /_total$/, family.name);
    } else {
      assert.doesNotMatch(family.name, /_total$/, family.name);
    }
    assert.doesNotMatch(family.name, /_(ms|milliseconds|kb|mb)(_|$)/);
    assert.ok(family.help.length > 0, family.name);
  }
});

Deno.test("formatRelayMetrics() leaves process_open_fds out when it is unknown", () => {
  const status = relayStatus([plainOutput()]);
  const text = formatRelayMetrics({
    ...status,
    process: { ...status.process, openFds: null },
  });
  assert.doesNotMatch(text, /process_open_fds/);
  assert.match(text, /influxdb_relay_backend_up\{relay="h",backend="b"\} 1/);
});

Deno.test({
  name: "formatRelayMetrics() output passes promtool check metrics",
  ignore: promtoolSkipReason() !== null,
  async fn() {
    for (
      const status of [
        relayStatus(),
        relayStatus([bufferedOutput("catching-up")]),
        relayStatus([]),
      ]
    ) {
      const result = await checkMetrics(formatRelayMetrics(status));
      assert.equal(result.code, 0, result.output);
      assert.equal(result.output, "");
    }
  },
});
