/**
 * Summarises a V8 `.cpuprofile` (as written by `deno run --cpu-prof`): self
 * time per function and per area of the code (the relay's own modules,
 * Deno's `node:http`, the rest of the runtime, garbage collection).
 *
 * @module
 */

/** The parts of a `.cpuprofile` this module reads. */
export interface CpuProfile {
  /** Call-tree nodes. */
  nodes: {
    id: number;
    callFrame: {
      functionName: string;
      url: string;
      lineNumber: number;
    };
  }[];
  /** Node id of each sample. */
  samples: number[];
  /** Microseconds before each sample. */
  timeDeltas: number[];
}

/** Self time of one function or area. */
export interface SelfTime {
  /** Function name and location, or area name. */
  name: string;
  /** Self time in milliseconds. */
  ms: number;
  /** Share of the non-idle time, 0–1. */
  share: number;
}

/** What {@linkcode summarizeCpuProfile} returns. */
export interface CpuProfileSummary {
  /** Sampled milliseconds on the main thread, idle excluded. */
  busyMs: number;
  /** Idle milliseconds (the thread waited for I/O). */
  idleMs: number;
  /** The functions with the most self time, largest first. */
  top: SelfTime[];
  /** Self time per area, largest first. */
  areas: SelfTime[];
}

/** Options for {@linkcode summarizeCpuProfile}. */
export interface SummarizeOptions {
  /**
   * How many functions to list.
   * @default 15
   */
  top?: number;
}

function shortUrl(url: string): string {
  const relay = url.lastIndexOf("/relay/");
  if (relay >= 0) return url.slice(relay + 1);
  const bench = url.lastIndexOf("/bench/");
  if (bench >= 0) return url.slice(bench + 1);
  if (url.startsWith("file://")) return url.slice(url.lastIndexOf("/") + 1);
  return url;
}

function area(functionName: string, url: string): string {
  if (functionName === "(garbage collector)") return "garbage collection";
  if (url === "") {
    return functionName === "(program)"
      ? "native (program)"
      : `builtins (${functionName || "anonymous"})`;
  }
  if (url.includes("/relay/line_protocol.ts")) return "relay: line_protocol.ts";
  if (url.includes("/relay/")) return "relay: other modules";
  if (url.includes("@logtape") || url.includes("smol-toml")) return "npm";
  if (url.startsWith("node:") || url.includes("ext:deno_node")) {
    return "Deno node: compat (node:http)";
  }
  if (url.includes("ext:deno_http") || url.includes("ext:deno_fetch")) {
    return "Deno HTTP server/fetch (JS side)";
  }
  if (url.startsWith("ext:")) return "Deno runtime (other ext:)";
  return "other";
}

/**
 * Summarises a profile.
 *
 * @param profile The parsed `.cpuprofile`.
 * @param options How many functions to list.
 * @returns Busy and idle time, top functions and areas by self time.
 */
export function summarizeCpuProfile(
  profile: CpuProfile,
  options: SummarizeOptions = {},
): CpuProfileSummary {
  const { top = 15 } = options;
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const byFunction = new Map<string, number>();
  const byArea = new Map<string, number>();
  let idleUs = 0;
  let busyUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = nodes.get(profile.samples[i]!);
    // V8 attributes the interval after a sample to that sample.
    const us = profile.timeDeltas[i + 1] ?? 0;
    if (node === undefined) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === "(idle)") {
      idleUs += us;
      continue;
    }
    busyUs += us;
    const name = url === ""
      ? functionName
      : `${functionName || "(anonymous)"} ${shortUrl(url)}:${lineNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
    const a = area(functionName, url);
    byArea.set(a, (byArea.get(a) ?? 0) + us);
  }
  function rank(map: Map<string, number>, limit: number): SelfTime[] {
    return [...map].sort((x, y) => y[1] - x[1]).slice(0, limit).map((
      [name, us],
    ) => ({ name, ms: us / 1000, share: busyUs === 0 ? 0 : us / busyUs }));
  }
  return {
    busyMs: busyUs / 1000,
    idleMs: idleUs / 1000,
    top: rank(byFunction, top),
    areas: rank(byArea, Infinity),
  };
}
