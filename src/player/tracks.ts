import { existsSync } from 'node:fs';
import {
  decodeToChunks,
  DecodeError,
  type ChunkedDecodeOptions,
  type ChunkedTrack,
  type PcmFormat,
} from './decoder.js';
import type { PlaylistEntry } from './m3u.js';
import {
  emptyFileProblem,
  framesAtRate,
  matchManifest,
  sha256File,
  type Manifest,
  type ManifestMismatch,
} from './manifest.js';
import { PcmChunks } from './pcm-chunks.js';
import { buildTimeline, slotIndexFor, type Timeline } from './timeline.js';

export { joinFrame } from './timeline.js';

/** A decoded length differing from the manifest by more than this (frames) is worth a warning. */
const LENGTH_MISMATCH_WARN_FRAMES = 48;
/**
 * The next track is decoded once the playing one has less than this left: early enough for a slow
 * Pi (a Zero decodes MP3 at roughly 10x real time, a 5 min track in 30 s), late enough that two
 * whole tracks are never in RAM together for long.
 */
export const PRELOAD_MIN_LEAD_SEC = 90;
/** ...or this many times the last decode's wall time, whichever is longer. */
export const PRELOAD_DECODE_FACTOR = 4;
/** Played audio is kept this long behind the play position (a backward re-seek stays on real audio). */
export const KEEP_BEHIND_SEC = 2;

/**
 * The playlist on the timeline, decoded just ahead of need: RAM holds the part of the playing track
 * not yet played and, from PRELOAD_MIN_LEAD_SEC before its end, the next one, whatever the
 * playlist's length. Track i occupies timeline frames [start_i, start_i + frames_i) and the next
 * starts after an optional gap; a track that cannot be decoded is reported (file and playlist
 * line) and skipped, which moves every later track on this device: it says so.
 * With a manifest the frame counts (and so the whole timeline) come from it, identical on every
 * device: a file that is missing or differs plays silence for exactly its slot, a decode of another
 * length is padded or cut to it, and a late join decodes only the track it joins, keeping only
 * what follows the join point. Manifest and playlist are paired by line and path
 * (manifest.ts matchManifest): what does not pair is reported in `mismatches` and never stops play.
 */

export interface TimelineTrack {
  index: number;
  entry: PlaylistEntry;
  startFrame: number;
  frames: number;
  /** Empty for a slot of silence. */
  pcm: PcmChunks;
  /** Why this slot is silence on this device (missing, differs, not in the playlist), if it is. */
  silentBecause?: string;
}

export interface TrackQueueEvents {
  onProblem(message: string): void;
  onLoaded?(track: TimelineTrack, decodeMs: number): void;
}

/** Why a frame of the timeline is silent on this device (see TrackQueue.silenceAt). */
export type SilenceReason = 'gap' | 'end' | 'slot' | 'failed' | 'seeking' | 'decoding';
export interface Silence {
  reason: SilenceReason;
  /** For a slot of silence or a failed decode: the problem, in words. */
  why?: string;
}

export type TrackDecoder = (
  ffmpeg: string,
  path: string,
  f: PcmFormat,
  opts: ChunkedDecodeOptions,
) => Promise<ChunkedTrack>;

export class TrackQueue {
  private loaded: TimelineTrack[] = [];
  private loading?: Promise<void>;
  /** Index of the next entry to decode, and where it will start on the timeline. */
  private nextIndex = 0;
  private nextStartFrame = 0;
  private exhausted = false;
  private lastDecodeMs = 0;
  readonly frameBytes: number;
  /** With a manifest: the fixed timeline, and the playlist entry paired with each slot. */
  private readonly timeline?: Timeline;
  private readonly slotEntries?: Array<PlaylistEntry | undefined>;
  /** Manifest slots and playlist entries that do not pair (empty without a manifest). */
  readonly mismatches: readonly ManifestMismatch[] = [];
  /** Without a manifest: where every track decoded so far sat (a jump back finds its slot here). */
  private readonly decodedSlots: Array<{ index: number; startFrame: number; frames: number }> = [];
  /** Bumped by a seek: a decode started before it is stale and must not touch the queue. */
  private generation = 0;
  /** The frame a seek is loading the audio at, until it is in RAM. */
  private seekingTo?: number;

  constructor(
    private readonly entries: readonly PlaylistEntry[],
    private readonly ffmpegPath: string,
    private readonly format: PcmFormat,
    private readonly gapFrames: number,
    private readonly events: TrackQueueEvents,
    private readonly decode: TrackDecoder = decodeToChunks,
    private readonly manifest?: Manifest,
  ) {
    this.frameBytes = 2 * format.channels;
    if (manifest) {
      if (manifest.sampleRate !== format.sampleRate) {
        events.onProblem(
          `the timeline manifest is for ${manifest.sampleRate} Hz, the output is ${format.sampleRate} Hz: its frame counts are scaled to the output rate (as on every device with this rate); rebuild it with this rate for exact lengths`,
        );
      }
      this.timeline = buildTimeline(framesAtRate(manifest, format.sampleRate), {
        sampleRate: format.sampleRate,
        gapFrames,
      });
      const match = matchManifest(entries, manifest.entries);
      this.slotEntries = match.slots;
      this.mismatches = match.mismatches;
      for (const m of match.mismatches) events.onProblem(m.message);
    }
  }

  /** Slots on the timeline: the manifest's entries, else the playlist's. */
  get slotCount(): number {
    return this.timeline ? this.timeline.frames.length : this.entries.length;
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

  /** PCM bytes held in RAM. */
  get bytesInRam(): number {
    return this.loaded.reduce((n, t) => n + t.pcm.bytesInRam, 0);
  }

  /** Frames of lead before a track's end at which the next one is decoded. */
  get preloadLeadFrames(): number {
    return Math.ceil(
      Math.max(PRELOAD_MIN_LEAD_SEC, (PRELOAD_DECODE_FACTOR * this.lastDecodeMs) / 1000) * this.format.sampleRate,
    );
  }

  /**
   * Decodes until the track holding `frame` is in RAM from `frame` on (and the next one when
   * `frame` is within the preload lead of its end). Frames before `frame` need not be kept.
   */
  async prepare(frame = 0): Promise<void> {
    await this.loading;
    const keepFrom = Math.max(0, frame - this.keepBehindFrames);
    for (;;) {
      // A track held from later than needed (an earlier guess of the join point): decode it again.
      this.loaded = this.keep(
        (t) =>
          !(
            frame >= t.startFrame &&
            frame < t.startFrame + t.frames &&
            t.pcm.firstKeptFrame > Math.max(0, keepFrom - t.startFrame)
          ),
      );
      if (this.loaded.length === 0) this.skipTo(keepFrom);
      this.dropBefore(keepFrom);
      const holding = this.loaded.find((t) => frame < t.startFrame + t.frames);
      if (this.exhausted) return;
      const last = this.loaded.at(-1)!;
      // Enough: a track with audio is ready after the one playing, or what is loaded reaches past
      // the preload lead (slots of silence count for the lead, not as the next track).
      const nextAudible =
        holding && this.loaded.some((t) => t.startFrame > holding.startFrame && t.silentBecause === undefined);
      if (holding && (nextAudible || last.startFrame + last.frames - frame > this.preloadLeadFrames)) return;
      await this.loadNext(keepFrom);
    }
  }

  /** Resolves once no decode is in flight (simulations step virtual time only after it). */
  async whenIdle(): Promise<void> {
    while (this.loading) await this.loading;
  }

  /** The track playing at a timeline frame, if it is in RAM. */
  trackAt(frame: number): TimelineTrack | undefined {
    return this.loaded.find((t) => frame >= t.startFrame && frame < t.startFrame + t.frames);
  }

  /**
   * Why a timeline frame is silent on this device, or undefined when its audio is in RAM: a gap
   * between tracks (config), past the timeline's end, a slot of silence (its file missing or
   * different here), a decode that failed part-way, the audio at a new position still loading (a
   * skip, a seek, a clock step), or its decode late (a slow CPU or card).
   */
  silenceAt(frame: number): Silence | undefined {
    const t = this.trackAt(frame);
    if (t) {
      if (t.silentBecause !== undefined) return { reason: 'slot', why: t.silentBecause };
      if (frame - t.startFrame < t.pcm.decodedFrames || t.pcm.sealed) return undefined;
      return t.pcm.failedBecause !== undefined
        ? { reason: 'failed', why: t.pcm.failedBecause }
        : { reason: 'decoding' };
    }
    const end = this.endFrame;
    if (end !== undefined && frame >= end) return { reason: 'end' };
    if (this.inGap(frame)) return { reason: 'gap' };
    return { reason: this.seekingTo !== undefined ? 'seeking' : 'decoding' };
  }

  private inGap(frame: number): boolean {
    if (this.gapFrames === 0) return false;
    const tl = this.timeline;
    // A slot skipped on every device (0 frames) ends where the next begins: no gap of its own.
    const ends = tl
      ? tl.starts.flatMap((s, i) => (tl.frames[i]! > 0 ? [s + tl.frames[i]!] : []))
      : [...this.decodedSlots, ...this.loaded].map((t) => t.startFrame + t.frames);
    return ends.some((e) => frame >= e && frame < e + this.gapFrames);
  }

  /** Copies timeline frames [frame, frame + count) into out (silence where nothing is loaded). */
  render(frame: number, count: number, out: Buffer): void {
    out.fill(0);
    for (const t of this.loaded) {
      const from = Math.max(frame, t.startFrame);
      const to = Math.min(frame + count, t.startFrame + t.frames);
      if (from >= to) continue;
      t.pcm.copyFrames(from - t.startFrame, to - t.startFrame, out, (from - frame) * this.frameBytes);
    }
  }

  /**
   * Called as playback advances: frees what has been played and starts decoding the next track in
   * the background once the playing one is within the preload lead of its end.
   */
  advance(frame: number): void {
    const keepFrom = frame - this.keepBehindFrames;
    this.dropBefore(keepFrom);
    for (const t of this.loaded) t.pcm.releaseBefore(keepFrom - t.startFrame);
    const last = this.loaded.at(-1);
    const due = !last || last.startFrame + last.frames - frame <= this.preloadLeadFrames;
    // Tracks already played but kept behind for a moment do not count against the two, nor do
    // slots of silence (they hold no audio): the track after a missing one is decoded in time.
    const ahead = this.loaded.filter((t) => t.startFrame + t.frames > frame && t.silentBecause === undefined).length;
    if (due && !this.loading && !this.exhausted && ahead < 2) this.track(this.loadNext(0));
  }

  /**
   * Playback jumped to `frame` (the clock stepped and the engine re-seeked, forwards or back): unless
   * the track there is in RAM from there on, forget what is loaded or loading and decode from there.
   */
  seek(frame: number): void {
    const keepFrom = Math.max(0, frame - this.keepBehindFrames);
    const holding = this.trackAt(frame);
    if (holding && holding.pcm.firstKeptFrame <= Math.max(0, keepFrom - holding.startFrame)) return;
    this.generation++;
    this.loaded = this.keep(() => false);
    this.loading = undefined;
    this.reposition(keepFrom);
    const generation = this.generation;
    this.seekingTo = frame;
    this.track(
      this.prepare(frame).finally(() => {
        if (generation === this.generation) this.seekingTo = undefined;
      }),
    );
  }

  /** The decode in flight; cleared when it settles unless a seek has replaced it. */
  private track(p: Promise<void>): void {
    const tracked: Promise<void> = p
      .catch((e) => {
        this.events.onProblem(`decoding after a seek failed: ${(e as Error).message}`);
      })
      .finally(() => {
        if (this.loading === tracked) this.loading = undefined;
      });
    this.loading = tracked;
  }

  /** The next entry to decode is the one whose slot holds `frame` (as far as the slots are known). */
  private reposition(frame: number): void {
    this.exhausted = false;
    if (this.timeline) return this.skipTo(frame);
    const known = this.decodedSlots.filter((d) => d.startFrame <= frame).at(-1);
    if (!known) {
      this.nextIndex = 0;
      this.nextStartFrame = 0;
    } else if (frame < known.startFrame + known.frames + this.gapFrames) {
      this.nextIndex = known.index;
      this.nextStartFrame = known.startFrame;
    } else {
      // Past everything decoded so far: go on from the last one known, decoding forwards.
      const last = this.decodedSlots.at(-1)!;
      this.nextIndex = last.index + 1;
      this.nextStartFrame = last.startFrame + last.frames + this.gapFrames;
    }
  }

  private get keepBehindFrames(): number {
    return Math.round(KEEP_BEHIND_SEC * this.format.sampleRate);
  }

  /** With a manifest the slot of any frame is known: go straight to it (a late join). Only with nothing loaded. */
  private skipTo(frame: number): void {
    const tl = this.timeline;
    if (!tl) return;
    const i = slotIndexFor(tl, frame);
    this.nextIndex = i;
    this.nextStartFrame = tl.starts[i] ?? tl.endFrame + this.gapFrames;
    // Past the timeline's end there is nothing to decode (a clock stepped far ahead): say so, or
    // prepare() would go on asking for the next entry forever.
    this.exhausted = i >= tl.frames.length;
  }

  private dropBefore(frame: number): void {
    this.loaded = this.keep((t) => t.startFrame + t.frames > frame);
  }

  /** The loaded tracks that pass `wanted`; the others' decodes (still going behind playback) are stopped. */
  private keep(wanted: (t: TimelineTrack) => boolean): TimelineTrack[] {
    return this.loaded.filter((t) => wanted(t) || (t.pcm.dispose(), false));
  }

  /** Decodes the next entry, keeping its frames from timeline frame `keepFrom` on. */
  private async loadNext(keepFrom: number): Promise<void> {
    const generation = this.generation;
    while (this.nextIndex < this.slotCount) {
      const index = this.nextIndex++;
      if (this.timeline) {
        // A skipped slot (0 frames, left out on every device) holds nothing: on to the next.
        if (this.timeline.frames[index] === 0) {
          this.nextStartFrame = this.timeline.starts[index + 1] ?? this.timeline.endFrame + this.gapFrames;
          continue;
        }
        await this.loadSlot(index, keepFrom, generation);
        return;
      }
      const entry = this.entries[index]!;
      try {
        // Only what follows the join point is kept (a seek far into a track).
        const d = await this.decode(this.ffmpegPath, entry.path, this.format, {
          keepFromFrame: Math.max(0, keepFrom - this.nextStartFrame),
        });
        if (generation !== this.generation) return;
        this.lastDecodeMs = d.decodeMs;
        const track: TimelineTrack = { index, entry, startFrame: this.nextStartFrame, frames: d.frames, pcm: d.pcm };
        if (!this.decodedSlots.some((k) => k.index === index))
          this.decodedSlots.push({ index, startFrame: track.startFrame, frames: d.frames });
        this.nextStartFrame += d.frames + this.gapFrames;
        this.loaded.push(track);
        this.events.onLoaded?.(track, d.decodeMs);
        return;
      } catch (e) {
        if (generation !== this.generation) return;
        const why =
          emptyFileProblem(entry.path) ??
          (e instanceof DecodeError ? e.message : `decoding failed: ${(e as Error).message}`);
        this.events.onProblem(
          `playlist line ${entry.line} (${entry.raw}): ${why}; skipping it, so every later track on this device starts earlier than on the others: this device is now off the shared timeline. ` +
            'To keep devices in sync whatever files they lack, build a timeline manifest (jaudiosync timeline build PLAYLIST) and copy it beside the playlist on every device: a missing file then plays silence for exactly its slot',
        );
      }
    }
    this.exhausted = true;
  }

  /** One manifest slot: the track if it is the right file, else silence of exactly its length. */
  private async loadSlot(index: number, keepFrom: number, generation: number): Promise<void> {
    const m = this.manifest!.entries[index]!;
    const frames = this.timeline!.frames[index]!;
    const startFrame = this.timeline!.starts[index]!;
    this.nextStartFrame = startFrame + frames + this.gapFrames;
    const last = this.nextIndex >= this.slotCount;
    let pcm = new PcmChunks(this.frameBytes);
    pcm.seal(frames);
    const paired = this.slotEntries![index];
    // A slot with no playlist entry (reported once, in mismatches) is silence under the manifest's name.
    const entry: PlaylistEntry = paired ?? {
      line: m.line,
      raw: m.path,
      path: '',
      ...(m.title ? { title: m.title } : {}),
    };
    const where = `playlist line ${entry.line} (${entry.raw})`;
    try {
      if (!paired) throw new DecodeError(m.path, 'not in the playlist');
      if (!existsSync(entry.path)) throw new DecodeError(entry.path, `music file not found: ${entry.path}`);
      if ((await sha256File(entry.path)) !== m.sha256)
        throw new DecodeError(entry.path, `${entry.path} differs from the one in the timeline manifest`);
      const d = await this.decode(this.ffmpegPath, entry.path, this.format, {
        intoFrames: frames,
        keepFromFrame: Math.max(0, keepFrom - startFrame),
      });
      if (generation !== this.generation) {
        d.pcm.dispose();
        return;
      }
      this.lastDecodeMs = d.decodeMs;
      pcm = d.pcm;
      if (d.complete !== false && Math.abs(d.decodedFrames - frames) > LENGTH_MISMATCH_WARN_FRAMES) {
        this.events.onProblem(
          `${where}: decoded to ${d.decodedFrames} frames, the manifest says ${frames}: ${d.decodedFrames < frames ? 'padded with silence' : 'cut'} to keep the timeline (a different ffmpeg?)`,
        );
      }
      const track: TimelineTrack = { index, entry, startFrame, frames, pcm };
      this.loaded.push(track);
      this.events.onLoaded?.(track, d.decodeMs);
    } catch (e) {
      if (generation !== this.generation) return;
      const why = (e as Error).message;
      if (paired)
        this.events.onProblem(
          `${where}: ${why}; playing silence for its ${(frames / this.format.sampleRate).toFixed(1)} s so that everything after stays in sync`,
        );
      this.loaded.push({ index, entry, startFrame, frames, pcm, silentBecause: why });
    }
    if (last) this.exhausted = true;
  }
}
