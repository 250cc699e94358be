import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFfmpeg } from '../src/player/ffmpeg.js';
import { generateOperatorKey } from '../src/fleet/keys.js';
import { signCommand } from '../src/fleet/sign.js';
import { rideIdOf } from '../src/fleet/command.js';
import { readWav16, runCli, spawnCli } from './helpers/cli.js';
import { startMosquitto, startRelay, type Mosquitto, type Relay } from './helpers/mosquitto.js';

/**
 * Fleet control end to end, as issue 15 asks: a real mosquitto (passwords, ACL), three
 * `jaudiosync run` processes on simulated hardware writing WAV files, commands through the CLI.
 * Each WAV's sidecar gives the UTC (realtime) instant of its frame 0, so the UTC at which a
 * command took effect on each device is read off the file.
 *
 * The test music says where it is: the left channel is the track's frame number mod 32768 (a
 * ramp), the right channel a level per track (A 0.5, B 0.25, C 0.125). A volume step scales the
 * level, a skip changes it, a stop silences it, and after pause/resume the ramp tells the
 * timeline frame.
 *
 * NEEDS the session core to run startFleet (src/fleet/index.ts) and fold its ops into the plan:
 * until then `jaudiosync run` ignores [fleet] and every test here fails at its first check, saying so.
 */

const ffmpeg = findFfmpeg().path;
const RATE = 48_000;
const SAMPLE_NS = 1e9 / RATE;
/** The simulated clocks' own error (GPS+PPS twin, realtime conversion): a few µs. */
const CLOCK_SLACK_NS = 10_000;
const LEVELS = [0.5, 0.25, 0.125];
const TRACK_SEC = 60;
const FLEET = 'mass';
const NAMES = ['bike1', 'bike2', 'bike3'] as const;

interface Dev {
  name: string;
  config: string;
  wav: string;
  proc?: ReturnType<typeof spawnCli>;
}

interface World {
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

async function world(leadSec = 45): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'jas-fleet-e2e-'));
  LEVELS.forEach((level, i) => execFileSync(ffmpeg, ['-loglevel', 'error', '-f', 'lavfi', '-i', `aevalsrc=mod(n\\,32768)/32768|${level}:s=${RATE}:d=${TRACK_SEC}`,
    '-sample_fmt', 's16', join(dir, `t${i}.flac`)]));
  writeFileSync(join(dir, 'list.m3u8'), '#EXTM3U\nt0.flac\nt1.flac\nt2.flac\n');
  const users = Object.fromEntries(['op', ...NAMES].map((u) => [u, `pw-${u}-${Math.random().toString(36).slice(2)}`]));
  for (const [u, p] of Object.entries(users)) writeFileSync(join(dir, `${u}.pw`), `${p}\n`, { mode: 0o600 });
  const broker = await startMosquitto({ fleet: FLEET, operators: [{ name: 'op', password: users.op! }], devices: NAMES.map((d) => ({ name: d, password: users[d]! })) });
  const { key, file } = generateOperatorKey('ops-lead', 'admin');
  const keyPath = join(dir, 'ops-lead.key');
  writeFileSync(keyPath, file, { mode: 0o600 });
  const startUtcNs = (BigInt(Date.now()) / 1000n + BigInt(leadSec)) * 1_000_000_000n;
  const fleetToml = (user: string, url: string) => ['[fleet]', 'enabled = true', `id = "${FLEET}"`, `brokers = ["${url}"]`, `username = "${user}"`,
    `password_file = "${user}.pw"`, 'lead_ms = 3000', '', '[[fleet.keys]]', 'id = "ops-lead"', 'role = "admin"', `public_key = "${key.publicKeyBase64}"`, ''];
  const relays: Record<string, Relay> = {};
  const devs: Dev[] = [];
  for (const name of NAMES) {
    relays[name] = await startRelay(broker.port);
    mkdirSync(join(dir, `state-${name}`));
    mkdirSync(join(dir, `run-${name}`));
    const config = join(dir, `${name}.toml`);
    writeFileSync(config, [
      '[hardware]', 'mode = "simulated"',
      '[schedule]', `start = "${new Date(Number(startUtcNs / 1_000_000n)).toISOString().replace('.000Z', 'Z')}"`,
      '[playlist]', 'path = "list.m3u8"',
      '[audio]', 'output = "wav"', `wav_path = "${name}.wav"`,
      '[service]', `state_dir = "state-${name}"`, `runtime_dir = "run-${name}"`,
      ...fleetToml(name, relays[name]!.url).map((l) => (l === '[fleet]' ? `[fleet]\ndevice = "${name}"` : l)),
    ].join('\n'));
    devs.push({ name, config, wav: join(dir, `${name}.wav`) });
  }
  const opConfig = join(dir, 'operator.toml');
  writeFileSync(opConfig, fleetToml('op', broker.url).join('\n'));
  return {
    dir, broker, relays, devs, startUtcNs, keyPath, opConfig,
    cli: (args) => runCli(['fleet', ...args, '--config', opConfig, ...(args[0] === 'status' ? [] : ['--key', keyPath])], { timeoutMs: 90_000 }),
    close: async () => {
      for (const d of devs) { d.proc?.child.kill('SIGKILL'); await d.proc?.exited; }
      for (const r of Object.values(relays)) await r.close();
      await broker.stop();
      if (!process.env.JAS_KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Starts a device's `jaudiosync run`; fails the test at once if the service does not run fleet control. */
async function startRun(t: ExecutionContext, d: Dev): Promise<void> {
  d.proc = spawnCli(['run', '--config', d.config]);
  await d.proc.waitFor(new RegExp(`fleet "${FLEET}" as device "${d.name}"|first sample placed|joined late`), 120_000);
  if (!new RegExp(`fleet "${FLEET}" as device "${d.name}"`).test(d.proc.output)) {
    t.fail(`jaudiosync run did not start fleet control (no 'fleet "${FLEET}" as device' line): the session core does not call startFleet yet.\n${d.proc.output}`);
    throw new Error('fleet control not wired into jaudiosync run');
  }
}

async function stopRun(d: Dev): Promise<void> {
  d.proc?.child.kill('SIGTERM');
  await d.proc?.exited;
}

interface Played { samples: Int16Array; firstNs: bigint; frames: number }

function played(d: Dev): Played {
  const w = readWav16(readFileSync(d.wav));
  const side = JSON.parse(readFileSync(`${d.wav}.json`, 'utf8')) as { firstFrameRealtimeNs: string };
  return { samples: new Int16Array(w.data.buffer, w.data.byteOffset, w.frames * 2), firstNs: BigInt(side.firstFrameRealtimeNs), frames: w.frames };
}

const utcOf = (p: Played, frame: number) => p.firstNs + BigInt(Math.round(frame * SAMPLE_NS));
const frameAt = (p: Played, utcNs: bigint) => Math.round(Number(utcNs - p.firstNs) / SAMPLE_NS);
const right = (p: Played, f: number) => p.samples[f * 2 + 1]!;
const left = (p: Played, f: number) => p.samples[f * 2]!;

/** The first frame from `from` on where pred holds for the right channel (and the next 10 frames). */
function firstWhere(p: Played, from: number, pred: (r: number) => boolean): number | undefined {
  for (let f = Math.max(0, from); f + 10 < p.frames; f++) {
    let ok = true;
    for (let k = 0; k <= 10 && ok; k++) ok = pred(right(p, f + k));
    if (ok) return f;
  }
  return undefined;
}

/** "sent ... at ISO" from the CLI: the command's instant. */
function sentAt(stdout: string): bigint {
  const m = / at (\d{4}-\d{2}-\d{2}T[\d:.]+Z) /.exec(stdout);
  if (!m) throw new Error(`no instant in: ${stdout}`);
  return BigInt(Date.parse(m[1]!)) * 1_000_000n;
}

async function untilUtc(utcNs: bigint): Promise<void> {
  const ms = Number(utcNs / 1_000_000n) - Date.now();
  if (ms > 0) await new Promise((r) => setTimeout(r, ms));
}

const level = (i: number, gainDb = 0) => Math.round(LEVELS[i]! * 32768 * 10 ** (gainDb / 20));
const near = (x: number, want: number, tol = 4) => Math.abs(x - want) <= tol;

/** Each device's UTC for a command's effect: on or just after the instant, within one sample of each other. */
function sameInstant(t: ExecutionContext, what: string, atNs: bigint, utcs: bigint[]): void {
  const offs = utcs.map((u) => Number(u - atNs));
  t.log(`${what}: took effect ${offs.map((o) => `${(o / 1000).toFixed(1)} µs`).join(', ')} after its instant`);
  for (const o of offs) t.true(o > -CLOCK_SLACK_NS && o < SAMPLE_NS + CLOCK_SLACK_NS, `${what}: ${o} ns from the instant`);
  t.true(Math.max(...offs) - Math.min(...offs) <= SAMPLE_NS + CLOCK_SLACK_NS, `${what}: spread ${Math.max(...offs) - Math.min(...offs)} ns`);
}

test.serial('three jaudiosync run: volume, skip and stop take effect at the same UTC frame on all three (within one sample)', async (t) => {
  t.timeout(600_000);
  const w = await world();
  try {
    for (const d of w.devs) await startRun(t, d);
    await Promise.all(w.devs.map((d) => d.proc!.waitFor(/first sample placed|joined late/, 180_000)));
    await untilUtc(w.startUtcNs + 2_000_000_000n);
    const vol = await w.cli(['volume', '-12', '--wait']);
    t.is(vol.code, 0, vol.stdout + vol.stderr);
    const skip = await w.cli(['skip', '--wait']);
    t.is(skip.code, 0, skip.stdout + skip.stderr);
    const stop = await w.cli(['stop', '--fade-ms', '0', '--wait']);
    t.is(stop.code, 0, stop.stdout + stop.stderr);
    const [volAt, skipAt, stopAt] = [sentAt(vol.stdout), sentAt(skip.stdout), sentAt(stop.stdout)];
    await untilUtc(stopAt + 2_000_000_000n);
    for (const d of w.devs) await stopRun(d);
    const ps = w.devs.map(played);
    // Effects, in order: track A's level scaled by -12 dB; track B's level (scaled) from its first
    // frame; silence.
    const volUtc = ps.map((p) => utcOf(p, firstWhere(p, frameAt(p, volAt) - RATE, (r) => near(r, level(0, -12)))!));
    const skipUtc = ps.map((p) => utcOf(p, firstWhere(p, frameAt(p, skipAt) - RATE, (r) => near(r, level(1, -12)))!));
    const stopUtc = ps.map((p) => utcOf(p, firstWhere(p, frameAt(p, stopAt) - RATE, (r) => r === 0)!));
    sameInstant(t, 'volume', volAt, volUtc);
    sameInstant(t, 'skip', skipAt, skipUtc);
    sameInstant(t, 'stop', stopAt, stopUtc);
    // After the skip the ramp restarts: track B's frame 0 at the skip's instant.
    for (const p of ps) {
      const f = firstWhere(p, frameAt(p, skipAt) - RATE, (r) => near(r, level(1, -12)))!;
      t.true(Math.abs(left(p, f + 100) - Math.round(100 * 10 ** (-12 / 20))) <= 2, `track B from its first frame (${left(p, f + 100)})`);
    }
  } finally {
    await w.close();
  }
});

test.serial('pause/resume through the CLI leaves all three on the same timeline frame; a device stopped meanwhile converges on restart', async (t) => {
  t.timeout(600_000);
  const w = await world();
  try {
    for (const d of w.devs) await startRun(t, d);
    await Promise.all(w.devs.map((d) => d.proc!.waitFor(/first sample placed|joined late/, 180_000)));
    await untilUtc(w.startUtcNs + 2_000_000_000n);
    const pause = await w.cli(['pause', '--wait']);
    t.is(pause.code, 0, pause.stdout);
    // bike3 goes down while paused; the resume is sent without it.
    await untilUtc(sentAt(pause.stdout) + 1_000_000_000n);
    await stopRun(w.devs[2]!);
    const resume = await w.cli(['resume', '--at', '+6', '--wait']);
    t.is(resume.code, 1, resume.stdout);
    t.regex(resume.stdout, /NOT confirmed: bike3/);
    const [pauseAt, resumeAt] = [sentAt(pause.stdout), sentAt(resume.stdout)];
    // It comes back after the resume's instant: stored pause, retained resume, late join onto the plan.
    await untilUtc(resumeAt + 2_000_000_000n);
    const wav3 = w.devs[2]!.wav;
    w.devs[2]!.wav = `${wav3.slice(0, -4)}-restarted.wav`;
    writeFileSync(w.devs[2]!.config, readFileSync(w.devs[2]!.config, 'utf8').replace(/wav_path = ".*"/, `wav_path = "${w.devs[2]!.wav.split('/').pop()}"`));
    await startRun(t, w.devs[2]!);
    await w.devs[2]!.proc!.waitFor(/joined late/, 180_000);
    const checkAt = resumeAt + 20_000_000_000n;
    await untilUtc(checkAt + 2_000_000_000n);
    for (const d of w.devs) await stopRun(d);
    const ps = w.devs.map(played);
    // The timeline frame at checkAt: the frame held at the pause plus what ran since the resume.
    const expected = Math.round(Number(pauseAt - w.startUtcNs) / SAMPLE_NS) + Math.round(Number(checkAt - resumeAt) / SAMPLE_NS);
    const got = ps.map((p) => left(p, frameAt(p, checkAt)));
    t.log(`ramp at the check instant: ${got.join(', ')} (expected ${expected % 32768})`);
    for (const g of got) t.true(Math.abs(g - (expected % 32768)) <= 2, `timeline frame ${g} vs ${expected % 32768} (mod 32768)`);
    // Paused means silent in between, on the two that stayed up.
    for (const p of ps.slice(0, 2)) {
      const mid = frameAt(p, pauseAt + (resumeAt - pauseAt) / 2n);
      t.is(right(p, mid), 0);
    }
  } finally {
    await w.close();
  }
});

test.serial('the broker killed mid-playlist: the music goes on unchanged; a device cut off shows offline to the others; back, a command lands on the same frame', async (t) => {
  t.timeout(600_000);
  const w = await world();
  try {
    for (const d of w.devs) await startRun(t, d);
    await Promise.all(w.devs.map((d) => d.proc!.waitFor(/first sample placed|joined late/, 180_000)));
    await untilUtc(w.startUtcNs + 2_000_000_000n);
    w.relays.bike2!.cut();
    await waitUntil(async () => {
      const s = await w.cli(['status', '--json']);
      return (JSON.parse(s.stdout) as Array<{ device: string; online: boolean }>).find((r) => r.device === 'bike2')?.online === false;
    }, 60_000);
    t.pass('bike2 shows offline');
    await w.relays.bike2!.restore();
    const killedAt = BigInt(Date.now()) * 1_000_000n;
    await w.broker.kill();
    await new Promise((r) => setTimeout(r, 5000));
    await w.broker.start();
    const backAt = BigInt(Date.now()) * 1_000_000n;
    await waitUntil(async () => {
      const s = await w.cli(['status', '--json']);
      return (JSON.parse(s.stdout) as Array<{ online: boolean }>).filter((r) => r.online).length === 3;
    }, 90_000);
    const vol = await w.cli(['volume', '-12', '--wait']);
    t.is(vol.code, 0, vol.stdout);
    const volAt = sentAt(vol.stdout);
    await untilUtc(volAt + 2_000_000_000n);
    for (const d of w.devs) await stopRun(d);
    const ps = w.devs.map(played);
    // No gap, no move: the ramp runs on frame by frame through the broker's death and return.
    for (const p of ps) {
      let worst = 0;
      for (let f = frameAt(p, killedAt - 1_000_000_000n); f < frameAt(p, backAt + 1_000_000_000n); f++) {
        const step = (left(p, f + 1) - left(p, f) + 32768) % 32768;
        if (step !== 1) worst = Math.max(worst, Math.min(step, 32768 - step));
      }
      t.true(worst <= 1, `the timeline ran on unchanged (worst step ${worst})`);
    }
    sameInstant(t, 'volume after the broker returned', volAt, ps.map((p) => utcOf(p, firstWhere(p, frameAt(p, volAt) - RATE, (r) => near(r, level(0, -12)))!)));
  } finally {
    await w.close();
  }
});

test.serial('forged envelopes and a flood of 10 000 during playback: no effect, no crash, the music unchanged', async (t) => {
  t.timeout(600_000);
  const w = await world();
  try {
    for (const d of w.devs) await startRun(t, d);
    await Promise.all(w.devs.map((d) => d.proc!.waitFor(/first sample placed|joined late/, 180_000)));
    await untilUtc(w.startUtcNs + 2_000_000_000n);
    const forger = generateOperatorKey('ops-lead', 'admin').key;
    const now = BigInt(Date.now()) * 1_000_000n;
    const ride = rideIdOf(w.startUtcNs);
    const mqtt = await import('mqtt');
    const pw = readFileSync(join(w.dir, 'op.pw'), 'utf8').trim();
    const c = await mqtt.default.connectAsync(w.broker.url, { protocolVersion: 4, username: 'op', password: pw, reconnectPeriod: 0 });
    const floodFrom = BigInt(Date.now()) * 1_000_000n;
    for (let i = 0; i < 10_000; i++) {
      const e = i % 2 ? signCommand({ fleet: FLEET, ride, op: 'stop', args: { fadeMs: 0 }, atUtcNs: now + 5_000_000_000n, issuedUtcNs: now }, forger).envelope
        : `{"v":1,"cmd":"${Buffer.from(`junk ${i}`).toString('base64')}","sig":"${'A'.repeat(86)}=="}`;
      c.publish(`jas/v1/${FLEET}/cmd`, e, { qos: 1 });
    }
    await c.publishAsync(`jas/v1/${FLEET}/cmd`, 'end', { qos: 1 });
    await c.endAsync();
    await new Promise((r) => setTimeout(r, 15_000));
    const floodTo = BigInt(Date.now()) * 1_000_000n;
    const st = await w.cli(['status', '--json']);
    const rows = JSON.parse(st.stdout) as Array<{ device: string; online: boolean; rejected: Record<string, number>; commands: number }>;
    for (const r of rows) {
      t.true(r.online, `${r.device} online`);
      t.is(r.commands, 0, `${r.device}: nothing accepted`);
      t.true((r.rejected.signature ?? 0) + (r.rejected.malformed ?? 0) + (r.rejected.overload ?? 0) > 0, JSON.stringify(r.rejected));
    }
    for (const d of w.devs) await stopRun(d);
    const ps = w.devs.map(played);
    for (const [i, p] of ps.entries()) {
      let worst = 0;
      for (let f = frameAt(p, floodFrom); f < frameAt(p, floodTo); f++) {
        const step = (left(p, f + 1) - left(p, f) + 32768) % 32768;
        if (step !== 1) worst = Math.max(worst, Math.min(step, 32768 - step));
      }
      if (worst > 1) t.log(w.devs[i]!.proc!.output.split('\n').filter((l) => /step|seek|underrun|placed|clock:|stall|late|warning/.test(l)).join('\n'));
      t.true(worst <= 1, `the music ran on unchanged through the flood (worst step ${worst})`);
      t.is(right(p, frameAt(p, floodTo)), level(0), 'no stop took effect');
    }
  } finally {
    await w.close();
  }
});

async function waitUntil(f: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await f())) {
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}
