import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findFfmpeg } from '../src/player/ffmpeg.js';
import { readStatus } from '../src/service/status-server.js';
import { readWav16, runCli, spawnCli } from './helpers/cli.js';
import { PLAYING } from './helpers/service.js';
import { tempDir } from './helpers/tmp.js';

/**
 * The service as systemd runs it (`run --service`), as a real process: the status socket, idling
 * after a one-off start, SIGHUP with a broken and then a good config, SIGTERM fading out, the
 * resume position, and state files that survive kill -9 in the middle of a write.
 */

const ffmpeg = findFfmpeg().path;
const tone = (file: string, hz: number, secs: number) =>
  execFileSync(ffmpeg, [
    '-loglevel',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `aevalsrc=0.5*sin(2*PI*${hz}*t):s=48000:d=${secs}`,
    '-ac',
    '2',
    file,
  ]);

function serviceDir(tracks: Array<[string, number, number]>, start = '+3') {
  const dir = tempDir('jas-svc-');
  for (const [name, hz, secs] of tracks) tone(join(dir, name), hz, secs);
  writeFileSync(join(dir, 'list.m3u8'), '#EXTM3U\n' + tracks.map(([n]) => `${n}\n`).join(''));
  const config = (s: string) =>
    [
      '[hardware]',
      'mode = "simulated"',
      '[schedule]',
      `start = "${s}"`,
      '[playlist]',
      'path = "list.m3u8"',
      '[audio]',
      'output = "wav"',
      'wav_path = "out.wav"',
      '[service]',
      'state_dir = "state"',
      'runtime_dir = "run"',
      '',
    ].join('\n');
  writeFileSync(join(dir, 'c.toml'), config(start));
  return { dir, config, cfg: join(dir, 'c.toml') };
}

/** The status as `status --json` prints it, read in-process (one CLI start per test is enough). */
const status = async (cfg: string) => {
  try {
    const json = (await readStatus(join(cfg, '..', 'run', 'status.sock'))) as {
      clock: { state: string; source: string };
      playback?: { state: string; track?: number };
      schedule?: { note?: string; decision?: string };
      health: { problems: string[] };
    };
    return { code: 0, stderr: '', json };
  } catch (e) {
    return { code: 1, stderr: (e as Error).message, json: undefined };
  }
};

test('run --service: status over the socket, idle after a one-off start, SIGHUP keeps a good config over a broken one, SIGTERM ends it', async (t) => {
  const { dir, config, cfg } = serviceDir([['a.flac', 440, 1.5]]);
  const svc = spawnCli(['run', '--service', '--config', cfg]);
  try {
    await svc.waitFor(/status: jaudiosync status \(socket .*run\/status\.sock\)/);
    await svc.waitFor(/start instant: started on time/);
    const playing = await status(cfg);
    t.is(playing.code, 0, playing.stderr);
    t.is(playing.json!.clock.source, 'gps+pps');
    t.regex(playing.json!.schedule?.decision ?? '', /started on time/);
    await svc.waitFor(/nothing more is scheduled/);
    t.is((await status(cfg)).json!.playback?.state, 'idle');
    const human = await runCli(['status', '--config', cfg]);
    t.regex(human.stdout, /clock\s+SIMULATED locked on gps\+pps/, 'a lock on the twins says so');

    writeFileSync(cfg, config('+1') + '[audio]\nvolume_db = "loud"\n');
    svc.child.kill('SIGHUP');
    await svc.waitFor(/SIGHUP: the config could not be reloaded, keeping the running one/);
    const after = await status(cfg);
    t.is(after.code, 0, 'still serving');
    t.true(
      after.json!.health.problems.some((p) => /could not be reloaded/.test(p)),
      JSON.stringify(after.json!.health),
    );

    // Relative starts are resolved once per process: a new one (another text) plays again.
    writeFileSync(cfg, config('+2'));
    const placedBefore = svc.output.match(new RegExp(PLAYING.source, 'g'))!.length;
    svc.child.kill('SIGHUP');
    await svc.waitFor(/SIGHUP: .*c\.toml reloaded/);
    await svc.waitFor(new RegExp(`((${PLAYING.source})[\\s\\S]*){${placedBefore + 1}}`));
    t.pass('the reloaded config played again');

    svc.child.kill('SIGTERM');
    t.is(await svc.exited, 0, svc.output);
    t.false(existsSync(join(dir, 'run', 'status.sock')), 'the socket is removed');
  } finally {
    svc.child.kill('SIGKILL');
  }
});

test('SIGTERM while playing fades out over half a second instead of stopping on a click', async (t) => {
  const { dir, cfg } = serviceDir([['long.flac', 330, 20]]);
  const svc = spawnCli(['run', '--service', '--config', cfg]);
  try {
    await svc.waitFor(PLAYING);
    await new Promise((r) => setTimeout(r, 1500));
    svc.child.kill('SIGTERM');
    t.is(await svc.exited, 0, svc.output);
    const wav = readWav16(readFileSync(join(dir, 'out.wav')));
    let last = wav.frames - 1;
    while (last > 0 && wav.data.readInt16LE(last * 4) === 0) last--;
    const peak = (from: number, to: number) => {
      let m = 0;
      for (let f = Math.max(0, from); f < to; f++) m = Math.max(m, Math.abs(wav.data.readInt16LE(f * 4)));
      return m;
    };
    const full = peak(last - 48000, last - 30000); // before the fade
    const mid = peak(last - 12500, last - 11500); // about half-way through it
    const end = peak(last - 1000, last + 1);
    t.true(full > 10000, `full level before the fade: ${full}`); // 0.5 of full scale, -3 dB for mono to stereo
    t.true(mid < full * 0.8 && mid > full * 0.2, `half-way through the fade: ${mid} of ${full}`);
    t.true(end < full * 0.1, `the last millisecond is nearly silent: ${end}`);
  } finally {
    svc.child.kill('SIGKILL');
  }
});

test('--resume starts at the track that was playing when the service stopped', async (t) => {
  const { dir, cfg } = serviceDir([
    ['a.flac', 300, 1],
    ['b.flac', 600, 8],
    ['c.flac', 900, 1],
  ]);
  const first = spawnCli(['run', '--config', cfg]);
  await first.waitFor(/now playing 2\/3/);
  first.child.kill('SIGTERM');
  await first.exited;
  const saved = JSON.parse(readFileSync(join(dir, 'state', 'resume.json'), 'utf8')) as {
    track: number;
    playlist: string;
  };
  t.is(saved.track, 2);
  const again = spawnCli(['run', '--resume', '--config', cfg]);
  await again.waitFor(/--resume: from track 2/);
  await again.waitFor(/now playing 1\/2: b\.flac/);
  again.child.kill('SIGTERM');
  t.is(await again.exited, 0, again.output);
});

test('kill -9 at random moments while state is written: the file always parses (many runs)', async (t) => {
  const dir = tempDir('jas-kill-');
  const path = join(dir, 'resume.json');
  // A writer that rewrites the state file as fast as it can, each time a little longer.
  const script = `import { writeFileAtomic } from ${JSON.stringify(join(process.cwd(), 'src/util/files.ts'))};
let n = 0; for (;;) { n++; await writeFileAtomic(${JSON.stringify(path)}, JSON.stringify({ v: 1, track: n, pad: 'x'.repeat(n % 5000) }) + '\\n'); if (n === 1) process.stdout.write('go\\n'); await new Promise((r) => setTimeout(r, 1)); }`;
  // (A millisecond between writes: hundreds of writes per run, without hogging a core the audio tests beside it need.)
  writeFileSync(join(dir, 'writer.mts'), script);
  let runs = 0,
    sawWrites = 0;
  for (let i = 0; i < 25; i++) {
    const child = spawn(process.execPath, ['--import', 'tsx', join(dir, 'writer.mts')], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    // Killed at a random moment once it is writing.
    await new Promise((r) => child.stdout.once('data', r));
    await new Promise((r) => setTimeout(r, Math.random() * 200));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    runs++;
    if (!existsSync(path)) continue;
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as { track: number };
    t.true(parsed.track >= 1);
    sawWrites++;
  }
  t.is(runs, 25);
  t.is(sawWrites, 25);
});
