import { decodeFile, DecodeError, type DecodedTrack, type PcmFormat } from './decoder.js';
import type { PlaylistEntry } from './m3u.js';

/**
 * The playlist on the timeline, decoded just ahead of need: RAM holds the track playing and the
 * next one, never more, whatever the playlist's length. Track i occupies timeline frames
 * [start_i, start_i + frames_i) and the next starts after an optional gap; a track that cannot be
 * decoded is reported (file and playlist line) and skipped.
 * First version: frame counts come from this device's own decode (the player issue adds a manifest
 * so that every device computes the identical timeline, and silence for a missing file's slot).
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

  constructor(
    private readonly entries: readonly PlaylistEntry[],
    private readonly ffmpegPath: string,
    private readonly format: PcmFormat,
    private readonly gapFrames: number,
    private readonly events: TrackQueueEvents,
    private readonly decode: (ffmpeg: string, path: string, f: PcmFormat) => Promise<DecodedTrack> = decodeFile,
  ) {
    this.frameBytes = 2 * format.channels;
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
      if (from >= to) continue;
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
}
