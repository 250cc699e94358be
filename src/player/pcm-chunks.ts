/**
 * One track's PCM in fixed-size chunks, so that the part already played (or, on a late join, the
 * part before the join point) never occupies RAM: a 5 min track at 48 kHz stereo s16 is 58 MB, and
 * holding two of them whole for a whole track's length would double the service's footprint.
 * Frames past what was decoded read as silence; frames past `frames` do not exist.
 */

/** 1.4 s at 48 kHz: small enough that freeing lags playback little, large enough to be cheap. */
export const CHUNK_FRAMES = 65_536;

export class PcmChunks {
  private readonly chunks: (Buffer | undefined)[] = [];
  private readonly chunkBytes: number;
  /** Bytes appended so far (whether kept or discarded). */
  private appendedBytes = 0;
  /** Chunks below this index are gone (played, or before the join point). */
  private firstKept = 0;
  /** Length on the timeline; set by `seal` (a manifest's count or what was decoded). */
  frames = 0;
  /** True once decoding ended (`seal`): frames past decodedFrames are then padding, not yet to come. */
  sealed = false;
  /** Why decoding stopped part-way (a windowed decode whose ffmpeg failed): the rest stays silent. */
  failedBecause?: string;

  constructor(
    readonly frameBytes: number,
    keepFromFrame = 0,
    readonly chunkFrames = CHUNK_FRAMES,
  ) {
    this.chunkBytes = chunkFrames * frameBytes;
    this.firstKept = Math.floor(keepFromFrame / chunkFrames);
  }

  /** Frames decoded so far. */
  get decodedFrames(): number {
    return Math.floor(this.appendedBytes / this.frameBytes);
  }

  /** The first frame still held (earlier ones were released or never kept). */
  get firstKeptFrame(): number {
    return this.firstKept * this.chunkFrames;
  }

  /** Bytes held in RAM. */
  get bytesInRam(): number {
    return this.chunks.reduce((n, c) => n + (c?.length ?? 0), 0);
  }

  /** Appends decoder output; bytes that land in discarded chunks, or past `limitFrames`, are dropped. */
  append(data: Buffer, limitFrames = Number.POSITIVE_INFINITY): void {
    const limitBytes = limitFrames * this.frameBytes;
    let at = 0;
    while (at < data.length) {
      const pos = this.appendedBytes + at;
      const k = Math.floor(pos / this.chunkBytes);
      const off = pos - k * this.chunkBytes;
      const n = Math.min(data.length - at, this.chunkBytes - off);
      if (k >= this.firstKept && pos < limitBytes) {
        let c = this.chunks[k];
        if (!c) {
          // Not from the shared pool: a chunk must be freed on its own when dropped.
          c = Buffer.allocUnsafeSlow(this.chunkBytes);
          this.chunks[k] = c;
        }
        data.copy(c, off, at, at + Math.min(n, limitBytes - pos));
      }
      at += n;
    }
    this.appendedBytes += data.length;
  }

  /** Ends decoding: the track is `frames` long (a manifest's count pads with silence or cuts). */
  seal(frames = this.decodedFrames): void {
    this.frames = frames;
    this.sealed = true;
    const endByte = Math.min(this.appendedBytes, frames * this.frameBytes);
    const k = Math.floor(endByte / this.chunkBytes);
    const c = this.chunks[k];
    if (c) c.fill(0, endByte - k * this.chunkBytes); // the unwritten tail reads as silence
    this.chunks.length = Math.min(this.chunks.length, Math.ceil((frames * this.frameBytes) / this.chunkBytes));
  }

  /** Copies frames [from, to) of the track into out at byte offset outByte; missing parts stay as they are. */
  copyFrames(from: number, to: number, out: Buffer, outByte: number): void {
    const endByte = Math.min(to * this.frameBytes, this.appendedBytes);
    let pos = from * this.frameBytes;
    let o = outByte;
    while (pos < endByte) {
      const k = Math.floor(pos / this.chunkBytes);
      const off = pos - k * this.chunkBytes;
      const n = Math.min(endByte - pos, this.chunkBytes - off);
      this.chunks[k]?.copy(out, o, off, off + n);
      pos += n;
      o += n;
    }
  }

  /** Frees every chunk wholly before `frame` (playback has passed it). */
  releaseBefore(frame: number): void {
    const upTo = Math.floor(frame / this.chunkFrames);
    for (let k = this.firstKept; k < upTo && k < this.chunks.length; k++) this.chunks[k] = undefined;
    if (upTo > this.firstKept) {
      this.firstKept = upTo;
      this.onRelease?.();
    }
  }

  /** Told when chunks were released (a decoder that waits for room resumes). */
  onRelease?: () => void;
  /** Set by a decoder still filling the track: stops it (the track was dropped). */
  onDispose?: () => void;

  /** The track is no longer wanted: a decode still in progress is stopped. */
  dispose(): void {
    this.onDispose?.();
    this.onDispose = undefined;
    this.onRelease = undefined;
  }

  /** The samples of frames [from, to) as one buffer (tests, analysis); silence where released. */
  slice(from = 0, to = this.frames): Buffer {
    const out = Buffer.alloc((to - from) * this.frameBytes);
    this.copyFrames(from, to, out, 0);
    return out;
  }
}
