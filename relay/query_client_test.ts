import assert from "node:assert/strict";
import { QueryClient } from "./query_client.ts";
import type { BackendQuery } from "./query_target.ts";
import {
  reservedPortThatRefuses,
  startFakeBackend,
} from "../tests/_fake_backend.ts";

function query(overrides: Partial<BackendQuery> = {}): BackendQuery {
  return {
    method: "GET",
    params: [["db", "x"], ["q", "SHOW MEASUREMENTS"], ["u", "me"], [
      "p",
      "secret",
    ]],
    authorization: null,
    acceptEncoding: null,
    ...overrides,
  };
}

const RESULTS = '{"results":[{"statement_id":0}]}\n';

Deno.test("QueryClient.send() sends a GET's parameters in the URL with the client's credentials", async () => {
  await using fake = await startFakeBackend({
    respond: () => ({
      status: 200,
      body: RESULTS,
      headers: {
        "content-type": "application/json",
        "x-influxdb-version": "1.6.7",
        "x-secret-internal": "no",
      },
    }),
  });
  const client = new QueryClient({ name: "a", location: `${fake.url}/query` });
  try {
    const response = await client.send(
      query({ authorization: "Basic abc", acceptEncoding: "gzip" }),
      new AbortController().signal,
    );
    assert.equal(response.status, 200);
    assert.equal(await response.text(), RESULTS);
    assert.equal(response.headers.get("x-influxdb-version"), "1.6.7");
    assert.equal(response.headers.get("content-type"), "application/json");
    assert.equal(response.headers.get("x-secret-internal"), null);
  } finally {
    client.close();
  }
  const [request] = fake.requests;
  assert.equal(request?.method, "GET");
  assert.equal(request?.path, "/query");
  assert.equal(request?.query, "db=x&q=SHOW+MEASUREMENTS&u=me&p=secret");
  assert.equal(request?.headers.get("authorization"), "Basic abc");
  assert.equal(request?.headers.get("accept-encoding"), "gzip");
});

Deno.test("QueryClient.send() posts a form body and replaces the client's credentials with the output's", async () => {
  await using fake = await startFakeBackend({
    respond: () => ({ status: 200, body: RESULTS }),
  });
  const client = new QueryClient({
    name: "a",
    location: `${fake.url}/query?ignored=1`,
    username: "relay",
    password: "pw",
  });
  try {
    const response = await client.send(
      query({ method: "POST", authorization: "Token client" }),
      new AbortController().signal,
    );
    await response.body?.cancel();
  } finally {
    client.close();
  }
  const [request] = fake.requests;
  assert.equal(request?.method, "POST");
  assert.equal(request?.query, "");
  assert.equal(
    request?.headers.get("content-type"),
    "application/x-www-form-urlencoded",
  );
  assert.equal(request?.text, "db=x&q=SHOW+MEASUREMENTS");
  assert.equal(
    request?.headers.get("authorization"),
    `Basic ${btoa("relay:pw")}`,
  );
});

Deno.test("QueryClient.send() streams the body as the backend sends it", async () => {
  const second = Promise.withResolvers<void>();
  const encoder = new TextEncoder();
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () =>
      new Response(
        new ReadableStream({
          async start(controller) {
            controller.enqueue(encoder.encode('{"results":[1]}\n'));
            await second.promise;
            controller.enqueue(encoder.encode('{"results":[2]}\n'));
            controller.close();
          },
        }),
        { headers: { "content-type": "application/json" } },
      ),
  );
  const client = new QueryClient({
    name: "a",
    location: `http://127.0.0.1:${server.addr.port}/query`,
  });
  try {
    const response = await client.send(
      query(),
      new AbortController().signal,
    );
    const reader = response.body!.pipeThrough(new TextDecoderStream())
      .getReader();
    const first = await reader.read();
    assert.equal(first.value, '{"results":[1]}\n');
    second.resolve();
    let rest = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += value;
    }
    assert.equal(rest, '{"results":[2]}\n');
  } finally {
    second.resolve();
    client.close();
  }
});

Deno.test("QueryClient.send() rejects naming the URL when the backend cannot be reached", async () => {
  const port = reservedPortThatRefuses();
  const client = new QueryClient({
    name: "a",
    location: `http://127.0.0.1:${port}/query`,
  });
  try {
    await assert.rejects(
      client.send(query(), new AbortController().signal),
      (error: unknown) => {
        assert.match(
          (error as Error).message,
          new RegExp(`^GET "http://127.0.0.1:${port}/query": `),
        );
        return true;
      },
    );
  } finally {
    client.close();
  }
});

Deno.test("QueryClient.send() rejects with the signal's reason when aborted before an answer", async () => {
  await using fake = await startFakeBackend({
    respond: () => ({ hang: true }),
  });
  const client = new QueryClient({ name: "a", location: `${fake.url}/query` });
  const controller = new AbortController();
  try {
    const sent = client.send(query(), controller.signal);
    await fake.waitForRequests(1);
    controller.abort(new Error("no answer within 5ms"));
    await assert.rejects(sent, /no answer within 5ms/);
  } finally {
    client.close();
  }
});
