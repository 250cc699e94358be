// Field figures of the service (issue 12), each on a real `run --service` process with simulated
// hardware and the WAV device:
//  - restart to in sync for a daily schedule, with a shared manifest and without one (the first
//    boot counts the frames itself, later restarts find the counts cached in the state folder);
//  - the gap (frames of silence inside the music) across a SIGHUP that changes the volume;
//  - open descriptors after 500 status clients that write garbage or hold the socket open;
//  - SIGTERM to exit.
// Run: npm run build && node --import tsx bench/field.ts [--runs N]
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_DIR } from '../src/service/config.js';
import { scratchDir } from './scratch.js';

const args = process.argv.slice(2);
const runs = Number(args[args.indexOf('--runs') + 1] || 3);
const bin = join(PACKAGE_DIR, 'bin', 'jaudiosync.js');
const S = (ms: number) => (ms / 1000).toFixed(2);

function tone(file: string, hz: number, secs: number): void {
  execFileSync('ffmpeg', [
    '-loglevel',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `aevalsrc=0.4*sin(2*PI*${hz}*t+1):s=44100:d=${secs}`,
    '-ac',
    '2',
    '-b:a',
    '160k',
    file,
  ]);
}

interface Proc {
  child: ChildProcess;
  t0: bigint;
  out: string[];
  waitFor(re: RegExp, timeoutMs?: number): Promise<number>;
}

/** Starts the service; waitFor resolves with ms since spawn when a line matches. */
function service(dir: string): Proc {
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, [bin, 'run', '--service', '--config', join(dir, 'c.toml')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: string[] = [];
  const waiters: Array<{ re: RegExp; resolve: (ms: number) => void }> = [];
  const onData = (d: Buffer) => {
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    for (const l of d.toString().split('\n')) {
      out.push(l);
      for (const w of [...waiters])
        if (w.re.test(l)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(ms);
        }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  return {
    child,
    t0,
    out,
    waitFor: (re, timeoutMs = 180_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${re}:\n${out.join('\n')}`)), timeoutMs);
        waiters.push({
          re,
          resolve: (ms) => {
            clearTimeout(timer);
            resolve(ms);
          },
        });
      }),
  };
}

async function stop(p: Proc): Promise<number> {
  const t0 = Date.now();
  p.child.kill('SIGTERM');
  await new Promise((r) => p.child.once('close', r));
  return Date.now() - t0;
}

/** The bench's config; `audio`: more lines for [audio]. */
function config(dir: string, start: string, audio = ''): void {
  writeFileSync(
    join(dir, 'c.toml'),
    `[hardware]\nmode = "simulated"\n[schedule]\nstart = "${start}"\ntimezone = "UTC"\n[playlist]\npath = "list.m3u8"\n[audio]\noutput = "wav"\nwav_path = "out.wav"\n${audio}[service]\nstate_dir = "state"\nruntime_dir = "run"\n`,
  );
}

/** A daily start 150 s ago, three 2-minute MP3s: a restart joins track 2. */
async function dailyRestart(manifest: boolean): Promise<void> {
  const dir = scratchDir('jas-bench-field-');
  for (const [i, hz] of [220, 330, 440].entries()) tone(join(dir, `t${i + 1}.mp3`), hz, 120);
  writeFileSync(join(dir, 'list.m3u8'), '#EXTM3U\nt1.mp3\nt2.mp3\nt3.mp3\n');
  if (manifest) execFileSync(process.execPath, [bin, 'timeline', 'build', join(dir, 'list.m3u8')], { stdio: 'ignore' });
  for (let i = 0; i < runs + (manifest ? 0 : 1); i++) {
    await new Promise((r) => setTimeout(r, Math.random() * 1000)); // a random phase against the GPS second
    config(dir, `daily ${new Date(Date.now() - 150_000).toISOString().slice(11, 19)}`);
    const p = service(dir);
    const joined = await p.waitFor(/joined late at/);
    const counted = p.out.some((l) => /counting the frames/.test(l));
    console.log(
      `  daily, ${manifest ? 'shared manifest' : counted ? 'no manifest, first boot (counts the frames)' : 'no manifest, counts cached'}: in sync ${S(joined)} s after process start`,
    );
    await stop(p);
  }
}

/** SIGHUP halving the volume mid-track: the longest run of silent frames inside the music. */
async function reloadGap(): Promise<void> {
  const dir = scratchDir('jas-bench-field-');
  tone(join(dir, 'a.mp3'), 440, 12);
  writeFileSync(join(dir, 'list.m3u8'), 'a.mp3\n');
  config(dir, '+2');
  const p = service(dir);
  await p.waitFor(/first sample placed/);
  await new Promise((r) => setTimeout(r, 4000));
  config(dir, '+2', 'volume_db = -6\n');
  p.child.kill('SIGHUP');
  await p.waitFor(/playlist finished/);
  await stop(p);
  const wav = readFileSync(join(dir, 'out.wav'));
  const data = wav.subarray(80);
  const at = (f: number) => data.readInt16LE(f * 4);
  const frames = Math.floor(data.length / 4);
  let onset = 0;
  while (onset < frames && at(onset) === 0) onset++;
  let longest = 0,
    run = 0;
  for (let f = onset; f < Math.min(frames, onset + 11 * 48_000); f++) {
    run = at(f) === 0 ? run + 1 : 0;
    longest = Math.max(longest, run);
  }
  console.log(
    `  reload (volume -6 dB) mid-track: longest run of silent frames inside the music ${longest} (a sine has isolated zero samples: 0 or 1 means no gap)`,
  );
}

/** 500 bad status clients, then SIGTERM. */
async function statusClients(): Promise<void> {
  const dir = scratchDir('jas-bench-field-');
  tone(join(dir, 'a.mp3'), 440, 2);
  writeFileSync(join(dir, 'list.m3u8'), 'a.mp3\n');
  config(dir, '+3600');
  const p = service(dir);
  await p.waitFor(/sleeping until/);
  const fds = () => readdirSync(`/proc/${p.child.pid}/fd`).length;
  const before = fds();
  const clients: Socket[] = [];
  for (let i = 0; i < 500; i++) {
    const c = connect(join(dir, 'run', 'status.sock'));
    c.on('error', () => {});
    if (i % 2 === 0) c.on('connect', () => c.write(Buffer.alloc(4096, 7)));
    else c.pause();
    clients.push(c);
  }
  await new Promise((r) => setTimeout(r, 300));
  const during = fds();
  const t0 = Date.now();
  while (fds() > before + 2 && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 100));
  console.log(
    `  500 bad status clients: fds ${before} before, ${during} while they hold on, ${fds()} after ${S(Date.now() - t0)} s (idle timeout 2 s)`,
  );
  const exitMs = await stop(p);
  for (const c of clients) c.destroy();
  console.log(`  SIGTERM to exit (idle, waiting for its start): ${exitMs} ms`);
  config(dir, '+2');
  const q = service(dir);
  await q.waitFor(/first sample placed/).catch(() => 0);
  console.log(`  SIGTERM to exit while playing (0.5 s fade, then the buffers): ${await stop(q)} ms`);
}

console.log(
  `field bench: ${cpus()[0]?.model} x${cpus().length}, load ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}; ${runs} runs`,
);
console.log('restart to in sync, daily schedule:');
await dailyRestart(true);
await dailyRestart(false);
console.log('reload:');
await reloadGap();
console.log('status socket and SIGTERM:');
await statusClients();
