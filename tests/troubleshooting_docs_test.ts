/**
 * Keeps docs/troubleshooting.md honest. Every line the page quotes in a
 * fenced `log` block must be one the relay can print: it is matched against
 * the message templates written in relay/*.ts and main.ts (every string and
 * template literal, with logtape's `{name}` placeholders and `${…}`
 * substitutions as wildcards), so rewording a message without updating the
 * page fails here. The situations themselves are provoked again with a real
 * relay process: every start failure the page shows with its `relay.toml`,
 * and a refused backend, a bad write, a refused reload and a graceful stop;
 * the page's line must be among what the relay printed (timestamps, ports
 * and the version aside).
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { startFakeBackend } from "./_fake_backend.ts";
import { fencedBlocks } from "./_markdown.ts";
import { RELAY_PERMISSIONS } from "./_relay_process.ts";
import { waitFor } from "./_wait.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const DOC_PATH = `${ROOT}docs/troubleshooting.md`;

/**
 * A template with fewer fixed characters than this (`"{error}"`,
 * `` `${a}: ${b}` ``) would match almost any line, so it proves nothing.
 */
const MIN_FIXED_CHARS = 10;

/** logtape's level abbreviations in the text format, by method name. */
const LEVEL_TAGS: Record<string, string> = {
  trace: "TRC",
  debug: "DBG",
  info: "INF",
  warn: "WRN",
  warning: "WRN",
  error: "ERR",
  fatal: "FTL",
};

// ---------------------------------------------------------------------------
// Message templates in the source

/** One string or template literal of the relay's source. */
interface Template {
  /** `file:line` where the literal starts. */
  where: string;
  /** The literal's text, substitutions shown as `${…}`. */
  text: string;
  /**
   * Level tag (`"ERR"`…) when the literal is the first argument of a logger
   * call, else `null` (a constant, an error message, a console line).
   */
  level: string | null;
  /** The whole-line pattern. */
  pattern: RegExp;
}

/** A literal as the scanner found it: fixed text and wildcards (`null`). */
interface Literal {
  parts: (string | null)[];
  offset: number;
}

const REGEX_AFTER = new Set([..."(,=:[!&|?{};+-*%<>~^"]);
const KEYWORDS_BEFORE_REGEX = new Set([
  "return",
  "typeof",
  "case",
  "do",
  "else",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "yield",
  "await",
]);

/**
 * Finds every string and template literal of a TypeScript source, skipping
 * comments and regular expression literals (a small lexer: enough for this
 * code base, which the self-check test below keeps true).
 */
function scanLiterals(source: string): Literal[] {
  const literals: Literal[] = [];
  let last = "";
  let word = "";

  function escaped(at: number): [string, number] {
    const c = source[at + 1] ?? "";
    const simple: Record<string, string> = {
      n: "\n",
      t: "\t",
      r: "\r",
      "0": "\0",
    };
    if (c === "u" && source[at + 2] === "{") {
      const end = source.indexOf("}", at);
      const code = parseInt(source.slice(at + 3, end), 16);
      return [String.fromCodePoint(code), end + 1];
    }
    if (c === "u") {
      const code = parseInt(source.slice(at + 2, at + 6), 16);
      return [String.fromCharCode(code), at + 6];
    }
    if (c === "\n") return ["", at + 2];
    return [simple[c] ?? c, at + 2];
  }

  function quoted(start: number): number {
    const quote = source[start];
    let at = start + 1;
    let text = "";
    while (at < source.length) {
      const c = source[at]!;
      if (c === "\\") {
        const [value, next] = escaped(at);
        text += value;
        at = next;
      } else if (c === quote || c === "\n") {
        at++;
        break;
      } else {
        text += c;
        at++;
      }
    }
    literals.push({ parts: [text], offset: start });
    return at;
  }

  function template(start: number): number {
    let at = start + 1;
    const parts: (string | null)[] = [];
    let text = "";
    while (at < source.length) {
      const c = source[at]!;
      if (c === "\\") {
        const [value, next] = escaped(at);
        text += value;
        at = next;
      } else if (c === "`") {
        at++;
        break;
      } else if (c === "$" && source[at + 1] === "{") {
        parts.push(text, null);
        text = "";
        at = code(at + 2, true);
      } else {
        text += c;
        at++;
      }
    }
    parts.push(text);
    literals.push({ parts, offset: start });
    return at;
  }

  function regex(start: number): number {
    let at = start + 1;
    let inClass = false;
    while (at < source.length) {
      const c = source[at]!;
      if (c === "\\") at += 2;
      else if (c === "\n") return at;
      else {
        if (c === "[") inClass = true;
        else if (c === "]") inClass = false;
        else if (c === "/" && !inClass) {
          at++;
          break;
        }
        at++;
      }
    }
    while (/[a-z]/.test(source[at] ?? "")) at++;
    return at;
  }

  function code(start: number, untilBrace: boolean): number {
    let at = start;
    let depth = 0;
    while (at < source.length) {
      const c = source[at]!;
      const next = source[at + 1];
      if (/\s/.test(c)) {
        at++;
      } else if (c === "/" && next === "/") {
        const end = source.indexOf("\n", at);
        at = end < 0 ? source.length : end;
      } else if (c === "/" && next === "*") {
        const end = source.indexOf("*/", at + 2);
        at = end < 0 ? source.length : end + 2;
      } else if (c === "'" || c === '"') {
        at = quoted(at);
        last = '"';
        word = "";
      } else if (c === "`") {
        at = template(at);
        last = '"';
        word = "";
      } else if (c === "/") {
        const isRegex = last === "" || REGEX_AFTER.has(last) ||
          (last === "a" && KEYWORDS_BEFORE_REGEX.has(word));
        at = isRegex ? regex(at) : at + 1;
        last = "/";
        word = "";
      } else if (/[\w$#]/.test(c)) {
        let end = at;
        while (end < source.length && /[\w$#]/.test(source[end]!)) end++;
        word = source.slice(at, end);
        last = "a";
        at = end;
      } else {
        if (c === "{") depth++;
        if (c === "}") {
          if (untilBrace && depth === 0) return at + 1;
          depth--;
        }
        last = c;
        word = "";
        at++;
      }
    }
    return at;
  }

  code(0, false);
  return literals;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The relay's own source files: main.ts and relay/*.ts without tests. */
async function sourceFiles(): Promise<string[]> {
  const files = ["main.ts"];
  for await (const entry of Deno.readDir(`${ROOT}relay`)) {
    const name = entry.name;
    if (!entry.isFile || !name.endsWith(".ts") || name.startsWith("_")) {
      continue;
    }
    if (name.endsWith("_test.ts") || name.endsWith("_bench.ts")) continue;
    files.push(`relay/${name}`);
  }
  return files.sort();
}

/** Every literal of the relay's source that reads like a message. */
async function messageTemplates(): Promise<Template[]> {
  const templates: Template[] = [];
  for (const file of await sourceFiles()) {
    const source = await Deno.readTextFile(`${ROOT}${file}`);
    for (const literal of scanLiterals(source)) {
      // logtape placeholders are wildcards too.
      const pieces: (string | null)[] = [];
      for (const part of literal.parts) {
        if (part === null) {
          pieces.push(null);
          continue;
        }
        const split = part.split(/\{[A-Za-z_][A-Za-z0-9_]*\}/);
        split.forEach((piece, index) => {
          if (index > 0) pieces.push(null);
          pieces.push(piece);
        });
      }
      const fixed = pieces.filter((p): p is string => p !== null).join("");
      if (fixed.length < MIN_FIXED_CHARS || !fixed.includes(" ")) continue;
      const before = source.slice(
        Math.max(0, literal.offset - 40),
        literal.offset,
      );
      const call = before.match(
        /\.(trace|debug|info|warn|warning|error|fatal)\(\s*$/,
      );
      const line = source.slice(0, literal.offset).split("\n").length;
      templates.push({
        where: `${file}:${line}`,
        text: pieces.map((p) => p ?? "${…}").join(""),
        level: call === null ? null : LEVEL_TAGS[call[1]!]!,
        pattern: new RegExp(
          `^${
            pieces.map((p) => p === null ? ".*" : escapeRegExp(p)).join("")
          }$`,
        ),
      });
    }
  }
  return templates;
}

// ---------------------------------------------------------------------------
// Lines quoted by the page

/** One line of a `log` block, taken apart. */
interface QuotedLine {
  /** The line as quoted. */
  line: string;
  /** Level tag, for text and JSON log lines. */
  level: string | null;
  /** The message itself, without time, level and logger. */
  message: string;
}

const TEXT_LINE =
  /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[(TRC|DBG|INF|WRN|ERR|FTL)\] (influxdb-relay\S*): (.*)$/;

/**
 * Takes a quoted line apart: a text-format log line, a JSON one, or a line
 * main.ts prints before logging starts (config errors, `--check-config`
 * warnings, which it prefixes with `warning: `).
 */
function parseQuoted(line: string): QuotedLine {
  if (line.startsWith("{")) {
    const record = JSON.parse(line) as Record<string, unknown>;
    assert.equal(typeof record.message, "string", `no message in ${line}`);
    assert.match(String(record.logger), /^influxdb-relay/, line);
    return {
      line,
      level: LEVEL_TAGS[String(record.level)] ?? null,
      message: String(record.message),
    };
  }
  const text = line.match(TEXT_LINE);
  if (text !== null) {
    return { line, level: text[1]!, message: text[3]! };
  }
  return {
    line,
    level: null,
    message: line.startsWith("warning: ") ? line.slice(9) : line,
  };
}

/** Every non-empty line of the page's `log` blocks. */
async function quotedLines(): Promise<string[]> {
  const markdown = await Deno.readTextFile(DOC_PATH);
  return fencedBlocks(markdown, "log")
    .flatMap((block) => block.split("\n"))
    .filter((line) => line.trim() !== "");
}

/**
 * The quoted line that matches `pattern`; lines that differ only in time and
 * ports count as one. Fails on none or several.
 */
async function docLine(pattern: RegExp): Promise<string> {
  const found = new Map<string, string>();
  for (const line of await quotedLines()) {
    if (pattern.test(line)) found.set(normalize(line), line);
  }
  assert.equal(
    found.size,
    1,
    `expected one quoted line matching ${pattern} in docs/troubleshooting.md, found ${found.size}`,
  );
  return [...found.values()][0]!;
}

/**
 * What stays of a line when time, ports and the relay's version are taken
 * out: the page shows the sample ports (9096, 8086, 7086), the tests use
 * free ones.
 */
function normalize(line: string): string {
  return line
    .replace(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /, "<time> ")
    .replace(/127\.0\.0\.1:\d+/g, "127.0.0.1:<port>")
    .replace(/influxdb-relay \d+\.\d+\.\d+\S*/g, "influxdb-relay <version>");
}

/** Asserts that `output` has a line equal to `quoted`, both normalized. */
function assertPrinted(output: string, quoted: string): void {
  const want = normalize(quoted);
  const lines = output.split("\n").map(normalize);
  assert.ok(
    lines.includes(want),
    `the relay did not print the line docs/troubleshooting.md quotes:\n  ${want}\nit printed:\n${
      lines.join("\n")
    }`,
  );
}

Deno.test("docs/troubleshooting.md quotes only log lines the relay's code prints", async () => {
  const templates = await messageTemplates();
  const lines = await quotedLines();
  assert.ok(lines.length >= 40, `only ${lines.length} quoted log lines`);
  const problems: string[] = [];
  for (const line of lines) {
    const quoted = parseQuoted(line);
    const matches = templates.filter((t) => t.pattern.test(quoted.message));
    if (matches.length === 0) {
      problems.push(
        `no message template in relay/*.ts or main.ts prints:\n  ${line}`,
      );
      continue;
    }
    const levels = matches.map((t) => t.level);
    if (
      quoted.level !== null && !levels.includes(null) &&
      !levels.includes(quoted.level)
    ) {
      problems.push(
        `quoted at [${quoted.level}] but logged at ${
          matches.map((t) => `[${t.level}] by ${t.where}`).join(", ")
        }:\n  ${line}`,
      );
    }
  }
  assert.deepEqual(problems, [], problems.join("\n"));
});

Deno.test("messageTemplates() finds the message of every logger call", async () => {
  const templates = await messageTemplates();
  let calls = 0;
  for (const file of await sourceFiles()) {
    const source = await Deno.readTextFile(`${ROOT}${file}`);
    const call = /\.(trace|debug|info|warn|warning|error|fatal)\(\s*(['"`])/g;
    for (const match of source.matchAll(call)) {
      calls++;
      const start = match.index + match[0].length - 1;
      const quote = match[2]!;
      const end = source.indexOf(quote, start + 1);
      const fixed = source.slice(start + 1, end)
        .replace(/\$?\{[^}]*\}/g, "");
      // "{error}" and the like are too short to be templates, on purpose.
      if (fixed.length < MIN_FIXED_CHARS) continue;
      const line = source.slice(0, start).split("\n").length;
      assert.ok(
        templates.some((t) =>
          t.where === `${file}:${line}` && t.level !== null
        ),
        `the message of the logger call at ${file}:${line} was not scanned`,
      );
    }
  }
  assert.ok(calls >= 40, `only ${calls} logger calls found`);
  assert.ok(
    templates.some((t) => t.text.startsWith("Problem posting to relay")),
    "the fan-out's failure message is a constant and must be found too",
  );
});

// ---------------------------------------------------------------------------
// Provoking the situations with a real relay

const MAIN = `${ROOT}main.ts`;

/** A port that was free a moment ago. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/**
 * The environment for the relay, without the variables the config reads
 * (`"${NAME}"`), so that "is not set" is what the page says it is.
 */
function relayEnv(config: string): Record<string, string> {
  const env = Deno.env.toObject();
  for (const match of config.matchAll(/"\$\{([A-Za-z_][A-Za-z0-9_]*)\}"/g)) {
    delete env[match[1]!];
  }
  return env;
}

/** Runs `main.ts --config relay.toml …` in `dir` to its end. */
async function runToEnd(
  dir: string,
  config: string,
  args: readonly string[] = [],
): Promise<{ code: number; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...RELAY_PERMISSIONS,
      MAIN,
      "--config",
      "relay.toml",
      ...args,
    ],
    cwd: dir,
    env: relayEnv(config),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stderr: new TextDecoder().decode(output.stderr),
  };
}

/** A `toml` block and the `log` block right after it. */
interface Repro {
  config: string;
  log: string[];
}

/**
 * The page's start failures: a `toml` block followed by a `log` block that
 * ends with an `[FTL]` line or a config error (`Cannot …` alone on a line).
 */
async function startFailures(): Promise<Repro[]> {
  const markdown = await Deno.readTextFile(DOC_PATH);
  const blocks = [
    ...markdown.matchAll(/^```([^\n`]*)\n([\s\S]*?)^```[ \t]*$/gm),
  ].map((m) => ({ info: (m[1] ?? "").trim(), body: m[2] ?? "" }));
  const repros: Repro[] = [];
  for (let i = 0; i + 1 < blocks.length; i++) {
    const [toml, log] = [blocks[i]!, blocks[i + 1]!];
    if (toml.info !== "toml" || log.info !== "log") continue;
    const lines = log.body.split("\n").filter((line) => line.trim() !== "");
    const last = lines.at(-1) ?? "";
    if (/ \[FTL\] /.test(last) || last.startsWith("Cannot ")) {
      repros.push({ config: toml.body, log: lines });
    }
  }
  return repros;
}

/**
 * Runs one start failure: the config's loopback ports are replaced with free
 * ones, and a port the log says is in use is held by this test meanwhile.
 */
async function runStartFailure(repro: Repro): Promise<string[]> {
  const inUse = new Map<number, "tcp" | "udp">();
  for (const line of repro.log) {
    const match = line.match(
      /Cannot start (?:(UDP) relay "[^"]*"|\w+ relay "[^"]*"|the admin listener) on "127\.0\.0\.1:(\d+)": Address already in use/,
    );
    if (match) inUse.set(Number(match[2]), match[1] === "UDP" ? "udp" : "tcp");
  }
  const held: { close(): void }[] = [];
  const dir = await Deno.makeTempDir({ prefix: "troubleshooting_" });
  try {
    const ports = new Map<number, number>();
    const config = repro.config.replace(/127\.0\.0\.1:(\d+)/g, (_, text) => {
      const port = Number(text);
      if (!ports.has(port)) {
        const kind = inUse.get(port);
        if (kind === "udp") {
          const socket = Deno.listenDatagram({
            transport: "udp",
            hostname: "127.0.0.1",
            port: 0,
          });
          held.push(socket);
          ports.set(port, (socket.addr as Deno.NetAddr).port);
        } else if (kind === "tcp") {
          const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
          held.push(listener);
          ports.set(port, listener.addr.port);
        } else {
          ports.set(port, freePort());
        }
      }
      return `127.0.0.1:${ports.get(port)}`;
    });
    await Deno.writeTextFile(`${dir}/relay.toml`, config);
    const { code, stderr } = await runToEnd(dir, config);
    const problems: string[] = [];
    if (code !== 1) problems.push(`exit code ${code}, expected 1`);
    const printed = stderr.split("\n").map(normalize);
    for (const line of repro.log) {
      if (!printed.includes(normalize(line))) {
        problems.push(`not printed: ${line}`);
      }
    }
    return problems.length === 0 ? [] : [
      `for the config\n${repro.config}${
        problems.join("\n")
      }\nit printed:\n${stderr}`,
    ];
  } finally {
    for (const socket of held) socket.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("every start failure on docs/troubleshooting.md is what main.ts prints for its config", async () => {
  const repros = await startFailures();
  // Unknown key, bad duration, TOML errors, address in use, TLS, … .
  assert.ok(repros.length >= 12, `only ${repros.length} start failures found`);
  assert.ok(
    repros.some((r) => r.log.some((l) => l.includes("unknown key"))),
    "the unknown-key entry must be run",
  );
  assert.ok(
    repros.some((r) => r.log.some((l) => l.includes("Address already in use"))),
    "the address-in-use entry must be run",
  );
  const problems: string[] = [];
  // Four processes at a time, to spare a small CI machine.
  for (let i = 0; i < repros.length; i += 4) {
    const results = await Promise.all(
      repros.slice(i, i + 4).map(runStartFailure),
    );
    problems.push(...results.flat());
  }
  assert.deepEqual(problems, [], problems.join("\n\n"));
});

Deno.test("main.ts prints the page's line for a missing config file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "troubleshooting_" });
  try {
    const { code, stderr } = await runToEnd(dir, "");
    assert.equal(code, 1);
    assertPrinted(stderr, await docLine(/^Cannot read config file/));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A relay process started in `dir` with `--config relay.toml` and `args`. */
interface RunningRelay {
  /** `http://127.0.0.1:<port>` of its HTTP listener. */
  url: string;
  /** Everything on its stderr so far. */
  log(): string;
  /** Waits (bounded) for a line matching `pattern`. */
  waitForLine(pattern: RegExp): Promise<void>;
  /** Sends a signal. */
  kill(signal: Deno.Signal): void;
  /** Waits for the exit and the end of its output; the exit code. */
  exited(): Promise<number>;
}

/**
 * Starts `main.ts --config relay.toml` in `dir` and waits (bounded) until its
 * HTTP listener is up.
 */
async function startRelay(
  dir: string,
  args: readonly string[],
): Promise<RunningRelay> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...RELAY_PERMISSIONS,
      MAIN,
      "--config",
      "relay.toml",
      ...args,
    ],
    cwd: dir,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let text = "";
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      text += decoder.decode(chunk, { stream: true });
    }
  })();
  const relay: RunningRelay = {
    url: "",
    log: () => text,
    async waitForLine(pattern) {
      await waitFor(() => pattern.test(text), {
        timeoutMs: 15_000,
        message: () => `a line matching ${pattern} in:\n${text}`,
      });
    },
    kill(signal) {
      child.kill(signal);
    },
    async exited() {
      const status = await child.status;
      await reading;
      return status.code;
    },
  };
  try {
    await relay.waitForLine(/Starting HTTP relay "[^"]*" on \S+/);
  } catch (error) {
    child.kill("SIGKILL");
    await relay.exited();
    throw error;
  }
  const address = text.match(/Starting HTTP relay "[^"]*" on (\S+)/)![1]!;
  return { ...relay, url: `http://${address}` };
}

Deno.test("a relay with a refused backend, a bad write, a broken reload and a SIGTERM prints the page's lines", async () => {
  await using backend = await startFakeBackend();
  const dir = await Deno.makeTempDir({ prefix: "troubleshooting_" });
  const [listen, refused] = [freePort(), freePort()];
  const config = (extra: string) =>
    `[[http]]
name = "example-http"
bind-addr = "127.0.0.1:${listen}"
${extra}output = [
  { name = "local1", location = "${backend.url}/write" },
  { name = "local2", location = "http://127.0.0.1:${refused}/write" },
]
`;
  const first = config("");
  await Deno.writeTextFile(`${dir}/relay.toml`, first);
  let relay: RunningRelay | null = null;
  try {
    relay = await startRelay(dir, ["--log-level", "debug"]);

    // A backend that refuses connections: the probe at start, then a write.
    await relay.waitForLine(/Backend "local2" of relay "example-http" down/);
    assertPrinted(
      relay.log(),
      await docLine(
        /Backend "local2" of relay "example-http" down: probe failed: .*ECONNREFUSED/,
      ),
    );
    const good = await fetch(`${relay.url}/write?db=mydb`, {
      method: "POST",
      body: "cpu,host=a value=1",
    });
    await good.body?.cancel();
    assert.equal(good.status, 204, "local1 stored it");
    await relay.waitForLine(/Problem posting to relay/);
    assertPrinted(
      relay.log(),
      await docLine(
        /^\S+ \[ERR\] .*Problem posting to relay "example-http" backend "local2": POST .*ECONNREFUSED/,
      ),
    );

    // Bad line protocol: 400 to the client, a debug line.
    const bad = await fetch(`${relay.url}/write?db=mydb`, {
      method: "POST",
      body: "cpu,host=a value=1\ncpu,host=b value=\ncpu value=3",
    });
    const answer = (await bad.text()).trim();
    assert.equal(bad.status, 400);
    assert.ok(
      (await Deno.readTextFile(DOC_PATH)).includes(
        `\`400 ${answer}\``,
      ),
      `the page must show the client's answer 400 ${answer}`,
    );
    await relay.waitForLine(/Rejected write on relay/);
    assertPrinted(
      relay.log(),
      await docLine(
        /Rejected write on relay "example-http": line 2: missing field value/,
      ),
    );

    // A reload of a broken config is refused and the relay keeps running.
    await Deno.writeTextFile(
      `${dir}/relay.toml`,
      config('max-body-size = "25MB"\n'),
    );
    relay.kill("SIGHUP");
    await relay.waitForLine(/Cannot reload config/);
    assertPrinted(relay.log(), await docLine(/Received SIGHUP: reloading/));
    assertPrinted(
      relay.log(),
      await docLine(
        /Cannot reload config .*max-body-size: expected an integer/,
      ),
    );

    // A graceful stop.
    const stopping = relay;
    relay = null;
    stopping.kill("SIGTERM");
    assert.equal(await stopping.exited(), 0);
    assertPrinted(
      stopping.log(),
      await docLine(
        /Received SIGTERM: stopping, in-flight writes have 30000ms/,
      ),
    );
    assertPrinted(
      stopping.log(),
      await docLine(/\[INF\] .*Stopped \(all writes finished\)/),
    );
  } finally {
    if (relay !== null) {
      relay.kill("SIGKILL");
      await relay.exited();
    }
    await Deno.remove(dir, { recursive: true });
  }
});
