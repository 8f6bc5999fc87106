/**
 * Retry buffers end to end with recording backends: writes to a failing
 * backend are queued and delivered in order once it recovers (D10), a
 * poison batch does not block the queue (D9), and the acknowledgement rule
 * decides what the client is told (D11).
 */
import assert from "node:assert/strict";
import { type FakeBackend, startFakeBackend } from "./_fake_backend.ts";
import { startRelay } from "./_relay.ts";
import { waitFor } from "./_wait.ts";

/** A backend that fails (503) while `down` is true and records what it stored. */
async function flakyBackend(): Promise<
  { fake: FakeBackend; stored: string[]; down: { value: boolean } }
> {
  const stored: string[] = [];
  const down = { value: false };
  const fake = await startFakeBackend({
    respond(request) {
      if (down.value) return { status: 503, body: "down" };
      if (request.query.includes("db=poison")) {
        return { status: 400, body: '{"error":"partial write"}' };
      }
      stored.push(...request.text.split("\n").filter((l) => l !== ""));
      return { status: 204 };
    },
  });
  return { fake, stored, down };
}

function toml(
  a: string,
  b: string,
  options: { ack?: string; ackTimeout?: string; spool?: string } = {},
): string {
  const buffer = 'buffer-size-mb = 1, max-delay-interval = "50ms"';
  const spool = options.spool === undefined
    ? ""
    : `, buffer-path = "${options.spool}"`;
  return `
[[http]]
name = "buffered"
bind-addr = "127.0.0.1:0"
${options.ack === undefined ? "" : `ack = "${options.ack}"`}
${
    options.ackTimeout === undefined
      ? ""
      : `ack-timeout = "${options.ackTimeout}"`
  }
output = [
  { name = "a", location = "${a}", ${buffer} },
  { name = "b", location = "${b}", ${buffer}${spool} },
]
`;
}

async function post(url: string, body: string, db = "x"): Promise<Response> {
  return await fetch(`${url}/write?db=${db}`, { method: "POST", body });
}

Deno.test("retry buffer delivers a failing backend's writes in order once it recovers", async () => {
  await using a = await startFakeBackend();
  const b = await flakyBackend();
  try {
    await using relay = await startRelay(toml(a.writeUrl, b.fake.writeUrl));
    b.down.value = true;
    const sent: string[] = [];
    for (let i = 0; i < 50; i++) {
      const line = `cpu value=${i} ${i}`;
      sent.push(line);
      const res = await post(relay.url, line);
      assert.equal(res.status, 204);
      await res.body?.cancel();
    }
    assert.deepEqual(b.stored, []);
    b.down.value = false;
    // A write after recovery queues behind the older ones (D10).
    const late = await post(relay.url, "cpu value=50 50");
    assert.equal(late.status, 204);
    await late.body?.cancel();
    sent.push("cpu value=50 50");
    await waitFor(() => b.stored.length === 51, {
      timeoutMs: 10_000,
      message: () => `b stored ${b.stored.length} of 51`,
    });
    assert.deepEqual(b.stored, sent);
    const messages = relay.messages();
    assert.ok(
      messages.some((m) =>
        m.startsWith('Backend "b" of relay "buffered" is failing, buffering')
      ),
      messages.join("\n"),
    );
    await waitFor(
      () =>
        relay.messages().some((m) =>
          m.startsWith('Backend "b" of relay "buffered" caught up after')
        ),
      { timeoutMs: 5000, message: "no caught-up log line" },
    );
  } finally {
    await b.fake.close();
  }
});

Deno.test("retry buffer drops a poison batch with a log line and keeps delivering (D9)", async () => {
  await using a = await startFakeBackend();
  const b = await flakyBackend();
  try {
    await using relay = await startRelay(toml(a.writeUrl, b.fake.writeUrl));
    b.down.value = true;
    for (
      const [db, line] of [["x", "m v=1 1"], ["poison", "m v=2 2"], [
        "x",
        "m v=3 3",
      ]]
    ) {
      const res = await post(relay.url, line!, db);
      assert.equal(res.status, 204);
      await res.body?.cancel();
    }
    b.down.value = false;
    await waitFor(() => b.stored.length === 2, { timeoutMs: 10_000 });
    assert.deepEqual(b.stored, ["m v=1 1", "m v=3 3"]);
    await waitFor(
      () =>
        relay.messages().some((m) =>
          m.startsWith(
            'Dropped 1 writes (1 points) for relay "buffered" backend "b": the backend rejected them: HTTP 400',
          )
        ),
      { timeoutMs: 5000, message: () => relay.messages().join("\n") },
    );
  } finally {
    await b.fake.close();
  }
});

Deno.test("ack = all answers 503 when a memory-buffered backend does not deliver in time (D11)", async () => {
  await using a = await startFakeBackend();
  const b = await flakyBackend();
  try {
    await using relay = await startRelay(
      toml(a.writeUrl, b.fake.writeUrl, { ack: "all", ackTimeout: "300ms" }),
    );
    b.down.value = true;
    const res = await post(relay.url, "m v=1 1");
    assert.equal(res.status, 503);
    assert.equal(
      await res.text(),
      '{"error":"unable to write points: stored on 1 of 2 backends, ack = \\"all\\" needs 2"}\n',
    );
    // The write stays queued and arrives once b recovers.
    b.down.value = false;
    await waitFor(() => b.stored.length === 1, { timeoutMs: 10_000 });
    // With b up, a write is acknowledged by both.
    const ok = await post(relay.url, "m v=2 2");
    assert.equal(ok.status, 204);
    await ok.body?.cancel();
  } finally {
    await b.fake.close();
  }
});

Deno.test("ack = all counts a write in a disk spool as stored (D11)", async () => {
  const dir = await Deno.makeTempDir();
  await using a = await startFakeBackend();
  const b = await flakyBackend();
  try {
    await using relay = await startRelay(
      toml(a.writeUrl, b.fake.writeUrl, { ack: "all", spool: `${dir}/b` }),
    );
    b.down.value = true;
    const res = await post(relay.url, "m v=1 1");
    assert.equal(res.status, 204);
    await res.body?.cancel();
    b.down.value = false;
    await waitFor(() => b.stored.length === 1, { timeoutMs: 10_000 });
  } finally {
    await b.fake.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("first-ack relay waits for a memory-buffered delivery when no backend stored the write", async () => {
  const a = await flakyBackend();
  const b = await flakyBackend();
  try {
    await using relay = await startRelay(
      toml(a.fake.writeUrl, b.fake.writeUrl, { ackTimeout: "300ms" }),
    );
    a.down.value = true;
    b.down.value = true;
    const res = await post(relay.url, "m v=1 1");
    assert.equal(res.status, 503);
    assert.match(
      await res.text(),
      /^\{"error":"unable to write points: queued for retry on 2 of 2 backends, not delivered within 300ms"\}\n$/,
    );
    a.down.value = false;
    b.down.value = false;
    await waitFor(() => a.stored.length === 1 && b.stored.length === 1, {
      timeoutMs: 10_000,
    });
  } finally {
    await a.fake.close();
    await b.fake.close();
  }
});

Deno.test("retry buffer loses no acknowledged write under concurrent writers while a backend flaps", async () => {
  await using a = await startFakeBackend();
  const b = await flakyBackend();
  try {
    await using relay = await startRelay(toml(a.writeUrl, b.fake.writeUrl));
    const acked: string[] = [];
    let flips = 0;
    const flapper = (async () => {
      while (flips < 20) {
        b.down.value = !b.down.value;
        flips++;
        await new Promise((r) => setTimeout(r, 15));
      }
      b.down.value = false;
    })();
    await Promise.all(Array.from({ length: 8 }, async (_, writer) => {
      for (let i = 0; i < 40; i++) {
        const line = `m,writer=${writer} v=${i} ${i}`;
        const res = await post(relay.url, line);
        await res.body?.cancel();
        if (res.status === 204) acked.push(line);
      }
    }));
    await flapper;
    assert.equal(acked.length, 320);
    await waitFor(() => b.stored.length >= acked.length, {
      timeoutMs: 15_000,
      message: () => `b stored ${b.stored.length} of ${acked.length}`,
    });
    assert.deepEqual([...b.stored].sort(), [...acked].sort());
    // Per writer, values arrive in the order they were written.
    for (let writer = 0; writer < 8; writer++) {
      const values = b.stored.filter((l) => l.startsWith(`m,writer=${writer} `))
        .map((l) => Number(l.split(" ")[2]));
      assert.deepEqual(values, [...values].sort((x, y) => x - y));
    }
  } finally {
    await b.fake.close();
  }
});
