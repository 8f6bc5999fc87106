/**
 * The README's example Prometheus alerts are valid rules (`promtool check
 * rules`) and only use metrics the relay exposes.
 */
import assert from "node:assert/strict";
import { promtoolPath, promtoolSkipReason } from "./_promtool.ts";
import { formatRelayMetrics } from "../relay/relay_metrics.ts";
import { relayStatus } from "../relay/_status_fixture.ts";

const README = new URL("../README.md", import.meta.url);

/** The YAML block under "### Example alerts". */
async function alertRules(): Promise<string> {
  const text = await Deno.readTextFile(README);
  const section = text.slice(text.indexOf("### Example alerts"));
  const match = /```yaml\n([\s\S]*?)```/.exec(section);
  assert.ok(match !== null, "README has no yaml block under Example alerts");
  return match[1]!;
}

Deno.test("README's example alerts use only metrics the relay exposes", async () => {
  const rules = await alertRules();
  const exposed = new Set(
    formatRelayMetrics(relayStatus()).split("\n")
      .filter((line) => line.startsWith("# TYPE "))
      .flatMap((line) => {
        const [, , name, type] = line.split(" ");
        return type === "histogram"
          ? [`${name}_bucket`, `${name}_sum`, `${name}_count`]
          : [name!];
      }),
  );
  const used = [...rules.matchAll(/\binfluxdb_relay_[a-z_]+/g)].map((m) =>
    m[0]
  );
  assert.ok(used.length >= 8);
  for (const name of used) assert.ok(exposed.has(name), name);
});

Deno.test({
  name: "README's example alerts pass promtool check rules",
  ignore: promtoolSkipReason() !== null,
  async fn() {
    const file = await Deno.makeTempFile({ suffix: ".yml" });
    try {
      await Deno.writeTextFile(file, await alertRules());
      const { code, stdout, stderr } = await new Deno.Command(promtoolPath()!, {
        args: ["check", "rules", file],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const decoder = new TextDecoder();
      const output = decoder.decode(stdout) + decoder.decode(stderr);
      assert.equal(code, 0, output);
      assert.match(output, /SUCCESS: 8 rules found/);
    } finally {
      await Deno.remove(file);
    }
  },
});
