// `jaudiosync run` as a user runs it (the built bin), over a whole playlist into the WAV device:
// time from process start to "ready and waiting for the start instant", peak RSS, CPU while playing.
// Run: npm run build && node --import tsx bench/run.ts [--config FILE] [--at +SECONDS]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_DIR } from '../src/service/config.js';
import { scratchDir } from './scratch.js';

const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const dir = scratchDir('jas-bench-');
const cliArgs = ['run', '--output', 'wav', '--wav', join(dir, 'out.wav'), '--at', opt('--at') ?? '+1'];
if (opt('--config')) cliArgs.push('--config', opt('--config')!);
const clkTck = 100; // USER_HZ on Linux
const pageKb = 4;

function procStat(pid: number): { rssKb: number; hwmKb: number; cpuTicks: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM'), cpuTicks: Number(stat[11]) + Number(stat[12]) };
  } catch {
    return undefined;
  }
}

console.log(
  `run bench: node bin/jaudiosync.js ${cliArgs.join(' ')} on ${cpus()[0]?.model} x${cpus().length}, page ${pageKb} KiB`,
);
const t0 = process.hrtime.bigint();
const child = spawn(process.execPath, [join(PACKAGE_DIR, 'bin', 'jaudiosync.js'), ...cliArgs], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
let readyWallMs: number | undefined, readyReportedMs: number | undefined, placedAtMs: number | undefined;
let out = '';
let peakHwmKb = 0;
let playStart: { ms: number; ticks: number } | undefined;
let last: { ms: number; ticks: number } | undefined;
child.stdout.on('data', (d: Buffer) => {
  const text = d.toString();
  out += text;
  const nowMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const ready = /ready in (\d+) ms/.exec(text);
  if (ready && readyWallMs === undefined) {
    readyWallMs = nowMs;
    readyReportedMs = Number(ready[1]);
  }
  if (/first sample placed|joined late/.test(text) && placedAtMs === undefined) placedAtMs = nowMs;
});
const poll = setInterval(() => {
  const s = procStat(child.pid!);
  if (!s) return;
  peakHwmKb = Math.max(peakHwmKb, s.hwmKb);
  const nowMs = Number(process.hrtime.bigint() - t0) / 1e6;
  if (placedAtMs !== undefined && !playStart) playStart = { ms: nowMs, ticks: s.cpuTicks };
  if (playStart) last = { ms: nowMs, ticks: s.cpuTicks };
}, 100);
const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
clearInterval(poll);
const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
if (code !== 0) {
  console.log(out);
  throw new Error(`jaudiosync exited with ${code}`);
}
console.log(`exit ${code} after ${wallS.toFixed(1)} s`);
console.log(
  `ready (process start -> waiting for the start instant): ${readyWallMs?.toFixed(0)} ms wall from spawn, ${readyReportedMs} ms as reported (includes the simulated GPS lock)`,
);
console.log(`peak RSS (VmHWM): ${(peakHwmKb / 1024).toFixed(1)} MiB`);
if (playStart && last && last.ms > playStart.ms) {
  console.log(
    `CPU while playing: ${(((last.ticks - playStart.ticks) / clkTck / ((last.ms - playStart.ms) / 1000)) * 100).toFixed(1)} % of one core over ${((last.ms - playStart.ms) / 1000).toFixed(0)} s`,
  );
}
