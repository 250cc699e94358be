// Late join: a device that (re)starts while the playlist is already playing, with a 5 min track
// and a timeline manifest. Time from process start to "joined late" (first sample out, in sync).
// The first run starts cold (no saved clock state: a full window of pulses to lock); the others are
// restarts that find the frequency the previous run saved (a crash, or a reboot mid-ride).
// Run: npm run build && node --import tsx bench/late-join.ts [--runs N]
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_DIR } from '../src/service/config.js';
import { scratchDir } from './scratch.js';

const args = process.argv.slice(2);
const runs = Number(args[args.indexOf('--runs') + 1] || 4);
const dir = scratchDir('jas-join-');
execFileSync('ffmpeg', [
  '-loglevel',
  'error',
  '-y',
  '-f',
  'lavfi',
  '-i',
  'aevalsrc=0.3*sin(2*PI*220*t)*sin(PI*t):s=44100:d=300',
  '-ac',
  '2',
  '-b:a',
  '128k',
  join(dir, 'five-minutes.mp3'),
]);
writeFileSync(join(dir, 'list.m3u8'), '#EXTM3U\nfive-minutes.mp3\n');
const bin = join(PACKAGE_DIR, 'bin', 'jaudiosync.js');
execFileSync(process.execPath, [bin, 'timeline', 'build', join(dir, 'list.m3u8')], { stdio: 'ignore' });
console.log(
  `late-join bench: a 5 min MP3 already playing for 2 min, simulated GPS, WAV device; ${cpus()[0]?.model} x${cpus().length}`,
);
for (let i = 0; i < runs; i++) {
  // A random phase against the GPS second: the lock waits for whole pulses, so the phase matters.
  await new Promise((r) => setTimeout(r, Math.random() * 1000));
  const at = new Date(Date.now() - 120_000).toISOString();
  writeFileSync(
    join(dir, 'c.toml'),
    `[hardware]\nmode = "simulated"\n[schedule]\nstart = "${at}"\n[playlist]\npath = "list.m3u8"\n[audio]\noutput = "wav"\nwav_path = "out.wav"\n`,
  );
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, [bin, 'run', '--config', join(dir, 'c.toml')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, XDG_STATE_HOME: join(dir, 'state') },
  });
  const lines: string[] = [];
  const joinedMs = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      for (const l of d.toString().split('\n')) {
        lines.push(l);
        if (/joined late/.test(l)) resolve(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    });
    child.on('close', () => reject(new Error(`never joined:\n${lines.join('\n')}`)));
  });
  const ready = lines.map((l) => /ready in (\d+) ms/.exec(l)?.[1]).find(Boolean);
  console.log(
    `run ${i + 1} (${i === 0 ? 'cold, no saved clock state' : 'restart, saved clock state'}): joined ${(joinedMs / 1000).toFixed(2)} s after process start (ready, incl. GPS lock: ${ready} ms)`,
  );
  child.kill('SIGTERM');
  await new Promise((r) => child.on('close', r));
}
