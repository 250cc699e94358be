import { stat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/files.js';
import { decodeToChunks, type PcmFormat } from './decoder.js';
import type { Playlist, PlaylistEntry } from './m3u.js';
import { sha256File, type Manifest } from './manifest.js';

/**
 * A timeline this device can compute without a shared manifest: it decodes each file once to count
 * its frames at the output rate and keeps the counts in its state folder, keyed by path, size and
 * modification time. With every file present the result equals what `timeline build` would write,
 * so a restart (or a daily start's rejoin) lands on the exact frame; the first time costs one
 * decode of the playlist, and says so. A file missing here is left out: the timeline is then only
 * this device's, and the caller reports it loudly.
 */

export const FRAME_COUNT_CACHE = 'frame-counts.json';

interface CacheEntry {
  size: number;
  mtimeMs: number;
  sampleRate: number;
  frames: number;
  sha256: string;
}
type Cache = Record<string, CacheEntry>;

export interface CountOptions {
  ffmpeg: string;
  format: PcmFormat;
  /** Where the cache lives (the state folder). */
  cacheDir: string;
  log(m: string): void;
  onProblem(m: string): void;
  /** Only answer from the cache: undefined when any present file would need decoding. */
  cacheOnly?: boolean;
}

/** A manifest whose frame counts this device made itself (`counted: true`: not shared, not verified). */
export type CountedManifest = Manifest & { counted: true; missing: PlaylistEntry[] };

export async function countedManifest(pl: Playlist, o: CountOptions): Promise<CountedManifest | undefined> {
  const cachePath = join(o.cacheDir, FRAME_COUNT_CACHE);
  const cache = await readCache(cachePath);
  const present: Array<{ e: PlaylistEntry; size: number; mtimeMs: number }> = [];
  const missing: PlaylistEntry[] = [];
  for (const e of pl.entries) {
    const st = await stat(e.path).catch(() => undefined);
    if (st?.isFile() && st.size > 0) present.push({ e, size: st.size, mtimeMs: st.mtimeMs });
    else missing.push(e);
  }
  const hit = (p: (typeof present)[number]) => {
    const c = cache[p.e.path];
    return c && c.size === p.size && c.mtimeMs === p.mtimeMs && c.sampleRate === o.format.sampleRate ? c : undefined;
  };
  const toCount = present.filter((p) => !hit(p));
  if (toCount.length && o.cacheOnly) return undefined;
  if (toCount.length)
    o.log(
      `counting the frames of ${toCount.length} of ${pl.entries.length} tracks (once per file; kept in ${cachePath}) so that a late start or a restart lands on the exact frame`,
    );
  let changed = false;
  const entries: Manifest['entries'] = [];
  for (const p of present) {
    let c = hit(p);
    if (!c) {
      try {
        const d = await decodeToChunks(o.ffmpeg, p.e.path, o.format, { keepFromFrame: Number.POSITIVE_INFINITY });
        c = cache[p.e.path] = {
          size: p.size,
          mtimeMs: p.mtimeMs,
          sampleRate: o.format.sampleRate,
          frames: d.frames,
          sha256: await sha256File(p.e.path),
        };
        changed = true;
      } catch (err) {
        missing.push(p.e);
        continue;
      }
    }
    entries.push({
      line: p.e.line,
      path: p.e.raw,
      sha256: c.sha256,
      frames: c.frames,
      ...(p.e.title ? { title: p.e.title } : {}),
    });
  }
  if (changed)
    await writeFileAtomic(cachePath, JSON.stringify(cache) + '\n', { createDir: true }).catch((e: Error) =>
      o.log(`cannot keep the frame counts in ${cachePath}: ${e.message}`),
    );
  missing.sort((a, b) => a.line - b.line);
  for (const e of missing) {
    o.onProblem(
      `timeline unverified: playlist line ${e.line} (${e.raw}) is missing or unreadable on this device, so every later track plays earlier here than on the others; copy the file, or build a manifest (jaudiosync timeline build) and copy it with the music`,
    );
  }
  return {
    v: 1,
    sampleRate: o.format.sampleRate,
    channels: o.format.channels,
    entries,
    totalFrames: entries.reduce((a, x) => a + x.frames, 0),
    counted: true,
    missing,
  };
}

async function readCache(path: string): Promise<Cache> {
  try {
    const c = JSON.parse(await readFile(path, 'utf8')) as Cache;
    return c && typeof c === 'object' ? c : {};
  } catch {
    return {}; // none yet, or broken: counted again
  }
}
