import assert from "node:assert/strict";
import { LineProtocolError, normalizeLines } from "./line_protocol.ts";
import { partialWriteMessage } from "./partial_write.ts";

const text = new TextEncoder();

Deno.test("partialWriteMessage() names the first bad line and counts every dropped one", () => {
  const lines = normalizeLines(
    text.encode("cpu value=1 1\nbad line here\ncpu value=2 2\ncpu,x value=\n"),
    { skipInvalid: true },
  );
  assert.equal(lines.points, 2);
  assert.equal(
    partialWriteMessage(lines),
    "partial write: unable to parse 'bad line here': invalid field format dropped=2",
  );
});

Deno.test("partialWriteMessage() falls back to the line number when the text is unknown", () => {
  assert.equal(
    partialWriteMessage({
      skipped: 1,
      firstError: new LineProtocolError(3, "missing fields"),
    }),
    "partial write: line 3: missing fields dropped=1",
  );
  assert.equal(
    partialWriteMessage({ skipped: 4, firstError: null }),
    "partial write: invalid line protocol dropped=4",
  );
});
