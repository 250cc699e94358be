import { renameSync, writeFileSync } from 'node:fs';

/**
 * Twin of the kernel's /sys/class/pps/ppsN/assert: writes "sec.nsec#seq" atomically (a reader
 * never sees half a line), with timestamp jitter and missed pulses on demand.
 */
export interface PpsFileEmulatorOptions {
  path: string;
  /** Gaussian σ of the kernel timestamp around the true edge (ns). */
  jitterNs?: number;
  /** Probability that a pulse is lost (the sequence number still advances, as in the kernel). */
  dropProbability?: number;
  random?: () => number;
}

export class PpsFileEmulator {
  private seq = 0;

  constructor(private readonly opts: PpsFileEmulatorOptions) {
    writeFileSync(opts.path, '0.000000000#0\n'); // what the kernel shows before the first pulse
  }

  /** An edge at realtimeNs (true time as CLOCK_REALTIME reads it); returns the stamp written or null. */
  pulse(realtimeNs: bigint): bigint | null {
    const rnd = this.opts.random ?? Math.random;
    this.seq++;
    if (this.opts.dropProbability && rnd() < this.opts.dropProbability) return null;
    const jitter = this.opts.jitterNs ? Math.round(gaussian(rnd) * this.opts.jitterNs) : 0;
    const stamp = realtimeNs + BigInt(jitter);
    const sec = stamp / 1_000_000_000n;
    const nsec = (stamp % 1_000_000_000n).toString().padStart(9, '0');
    const tmp = `${this.opts.path}.tmp`;
    writeFileSync(tmp, `${sec}.${nsec}#${this.seq}\n`);
    renameSync(tmp, this.opts.path);
    return stamp;
  }
}

export function gaussian(rnd: () => number): number {
  const u = Math.max(rnd(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd());
}
