/**
 * Runs a real InfluxDB 1.x `influxd` per test: its own config, temp data
 * directory and free loopback ports; helpers to write, query and read back
 * exactly what was stored; stop/start that keeps the data for restart tests.
 *
 * @module
 */

const INSTALL_HINT = "apt-get install -y influxdb influxdb-client";
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;
const PING_TIMEOUT_MS = 2_000;
const POLL_INTERVAL_MS = 20;
const START_ATTEMPTS = 5;
const LOG_TAIL_CHARS = 4000;

/**
 * Finds the `influxd` binary: `/usr/bin/influxd`, else the first executable
 * `influxd` on `PATH`.
 *
 * @returns Its path, or `null` when it is not installed.
 */
export function influxdPath(): string | null {
  const candidates = ["/usr/bin/influxd"];
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir !== "") candidates.push(`${dir}/influxd`);
  }
  for (const candidate of candidates) {
    try {
      const info = Deno.statSync(candidate);
      if (info.isFile && ((info.mode ?? 0o755) & 0o111) !== 0) return candidate;
    } catch {
      // not there; try the next one
    }
  }
  return null;
}

let skipNoticeShown = false;

/**
 * Tells whether real-InfluxDB tests must be skipped, for `Deno.test`'s
 * `ignore`. When `influxd` is missing it prints (once) that those tests are
 * SKIPPED and how to install InfluxDB; when the environment has `CI=true` it
 * throws instead, because CI must run them.
 *
 * @returns `null` when `influxd` is available, else the reason to skip.
 * @throws {Error} When `influxd` is missing and `CI` is `"true"`.
 */
export function influxdSkipReason(): string | null {
  if (influxdPath() !== null) return null;
  const reason =
    `influxd not found (looked in /usr/bin and PATH): install it with '${INSTALL_HINT}'`;
  if (Deno.env.get("CI") === "true") {
    throw new Error(
      `Cannot run the real-InfluxDB tests in CI: ${reason}`,
    );
  }
  if (!skipNoticeShown) {
    skipNoticeShown = true;
    // deno-lint-ignore no-console
    console.warn(
      `\n*** Real-InfluxDB tests are SKIPPED: ${reason} (or run 'bash tests/setup.sh' as root) ***\n`,
    );
  }
  return reason;
}

/** A field value as InfluxDB stored it: integers are `bigint`, floats `number`. */
export type FieldValue = number | bigint | string | boolean;

/** One stored point, shaped like a line of line protocol. */
export interface StoredPoint {
  /** Measurement name. */
  measurement: string;
  /** Tag set; tags the point does not have are absent (never `""`). */
  tags: Record<string, string>;
  /**
   * Field set: `integer` fields as `bigint`, `float` fields as `number`,
   * `string` and `boolean` fields as themselves. Absent fields are absent.
   */
  fields: Record<string, FieldValue>;
  /** Timestamp in nanoseconds since the epoch, exact. */
  time: bigint;
}

/** Options for {@linkcode startInfluxd}. */
export interface InfluxdOptions {
  /** Enables one `[[udp]]` listener on a free loopback port. */
  udp?: {
    /** Database every UDP point is written to (created on first write). */
    database: string;
    /** Timestamp precision of UDP points (`""`/`"n"`, `"u"`, `"ms"`, `"s"`…). */
    precision?: string;
  };
  /**
   * Enables `[http] auth-enabled` and creates this admin user at first start;
   * the helper's own requests then authenticate as this user.
   */
  auth?: { username: string; password: string };
}

/** Options for {@linkcode Influxd.query}. */
export interface InfluxdQueryOptions {
  /** `db` parameter. */
  db?: string;
  /** `rp` parameter. */
  rp?: string;
  /** `epoch` parameter (`ns`, `u`, `ms`, `s`, `m`, `h`). */
  epoch?: string;
}

/** Options for {@linkcode Influxd.points} and {@linkcode Influxd.count}. */
export interface InfluxdPointsOptions {
  /** Read this retention policy instead of the database's default. */
  rp?: string;
}

/** Options for {@linkcode Influxd.write}. */
export interface InfluxdWriteOptions {
  /** `precision` parameter. */
  precision?: string;
  /** `rp` parameter. */
  rp?: string;
}

/** A running `influxd`; dispose it (or call `close()`) to kill it and delete its data. */
export interface Influxd extends AsyncDisposable {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** `url + "/write"`. */
  readonly writeUrl: string;
  /** HTTP port on 127.0.0.1 (stays the same across stop/start). */
  readonly port: number;
  /** UDP listener port on 127.0.0.1, or `null` when none was asked for. */
  readonly udpPort: number | null;
  /** Temp directory holding config, log, meta, data and wal. */
  readonly dir: string;
  /** The generated influxd config file. */
  readonly configPath: string;
  /** Log file of the process (stdout and stderr, appended across restarts). */
  readonly logPath: string;
  /** Milliseconds the last `start()` took from spawn to ready. */
  readonly startupMs: number;
  /** Whether the process is running. */
  readonly running: boolean;
  /**
   * Runs InfluxQL through `POST /query`. Integers beyond
   * `Number.MAX_SAFE_INTEGER` (e.g. `epoch=ns` times) come back as `bigint`.
   *
   * @throws {Error} On an HTTP error or an error in any statement.
   */
  query(q: string, options?: InfluxdQueryOptions): Promise<unknown>;
  /** `CREATE DATABASE`. */
  createDatabase(db: string): Promise<void>;
  /**
   * `POST /write` of line protocol.
   *
   * @throws {Error} Unless InfluxDB answers 204.
   */
  write(
    db: string,
    body: string | Uint8Array,
    options?: InfluxdWriteOptions,
  ): Promise<void>;
  /**
   * Every stored point of `db` (or of one measurement), exact (all tags,
   * typed fields, ns time), sorted by measurement, tag set, then time, so
   * two servers can be compared with `assert.deepEqual`. A database that
   * does not exist reads as empty.
   */
  points(
    db: string,
    measurement?: string,
    options?: InfluxdPointsOptions,
  ): Promise<StoredPoint[]>;
  /** Number of stored points over all measurements of `db` (0 if it does not exist). */
  count(db: string, options?: InfluxdPointsOptions): Promise<number>;
  /** Sends SIGTERM and waits (bounded, then SIGKILL); keeps the data directory. */
  stop(): Promise<void>;
  /** Starts the process again on the same ports and data. */
  start(): Promise<void>;
  /** Stops the process and deletes the temp directory. */
  close(): Promise<void>;
}

interface Ports {
  http: number;
  rpc: number;
  udp: number | null;
}

/** Thrown by a failed start; `addressInUse` lets the first start retry on new ports. */
class InfluxdStartError extends Error {
  readonly addressInUse: boolean;
  constructor(message: string, addressInUse: boolean) {
    super(message);
    this.name = "InfluxdStartError";
    this.addressInUse = addressInUse;
  }
}

/** A JSON number kept as its source text, so integers and times stay exact. */
class RawNumber {
  readonly source: string;
  constructor(source: string) {
    this.source = source;
  }
}

interface JsonParseContext {
  source?: string;
}

function parseJsonRawNumbers(text: string): unknown {
  return JSON.parse(
    text,
    function (_key: string, value: unknown, context?: JsonParseContext) {
      if (typeof value === "number" && context?.source !== undefined) {
        return new RawNumber(context.source);
      }
      return value;
    },
  );
}

function parseJsonLossless(text: string): unknown {
  return JSON.parse(
    text,
    function (_key: string, value: unknown, context?: JsonParseContext) {
      if (
        typeof value === "number" && !Number.isSafeInteger(value) &&
        context?.source !== undefined && /^-?\d+$/.test(context.source)
      ) {
        return BigInt(context.source);
      }
      return value;
    },
  );
}

/** Quotes an InfluxQL identifier. */
function ident(name: string): string {
  return `"${name.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

function tomlString(value: string): string {
  return JSON.stringify(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

interface Series {
  name: string;
  tags: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

interface StatementResult {
  error: string | null;
  series: Series[];
}

function statementResults(parsed: unknown): StatementResult[] {
  if (!isRecord(parsed)) {
    throw new TypeError("Cannot read query response: not a JSON object");
  }
  if (typeof parsed.error === "string") throw new Error(parsed.error);
  const results = Array.isArray(parsed.results) ? parsed.results : [];
  return results.map((result: unknown): StatementResult => {
    if (!isRecord(result)) return { error: null, series: [] };
    const series = Array.isArray(result.series) ? result.series : [];
    return {
      error: typeof result.error === "string" ? result.error : null,
      series: series.filter(isRecord).map((s): Series => ({
        name: String(s.name ?? ""),
        tags: isRecord(s.tags)
          ? Object.fromEntries(
            Object.entries(s.tags).map(([k, v]) => [k, String(v ?? "")]),
          )
          : {},
        columns: Array.isArray(s.columns) ? s.columns.map(String) : [],
        values: Array.isArray(s.values)
          ? s.values.filter((row: unknown) => Array.isArray(row))
          : [],
      })),
    };
  });
}

function fieldValue(
  value: unknown,
  types: Set<string> | undefined,
): FieldValue | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "string" || typeof value === "boolean") return value;
  if (value instanceof RawNumber) {
    const src = value.source;
    const only = types?.size === 1 ? [...types][0] : undefined;
    if (only === "integer") return BigInt(src);
    if (only === "float") return Number(src);
    // Type conflict across shards (or unknown): judge by the text.
    if (/^-?\d+$/.test(src)) {
      const n = Number(src);
      return Number.isSafeInteger(n) ? n : BigInt(src);
    }
    return Number(src);
  }
  throw new TypeError(
    `Cannot read field value: unexpected JSON value '${JSON.stringify(value)}'`,
  );
}

function tagKey(tags: Record<string, string>): string {
  return Object.keys(tags).sort().map((k) => `${k}=${tags[k]}`).join(",");
}

function comparePoints(a: StoredPoint, b: StoredPoint): number {
  if (a.measurement !== b.measurement) {
    return a.measurement < b.measurement ? -1 : 1;
  }
  const ta = tagKey(a.tags);
  const tb = tagKey(b.tags);
  if (ta !== tb) return ta < tb ? -1 : 1;
  return a.time < b.time ? -1 : a.time > b.time ? 1 : 0;
}

function escapeLp(text: string, chars: RegExp): string {
  return text.replace(chars, (c) => `\\${c}`);
}

/**
 * Formats a stored point as one canonical line of line protocol (tags and
 * fields sorted, integers with `i`, ns time), handy for readable diffs.
 *
 * @param point The point to format.
 * @returns The line, without a trailing newline.
 */
export function pointToLine(point: StoredPoint): string {
  const measurement = escapeLp(point.measurement, /[, ]/g);
  const tags = Object.keys(point.tags).sort().map((k) =>
    `,${escapeLp(k, /[,= ]/g)}=${escapeLp(point.tags[k] ?? "", /[,= ]/g)}`
  ).join("");
  const fields = Object.keys(point.fields).sort().map((k) => {
    const v = point.fields[k];
    let text: string;
    if (typeof v === "bigint") text = `${v}i`;
    else if (typeof v === "string") {
      text = `"${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
    } else text = String(v);
    return `${escapeLp(k, /[,= ]/g)}=${text}`;
  }).join(",");
  return `${measurement}${tags} ${fields} ${point.time}`;
}

function childEnv(): Record<string, string> {
  // INFLUXDB_* variables override the config file in influxd; drop them.
  return Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) =>
      !k.startsWith("INFLUXDB_")
    ),
  );
}

function allocatePorts(udp: boolean): Ports {
  // Hold every listener until all ports are known so they are distinct.
  const http = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const rpc = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const dgram = udp
    ? Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" })
    : null;
  const ports: Ports = {
    http: http.addr.port,
    rpc: rpc.addr.port,
    udp: dgram === null ? null : (dgram.addr as Deno.NetAddr).port,
  };
  http.close();
  rpc.close();
  dgram?.close();
  return ports;
}

function configText(
  dir: string,
  ports: Ports,
  options: InfluxdOptions,
): string {
  const lines = [
    "reporting-disabled = true",
    `bind-address = ${tomlString(`127.0.0.1:${ports.rpc}`)}`,
    "",
    "[meta]",
    `  dir = ${tomlString(`${dir}/meta`)}`,
    "  logging-enabled = false",
    "",
    "[data]",
    `  dir = ${tomlString(`${dir}/data`)}`,
    `  wal-dir = ${tomlString(`${dir}/wal`)}`,
    "  query-log-enabled = false",
    "",
    "[monitor]",
    "  store-enabled = false",
    "",
    "[retention]",
    "  enabled = false",
    "",
    "[shard-precreation]",
    "  enabled = false",
    "",
    "[subscriber]",
    "  enabled = false",
    "",
    "[continuous_queries]",
    "  enabled = false",
    "  log-enabled = false",
    "",
    "[http]",
    "  enabled = true",
    `  bind-address = ${tomlString(`127.0.0.1:${ports.http}`)}`,
    `  auth-enabled = ${options.auth !== undefined}`,
    "  log-enabled = false",
    "  pprof-enabled = false",
    "",
    "[logging]",
    '  level = "warn"',
    "  suppress-logo = true",
    "",
  ];
  if (options.udp !== undefined && ports.udp !== null) {
    lines.push(
      "[[udp]]",
      "  enabled = true",
      `  bind-address = ${tomlString(`127.0.0.1:${ports.udp}`)}`,
      `  database = ${tomlString(options.udp.database)}`,
      `  precision = ${tomlString(options.udp.precision ?? "")}`,
      // Small batches and a short flush so UDP points land quickly.
      "  batch-size = 1000",
      '  batch-timeout = "10ms"',
      "",
    );
  }
  return lines.join("\n");
}

async function logTail(logPath: string): Promise<string> {
  try {
    const text = await Deno.readTextFile(logPath);
    return text.length > LOG_TAIL_CHARS ? text.slice(-LOG_TAIL_CHARS) : text;
  } catch {
    return "(no log)";
  }
}

/** Whether /proc lists a UDP socket bound to 127.0.0.1:`port` (true if /proc is unreadable). */
async function udpBound(port: number): Promise<boolean> {
  let table: string;
  try {
    table = await Deno.readTextFile("/proc/net/udp");
  } catch {
    return true;
  }
  const suffix = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  return table.split("\n").some((line) => {
    const local = line.trim().split(/\s+/)[1];
    return local !== undefined && local.endsWith(suffix);
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

class InfluxdImpl implements Influxd {
  readonly url: string;
  readonly writeUrl: string;
  readonly port: number;
  readonly udpPort: number | null;
  readonly dir: string;
  readonly logPath: string;
  startupMs = 0;
  #binary: string;
  #configPath: string;
  #options: InfluxdOptions;
  #child: Deno.ChildProcess | null = null;
  #exit: Deno.CommandStatus | null = null;
  /** Aborted when the current process exits, to cut a pending /ping short. */
  #exited = new AbortController();
  #userCreated = false;
  #closed: Promise<void> | null = null;

  constructor(
    binary: string,
    dir: string,
    ports: Ports,
    options: InfluxdOptions,
  ) {
    this.#binary = binary;
    this.dir = dir;
    this.#configPath = `${dir}/influxd.conf`;
    this.logPath = `${dir}/influxd.log`;
    this.#options = options;
    this.port = ports.http;
    this.udpPort = ports.udp;
    this.url = `http://127.0.0.1:${ports.http}`;
    this.writeUrl = `${this.url}/write`;
  }

  get running(): boolean {
    return this.#child !== null;
  }

  get configPath(): string {
    return this.#configPath;
  }

  /**
   * Whether the server answering on our port is our process: another
   * influxd that won a race for the same free port would answer /ping too.
   * `/debug/vars` shows the command line, which names our config file.
   */
  async #isOurs(): Promise<boolean> {
    try {
      const res = await fetch(`${this.url}/debug/vars`, {
        headers: this.#authHeaders(),
        signal: AbortSignal.any([
          this.#exited.signal,
          AbortSignal.timeout(PING_TIMEOUT_MS),
        ]),
      });
      const vars: unknown = await res.json();
      return isRecord(vars) && Array.isArray(vars.cmdline) &&
        vars.cmdline.includes(this.#configPath);
    } catch {
      return false;
    }
  }

  #authHeaders(): Record<string, string> {
    const auth = this.#options.auth;
    if (auth === undefined) return {};
    return {
      authorization: `Basic ${btoa(`${auth.username}:${auth.password}`)}`,
    };
  }

  async #ping(): Promise<boolean> {
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), PING_TIMEOUT_MS);
    try {
      const res = await fetch(`${this.url}/ping`, {
        signal: AbortSignal.any([timeout.signal, this.#exited.signal]),
      });
      await res.body?.cancel();
      return res.status === 204;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  async start(): Promise<void> {
    if (this.#closed !== null) {
      throw new Error(`Cannot start influxd on ${this.url}: it was closed`);
    }
    if (this.#child !== null) return;
    const begin = performance.now();
    const child = new Deno.Command("/bin/sh", {
      // exec: the child's pid is influxd's own, so signals reach it.
      args: [
        "-c",
        'exec "$0" run -config "$1" >>"$2" 2>&1',
        this.#binary,
        this.#configPath,
        this.logPath,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
      clearEnv: true,
      env: childEnv(),
    }).spawn();
    this.#child = child;
    this.#exit = null;
    const exited = new AbortController();
    this.#exited = exited;
    child.status.then((status) => {
      this.#exit = status;
      exited.abort();
    });
    try {
      await this.#waitReady(begin);
    } catch (error) {
      await this.#kill();
      const tail = await logTail(this.logPath);
      const reason = error instanceof Error ? error.message : String(error);
      throw new InfluxdStartError(
        `Cannot start influxd on ${this.url}: ${reason}\n--- ${this.logPath} (tail) ---\n${tail}`,
        /address already in use/i.test(tail),
      );
    }
    if (this.#options.auth !== undefined && !this.#userCreated) {
      const { username, password } = this.#options.auth;
      await this.query(
        `CREATE USER ${ident(username)} WITH PASSWORD '${
          password.replaceAll("\\", "\\\\").replaceAll("'", "\\'")
        }' WITH ALL PRIVILEGES`,
      );
      this.#userCreated = true;
    }
    this.startupMs = performance.now() - begin;
  }

  async #waitReady(begin: number): Promise<void> {
    const deadline = begin + READY_TIMEOUT_MS;
    let httpReady = false;
    while (true) {
      // Let a pending exit status settle before looking at it.
      await delay(0);
      if (this.#exit !== null) {
        throw new Error(`influxd exited with code ${this.#exit.code}`);
      }
      if (!httpReady) httpReady = await this.#ping() && await this.#isOurs();
      if (
        httpReady &&
        (this.udpPort === null || await udpBound(this.udpPort))
      ) {
        return;
      }
      if (performance.now() >= deadline) {
        throw new Error(
          `influxd not ready after ${READY_TIMEOUT_MS} ms (${
            httpReady ? "UDP port not bound" : "/ping did not answer 204"
          })`,
        );
      }
      await delay(POLL_INTERVAL_MS);
    }
  }

  async #kill(): Promise<void> {
    const child = this.#child;
    if (child === null) return;
    try {
      child.kill("SIGTERM");
    } catch {
      // already exited
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), STOP_TIMEOUT_MS);
    });
    try {
      const outcome = await Promise.race([child.status, timedOut]);
      if (outcome === "timeout") {
        try {
          child.kill("SIGKILL");
        } catch {
          // exited meanwhile
        }
        await child.status;
      }
    } finally {
      clearTimeout(timer);
      this.#child = null;
    }
  }

  stop(): Promise<void> {
    return this.#kill();
  }

  async #post(
    path: string,
    body: BodyInit,
  ): Promise<{ status: number; text: string }> {
    const res = await fetch(`${this.url}${path}`, {
      method: "POST",
      headers: this.#authHeaders(),
      body,
    });
    return { status: res.status, text: await res.text() };
  }

  async #queryText(
    q: string,
    options: InfluxdQueryOptions,
  ): Promise<string> {
    const params = new URLSearchParams({ q });
    if (options.db !== undefined) params.set("db", options.db);
    if (options.rp !== undefined) params.set("rp", options.rp);
    if (options.epoch !== undefined) params.set("epoch", options.epoch);
    const { status, text } = await this.#post("/query", params);
    if (status < 200 || status > 299) {
      throw new Error(
        `Cannot run query '${q}' on ${this.url}: HTTP ${status} ${text}`,
      );
    }
    return text;
  }

  async query(q: string, options: InfluxdQueryOptions = {}): Promise<unknown> {
    const text = await this.#queryText(q, options);
    const parsed = parseJsonLossless(text);
    for (const result of statementResults(parsed)) {
      if (result.error !== null) {
        throw new Error(
          `Cannot run query '${q}' on ${this.url}: ${result.error}`,
        );
      }
    }
    return parsed;
  }

  async createDatabase(db: string): Promise<void> {
    await this.query(`CREATE DATABASE ${ident(db)}`);
  }

  async write(
    db: string,
    body: string | Uint8Array,
    options: InfluxdWriteOptions = {},
  ): Promise<void> {
    const params = new URLSearchParams({ db });
    if (options.precision !== undefined) {
      params.set("precision", options.precision);
    }
    if (options.rp !== undefined) params.set("rp", options.rp);
    const payload = typeof body === "string"
      ? body
      : new Uint8Array(body).buffer;
    const { status, text } = await this.#post(`/write?${params}`, payload);
    if (status !== 204) {
      throw new Error(
        `Cannot write to '${db}' on ${this.url}: HTTP ${status} ${text}`,
      );
    }
  }

  async points(
    db: string,
    measurement?: string,
    options: InfluxdPointsOptions = {},
  ): Promise<StoredPoint[]> {
    const { rp } = options;
    const from = (m: string) =>
      rp === undefined ? ident(m) : `${ident(rp)}.${ident(m)}`;
    const showFrom = measurement === undefined
      ? (rp === undefined ? "" : ` FROM ${ident(rp)}./.*/`)
      : ` FROM ${from(measurement)}`;
    const keys = statementResults(
      parseJsonRawNumbers(
        await this.#queryText(`SHOW FIELD KEYS${showFrom}`, { db }),
      ),
    );
    const fieldTypes = new Map<string, Map<string, Set<string>>>();
    for (const result of keys) {
      if (result.error !== null) {
        if (/database not found/i.test(result.error)) return [];
        throw new Error(
          `Cannot read field keys of '${db}' on ${this.url}: ${result.error}`,
        );
      }
      for (const series of result.series) {
        const types = fieldTypes.get(series.name) ?? new Map();
        fieldTypes.set(series.name, types);
        for (const [key, type] of series.values) {
          const set = types.get(String(key)) ?? new Set<string>();
          set.add(String(type));
          types.set(String(key), set);
        }
      }
    }
    const measurements = [...fieldTypes.keys()].sort();
    if (measurements.length === 0) return [];
    const statements = measurements.map((m) =>
      `SELECT * FROM ${from(m)} GROUP BY *`
    );
    const results = statementResults(
      parseJsonRawNumbers(
        await this.#queryText(statements.join("; "), { db, epoch: "ns" }),
      ),
    );
    const points: StoredPoint[] = [];
    for (const result of results) {
      if (result.error !== null) {
        if (/database not found/i.test(result.error)) return [];
        throw new Error(
          `Cannot read points of '${db}' on ${this.url}: ${result.error}`,
        );
      }
      for (const series of result.series) {
        const types = fieldTypes.get(series.name);
        const tags = Object.fromEntries(
          Object.entries(series.tags).filter(([, v]) => v !== "")
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        );
        for (const row of series.values) {
          const fields: Record<string, FieldValue> = {};
          let time: bigint | null = null;
          series.columns.forEach((column, i) => {
            const value = row[i];
            if (column === "time") {
              if (value instanceof RawNumber) time = BigInt(value.source);
              return;
            }
            const v = fieldValue(value, types?.get(column));
            if (v !== null) fields[column] = v;
          });
          if (time === null) {
            throw new TypeError(
              `Cannot read points of '${db}': a row of '${series.name}' has no integer time (is epoch=ns ignored?)`,
            );
          }
          points.push({ measurement: series.name, tags, fields, time });
        }
      }
    }
    return points.sort(comparePoints);
  }

  async count(db: string, options: InfluxdPointsOptions = {}): Promise<number> {
    return (await this.points(db, undefined, options)).length;
  }

  close(): Promise<void> {
    if (this.#closed === null) {
      this.#closed = (async () => {
        try {
          await this.#kill();
        } finally {
          await Deno.remove(this.dir, { recursive: true }).catch(() => {});
        }
      })();
    }
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Starts a real `influxd` with its own config and temp data directory on
 * free loopback ports, and resolves once `/ping` answers 204 (and the UDP
 * listener, if any, is bound). Retries on fresh ports when a port was taken
 * between choosing it and influxd binding it.
 *
 * @param options UDP listener and authentication.
 * @returns The running server.
 * @throws {Error} When influxd is missing, exits, or is not ready within 30 s;
 *   the message ends with the tail of its log.
 */
export async function startInfluxd(
  options: InfluxdOptions = {},
): Promise<Influxd> {
  const binary = influxdPath();
  if (binary === null) {
    throw new Error(
      `Cannot start influxd: not found in /usr/bin or PATH (install with '${INSTALL_HINT}')`,
    );
  }
  const dir = await Deno.makeTempDir({ prefix: "influxd-test-" });
  try {
    for (let attempt = 1;; attempt++) {
      const ports = allocatePorts(options.udp !== undefined);
      await Deno.writeTextFile(
        `${dir}/influxd.conf`,
        configText(dir, ports, options),
      );
      const server = new InfluxdImpl(binary, dir, ports, options);
      try {
        await server.start();
        return server;
      } catch (error) {
        if (
          error instanceof InfluxdStartError && error.addressInUse &&
          attempt < START_ATTEMPTS
        ) {
          continue;
        }
        throw error;
      }
    }
  } catch (error) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
}
