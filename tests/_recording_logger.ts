/**
 * A stand-in for a logtape `Logger` in unit tests: records what would be
 * logged (message template, level, properties) instead of writing it.
 *
 * @module
 */
import type { Logger } from "../relay/log.ts";

/** One recorded log call. */
export interface Logged {
  /** `debug`, `info`, `warning` or `error`. */
  level: string;
  /** The message template, placeholders unexpanded. */
  message: string;
  /** The properties passed with it. */
  properties: Record<string, unknown>;
}

/** A logger that records calls in {@linkcode RecordingLogger.logged}. */
export type RecordingLogger = Logger & { readonly logged: Logged[] };

/**
 * Creates a logger that records the calls the relay's modules make
 * (`debug`, `info`, `warn`, `error`).
 *
 * @returns The recording logger.
 */
export function recordingLogger(): RecordingLogger {
  const logged: Logged[] = [];
  function record(level: string) {
    return (message: string, properties: Record<string, unknown> = {}) => {
      logged.push({ level, message, properties });
    };
  }
  return {
    logged,
    debug: record("debug"),
    info: record("info"),
    warn: record("warning"),
    error: record("error"),
  } as unknown as RecordingLogger;
}

/** A logger with every level off, as a real one at `--log-level fatal`. */
export const silentLogger: Logger = {
  isEnabledFor: () => false,
  trace() {},
  debug() {},
  info() {},
  warn() {},
  warning() {},
  error() {},
  fatal() {},
} as unknown as Logger;
