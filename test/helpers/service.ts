import { execFileSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findFfmpeg } from '../../src/player/ffmpeg.js';
import { readStatus } from '../../src/service/status-server.js';
import type { LiveStatus } from '../../src/service/status.js';
import { tempDir } from './tmp.js';

/**
 * A folder with tones, a playlist and a config for a service under test (WAV output, own state and runtime folders).
 */

const ffmpeg = findFfmpeg().path;

/** A sine whose first sample is loud (phase 1 rad), so that its onset in a recording is exact. */
export function tone(file: string, hz: number, secs: number, amplitude = 0.5): void {
  execFileSync(ffmpeg, [
    '-loglevel',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `aevalsrc=${amplitude}*sin(2*PI*${hz}*t+1):s=48000:d=${secs}`,
    '-ac',
    '2',
    file,
  ]);
}

export interface ServiceDir {
  dir: string;
  cfg: string;
  /** Rewrites the config with other sections/keys (TOML lines appended to the base). */
  write(extra?: string[]): void;
  /** Rewrites the whole config. */
  writeAll(lines: string[]): void;
}

export function serviceDir(tracks: Array<[string, number, number]>, base: string[], prefix = 'jas-ft-'): ServiceDir {
  const dir = tempDir(prefix);
  for (const [name, hz, secs] of tracks) tone(join(dir, name), hz, secs);
  writeFileSync(join(dir, 'list.m3u8'), '#EXTM3U\n' + tracks.map(([n]) => `${n}\n`).join(''));
  const cfg = join(dir, 'c.toml');
  const writeAll = (lines: string[]) => writeFileSync(cfg, [...lines, ''].join('\n'));
  const write = (extra: string[] = []) => writeAll([...base, ...extra]);
  write();
  return { dir, cfg, write, writeAll };
}

/** The usual test config: simulated hardware unless overridden, WAV output, own state/runtime folders. */
export function baseConfig(o: { mode?: string; start: string; more?: string[] }): string[] {
  return [
    '[hardware]',
    `mode = "${o.mode ?? 'simulated'}"`,
    '[schedule]',
    `start = "${o.start}"`,
    '[playlist]',
    'path = "list.m3u8"',
    '[audio]',
    'output = "wav"',
    'wav_path = "out.wav"',
    '[service]',
    'state_dir = "state"',
    'runtime_dir = "run"',
    ...(o.more ?? []),
  ];
}

export async function statusOf(dir: string): Promise<LiveStatus> {
  return (await readStatus(join(dir, 'run', 'status.sock'))) as LiveStatus;
}

/** Open file descriptors of a process (Linux /proc). */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Polls until cond() holds (returns its truthy value) or rejects after timeoutMs naming what it waited for. */
export async function until<T>(
  what: string,
  cond: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 30_000,
  everyMs = 200,
): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * The service's line when playback began: on its first sample, or (on a machine loaded enough that
 * it was ready only after its start instant) joined late onto the exact frame. Either is playing.
 */
export const PLAYING = /first sample placed|joined late/;
