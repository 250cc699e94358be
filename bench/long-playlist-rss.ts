// Memory over a long playlist: 36 five-minute tracks (3 h) on a manifest timeline, joined 60 s
// before the end of track 12 and watched for 100 s: the next track is preloaded at once (within
// the 90 s lead), the boundary is crossed at 60 s, and the new track's decode window refills behind
// playback after it. Peak RSS (VmHWM) over all of it, CPU while playing, and the longest run of
// digital silence in what was played after the first sound (a decode that fell behind would show
// there as a gap). Run: npm run build && node --import tsx bench/long-playlist-rss.ts
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_DIR } from '../src/service/config.js';

const JOIN_BEFORE_BOUNDARY_S = 60;
const WATCH_S = 100;
/** CPU is measured once the start-up (clock lock, first decode) is over. */
const CPU_FROM_S = 15;
const TRACK_S = 300;

const dir = mkdtempSync(join(tmpdir(), 'jas-rss-'));
execFileSync('ffmpeg', [
  '-loglevel',
  'error',
  '-y',
  '-f',
  'lavfi',
  '-i',
  `aevalsrc=0.3*sin(2*PI*330*t):s=44100:d=${TRACK_S}`,
  '-ac',
  '2',
  '-b:a',
  '128k',
  join(dir, 'song.mp3'),
]);
writeFileSync(join(dir, 'list.m3u8'), '#EXTM3U\n' + 'song.mp3\n'.repeat(36));
const bin = join(PACKAGE_DIR, 'bin', 'jaudiosync.js');
execFileSync(process.execPath, [bin, 'timeline', 'build', join(dir, 'list.m3u8')], { stdio: 'ignore' });
const at = new Date(Date.now() - (12 * TRACK_S - JOIN_BEFORE_BOUNDARY_S) * 1000).toISOString();
writeFileSync(
  join(dir, 'c.toml'),
  `[hardware]\nmode = "simulated"\n[schedule]\nstart = "${at}"\n[playlist]\npath = "list.m3u8"\n[audio]\noutput = "wav"\nwav_path = "out.wav"\n[service]\nstate_dir = "state"\n`,
);
const child = spawn(process.execPath, [bin, 'run', '--config', join(dir, 'c.toml'), '-q'], { stdio: 'ignore' });
let peakKb = 0,
  cpu0 = 0,
  t0 = 0,
  cpu1 = 0,
  t1 = 0;
const start = Date.now();
await new Promise<void>((resolve) => {
  const timer = setInterval(() => {
    try {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      peakKb = Math.max(peakKb, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0));
      const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      const ticks = Number(stat[11]) + Number(stat[12]);
      if (Date.now() - start > CPU_FROM_S * 1000 && !t0) {
        cpu0 = ticks;
        t0 = Date.now();
      }
      if (t0) {
        cpu1 = ticks;
        t1 = Date.now();
      }
    } catch {
      /* gone */
    }
    if (Date.now() - start > WATCH_S * 1000) {
      clearInterval(timer);
      resolve();
    }
  }, 200);
});
child.kill('SIGTERM');
await new Promise((r) => child.on('close', r));

// The longest run of all-zero frames between the first and the last sound (44-byte header, s16
// stereo; the silence after SIGTERM's fade-out is the end, not a gap).
const wav = readFileSync(join(dir, 'out.wav')).subarray(44);
let first = 0;
while (first + 4 <= wav.length && wav.readInt32LE(first) === 0) first += 4;
let run = 0,
  longest = 0;
for (let i = first; i + 4 <= wav.length; i += 4) {
  if (wav.readInt32LE(i) === 0) run++;
  else {
    longest = Math.max(longest, run);
    run = 0;
  }
}
const playedS = (wav.length - first) / 4 / 48000;
rmSync(dir, { recursive: true, force: true });
console.log(
  `long playlist (36 × 5 min = 3 h, manifest, joined ${JOIN_BEFORE_BOUNDARY_S} s before a track boundary, ${WATCH_S} s watched), ${cpus()[0]?.model} x${cpus().length}, load ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}: ` +
    `peak RSS ${(peakKb / 1024).toFixed(0)} MiB (${((peakKb * 1024) / 1e6).toFixed(0)} MB); CPU while playing ${(((cpu1 - cpu0) / 100 / ((t1 - t0) / 1000)) * 100).toFixed(1)} % of one core; ` +
    `${playedS.toFixed(1)} s played, longest digital silence between sounds ${(longest / 48).toFixed(1)} ms`,
);
