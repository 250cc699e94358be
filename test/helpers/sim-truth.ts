import { SIM_TRUTH_ENV } from '../../src/sim/hardware-twins.js';
import { RealtimeConverter } from '../../src/time/realtime-converter.js';

/**
 * One truth for the simulated twins of every process a test starts: this machine's clock as read
 * now, carried on the monotonic clock from then on, so that a step of the system clock while the
 * test runs (a VM resumed, timesyncd) moves neither the twins nor the test's judge.
 */
export function simTruth() {
  const utcMinusMonoNs = new RealtimeConverter().toRealtime(0n);
  return {
    utcMinusMonoNs,
    /** For runCli/spawnCli: the twins of that process take this truth. */
    env: { [SIM_TRUTH_ENV]: String(utcMinusMonoNs) },
    utcOfMono: (monoNs: bigint) => monoNs + utcMinusMonoNs,
    nowNs: () => process.hrtime.bigint() + utcMinusMonoNs,
    /** How far the system clock has been stepped since the truth was taken (ns). */
    steppedNs: () => Number(new RealtimeConverter().toRealtime(0n) - utcMinusMonoNs),
  };
}
