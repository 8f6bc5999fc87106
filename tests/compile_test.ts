/**
 * The single binary (`deno task compile`): the permission flags it bakes
 * in, the cross-compile commands, and a whole relay running under exactly
 * those permissions narrowed to one config's files (config, TLS file,
 * spool, `${NAME}` secret, UDP).
 *
 * The binary itself is built and run only where `deno compile` can get its
 * `denort` runtime (internet, or `DENORT_BIN`); elsewhere that test is
 * ignored and the run prints why. The permission set is proved either way
 * with `deno run`, which enforces the same flags.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  compileArgs,
  distName,
  fileAccessOf,
  permissionFlags,
  TARGETS,
  V8_FLAGS,
} from "../deploy/compile.ts";
import { parseConfig } from "../relay/mod.ts";
import denoJson from "../deno.json" with { type: "json" };
import { reservedPortThatRefuses, startFakeBackend } from "./_fake_backend.ts";
import { type RelayProcess, runRelay, spawnRelay } from "./_relay_process.ts";
import { openssl, opensslMissing } from "./_openssl.ts";
import { startUdpSink } from "./_udp_sink.ts";
import { waitFor } from "./_wait.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const COMPILE = `${ROOT}deploy/compile.ts`;

async function runCompileScript(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", COMPILE, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

// ---------------------------------------------------------------------------
// Flags

Deno.test("permissionFlags() grants net, env and files, and nothing else", () => {
  assert.deepEqual(permissionFlags(), [
    "--allow-net",
    "--allow-env",
    "--allow-read",
    "--allow-write",
  ]);
  assert.deepEqual(
    permissionFlags({ read: ["/etc/r"], write: ["/var/lib/r"] }),
    [
      "--allow-net",
      "--allow-env",
      "--allow-read=/etc/r,/var/lib/r",
      "--allow-write=/var/lib/r",
    ],
  );
  // Nothing to write: no --allow-write at all (an empty list is not "none").
  assert.deepEqual(
    permissionFlags({ read: ["/etc/r/relay.toml"], write: [] }),
    [
      "--allow-net",
      "--allow-env",
      "--allow-read=/etc/r/relay.toml",
    ],
  );
});

Deno.test("permissionFlags() refuses relative paths", () => {
  assert.throws(
    () => permissionFlags({ read: ["etc"], write: [] }),
    /file access path "etc" is not absolute/,
  );
});

Deno.test("fileAccessOf() lists exactly the files a config makes the relay use", () => {
  const config = parseConfig(
    `
[[http]]
name = "a"
bind-addr = "127.0.0.1:0"
ssl-combined-pem = "/etc/r/relay.pem"
auth-file = "/etc/r/credentials"
output = [
  { name = "x", location = "https://db1:8086/write", ca-cert = "/etc/r/ca.pem", buffer-size-mb = 8, buffer-path = "/var/lib/r/x" },
  { name = "y", location = "http://db2:8086/write" },
]
[[http]]
name = "b"
bind-addr = "127.0.0.1:0"
tls-cert = "/etc/r/cert.pem"
tls-key = "/etc/r/key.pem"
output = [{ name = "z", location = "http://db2:8086/write", buffer-size-mb = 8, buffer-path = "/var/lib/r/z" }]
`,
  );
  assert.deepEqual(fileAccessOf("/etc/r/relay.toml", config), {
    read: [
      "/etc/r/relay.toml",
      "/etc/r/relay.pem",
      "/etc/r/credentials",
      "/etc/r/ca.pem",
      "/etc/r/cert.pem",
      "/etc/r/key.pem",
    ],
    write: ["/var/lib/r/x", "/var/lib/r/z"],
  });
  assert.throws(
    () =>
      fileAccessOf(
        "/etc/r/relay.toml",
        parseConfig(`
[[http]]
bind-addr = "127.0.0.1:0"
output = [{ name = "x", location = "http://db1:8086/write", buffer-size-mb = 1, buffer-path = "spool/x" }]
`),
      ),
    /output "x" buffer-path = "spool\/x" is a relative path/,
  );
});

Deno.test("compileArgs() bakes the V8 flag and the permissions, and targets", () => {
  const args = compileArgs({
    target: "aarch64-apple-darwin",
    output: "dist/x",
    access: { read: ["/etc/r"], write: [] },
  });
  assert.deepEqual(args.slice(0, 3), [
    "compile",
    "--frozen",
    `--v8-flags=${V8_FLAGS}`,
  ]);
  assert.ok(args.includes("--allow-read=/etc/r"));
  assert.deepEqual(
    args.slice(args.indexOf("--target"), args.indexOf("--target") + 2),
    ["--target", "aarch64-apple-darwin"],
  );
  assert.equal(args.at(-1), `${ROOT}main.ts`);
  assert.equal(
    distName("dist", "x86_64-pc-windows-msvc"),
    `dist/influxdb-relay-${denoJson.version}-x86_64-pc-windows-msvc.exe`,
  );
});

Deno.test("deno task compile --all --dry-run: one command per target, same permissions", async () => {
  const run = await runCompileScript(
    "--all",
    "--dry-run",
    "--read",
    "/etc/influxdb-relay",
    "--write",
    "/var/lib/influxdb-relay",
  );
  assert.equal(run.code, 0, run.stderr);
  assert.match(
    run.stderr,
    /file access: reads \/etc\/influxdb-relay, \/var\/lib\/influxdb-relay; writes \/var\/lib\/influxdb-relay/,
  );
  const lines = run.stdout.trim().split("\n");
  assert.equal(lines.length, TARGETS.length);
  for (const [i, target] of TARGETS.entries()) {
    const line = lines[i]!;
    assert.ok(line.startsWith("deno compile --frozen "), line);
    assert.ok(line.includes(` --target ${target} `), line);
    assert.ok(line.includes(` --output ${distName("dist", target)} `), line);
    assert.ok(
      line.includes(
        " --allow-net --allow-env --allow-read=/etc/influxdb-relay,/var/lib/influxdb-relay --allow-write=/var/lib/influxdb-relay ",
      ),
      line,
    );
    for (const broad of ["-A ", "--allow-all", "--allow-run", "--allow-ffi"]) {
      assert.ok(!line.includes(broad), `${broad} in ${line}`);
    }
  }
});

Deno.test("deno task compile refuses unknown targets, relative paths and mixed modes", async () => {
  const target = await runCompileScript("--target", "riscv64", "--dry-run");
  assert.equal(target.code, 2);
  assert.match(target.stderr, /Unknown --target "riscv64": expected one of/);
  const relative = await runCompileScript("--read", "etc", "--dry-run");
  assert.equal(relative.code, 2);
  assert.match(relative.stderr, /file access path "etc" is not absolute/);
  const mixed = await runCompileScript(
    "--read",
    "/etc",
    "--from-config",
    "relay.toml",
    "--dry-run",
  );
  assert.equal(mixed.code, 2);
  assert.match(mixed.stderr, /not both/);
});

// ---------------------------------------------------------------------------
// A whole relay under the narrowed permissions

interface Layout {
  dir: string;
  etc: string;
  spool: string;
  config: string;
  /** The HTTPS listener's certificate (self-signed for 127.0.0.1). */
  cert: string;
}

const SECRET_ENV = "RELAY_COMPILE_TEST_PASSWORD";

/**
 * /tmp/…/etc/{relay.toml,relay.pem} and /tmp/…/spool, like
 * /etc/influxdb-relay and /var/lib/influxdb-relay.
 */
async function makeLayout(
  backendUrl: string,
  udpSink: string,
): Promise<Layout> {
  const dir = await Deno.makeTempDir({ prefix: "relay-compile-" });
  const etc = `${dir}/etc`;
  const spool = `${dir}/spool`;
  await Deno.mkdir(etc);
  await Deno.mkdir(spool);
  await openssl([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1",
    "-addext",
    "basicConstraints=critical,CA:FALSE",
    "-keyout",
    `${dir}/key.pem`,
    "-out",
    `${dir}/cert.pem`,
  ]);
  const cert = await Deno.readTextFile(`${dir}/cert.pem`);
  await Deno.writeTextFile(
    `${etc}/relay.pem`,
    cert + await Deno.readTextFile(`${dir}/key.pem`),
  );
  const refused = reservedPortThatRefuses();
  const config = `${etc}/relay.toml`;
  await Deno.writeTextFile(
    config,
    `
[[http]]
name = "plain"
bind-addr = "127.0.0.1:0"
output = [
  { name = "up", location = "${backendUrl}/write", username = "relay", password = "\${${SECRET_ENV}}", health-check-interval = "0" },
  { name = "down", location = "http://127.0.0.1:${refused}/write", timeout = "1s", buffer-size-mb = 1, buffer-path = "${spool}/down", health-check-interval = "0" },
]

[[http]]
name = "tls"
bind-addr = "127.0.0.1:0"
ssl-combined-pem = "${etc}/relay.pem"
output = [{ name = "tls-up", location = "${backendUrl}/write", health-check-interval = "0" }]

[[udp]]
name = "udp"
bind-addr = "127.0.0.1:0"
output = [{ name = "sink", location = "${udpSink}" }]
`,
  );
  return { dir, etc, spool, config, cert };
}

/** The address a listener logged at start, e.g. `127.0.0.1:41234`. */
function loggedAddress(log: string, pattern: RegExp): string {
  const match = log.match(pattern);
  assert.ok(match, `no ${pattern} in:\n${log}`);
  return match[1]!;
}

/**
 * Drives a relay started on `layout.config`: an HTTP write reaches the
 * backend with the secret from the environment and is spooled for the down
 * backend; an HTTPS write and a UDP datagram arrive; SIGHUP reloads; SIGTERM
 * stops and keeps the spool.
 */
async function exerciseRelay(
  relay: RelayProcess,
  layout: Layout,
  backend: Awaited<ReturnType<typeof startFakeBackend>>,
  sink: ReturnType<typeof startUdpSink>,
): Promise<void> {
  const write = await fetch(`${relay.url}/write?db=d`, {
    method: "POST",
    body: "m,via=http f=1 1\n",
  });
  assert.equal(write.status, 204, await write.text());
  await backend.waitForRequests(1);
  assert.equal(backend.requests[0]!.text, "m,via=http f=1 1\n");
  assert.equal(
    backend.requests[0]!.headers.get("authorization"),
    `Basic ${btoa("relay:env-secret")}`,
  );
  // The down backend's write lands in its spool directory.
  await waitFor(async () => {
    for await (const entry of Deno.readDir(`${layout.spool}/down`)) {
      if (!entry.name.endsWith(".seg")) continue;
      const { size } = await Deno.stat(`${layout.spool}/down/${entry.name}`);
      if (size > 0) return true;
    }
    return false;
  }, { message: "nothing spooled for the down backend" });

  const tlsAddress = loggedAddress(
    relay.log(),
    /Starting HTTPS relay "tls" on (\S+)/,
  );
  const client = Deno.createHttpClient({ caCerts: [layout.cert] });
  try {
    const secure = await fetch(`https://${tlsAddress}/write?db=d`, {
      method: "POST",
      body: "m,via=https f=2 2\n",
      client,
    });
    assert.equal(secure.status, 204, await secure.text());
  } finally {
    client.close();
  }
  await backend.waitForRequests(2);
  assert.deepEqual(
    backend.requests.map((r) => r.text).sort(),
    ["m,via=http f=1 1\n", "m,via=https f=2 2\n"],
  );

  const udpAddress = loggedAddress(
    relay.log(),
    /Starting UDP relay "udp" on (\S+)/,
  );
  const [host, port] = [
    udpAddress.slice(0, udpAddress.lastIndexOf(":")),
    Number(udpAddress.slice(udpAddress.lastIndexOf(":") + 1)),
  ];
  const sender = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  try {
    await sender.send(new TextEncoder().encode("m,via=udp f=3 3\n"), {
      transport: "udp",
      hostname: host,
      port,
    });
    await sink.waitForDatagrams(1);
  } finally {
    sender.close();
  }
  assert.deepEqual(sink.texts(), ["m,via=udp f=3 3\n"]);

  relay.child.kill("SIGHUP");
  await waitFor(() => /Reloaded config/.test(relay.log()), {
    message: "no reload logged",
  });
  // A reload naming a spool outside the allowed paths is left out with the
  // path and the advice; the listener keeps serving as it was.
  const outside = `${layout.dir}/outside/extra`;
  const text = await Deno.readTextFile(layout.config);
  await Deno.writeTextFile(
    layout.config,
    text.replace(
      'output = [\n  { name = "up"',
      `output = [\n  { name = "extra", location = "${backend.url}/write", buffer-size-mb = 1, buffer-path = "${outside}", health-check-interval = "0" },\n  { name = "up"`,
    ),
  );
  relay.child.kill("SIGHUP");
  await waitFor(() => /left out/.test(relay.log()), {
    message: "no left-out reload logged",
  });
  assert.match(
    relay.log(),
    new RegExp(
      `Reload of config ".*" left out: Cannot start HTTP relay "plain": Cannot open the spool of backend "extra" in "${outside}": Requires write access to "${outside}".* \\((this binary's file access was fixed|run the relay with --allow-read)`,
    ),
  );
  const after = await fetch(`${relay.url}/write?db=d`, {
    method: "POST",
    body: "m,via=http f=4 4\n",
  });
  assert.equal(after.status, 204, await after.text());
  await backend.waitForRequests(3);
  assert.equal(await relay.stop("SIGTERM"), 0, relay.log());
  assert.match(
    relay.log(),
    /Retry buffer of relay "plain" backend "down" keeps 2 writes \(\d+ bytes\) on disk for the next start/,
  );
  assert.match(
    relay.log(),
    /Stopped \(2 queued writes kept in disk spools\)/,
  );
  // The only refusal is the one provoked above.
  const refusals = relay.log().split("\n").filter((line) =>
    /Requires \w+ access/.test(line)
  );
  assert.equal(refusals.length, 1, refusals.join("\n"));
  assert.ok(refusals[0]!.includes(outside), refusals[0]);
}

/**
 * Makes the layout with a fake backend and a UDP sink, starts a relay on it
 * with `start`, and drives it through {@linkcode exerciseRelay}.
 */
async function withLayout(
  start: (layout: Layout) => Promise<RelayProcess>,
): Promise<void> {
  await using backend = await startFakeBackend();
  await using sink = startUdpSink();
  const layout = await makeLayout(backend.url, sink.location);
  Deno.env.set(SECRET_ENV, "env-secret");
  try {
    await using relay = await start(layout);
    await exerciseRelay(relay, layout, backend, sink);
  } finally {
    Deno.env.delete(SECRET_ENV);
    await Deno.remove(layout.dir, { recursive: true });
  }
}

Deno.test({
  name:
    "the relay runs under permissions narrowed to its config's files (deno run, the binary's flags)",
  ignore: opensslMissing,
  async fn() {
    await withLayout(async (layout) => {
      const config = parseConfig(await Deno.readTextFile(layout.config));
      const access = fileAccessOf(layout.config, config);
      assert.deepEqual(access, {
        read: [layout.config, `${layout.etc}/relay.pem`],
        write: [`${layout.spool}/down`],
      });
      return await spawnRelay(layout.config, {
        permissions: [`--v8-flags=${V8_FLAGS}`, ...permissionFlags(access)],
      });
    });
  },
});

Deno.test("a relay refused its config or spool path says which path and what to do", async () => {
  const dir = await Deno.makeTempDir({ prefix: "relay-compile-" });
  try {
    await Deno.mkdir(`${dir}/etc`);
    const outside = `${dir}/relay.toml`;
    const text = `
[[http]]
bind-addr = "127.0.0.1:0"
output = [{ name = "a", location = "http://127.0.0.1:1/write", buffer-size-mb = 1, buffer-path = "${dir}/elsewhere/a" }]
`;
    await Deno.writeTextFile(outside, text);
    await Deno.writeTextFile(`${dir}/etc/relay.toml`, text);
    const flags = permissionFlags({
      read: [`${dir}/etc`],
      write: [`${dir}/spool`],
    });
    const start = (config: string) => runRelay(["--config", config], flags);

    const refusedConfig = await start(outside);
    const configError = refusedConfig.stderr;
    assert.equal(refusedConfig.code, 1, configError);
    assert.match(
      configError,
      new RegExp(
        `Cannot read config file "${outside}": Requires read access to "${outside}".* \\(run the relay with --allow-read/--allow-write covering the path`,
      ),
    );

    const checked = await runRelay(
      ["--check-config", "--config", `${dir}/etc/relay.toml`],
      flags,
    );
    assert.equal(checked.code, 1, checked.stdout);
    assert.match(
      checked.stderr,
      new RegExp(
        `^Cannot start HTTP relay "http://127.0.0.1:0": Cannot open the spool of backend "a" in "${dir}/elsewhere/a": Requires write access to "${dir}/elsewhere/a" \\(run the relay with --allow-read/--allow-write covering the path`,
      ),
    );

    const refusedSpool = await start(`${dir}/etc/relay.toml`);
    const spoolError = refusedSpool.stderr;
    assert.equal(refusedSpool.code, 1, spoolError);
    assert.match(
      spoolError,
      new RegExp(
        `\\[FTL\\] .*Cannot start HTTP relay "http://127.0.0.1:0": Cannot open the spool of backend "a" in "${dir}/elsewhere/a": Requires write access to "${dir}/elsewhere/a".* \\(run the relay with`,
      ),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------
// The binary itself, where deno compile can get its runtime

/**
 * Whether `deno compile` can get its `denort` runtime here: compiles a
 * one-line module (about a second when the download fails). Returns the
 * reason when it cannot.
 */
async function compileUnavailable(): Promise<string | null> {
  const dir = await Deno.makeTempDir({ prefix: "relay-compile-probe-" });
  try {
    await Deno.writeTextFile(`${dir}/probe.ts`, "Deno.exit(0);\n");
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["compile", "--output", `${dir}/probe`, `${dir}/probe.ts`],
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (output.code === 0) return null;
    const stderr = new TextDecoder().decode(output.stderr);
    const lines = stderr.split("\n").map((line) => line.trim());
    const cause = lines.find((line) => /error sending request/.test(line)) ??
      lines.find((line) => /error/i.test(line)) ?? "no error message";
    return `deno compile cannot get its denort runtime (${cause.trim()}); it downloads it from dl.deno.land, or set DENORT_BIN to a denort ${Deno.version.deno} binary for ${Deno.build.target}`;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const unavailable = await compileUnavailable();
if (unavailable !== null) {
  // deno-lint-ignore no-console
  console.error(
    `compile_test: the binary test is SKIPPED: ${unavailable}`,
  );
}

Deno.test({
  name:
    "deno task compile --from-config builds a binary that serves writes with only that config's files",
  ignore: unavailable !== null || opensslMissing,
  async fn() {
    await withLayout(async (layout) => {
      const binary = `${layout.dir}/influxdb-relay`;
      const build = await runCompileScript(
        "--from-config",
        layout.config,
        "--output",
        binary,
      );
      assert.equal(build.code, 0, build.stderr);
      const version = await new Deno.Command(binary, {
        args: ["--version"],
        stdout: "piped",
      }).output();
      assert.equal(version.code, 0);
      assert.equal(
        new TextDecoder().decode(version.stdout).trim(),
        `influxdb-relay ${denoJson.version} (deno ${Deno.version.deno}, ${Deno.build.target}, single binary)`,
      );
      return await spawnRelay(layout.config, {
        executable: binary,
      });
    });
  },
});
