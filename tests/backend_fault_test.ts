/**
 * Backend faults: a backend that resets the connection in the middle of its
 * answer, one that answers garbage, a storm of 5xx behind a retry buffer,
 * and a backend that is refused then comes back. The client always gets an
 * answer, nothing the client was told is stored gets lost, and the relay
 * keeps serving.
 */
import assert from "node:assert/strict";
import { reservedPortThatRefuses, startFakeBackend } from "./_fake_backend.ts";
import { startRelay } from "./_relay.ts";
import { waitFor } from "./_wait.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A TCP server that reads each request's head and body, then writes
 * `reply(n)` (the n-th write, from 0) and closes the connection at once.
 */
function rawBackend(reply: (n: number) => string) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let served = 0;
  const connections = new Set<Deno.Conn>();
  const loop = (async () => {
    for await (const conn of listener) {
      connections.add(conn);
      (async () => {
        const buffer = new Uint8Array(64 * 1024);
        let text = "";
        try {
          while (true) {
            const n = await conn.read(buffer);
            if (n === null) break;
            text += decoder.decode(buffer.subarray(0, n));
            const end = text.indexOf("\r\n\r\n");
            if (end < 0) continue;
            const length = Number(
              /content-length: (\d+)/i.exec(text.slice(0, end))?.[1] ?? 0,
            );
            if (text.length - end - 4 < length) continue;
            // Health probes (GET /ping) get a plain 204.
            const probe = text.startsWith("GET ");
            await conn.write(
              encoder.encode(
                probe ? "HTTP/1.1 204 No Content\r\n\r\n" : reply(served++),
              ),
            );
            break;
          }
        } catch {
          // the relay went away
        } finally {
          connections.delete(conn);
          try {
            conn.close();
          } catch {
            // closed
          }
        }
      })();
    }
  })();
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/write`,
    get served() {
      return served;
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of connections) {
        try {
          conn.close();
        } catch {
          // closed
        }
      }
      await loop;
    },
  };
}

function config(outputs: string, extra = ""): string {
  return `
[[http]]
name = "faults"
bind-addr = "127.0.0.1:0"
${extra}
output = [
${outputs}
]
`;
}

const LINE = "cpu,host=a value=1 1000\n";

Deno.test("relay answers 503 when a backend resets mid-response, and serves the next write", async () => {
  await using backend = rawBackend((n) =>
    n === 0
      ? "HTTP/1.1 20"
      : n === 1
      ? 'HTTP/1.1 400 Bad Request\r\nContent-Length: 100\r\n\r\n{"error":"par'
      : "HTTP/1.1 204 No Content\r\n\r\n"
  );
  await using relay = await startRelay(
    config(`{ name = "reset", location = "${backend.url}", timeout = "2s" }`),
  );
  const first = await fetch(`${relay.url}/write?db=x`, {
    method: "POST",
    body: LINE,
  });
  assert.equal(first.status, 503);
  assert.deepEqual(await first.json(), { error: "unable to write points" });
  assert.ok(
    relay.messages().some((m) =>
      m.startsWith('Problem posting to relay "faults" backend "reset"')
    ),
    relay.messages().join("\n"),
  );
  // Headers complete, body cut short: the answer cannot be read either.
  const second = await fetch(`${relay.url}/write?db=x`, {
    method: "POST",
    body: LINE,
  });
  assert.equal(second.status, 503);
  await second.body?.cancel();
  const third = await fetch(`${relay.url}/write?db=x`, {
    method: "POST",
    body: LINE,
  });
  assert.equal(third.status, 204);
  await third.body?.cancel();
  assert.equal(backend.served, 3);
});

Deno.test("relay answers 503 to a backend that answers garbage", async () => {
  await using backend = rawBackend(() => "SSH-2.0-OpenSSH_9.6\r\n\r\n");
  await using relay = await startRelay(
    config(`{ name = "junk", location = "${backend.url}", timeout = "2s" }`),
  );
  const response = await fetch(`${relay.url}/write?db=x`, {
    method: "POST",
    body: LINE,
  });
  assert.equal(response.status, 503);
  await response.body?.cancel();
});

Deno.test("relay delivers every acknowledged write through a 5xx storm behind a retry buffer", async () => {
  await using steady = await startFakeBackend();
  await using stormy = await startFakeBackend({
    respond: (_request, index) =>
      index < 40 ? { status: 503, body: '{"error":"overloaded"}' } : {},
  });
  await using relay = await startRelay(config(
    `{ name = "steady", location = "${steady.writeUrl}" },
  { name = "stormy", location = "${stormy.writeUrl}", buffer-size-mb = 8, max-delay-interval = "100ms" },`,
  ));
  const writes = 30;
  for (let i = 0; i < writes; i++) {
    const response = await fetch(`${relay.url}/write?db=x`, {
      method: "POST",
      body: `storm,n=${i} value=${i} ${1000 + i}\n`,
    });
    assert.equal(response.status, 204);
    await response.body?.cancel();
  }
  const delivered = () =>
    new Set(
      stormy.requests.slice(40).flatMap((r) =>
        r.text.split("\n").filter((line) => line !== "")
      ),
    );
  await waitFor(() => delivered().size === writes, {
    timeoutMs: 15_000,
    message: () => `${writes} writes delivered after the storm`,
  });
  assert.equal(steady.requests.length, writes);
});

Deno.test("relay buffers for a refused backend and delivers once it listens", async () => {
  const port = reservedPortThatRefuses();
  await using relay = await startRelay(config(
    `{ name = "later", location = "http://127.0.0.1:${port}/write", buffer-size-mb = 8, max-delay-interval = "200ms", timeout = "1s" },`,
    "ack-memory-buffer = true",
  ));
  for (let i = 0; i < 5; i++) {
    const response = await fetch(`${relay.url}/write?db=x`, {
      method: "POST",
      body: `later,n=${i} value=${i} ${1000 + i}\n`,
    });
    assert.equal(response.status, 204);
    await response.body?.cancel();
  }
  const received: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port, onListen() {} },
    async (request) => {
      received.push(await request.text());
      return new Response(null, { status: 204 });
    },
  );
  try {
    await waitFor(
      () => received.join("").split("\n").filter((l) => l !== "").length === 5,
      { timeoutMs: 10_000, message: "5 buffered writes delivered" },
    );
  } finally {
    await server.shutdown();
  }
});
