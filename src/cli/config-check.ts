import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { rtaudioDeviceName, alsaPlaybackPcms } from '../../drivers/platform/pi.js';
import { findFfmpeg } from '../player/ffmpeg.js';
import { parseM3u } from '../player/m3u.js';
import { probeAlsaOutputs } from '../player/sinks/alsa-probe.js';
import { parseStartSpec, resolvePath, resolveStart, stateDir, type Config } from '../service/config.js';

/**
 * What makes a valid config unable to work on this machine: the schema accepts it, the service would
 * still fail or stay silent. Used by `config check` and `doctor`; each problem names the key, the
 * value and what to do. Everything the machine is asked (files, ffmpeg, audio devices, the clock)
 * comes in through `env`, so tests give a fake one.
 */

export interface ConfigProblem {
  key: string;
  message: string;
  fix: string;
}

export interface CheckEnv {
  /** Which ffmpeg would run (throws with the reason when none). */
  findFfmpeg: (configured?: string) => { path: string };
  /** Audio outputs by RtAudio name (what audio.device is matched against). */
  audioOutputs: () => Promise<Array<{ name: string }>>;
  utcNowNs: bigint;
  processEnv?: NodeJS.ProcessEnv;
  /** A folder standing for "/" for /proc/asound (tests). */
  root?: string;
}

/** host, IPv4, [IPv6] or a bare IPv6, each with an optional :port (1–65535). */
const HOSTNAME =
  /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$/;
export function ntpServerProblem(s: string): string | undefined {
  let host = s,
    port: string | undefined;
  const v6 = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(s);
  if (v6) {
    host = v6[1]!;
    port = v6[2];
  } else if ((s.match(/:/g) ?? []).length === 1) [host, port] = s.split(':') as [string, string];
  if (port !== undefined && !(/^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535))
    return `port "${port}" is not a number from 1 to 65535`;
  const isV6 = host.includes(':');
  if (isV6) return /^[0-9a-fA-F:.]+$/.test(host) ? undefined : `"${host}" is not an IPv6 address`;
  if (/^\d+(\.\d+){3}$/.test(host))
    return host.split('.').every((o) => Number(o) <= 255) ? undefined : `"${host}" is not an IPv4 address`;
  return HOSTNAME.test(host)
    ? undefined
    : `"${host}" is not a host name (expected host or host:port, e.g. "pool.ntp.org" or "192.168.1.10:123")`;
}

/** `machine: false` checks the file alone (schedule, NTP servers), not what this machine has. */
export async function configProblems(config: Config, env: CheckEnv, machine = true): Promise<ConfigProblem[]> {
  const problems: ConfigProblem[] = [];
  const add = (key: string, message: string, fix: string) => problems.push({ key, message, fix });
  scheduleProblems(config, env.utcNowNs, add);
  config.ntp.servers.forEach((s, i) => {
    const why = ntpServerProblem(s);
    if (why)
      add(`ntp.servers[${i}]`, `ntp.servers[${i}] = "${s}": ${why}`, 'write each server as "host" or "host:port"');
  });
  if (!machine) return problems;

  playlistProblems(config, add);

  try {
    env.findFfmpeg(config.audio.ffmpeg ? resolvePath(config, config.audio.ffmpeg) : undefined);
  } catch (e) {
    add('audio.ffmpeg', (e as Error).message, 'sudo apt-get install ffmpeg (or set audio.ffmpeg to its path)');
  }

  if (config.audio.output === 'alsa' && config.audio.device !== 'default') {
    const outs = await env.audioOutputs();
    const wanted = rtaudioDeviceName(config.audio.device, env.root);
    if (!outs.some((o) => o.name === wanted)) {
      const pcms = alsaPlaybackPcms(env.root);
      // Each output by its ALSA name where /proc/asound maps it (stable across USB order), else RtAudio's.
      const known = outs.map((o) => pcms.find((p) => p.rtaudioName === o.name)?.alsaName ?? o.name);
      add(
        'audio.device',
        `audio.device = "${config.audio.device}": no such audio output here${known.length ? `; there are: ${[...new Set(known)].map((n) => `"${n}"`).join(', ')}` : ' (no audio output at all)'}`,
        'plug in / enable the DAC, or set audio.device to one that `jaudiosync devices` lists',
      );
    }
  }

  const state = stateDir(config, env.processEnv);
  const unwritable = unwritableReason(state);
  if (unwritable)
    add(
      'service.state_dir',
      `state folder ${state}: ${unwritable}`,
      'set service.state_dir to a folder the service user can write (the unit gives /var/lib/jaudiosync)',
    );
  return problems;
}

/** The machine's real answers. */
export function machineCheckEnv(utcNowNs: bigint): CheckEnv {
  return {
    findFfmpeg: (c) => findFfmpeg(c),
    audioOutputs: () => probeAlsaOutputs(),
    utcNowNs,
    processEnv: process.env,
    root: process.env.JAUDIOSYNC_ROOT ?? '',
  };
}

/** `config check`'s verdict: each problem on stderr with its fix; 1 when there is any. */
export async function configCheckCommand(
  config: Config,
  opts: { utcNowNs: bigint; machine: boolean; env?: CheckEnv },
): Promise<number> {
  const problems = await configProblems(config, opts.env ?? machineCheckEnv(opts.utcNowNs), opts.machine);
  for (const p of problems)
    process.stderr.write(`jaudiosync config check: ${config.source}: ${p.message}\n  fix: ${p.fix}\n`);
  if (problems.length)
    process.stderr.write(
      `jaudiosync config check: ${problems.length} problem${problems.length > 1 ? 's' : ''}: this config cannot work${opts.machine ? ' on this machine' : ''}\n`,
    );
  return problems.length ? 1 : 0;
}

function playlistProblems(config: Config, add: (key: string, message: string, fix: string) => void): void {
  const path = resolvePath(config, config.playlist.path);
  const shown = `playlist.path = "${config.playlist.path}"${path !== config.playlist.path ? ` (${path})` : ''}`;
  let text: string;
  try {
    if (statSync(path).isDirectory()) {
      add('playlist.path', `${shown} is a folder`, 'point it at the .m3u8 file in that folder');
      return;
    }
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    add(
      'playlist.path',
      `${shown}: ${code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'permission denied' : (e as Error).message}`,
      code === 'EACCES'
        ? 'make it readable by the service user (chmod a+r, and a+x on its folders)'
        : 'copy the playlist there, or fix the path (relative paths are relative to the config file)',
    );
    return;
  }
  const list = parseM3u(text, path);
  if (list.entries.length === 0) {
    add('playlist.path', `${shown}: no entries`, 'a playlist lists one music file per line');
    return;
  }
  const missing = list.entries.filter((e) => !existsSync(e.path));
  if (missing.length === list.entries.length) {
    add(
      'playlist.path',
      `${shown}: none of its ${list.entries.length} files exist (first: line ${missing[0]!.line}, ${missing[0]!.path})`,
      'copy the music next to the playlist (its entries are relative to its folder)',
    );
  }
  if (config.playlist.manifest && !existsSync(resolvePath(config, config.playlist.manifest))) {
    add(
      'playlist.manifest',
      `playlist.manifest = "${config.playlist.manifest}": file not found`,
      'copy the manifest (jaudiosync timeline build) beside the playlist, or set it to ""',
    );
  }
}

/** Why a folder cannot be written (undefined when it can, or can be created). */
export function unwritableReason(dir: string): string | undefined {
  let d = resolve(dir);
  while (!existsSync(d)) {
    const up = dirname(d);
    if (up === d) return 'no existing parent folder';
    d = up;
  }
  try {
    if (!statSync(d).isDirectory()) return `${d} is a file, not a folder`;
    accessSync(d, constants.W_OK | constants.X_OK);
    return undefined;
  } catch {
    return d === resolve(dir) ? 'not writable by this user' : `cannot be created: ${d} is not writable by this user`;
  }
}

function scheduleProblems(
  config: Config,
  utcNowNs: bigint,
  add: (key: string, message: string, fix: string) => void,
): void {
  if (!config.schedule.stop) return;
  const stop = parseStartSpec(config.schedule.stop);
  const start = parseStartSpec(config.schedule.start);
  if (stop?.kind !== 'absolute' || !start) return;
  const iso = (ns: bigint) => new Date(Number(ns / 1_000_000n)).toISOString();
  const startNs = resolveStart(start, utcNowNs, { timeZone: config.schedule.timezone });
  if (stop.utcNs <= startNs) {
    add(
      'schedule.stop',
      `schedule.stop = "${config.schedule.stop}" (${iso(stop.utcNs)}) is not after the ${start.kind === 'absolute' ? '' : 'next '}start (${iso(startNs)}): nothing would play`,
      'set schedule.stop after schedule.start, or "" to play to the end',
    );
  } else if (stop.utcNs <= utcNowNs) {
    add(
      'schedule.stop',
      `schedule.stop = "${config.schedule.stop}" is in the past`,
      'set a later stop, or "" to play to the end',
    );
  }
}
