// Wall time and peak RSS of `jaudiosync calibrate report FILE --svg DIR` (the CLI as a user runs it)
// on a recording of HOURS at 1 Hz (default 48: the system clock against GPS+PPS and the DS3231,
// 3 records a second), generated with known truth; the load average is printed beside the figures.
// Run: node --import tsx bench/calibrate.ts [HOURS]
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PACKAGE_DIR } from '../src/service/config.js';
import { driftRecordingLines } from '../src/sim/drift-recording.js';

const hours = Number(process.argv[2] ?? 48);
if (!(hours > 0 && hours <= 24 * 31))
  throw new Error(`HOURS "${process.argv[2]}": expected a number of hours, at most 744`);
const dir = mkdtempSync(join(tmpdir(), 'jas-cal-bench-'));
try {
  const path = join(dir, 'pi-bench.jsonl');
  const out = createWriteStream(path);
  for (const line of driftRecordingLines({
    seconds: Math.round(hours * 3600),
    seed: 1,
    ppsJitterNs: 1500,
    cpuTempC: (t) => 45 + 10 * Math.sin((2 * Math.PI * t) / 5400),
    rtcTempC: (t) => 30 + 8 * Math.sin((2 * Math.PI * t) / 86_400),
    system: { ppm: -43, tempCoeffPpmPerC: 0.25, whiteFmPpm: 0.002, randomWalkPpmPerSqrtS: 2e-6 },
    rtc: { ppm: 1.5, tempCoeffPpmPerC2: -0.003, whiteFmPpm: 0.01, randomWalkPpmPerSqrtS: 1e-5 },
  }))
    if (!out.write(line + '\n')) await new Promise<void>((r) => out.once('drain', () => r()));
  await new Promise((r) => out.end(r));
  // The child reports its own peak RSS as it exits (no /usr/bin/time needed).
  const rss = join(dir, 'rss.mjs');
  writeFileSync(
    rss,
    "process.on('exit', () => { const u = process.resourceUsage(); process.stderr.write(`\\npeak-rss-kib ${u.maxRSS} cpu-us ${u.userCPUTime + u.systemCPUTime}\\n`); });\n",
  );
  const load = () =>
    loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
  console.log(
    `calibrate bench: ${hours} h at 1 Hz (${(statSync(path).size / 1e6).toFixed(0)} MB, ${Math.round(hours * 3600 * 3).toLocaleString('en')} records), ${cpus()[0]?.model} x${cpus().length}, Node ${process.version}; load average before: ${load()}`,
  );
  for (let i = 0; i < 3; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        pathToFileURL(rss).href,
        '--import',
        'tsx',
        join(PACKAGE_DIR, 'src/cli/bin.ts'),
        'calibrate',
        'report',
        path,
        '--svg',
        join(dir, 'svg'),
      ],
      { encoding: 'utf8', cwd: PACKAGE_DIR, maxBuffer: 64 << 20 },
    );
    const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) throw new Error(`calibrate report failed (exit ${r.status}):\n${r.stderr}`);
    const m = /peak-rss-kib (\d+) cpu-us (\d+)/.exec(r.stderr);
    const verdicts = r.stdout
      .split('\n')
      .filter((l) => /^ {2}[=!] (System|DS3231)/.test(l))
      .map((l) => l.trim().split(';')[0])
      .join(' | ');
    console.log(
      `run ${i + 1}: calibrate report --svg in ${wallS.toFixed(2)} s wall (${(Number(m?.[2]) / 1e6).toFixed(2)} s CPU), peak RSS ${(Number(m?.[1]) / 1024).toFixed(0)} MiB, load average ${load()} (${verdicts})`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
