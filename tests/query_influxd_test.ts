/**
 * Reads and admin through the relay with two real `influxd` 1.6: reads go
 * to one backend that is up and caught up (failing over when it does not
 * answer), `CREATE DATABASE` and other writes go to both, a write while a
 * backend is down follows `query-ddl-when-down`, and the real `influx` CLI
 * works against the relay.
 */
import assert from "node:assert/strict";
import { type Influxd, influxdSkipReason, startInfluxd } from "./_influxd.ts";
import { startRelay, type TestRelay } from "./_relay.ts";
import { waitFor } from "./_wait.ts";

const ignore = influxdSkipReason() !== null;

interface Options {
  /** `query-ddl-when-down` of the first listener. */
  whenDown?: string;
  /** `health-check-interval` of every output. */
  probe?: string;
  /** A second listener with `query-ddl-when-down = "queue"`. */
  queueListener?: boolean;
  /**
   * `ack` of the listeners: `"all"` so that a read right after a write
   * finds it on whichever backend answers.
   */
  ack?: string;
}

function relayToml(a: Influxd, b: Influxd, options: Options = {}): string {
  const {
    whenDown = "refuse",
    probe = "100ms",
    queueListener = false,
    ack = "all",
  } = options;
  const outputs = `output = [
  { name = "a", location = "${a.writeUrl}", buffer-size-mb = 1, max-delay-interval = "200ms", health-check-interval = "${probe}", health-check-timeout = "1s" },
  { name = "b", location = "${b.writeUrl}", buffer-size-mb = 1, max-delay-interval = "200ms", health-check-interval = "${probe}", health-check-timeout = "1s" },
]`;
  let toml = `
[[http]]
name = "reads"
bind-addr = "127.0.0.1:0"
query-ddl-when-down = "${whenDown}"
ack = "${ack}"
${outputs}
`;
  if (queueListener) {
    toml += `
[[http]]
name = "queueing"
bind-addr = "127.0.0.1:0"
query-ddl-when-down = "queue"
ack = "${ack}"
${outputs}
`;
  }
  return toml;
}

interface Answer {
  status: number;
  backend: string | null;
  text: string;
}

async function query(
  url: string,
  q: string,
  params: Record<string, string> = {},
  method: "GET" | "POST" = "GET",
): Promise<Answer> {
  const search = new URLSearchParams({ ...params, q });
  const response = method === "GET"
    ? await fetch(`${url}/query?${search}`)
    : await fetch(`${url}/query`, { method: "POST", body: search });
  return {
    status: response.status,
    backend: response.headers.get("x-relay-backend"),
    text: await response.text(),
  };
}

async function write(url: string, db: string, body: string): Promise<void> {
  const response = await fetch(`${url}/write?db=${db}&precision=s`, {
    method: "POST",
    body,
  });
  assert.equal(response.status, 204, await response.text());
}

async function databases(server: Influxd): Promise<string[]> {
  const answer = await server.query("SHOW DATABASES") as {
    results: { series?: { values: string[][] }[] }[];
  };
  return (answer.results[0]?.series?.[0]?.values ?? []).map((row) => row[0]!)
    .filter((name) => name !== "_internal");
}

/** The health state the relay's listener `index` gives output `name`. */
async function stateOf(
  relay: TestRelay,
  name: string,
  index = 0,
): Promise<string | undefined> {
  const status = await relay.service.snapshot();
  const listener = status.listeners[index];
  if (listener?.kind !== "http") return undefined;
  return listener.outputs.find((o) => o.name === name)?.health.state;
}

async function waitForState(
  relay: TestRelay,
  name: string,
  state: string,
  index = 0,
): Promise<void> {
  await waitFor(async () => await stateOf(relay, name, index) === state, {
    timeoutMs: 15_000,
    intervalMs: 50,
    message: () => `backend "${name}" to be ${state}`,
  });
}

const LINES =
  "cpu,host=h1 value=1 1600000000\ncpu,host=h2 value=2 1600000001\n";

Deno.test({
  name:
    "the relay reads from one influxd (SELECT, SHOW DATABASES, chunked, epoch) after CREATE DATABASE reached both",
  ignore,
  async fn() {
    await using a = await startInfluxd();
    await using b = await startInfluxd();
    await using relay = await startRelay(relayToml(a, b));

    const created = await query(
      relay.url,
      "CREATE DATABASE metrics",
      {},
      "POST",
    );
    assert.equal(created.status, 200);
    assert.deepEqual(JSON.parse(created.text), {
      results: [{ statement_id: 0 }],
    });
    assert.deepEqual(await databases(a), ["metrics"]);
    assert.deepEqual(await databases(b), ["metrics"]);

    await write(relay.url, "metrics", LINES);

    const select = await query(relay.url, "SELECT value FROM cpu", {
      db: "metrics",
      epoch: "ms",
    });
    assert.equal(select.status, 200);
    assert.equal(select.backend, "a");
    assert.deepEqual(JSON.parse(select.text), {
      results: [{
        statement_id: 0,
        series: [{
          name: "cpu",
          columns: ["time", "value"],
          values: [[1600000000000, 1], [1600000001000, 2]],
        }],
      }],
    });

    // chunked=true with chunk_size=1: one JSON document a point, streamed.
    const chunked = await query(relay.url, "SELECT value FROM cpu", {
      db: "metrics",
      epoch: "s",
      chunked: "true",
      chunk_size: "1",
    });
    assert.equal(chunked.status, 200);
    const documents = chunked.text.trim().split("\n").map((line) =>
      JSON.parse(line)
    );
    assert.equal(documents.length, 2);
    assert.deepEqual(
      documents.map((d) => d.results[0].series[0].values),
      [[[1600000000, 1]], [[1600000001, 2]]],
    );
    assert.equal(documents[0].results[0].partial, true);

    const show = await query(relay.url, "SHOW DATABASES", {}, "POST");
    assert.equal(show.status, 200);
    const names = JSON.parse(show.text).results[0].series[0].values.flat();
    assert.ok(names.includes("metrics"), show.text);

    const mixed = await query(
      relay.url,
      "SHOW DATABASES; DROP DATABASE metrics",
    );
    assert.equal(mixed.status, 400);
    assert.match(JSON.parse(mixed.text).error, /^cannot mix reads and writes/);
    assert.deepEqual(await databases(a), ["metrics"]);
  },
});

Deno.test({
  name: "a read fails over to the other influxd when the first stopped",
  ignore,
  async fn() {
    await using a = await startInfluxd();
    await using b = await startInfluxd();
    // Probes off: the relay still believes "a" is up, so the failover
    // happens within the request.
    await using relay = await startRelay(relayToml(a, b, { probe: "0" }));
    assert.equal(
      (await query(relay.url, "CREATE DATABASE metrics", {}, "POST")).status,
      200,
    );
    await write(relay.url, "metrics", LINES);
    await a.stop();
    const select = await query(relay.url, "SELECT count(value) FROM cpu", {
      db: "metrics",
    });
    assert.equal(select.status, 200);
    assert.equal(select.backend, "b");
    assert.equal(
      JSON.parse(select.text).results[0].series[0].values[0][1],
      2,
    );
    assert.ok(
      relay.messages().some((m) =>
        m.startsWith('Query to backend "a" of relay "reads" failed, trying "b"')
      ),
      relay.messages().join("\n"),
    );
    // The query that got no answer marked "a" down; with probes off, the
    // next write it answers brings it back for reads.
    await a.start();
    await write(relay.url, "metrics", LINES);
    const again = await query(relay.url, "SHOW DATABASES");
    assert.equal(again.backend, "a");
  },
});

Deno.test({
  name:
    "an influxd catching up on its retry buffer gets no reads until it has caught up",
  ignore,
  async fn() {
    await using a = await startInfluxd();
    await using b = await startInfluxd();
    // ack = "first": the write below is acknowledged by b alone.
    await using relay = await startRelay(relayToml(a, b, { ack: "first" }));
    // "gap" exists on b only: once a is back, its queued write is answered
    // 404 database not found and kept, so a stays catching up.
    await b.createDatabase("gap");
    await a.stop();
    await write(relay.url, "gap", LINES);
    await a.start();
    await waitForState(relay, "a", "catching-up");

    const select = await query(relay.url, "SELECT count(value) FROM cpu", {
      db: "gap",
    });
    assert.equal(select.status, 200);
    assert.equal(select.backend, "b");
    assert.equal(JSON.parse(select.text).results[0].series[0].values[0][1], 2);

    await a.createDatabase("gap");
    await waitForState(relay, "a", "up");
    const caughtUp = await query(relay.url, "SELECT count(value) FROM cpu", {
      db: "gap",
    });
    assert.equal(caughtUp.backend, "a");
    assert.equal(
      JSON.parse(caughtUp.text).results[0].series[0].values[0][1],
      2,
    );
  },
});

Deno.test({
  name:
    "a write statement while an influxd is down is refused, or applied and queued until it is back",
  ignore,
  async fn() {
    await using a = await startInfluxd();
    await using b = await startInfluxd();
    await using relay = await startRelay(
      relayToml(a, b, { queueListener: true }),
    );
    const refusing = relay.service.listeners[0]!.url;
    const queueing = relay.service.listeners[1]!.url;
    assert.equal(
      (await query(refusing, "CREATE DATABASE old", {}, "POST")).status,
      200,
    );
    await b.stop();
    await waitForState(relay, "b", "down", 0);
    await waitForState(relay, "b", "down", 1);

    const refused = await query(refusing, "CREATE DATABASE nope", {}, "POST");
    assert.equal(refused.status, 503);
    assert.deepEqual(JSON.parse(refused.text), {
      error:
        'unable to apply the query: backend "b" is down; nothing was changed (query-ddl-when-down = "refuse")',
    });
    assert.deepEqual(await databases(a), ["old"]);

    const queued = await query(queueing, "CREATE DATABASE later", {}, "POST");
    assert.equal(queued.status, 200);
    assert.deepEqual(JSON.parse(queued.text).results[0].messages, [{
      level: "warning",
      text:
        'the relay queued this query for backend "b" (down); it is applied there when the backend answers again',
    }]);
    const dropped = await query(queueing, "DROP DATABASE old", {}, "POST");
    assert.equal(dropped.status, 200);
    assert.deepEqual((await databases(a)).sort(), ["later"]);

    await b.start();
    const applied = () =>
      relay.messages().filter((m) =>
        m.startsWith('Applied queued "') && m.includes('of relay "queueing"')
      );
    await waitFor(() => applied().length === 2, {
      timeoutMs: 15_000,
      intervalMs: 50,
      message: "the queued statements to be applied on b",
    });
    assert.deepEqual(
      applied().map((m) => m.replace(/ after \d+s$/, "")),
      [
        'Applied queued "CREATE DATABASE later" on backend "b" of relay "queueing"',
        'Applied queued "DROP DATABASE old" on backend "b" of relay "queueing"',
      ],
    );
    assert.deepEqual(await databases(b), ["later"]);
  },
});

/** Runs the `influx` CLI against the relay. */
async function influx(
  port: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command("influx", {
    args: ["-host", "127.0.0.1", "-port", port, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test({
  name: "the influx CLI creates a database and reads through the relay",
  ignore,
  async fn() {
    await using a = await startInfluxd();
    await using b = await startInfluxd();
    await using relay = await startRelay(relayToml(a, b));
    const port = new URL(relay.url).port;

    const created = await influx(port, ["-execute", "CREATE DATABASE cli"]);
    assert.equal(created.code, 0, created.stderr);
    assert.equal(created.stderr, "");
    assert.deepEqual(await databases(a), ["cli"]);
    assert.deepEqual(await databases(b), ["cli"]);

    await write(relay.url, "cli", LINES);
    const selected = await influx(port, [
      "-database",
      "cli",
      "-format",
      "csv",
      "-precision",
      "s",
      "-execute",
      "SELECT value FROM cpu",
    ]);
    assert.equal(selected.code, 0, selected.stderr);
    assert.equal(
      selected.stdout,
      "name,time,value\ncpu,1600000000,1\ncpu,1600000001,2\n",
    );
    const shown = await influx(port, ["-execute", "SHOW DATABASES"]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(
      shown.stdout,
      /^name: databases\nname\n----\n(_internal\n)?cli\n$/,
    );
  },
});

/** Where script(1) is, to give the CLI a terminal; `null` when missing. */
function scriptPath(): string | null {
  for (const path of ["/usr/bin/script", "/bin/script"]) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not here
    }
  }
  return null;
}

Deno.test({
  name:
    "the influx CLI works interactively through the relay (a terminal from script(1))",
  // With stdin not a terminal the CLI runs all of it as one query; a
  // session needs a pseudo-terminal, which util-linux's script(1) gives.
  ignore: ignore || scriptPath() === null,
  async fn() {
    await using a = await startInfluxd();
    await using b = await startInfluxd();
    await using relay = await startRelay(relayToml(a, b));
    const port = new URL(relay.url).port;
    const child = new Deno.Command(scriptPath()!, {
      args: [
        "-q",
        "-e",
        "-c",
        `influx -host 127.0.0.1 -port ${port} -format csv`,
        "/dev/null",
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { TERM: "dumb" },
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(
      new TextEncoder().encode(
        [
          "CREATE DATABASE session",
          "use session",
          "INSERT mem,host=h used=42 1600000000000000000",
          "SHOW DATABASES",
          "SELECT used FROM mem",
          "exit",
          "",
        ].join("\n"),
      ),
    );
    await writer.close();
    const output = await child.output();
    const stdout = new TextDecoder().decode(output.stdout).replaceAll("\r", "");
    assert.equal(output.code, 0, stdout);
    assert.match(
      stdout,
      /Connected to http:\/\/127\.0\.0\.1:\d+ version relay/,
    );
    assert.match(stdout, /Using database session/);
    assert.match(stdout, /databases,session\n/);
    assert.match(stdout, /mem,1600000000000000000,42\n/);
    assert.deepEqual(await databases(a), ["session"]);
    assert.deepEqual(await databases(b), ["session"]);
    assert.equal(await a.count("session"), 1);
    assert.equal(await b.count("session"), 1);
  },
});
