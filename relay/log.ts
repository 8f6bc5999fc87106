/**
 * Structured logging for the relay: one logtape category per listener and
 * backend, human-readable text by default or JSON lines for machines, always
 * on stderr (as the original relay logs).
 *
 * @module
 */

import {
  configure,
  getLogger,
  getStreamSink,
  getTextFormatter,
  type Logger,
  type LogLevel,
  type LogRecord,
  reset,
  type Sink,
} from "@logtape/logtape";

export type { Logger, LogLevel };

/** The log formats `--log-format` accepts. */
export const LOG_FORMATS = ["text", "json"] as const;

/** One of {@linkcode LOG_FORMATS}. */
export type LogFormat = typeof LOG_FORMATS[number];

/** The log levels `--log-level` accepts, most verbose first. */
export const LOG_LEVELS: readonly LogLevel[] = [
  "trace",
  "debug",
  "info",
  "warning",
  "error",
  "fatal",
];

/** The root category every relay logger lives under. */
export const ROOT_CATEGORY = "influxdb-relay";

/** Options for {@linkcode setupLogging}. */
export interface SetupLoggingOptions {
  /**
   * Lowest level written.
   * @default "info"
   */
  level?: LogLevel;
  /**
   * `text` for people, `json` for log shippers (one JSON object a line).
   * @default "text"
   */
  format?: LogFormat;
  /**
   * Where records go; tests pass a collecting sink.
   * @default a non-blocking sink on stderr
   */
  sink?: Sink;
}

/**
 * Configures logging for the whole process. Call once at start; await the
 * returned handle's disposal before exiting so buffered lines are written.
 *
 * @param options Level, format and optional sink.
 * @returns A handle whose disposal flushes and resets logging.
 */
export async function setupLogging(
  options: SetupLoggingOptions = {},
): Promise<AsyncDisposable> {
  const { level = "info", format = "text" } = options;
  let sink = options.sink;
  let stream: (Sink & AsyncDisposable) | undefined;
  if (sink === undefined) {
    const formatter = format === "json"
      ? formatJsonLine
      : getTextFormatter({ timestamp: "rfc3339", value: "bare" });
    stream = getStreamSink(Deno.stderr.writable, {
      formatter,
      nonBlocking: true,
      closeStream: false,
    });
    sink = stream;
  }
  await configure({
    reset: true,
    sinks: { main: sink },
    loggers: [
      { category: [ROOT_CATEGORY], lowestLevel: level, sinks: ["main"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: [] },
    ],
  });
  return {
    async [Symbol.asyncDispose]() {
      await reset();
      if (stream !== undefined) await stream[Symbol.asyncDispose]();
    },
  };
}

/**
 * Renders a record's message with its values: strings as they are (message
 * templates put quotes where the original relay's lines have them), other
 * values as JSON.
 *
 * @param record The log record.
 * @returns The message text.
 */
export function renderMessage(record: LogRecord): string {
  let text = "";
  for (let i = 0; i < record.message.length; i++) {
    const part = record.message[i];
    text += i % 2 === 0 || typeof part === "string"
      ? String(part)
      : JSON.stringify(part);
  }
  return text;
}

/** One JSON object a line: time, level, logger, message, then properties. */
function formatJsonLine(record: LogRecord): string {
  return JSON.stringify({
    time: new Date(record.timestamp).toISOString(),
    level: record.level,
    logger: record.category.join("."),
    message: renderMessage(record),
    ...record.properties,
  }) + "\n";
}

/** The parts of the relay that log under their own category. */
export type LoggerKind = "service" | "http" | "udp" | "backend";

/**
 * Returns the logger of one part of the relay, e.g. the HTTP listener named
 * `a` logs under `influxdb-relay·http·a`.
 *
 * @param kind Which part of the relay logs.
 * @param name The listener's or backend's configured name, if any.
 * @returns A logtape logger.
 */
export function getRelayLogger(kind: LoggerKind, name?: string): Logger {
  return getLogger(
    name === undefined ? [ROOT_CATEGORY, kind] : [ROOT_CATEGORY, kind, name],
  );
}
