/**
 * Reads the relay's TOML configuration: the same keys, types and defaults as
 * the Go influxdb-relay (`[[http]]`, `[[udp]]`, `output = [{ … }]`), checked
 * strictly before anything starts. Any problem is a {@linkcode ConfigError} whose
 * message names the file, the TOML path of the bad value and what was
 * expected, so a broken config stops start-up instead of being half applied.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { parse, TomlError } from "smol-toml";
import { parseDuration } from "./duration.ts";

/** A parsed listen address. */
export interface BindAddress {
  /**
   * Host name or IP address to listen on, without brackets (`"::1"`).
   * `"0.0.0.0"` when the address has no host (`":9096"` or `""`).
   */
  hostname: string;
  /** TCP or UDP port; `0` lets the operating system choose one. */
  port: number;
}

/** One backend of an HTTP relay (an entry of `[[http]]`'s `output`). */
export interface HttpOutputConfig {
  /** `name`: label used in logs. Defaults to {@linkcode HttpOutputConfig.location}. */
  name: string;
  /**
   * `location`: absolute `http:` or `https:` URL of the backend's write
   * endpoint, as written (e.g. `"http://127.0.0.1:8086/write"`). Required.
   */
  location: string;
  /**
   * `timeout`: whole-request timeout for one attempt, in milliseconds
   * (may be fractional). `0` means no timeout. Longer durations are capped at
   * 2^31 - 1 ms (about 24.8 days), the longest delay timers support.
   * @default {10000}
   */
  timeoutMs: number;
  /**
   * `buffer-size-mb`: capacity of the retry buffer in MiB; `0` disables
   * buffering (negative values in the file also mean `0`).
   * @default {0}
   */
  bufferSizeMb: number;
  /**
   * `max-batch-kb`: largest batch the retry buffer sends, in KiB. Values
   * `<= 0` in the file mean the default.
   * @default {512}
   */
  maxBatchKb: number;
  /**
   * `max-delay-interval`: cap on the retry back-off, in milliseconds. Only
   * read when {@linkcode HttpOutputConfig.bufferSizeMb} is above `0`;
   * otherwise always the default. `0` means retries are not delayed.
   * Capped at 2^31 - 1 ms (about 24.8 days), like
   * {@linkcode HttpOutputConfig.timeoutMs}.
   * @default {10000}
   */
  maxDelayIntervalMs: number;
  /**
   * `skip-tls-verification`: accept any certificate from an `https`
   * location. Insecure; for development only.
   * @default {false}
   */
  skipTlsVerification: boolean;
  /**
   * `buffer-path`: directory of a durable on-disk spool for this output's
   * retry buffer (needs `buffer-size-mb`); `null` keeps the buffer in
   * memory. Relative paths are relative to the working directory.
   * @default {null}
   */
  bufferPath: string | null;
  /**
   * `buffer-full-policy`: what a full retry buffer does with a new write:
   * `"reject"` it (that backend misses it, logged and counted) or
   * `"drop-oldest"` queued writes to make room.
   * @default {"reject"}
   */
  bufferFullPolicy: "reject" | "drop-oldest";
  /**
   * `buffer-max-age`: queued writes older than this are dropped (logged and
   * counted), in milliseconds; `0` retries forever.
   * @default {86400000}
   */
  bufferMaxAgeMs: number;
  /**
   * `buffer-fsync`: when a spool syncs to disk: `"always"` before each write
   * is acknowledged, or at most this many milliseconds after it.
   * @default {1000}
   */
  bufferFsync: "always" | number;
  /**
   * `retry-database-not-found`: keep retrying queued writes the backend
   * answers `404 database not found` (a rebuilt node may not have the
   * database yet) instead of dropping them.
   * @default {true}
   */
  retryDatabaseNotFound: boolean;
  /**
   * `api`: the write API the backend speaks: `"v1"` (InfluxDB 1.x `/write`,
   * Kapacitor), `"v2"` (InfluxDB 2.x `/api/v2/write`) or `"v3"` (InfluxDB 3
   * `/api/v3/write_lp`). {@linkcode HttpOutputConfig.location} is the URL of
   * that endpoint.
   * @default {"v1"}
   */
  api: OutputApi;
  /**
   * `org`: v2 outputs only: organization name sent with every write,
   * instead of the client's `org`/`orgID`; `null` forwards the client's.
   * @default {null}
   */
  org: string | null;
  /**
   * `bucket`: v2 outputs only: bucket every write goes to, instead of the
   * one mapped from the write (`db/rp`, `db/autogen`, or a v2 client's
   * bucket); `null` maps.
   * @default {null}
   */
  bucket: string | null;
  /**
   * `db`: v3 outputs only: database every write goes to, instead of the
   * one mapped from the write; `null` maps.
   * @default {null}
   */
  db: string | null;
  /**
   * `username`: v1 outputs only: sent with
   * {@linkcode HttpOutputConfig.password} as Basic auth instead of the
   * client's credentials (the client's `u`/`p` are then not forwarded).
   * @default {null}
   */
  username: string | null;
  /**
   * `password`: the password for {@linkcode HttpOutputConfig.username}, as
   * written or, for `"${NAME}"`, the value of environment variable `NAME`.
   * A secret: never logged or printed.
   * @default {null}
   */
  password: string | null;
  /**
   * `token`: sent as `Authorization: Token <token>` instead of the client's
   * credentials (for v1 outputs, a `user:password` token; the client's
   * `u`/`p` are then not forwarded). As written or, for `"${NAME}"`, the
   * value of environment variable `NAME`. A secret: never logged or printed.
   * @default {null}
   */
  token: string | null;
  /**
   * `ca-cert`: path of a PEM file of CA certificates that the `https`
   * backend's certificate may chain to, in addition to the default trusted
   * roots; read when the relay starts. Relative paths are relative to the
   * working directory.
   * @default {null}
   */
  caCert: string | null;
  /**
   * `health-check-interval`: time between two health probes of the backend
   * (`GET /ping` next to its write endpoint), in milliseconds; `0` turns
   * probing off (write outcomes still move the backend's state).
   * @default {10000}
   */
  healthCheckIntervalMs: number;
  /**
   * `health-check-timeout`: longest a health probe may take, in
   * milliseconds; must be positive.
   * @default {2000}
   */
  healthCheckTimeoutMs: number;
  /**
   * `query-location`: URL of the backend's InfluxQL endpoint, where the
   * relay's `/query` sends reads and statements that change data or schema;
   * `null` when the output takes no part in `/query` (written as `""`, e.g.
   * for Kapacitor). Defaults, for `api = "v1"`, to
   * {@linkcode HttpOutputConfig.location} with its last path segment
   * replaced by `query`; v2 and v3 outputs have none unless it is set, and
   * then answer reads only.
   * @default {null}
   */
  queryLocation: string | null;
}

/** The write API an HTTP output speaks (`api` of an output). */
export type OutputApi = "v1" | "v2" | "v3";

/** How a read through `/query` picks its backend (`query-policy`). */
export type QueryPolicy = "first" | "round-robin" | "lowest-latency";

/**
 * What a statement that changes data or schema does while a backend is
 * down (`query-ddl-when-down`).
 */
export type QueryWhenDown = "refuse" | "queue";

/** When a client's write counts as done (`ack` of an `[[http]]` relay). */
export type AckPolicy = "first" | "all" | "majority";

/** One HTTP relay (a `[[http]]` table). */
export interface HttpConfig {
  /**
   * `name`: label used in logs, unique across all relays. Defaults to
   * `http://<bind-addr>`, or `https://<bind-addr>` when
   * {@linkcode HttpConfig.sslCombinedPem} is set.
   */
  name: string;
  /** `bind-addr` exactly as written; `""` when absent. */
  bindAddr: string;
  /**
   * {@linkcode HttpConfig.bindAddr} parsed. An absent or empty `bind-addr`
   * means all interfaces on a port chosen by the system, as in the original.
   */
  bind: BindAddress;
  /**
   * `ssl-combined-pem`: path of one PEM file holding both the certificate
   * chain and the private key, as written (relative paths are relative to
   * the working directory, not to the config file); `null` for plain HTTP.
   */
  sslCombinedPem: string | null;
  /**
   * `tls-cert`: path of the PEM certificate chain, served with
   * {@linkcode HttpConfig.tlsKey} (the two files instead of
   * `ssl-combined-pem`); `null` for none.
   * @default {null}
   */
  tlsCert: string | null;
  /**
   * `tls-key`: path of the PEM private key for
   * {@linkcode HttpConfig.tlsCert}; `null` for none.
   * @default {null}
   */
  tlsKey: string | null;
  /**
   * `max-body-size`: largest request body accepted as received (compressed
   * or not), in bytes; larger ones are answered 413. `0` means no limit.
   * @default {25000000}
   */
  maxBodySize: number;
  /**
   * `max-decompressed-size`: largest size a gzip body may inflate to, in
   * bytes, checked while inflating; larger ones are answered 413. `0` means
   * no limit.
   * @default {25000000}
   */
  maxDecompressedSize: number;
  /**
   * `read-timeout`: longest the body of a write may take to arrive once its
   * headers are in, in milliseconds; slower ones are answered 408. `0`
   * means no limit.
   * @default {30000}
   */
  readTimeoutMs: number;
  /**
   * `max-concurrent-requests`: most writes in progress at once on this
   * listener; more are answered 503 with `Retry-After: 1`. `0` means no
   * limit.
   * @default {1024}
   */
  maxConcurrentRequests: number;
  /**
   * `rate-limit`: writes per second this listener accepts on average; more
   * are answered 429 with `Retry-After`. `0` turns rate limiting off.
   * @default {0}
   */
  rateLimit: number;
  /**
   * `rate-limit-burst`: writes accepted at once after a quiet period; `0`
   * means {@linkcode HttpConfig.rateLimit} (at least 1).
   * @default {0}
   */
  rateLimitBurst: number;
  /**
   * `partial-writes`: forward the valid lines of a body that has invalid
   * ones and answer 400 `partial write: … dropped=N` (as InfluxDB does),
   * instead of rejecting the whole body (as the original relay does).
   * @default {false}
   */
  partialWrites: boolean;
  /**
   * `auth-users`: users that may write, each with the SHA-256 (hex) of
   * its password. Written in the file as `{ name = "…", password = "…" }`
   * with `"sha256:<hex>"` or `"${NAME}"` (the password in environment
   * variable `NAME`).
   * @default {[]}
   */
  authUsers: AuthUserConfig[];
  /**
   * `auth-tokens`: SHA-256 digests (hex) of the tokens that may write;
   * written as `"sha256:<hex>"` or `"${NAME}"`.
   * @default {[]}
   */
  authTokens: string[];
  /**
   * `auth-file`: path of a credential file (`user <name> <secret>` and
   * `token <secret>` lines), read when the relay starts and on reload;
   * `null` for none.
   * @default {null}
   */
  authFile: string | null;
  /**
   * `auth-admin-endpoints`: with authentication on, `/health`, `/status`
   * and `/metrics` need credentials too (`/ping` never does).
   * @default {true}
   */
  authAdminEndpoints: boolean;
  /**
   * `forward-credentials`: with authentication on, send the client's
   * `Authorization` header and `u`/`p` on to the backends as well.
   * @default {false}
   */
  forwardCredentials: boolean;
  /**
   * `default-retention-policy`: `rp` added to forwarded writes whose client
   * gave none; `""` for none.
   */
  defaultRetentionPolicy: string;
  /** `output`: the backends every write is sent to. May be empty (every write answers 503). */
  outputs: HttpOutputConfig[];
  /**
   * `ack`: when the client is answered 204: when the `"first"` backend
   * stored the write (the original's rule), when `"all"` did, or a
   * `"majority"`. A write in a disk spool counts as stored.
   * @default {"first"}
   */
  ack: AckPolicy;
  /**
   * `ack-timeout`: longest a client waits for writes held in retry buffers
   * to be delivered, in milliseconds.
   * @default {10000}
   */
  ackTimeoutMs: number;
  /**
   * `ack-memory-buffer`: count a write queued in a memory retry buffer as
   * stored (it is lost if the relay stops before delivering it).
   * @default {false}
   */
  ackMemoryBuffer: boolean;
  /**
   * `admin-endpoints`: answer `GET /health`, `/status` and `/metrics` on
   * this listener; `false` answers them 404 like any unknown path (serve
   * them on the `[admin]` listener instead).
   * @default {true}
   */
  adminEndpoints: boolean;
  /**
   * `query`: answer InfluxQL on `/query` (reads to one backend, statements
   * that change data or schema to all); `false` answers it 404 `invalid
   * write endpoint` as the original did.
   * @default {true}
   */
  query: boolean;
  /**
   * `query-policy`: which up-to-date backend a read goes to: the `"first"`
   * in config order, `"round-robin"`, or the `"lowest-latency"` of the last
   * health probe.
   * @default {"first"}
   */
  queryPolicy: QueryPolicy;
  /**
   * `query-ddl-when-down`: a statement that changes data or schema while a
   * backend is down is `"refuse"`d (nothing changed), or applied to the
   * others and `"queue"`d for it.
   * @default {"refuse"}
   */
  queryDdlWhenDown: QueryWhenDown;
  /**
   * `query-timeout`: longest a backend may take to start answering a query
   * (connect and response headers), in milliseconds, before a read fails
   * over to the next backend; `0` means no limit.
   * @default {0}
   */
  queryTimeoutMs: number;
}

/** A user of relay-side authentication (an entry of `auth-users`). */
export interface AuthUserConfig {
  /** `name`: the user name. */
  name: string;
  /** SHA-256 of the password, 64 lowercase hex digits. */
  sha256: string;
}

/** One backend of a UDP relay (an entry of `[[udp]]`'s `output`). */
export interface UdpOutputConfig {
  /** `name`: label used in logs. Defaults to {@linkcode UdpOutputConfig.location}. */
  name: string;
  /**
   * `location`: `"host:port"` (or `"[ipv6]:port"`) of an InfluxDB UDP
   * listener, as written. Only its syntax is checked here; the host is
   * resolved when the relay starts. Required.
   */
  location: string;
  /**
   * `mtu`: largest payload per outgoing datagram, in bytes. `0` in the file
   * means the default.
   * @default {1024}
   */
  mtu: number;
}

/** One UDP relay (a `[[udp]]` table). */
export interface UdpConfig {
  /** `name`: label used in logs, unique across all relays. Defaults to {@linkcode UdpConfig.bindAddr}. */
  name: string;
  /** `bind-addr` exactly as written; `""` when absent. */
  bindAddr: string;
  /** {@linkcode UdpConfig.bindAddr} parsed; absent or empty means all interfaces, system-chosen port. */
  bind: BindAddress;
  /**
   * `precision`: timestamp unit of incoming and outgoing lines (`"n"`,
   * `"u"`, `"ms"`, `"s"`, `"m"`, `"h"`); anything else, including `""`,
   * means nanoseconds, as in the original.
   * @default {""}
   */
  precision: string;
  /**
   * `read-buffer`: socket receive buffer (SO_RCVBUF) in bytes; `0` keeps the
   * operating system's default.
   * @default {0}
   */
  readBuffer: number;
  /** `output`: the backends every packet is sent to. May be empty. */
  outputs: UdpOutputConfig[];
}

/**
 * The separate admin listener (the `[admin]` table): serves `/health`,
 * `/status`, `/metrics` and `/ping` for the whole relay, and no writes.
 */
export interface AdminConfig {
  /** `bind-addr` exactly as written. Required. */
  bindAddr: string;
  /** {@linkcode AdminConfig.bindAddr} parsed. */
  bind: BindAddress;
}

/** The whole configuration file. */
export interface RelayConfig {
  /** `[[http]]` relays, in file order. */
  http: HttpConfig[];
  /** `[[udp]]` relays, in file order. */
  udp: UdpConfig[];
  /**
   * `[admin]`: the separate admin listener, or `null` when there is none.
   * @default {null}
   */
  admin: AdminConfig | null;
}

/** Options for constructing a {@linkcode ConfigError}. */
export interface ConfigErrorOptions extends ErrorOptions {
  /**
   * The config file the problem is in.
   * @default {null}
   */
  file?: string | null;
  /**
   * TOML path of the offending value, e.g. `"http[0].output[1].timeout"`.
   * @default {null}
   */
  path?: string | null;
}

/**
 * A configuration file cannot be read, is not valid TOML, or does not
 * describe a valid relay setup. The message is complete and meant for the
 * operator as is.
 *
 * @example Report a bad config
 * ```ts
 * import { ConfigError, parseConfig } from "./config.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(
 *   () => parseConfig('[[http]]\nbind_addr = ":9096"', { file: "relay.toml" }),
 *   (error) => error instanceof ConfigError && error.path === "http[0].bind_addr",
 * );
 * ```
 */
export class ConfigError extends Error {
  /** The config file the problem is in, or `null` when unknown. */
  readonly file: string | null;
  /**
   * TOML path of the offending value (`"http[0].output[1].timeout"`), or
   * `null` when the problem is not tied to one value (unreadable file,
   * TOML syntax error).
   */
  readonly path: string | null;

  /**
   * Creates a config error.
   *
   * @param message The complete message.
   * @param options Where the problem is, and its cause.
   */
  constructor(message: string, options: ConfigErrorOptions = {}) {
    const { file = null, path = null, ...errorOptions } = options;
    super(message, errorOptions);
    this.name = "ConfigError";
    this.file = file;
    this.path = path;
  }
}

/** Options for {@linkcode parseConfig}. */
export interface ParseConfigOptions {
  /**
   * File name used in messages and in {@linkcode ConfigError.file}.
   * @default {null}
   */
  file?: string;
  /**
   * Looks up the environment variables that `"${NAME}"` values of `token`
   * and `password` name.
   * @default {Deno.env.get}
   */
  env?: (name: string) => string | undefined;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_DELAY_INTERVAL_MS = 10_000;
const DEFAULT_MAX_BATCH_KB = 512;
const DEFAULT_MTU = 1024;
const DEFAULT_ACK_TIMEOUT_MS = 10_000;
const DEFAULT_BUFFER_MAX_AGE_MS = 86_400_000;
const DEFAULT_BUFFER_FSYNC_MS = 1000;
const DEFAULT_HEALTH_CHECK_INTERVAL_MS = 10_000;
const DEFAULT_HEALTH_CHECK_TIMEOUT_MS = 2_000;
/**
 * Longest delay JavaScript timers honour (about 24.8 days): `setTimeout` and
 * `AbortSignal.timeout` fire at once for anything longer.
 */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Largest MiB / KiB counts whose byte size is still a safe integer. */
const MAX_BUFFER_SIZE_MB = 2 ** 33 - 1;
const MAX_BATCH_KB = 2 ** 43 - 1;
/** SO_RCVBUF is a C `int`. */
const MAX_READ_BUFFER = 2 ** 31 - 1;

const DURATION_HINT =
  'expected a Go duration such as "10s", "500ms" or "1m30s"';
const ADMIN_ADDRESS_HINT =
  'the address of the admin listener, e.g. "127.0.0.1:9097"';
const ADDRESS_HINT =
  'expected "host:port" such as "127.0.0.1:9096", ":9096" or "[::1]:9096"';

const TOP_KEYS = ["http", "udp", "admin"];
const ADMIN_KEYS = ["bind-addr"];
/** `[[http]]` keys of issue 9: TLS files, limits, auth, partial writes. */
const HTTP_HARDENING_KEYS = [
  "tls-cert",
  "tls-key",
  "max-body-size",
  "max-decompressed-size",
  "read-timeout",
  "max-concurrent-requests",
  "rate-limit",
  "rate-limit-burst",
  "partial-writes",
  "auth-users",
  "auth-tokens",
  "auth-file",
  "auth-admin-endpoints",
  "forward-credentials",
];
const HTTP_KEYS = [
  "name",
  "bind-addr",
  "ssl-combined-pem",
  ...HTTP_HARDENING_KEYS,
  "default-retention-policy",
  "output",
  "ack",
  "ack-timeout",
  "ack-memory-buffer",
  "admin-endpoints",
  "query",
  "query-policy",
  "query-ddl-when-down",
  "query-timeout",
];
const HTTP_OUTPUT_KEYS = [
  "name",
  "location",
  "timeout",
  "buffer-size-mb",
  "max-batch-kb",
  "max-delay-interval",
  "skip-tls-verification",
  "buffer-path",
  "buffer-full-policy",
  "buffer-max-age",
  "buffer-fsync",
  "retry-database-not-found",
  "api",
  "org",
  "bucket",
  "db",
  "username",
  "password",
  "token",
  "ca-cert",
  "health-check-interval",
  "health-check-timeout",
  "query-location",
];
const UDP_KEYS = ["name", "bind-addr", "precision", "read-buffer", "output"];
const UDP_OUTPUT_KEYS = ["name", "location", "mtu"];

type Table = Record<string, unknown>;
type Segment = string | number;

/** What every reader needs: where we are, for messages. */
interface Context {
  readonly file: string | null;
  /** Environment lookup for `"${NAME}"` secrets. */
  readonly env: (name: string) => string | undefined;
}

/** A known key and where it belongs, for "misplaced key" hints. */
interface Section {
  readonly keys: readonly string[];
  /** Hint for keys that belong to another section, by key. */
  readonly elsewhere: ReadonlyMap<string, string>;
}

/**
 * Parses and validates the text of a relay config file.
 *
 * Keys and defaults are those of the Go influxdb-relay. Unlike the original,
 * which printed decode errors and ran on with whatever it had decoded, the
 * first problem found throws: unknown keys (matched exactly and
 * case-sensitively; the closest known key is suggested), wrong types,
 * out-of-range integers, invalid durations, addresses and URLs, negative
 * `timeout`, `max-delay-interval` (when buffering), `mtu` or `read-buffer`,
 * duplicate relay names, and a file that defines no relay at all.
 *
 * @param text The TOML text.
 * @param options The file name to use in messages.
 * @returns The configuration with every default filled in.
 * @throws {ConfigError} If the text is not valid TOML or not a valid relay
 * configuration.
 *
 * @example Parse a config
 * ```ts
 * import { parseConfig } from "./config.ts";
 * import assert from "node:assert/strict";
 *
 * const config = parseConfig(`
 * [[http]]
 * name = "example-http"
 * bind-addr = "127.0.0.1:9096"
 * output = [{ name = "local1", location = "http://127.0.0.1:8086/write" }]
 * `);
 * assert.deepEqual(config.http[0]?.bind, { hostname: "127.0.0.1", port: 9096 });
 * assert.equal(config.http[0]?.outputs[0]?.timeoutMs, 10_000);
 * ```
 */
export function parseConfig(
  text: string,
  options: ParseConfigOptions = {},
): RelayConfig {
  const { file = null, env = (name: string) => Deno.env.get(name) } = options;
  const context: Context = { file, env };

  let document: Table;
  try {
    document = parse(text.replace(/^\uFEFF/, ""), { integersAsBigInt: true });
  } catch (error) {
    throw syntaxProblem(context, error);
  }

  checkKeys(context, document, [], TOP_SECTION);
  const http = readTableArray(context, document, [], "http", "[[http]]").map(
    (table, index) => readHttp(context, table, ["http", index]),
  );
  const udp = readTableArray(context, document, [], "udp", "[[udp]]").map((
    table,
    index,
  ) => readUdp(context, table, ["udp", index]));

  if (http.length === 0 && udp.length === 0) {
    throw new ConfigError(
      `${
        prefix(context)
      }: no relays defined (expected at least one [[http]] or [[udp]] table)`,
      { file, path: null },
    );
  }

  checkUniqueNames(context, document, http, udp);
  return { http, udp, admin: readAdmin(context, document) };
}

/**
 * Reads and parses a relay config file.
 *
 * @param path Path of the TOML file; also used in messages.
 * @returns The configuration with every default filled in.
 * @throws {ConfigError} If the file cannot be read, is not UTF-8, or
 * {@linkcode parseConfig} rejects it.
 *
 * @example Load a config file
 * ```ts ignore
 * import { loadConfig } from "./config.ts";
 *
 * const config = await loadConfig("relay.toml");
 * ```
 */
export async function loadConfig(path: string): Promise<RelayConfig> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    const reason = error instanceof Error
      ? error.message.replace(/ \(os error \d+\).*$/s, "")
      : String(error);
    throw new ConfigError(
      `Cannot read config file ${JSON.stringify(path)}: ${reason}`,
      { file: path, path: null, cause: error },
    );
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (error) {
    throw new ConfigError(
      `Cannot load config ${
        JSON.stringify(path)
      }: file is not valid UTF-8 text`,
      { file: path, path: null, cause: error },
    );
  }
  return parseConfig(text, { file: path });
}

// ---------------------------------------------------------------------------
// Sections

function hints(entries: [string[], string][]): ReadonlyMap<string, string> {
  const map = new Map<string, string>();
  for (const [keys, hint] of entries) {
    for (const key of keys) map.set(key, hint);
  }
  return map;
}

const RELAY_ONLY = [
  ...HTTP_HARDENING_KEYS,
  "bind-addr",
  "ssl-combined-pem",
  "default-retention-policy",
  "precision",
  "read-buffer",
  "output",
  "admin-endpoints",
  "query",
  "query-policy",
  "query-ddl-when-down",
  "query-timeout",
];

/** `[[http]]` keys with no meaning for UDP relays. */
const HTTP_RELAY_ONLY = [
  ...HTTP_HARDENING_KEYS,
  "ssl-combined-pem",
  "default-retention-policy",
  "admin-endpoints",
  "query",
  "query-policy",
  "query-ddl-when-down",
  "query-timeout",
];

const TOP_SECTION: Section = {
  keys: TOP_KEYS,
  elsewhere: hints([
    [
      [...new Set([...HTTP_KEYS, ...UDP_KEYS])],
      "it belongs in an [[http]] or [[udp]] table",
    ],
    [
      [...HTTP_OUTPUT_KEYS, ...UDP_OUTPUT_KEYS].filter((key) => key !== "name"),
      "it belongs in an output entry of an [[http]] or [[udp]] table",
    ],
  ]),
};

const HTTP_SECTION: Section = {
  keys: HTTP_KEYS,
  elsewhere: hints([
    [
      HTTP_OUTPUT_KEYS.filter((key) => !HTTP_KEYS.includes(key)),
      "it is a setting of each output: write it inside the output entry",
    ],
    [
      ["precision", "read-buffer"],
      "it is a setting of [[udp]] relays only",
    ],
    [["mtu"], "it is a setting of [[udp]] outputs only"],
  ]),
};

const HTTP_OUTPUT_SECTION: Section = {
  keys: HTTP_OUTPUT_KEYS,
  elsewhere: hints([
    [
      RELAY_ONLY.filter((key) => HTTP_KEYS.includes(key)),
      "it is a setting of the [[http]] relay, not of one output",
    ],
    [["precision", "read-buffer"], "it is a setting of [[udp]] relays only"],
    [["mtu"], "it is a setting of [[udp]] outputs only"],
  ]),
};

const UDP_SECTION: Section = {
  keys: UDP_KEYS,
  elsewhere: hints([
    [
      ["location", "mtu"],
      "it is a setting of each output: write it inside the output entry",
    ],
    [HTTP_RELAY_ONLY, "it is a setting of [[http]] relays only"],
    [
      HTTP_OUTPUT_KEYS.filter((key) => key !== "name" && key !== "location"),
      "it is a setting of [[http]] outputs only",
    ],
  ]),
};

const ADMIN_SECTION: Section = {
  keys: ADMIN_KEYS,
  elsewhere: hints([
    [
      ["admin-endpoints"],
      "it is a setting of each [[http]] relay (whether its port also serves the admin paths)",
    ],
    [
      ["health-check-interval", "health-check-timeout"],
      "it is a setting of each [[http]] output",
    ],
  ]),
};

const UDP_OUTPUT_SECTION: Section = {
  keys: UDP_OUTPUT_KEYS,
  elsewhere: hints([
    [
      RELAY_ONLY.filter((key) => UDP_KEYS.includes(key)),
      "it is a setting of the [[udp]] relay, not of one output",
    ],
    [HTTP_RELAY_ONLY, "it is a setting of [[http]] relays only"],
    [
      HTTP_OUTPUT_KEYS.filter((key) => key !== "name" && key !== "location"),
      "it is a setting of [[http]] outputs only",
    ],
  ]),
};

// ---------------------------------------------------------------------------
// Relays and outputs

function readHttp(context: Context, table: Table, path: Segment[]): HttpConfig {
  checkKeys(context, table, path, HTTP_SECTION);
  const name = readString(context, table, path, "name") ?? "";
  const bindAddr = readString(context, table, path, "bind-addr") ?? "";
  const bind = readBindAddress(context, bindAddr, [...path, "bind-addr"]);
  const pem = readString(context, table, path, "ssl-combined-pem") ?? "";
  const hardening = readHardening(context, table, path, pem);
  const defaultRetentionPolicy =
    readString(context, table, path, "default-retention-policy") ?? "";
  const outputs = readTableArray(
    context,
    table,
    path,
    "output",
    "[[http.output]] or output = [{ … }]",
  ).map((output, index) =>
    readHttpOutput(context, output, [...path, "output", index])
  );
  const ack = readChoice(
    context,
    table,
    path,
    "ack",
    [
      "first",
      "all",
      "majority",
    ] as const,
  ) ?? "first";
  const ackTimeoutMs = readPositiveDuration(
    context,
    table,
    path,
    "ack-timeout",
  ) ?? DEFAULT_ACK_TIMEOUT_MS;
  const ackMemoryBuffer =
    readBoolean(context, table, path, "ack-memory-buffer") ?? false;
  const adminEndpoints = readBoolean(context, table, path, "admin-endpoints") ??
    true;
  const query = readBoolean(context, table, path, "query") ?? true;
  const queryPolicy = readChoice(
    context,
    table,
    path,
    "query-policy",
    [
      "first",
      "round-robin",
      "lowest-latency",
    ] as const,
  ) ?? "first";
  const queryDdlWhenDown = readChoice(
    context,
    table,
    path,
    "query-ddl-when-down",
    ["refuse", "queue"] as const,
  ) ?? "refuse";
  const queryTimeoutMs = readNonNegativeDuration(
    context,
    table,
    path,
    "query-timeout",
    '"0" means no limit',
  ) ?? 0;
  const scheme = pem === "" && hardening.tlsCert === null ? "http" : "https";
  return {
    name: name === "" ? `${scheme}://${bindAddr}` : name,
    bindAddr,
    bind,
    sslCombinedPem: pem === "" ? null : pem,
    ...hardening,
    defaultRetentionPolicy,
    outputs,
    ack,
    ackTimeoutMs: Math.min(ackTimeoutMs, MAX_TIMER_MS),
    ackMemoryBuffer,
    adminEndpoints,
    query,
    queryPolicy,
    queryDdlWhenDown,
    queryTimeoutMs: Math.min(queryTimeoutMs, MAX_TIMER_MS),
  };
}

function readHttpOutput(
  context: Context,
  table: Table,
  path: Segment[],
): HttpOutputConfig {
  checkKeys(context, table, path, HTTP_OUTPUT_SECTION);
  const name = readString(context, table, path, "name") ?? "";
  const location = readHttpLocation(context, table, path);

  const timeoutText = readString(context, table, path, "timeout") ?? "";
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  if (timeoutText !== "") {
    timeoutMs = readDuration(context, timeoutText, [...path, "timeout"]);
    if (timeoutMs < 0) {
      throw problem(
        context,
        [...path, "timeout"],
        `invalid duration ${
          JSON.stringify(timeoutText)
        }: negative timeouts are not allowed (expected "0" for no timeout, or a positive Go duration such as "10s")`,
      );
    }
  }

  const bufferSizeMb = readInteger(
    context,
    table,
    path,
    "buffer-size-mb",
    -(2n ** 63n),
    BigInt(MAX_BUFFER_SIZE_MB),
    `expected a whole number of MiB, at most ${MAX_BUFFER_SIZE_MB}; 0 disables buffering`,
  ) ?? 0;
  const maxBatchKb = readInteger(
    context,
    table,
    path,
    "max-batch-kb",
    -(2n ** 63n),
    BigInt(MAX_BATCH_KB),
    `expected a whole number of KiB, at most ${MAX_BATCH_KB}; 0 means ${DEFAULT_MAX_BATCH_KB}`,
  ) ?? 0;

  // Like the original, the interval is only parsed when buffering is on,
  // but its type is always checked (the TOML decoder did that).
  const delayText = readString(context, table, path, "max-delay-interval") ??
    "";
  let maxDelayIntervalMs = DEFAULT_MAX_DELAY_INTERVAL_MS;
  if (bufferSizeMb > 0 && delayText !== "") {
    const delayPath = [...path, "max-delay-interval"];
    maxDelayIntervalMs = readDuration(context, delayText, delayPath);
    if (maxDelayIntervalMs < 0) {
      throw problem(
        context,
        delayPath,
        `invalid duration ${
          JSON.stringify(delayText)
        }: negative intervals are not allowed (expected a positive Go duration such as "10s")`,
      );
    }
  }

  const skipTlsVerification =
    readBoolean(context, table, path, "skip-tls-verification") ?? false;

  const bufferPath = readString(context, table, path, "buffer-path") ?? "";
  if (bufferPath !== "" && bufferSizeMb <= 0) {
    throw problem(
      context,
      [...path, "buffer-path"],
      "a spool needs a size: set buffer-size-mb above 0 for this output",
    );
  }
  const bufferFullPolicy = readChoice(
    context,
    table,
    path,
    "buffer-full-policy",
    ["reject", "drop-oldest"] as const,
  ) ?? "reject";
  const maxAge = readString(context, table, path, "buffer-max-age");
  let bufferMaxAgeMs = DEFAULT_BUFFER_MAX_AGE_MS;
  if (maxAge !== undefined && maxAge !== "") {
    bufferMaxAgeMs = readDuration(context, maxAge, [...path, "buffer-max-age"]);
    if (bufferMaxAgeMs < 0) {
      throw problem(
        context,
        [...path, "buffer-max-age"],
        `invalid duration ${
          JSON.stringify(maxAge)
        }: must not be negative (expected "0" to retry forever, or a Go duration such as "24h")`,
      );
    }
  }
  const fsync = readString(context, table, path, "buffer-fsync");
  let bufferFsync: "always" | number = DEFAULT_BUFFER_FSYNC_MS;
  if (fsync === "always") {
    bufferFsync = "always";
  } else if (fsync !== undefined && fsync !== "") {
    bufferFsync = readDuration(context, fsync, [...path, "buffer-fsync"]);
    if (!(bufferFsync > 0)) {
      throw problem(
        context,
        [...path, "buffer-fsync"],
        `invalid value ${
          JSON.stringify(fsync)
        } (expected "always", or a positive Go duration such as "1s")`,
      );
    }
  }
  const retryDatabaseNotFound =
    readBoolean(context, table, path, "retry-database-not-found") ?? true;
  const api = readChoice(context, table, path, "api", OUTPUT_APIS) ?? "v1";
  const target = readOutputTarget(context, table, path, api);
  const credentials = readCredentials(context, table, path, api);
  const healthCheckIntervalMs = readNonNegativeDuration(
    context,
    table,
    path,
    "health-check-interval",
    '"0" turns health checks off',
  ) ?? DEFAULT_HEALTH_CHECK_INTERVAL_MS;
  const healthCheckTimeoutMs = readPositiveDuration(
    context,
    table,
    path,
    "health-check-timeout",
  ) ?? DEFAULT_HEALTH_CHECK_TIMEOUT_MS;
  const caCert = readString(context, table, path, "ca-cert") ?? "";
  if (caCert !== "") {
    if (!location.startsWith("https:")) {
      throw problem(
        context,
        [...path, "ca-cert"],
        "a CA file only applies to an https:// location",
      );
    }
    if (skipTlsVerification) {
      throw problem(
        context,
        [...path, "ca-cert"],
        "has no effect with skip-tls-verification = true: remove one of them",
      );
    }
  }

  return {
    name: name === "" ? location : name,
    location,
    timeoutMs: Math.min(timeoutMs, MAX_TIMER_MS),
    bufferSizeMb: Math.max(bufferSizeMb, 0),
    maxBatchKb: maxBatchKb > 0 ? maxBatchKb : DEFAULT_MAX_BATCH_KB,
    maxDelayIntervalMs: Math.min(maxDelayIntervalMs, MAX_TIMER_MS),
    skipTlsVerification,
    bufferPath: bufferPath === "" ? null : bufferPath,
    bufferFullPolicy,
    bufferMaxAgeMs,
    bufferFsync: typeof bufferFsync === "number"
      ? Math.min(bufferFsync, MAX_TIMER_MS)
      : bufferFsync,
    retryDatabaseNotFound,
    api,
    ...target,
    ...credentials,
    caCert: caCert === "" ? null : caCert,
    healthCheckIntervalMs: Math.min(healthCheckIntervalMs, MAX_TIMER_MS),
    healthCheckTimeoutMs: Math.min(healthCheckTimeoutMs, MAX_TIMER_MS),
    queryLocation: readQueryLocation(context, table, path, api, location),
  };
}

/**
 * An output's `query-location`: as written, `null` for `""`, and when
 * absent the v1 default (the location with its last path segment replaced
 * by `query`, `http://host:8086/write` → `http://host:8086/query`).
 */
function readQueryLocation(
  context: Context,
  table: Table,
  path: Segment[],
  api: OutputApi,
  location: string,
): string | null {
  const text = readString(context, table, path, "query-location");
  if (text === "") return null;
  if (text === undefined) {
    if (api !== "v1") return null;
    const url = new URL(location);
    url.search = "";
    url.hash = "";
    const segments = url.pathname.replace(/\/+$/, "").split("/");
    segments[segments.length - 1] = "query";
    url.pathname = segments.join("/");
    return url.href;
  }
  let url: URL | null = null;
  try {
    url = new URL(text);
  } catch {
    // reported below
  }
  if (
    url === null || text.trim() !== text ||
    (url.protocol !== "http:" && url.protocol !== "https:")
  ) {
    throw problem(
      context,
      [...path, "query-location"],
      `invalid URL ${
        JSON.stringify(text)
      } (expected an absolute http:// or https:// URL such as "http://127.0.0.1:8086/query", or "" to leave this output out of /query)`,
    );
  }
  return text;
}

const OUTPUT_APIS: readonly OutputApi[] = ["v1", "v2", "v3"];

/** `org`, `bucket` (v2) and `db` (v3) of an output. */
function readOutputTarget(
  context: Context,
  table: Table,
  path: Segment[],
  api: OutputApi,
): Pick<HttpOutputConfig, "org" | "bucket" | "db"> {
  const only: [string, OutputApi][] = [
    ["org", "v2"],
    ["bucket", "v2"],
    ["db", "v3"],
  ];
  const values: Record<string, string | null> = {};
  for (const [key, wanted] of only) {
    const value = readString(context, table, path, key) ?? "";
    if (value !== "" && api !== wanted) {
      throw problem(
        context,
        [...path, key],
        `only applies to outputs with api = "${wanted}" (this output has api = "${api}")`,
      );
    }
    values[key] = value === "" ? null : value;
  }
  return {
    org: values["org"] ?? null,
    bucket: values["bucket"] ?? null,
    db: values["db"] ?? null,
  };
}

/** `username`, `password` and `token` of an output. */
function readCredentials(
  context: Context,
  table: Table,
  path: Segment[],
  api: OutputApi,
): Pick<HttpOutputConfig, "username" | "password" | "token"> {
  const username = readString(context, table, path, "username") ?? "";
  const password = readSecret(context, table, path, "password");
  const token = readSecret(context, table, path, "token");
  if (token !== null && (username !== "" || password !== null)) {
    throw problem(
      context,
      [...path, "token"],
      "give either a token or a username and password, not both",
    );
  }
  if (username !== "" && api !== "v1") {
    throw problem(
      context,
      [...path, "username"],
      `api = "${api}" backends authenticate with a token: set token instead of username and password`,
    );
  }
  if (username !== "" && password === null) {
    throw problem(
      context,
      [...path, "password"],
      "missing required key (a username needs a password)",
    );
  }
  if (username === "" && password !== null) {
    throw problem(
      context,
      [...path, "username"],
      "missing required key (a password needs a username)",
    );
  }
  return { username: username === "" ? null : username, password, token };
}

/**
 * Reads a secret (`token`, `password`): as written, or the value of
 * environment variable `NAME` when written `"${NAME}"`. Messages never
 * contain the value. `""` means unset.
 */
function readSecret(
  context: Context,
  table: Table,
  path: Segment[],
  key: string,
): string | null {
  const value = table[key];
  const here = [...path, key];
  if (value === undefined) return null;
  if (typeof value !== "string") {
    throw problem(
      context,
      here,
      `expected a string, got ${describe(value).replace(/ \(.*\)$/s, "")}`,
    );
  }
  if (value === "") return null;
  const reference = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(value);
  if (reference === null) {
    if (value.includes("${")) {
      throw problem(
        context,
        here,
        'invalid value (expected the secret itself, or "${NAME}" alone to read environment variable NAME)',
      );
    }
    return value;
  }
  const name = reference[1]!;
  let resolved: string | undefined;
  try {
    resolved = context.env(name);
  } catch (error) {
    throw problem(
      context,
      here,
      `cannot read environment variable ${JSON.stringify(name)}: ${
        (error as Error).message
      }`,
      { cause: error },
    );
  }
  if (resolved === undefined || resolved === "") {
    throw problem(
      context,
      here,
      `environment variable ${JSON.stringify(name)} is ${
        resolved === undefined ? "not set" : "empty"
      }`,
    );
  }
  return resolved;
}

function readHttpLocation(
  context: Context,
  table: Table,
  path: Segment[],
): string {
  const locationPath = [...path, "location"];
  const hint =
    'expected an absolute http:// or https:// URL such as "http://127.0.0.1:8086/write"';
  const location = readString(context, table, path, "location");
  if (location === undefined) {
    throw problem(context, locationPath, `missing required key (${hint})`);
  }
  let url: URL | null = null;
  try {
    url = new URL(location);
  } catch {
    // reported below
  }
  if (
    url === null || location.trim() !== location ||
    (url.protocol !== "http:" && url.protocol !== "https:")
  ) {
    throw problem(
      context,
      locationPath,
      `invalid URL ${JSON.stringify(location)} (${hint})`,
    );
  }
  return location;
}

/** The largest body a limit may allow: what the validator can take. */
const MAX_BODY_LIMIT = 2 ** 31 - 1;
const DEFAULT_MAX_BODY_SIZE = 25_000_000;
const DEFAULT_READ_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_CONCURRENT_REQUESTS = 1024;
const HASH_HINT =
  'expected "sha256:<64 hex digits>" (printf %s "$secret" | sha256sum) or "${NAME}" to read the secret from environment variable NAME';

type HardeningConfig = Pick<
  HttpConfig,
  | "tlsCert"
  | "tlsKey"
  | "maxBodySize"
  | "maxDecompressedSize"
  | "readTimeoutMs"
  | "maxConcurrentRequests"
  | "rateLimit"
  | "rateLimitBurst"
  | "partialWrites"
  | "authUsers"
  | "authTokens"
  | "authFile"
  | "authAdminEndpoints"
  | "forwardCredentials"
>;

/** The `[[http]]` keys of {@linkcode HTTP_HARDENING_KEYS}. */
function readHardening(
  context: Context,
  table: Table,
  path: Segment[],
  pem: string,
): HardeningConfig {
  const tlsCert = readString(context, table, path, "tls-cert") ?? "";
  const tlsKey = readString(context, table, path, "tls-key") ?? "";
  if (tlsCert !== "" && pem !== "") {
    throw problem(
      context,
      [...path, "tls-cert"],
      "give either ssl-combined-pem or tls-cert and tls-key, not both",
    );
  }
  if ((tlsCert === "") !== (tlsKey === "")) {
    throw problem(
      context,
      [...path, tlsCert === "" ? "tls-cert" : "tls-key"],
      `missing required key (${
        tlsCert === "" ? "tls-key" : "tls-cert"
      } needs it: give both files)`,
    );
  }
  const bytes = (key: string, fallback: number) =>
    readInteger(
      context,
      table,
      path,
      key,
      0n,
      BigInt(MAX_BODY_LIMIT),
      `expected a number of bytes from 0 to ${MAX_BODY_LIMIT}; 0 means no limit`,
    ) ?? fallback;
  const maxBodySize = bytes("max-body-size", DEFAULT_MAX_BODY_SIZE);
  const maxDecompressedSize = bytes(
    "max-decompressed-size",
    DEFAULT_MAX_BODY_SIZE,
  );
  const readTimeoutMs = readNonNegativeDuration(
    context,
    table,
    path,
    "read-timeout",
    '"0" means no limit',
  ) ?? DEFAULT_READ_TIMEOUT_MS;
  const maxConcurrentRequests = readInteger(
    context,
    table,
    path,
    "max-concurrent-requests",
    0n,
    BigInt(MAX_BODY_LIMIT),
    "expected a whole number of requests; 0 means no limit",
  ) ?? DEFAULT_MAX_CONCURRENT_REQUESTS;
  const rateLimit = readRate(context, table, path);
  const rateLimitBurst = readInteger(
    context,
    table,
    path,
    "rate-limit-burst",
    0n,
    BigInt(MAX_BODY_LIMIT),
    "expected a whole number of requests; 0 means rate-limit",
  ) ?? 0;
  if (rateLimitBurst > 0 && rateLimit === 0) {
    throw problem(
      context,
      [...path, "rate-limit-burst"],
      "has no effect without rate-limit: set rate-limit too",
    );
  }
  const partialWrites = readBoolean(context, table, path, "partial-writes") ??
    false;
  const authUsers = readAuthUsers(context, table, path);
  const authTokens = readStringArray(context, table, path, "auth-tokens").map((
    token,
    index,
  ) => readHashedSecret(context, token, [...path, "auth-tokens", index]));
  const authFile = readString(context, table, path, "auth-file") ?? "";
  const authOn = authUsers.length > 0 || authTokens.length > 0 ||
    authFile !== "";
  for (const key of ["auth-admin-endpoints", "forward-credentials"]) {
    if (table[key] !== undefined && !authOn) {
      throw problem(
        context,
        [...path, key],
        "has no effect without auth-users, auth-tokens or auth-file",
      );
    }
  }
  return {
    tlsCert: tlsCert === "" ? null : tlsCert,
    tlsKey: tlsKey === "" ? null : tlsKey,
    maxBodySize,
    maxDecompressedSize,
    readTimeoutMs: Math.min(readTimeoutMs, MAX_TIMER_MS),
    maxConcurrentRequests,
    rateLimit,
    rateLimitBurst,
    partialWrites,
    authUsers,
    authTokens,
    authFile: authFile === "" ? null : authFile,
    authAdminEndpoints:
      readBoolean(context, table, path, "auth-admin-endpoints") ?? true,
    forwardCredentials:
      readBoolean(context, table, path, "forward-credentials") ?? false,
  };
}

/** `rate-limit`: a non-negative number of writes per second. */
function readRate(context: Context, table: Table, path: Segment[]): number {
  const value = table["rate-limit"];
  if (value === undefined) return 0;
  const rate = typeof value === "bigint" ? Number(value) : value;
  if (typeof rate !== "number" || !Number.isFinite(rate) || rate < 0) {
    throw problem(
      context,
      [...path, "rate-limit"],
      `expected a number of writes per second (0 or more, e.g. 100 or 0.5), got ${
        describe(value)
      }`,
    );
  }
  return rate;
}

function readStringArray(
  context: Context,
  table: Table,
  path: Segment[],
  key: string,
): string[] {
  const value = table[key];
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    throw problem(
      context,
      [...path, key],
      `expected an array of strings, got ${describe(value)}`,
    );
  }
  return value.map((item: unknown, index) => {
    if (typeof item !== "string") {
      throw problem(
        context,
        [...path, key, index],
        `expected a string, got ${describe(item).replace(/ \(.*\)$/s, "")}`,
      );
    }
    return item;
  });
}

/** `auth-users`: `[{ name = "…", password = "…" }, …]`. */
function readAuthUsers(
  context: Context,
  table: Table,
  path: Segment[],
): AuthUserConfig[] {
  const names = new Set<string>();
  return readTableArray(
    context,
    table,
    path,
    "auth-users",
    '[{ name = "…", password = "sha256:…" }]',
  ).map((user, index) => {
    const here = [...path, "auth-users", index];
    for (const key of Object.keys(user)) {
      if (key !== "name" && key !== "password") {
        throw problem(
          context,
          [...here, key],
          'unknown key (expected "name" and "password")',
        );
      }
    }
    const name = readString(context, user, here, "name") ?? "";
    if (name === "") {
      throw problem(
        context,
        [...here, "name"],
        "missing required key (the user name)",
      );
    }
    if (names.has(name)) {
      throw problem(
        context,
        [...here, "name"],
        `duplicate user ${JSON.stringify(name)}`,
      );
    }
    names.add(name);
    const password = user["password"];
    if (typeof password !== "string") {
      throw problem(
        context,
        [...here, "password"],
        password === undefined
          ? `missing required key (${HASH_HINT})`
          : `expected a string, got ${
            describe(password).replace(/ \(.*\)$/s, "")
          }`,
      );
    }
    return {
      name,
      sha256: readHashedSecret(context, password, [...here, "password"]),
    };
  });
}

/**
 * A secret relay-side authentication checks, as a SHA-256 digest: the hex
 * of `"sha256:<hex>"`, or the digest of the value of environment variable
 * `NAME` for `"${NAME}"` (which may itself hold `sha256:<hex>`). A secret
 * written in the file as is is refused: the file would then hold it.
 * Messages never contain the value.
 */
function readHashedSecret(
  context: Context,
  value: string,
  path: Segment[],
): string {
  const hashed = /^sha256:([0-9a-fA-F]{64})$/.exec(value);
  if (hashed !== null) return hashed[1]!.toLowerCase();
  const reference = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(value);
  if (reference === null) {
    throw problem(
      context,
      path,
      `invalid value (the config stores secrets hashed: ${HASH_HINT})`,
    );
  }
  const name = reference[1]!;
  let resolved: string | undefined;
  try {
    resolved = context.env(name);
  } catch (error) {
    throw problem(
      context,
      path,
      `cannot read environment variable ${JSON.stringify(name)}: ${
        (error as Error).message
      }`,
      { cause: error },
    );
  }
  if (resolved === undefined || resolved === "") {
    throw problem(
      context,
      path,
      `environment variable ${JSON.stringify(name)} is ${
        resolved === undefined ? "not set" : "empty"
      }`,
    );
  }
  const inner = /^sha256:([0-9a-fA-F]{64})$/.exec(resolved);
  return inner !== null
    ? inner[1]!.toLowerCase()
    : createHash("sha256").update(resolved).digest("hex");
}

function readUdp(context: Context, table: Table, path: Segment[]): UdpConfig {
  checkKeys(context, table, path, UDP_SECTION);
  const name = readString(context, table, path, "name") ?? "";
  const bindAddr = readString(context, table, path, "bind-addr") ?? "";
  const bind = readBindAddress(context, bindAddr, [...path, "bind-addr"]);
  const precision = readString(context, table, path, "precision") ?? "";
  const readBuffer = readInteger(
    context,
    table,
    path,
    "read-buffer",
    0n,
    BigInt(MAX_READ_BUFFER),
    `expected a number of bytes from 0 to ${MAX_READ_BUFFER}; 0 keeps the system default`,
  ) ?? 0;
  const outputs = readTableArray(
    context,
    table,
    path,
    "output",
    "[[udp.output]] or output = [{ … }]",
  ).map((output, index) =>
    readUdpOutput(context, output, [...path, "output", index])
  );
  return {
    name: name === "" ? bindAddr : name,
    bindAddr,
    bind,
    precision,
    readBuffer,
    outputs,
  };
}

function readUdpOutput(
  context: Context,
  table: Table,
  path: Segment[],
): UdpOutputConfig {
  checkKeys(context, table, path, UDP_OUTPUT_SECTION);
  const name = readString(context, table, path, "name") ?? "";
  const locationPath = [...path, "location"];
  const location = readString(context, table, path, "location");
  const hint =
    'expected "host:port" of an InfluxDB UDP listener, such as "127.0.0.1:8089"';
  if (location === undefined) {
    throw problem(context, locationPath, `missing required key (${hint})`);
  }
  const address = parseHostPort(location);
  if (typeof address === "string" || address.port === 0) {
    const reason = typeof address === "string"
      ? address
      : "port 0 cannot be sent to";
    throw problem(
      context,
      locationPath,
      `invalid address ${JSON.stringify(location)}: ${reason} (${hint})`,
    );
  }
  const mtu = readInteger(
    context,
    table,
    path,
    "mtu",
    0n,
    BigInt(Number.MAX_SAFE_INTEGER),
    `expected a positive number of bytes, or 0 for the default of ${DEFAULT_MTU}`,
  ) ?? 0;
  return {
    name: name === "" ? location : name,
    location,
    mtu: mtu === 0 ? DEFAULT_MTU : mtu,
  };
}

function readAdmin(context: Context, document: Table): AdminConfig | null {
  const table = document["admin"];
  if (table === undefined) return null;
  if (!isTable(table)) {
    throw problem(
      context,
      ["admin"],
      `expected a table ([admin]), got ${describe(table)}`,
    );
  }
  const path = ["admin"];
  checkKeys(context, table, path, ADMIN_SECTION);
  const bindAddr = readString(context, table, path, "bind-addr");
  if (bindAddr === undefined || bindAddr === "") {
    throw problem(
      context,
      [...path, "bind-addr"],
      `missing required key (${ADMIN_ADDRESS_HINT})`,
    );
  }
  return {
    bindAddr,
    bind: readBindAddress(context, bindAddr, [...path, "bind-addr"]),
  };
}

function checkUniqueNames(
  context: Context,
  document: Table,
  http: HttpConfig[],
  udp: UdpConfig[],
): void {
  const seen = new Map<string, string>();
  const relays: [string, readonly { name: string }[]][] = [
    ["http", http],
    ["udp", udp],
  ];
  for (const [kind, list] of relays) {
    const tables = document[kind];
    list.forEach((relay, index) => {
      const here = formatPath([kind, index]);
      const first = seen.get(relay.name);
      if (first === undefined) {
        seen.set(relay.name, here);
        return;
      }
      const table = Array.isArray(tables) ? tables[index] : undefined;
      const explicit = isTable(table) && table["name"] !== undefined &&
        table["name"] !== "";
      throw problem(
        context,
        explicit ? [kind, index, "name"] : [kind, index],
        `duplicate relay: ${
          JSON.stringify(relay.name)
        } (also the name of ${first}; ${
          explicit
            ? "names must be unique across all [[http]] and [[udp]] relays"
            : `this relay has no name, so it is named after its bind-addr: give it a unique name`
        })`,
      );
    });
  }
}

// ---------------------------------------------------------------------------
// Values

function readTableArray(
  context: Context,
  table: Table,
  path: Segment[],
  key: string,
  form: string,
): Table[] {
  const value = table[key];
  if (value === undefined) return [];
  const here = [...path, key];
  if (!Array.isArray(value)) {
    throw problem(
      context,
      here,
      `expected an array of tables (${form}), got ${describe(value)}`,
    );
  }
  return value.map((item: unknown, index) => {
    if (!isTable(item)) {
      throw problem(
        context,
        [...here, index],
        `expected a table, got ${describe(item)}`,
      );
    }
    return item;
  });
}

function readString(
  context: Context,
  table: Table,
  path: Segment[],
  key: string,
): string | undefined {
  const value = table[key];
  if (value === undefined || typeof value === "string") return value;
  const hint = key === "timeout" || key === "max-delay-interval" ||
      key.startsWith("health-check-") || key === "query-timeout" ||
      key === "read-timeout"
    ? '; write durations as quoted strings such as "10s"'
    : "";
  throw problem(
    context,
    [...path, key],
    `expected a string, got ${describe(value)}${hint}`,
  );
}

function readBoolean(
  context: Context,
  table: Table,
  path: Segment[],
  key: string,
): boolean | undefined {
  const value = table[key];
  if (value === undefined || typeof value === "boolean") return value;
  throw problem(
    context,
    [...path, key],
    `expected a boolean (true or false), got ${describe(value)}`,
  );
}

function readChoice<T extends string>(
  context: Context,
  table: Table,
  path: Segment[],
  key: string,
  choices: readonly T[],
): T | undefined {
  const value = readString(context, table, path, key);
  if (value === undefined || value === "") return undefined;
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw problem(
    context,
    [...path, key],
    `invalid value ${JSON.stringify(value)} (expected one of ${
      choices.map((c) => JSON.stringify(c)).join(", ")
    })`,
  );
}

function readPositiveDuration(
  context: Context,
  table: Table,
  path: Segment[],
  key: string,
): number | undefined {
  const text = readString(context, table, path, key);
  if (text === undefined || text === "") return undefined;
  const ms = readDuration(context, text, [...path, key]);
  if (!(ms > 0)) {
    throw problem(
      context,
      [...path, key],
      `invalid duration ${
        JSON.stringify(text)
      }: must be positive (expected a Go duration such as "10s")`,
    );
  }
  return ms;
}

function readNonNegativeDuration(
  context: Context,
  table: Table,
  path: Segment[],
  key: string,
  zero: string,
): number | undefined {
  const text = readString(context, table, path, key);
  if (text === undefined || text === "") return undefined;
  const ms = readDuration(context, text, [...path, key]);
  if (ms < 0) {
    throw problem(
      context,
      [...path, key],
      `invalid duration ${
        JSON.stringify(text)
      }: must not be negative (${zero}; otherwise a Go duration such as "10s")`,
    );
  }
  return ms;
}

function readInteger(
  context: Context,
  table: Table,
  path: Segment[],
  key: string,
  min: bigint,
  max: bigint,
  hint: string,
): number | undefined {
  const value = table[key];
  if (value === undefined) return undefined;
  if (typeof value !== "bigint") {
    throw problem(
      context,
      [...path, key],
      `expected an integer, got ${describe(value)}`,
    );
  }
  if (value < min || value > max) {
    throw problem(
      context,
      [...path, key],
      `invalid value ${value} (${hint})`,
    );
  }
  return Number(value);
}

function readDuration(
  context: Context,
  text: string,
  path: Segment[],
): number {
  try {
    return parseDuration(text);
  } catch (error) {
    if (!(error instanceof Error)) throw error;
    // parseDuration's messages read `Cannot parse duration "…": <reason>`,
    // where <reason> is either a bare hint ("expected …") or a short
    // problem followed by a parenthesised hint.
    const reason = error.message.slice(
      `Cannot parse duration ${JSON.stringify(text)}: `.length,
    );
    const quoted = JSON.stringify(text);
    if (error instanceof RangeError) {
      throw problem(context, path, `invalid duration ${quoted}: ${reason}`, {
        cause: error,
      });
    }
    const open = reason.lastIndexOf(" (");
    const detail = reason.startsWith("expected")
      ? ""
      : `: ${open === -1 ? reason : reason.slice(0, open)}`;
    const hint = reason.startsWith("unknown unit") && open !== -1
      ? reason.slice(open + 2, -1)
      : DURATION_HINT;
    throw problem(
      context,
      path,
      `invalid duration ${quoted}${detail} (${hint})`,
      { cause: error },
    );
  }
}

function readBindAddress(
  context: Context,
  text: string,
  path: Segment[],
): BindAddress {
  if (text === "") return { hostname: "0.0.0.0", port: 0 };
  const address = parseHostPort(text);
  if (typeof address === "string") {
    throw problem(
      context,
      path,
      `invalid address ${JSON.stringify(text)}: ${address} (${ADDRESS_HINT})`,
    );
  }
  return {
    hostname: address.hostname === "" ? "0.0.0.0" : address.hostname,
    port: address.port,
  };
}

/**
 * Splits `host:port` the way Go's `net.SplitHostPort` does, but requires a
 * numeric port. Returns the reason as a string when the syntax is wrong.
 */
function parseHostPort(text: string): BindAddress | string {
  let hostname: string;
  let portText: string;
  if (text.startsWith("[")) {
    const end = text.indexOf("]");
    if (end === -1) return 'missing "]"';
    hostname = text.slice(1, end);
    const rest = text.slice(end + 1);
    if (rest === "") return "missing port";
    if (!rest.startsWith(":")) return `unexpected ${JSON.stringify(rest)}`;
    portText = rest.slice(1);
    if (!/^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(%[\w.-]+)?$/.test(hostname)) {
      return `invalid IPv6 address ${JSON.stringify(hostname)}`;
    }
  } else {
    const colon = text.lastIndexOf(":");
    if (colon === -1) return "missing port";
    hostname = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (hostname.includes(":")) {
      return "too many colons";
    }
    if (!/^[\w.-]*$/.test(hostname)) {
      return `invalid host ${JSON.stringify(hostname)}`;
    }
  }
  if (portText === "") return "missing port";
  if (!/^[0-9]+$/.test(portText) || Number(portText) > 65535) {
    const quoted = JSON.stringify(portText);
    return `port ${quoted} is not a number from 0 to 65535`;
  }
  return { hostname, port: Number(portText) };
}

// ---------------------------------------------------------------------------
// Keys

function checkKeys(
  context: Context,
  table: Table,
  path: Segment[],
  section: Section,
): void {
  for (const key of Object.keys(table)) {
    if (section.keys.includes(key)) continue;
    // A known key in the wrong place says more than a spelling guess.
    const elsewhere = section.elsewhere.get(key);
    const suggestion = closestKey(key, section.keys);
    let hint: string;
    if (elsewhere !== undefined) {
      hint = elsewhere;
    } else if (suggestion !== undefined) {
      hint = `did you mean ${JSON.stringify(suggestion)}?`;
    } else {
      hint = `expected one of ${
        section.keys.map((k) => JSON.stringify(k)).join(", ")
      }`;
    }
    throw problem(context, [...path, key], `unknown key (${hint})`);
  }
}

/** The known key a typo most likely meant, if any is close enough. */
function closestKey(key: string, known: readonly string[]): string | undefined {
  const normal = (text: string) => text.toLowerCase().replace(/[-_ .]/g, "");
  const wanted = normal(key);
  const same = known.find((candidate) => normal(candidate) === wanted);
  if (same !== undefined) return same;

  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (
    best !== undefined &&
    bestDistance <= Math.max(1, Math.floor(key.length / 3))
  ) {
    return best;
  }
  // A truncated or extended key: "max-delay" for "max-delay-interval".
  if (key.length >= 4) {
    const extended = known.find((candidate) =>
      candidate.startsWith(key) || key.startsWith(candidate)
    );
    if (extended !== undefined) return extended;
  }
  // An abbreviated key: "default-rp" for "default-retention-policy".
  const word = (text: string) => text.toLowerCase().split(/[-_ .]/)[0];
  const sameWord = known.filter((candidate) =>
    key.length >= 4 && word(candidate) === word(key)
  );
  return sameWord.length === 1 ? sameWord[0] : undefined;
}

/** Optimal string alignment distance: Levenshtein plus transpositions. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const above = rows[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(
        (above[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (above[j - 1] as number) + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        value = Math.min(value, (rows[i - 2]?.[j - 2] as number) + 1);
      }
      row.push(value);
    }
    rows.push(row);
  }
  return rows[a.length]?.[b.length] as number;
}

// ---------------------------------------------------------------------------
// Messages

function isTable(value: unknown): value is Table {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Date);
}

function describe(value: unknown): string {
  switch (typeof value) {
    case "string":
      return `a string (${JSON.stringify(value)})`;
    case "bigint":
      return `an integer (${value})`;
    case "number":
      return `a float (${
        Number.isNaN(value)
          ? "nan"
          : !Number.isFinite(value)
          ? (value > 0 ? "inf" : "-inf")
          : Number.isInteger(value)
          ? value.toFixed(1)
          : String(value)
      })`;
    case "boolean":
      return `a boolean (${value})`;
  }
  if (value instanceof Date) return `a date-time (${value.toISOString()})`;
  if (Array.isArray(value)) return "an array";
  return "a table";
}

function formatPath(path: readonly Segment[]): string {
  let text = "";
  for (const segment of path) {
    if (typeof segment === "number") {
      text += `[${segment}]`;
    } else {
      const key = /^[A-Za-z0-9_-]+$/.test(segment)
        ? segment
        : JSON.stringify(segment);
      text += text === "" ? key : `.${key}`;
    }
  }
  return text;
}

function prefix(context: Context): string {
  return context.file === null
    ? "Cannot load config"
    : `Cannot load config ${JSON.stringify(context.file)}`;
}

function problem(
  context: Context,
  path: readonly Segment[],
  detail: string,
  options: ErrorOptions = {},
): ConfigError {
  const where = formatPath(path);
  return new ConfigError(`${prefix(context)}: ${where}: ${detail}`, {
    ...options,
    file: context.file,
    path: where,
  });
}

function syntaxProblem(context: Context, error: unknown): ConfigError {
  if (error instanceof TomlError) {
    const reason = error.message.replace(/^Invalid TOML document: /, "")
      .split("\n")[0];
    return new ConfigError(
      `${
        prefix(context)
      }: invalid TOML at line ${error.line}, column ${error.column}: ${reason}`,
      { file: context.file, path: null, cause: error },
    );
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new ConfigError(`${prefix(context)}: invalid TOML: ${reason}`, {
    file: context.file,
    path: null,
    cause: error,
  });
}
