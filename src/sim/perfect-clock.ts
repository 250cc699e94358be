import { Timescale } from '../time/timescale.js';

/**
 * A clock locked to GPS + PPS that knows UTC exactly: local monotonic 0 is `refUtcNs`, no frequency
 * error, a fixed bound. For simulations that test what sits on the clock (the player, the RTC loop),
 * not the clock itself.
 */
export function perfectGpsTimescale(refUtcNs: bigint, errorBoundNs = 1_000): Timescale {
  return new Timescale({
    refMonoNs: 0n,
    refUtcNs,
    freqPpm: 0,
    errorBoundNs,
    errorGrowthNsPerSec: 0,
    source: 'gps+pps',
    state: 'locked',
    lastSampleMonoNs: 0n,
  });
}
