import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { decodeGzip, GzipHeaderError, GzipTooLargeError } from "./gzip.ts";

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

Deno.test("decodeGzip() stops a gzip bomb at maxBytes without inflating it", async () => {
  // 256 members of 1 MiB of zeros: 256 KiB that inflate to 256 MiB.
  const member = gzipSync(new Uint8Array(1024 * 1024));
  const bomb = new Uint8Array(member.length * 256);
  for (let i = 0; i < 256; i++) bomb.set(member, i * member.length);
  const before = Deno.memoryUsage().rss;
  const error = await decodeGzip(bomb, { maxBytes: 1024 * 1024 }).catch((
    e,
  ) => e);
  assert.ok(error instanceof GzipTooLargeError, String(error));
  assert.equal(error.limit, 1024 * 1024);
  // Far less than the 256 MiB the bomb inflates to.
  assert.ok(Deno.memoryUsage().rss - before < 64 * 1024 * 1024);
});

Deno.test("decodeGzip() accepts a body that inflates to exactly maxBytes", async () => {
  const body = gzipSync(text.encode("cpu value=1 1\n".repeat(100)));
  const out = await decodeGzip(new Uint8Array(body), { maxBytes: 1400 });
  assert.equal(out.length, 1400);
  await assert.rejects(
    decodeGzip(new Uint8Array(body), { maxBytes: 1399 }),
    GzipTooLargeError,
  );
});

Deno.test("decodeGzip() throws RangeError for a negative maxBytes", async () => {
  const body = gzipSync(text.encode("cpu value=1 1\n"));
  await assert.rejects(
    decodeGzip(new Uint8Array(body), { maxBytes: -1 }),
    RangeError,
  );
});
