/**
 * HTTPS in and out: a listener serving from `ssl-combined-pem` (one PEM file
 * holding the certificate and the key), and an `https` output whose
 * self-signed certificate is accepted only with `skip-tls-verification`.
 */
import assert from "node:assert/strict";
import { reservedPortThatRefuses, startFakeBackend } from "./_fake_backend.ts";
import { startRelay } from "./_relay.ts";
import { parseConfig } from "../relay/mod.ts";
import { openssl, opensslMissing } from "./_openssl.ts";

/**
 * Makes a throwaway CA and a server certificate for 127.0.0.1 signed by it.
 * Returns the combined PEM (chain + key) and the CA certificate.
 */
async function testCertificates(
  dir: string,
): Promise<{ pem: string; ca: string }> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
  await openssl([
    "req",
    "-x509",
    ...ec,
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=test CA",
    "-keyout",
    `${dir}/ca.key`,
    "-out",
    `${dir}/ca.pem`,
  ]);
  await openssl([
    "req",
    ...ec,
    "-nodes",
    "-subj",
    "/CN=127.0.0.1",
    "-keyout",
    `${dir}/server.key`,
    "-out",
    `${dir}/server.csr`,
  ]);
  await Deno.writeTextFile(`${dir}/ext.cnf`, "subjectAltName=IP:127.0.0.1\n");
  await openssl([
    "x509",
    "-req",
    "-in",
    `${dir}/server.csr`,
    "-CA",
    `${dir}/ca.pem`,
    "-CAkey",
    `${dir}/ca.key`,
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    `${dir}/ext.cnf`,
    "-out",
    `${dir}/server.pem`,
  ]);
  const combined = `${dir}/combined.pem`;
  await Deno.writeTextFile(
    combined,
    (await Deno.readTextFile(`${dir}/server.pem`)) +
      (await Deno.readTextFile(`${dir}/server.key`)),
  );
  return { pem: combined, ca: await Deno.readTextFile(`${dir}/ca.pem`) };
}

Deno.test({
  name:
    "relay serves HTTPS from ssl-combined-pem and writes to an https output with skip-tls-verification",
  ignore: opensslMissing,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const { pem, ca } = await testCertificates(dir);
      await using sink = await startFakeBackend();
      // The TLS relay is itself the https backend of the second relay.
      await using tlsRelay = await startRelay(`
[[http]]
name = "tls"
bind-addr = "127.0.0.1:0"
ssl-combined-pem = "${pem}"
output = [{ name = "sink", location = "${sink.writeUrl}" }]
`);
      assert.match(tlsRelay.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const client = Deno.createHttpClient({ caCerts: [ca] });
      try {
        const direct = await fetch(`${tlsRelay.url}/write?db=x`, {
          method: "POST",
          body: "cpu value=1 1\n",
          client,
        });
        assert.equal(direct.status, 204);
        await direct.body?.cancel();
      } finally {
        client.close();
      }
      await sink.waitForRequests(1);
      assert.equal(sink.requests[0]!.text, "cpu value=1 1\n");

      await using front = await startRelay(
        `
[[http]]
name = "front"
bind-addr = "127.0.0.1:0"
output = [
  { name = "insecure", location = "${tlsRelay.url}/write", skip-tls-verification = true },
]
[[http]]
name = "strict"
bind-addr = "127.0.0.1:0"
output = [{ name = "verified", location = "${tlsRelay.url}/write" }]
`,
        { logging: false },
      );
      const [insecure, strict] = front.service.listeners;
      const accepted = await fetch(`${insecure!.url}/write?db=x`, {
        method: "POST",
        body: "cpu value=2 2\n",
      });
      assert.equal(accepted.status, 204);
      await accepted.body?.cancel();
      await sink.waitForRequests(2);
      assert.equal(sink.requests[1]!.text, "cpu value=2 2\n");

      const refused = await fetch(`${strict!.url}/write?db=x`, {
        method: "POST",
        body: "cpu value=3 3\n",
      });
      assert.equal(refused.status, 503);
      assert.equal(
        await refused.text(),
        '{"error":"unable to write points"}\n',
      );
      assert.equal(sink.requests.length, 2);
      // Logs of every relay in this process go to the first relay's sink.
      const messages = tlsRelay.messages();
      assert.ok(
        messages.some((m) => m.startsWith('Starting HTTPS relay "tls" on ')),
        messages.join("\n"),
      );
      assert.ok(
        messages.some((m) =>
          m.startsWith(
            'Problem posting to relay "strict" backend "verified": POST "https://127.0.0.1:',
          )
        ),
        messages.join("\n"),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "relay verifies an https output against its ca-cert and refuses to start when it is unreadable",
  ignore: opensslMissing,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const { pem } = await testCertificates(dir);
      await using sink = await startFakeBackend();
      await using tlsRelay = await startRelay(`
[[http]]
name = "tls-backend"
bind-addr = "127.0.0.1:0"
ssl-combined-pem = "${pem}"
output = [{ name = "sink", location = "${sink.writeUrl}" }]
`);
      await using front = await startRelay(
        `
[[http]]
name = "trusting"
bind-addr = "127.0.0.1:0"
output = [
  { name = "with-ca", location = "${tlsRelay.url}/write", ca-cert = "${dir}/ca.pem" },
]
`,
        { logging: false },
      );
      const accepted = await fetch(`${front.url}/write?db=x`, {
        method: "POST",
        body: "cpu value=4 4\n",
      });
      assert.equal(accepted.status, 204);
      await accepted.body?.cancel();
      await sink.waitForRequests(1);
      assert.equal(sink.requests[0]!.text, "cpu value=4 4\n");

      await assert.rejects(
        startRelay(
          `
[[http]]
name = "broken"
bind-addr = "127.0.0.1:0"
output = [
  { name = "no-ca", location = "${tlsRelay.url}/write", ca-cert = "${dir}/missing.pem" },
]
`,
          { logging: false },
        ),
        (error: Error) => {
          assert.match(
            error.message,
            /^Cannot start HTTP relay "broken": output "no-ca": cannot read ca-cert ".*missing\.pem": /,
          );
          return true;
        },
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

async function opensslHandshake(
  port: number,
  version: string,
): Promise<boolean> {
  const result = await new Deno.Command("openssl", {
    args: ["s_client", "-connect", `127.0.0.1:${port}`, `-${version}`],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return /Cipher is (?!\(NONE\))/.test(new TextDecoder().decode(result.stdout));
}

async function writeWith(
  url: string,
  ca: string,
): Promise<number | string> {
  const client = Deno.createHttpClient({ caCerts: [ca] });
  try {
    const response = await fetch(`${url}/write?db=x`, {
      method: "POST",
      body: "cpu value=1 1\n",
      client,
    });
    await response.body?.cancel();
    return response.status;
  } catch (error) {
    return String(error);
  } finally {
    client.close();
  }
}

Deno.test({
  name:
    "relay serves HTTPS from tls-cert and tls-key, TLS 1.2+ only, and serves a renewed certificate after a reload",
  ignore: opensslMissing,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.mkdir(`${dir}/a`);
      await Deno.mkdir(`${dir}/b`);
      const a = await testCertificates(`${dir}/a`);
      const b = await testCertificates(`${dir}/b`);
      await Deno.copyFile(`${dir}/a/server.pem`, `${dir}/cert.pem`);
      await Deno.copyFile(`${dir}/a/server.key`, `${dir}/key.pem`);
      await using sink = await startFakeBackend();
      const port = reservedPortThatRefuses();
      const toml = `
[[http]]
name = "tls-files"
bind-addr = "127.0.0.1:${port}"
tls-cert = "${dir}/cert.pem"
tls-key = "${dir}/key.pem"
output = [{ name = "sink", location = "${sink.writeUrl}" }]
`;
      await using relay = await startRelay(toml);
      assert.equal(relay.url, `https://127.0.0.1:${port}`);
      assert.equal(await writeWith(relay.url, a.ca), 204);
      assert.notEqual(await writeWith(relay.url, b.ca), 204);
      assert.ok(await opensslHandshake(port, "tls1_2"), "TLS 1.2 works");
      assert.ok(await opensslHandshake(port, "tls1_3"), "TLS 1.3 works");
      assert.ok(!await opensslHandshake(port, "tls1_1"), "TLS 1.1 refused");

      // A renewed certificate in the same files: the reload rebinds.
      await Deno.copyFile(`${dir}/b/server.pem`, `${dir}/cert.pem`);
      await Deno.copyFile(`${dir}/b/server.key`, `${dir}/key.pem`);
      const { changes } = await relay.service.reload(parseConfig(toml));
      assert.match(changes.join("\n"), /HTTP relay "tls-files" moved to/);
      assert.equal(await writeWith(relay.url, b.ca), 204);
      assert.notEqual(await writeWith(relay.url, a.ca), 204);
      await sink.waitForRequests(2);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
