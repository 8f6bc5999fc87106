/**
 * Relay-side authentication of clients: the users and tokens one HTTP
 * listener accepts, and the check of a request's credentials against them,
 * with InfluxDB 1.x's messages.
 *
 * Secrets are kept only as SHA-256 digests. Clients authenticate on every
 * write (there are no sessions), so the hash is computed once per request; a
 * deliberately slow hash (PBKDF2, scrypt) at a safe work factor would cost
 * tens of milliseconds of CPU per write and turn every bad request into a
 * CPU attack. SHA-256 is safe for what the relay is given to check: random
 * tokens and passwords of 128 bits or more (`openssl rand -hex 32`), which no
 * one can guess from their digest. Digests are compared in constant time,
 * and every configured token is compared whether or not one matched.
 *
 * Credentials are read where InfluxDB reads them: `u` and `p` query
 * parameters, `Authorization: Basic`, `Authorization: Token <user>:<password>`
 * (InfluxDB 1.8+), and `Authorization: Token <token>` or `Bearer <token>`
 * (InfluxDB 2.x and 3). As InfluxDB 2.x's v1 API does, a token is also
 * accepted as the password of any user name.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** A user the listener accepts. */
export interface AuthUser {
  /** The user name. */
  readonly name: string;
  /** SHA-256 of the password, 64 lowercase hex digits. */
  readonly sha256: string;
}

/** Options for {@linkcode ClientAuth}. */
export interface ClientAuthOptions {
  /**
   * Users accepted with their password.
   * @default {[]}
   */
  users?: readonly AuthUser[];
  /**
   * SHA-256 digests (hex) of the tokens accepted.
   * @default {[]}
   */
  tokens?: readonly string[];
}

/** The credentials a request carries. */
export interface ClientCredentials {
  /** The `Authorization` header, or `null`. */
  readonly authorization: string | null;
  /** The first `u` query parameter, or `null`. */
  readonly u: string | null;
  /** The first `p` query parameter, or `null`. */
  readonly p: string | null;
}

/** InfluxDB 1.x's answer to a request without usable credentials. */
export const MISSING_CREDENTIALS = "unable to parse authentication credentials";
/** InfluxDB 1.x's answer to wrong credentials. */
export const WRONG_CREDENTIALS = "authorization failed";

/** Why a request was refused: one of InfluxDB 1.x's two messages. */
export type AuthFailure =
  | typeof MISSING_CREDENTIALS
  | typeof WRONG_CREDENTIALS;

const HEX_DIGEST = /^[0-9a-f]{64}$/;

/**
 * SHA-256 of a secret as 64 lowercase hex digits: what the config stores
 * (`printf %s "$secret" | sha256sum`).
 *
 * @param secret The secret.
 * @returns The digest in hex.
 */
export function sha256Hex(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

function digestBytes(hex: string): Uint8Array {
  const bytes = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  }
  return bytes;
}

/** Compares two 32-byte digests in time independent of their contents. */
function sameDigest(a: Uint8Array, b: Uint8Array): boolean {
  let difference = 0;
  for (let i = 0; i < 32; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}

/** A user name and secret, or a bare token (`user === null`). */
interface Presented {
  readonly user: string | null;
  readonly secret: string;
}

/**
 * Reads every credential a request presents, in InfluxDB 1.x's order:
 * `u`/`p` first, then the `Authorization` header.
 */
function presented(credentials: ClientCredentials): Presented[] {
  const found: Presented[] = [];
  const { authorization, u, p } = credentials;
  if (p !== null && p !== "") {
    found.push({ user: u !== null && u !== "" ? u : null, secret: p });
  }
  if (authorization === null) return found;
  const space = authorization.indexOf(" ");
  if (space < 0) return found;
  const scheme = authorization.slice(0, space);
  const value = authorization.slice(space + 1).trim();
  if (value === "") return found;
  if (scheme === "Basic") {
    const basic = basicCredentials(value);
    if (basic === null) return found;
    const { user, secret } = basic;
    if (secret !== "") found.push({ user: user === "" ? null : user, secret });
  } else if (scheme === "Token") {
    found.push({ user: null, secret: value });
    const colon = value.indexOf(":");
    if (colon > 0 && colon < value.length - 1) {
      found.push({
        user: value.slice(0, colon),
        secret: value.slice(colon + 1),
      });
    }
  } else if (scheme === "Bearer") {
    found.push({ user: null, secret: value });
  }
  return found;
}

/** The user name and password of a `Basic` value, or `null` if unreadable. */
function basicCredentials(
  value: string,
): { user: string; secret: string } | null {
  let decoded: string;
  try {
    decoded = new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(atob(value), (c) => c.charCodeAt(0)),
    );
  } catch {
    return null;
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}

/**
 * The user name a request presents, for log lines: the `u` parameter, else
 * the user of `Authorization: Basic`. Never a secret: `Token` and `Bearer`
 * values are left alone, since the part of a `Token` value before a colon
 * may be a token rather than a user name.
 *
 * @example Usage
 * ```ts
 * import { presentedUser } from "./client_auth.ts";
 * import assert from "node:assert/strict";
 *
 * const basic = `Basic ${btoa("telegraf:s3cret")}`;
 * assert.equal(presentedUser({ authorization: basic, u: null, p: null }), "telegraf");
 * assert.equal(presentedUser({ authorization: "Token abc:def", u: null, p: null }), null);
 * ```
 *
 * @param credentials The request's `Authorization` header and `u`/`p`.
 * @returns The user name, or `null` when the request names none.
 */
export function presentedUser(credentials: ClientCredentials): string | null {
  const { authorization, u } = credentials;
  if (u !== null && u !== "") return u;
  if (authorization === null || !authorization.startsWith("Basic ")) {
    return null;
  }
  const user = basicCredentials(authorization.slice(6).trim())?.user ?? "";
  return user === "" ? null : user;
}

/** The users and tokens one listener accepts. */
export class ClientAuth {
  readonly #users: ReadonlyMap<string, Uint8Array>;
  readonly #tokens: readonly Uint8Array[];
  /** Compared against when a user name is unknown, to take the same time. */
  readonly #decoy = digestBytes(sha256Hex(crypto.randomUUID()));

  /**
   * @param options The accepted users and tokens.
   * @throws {TypeError} When a digest is not 64 lowercase hex digits or a
   * user name is empty or repeated.
   */
  constructor(options: ClientAuthOptions = {}) {
    const { users = [], tokens = [] } = options;
    const map = new Map<string, Uint8Array>();
    for (const user of users) {
      if (user.name === "" || map.has(user.name)) {
        throw new TypeError(
          `Cannot set up client authentication: user name ${
            JSON.stringify(user.name)
          } is empty or repeated`,
        );
      }
      map.set(user.name, checkedDigest(user.sha256));
    }
    this.#users = map;
    this.#tokens = tokens.map(checkedDigest);
  }

  /** How many users and tokens are accepted. */
  get size(): number {
    return this.#users.size + this.#tokens.length;
  }

  /**
   * Checks a request's credentials.
   *
   * @example Usage
   * ```ts
   * import { ClientAuth, sha256Hex } from "./client_auth.ts";
   * import assert from "node:assert/strict";
   *
   * const auth = new ClientAuth({
   *   users: [{ name: "telegraf", sha256: sha256Hex("s3cret") }],
   * });
   * const basic = `Basic ${btoa("telegraf:s3cret")}`;
   * assert.equal(auth.check({ authorization: basic, u: null, p: null }), null);
   * assert.equal(
   *   auth.check({ authorization: null, u: "telegraf", p: "wrong" }),
   *   "authorization failed",
   * );
   * ```
   *
   * @param credentials The request's `Authorization` header and `u`/`p`.
   * @returns `null` when one of the presented credentials is accepted, else
   * InfluxDB's message: {@linkcode MISSING_CREDENTIALS} when there are none
   * it can read, {@linkcode WRONG_CREDENTIALS} when none is accepted.
   */
  check(credentials: ClientCredentials): AuthFailure | null {
    const candidates = presented(credentials);
    if (candidates.length === 0) return MISSING_CREDENTIALS;
    let accepted = false;
    for (const { user, secret } of candidates) {
      const digest = digestBytes(sha256Hex(secret));
      if (user !== null) {
        const stored = this.#users.get(user);
        const match = sameDigest(digest, stored ?? this.#decoy);
        if (stored !== undefined && match) accepted = true;
      }
      for (const token of this.#tokens) {
        if (sameDigest(digest, token)) accepted = true;
      }
    }
    return accepted ? null : WRONG_CREDENTIALS;
  }
}

function checkedDigest(hex: string): Uint8Array {
  if (!HEX_DIGEST.test(hex)) {
    throw new TypeError(
      `Cannot set up client authentication: a SHA-256 digest must be 64 lowercase hex digits`,
    );
  }
  return digestBytes(hex);
}

/** The users and tokens of a credential file. */
export interface CredentialFile {
  /** `user <name> <secret>` lines. */
  readonly users: AuthUser[];
  /** `token <secret>` lines, as digests. */
  readonly tokens: string[];
}

/**
 * Parses a credential file (`auth-file`): one credential a line,
 * `user <name> <secret>` or `token <secret>`, where a secret is either
 * `sha256:<64 hex digits>` or the secret itself (keep such a file readable by
 * the relay only). Blank lines and lines starting with `#` are skipped.
 *
 * @example Usage
 * ```ts
 * import { parseCredentialFile, sha256Hex } from "./client_auth.ts";
 * import assert from "node:assert/strict";
 *
 * const file = parseCredentialFile("# writers\nuser telegraf s3cret\n");
 * assert.deepEqual(file.users, [{ name: "telegraf", sha256: sha256Hex("s3cret") }]);
 * ```
 *
 * @param text The file's text.
 * @returns The users and tokens, secrets as digests.
 * @throws {SyntaxError} Naming the line, for a line of any other form (the
 * message never contains a secret).
 */
export function parseCredentialFile(text: string): CredentialFile {
  const users: AuthUser[] = [];
  const tokens: string[] = [];
  const names = new Set<string>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const words = line.split(/\s+/);
    const where = `line ${index + 1}`;
    if (words[0] === "user" && words.length === 3) {
      const name = words[1]!;
      if (names.has(name)) {
        throw new SyntaxError(
          `Cannot read credentials: ${where}: user ${
            JSON.stringify(name)
          } is listed twice`,
        );
      }
      names.add(name);
      users.push({ name, sha256: secretDigest(words[2]!) });
    } else if (words[0] === "token" && words.length === 2) {
      tokens.push(secretDigest(words[1]!));
    } else {
      throw new SyntaxError(
        `Cannot read credentials: ${where}: expected "user <name> <secret>" or "token <secret>"`,
      );
    }
  });
  return { users, tokens };
}

/**
 * The digest of a stored secret: the hex of `sha256:<hex>`, else the digest
 * of the text itself.
 *
 * @param stored `sha256:<64 hex digits>` or a plain secret.
 * @returns 64 lowercase hex digits.
 */
export function secretDigest(stored: string): string {
  const hex = hashedSecret(stored);
  return hex ?? sha256Hex(stored);
}

/**
 * The digest of a secret written as `sha256:<64 hex digits>` (either case).
 *
 * @param stored The stored text.
 * @returns The digest in lowercase hex, or `null` when the text is not of
 * that form.
 */
export function hashedSecret(stored: string): string | null {
  const match = /^sha256:([0-9a-fA-F]{64})$/.exec(stored);
  return match === null ? null : match[1]!.toLowerCase();
}
