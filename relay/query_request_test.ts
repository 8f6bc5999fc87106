import assert from "node:assert/strict";
import { QueryRequestError, readQueryRequest } from "./query_request.ts";

Deno.test("readQueryRequest() reads GET parameters and the client's headers", async () => {
  const query = await readQueryRequest(
    new Request(
      "http://relay/query?db=telegraf&epoch=ms&q=SELECT+*+FROM+cpu&chunked=true&chunk_size=10&pretty=true",
      { headers: { authorization: "Basic dTpw", "accept-encoding": "gzip" } },
    ),
  );
  assert.equal(query.method, "GET");
  assert.equal(query.q, "SELECT * FROM cpu");
  assert.deepEqual(query.params, [
    ["db", "telegraf"],
    ["epoch", "ms"],
    ["q", "SELECT * FROM cpu"],
    ["chunked", "true"],
    ["chunk_size", "10"],
    ["pretty", "true"],
  ]);
  assert.equal(query.authorization, "Basic dTpw");
  assert.equal(query.acceptEncoding, "gzip");
});

Deno.test("readQueryRequest() reads a POST form body before the URL's parameters", async () => {
  const query = await readQueryRequest(
    new Request("http://relay/query?db=url&u=me", {
      method: "POST",
      body: new URLSearchParams({ q: "CREATE DATABASE x", db: "form" }),
    }),
  );
  assert.equal(query.method, "POST");
  assert.equal(query.q, "CREATE DATABASE x");
  assert.deepEqual(query.params, [
    ["q", "CREATE DATABASE x"],
    ["db", "form"],
    ["db", "url"],
    ["u", "me"],
  ]);
});

Deno.test("readQueryRequest() reads q from a multipart file when no q value is given", async () => {
  const form = new FormData();
  form.set("db", "x");
  form.set("q", new File(["SHOW MEASUREMENTS"], "query.txt"));
  const query = await readQueryRequest(
    new Request("http://relay/query", { method: "POST", body: form }),
  );
  assert.equal(query.q, "SHOW MEASUREMENTS");
  assert.deepEqual(query.params, [["q", "SHOW MEASUREMENTS"], ["db", "x"]]);
});

Deno.test("readQueryRequest() ignores the body of a POST that is not a form", async () => {
  const query = await readQueryRequest(
    new Request("http://relay/query?q=SHOW+DATABASES", {
      method: "POST",
      body: "q=DROP+DATABASE+x",
      headers: { "content-type": "text/plain" },
    }),
  );
  assert.equal(query.q, "SHOW DATABASES");
});

Deno.test("readQueryRequest() adds the default retention policy only when rp is missing or empty", async () => {
  const options = { defaultRetentionPolicy: "week" };
  const missing = await readQueryRequest(
    new Request("http://relay/query?q=SELECT+*+FROM+m&rp="),
    options,
  );
  assert.deepEqual(missing.params, [["q", "SELECT * FROM m"], ["rp", "week"]]);
  const given = await readQueryRequest(
    new Request("http://relay/query?q=SELECT+*+FROM+m&rp=day"),
    options,
  );
  assert.deepEqual(given.params, [["q", "SELECT * FROM m"], ["rp", "day"]]);
});

Deno.test("readQueryRequest() rejects a missing or blank q as InfluxDB does", async () => {
  for (const url of ["http://relay/query", "http://relay/query?q=%20%20"]) {
    await assert.rejects(
      readQueryRequest(new Request(url)),
      (error: unknown) => {
        assert.ok(error instanceof QueryRequestError);
        assert.equal(error.status, 400);
        assert.equal(error.message, 'missing required parameter "q"');
        return true;
      },
    );
  }
});

Deno.test("readQueryRequest() rejects a form body that cannot be parsed with 400", async () => {
  await assert.rejects(
    readQueryRequest(
      new Request("http://relay/query", {
        method: "POST",
        body: "garbage",
        headers: { "content-type": "multipart/form-data; boundary=x" },
      }),
    ),
    (error: unknown) =>
      error instanceof QueryRequestError && error.status === 400 &&
      error.message.startsWith("unable to parse the form body: "),
  );
});
