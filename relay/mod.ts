/**
 * A Deno-native InfluxDB write relay, a drop-in replacement for the Go
 * `influxdb-relay`: every write accepted on a listener is validated and sent
 * to every backend of that listener.
 *
 * @example Start a relay from a config file
 * ```ts ignore
 * import { loadConfig, setupLogging, startService } from "./mod.ts";
 *
 * await using _logging = await setupLogging();
 * const service = await startService(await loadConfig("relay.toml"));
 * // … later
 * await service.stop(30_000);
 * ```
 *
 * @module
 */

export {
  type AdminConfig,
  ConfigError,
  type HttpConfig,
  type HttpOutputConfig,
  loadConfig,
  parseConfig,
  type RelayConfig,
  type UdpConfig,
  type UdpOutputConfig,
} from "./config.ts";
export { configWarnings } from "./config_warnings.ts";
export { parseDuration } from "./duration.ts";
export {
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type LogLevel,
  setupLogging,
  type SetupLoggingOptions,
} from "./log.ts";
export {
  checkFiles,
  type ListenerInfo,
  RelayService,
  type RelayStatus,
  ReloadError,
  type ReloadResult,
  StartError,
  startService,
  type StartServiceOptions,
  type StopResult,
  type UdpBackendStats,
  type UdpListenerInfo,
  type UdpListenerStats,
} from "./service.ts";
