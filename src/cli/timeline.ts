import { existsSync, readFileSync } from 'node:fs';
import { findFfmpeg } from '../player/ffmpeg.js';
import { parseM3u } from '../player/m3u.js';
import { buildManifest, manifestPathFor, readManifest, sha256File, writeManifest } from '../player/manifest.js';
import { formatDuration } from '../service/status.js';

/** `jaudiosync timeline build|show PLAYLIST`: the manifest every device follows. */

function loadPlaylist(file: string) {
  try {
    return parseM3u(readFileSync(file, 'utf8'), file);
  } catch (e) {
    throw new Error(`cannot read the playlist ${file}: ${(e as Error).message}`);
  }
}

export async function timelineBuild(file: string, o: { out?: string; rate: number; channels: number; ffmpeg?: string }): Promise<number> {
  const pl = loadPlaylist(file);
  const problems: string[] = [];
  const m = await buildManifest(pl, findFfmpeg(o.ffmpeg).path, { sampleRate: o.rate, channels: o.channels }, (p) => problems.push(p));
  const out = o.out ?? manifestPathFor(file);
  await writeManifest(out, m);
  for (const p of problems) process.stderr.write(`warning: ${p}\n`);
  process.stdout.write(`${out}: ${m.entries.length} tracks, ${formatDuration(m.totalFrames / m.sampleRate)} at ${m.sampleRate} Hz\n`);
  return problems.length ? 1 : 0;
}

export async function timelineShow(file: string, o: { manifest?: string; json?: boolean }): Promise<number> {
  const pl = loadPlaylist(file);
  const path = o.manifest ?? manifestPathFor(file);
  if (!existsSync(path)) throw new Error(`no timeline manifest at ${path}: build it with "jaudiosync timeline build ${file}"`);
  const m = await readManifest(path);
  let start = 0;
  const rows = [];
  for (const [i, me] of m.entries.entries()) {
    const entry = pl.entries[i];
    const status = !entry ? 'not in the playlist' : !existsSync(entry.path) ? 'MISSING here: silence for this slot'
      : (await sha256File(entry.path)) !== me.sha256 ? 'DIFFERS here: silence for this slot' : 'ok';
    rows.push({ index: i + 1, path: me.path, title: me.title, startFrame: start, frames: me.frames, startSec: start / m.sampleRate, status });
    start += me.frames;
  }
  if (o.json) process.stdout.write(JSON.stringify({ manifest: path, sampleRate: m.sampleRate, totalFrames: m.totalFrames, tracks: rows }, null, 2) + '\n');
  else for (const r of rows) process.stdout.write(`${String(r.index).padStart(3)}  ${formatDuration(r.startSec).padStart(8)}  ${formatDuration(r.frames / m.sampleRate).padStart(6)}  ${r.status.padEnd(36)} ${r.title ?? r.path}\n`);
  return rows.every((r) => r.status === 'ok') ? 0 : 1;
}
