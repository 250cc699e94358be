// Absolute start error on the real audio path: jaudiosync players -> audify -> ALSA -> ALSA jack
// plugin -> JACK (dummy driver), recorded by bench/jack-rec-stamped (built here), which timestamps
// every JACK cycle. The onset of a player's first sample, in JACK time mapped to the system clock,
// against the instant it was scheduled for (the simulated GPS's truth is the system clock) is its
// start error. Two players per run, random start phases against the JACK period.
// Run: node --import tsx bench/start-error.ts [--runs N]     (needs jackd2, libjack-jackd2-dev, cc)
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_DIR } from '../src/service/config.js';
import { onsetRealtimeNs, readStampedRecording, type PresentationMode } from '../src/sim/jack-stamps.js';

const args = process.argv.slice(2);
const runs = Number(args[args.indexOf('--runs') + 1] || 20);
const build = join(PACKAGE_DIR, 'bench', 'build');
const rec = join(build, 'jack-rec-stamped');
mkdirSync(build, { recursive: true });
if (!existsSync(rec)) execFileSync('cc', ['-O2', '-o', rec, join(PACKAGE_DIR, 'bench', 'jack-rec-stamped.c'), '-ljack'], { stdio: 'inherit' });

const dir = mkdtempSync(join(tmpdir(), 'jas-start-'));
const rig = join(PACKAGE_DIR, 'scripts', 'audio-rig.sh');
execFileSync('bash', [rig, 'start', dir], { stdio: 'inherit' });
const sock = join(dir, 'pulse.sock');
// One HOME per player, each with a default PCM into its own recorder ports.
const homes = [1, 2].map((n) => {
  const home = join(dir, `player${n}`);
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, '.asoundrc'), `pcm.!default { type plug slave.pcm "j" }\npcm.j { type jack playback_ports { 0 stamprec:in_${2 * n - 1} 1 stamprec:in_${2 * n} } }\nctl.!default { type pulse server "unix:${sock}" }\n`);
  return home;
});
const ffmpeg = existsSync('/usr/bin/ffmpeg') ? '/usr/bin/ffmpeg' : 'ffmpeg';
execFileSync(ffmpeg, ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'aevalsrc=0.5*sin(2*PI*1000*t+1):s=48000:d=0.3', '-ac', '2', join(dir, 'click.flac')]);
writeFileSync(join(dir, 'list.m3u8'), 'click.flac\n');

function run(cmd: string, a: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve) => {
    const c = spawn(cmd, a, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d) => { out += d; });
    c.on('close', () => resolve(out));
  });
}

// errors[mode][player]: start errors (µs) with the presentation read per cycle stamp and off the fitted line.
const MODES: PresentationMode[] = ['cycle', 'fit'];
const errors: Record<PresentationMode, number[][]> = { cycle: [[], []], fit: [[], []] };
console.log(`start-error bench: ${runs} runs, 2 players each, JACK dummy 48 kHz period 256, ${cpus()[0]?.model} x${cpus().length}`);
for (let i = 0; i < runs; i++) {
  const prefix = join(dir, `run${i}`);
  const recorder = spawn(rec, ['stamprec', '4', '16', prefix], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((r) => recorder.stdout.once('data', () => r()));
  const startMs = Date.now() + 8000 + Math.floor(Math.random() * 1000);
  const at = new Date(startMs).toISOString();
  const players = homes.map((home) => {
    writeFileSync(join(home, 'c.toml'), `[hardware]\nmode = "simulated"\n[schedule]\nstart = "${at}"\n[playlist]\npath = "${join(dir, 'list.m3u8')}"\n`);
    return run(process.execPath, [join(PACKAGE_DIR, 'bin', 'jaudiosync.js'), 'run', '--config', join(home, 'c.toml'), '-q'], { HOME: home });
  });
  await Promise.all(players);
  recorder.kill('SIGTERM');
  await new Promise((r) => recorder.on('close', r));
  const recording = readStampedRecording(prefix);
  for (const p of [0, 1]) {
    for (const mode of MODES) {
      const at = onsetRealtimeNs(recording, 2 * p, 1e-4, mode);
      if (at === undefined) { if (mode === 'cycle') console.log(`run ${i}: player ${p + 1} not heard`); continue; }
      errors[mode][p]!.push(Number(at - BigInt(startMs) * 1_000_000n) / 1000);
    }
  }
  process.stdout.write(`run ${i + 1}: ${MODES.map((m) => `${m} ${errors[m].map((e) => `${e.at(-1)?.toFixed(1)} µs`).join(', ')}`).join('; ')}\n`);
}
execFileSync('bash', [rig, 'stop', dir]);
for (const mode of MODES) {
  const all = errors[mode].flat();
  const mean = all.reduce((a, b) => a + b, 0) / all.length;
  const spread = all.map((e) => Math.abs(e - mean)).sort((a, b) => a - b);
  const pair = errors[mode][0]!.map((e, k) => Math.abs(e - errors[mode][1]![k]!)).sort((a, b) => a - b);
  const q = (xs: number[], p: number) => xs[Math.floor(p * (xs.length - 1))]!.toFixed(1);
  console.log(`\npresentation read ${mode === 'cycle' ? 'from the cycle stamp' : 'off the line fitted through the cycle stamps'}:`);
  console.log(`  absolute start error: mean ${mean.toFixed(1)} µs (systematic: the output latency, removed by a documented constant or the trim), |error − mean| p50 ${q(spread, 0.5)} µs, p90 ${q(spread, 0.9)} µs, p99 ${q(spread, 0.99)} µs, max ${spread.at(-1)!.toFixed(1)} µs over ${all.length} starts`);
  // Around the median too: a rare whole-period event (below) moves the mean and says nothing of the rest.
  const med = q([...all].sort((a, b) => a - b), 0.5);
  const aroundMed = all.map((e) => Math.abs(e - Number(med))).sort((a, b) => a - b);
  console.log(`  around the median ${med} µs: p50 ${q(aroundMed, 0.5)} µs, p90 ${q(aroundMed, 0.9)} µs; ${aroundMed.filter((e) => e > 1000).length} of ${all.length} starts more than 1 ms off it`);
  console.log(`  between the two players of a run: median ${q(pair, 0.5)} µs, max ${pair.at(-1)!.toFixed(1)} µs`);
}
