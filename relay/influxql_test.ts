import assert from "node:assert/strict";
import { routeQuery, splitStatements } from "./influxql.ts";

function texts(query: string): string[] {
  return splitStatements(query).map((s) => s.text);
}

function classes(query: string): string[] {
  return splitStatements(query).map((s) => s.class);
}

Deno.test("splitStatements() splits at semicolons and drops empty statements", () => {
  assert.deepEqual(texts("SHOW DATABASES;  SHOW USERS ;;\n"), [
    "SHOW DATABASES",
    "SHOW USERS",
  ]);
  assert.deepEqual(texts(""), []);
  assert.deepEqual(texts(" ; ;"), []);
});

Deno.test("splitStatements() keeps semicolons inside strings, identifiers and regexes", () => {
  assert.deepEqual(
    texts(
      `SELECT "a;b" FROM "m;1" WHERE t = 'x;y' AND u =~ /p;q/; SHOW DATABASES`,
    ),
    [
      `SELECT "a;b" FROM "m;1" WHERE t = 'x;y' AND u =~ /p;q/`,
      "SHOW DATABASES",
    ],
  );
  assert.deepEqual(texts(`SELECT * FROM /a;b/, "db"."rp"./c;d/; SHOW USERS`), [
    `SELECT * FROM /a;b/, "db"."rp"./c;d/`,
    "SHOW USERS",
  ]);
  assert.deepEqual(texts(`SELECT * FROM m WHERE t !~ /x\\/;y/`), [
    `SELECT * FROM m WHERE t !~ /x\\/;y/`,
  ]);
});

Deno.test("splitStatements() honours backslash escapes in strings and identifiers", () => {
  assert.deepEqual(texts(`SELECT * FROM m WHERE t = 'it\\'s;'; SHOW USERS`), [
    `SELECT * FROM m WHERE t = 'it\\'s;'`,
    "SHOW USERS",
  ]);
  assert.deepEqual(texts(`SELECT "a\\";b" FROM m; SHOW USERS`), [
    `SELECT "a\\";b" FROM m`,
    "SHOW USERS",
  ]);
});

Deno.test("splitStatements() skips semicolons in comments", () => {
  assert.deepEqual(
    texts("-- drop it; really\nDROP DATABASE x /* ; */; SHOW USERS -- ;"),
    ["DROP DATABASE x", "SHOW USERS"],
  );
  assert.deepEqual(classes("-- only a comment; here"), []);
});

Deno.test("splitStatements() reads a slash outside FROM and =~ as a division", () => {
  assert.deepEqual(texts("SELECT a / b FROM m; SHOW USERS"), [
    "SELECT a / b FROM m",
    "SHOW USERS",
  ]);
  assert.deepEqual(
    texts("SELECT mean(a) / 2 FROM m WHERE time > now() - 1h / 2; SHOW USERS"),
    ["SELECT mean(a) / 2 FROM m WHERE time > now() - 1h / 2", "SHOW USERS"],
  );
});

Deno.test("splitStatements() takes an unterminated quote to the end", () => {
  assert.deepEqual(texts(`SHOW DATABASES; DROP DATABASE "x;`), [
    "SHOW DATABASES",
    `DROP DATABASE "x;`,
  ]);
});

Deno.test("splitStatements() classifies reads", () => {
  assert.deepEqual(
    classes(
      "select * from cpu; SHOW DATABASES; show measurements; EXPLAIN ANALYZE SELECT * FROM m; SHOW QUERIES",
    ),
    ["read", "read", "read", "read", "read"],
  );
  const [show] = splitStatements("show retention policies on db");
  assert.equal(show!.keyword, "SHOW RETENTION");
});

Deno.test("splitStatements() classifies schema, admin and delete statements", () => {
  const statements = splitStatements([
    "CREATE DATABASE x",
    "create retention policy r on x duration 1h replication 1 default",
    "ALTER RETENTION POLICY r ON x DURATION 2h",
    "DROP RETENTION POLICY r ON x",
    "CREATE CONTINUOUS QUERY cq ON x BEGIN SELECT mean(v) INTO m2 FROM m GROUP BY time(1h) END",
    "DROP CONTINUOUS QUERY cq ON x",
    "CREATE SUBSCRIPTION s ON x.autogen DESTINATIONS ALL 'http://k:9092'",
    "DROP DATABASE x",
    "CREATE USER u WITH PASSWORD 'p;w'",
    "SET PASSWORD FOR u = 'q'",
    "GRANT READ ON x TO u",
    "REVOKE ALL PRIVILEGES FROM u",
    "DROP USER u",
    "DELETE FROM m WHERE time < now() - 1d",
    "DROP SERIES FROM m WHERE host = 'a'",
    "DROP MEASUREMENT m",
  ].join(";\n"));
  assert.deepEqual(statements.map((s) => [s.class, s.keyword]), [
    ["schema", "CREATE DATABASE"],
    ["schema", "CREATE RETENTION POLICY"],
    ["schema", "ALTER RETENTION POLICY"],
    ["schema", "DROP RETENTION POLICY"],
    ["schema", "CREATE CONTINUOUS QUERY"],
    ["schema", "DROP CONTINUOUS QUERY"],
    ["schema", "CREATE SUBSCRIPTION"],
    ["schema", "DROP DATABASE"],
    ["admin", "CREATE USER"],
    ["admin", "SET PASSWORD"],
    ["admin", "GRANT"],
    ["admin", "REVOKE"],
    ["admin", "DROP USER"],
    ["delete", "DELETE"],
    ["delete", "DROP SERIES"],
    ["delete", "DROP MEASUREMENT"],
  ]);
});

Deno.test("splitStatements() classifies SELECT INTO as a write, but not INTO in a string", () => {
  assert.deepEqual(
    classes(
      `SELECT mean(v) INTO "db"."rp"."m2" FROM m GROUP BY time(1h); SELECT * FROM m WHERE t = 'INTO'; SELECT "into" FROM m`,
    ),
    ["select-into", "read", "read"],
  );
});

Deno.test("splitStatements() classifies KILL QUERY and DROP SHARD as backend-local, others as unknown", () => {
  assert.deepEqual(classes("KILL QUERY 12; DROP SHARD 3; FOO BAR; (x)"), [
    "backend-local",
    "backend-local",
    "unknown",
    "unknown",
  ]);
});

Deno.test("routeQuery() sends reads and unknown statements to one backend", () => {
  assert.deepEqual(routeQuery(splitStatements("SHOW DATABASES; FOO")), {
    kind: "read",
  });
  assert.deepEqual(routeQuery([]), { kind: "read" });
});

Deno.test("routeQuery() fans out statements that change data or schema", () => {
  assert.deepEqual(
    routeQuery(
      splitStatements(
        "CREATE DATABASE x; DROP SERIES FROM m; SELECT * INTO b FROM a",
      ),
    ),
    { kind: "fan-out" },
  );
});

Deno.test("routeQuery() refuses a query mixing reads and writes, naming both", () => {
  const route = routeQuery(
    splitStatements("CREATE DATABASE x; SHOW DATABASES"),
  );
  assert.equal(route.kind, "refused");
  assert.match(
    (route as { reason: string }).reason,
    /^cannot mix reads and writes in one query through the relay: statement 2 \(SHOW DATABASES\) .* statement 1 \(CREATE DATABASE\)/,
  );
  assert.equal(
    routeQuery(splitStatements("DROP DATABASE x; FOO")).kind,
    "refused",
  );
});

Deno.test("routeQuery() refuses statements naming one backend's ids", () => {
  const route = routeQuery(splitStatements("SHOW QUERIES; KILL QUERY 3"));
  assert.deepEqual(route, {
    kind: "refused",
    reason:
      "statement 2 (KILL QUERY) names an id that differs on each backend behind the relay: run it on the backend itself",
  });
});
