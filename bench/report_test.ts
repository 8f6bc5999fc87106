import assert from "node:assert/strict";
import { BEGIN_MARKER, END_MARKER, spliceReport } from "./report.ts";

Deno.test("spliceReport() replaces only the text between the markers", () => {
  const before =
    `# Benchmarks\n\nintro\n\n${BEGIN_MARKER}\n\nold\n\n${END_MARKER}\n\n## Notes\nmine\n`;
  const after = spliceReport(before, "new table");
  assert.equal(
    after,
    `# Benchmarks\n\nintro\n\n${BEGIN_MARKER}\n\nnew table\n\n${END_MARKER}\n\n## Notes\nmine\n`,
  );
});

Deno.test("spliceReport() appends a marked section when there is none", () => {
  const created = spliceReport("", "table");
  assert.ok(created.startsWith("# Benchmarks\n\n## Latest run\n\n"));
  assert.ok(created.includes(`${BEGIN_MARKER}\n\ntable\n\n${END_MARKER}`));
  const appended = spliceReport("# Mine\n", "table");
  assert.ok(appended.startsWith("# Mine\n\n## Latest run\n\n"));
});
