import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../util/files.js';
import { decodeToChunks, type PcmFormat } from './decoder.js';
import type { Playlist } from './m3u.js';

/**
 * The timeline manifest: for each playlist entry the source file's SHA-256 and its decoded frame
 * count at the output rate. Built once (`jaudiosync timeline build`) and copied to every device, it
 * makes every device compute the identical timeline even with a different ffmpeg, lets a device play
 * silence for exactly the slot of a file it lacks, and makes a late join a lookup.
 */

export interface ManifestEntry {
  line: number;
  /** The entry as written in the playlist. */
  path: string;
  sha256: string;
  frames: number;
  title?: string;
}

export interface Manifest {
  v: 1;
  sampleRate: number;
  channels: number;
  entries: ManifestEntry[];
  totalFrames: number;
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path).on('data', (d) => h.update(d)).on('error', reject).on('end', () => resolve(h.digest('hex')));
  });
}

export async function buildManifest(pl: Playlist, ffmpeg: string, format: PcmFormat, onProblem: (m: string) => void): Promise<Manifest> {
  const entries: ManifestEntry[] = [];
  for (const e of pl.entries) {
    try {
      // Counting only: nothing is kept, so a long playlist's manifest costs no RAM.
      const d = await decodeToChunks(ffmpeg, e.path, format, { keepFromFrame: Number.POSITIVE_INFINITY });
      entries.push({ line: e.line, path: e.raw, sha256: await sha256File(e.path), frames: d.frames, ...(e.title ? { title: e.title } : {}) });
    } catch (err) {
      onProblem(`playlist line ${e.line} (${e.raw}): ${(err as Error).message}; left out of the manifest`);
    }
  }
  return { v: 1, sampleRate: format.sampleRate, channels: format.channels, entries, totalFrames: entries.reduce((a, x) => a + x.frames, 0) };
}

export function manifestPathFor(playlistPath: string): string {
  return `${playlistPath}.manifest.json`;
}

export async function writeManifest(path: string, m: Manifest): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(m, null, 2) + '\n');
}

/** Reads and checks a manifest; throws naming the file and what is wrong. */
export async function readManifest(path: string): Promise<Manifest> {
  let m: Manifest;
  try {
    m = JSON.parse(await readFile(path, 'utf8')) as Manifest;
  } catch (e) {
    throw new Error(`timeline manifest ${path}: ${(e as Error).message}`);
  }
  const ok = m && m.v === 1 && Number.isInteger(m.sampleRate) && Array.isArray(m.entries)
    && m.entries.every((x) => typeof x.path === 'string' && /^[0-9a-f]{64}$/.test(x.sha256) && Number.isInteger(x.frames) && x.frames > 0);
  if (!ok) throw new Error(`timeline manifest ${path} is not a version-1 manifest (rebuild it: jaudiosync timeline build PLAYLIST)`);
  return m;
}

/** The manifest repeated `times` back to back (the playlist's `repeat`): still one fixed timeline. */
export function repeatManifest(m: Manifest, times: number): Manifest {
  if (times <= 1) return m;
  const entries = Array.from({ length: times }, () => m.entries).flat();
  return { ...m, entries, totalFrames: m.totalFrames * times };
}

export interface TimelineSlot {
  /** 0-based entry in the (repeated) timeline, and the playlist entry it plays. */
  index: number;
  entry: ManifestEntry;
  startFrame: number;
  /** Frame within the track at the asked timeline frame. */
  frameInTrack: number;
}

/** What plays at a timeline frame: a lookup, no decoding (undefined before the start, in a gap, after the end). */
export function slotAt(m: Manifest, gapFrames: number, frame: number): TimelineSlot | undefined {
  if (frame < 0) return undefined;
  let start = 0;
  for (const [index, entry] of m.entries.entries()) {
    if (frame < start + entry.frames) return { index, entry, startFrame: start, frameInTrack: frame - start };
    start += entry.frames + gapFrames;
    if (frame < start) return undefined; // in the gap after it
  }
  return undefined;
}
