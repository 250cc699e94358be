import type { TimelineAudio } from '../player/engine.js';

/** An endless sine on the timeline (silence before frame 0): a signal whose every sample is known. */
export class SineTimeline implements TimelineAudio {
  readonly frameBytes: number;
  readonly endFrame = undefined;

  constructor(
    readonly rate: number,
    readonly channels: number,
    readonly freqHz = 440,
    readonly amplitude = 12_000,
  ) {
    this.frameBytes = 2 * channels;
  }

  valueAt(frame: number): number {
    return frame < 0 ? 0 : Math.round(this.amplitude * Math.sin((2 * Math.PI * this.freqHz * frame) / this.rate));
  }

  render(frame: number, count: number, out: Buffer): void {
    for (let i = 0; i < count; i++) {
      const v = this.valueAt(frame + i);
      for (let c = 0; c < this.channels; c++) out.writeInt16LE(v, (i * this.channels + c) * 2);
    }
  }

  advance(): void {}
}
