import assert from "node:assert/strict";
import type { WriteBatch } from "./batch.ts";
import { HttpBackend } from "./http_backend.ts";
import { startFakeBackend } from "../tests/_fake_backend.ts";

function batch(overrides: Partial<WriteBatch> = {}): WriteBatch {
  return {
    query: "db=mydb&p=client-pw&precision=s&u=client",
    auth: null,
    body: new TextEncoder().encode("cpu value=1 1\n"),
    points: 1,
    ...overrides,
  };
}

Deno.test("HttpBackend.write() forwards the client's credentials when the output has none", async () => {
  await using fake = await startFakeBackend();
  const backend = new HttpBackend({ name: "b", location: fake.writeUrl });
  await backend.write(batch({ auth: "Token client" }));
  await backend.close();
  assert.equal(fake.requests[0]?.query, batch().query);
  assert.equal(fake.requests[0]?.headers.get("authorization"), "Token client");
});

Deno.test("HttpBackend.write() replaces the client's credentials with the output's username and password", async () => {
  await using fake = await startFakeBackend();
  const backend = new HttpBackend({
    name: "b",
    location: fake.writeUrl,
    username: "relay",
    password: "pw",
  });
  await backend.write(batch({ auth: "Token client" }));
  await backend.close();
  assert.equal(fake.requests[0]?.query, "db=mydb&precision=s");
  assert.equal(
    fake.requests[0]?.headers.get("authorization"),
    `Basic ${btoa("relay:pw")}`,
  );
});

Deno.test("HttpBackend.write() posts to a v3 backend with its database, precision name and token", async () => {
  await using fake = await startFakeBackend();
  const backend = new HttpBackend({
    name: "b",
    location: `${fake.url}/api/v3/write_lp`,
    api: "v3",
    db: "sensors",
    token: "apiv3_x",
  });
  await backend.write(batch({ destination: "v2?bucket=other&org=o" }));
  await backend.close();
  const [request] = fake.requests;
  assert.equal(request?.path, "/api/v3/write_lp");
  assert.equal(request?.query, "db=sensors&precision=second");
  assert.equal(request?.headers.get("authorization"), "Token apiv3_x");
  assert.equal(request?.text, "cpu value=1 1\n");
});

Deno.test("HttpBackend() rejects options that do not fit without showing secrets", () => {
  const cases = [
    { api: "v2" as const, username: "u", password: "SECRET" },
    { token: "SECRET", username: "u", password: "p" },
    { db: "d" },
  ];
  for (const options of cases) {
    assert.throws(
      () =>
        new HttpBackend({
          name: "b",
          location: "http://127.0.0.1:1/write",
          ...options,
        }),
      (error: unknown) => {
        assert.ok(error instanceof TypeError);
        assert.match(error.message, /^Cannot send to backend "b": /);
        assert.doesNotMatch(error.message, /SECRET/);
        return true;
      },
    );
  }
});
