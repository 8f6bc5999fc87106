/**
 * The `influxdb-relay` command as users run it: flags, exit codes and
 * messages (spec §1, D1, D4, D13), a real process serving writes, and
 * graceful shutdown on SIGTERM.
 */
import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import { permissionFlags } from "../deploy/compile.ts";
import { reservedPortThatRefuses, startFakeBackend } from "./_fake_backend.ts";
import { type RelayRun, runRelay, spawnRelay } from "./_relay_process.ts";
import { waitFor } from "./_wait.ts";

const ROOT = fromFileUrl(new URL("../", import.meta.url));
const MAIN = `${ROOT}main.ts`;
/** What `deno task start` and the default binary grant. */
const PERMISSIONS = permissionFlags();

function run(...args: string[]): Promise<RelayRun> {
  return runRelay(args, PERMISSIONS);
}

async function tempConfig(text: string): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".toml" });
  await Deno.writeTextFile(path, text);
  return path;
}

Deno.test("main.ts --help, -h and -help print usage and exit 0", async () => {
  for (const flag of ["--help", "-h", "-help"]) {
    const result = await run(flag);
    assert.equal(result.code, 0, flag);
    assert.match(result.stdout, /Usage: influxdb-relay --config <file>/);
    assert.match(result.stdout, /Configuration file to use/);
  }
});

Deno.test("main.ts --version prints the relay and Deno versions", async () => {
  const denoJson = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  for (const flag of ["--version", "-version"]) {
    const result = await run(flag);
    assert.equal(result.code, 0);
    assert.equal(
      result.stdout.trim(),
      `influxdb-relay ${denoJson.version} (deno ${Deno.version.deno}, ${Deno.build.target})`,
    );
  }
});

Deno.test("main.ts without a config prints Missing configuration file and exits 1", async () => {
  for (const args of [[], ["-config="], ["--config", ""]]) {
    const result = await run(...args);
    assert.equal(result.code, 1, args.join(" "));
    assert.match(result.stderr, /^Missing configuration file\n/);
    assert.match(result.stderr, /Usage: influxdb-relay/);
    assert.equal(result.stdout, "");
  }
});

Deno.test("main.ts exits 2 with usage on an unknown flag", async () => {
  for (const flag of ["-foo", "--foo", "-x"]) {
    const result = await run(flag);
    assert.equal(result.code, 2, flag);
    assert.match(result.stderr, /Unknown option/);
    assert.match(result.stderr, /Usage: influxdb-relay/);
  }
});

Deno.test("main.ts --check-config accepts Go-style and GNU-style config flags", async () => {
  const sample = `${ROOT}tests/testdata/sample.toml`;
  for (
    const args of [
      ["-config", sample],
      [`-config=${sample}`],
      ["--config", sample],
      [`--config=${sample}`],
    ]
  ) {
    const result = await run("--check-config", ...args);
    assert.equal(result.code, 0, `${args.join(" ")}: ${result.stderr}`);
    assert.match(
      result.stdout,
      /: OK: http "[^"]+" on 127\.0\.0\.1:9096 -> 2 output\(s\)/,
    );
  }
});

Deno.test("main.ts --check-config names the [admin] listener in its summary", async () => {
  const path = await tempConfig(`
[[http]]
bind-addr = "127.0.0.1:9096"
admin-endpoints = false

[admin]
bind-addr = "127.0.0.1:9097"
`);
  try {
    const result = await run("--check-config", "--config", path);
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      /: OK: http "http:\/\/127\.0\.0\.1:9096" on 127\.0\.0\.1:9096 -> 0 output\(s\), admin on 127\.0\.0\.1:9097\n$/,
    );
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("main.ts exits 1 naming file, key path and value for a bad config (D1)", async () => {
  const path = await tempConfig(`
[[http]]
bind-addr = "127.0.0.1:0"
output = [
  { name = "a", location = "http://127.0.0.1:8086/write" },
  { name = "b", location = "http://127.0.0.1:7086/write", timeout = "abc" },
]
`);
  try {
    const result = await run("--config", path);
    assert.equal(result.code, 1);
    assert.ok(result.stderr.includes(path), result.stderr);
    assert.match(result.stderr, /http\[0\]\.output\[1\]\.timeout/);
    assert.match(result.stderr, /"abc"/);
    const check = await run("--check-config", "--config", path);
    assert.equal(check.code, 1);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("main.ts suggests the closest key for an unknown key", async () => {
  const path = await tempConfig(`
[[http]]
bind_addr = "127.0.0.1:0"
`);
  try {
    const result = await run("--config", path);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /http\[0\]\.bind_addr/);
    assert.match(result.stderr, /did you mean "bind-addr"/);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("main.ts exits 1 when the config file cannot be read", async () => {
  const result = await run("--config", "/nonexistent/relay.toml");
  assert.equal(result.code, 1);
  assert.match(result.stderr, /\/nonexistent\/relay\.toml/);
});

Deno.test("main.ts exits 1 when ssl-combined-pem cannot be loaded (D13)", async () => {
  const path = await tempConfig(`
[[http]]
name = "tls"
bind-addr = "127.0.0.1:0"
ssl-combined-pem = "/nonexistent/relay.pem"
output = [{ name = "a", location = "http://127.0.0.1:8086/write" }]
`);
  try {
    const result = await run("--config", path);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /Cannot start HTTPS relay "tls"/);
    assert.match(result.stderr, /\/nonexistent\/relay\.pem/);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("main.ts exits 1 when the listen address is in use", async () => {
  using blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const path = await tempConfig(`
[[http]]
name = "busy"
bind-addr = "127.0.0.1:${blocker.addr.port}"
output = [{ name = "a", location = "http://127.0.0.1:8086/write" }]
`);
  try {
    const result = await run("--config", path);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /Cannot start HTTP relay "busy"/);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("main.ts exits 1 when a UDP output's location does not resolve", async () => {
  const path = await tempConfig(`
[[udp]]
name = "udp"
bind-addr = "127.0.0.1:0"
output = [{ name = "gone", location = "no-such-host.invalid:8089" }]
`);
  try {
    const result = await run("--config", path);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /Cannot start UDP relay "udp": output "gone": Cannot resolve UDP location "no-such-host\.invalid:8089"/,
    );
  } finally {
    await Deno.remove(path);
  }
});

/** Reads stderr of a running relay until its listener's address is logged. */
async function listenAddress(
  stderr: ReadableStream<Uint8Array>,
  log: string[],
  pattern = /Starting HTTP relay "[^"]*" on (\S+)/,
): Promise<string> {
  const decoder = new TextDecoder();
  let buffered = "";
  const reader = stderr.getReader();
  const found = Promise.withResolvers<string>();
  (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      const match = buffered.match(pattern);
      if (match) found.resolve(match[1]!);
    }
    log.push(buffered);
    found.reject(new Error(`relay exited before listening:\n${buffered}`));
  })();
  return await found.promise;
}

Deno.test("main.ts serves writes and drains an in-flight write on SIGTERM (D4)", async () => {
  await using backend = await startFakeBackend({
    respond: (_req, index) => index === 1 ? { delayMs: 500 } : {},
  });
  const path = await tempConfig(`
[[http]]
name = "cli"
bind-addr = "127.0.0.1:0"
output = [{ name = "fake", location = "${backend.writeUrl}" }]
`);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, MAIN, "-config", path],
    cwd: ROOT,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const log: string[] = [];
  try {
    const address = await listenAddress(child.stderr, log);
    const first = await fetch(`http://${address}/write?db=x`, {
      method: "POST",
      body: "cpu value=1 1\n",
    });
    assert.equal(first.status, 204);
    await first.body?.cancel();
    const slow = fetch(`http://${address}/write?db=x`, {
      method: "POST",
      body: "cpu value=2 2\n",
    });
    await backend.waitForRequests(2);
    child.kill("SIGTERM");
    const response = await slow;
    assert.equal(response.status, 204);
    await response.body?.cancel();
    const status = await child.status;
    assert.equal(status.code, 0);
    await waitFor(() => log.length > 0, { message: "stderr not closed" });
    assert.match(log[0]!, /Received SIGTERM/);
    assert.match(log[0]!, /Stopped \(all writes finished\)/);
    assert.deepEqual(backend.requests.map((r) => r.text), [
      "cpu value=1 1\n",
      "cpu value=2 2\n",
    ]);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
    await child.status;
    await Deno.remove(path);
  }
});

Deno.test("main.ts relays UDP datagrams, reports read-buffer honestly and exits 0 on SIGTERM", async () => {
  const sink = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const client = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const path = await tempConfig(`
[[udp]]
name = "cli-udp"
bind-addr = "127.0.0.1:0"
precision = "s"
read-buffer = 8388608
output = [{ name = "sink", location = "127.0.0.1:${
    (sink.addr as Deno.NetAddr).port
  }" }]
`);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, MAIN, "-config", path],
    cwd: ROOT,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const log: string[] = [];
  try {
    const address = await listenAddress(
      child.stderr,
      log,
      /Starting UDP relay "cli-udp" on (\S+)/,
    );
    const port = Number(address.slice(address.lastIndexOf(":") + 1));
    await client.send(
      new TextEncoder().encode("cpu v=1 1\nnot valid\n"),
      { transport: "udp", hostname: "127.0.0.1", port },
    );
    const [data] = await sink.receive();
    assert.equal(new TextDecoder().decode(data), "cpu v=1 1\n");
    child.kill("SIGTERM");
    assert.equal((await child.status).code, 0);
    await waitFor(() => log.length > 0, { message: "stderr not closed" });
    // Without --allow-all Deno may not read /proc/sys: the relay says so
    // rather than claiming a size.
    assert.match(
      log[0]!,
      /read-buffer = 8388608 cannot be applied .* net\.core\.rmem_default \(size unknown: Deno reads \/proc\/sys\/net\/core\/rmem_default only with --allow-all/,
    );
    assert.match(log[0]!, /Error parsing packet in relay "cli-udp"/);
    assert.match(log[0]!, /Stopped \(all writes finished\)/);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
    await child.status;
    client.close();
    sink.close();
    await Deno.remove(path);
  }
});

Deno.test("main.ts --check-config fails as a start would on the files the config names", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/bad.pem`, "not a certificate\n");
    await Deno.writeTextFile(`${dir}/ca.pem`, "not a certificate either\n");
    const cases: [string, RegExp][] = [
      [
        `[[http]]
name = "tls"
bind-addr = "127.0.0.1:0"
ssl-combined-pem = "${dir}/bad.pem"
output = [{ name = "a", location = "http://127.0.0.1:8086/write" }]`,
        /^Cannot start HTTPS relay "tls": ssl-combined-pem ".*\/bad\.pem": No certificates found/,
      ],
      [
        `[[http]]
name = "tls"
bind-addr = "127.0.0.1:0"
ssl-combined-pem = "${dir}/missing.pem"
output = [{ name = "a", location = "http://127.0.0.1:8086/write" }]`,
        /^Cannot start HTTPS relay "tls": cannot read ssl-combined-pem ".*\/missing\.pem"/,
      ],
      [
        `[[http]]
name = "h"
bind-addr = "127.0.0.1:0"
auth-file = "${dir}/missing-credentials"
output = [{ name = "a", location = "http://127.0.0.1:8086/write" }]`,
        /^Cannot start HTTP relay "h": cannot read auth-file ".*\/missing-credentials"/,
      ],
      [
        `[[http]]
name = "h"
bind-addr = "127.0.0.1:0"
output = [{ name = "a", location = "https://127.0.0.1:8086/write", ca-cert = "${dir}/ca.pem" }]`,
        /^Cannot start HTTP relay "h": output "a": ca-cert ".*\/ca\.pem" holds no PEM certificate/,
      ],
    ];
    await Deno.writeTextFile(`${dir}/not-a-dir`, "");
    cases.push([
      `[[http]]
name = "h"
bind-addr = "127.0.0.1:0"
output = [{ name = "a", location = "http://127.0.0.1:8086/write", buffer-size-mb = 1, buffer-path = "${dir}/not-a-dir" }]`,
      /^Cannot start HTTP relay "h": Cannot open the spool of backend "a" in ".*\/not-a-dir": "[^"]*not-a-dir" is not a directory/,
    ]);
    for (const [text, expected] of cases) {
      await Deno.writeTextFile(`${dir}/relay.toml`, text);
      const result = await run(
        "--check-config",
        "--config",
        `${dir}/relay.toml`,
      );
      assert.equal(result.code, 1, result.stdout);
      assert.equal(result.stdout, "");
      assert.match(result.stderr, expected);
    }
    // A name that does not resolve here is a warning: the check may run on
    // a host that does not know the servers' names.
    await Deno.writeTextFile(
      `${dir}/relay.toml`,
      `[[udp]]
name = "u"
bind-addr = "127.0.0.1:0"
output = [{ name = "x", location = "no-such-host.invalid:8089" }]`,
    );
    const udp = await run("--check-config", "--config", `${dir}/relay.toml`);
    assert.equal(udp.code, 0, udp.stderr);
    assert.match(udp.stdout, /: OK: udp "u"/);
    assert.match(
      udp.stderr,
      /^warning: UDP relay "u" cannot start here: output "x": Cannot resolve UDP location "no-such-host\.invalid:8089"/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main.ts warns about an output location without a path, at check and at start", async () => {
  const path = await tempConfig(`
[[http]]
name = "r"
bind-addr = "127.0.0.1:0"
output = [{ name = "a", location = "http://127.0.0.1:8086/" }]
`);
  try {
    const check = await run("--check-config", "--config", path);
    assert.equal(check.code, 0, check.stderr);
    assert.match(
      check.stderr,
      /^warning: Output "a" of relay "r": location "http:\/\/127\.0\.0\.1:8086\/" has no path: writes would go to "\/", which InfluxDB answers 404; write the whole write URL, e\.g\. "http:\/\/127\.0\.0\.1:8086\/write"$/m,
    );
    await using relay = await spawnRelay(path);
    assert.match(
      relay.log(),
      /\[WRN\] influxdb-relay·service: Output "a" of relay "r": location "http:\/\/127\.0\.0\.1:8086\/" has no path/,
    );
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("main.ts says at stop how many queued writes a memory buffer lost", async () => {
  const path = await tempConfig(`
[[http]]
name = "r"
bind-addr = "127.0.0.1:0"
output = [{ name = "down", location = "http://127.0.0.1:${reservedPortThatRefuses()}/write", timeout = "1s", buffer-size-mb = 1, health-check-interval = "0" }]
ack-memory-buffer = true
`);
  try {
    await using relay = await spawnRelay(path);
    const response = await fetch(`${relay.url}/write?db=d`, {
      method: "POST",
      body: "m f=1 1\n",
    });
    await response.body?.cancel();
    assert.equal(response.status, 204);
    await waitFor(() => /buffering its writes/.test(relay.log()), {
      message: () => relay.log(),
    });
    assert.equal(await relay.stop("SIGTERM"), 0);
    assert.match(
      relay.log(),
      /\[ERR\] .*Retry buffer of relay "r" backend "down" lost 1 undelivered writes \(\d+ bytes\) at shutdown\n.*\[INF\] .*Stopped \(1 queued writes lost with memory buffers\)/,
    );
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("main.ts names the backends whose writes the shutdown deadline cut off", async () => {
  await using backend = await startFakeBackend({
    respond: () => ({ hang: true }),
  });
  const path = await tempConfig(`
[[http]]
name = "r"
bind-addr = "127.0.0.1:0"
output = [
  { name = "fast", location = "${backend.url}/fast/write", timeout = "30s", health-check-interval = "0" },
  { name = "stuck", location = "${backend.url}/write", timeout = "30s", health-check-interval = "0" },
]
`);
  try {
    await using relay = await spawnRelay(path, {
      args: ["--shutdown-timeout", "500ms"],
    });
    const write = fetch(`${relay.url}/write?db=d`, {
      method: "POST",
      body: "m f=1 1\n",
    }).then((response) => response.body?.cancel(), () => {});
    await backend.waitForRequests(2);
    assert.equal(await relay.stop("SIGTERM"), 0);
    await write;
    assert.match(
      relay.log(),
      /\[WRN\] .*Shutdown deadline of 500ms passed with 2 backend writes unfinished \(1 to "fast" of relay "r", 1 to "stuck" of relay "r"\)/,
    );
    assert.match(relay.log(), /Stopped \(2 backend writes abandoned\)/);
  } finally {
    await Deno.remove(path);
  }
});
