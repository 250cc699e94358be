import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runtimeDir, type Config } from '../service/config.js';
import { readStatus, STATUS_SOCKET } from '../service/status-server.js';
import type { LiveStatus } from '../service/status.js';
import { formatDuration } from '../service/status.js';

/** `jaudiosync status [--json]`: asks the running service through its socket. */

function candidates(config?: Config): string[] {
  const env = process.env;
  const dirs = [
    config ? runtimeDir(config) : undefined,
    env.RUNTIME_DIRECTORY?.split(':')[0],
    '/run/jaudiosync', // the systemd unit's RuntimeDirectory
    env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'jaudiosync') : undefined,
    join('/tmp', `jaudiosync-${process.getuid?.() ?? 0}`),
  ].filter((d): d is string => Boolean(d));
  return [...new Set(dirs.map((d) => join(d, STATUS_SOCKET)))];
}

export async function statusCommand(o: { json: boolean; socket?: string; config?: Config }): Promise<number> {
  const tried = o.socket ? [o.socket] : candidates(o.config);
  const path = tried.find((p) => existsSync(p)) ?? tried[0]!;
  if (!o.socket && !tried.some((p) => existsSync(p))) {
    process.stderr.write(`no jaudiosync status socket found (looked at ${tried.join(', ')}): is the service running? (systemctl status jaudiosync)\n`);
    return 1;
  }
  let s: LiveStatus;
  try {
    s = (await readStatus(path)) as LiveStatus;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 1;
  }
  if (o.json) {
    process.stdout.write(JSON.stringify(s, null, 2) + '\n');
    return 0;
  }
  const c = s.clock, sc = s.schedule, p = s.playback, h = s.health;
  const bound = c?.errorBoundUs == null ? 'unknown' : c.errorBoundUs < 1000 ? `±${c.errorBoundUs.toFixed(1)} µs` : `±${(c.errorBoundUs / 1000).toFixed(2)} ms`;
  const lines = [
    `jaudiosync ${s.version}, pid ${s.pid}, config ${s.config}, up since ${s.startedAtUtc}`,
    ...(s.hardware ? [`hardware  ${s.hardware.simulated ? 'SIMULATED (twins on this machine\'s own clock: nothing here is about real time) — ' : ''}GPS ${s.hardware.gps}, PPS ${s.hardware.pps}, RTC ${s.hardware.rtc}`] : []),
    `clock     ${c ? `${c.simulated ? 'SIMULATED ' : ''}${c.state} on ${c.source}, ${bound}, ${c.freqPpm.toFixed(2)} ppm` : '?'}${c?.satellites !== undefined ? `, ${c.satellites} satellites` : ''}${c?.ppsPulses !== undefined ? `, PPS ${c.ppsPulses} seen` : ''}${c?.rtcTempC !== undefined ? `, RTC ${c.rtcTempC.toFixed(2)} °C` : ''}${c?.cpuTempC !== undefined ? `, CPU ${c.cpuTempC.toFixed(1)} °C` : ''}`,
    `schedule  ${sc?.nextStartUtc ? `start ${sc.nextStartUtc}${sc.countdownSec ? ` (in ${formatDuration(sc.countdownSec)})` : ''}` : sc?.note ?? 'nothing scheduled'}${sc?.decision ? `; ${sc.decision}` : ''}`,
    `playback  ${p ? `${p.state}${p.track ? `: track ${p.track}/${p.tracks} ${p.title ?? ''} at ${formatDuration(p.positionSec ?? 0)}` : ''}${p.syncErrorUs !== undefined ? `, sync ${p.syncErrorUs.toFixed(1)} µs @ ${(p.ratioPpm ?? 0).toFixed(1)} ppm` : ''}${p.underruns ? `, ${p.underruns} underruns` : ''}${p.device ? ` on ${p.device}` : ''}` : '?'}`,
    `health    I2C errors ${h?.i2cErrors ?? 0}${h?.nmeaPerSec !== undefined ? `, NMEA ${h.nmeaPerSec.toFixed(1)}/s (${h.nmeaBad ?? 0} bad)` : ''}${h?.problems.length ? `\n          ${h.problems.join('\n          ')}` : ''}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
