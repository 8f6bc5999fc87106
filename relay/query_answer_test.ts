import assert from "node:assert/strict";
import { readAnswer, summarizeAnswer } from "./query_answer.ts";

const encoder = new TextEncoder();

function summary(status: number, body: string) {
  return summarizeAnswer(status, encoder.encode(body), "application/json");
}

Deno.test("summarizeAnswer() sees a statement that ran without error as applied", () => {
  const answer = summary(200, '{"results":[{"statement_id":0}]}\n');
  assert.equal(answer.applied, true);
  assert.deepEqual(answer.errors, []);
});

Deno.test("summarizeAnswer() numbers the errors of a multi-statement query", () => {
  const answer = summary(
    200,
    '{"results":[{"statement_id":0},{"statement_id":1,"error":"database not found: x"}]}',
  );
  assert.equal(answer.applied, true);
  assert.deepEqual(answer.errors, ["statement 2: database not found: x"]);
});

Deno.test("summarizeAnswer() reads chunked and pretty-printed answers", () => {
  const chunked = summary(
    200,
    '{"results":[{"statement_id":0}]}\n{"results":[{"statement_id":1,"error":"e}{"}]}\n',
  );
  assert.deepEqual(chunked.errors, ["statement 2: e}{"]);
  const pretty = summary(
    200,
    '{\n    "results": [\n        {\n            "statement_id": 0,\n            "error": "x"\n        }\n    ]\n}\n',
  );
  assert.deepEqual(pretty.errors, ["x"]);
  assert.equal(pretty.applied, false);
});

Deno.test("summarizeAnswer() reads a top-level error and a body that is not JSON", () => {
  const parse = summary(400, '{"error":"error parsing query: found FOO"}');
  assert.deepEqual(parse.errors, ["error parsing query: found FOO"]);
  assert.equal(parse.applied, false);
  const html = summary(502, "<html>bad gateway</html>");
  assert.deepEqual(html.errors, ["HTTP 502: <html>bad gateway</html>"]);
});

Deno.test("summarizeAnswer() gives answers that mean the same the same signature", () => {
  const a = summary(
    200,
    '{"results":[{"statement_id":0,"series":[{"name":"result","columns":["time","written"],"values":[[0,5]]}]}]}',
  );
  const b = summary(
    200,
    '{"results":[{"statement_id":0,"series":[{"name":"result","columns":["time","written"],"values":[[0,7]]}]}]}',
  );
  const c = summary(200, '{"results":[{"statement_id":0,"error":"nope"}]}');
  assert.equal(a.signature, b.signature);
  assert.notEqual(a.signature, c.signature);
});

Deno.test("readAnswer() reads the body and content type of a response", async () => {
  const answer = await readAnswer(
    new Response('{"results":[{"statement_id":0}]}', {
      status: 200,
      headers: { "content-type": "application/json" },
    }),
  );
  assert.equal(answer.contentType, "application/json");
  assert.equal(answer.applied, true);
});
