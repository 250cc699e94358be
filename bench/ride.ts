// The ride simulator's headline figures (issue 8): whole devices (real clock layer, sources,
// aligner) on their twins in one virtual world. Wall time and peak RSS of the 8-device 4 h ride.
// Run: node --import tsx bench/ride.ts [--hours H] [--devices N]
import { cpus } from 'node:os';
import { defaultEvents, simulateRide, type RideEvent, type RideResult } from '../src/sim/ride.js';
import { formatUs } from '../src/cli/simulate.js';

const args = process.argv.slice(2);
const opt = (n: string, d: number) => {
  const i = args.indexOf(n);
  return i >= 0 ? Number(args[i + 1]) : d;
};
const hours = opt('--hours', 4),
  devices = opt('--devices', 8);
const us = formatUs;
console.log(
  `ride bench: ${devices} devices, ${hours} h, seed 1; ${cpus()[0]?.model} x${cpus().length}, Node ${process.version}`,
);

function show(label: string, r: RideResult) {
  console.log(
    `\n${label}: simulated in ${(r.wallMs / 1000).toFixed(1)} s, peak RSS so far ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`,
  );
  console.log(`  sync error: p50 ${us(r.syncErrorUs.p50)}, p99 ${us(r.syncErrorUs.p99)}, max ${us(r.syncErrorUs.max)}`);
  for (const [k, v] of Object.entries(r.phases))
    console.log(`  ${k}: ${v.seconds} s, p50 ${us(v.p50)}, p99 ${us(v.p99)}, max ${us(v.max)}`);
  for (const d of r.devices) {
    if (d.joins.length || d.audible.length || d.clock.boundBrokenPct > 0)
      console.log(
        `  ${d.name}: joins ${JSON.stringify(d.joins)}; bound broken ${d.clock.boundBrokenPct.toFixed(2)} %; content ${d.content.checkedSec} s probed, ${d.content.silentSec} silent, ${d.content.wrongSec} wrong; ${d.audible.join('; ') || 'nothing audible'}`,
      );
  }
}

show(
  'A. all with GPS + kernel PPS, default events',
  await simulateRide({
    devices,
    hours,
    gps: 'all',
    pps: 'kernel',
    calibrated: true,
    events: defaultEvents(devices, hours),
    seed: 1,
  }),
);
const outage: RideEvent[] = [
  {
    kind: 'gps-outage',
    device: 'all',
    atSec: Math.round(hours * 3600 * 0.4),
    durationSec: 1800,
    label: '30 min outage',
  },
];
show(
  'B. the same with a 30 min GPS outage for all (calibrated RTC holdover)',
  await simulateRide({ devices, hours, gps: 'all', pps: 'kernel', calibrated: true, events: outage, seed: 1 }),
);
const c = await simulateRide({
  devices,
  hours: Math.max(3, hours),
  gps: 'some',
  pps: 'kernel',
  calibrated: true,
  events: [],
  seed: 1,
});
show('C. GPS on one device only, the rest on calibrated RTCs', c);
const after3h = Array.from(c.spreadUs.slice(3 * 3600 - 600, 3 * 3600))
  .filter(Number.isFinite)
  .sort((a, b) => a - b);
console.log(
  `  C after 3 h (the last 10 minutes before 3:00): p99 ${us(after3h[Math.floor(0.99 * (after3h.length - 1))]!)}`,
);
show(
  'D. GPIO (userspace) PPS instead of kernel PPS, default events',
  await simulateRide({
    devices,
    hours,
    gps: 'all',
    pps: 'gpio',
    calibrated: true,
    events: defaultEvents(devices, hours),
    seed: 1,
  }),
);
