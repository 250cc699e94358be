import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadConfigFile } from '../../src/service/config.js';
import { createLogger } from '../../src/service/log.js';
import { hrtimeClock } from '../../src/time/clock.js';
import { startFleet } from '../../src/fleet/index.js';

/**
 * TEST HARNESS ONLY, until the session core wires startFleet into `jaudiosync run`: a process that
 * is one device's fleet layer and nothing else (no clock chain, no playback). Its UTC is the system
 * clock, its status says "simulated", and every op list it would hand the session is printed as one
 * JSON line: {"event":"ops","ops":[...],"digest":...}. SIGTERM: presence "0", exit 0.
 * JAS_TEST_RENDERED_AHEAD_MS: stands in for a session whose audio is rendered that far ahead of now.
 *
 *   node --import tsx test/helpers/fleet-device.ts CONFIG STATE_DIR RIDE [DEVICE]
 */

const [configPath, stateDir, ride, device] = process.argv.slice(2);
if (!configPath || !stateDir || !ride) {
  process.stderr.write('usage: fleet-device.ts CONFIG STATE_DIR RIDE [DEVICE]\n');
  process.exit(2);
}
const config = loadConfigFile(configPath);
const aheadMs = Number(process.env.JAS_TEST_RENDERED_AHEAD_MS ?? NaN);
const utcNowNs = () => BigInt(Date.now()) * 1_000_000n;
const log = createLogger(process.stderr);
const out = (o: object) =>
  process.stdout.write(JSON.stringify(o, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n');
const fleet = await startFleet({
  config,
  log,
  clock: hrtimeClock,
  stateDir,
  device,
  utcNowNs,
  ...(Number.isFinite(aheadMs) && { renderedToUtcNs: () => utcNowNs() + BigInt(aheadMs) * 1_000_000n }),
  rideId: () => ride,
  status: () => ({
    clock: { state: 'locked', source: 'system', errorBoundUs: null },
    simulated: true,
    playback: { state: 'fleet test harness: no playback' },
  }),
  onOps: (ops, info) => out({ event: 'ops', ops, digest: info.digest, accepted: info.accepted }),
});
out({ event: 'ready', device: fleet.device, ops: fleet.ops() });
// A service stays up whether or not fleet control keeps anything open.
const keepAlive = setInterval(() => {}, 1 << 30);
const stop = async () => {
  clearInterval(keepAlive);
  await fleet.stop();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
// Memory, CPU and event-loop figures on request (tests, bench/fleet.ts); the loop delay is what
// playback would feel (its audio queue holds ~85 ms).
const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
process.on('SIGUSR2', () => {
  out({
    event: 'snapshot',
    snapshot: fleet.snapshot(),
    rssBytes: process.memoryUsage().rss,
    cpuUs: process.cpuUsage(),
    loopDelayMaxMs: loop.max / 1e6,
  });
  loop.reset();
});
