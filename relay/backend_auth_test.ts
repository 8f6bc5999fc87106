import assert from "node:assert/strict";
import {
  basicAuth,
  displayLocation,
  locationAuth,
  outputAuth,
  readCaCert,
  redactPasswords,
} from "./backend_auth.ts";

Deno.test("basicAuth() encodes UTF-8 credentials", () => {
  assert.equal(basicAuth("us@er", "p:ss"), `Basic ${btoa("us@er:p:ss")}`);
  assert.equal(basicAuth("é", "x"), "Basic w6k6eA==");
});

Deno.test("locationAuth() reads decoded credentials from a URL or none", () => {
  assert.equal(
    locationAuth(new URL("http://us%40er:p%3Ass@h:1/write")),
    basicAuth("us@er", "p:ss"),
  );
  assert.equal(locationAuth(new URL("http://h:1/write")), null);
});

Deno.test("outputAuth() sends a token or Basic credentials, or nothing", () => {
  assert.equal(outputAuth("v1", { token: "me:pw" }), "Token me:pw");
  assert.equal(outputAuth("v3", { token: "apiv3_x" }), "Token apiv3_x");
  assert.equal(
    outputAuth("v1", { username: "me", password: "pw" }),
    basicAuth("me", "pw"),
  );
  assert.equal(outputAuth("v2", {}), null);
});

Deno.test("outputAuth() rejects mixed or incomplete credentials without naming the secrets", () => {
  const cases = [
    () => outputAuth("v1", { token: "SECRET", username: "me", password: "x" }),
    () => outputAuth("v1", { username: "me" }),
    () => outputAuth("v1", { password: "SECRET" }),
    () => outputAuth("v2", { username: "me", password: "SECRET" }),
  ];
  for (const call of cases) {
    assert.throws(call, (error: unknown) => {
      assert.ok(error instanceof TypeError);
      assert.doesNotMatch(error.message, /SECRET/);
      return true;
    });
  }
});

Deno.test("readCaCert() reads a PEM file for an https location", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const https = new URL("https://127.0.0.1:1/write");
    assert.equal(readCaCert("b", https, null), null);
    const good = `${dir}/ca.pem`;
    const pem =
      "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n";
    await Deno.writeTextFile(good, pem);
    assert.equal(readCaCert("b", https, good), pem);
    assert.throws(
      () => readCaCert("b", new URL("http://127.0.0.1:1/write"), good),
      /output "b": ca-cert ".*" needs an https location/,
    );
    assert.throws(
      () => readCaCert("b", https, `${dir}/missing.pem`),
      /output "b": cannot read ca-cert ".*missing\.pem": /,
    );
    const empty = `${dir}/empty.pem`;
    await Deno.writeTextFile(empty, "not a certificate\n");
    assert.throws(
      () => readCaCert("b", https, empty),
      /output "b": ca-cert ".*empty\.pem" holds no PEM certificate/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("displayLocation() drops credentials and the query string", () => {
  assert.equal(
    displayLocation("https://u:pw@influx.example:8086/prefix/write?p=pw"),
    "https://influx.example:8086/prefix/write",
  );
  assert.equal(
    displayLocation("http://[::1]:8086/write"),
    "http://[::1]:8086/write",
  );
});

Deno.test("redactPasswords() hides every p= value and keeps the rest", () => {
  assert.equal(
    redactPasswords('POST "http://h/write?p=a%20b&db=x": 1; GET /x?y=1&p=z'),
    'POST "http://h/write?p=[redacted]&db=x": 1; GET /x?y=1&p=[redacted]',
  );
  assert.equal(redactPasswords("no query here"), "no query here");
});
