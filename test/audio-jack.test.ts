import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_DIR } from '../src/service/config.js';
import { onsetRealtimeNs, readStampedRecording } from '../src/sim/jack-stamps.js';
import { frameRealtimeNs, pulseOnsets, readScheduledRecording } from '../src/sim/jack-schedule.js';
import { decodeFile } from '../src/player/decoder.js';
import { findFfmpeg } from '../src/player/ffmpeg.js';
import { playerPorts, startAudioRig } from './helpers/audio-rig.js';
import { readWav16, runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';
import { simTruth } from './helpers/sim-truth.js';

/**
 * The real audio path: jaudiosync plays a short track through audify -> ALSA -> the ALSA jack
 * plugin -> a JACK server (dummy driver), and jack_rec records the player's JACK ports. The recording
 * must hold the track itself: the right samples, the right length within one period.
 */

const ffmpeg = findFfmpeg().path;
const PERIOD = 1024; // the default audio.period_frames

// Serial: both tests use the one JACK server; running them at once would mix their ports.
test.serial('audify really plays a track through ALSA into JACK', async (t) => {
  const rig = startAudioRig();
  t.teardown(() => rig.stop());
  const dir = tempDir('jas-jack-');
  execFileSync(ffmpeg, [
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'aevalsrc=0.5*sin(2*PI*440*t+1)|0.3*sin(2*PI*550*t+2):s=48000:d=1.5',
    join(dir, 'tone.flac'),
  ]);
  writeFileSync(join(dir, 'list.m3u8'), '#EXTM3U\ntone.flac\n');
  writeFileSync(
    join(dir, 'config.toml'),
    [
      '[hardware]',
      'mode = "simulated"',
      '[schedule]',
      'start = "+2.5"',
      '[playlist]',
      'path = "list.m3u8"',
      '[audio]',
      'output = "alsa"',
    ].join('\n'),
  );

  let saidSoFar = '';
  const player = runCli(['run', '--config', join(dir, 'config.toml')], {
    env: { HOME: rig.home },
    onOutput: (text) => (saidSoFar += text),
  });
  let playerDone = false;
  const markDone = () => (playerDone = true);
  void player.then(markDone, markDone); // a rejection (its timeout) is the later `await player`'s to report
  // The player's JACK ports appear when it opens the stream (before the start instant): record them.
  let ports: string[] = [];
  const deadline = Date.now() + 30_000;
  while (ports.length < 2 && !playerDone && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    ports = playerPorts();
  }
  if (ports.length < 2) {
    // Say why: what the player printed (it may have ended, or not opened ALSA), and JACK's own log.
    const ended = playerDone ? await player : undefined;
    const jackLog = readFileSync(join(rig.dir, 'jackd.log'), 'utf8').slice(-1500);
    const said = ended
      ? `it exited ${ended.code}:\n${ended.stdout}${ended.stderr}`
      : `it was still running after 30 s, having said:\n${saidSoFar}`;
    t.fail(
      `the player opened no JACK client through ALSA (ports: ${ports.join(', ') || 'none'}); ${said}\njackd.log:\n${jackLog}`,
    );
    return;
  }
  const recPath = join(dir, 'rec.wav');
  t.log(recPath);
  // A large ring buffer (-B) so that the recorder's disk thread never drops a period on a busy machine.
  // 16 s from the stream's opening: the start is 2.5 s after the clock locks, which took up to ~10 s
  // under CI's load (jack_rec killed early leaves no readable file, so it records a fixed length).
  const rec = spawn('jack_rec', ['-f', recPath, '-d', '16', '-b', '16', '-B', '1048576', ...ports.slice(0, 2)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let recErr = '';
  rec.stderr.on('data', (d) => {
    recErr += d;
  });
  const recDone = new Promise<number | null>((resolve) => rec.on('close', resolve));
  const r = await player;
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /first sample placed on ALSA "Default ALSA Device"/);
  await recDone;
  t.log(recErr.trim());
  const jackLog = readFileSync(join(rig.dir, 'jackd.log'), 'utf8');

  const wav = readWav16(readFileSync(recPath));
  const track = await decodeFile(ffmpeg, join(dir, 'tone.flac'), { sampleRate: 48000, channels: 2 });
  const heard: Pcm = { data: wav.data, frames: wav.frames };
  const trk: Pcm = { data: track.pcm, frames: track.frames };
  let first = -1,
    last = -1;
  for (let f = 0; f < heard.frames; f++) {
    if (sample(heard, f, 0) !== 0 || sample(heard, f, 1) !== 0) {
      if (first < 0) first = f;
      last = f;
    }
  }
  t.true(first >= 0, `the recording is not silence; the player said:\n${r.stdout}`);
  // What the player said moved the music (each may leave a jump in the recording), and whether JACK
  // had an xrun that explains a moved device grid (a grid move with none would be a false alarm).
  const said = r.stdout.split('\n').filter((l) => /queue gap|device xrun|periods come up to|re-seeked/.test(l));
  const saidFrames = said.reduce((sum, l) => sum + reportedShiftFrames(l), 0);
  const gridMoves = said.filter((l) => /periods come up to/.test(l)).length;
  // JACK's own driver restarting its schedule, or the player's client late (never the recorder's).
  const jackXruns = jackLog
    .split('\n')
    .filter((l) => /JackTimedDriver::Process XRun|XRun: client (?:= )?(?!jackrec)/.test(l)).length;
  t.log(
    `the player said ${said.length ? said.join('; ') : 'nothing moved'}; JACK logged ${jackXruns} xrun(s) not the recorder's`,
  );
  t.true(gridMoves === 0 || jackXruns > 0, `a grid move with no JACK xrun behind it:\n${said.join('\n')}`);

  const heardFrames = last - first + 1;
  t.true(
    Math.abs(heardFrames - track.frames) <= PERIOD + saidFrames,
    `heard ${heardFrames} frames, track has ${track.frames}`,
  );
  // The first sample exactly; then the track itself, window by window.
  t.is(sample(heard, first, 0), sample(trk, 0, 0), 'timeline frame 0 is not interpolated');
  const fit = followTrack(heard, first, trk);
  t.true(
    fit.jumps <= said.length && fit.unmatched <= said.length,
    `${fit.jumps} jump(s) and ${fit.unmatched} window(s) unlike the track (worst correlation ${fit.worst.toFixed(4)}), ` +
      `the player said ${said.length} thing(s) moved the music:\n${r.stdout
        .split('\n')
        .filter((l) => /underrun|re-seek|re-placed|sync|warning/.test(l))
        .slice(-8)
        .join('\n')}`,
  );
});

interface Pcm {
  data: Buffer;
  frames: number;
}
const sample = (p: Pcm, f: number, c: number) => p.data.readInt16LE((f * 2 + c) * 2);

/** Frames a player's message says the music moved by (a gap's periods, a grid move's bound), else 0. */
function reportedShiftFrames(line: string): number {
  const gap = /queue gap: (\d+) period/.exec(line);
  if (gap) return Number(gap[1]) * PERIOD;
  const moved = /periods come up to ([\d.]+) ms/.exec(line);
  if (moved) return Math.ceil((Number(moved[1]) / 1e3) * 48000);
  return 0;
}

/** Correlation of the recording from `recFrom` with the track from `trackFrom`, over `n` frames. */
function correlation(rec: Pcm, recFrom: number, track: Pcm, trackFrom: number, n: number): number {
  let sxy = 0,
    sxx = 0,
    syy = 0;
  for (let f = 0; f < n; f++) {
    for (const c of [0, 1]) {
      const x = sample(rec, recFrom + f, c),
        y = sample(track, trackFrom + f, c);
      sxy += x * y;
      sxx += x * x;
      syy += y * y;
    }
  }
  return sxx && syy ? sxy / Math.sqrt(sxx * syy) : 0;
}

/**
 * Follows the track through the recording in 0.1 s windows. The aligner may resample (up to 1000 ppm
 * while it corrects: ≤ 4.8 frames across a window), so each window is matched within a few frames of
 * the last one's shift; a lost, repeated or skipped stretch shifts the rest further and decorrelates
 * it. Such a window is searched over one common period of the tones (440 and 550 Hz repeat every
 * 1/110 s, so any shift shows modulo it): found elsewhere it is a jump; found nowhere (a window
 * across a jump, or silence) it is unmatched.
 */
function followTrack(rec: Pcm, first: number, track: Pcm): { jumps: number; unmatched: number; worst: number } {
  const WINDOW = 4800,
    MIN_CORRELATION = 0.9,
    DRIFT_FRAMES = 6,
    HALF_TONE_PERIOD = Math.ceil(48000 / 110 / 2);
  let shift = 0,
    jumps = 0,
    unmatched = 0,
    worst = 1;
  const usable = (w: number, s: number) =>
    w + s >= 0 && w + s + WINDOW <= track.frames && first + w + WINDOW <= rec.frames;
  const bestNear = (w: number, around: number, reach: number) => {
    let best = { c: -Infinity, s: around };
    for (let s = around - reach; s <= around + reach; s++) {
      if (!usable(w, s)) continue;
      const c = correlation(rec, first + w, track, w + s, WINDOW);
      if (c > best.c) best = { c, s };
    }
    return best;
  };
  for (let w = HALF_TONE_PERIOD; w + WINDOW + HALF_TONE_PERIOD <= track.frames; w += WINDOW) {
    if (!usable(w, shift)) break;
    const near = bestNear(w, shift, DRIFT_FRAMES);
    let found = near;
    if (near.c < MIN_CORRELATION) {
      found = bestNear(w, shift, HALF_TONE_PERIOD);
      if (found.c >= MIN_CORRELATION) jumps++;
      else unmatched++;
    }
    worst = Math.min(worst, found.c);
    if (found.c >= MIN_CORRELATION) shift = found.s;
  }
  return { jumps, unmatched, worst };
}

/** A stereo track made by ffmpeg from a lavfi source expression. */
function stereoTrack(lavfi: string, path: string): void {
  execFileSync(findFfmpeg().path, ['-loglevel', 'error', '-f', 'lavfi', '-i', lavfi, '-ac', '2', path]);
}

/**
 * Two players, same start instant, each through ALSA into its own ports of one JACK recorder that
 * timestamps every cycle (bench/jack-rec-stamped.c, built here). Their onsets must agree within
 * 1 ms, and each must land near the scheduled instant (within the JACK path's own latency).
 */
test.serial('two players with the same start instant start together on the real audio path', async (t) => {
  const build = tempDir('jas-recb-');
  const rec = join(build, 'jack-rec-stamped');
  execFileSync('cc', ['-O2', '-o', rec, join(PACKAGE_DIR, 'bench', 'jack-rec-stamped.c'), '-ljack']);
  const rig = startAudioRig();
  t.teardown(() => rig.stop());
  const dir = tempDir('jas-two-');
  stereoTrack('aevalsrc=0.5*sin(2*PI*1000*t+1):s=48000:d=0.3', join(dir, 'click.flac'));
  writeFileSync(join(dir, 'list.m3u8'), 'click.flac\n');
  /** One pair of players into the recorder: their onsets against the scheduled instant (µs). */
  let said: string[] = [];
  const pair = async (attempt: number): Promise<number[]> => {
    const prefix = join(dir, `rec${attempt}`);
    // It records 25 s and exits by itself: the players take 15 s to the start and a few to exit.
    const recorder = spawn(rec, ['stamprec', '4', '25', prefix], { stdio: ['ignore', 'pipe', 'pipe'] });
    // Listened to from the start: a recorder that ended before the players did must not hang the test.
    const recorderClosed = new Promise((r) => recorder.on('close', r));
    let recErr = '';
    recorder.stderr.on('data', (d) => (recErr += d));
    // Ready when it prints; a recorder that cannot join JACK exits instead: say so, never hang.
    const ready = await Promise.race([
      new Promise<boolean>((r) => recorder.stdout.once('data', () => r(true))),
      new Promise<boolean>((r) => recorder.once('exit', () => r(false))),
      new Promise<boolean>((r) => setTimeout(() => r(false), 30_000).unref()),
    ]);
    if (!ready) {
      recorder.kill('SIGKILL');
      const jackLog = existsSync(join(rig.dir, 'jackd.log')) ? readFileSync(join(rig.dir, 'jackd.log'), 'utf8') : '';
      throw new Error(
        `the JACK recorder did not start: ${recErr.trim() || 'no output in 30 s'}\njackd.log:\n${jackLog.slice(-2000)}`,
      );
    }
    // Far enough ahead that both players are ready (from source, cold clock, other tests running
    // beside this one): a player still locking at the instant would join late and cut the click.
    const startMs = Date.now() + 15_000;
    const at = new Date(startMs).toISOString();
    // Both players' twins share one truth, the judge's too (a system clock step meanwhile moves none).
    const truth = simTruth();
    const players = [1, 2].map((n) => {
      const home = join(dir, `p${n}-${attempt}`);
      mkdirSync(home);
      writeFileSync(
        join(home, '.asoundrc'),
        `pcm.!default { type plug slave.pcm "j" }\npcm.j { type jack playback_ports { 0 stamprec:in_${2 * n - 1} 1 stamprec:in_${2 * n} } }\nctl.!default { type pulse server "unix:${join(rig.dir, 'pulse.sock')}" }\n`,
      );
      writeFileSync(
        join(home, 'c.toml'),
        `[hardware]\nmode = "simulated"\n[schedule]\nstart = "${at}"\n[playlist]\npath = "${join(dir, 'list.m3u8')}"\n`,
      );
      return runCli(['run', '--config', join(home, 'c.toml')], { env: { HOME: home, ...truth.env } });
    });
    const results = await Promise.all(players);
    // What each player said moved its timing (for a failure's message).
    said = results
      .map((r, k) =>
        r.stdout
          .split('\n')
          .filter((l) => /periods come up to|stepped|re-placed|xrun|queue gap|warning/.test(l))
          .map((l) => `player ${k + 1}: ${l}`),
      )
      .flat();
    for (const r of results) t.is(r.code, 0, r.stdout + r.stderr);
    for (const r of results) t.notRegex(r.stdout, /joined late/, `a player was not ready in time:\n${r.stdout}`);
    recorder.kill('SIGTERM');
    await recorderClosed;
    t.true(existsSync(`${prefix}.stamps`));
    const recording = readStampedRecording(prefix);
    // The recorder read CLOCK_MONOTONIC − CLOCK_REALTIME beside its map line: onsets on the monotonic clock.
    const monoMinusRtNs = BigInt(/^monominusrealtime (-?\d+)/m.exec(readFileSync(`${prefix}.meta`, 'utf8'))![1]!);
    const onsetsUs = [0, 1].map((p) => {
      const at = onsetRealtimeNs(recording, 2 * p);
      if (at === undefined) return NaN;
      return Number(truth.utcOfMono(at + monoMinusRtNs) - BigInt(startMs) * 1_000_000n) / 1000;
    });
    t.log(`start errors: ${onsetsUs.map((u) => `${(u / 1000).toFixed(3)} ms`).join(', ')}`);
    t.false(onsetsUs.some(Number.isNaN), 'both players were heard');
    return onsetsUs;
  };
  let onsetsUs = await pair(1);
  // The ALSA jack plugin sometimes holds one more JACK cycle at a stream's start (a phase RtAudio
  // cannot report: its latency is static); bench/start-error.ts shows it as a run 5.3 ms late.
  // One player a cycle behind the other is that (CI saw 5.004 and 10.025 ms: a cycle less 312 µs),
  // and once two cycles (15.905 and 5.239 ms, CI 2026-12-04 with the clock being stepped beside it;
  // the late player found its periods 10.7 ms later than learned 0.26 s in and re-placed): measured
  // once more, it must agree.
  const cycleUs = (256 / 48_000) * 1e6;
  const apartUs = Math.abs(onsetsUs[0]! - onsetsUs[1]!);
  const cycles = Math.round(apartUs / cycleUs);
  // "About": the players' own start error (≤ 1 ms, what is checked) rides on the cycles.
  if ((cycles === 1 || cycles === 2) && Math.abs(apartUs - cycles * cycleUs) < 1000) {
    t.log(
      `one player ${cycles} JACK cycle(s) behind the other (${onsetsUs.map((u) => (u / 1000).toFixed(3)).join(', ')} ms): the plugin's start phase; once more${said.length ? `; they said: ${said.join(' / ')}` : ''}`,
    );
    onsetsUs = await pair(2);
  }
  t.true(
    Math.abs(onsetsUs[0]! - onsetsUs[1]!) < 1000,
    `onsets agree within 1 ms; the players said: ${said.join('\n') || 'nothing of their timing'}`,
  );
  // The JACK path adds its own latency (a period or two); a player off by a period of ours (21 ms) fails.
  for (const u of onsetsUs) t.true(u > -2000 && u < 15_000, `start error ${u} µs`);
});

/**
 * JACK's dummy driver, stopped for longer than two periods (jackd sent SIGSTOP for 60 ms), restarts its
 * schedule that much later: JACK's clients are told (the recorder anchors anew), the ALSA jack plugin
 * tells ALSA nothing. The player must find it from its callbacks, say so, and put the music back on
 * its instants: every click from 0.6 s after the stop lands where the first click says it should (a
 * player that missed it plays the rest of the track 40-60 ms late; one that took a second to find it,
 * the next two clicks).
 */
test.serial(
  "JACK's driver restarting its schedule mid-track: the player says so and the later clicks land on their instants",
  async (t) => {
    const build = tempDir('jas-recb-');
    const rec = join(build, 'jack-rec-stamped');
    execFileSync('cc', ['-O2', '-o', rec, join(PACKAGE_DIR, 'bench', 'jack-rec-stamped.c'), '-ljack']);
    // At the period the benches measure at (the thresholds were chosen there), realtime where allowed.
    const rig = startAudioRig({ periodFrames: 1024 });
    t.teardown(() => rig.stop());
    const pidFile = join(rig.dir, 'jackd.pid');
    if (!existsSync(pidFile))
      throw new Error(`no ${pidFile}: this test stops the rig's own jackd, and it did not start one`);
    const jackPid = Number(readFileSync(pidFile, 'utf8'));
    const dir = tempDir('jas-stall-');
    const CLICK_EVERY_S = 0.5,
      TRACK_S = 8,
      STOP_AT_S = 3.3,
      STOP_MS = 60,
      // Found in 8 callbacks (0.17 s), re-placed, and the audio already queued for the device played out.
      FOUND_WITHIN_S = 0.6;
    stereoTrack(
      `aevalsrc=0.5*lt(mod(n\\,${48_000 * CLICK_EVERY_S})\\,96):s=48000:d=${TRACK_S}`,
      join(dir, 'clicks.flac'),
    );
    writeFileSync(join(dir, 'list.m3u8'), 'clicks.flac\n');
    /**
     * One player, one stop: what it said, and each click's distance from where the clicks belong. JACK's
     * driver also restarts on its own now and then (the recorder is told of each, with its frame).
     */
    const once = async (n: number) => {
      const prefix = join(dir, `rec${n}`);
      const recorder = spawn(rec, ['stamprec', '2', '40', prefix], { stdio: ['ignore', 'pipe', 'inherit'] });
      const recorderClosed = new Promise((r) => recorder.on('close', r));
      const ready = await Promise.race([
        new Promise<boolean>((r) => recorder.stdout.once('data', () => r(true))),
        new Promise<boolean>((r) => recorder.once('exit', () => r(false))),
        new Promise<boolean>((r) => setTimeout(() => r(false), 30_000).unref()),
      ]);
      t.true(ready, 'the JACK recorder started');
      const startMs = Date.now() + 15_000;
      const home = join(dir, `p${n}`);
      mkdirSync(home);
      writeFileSync(
        join(home, '.asoundrc'),
        `pcm.!default { type plug slave.pcm "j" }\npcm.j { type jack playback_ports { 0 stamprec:in_1 1 stamprec:in_2 } }\nctl.!default { type pulse server "unix:${join(rig.dir, 'pulse.sock')}" }\n`,
      );
      writeFileSync(
        join(home, 'c.toml'),
        `[hardware]\nmode = "simulated"\n[schedule]\nstart = "${new Date(startMs).toISOString()}"\n[playlist]\npath = "${join(dir, 'list.m3u8')}"\n`,
      );
      const player = runCli(['run', '--config', join(home, 'c.toml')], { env: { HOME: home } });
      let stoppedAtS = NaN; // when it really was stopped: a timer on a busy machine comes late
      const stop = setTimeout(
        () => {
          stoppedAtS = (Date.now() - startMs) / 1000;
          process.kill(jackPid, 'SIGSTOP');
          const until = performance.now() + STOP_MS;
          while (performance.now() < until); // a timer could lengthen the stop
          process.kill(jackPid, 'SIGCONT');
        },
        startMs + STOP_AT_S * 1000 - Date.now(),
      );
      const r = await player;
      clearTimeout(stop);
      recorder.kill('SIGTERM');
      await recorderClosed;
      t.is(r.code, 0, r.stdout + r.stderr);
      const recording = readScheduledRecording(prefix, { splitAtXruns: true });
      const onNs = pulseOnsets(recording, 0).map((f) => frameRealtimeNs(recording, f));
      const xrunsS = recording.xrunFrames.map((f) => (frameRealtimeNs(recording, f) - startMs * 1e6) / 1e9);
      // JACK's own restarts (not the stop's) from shortly before the start to the track's end.
      const ownXrunsS = xrunsS.filter((x) => !(Math.abs(x - stoppedAtS) <= 0.3) && x > -2 && x < TRACK_S);
      return { r, onNs, stoppedAtS, stopXrun: xrunsS.some((x) => Math.abs(x - stoppedAtS) <= 0.3), ownXrunsS };
    };
    let m = await once(1);
    if (m.ownXrunsS.length > 0) {
      t.log(`JACK's driver restarted on its own at ${m.ownXrunsS.map((x) => x.toFixed(2)).join(', ')} s: once more`);
      m = await once(2);
    }
    const said = m.r.stdout.split('\n').filter((l) => /periods come up to|re-placed/.test(l));
    t.log(`the player said: ${said.join(' / ') || 'nothing'}`);
    t.regex(
      m.r.stdout,
      /periods timed by the audio thread/,
      'the player was timed by the audio thread (npm ci builds audify so)',
    );
    t.true(m.stopXrun, `the stop (at ${m.stoppedAtS.toFixed(2)} s) restarted JACK's schedule (the recorder was told)`);
    t.true(
      said.some((l) => /periods come up to (\d+\.\d) ms later/.test(l)),
      `the player did not say its periods moved:\n${m.r.stdout}`,
    );
    t.is(m.onNs.length, TRACK_S / CLICK_EVERY_S, `clicks heard: ${m.onNs.length}`);
    // A click within 1.5 s after one of JACK's own restarts may still be on the old grid (a move under
    // 8 ms is found in a second), as the player's log then says: left out.
    const clicks = m.onNs.map((ns, k) => ({
      k,
      ns,
      sinceStopS: k * CLICK_EVERY_S - m.stoppedAtS,
      afterOwnXrun: m.ownXrunsS.some((x) => k * CLICK_EVERY_S >= x && k * CLICK_EVERY_S < x + 1.5),
    }));
    // Where the clicks belong: the median of each one's offset from its place on the timeline.
    const offsets = clicks.filter((c) => !c.afterOwnXrun).map((c) => c.ns - c.k * CLICK_EVERY_S * 1e9);
    const placeNs = [...offsets].sort((a, b) => a - b)[offsets.length >> 1]!;
    const devUs = clicks.map((c) => (c.ns - c.k * CLICK_EVERY_S * 1e9 - placeNs) / 1e3);
    t.log(
      `each click against where the clicks belong (µs): ${devUs.map((d) => d.toFixed(0)).join(' ')}; JACK's own restarts at ${m.ownXrunsS.map((x) => x.toFixed(2)).join(', ') || 'none'} s`,
    );
    for (const c of clicks) {
      if (c.afterOwnXrun || (c.sinceStopS >= 0 && c.sinceStopS < FOUND_WITHIN_S)) continue;
      const d = devUs[c.k]!;
      t.true(
        Math.abs(d) < 1000,
        `click ${c.k} (${c.sinceStopS.toFixed(1)} s after the stop) is ${d.toFixed(0)} µs off`,
      );
    }
  },
);
