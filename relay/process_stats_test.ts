import assert from "node:assert/strict";
import {
  parseUdpTable,
  readProcessStats,
  readUdpKernelDrops,
} from "./process_stats.ts";

const UDP_TABLE =
  `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  412: 0100007F:2380 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1234 2 0000000000000000 17
  998: 00000000:1F90 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 5678 2 0000000000000000 0
`;

Deno.test("parseUdpTable() reads each socket's local port and drops", () => {
  assert.deepEqual(parseUdpTable(UDP_TABLE), [[0x2380, 17], [0x1f90, 0]]);
  assert.deepEqual(parseUdpTable(""), []);
});

Deno.test("readProcessStats() reports RSS and CPU time, and open fds under --allow-all", async () => {
  const stats = await readProcessStats();
  assert.ok(stats.rssBytes > 1024 * 1024);
  assert.ok(stats.cpuSeconds > 0);
  // The tests run with --allow-all, which lets Deno read /proc/self/fd.
  if (Deno.build.os === "linux") assert.ok((stats.openFds ?? 0) > 2);
});

Deno.test("readUdpKernelDrops() finds the drops of a bound socket's port", async () => {
  if (Deno.build.os !== "linux") return;
  const socket = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  try {
    const port = (socket.addr as Deno.NetAddr).port;
    const drops = await readUdpKernelDrops([port]);
    assert.deepEqual(drops, new Map([[port, 0]]));
  } finally {
    socket.close();
  }
});
