/**
 * Writes metrics in the Prometheus text exposition format, version 0.0.4:
 * `# HELP` and `# TYPE` lines, then one line per sample, label values
 * escaped; histograms as cumulative `_bucket{le="…"}` lines with `_sum` and
 * `_count`.
 *
 * Written here rather than taken from `prom-client` (see the README's
 * Monitoring section): the relay keeps its counters as plain numbers on the
 * objects that already handle each write and builds the exposition only
 * when scraped, so all it needs from a library is this formatting, and
 * `prom-client` has no way to expose a histogram whose buckets are counted
 * elsewhere.
 *
 * @module
 */

/** The content type of {@linkcode formatExposition}'s output. */
export const EXPOSITION_CONTENT_TYPE =
  "text/plain; version=0.0.4; charset=utf-8";

/** Label names and values of one sample. */
export type Labels = Readonly<Record<string, string>>;

/** One sample of a counter or gauge. */
export interface Sample {
  /** Its labels. */
  readonly labels: Labels;
  /** Its value. */
  readonly value: number;
}

/** One histogram (one label set). */
export interface HistogramSample {
  /** Its labels (without `le`). */
  readonly labels: Labels;
  /** Upper bounds of the buckets, ascending, without `+Inf`. */
  readonly bounds: readonly number[];
  /** Cumulative counts: one per bound, then `+Inf`. */
  readonly cumulative: readonly number[];
  /** Sum of the observations. */
  readonly sum: number;
  /** Number of observations. */
  readonly count: number;
}

/** A metric family: a name, its help text and type, and its samples. */
export type MetricFamily =
  | {
    readonly name: string;
    readonly help: string;
    readonly type: "counter" | "gauge";
    readonly samples: readonly Sample[];
  }
  | {
    readonly name: string;
    readonly help: string;
    readonly type: "histogram";
    readonly samples: readonly HistogramSample[];
  };

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Formats metric families. Families without samples are left out.
 *
 * @example Usage
 * ```ts
 * import { formatExposition } from "./prometheus_text.ts";
 * import assert from "node:assert/strict";
 *
 * const text = formatExposition([{
 *   name: "demo_requests_total",
 *   help: "Requests.",
 *   type: "counter",
 *   samples: [{ labels: { path: "/write" }, value: 3 }],
 * }]);
 * assert.equal(
 *   text,
 *   '# HELP demo_requests_total Requests.\n# TYPE demo_requests_total counter\ndemo_requests_total{path="/write"} 3\n',
 * );
 * ```
 *
 * @param families The families, in the order to write them.
 * @returns The exposition text, ending with a newline (empty without samples).
 * @throws {TypeError} When a metric or label name is invalid, a name is
 * used twice, or a histogram's counts do not fit its bounds.
 */
export function formatExposition(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const family of families) {
    if (!METRIC_NAME.test(family.name)) {
      throw new TypeError(
        `Cannot format metrics as ${
          JSON.stringify(family.name)
        } is not a valid metric name`,
      );
    }
    if (seen.has(family.name)) {
      throw new TypeError(
        `Cannot format metrics as ${
          JSON.stringify(family.name)
        } is defined twice`,
      );
    }
    seen.add(family.name);
    if (family.samples.length === 0) continue;
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`);
    lines.push(`# TYPE ${family.name} ${family.type}`);
    if (family.type === "histogram") {
      for (const sample of family.samples) {
        writeHistogram(lines, family.name, sample);
      }
    } else {
      for (const sample of family.samples) {
        lines.push(
          `${family.name}${formatLabels(sample.labels)} ${
            formatValue(sample.value)
          }`,
        );
      }
    }
  }
  return lines.length === 0 ? "" : lines.join("\n") + "\n";
}

function writeHistogram(
  lines: string[],
  name: string,
  sample: HistogramSample,
): void {
  const { labels, bounds, cumulative, sum, count } = sample;
  if (cumulative.length !== bounds.length + 1) {
    throw new TypeError(
      `Cannot format histogram ${
        JSON.stringify(name)
      } as it has ${cumulative.length} counts for ${bounds.length} bounds (expected one more, for +Inf)`,
    );
  }
  bounds.forEach((bound, index) => {
    lines.push(
      `${name}_bucket${formatLabels(labels, formatValue(bound))} ${
        formatValue(cumulative[index]!)
      }`,
    );
  });
  lines.push(
    `${name}_bucket${formatLabels(labels, "+Inf")} ${
      formatValue(cumulative[bounds.length]!)
    }`,
  );
  lines.push(`${name}_sum${formatLabels(labels)} ${formatValue(sum)}`);
  lines.push(`${name}_count${formatLabels(labels)} ${formatValue(count)}`);
}

function formatLabels(labels: Labels, le?: string): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(labels)) {
    if (!LABEL_NAME.test(name) || name.startsWith("__") || name === "le") {
      throw new TypeError(
        `Cannot format metrics as ${
          JSON.stringify(name)
        } is not a valid label name`,
      );
    }
    parts.push(`${name}="${escapeLabelValue(value)}"`);
  }
  if (le !== undefined) parts.push(`le="${le}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

/** Escapes a label value: backslash, double quote and newline. */
function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => c === "\n" ? "\\n" : `\\${c}`);
}

/** Escapes help text: backslash and newline. */
function escapeHelp(help: string): string {
  return help.replace(/[\\\n]/g, (c) => c === "\n" ? "\\n" : "\\\\");
}

/**
 * Formats a sample value as Go's `strconv.ParseFloat` reads it: `NaN`,
 * `+Inf`, `-Inf`, else JavaScript's shortest round-trip form.
 */
function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
