import assert from "node:assert/strict";
import {
  EXPOSITION_CONTENT_TYPE,
  formatExposition,
} from "./prometheus_text.ts";

Deno.test("formatExposition() writes HELP, TYPE and one line per sample", () => {
  const text = formatExposition([
    {
      name: "relay_up",
      help: "1 when up.",
      type: "gauge",
      samples: [
        { labels: { relay: "r", backend: "a" }, value: 1 },
        { labels: { relay: "r", backend: "b" }, value: 0 },
      ],
    },
    {
      name: "relay_bytes_total",
      help: "Bytes.",
      type: "counter",
      samples: [{ labels: {}, value: 1.5e21 }],
    },
  ]);
  assert.equal(
    text,
    [
      "# HELP relay_up 1 when up.",
      "# TYPE relay_up gauge",
      'relay_up{relay="r",backend="a"} 1',
      'relay_up{relay="r",backend="b"} 0',
      "# HELP relay_bytes_total Bytes.",
      "# TYPE relay_bytes_total counter",
      "relay_bytes_total 1.5e+21",
      "",
    ].join("\n"),
  );
  assert.match(EXPOSITION_CONTENT_TYPE, /^text\/plain; version=0\.0\.4/);
});

Deno.test("formatExposition() escapes label values and help text", () => {
  const text = formatExposition([{
    name: "odd",
    help: "back\\slash\nnewline",
    type: "gauge",
    samples: [{ labels: { name: 'a "quoted"\\name\nx' }, value: NaN }],
  }]);
  assert.equal(
    text,
    [
      "# HELP odd back\\\\slash\\nnewline",
      "# TYPE odd gauge",
      'odd{name="a \\"quoted\\"\\\\name\\nx"} NaN',
      "",
    ].join("\n"),
  );
});

Deno.test("formatExposition() writes a histogram as cumulative buckets, sum and count", () => {
  const text = formatExposition([{
    name: "latency_seconds",
    help: "Latency.",
    type: "histogram",
    samples: [{
      labels: { backend: "a" },
      bounds: [0.005, 1],
      cumulative: [2, 3, 4],
      sum: 12.25,
      count: 4,
    }],
  }]);
  assert.equal(
    text,
    [
      "# HELP latency_seconds Latency.",
      "# TYPE latency_seconds histogram",
      'latency_seconds_bucket{backend="a",le="0.005"} 2',
      'latency_seconds_bucket{backend="a",le="1"} 3',
      'latency_seconds_bucket{backend="a",le="+Inf"} 4',
      'latency_seconds_sum{backend="a"} 12.25',
      'latency_seconds_count{backend="a"} 4',
      "",
    ].join("\n"),
  );
});

Deno.test("formatExposition() leaves out families without samples", () => {
  assert.equal(
    formatExposition([{ name: "x", help: "", type: "gauge", samples: [] }]),
    "",
  );
});

Deno.test("formatExposition() throws TypeError for invalid or repeated names", () => {
  assert.throws(
    () =>
      formatExposition([{
        name: "bad-name",
        help: "",
        type: "gauge",
        samples: [],
      }]),
    TypeError,
  );
  assert.throws(
    () =>
      formatExposition([{
        name: "ok",
        help: "",
        type: "gauge",
        samples: [{ labels: { "bad-label": "x" }, value: 1 }],
      }]),
    TypeError,
  );
  const family = {
    name: "twice",
    help: "",
    type: "gauge" as const,
    samples: [],
  };
  assert.throws(() => formatExposition([family, family]), TypeError);
});
