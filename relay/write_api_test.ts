import assert from "node:assert/strict";
import {
  ApiMapper,
  formatDestination,
  parseV2Precision,
  parseV3Precision,
  splitBucket,
  v1Query,
} from "./write_api.ts";

Deno.test("parseV2Precision() accepts exactly InfluxDB 2.x's units", () => {
  assert.equal(parseV2Precision(""), "n");
  assert.equal(parseV2Precision("ns"), "n");
  assert.equal(parseV2Precision("us"), "u");
  assert.equal(parseV2Precision("ms"), "ms");
  assert.equal(parseV2Precision("s"), "s");
  for (const bad of ["n", "u", "m", "h", "NS", "nanosecond", "auto"]) {
    assert.equal(parseV2Precision(bad), null, bad);
  }
});

Deno.test("parseV3Precision() accepts InfluxDB 3's long and short names and auto", () => {
  const cases: [string, string][] = [
    ["", "auto"],
    ["auto", "auto"],
    ["s", "s"],
    ["second", "s"],
    ["ms", "ms"],
    ["millisecond", "ms"],
    ["us", "u"],
    ["u", "u"],
    ["microsecond", "u"],
    ["ns", "n"],
    ["n", "n"],
    ["nanosecond", "n"],
  ];
  for (const [value, unit] of cases) {
    assert.equal(parseV3Precision(value), unit, value);
  }
  for (const bad of ["m", "h", "NS", "nanoseconds", "µ"]) {
    assert.equal(parseV3Precision(bad), null, bad);
  }
});

Deno.test("splitBucket() splits at the first slash", () => {
  assert.deepEqual(splitBucket("db/rp"), { db: "db", rp: "rp" });
  assert.deepEqual(splitBucket("db"), { db: "db", rp: "" });
  assert.deepEqual(splitBucket("db/rp/x"), { db: "db", rp: "rp/x" });
  assert.deepEqual(splitBucket("db/"), { db: "db", rp: "" });
});

Deno.test("v1Query() encodes db, precision and a non-empty rp", () => {
  assert.equal(v1Query({ db: "my db", rp: "" }, "n"), "db=my+db&precision=n");
  assert.equal(
    v1Query({ db: "d", rp: "one week" }, "ms"),
    "db=d&precision=ms&rp=one+week",
  );
});

Deno.test("formatDestination() encodes a v2 or v3 target", () => {
  assert.equal(
    formatDestination({ bucket: "a/b", org: "", orgID: "0123" }),
    "v2?bucket=a%2Fb&orgID=0123",
  );
  assert.equal(formatDestination({ db: "x y" }), "v3?db=x+y");
});

Deno.test("ApiMapper.map() leaves v1 writes to a v1 backend unchanged", () => {
  const mapper = new ApiMapper();
  const query = "db=x&p=secret&precision=s&u=me";
  assert.deepEqual(mapper.map({ query }), { query, scale: 1n, password: null });
});

Deno.test("ApiMapper.map() drops the client's u and p when the v1 backend has credentials", () => {
  const mapper = new ApiMapper({ ownCredentials: true });
  assert.equal(
    mapper.map({ query: "db=x&p=secret&precision=s&u=me" }).query,
    "db=x&precision=s",
  );
});

Deno.test("ApiMapper.map() sends v1 writes to v2 bucket db/rp or db/autogen", () => {
  const mapper = new ApiMapper({ api: "v2" });
  assert.deepEqual(mapper.map({ query: "db=telegraf&rp=week" }), {
    query: "bucket=telegraf%2Fweek&precision=ns",
    scale: 1n,
    password: null,
  });
  assert.equal(
    mapper.map({ query: "db=telegraf&precision=u" }).query,
    "bucket=telegraf%2Fautogen&precision=us",
  );
  assert.equal(
    mapper.map({ query: "db=telegraf&rp=&precision=ms" }).query,
    "bucket=telegraf%2Fautogen&precision=ms",
  );
});

Deno.test("ApiMapper.map() turns minutes and hours into seconds for v2 and v3", () => {
  for (const api of ["v2", "v3"] as const) {
    const mapper = new ApiMapper({ api });
    const minutes = mapper.map({ query: "db=x&precision=m" });
    assert.equal(minutes.scale, 60n);
    assert.match(minutes.query, /precision=(s|second)$/);
    assert.equal(mapper.map({ query: "db=x&precision=h" }).scale, 3600n);
    assert.equal(mapper.map({ query: "db=x&precision=s" }).scale, 1n);
  }
});

Deno.test("ApiMapper.map() passes a v2 client's bucket and org to a v2 backend", () => {
  const mapper = new ApiMapper({ api: "v2" });
  const mapped = mapper.map({
    query: "db=telegraf&precision=s",
    destination: "v2?bucket=telegraf&org=ops&orgID=42",
  });
  assert.equal(
    mapped.query,
    "bucket=telegraf&org=ops&orgID=42&precision=s",
  );
});

Deno.test("ApiMapper.map() uses the output's bucket and org over the client's", () => {
  const mapper = new ApiMapper({ api: "v2", bucket: "all", org: "mine" });
  assert.equal(
    mapper.map({
      query: "db=telegraf",
      destination: "v2?bucket=telegraf&org=ops&orgID=42",
    }).query,
    "bucket=all&org=mine&precision=ns",
  );
});

Deno.test("ApiMapper.map() names the v3 database as InfluxDB 3's v1 API does", () => {
  const mapper = new ApiMapper({ api: "v3" });
  const db = (query: string, destination?: string) =>
    mapper.map(destination === undefined ? { query } : { query, destination })
      .query;
  assert.equal(db("db=x"), "db=x&precision=nanosecond");
  assert.equal(
    db("db=x&rp=autogen&precision=ms"),
    "db=x&precision=millisecond",
  );
  assert.equal(
    db("db=x&rp=week&precision=u"),
    "db=x%2Fweek&precision=microsecond",
  );
  assert.equal(
    db("db=x&precision=s", "v2?bucket=x%2Fy"),
    "db=x%2Fy&precision=second",
  );
  assert.equal(db("db=x", "v3?db=sensors"), "db=sensors&precision=nanosecond");
  assert.equal(
    new ApiMapper({ api: "v3", db: "fixed" }).map({ query: "db=x&rp=y" }).query,
    "db=fixed&precision=nanosecond",
  );
});

Deno.test("ApiMapper.map() gives v2/v3 backends the client's p unless they have credentials", () => {
  const query = "db=x&p=s%C3%A9cret&u=me";
  assert.equal(new ApiMapper({ api: "v2" }).map({ query }).password, "sécret");
  assert.equal(
    new ApiMapper({ api: "v3", ownCredentials: true }).map({ query }).password,
    null,
  );
  assert.equal(
    new ApiMapper({ api: "v2" }).map({ query: "db=x" }).password,
    null,
  );
});

Deno.test("ApiMapper() rejects target options of another API", () => {
  assert.throws(() => new ApiMapper({ bucket: "b" }), TypeError);
  assert.throws(() => new ApiMapper({ api: "v3", org: "o" }), TypeError);
  assert.throws(() => new ApiMapper({ api: "v2", db: "d" }), TypeError);
});
