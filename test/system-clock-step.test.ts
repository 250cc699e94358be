import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeFile } from '../src/player/decoder.js';
import { findFfmpeg } from '../src/player/ffmpeg.js';
import { parseConfig } from '../src/service/config.js';
import { startTimingChain, type HardwareFactory } from '../src/service/hardware.js';
import { readWav16, spawnCli } from './helpers/cli.js';
import { simTruth } from './helpers/sim-truth.js';
import { alignedDiff, halfFrameDiff } from './helpers/compare.js';
import { baseConfig, serviceDir } from './helpers/service.js';

/**
 * The real service process with its system clock stepped under it (libfaketime fakes CLOCK_REALTIME
 * only, as `date -s`, timesyncd or fake-hwclock would step it): back by an hour while it sleeps
 * until the start, forward by an hour while it plays. The start must land on its sample and the
 * music must not move: nothing of the system clock may reach the wake-up, the session or the aligner.
 * Truth is this test's own (unstepped) clock, which the twins in the service share (simTruth: a
 * step of this machine's clock meanwhile moves neither).
 */

const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

test('system clock stepped -1 h while waiting for the start and +1 h while playing: the start lands on its sample, nothing moves', async (t) => {
  t.true(existsSync(LIBFAKETIME), `${LIBFAKETIME} is missing: scripts/setup.sh --test installs libfaketime`);
  const startMs = Math.ceil((Date.now() + 30_000) / 1000) * 1000;
  const d = serviceDir([['a.flac', 440, 10]], []);
  d.writeAll(
    baseConfig({ start: new Date(startMs).toISOString() }).map((l) =>
      l.startsWith('start =') ? `${l}\nwake_early_s = 5` : l,
    ),
  );
  const offsetFile = join(d.dir, 'faketime');
  writeFileSync(offsetFile, '+0\n');
  const truth = simTruth();
  const svc = spawnCli(['run', '--service', '--config', d.cfg], {
    env: {
      ...truth.env,
      LD_PRELOAD: LIBFAKETIME,
      FAKETIME_TIMESTAMP_FILE: offsetFile,
      FAKETIME_CACHE_DURATION: '1',
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
    },
  });
  try {
    await svc.waitFor(/next start .*: sleeping until 5 s before it/);
    writeFileSync(offsetFile, '-3600s\n');
    await svc.waitFor(/system clock stepped by -3600/, 20_000);
    await svc.waitFor(/first sample placed/, 60_000);
    await new Promise((r) => setTimeout(r, 3000));
    writeFileSync(offsetFile, '+0\n');
    await svc.waitFor(/system clock stepped by 3600/, 20_000);
    await svc.waitFor(/playlist finished/, 60_000);
    svc.child.kill('SIGTERM');
    t.is(await svc.exited, 0);
    t.notRegex(
      svc.output,
      /(^|\n)(warning: )?clock stepped by -?3600|re-seek/,
      'the disciplined clock never followed the system clock',
    );

    const side = JSON.parse(readFileSync(join(d.dir, 'out.wav.json'), 'utf8')) as {
      firstFrameMonoNs: string;
      startUtcNs: string;
    };
    const firstFrameTrueNs = truth.utcOfMono(BigInt(side.firstFrameMonoNs));
    t.is(BigInt(side.startUtcNs), BigInt(startMs) * 1_000_000n, 'the configured instant');
    const wav = readWav16(readFileSync(join(d.dir, 'out.wav')));
    let onset = 0;
    while (onset < wav.frames && wav.data.readInt16LE(onset * 4) === 0) onset++;
    const expected = (Number(BigInt(side.startUtcNs) - firstFrameTrueNs) * 48_000) / 1e9;
    const errorUs = ((onset - expected) / 48_000) * 1e6;
    t.log(`first sample ${errorUs.toFixed(1)} µs from the start instant (true time)`);
    t.true(Math.abs(errorUs) < 1000, `onset ${onset}, expected ${expected.toFixed(1)} (${errorUs.toFixed(0)} µs)`);
    const tone = await decodeFile(findFfmpeg().path, join(d.dir, 'a.flac'), { sampleRate: 48_000, channels: 2 });
    const played = wav.data.subarray(onset * 4, (onset + tone.frames) * 4);
    const diff = alignedDiff(played, tone.pcm);
    t.is(diff.lag, 0, 'not a frame lost, added or moved across the steps');
    t.true(diff.maxDiff <= halfFrameDiff(440, 0.5), `max sample difference ${diff.maxDiff}`);
  } finally {
    svc.child.kill('SIGKILL');
  }
});

test('the timing chain tells its GPS source of a system clock step its realtime converter sees: a stale pair is left at once', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jaudiosync-step-'));
  const config = parseConfig(
    `[hardware]\nmode = "real"\n[rtc]\nenabled = false\n[service]\nstate_dir = "${dir}"\n`,
    'test',
    dir,
  );
  let stepMs = 0; // the system clock as the kernel's stamps and the converter see it
  const realtimeReaders = { monoNs: () => process.hrtime.bigint(), realtimeMs: () => Date.now() + stepMs };
  const said: string[] = [];
  const log = {
    info: (m: string) => said.push(m),
    warn: (m: string) => said.push(m),
    error: () => {},
    status: () => {},
  };
  const hardware: HardwareFactory = {
    simulated: false,
    why: 'test',
    gps: async () => ({ port: join(dir, 'no-such-tty'), pps: undefined, describe: 'GPS (test)', stop: async () => {} }),
    rtc: async () => Promise.reject(new Error('no RTC in this test')),
  };
  const chain = await startTimingChain(config, log, { hardware, realtimeReaders });
  t.teardown(async () => {
    await chain.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const src = chain.gpsSource!;
  const S = 1_000_000_000n;
  const base = process.hrtime.bigint() - 1_200_000_000n; // edges 0-1 before the news
  const utc0 = 1_790_000_000n * S;
  const edge = (k: bigint, lateNs: bigint) => {
    src.addPulse({ monoNs: base + k * S + lateNs, seq: Number(k), missed: 0, errorNs: 10_000, via: 'kernel' });
    src.onFix({ monoNs: base + k * S + 200_000_000n, utcNs: utc0 + k * S, valid: true, talker: 'GP', sentence: 'RMC' });
  };
  // Edges 0-1 were stamped after a +30 ms step and converted before the converter saw it.
  edge(0n, 30_000_000n);
  edge(1n, 30_000_000n);
  stepMs = 30;
  for (let i = 0; i < 50 && !said.some((m) => /system clock stepped by 30\./.test(m)); i++) chain.converter.refresh();
  t.true(
    said.some((m) => /system clock stepped by 30\./.test(m)),
    `the converter saw the step: ${said.join(' | ')}`,
  );
  let k = 2n;
  while (base + k * S <= process.hrtime.bigint()) k++; // the right edges come after the news
  for (const last = k + 3n; k < last; k++) edge(k, 0n);
  t.is(src.status.labelled, 5, `the right edges were paired: ${src.status.lastRejectReason}`);
  t.true(
    said.some((m) => /as the system clock stepped: pairing afresh/.test(m)),
    said.join(' | '),
  );
});
