import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFfmpeg } from '../src/player/ffmpeg.js';
import { PACKAGE_DIR } from '../src/service/config.js';
import { startAudioRig } from './helpers/audio-rig.js';
import { runCli } from './helpers/cli.js';

/**
 * Two players, same start instant, each through ALSA into its own ports of one JACK recorder that
 * timestamps every cycle (bench/jack-rec-stamped.c, built here). Their onsets must agree within
 * 1 ms, and each must land near the scheduled instant (within the JACK path's own latency).
 */
test('two players with the same start instant start together on the real audio path', async (t) => {
  const build = mkdtempSync(join(tmpdir(), 'jas-recb-'));
  const rec = join(build, 'jack-rec-stamped');
  execFileSync('cc', ['-O2', '-o', rec, join(PACKAGE_DIR, 'bench', 'jack-rec-stamped.c'), '-ljack']);
  const rig = startAudioRig();
  t.teardown(() => rig.stop());
  const dir = mkdtempSync(join(tmpdir(), 'jas-two-'));
  execFileSync(findFfmpeg().path, ['-loglevel', 'error', '-f', 'lavfi', '-i', 'aevalsrc=0.5*sin(2*PI*1000*t+1):s=48000:d=0.3', '-ac', '2', join(dir, 'click.flac')]);
  writeFileSync(join(dir, 'list.m3u8'), 'click.flac\n');
  const prefix = join(dir, 'rec');
  const recorder = spawn(rec, ['stamprec', '4', '16', prefix], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((r) => recorder.stdout.once('data', () => r()));
  const startMs = Date.now() + 8000;
  const at = new Date(startMs).toISOString();
  const players = [1, 2].map((n) => {
    const home = join(dir, `p${n}`);
    mkdirSync(home);
    writeFileSync(join(home, '.asoundrc'), `pcm.!default { type plug slave.pcm "j" }\npcm.j { type jack playback_ports { 0 stamprec:in_${2 * n - 1} 1 stamprec:in_${2 * n} } }\nctl.!default { type pulse server "unix:${join(rig.dir, 'pulse.sock')}" }\n`);
    writeFileSync(join(home, 'c.toml'), `[hardware]\nmode = "simulated"\n[schedule]\nstart = "${at}"\n[playlist]\npath = "${join(dir, 'list.m3u8')}"\n`);
    return runCli(['run', '--config', join(home, 'c.toml')], { env: { HOME: home } });
  });
  const results = await Promise.all(players);
  for (const r of results) t.is(r.code, 0, r.stdout + r.stderr);
  recorder.kill('SIGTERM');
  await new Promise((r) => recorder.on('close', r));
  t.true(existsSync(`${prefix}.stamps`));
  const lines = readFileSync(`${prefix}.stamps`, 'utf8').trim().split('\n');
  const [, mapJack, mapRt] = /^map (\d+) (\d+\.\d+)/.exec(lines[1]!)!;
  const stamps = lines.slice(2).map((l) => l.split(' ').map(Number) as [number, number]);
  const f32 = readFileSync(`${prefix}.f32`);
  const data = new Float32Array(f32.buffer, f32.byteOffset, f32.length / 4);
  const onsetsUs = [0, 1].map((p) => {
    let onset = -1;
    for (let f = 0; f < data.length / 4; f++) if (Math.abs(data[f * 4 + 2 * p]!) > 1e-4) { onset = f; break; }
    if (onset < 0) return NaN;
    let c = 0;
    while (c + 1 < stamps.length && stamps[c + 1]![0] <= onset) c++;
    const jackUs = stamps[c]![1] + ((onset - stamps[c]![0]) / 48000) * 1e6;
    return Number(mapRt) * 1e6 + (jackUs - Number(mapJack)) - startMs * 1000;
  });
  t.log(`start errors: ${onsetsUs.map((u) => `${(u / 1000).toFixed(3)} ms`).join(', ')}`);
  t.false(onsetsUs.some(Number.isNaN), 'both players were heard');
  t.true(Math.abs(onsetsUs[0]! - onsetsUs[1]!) < 1000, 'onsets agree within 1 ms');
  // The JACK path adds its own latency (a period or two); a player off by a period of ours (21 ms) fails.
  for (const u of onsetsUs) t.true(u > -2000 && u < 15_000, `start error ${u} µs`);
});
