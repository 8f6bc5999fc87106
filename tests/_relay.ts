/**
 * Test helper: runs the relay in-process on 127.0.0.1 port 0 from a TOML
 * text and collects its log records.
 */
import type { LogRecord } from "@logtape/logtape";
import { renderMessage } from "../relay/log.ts";
import {
  parseConfig,
  type RelayService,
  setupLogging,
  startService,
} from "../relay/mod.ts";

/** A relay running inside the test process. */
export interface TestRelay extends AsyncDisposable {
  /** Base URL of the first HTTP listener. */
  readonly url: string;
  /** The running service. */
  readonly service: RelayService;
  /** Log records written so far. */
  readonly logs: LogRecord[];
  /** Log messages rendered as plain text, for assertions. */
  messages(): string[];
}

/** Options for {@linkcode startRelay}. */
export interface StartRelayOptions {
  /**
   * Configure logging into this relay's `logs`. Only one relay at a time
   * can collect logs: pass `false` for a second relay in the same test.
   * @default true
   */
  logging?: boolean;
}

/**
 * Starts the relay with the given config text (HTTP listeners should bind
 * `127.0.0.1:0`).
 *
 * @param toml The config file's text.
 * @returns The running relay; dispose it to stop it.
 */
export async function startRelay(
  toml: string,
  options: StartRelayOptions = {},
): Promise<TestRelay> {
  const { logging: collect = true } = options;
  const logs: LogRecord[] = [];
  const logging = collect
    ? await setupLogging({
      level: "debug",
      sink: (record) => logs.push(record),
    })
    : null;
  const service = await startService(parseConfig(toml));
  return {
    url: service.listeners[0]?.url ?? "",
    service,
    logs,
    messages: () => logs.map(renderMessage),
    async [Symbol.asyncDispose]() {
      await service.stop(10_000);
      await logging?.[Symbol.asyncDispose]();
    },
  };
}
