/**
 * End to end: the relay in-process, clients over real sockets, recording
 * backends that answer scripted statuses. Covers the routing table, every
 * row of the response rule, forwarding of query and headers, gzip, and
 * timeouts (spec §3, decisions D2, D3, D7, D8).
 */
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import {
  type FakeBackend,
  type FakeBackendOptions,
  reservedPortThatRefuses,
  startFakeBackend,
} from "./_fake_backend.ts";
import { startRelay, type TestRelay } from "./_relay.ts";

function relayToml(outputs: string[], extra = ""): string {
  return `
[[http]]
name = "test-http"
bind-addr = "127.0.0.1:0"
${extra}
output = [
${outputs.map((o) => `  ${o},`).join("\n")}
]
`;
}

function output(name: string, location: string, timeout = "5s"): string {
  return `{ name = "${name}", location = "${location}", timeout = "${timeout}" }`;
}

async function withRelay(
  backends: FakeBackendOptions[],
  test: (relay: TestRelay, fakes: FakeBackend[]) => Promise<void>,
  extra = "",
): Promise<void> {
  const fakes: FakeBackend[] = [];
  let relay: TestRelay | undefined;
  try {
    for (const options of backends) fakes.push(await startFakeBackend(options));
    const outputs = fakes.map((f, i) => output(`b${i}`, f.writeUrl));
    relay = await startRelay(relayToml(outputs, extra));
    await test(relay, fakes);
  } finally {
    // Backends first, so that the relay's shutdown does not wait on a
    // backend that was scripted to hang.
    for (const fake of fakes) await fake.close();
    await relay?.[Symbol.asyncDispose]();
  }
}

async function send(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; headers: Headers; text: string }> {
  const response = await fetch(url, init);
  return {
    status: response.status,
    headers: response.headers,
    text: await response.text(),
  };
}

const LINES = "cpu,host=a value=1 1000\nmem,host=a free=2i 2000\n";

Deno.test("relay answers /ping with 204 and X-Influxdb-Version", async () => {
  await withRelay([], async (relay) => {
    for (const method of ["GET", "HEAD"]) {
      const res = await send(`${relay.url}/ping?verbose=true`, { method });
      assert.equal(res.status, 204);
      assert.equal(res.headers.get("x-influxdb-version"), "relay");
      assert.equal(res.text, "");
    }
  });
});

Deno.test("relay answers 404 invalid write endpoint for every other path", async () => {
  await withRelay([], async (relay) => {
    const cases: [string, string][] = [
      ["POST", "/ping"],
      ["GET", "/ping/"],
      ["POST", "/write/"],
      ["GET", "/query/"],
      ["POST", "/api/v2/query"],
      ["POST", "/api/v3/write"],
      ["GET", "/"],
    ];
    for (const [method, path] of cases) {
      const res = await send(`${relay.url}${path}`, { method });
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.equal(res.text, '{"error":"invalid write endpoint"}\n');
      assert.equal(res.headers.get("content-type"), "application/json");
      assert.equal(res.headers.get("content-length"), "35");
    }
  });
});

Deno.test("relay answers /query 404 invalid write endpoint with query = false", async () => {
  await withRelay([{}], async (relay, [fake]) => {
    for (const method of ["GET", "POST"]) {
      const res = await send(`${relay.url}/query?q=SHOW+DATABASES`, {
        method,
      });
      assert.equal(res.status, 404, method);
      assert.equal(res.text, '{"error":"invalid write endpoint"}\n');
    }
    assert.equal(fake!.requests.length, 0);
  }, "query = false");
});

Deno.test("relay answers OPTIONS /write 204 and other methods 405", async () => {
  await withRelay([], async (relay) => {
    const options = await send(`${relay.url}/write`, { method: "OPTIONS" });
    assert.equal(options.status, 204);
    assert.equal(options.headers.get("allow"), "POST");
    for (const method of ["GET", "PUT", "DELETE"]) {
      const res = await send(`${relay.url}/write?db=x`, { method });
      assert.equal(res.status, 405, method);
      assert.equal(res.headers.get("allow"), "POST");
      assert.equal(res.text, '{"error":"invalid write method"}\n');
      assert.equal(res.headers.get("content-length"), "33");
    }
    const head = await send(`${relay.url}/write`, { method: "HEAD" });
    assert.equal(head.status, 405);
    assert.equal(head.text, "");
  });
});

Deno.test("relay answers 400 missing parameter: db and sends nothing", async () => {
  await withRelay([{}], async (relay, [backend]) => {
    for (const query of ["", "?db=", "?rp=x", "?db=x;rp=y"]) {
      const res = await send(`${relay.url}/write${query}`, {
        method: "POST",
        body: LINES,
      });
      assert.equal(res.status, 400, query);
      assert.equal(res.text, '{"error":"missing parameter: db"}\n');
    }
    assert.equal(backend!.requests.length, 0);
  });
});

Deno.test("relay rejects a bad line with 400 naming the line and sends nothing", async () => {
  await withRelay([{}, {}], async (relay, fakes) => {
    const res = await send(`${relay.url}/write?db=x`, {
      method: "POST",
      body: "cpu value=1\ncpu value=\n",
    });
    assert.equal(res.status, 400);
    assert.match(
      res.text,
      /^\{"error":"unable to parse points: line 2: .+"\}\n$/,
    );
    assert.equal(res.headers.get("content-type"), "application/json");
    for (const fake of fakes) assert.equal(fake.requests.length, 0);
  });
});

Deno.test("relay forwards the write to every backend with normalised query and Authorization only", async () => {
  await withRelay([{}, {}], async (relay, fakes) => {
    const res = await send(
      `${relay.url}/write?db=my%20db&u=a@b&p=p%26w&consistency=all&flag&db=second`,
      {
        method: "POST",
        body: LINES,
        headers: {
          Authorization: "Token secret",
          "X-Request-Id": "abc",
          "User-Agent": "test-client",
          "Content-Type": "application/x-custom",
        },
      },
    );
    assert.equal(res.status, 204);
    assert.equal(res.text, "");
    for (const fake of fakes) {
      await fake.waitForRequests(1);
      const [req] = fake.requests;
      assert.equal(req!.method, "POST");
      assert.equal(req!.path, "/write");
      assert.equal(
        req!.query,
        "consistency=all&db=my+db&db=second&flag=&p=p%26w&u=a%40b",
      );
      assert.equal(req!.headers.get("authorization"), "Token secret");
      assert.equal(req!.headers.get("x-request-id"), null);
      assert.notEqual(req!.headers.get("user-agent"), "test-client");
      assert.equal(req!.headers.get("content-type"), "text/plain");
      assert.equal(req!.headers.get("content-encoding"), null);
      assert.equal(req!.text, LINES);
    }
  });
});

Deno.test("relay replaces the location's query and applies default-retention-policy", async () => {
  await using fake = await startFakeBackend();
  await using relay = await startRelay(
    relayToml(
      [output("b", `${fake.writeUrl}?db=ignored&rp=ignored`)],
      'default-retention-policy = "autogen"',
    ),
  );
  for (const query of ["db=x", "db=x&rp=", "db=x&rp=week"]) {
    const res = await send(`${relay.url}/write?${query}`, {
      method: "POST",
      body: LINES,
    });
    assert.equal(res.status, 204);
  }
  await fake.waitForRequests(3);
  assert.deepEqual(fake.requests.map((r) => r.query), [
    "db=x&rp=autogen",
    "db=x&rp=autogen",
    "db=x&rp=week",
  ]);
});

Deno.test("relay fills missing timestamps with one value on every backend", async () => {
  await withRelay([{}, {}], async (relay, fakes) => {
    const before = BigInt(Date.now()) / 1000n;
    const res = await send(`${relay.url}/write?db=x&precision=s`, {
      method: "POST",
      body:
        "  # comment\n\ncpu,z=1,a=2 value=1\nmem free=3i 1500000000\n\tdisk used=4",
    });
    assert.equal(res.status, 204);
    const after = BigInt(Date.now()) / 1000n;
    for (const fake of fakes) await fake.waitForRequests(1);
    const [a, b] = fakes.map((f) => f.requests[0]!.text);
    assert.equal(a, b);
    const lines = a!.split("\n");
    assert.equal(lines.length, 4);
    assert.equal(lines[3], "");
    const ts = BigInt(lines[0]!.split(" ").at(-1)!);
    assert.ok(ts >= before && ts <= after, `timestamp ${ts} not now`);
    assert.equal(lines[0], `cpu,z=1,a=2 value=1 ${ts}`);
    assert.equal(lines[1], "mem free=3i 1500000000");
    assert.equal(lines[2], `disk used=4 ${ts}`);
  });
});

Deno.test("relay decodes gzip bodies and forwards them uncompressed", async () => {
  await withRelay([{}], async (relay, [fake]) => {
    const res = await send(`${relay.url}/write?db=x`, {
      method: "POST",
      body: new Uint8Array(gzipSync(new TextEncoder().encode(LINES))),
      headers: { "Content-Encoding": "gzip" },
    });
    assert.equal(res.status, 204);
    await fake!.waitForRequests(1);
    assert.equal(fake!.requests[0]!.text, LINES);
    assert.equal(fake!.requests[0]!.headers.get("content-encoding"), null);
  });
});

Deno.test("relay answers 400 unable to decode gzip body for a body that is not gzip (D2)", async () => {
  await withRelay([{}], async (relay, [fake]) => {
    for (const body of [LINES, ""]) {
      const res = await send(`${relay.url}/write?db=x`, {
        method: "POST",
        body,
        headers: { "Content-Encoding": "gzip" },
      });
      assert.equal(res.status, 400);
      assert.equal(res.text, '{"error":"unable to decode gzip body"}\n');
    }
    assert.equal(fake!.requests.length, 0);
  });
});

Deno.test("relay answers 500 problem reading request body for truncated gzip", async () => {
  await withRelay([{}], async (relay, [fake]) => {
    const gz = new Uint8Array(
      gzipSync(new TextEncoder().encode(LINES.repeat(100))),
    );
    const res = await send(`${relay.url}/write?db=x`, {
      method: "POST",
      body: gz.subarray(0, gz.length - 20),
      headers: { "Content-Encoding": "gzip" },
    });
    assert.equal(res.status, 500);
    assert.equal(res.text, '{"error":"problem reading request body"}\n');
    assert.equal(fake!.requests.length, 0);
  });
});

Deno.test("relay treats Content-Encoding other than exactly gzip as plain text", async () => {
  await withRelay([{}], async (relay, [fake]) => {
    const res = await send(`${relay.url}/write?db=x`, {
      method: "POST",
      body: LINES,
      headers: { "Content-Encoding": "identity" },
    });
    assert.equal(res.status, 204);
    await fake!.waitForRequests(1);
  });
});

Deno.test("relay forwards an empty body to every backend and passes their verdict", async () => {
  await withRelay([{}, {}], async (relay, fakes) => {
    const res = await send(`${relay.url}/write?db=x`, { method: "POST" });
    assert.equal(res.status, 204);
    for (const fake of fakes) {
      await fake.waitForRequests(1);
      assert.equal(fake.requests[0]!.body.length, 0);
    }
  });
});

Deno.test("relay answers 204 on the first 2xx without waiting for a hanging backend", async () => {
  await withRelay([{ respond: () => ({ status: 200 }) }, {
    respond: () => ({ hang: true }),
  }], async (relay, fakes) => {
    const res = await send(`${relay.url}/write?db=x`, {
      method: "POST",
      body: LINES,
    });
    assert.equal(res.status, 204);
    // The hanging backend still holds the request: the answer did not wait.
    await fakes[1]!.waitForRequests(1);
    assert.equal(relay.service.listeners.length, 1);
  });
});

Deno.test("relay passes through the first 4xx with its body and Content-Type (D3)", async () => {
  const body = '{"error":"database not found: \\"x\\""}';
  await withRelay([
    { respond: () => ({ status: 200, delayMs: 300 }) },
    {
      respond: () => ({
        status: 404,
        body,
        headers: { "Content-Type": "application/json" },
      }),
    },
  ], async (relay) => {
    const res = await send(`${relay.url}/write?db=x`, {
      method: "POST",
      body: LINES,
    });
    assert.equal(res.status, 404);
    assert.equal(res.text, body);
    assert.equal(res.headers.get("content-type"), "application/json");
  });
});

Deno.test("relay answers 204 when a 2xx arrives before a 4xx", async () => {
  await withRelay([
    { respond: () => ({ status: 204 }) },
    { respond: () => ({ status: 400, body: "bad", delayMs: 300 }) },
  ], async (relay) => {
    const res = await send(`${relay.url}/write?db=x`, {
      method: "POST",
      body: LINES,
    });
    assert.equal(res.status, 204);
  });
});

Deno.test("relay passes through the last 5xx when no backend succeeds", async () => {
  await withRelay([
    { respond: () => ({ status: 500, body: "fast" }) },
    { respond: () => ({ status: 503, body: "slow", delayMs: 300 }) },
  ], async (relay) => {
    const res = await send(`${relay.url}/write?db=x`, {
      method: "POST",
      body: LINES,
    });
    assert.equal(res.status, 503);
    assert.equal(res.text, "slow");
    assert.ok(
      relay.messages().some((m) =>
        m === '5xx response for relay "test-http" backend "b0": 500: fast'
      ),
      relay.messages().join("\n"),
    );
  });
});

Deno.test("relay answers 503 unable to write points when no backend answers", async () => {
  await using slow = await startFakeBackend({
    respond: () => ({ hang: true }),
  });
  const refused = `http://127.0.0.1:${reservedPortThatRefuses()}/write`;
  await using relay = await startRelay(relayToml([
    output("dead", refused),
    output("slow", slow.writeUrl, "300ms"),
  ]));
  const res = await send(`${relay.url}/write?db=x`, {
    method: "POST",
    body: LINES,
  });
  assert.equal(res.status, 503);
  assert.equal(res.text, '{"error":"unable to write points"}\n');
  assert.equal(res.headers.get("content-length"), "35");
  const messages = relay.messages();
  for (const backend of ["dead", "slow"]) {
    assert.ok(
      messages.some((m) =>
        m.startsWith(
          `Problem posting to relay "test-http" backend "${backend}": POST "http://127.0.0.1:`,
        )
      ),
      `no failure logged for ${backend}:\n${messages.join("\n")}`,
    );
  }
});

Deno.test("relay answers 503 when it has no outputs", async () => {
  await using relay = await startRelay(relayToml([]));
  const res = await send(`${relay.url}/write?db=x`, {
    method: "POST",
    body: LINES,
  });
  assert.equal(res.status, 503);
  assert.equal(res.text, '{"error":"unable to write points"}\n');
});

Deno.test("relay answers 204 when one backend is down and another accepts", async () => {
  await using fake = await startFakeBackend();
  const refused = `http://127.0.0.1:${reservedPortThatRefuses()}/write`;
  await using relay = await startRelay(relayToml([
    output("dead", refused),
    output("live", fake.writeUrl),
  ]));
  const res = await send(`${relay.url}/write?db=x`, {
    method: "POST",
    body: LINES,
  });
  assert.equal(res.status, 204);
  assert.equal(fake.requests[0]!.text, LINES);
});

Deno.test("relay reuses backend connections across writes", async () => {
  await withRelay([{}], async (relay, [fake]) => {
    for (let i = 0; i < 30; i++) {
      const res = await send(`${relay.url}/write?db=x`, {
        method: "POST",
        body: `cpu value=${i} ${i}\n`,
      });
      assert.equal(res.status, 204);
    }
    await fake!.waitForRequests(30);
    assert.ok(
      fake!.connections <= 2,
      `30 sequential writes used ${fake!.connections} connections`,
    );
  });
});

Deno.test("relay forwards a large body intact", async () => {
  await withRelay([{}, {}], async (relay, fakes) => {
    const line =
      "cpu,host=server01,region=us-west value=0.64,n=3i 1434055562000000000\n";
    const body = line.repeat(80_000); // ~5.6 MB
    const res = await send(`${relay.url}/write?db=x`, { method: "POST", body });
    assert.equal(res.status, 204);
    for (const fake of fakes) {
      await fake.waitForRequests(1);
      assert.equal(fake.requests[0]!.body.length, body.length);
      assert.equal(fake.requests[0]!.text, body);
    }
  });
});

Deno.test("relay sends credentials in the location as Basic auth unless the client sent its own", async () => {
  await using fake = await startFakeBackend();
  const location = fake.writeUrl.replace("http://", "http://user:p%40ss@");
  await using relay = await startRelay(relayToml([output("b", location)]));
  for (const headers of [{}, { Authorization: "Token client" }]) {
    const res = await send(`${relay.url}/write?db=x`, {
      method: "POST",
      body: LINES,
      headers,
    });
    assert.equal(res.status, 204);
  }
  await fake.waitForRequests(2);
  assert.deepEqual(fake.requests.map((r) => r.headers.get("authorization")), [
    `Basic ${btoa("user:p@ss")}`,
    "Token client",
  ]);
});
