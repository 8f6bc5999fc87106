/**
 * The load-balancer recipes of `docs/load-balancing.md`, run for real:
 * two relays as processes (the document's `toml` block), each writing to
 * two real `influxd`, behind nginx or HAProxy (the document's `nginx` and
 * `haproxy` blocks). Only the example addresses the document lists are
 * replaced, so the document and this test cannot drift apart.
 *
 * Skipped with a printed reason when `influxd`, `nginx` or `haproxy` is
 * missing (failing instead with `CI=true`); `tests/setup.sh` installs them.
 */
import assert from "node:assert/strict";
import { request } from "node:http";
import { type Influxd, influxdSkipReason, startInfluxd } from "./_influxd.ts";
import {
  fillRecipe,
  type LoadBalancer,
  type LoadBalancerKind,
  loadBalancerSkipReason,
  recipeBlock,
  startLoadBalancer,
} from "./_load_balancer.ts";
import { promtoolPath, promtoolSkipReason } from "./_promtool.ts";
import { RawConnection } from "./_raw_http.ts";
import { spawnRelay } from "./_relay_process.ts";
import { waitFor } from "./_wait.ts";

const DOC = new URL("../docs/load-balancing.md", import.meta.url);
const DB = "lb";
/** Timestamps (seconds) of the test's points: explicit, so retries are harmless. */
const T0 = 1_700_000_000;

const influxdMissing = influxdSkipReason() !== null;

interface Answer {
  status: number;
  contentType: string | null;
  headers: Headers;
  text: string;
}

async function send(
  url: string,
  path: string,
  init: RequestInit = {},
): Promise<Answer> {
  const response = await fetch(`${url}${path}`, {
    ...init,
    signal: AbortSignal.timeout(15_000),
  });
  return {
    status: response.status,
    contentType: response.headers.get("content-type"),
    headers: response.headers,
    text: await response.text(),
  };
}

function write(url: string, body: BodyInit, headers: HeadersInit = {}) {
  return send(url, `/write?db=${DB}&precision=s`, {
    method: "POST",
    body,
    headers,
  });
}

async function gzip(text: string): Promise<ArrayBuffer> {
  const stream = new Blob([text]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return await new Response(stream).arrayBuffer();
}

async function gunzip(bytes: Uint8Array): Promise<string> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(
    new DecompressionStream("gzip"),
  );
  return await new Response(stream).text();
}

/** A GET with `Accept-Encoding: gzip`, body kept as received (node:http does not inflate). */
function getRaw(
  url: string,
  path: string,
): Promise<{ status: number; encoding: string | undefined; body: Uint8Array }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({
      hostname,
      port: Number(port),
      path,
      agent: false,
      timeout: 15_000,
      headers: { "accept-encoding": "gzip", connection: "close" },
    }, (res) => {
      const chunks: Uint8Array[] = [];
      res.on("data", (chunk: Uint8Array) => chunks.push(chunk));
      res.on("end", () => {
        const body = new Uint8Array(
          chunks.reduce((n, c) => n + c.length, 0),
        );
        let offset = 0;
        for (const c of chunks) {
          body.set(c, offset);
          offset += c.length;
        }
        resolve({
          status: res.statusCode ?? 0,
          encoding: res.headers["content-encoding"],
          body,
        });
      });
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("GET timed out")));
    req.on("error", reject);
    req.end();
  });
}

/** The value of one series of a relay's `/metrics`, read directly (0 when absent). */
async function metric(relayUrl: string, series: string): Promise<number> {
  const { status, text } = await send(relayUrl, "/metrics");
  assert.equal(status, 200);
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

const WRITES_204 =
  'influxdb_relay_http_requests_total{relay="relay",path="/write",status="204"}';
const HEALTH_200 =
  'influxdb_relay_http_requests_total{relay="relay",path="/health",status="200"}';

async function databases(server: Influxd): Promise<string[]> {
  const answer = await server.query("SHOW DATABASES") as {
    results: { series?: { values: string[][] }[] }[];
  };
  return (answer.results[0]?.series?.[0]?.values ?? []).map((row) => row[0]!);
}

async function bothHold(a: Influxd, b: Influxd, points: number) {
  let seen: number[] = [];
  await waitFor(async () => {
    seen = [await a.count(DB), await b.count(DB)];
    return seen[0] === points && seen[1] === points;
  }, {
    timeoutMs: 30_000,
    intervalMs: 100,
    message: () => `both influxd to hold ${points} points (hold ${seen})`,
  });
}

/** The same bytes sent raw to two servers; their answers, for comparison. */
async function rawAnswer(url: string, head: string) {
  await using conn = await RawConnection.open(url);
  assert.ok(await conn.send(head));
  return await conn.response(10_000);
}

async function runRecipe(kind: LoadBalancerKind): Promise<void> {
  const doc = await Deno.readTextFile(DOC);
  const dir = await Deno.makeTempDir({ prefix: `lb-${kind}-test-` });
  try {
    await using influx1 = await startInfluxd();
    await using influx2 = await startInfluxd();

    const toml = recipeBlock(doc, "toml");
    const relayConfig = async (name: string) => {
      const path = `${dir}/${name}.toml`;
      await Deno.writeTextFile(
        path,
        fillRecipe(toml, {
          "0.0.0.0:9096": "127.0.0.1:0",
          "http://10.0.0.21:8086": influx1.url,
          "http://10.0.0.22:8086": influx2.url,
          "/var/lib/influxdb-relay": `${dir}/${name}-spool`,
        }),
      );
      return path;
    };
    await using relay1 = await spawnRelay(await relayConfig("relay1"));
    await using relay2 = await spawnRelay(await relayConfig("relay2"));
    const hostPort = (url: string) => new URL(url).host;

    await using lb: LoadBalancer = await startLoadBalancer(kind, {
      dir,
      recipe: fillRecipe(recipeBlock(doc, kind), {
        "10.0.0.11:9096": hostPort(relay1.url),
        "10.0.0.12:9096": hostPort(relay2.url),
      }),
    });
    const context = () =>
      `--- ${kind} ---\n${lb.log()}\n--- relay1 ---\n${relay1.log()}\n--- relay2 ---\n${relay2.log()}`;

    // CREATE DATABASE through /query reaches both InfluxDB servers.
    const created = await send(lb.url, "/query", {
      method: "POST",
      body: new URLSearchParams({ q: `CREATE DATABASE ${DB}` }),
    });
    assert.equal(created.status, 200, created.text);
    assert.deepEqual(JSON.parse(created.text), {
      results: [{ statement_id: 0 }],
    });
    assert.ok((await databases(influx1)).includes(DB));
    assert.ok((await databases(influx2)).includes(DB));

    // Writes are answered 204 with no body and spread over both relays.
    const spread = 20;
    for (let i = 0; i < spread; i++) {
      const answer = await write(lb.url, `lb,step=spread v=${i}i ${T0 + i}\n`);
      assert.equal(answer.status, 204, `${answer.text}\n${context()}`);
      assert.equal(answer.text, "");
    }
    const perRelay = [
      await metric(relay1.url, WRITES_204),
      await metric(relay2.url, WRITES_204),
    ];
    assert.equal(perRelay[0]! + perRelay[1]!, spread);
    assert.ok(perRelay.every((n) => n > 0), `writes per relay: ${perRelay}`);

    // A gzip body passes through as sent; so does an InfluxDB 2.x write.
    const gzipped = await write(
      lb.url,
      await gzip(`lb,step=gzip v=1i ${T0}\n`),
      { "content-encoding": "gzip" },
    );
    assert.equal(gzipped.status, 204, gzipped.text);
    const v2 = await send(lb.url, `/api/v2/write?bucket=${DB}&precision=s`, {
      method: "POST",
      body: `lb,step=v2 v=1i ${T0}\n`,
    });
    assert.equal(v2.status, 204, v2.text);
    let stored = spread + 2;
    await bothHold(influx1, influx2, stored);

    // Reads through the load balancer, with the relay's headers.
    const select = new URLSearchParams({
      db: DB,
      epoch: "s",
      q: "SELECT v FROM lb WHERE step = 'spread'",
    });
    const read = await send(lb.url, `/query?${select}`);
    assert.equal(read.status, 200, read.text);
    assert.match(read.headers.get("x-relay-backend") ?? "", /^influx[12]$/);
    const values = JSON.parse(read.text).results[0].series[0].values;
    assert.equal(values.length, spread);
    assert.deepEqual(values[0], [T0, 0]);

    // A gzipped /query answer reaches the client still gzipped.
    const zipped = await getRaw(lb.url, `/query?${select}`);
    assert.equal(zipped.status, 200);
    assert.equal(zipped.encoding, "gzip");
    assert.deepEqual(
      JSON.parse(await gunzip(zipped.body)),
      JSON.parse(read.text),
    );

    const ping = await send(lb.url, "/ping");
    assert.equal(ping.status, 204);
    const health = await send(lb.url, "/health");
    assert.equal(health.status, 200, health.text);
    assert.equal(JSON.parse(health.text).status, "pass");

    // A bad line: the relay's 400, body and Content-Type unchanged.
    const bad = "lb,step=bad v=1i 1\nthis is not line protocol\n";
    const direct = await write(relay1.url, bad);
    const through = await write(lb.url, bad);
    assert.equal(direct.status, 400);
    assert.match(direct.text, /^\{"error":"unable to parse points: line 2: /);
    assert.deepEqual(
      [through.status, through.contentType, through.text],
      [direct.status, direct.contentType, direct.text],
    );

    // A body over max-body-size: 413 with the relay's body.
    const tooLarge = `POST /write?db=${DB} HTTP/1.1\r\nHost: lb\r\n` +
      `Content-Length: 25000001\r\nConnection: close\r\n\r\n`;
    const large = await rawAnswer(lb.url, tooLarge);
    const largeDirect = await rawAnswer(relay1.url, tooLarge);
    assert.equal(largeDirect.status, 413);
    assert.deepEqual(
      [large.status, large.body, large.headers.get("content-type")],
      [413, largeDirect.body, largeDirect.headers.get("content-type")],
    );

    // /metrics and /status only on each relay, not through the balancer.
    for (const path of ["/metrics", "/status"]) {
      const answer = await send(lb.url, path);
      assert.equal(answer.status, 404);
      assert.match(JSON.parse(answer.text).error, /on each relay/);
    }

    // influx2 stops: both relays stay in. Their /health stays 200
    // ("degraded"): the disk spools take influx2's writes.
    await influx2.stop();
    const degraded = 10;
    for (let i = 0; i < degraded; i++) {
      const answer = await write(
        lb.url,
        `lb,step=degraded v=${i}i ${T0 + i}\n`,
      );
      assert.equal(answer.status, 204, `${answer.text}\n${context()}`);
    }
    stored += degraded;
    for (const relay of [relay1, relay2]) {
      let last = "";
      await waitFor(async () => {
        const answer = await send(relay.url, "/health");
        last = `${answer.status} ${answer.text}`;
        return answer.status === 200 &&
          JSON.parse(answer.text).health === "degraded";
      }, {
        timeoutMs: 10_000,
        intervalMs: 50,
        message: () => `${relay.url}/health to be degraded, last: ${last}`,
      });
    }
    if (kind === "haproxy") {
      // Three checks of each relay answered 200 while degraded (more than
      // "fall 2"), and HAProxy took neither out.
      const checks = () =>
        Promise.all([relay1, relay2].map((r) => metric(r.url, HEALTH_200)));
      const [from1, from2] = await checks();
      await waitFor(async () => {
        const [now1, now2] = await checks();
        return now1! >= from1! + 3 && now2! >= from2! + 3;
      }, {
        timeoutMs: 10_000,
        intervalMs: 100,
        message: () => `three health checks of each relay\n${context()}`,
      });
      assert.doesNotMatch(lb.log(), /is DOWN/);
    }
    // Back, influx2 gets what both relays' spools hold for it.
    await influx2.start();
    await bothHold(influx1, influx2, stored);

    // relay1 stops: the balancer takes it out, writes keep getting 204.
    assert.equal(await relay1.stop("SIGTERM"), 0);
    const removed = kind === "nginx"
      ? /upstream server temporarily disabled/
      : /Server influxdb_relays\/relay1 is DOWN/;
    let failover = 0;
    // `phase` marks the request in HAProxy's log (InfluxDB ignores it).
    const failoverWrite = async (phase: string) => {
      const answer = await send(
        lb.url,
        `/write?db=${DB}&precision=s&phase=${phase}`,
        {
          method: "POST",
          body: `lb,step=failover v=${failover}i ${T0 + failover}\n`,
        },
      );
      assert.equal(answer.status, 204, `${answer.text}\n${context()}`);
      failover++;
    };
    // Until the balancer says relay1 is out (HAProxy: two failed checks,
    // nginx: the first failed connection), then 20 more.
    await waitFor(async () => {
      await failoverWrite("detecting");
      return removed.test(lb.log());
    }, {
      timeoutMs: 15_000,
      intervalMs: 50,
      message: () => `${kind} to take relay1 out (${removed})\n${context()}`,
    });
    for (let i = 0; i < 20; i++) await failoverWrite("out");
    if (kind === "nginx") {
      // Tried on relay2 after the failed connect, then taken out rather
      // than tried on every request: at most one more try after
      // fail_timeout (10 s) on a slow machine.
      const tries = lb.log().match(/connect\(\) failed/g)?.length ?? 0;
      assert.ok(tries >= 1 && tries <= 2, `${tries} failed connects`);
    } else {
      // HAProxy logs a request once it is done, maybe just after the
      // client has its answer.
      const lines = (phase: string) =>
        lb.log().split("\n").filter((l) => l.includes(`&phase=${phase} `));
      await waitFor(() => lines("out").length === 20, {
        timeoutMs: 5000,
        message: () => `20 phase=out lines in:\n${lb.log()}`,
      });
      // Fields: actconn/feconn/beconn/srv_conn/retries, then the queues.
      const retries = (line: string) =>
        line.match(/ \d+\/\d+\/\d+\/\d+\/(\+?\d+) \d+\/\d+ "/)?.[1];
      // Before the check took relay1 out, writes sent to it were retried
      // on relay2 ("+1"); after, none is sent to relay1.
      assert.ok(
        lines("detecting").some((l) => retries(l) === "+1"),
        lines("detecting").join("\n"),
      );
      for (const line of lines("out")) {
        assert.match(line, / influxdb_relays\/relay2 /);
        assert.equal(retries(line), "0", line);
      }
    }
    stored += failover;
    await bothHold(influx1, influx2, stored);
    const after = await send(lb.url, `/query?${select}`);
    assert.equal(after.status, 200, after.text);
    assert.equal(JSON.parse(after.text).results[0].series[0].values.length, 20);

    // No relay left: the balancer's own error, in the relay's JSON shape.
    assert.equal(await relay2.stop("SIGTERM"), 0);
    const none = await write(lb.url, `lb,step=none v=1i ${T0}\n`);
    assert.ok([502, 503, 504].includes(none.status), `${none.status}`);
    assert.equal(none.contentType, "application/json");
    assert.deepEqual(JSON.parse(none.text), {
      error: `load balancer: no answer from a relay (HTTP ${none.status})`,
    });
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

Deno.test({
  name:
    "nginx recipe: two relays store every write on both influxd, answers pass unchanged, a stopped relay is taken out",
  ignore: influxdMissing || loadBalancerSkipReason("nginx") !== null,
  fn: () => runRecipe("nginx"),
});

Deno.test({
  name:
    "HAProxy recipe: two relays store every write on both influxd, answers pass unchanged, /health keeps a degraded relay and a stopped one is taken out",
  ignore: influxdMissing || loadBalancerSkipReason("haproxy") !== null,
  fn: () => runRecipe("haproxy"),
});

Deno.test({
  name: "load-balancing doc: the Prometheus scrape config passes promtool",
  ignore: promtoolSkipReason() !== null,
  async fn() {
    const yaml = recipeBlock(await Deno.readTextFile(DOC), "yaml");
    const dir = await Deno.makeTempDir({ prefix: "lb-promtool-test-" });
    try {
      await Deno.writeTextFile(`${dir}/prometheus.yml`, yaml);
      const { code, stdout, stderr } = await new Deno.Command(
        promtoolPath()!,
        {
          args: ["check", "config", `${dir}/prometheus.yml`],
          stdout: "piped",
          stderr: "piped",
        },
      ).output();
      const decoder = new TextDecoder();
      assert.equal(
        code,
        0,
        decoder.decode(stdout) + decoder.decode(stderr),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
