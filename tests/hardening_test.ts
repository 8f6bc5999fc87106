/**
 * The bad-input suite: a relay process in front of a real `influxd` is
 * attacked over HTTP and UDP (oversized bodies, gzip bombs, broken gzip,
 * invalid UTF-8 and NUL bytes, a 10 MB line, slowloris bodies and headers,
 * thousands of idle connections, junk bytes and junk datagrams) while a
 * good client keeps writing. Every attack must get its documented answer,
 * the relay's RSS must stay under a bound, and every write the good client
 * got a 204 for must be in InfluxDB.
 */
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { type Influxd, influxdSkipReason, startInfluxd } from "./_influxd.ts";
import { RawConnection, type RawResponse } from "./_raw_http.ts";
import { spawnRelay } from "./_relay_process.ts";
import { waitFor } from "./_wait.ts";

const ignore = influxdSkipReason() !== null;
const DB = "hardening";
const MB = 1_000_000;
/** Far below what the attacks would cost without the limits (≥ 512 MB). */
const RSS_BOUND_MB = 400;

const encoder = new TextEncoder();

async function rssMb(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/** Samples a process's RSS every 20 ms until stopped; returns the peak. */
function watchRss(pid: number): { stop(): Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      peak = Math.max(peak, await rssMb(pid).catch(() => 0));
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return peak;
    },
  };
}

/** A client that writes one point every `intervalMs` and counts its 204s. */
function goodClient(url: string, intervalMs = 50) {
  const state = { acked: 0, failures: [] as string[], running: true };
  let n = 0;
  const loop = (async () => {
    while (state.running) {
      const line = `good,client=a seq=${n}i ${
        1_600_000_000_000_000_000n + BigInt(n)
      }\n`;
      n++;
      try {
        const response = await fetch(`${url}/write?db=${DB}`, {
          method: "POST",
          body: line,
          signal: AbortSignal.timeout(5000),
        });
        await response.body?.cancel();
        if (response.status === 204) state.acked++;
        else state.failures.push(`write ${n - 1}: ${response.status}`);
      } catch (error) {
        state.failures.push(`write ${n - 1}: ${error}`);
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    state,
    async stop() {
      state.running = false;
      await loop;
    },
  };
}

function request(
  path: string,
  headers: Record<string, string>,
  body: string | Uint8Array = "",
): Uint8Array {
  const head = `POST ${path} HTTP/1.1\r\nHost: relay\r\n${
    Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("")
  }\r\n`;
  const bytes = typeof body === "string" ? encoder.encode(body) : body;
  const out = new Uint8Array(encoder.encode(head).length + bytes.length);
  out.set(encoder.encode(head));
  out.set(bytes, encoder.encode(head).length);
  return out;
}

async function exchange(
  url: string,
  bytes: Uint8Array,
  timeoutMs = 5000,
): Promise<RawResponse> {
  await using conn = await RawConnection.open(url);
  await conn.send(bytes);
  return await conn.response(timeoutMs);
}

function errorOf(response: RawResponse): string {
  return (JSON.parse(response.body) as { error: string }).error;
}

/** 256 MiB of zeros as 256 gzip members: about 260 KB on the wire. */
function gzipBomb(): Uint8Array {
  const member = gzipSync(new Uint8Array(1024 * 1024));
  const bomb = new Uint8Array(member.length * 256);
  for (let i = 0; i < 256; i++) bomb.set(member, i * member.length);
  return bomb;
}

async function relayConfig(dir: string, influxd: Influxd): Promise<string> {
  const path = `${dir}/relay.toml`;
  await Deno.writeTextFile(
    path,
    `
[[http]]
name = "guarded"
bind-addr = "127.0.0.1:0"
max-body-size = ${16 * MB}
max-decompressed-size = ${16 * MB}
read-timeout = "1s"
max-concurrent-requests = 64
output = [{ name = "influxd", location = "${influxd.writeUrl}", timeout = "5s" }]

[[udp]]
name = "udp"
bind-addr = "127.0.0.1:0"
output = [{ name = "influxd-udp", location = "127.0.0.1:${influxd.udpPort}" }]
`,
  );
  return path;
}

Deno.test({
  name:
    "relay answers every attack, stays within its memory bound and keeps serving a good client",
  ignore,
  async fn(t) {
    await using influxd = await startInfluxd({ udp: { database: DB } });
    await influxd.createDatabase(DB);
    const dir = await Deno.makeTempDir({ prefix: "relay-hardening-" });
    await using relay = await spawnRelay(await relayConfig(dir, influxd));
    const pid = relay.child.pid;
    const url = relay.url;
    const rss = watchRss(pid);
    const good = goodClient(url);
    try {
      await t.step(
        "a declared length over max-body-size gets 413 at once",
        async () => {
          await using conn = await RawConnection.open(url);
          await conn.send(
            request(`/write?db=${DB}`, { "Content-Length": String(200 * MB) }),
          );
          const response = await conn.response(2000);
          assert.equal(response.status, 413);
          assert.equal(errorOf(response), "Request Entity Too Large");
        },
      );

      await t.step(
        "a chunked body gets 413 once it passes max-body-size",
        async () => {
          await using conn = await RawConnection.open(url);
          await conn.send(
            request(`/write?db=${DB}`, { "Transfer-Encoding": "chunked" }),
          );
          const chunk = "cpu value=1 1\n".repeat(4600); // ~64 KB
          const framed = encoder.encode(
            `${chunk.length.toString(16)}\r\n${chunk}\r\n`,
          );
          let response: RawResponse | null = null;
          for (let sent = 0; sent < 40 * MB; sent += chunk.length) {
            if (!await conn.send(framed)) break;
            const early = await conn.response(0);
            if (early.status !== 0) {
              response = early;
              break;
            }
          }
          response ??= await conn.response(5000);
          assert.equal(response.status, 413);
        },
      );

      await t.step("a gzip bomb gets 413 without being inflated", async () => {
        const response = await exchange(
          url,
          request(`/write?db=${DB}`, {
            "Content-Encoding": "gzip",
            "Content-Length": String(gzipBomb().length),
          }, gzipBomb()),
        );
        assert.equal(response.status, 413);
        assert.equal(errorOf(response), "Request Entity Too Large");
      });

      await t.step("broken gzip gets 400 or 500 as documented", async () => {
        const notGzip = await exchange(
          url,
          request(`/write?db=${DB}`, {
            "Content-Encoding": "gzip",
            "Content-Length": "12",
          }, "cpu value=1\n"),
        );
        assert.equal(notGzip.status, 400);
        assert.equal(errorOf(notGzip), "unable to decode gzip body");
        const good = gzipSync(encoder.encode("cpu value=1 1\n".repeat(1000)));
        const truncated = good.subarray(0, 60);
        const cut = await exchange(
          url,
          request(`/write?db=${DB}`, {
            "Content-Encoding": "gzip",
            "Content-Length": String(truncated.length),
          }, truncated),
        );
        assert.equal(cut.status, 500);
        assert.equal(errorOf(cut), "problem reading request body");
      });

      await t.step(
        "invalid UTF-8 and NUL bytes get an answer, not a crash",
        async () => {
          const bodies = [
            new Uint8Array([
              ...encoder.encode("cpu,h=\xff"),
              0xc3,
              0x28,
              ...encoder.encode(" v=1 1\n"),
            ]),
            new Uint8Array([
              ...encoder.encode("cpu v=1"),
              0,
              ...encoder.encode(" 1\n"),
            ]),
            new Uint8Array([0, 0, 0, 0, 10]),
          ];
          for (const body of bodies) {
            const response = await exchange(
              url,
              request(`/write?db=${DB}`, {
                "Content-Length": String(body.length),
              }, body),
            );
            assert.ok(
              response.status === 204 || response.status === 400,
              `${response.status} ${response.body}`,
            );
          }
        },
      );

      await t.step("a 10 MB line is parsed and answered", async () => {
        const line = `big s="${"x".repeat(10 * MB)}" 1\n`;
        const response = await fetch(`${url}/write?db=junk`, {
          method: "POST",
          body: line,
        });
        // influxd refuses a field that long (or the database): a 4xx passed through.
        assert.ok(
          response.status >= 200 && response.status < 500,
          `${response.status}`,
        );
        await response.body?.cancel();
      });

      await t.step("a slowloris body gets 408 after read-timeout", async () => {
        const conns = await Promise.all(
          Array.from({ length: 20 }, () => RawConnection.open(url)),
        );
        try {
          for (const conn of conns) {
            await conn.send(
              request(`/write?db=${DB}`, { "Content-Length": "1000" }, "cpu"),
            );
          }
          const started = performance.now();
          const answers = await Promise.all(
            conns.map(async (conn) => {
              // One byte every 100 ms: far too slow for a 1000-byte body.
              const drip = (async () => {
                for (let i = 0; i < 30 && !conn.closed; i++) {
                  await new Promise((r) => setTimeout(r, 100));
                  if (!await conn.send("x")) break;
                }
              })();
              const response = await conn.response(4000);
              await drip;
              return response;
            }),
          );
          const elapsed = performance.now() - started;
          for (const response of answers) {
            assert.equal(response.status, 408);
            assert.equal(errorOf(response), "timeout reading request body");
          }
          assert.ok(elapsed < 3500, `answered after ${elapsed} ms`);
        } finally {
          for (const conn of conns) await conn[Symbol.asyncDispose]();
        }
      });

      await t.step(
        "slow headers and 2000 idle connections do not stop a good client",
        async () => {
          const idle = await Promise.all(
            Array.from({ length: 2000 }, () => RawConnection.open(url)),
          );
          try {
            // Half of them start a request and never finish the headers.
            for (const conn of idle.slice(0, 1000)) {
              await conn.send(
                "POST /write?db=x HTTP/1.1\r\nHost: relay\r\nX-Slow: ",
              );
            }
            const before = good.state.acked;
            await waitFor(() => good.state.acked >= before + 10, {
              timeoutMs: 10_000,
              message: "10 good writes while 2000 connections are held open",
            });
          } finally {
            for (const conn of idle) await conn[Symbol.asyncDispose]();
          }
        },
      );

      await t.step("junk bytes and unknown paths get an answer", async () => {
        const junk = crypto.getRandomValues(new Uint8Array(4096));
        for (
          const bytes of [
            junk,
            encoder.encode("GET / FOO\r\n\r\n"),
            encoder.encode("\r\n\r\n\r\n"),
            encoder.encode(
              `POST /write?db=x HTTP/1.1\r\nContent-Length: -5\r\n\r\n`,
            ),
          ]
        ) {
          await using conn = await RawConnection.open(url);
          await conn.send(bytes);
          const response = await conn.response(2000);
          assert.ok(
            response.status === 0 ? response.closed : response.status === 400,
            `${response.status} ${response.raw.slice(0, 100)}`,
          );
        }
        for (
          const path of [
            "/",
            "/write/",
            "//write",
            "/debug/pprof",
            "/api/v2/query",
          ]
        ) {
          const response = await fetch(`${url}${path}`, { method: "POST" });
          assert.equal(response.status, 404, path);
          await response.body?.cancel();
        }
      });

      await t.step(
        "junk datagrams at a high rate do not stop UDP",
        async () => {
          const address = /Starting UDP relay "udp" on (\S+)/.exec(relay.log());
          assert.ok(address, relay.log());
          const port = Number(address[1]!.split(":").pop());
          const socket = Deno.listenDatagram({
            transport: "udp",
            hostname: "127.0.0.1",
            port: 0,
          });
          try {
            const target = {
              transport: "udp" as const,
              hostname: "127.0.0.1",
              port,
            };
            for (let i = 0; i < 20_000; i++) {
              const junk = crypto.getRandomValues(
                new Uint8Array(1 + (i % 1400)),
              );
              await socket.send(junk, target);
            }
            // A good datagram after the burst still lands (retried: UDP may drop).
            await waitFor(async () => {
              await socket.send(
                encoder.encode("udp_good value=1 1600000000000000000\n"),
                target,
              );
              const stored = await influxd.query(
                'SELECT count("value") FROM "udp_good"',
                { db: DB },
              ) as { results: { series?: unknown[] }[] };
              return (stored.results[0]?.series?.length ?? 0) > 0;
            }, {
              timeoutMs: 15_000,
              intervalMs: 250,
              message: "a good datagram in influxd",
            });
          } finally {
            socket.close();
          }
        },
      );
    } finally {
      await good.stop();
    }
    const peak = await rss.stop();

    assert.deepEqual(good.state.failures, [], "the good client was refused");
    assert.ok(good.state.acked > 20, `${good.state.acked} good writes`);
    let stored = 0;
    await waitFor(
      async () => {
        const result = await influxd.query('SELECT count("seq") FROM "good"', {
          db: DB,
        }) as { results: { series?: { values: [unknown, number][] }[] }[] };
        stored = Number(result.results[0]?.series?.[0]?.values[0]?.[1] ?? 0);
        return stored >= good.state.acked;
      },
      {
        timeoutMs: 10_000,
        message: () => `${good.state.acked} good points in influxd (${stored})`,
      },
    );
    assert.equal(
      stored,
      good.state.acked,
      "every acknowledged write is stored",
    );
    assert.ok(peak < RSS_BOUND_MB, `relay RSS peaked at ${peak.toFixed(0)} MB`);
    assert.equal(await relay.stop("SIGTERM"), 0);
    await Deno.remove(dir, { recursive: true });
  },
});
