/**
 * Keeps data flowing one way (listener → validate → fan-out → backend):
 * fails on any relay-internal import the layering table of STYLE.md forbids.
 */
import assert from "node:assert/strict";
import { relative } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";

const ROOT = fromFileUrl(new URL("../", import.meta.url));

/** Relay-internal modules each module may import; anything else fails. */
const ALLOWED: Record<string, readonly string[]> = {
  "main.ts": [
    "relay/mod.ts",
    "relay/log.ts",
    "relay/permission_hint.ts",
    "deno.json",
  ],
  "relay/permission_hint.ts": [],
  "relay/config_warnings.ts": ["relay/config.ts"],
  "relay/mod.ts": [
    "relay/service.ts",
    "relay/config.ts",
    "relay/config_warnings.ts",
    "relay/duration.ts",
    "relay/log.ts",
  ],
  "relay/service.ts": ["*"],
  "relay/http_listener.ts": [
    "relay/line_protocol.ts",
    "relay/batch.ts",
    "relay/response_rule.ts",
    "relay/query_string.ts",
    "relay/gzip.ts",
    "relay/log.ts",
    "relay/log_throttle.ts",
    "relay/timestamp_rewrite.ts",
    "relay/write_api.ts",
    "relay/http_listener_stats.ts",
    "relay/body_reader.ts",
    "relay/admission.ts",
    "relay/client_auth.ts",
    "relay/partial_write.ts",
  ],
  "relay/fanout.ts": [
    "relay/backend.ts",
    "relay/backend_auth.ts",
    "relay/batch.ts",
    "relay/response_rule.ts",
    "relay/log.ts",
    "relay/log_throttle.ts",
  ],
  "relay/response_rule.ts": ["relay/backend.ts"],
  "relay/http_backend.ts": [
    "relay/backend.ts",
    "relay/backend_auth.ts",
    "relay/batch.ts",
    "relay/log.ts",
    "relay/timestamp_rewrite.ts",
    "relay/write_api.ts",
    "relay/write_stats.ts",
  ],
  "relay/fetch_backend.ts": [
    "relay/backend.ts",
    "relay/backend_auth.ts",
    "relay/batch.ts",
    "relay/log.ts",
    "relay/timestamp_rewrite.ts",
    "relay/write_api.ts",
    "relay/write_stats.ts",
  ],
  // Observability: counters are leaves the senders and listeners update;
  // the health state machine and its probe loop know only the backend
  // contract; the admin paths are pure functions of a status snapshot
  // (relay_status.ts) that only service.ts fills from the running parts.
  "relay/write_stats.ts": ["relay/backend.ts", "relay/latency_histogram.ts"],
  "relay/latency_histogram.ts": [],
  "relay/http_listener_stats.ts": [],
  "relay/backend_health.ts": [
    "relay/backend.ts",
    "relay/backend_auth.ts",
    "relay/log.ts",
  ],
  "relay/health_checker.ts": ["relay/backend.ts"],
  "relay/relay_status.ts": [
    "relay/backend_health.ts",
    "relay/http_listener_stats.ts",
    "relay/write_stats.ts",
  ],
  "relay/process_stats.ts": ["relay/relay_status.ts"],
  "relay/prometheus_text.ts": [],
  "relay/relay_metrics.ts": [
    "relay/prometheus_text.ts",
    "relay/relay_status.ts",
  ],
  "relay/health_report.ts": ["relay/relay_status.ts"],
  "relay/status_report.ts": ["relay/relay_status.ts"],
  "relay/admin_routes.ts": [
    "relay/health_report.ts",
    "relay/relay_metrics.ts",
    "relay/relay_status.ts",
    "relay/status_report.ts",
  ],
  // /query: the proxy sees backends only through query_target.ts (types);
  // query_client.ts is the transport, wired to it by service.ts alone.
  "relay/influxql.ts": [],
  "relay/query_target.ts": [],
  "relay/query_request.ts": [],
  "relay/query_answer.ts": [],
  "relay/statement_queue.ts": [
    "relay/log.ts",
    "relay/query_answer.ts",
    "relay/query_target.ts",
  ],
  "relay/query_proxy.ts": [
    "relay/influxql.ts",
    "relay/log.ts",
    "relay/query_answer.ts",
    "relay/query_request.ts",
    "relay/query_target.ts",
    "relay/statement_queue.ts",
  ],
  "relay/query_client.ts": [
    "relay/backend_auth.ts",
    "relay/query_target.ts",
    "relay/write_api.ts",
  ],
  "relay/backend_auth.ts": ["relay/write_api.ts"],
  "relay/write_api.ts": [
    "relay/batch.ts",
    "relay/line_protocol.ts",
    "relay/query_string.ts",
  ],
  "relay/timestamp_rewrite.ts": ["relay/line_protocol.ts"],
  "relay/udp_listener.ts": [
    "relay/line_protocol.ts",
    "relay/batch.ts",
    "relay/log.ts",
    "relay/log_throttle.ts",
    "relay/udp_receiver.ts",
  ],
  "relay/udp_receiver.ts": [],
  "relay/udp_backend.ts": [
    "relay/backend.ts",
    "relay/batch.ts",
    "relay/log.ts",
    "relay/log_throttle.ts",
    "relay/mtu_split.ts",
  ],
  "relay/mtu_split.ts": ["relay/line_protocol.ts"],
  "relay/log_throttle.ts": [],
  "relay/backend.ts": ["relay/batch.ts"],
  "relay/batch_queue.ts": [],
  "relay/retry_buffer.ts": [
    "relay/backend.ts",
    "relay/batch.ts",
    "relay/batch_queue.ts",
    "relay/log.ts",
  ],
  "relay/memory_queue.ts": ["relay/batch.ts", "relay/batch_queue.ts"],
  "relay/spool_queue.ts": ["relay/batch.ts", "relay/batch_queue.ts"],
  "relay/config.ts": ["relay/duration.ts"],
  "relay/batch.ts": [],
  "relay/line_protocol.ts": [],
  "relay/query_string.ts": [],
  "relay/gzip.ts": [],
  "relay/body_reader.ts": ["relay/batch.ts"],
  "relay/admission.ts": ["relay/token_bucket.ts"],
  "relay/token_bucket.ts": [],
  "relay/client_auth.ts": [],
  "relay/partial_write.ts": ["relay/line_protocol.ts"],
  "relay/reload_plan.ts": ["relay/config.ts"],
  "relay/duration.ts": [],
  "relay/log.ts": [],
  "deno.json": [],
};

interface InfoModule {
  specifier: string;
  dependencies?: {
    code?: { specifier: string };
    type?: { specifier: string };
  }[];
}

/**
 * Entry points: main.ts only (the UDP receiver's Worker runs text made from
 * relay/udp_receiver.ts, not a module file of its own).
 */
const ROOTS = ["main.ts"];

async function importGraph(): Promise<Map<string, string[]>> {
  const graph = new Map<string, string[]>();
  for (const root of ROOTS) {
    for (const [from, to] of await moduleGraph(root)) graph.set(from, to);
  }
  return graph;
}

async function moduleGraph(root: string): Promise<Map<string, string[]>> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", root],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  const info = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    modules: InfoModule[];
  };
  const local = (specifier: string) =>
    specifier.startsWith("file://")
      ? relative(ROOT, fromFileUrl(specifier))
      : null;
  const graph = new Map<string, string[]>();
  for (const module of info.modules) {
    const from = local(module.specifier);
    if (from === null) continue;
    const to = (module.dependencies ?? [])
      .flatMap((d) => [d.code?.specifier, d.type?.specifier])
      .filter((s): s is string => s !== undefined)
      .map(local)
      .filter((s): s is string => s !== null);
    graph.set(from, [...new Set(to)]);
  }
  return graph;
}

Deno.test("the import graph only has edges the layering allows", async () => {
  const graph = await importGraph();
  assert.ok(graph.has("relay/http_listener.ts"), "graph misses the listener");
  assert.ok(graph.has("relay/udp_listener.ts"), "graph misses UDP");
  assert.ok(graph.has("relay/udp_receiver.ts"), "graph misses the receiver");
  const violations: string[] = [];
  for (const [from, targets] of graph) {
    const allowed = ALLOWED[from];
    if (allowed === undefined) {
      violations.push(`${from} has no entry in the layering table`);
      continue;
    }
    if (allowed.includes("*")) continue;
    for (const to of targets) {
      if (!allowed.includes(to)) violations.push(`${from} imports ${to}`);
    }
  }
  assert.deepEqual(violations, []);
});

Deno.test("nothing imports the composition root or main.ts", async () => {
  const graph = await importGraph();
  const offenders = [...graph].filter(([from, targets]) =>
    from !== "relay/mod.ts" && from !== "main.ts" &&
    targets.some((to) => to === "relay/service.ts" || to === "main.ts")
  );
  assert.deepEqual(offenders.map(([from]) => from), []);
});
