import assert from "node:assert/strict";
import { encodeBody, telegrafLines } from "./line_data.ts";
import { normalizeLines } from "../relay/line_protocol.ts";

Deno.test("telegrafLines() makes ~140-byte lines the relay accepts unchanged", () => {
  const lines = telegrafLines(1000);
  const body = encodeBody(lines);
  const average = body.length / lines.length;
  assert.ok(average > 130 && average < 150, `average ${average} bytes`);
  const result = normalizeLines(body);
  assert.equal(result.points, 1000);
  assert.equal(result.body, body);
  assert.ok(lines.some((line) => line.includes("\\ ")));
  assert.ok(lines.some((line) => line.includes('\\"')));
  assert.ok(lines.some((line) => /=true|=false/.test(line)));
});

Deno.test("telegrafLines() is deterministic and can leave timestamps out", () => {
  assert.deepEqual(
    telegrafLines(20, { seed: 3 }),
    telegrafLines(20, { seed: 3 }),
  );
  const bare = telegrafLines(12, { startNs: null });
  assert.ok(bare.every((line) => !/ \d{19}$/.test(line)));
  const stamped = telegrafLines(2, { startNs: "1700000000000000000" });
  assert.ok(stamped[1]?.endsWith(" 1700000000000000001"));
});
