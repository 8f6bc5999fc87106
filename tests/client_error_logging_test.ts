/**
 * What the relay logs when its HTTP listener refuses a request, end to end:
 * the whole service in-process (so requests reach the listener through the
 * service's wrappers, which pass the request alone), real sockets, and the
 * log records rendered as logtape writes them. Each line must name the
 * relay, the client's address, the method and path, and the answer.
 *
 * @module
 */

import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import type { LogRecord } from "@logtape/logtape";
import { sha256Hex } from "../relay/client_auth.ts";
import { renderMessage } from "../relay/log.ts";
import { startFakeBackend } from "./_fake_backend.ts";
import { startRelay } from "./_relay.ts";
import { waitFor } from "./_wait.ts";

const encoder = new TextEncoder();

/** A port that was free a moment ago (nothing listens on it). */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** An answer, and the client address it was sent from. */
interface Exchange {
  status: number;
  /** `127.0.0.1:<port>` of the client's end of the connection. */
  client: string;
}

/**
 * Sends one HTTP/1.1 request on a connection of its own, so that the test
 * knows the client's port, and reads the answer to the end.
 */
async function exchange(
  url: string,
  head: string,
  body: Uint8Array = new Uint8Array(0),
): Promise<Exchange> {
  const { hostname, port } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  const client = `127.0.0.1:${conn.localAddr.port}`;
  const request = `${head}\r\nHost: relay\r\nConnection: close\r\n` +
    `Content-Length: ${body.length}\r\n\r\n`;
  const bytes = new Uint8Array([...encoder.encode(request), ...body]);
  let written = 0;
  while (written < bytes.length) {
    written += await conn.write(bytes.subarray(written));
  }
  const answer = await new Response(conn.readable).text();
  const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(answer)?.[1] ?? 0);
  return { status, client };
}

/** Level and rendered message of the records that mention an answer. */
function refusals(logs: readonly LogRecord[]): [string, string][] {
  return logs
    .map((record): [string, string] => [record.level, renderMessage(record)])
    .filter(([, text]) => text.includes("; answered "));
}

Deno.test("the relay logs each client error at debug with the client, method, path and answer", async () => {
  await using backend = await startFakeBackend();
  const digest = sha256Hex("s3cret");
  await using relay = await startRelay(`
[[http]]
name = "open"
bind-addr = "127.0.0.1:0"
output = [{ name = "local1", location = "${backend.writeUrl}" }]

[[http]]
name = "secured"
bind-addr = "127.0.0.1:0"
auth-users = [{ name = "telegraf", password = "sha256:${digest}" }]
output = [{ name = "local1", location = "${backend.writeUrl}" }]
`);
  const open = relay.url;
  const secured = relay.service.listeners[1]!.url;
  const truncated = new Uint8Array(gzipSync("cpu value=1\n")).subarray(0, 30);
  const cases: [string, string, Uint8Array, number, (c: string) => string][] = [
    [
      open,
      "POST /write?db=mydb HTTP/1.1",
      encoder.encode("cpu,host=a value=1\ncpu,host=b value=\ncpu value=3"),
      400,
      (client) =>
        `Rejected write on relay "open": line 2: missing field value: 'cpu,host=b value='; answered 400 to POST /write from ${client}`,
    ],
    [
      open,
      "POST /write?db=mydb HTTP/1.1\r\nContent-Encoding: gzip",
      truncated,
      500,
      (client) =>
        `Rejected write on relay "open": Cannot decode gzip body: unexpected end of file; answered 500 to POST /write from ${client}`,
    ],
    [
      open,
      "POST /write?db=mydb HTTP/1.1\r\nContent-Encoding: gzip",
      encoder.encode("cpu value=1"),
      400,
      (client) =>
        `Rejected write on relay "open": Cannot decode gzip body: no gzip header; answered 400 to POST /write from ${client}`,
    ],
    [
      open,
      "POST /write HTTP/1.1",
      encoder.encode("cpu value=1"),
      400,
      (client) =>
        `Rejected write on relay "open": missing parameter: db; answered 400 to POST /write from ${client}`,
    ],
    [
      open,
      "GET /write?db=mydb HTTP/1.1",
      new Uint8Array(0),
      405,
      (client) =>
        `Refused request on relay "open": invalid write method; answered 405 to GET /write from ${client}`,
    ],
    [
      open,
      "GET /writ HTTP/1.1",
      new Uint8Array(0),
      404,
      (client) =>
        `Refused request on relay "open": invalid write endpoint; answered 404 to GET /writ from ${client}`,
    ],
    [
      secured,
      `POST /write?db=mydb HTTP/1.1\r\nAuthorization: Basic ${
        btoa("telegraf:not-the-password")
      }`,
      encoder.encode("cpu value=1"),
      401,
      (client) =>
        `Refused request on relay "secured": authorization failed for user "telegraf"; answered 401 to POST /write from ${client}`,
    ],
  ];
  for (const [url, head, body, status, line] of cases) {
    const before = relay.logs.length;
    const answer = await exchange(url, head, body);
    assert.equal(answer.status, status, head);
    assert.deepEqual(refusals(relay.logs.slice(before)), [
      ["debug", line(answer.client)],
    ]);
  }
  assert.ok(
    !relay.messages().some((m) => m.includes("not-the-password")),
    "a password is never logged",
  );

  // A write that succeeds logs nothing of the kind.
  const before = relay.logs.length;
  const ok = await exchange(
    open,
    "POST /write?db=mydb HTTP/1.1",
    encoder.encode("cpu value=1"),
  );
  assert.equal(ok.status, 204);
  assert.deepEqual(refusals(relay.logs.slice(before)), []);
});

Deno.test("the relay logs writes refused by its limits at warning, a few lines for a flood", async () => {
  const held = Promise.withResolvers<void>();
  await using backend = await startFakeBackend({
    respond: async (request) => {
      if (request.text.startsWith("slow")) await held.promise;
      return { status: 204 };
    },
  });
  await using relay = await startRelay(`
[[http]]
name = "limited"
bind-addr = "127.0.0.1:0"
rate-limit = 1
output = [{ name = "local1", location = "${backend.writeUrl}" }]

[[http]]
name = "busy"
bind-addr = "127.0.0.1:0"
max-concurrent-requests = 1
output = [{ name = "local1", location = "${backend.writeUrl}" }]
`);
  const limited = relay.url;
  const busy = relay.service.listeners[1]!.url;
  const line = encoder.encode("cpu value=1");

  const start = performance.now();
  const statuses: number[] = [];
  let first = "";
  for (let i = 0; i < 20; i++) {
    const answer = await exchange(limited, "POST /write?db=x HTTP/1.1", line);
    statuses.push(answer.status);
    if (answer.status === 429 && first === "") first = answer.client;
  }
  const quick = performance.now() - start < 10_000;
  const shed = refusals(relay.logs).filter(([, text]) =>
    text.includes('relay "limited"')
  );
  assert.ok(statuses.filter((s) => s === 429).length >= 15, `${statuses}`);
  assert.deepEqual(shed[0], [
    "warning",
    `Shedding load on relay "limited": rate limit exceeded (rate-limit); answered 429 to POST /write from ${first}`,
  ]);
  // Five lines per 10 s; the next one would say how many were left out.
  if (quick) assert.equal(shed.length, 5);

  const slow = fetch(`${busy}/write?db=x`, {
    method: "POST",
    body: "slow value=1",
  });
  await backend.waitForRequests(1);
  const refused = await exchange(busy, "POST /write?db=x HTTP/1.1", line);
  assert.equal(refused.status, 503);
  held.resolve();
  assert.equal((await slow).status, 204);
  assert.deepEqual(
    refusals(relay.logs).filter(([, text]) => text.includes('relay "busy"')),
    [[
      "warning",
      `Shedding load on relay "busy": request throttled: 1 requests in progress (max-concurrent-requests); answered 503 to POST /write from ${refused.client}`,
    ]],
  );
});

Deno.test("the relay logs a write not delivered within ack-timeout at warning", async () => {
  await using relay = await startRelay(`
[[http]]
name = "buffered"
bind-addr = "127.0.0.1:0"
ack-timeout = "200ms"
output = [{ name = "down", location = "http://127.0.0.1:${closedPort()}/write", buffer-size-mb = 1, buffer-max-age = "1s" }]
`);
  const answer = await exchange(
    relay.url,
    "POST /write?db=x HTTP/1.1",
    encoder.encode("cpu value=1"),
  );
  assert.equal(answer.status, 503);
  await waitFor(
    () => refusals(relay.logs).some(([, t]) => t.startsWith("Failed write")),
    { message: "the Failed write line" },
  );
  assert.deepEqual(refusals(relay.logs), [[
    "warning",
    `Failed write on relay "buffered": unable to write points: queued for retry on 1 of 1 backends, not delivered within 200ms; answered 503 to POST /write from ${answer.client}`,
  ]]);
});
