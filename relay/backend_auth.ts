/**
 * How an HTTP backend and the relay authenticate each other, beyond what the
 * client sent: the output's own credentials (`username`/`password` or
 * `token`) or those in its `location`, and the CA file (`ca-cert`) its
 * certificate is checked against.
 *
 * @module
 */

import type { WriteApi } from "./write_api.ts";

/** An output's own credentials, as in its config. */
export interface OutputCredentials {
  /**
   * User name, sent with `password` as Basic auth (v1 backends only).
   * @default null
   */
  username?: string | null;
  /**
   * Password for `username`.
   * @default null
   */
  password?: string | null;
  /**
   * Token, sent as `Authorization: Token <token>` (for a v1 backend,
   * InfluxDB 1.x reads `<user>:<password>` tokens).
   * @default null
   */
  token?: string | null;
}

/**
 * Builds a Basic `Authorization` value (credentials UTF-8 encoded).
 *
 * @example Usage
 * ```ts
 * import { basicAuth } from "./backend_auth.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(basicAuth("user", "pass"), "Basic dXNlcjpwYXNz");
 * ```
 *
 * @param username The user name.
 * @param password The password.
 * @returns `Basic <base64(username:password)>`.
 */
export function basicAuth(username: string, password: string): string {
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return `Basic ${btoa(binary)}`;
}

/**
 * The Basic `Authorization` of credentials written in a location URL
 * (`http://user:pass@host/write`), sent as Go's client did when the client
 * sent none.
 *
 * @param url The parsed location.
 * @returns The header value, or `null` when the URL has no credentials.
 */
export function locationAuth(url: URL): string | null {
  if (url.username === "" && url.password === "") return null;
  return basicAuth(
    decodeURIComponent(url.username),
    decodeURIComponent(url.password),
  );
}

/**
 * An output's location as it may be shown (in `/status`): without the
 * credentials of its user-info part and without its query string (which
 * is replaced by the client's anyway, and may hold `u`/`p`).
 *
 * @example Usage
 * ```ts
 * import { displayLocation } from "./backend_auth.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(
 *   displayLocation("http://me:secret@h:8086/write?db=x&p=secret"),
 *   "http://h:8086/write",
 * );
 * ```
 *
 * @param location The output's `location`.
 * @returns The location without credentials or query.
 */
export function displayLocation(location: string): string {
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    return "";
  }
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/**
 * Hides the values of `p` (password) query parameters in a message, such as
 * a failed write's error, which names the URL the write was posted to with
 * the client's query string.
 *
 * @example Usage
 * ```ts
 * import { redactPasswords } from "./backend_auth.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(
 *   redactPasswords('POST "http://h/write?db=x&p=secret&u=me": timeout'),
 *   'POST "http://h/write?db=x&p=[redacted]&u=me": timeout',
 * );
 * ```
 *
 * @param text The message.
 * @returns The message with every `p=` value replaced.
 */
export function redactPasswords(text: string): string {
  return text.replace(/([?&]p=)[^&\s"]*/g, "$1[redacted]");
}

/**
 * The `Authorization` an output's own credentials give, replacing the
 * client's.
 *
 * @example Usage
 * ```ts
 * import { outputAuth } from "./backend_auth.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(outputAuth("v2", { token: "t0k" }), "Token t0k");
 * assert.equal(outputAuth("v1", {}), null);
 * ```
 *
 * @param api The API the backend speaks.
 * @param credentials The output's credentials.
 * @returns The header value, or `null` when the output has none.
 * @throws {TypeError} When both a token and a user name are given, only one
 * of user name and password, or a user name for a v2/v3 backend. Messages
 * never contain the secrets.
 */
export function outputAuth(
  api: WriteApi,
  credentials: OutputCredentials,
): string | null {
  const { username = null, password = null, token = null } = credentials;
  if (token !== null && (username !== null || password !== null)) {
    throw new TypeError(
      "Cannot use output credentials: give either a token or a username and password, not both",
    );
  }
  if ((username === null) !== (password === null)) {
    throw new TypeError(
      "Cannot use output credentials: a username needs a password and a password needs a username",
    );
  }
  if (username !== null && api !== "v1") {
    throw new TypeError(
      `Cannot use output credentials: a ${api} backend takes a token, not a username and password`,
    );
  }
  if (token !== null) return `Token ${token}`;
  if (username !== null) return basicAuth(username, password ?? "");
  return null;
}

/**
 * Reads an output's `ca-cert` file: PEM CA certificates that an `https`
 * backend's certificate may chain to. Done once, at start.
 *
 * @param name The backend's name, for messages.
 * @param url The backend's location.
 * @param caCertFile The file's path, or `null` for none.
 * @returns The PEM text, or `null` when no file is configured.
 * @throws {TypeError} When the location is not `https`.
 * @throws {Error} When the file cannot be read or holds no certificate.
 */
export function readCaCert(
  name: string,
  url: URL,
  caCertFile: string | null,
): string | null {
  if (caCertFile === null) return null;
  if (url.protocol !== "https:") {
    throw new TypeError(
      `output "${name}": ca-cert "${caCertFile}" needs an https location`,
    );
  }
  let pem: string;
  try {
    pem = Deno.readTextFileSync(caCertFile);
  } catch (error) {
    throw new Error(
      `output "${name}": cannot read ca-cert "${caCertFile}": ${
        (error as Error).message
      }`,
      { cause: error },
    );
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    throw new Error(
      `output "${name}": ca-cert "${caCertFile}" holds no PEM certificate`,
    );
  }
  return pem;
}
