/**
 * Readers of Linux `/proc` for the benchmark: a process's CPU time and
 * memory, and the whole machine's busy time.
 *
 * @module
 */

/** Clock ticks per second of `/proc` CPU times (`getconf CLK_TCK`). */
export const CLK_TCK = 100;

/**
 * CPU time a process has used so far (user + system), in seconds.
 *
 * @param pid The process.
 * @returns utime + stime from `/proc/<pid>/stat`, in seconds.
 * @throws {Deno.errors.NotFound} When the process is gone.
 */
export async function processCpuSeconds(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  // The command name (field 2) may hold spaces; count from its closing ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 of stat(5) are at 11 and 12 after the name and state.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / CLK_TCK;
}

/** CPU time split and page faults of a process so far. */
export interface ProcessCpuTimes {
  /** User-mode CPU seconds (utime). */
  user: number;
  /** Kernel-mode CPU seconds (stime): syscalls, page faults. */
  system: number;
  /** Minor page faults (first touch of new memory, no disk read). */
  minorFaults: number;
}

/**
 * Reads a process's user and system CPU time and minor page faults.
 *
 * @param pid The process.
 * @returns utime, stime (seconds) and minflt from `/proc/<pid>/stat`.
 * @throws {Deno.errors.NotFound} When the process is gone.
 */
export async function processCpuTimes(pid: number): Promise<ProcessCpuTimes> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // minflt, utime and stime are fields 10, 14 and 15 of stat(5).
  return {
    user: Number(fields[11]) / CLK_TCK,
    system: Number(fields[12]) / CLK_TCK,
    minorFaults: Number(fields[7]),
  };
}

/** Resident memory of a process, in bytes. */
export interface ProcessMemory {
  /** Current resident set size (`VmRSS`). */
  rss: number;
  /** Peak resident set size (`VmHWM`). */
  peak: number;
  /** Resident anonymous memory (`RssAnon`): heaps, malloc, stacks. */
  anon: number;
  /** Resident file-backed memory (`RssFile`): mostly the deno executable. */
  file: number;
}

/**
 * Reads `VmRSS`, `VmHWM`, `RssAnon` and `RssFile` of a process.
 *
 * @param pid The process.
 * @returns Current, peak, anonymous and file-backed RSS in bytes.
 * @throws {Deno.errors.NotFound} When the process is gone.
 */
export async function processMemory(pid: number): Promise<ProcessMemory> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  function kib(key: string): number {
    const match = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status);
    return match === null ? 0 : Number(match[1]) * 1024;
  }
  return {
    rss: kib("VmRSS"),
    peak: kib("VmHWM"),
    anon: kib("RssAnon"),
    file: kib("RssFile"),
  };
}

/** Aggregate CPU time of the machine, in ticks. */
export interface MachineTicks {
  /** Ticks spent on anything but idle and iowait. */
  busy: number;
  /** All ticks. */
  total: number;
}

/**
 * Reads the `cpu` line of `/proc/stat`.
 *
 * @returns Busy and total ticks over all cores since boot.
 */
export async function machineTicks(): Promise<MachineTicks> {
  const text = await Deno.readTextFile("/proc/stat");
  const line = text.slice(0, text.indexOf("\n"));
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest is in user).
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0] = values;
  const [irq = 0, softirq = 0, steal = 0] = values.slice(5);
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

/**
 * Finds running processes whose command line contains `text`.
 *
 * @param text A substring of the command line (e.g. a config path).
 * @returns Their pids.
 */
export async function findProcesses(text: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`);
      if (cmdline.replaceAll("\0", " ").includes(text)) {
        pids.push(Number(entry.name));
      }
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/**
 * CPU time of each thread of a process, summed per thread name (`comm`,
 * e.g. `deno` for the main JavaScript thread, `tokio-runtime-w` for Deno's
 * I/O workers).
 *
 * @param pid The process.
 * @returns Seconds per thread name.
 */
export async function threadCpuSeconds(
  pid: number,
): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for await (const entry of Deno.readDir(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = await Deno.readTextFile(`/proc/${pid}/task/${entry.name}/stat`);
    } catch {
      continue; // exited meanwhile
    }
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const seconds = (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
    const label = entry.name === String(pid) ? `${name} (main)` : name;
    out.set(label, (out.get(label) ?? 0) + seconds);
  }
  return out;
}
