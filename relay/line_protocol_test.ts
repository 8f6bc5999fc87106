import assert from "node:assert/strict";
import {
  findLineEnd,
  LineProtocolError,
  MAX_ERROR_TEXT,
  normalizeLines,
  parsePrecision,
  type Precision,
} from "./line_protocol.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** 2023-11-14T22:13:20.123456789Z */
const NOW = 1_700_000_000_123_456_789n;

function normalize(text: string, precision: Precision = "n"): string {
  const { body } = normalizeLines(encoder.encode(text), {
    precision,
    now: NOW,
  });
  return decoder.decode(body);
}

function rejection(
  text: string,
  precision: Precision = "n",
): LineProtocolError {
  try {
    normalizeLines(encoder.encode(text), { precision, now: NOW });
  } catch (error) {
    if (error instanceof LineProtocolError) return error;
    throw error;
  }
  assert.fail(`accepted ${JSON.stringify(text)}`);
}

function assertRejects(
  text: string,
  reason: string,
  line = 1,
  precision: Precision = "n",
): void {
  const error = rejection(text, precision);
  assert.equal(error.reason, reason, JSON.stringify(text));
  assert.equal(error.line, line, JSON.stringify(text));
}

function assertAccepts(text: string, precision: Precision = "n"): void {
  normalizeLines(encoder.encode(text), { precision, now: NOW });
}

// --- parsePrecision -------------------------------------------------------

Deno.test("parsePrecision() maps the six units to themselves", () => {
  for (const unit of ["n", "u", "ms", "s", "m", "h"] as const) {
    assert.equal(parsePrecision(unit), unit);
  }
});

Deno.test("parsePrecision() returns nanoseconds when the value is unrecognised", () => {
  for (
    const value of [null, undefined, "", "ns", "us", "\u00b5", "rfc3339", "S"]
  ) {
    assert.equal(parsePrecision(value), "n");
  }
});

// --- output -----------------------------------------------------------------

Deno.test("normalizeLines() returns the input itself when nothing has to change", () => {
  const input = encoder.encode(
    'cpu,host=a value=1 10\nmem free=3i,s="a\nb" 20\n',
  );
  const result = normalizeLines(input, { now: NOW });
  assert.equal(result.body, input);
  assert.equal(result.points, 2);
});

Deno.test("normalizeLines() returns a view of the input when only comments and blank lines around it go", () => {
  const input = encoder.encode("# head\n\n  \ncpu v=1 1\ncpu v=2 2\n\n# tail");
  const result = normalizeLines(input, { now: NOW });
  assert.equal(result.body.buffer, input.buffer);
  assert.equal(decoder.decode(result.body), "cpu v=1 1\ncpu v=2 2\n");
  assert.equal(result.points, 2);
});

Deno.test("normalizeLines() returns an empty body when there are no points", () => {
  for (const text of ["", "\n", "  \t\n\n", "# only a comment", "#a\n #b\n"]) {
    const result = normalizeLines(encoder.encode(text), { now: NOW });
    assert.equal(result.body.length, 0);
    assert.equal(result.points, 0);
  }
});

Deno.test("normalizeLines() adds the final newline when it is missing", () => {
  assert.equal(normalize("cpu v=1 1\ncpu v=2 2"), "cpu v=1 1\ncpu v=2 2\n");
});

Deno.test("normalizeLines() fills in the receive time in each precision", () => {
  const cases: [Precision, string][] = [
    ["n", "1700000000123456789"],
    ["u", "1700000000123456"],
    ["ms", "1700000000123"],
    ["s", "1700000000"],
    ["m", "28333333"],
    ["h", "472222"],
  ];
  for (const [precision, ts] of cases) {
    assert.equal(normalize("cpu value=1", precision), `cpu value=1 ${ts}\n`);
  }
});

Deno.test("normalizeLines() gives every line of a call the same filled-in timestamp", () => {
  assert.equal(
    normalize("a v=1\nb v=2 5\nc v=3\n", "ms"),
    "a v=1 1700000000123\nb v=2 5\nc v=3 1700000000123\n",
  );
});

Deno.test("normalizeLines() floors the receive time when it is negative", () => {
  const { body } = normalizeLines(encoder.encode("cpu v=1"), {
    precision: "s",
    now: -1_500_000_000n,
  });
  assert.equal(decoder.decode(body), "cpu v=1 -2\n");
});

Deno.test("normalizeLines() uses the current time when now is not given", () => {
  const before = BigInt(Date.now()) - 2000n;
  const { body } = normalizeLines(encoder.encode("cpu v=1"), {
    precision: "ms",
  });
  const after = BigInt(Date.now()) + 2000n;
  const ts = BigInt(decoder.decode(body).trim().split(" ")[2]!);
  assert.ok(ts >= before && ts <= after, `${ts}`);
});

Deno.test("normalizeLines() forwards explicit timestamps unchanged in every precision", () => {
  for (const precision of ["n", "u", "ms", "s", "m", "h"] as const) {
    assert.equal(
      normalize("cpu v=1 -0012\ncpu v=1 7", precision),
      "cpu v=1 -0012\ncpu v=1 7\n",
    );
  }
});

Deno.test("normalizeLines() removes leading blanks, blank lines and comments", () => {
  assert.equal(
    normalize("  \t\0cpu v=1 1\n\n \t \n# c v=2\n   # c\ncpu v=3 3\n"),
    "cpu v=1 1\ncpu v=3 3\n",
  );
});

Deno.test("normalizeLines() drops what follows the fields when it fills in the timestamp", () => {
  assert.equal(normalize("cpu v=1   "), "cpu v=1 1700000000123456789\n");
  assert.equal(
    normalize('cpu v="x" \t\0 \n'),
    'cpu v="x" 1700000000123456789\n',
  );
});

Deno.test("normalizeLines() keeps spaces between sections and after a timestamp", () => {
  assert.equal(normalize("cpu  v=1 \t 5  "), "cpu  v=1 \t 5  \n");
});

Deno.test("normalizeLines() forwards the spec examples as the backends must see them", () => {
  // original-relay.md §3.4 examples; tags are left unsorted (decision D8).
  assert.equal(
    normalize('cpu\\,x,tag\\ one=v\\=1,a=b  f\\ 1="x\ny",g=1i    10'),
    'cpu\\,x,tag\\ one=v\\=1,a=b  f\\ 1="x\ny",g=1i    10\n',
  );
  assert.equal(normalize("  \t cpu value=1 -5   "), "cpu value=1 -5   \n");
  assert.equal(
    normalize("cpu value=1\ncpu value=2 123"),
    "cpu value=1 1700000000123456789\ncpu value=2 123\n",
  );
  assert.equal(
    normalize(
      '# comment\n\n  cpu,z=1,a=2   value=1,s="a b" \nmem free=3i 1500000000\n',
      "s",
    ),
    'cpu,z=1,a=2   value=1,s="a b" 1700000000\nmem free=3i 1500000000\n',
  );
  assert.equal(normalize("cpu value=1", "h"), "cpu value=1 472222\n");
  assert.equal(
    normalize("cpu,b=1,a=2,c=3 v=1,z=2,a=3 0"),
    "cpu,b=1,a=2,c=3 v=1,z=2,a=3 0\n",
  );
});

Deno.test("normalizeLines() counts points when the scratch space has to grow", () => {
  const lines = Array.from({ length: 5000 }, (_, k) => `m,k=${k} v=${k}i`);
  const { body, points } = normalizeLines(encoder.encode(lines.join("\n")), {
    precision: "s",
    now: NOW,
  });
  assert.equal(points, 5000);
  assert.equal(
    decoder.decode(body),
    lines.map((line) => `${line} 1700000000\n`).join(""),
  );
});

Deno.test("normalizeLines() rewrites the separator when the first field key is empty after a tab", () => {
  // The original accepts this and sends `cpu =1 …`, which its backends
  // reject; forwarding the tab would let them store a field without a name.
  assert.equal(normalize("cpu \t=1 5"), "cpu =1 5\n");
  assert.equal(
    normalize("cpu\\ x,t=v \0=1"),
    "cpu\\ x,t=v =1 1700000000123456789\n",
  );
});

Deno.test("normalizeLines() starts afresh when the previous call failed", () => {
  rejection("cpu \t=1 5\ncpu v=");
  assert.equal(normalize("cpu v=1 1\ncpu\t \t=2 2"), "cpu v=1 1\ncpu\t =2 2\n");
});

// --- line splitting ---------------------------------------------------------

Deno.test("normalizeLines() keeps a newline inside a quoted string in its line", () => {
  assert.equal(
    normalize('cpu s="a\nb,c=d e" 1\ncpu s="x\\"\ny" 2'),
    'cpu s="a\nb,c=d e" 1\ncpu s="x\\"\ny" 2\n',
  );
});

Deno.test("normalizeLines() keeps a backslash-escaped newline in its line", () => {
  assert.equal(normalize("cpu,t=a\\\nb v=1 1"), "cpu,t=a\\\nb v=1 1\n");
});

Deno.test("normalizeLines() splits lines like the original when a leading space changes its quote counting", () => {
  // After a leading space the original's splitter counts the `=` in the
  // measurement, so the quote opens a string and the newline does not split.
  assertRejects(' m=a "x=1\nm2 v=2\n', "invalid number", 1);
  // Without it the two lines are separate and valid.
  assert.equal(
    normalize('m=a "x=1 1\nm2 v=2 2\n'),
    'm=a "x=1 1\nm2 v=2 2\n',
  );
  // The original ignores what follows a newline right after the fields.
  assert.equal(
    normalize(' m=a "x=1 \nfoo bar'),
    'm=a "x=1 1700000000123456789\n',
  );
});

Deno.test("normalizeLines() does not strip carriage returns", () => {
  assertRejects("cpu value=1 10\r\n", "bad timestamp");
  assertRejects("cpu value=1\r\n", "invalid number");
  assertRejects("cpu value=true\r\n", "invalid boolean");
  assert.equal(normalize('cpu s="a\r" 1\r'.slice(0, -1)), 'cpu s="a\r" 1\n');
});

// --- key ----------------------------------------------------------------------

Deno.test("normalizeLines() rejects a line without a measurement", () => {
  assertRejects(",cpu value=1", "missing measurement");
  assertRejects(",", "missing measurement");
});

Deno.test("normalizeLines() rejects a line that ends in the key", () => {
  assertRejects("cpu", "missing fields");
  assertRejects("cpu,a=b", "missing fields");
  assertRejects("cpu\\ ", "missing fields");
  assertRejects("cpu\tvalue=1", "missing fields");
  assertRejects("cpu ", "invalid field format");
  assertRejects("cpu,a=b ", "invalid field format");
});

Deno.test("normalizeLines() honours escapes in measurements and tags", () => {
  assertAccepts("c\\,p\\ u,t\\ k\\,\\==v\\ a\\,l\\=ue v=1");
  assertAccepts("cpu,t=a\\=b v=1");
  // A backslash protects the next byte even after another backslash.
  assertAccepts("c\\\\ p v=1");
  assertAccepts("cpu,t=a\\\\,b v=1");
  assertAccepts("cpu,t=\\ x v=1");
});

Deno.test("normalizeLines() rejects bad tags", () => {
  assertRejects("cpu,=a value=1", "missing tag key");
  assertRejects("cpu, value=1", "missing tag key");
  assertRejects("cpu,,a=b value=1", "missing tag key");
  assertRejects("cpu,a=b, value=1", "missing tag key");
  assertRejects("cpu,a value=1", "missing tag value");
  assertRejects("cpu,a,b=c value=1", "missing tag value");
  assertRejects("cpu,a= value=1", "missing tag value");
  assertRejects("cpu,a=,b=c value=1", "missing tag value");
  assertRejects("cpu,a=b=c value=1", "invalid tag format");
  assertRejects("cpu,a=b\tc=d value=1", "invalid tag format");
});

Deno.test("normalizeLines() accepts a tag value that starts with an equals sign", () => {
  // The original never checks the first byte of a tag value for `=`.
  assertAccepts("cpu,a==b v=1");
  assertAccepts("cpu,a== v=1");
});

Deno.test("normalizeLines() rejects duplicate tag keys", () => {
  assertRejects("cpu,a=1,a=2 v=1", "duplicate tags");
  assertRejects("cpu,b=1,a=1,b=2 v=1", "duplicate tags");
  assertRejects("cpu,a\\ b=1,a\\ b=2 v=1", "duplicate tags");
  assertAccepts("cpu,a=1,aa=2,b=1 v=1");
  assertAccepts("cpu,b=1,a=1,ab=2 v=1");
  const many = Array.from({ length: 120 }, (_, k) => `k${119 - k}=v`);
  assertAccepts(`cpu,${many.join(",")} v=1`);
  assertRejects(`cpu,${many.join(",")},k50=x v=1`, "duplicate tags");
});

Deno.test("normalizeLines() accepts a line with exactly 100 tags", () => {
  // The original's tag scanner indexes past its 100-slot table here and
  // panics (HTTP: connection closed without a response; UDP: process exits).
  const tags = Array.from({ length: 100 }, (_, k) => `k${k}=v`);
  assertAccepts(`cpu,${tags.join(",")} v=1`);
});

Deno.test("normalizeLines() rejects duplicate tags only after the tags parse", () => {
  assertRejects("cpu,a=1,a=2,b value=1", "missing tag value");
});

Deno.test("normalizeLines() rejects a series key longer than 65535 bytes", () => {
  const name = (n: number) => "m".repeat(n);
  assertAccepts(`${name(65530)} v=1`);
  assertRejects(`${name(65531)} v=1`, "max key length exceeded: 65536 > 65535");
  assertRejects(`${name(65536)} v=1`, "max key length exceeded: 65536 > 65535");
  // Measurement and tags, plus four bytes, plus the field key.
  assertRejects(
    `${name(65530)} v=1,vv=2`,
    "max key length exceeded: 65536 > 65535",
  );
  assertAccepts(`${name(65529)} v=1,vv=2`);
});

// --- fields -----------------------------------------------------------------

Deno.test("normalizeLines() rejects a field section that is not key=value pairs", () => {
  assertRejects("cpu a=1,b", "invalid field format");
  assertRejects("cpu a", "invalid field format");
  assertRejects("cpu a=1,,b=2", "invalid field format");
  assertRejects("cpu a=1,", "invalid field format");
  assertRejects("cpu =1", "missing field key");
  assertRejects("cpu a=1,=2", "missing field key");
  assertRejects("cpu a=", "missing field value");
  assertRejects("cpu a= 1", "missing field value");
  assertRejects("cpu a=,b=1", "missing field value");
  assertRejects("cpu a=1, b=2", "invalid field format");
});

Deno.test("normalizeLines() accepts escaped field keys", () => {
  assertAccepts("cpu a\\ b=1,c\\,d=2,e\\=f=3 1");
  assertAccepts("cpu a\\ =1");
  assertAccepts("cpu a=1,a\\,=2");
});

Deno.test("normalizeLines() rejects field keys the original's second walk cannot split", () => {
  // `\\=` ends the key for the scanner but not for the walk that follows.
  assertRejects("cpu a\\\\=1", "invalid value: field-key=a\\\\=1");
  // An equals sign after a closed string belongs to no pair for the walk.
  assertRejects('cpu s="a"t=false,h4u', "invalid value: field-key=h4u");
  assertRejects('cpu s="x"\\,b', "invalid value: field-key=b");
});

// --- lines InfluxDB 1.x mishandles ---------------------------------------------

const KEY_BACKSLASH =
  "field key ends with a backslash (InfluxDB 1.x would misread it)";
const MEASUREMENT_UTF8 = "measurement is not valid UTF-8";
const KEY_UTF8 = "field key is not valid UTF-8";

/** Text with `\xNN` escapes as raw bytes (e.g. `\xff`, not valid UTF-8). */
function raw(text: string): Uint8Array {
  const parts = text.split(/\\x([0-9a-f]{2})/);
  const out: number[] = [];
  parts.forEach((part, k) => {
    if (k % 2 === 1) out.push(parseInt(part, 16));
    else out.push(...encoder.encode(part));
  });
  return Uint8Array.from(out);
}

function rawReason(text: string): string | null {
  try {
    normalizeLines(raw(text), { now: NOW });
    return null;
  } catch (error) {
    if (error instanceof LineProtocolError) return error.reason;
    throw error;
  }
}

Deno.test("normalizeLines() rejects a field key that ends with a backslash", () => {
  // The original's parser takes `\\` as an escaped backslash, so the `=`
  // after it ends the key; InfluxDB 1.x's storage walk takes `\=` for an
  // escaped `=` and stores something else (checked with influxd 1.6.7):
  // it panics and exits,
  assertRejects('m \\\\="="', KEY_BACKSLASH);
  // answers 500 (`unable to parse bool value`),
  assertRejects('m a\\\\="=x"', KEY_BACKSLASH);
  // or stores field `a\="` = `,b=`, `a\=1,b` = 2, `b\=2,c` = 3.
  assertRejects('m a\\\\="=",b=1', KEY_BACKSLASH);
  assertRejects("m a\\\\=1,b=2", KEY_BACKSLASH);
  assertRejects("m a=1,b\\\\=2,c=3 10", KEY_BACKSLASH);
  assertRejects("m a\\\\\\\\=1,b=2", KEY_BACKSLASH);
  assertRejects("m a\\ b\\\\=1,c=t", KEY_BACKSLASH);
  assertRejects('m,t=v a\\\\=1,b="x"', KEY_BACKSLASH);
  const error = rejection("cpu v=1\ncpu a\\\\=1,b=2 5\n");
  assert.equal(error.message, `line 2: ${KEY_BACKSLASH}`);
  assert.equal(error.text, "cpu a\\\\=1,b=2 5");
});

Deno.test("normalizeLines() accepts backslashes that InfluxDB 1.x reads as parsed", () => {
  // An escaped `=` (also after an escaped backslash) belongs to the key.
  assert.equal(normalize("m a\\=b=1 1"), "m a\\=b=1 1\n");
  assertAccepts("m a\\\\\\=b=1");
  // A backslash pair inside the key, escaped spaces and commas.
  assertAccepts("m a\\\\b=1");
  assertAccepts("m a\\ b=1,c\\,d=2,e\\ =3");
  // Backslashes in string values and in measurements and tags.
  assertAccepts('m f="\\\\",g="a\\\\\\"b",h="\\\\=\\""');
  assertAccepts("m\\\\x,t\\\\x=v\\\\y f=1");
  // Invalid for the original already, for its own reason.
  assertRejects("m a\\\\ b=1", "invalid field format");
  assertRejects("m a\\\\=1", "invalid value: field-key=a\\\\=1");
  assertRejects("m a\\\\=1,b=2 x", "bad timestamp");
});

Deno.test("normalizeLines() rejects a measurement or field key that is not UTF-8", () => {
  // influxd 1.6.7: a field key answers 500; a measurement is stored, but
  // after a restart every write adding a field to its shard answers 500.
  assert.equal(rawReason("m k\\xff=1"), KEY_UTF8);
  assert.equal(rawReason("m a=1,k\\xc3=2"), KEY_UTF8);
  assert.equal(rawReason("m \\xe9t\\xe9=1"), KEY_UTF8); // Latin-1
  assert.equal(rawReason("m\\xff f=1"), MEASUREMENT_UTF8);
  assert.equal(rawReason("m\\xc0\\xaf,t=v f=1 1"), MEASUREMENT_UTF8);
  // Escaped bytes are checked too.
  assert.equal(rawReason("m\\\\xff f=1"), MEASUREMENT_UTF8);
  assert.equal(rawReason("m\\\\\\xff f=1"), MEASUREMENT_UTF8);
  assert.equal(rawReason("m k\\\\xff=1"), KEY_UTF8);
  assert.equal(rawReason("m k\\\\\\xff=1"), KEY_UTF8);
  assert.equal(rawReason("m k\\ \\xff=1"), KEY_UTF8);
  // The measurement is named first, then the field keys in order.
  assert.equal(rawReason("m\\xff a\\\\=1,b=2"), MEASUREMENT_UTF8);
  assert.equal(rawReason("m a\\\\=1,b\\xff=2"), KEY_BACKSLASH);
  // Where the original rejects the line, its reason stands.
  assert.equal(rawReason("m\\xff f=1,x"), "invalid field format");
  assert.equal(rawReason("m k\\xff=1 x"), "bad timestamp");
  assert.equal(rawReason("m k\\xff=1,x"), "invalid field format");
});

Deno.test("normalizeLines() accepts bytes that are not UTF-8 where InfluxDB 1.x stores them", () => {
  // influxd 1.6.7 stores these and keeps working after a restart.
  assert.equal(rawReason("m,k\\xff=v f=1"), null);
  assert.equal(rawReason("m,k=v\\xff f=1"), null);
  assert.equal(rawReason('m s="\\xff\\xc0"'), null);
  // Bytes after a closed string belong to its value for InfluxDB.
  assert.equal(rawReason('m a="x"\\xff,b=1'), null);
});

Deno.test("normalizeLines() accepts UTF-8 in measurements and field keys", () => {
  assertAccepts("m\u00e9 \u00e9=1");
  assertAccepts(
    '\u65e5\u672c,t\u00e4=\u00f6 \u65e5\u672c="\u{1f642}",k\u{10ffff}=1',
  );
  assertAccepts("m\\ \u00e9\\,x \u00e9\\ \u00e8=1,\\=\u00e9=2");
  // An escaped first byte of a character.
  assert.equal(rawReason("m\\\\xc3\\xa9 f=1"), null);
  assert.equal(rawReason("m k\\\\xc3\\xa9=1"), null);
});

Deno.test("normalizeLines() decides UTF-8 as Go's utf8.Valid does", () => {
  const strict = new TextDecoder("utf-8", { fatal: true });
  const valid = (bytes: Uint8Array): boolean => {
    try {
      strict.decode(bytes);
      return true;
    } catch {
      return false;
    }
  };
  // Edges of the encoding (overlong forms, surrogates, beyond U+10FFFF,
  // truncated characters), then random byte strings.
  const samples: number[][] = [];
  for (const lead of [0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1]) {
    for (const next of [0x7f, 0x80, 0x9f, 0xa0, 0xbf, 0xc0]) {
      samples.push([lead, next], [lead, next, 0x80], [lead, next, 0x80, 0x80]);
    }
  }
  for (const lead of [0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf4, 0xf5, 0xff]) {
    for (const next of [0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0]) {
      samples.push([lead, next], [lead, next, 0x80], [lead, next, 0x80, 0x80]);
    }
  }
  let seed = 7;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  for (let k = 0; k < 3000; k++) {
    const n = 1 + (next() % 6);
    samples.push(
      Array.from({ length: n }, () => {
        const r = next() >>> 8;
        return r % 5 === 0 ? 0x61 : 0x80 + (r % 128);
      }),
    );
  }
  for (const sample of samples) {
    const bytes = Uint8Array.from(sample);
    const expected = valid(bytes);
    const hex = sample.map((b) => b.toString(16)).join(" ");
    const field = concatBytes(
      encoder.encode("m k"),
      bytes,
      encoder.encode("=1"),
    );
    const name = concatBytes(
      encoder.encode("m"),
      bytes,
      encoder.encode(" f=1"),
    );
    assert.equal(bytesReason(field), expected ? null : KEY_UTF8, hex);
    // With an escape in the section, as the storage walk splits the keys.
    const escaped = concatBytes(
      encoder.encode("m k\\ "),
      bytes,
      encoder.encode("=1,b=2"),
    );
    assert.equal(bytesReason(escaped), expected ? null : KEY_UTF8, hex);
    assert.equal(bytesReason(name), expected ? null : MEASUREMENT_UTF8, hex);
  }
});

function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function bytesReason(bytes: Uint8Array): string | null {
  try {
    normalizeLines(bytes, { now: NOW });
    return null;
  } catch (error) {
    if (error instanceof LineProtocolError) return error.reason;
    throw error;
  }
}

Deno.test("normalizeLines() leaves out lines InfluxDB 1.x would mishandle when skipInvalid is set", () => {
  const result = normalizeLines(
    raw('cpu v=1 1\nm \\\\="="\nm\\xff f=1\nmem f=2i 2\nm k\\xff=1\n'),
    { now: NOW, skipInvalid: true },
  );
  assert.equal(decoder.decode(result.body), "cpu v=1 1\nmem f=2i 2\n");
  assert.equal(result.points, 2);
  assert.equal(result.skipped, 3);
  assert.equal(result.firstError?.message, `line 2: ${KEY_BACKSLASH}`);
  assert.equal(result.firstError?.text, 'm \\\\="="');
});

Deno.test("normalizeLines() accepts floats and rejects bad numbers", () => {
  for (
    const value of [
      "1",
      "-1",
      "1.5",
      "-1.5",
      ".5",
      "1.",
      "-.5",
      "1e3",
      "1E-3",
      "-1e+3",
      "1.5e3",
      "1e-400",
      "1.7976931348623157e308",
      "0000000000000000000000000000001",
      "1".repeat(308),
    ]
  ) assertAccepts(`cpu v=${value} 1`);
  for (
    const value of [
      "NaN",
      "nan",
      "N",
      "-",
      ".",
      "-.",
      "1.2.3",
      "1x",
      "+1",
      "1-1",
      "1e+-1",
      "0x10",
      "-Inf",
      "1\t",
    ]
  ) {
    const reason = value === "+1" ? "invalid boolean" : "invalid number";
    assertRejects(`cpu v=${value} 1`, reason);
  }
  for (
    const value of [
      "1e400",
      "-1e400",
      "1.7976931348623159e308",
      "1e",
      "1e+",
      "-e5",
      ".e5",
      "1e5e5",
      "1e5.5",
      "1".repeat(310),
    ]
  ) assertRejects(`cpu v=${value} 1`, "invalid float");
});

Deno.test("normalizeLines() range-checks integers as int64", () => {
  assertAccepts("cpu v=9223372036854775807i");
  assertAccepts("cpu v=-9223372036854775808i");
  assertAccepts("cpu v=00000000000000000000000001i");
  assertRejects(
    "cpu v=9223372036854775808i",
    'unable to parse integer 9223372036854775808: strconv.ParseInt: parsing "9223372036854775808": value out of range',
  );
  assertRejects(
    "cpu v=-9223372036854775809i",
    'unable to parse integer -9223372036854775809: strconv.ParseInt: parsing "-9223372036854775809": value out of range',
  );
  for (const value of ["1.5i", "1e3i", "-i", "i1", "1ii", "1i2", "1iu"]) {
    const reason = value === "i1" ? "invalid boolean" : "invalid number";
    assertRejects(`cpu v=${value}`, reason);
  }
});

Deno.test("normalizeLines() accepts unsigned integers up to 2^64-1", () => {
  // Decision D6: the original rejects every `u` value.
  assertAccepts("cpu v=0u,w=1u,x=18446744073709551615u");
  assertAccepts("cpu v=000000000000000000000000001u");
  assertRejects(
    "cpu v=18446744073709551616u",
    'unable to parse unsigned 18446744073709551616: strconv.ParseUint: parsing "18446744073709551616": value out of range',
  );
  for (const value of ["-1u", "1.5u", "1e3u", "-u", "1uu", "1u1"]) {
    assertRejects(`cpu v=${value}`, "invalid number");
  }
});

Deno.test("normalizeLines() accepts exactly the original's booleans", () => {
  for (
    const value of [
      "t",
      "T",
      "true",
      "True",
      "TRUE",
      "f",
      "F",
      "false",
      "False",
      "FALSE",
    ]
  ) assertAccepts(`cpu v=${value},w=${value} 1`);
  for (
    const value of ["tru", "truE", "tRUE", "yes", "fals", "falsee", "x", "t\\"]
  ) assertRejects(`cpu v=${value} 1`, "invalid boolean");
});

Deno.test("normalizeLines() accepts strings with escapes, commas, spaces and newlines", () => {
  assert.equal(
    normalize('cpu s="a \\"b\\" c,d=e\\\\",t="" 1'),
    'cpu s="a \\"b\\" c,d=e\\\\",t="" 1\n',
  );
  assertAccepts('cpu s="C:\\path\\x" 1');
  assertAccepts('cpu s="x""y" 1');
  assertAccepts('cpu s="x"junk 1');
});

Deno.test("normalizeLines() rejects unbalanced quotes", () => {
  assertRejects('cpu s="x', "unbalanced quotes");
  assertRejects('cpu s="x\\"', "unbalanced quotes");
  assertRejects('cpu s="x\n', "unbalanced quotes");
});

Deno.test("normalizeLines() treats a tab right after a value as part of it", () => {
  assertRejects("cpu g=1i\t 10", "invalid number");
  assertRejects("cpu g=t\t 10", "invalid boolean");
  assertAccepts('cpu g="x"\t 10');
});

// --- timestamps ---------------------------------------------------------------

Deno.test("normalizeLines() accepts timestamps at the edges of the range in every precision", () => {
  const edges: [Precision, string][] = [
    ["n", "9223372036854775806"],
    ["u", "9223372036854775"],
    ["ms", "9223372036854"],
    ["s", "9223372036"],
    ["m", "153722867"],
    ["h", "2562047"],
  ];
  for (const [precision, max] of edges) {
    assertAccepts(`cpu v=1 ${max}\ncpu v=1 -${max}`, precision);
    assertAccepts(`cpu v=1 000000000000000000000${max}`, precision);
  }
});

Deno.test("normalizeLines() rejects timestamps outside the range in every precision", () => {
  const range = "time outside range -9223372036854775806 - 9223372036854775806";
  const beyond: [Precision, string][] = [
    ["n", "9223372036854775807"],
    ["u", "9223372036854776"],
    ["ms", "9223372036855"],
    ["s", "9223372037"],
    ["m", "153722868"],
    ["h", "2562048"],
  ];
  for (const [precision, ts] of beyond) {
    assertRejects(`cpu v=1 ${ts}`, range, 1, precision);
    assertRejects(`cpu v=1 -${ts}`, range, 1, precision);
  }
  assertRejects("cpu v=1 -9223372036854775808", range);
  assertRejects("cpu v=1 -9223372036854775807", range);
  assertRejects("cpu v=1 99999999999", range, 1, "s");
});

Deno.test("normalizeLines() rejects timestamps that do not fit an int64", () => {
  assertRejects(
    "cpu v=1 9223372036854775808",
    'strconv.ParseInt: parsing "9223372036854775808": value out of range',
  );
  assertRejects(
    "cpu v=1 -9223372036854775809",
    'strconv.ParseInt: parsing "-9223372036854775809": value out of range',
    1,
    "s",
  );
  assertRejects("cpu v=1 -", 'strconv.ParseInt: parsing "-": invalid syntax');
});

Deno.test("normalizeLines() rejects malformed timestamps and trailing garbage", () => {
  assertRejects("cpu v=1 1.5", "bad timestamp");
  assertRejects("cpu v=1 +1", "bad timestamp");
  assertRejects("cpu v=1 --1", "bad timestamp");
  assertRejects("cpu v=1 1-", "bad timestamp");
  assertRejects("cpu v=1 12a", "bad timestamp");
  assertRejects("cpu v=1 1 extra", "point is invalid");
  assertRejects("cpu v=1 1 \t", "point is invalid");
  assertRejects("cpu v=1 1 2", "point is invalid");
});

Deno.test("normalizeLines() accepts blanks between fields and timestamp", () => {
  assert.equal(normalize("cpu v=1 \t\0 -5"), "cpu v=1 \t\0 -5\n");
});

// --- errors -------------------------------------------------------------------

Deno.test("normalizeLines() throws a LineProtocolError naming the physical line", () => {
  const error = rejection("# c\n\ncpu v=1\ncpu v=x 1\ncpu v=\n");
  assert.ok(error instanceof SyntaxError);
  assert.equal(error.name, "LineProtocolError");
  assert.equal(error.line, 4);
  assert.equal(error.reason, "invalid boolean");
  assert.equal(error.message, "line 4: invalid boolean");
});

Deno.test("normalizeLines() counts newlines inside strings and comments when it numbers lines", () => {
  assertRejects('cpu s="a\nb\nc" 1\ncpu v=1,\n', "invalid field format", 4);
  assertRejects('# x=1 "a\nb"\ncpu\n', "missing fields", 3);
  assertRejects('cpu v=1\ncpu s="a\nb" 1 x\n', "point is invalid", 2);
  assertRejects("cpu,t=a\\\nb v\n", "invalid field format", 1);
});

Deno.test("normalizeLines() gives the rejected line's text with the error", () => {
  const error = rejection("cpu v=1\n  bad line\n");
  assert.equal(error.text, "bad line");
  const long = rejection(`${"x".repeat(1000)} v=`);
  assert.equal(long.text, `${"x".repeat(MAX_ERROR_TEXT)}…`);
});

// --- skipInvalid ----------------------------------------------------------------

function lenient(text: string): {
  text: string;
  points: number;
  skipped: number;
  firstError: LineProtocolError | null;
} {
  const result = normalizeLines(encoder.encode(text), {
    now: NOW,
    skipInvalid: true,
  });
  return { ...result, text: decoder.decode(result.body) };
}

Deno.test("normalizeLines() forwards the good lines and counts the bad ones when skipInvalid is set", () => {
  const result = lenient("cpu v=1 1\nbad line\nmem f=2i\ncpu v=\ndisk u=3 3\n");
  assert.equal(result.text, `cpu v=1 1\nmem f=2i ${NOW}\ndisk u=3 3\n`);
  assert.equal(result.points, 3);
  assert.equal(result.skipped, 2);
  assert.ok(result.firstError instanceof LineProtocolError);
  assert.equal(result.firstError.message, "line 2: invalid field format");
  assert.equal(result.firstError.text, "bad line");
});

Deno.test("normalizeLines() leaves out bad lines at the start and end when skipInvalid is set", () => {
  const result = lenient("junk\ncpu v=1 1\nmem f=2i 2\njunk");
  assert.equal(result.text, "cpu v=1 1\nmem f=2i 2\n");
  assert.equal(result.points, 2);
  assert.equal(result.skipped, 2);
  assert.equal(result.firstError?.message, "line 1: missing fields");
  assert.equal(result.firstError?.text, "junk");
});

Deno.test("normalizeLines() returns an empty body when every line is bad and skipInvalid is set", () => {
  const result = lenient("a\nb\n\x00\xff\n");
  assert.equal(result.text, "");
  assert.equal(result.points, 0);
  assert.equal(result.skipped, 3);
  assert.equal(result.firstError?.line, 1);
});

Deno.test("normalizeLines() skips a bad line as the original splits it when skipInvalid is set", () => {
  // The string's newline belongs to the bad line; the line after it stays.
  const result = lenient('cpu s="a\nb",x 1\ncpu v=1 2\n');
  assert.equal(result.text, "cpu v=1 2\n");
  assert.equal(result.skipped, 1);
  // Lines after the skipped one keep their physical numbers.
  const second = lenient('cpu s="a\nb" 1\ncpu v=\n');
  assert.equal(second.firstError?.line, 3);
});

Deno.test("normalizeLines() reports nothing skipped when skipInvalid is not set", () => {
  const result = normalizeLines(encoder.encode("cpu v=1 1\n"), { now: NOW });
  assert.equal(result.skipped, 0);
  assert.equal(result.firstError, null);
});

// --- findLineEnd ----------------------------------------------------------------

Deno.test("findLineEnd() ends a line at its newline, not inside a string or after a backslash", () => {
  const body = encoder.encode(
    'a s="x\ny" 1\nb,t=a\\\nb v=1 2\nc v=1',
  );
  assert.equal(findLineEnd(body, 0), 11);
  assert.equal(findLineEnd(body, 12), 26);
  assert.equal(findLineEnd(body, 27), body.length);
});

Deno.test("normalizeLines() validates its options", () => {
  const body = encoder.encode("cpu v=1");
  assert.throws(
    () => normalizeLines(body, { precision: "ns" as Precision }),
    RangeError,
  );
  assert.throws(
    () => normalizeLines(body, { now: 5 as unknown as bigint }),
    TypeError,
  );
});
