/**
 * Realtime -> monotonic offset without native code. The kernel stamps PPS edges with
 * CLOCK_REALTIME; we need them on the monotonic axis. Date.now() ticks once per millisecond:
 * bracketing the instant it ticks over between two process.hrtime reads a few hundred ns apart
 * pins realtime against monotonic far better than one read of each (1 ms quantisation).
 */

export interface RealtimeOffsetEstimate {
  /** realtimeNs - monotonicNs at the catch: realtime = mono + offsetNs. */
  offsetNs: bigint;
  /** Half the bracket around the caught tick, plus the tick's own granularity (ns). */
  uncertaintyNs: number;
  /** Ticks tried before one was caught inside the bracket limit. */
  attempts: number;
}

export interface RealtimeReaders {
  monoNs(): bigint;
  realtimeMs(): number;
}

export const processReaders: RealtimeReaders = {
  monoNs: () => process.hrtime.bigint(),
  realtimeMs: () => Date.now(),
};

/** Brackets wider than this are discarded: a preemption or GC landed inside the catch. */
export const MAX_BRACKET_NS = 1_000;
/** Give up after this many tick attempts (each costs up to 1 ms of spinning). */
export const MAX_ATTEMPTS = 20;

/**
 * Spins until Date.now() changes, bracketing the change with monotonic reads; keeps the
 * tightest bracket. Costs ~1 ms of one core per attempt; call it every few seconds, not per pulse.
 */
export function estimateRealtimeOffset(
  readers: RealtimeReaders = processReaders,
  maxAttempts = MAX_ATTEMPTS,
): RealtimeOffsetEstimate {
  let best: { offsetNs: bigint; bracketNs: number } | undefined;
  let attempts = 0;
  while (attempts < maxAttempts) {
    attempts++;
    // Alternate reads: ... mono, realtime (unchanged), mono, realtime (changed), mono. The tick lies
    // between the two realtime reads, so inside the first and last of those three mono reads.
    let prevMono = readers.monoNs();
    const startMs = readers.realtimeMs();
    let guard = 0;
    for (;;) {
      const mono = readers.monoNs();
      const nowMs = readers.realtimeMs();
      if (nowMs !== startMs) {
        const after = readers.monoNs();
        const bracketNs = Number(after - prevMono);
        const offsetNs = BigInt(nowMs) * 1_000_000n - (prevMono + (after - prevMono) / 2n);
        if (!best || bracketNs < best.bracketNs) best = { offsetNs, bracketNs };
        break;
      }
      prevMono = mono;
      if (++guard > 10_000_000)
        throw new Error('Date.now() does not advance: cannot relate realtime to monotonic time');
    }
    if (best!.bracketNs <= MAX_BRACKET_NS) break;
  }
  // best is always set: the loop body ran at least once.
  const b = best!;
  return { offsetNs: b.offsetNs, uncertaintyNs: b.bracketNs / 2 + 1, attempts };
}
