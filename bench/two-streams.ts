// Two audio streams in two processes on the same JACK cycles (audify -> ALSA jack plugin -> JACK dummy
// `-R`, period 1024), every callback stamped by the audio thread, and a JACK-native recorder stamping
// every cycle: how far apart the two processes' DAC lines would be if each took its line from its own
// earliest callbacks, as the DAC clock does. Both are fed by the same cycles, so the truth is "no
// difference"; what is left is what the start spread between two players is made of on this rig.
// The line's rate is the recorder's (known exactly here; the players must learn it).
//
// Run: node --import tsx bench/two-streams.ts [--sec S]
//      (needs jackd2, the ALSA jack plugin and libjack-jackd2-dev: scripts/setup.sh --test)
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import audify from 'audify';
import { PACKAGE_DIR } from '../src/service/config.js';
import { fitLine, quantile } from '../src/time/regress.js';

const RATE = 48_000,
  P = 1024,
  PERIOD_NS = (P * 1e9) / RATE;
/** Cycles skipped at the start and after a JACK driver restart (the plugin's buffer filling). */
const SETTLE_CYCLES = 250;
const WINDOWS_SEC = [10, 20, 60];
const args = process.argv.slice(2);
if (args[0] === '--child') await child(args[1]!, Number(args[2]));
const SEC = Number(args[args.indexOf('--sec') + 1] ?? 150) || 150;

/** One stream writing silence; every callback's audio-thread stamp (CLOCK_MONOTONIC ns) to `out`. */
async function child(out: string, sec: number): Promise<never> {
  const rt = new audify.RtAudio(2 /* LINUX_ALSA */);
  const silence = Buffer.alloc(P * 4);
  const stamps: number[] = [];
  const format = 0x2 as Parameters<typeof rt.openStream>[2]; // SINT16
  const realtime = 0x8 as Parameters<typeof rt.openStream>[8]; // as the player asks
  const device = { deviceId: rt.getDefaultOutputDevice(), nChannels: 2, firstChannel: 0 };
  rt.openStream(
    device,
    null,
    format,
    RATE,
    P,
    'two-streams',
    null,
    (stampNs?: number) => {
      stamps.push(typeof stampNs === 'number' ? Math.round(stampNs) : NaN);
      rt.write(silence);
    },
    realtime,
  );
  for (let i = 0; i < 4; i++) rt.write(silence);
  rt.start();
  await new Promise((r) => setTimeout(r, sec * 1000));
  rt.setFrameOutputCallback(null);
  rt.stop();
  rt.closeStream();
  writeFileSync(out, stamps.join('\n'));
  process.exit(0); // audify keeps thread-safe callbacks referenced after closeStream
}

const build = join(tmpdir(), 'jaudiosync-bench-build');
mkdirSync(build, { recursive: true });
const recSrc = join(PACKAGE_DIR, 'bench', 'jack-rec-stamped.c'),
  recBin = join(build, 'jack-rec-stamped');
if (!existsSync(recBin) || statSync(recBin).mtimeMs < statSync(recSrc).mtimeMs)
  execFileSync('cc', ['-O2', '-o', recBin, recSrc, '-ljack', '-lm'], { stdio: 'inherit' });

const dir = mkdtempSync(join(tmpdir(), 'jas-two-'));
const rig = join(PACKAGE_DIR, 'scripts', 'audio-rig.sh');
execFileSync('bash', [rig, 'start', dir], {
  stdio: 'inherit',
  env: { ...process.env, RIG_PERIOD: String(P), RIG_REQUIRE_RT: '1' },
});
const env = { ...process.env, HOME: join(dir, 'home') };
const run = (cmd: string, a: string[]) =>
  new Promise<void>((resolve, reject) => {
    const p = spawn(cmd, a, { env, stdio: ['ignore', 'ignore', 'inherit'] });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}`))));
  });
const self = [...process.execArgv, process.argv[1]!, '--child'];
try {
  const recorder = run(recBin, ['two-streams-rec', '1', String(SEC + 4), join(dir, 'rec')]);
  await new Promise((r) => setTimeout(r, 1000));
  const a = run(process.execPath, [...self, join(dir, 'a.txt'), String(SEC)]);
  await new Promise((r) => setTimeout(r, 400)); // B's JACK client comes after A's in the graph
  const b = run(process.execPath, [...self, join(dir, 'b.txt'), String(SEC)]);
  await Promise.all([recorder, a, b]);
  analyse();
} finally {
  execFileSync('bash', [rig, 'stop', dir]);
  rmSync(dir, { recursive: true, force: true });
}

function analyse(): void {
  const lines = readFileSync(join(dir, 'rec.stamps'), 'utf8').split('\n');
  const cycles = lines.filter((l) => /^\d+ \d+ -?\d+ \d+$/.test(l)).map((l) => Number(l.split(' ')[2]));
  const meta = readFileSync(join(dir, 'rec.meta'), 'utf8');
  const xrunFrames = [...meta.matchAll(/^xrun (\d+)$/gm)].map((m) => Number(m[1]));
  // After the last xrun (JACK's driver restarting its schedule moves the grid), one line for all.
  const from = Math.max(...xrunFrames.map((f) => Math.ceil(f / P)), 0) + SETTLE_CYCLES;
  const ks: number[] = [],
    ts: number[] = [];
  for (let i = from; i + 16 <= cycles.length; i += 16) {
    let k = i;
    for (let j = i; j < i + 16; j++) if (cycles[j]! - j * PERIOD_NS < cycles[k]! - k * PERIOD_NS) k = j;
    ks.push(k);
    ts.push(cycles[k]! - cycles[from]!);
  }
  const { a: a0, b: periodNs } = fitLine(ks, ts);
  const grid = (k: number) => cycles[from]! + a0 + periodNs * k;
  const since = grid(from);
  const load = (name: string) => {
    const t = readFileSync(join(dir, name), 'utf8').split('\n').map(Number);
    // Callback i of the stream is fed by cycle i + c: the most common c.
    const count = new Map<number, number>();
    t.forEach((ti, i) => {
      if (ti <= since) return;
      const c = Math.floor((ti - grid(0)) / periodNs) - i;
      count.set(c, (count.get(c) ?? 0) + 1);
    });
    const c = [...count].sort((x, y) => y[1] - x[1])[0]![0];
    return t.map((ti, i) => ({ t: ti, delayNs: ti - grid(i + c) })).filter((x) => x.t > since);
  };
  const rec = cycles.map((t, k) => ({ t, delayNs: t - grid(k) })).filter((x) => x.t > since);
  const A = load('a.txt'),
    B = load('b.txt');
  console.log(
    `two streams on the real path (${cpus()[0]?.model.trim()} x${cpus().length}): ${A.length} and ${B.length} callbacks analysed over ${((A.at(-1)!.t - since) / 1e9).toFixed(0)} s after ${xrunFrames.length} JACK driver xrun(s); the grid ${((PERIOD_NS / periodNs - 1) * 1e6).toFixed(2)} ppm`,
  );
  const floorAt = (s: Array<{ t: number; delayNs: number }>, endNs: number, spanNs: number) =>
    Math.min(...s.filter((x) => x.t <= endNs && x.t > endNs - spanNs).map((x) => x.delayNs));
  const mean = (x: number[]) => x.reduce((s, y) => s + y, 0) / x.length;
  const sd = (x: number[]) => Math.sqrt(mean(x.map((y) => (y - mean(x)) ** 2)));
  const end = Math.min(A.at(-1)!.t, B.at(-1)!.t);
  for (const w of WINDOWS_SEC) {
    const ab: number[] = [],
      ar: number[] = [];
    for (let T = since + (w + 2) * 1e9; T < end; T += 2e9) {
      const fa = floorAt(A, T, w * 1e9);
      ab.push((fa - floorAt(B, T, w * 1e9)) / 1e3);
      ar.push((fa - floorAt(rec, T, w * 1e9)) / 1e3);
    }
    if (!ab.length) continue;
    console.log(
      `floor of a trailing ${w} s window, every 2 s: A − B mean ${mean(ab).toFixed(1)} µs, sd ${sd(ab).toFixed(1)}, max |.| ${Math.max(...ab.map(Math.abs)).toFixed(1)}, p99 |.| ${quantile(ab.map(Math.abs), 0.99).toFixed(1)}; A − recorder sd ${sd(ar).toFixed(1)} µs`,
    );
  }
  console.log("A opened its stream 0.4 s before B: a mean below 0 is A's floor earlier than B's.");
}
