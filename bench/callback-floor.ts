// How the audio callbacks' least delay behaves on the real path (audify -> ALSA -> the ALSA jack plugin ->
// JACK dummy, -R, period 1024): every callback stamped both ways the player can stamp it (the instant
// RtAudio's audio thread took the buffer, from audify as scripts/audify-stamp.mjs builds it; and its
// arrival on the event loop, all an unpatched audify allows), each against the device's own cadence.
// The DAC clock takes the line's offset from the earliest callbacks back 60 s; this says how far a
// trailing window's floor sits above the deepest callbacks of the whole recording, and how often a
// deeper one turns up: the start error and the in-track moves both come from it.
//
// Run: node --import tsx bench/callback-floor.ts [--sec S] [--load idle|cpu]
//      (needs jackd2 and the ALSA jack plugin: scripts/setup.sh --test)
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import audify from 'audify';
import { PACKAGE_DIR } from '../src/service/config.js';
import { fitLine, quantile } from '../src/time/regress.js';

const args = process.argv.slice(2);
const opt = (name: string, d: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1]! : d;
};
const SEC = Number(opt('--sec', '180'));
const load = opt('--load', 'idle');
if (!(SEC >= 30) || !['idle', 'cpu'].includes(load)) {
  console.error('usage: callback-floor.ts [--sec S>=30] [--load idle|cpu]');
  process.exit(2);
}
const RATE = 48_000,
  P = 1024,
  PERIOD_NS = (P * 1e9) / RATE;
/** Windows whose floor is compared with the recording's deepest callbacks (s): the DAC clock's is ~21. */
const WINDOWS_SEC = [5, 21, 60];
/** The start-up burst and the first seconds (the device buffer filling, JACK's driver restarting). */
const SKIP_SEC = 5;

const dir = mkdtempSync(join(tmpdir(), 'jas-floor-'));
const rig = join(PACKAGE_DIR, 'scripts', 'audio-rig.sh');
execFileSync('bash', [rig, 'start', dir], {
  stdio: 'inherit',
  env: { ...process.env, RIG_PERIOD: String(P), RIG_REQUIRE_RT: '1' },
});
const home = join(dir, 'home');
process.env.HOME = home;
const loaders: ChildProcess[] = [];
if (load === 'cpu')
  for (let i = 0; i < 2; i++) loaders.push(spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }));
const stop = () => {
  for (const l of loaders) l.kill('SIGKILL');
  execFileSync('bash', [rig, 'stop', dir]);
  rmSync(dir, { recursive: true, force: true });
};
process.once('SIGINT', () => {
  stop();
  process.exit(130);
});

const rt = new audify.RtAudio(2 /* LINUX_ALSA */);
const silence = Buffer.alloc(P * 4);
const loopStamps: bigint[] = [];
const threadStamps: bigint[] = [];
rt.openStream(
  { deviceId: rt.getDefaultOutputDevice(), nChannels: 2, firstChannel: 0 },
  null,
  0x2 as Parameters<typeof rt.openStream>[2], // SINT16
  RATE,
  P,
  'floor',
  null,
  (stampNs?: number) => {
    loopStamps.push(process.hrtime.bigint());
    if (typeof stampNs === 'number') threadStamps.push(BigInt(Math.round(stampNs)));
    rt.write(silence);
  },
  0x8 as Parameters<typeof rt.openStream>[8], // RTAUDIO_SCHEDULE_REALTIME, as the player asks
);
for (let i = 0; i < 4; i++) rt.write(silence);
rt.start();
await new Promise((r) => setTimeout(r, SEC * 1000));
const streamSec = rt.streamTime;
rt.setFrameOutputCallback(null);
rt.stop();
rt.closeStream();
stop();
writeFileSync(
  join(tmpdir(), 'callback-floor.txt'),
  loopStamps.map((l, i) => `${l} ${threadStamps[i] ?? ''}`).join('\n'),
);
const periods = Math.round((streamSec * RATE) / P);
console.log(
  `callback floor on the real path (${load}; ${cpus()[0]?.model.trim()} x${cpus().length}): ${loopStamps.length} callbacks, RtAudio counted ${periods} periods`,
);
if (threadStamps.length === loopStamps.length) analyse("the audio thread's time stamp", threadStamps);
else console.log('no audio thread time stamps: this audify is not patched (node scripts/audify-stamp.mjs)');
analyse('arrival on the event loop', loopStamps);
console.log(`\nevery callback's two stamps: ${join(tmpdir(), 'callback-floor.txt')} (event loop ns, audio thread ns)`);
// audify keeps its thread-safe callbacks referenced after closeStream (setFrameOutputCallback(null) drops
// one without releasing it; the error callback's goes only when another stream opens): Node would wait on them.
process.exit(0);

function analyse(what: string, stamps: bigint[]): void {
  console.log(`\n${what}:`);
  // Callback i pops period i (no underrun: checked against RtAudio's own period count, above).
  const skip = Math.round((SKIP_SEC * 1e9) / PERIOD_NS);
  const t0 = stamps[0]!;
  const ts = stamps.map((s) => Number(s - t0));
  // The earliest callback of every 16 (the DAC clock's envelope) against the nominal cadence.
  const blockMin: Array<{ k: number; r: number }> = [];
  for (let i = skip; i + 16 <= ts.length; i += 16) {
    let k = i;
    for (let j = i; j < i + 16; j++) if (ts[j]! - j * PERIOD_NS < ts[k]! - k * PERIOD_NS) k = j;
    blockMin.push({ k, r: ts[k]! - k * PERIOD_NS });
  }
  // JACK's driver restarting its schedule (the grid moving by ms) splits the recording: the longest
  // stretch whose envelope never moves by GRID_MOVE_NS from one block to the next is analysed.
  const GRID_MOVE_NS = 2_000_000;
  let from = 0,
    best = { from: 0, to: 0 };
  const cuts: number[] = [];
  for (let j = 1; j <= blockMin.length; j++) {
    if (j < blockMin.length && Math.abs(blockMin[j]!.r - blockMin[j - 1]!.r) < GRID_MOVE_NS) continue;
    if (j < blockMin.length) cuts.push(Math.round((blockMin[j]!.k * PERIOD_NS) / 1e9));
    if (j - from > best.to - best.from) best = { from, to: j };
    from = j;
  }
  const seg0 = blockMin[best.from]!.k,
    seg1 = best.to < blockMin.length ? blockMin[best.to]!.k : ts.length;
  const { b } = fitLine(
    blockMin.slice(best.from, best.to).map((x) => x.k),
    blockMin.slice(best.from, best.to).map((x) => ts[x.k]!),
  );
  const res = ts.map((t, i) => t - b * i);
  const floor = Math.min(...res.slice(seg0, seg1));
  const over = (i: number) => (res[i]! - floor) / 1e3; // µs above the stretch's deepest callback
  console.log(
    `${ts.length} callbacks over ${(ts.at(-1)! / 1e9).toFixed(0)} s; rate ${((PERIOD_NS / b - 1) * 1e6).toFixed(2)} ppm`,
  );
  console.log(
    `grid moves (JACK's driver restarting) at ${cuts.join(', ') || 'none'} s; analysed ${((seg0 * PERIOD_NS) / 1e9).toFixed(0)}-${((seg1 * PERIOD_NS) / 1e9).toFixed(0)} s`,
  );
  const all = res.slice(seg0, seg1).map((_, j) => over(j + seg0));
  console.log(
    `delay above the deepest callback: p1 ${quantile(all, 0.01).toFixed(0)} µs, median ${quantile(all, 0.5).toFixed(0)}, p99 ${quantile(all, 0.99).toFixed(0)}`,
  );
  for (const w of WINDOWS_SEC) {
    const n = Math.round((w * 1e9) / PERIOD_NS);
    if (seg1 - seg0 < 2 * n) {
      console.log(`a trailing ${w} s window: the stretch is too short to say`);
      continue;
    }
    const mins: number[] = [];
    for (let i = seg0 + n; i < seg1; i += 16) {
      let m = Infinity;
      for (let j = i - n; j < i; j++) m = Math.min(m, over(j));
      mins.push(m);
    }
    console.log(
      `floor of a trailing ${w} s window above the deepest: median ${quantile(mins, 0.5).toFixed(0)} µs, p90 ${quantile(mins, 0.9).toFixed(0)}, max ${Math.max(...mins).toFixed(0)}`,
    );
  }
  // Each 10 s: its deepest callback, against the recording's (what a line through it would put there).
  const seg = Math.round(10e9 / PERIOD_NS);
  const segs: string[] = [];
  for (let i = seg0; i + seg <= seg1; i += seg) {
    let m = Infinity;
    for (let j = i; j < i + seg; j++) m = Math.min(m, over(j));
    segs.push(m.toFixed(0));
  }
  console.log(`deepest callback of each 10 s, µs above the recording's: ${segs.join(' ')}`);
}
