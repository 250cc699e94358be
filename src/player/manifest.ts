import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { chmod, readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../util/files.js';
import { decodeToChunks, type PcmFormat } from './decoder.js';
import type { Playlist, PlaylistEntry } from './m3u.js';
import { buildTimeline, slotAt as timelineSlotAt, type Timeline } from './timeline.js';

/**
 * The timeline manifest: for each playlist entry the source file's SHA-256 and its decoded frame
 * count at the output rate. Built once (`jaudiosync timeline build`) and copied to every device, it
 * makes every device compute the identical timeline even with a different ffmpeg, lets a device play
 * silence for exactly the slot of a file it lacks, and makes a late join a lookup.
 * An entry that could not be decoded when the manifest was built is written only on request, as a
 * skipped slot (0 frames, the reason): every device then leaves it out alike.
 */

export interface ManifestEntry {
  line: number;
  /** The entry as written in the playlist. */
  path: string;
  /** "" for a skipped slot. */
  sha256: string;
  /** 0 for a skipped slot. */
  frames: number;
  title?: string;
  /** Why this entry is left out of the timeline on every device (it failed when the manifest was built). */
  skipped?: string;
}

export interface Manifest {
  v: 1;
  sampleRate: number;
  channels: number;
  entries: ManifestEntry[];
  totalFrames: number;
}

/** Manifests are shared: readable by the service user whoever built them, like the music. */
export const MANIFEST_MODE = 0o644;

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

/** "empty file (0 bytes)" for a music file of no bytes (ffmpeg's own words for it are obscure), else undefined. */
export function emptyFileProblem(path: string): string | undefined {
  try {
    return statSync(path).size === 0 ? `${path}: empty file (0 bytes)` : undefined;
  } catch {
    return undefined;
  }
}

export interface FailedEntry {
  line: number;
  raw: string;
  message: string;
}

/**
 * Decodes every entry (counting only: nothing is kept, so a long playlist costs no RAM). Failed
 * entries come back in `failed` and as skipped slots in the manifest; the caller decides whether a
 * manifest with skipped slots may be written.
 */
export async function buildManifest(
  pl: Playlist,
  ffmpeg: string,
  format: PcmFormat,
  onEntry?: (index: number, entry: PlaylistEntry) => void,
): Promise<{ manifest: Manifest; failed: FailedEntry[] }> {
  const entries: ManifestEntry[] = [];
  const failed: FailedEntry[] = [];
  for (const [i, e] of pl.entries.entries()) {
    onEntry?.(i, e);
    const title = e.title ? { title: e.title } : {};
    try {
      const d = await decodeToChunks(ffmpeg, e.path, format, { keepFromFrame: Number.POSITIVE_INFINITY });
      if (d.frames === 0) throw new Error('no audio in it (0 frames decoded)');
      entries.push({ line: e.line, path: e.raw, sha256: await sha256File(e.path), frames: d.frames, ...title });
    } catch (err) {
      const message = emptyFileProblem(e.path) ?? (err as Error).message;
      failed.push({ line: e.line, raw: e.raw, message });
      entries.push({ line: e.line, path: e.raw, sha256: '', frames: 0, ...title, skipped: message });
    }
  }
  const manifest: Manifest = {
    v: 1,
    sampleRate: format.sampleRate,
    channels: format.channels,
    entries,
    totalFrames: entries.reduce((a, x) => a + x.frames, 0),
  };
  return { manifest, failed };
}

export function manifestPathFor(playlistPath: string): string {
  return `${playlistPath}.manifest.json`;
}

export async function writeManifest(path: string, m: Manifest): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(m, null, 2) + '\n');
  await chmod(path, MANIFEST_MODE);
}

function validEntry(x: ManifestEntry): boolean {
  if (!x || typeof x.path !== 'string' || !Number.isInteger(x.line)) return false;
  if (x.skipped !== undefined) return typeof x.skipped === 'string' && x.frames === 0;
  return /^[0-9a-f]{64}$/.test(x.sha256) && Number.isInteger(x.frames) && x.frames > 0;
}

/** Reads and checks a manifest; throws naming the file and what is wrong. */
export async function readManifest(path: string): Promise<Manifest> {
  let m: Manifest;
  try {
    m = JSON.parse(await readFile(path, 'utf8')) as Manifest;
  } catch (e) {
    throw new Error(
      `timeline manifest ${path}: ${(e as Error).message} (rebuild it: jaudiosync timeline build PLAYLIST)`,
    );
  }
  const ok =
    m &&
    m.v === 1 &&
    Number.isInteger(m.sampleRate) &&
    m.sampleRate > 0 &&
    Array.isArray(m.entries) &&
    m.entries.every(validEntry);
  if (!ok)
    throw new Error(
      `timeline manifest ${path} is not a version-1 manifest (rebuild it: jaudiosync timeline build PLAYLIST)`,
    );
  return m;
}

/** The manifest repeated `times` back to back (the playlist's `repeat`): still one fixed timeline. */
export function repeatManifest(m: Manifest, times: number): Manifest {
  if (times <= 1) return m;
  const entries = Array.from({ length: times }, () => m.entries).flat();
  return { ...m, entries, totalFrames: m.totalFrames * times };
}

/**
 * Frame counts at another output rate. Scaled from the cumulative start of each slot, not slot by
 * slot, so rounding never accumulates; every device with the same rate computes the same counts.
 */
export function framesAtRate(m: Manifest, sampleRate: number): number[] {
  if (m.sampleRate === sampleRate) return m.entries.map((e) => e.frames);
  let cum = 0;
  let prev = 0;
  return m.entries.map((e) => {
    cum += e.frames;
    const end = Math.round((cum * sampleRate) / m.sampleRate);
    const n = end - prev;
    prev = end;
    return n;
  });
}

/** The manifest's timeline (its entries as given: repeat it first, or pass `repeat`). */
export function manifestTimeline(
  m: Manifest,
  o: { gapFrames?: number; repeat?: number; sampleRate?: number } = {},
): Timeline {
  const sampleRate = o.sampleRate ?? m.sampleRate;
  return buildTimeline(framesAtRate(m, sampleRate), { sampleRate, gapFrames: o.gapFrames, repeat: o.repeat });
}

export interface TimelineSlot {
  /** 0-based entry in the (repeated) timeline, and the playlist entry it plays. */
  index: number;
  entry: ManifestEntry;
  startFrame: number;
  /** Frame within the track at the asked timeline frame. */
  frameInTrack: number;
}

/**
 * What plays at a timeline frame: a lookup, no decoding (undefined before the start, in a gap, after
 * the end). Kept for callers of the manifest alone; timeline.ts's slotAt is the arithmetic.
 */
export function slotAt(m: Manifest, gapFrames: number, frame: number): TimelineSlot | undefined {
  const s = timelineSlotAt(manifestTimeline(m, { gapFrames }), frame);
  return s && { index: s.index, entry: m.entries[s.index]!, startFrame: s.startFrame, frameInTrack: s.frameInTrack };
}

export interface ManifestMismatch {
  /** not-in-playlist: a timeline slot this device plays as silence; not-in-manifest: a playlist entry not played. */
  kind: 'not-in-playlist' | 'not-in-manifest';
  line: number;
  path: string;
  message: string;
}

export interface ManifestMatch {
  /** For each manifest entry, the playlist entry that plays in its slot (undefined: silence). */
  slots: Array<PlaylistEntry | undefined>;
  /** Each distinct disagreement once (a repeated list would say it once per pass). */
  mismatches: ManifestMismatch[];
}

/**
 * Pairs manifest entries with playlist entries: first by line and path as written, then by path
 * alone in order (a playlist edited above the entry moves its line, not its file). Each playlist
 * entry plays at most one slot per pairing; a repeated list pairs pass with pass. The manifest
 * decides the timeline; whatever does not pair is reported, never a reason to refuse to play.
 */
export function matchManifest(playlist: readonly PlaylistEntry[], manifest: readonly ManifestEntry[]): ManifestMatch {
  const byLinePath = new Map<string, number[]>();
  const byPath = new Map<string, number[]>();
  playlist.forEach((e, i) => {
    push(byLinePath, `${e.line}\u0000${e.raw}`, i);
    push(byPath, e.raw, i);
  });
  const used = new Set<number>();
  const take = (q: number[] | undefined) => {
    while (q?.length) {
      const i = q.shift()!;
      if (!used.has(i)) {
        used.add(i);
        return i;
      }
    }
    return undefined;
  };
  const slots: Array<PlaylistEntry | undefined> = manifest.map((m) => {
    const i = take(byLinePath.get(`${m.line}\u0000${m.path}`));
    return i === undefined ? undefined : playlist[i];
  });
  manifest.forEach((m, k) => {
    if (slots[k]) return;
    const i = take(byPath.get(m.path));
    if (i !== undefined) slots[k] = playlist[i];
  });
  const seen = new Set<string>();
  const mismatches: ManifestMismatch[] = [];
  const add = (x: ManifestMismatch) => {
    if (!seen.has(x.message)) {
      seen.add(x.message);
      mismatches.push(x);
    }
  };
  manifest.forEach((m, k) => {
    if (slots[k] || m.skipped !== undefined) return;
    add({
      kind: 'not-in-playlist',
      line: m.line,
      path: m.path,
      message: `timeline manifest entry "${m.path}" (line ${m.line} when it was built) is not in the playlist: silence for its slot on this device`,
    });
  });
  playlist.forEach((e, i) => {
    if (used.has(i)) return;
    add({
      kind: 'not-in-manifest',
      line: e.line,
      path: e.raw,
      message: `playlist line ${e.line} (${e.raw}) is not in the timeline manifest: not played (rebuild the manifest: jaudiosync timeline build)`,
    });
  });
  return { slots, mismatches };
}

function push(m: Map<string, number[]>, k: string, v: number): void {
  const q = m.get(k);
  if (q) q.push(v);
  else m.set(k, [v]);
}
