import assert from "node:assert/strict";
import { TomlError } from "smol-toml";
import {
  ConfigError,
  type HttpOutputConfig,
  loadConfig,
  parseConfig,
  type RelayConfig,
} from "./config.ts";

function fixture(name: string): string {
  return new URL(`../tests/testdata/${name}`, import.meta.url).pathname;
}

/** Asserts that `text` is rejected with exactly this path and detail. */
function assertRejects(text: string, path: string | null, detail: string) {
  assert.throws(
    () => parseConfig(text, { file: "relay.toml" }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, String(error));
      const where = path === null ? "" : `${path}: `;
      assert.equal(
        error.message,
        `Cannot load config "relay.toml": ${where}${detail}`,
      );
      assert.equal(error.name, "ConfigError");
      assert.equal(error.file, "relay.toml");
      assert.equal(error.path, path);
      return true;
    },
  );
}

/** An [[http]] relay with one output carrying `fields`. */
function httpOutput(fields: string): string {
  return `[[http]]
bind-addr = "127.0.0.1:9096"
[[http.output]]
location = "http://127.0.0.1:8086/write"
${fields}
`;
}

/** A [[udp]] relay with one output carrying `fields`. */
function udpOutput(fields: string): string {
  return `[[udp]]
bind-addr = "127.0.0.1:9096"
[[udp.output]]
location = "127.0.0.1:8089"
${fields}
`;
}

function firstHttpOutput(config: RelayConfig): HttpOutputConfig {
  const output = config.http[0]?.outputs[0];
  assert.ok(output !== undefined);
  return output;
}

const HTTP_DEFAULTS = {
  timeoutMs: 10_000,
  bufferSizeMb: 0,
  maxBatchKb: 512,
  maxDelayIntervalMs: 10_000,
  skipTlsVerification: false,
  bufferPath: null,
  bufferFullPolicy: "reject",
  bufferMaxAgeMs: 86_400_000,
  bufferFsync: 1000,
  retryDatabaseNotFound: true,
  api: "v1",
  org: null,
  bucket: null,
  db: null,
  username: null,
  password: null,
  token: null,
  caCert: null,
  healthCheckIntervalMs: 10_000,
  healthCheckTimeoutMs: 2_000,
};

/** The defaults of the `[[http]]` keys of issue 9. */
const HARDENING_DEFAULTS = {
  tlsCert: null,
  tlsKey: null,
  maxBodySize: 25_000_000,
  maxDecompressedSize: 25_000_000,
  readTimeoutMs: 30_000,
  maxConcurrentRequests: 1024,
  rateLimit: 0,
  rateLimitBurst: 0,
  partialWrites: false,
  authUsers: [],
  authTokens: [],
  authFile: null,
  authAdminEndpoints: true,
  forwardCredentials: false,
};

const ACK_DEFAULTS = {
  ack: "first",
  ackTimeoutMs: 10_000,
  ackMemoryBuffer: false,
  adminEndpoints: true,
  query: true,
  queryPolicy: "first",
  queryDdlWhenDown: "refuse",
  queryTimeoutMs: 0,
  ...HARDENING_DEFAULTS,
};

Deno.test("ConfigError() keeps the file, the path and the cause", () => {
  const cause = new Error("root");
  const error = new ConfigError("Cannot load config: x: y", {
    file: "relay.toml",
    path: "x",
    cause,
  });
  assert.ok(error instanceof Error);
  assert.equal(error.name, "ConfigError");
  assert.equal(error.message, "Cannot load config: x: y");
  assert.equal(error.file, "relay.toml");
  assert.equal(error.path, "x");
  assert.equal(error.cause, cause);
  const bare = new ConfigError("Cannot load config: broken");
  assert.equal(bare.file, null);
  assert.equal(bare.path, null);
  assert.equal("cause" in bare, false);
});

// ---------------------------------------------------------------------------
// Shipped samples

Deno.test("loadConfig() reads sample.toml with its defaults", async () => {
  const config = await loadConfig(fixture("sample.toml"));
  assert.deepEqual(config, {
    http: [{
      name: "example-http",
      bindAddr: "127.0.0.1:9096",
      bind: { hostname: "127.0.0.1", port: 9096 },
      sslCombinedPem: null,
      defaultRetentionPolicy: "",
      ...ACK_DEFAULTS,
      outputs: [
        {
          name: "local1",
          location: "http://127.0.0.1:8086/write",
          ...HTTP_DEFAULTS,
          queryLocation: "http://127.0.0.1:8086/query",
        },
        {
          name: "local2",
          location: "http://127.0.0.1:7086/write",
          ...HTTP_DEFAULTS,
          queryLocation: "http://127.0.0.1:7086/query",
        },
      ],
    }],
    udp: [{
      name: "example-udp",
      bindAddr: "127.0.0.1:9096",
      bind: { hostname: "127.0.0.1", port: 9096 },
      precision: "",
      readBuffer: 0,
      outputs: [
        { name: "local1", location: "127.0.0.1:8089", mtu: 512 },
        { name: "local2", location: "127.0.0.1:7089", mtu: 1024 },
      ],
    }],
    admin: null,
  });
});

Deno.test("loadConfig() reads sample_buffered.toml with buffering enabled", async () => {
  const config = await loadConfig(fixture("sample_buffered.toml"));
  const buffered = {
    ...HTTP_DEFAULTS,
    bufferSizeMb: 100,
    maxBatchKb: 50,
    maxDelayIntervalMs: 5_000,
  };
  assert.deepEqual(config, {
    http: [{
      name: "example-http",
      bindAddr: "127.0.0.1:9096",
      bind: { hostname: "127.0.0.1", port: 9096 },
      sslCombinedPem: null,
      defaultRetentionPolicy: "",
      ...ACK_DEFAULTS,
      outputs: [
        {
          name: "local1",
          location: "http://127.0.0.1:8086/write",
          ...buffered,
          queryLocation: "http://127.0.0.1:8086/query",
        },
        {
          name: "local2",
          location: "http://127.0.0.1:7086/write",
          ...buffered,
          queryLocation: "http://127.0.0.1:7086/query",
        },
      ],
    }],
    udp: [],
    admin: null,
  });
});

Deno.test("loadConfig() reads kapacitor.toml with its retention policy", async () => {
  const config = await loadConfig(fixture("kapacitor.toml"));
  assert.deepEqual(config, {
    http: [{
      name: "kapacitor-http",
      bindAddr: "0.0.0.0:9096",
      bind: { hostname: "0.0.0.0", port: 9096 },
      sslCombinedPem: null,
      defaultRetentionPolicy: "autogen",
      ...ACK_DEFAULTS,
      outputs: [
        {
          name: "influxdb1",
          location: "http://influxdb1:8086/write",
          ...HTTP_DEFAULTS,
          queryLocation: "http://influxdb1:8086/query",
        },
        {
          name: "influxdb2",
          location: "http://influxdb2:8086/write",
          ...HTTP_DEFAULTS,
          queryLocation: "http://influxdb2:8086/query",
        },
        {
          name: "kapacitor1",
          location: "http://kapacitor1:9092/write",
          ...HTTP_DEFAULTS,
          queryLocation: "http://kapacitor1:9092/query",
        },
      ],
    }],
    udp: [],
    admin: null,
  });
});

// ---------------------------------------------------------------------------
// loadConfig() errors

Deno.test("loadConfig() names the file and the path when a value is invalid", async () => {
  const file = fixture("bad_timeout.toml");
  await assert.rejects(() => loadConfig(file), {
    name: "ConfigError",
    message: `Cannot load config ${
      JSON.stringify(file)
    }: http[0].output[1].timeout: invalid duration "abc" (expected a Go duration such as "10s", "500ms" or "1m30s")`,
    file,
    path: "http[0].output[1].timeout",
  });
});

Deno.test("loadConfig() suggests the closest key when a key is unknown", async () => {
  const file = fixture("bad_key.toml");
  await assert.rejects(() => loadConfig(file), {
    name: "ConfigError",
    message: `Cannot load config ${
      JSON.stringify(file)
    }: http[0].bind_addr: unknown key (did you mean "bind-addr"?)`,
    path: "http[0].bind_addr",
  });
});

Deno.test("loadConfig() reports line and column when the TOML is malformed", async () => {
  const file = fixture("bad_syntax.toml");
  const error = await loadConfig(file).then(
    () => assert.fail("expected a ConfigError"),
    (error: unknown) => error,
  );
  assert.ok(error instanceof ConfigError);
  assert.match(
    error.message,
    new RegExp(
      `^Cannot load config ${
        RegExp.escape(JSON.stringify(file))
      }: invalid TOML at line 4, column \\d+: .+$`,
    ),
  );
  assert.equal(error.path, null);
  assert.ok(error.cause instanceof TomlError);
});

Deno.test("loadConfig() throws ConfigError when the file does not exist", async () => {
  const file = fixture("no_such_file.toml");
  await assert.rejects(() => loadConfig(file), {
    name: "ConfigError",
    message: `Cannot read config file ${
      JSON.stringify(file)
    }: No such file or directory`,
    file,
    path: null,
  });
});

Deno.test("loadConfig() throws ConfigError when the path is a directory", async () => {
  const dir = fixture("");
  await assert.rejects(() => loadConfig(dir), {
    name: "ConfigError",
    message: `Cannot read config file ${JSON.stringify(dir)}: Is a directory`,
  });
});

Deno.test("loadConfig() throws ConfigError when the file is not UTF-8", async () => {
  const file = fixture("not_utf8.toml");
  await assert.rejects(() => loadConfig(file), {
    name: "ConfigError",
    message: `Cannot load config ${
      JSON.stringify(file)
    }: file is not valid UTF-8 text`,
    file,
    path: null,
  });
});

Deno.test("loadConfig() accepts a file that starts with a byte order mark", async () => {
  const config = await loadConfig(fixture("bom.toml"));
  assert.equal(config.udp[0]?.name, ":9096");
});

Deno.test("parseConfig() accepts text that starts with a byte order mark", () => {
  const config = parseConfig('\ufeff[[udp]]\nbind-addr = ":9096"\n');
  assert.equal(config.udp[0]?.name, ":9096");
});

// ---------------------------------------------------------------------------
// Structure

Deno.test("parseConfig() reads inline output arrays and [[http.output]] tables alike", () => {
  const inline = parseConfig(`
[[http]]
bind-addr = ":9096"
output = [
  { name = "a", location = "http://a:8086/write", timeout = "5s" },
  { name = "b", location = "https://b:8086/write", buffer-size-mb = 10 },
]

[[udp]]
bind-addr = ":9096"
output = [{ name = "c", location = "c:8089", mtu = 512 }]
`);
  const tables = parseConfig(`
[[http]]
bind-addr = ":9096"

[[http.output]]
name = "a"
location = "http://a:8086/write"
timeout = "5s"

[[http.output]]
name = "b"
location = "https://b:8086/write"
buffer-size-mb = 10

[[udp]]
bind-addr = ":9096"

[[udp.output]]
name = "c"
location = "c:8089"
mtu = 512
`);
  assert.deepEqual(inline, tables);
  assert.equal(inline.http[0]?.outputs.length, 2);
  assert.equal(inline.http[0]?.outputs[1]?.bufferSizeMb, 10);
});

Deno.test("parseConfig() accepts http = [{ … }] written inline", () => {
  const config = parseConfig(
    'http = [{ name = "a", bind-addr = ":1", output = [] }]',
  );
  assert.equal(config.http[0]?.name, "a");
});

Deno.test("parseConfig() keeps relays in file order", () => {
  const config = parseConfig(`
[[udp]]
name = "u1"
[[http]]
name = "h1"
[[udp]]
name = "u2"
[[http]]
name = "h2"
`);
  assert.deepEqual(config.http.map((relay) => relay.name), ["h1", "h2"]);
  assert.deepEqual(config.udp.map((relay) => relay.name), ["u1", "u2"]);
});

Deno.test("parseConfig() accepts a relay with no outputs", () => {
  const config = parseConfig('[[http]]\nbind-addr = ":9096"\n[[udp]]\n');
  assert.deepEqual(config.http[0]?.outputs, []);
  assert.deepEqual(config.udp[0]?.outputs, []);
  const empty = parseConfig('[[http]]\nbind-addr = ":9096"\noutput = []');
  assert.deepEqual(empty.http[0]?.outputs, []);
});

Deno.test("parseConfig() throws ConfigError when no relay is defined", () => {
  const detail =
    "no relays defined (expected at least one [[http]] or [[udp]] table)";
  assertRejects("", null, detail);
  assertRejects("# nothing here\n", null, detail);
  assertRejects("http = []\nudp = []", null, detail);
});

Deno.test("parseConfig() throws ConfigError when [http] is a single table", () => {
  assertRejects(
    '[http]\nbind-addr = ":9096"',
    "http",
    "expected an array of tables ([[http]]), got a table",
  );
  assertRejects(
    '[udp]\nbind-addr = ":9096"',
    "udp",
    "expected an array of tables ([[udp]]), got a table",
  );
  assertRejects(
    'http = "x"',
    "http",
    'expected an array of tables ([[http]]), got a string ("x")',
  );
  assertRejects(
    "http = [1]",
    "http[0]",
    "expected a table, got an integer (1)",
  );
});

Deno.test("parseConfig() throws ConfigError when output is not an array of tables", () => {
  assertRejects(
    '[[http]]\n[http.output]\nlocation = "http://a/write"',
    "http[0].output",
    "expected an array of tables ([[http.output]] or output = [{ … }]), got a table",
  );
  assertRejects(
    "[[udp]]\noutput = 5",
    "udp[0].output",
    "expected an array of tables ([[udp.output]] or output = [{ … }]), got an integer (5)",
  );
  assertRejects(
    '[[http]]\noutput = [{ location = "http://a/write" }, "http://b/write"]',
    "http[0].output[1]",
    'expected a table, got a string ("http://b/write")',
  );
  assertRejects(
    "[[udp]]\noutput = [[]]",
    "udp[0].output[0]",
    "expected a table, got an array",
  );
});

Deno.test("parseConfig() uses a bare message prefix when no file is given", () => {
  assert.throws(() => parseConfig('[[http]]\nnme = "a"'), {
    name: "ConfigError",
    message:
      'Cannot load config: http[0].nme: unknown key (did you mean "name"?)',
    file: null,
    path: "http[0].nme",
  });
});

// ---------------------------------------------------------------------------
// TOML syntax

Deno.test("parseConfig() reports line and column of a TOML syntax error", () => {
  assert.throws(
    () => parseConfig("[[http]]\nbind-addr = \n", { file: "relay.toml" }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(
        error.message,
        'Cannot load config "relay.toml": invalid TOML at line 2, column 13: invalid value',
      );
      assert.equal(error.path, null);
      assert.ok(error.cause instanceof TomlError);
      return true;
    },
  );
});

Deno.test("parseConfig() throws ConfigError when a key is defined twice", () => {
  assert.throws(
    () => parseConfig('[[http]]\nname = "a"\nname = "b"\n'),
    {
      name: "ConfigError",
      message:
        "Cannot load config: invalid TOML at line 3, column 1: trying to redefine an already defined table or value",
    },
  );
});

// ---------------------------------------------------------------------------
// Unknown keys

Deno.test("parseConfig() suggests the closest key when a key is misspelled", () => {
  const cases: [string, string, string][] = [
    ['[[http]]\nbind_addr = ":1"', "http[0].bind_addr", "bind-addr"],
    ['[[http]]\nBindAddr = ":1"', "http[0].BindAddr", "bind-addr"],
    ['[[http]]\nName = "a"', "http[0].Name", "name"],
    [
      '[[http]]\ndefault-rp = "a"',
      "http[0].default-rp",
      "default-retention-policy",
    ],
    ['[[http]]\nssl-pem = "a"', "http[0].ssl-pem", "ssl-combined-pem"],
    [httpOutput('locaton = "x"'), "http[0].output[0].locaton", "location"],
    [httpOutput('timout = "1s"'), "http[0].output[0].timout", "timeout"],
    [
      httpOutput("buffer-size = 1"),
      "http[0].output[0].buffer-size",
      "buffer-size-mb",
    ],
    [
      httpOutput("max_batch_kb = 1"),
      "http[0].output[0].max_batch_kb",
      "max-batch-kb",
    ],
    [
      httpOutput('max-delay = "1s"'),
      "http[0].output[0].max-delay",
      "max-delay-interval",
    ],
    [
      httpOutput("skip-tls-verify = true"),
      "http[0].output[0].skip-tls-verify",
      "skip-tls-verification",
    ],
    ["[[udp]]\nread_buffer = 1", "udp[0].read_buffer", "read-buffer"],
    ['[[udp]]\nprecison = "s"', "udp[0].precison", "precision"],
    [udpOutput("MTU = 1"), "udp[0].output[0].MTU", "mtu"],
    [udpOutput("mut = 1"), "udp[0].output[0].mut", "mtu"],
    ['[[htp]]\nname = "a"', "htp", "http"],
    ['[[HTTP]]\nname = "a"', "HTTP", "http"],
    ['[[udp]]\n"bind addr" = ":1"', 'udp[0]."bind addr"', "bind-addr"],
  ];
  for (const [text, path, suggestion] of cases) {
    assertRejects(
      text,
      path,
      `unknown key (did you mean ${JSON.stringify(suggestion)}?)`,
    );
  }
});

Deno.test("parseConfig() lists the known keys when nothing is close", () => {
  assertRejects(
    "foo = 1\n[[http]]",
    "foo",
    'unknown key (expected one of "http", "udp", "admin")',
  );
  assertRejects(
    '[[http]]\nlisten = ":1"',
    "http[0].listen",
    'unknown key (expected one of "name", "bind-addr", "ssl-combined-pem", "tls-cert", "tls-key", "max-body-size", "max-decompressed-size", "read-timeout", "max-concurrent-requests", "rate-limit", "rate-limit-burst", "partial-writes", "auth-users", "auth-tokens", "auth-file", "auth-admin-endpoints", "forward-credentials", "default-retention-policy", "output", "ack", "ack-timeout", "ack-memory-buffer", "admin-endpoints", "query", "query-policy", "query-ddl-when-down", "query-timeout")',
  );
  assertRejects(
    httpOutput("retries = 3"),
    "http[0].output[0].retries",
    'unknown key (expected one of "name", "location", "timeout", "buffer-size-mb", "max-batch-kb", "max-delay-interval", "skip-tls-verification", "buffer-path", "buffer-full-policy", "buffer-max-age", "buffer-fsync", "retry-database-not-found", "api", "org", "bucket", "db", "username", "password", "token", "ca-cert", "health-check-interval", "health-check-timeout", "query-location")',
  );
  assertRejects(
    '[[udp]]\nhost = "x"',
    "udp[0].host",
    'unknown key (expected one of "name", "bind-addr", "precision", "read-buffer", "output")',
  );
  assertRejects(
    udpOutput("ttl = 3"),
    "udp[0].output[0].ttl",
    'unknown key (expected one of "name", "location", "mtu")',
  );
});

Deno.test("parseConfig() explains where a misplaced key belongs", () => {
  assertRejects(
    'bind-addr = ":1"\n[[http]]',
    "bind-addr",
    "unknown key (it belongs in an [[http]] or [[udp]] table)",
  );
  assertRejects(
    'timeout = "1s"\n[[http]]',
    "timeout",
    "unknown key (it belongs in an output entry of an [[http]] or [[udp]] table)",
  );
  assertRejects(
    '[[http]]\ntimeout = "1s"',
    "http[0].timeout",
    "unknown key (it is a setting of each output: write it inside the output entry)",
  );
  assertRejects(
    '[[http]]\nlocation = "http://a/write"',
    "http[0].location",
    "unknown key (it is a setting of each output: write it inside the output entry)",
  );
  assertRejects(
    '[[http]]\nprecision = "s"',
    "http[0].precision",
    "unknown key (it is a setting of [[udp]] relays only)",
  );
  assertRejects(
    httpOutput('bind-addr = ":1"'),
    "http[0].output[0].bind-addr",
    "unknown key (it is a setting of the [[http]] relay, not of one output)",
  );
  assertRejects(
    httpOutput("mtu = 512"),
    "http[0].output[0].mtu",
    "unknown key (it is a setting of [[udp]] outputs only)",
  );
  assertRejects(
    "[[udp]]\nmtu = 512",
    "udp[0].mtu",
    "unknown key (it is a setting of each output: write it inside the output entry)",
  );
  assertRejects(
    '[[udp]]\ndefault-retention-policy = "a"',
    "udp[0].default-retention-policy",
    "unknown key (it is a setting of [[http]] relays only)",
  );
  assertRejects(
    udpOutput('timeout = "1s"'),
    "udp[0].output[0].timeout",
    "unknown key (it is a setting of [[http]] outputs only)",
  );
  assertRejects(
    udpOutput("read-buffer = 1"),
    "udp[0].output[0].read-buffer",
    "unknown key (it is a setting of the [[udp]] relay, not of one output)",
  );
});

// ---------------------------------------------------------------------------
// Types

Deno.test("parseConfig() throws ConfigError when a value has the wrong type", () => {
  assertRejects(
    "[[http]]\nname = 1",
    "http[0].name",
    "expected a string, got an integer (1)",
  );
  assertRejects(
    "[[http]]\nbind-addr = 9096",
    "http[0].bind-addr",
    "expected a string, got an integer (9096)",
  );
  assertRejects(
    "[[http]]\nssl-combined-pem = true",
    "http[0].ssl-combined-pem",
    "expected a string, got a boolean (true)",
  );
  assertRejects(
    "[[http]]\ndefault-retention-policy = []",
    "http[0].default-retention-policy",
    "expected a string, got an array",
  );
  assertRejects(
    httpOutput("name = { a = 1 }"),
    "http[0].output[0].name",
    "expected a string, got a table",
  );
  assertRejects(
    httpOutput("timeout = 10"),
    "http[0].output[0].timeout",
    'expected a string, got an integer (10); write durations as quoted strings such as "10s"',
  );
  assertRejects(
    httpOutput("max-delay-interval = 1.5"),
    "http[0].output[0].max-delay-interval",
    'expected a string, got a float (1.5); write durations as quoted strings such as "10s"',
  );
  assertRejects(
    httpOutput('buffer-size-mb = "100"'),
    "http[0].output[0].buffer-size-mb",
    'expected an integer, got a string ("100")',
  );
  assertRejects(
    httpOutput("max-batch-kb = 1.0"),
    "http[0].output[0].max-batch-kb",
    "expected an integer, got a float (1.0)",
  );
  assertRejects(
    httpOutput("max-batch-kb = inf"),
    "http[0].output[0].max-batch-kb",
    "expected an integer, got a float (inf)",
  );
  assertRejects(
    httpOutput('skip-tls-verification = "true"'),
    "http[0].output[0].skip-tls-verification",
    'expected a boolean (true or false), got a string ("true")',
  );
  assertRejects(
    httpOutput("skip-tls-verification = 1"),
    "http[0].output[0].skip-tls-verification",
    "expected a boolean (true or false), got an integer (1)",
  );
  assertRejects(
    "[[udp]]\nprecision = 1979-05-27T07:32:00Z",
    "udp[0].precision",
    "expected a string, got a date-time (1979-05-27T07:32:00.000Z)",
  );
  assertRejects(
    '[[udp]]\nread-buffer = "1MB"',
    "udp[0].read-buffer",
    'expected an integer, got a string ("1MB")',
  );
  assertRejects(
    udpOutput('mtu = "512"'),
    "udp[0].output[0].mtu",
    'expected an integer, got a string ("512")',
  );
  assertRejects(
    "[[udp]]\noutput = [{ location = 8089 }]",
    "udp[0].output[0].location",
    "expected a string, got an integer (8089)",
  );
});

Deno.test("parseConfig() throws ConfigError when an integer is out of range", () => {
  assertRejects(
    httpOutput("buffer-size-mb = 99999999999999999999"),
    "http[0].output[0].buffer-size-mb",
    "invalid value 99999999999999999999 (expected a whole number of MiB, at most 8589934591; 0 disables buffering)",
  );
  assertRejects(
    httpOutput("buffer-size-mb = 8589934592"),
    "http[0].output[0].buffer-size-mb",
    "invalid value 8589934592 (expected a whole number of MiB, at most 8589934591; 0 disables buffering)",
  );
  assertRejects(
    httpOutput("max-batch-kb = 9223372036854775807"),
    "http[0].output[0].max-batch-kb",
    "invalid value 9223372036854775807 (expected a whole number of KiB, at most 8796093022207; 0 means 512)",
  );
  assertRejects(
    "[[udp]]\nread-buffer = 2147483648",
    "udp[0].read-buffer",
    "invalid value 2147483648 (expected a number of bytes from 0 to 2147483647; 0 keeps the system default)",
  );
  assertRejects(
    udpOutput("mtu = 9007199254740992"),
    "udp[0].output[0].mtu",
    "invalid value 9007199254740992 (expected a positive number of bytes, or 0 for the default of 1024)",
  );
});

// ---------------------------------------------------------------------------
// [[http]]

Deno.test("parseConfig() names an HTTP relay after its scheme and address by default", () => {
  const config = parseConfig(`
[[http]]
bind-addr = "127.0.0.1:9096"
[[http]]
bind-addr = "127.0.0.1:9097"
ssl-combined-pem = "/etc/relay/relay.pem"
[[http]]
name = ""
bind-addr = "127.0.0.1:9098"
`);
  assert.deepEqual(config.http.map((relay) => relay.name), [
    "http://127.0.0.1:9096",
    "https://127.0.0.1:9097",
    "http://127.0.0.1:9098",
  ]);
  assert.equal(config.http[0]?.sslCombinedPem, null);
  assert.equal(config.http[1]?.sslCombinedPem, "/etc/relay/relay.pem");
});

Deno.test("parseConfig() keeps ssl-combined-pem as written", () => {
  const config = parseConfig('[[http]]\nssl-combined-pem = "certs/relay.pem"');
  assert.equal(config.http[0]?.sslCombinedPem, "certs/relay.pem");
  const empty = parseConfig('[[http]]\nssl-combined-pem = ""');
  assert.equal(empty.http[0]?.sslCombinedPem, null);
});

Deno.test("parseConfig() listens on all interfaces and a random port when bind-addr is absent", () => {
  const config = parseConfig("[[http]]\n[[udp]]\nname = 'u'");
  assert.deepEqual(config.http[0], {
    name: "http://",
    bindAddr: "",
    bind: { hostname: "0.0.0.0", port: 0 },
    sslCombinedPem: null,
    defaultRetentionPolicy: "",
    ...ACK_DEFAULTS,
    outputs: [],
  });
  assert.deepEqual(config.udp[0], {
    name: "u",
    bindAddr: "",
    bind: { hostname: "0.0.0.0", port: 0 },
    precision: "",
    readBuffer: 0,
    outputs: [],
  });
});

Deno.test("parseConfig() parses bind-addr forms accepted by Go", () => {
  const cases: [string, string, number][] = [
    [":9096", "0.0.0.0", 9096],
    ["0.0.0.0:9096", "0.0.0.0", 9096],
    ["127.0.0.1:0", "127.0.0.1", 0],
    ["localhost:9096", "localhost", 9096],
    ["relay-1.example.com:65535", "relay-1.example.com", 65535],
    ["[::1]:9096", "::1", 9096],
    ["[::]:9096", "::", 9096],
    ["[fe80::1%eth0]:9096", "fe80::1%eth0", 9096],
    ["[::ffff:127.0.0.1]:9096", "::ffff:127.0.0.1", 9096],
  ];
  for (const [bindAddr, hostname, port] of cases) {
    const config = parseConfig(
      `[[http]]\nbind-addr = ${JSON.stringify(bindAddr)}`,
    );
    assert.deepEqual(config.http[0]?.bind, { hostname, port }, bindAddr);
    assert.equal(config.http[0]?.bindAddr, bindAddr);
  }
});

Deno.test("parseConfig() throws ConfigError when bind-addr is not host:port", () => {
  const hint =
    'expected "host:port" such as "127.0.0.1:9096", ":9096" or "[::1]:9096"';
  const cases: [string, string][] = [
    ["localhost", "missing port"],
    ["9096", "missing port"],
    ["127.0.0.1:", "missing port"],
    ["[::1]", "missing port"],
    ["::1:9096", "too many colons"],
    ["[::1:9096", 'missing "]"'],
    ["[::1]9096", 'unexpected "9096"'],
    ["[localhost]:9096", 'invalid IPv6 address "localhost"'],
    ["local host:9096", 'invalid host "local host"'],
    ["http://127.0.0.1:9096", "too many colons"],
    ["127.0.0.1:99999", 'port "99999" is not a number from 0 to 65535'],
    ["127.0.0.1:http", 'port "http" is not a number from 0 to 65535'],
    ["127.0.0.1:-1", 'port "-1" is not a number from 0 to 65535'],
    [" :9096", 'invalid host " "'],
  ];
  for (const [bindAddr, reason] of cases) {
    assertRejects(
      `[[http]]\nbind-addr = ${JSON.stringify(bindAddr)}`,
      "http[0].bind-addr",
      `invalid address ${JSON.stringify(bindAddr)}: ${reason} (${hint})`,
    );
  }
  assertRejects(
    '[[udp]]\nbind-addr = "localhost"',
    "udp[0].bind-addr",
    `invalid address "localhost": missing port (${hint})`,
  );
});

Deno.test("parseConfig() fills HTTP output defaults", () => {
  const config = parseConfig(
    '[[http]]\noutput = [{ location = "http://127.0.0.1:8086/write" }]',
  );
  assert.deepEqual(config.http[0]?.outputs, [{
    name: "http://127.0.0.1:8086/write",
    location: "http://127.0.0.1:8086/write",
    ...HTTP_DEFAULTS,
    queryLocation: "http://127.0.0.1:8086/query",
  }]);
  assert.equal(config.http[0]?.defaultRetentionPolicy, "");
});

Deno.test("parseConfig() reads every HTTP output key", () => {
  const config = parseConfig(httpOutput(`
name = "primary"
timeout = "1m30s"
buffer-size-mb = 64
max-batch-kb = 128
max-delay-interval = "2.5s"
skip-tls-verification = true
`));
  assert.deepEqual(firstHttpOutput(config), {
    name: "primary",
    location: "http://127.0.0.1:8086/write",
    timeoutMs: 90_000,
    bufferSizeMb: 64,
    maxBatchKb: 128,
    maxDelayIntervalMs: 2_500,
    skipTlsVerification: true,
    bufferPath: null,
    bufferFullPolicy: "reject",
    bufferMaxAgeMs: 86_400_000,
    bufferFsync: 1000,
    retryDatabaseNotFound: true,
    api: "v1",
    org: null,
    bucket: null,
    db: null,
    username: null,
    password: null,
    token: null,
    caCert: null,
    healthCheckIntervalMs: 10_000,
    healthCheckTimeoutMs: 2_000,
    queryLocation: "http://127.0.0.1:8086/query",
  });
});

Deno.test("parseConfig() keeps an HTTP location as written", () => {
  const location = "https://user@influx.example.com:8086/write?db=ignored";
  const config = parseConfig(
    httpOutput("").replace(
      "http://127.0.0.1:8086/write",
      location,
    ),
  );
  assert.equal(firstHttpOutput(config).location, location);
  assert.equal(firstHttpOutput(config).name, location);
});

Deno.test("parseConfig() throws ConfigError when an HTTP location is not an http(s) URL", () => {
  const hint =
    'expected an absolute http:// or https:// URL such as "http://127.0.0.1:8086/write"';
  for (
    const location of [
      "",
      "127.0.0.1:8086",
      "localhost:8086/write",
      "/write",
      "ftp://127.0.0.1/write",
      "http://",
      " http://127.0.0.1:8086/write",
      "http://127.0.0.1:8086/write ",
      "http://exa mple.com/write",
    ]
  ) {
    assertRejects(
      `[[http]]\noutput = [{ location = ${JSON.stringify(location)} }]`,
      "http[0].output[0].location",
      `invalid URL ${JSON.stringify(location)} (${hint})`,
    );
  }
  assertRejects(
    '[[http]]\noutput = [{ name = "a" }]',
    "http[0].output[0].location",
    `missing required key (${hint})`,
  );
});

Deno.test("parseConfig() reads timeout as a Go duration", () => {
  const timeout = (text: string) =>
    firstHttpOutput(
      parseConfig(httpOutput(`timeout = ${JSON.stringify(text)}`)),
    )
      .timeoutMs;
  assert.equal(timeout("0"), 0);
  assert.equal(timeout("0s"), 0);
  assert.equal(timeout(""), 10_000);
  assert.equal(timeout("500ms"), 500);
  assert.equal(timeout("1.5s"), 1_500);
  assert.equal(timeout("2h45m"), 9_900_000);
  assert.equal(timeout("+10s"), 10_000);
  assert.equal(timeout("250us"), 0.25);
  // Timers cannot wait longer than 2^31 - 1 ms.
  assert.equal(timeout("596h31m23.647s"), 2 ** 31 - 1);
  assert.equal(timeout("8760h"), 2 ** 31 - 1);
});

Deno.test("parseConfig() throws ConfigError when timeout is not a valid duration", () => {
  const hint = 'expected a Go duration such as "10s", "500ms" or "1m30s"';
  const path = "http[0].output[0].timeout";
  assertRejects(
    httpOutput('timeout = "abc"'),
    path,
    `invalid duration "abc" (${hint})`,
  );
  assertRejects(
    httpOutput('timeout = "10"'),
    path,
    `invalid duration "10": missing unit (${hint})`,
  );
  assertRejects(
    httpOutput('timeout = "10sec"'),
    path,
    'invalid duration "10sec": unknown unit "sec" (valid units are "ns", "us", "µs", "ms", "s", "m" and "h")',
  );
  assertRejects(
    httpOutput('timeout = "3000000h"'),
    path,
    'invalid duration "3000000h": out of range (durations are limited to ±2562047h47m16.854775807s)',
  );
  assertRejects(
    httpOutput('timeout = "-1s"'),
    path,
    'invalid duration "-1s": negative timeouts are not allowed (expected "0" for no timeout, or a positive Go duration such as "10s")',
  );
});

Deno.test("parseConfig() treats buffer-size-mb <= 0 as unbuffered", () => {
  for (const value of ["0", "-1", "-9223372036854775808"]) {
    const output = firstHttpOutput(
      parseConfig(httpOutput(`buffer-size-mb = ${value}`)),
    );
    assert.equal(output.bufferSizeMb, 0, value);
  }
});

Deno.test("parseConfig() treats max-batch-kb <= 0 as 512", () => {
  for (const value of ["0", "-5"]) {
    const output = firstHttpOutput(
      parseConfig(httpOutput(`max-batch-kb = ${value}`)),
    );
    assert.equal(output.maxBatchKb, 512, value);
  }
  const one = firstHttpOutput(parseConfig(httpOutput("max-batch-kb = 1")));
  assert.equal(one.maxBatchKb, 1);
});

Deno.test("parseConfig() ignores max-delay-interval when buffering is off", () => {
  for (
    const fields of [
      'max-delay-interval = "abc"',
      'max-delay-interval = "5s"',
      'max-delay-interval = "-1s"\nbuffer-size-mb = 0',
    ]
  ) {
    const output = firstHttpOutput(parseConfig(httpOutput(fields)));
    assert.equal(output.maxDelayIntervalMs, 10_000, fields);
  }
});

Deno.test("parseConfig() reads max-delay-interval when buffering is on", () => {
  const delay = (text: string) =>
    firstHttpOutput(parseConfig(httpOutput(
      `buffer-size-mb = 1\nmax-delay-interval = ${JSON.stringify(text)}`,
    ))).maxDelayIntervalMs;
  assert.equal(delay("5s"), 5_000);
  assert.equal(delay("1m"), 60_000);
  assert.equal(delay(""), 10_000);
  assert.equal(delay("0"), 0);
  assert.equal(delay("1000h"), 2 ** 31 - 1);
});

Deno.test("parseConfig() throws ConfigError when max-delay-interval is invalid while buffering", () => {
  const path = "http[0].output[0].max-delay-interval";
  assertRejects(
    httpOutput('buffer-size-mb = 1\nmax-delay-interval = "xyz"'),
    path,
    'invalid duration "xyz" (expected a Go duration such as "10s", "500ms" or "1m30s")',
  );
  assertRejects(
    httpOutput('buffer-size-mb = 1\nmax-delay-interval = "-5s"'),
    path,
    'invalid duration "-5s": negative intervals are not allowed (expected a positive Go duration such as "10s")',
  );
});

// ---------------------------------------------------------------------------
// [[udp]]

Deno.test("parseConfig() names a UDP relay after its bind-addr by default", () => {
  const config = parseConfig(
    '[[udp]]\nbind-addr = "127.0.0.1:8089"\n[[udp]]\nname = ""\nbind-addr = ":8090"',
  );
  assert.deepEqual(config.udp.map((relay) => relay.name), [
    "127.0.0.1:8089",
    ":8090",
  ]);
});

Deno.test("parseConfig() reads every UDP key", () => {
  const config = parseConfig(`
[[udp]]
name = "metrics"
bind-addr = "[::]:8089"
precision = "s"
read-buffer = 8388608
output = [
  { name = "a", location = "influx-a:8089", mtu = 1400 },
  { location = "[::1]:8089" },
  { location = "127.0.0.1:8089", mtu = 0 },
]
`);
  assert.deepEqual(config.udp[0], {
    name: "metrics",
    bindAddr: "[::]:8089",
    bind: { hostname: "::", port: 8089 },
    precision: "s",
    readBuffer: 8_388_608,
    outputs: [
      { name: "a", location: "influx-a:8089", mtu: 1400 },
      { name: "[::1]:8089", location: "[::1]:8089", mtu: 1024 },
      { name: "127.0.0.1:8089", location: "127.0.0.1:8089", mtu: 1024 },
    ],
  });
});

Deno.test("parseConfig() keeps an unknown UDP precision as written", () => {
  const config = parseConfig('[[udp]]\nbind-addr = ":1"\nprecision = "ns"');
  assert.equal(config.udp[0]?.precision, "ns");
});

Deno.test("parseConfig() throws ConfigError when a UDP value is negative", () => {
  assertRejects(
    udpOutput("mtu = -1"),
    "udp[0].output[0].mtu",
    "invalid value -1 (expected a positive number of bytes, or 0 for the default of 1024)",
  );
  assertRejects(
    '[[udp]]\nbind-addr = ":1"\nread-buffer = -1',
    "udp[0].read-buffer",
    "invalid value -1 (expected a number of bytes from 0 to 2147483647; 0 keeps the system default)",
  );
});

Deno.test("parseConfig() throws ConfigError when a UDP location is not host:port", () => {
  const hint =
    'expected "host:port" of an InfluxDB UDP listener, such as "127.0.0.1:8089"';
  const cases: [string, string][] = [
    ["", "missing port"],
    ["influxdb", "missing port"],
    ["influxdb:udp", 'port "udp" is not a number from 0 to 65535'],
    ["influxdb:0", "port 0 cannot be sent to"],
    ["::1:8089", "too many colons"],
    ["udp://influxdb:8089", "too many colons"],
  ];
  for (const [location, reason] of cases) {
    assertRejects(
      `[[udp]]\noutput = [{ location = ${JSON.stringify(location)} }]`,
      "udp[0].output[0].location",
      `invalid address ${JSON.stringify(location)}: ${reason} (${hint})`,
    );
  }
  assertRejects(
    "[[udp]]\noutput = [{ mtu = 512 }]",
    "udp[0].output[0].location",
    `missing required key (${hint})`,
  );
});

// ---------------------------------------------------------------------------
// Names

Deno.test("parseConfig() throws ConfigError when two relays share a name", () => {
  assertRejects(
    '[[http]]\nname = "a"\n[[udp]]\nname = "a"',
    "udp[0].name",
    'duplicate relay: "a" (also the name of http[0]; names must be unique across all [[http]] and [[udp]] relays)',
  );
  assertRejects(
    '[[http]]\nname = "a"\n[[http]]\nname = "b"\n[[http]]\nname = "a"',
    "http[2].name",
    'duplicate relay: "a" (also the name of http[0]; names must be unique across all [[http]] and [[udp]] relays)',
  );
});

Deno.test("parseConfig() throws ConfigError when two relays share a default name", () => {
  assertRejects(
    '[[http]]\nbind-addr = ":9096"\n[[http]]\nbind-addr = ":9096"',
    "http[1]",
    'duplicate relay: "http://:9096" (also the name of http[0]; this relay has no name, so it is named after its bind-addr: give it a unique name)',
  );
  assertRejects(
    '[[udp]]\nname = ":9096"\n[[udp]]\nbind-addr = ":9096"',
    "udp[1]",
    'duplicate relay: ":9096" (also the name of udp[0]; this relay has no name, so it is named after its bind-addr: give it a unique name)',
  );
  assertRejects(
    '[[http]]\nname = "http://:1"\n[[http]]\nbind-addr = ":1"',
    "http[1]",
    'duplicate relay: "http://:1" (also the name of http[0]; this relay has no name, so it is named after its bind-addr: give it a unique name)',
  );
});

Deno.test("parseConfig() allows HTTP and UDP relays on the same address", () => {
  const config = parseConfig(
    '[[http]]\nbind-addr = ":9096"\n[[udp]]\nbind-addr = ":9096"',
  );
  assert.equal(config.http[0]?.name, "http://:9096");
  assert.equal(config.udp[0]?.name, ":9096");
});

Deno.test("parseConfig() allows outputs of one relay to share a name", () => {
  const config = parseConfig(`
[[http]]
output = [
  { name = "x", location = "http://a:8086/write" },
  { name = "x", location = "http://b:8086/write" },
]
`);
  assert.deepEqual(config.http[0]?.outputs.map((output) => output.name), [
    "x",
    "x",
  ]);
});

Deno.test("parseConfig() reads the retry buffer and acknowledgement keys", () => {
  const config = parseConfig(`
[[http]]
bind-addr = "127.0.0.1:0"
ack = "majority"
ack-timeout = "3s"
ack-memory-buffer = true
[[http.output]]
location = "http://127.0.0.1:8086/write"
buffer-size-mb = 10
buffer-path = "/var/lib/influxdb-relay/a"
buffer-full-policy = "drop-oldest"
buffer-max-age = "1h"
buffer-fsync = "always"
retry-database-not-found = false
`);
  const http = config.http[0]!;
  assert.equal(http.ack, "majority");
  assert.equal(http.ackTimeoutMs, 3000);
  assert.equal(http.ackMemoryBuffer, true);
  const output = http.outputs[0]!;
  assert.equal(output.bufferPath, "/var/lib/influxdb-relay/a");
  assert.equal(output.bufferFullPolicy, "drop-oldest");
  assert.equal(output.bufferMaxAgeMs, 3_600_000);
  assert.equal(output.bufferFsync, "always");
  assert.equal(output.retryDatabaseNotFound, false);
});

Deno.test("parseConfig() rejects bad retry buffer and acknowledgement values", () => {
  const cases: [string, string, RegExp][] = [
    [
      'ack = "some"',
      "",
      /http\[0\]\.ack: invalid value "some" \(expected one of "first", "all", "majority"\)/,
    ],
    ['ack-timeout = "0s"', "", /http\[0\]\.ack-timeout: .*must be positive/],
    [
      "",
      'buffer-path = "/x"',
      /http\[0\]\.output\[0\]\.buffer-path: a spool needs a size/,
    ],
    [
      "",
      'buffer-size-mb = 1\nbuffer-full-policy = "block"',
      /buffer-full-policy: invalid value "block"/,
    ],
    ["", 'buffer-max-age = "-1h"', /buffer-max-age: .*must not be negative/],
    ["", 'buffer-fsync = "0s"', /buffer-fsync: invalid value "0s"/],
  ];
  for (const [relay, output, message] of cases) {
    assert.throws(
      () =>
        parseConfig(`
[[http]]
${relay}
[[http.output]]
location = "http://127.0.0.1:8086/write"
${output}
`),
      (error: Error) =>
        error instanceof ConfigError && message.test(error.message),
      `${relay}${output}`,
    );
  }
});

// ---------------------------------------------------------------------------
// InfluxDB 2.x/3.x outputs and credentials

Deno.test("parseConfig() reads api, bucket, org, db, credentials and ca-cert", () => {
  const config = parseConfig(`
[[http]]
output = [
  { location = "https://a:8086/api/v2/write", api = "v2", org = "ops", bucket = "all", token = "t0k", ca-cert = "ca.pem" },
  { location = "http://b:8181/api/v3/write_lp", api = "v3", db = "sensors" },
  { location = "http://c:8086/write", username = "relay", password = "pw" },
]
`);
  const [v2, v3, v1] = config.http[0]!.outputs;
  assert.deepEqual(
    [v2!.api, v2!.org, v2!.bucket, v2!.db, v2!.token, v2!.caCert],
    ["v2", "ops", "all", null, "t0k", "ca.pem"],
  );
  assert.deepEqual([v3!.api, v3!.db, v3!.token], ["v3", "sensors", null]);
  assert.deepEqual(
    [v1!.api, v1!.username, v1!.password, v1!.token],
    ["v1", "relay", "pw", null],
  );
});

Deno.test("parseConfig() reads token and password from \${NAME} environment variables", () => {
  const env: Record<string, string> = { INFLUX_TOKEN: "from-env", PW: "p@ss" };
  const config = parseConfig(
    `
[[http]]
output = [
  { location = "http://a/api/v2/write", api = "v2", token = "\${INFLUX_TOKEN}" },
  { location = "http://b/write", username = "me", password = "\${PW}" },
]
`,
    { env: (name) => env[name] },
  );
  const [v2, v1] = config.http[0]!.outputs;
  assert.equal(v2!.token, "from-env");
  assert.equal(v1!.password, "p@ss");
});

Deno.test("parseConfig() rejects an unset or empty environment variable for a secret", () => {
  const text = httpOutput('token = "\${NOPE_TOKEN}"');
  assert.throws(
    () => parseConfig(text, { file: "relay.toml", env: () => undefined }),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.message ===
        'Cannot load config "relay.toml": http[0].output[0].token: environment variable "NOPE_TOKEN" is not set',
  );
  assert.throws(
    () => parseConfig(text, { env: () => "" }),
    /token: environment variable "NOPE_TOKEN" is empty/,
  );
});

Deno.test("parseConfig() never puts a secret in its messages", () => {
  const cases: [string, string][] = [
    ['token = "SECRET"\nusername = "me"\npassword = "x"', "token"],
    ['password = "SECRET"', "username"],
    ['token = "a\${SECRET}"', "token"],
    ["token = 12345", "token"],
    ["password = 12345", "password"],
  ];
  for (const [fields, key] of cases) {
    assert.throws(
      () => parseConfig(httpOutput(fields), { env: () => "SECRET" }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError, String(error));
        assert.equal(error.path, `http[0].output[0].${key}`, fields);
        assert.doesNotMatch(error.message, /SECRET|12345/);
        return true;
      },
    );
  }
});

Deno.test("parseConfig() rejects keys that do not fit the output's api", () => {
  const cases: [string, string, string][] = [
    [
      'bucket = "b"',
      "bucket",
      'only applies to outputs with api = "v2" (this output has api = "v1")',
    ],
    [
      'api = "v3"\norg = "o"',
      "org",
      'only applies to outputs with api = "v2" (this output has api = "v3")',
    ],
    [
      'api = "v2"\ndb = "d"',
      "db",
      'only applies to outputs with api = "v3" (this output has api = "v2")',
    ],
    [
      'api = "v2"\nusername = "u"\npassword = "p"',
      "username",
      'api = "v2" backends authenticate with a token: set token instead of username and password',
    ],
    [
      'username = "u"',
      "password",
      "missing required key (a username needs a password)",
    ],
    [
      'api = "v4"',
      "api",
      'invalid value "v4" (expected one of "v1", "v2", "v3")',
    ],
    [
      'ca-cert = "ca.pem"',
      "ca-cert",
      "a CA file only applies to an https:// location",
    ],
  ];
  for (const [fields, key, detail] of cases) {
    assertRejects(httpOutput(fields), `http[0].output[0].${key}`, detail);
  }
  assertRejects(
    httpOutput('ca-cert = "ca.pem"\nskip-tls-verification = true').replace(
      "http://",
      "https://",
    ),
    "http[0].output[0].ca-cert",
    "has no effect with skip-tls-verification = true: remove one of them",
  );
});

// ---------------------------------------------------------------------------
// Observability: health checks, admin endpoints, [admin]

Deno.test("parseConfig() reads health-check-interval and health-check-timeout of an HTTP output", () => {
  const output = firstHttpOutput(parseConfig(httpOutput(`
health-check-interval = "30s"
health-check-timeout = "500ms"
`)));
  assert.equal(output.healthCheckIntervalMs, 30_000);
  assert.equal(output.healthCheckTimeoutMs, 500);
  const off = firstHttpOutput(
    parseConfig(httpOutput('health-check-interval = "0"')),
  );
  assert.equal(off.healthCheckIntervalMs, 0);
});

Deno.test("parseConfig() rejects a negative health-check-interval and a zero health-check-timeout", () => {
  assertRejects(
    httpOutput('health-check-interval = "-1s"'),
    "http[0].output[0].health-check-interval",
    'invalid duration "-1s": must not be negative ("0" turns health checks off; otherwise a Go duration such as "10s")',
  );
  assertRejects(
    httpOutput('health-check-timeout = "0"'),
    "http[0].output[0].health-check-timeout",
    'invalid duration "0": must be positive (expected a Go duration such as "10s")',
  );
  assertRejects(
    httpOutput("health-check-interval = 10"),
    "http[0].output[0].health-check-interval",
    'expected a string, got an integer (10); write durations as quoted strings such as "10s"',
  );
});

Deno.test("parseConfig() reads admin-endpoints of an [[http]] relay", () => {
  const config = parseConfig("[[http]]\nadmin-endpoints = false");
  assert.equal(config.http[0]?.adminEndpoints, false);
  assertRejects(
    '[[http]]\nadmin-endpoints = "no"',
    "http[0].admin-endpoints",
    'expected a boolean (true or false), got a string ("no")',
  );
  assertRejects(
    "[[udp]]\nadmin-endpoints = false",
    "udp[0].admin-endpoints",
    "unknown key (it is a setting of [[http]] relays only)",
  );
  assertRejects(
    httpOutput("admin-endpoints = false"),
    "http[0].output[0].admin-endpoints",
    "unknown key (it is a setting of the [[http]] relay, not of one output)",
  );
});

Deno.test("parseConfig() reads the [admin] listener", () => {
  const config = parseConfig(
    '[[http]]\n[admin]\nbind-addr = "127.0.0.1:9097"',
  );
  assert.deepEqual(config.admin, {
    bindAddr: "127.0.0.1:9097",
    bind: { hostname: "127.0.0.1", port: 9097 },
  });
  assert.equal(parseConfig("[[http]]").admin, null);
});

Deno.test("parseConfig() rejects an [admin] table without a valid bind-addr", () => {
  assertRejects(
    "[[http]]\n[admin]",
    "admin.bind-addr",
    'missing required key (the address of the admin listener, e.g. "127.0.0.1:9097")',
  );
  assertRejects(
    '[[http]]\n[admin]\nbind-addr = "nowhere"',
    "admin.bind-addr",
    'invalid address "nowhere": missing port (expected "host:port" such as "127.0.0.1:9096", ":9096" or "[::1]:9096")',
  );
  assertRejects(
    '[[http]]\n[admin]\nbind-addr = ":9097"\nadmin-endpoints = true',
    "admin.admin-endpoints",
    "unknown key (it is a setting of each [[http]] relay (whether its port also serves the admin paths))",
  );
  assertRejects(
    '[[http]]\n[[admin]]\nbind-addr = ":9097"',
    "admin",
    "expected a table ([admin]), got an array",
  );
});

Deno.test("parseConfig() reads the /query settings of an [[http]] relay", () => {
  const config = parseConfig(`[[http]]
query = false
query-policy = "lowest-latency"
query-ddl-when-down = "queue"
query-timeout = "1m"
`);
  const http = config.http[0]!;
  assert.equal(http.query, false);
  assert.equal(http.queryPolicy, "lowest-latency");
  assert.equal(http.queryDdlWhenDown, "queue");
  assert.equal(http.queryTimeoutMs, 60_000);
});

Deno.test("parseConfig() rejects bad /query settings with their path", () => {
  assertRejects(
    '[[http]]\nquery-policy = "random"',
    "http[0].query-policy",
    'invalid value "random" (expected one of "first", "round-robin", "lowest-latency")',
  );
  assertRejects(
    '[[http]]\nquery-ddl-when-down = "ignore"',
    "http[0].query-ddl-when-down",
    'invalid value "ignore" (expected one of "refuse", "queue")',
  );
  assertRejects(
    '[[http]]\nquery-timeout = "-1s"',
    "http[0].query-timeout",
    'invalid duration "-1s": must not be negative ("0" means no limit; otherwise a Go duration such as "10s")',
  );
  assertRejects(
    "[[http]]\nquery-timeout = 5",
    "http[0].query-timeout",
    'expected a string, got an integer (5); write durations as quoted strings such as "10s"',
  );
  assertRejects(
    '[[http]]\nquery = "yes"',
    "http[0].query",
    'expected a boolean (true or false), got a string ("yes")',
  );
  assertRejects(
    httpOutput('query-policy = "first"'),
    "http[0].output[0].query-policy",
    "unknown key (it is a setting of the [[http]] relay, not of one output)",
  );
  assertRejects(
    "[[udp]]\nquery = true",
    "udp[0].query",
    "unknown key (it is a setting of [[http]] relays only)",
  );
});

Deno.test("parseConfig() derives a v1 output's query-location from its location", () => {
  const cases: [string, string][] = [
    ["http://127.0.0.1:8086/write", "http://127.0.0.1:8086/query"],
    [
      "https://u:p@db.example/influx/write?db=x",
      "https://u:p@db.example/influx/query",
    ],
    ["http://127.0.0.1:8086/write/", "http://127.0.0.1:8086/query"],
    ["http://127.0.0.1:8086", "http://127.0.0.1:8086/query"],
  ];
  for (const [location, expected] of cases) {
    const config = parseConfig(
      `[[http]]\noutput = [{ location = ${JSON.stringify(location)} }]`,
    );
    assert.equal(firstHttpOutput(config).queryLocation, expected, location);
  }
});

Deno.test('parseConfig() reads query-location, "" leaving the output out, and no default for v2 and v3', () => {
  assert.equal(
    firstHttpOutput(parseConfig(httpOutput('query-location = ""')))
      .queryLocation,
    null,
  );
  assert.equal(
    firstHttpOutput(
      parseConfig(httpOutput('query-location = "https://reader:8086/query"')),
    ).queryLocation,
    "https://reader:8086/query",
  );
  const v2 = `[[http]]
[[http.output]]
location = "http://127.0.0.1:8086/api/v2/write"
api = "v2"
`;
  assert.equal(firstHttpOutput(parseConfig(v2)).queryLocation, null);
  assert.equal(
    firstHttpOutput(
      parseConfig(`${v2}query-location = "http://127.0.0.1:8086/query"`),
    ).queryLocation,
    "http://127.0.0.1:8086/query",
  );
  assertRejects(
    httpOutput('query-location = "127.0.0.1:8086/query"'),
    "http[0].output[0].query-location",
    'invalid URL "127.0.0.1:8086/query" (expected an absolute http:// or https:// URL such as "http://127.0.0.1:8086/query", or "" to leave this output out of /query)',
  );
});

// ---------------------------------------------------------------------------
// Issue 9: TLS files, limits, relay-side authentication, partial writes

const DIGEST =
  "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";

function firstHttp(text: string, env: Record<string, string> = {}) {
  const http = parseConfig(text, { env: (name) => env[name] }).http[0];
  assert.ok(http !== undefined);
  return http;
}

Deno.test("parseConfig() reads the limits of an [[http]] relay", () => {
  const http = firstHttp(`[[http]]
max-body-size = 1000
max-decompressed-size = 0
read-timeout = "2.5s"
max-concurrent-requests = 8
rate-limit = 0.5
rate-limit-burst = 3
partial-writes = true
`);
  assert.equal(http.maxBodySize, 1000);
  assert.equal(http.maxDecompressedSize, 0);
  assert.equal(http.readTimeoutMs, 2500);
  assert.equal(http.maxConcurrentRequests, 8);
  assert.equal(http.rateLimit, 0.5);
  assert.equal(http.rateLimitBurst, 3);
  assert.equal(http.partialWrites, true);
  assert.equal(firstHttp("[[http]]\nrate-limit = 100").rateLimit, 100);
});

Deno.test("parseConfig() rejects bad limits naming the key", () => {
  assertRejects(
    "[[http]]\nmax-body-size = -1",
    "http[0].max-body-size",
    "invalid value -1 (expected a number of bytes from 0 to 2147483647; 0 means no limit)",
  );
  assertRejects(
    "[[http]]\nmax-decompressed-size = 4294967296",
    "http[0].max-decompressed-size",
    "invalid value 4294967296 (expected a number of bytes from 0 to 2147483647; 0 means no limit)",
  );
  assertRejects(
    "[[http]]\nread-timeout = 30",
    "http[0].read-timeout",
    'expected a string, got an integer (30); write durations as quoted strings such as "10s"',
  );
  assertRejects(
    '[[http]]\nread-timeout = "-1s"',
    "http[0].read-timeout",
    'invalid duration "-1s": must not be negative ("0" means no limit; otherwise a Go duration such as "10s")',
  );
  assertRejects(
    '[[http]]\nrate-limit = "fast"',
    "http[0].rate-limit",
    'expected a number of writes per second (0 or more, e.g. 100 or 0.5), got a string ("fast")',
  );
  assertRejects(
    "[[http]]\nrate-limit-burst = 5",
    "http[0].rate-limit-burst",
    "has no effect without rate-limit: set rate-limit too",
  );
  assertRejects(
    "[[udp]]\nmax-body-size = 1",
    "udp[0].max-body-size",
    "unknown key (it is a setting of [[http]] relays only)",
  );
  assertRejects(
    httpOutput("max-body-size = 1"),
    "http[0].output[0].max-body-size",
    "unknown key (it is a setting of the [[http]] relay, not of one output)",
  );
});

Deno.test("parseConfig() reads tls-cert and tls-key as a pair, instead of ssl-combined-pem", () => {
  const http = firstHttp(`[[http]]
bind-addr = "127.0.0.1:9443"
tls-cert = "/etc/relay/cert.pem"
tls-key = "/etc/relay/key.pem"
`);
  assert.equal(http.tlsCert, "/etc/relay/cert.pem");
  assert.equal(http.tlsKey, "/etc/relay/key.pem");
  assert.equal(http.name, "https://127.0.0.1:9443");
  assertRejects(
    '[[http]]\ntls-cert = "c.pem"',
    "http[0].tls-key",
    "missing required key (tls-cert needs it: give both files)",
  );
  assertRejects(
    '[[http]]\ntls-key = "k.pem"',
    "http[0].tls-cert",
    "missing required key (tls-key needs it: give both files)",
  );
  assertRejects(
    '[[http]]\nssl-combined-pem = "a.pem"\ntls-cert = "c.pem"\ntls-key = "k.pem"',
    "http[0].tls-cert",
    "give either ssl-combined-pem or tls-cert and tls-key, not both",
  );
});

Deno.test("parseConfig() reads auth users and tokens as SHA-256 digests", () => {
  const http = firstHttp(
    `[[http]]
auth-users = [
  { name = "telegraf", password = "sha256:${DIGEST.toUpperCase()}" },
  { name = "app", password = "\${APP_PASSWORD}" },
]
auth-tokens = ["sha256:${DIGEST}", "\${TOKEN_DIGEST}"]
auth-file = "/etc/relay/credentials"
auth-admin-endpoints = false
forward-credentials = true
`,
    { APP_PASSWORD: "secret", TOKEN_DIGEST: `sha256:${DIGEST}` },
  );
  // printf %s secret | sha256sum
  assert.deepEqual(http.authUsers, [
    { name: "telegraf", sha256: DIGEST },
    { name: "app", sha256: DIGEST },
  ]);
  assert.deepEqual(http.authTokens, [DIGEST, DIGEST]);
  assert.equal(http.authFile, "/etc/relay/credentials");
  assert.equal(http.authAdminEndpoints, false);
  assert.equal(http.forwardCredentials, true);
});

Deno.test("parseConfig() refuses auth secrets written as is, and never prints them", () => {
  assert.throws(
    () =>
      parseConfig(
        '[[http]]\nauth-users = [{ name = "a", password = "hunter2" }]',
      ),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.path === "http[0].auth-users[0].password" &&
      error.message.includes("the config stores secrets hashed") &&
      !error.message.includes("hunter2"),
  );
  assertRejects(
    '[[http]]\nauth-tokens = ["sha256:abc"]',
    "http[0].auth-tokens[0]",
    'invalid value (the config stores secrets hashed: expected "sha256:<64 hex digits>" (printf %s "$secret" | sha256sum) or "${NAME}" to read the secret from environment variable NAME)',
  );
  assertRejects(
    '[[http]]\nauth-tokens = ["${NOT_SET_ANYWHERE}"]',
    "http[0].auth-tokens[0]",
    'environment variable "NOT_SET_ANYWHERE" is not set',
  );
  assertRejects(
    "[[http]]\nauth-tokens = [1]",
    "http[0].auth-tokens[0]",
    "expected a string, got an integer",
  );
  assertRejects(
    `[[http]]\nauth-users = [{ name = "a", password = "sha256:${DIGEST}" }, { name = "a", password = "sha256:${DIGEST}" }]`,
    "http[0].auth-users[1].name",
    'duplicate user "a"',
  );
  assertRejects(
    `[[http]]\nauth-users = [{ password = "sha256:${DIGEST}" }]`,
    "http[0].auth-users[0].name",
    "missing required key (the user name)",
  );
  assertRejects(
    `[[http]]\nauth-users = [{ name = "a", pass = "x" }]`,
    "http[0].auth-users[0].pass",
    'unknown key (expected "name" and "password")',
  );
});

Deno.test("parseConfig() rejects auth options without any credentials", () => {
  assertRejects(
    "[[http]]\nforward-credentials = true",
    "http[0].forward-credentials",
    "has no effect without auth-users, auth-tokens or auth-file",
  );
  assertRejects(
    "[[http]]\nauth-admin-endpoints = false",
    "http[0].auth-admin-endpoints",
    "has no effect without auth-users, auth-tokens or auth-file",
  );
});
