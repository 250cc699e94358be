// Repeatability and cost of the realtime -> monotonic offset estimator (catching Date.now() ticks).
// Run: node --import tsx bench/realtime-offset.ts [N]
import { cpus } from 'node:os';
import { estimateRealtimeOffset } from '../src/time/realtime.js';

const n = Number(process.argv[2] ?? 1000);
const offsets: number[] = [],
  costs: number[] = [],
  atNs: number[] = [];
const base = estimateRealtimeOffset().offsetNs;
for (let i = 0; i < n; i++) {
  const t0 = process.hrtime.bigint();
  const e = estimateRealtimeOffset();
  const t1 = process.hrtime.bigint();
  offsets.push(Number(e.offsetNs - base));
  costs.push(Number(t1 - t0));
  atNs.push(Number(t0));
}
// Remove a linear trend: NTP may be slewing the system clock while we measure.
const mx = atNs.reduce((a, b) => a + b, 0) / n,
  my = offsets.reduce((a, b) => a + b, 0) / n;
let sxx = 0,
  sxy = 0;
for (let i = 0; i < n; i++) {
  sxx += (atNs[i]! - mx) ** 2;
  sxy += (atNs[i]! - mx) * (offsets[i]! - my);
}
const slope = sxx ? sxy / sxx : 0;
const resid = offsets.map((y, i) => y - (my + slope * (atNs[i]! - mx)));
const sd = Math.sqrt(resid.reduce((a, r) => a + r * r, 0) / (n - 1));
const sorted = [...costs].sort((a, b) => a - b);
console.log(`realtime-offset bench: ${n} estimates, node ${process.version}, ${cpus()[0]?.model} x${cpus().length}`);
console.log(
  `repeatability: standard deviation ${sd.toFixed(1)} ns (after removing a ${(slope * 1e6).toFixed(3)} ppm trend), max |dev| ${Math.max(...resid.map(Math.abs)).toFixed(0)} ns`,
);
console.log(
  `cost per estimate: mean ${(costs.reduce((a, b) => a + b, 0) / n / 1e3).toFixed(0)} µs, p50 ${(sorted[n >> 1]! / 1e3).toFixed(0)} µs, p99 ${(sorted[Math.floor(n * 0.99)]! / 1e3).toFixed(0)} µs (it spins until Date.now() ticks over: up to 1 ms, and back-to-back calls wait a whole ms)`,
);
