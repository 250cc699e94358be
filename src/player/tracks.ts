import { existsSync } from 'node:fs';
import { decodeFile, DecodeError, type DecodedTrack, type PcmFormat } from './decoder.js';
import type { PlaylistEntry } from './m3u.js';
import { sha256File, type Manifest } from './manifest.js';

/** A decoded length differing from the manifest by more than this (frames) is worth a warning. */
const LENGTH_MISMATCH_WARN_FRAMES = 48;

/**
 * The playlist on the timeline, decoded just ahead of need: RAM holds the track playing and the
 * next one, never more, whatever the playlist's length. Track i occupies timeline frames
 * [start_i, start_i + frames_i) and the next starts after an optional gap; a track that cannot be
 * decoded is reported (file and playlist line) and skipped.
 * With a manifest the frame counts (and so the whole timeline) come from it, identical on every
 * device: a file that is missing or differs plays silence for exactly its slot, a decode of another
 * length is padded or cut to it, and a late join decodes only the track it joins.
 */

export interface TimelineTrack {
  index: number;
  entry: PlaylistEntry;
  startFrame: number;
  frames: number;
  pcm: Buffer;
}

export interface TrackQueueEvents {
  onProblem(message: string): void;
  onLoaded?(track: TimelineTrack, decodeMs: number): void;
}

export class TrackQueue {
  private loaded: TimelineTrack[] = [];
  private loading?: Promise<void>;
  /** Index of the next entry to decode, and where it will start on the timeline. */
  private nextIndex = 0;
  private nextStartFrame = 0;
  private exhausted = false;
  readonly frameBytes: number;
  private readonly manifestStarts?: number[];

  constructor(
    private readonly entries: readonly PlaylistEntry[],
    private readonly ffmpegPath: string,
    private readonly format: PcmFormat,
    private readonly gapFrames: number,
    private readonly events: TrackQueueEvents,
    private readonly decode: (ffmpeg: string, path: string, f: PcmFormat, intoFrames?: number) => Promise<DecodedTrack & { decodedFrames?: number }> = decodeFile,
    private readonly manifest?: Manifest,
  ) {
    this.frameBytes = 2 * format.channels;
    if (manifest) {
      if (manifest.sampleRate !== format.sampleRate) throw new Error(`the timeline manifest is for ${manifest.sampleRate} Hz, the output is ${format.sampleRate} Hz: rebuild it or set audio.sample_rate`);
      if (manifest.entries.length !== entries.length) throw new Error(`the timeline manifest has ${manifest.entries.length} entries, the playlist ${entries.length}: rebuild it (jaudiosync timeline build)`);
      let start = 0;
      this.manifestStarts = manifest.entries.map((m) => { const s0 = start; start += m.frames + gapFrames; return s0; });
    }
  }

  /** True once every entry has been decoded (or skipped) and the last one has played out. */
  get finished(): boolean {
    return this.exhausted && this.loaded.length === 0;
  }

  /** Frame at which the timeline ends, once known. */
  get endFrame(): number | undefined {
    return this.exhausted ? this.nextStartFrame - this.gapFrames : undefined;
  }

  /** Tracks in RAM (for status and the memory bound). */
  get inRam(): readonly TimelineTrack[] {
    return this.loaded;
  }

  /** Decodes until the track holding `frame` and the one after it are in RAM. */
  async prepare(frame = 0): Promise<void> {
    if (this.manifestStarts && this.loaded.length === 0 && !this.loading) {
      // With a manifest the slot of any frame is known: skip straight to it (a late join).
      let i = this.manifestStarts.findIndex((s0, k) => frame < s0 + this.manifest!.entries[k]!.frames + this.gapFrames);
      if (i < 0) i = this.entries.length;
      if (i > this.nextIndex) { this.nextIndex = i; this.nextStartFrame = this.manifestStarts[i] ?? this.nextStartFrame; }
    }
    for (;;) {
      this.dropBefore(frame);
      const holding = this.loaded.some((t) => frame < t.startFrame + t.frames);
      if (this.exhausted || (holding && this.loaded.length >= 2)) return;
      await this.loadNext();
    }
  }

  /** The track playing at a timeline frame, if it is in RAM. */
  trackAt(frame: number): TimelineTrack | undefined {
    return this.loaded.find((t) => frame >= t.startFrame && frame < t.startFrame + t.frames);
  }

  /** Copies timeline frames [frame, frame + count) into out (silence where nothing is loaded). */
  render(frame: number, count: number, out: Buffer): void {
    out.fill(0);
    for (const t of this.loaded) {
      const from = Math.max(frame, t.startFrame);
      const to = Math.min(frame + count, t.startFrame + t.frames);
      if (from >= to || t.pcm.length === 0) continue; // an empty pcm is a slot of silence
      t.pcm.copy(out, (from - frame) * this.frameBytes, (from - t.startFrame) * this.frameBytes, (to - t.startFrame) * this.frameBytes);
    }
  }

  /** Called as playback advances: frees passed tracks and starts decoding the next in the background. */
  advance(frame: number): void {
    this.dropBefore(frame);
    if (!this.loading && !this.exhausted && this.loaded.length < 2) {
      this.loading = this.loadNext().finally(() => { this.loading = undefined; });
    }
  }

  private dropBefore(frame: number): void {
    this.loaded = this.loaded.filter((t) => t.startFrame + t.frames > frame);
  }

  private async loadNext(): Promise<void> {
    if (this.loading) return this.loading;
    while (this.nextIndex < this.entries.length) {
      const index = this.nextIndex++;
      const entry = this.entries[index]!;
      if (this.manifest) {
        await this.loadSlot(index, entry);
        return;
      }
      try {
        const d = await this.decode(this.ffmpegPath, entry.path, this.format);
        const track: TimelineTrack = { index, entry, startFrame: this.nextStartFrame, frames: d.frames, pcm: d.pcm };
        this.nextStartFrame += d.frames + this.gapFrames;
        this.loaded.push(track);
        this.events.onLoaded?.(track, d.decodeMs);
        return;
      } catch (e) {
        const why = e instanceof DecodeError ? e.message : `decoding failed: ${(e as Error).message}`;
        this.events.onProblem(`playlist line ${entry.line} (${entry.raw}): ${why}; skipping it`);
      }
    }
    this.exhausted = true;
  }

  /** One manifest slot: the track if it is the right file, else silence of exactly its length. */
  private async loadSlot(index: number, entry: PlaylistEntry): Promise<void> {
    const m = this.manifest!.entries[index]!;
    const startFrame = this.manifestStarts![index]!;
    this.nextStartFrame = startFrame + m.frames + this.gapFrames;
    if (this.nextIndex >= this.entries.length) this.exhaustedAfterThis = true;
    let pcm: Buffer = Buffer.alloc(0);
    const where = `playlist line ${entry.line} (${entry.raw})`;
    try {
      if (!existsSync(entry.path)) throw new DecodeError(entry.path, `music file not found: ${entry.path}`);
      if ((await sha256File(entry.path)) !== m.sha256) throw new DecodeError(entry.path, `${entry.path} differs from the one in the timeline manifest`);
      // Straight into a buffer of the manifest's length: cut or padded, never a second copy.
      const d = await this.decode(this.ffmpegPath, entry.path, this.format, m.frames);
      pcm = d.pcm;
      const got = d.decodedFrames ?? d.frames;
      if (Math.abs(got - m.frames) > LENGTH_MISMATCH_WARN_FRAMES) {
        this.events.onProblem(`${where}: decoded to ${got} frames, the manifest says ${m.frames}: ${got < m.frames ? 'padded with silence' : 'cut'} to keep the timeline (a different ffmpeg?)`);
      }
      const track: TimelineTrack = { index, entry, startFrame, frames: m.frames, pcm };
      this.loaded.push(track);
      this.events.onLoaded?.(track, d.decodeMs);
    } catch (e) {
      this.events.onProblem(`${where}: ${(e as Error).message}; playing silence for its ${(m.frames / this.format.sampleRate).toFixed(1)} s so that everything after stays in sync`);
      this.loaded.push({ index, entry, startFrame, frames: m.frames, pcm });
    }
    if (this.exhaustedAfterThis) this.exhausted = true;
  }

  private exhaustedAfterThis = false;
}
