import assert from "node:assert/strict";
import { summarizeCpuProfile } from "./cpu_profile.ts";

Deno.test("summarizeCpuProfile() sums self time per function and area, idle apart", () => {
  const frame = (functionName: string, url = "") => ({
    functionName,
    url,
    lineNumber: 9,
  });
  const summary = summarizeCpuProfile({
    nodes: [
      { id: 1, callFrame: frame("(root)") },
      { id: 2, callFrame: frame("(idle)") },
      {
        id: 3,
        callFrame: frame("parseLine", "file:///x/relay/line_protocol.ts"),
      },
      { id: 4, callFrame: frame("writev") },
      { id: 5, callFrame: frame("(garbage collector)") },
    ],
    samples: [3, 3, 4, 2, 5, 3],
    timeDeltas: [0, 1000, 1000, 2000, 5000, 1000, 1000],
  });
  assert.equal(summary.idleMs, 5);
  assert.equal(summary.busyMs, 6);
  assert.deepEqual(summary.top[0], {
    name: "parseLine relay/line_protocol.ts:10",
    ms: 3,
    share: 0.5,
  });
  assert.deepEqual(
    summary.areas.map((a) => a.name),
    ["relay: line_protocol.ts", "builtins (writev)", "garbage collection"],
  );
});
