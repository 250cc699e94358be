// Memory over a long playlist: 36 five-minute tracks (3 h) on a manifest timeline, joined 100 s
// before the end of track 12, so that within the measurement the next track is preloaded (90 s
// before the boundary) while the rest of the playing one is still held: the worst moment.
// Run: npm run build && node --import tsx bench/long-playlist-rss.ts
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_DIR } from '../src/service/config.js';

const dir = mkdtempSync(join(tmpdir(), 'jas-rss-'));
execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'aevalsrc=0.3*sin(2*PI*330*t):s=44100:d=300', '-ac', '2', '-b:a', '128k', join(dir, 'song.mp3')]);
writeFileSync(join(dir, 'list.m3u8'), '#EXTM3U\n' + 'song.mp3\n'.repeat(36));
const bin = join(PACKAGE_DIR, 'bin', 'jaudiosync.js');
execFileSync(process.execPath, [bin, 'timeline', 'build', join(dir, 'list.m3u8')], { stdio: 'ignore' });
const at = new Date(Date.now() - (3600_000 - 100_000)).toISOString();
writeFileSync(join(dir, 'c.toml'), `[hardware]\nmode = "simulated"\n[schedule]\nstart = "${at}"\n[playlist]\npath = "list.m3u8"\n[audio]\noutput = "wav"\nwav_path = "out.wav"\n`);
const child = spawn(process.execPath, [bin, 'run', '--config', join(dir, 'c.toml'), '-q'], { stdio: 'ignore' });
let peakKb = 0, cpu0 = 0, t0 = 0, cpu1 = 0, t1 = 0;
const start = Date.now();
await new Promise<void>((resolve) => {
  const timer = setInterval(() => {
    try {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      peakKb = Math.max(peakKb, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0));
      const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      const ticks = Number(stat[11]) + Number(stat[12]);
      if (Date.now() - start > 15_000 && !t0) { cpu0 = ticks; t0 = Date.now(); }
      if (t0) { cpu1 = ticks; t1 = Date.now(); }
    } catch { /* gone */ }
    if (Date.now() - start > 35_000) { clearInterval(timer); resolve(); }
  }, 200);
});
child.kill('SIGTERM');
console.log(`long playlist (36 × 5 min = 3 h, joined 100 s before a track boundary), ${cpus()[0]?.model} x${cpus().length}: peak RSS ${(peakKb / 1024).toFixed(0)} MiB; CPU while playing ${(((cpu1 - cpu0) / 100) / ((t1 - t0) / 1000) * 100).toFixed(1)} % of one core`);
