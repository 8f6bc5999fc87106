import assert from "node:assert/strict";
import {
  ClientAuth,
  hashedSecret,
  MISSING_CREDENTIALS,
  parseCredentialFile,
  presentedUser,
  secretDigest,
  sha256Hex,
  WRONG_CREDENTIALS,
} from "./client_auth.ts";

const auth = new ClientAuth({
  users: [{ name: "telegraf", sha256: sha256Hex("pa:ss wörd") }],
  tokens: [sha256Hex("tok-1"), sha256Hex("tok-2")],
});

function basic(user: string, password: string): string {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}

function check(
  authorization: string | null,
  u: string | null = null,
  p: string | null = null,
) {
  return auth.check({ authorization, u, p });
}

Deno.test("sha256Hex() matches sha256sum", () => {
  // printf %s secret | sha256sum
  assert.equal(
    sha256Hex("secret"),
    "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b",
  );
});

Deno.test("ClientAuth.check() accepts a user by Basic auth, u/p and Token user:password", () => {
  assert.equal(check(basic("telegraf", "pa:ss wörd")), null);
  assert.equal(check(null, "telegraf", "pa:ss wörd"), null);
  assert.equal(check("Token telegraf:pa:ss wörd"), null);
});

Deno.test("ClientAuth.check() accepts a token by Token, Bearer, p and as any user's password", () => {
  assert.equal(check("Token tok-1"), null);
  assert.equal(check("Bearer tok-2"), null);
  assert.equal(check(null, null, "tok-1"), null);
  assert.equal(check(null, "anyone", "tok-2"), null);
  assert.equal(check(basic("anyone", "tok-1")), null);
});

Deno.test("ClientAuth.check() refuses wrong credentials with 'authorization failed'", () => {
  assert.equal(check(basic("telegraf", "wrong")), WRONG_CREDENTIALS);
  assert.equal(check(basic("nobody", "pa:ss wörd")), WRONG_CREDENTIALS);
  assert.equal(check(null, "telegraf", "wrong"), WRONG_CREDENTIALS);
  assert.equal(check("Token tok-3"), WRONG_CREDENTIALS);
  assert.equal(check("Bearer telegraf:pa:ss wörd"), WRONG_CREDENTIALS);
  assert.equal(check("Token TOK-1"), WRONG_CREDENTIALS);
});

Deno.test("ClientAuth.check() refuses missing or unreadable credentials with InfluxDB's message", () => {
  assert.equal(check(null), MISSING_CREDENTIALS);
  assert.equal(check(null, "telegraf", null), MISSING_CREDENTIALS);
  assert.equal(check(null, "telegraf", ""), MISSING_CREDENTIALS);
  assert.equal(check("Basic !!!"), MISSING_CREDENTIALS);
  assert.equal(check(`Basic ${btoa("no-colon")}`), MISSING_CREDENTIALS);
  assert.equal(check(basic("telegraf", "")), MISSING_CREDENTIALS);
  assert.equal(check("Digest abc"), MISSING_CREDENTIALS);
  assert.equal(check("Token"), MISSING_CREDENTIALS);
  assert.equal(check("Token "), MISSING_CREDENTIALS);
});

Deno.test("ClientAuth.check() accepts when any presented credential is right", () => {
  assert.equal(check("Token tok-1", "telegraf", "wrong"), null);
  assert.equal(
    check(basic("telegraf", "wrong"), "telegraf", "pa:ss wörd"),
    null,
  );
});

Deno.test("ClientAuth() refuses bad digests and repeated users", () => {
  assert.throws(() => new ClientAuth({ tokens: ["abc"] }), TypeError);
  assert.throws(
    () => new ClientAuth({ tokens: [sha256Hex("x").toUpperCase()] }),
    TypeError,
  );
  assert.throws(
    () =>
      new ClientAuth({
        users: [
          { name: "a", sha256: sha256Hex("1") },
          { name: "a", sha256: sha256Hex("2") },
        ],
      }),
    TypeError,
  );
  assert.equal(auth.size, 3);
});

Deno.test("parseCredentialFile() reads users and tokens, hashed or plain", () => {
  const file = parseCredentialFile([
    "# writers",
    "",
    "user telegraf   s3cret",
    `user app sha256:${sha256Hex("app-secret").toUpperCase()}`,
    "  token tok-1  ",
    `token sha256:${sha256Hex("tok-2")}`,
  ].join("\r\n"));
  assert.deepEqual(file.users, [
    { name: "telegraf", sha256: sha256Hex("s3cret") },
    { name: "app", sha256: sha256Hex("app-secret") },
  ]);
  assert.deepEqual(file.tokens, [sha256Hex("tok-1"), sha256Hex("tok-2")]);
});

Deno.test("parseCredentialFile() names the bad line and never the secret", () => {
  assert.throws(
    () => parseCredentialFile("user telegraf\n"),
    { name: "SyntaxError", message: /line 1: expected/ },
  );
  assert.throws(
    () => parseCredentialFile("token a b-secret\n"),
    (error: Error) =>
      error instanceof SyntaxError && !error.message.includes("b-secret"),
  );
  assert.throws(
    () => parseCredentialFile("user a x\nuser a y\n"),
    { name: "SyntaxError", message: /line 2: user "a" is listed twice/ },
  );
});

Deno.test("secretDigest() and hashedSecret() tell digests from plain secrets", () => {
  const hex = sha256Hex("x");
  assert.equal(hashedSecret(`sha256:${hex}`), hex);
  assert.equal(hashedSecret(`sha256:${hex.slice(1)}`), null);
  assert.equal(hashedSecret(hex), null);
  assert.equal(secretDigest(`sha256:${hex}`), hex);
  assert.equal(secretDigest("x"), hex);
});

Deno.test("presentedUser() names the user of u or Basic auth, never a secret", () => {
  function user(
    authorization: string | null,
    u: string | null = null,
    p: string | null = null,
  ) {
    return presentedUser({ authorization, u, p });
  }
  assert.equal(user(basic("telegraf", "pa:ss")), "telegraf");
  assert.equal(user(null, "grafana", "secret"), "grafana");
  assert.equal(user(null, "grafana"), "grafana", "a user without password");
  assert.equal(user(basic("telegraf", "x"), "grafana"), "grafana", "u first");
  assert.equal(user(basic("", "token-as-password")), null);
  assert.equal(user("Basic !!!"), null);
  assert.equal(user(`Basic ${btoa("no-colon")}`), null);
  assert.equal(user("Token user:secret"), null, "may be a token");
  assert.equal(user("Bearer secret"), null);
  assert.equal(user(null, "", "secret"), null);
  assert.equal(user(null), null);
});
