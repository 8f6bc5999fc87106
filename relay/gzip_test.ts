import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { decodeGzip, GzipHeaderError } from "./gzip.ts";

const text = new TextEncoder();
const utf8 = new TextDecoder();

Deno.test("decodeGzip() inflates a gzip body", async () => {
  const body = gzipSync(text.encode("cpu value=1 1\n".repeat(1000)));
  const out = await decodeGzip(new Uint8Array(body));
  assert.equal(utf8.decode(out), "cpu value=1 1\n".repeat(1000));
});

Deno.test("decodeGzip() inflates concatenated gzip members", async () => {
  const a = gzipSync(text.encode("cpu value=1 1\n"));
  const b = gzipSync(text.encode("cpu value=2 2\n"));
  const body = new Uint8Array(a.length + b.length);
  body.set(a);
  body.set(b, a.length);
  const out = await decodeGzip(body);
  assert.equal(utf8.decode(out), "cpu value=1 1\ncpu value=2 2\n");
});

Deno.test("decodeGzip() throws GzipHeaderError for plain text and empty bodies", async () => {
  await assert.rejects(
    decodeGzip(text.encode("cpu value=1 1\n")),
    GzipHeaderError,
  );
  await assert.rejects(decodeGzip(new Uint8Array(0)), GzipHeaderError);
});

Deno.test("decodeGzip() throws a non-header error for a truncated stream", async () => {
  const body = gzipSync(text.encode("cpu value=1 1\n".repeat(1000)));
  const error = await decodeGzip(new Uint8Array(body.subarray(0, 40))).then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(error instanceof Error);
  assert.ok(!(error instanceof GzipHeaderError));
});
