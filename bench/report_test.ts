import assert from "node:assert/strict";
import {
  BEGIN_MARKER,
  END_MARKER,
  renderReport,
  type RunInfo,
  spliceReport,
} from "./report.ts";
import type { UdpRateResult } from "./udp_scenario.ts";

Deno.test("spliceReport() replaces only the text between the markers", () => {
  const before =
    `# Benchmarks\n\nintro\n\n${BEGIN_MARKER}\n\nold\n\n${END_MARKER}\n\n## Notes\nmine\n`;
  const after = spliceReport(before, "new table");
  assert.equal(
    after,
    `# Benchmarks\n\nintro\n\n${BEGIN_MARKER}\n\nnew table\n\n${END_MARKER}\n\n## Notes\nmine\n`,
  );
});

Deno.test("spliceReport() appends a marked section when there is none", () => {
  const created = spliceReport("", "table");
  assert.ok(created.startsWith("# Benchmarks\n\n## Latest run\n\n"));
  assert.ok(created.includes(`${BEGIN_MARKER}\n\ntable\n\n${END_MARKER}`));
  const appended = spliceReport("# Mine\n", "table");
  assert.ok(appended.startsWith("# Mine\n\n## Latest run\n\n"));
});

function udpRate(rate: number, sinkDrops: number): UdpRateResult {
  const sent = Math.round(rate / 7) * 5;
  const relayKernelDrops = 10;
  const datagrams = sent - relayKernelDrops - sinkDrops;
  return {
    rate,
    datagramRate: Math.round(rate / 7),
    sent,
    offeredPoints: sent * 7,
    sendSeconds: 5,
    achievedRate: rate,
    datagramBytes: 618,
    relayKernelDrops,
    relay: {
      datagramsReceived: sent - relayKernelDrops,
      datagramsDropped: 0,
      datagramsForwarded: sent - relayKernelDrops,
      linesForwarded: (sent - relayKernelDrops) * 7,
      linesInvalid: 0,
      outputs: [],
    },
    sinks: [{
      name: "sink1",
      datagrams,
      lines: datagrams * 7,
      lost: (sent - datagrams) * 7,
      lossShare: (sent - datagrams) / sent,
      kernelDrops: sinkDrops,
      relaySent: sent - relayKernelDrops,
      sendErrors: 0,
    }],
    relayCpuPerMillion: 7,
    relayCores: 0.5,
    relayThreads: new Map([["deno (main)", 2], ["worker-1", 1]]),
    senderCores: 0.2,
    sinkCores: 0.3,
    otherCores: 0,
    idleRss: 60 * 1024 * 1024,
    maxRss: 90 * 1024 * 1024,
    machineBusy: 0.5,
    notes: [],
  };
}

Deno.test("renderReport() judges UDP loss end to end and for the relay alone", () => {
  const info: RunInfo = {
    date: "2026-01-01T00:00:00Z",
    cores: 2,
    cpuModel: "test CPU",
    kernel: "6",
    revision: "abc",
    deno: "Deno",
    wrk: "wrk",
    influxd: "none",
    warmupSeconds: 2,
    seconds: 8,
    udpSeconds: 5,
    relayV8Flags: "none",
    connections: 50,
    bytesPerLine: 144,
    gzipRatio: 0.16,
    totalSeconds: 1,
  };
  const text = renderReport({
    info,
    results: [],
    udp: [{
      spec: {
        id: "C",
        title: "UDP",
        target: "udp",
        rates: [50_000, 100_000],
        linesPerDatagram: 7,
        mtu: 1024,
      },
      // 50k: 10 datagrams of 35,715 lost by the relay (0.03 %) but 200 more
      // at the sink; 100k: 10 of 71,430 lost, nothing at the sink.
      rates: [udpRate(50_000, 200), udpRate(100_000, 0)],
    }],
    udpProfile: null,
    skipped: [],
    profile: null,
  });
  const row50 = text.split("\n").find((l) =>
    l.startsWith("| C: UDP loss at 50,000")
  );
  assert.ok(row50?.includes("0.59 %"), row50);
  assert.ok(
    row50?.endsWith("**missed**; the relay's own loss: **met** |"),
    row50,
  );
  const row100 = text.split("\n").find((l) =>
    l.startsWith("| C: UDP loss at 100,000")
  );
  assert.ok(
    row100?.endsWith(
      "**met**, stretch **met**; the relay's own loss: **met**, stretch **met** |",
    ),
    row100,
  );
  // Every missing datagram is attributed: the unexplained column is 0.
  const c50 = text.split("\n").find((l) => l.startsWith("| C 50k |"))!;
  const cells = c50.split(" | ");
  assert.equal(cells[10], "0");
});
