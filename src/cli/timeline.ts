import { existsSync, readFileSync } from 'node:fs';
import { findFfmpeg } from '../player/ffmpeg.js';
import { parseM3u } from '../player/m3u.js';
import { buildManifest, manifestPathFor, readManifest, sha256File, slotAt, writeManifest } from '../player/manifest.js';
import { parseStartSpec } from '../service/config.js';
import { formatDuration } from '../service/status.js';
import { Progress } from '../util/progress.js';

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
  const ffmpeg = findFfmpeg(o.ffmpeg).path, format = { sampleRate: o.rate, channels: o.channels };
  // One entry at a time, to show progress (minutes on a Pi for a 3 h ride).
  const m = await buildManifest({ ...pl, entries: [] }, ffmpeg, format, () => {});
  const progress = new Progress({ label: 'timeline build', total: pl.entries.length, unit: 'tracks' });
  for (const [i, e] of pl.entries.entries()) {
    progress.update(i, e.title ?? e.raw);
    const one = await buildManifest({ ...pl, entries: [e] }, ffmpeg, format, (p) => problems.push(p));
    m.entries.push(...one.entries);
    m.totalFrames += one.totalFrames;
  }
  progress.finish();
  const out = o.out ?? manifestPathFor(file);
  await writeManifest(out, m);
  for (const p of problems) process.stderr.write(`warning: ${p}\n`);
  process.stdout.write(`${out}: ${m.entries.length} tracks, ${formatDuration(m.totalFrames / m.sampleRate)} at ${m.sampleRate} Hz\n`);
  return problems.length ? 1 : 0;
}

export async function timelineShow(file: string, o: { manifest?: string; json?: boolean; at?: string; start?: string }): Promise<number> {
  const pl = loadPlaylist(file);
  const path = o.manifest ?? manifestPathFor(file);
  if (!existsSync(path)) throw new Error(`no timeline manifest at ${path}: build it with "jaudiosync timeline build ${file}"`);
  const m = await readManifest(path);
  if (o.at !== undefined) {
    // What plays at an instant, given the start instant: pure arithmetic on the manifest.
    const start = o.start ? parseStartSpec(o.start) : undefined;
    const at = parseStartSpec(o.at);
    if (start?.kind !== 'absolute' || at?.kind !== 'absolute') throw new Error('--at and --start take ISO 8601 instants with offsets');
    const frame = Math.floor((Number(at.utcNs - start.utcNs) * m.sampleRate) / 1e9);
    const slot = slotAt(m, 0, frame);
    const row = slot ? { track: slot.index + 1, path: slot.entry.path, title: slot.entry.title, frame: slot.frameInTrack, positionSec: slot.frameInTrack / m.sampleRate } : null;
    process.stdout.write(o.json ? JSON.stringify({ timelineFrame: frame, playing: row }) + '\n'
      : row ? `track ${row.track} ${row.title ?? row.path} at ${formatDuration(row.positionSec)} (frame ${row.frame})\n` : `nothing plays then (timeline frame ${frame})\n`);
    return 0;
  }
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
