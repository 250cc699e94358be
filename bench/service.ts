// The service as systemd runs it (`run --service`, the built bin, simulated hardware, WAV device):
// boot-to-ready (process start -> "waiting for the start"), idle RSS and CPU while it waits for a
// start 40 s away, then RSS and CPU while playing the bundled playlist, cold and with saved state.
// In simulated mode the GPS and RTC twins (NMEA emulator, PPS and SQW files) run inside the
// measured process: its idle CPU includes them; on a Pi with real devices it does not.
// Run: npm run build && node --import tsx bench/service.ts
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_DIR } from '../src/service/config.js';
import { scratchDir } from './scratch.js';

const dir = scratchDir('jas-svc-bench-');
const CLK_TCK = 100;
const IDLE_MEASURE_S = 20;

function proc(pid: number) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { rssKb: Number(/VmRSS:\s+(\d+)/.exec(status)![1]), ticks: Number(stat[11]) + Number(stat[12]) };
}

async function once(label: string) {
  const startAt = new Date(Date.now() + 40_000).toISOString();
  writeFileSync(
    join(dir, 'c.toml'),
    `[hardware]\nmode = "simulated"\n[schedule]\nstart = "${startAt}"\nwake_early_s = 5\n[playlist]\npath = "${join(PACKAGE_DIR, 'Music', 'Playlist.m3u8')}"\n[audio]\noutput = "wav"\nwav_path = "${join(dir, 'out.wav')}"\n[service]\nstate_dir = "${join(dir, 'state')}"\nruntime_dir = "${join(dir, 'run')}"\n`,
  );
  const t0 = process.hrtime.bigint();
  const child = spawn(
    process.execPath,
    [join(PACKAGE_DIR, 'bin', 'jaudiosync.js'), 'run', '--service', '--config', join(dir, 'c.toml')],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  const seen = (re: RegExp) =>
    new Promise<number>((resolve) => {
      const check = () => {
        if (re.test(out)) {
          resolve(Number(process.hrtime.bigint() - t0) / 1e6);
          return true;
        }
        return false;
      };
      if (check()) return;
      child.stdout.on('data', () => check());
    });
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  // Ready = the clock is locked and the service sleeps until the wake-up before the start.
  const readyMs = await seen(/sleeping until/);
  const lockedMs = await seen(/-> locked \(gps\+pps\)/);
  await new Promise((r) => setTimeout(r, 3000)); // let start-up garbage settle
  const i0 = proc(child.pid!),
    i0Ms = Date.now();
  await new Promise((r) => setTimeout(r, IDLE_MEASURE_S * 1000));
  const i1 = proc(child.pid!),
    i1Ms = Date.now();
  await seen(/first sample placed/);
  await new Promise((r) => setTimeout(r, 2000));
  const p0 = proc(child.pid!),
    p0Ms = Date.now();
  let peakPlayKb = p0.rssKb;
  const poll = setInterval(() => {
    try {
      peakPlayKb = Math.max(peakPlayKb, proc(child.pid!).rssKb);
    } catch {
      /* gone */
    }
  }, 200);
  await seen(/nothing more is scheduled/);
  clearInterval(poll);
  const p1 = proc(child.pid!),
    p1Ms = Date.now();
  child.kill('SIGTERM');
  await new Promise((r) => child.on('close', r));
  const cpu = (a: { ticks: number }, b: { ticks: number }, ms: number) =>
    ((b.ticks - a.ticks) / CLK_TCK / (ms / 1000)) * 100;
  console.log(
    `${label}: boot-to-ready ${(readyMs / 1000).toFixed(2)} s, clock locked at ${(lockedMs / 1000).toFixed(2)} s; idle RSS ${(i1.rssKb / 1024).toFixed(0)} MiB, CPU ${cpu(i0, i1, i1Ms - i0Ms).toFixed(2)} %; playing RSS ${(peakPlayKb / 1024).toFixed(0)} MiB peak, CPU ${cpu(p0, p1, p1Ms - p0Ms).toFixed(1)} % of one core`,
  );
}

console.log(
  `service bench: run --service, simulated GPS+PPS and DS3231, bundled playlist (99 s) into a WAV file; ${cpus()[0]?.model} x${cpus().length}, Node ${process.version}`,
);
await once('cold start (no saved clock state)');
await once('restart (saved clock state)');
