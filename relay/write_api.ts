/**
 * The three InfluxDB write APIs the relay speaks, in and out: 1.x `/write`
 * (`db`, `rp`, `precision=n|u|ms|s|m|h`), 2.x `/api/v2/write` (`bucket`,
 * `org`/`orgID`, `precision=ns|us|ms|s`) and 3.x `/api/v3/write_lp` (`db`,
 * `precision=auto|nanosecond|…`), and how a write made through one is
 * addressed to a backend that speaks another. Pure functions of strings.
 *
 * | write came in as | to a v1 backend | to a v2 backend | to a v3 backend |
 * |---|---|---|---|
 * | v1 `db`, `rp` | as is | bucket `db/rp`, or `db/autogen` without `rp` | db `db/rp`, or `db` without `rp` or with `rp=autogen` (InfluxDB 3's own v1 rule) |
 * | v2 `bucket` | `db`/`rp` from `bucket` split at its first `/` | as is (and `org`/`orgID`) | db = `bucket` |
 * | v3 `db` | `db`/`rp` from `db` split at its first `/` | bucket = `db` | as is |
 *
 * An output's `bucket` (v2) or `db` (v3) replaces the mapped name, its
 * `org` replaces the client's `org`/`orgID`.
 *
 * @module
 */

import type { WriteBatch } from "./batch.ts";
import { parsePrecision, type Precision } from "./line_protocol.ts";
import { firstValues, formatQuery, withoutKeys } from "./query_string.ts";

/** Which InfluxDB write API a client or a backend speaks. */
export type WriteApi = "v1" | "v2" | "v3";

/** Every {@linkcode WriteApi}, in order. */
export const WRITE_APIS: readonly WriteApi[] = ["v1", "v2", "v3"];

/** The standard path of each API's write endpoint. */
const WRITE_PATHS: Readonly<Record<WriteApi, string>> = {
  v1: "/write",
  v2: "/api/v2/write",
  v3: "/api/v3/write_lp",
};

/**
 * The path a backend's health probe asks: `/ping` next to the write
 * endpoint, so that a location under a prefix keeps it
 * (`/kapacitor/v1/write` → `/kapacitor/v1/ping`). InfluxDB 1.x, 2.x and 3
 * all answer `GET /ping` (1.x and 2.x with 204 and no credentials needed,
 * 3 with 200 and, unless started with `--disable-authz ping`, a token).
 *
 * @example Usage
 * ```ts
 * import { pingPath } from "./write_api.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(pingPath("v2", "/influx/api/v2/write"), "/influx/ping");
 * assert.equal(pingPath("v1", "/custom"), "/ping");
 * ```
 *
 * @param api The API the backend speaks.
 * @param locationPath The path of the output's `location`.
 * @returns The path to probe.
 */
export function pingPath(api: WriteApi, locationPath: string): string {
  const suffix = WRITE_PATHS[api];
  const path = locationPath.replace(/\/+$/, "");
  const base = path.endsWith(suffix) ? path.slice(0, -suffix.length) : "";
  return `${base}/ping`;
}

/** The precision names an InfluxDB 2.x client may send, for messages. */
export const V2_PRECISIONS = "ns, us, ms, and s";

/** The precision names an InfluxDB 3.x client may send, for messages. */
export const V3_PRECISIONS =
  "auto, ns, nanosecond, us, u, microsecond, ms, millisecond, s, second";

const V2_NAMES: Readonly<Record<Precision, string>> = {
  n: "ns",
  u: "us",
  ms: "ms",
  s: "s",
  m: "s",
  h: "s",
};

const V3_NAMES: Readonly<Record<Precision, string>> = {
  n: "nanosecond",
  u: "microsecond",
  ms: "millisecond",
  s: "second",
  m: "second",
  h: "second",
};

/**
 * Reads the `precision` of an `/api/v2/write` request as InfluxDB 2.x does:
 * absent or `""` means nanoseconds; anything but `ns`, `us`, `ms` and `s` is
 * an error.
 *
 * @example Usage
 * ```ts
 * import { parseV2Precision } from "./write_api.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseV2Precision("us"), "u");
 * assert.equal(parseV2Precision(""), "n");
 * assert.equal(parseV2Precision("n"), null);
 * ```
 *
 * @param value The raw `precision` value.
 * @returns The unit, or `null` when InfluxDB 2.x would reject the value.
 */
export function parseV2Precision(value: string): Precision | null {
  switch (value) {
    case "":
    case "ns":
      return "n";
    case "us":
      return "u";
    case "ms":
    case "s":
      return value;
    default:
      return null;
  }
}

/**
 * Reads the `precision` of an `/api/v3/write_lp` request as InfluxDB 3 does
 * (case-sensitive): absent, `""` or `auto` mean "guess each timestamp's
 * unit from its size"; `s`/`second`, `ms`/`millisecond`,
 * `us`/`u`/`microsecond` and `ns`/`n`/`nanosecond` name a unit; anything else
 * is an error.
 *
 * @example Usage
 * ```ts
 * import { parseV3Precision } from "./write_api.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseV3Precision("millisecond"), "ms");
 * assert.equal(parseV3Precision(""), "auto");
 * assert.equal(parseV3Precision("m"), null);
 * ```
 *
 * @param value The raw `precision` value.
 * @returns The unit, `"auto"`, or `null` when InfluxDB 3 would reject it.
 */
export function parseV3Precision(value: string): Precision | "auto" | null {
  switch (value) {
    case "":
    case "auto":
      return "auto";
    case "s":
    case "second":
      return "s";
    case "ms":
    case "millisecond":
      return "ms";
    case "us":
    case "u":
    case "microsecond":
      return "u";
    case "ns":
    case "n":
    case "nanosecond":
      return "n";
    default:
      return null;
  }
}

/** A v1 database and retention policy. */
export interface DatabaseAndPolicy {
  /** The database. */
  readonly db: string;
  /** The retention policy; `""` for the database's default. */
  readonly rp: string;
}

/**
 * Splits a v2 bucket (or v3 database) name into a v1 database and
 * retention policy at its first `/`, the convention of InfluxDB 2.x's
 * upgrade (`db/rp` buckets) and of InfluxDB 3's v1 API.
 *
 * @example Usage
 * ```ts
 * import { splitBucket } from "./write_api.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(splitBucket("telegraf/autogen"), { db: "telegraf", rp: "autogen" });
 * assert.deepEqual(splitBucket("telegraf"), { db: "telegraf", rp: "" });
 * ```
 *
 * @param name The bucket or database name.
 * @returns The database and retention policy (`""` when the name has no `/`).
 */
export function splitBucket(name: string): DatabaseAndPolicy {
  const slash = name.indexOf("/");
  return slash < 0
    ? { db: name, rp: "" }
    : { db: name.slice(0, slash), rp: name.slice(slash + 1) };
}

/**
 * The normalised `/write` query string of a write that arrived through
 * another API: `db`, `precision` (v1 name) and `rp` when not empty.
 *
 * @param target Database and retention policy.
 * @param precision The unit of the body's timestamps.
 * @returns The query, keys sorted, values form-encoded.
 */
export function v1Query(
  target: DatabaseAndPolicy,
  precision: Precision,
): string {
  return formatQuery({ db: target.db, precision, rp: target.rp });
}

/** How a v2 client named its target (`bucket`, `org`, `orgID`). */
export interface V2Target {
  /** The `bucket` parameter. */
  readonly bucket: string;
  /** The `org` parameter, `""` when absent. */
  readonly org: string;
  /** The `orgID` parameter, `""` when absent. */
  readonly orgID: string;
}

/**
 * Encodes a client's v2 or v3 target as {@linkcode WriteBatch.destination}.
 *
 * @example Usage
 * ```ts
 * import { formatDestination } from "./write_api.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(
 *   formatDestination({ bucket: "db/rp", org: "my org", orgID: "" }),
 *   "v2?bucket=db%2Frp&org=my+org",
 * );
 * assert.equal(formatDestination({ db: "sensors" }), "v3?db=sensors");
 * ```
 *
 * @param target A v2 `bucket` with its organization, or a v3 `db`.
 * @returns `"v2?…"` or `"v3?…"`.
 */
export function formatDestination(
  target: V2Target | { readonly db: string },
): string {
  return "bucket" in target
    ? `v2?${
      formatQuery({
        bucket: target.bucket,
        org: target.org,
        orgID: target.orgID,
      })
    }`
    : `v3?${formatQuery({ db: target.db })}`;
}

/** Options for {@linkcode ApiMapper}. */
export interface ApiMapperOptions {
  /**
   * The API the backend speaks.
   * @default "v1"
   */
  api?: WriteApi;
  /**
   * v2 only: bucket every write goes to, instead of the mapped one.
   * @default null
   */
  bucket?: string | null;
  /**
   * v2 only: `org` sent with every write, instead of the client's `org` or
   * `orgID`.
   * @default null
   */
  org?: string | null;
  /**
   * v3 only: database every write goes to, instead of the mapped one.
   * @default null
   */
  db?: string | null;
  /**
   * The backend has credentials of its own: the client's `u` and `p` query
   * parameters are not forwarded.
   * @default false
   */
  ownCredentials?: boolean;
}

/** How one write is addressed to one backend. */
export interface MappedWrite {
  /** The query string to send, without `?`. */
  readonly query: string;
  /**
   * What to multiply the body's timestamps by before sending: `60n` or
   * `3600n` when minutes or hours go to a v2/v3 backend as seconds, else
   * `1n`.
   */
  readonly scale: bigint;
  /**
   * The client's `p` query parameter, for a v2/v3 backend (whose API has no
   * `u`/`p`) to receive as `Authorization: Token <p>`, as InfluxDB 2.x and 3
   * read `p` on their v1 API; `null` when there is none or the backend has
   * credentials of its own.
   */
  readonly password: string | null;
}

const MAX_CACHED = 1024;

/**
 * Addresses writes to one backend in the API it speaks. Results are cached
 * per distinct query and destination, which clients repeat.
 */
export class ApiMapper {
  /** The API the backend speaks. */
  readonly api: WriteApi;
  readonly #bucket: string | null;
  readonly #org: string | null;
  readonly #db: string | null;
  readonly #ownCredentials: boolean;
  readonly #cache = new Map<string, MappedWrite>();

  /**
   * @param options The backend's API, target overrides and credentials.
   * @throws {TypeError} When `bucket` or `org` are given for another API than
   * v2, or `db` for another API than v3.
   */
  constructor(options: ApiMapperOptions = {}) {
    const {
      api = "v1",
      bucket = null,
      org = null,
      db = null,
      ownCredentials = false,
    } = options;
    if ((bucket !== null || org !== null) && api !== "v2") {
      throw new TypeError(
        `Cannot map writes to a ${api} backend: bucket and org apply to v2 backends only`,
      );
    }
    if (db !== null && api !== "v3") {
      throw new TypeError(
        `Cannot map writes to a ${api} backend: db applies to v3 backends only`,
      );
    }
    this.api = api;
    this.#bucket = bucket;
    this.#org = org;
    this.#db = db;
    this.#ownCredentials = ownCredentials;
  }

  /**
   * Addresses one write.
   *
   * @example Usage
   * ```ts
   * import { ApiMapper } from "./write_api.ts";
   * import assert from "node:assert/strict";
   *
   * const v2 = new ApiMapper({ api: "v2", org: "ops" });
   * assert.deepEqual(v2.map({ query: "db=telegraf&precision=s" }), {
   *   query: "bucket=telegraf%2Fautogen&org=ops&precision=s",
   *   scale: 1n,
   *   password: null,
   * });
   * ```
   *
   * @param batch The write's v1 query and, for v2/v3 clients, destination.
   * @returns The query to send, the timestamp scale and the client's `p`.
   */
  map(batch: Pick<WriteBatch, "query" | "destination">): MappedWrite {
    const key = batch.destination === undefined
      ? batch.query
      : `${batch.query}\n${batch.destination}`;
    let mapped = this.#cache.get(key);
    if (mapped === undefined) {
      mapped = this.#compute(batch.query, batch.destination);
      if (this.#cache.size >= MAX_CACHED) this.#cache.clear();
      this.#cache.set(key, mapped);
    }
    return mapped;
  }

  #compute(query: string, destination: string | undefined): MappedWrite {
    if (this.api === "v1") {
      return {
        query: this.#ownCredentials ? withoutKeys(query, ["u", "p"]) : query,
        scale: 1n,
        password: null,
      };
    }
    const v1 = firstValues(query);
    const precision = parsePrecision(v1.get("precision"));
    const scale = precision === "m" ? 60n : precision === "h" ? 3600n : 1n;
    const db = v1.get("db") ?? "";
    const rp = v1.get("rp") ?? "";
    const password = v1.get("p") ?? "";
    let fromApi: WriteApi = "v1";
    let from = new Map<string, string>();
    if (destination !== undefined) {
      const question = destination.indexOf("?");
      fromApi = destination.slice(0, question) as WriteApi;
      from = firstValues(destination.slice(question + 1));
    }
    const clientName = fromApi === "v2"
      ? from.get("bucket") ?? ""
      : fromApi === "v3"
      ? from.get("db") ?? ""
      : null;
    let values: Record<string, string>;
    if (this.api === "v2") {
      values = {
        bucket: this.#bucket ?? clientName ?? `${db}/${rp || "autogen"}`,
        org: this.#org ?? from.get("org") ?? "",
        orgID: this.#org === null ? from.get("orgID") ?? "" : "",
        precision: V2_NAMES[precision],
      };
    } else {
      values = {
        db: this.#db ?? clientName ??
          (rp === "" || rp === "autogen" ? db : `${db}/${rp}`),
        precision: V3_NAMES[precision],
      };
    }
    return {
      query: formatQuery(values),
      scale,
      password: this.#ownCredentials || password === "" ? null : password,
    };
  }
}
