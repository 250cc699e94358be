import { hrtimeClock, sleepNs } from '../time/clock.js';
import { startTimingChain } from '../service/hardware.js';
import type { Config } from '../service/config.js';
import { createLogger } from '../service/log.js';
import { formatErrorBound } from '../service/status.js';
import { configIntOption, pathOption, secondsOption } from './options.js';

/**
 * `jaudiosync clock monitor`: the clock layer alone, once a second — what `chronyc tracking` is to
 * chrony. State is "locking" while a source has samples but no estimate yet.
 */

export interface ClockMonitorOptions {
  config: Config;
  gpsPort?: string;
  baud?: string;
  ppsPath?: string;
  rtcBus?: string;
  ntp?: string[];
  duration?: string;
  json?: boolean;
}

export async function clockMonitor(o: ClockMonitorOptions): Promise<number> {
  // Every option checked before anything starts (a bad one must leave no simulated GPS behind).
  const durationSec = o.duration !== undefined ? secondsOption('--duration', o.duration) : undefined;
  const baud = o.baud !== undefined ? configIntOption('--baud', o.baud, 'gps', 'baud', 'a baud rate') : undefined;
  const rtcBus = o.rtcBus !== undefined ? configIntOption('--rtc-bus', o.rtcBus, 'rtc', 'bus', 'an I2C bus number') : undefined;
  const log = createLogger(o.json ? process.stderr : process.stdout, false);
  const chain = await startTimingChain(o.config, log, {
    gpsPort: o.gpsPort, baud, ppsPath: o.ppsPath !== undefined ? pathOption(o.ppsPath) : undefined, rtcBus, ntpServers: o.ntp,
  });
  if (!o.json) log.info(`timing: ${chain.describe}`);
  let stopped = false;
  const stop = () => { stopped = true; };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const endNs = durationSec !== undefined ? hrtimeClock.nowNs() + BigInt(Math.round(durationSec * 1e9)) : undefined;
  let next = hrtimeClock.nowNs() + 1_000_000_000n;
  while (!stopped && (endNs === undefined || hrtimeClock.nowNs() < endNs)) {
    await sleepNs(hrtimeClock, Math.max(0, Number(next - hrtimeClock.nowNs())));
    next += 1_000_000_000n;
    const now = hrtimeClock.nowNs();
    const ts = chain.clock.timescale();
    const counts = chain.clock.sampleCounts();
    const samples = Object.values(counts).reduce((a, b) => a + b, 0);
    const state = ts.state === 'unsynchronized' && samples > 0 ? 'locking' : ts.state;
    const row = {
      utc: new Date(Number(ts.utcAt(now) / 1_000_000n)).toISOString(),
      state,
      source: ts.source,
      systemMinusUtcNs: chain.systemMinusUtcNs(),
      errorBoundNs: Number.isFinite(ts.errorBoundAt(now)) ? Math.round(ts.errorBoundAt(now)) : null,
      freqPpm: Number(ts.freqPpm.toFixed(4)),
      samples,
      samplesBySource: counts,
      ...(chain.rtcSource?.drift ? { rtcMinusUtcNs: Math.round(chain.rtcSource.drift.offsetNs), rtcRatePpm: Number(chain.rtcSource.drift.ratePpm.toFixed(4)) } : {}),
      ...(chain.gpsSource ? { satellites: chain.gpsSource.status.satellites ?? null, ppsPulses: chain.gpsSource.status.pulses } : {}),
    };
    if (o.json) process.stdout.write(JSON.stringify(row) + '\n');
    else {
      const sys = `system ${row.systemMinusUtcNs >= 0 ? '+' : ''}${(row.systemMinusUtcNs / 1e6).toFixed(3)} ms`;
      const rtc = row.rtcMinusUtcNs !== undefined ? `  RTC ${(row.rtcMinusUtcNs / 1e3).toFixed(1)} µs @ ${row.rtcRatePpm} ppm` : '';
      process.stdout.write(`${row.utc}  ${state.padEnd(14)} ${ts.source.padEnd(8)} ${formatErrorBound(ts.errorBoundAt(now)).padStart(11)}  ${row.freqPpm.toFixed(3).padStart(9)} ppm  ${sys}  samples ${samples}${rtc}\n`);
    }
  }
  await chain.stop();
  return 0;
}
