import assert from "node:assert/strict";
import {
  encodeQuery,
  firstValues,
  formatQuery,
  parseQuery,
  parseWriteQuery,
  withoutKeys,
} from "./query_string.ts";

Deno.test("parseWriteQuery() normalises like Go url.Values.Encode", () => {
  const query = parseWriteQuery(
    "db=my%20db&u=a@b&p=p%26w&consistency=all&flag&db=second",
  );
  assert.equal(
    query.normalized,
    "consistency=all&db=my+db&db=second&flag=&p=p%26w&u=a%40b",
  );
  assert.equal(query.db, "my db");
});

Deno.test("parseWriteQuery() keeps an empty rp without a default", () => {
  assert.equal(parseWriteQuery("rp=&db=x").normalized, "db=x&rp=");
});

Deno.test("parseWriteQuery() applies the default retention policy", () => {
  const options = { defaultRetentionPolicy: "autogen" };
  const empty = parseWriteQuery("rp=&db=x", options);
  assert.equal(empty.normalized, "db=x&rp=autogen");
  assert.equal(empty.rp, "autogen");
  assert.equal(parseWriteQuery("db=x", options).normalized, "db=x&rp=autogen");
  const given = parseWriteQuery("db=x&rp=week", options);
  assert.equal(given.normalized, "db=x&rp=week");
  assert.equal(given.rp, "week");
});

Deno.test("parseWriteQuery() replaces every rp value when the first is empty", () => {
  const query = parseWriteQuery("db=x&rp=&rp=b", {
    defaultRetentionPolicy: "autogen",
  });
  assert.equal(query.normalized, "db=x&rp=autogen");
});

Deno.test("parseQuery() drops pairs with a semicolon or a bad escape", () => {
  assert.deepEqual(parseQuery("db=x;rp=y"), new Map());
  assert.deepEqual(
    parseQuery("a=%zz&b=1&c=%4&d=%41"),
    new Map([["b", ["1"]], ["d", ["A"]]]),
  );
});

Deno.test("parseQuery() turns + into a space and skips empty pairs", () => {
  assert.deepEqual(
    parseQuery("&&a=x+y&&b"),
    new Map([["a", ["x y"]], ["b", [""]]]),
  );
});

Deno.test("encodeQuery() escapes bytes in upper-case hex and keeps unreserved", () => {
  const values = parseQuery("k%C3%A9y=%E2%82%AC&z=-_.~&a=%2F%3F%3D");
  assert.equal(
    encodeQuery(values),
    "a=%2F%3F%3D&k%C3%A9y=%E2%82%AC&z=-_.~",
  );
});

Deno.test("parseWriteQuery() decodes UTF-8 values and raw non-ASCII input", () => {
  const query = parseWriteQuery("db=%C3%A9t%C3%A9&precision=s");
  assert.equal(query.db, "été");
  assert.equal(query.precision, "s");
  assert.equal(parseWriteQuery("db=été").normalized, "db=%C3%A9t%C3%A9");
});

Deno.test("parseWriteQuery() sorts keys in byte order", () => {
  assert.equal(
    parseWriteQuery("b=1&B=2&a=3&_=4").normalized,
    "B=2&_=4&a=3&b=1",
  );
});

Deno.test("formatQuery() sorts keys, form-encodes UTF-8 and leaves out empty values", () => {
  assert.equal(
    formatQuery({ rp: "", db: "mé db", precision: "s", bucket: "a/b&c" }),
    "bucket=a%2Fb%26c&db=m%C3%A9+db&precision=s",
  );
  assert.equal(formatQuery({}), "");
});

Deno.test("firstValues() decodes the first value of each key", () => {
  const values = firstValues("db=m%C3%A9&db=second&flag&bad=%zz");
  assert.equal(values.get("db"), "mé");
  assert.equal(values.get("flag"), "");
  assert.equal(values.has("bad"), false);
});

Deno.test("withoutKeys() drops the named keys and keeps the rest verbatim", () => {
  assert.equal(
    withoutKeys("consistency=all&db=my+db&p=p%26w&u=a%40b&up=1", ["u", "p"]),
    "consistency=all&db=my+db&up=1",
  );
  assert.equal(withoutKeys("", ["u"]), "");
  assert.equal(withoutKeys("p=&u", ["u", "p"]), "");
});
