/**
 * Figures of the relay process that the runtime can give: resident memory
 * and CPU time always, open file descriptors and the kernel's per-socket UDP
 * drop counters only where `/proc` may be read (Deno allows reading
 * `/proc/self` and `/proc/net` only with `--allow-all`; otherwise they are
 * reported as unknown, never as 0).
 *
 * @module
 */

import process from "node:process";
import type { ProcessStatus } from "./relay_status.ts";

/**
 * Reads the process figures.
 *
 * @returns RSS, CPU seconds, and open fds (`null` when `/proc/self/fd`
 * cannot be read).
 */
export async function readProcessStats(): Promise<ProcessStatus> {
  const { user, system } = process.cpuUsage();
  return {
    rssBytes: Deno.memoryUsage().rss,
    openFds: await countOpenFds(),
    cpuSeconds: (user + system) / 1e6,
  };
}

async function countOpenFds(): Promise<number | null> {
  try {
    let count = 0;
    for await (const _ of Deno.readDir("/proc/self/fd")) count++;
    // The directory handle itself was one of them.
    return Math.max(0, count - 1);
  } catch {
    return null;
  }
}

/**
 * Sums the kernel's `drops` counter of the UDP sockets bound to each port,
 * from `/proc/net/udp` and `/proc/net/udp6` (datagrams the kernel dropped
 * because the socket's receive buffer was full).
 *
 * @param ports The local ports of interest.
 * @returns Drops per port (0 for a port with no socket listed), or `null`
 * when the files cannot be read.
 */
export async function readUdpKernelDrops(
  ports: readonly number[],
): Promise<Map<number, number> | null> {
  const drops = new Map<number, number>(ports.map((port) => [port, 0]));
  let readable = false;
  for (const file of ["/proc/net/udp", "/proc/net/udp6"]) {
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch {
      continue;
    }
    readable = true;
    for (const [port, count] of parseUdpTable(text)) {
      const seen = drops.get(port);
      if (seen !== undefined) drops.set(port, seen + count);
    }
  }
  return readable ? drops : null;
}

/**
 * Reads `(local port, drops)` pairs from the text of `/proc/net/udp`.
 *
 * @param text The file's text (a header line, then one line per socket).
 * @returns One pair per socket.
 */
export function parseUdpTable(text: string): [number, number][] {
  const rows: [number, number][] = [];
  for (const line of text.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref ptr drops
    if (fields.length < 13) continue;
    const local = fields[1]!;
    const port = parseInt(local.slice(local.lastIndexOf(":") + 1), 16);
    const count = Number(fields[12]);
    if (Number.isInteger(port) && Number.isFinite(count)) {
      rows.push([port, count]);
    }
  }
  return rows;
}
