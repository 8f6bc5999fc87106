/**
 * docs/getting-started.md, walked through on one machine as its box says:
 * its config (hosts and directories swapped for loopback ports and a temp
 * directory), two real influxd, and the answers and log lines the page
 * shows for the first writes and the failure drill. Its Prometheus config
 * passes `promtool check config` with the README's alert rules.
 */
import assert from "node:assert/strict";
import { influxdSkipReason, startInfluxd } from "./_influxd.ts";
import { fencedBlocks } from "./_markdown.ts";
import { promtoolPath, promtoolSkipReason } from "./_promtool.ts";
import { runRelay, spawnRelay } from "./_relay_process.ts";
import { waitFor } from "./_wait.ts";

const GUIDE = await Deno.readTextFile(
  new URL("../docs/getting-started.md", import.meta.url),
);
const README = await Deno.readTextFile(
  new URL("../README.md", import.meta.url),
);

/** The one `toml` block: the relay's config. */
function guideConfig(): string {
  const blocks = fencedBlocks(GUIDE, "toml");
  assert.equal(blocks.length, 1, "the guide has one config");
  return blocks[0]!;
}

/** `# <text>` comment lines that follow `command` in the guide's sh blocks. */
function shownOutput(command: string): string[] {
  for (const block of fencedBlocks(GUIDE, "sh")) {
    const lines = block.split("\n");
    const at = lines.findIndex((line) => line.startsWith(command));
    if (at < 0) continue;
    const output: string[] = [];
    for (const line of lines.slice(at + 1)) {
      if (!line.startsWith("# ")) break;
      output.push(line.slice(2));
    }
    return output;
  }
  throw new Error(`the guide shows no command starting with: ${command}`);
}

Deno.test({
  name: "docs/getting-started.md works as written on one machine",
  ignore: influxdSkipReason() !== null,
  async fn() {
    await using db1 = await startInfluxd();
    await using db2 = await startInfluxd();
    const dir = await Deno.makeTempDir({ prefix: "relay-guide-" });
    try {
      const text = guideConfig()
        .replaceAll("http://db1:8086/", `${db1.url}/`)
        .replaceAll("http://db2:8086/", `${db2.url}/`)
        .replaceAll("/var/lib/influxdb-relay", dir)
        .replaceAll('"0.0.0.0:9096"', '"127.0.0.1:0"')
        .replaceAll('"0.0.0.0:9097"', '"127.0.0.1:0"');
      assert.doesNotMatch(text, /db1:|db2:|0\.0\.0\.0|\/var\/lib/);
      const config = `${dir}/relay.toml`;
      await Deno.writeTextFile(config, text);
      await using relay = await spawnRelay(config);
      const adminLine = /Starting admin listener .* on (\S+)/;
      await waitFor(() => adminLine.test(relay.log()), {
        message: () => `no admin listener:\n${relay.log()}`,
      });
      const adminUrl = `http://${relay.log().match(adminLine)![1]}`;

      // 5. First writes and reads.
      const create = await fetch(`${relay.url}/query`, {
        method: "POST",
        body: new URLSearchParams({ q: "CREATE DATABASE metrics" }),
      });
      assert.deepEqual(
        [(await create.text()).trimEnd()],
        shownOutput("curl -s -XPOST http://relay1:9096/query"),
      );
      const write = await fetch(`${relay.url}/write?db=metrics`, {
        method: "POST",
        body: "cpu,host=web1 usage=0.64",
      });
      await write.body?.cancel();
      assert.equal(
        `HTTP/1.1 ${write.status} ${write.statusText}`,
        shownOutput(
          "curl -i -XPOST 'http://relay1:9096/write?db=metrics' --data-binary 'cpu,host=web1",
        )[0],
      );
      const first = await db1.points("metrics", "cpu");
      assert.equal(first.length, 1);
      assert.deepEqual(await db2.points("metrics", "cpu"), first);
      assert.deepEqual(first[0]!.tags, { host: "web1" });
      assert.deepEqual(first[0]!.fields, { usage: 0.64 });

      const bad = await fetch(`${relay.url}/write?db=metrics`, {
        method: "POST",
        body: "cpu,host=web1 usage=",
      });
      assert.equal(bad.status, 400);
      assert.deepEqual(
        [(await bad.text()).trimEnd()],
        shownOutput(
          "curl -s -XPOST 'http://relay1:9096/write?db=metrics' --data-binary 'cpu,host=web1 usage='",
        ),
      );

      // 7. Failure drill: db2 down, the write is answered 204 and spooled.
      await db2.stop();
      const during = await fetch(`${relay.url}/write?db=metrics`, {
        method: "POST",
        body: "cpu,host=web2 usage=0.31",
      });
      await during.body?.cancel();
      assert.equal(during.status, 204);
      // ack = "first": db1's 204 answers the client; db2's failure is
      // logged as it happens.
      await waitFor(() => /buffering its writes/.test(relay.log()), {
        message: () => `db2's failure not logged:\n${relay.log()}`,
      });
      assert.match(
        relay.log(),
        /\[ERR\] influxdb-relay·backend·db2: Backend "db2" of relay "relay1" down: POST "http:\/\/127\.0\.0\.1:\d+\/write\?db=metrics": connect ECONNREFUSED/,
      );
      assert.match(
        relay.log(),
        /\[WRN\] influxdb-relay·backend·db2: Backend "db2" of relay "relay1" is failing, buffering its writes: /,
      );
      const health = await fetch(`${adminUrl}/health`);
      const report = await health.json();
      assert.equal(health.status, 200);
      assert.equal(report.health, "degraded");
      assert.ok(
        GUIDE.includes(`"message":"${report.message}"`),
        `the guide does not show /health's message ${report.message}`,
      );
      const metrics = await (await fetch(`${adminUrl}/metrics`)).text();
      const shown = shownOutput(
        "curl -s http://relay1:9097/metrics | grep -E",
      );
      assert.equal(shown.length, 4);
      for (const line of shown) {
        assert.ok(metrics.split("\n").includes(line), `${line} not served`);
      }

      // db2 back: the queue is delivered; db2 has both points.
      await db2.start();
      await waitFor(() => /caught up after/.test(relay.log()), {
        timeoutMs: 30_000,
        message: () => `db2 did not catch up:\n${relay.log()}`,
      });
      assert.match(
        relay.log(),
        /Backend "db2" of relay "relay1" up after [\d.]+m?s, 1 writes queued/,
      );
      assert.match(
        relay.log(),
        /Backend "db2" of relay "relay1" caught up after [\d.]+m?s: 1 queued writes delivered/,
      );
      const after = await db2.points("metrics", "cpu");
      assert.deepEqual(after.map((p) => p.tags.host), ["web1", "web2"]);
      assert.deepEqual(after, await db1.points("metrics", "cpu"));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("docs/getting-started.md's config is what --check-config accepts, with the summary it shows", async () => {
  const file = await Deno.makeTempFile({ suffix: ".toml" });
  try {
    await Deno.writeTextFile(file, guideConfig());
    const output = await runRelay(["--check-config", "--config", file]);
    assert.equal(output.code, 0, output.stderr);
    const stdout = output.stdout;
    const [shown] = shownOutput("influxdb-relay --check-config --config");
    assert.equal(
      stdout.trim(),
      shown!.replace("/etc/influxdb-relay/relay.toml", file),
    );
  } finally {
    await Deno.remove(file);
  }
});

Deno.test({
  name:
    "docs/getting-started.md's prometheus.yml passes promtool check config with the README's rules",
  ignore: promtoolSkipReason() !== null,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const [prometheus] = fencedBlocks(GUIDE, "yaml");
      assert.ok(prometheus, "the guide has no yaml block");
      const rules = fencedBlocks(
        README.slice(README.indexOf("### Example alerts")),
        "yaml",
      )[0];
      assert.ok(rules, "README has no Example alerts block");
      await Deno.writeTextFile(`${dir}/prometheus.yml`, prometheus);
      await Deno.writeTextFile(`${dir}/influxdb-relay-rules.yml`, rules);
      const output = await new Deno.Command(promtoolPath()!, {
        args: ["check", "config", "prometheus.yml"],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const decoder = new TextDecoder();
      const text = decoder.decode(output.stdout) +
        decoder.decode(output.stderr);
      assert.equal(output.code, 0, text);
      assert.match(text, /SUCCESS: 8 rules found/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
