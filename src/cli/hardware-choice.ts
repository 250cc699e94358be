import { existsSync } from 'node:fs';
import type { Config } from '../service/config.js';
import type { ChainOverrides, HardwareFactory } from '../service/hardware.js';
import { realHardware } from '../service/hardware-real.js';
import { simTruthFromEnv, twinHardware } from '../sim/hardware-twins.js';

/**
 * Which timing hardware a command runs on, chosen once at the top (the service never imports the
 * twins). `real`: the devices, a missing one waited for. `simulated`: the twins, as asked.
 * `auto` (the embedded default, for the demo): the real devices as soon as any timing part exists
 * on this machine, else all twins — never a mix, so a real RTC is never set from a simulated GPS
 * and a real device never claims a simulated lock.
 */
export function chooseHardware(config: Config, over: ChainOverrides = {}): HardwareFactory {
  const mode = config.hardware.mode;
  const twins = () => ({ utcMinusMonoNs: simTruthFromEnv() });
  if (mode === 'simulated') return twinHardware('hardware.mode = "simulated": SIMULATED GPS, PPS and DS3231', twins());
  if (mode === 'real') return realHardware('hardware.mode = "real"');
  const found = timingPartsPresent(config, over);
  if (found.length) return realHardware(`hardware.mode = "auto": found ${found.join(', ')}`);
  return twinHardware(
    `hardware.mode = "auto" and no timing hardware on this machine (no ${candidatePaths(config, over).join(', ')}): SIMULATED GPS, PPS and DS3231, for a demo only; set hardware.mode = "real" on a Pi`,
    twins(),
  );
}

function candidatePaths(config: Config, over: ChainOverrides): string[] {
  const pps = over.ppsPath ?? config.gps.pps;
  return [over.gpsPort ?? config.gps.port, ...(pps ? [pps] : []), `/dev/i2c-${over.rtcBus ?? config.rtc.bus}`];
}

/** The configured timing devices that exist here (an explicit --gps-port counts as one). */
export function timingPartsPresent(config: Config, over: ChainOverrides = {}): string[] {
  const named = over.gpsPort !== undefined ? [over.gpsPort] : [];
  return [...new Set([...named, ...candidatePaths(config, over).filter((p) => existsSync(p))])];
}
