/**
 * The service layer: the config (validated), the timing chain built on a HardwareFactory the CLI
 * chooses (real devices or twins: this layer never imports src/sim), one start through the session
 * core (run), the daemon (schedule, reload, signals, status socket, one instance), logging.
 */
export {
  loadConfigFile,
  embeddedConfig,
  parseConfig,
  ConfigError,
  stateDir,
  runtimeDir,
  rtcCalibrationPath,
  type Config,
} from './config.js';
export {
  startTimingChain,
  type TimingChain,
  type HardwareFactory,
  type HardwareStatus,
  type PartState,
} from './hardware.js';
export { realHardware } from './hardware-real.js';
export { run, type RunOptions } from './run.js';
export { serve, takeLock, type ServeOptions } from './daemon.js';
export { readStatus, startStatusServer } from './status-server.js';
export { createLogger, type Logger } from './log.js';
export type { LiveStatus } from './status.js';
