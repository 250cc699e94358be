import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findFfmpeg } from '../../src/player/ffmpeg.js';
import { generateOperatorKey } from '../../src/fleet/keys.js';
import { readWav16, runCli, spawnCli } from './cli.js';
import { startMosquitto, startRelay, type Mosquitto, type Relay } from './mosquitto.js';
import { PLAYING } from './service.js';
import { simTruth } from './sim-truth.js';
import { tempDir } from './tmp.js';

/**
 * A fleet of three `jaudiosync run` processes on simulated hardware writing WAV files, a real
 * mosquitto with passwords and an ACL between them and the operator's CLI: what the fleet's end to
 * end tests and bench/fleet-sync.ts drive. Every device's twins share one truth (on the machine-wide
 * monotonic clock), as a real fleet shares one sky: a step of the system clock
 * between two devices' starts (a VM resumed, timesyncd) cannot set them apart. Each WAV's sidecar
 * gives the monotonic instant of its frame 0, so the true UTC at which a command took effect on each
 * device is read off the file.
 *
 * The music says where it is: the left channel is the track's frame number mod 32768 (a ramp), the
 * right channel a level per track (A 0.5, B 0.25, C 0.125).
 */

const ffmpeg = findFfmpeg().path;
export const RATE = 48_000;
export const SAMPLE_NS = 1e9 / RATE;
export const LEVELS = [0.5, 0.25, 0.125];
export const TRACK_SEC = 60;
export const FLEET = 'mass';
export const NAMES = ['bike1', 'bike2', 'bike3'] as const;

/** The devices' one truth: the system clock's offset when this module loaded, on the monotonic clock. */
const TRUTH = simTruth();
/** True UTC now (ns), as every device's twins have it. */
export const truthNowNs = TRUTH.nowNs;

export interface Dev {
  name: string;
  config: string;
  wav: string;
  proc?: ReturnType<typeof spawnCli>;
}

export interface World {
  dir: string;
  broker: Mosquitto;
  relays: Record<string, Relay>;
  devs: Dev[];
  startUtcNs: bigint;
  keyPath: string;
  opConfig: string;
  cli(args: string[]): ReturnType<typeof runCli>;
  close(): Promise<void>;
}

export async function world(leadSec = 45): Promise<World> {
  const dir = tempDir('jas-fleet-e2e-');
  LEVELS.forEach((level, i) =>
    execFileSync(ffmpeg, [
      '-loglevel',
      'error',
      '-f',
      'lavfi',
      '-i',
      `aevalsrc=mod(n\\,32768)/32768|${level}:s=${RATE}:d=${TRACK_SEC}`,
      '-sample_fmt',
      's16',
      join(dir, `t${i}.flac`),
    ]),
  );
  writeFileSync(join(dir, 'list.m3u8'), '#EXTM3U\nt0.flac\nt1.flac\nt2.flac\n');
  const users = Object.fromEntries(['op', ...NAMES].map((u) => [u, `pw-${u}-${Math.random().toString(36).slice(2)}`]));
  for (const [u, p] of Object.entries(users)) writeFileSync(join(dir, `${u}.pw`), `${p}\n`, { mode: 0o600 });
  const broker = await startMosquitto({
    fleet: FLEET,
    operators: [{ name: 'op', password: users.op! }],
    devices: NAMES.map((d) => ({ name: d, password: users[d]! })),
  });
  const { key, file } = generateOperatorKey('ops-lead', 'admin');
  const keyPath = join(dir, 'ops-lead.key');
  writeFileSync(keyPath, file, { mode: 0o600 });
  const startUtcNs = (truthNowNs() / 1_000_000_000n + BigInt(leadSec)) * 1_000_000_000n;
  const fleetToml = (user: string, url: string) => [
    '[fleet]',
    'enabled = true',
    `id = "${FLEET}"`,
    `brokers = ["${url}"]`,
    `username = "${user}"`,
    `password_file = "${user}.pw"`,
    'lead_ms = 3000',
    '',
    '[[fleet.keys]]',
    'id = "ops-lead"',
    'role = "admin"',
    `public_key = "${key.publicKeyBase64}"`,
    '',
  ];
  const relays: Record<string, Relay> = {};
  const devs: Dev[] = [];
  for (const name of NAMES) {
    relays[name] = await startRelay(broker.port);
    mkdirSync(join(dir, `state-${name}`));
    mkdirSync(join(dir, `run-${name}`));
    const config = join(dir, `${name}.toml`);
    writeFileSync(
      config,
      [
        '[hardware]',
        'mode = "simulated"',
        '[schedule]',
        `start = "${new Date(Number(startUtcNs / 1_000_000n)).toISOString().replace('.000Z', 'Z')}"`,
        '[playlist]',
        'path = "list.m3u8"',
        '[audio]',
        'output = "wav"',
        `wav_path = "${name}.wav"`,
        '[service]',
        `state_dir = "state-${name}"`,
        `runtime_dir = "run-${name}"`,
        ...fleetToml(name, relays[name]!.url).map((l) => (l === '[fleet]' ? `[fleet]\ndevice = "${name}"` : l)),
      ].join('\n'),
    );
    devs.push({ name, config, wav: join(dir, `${name}.wav`) });
  }
  const opConfig = join(dir, 'operator.toml');
  writeFileSync(opConfig, fleetToml('op', broker.url).join('\n'));
  return {
    dir,
    broker,
    relays,
    devs,
    startUtcNs,
    keyPath,
    opConfig,
    cli: (args) =>
      runCli(['fleet', ...args, '--config', opConfig, ...(args[0] === 'status' ? [] : ['--key', keyPath])], {
        timeoutMs: 90_000,
      }),
    close: async () => {
      for (const d of devs) {
        d.proc?.child.kill('SIGKILL');
        await d.proc?.exited;
      }
      for (const r of Object.values(relays)) await r.close();
      await broker.stop();
      if (!process.env.JAS_KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Starts a device's `jaudiosync run`; fails the test at once if the service does not run fleet control. */
export async function startRun(fail: (m: string) => void, d: Dev): Promise<void> {
  d.proc = spawnCli(['run', '--config', d.config], { env: TRUTH.env });
  await d.proc.waitFor(new RegExp(`fleet "${FLEET}" as device "${d.name}"|${PLAYING.source}`), 120_000);
  if (!new RegExp(`fleet "${FLEET}" as device "${d.name}"`).test(d.proc.output)) {
    fail(
      `jaudiosync run did not start fleet control (no 'fleet "${FLEET}" as device' line): the session core does not call startFleet yet.\n${d.proc.output}`,
    );
    throw new Error('fleet control not wired into jaudiosync run');
  }
}

/** Starts every device, waits until each plays (on its first sample or joined late), then 2 s into the ride. */
export async function startAll(fail: (m: string) => void, w: World): Promise<void> {
  for (const d of w.devs) await startRun(fail, d);
  await Promise.all(w.devs.map((d) => d.proc!.waitFor(PLAYING, 180_000)));
  await untilUtc(w.startUtcNs + 2_000_000_000n);
}

export async function stopRun(d: Dev): Promise<void> {
  d.proc?.child.kill('SIGTERM');
  await d.proc?.exited;
}

export interface Played {
  samples: Int16Array;
  firstNs: bigint;
  frames: number;
}

export function played(d: Dev): Played {
  const w = readWav16(readFileSync(d.wav));
  const side = JSON.parse(readFileSync(`${d.wav}.json`, 'utf8')) as { firstFrameMonoNs: string };
  return {
    samples: new Int16Array(w.data.buffer, w.data.byteOffset, w.frames * 2),
    firstNs: TRUTH.utcOfMono(BigInt(side.firstFrameMonoNs)),
    frames: w.frames,
  };
}

export const utcOf = (p: Played, frame: number) => p.firstNs + BigInt(Math.round(frame * SAMPLE_NS));
export const frameAt = (p: Played, utcNs: bigint) => Math.round(Number(utcNs - p.firstNs) / SAMPLE_NS);
export const right = (p: Played, f: number) => p.samples[f * 2 + 1]!;
export const left = (p: Played, f: number) => p.samples[f * 2]!;

/** The first frame from `from` on where pred holds for the right channel (and the next 10 frames). */
export function firstWhere(p: Played, from: number, pred: (r: number) => boolean): number | undefined {
  for (let f = Math.max(0, from); f + 10 < p.frames; f++) {
    let ok = true;
    for (let k = 0; k <= 10 && ok; k++) ok = pred(right(p, f + k));
    if (ok) return f;
  }
  return undefined;
}

/** "sent ... at ISO" from the CLI: the command's instant. */
export function sentAt(stdout: string): bigint {
  const m = / at (\d{4}-\d{2}-\d{2}T[\d:.]+Z) /.exec(stdout);
  if (!m) throw new Error(`no instant in: ${stdout}`);
  return BigInt(Date.parse(m[1]!)) * 1_000_000n;
}

export async function untilUtc(utcNs: bigint): Promise<void> {
  const ms = Number((utcNs - truthNowNs()) / 1_000_000n);
  if (ms > 0) await new Promise((r) => setTimeout(r, ms));
}

export const level = (i: number, gainDb = 0) => Math.round(LEVELS[i]! * 32768 * 10 ** (gainDb / 20));
export const near = (x: number, want: number, tol = 4) => Math.abs(x - want) <= tol;

/** Frames either side of the ramp's wrap (32767 → 0) where resampling rings: not a move of the music. */
const WRAP_RING_FRAMES = 4;

/**
 * How far the left channel's ramp strays, in frames, from running on one frame per frame over
 * [from, to): 0 or 1 when the music ran on unchanged (1: the aligner following the clock by a
 * fraction of a frame); a gap, a jump or a re-seek shows as its size. Frames beside the ramp's wrap
 * are left out (fractional resampling rings across that step of the test signal).
 */
export function rampStray(p: Played, from: number, to: number): number {
  let worst = 0;
  for (let f = from; f < to; f++) {
    const expected = (left(p, from) + (f - from)) % 32768;
    if (expected < WRAP_RING_FRAMES || expected > 32767 - WRAP_RING_FRAMES) continue;
    const d = Math.abs(left(p, f) - expected);
    worst = Math.max(worst, Math.min(d, 32768 - d));
  }
  return worst;
}
