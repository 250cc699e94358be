import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BYTES_PER_SAMPLE, type ChunkedTrack, type PcmFormat } from '../player/decoder.js';
import { sha256File, type Manifest } from '../player/manifest.js';
import type { PlaylistEntry } from '../player/m3u.js';
import { CHUNK_FRAMES, PcmChunks } from '../player/pcm-chunks.js';
import type { TrackDecoder } from '../player/tracks.js';
import { seededRandom } from './oscillator.js';

/**
 * The ride's playlist for the real TrackQueue: songs of 3-5 min (seeded, odd frame counts) with a
 * timeline manifest, each a small file on disk whose hash the queue checks, and a decoder that
 * synthesises the PCM instead of running ffmpeg (hours of audio per device would dominate the
 * simulation). Every sample identifies its song and its frame within it (period CHUNK_FRAMES), so a
 * probe of one frame tells whether a device holds the right audio there, silence, or the wrong thing.
 */

export interface RidePlaylist {
  dir: string;
  manifest: Manifest;
  entries: PlaylistEntry[];
  /** Entries as a device sees them when it lacks the files of these slots (their paths do not exist). */
  entriesWithout(missing: ReadonlySet<number>): PlaylistEntry[];
  remove(): void;
}

const SONG_MIN_SEC = 180;
const SONG_SPREAD_SEC = 120;

/** The sample every song holds at a frame: never 0, so silence is told apart. */
export function rideSample(songIndex: number, frameInSong: number): number {
  return 1 + (((songIndex + 1) * 1009 + (frameInSong % CHUNK_FRAMES)) % 32_000);
}

export async function makeRidePlaylist(seed: number, totalSec: number, format: PcmFormat): Promise<RidePlaylist> {
  const rnd = seededRandom(seed * 104_729 + 11);
  const dir = mkdtempSync(join(tmpdir(), 'jaudiosync-ride-'));
  const entries: PlaylistEntry[] = [];
  const manifestEntries: Manifest['entries'] = [];
  let frames = 0;
  for (let i = 0; frames < totalSec * format.sampleRate; i++) {
    const name = `song-${String(i + 1).padStart(3, '0')}.flac`;
    const path = join(dir, name);
    writeFileSync(path, `jaudiosync ride song ${i}\n`);
    const n = Math.round((SONG_MIN_SEC + SONG_SPREAD_SEC * rnd()) * format.sampleRate) + 1;
    entries.push({ line: i + 1, raw: name, path, title: `song ${i + 1}` });
    manifestEntries.push({ line: i + 1, path: name, sha256: await sha256File(path), frames: n });
    frames += n;
  }
  const manifest: Manifest = {
    v: 1,
    sampleRate: format.sampleRate,
    channels: format.channels,
    entries: manifestEntries,
    totalFrames: frames,
  };
  return ridePlaylistFrom({ dir, manifest, entries });
}

/** The playlist from its plain parts (as made above, or as handed to a worker thread). */
export function ridePlaylistFrom(p: { dir: string; manifest: Manifest; entries: PlaylistEntry[] }): RidePlaylist {
  const { dir, manifest, entries } = p;
  return {
    dir,
    manifest,
    entries,
    entriesWithout: (missing) =>
      entries.map((e, i) => (missing.has(i) ? { ...e, path: join(dir, 'not-on-this-device', e.raw) } : e)),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * A ride song's PCM, computed when read instead of held: the queue's bookkeeping (what was released,
 * where the song ends) is PcmChunks' own, only the bytes are synthesised (a simulated 4 h ride would
 * otherwise write a 58 MB song per device every few minutes, most of the simulation's time).
 */
class RideSongPcm extends PcmChunks {
  constructor(
    private readonly song: number,
    private readonly channels: number,
    frames: number,
    keepFromFrame: number,
  ) {
    super(BYTES_PER_SAMPLE * channels, keepFromFrame);
    this.seal(frames);
  }

  override get decodedFrames(): number {
    return this.frames;
  }

  override get bytesInRam(): number {
    return 0;
  }

  override copyFrames(from: number, to: number, out: Buffer, outByte: number): void {
    for (let f = Math.max(from, this.firstKeptFrame); f < Math.min(to, this.frames); f++) {
      for (let c = 0; c < this.channels; c++)
        out.writeInt16LE(rideSample(this.song, f), outByte + ((f - from) * this.channels + c) * BYTES_PER_SAMPLE);
    }
  }
}

/** The TrackDecoder for ride songs: what ffmpeg would hand over, cut or padded to the manifest's count. */
export const decodeRideSong: TrackDecoder = async (_ffmpeg, path, format, opts): Promise<ChunkedTrack> => {
  const m = /song (\d+)/.exec(readFileSync(path, 'utf8'));
  if (!m) throw new Error(`${path} is not a ride song`);
  const frames = opts.intoFrames ?? 240 * format.sampleRate;
  const pcm = new RideSongPcm(Number(m[1]), format.channels, frames, opts.keepFromFrame ?? 0);
  return { path, format, pcm, frames, decodedFrames: frames, decodeMs: 0 };
};
