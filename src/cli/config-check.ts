import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { rtaudioDeviceName, alsaPlaybackPcms } from '../../drivers/platform/pi.js';
import type { PcmFormat } from '../player/decoder.js';
import { findFfmpeg } from '../player/ffmpeg.js';
import { decodePlaylistText, parseM3u, type PlaylistEntry } from '../player/m3u.js';
import { probeAlsaOutputs } from '../player/sinks/alsa-probe.js';
import { parseStartSpec, resolvePath, resolveStart, stateDir, type Config } from '../service/config.js';
import { decodedSeconds, decodeProblem, entryFileProblem, ffmpegFault, mapLimit } from './entry-check.js';
import { chooseHardware } from './hardware-choice.js';
import { runsOnTwins } from '../service/hardware.js';
import { recordsWhenNoDevice } from '../service/output.js';

/**
 * What makes a valid config unable to work on this machine: the schema accepts it, the service would
 * still fail or stay silent. Used by `config check` and `doctor`; each problem names the key, the
 * value and what to do. A warning is what works less than written (some playlist entries cannot
 * play, a demo records instead of playing): said, without failing the check. Everything the machine
 * is asked (files, ffmpeg, audio devices, the clock) comes in through `env`, so tests give a fake one.
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

type Add = (key: string, message: string, fix: string) => void;

/**
 * Seconds of each playlist entry config check decodes: a file whose start does not decode (not
 * audio, junk after its header) is caught for one short ffmpeg run per file. Whole files are
 * `jaudiosync playlist`'s job: a Pi takes tens of seconds per track.
 */
const DECODE_CHECK_SEC = 2;
/** ffmpeg runs at once for that: a Pi has 4 cores. */
const DECODE_CHECK_PARALLEL = 4;

/** The problems (the config cannot work) only: see checkConfig for the warnings too. */
export async function configProblems(config: Config, env: CheckEnv, machine = true): Promise<ConfigProblem[]> {
  return (await checkConfig(config, env, machine)).problems;
}

/** `machine: false` checks the file alone (schedule, NTP servers), not what this machine has. */
export async function checkConfig(
  config: Config,
  env: CheckEnv,
  machine = true,
): Promise<{ problems: ConfigProblem[]; warnings: ConfigProblem[] }> {
  const problems: ConfigProblem[] = [];
  const warnings: ConfigProblem[] = [];
  const add: Add = (key, message, fix) => problems.push({ key, message, fix });
  const warn: Add = (key, message, fix) => warnings.push({ key, message, fix });
  scheduleProblems(config, env.utcNowNs, add);
  config.ntp.servers.forEach((s, i) => {
    const why = ntpServerProblem(s);
    if (why)
      add(`ntp.servers[${i}]`, `ntp.servers[${i}] = "${s}": ${why}`, 'write each server as "host" or "host:port"');
  });
  if (!machine) return { problems, warnings };

  // Without an ffmpeg that runs (a problem of its own) the entries are checked as files only; a
  // fake env's ffmpeg (tests) is not on disk and is not run.
  let decode: { ffmpeg: string; format: PcmFormat } | undefined, noFfmpeg: string | undefined;
  try {
    const ffmpeg = env.findFfmpeg(config.audio.ffmpeg ? resolvePath(config, config.audio.ffmpeg) : undefined).path;
    const onDisk = existsSync(ffmpeg);
    noFfmpeg = onDisk ? ffmpegFault(ffmpeg) : undefined;
    if (onDisk && !noFfmpeg)
      decode = { ffmpeg, format: { sampleRate: config.audio.sample_rate, channels: config.audio.channels } };
  } catch (e) {
    noFfmpeg = (e as Error).message;
  }
  await playlistProblems(config, decode, add, warn);
  if (noFfmpeg) add('audio.ffmpeg', noFfmpeg, 'sudo apt-get install ffmpeg (or set audio.ffmpeg to its path)');

  if (config.audio.output === 'alsa') await audioDeviceProblems(config, env, add, warn);

  const state = stateDir(config, env.processEnv);
  const unwritable = unwritableReason(state);
  if (unwritable)
    add(
      'service.state_dir',
      `state folder ${state}: ${unwritable}`,
      'set service.state_dir to a folder the service user can write (the unit gives /var/lib/jaudiosync)',
    );
  return { problems, warnings };
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

/** `config check`'s verdict: each problem and warning on stderr with its fix; 1 when there is any problem. */
export async function configCheckCommand(
  config: Config,
  opts: { utcNowNs: bigint; machine: boolean; env?: CheckEnv },
): Promise<number> {
  const { problems, warnings } = await checkConfig(config, opts.env ?? machineCheckEnv(opts.utcNowNs), opts.machine);
  const say = (p: ConfigProblem, level: string) =>
    process.stderr.write(`jaudiosync config check: ${config.source}: ${level}${p.message}\n  fix: ${p.fix}\n`);
  for (const p of problems) say(p, '');
  for (const w of warnings) say(w, 'warning: ');
  const n = (k: number, what: string) => `${k} ${what}${k > 1 ? 's' : ''}`;
  if (problems.length)
    process.stderr.write(
      `jaudiosync config check: ${n(problems.length, 'problem')}: this config cannot work${opts.machine ? ' on this machine' : ''}\n`,
    );
  else if (warnings.length)
    process.stderr.write(
      `jaudiosync config check: ${n(warnings.length, 'warning')}: this config can work, but not all of it as written\n`,
    );
  return problems.length ? 1 : 0;
}

/** audio.device against the outputs here, found as the player finds them (RtAudio through ALSA). */
async function audioDeviceProblems(config: Config, env: CheckEnv, add: Add, warn: Add): Promise<void> {
  const device = config.audio.device;
  const outs = await env.audioOutputs();
  if (outs.length === 0) {
    // As the run decides it: the hardware it would choose, the output's fallback rule.
    const demo = recordsWhenNoDevice(config, runsOnTwins(config, chooseHardware(config).simulated));
    (demo ? warn : add)(
      'audio.device',
      `audio.device = "${device}": no ALSA output device found on this machine${demo ? `: this demo set-up writes ${resolvePath(config, config.audio.wav_path)} instead` : ''}`,
      'plug in / enable the DAC (`aplay -l` lists sound cards, `jaudiosync devices` the outputs), or set audio.output = "wav" to record to a file',
    );
    return;
  }
  if (device === 'default') return; // ALSA's default, else the first output: the player takes one of those
  const wanted = rtaudioDeviceName(device, env.root);
  if (outs.some((o) => o.name === wanted)) return;
  const pcms = alsaPlaybackPcms(env.root);
  // Each output by its ALSA name where /proc/asound maps it (stable across USB order), else RtAudio's.
  const known = outs.map((o) => pcms.find((p) => p.rtaudioName === o.name)?.alsaName ?? o.name);
  add(
    'audio.device',
    `audio.device = "${device}": no such audio output here; there are: ${[...new Set(known)].map((n) => `"${n}"`).join(', ')}`,
    'plug in / enable the DAC, or set audio.device to one that `jaudiosync devices` lists',
  );
}

/** Entries named in the one message that none can play: a long playlist's would be unreadable. */
const LIST_AT_MOST = 5;

/** A playlist entry line that cannot play: what is wrong and what to do. */
interface BadEntry {
  line: number;
  /** The entry as written, when it is one (a network stream's message quotes it already). */
  raw?: string;
  why: string;
  fix: string;
}

async function playlistProblems(
  config: Config,
  decode: { ffmpeg: string; format: PcmFormat } | undefined,
  add: Add,
  warn: Add,
): Promise<void> {
  const path = resolvePath(config, config.playlist.path);
  const shown = `playlist.path = "${config.playlist.path}"${path !== config.playlist.path ? ` (${path})` : ''}`;
  let bytes: Buffer;
  try {
    const st = statSync(path);
    if (st.isDirectory()) {
      add('playlist.path', `${shown} is a folder`, 'point it at the .m3u8 file in that folder');
      return;
    }
    if (!st.isFile()) {
      // A pipe would block the read for ever.
      add('playlist.path', `${shown} is not a regular file (a pipe or a device)`, 'point it at the .m3u8 file');
      return;
    }
    bytes = readFileSync(path);
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
  // Read as the player reads it (a Latin-1 file too), or its accented names would look missing.
  const list = parseM3u(decodePlaylistText(bytes).text, path);
  const lines = list.entries.length + list.problems.length;
  if (lines === 0) {
    add('playlist.path', `${shown}: no entries`, 'a playlist lists one music file per line');
    return;
  }
  const bad: BadEntry[] = [
    ...list.problems.map((p) => ({
      line: p.line,
      why: p.message,
      fix: 'copy the music onto the device and list the local file (a path relative to the playlist)',
    })),
    ...(await badEntries(list.entries, decode)),
  ].sort((a, b) => a.line - b.line);
  const named = (b: BadEntry) => `line ${b.line}${b.raw !== undefined ? ` (${b.raw})` : ''}: ${b.why}`;
  if (bad.length === lines) {
    const fixes = new Set(bad.map((b) => b.fix));
    add(
      'playlist.path',
      `${shown}: none of its ${lines} entries can play: ${bad.slice(0, LIST_AT_MOST).map(named).join('; ')}${bad.length > LIST_AT_MOST ? `; and ${bad.length - LIST_AT_MOST} more (jaudiosync playlist ${path} lists each)` : ''}`,
      fixes.size === 1 ? bad[0]!.fix : `fix each entry (jaudiosync playlist ${path} shows each)`,
    );
  } else for (const b of bad) warn('playlist.path', `${shown}, ${named(b)}`, b.fix);
  if (config.playlist.manifest && !existsSync(resolvePath(config, config.playlist.manifest))) {
    add(
      'playlist.manifest',
      `playlist.manifest = "${config.playlist.manifest}": file not found`,
      'copy the manifest (jaudiosync timeline build) beside the playlist, or set it to ""',
    );
  }
}

/** The entries whose file cannot be read, or whose start does not decode (with ffmpeg, when there is one). */
async function badEntries(
  entries: readonly PlaylistEntry[],
  decode: { ffmpeg: string; format: PcmFormat } | undefined,
): Promise<BadEntry[]> {
  const found = await mapLimit(entries, DECODE_CHECK_PARALLEL, async (e): Promise<BadEntry | undefined> => {
    const bad = (why: string, fix: string) => ({ line: e.line, raw: e.raw, why, fix });
    const unreadable = entryFileProblem(e.path);
    if (unreadable) return bad(unreadable.problem, unreadable.fix);
    if (!decode) return undefined;
    try {
      await decodedSeconds(decode.ffmpeg, e.path, decode.format, DECODE_CHECK_SEC);
      return undefined;
    } catch (err) {
      return bad(
        decodeProblem(err, e.path),
        'replace the file: copy it again, or convert it (ffmpeg -i FILE out.flac); `jaudiosync playlist` decodes every entry whole',
      );
    }
  });
  return found.filter((b) => b !== undefined);
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
