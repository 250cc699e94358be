// Analysis time and peak RSS of `calibrate report` on a 24 h recording at 1 Hz (86,400 samples of
// the system clock against GPS+PPS, plus 86,400 DS3231 records), generated with known truth.
// Run: node --import tsx bench/calibrate.ts
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_DIR } from '../src/service/config.js';
import { driftRecordingLines } from '../src/sim/drift-recording.js';

const dir = mkdtempSync(join(tmpdir(), 'jas-cal-bench-'));
const path = join(dir, 'pi-24h.jsonl');
const out = createWriteStream(path);
for (const line of driftRecordingLines({
  seconds: 86_400, seed: 1, ppsJitterNs: 1500,
  cpuTempC: (t) => 45 + 10 * Math.sin((2 * Math.PI * t) / 5400), rtcTempC: (t) => 30 + 8 * Math.sin((2 * Math.PI * t) / 86_400),
  system: { ppm: -43, tempCoeffPpmPerC: 0.25, whiteFmPpm: 0.002, randomWalkPpmPerSqrtS: 2e-6 },
  rtc: { ppm: 1.5, tempCoeffPpmPerC2: -0.003, whiteFmPpm: 0.01, randomWalkPpmPerSqrtS: 1e-5 },
})) out.write(line + '\n');
await new Promise((r) => out.end(r));
console.log(`calibrate bench: 24 h at 1 Hz (259,200 records), ${cpus()[0]?.model} x${cpus().length}, Node ${process.version}`);
for (let i = 0; i < 3; i++) {
  const t0 = process.hrtime.bigint();
  // /usr/bin/time-like: the child's peak RSS from its own resource usage.
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', `
    const { buildReport, formatReport, writeSvgs } = await import(${JSON.stringify(join(PACKAGE_DIR, 'calibrate', 'report.ts'))});
    const t0 = process.hrtime.bigint();
    const { report, series } = await buildReport([${JSON.stringify(path)}]);
    const analysedMs = Number(process.hrtime.bigint() - t0) / 1e6;
    await writeSvgs(${JSON.stringify(join(dir, 'svg'))}, report, series);
    const totalMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const s = report.devices[0].subjects;
    console.log(JSON.stringify({ analysedMs, totalMs, rssMiB: process.resourceUsage().maxRSS / 1024, sys: s.system.frequency.ppm, rtc: s.rtc.frequency.ppm }));
  `], { encoding: 'utf8', cwd: PACKAGE_DIR });
  if (r.status !== 0) throw new Error(r.stderr);
  const j = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { analysedMs: number; totalMs: number; rssMiB: number; sys: number; rtc: number };
  console.log(`run ${i + 1}: read + analysed in ${(j.analysedMs / 1000).toFixed(2)} s, with the SVG plots ${(j.totalMs / 1000).toFixed(2)} s; process wall ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(2)} s; peak RSS ${j.rssMiB.toFixed(0)} MiB (system ${j.sys.toFixed(3)} ppm, rtc ${j.rtc.toFixed(3)} ppm)`);
}
