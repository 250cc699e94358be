// Clock-layer figures in the simulated world (the real parser, GPS+PPS source and servo on twins in
// virtual time). Run: node --import tsx bench/clock.ts [--seeds N]
import { cpus } from 'node:os';
import { ClockWorld, percentile, type ClockWorldOptions } from '../src/sim/clock-world.js';

const args = process.argv.slice(2);
const seeds = Number(args[args.indexOf('--seeds') + 1] || 5);
// A Pi in a box on a bike: -43 ppm crystal, 0.25 ppm/°C, ±5 °C swings over ~1 h, slow random walk.
const ride: Partial<ClockWorldOptions> = {
  sysPpm: -43,
  sysRandomWalk: 0.002,
  sysTempCoeffPpmPerC: 0.25,
  temperatureC: (t) => 50 + 5 * Math.sin(t / 600),
};
const us = (ns: number) => `${(ns / 1e3).toFixed(1)} µs`;
console.log(`clock bench: ${seeds} seeds per scenario, node ${process.version}, ${cpus()[0]?.model} x${cpus().length}`);

function scenario(name: string, o: Partial<ClockWorldOptions>, seconds: number, report: (ws: ClockWorld[]) => string) {
  const ws: ClockWorld[] = [];
  const cpu0 = process.cpuUsage();
  for (let seed = 1; seed <= seeds; seed++) {
    const w = new ClockWorld({ seed, ...ride, ...o });
    w.run(seconds);
    ws.push(w);
  }
  const cpu = process.cpuUsage(cpu0);
  const judged = ws.flatMap((w) => w.probes.filter((p) => p.state !== 'unsynchronized'));
  const outside = judged.filter((p) => Math.abs(p.errorNs) > p.boundNs).length;
  console.log(
    `${name}: ${report(ws)}; outside the bound ${((100 * outside) / judged.length).toFixed(2)} % of ${judged.length} probes; sim CPU ${((cpu.user + cpu.system) / 1e6 / ((seeds * seconds) / 3600)).toFixed(2)} s per simulated hour`,
  );
}

scenario('GPS + kernel PPS (σ 2 µs)', { pps: 'kernel', ppsJitterNs: 2000 }, 3600, (ws) => {
  const toGood = ws.map((w) => {
    // First probe from which |error| stays < 100 µs for the rest of the run, counted from the first valid fix.
    const i = w.probes.findIndex((_, k) =>
      w.probes.slice(k).every((p) => p.state === 'locked' && Math.abs(p.errorNs) < 100_000),
    );
    return w.probes[i]!.trueSec - (w.firstValidFixSec ?? 0);
  });
  const steady = ws.flatMap((w) => w.probes.slice(120).map((p) => Math.abs(p.errorNs)));
  return `first valid fix -> |error| < 100 µs for good: max ${Math.max(...toGood).toFixed(1)} s; steady |error| p50 ${us(percentile(steady, 50))} p99 ${us(percentile(steady, 99))} max ${us(Math.max(...steady))}`;
});

scenario('GPS + userspace GPIO PPS (50 µs-ms tail)', { pps: 'gpio' }, 3600, (ws) => {
  const steady = ws.flatMap((w) => w.probes.slice(120).map((p) => Math.abs(p.errorNs)));
  return `steady |error| p50 ${us(percentile(steady, 50))} p99 ${us(percentile(steady, 99))} max ${us(Math.max(...steady))}`;
});

for (const hours of [1, 4]) {
  scenario(
    `holdover ${hours} h on the system crystal (no RTC)`,
    { pps: 'kernel', outage: (s) => s >= 600 },
    600 + hours * 3600,
    (ws) => {
      const end = ws.map((w) => Math.abs(w.probes.at(-1)!.errorNs));
      const bound = ws.map((w) => w.probes.at(-1)!.boundNs);
      return `|error| after ${hours} h: median ${us(percentile(end, 50))}, worst ${us(Math.max(...end))} (bound ~${us(percentile(bound, 50))})`;
    },
  );
}

for (const hours of [1, 4]) {
  scenario(
    `holdover ${hours} h on a DS3231 with SQW (0.3 ppm + temperature residual), measured against GPS first`,
    {
      pps: 'kernel',
      outage: (s) => s >= 600,
      rtc: { ppm: 0.3, tempCoeffPpmPerC2: 0.0006, initialOffsetNs: 300_000n },
    },
    600 + hours * 3600,
    (ws) => {
      const end = ws.map((w) => Math.abs(w.probes.at(-1)!.errorNs));
      const bound = ws.map((w) => w.probes.at(-1)!.boundNs);
      return `|error| after ${hours} h: median ${us(percentile(end, 50))}, worst ${us(Math.max(...end))} (bound ~${us(percentile(bound, 50))})`;
    },
  );
}

scenario(
  'RTC only, calibrated (1.2 ± 0.05 ppm) and set 6 h before, no GPS this boot',
  {
    pps: 'none',
    noGps: true,
    rtc: {
      ppm: 1.2,
      initialOffsetNs: 26_070_000n,
      calibration: {
        ratePpm: 1.2,
        rateUncertaintyPpm: 0.05,
        setAtUtcNs: (1_790_000_000n - 21_600n) * 1_000_000_000n,
        setErrorNs: 200_000,
      },
    },
  },
  3600,
  (ws) => {
    const err = ws.flatMap((w) => w.probes.filter((p) => p.state !== 'unsynchronized').map((p) => Math.abs(p.errorNs)));
    return `|error| once on the RTC: p50 ${us(percentile(err, 50))} max ${us(Math.max(...err))}`;
  },
);

scenario('NMEA only', { pps: 'none' }, 1800, (ws) => {
  const steady = ws.flatMap((w) => w.probes.slice(120).map((p) => Math.abs(p.errorNs)));
  return `steady |error| p50 ${us(percentile(steady, 50))} p99 ${us(percentile(steady, 99))}`;
});
