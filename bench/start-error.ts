// Start error and in-track stability on the real audio path: two jaudiosync players -> audify -> ALSA
// -> the ALSA jack plugin -> JACK (dummy driver, -R, period 1024), and beside them a JACK-native
// reference click generator (bench/jack-click-ref.c) on a spare port: the reference that cannot
// move. A recorder (bench/jack-rec-stamped.c) records all three per JACK cycle and counts xruns
// (jack_set_xrun_callback). Time comes from the driver's own schedule: the frame counter at the
// nominal rate, anchored at the earliest callback of each xrun-free segment (not JACK's DLL).
//
// The track is a click every second (a 2 ms pulse at 0.5). Per player and run: the start error (the
// first click's onset against the scheduled instant, on the system clock, which is the simulated
// GPS's truth), and the in-track deviation (each later click's onset from the first's, against
// whole seconds). A run where the rig failed is invalid: its reference read more than REF_MAX_US off
// (JACK's driver late restarts its schedule, a recorder late for its cycles: said with the run from
// JACK's log, which names the late client), a click not heard, or a player that joined late; it is
// reported and repeated (up to twice the runs asked for). A player's own JACK client being late, or a
// driver restart the reference read through, is what the players must survive: the run counts.
//
// Loads (--load): idle; cpu = two busy loops at the bench's priority (stress-ng --cpu 2 when
// installed); overload = the busy loops plus memory and I/O pressure (stress-ng --vm 1 --vm-bytes
// 40% --io 1 --hdd 1 in a temp folder): what an emulator VM on the same two cores did (CPU steal,
// memory and I/O pressure). JACK runs SCHED_FIFO (-R) and is not slowed by the load; the players
// compete with it as a service would.
//
// Run: node --import tsx bench/start-error.ts [--runs N] [--load idle|cpu|overload] [--clicks S]
//      [--lead S] [--keep DIR] (--lead: seconds from launching the players to the start, 10 idle / 15
//      loaded by default; a device in the field is booted and locked minutes before) [--jack-stall MS]
//      (jackd stopped MS ms mid-track in each run: its driver restarts its schedule, unreported to ALSA)
//      (needs jackd2, libjack-jackd2-dev, cc, ffmpeg; stress-ng for the loaded variants; scripts/setup.sh --test)
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_DIR } from '../src/service/config.js';
import { frameRealtimeNs, pulseOnsets, readScheduledRecording } from '../src/sim/jack-schedule.js';

const args = process.argv.slice(2);
const opt = (name: string, d: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1]! : d;
};
const runs = Number(opt('--runs', '20'));
const load = opt('--load', 'idle') as 'idle' | 'cpu' | 'overload';
const clicks = Number(opt('--clicks', '20'));
const keepDir = args.includes('--keep') ? opt('--keep', '') : '';
if (keepDir) mkdirSync(keepDir, { recursive: true });
const RATE = 48_000,
  PERIOD = 1024,
  PULSE_FRAMES = 96;
/**
 * Start this far ahead (s): ≥ 3 s, and enough for two players to start, decode and lock (more under
 * load). Each player keeps its state folder across runs, as a device does across rides: from the
 * second run on it starts with the DAC rate its last run saved.
 */
const LEAD_SEC = Number(opt('--lead', load === 'idle' ? '10' : '15'));
/**
 * --jack-stall MS: JACK itself stopped for MS ms (SIGSTOP, then SIGCONT, to jackd) in the middle of each
 * run's track, 0.1-0.9 s after a click (uniformly): its dummy driver, late by more than a period, then
 * restarts its schedule that much later, reported to JACK's clients (the reference, the recorder) but
 * not through the ALSA jack plugin, as when it misses a deadline on its own. The players must find it
 * from their callbacks. A stop shorter than two periods (43 ms) may end inside the driver's own sleep:
 * 25 ms left the schedule alone in 9 of 10 runs here, and moved it 2.8 ms in the tenth.
 */
const JACK_STALL_MS = Number(opt('--jack-stall', '0'));
if (
  !['idle', 'cpu', 'overload'].includes(load) ||
  !(runs > 0) ||
  !(clicks >= (JACK_STALL_MS > 0 ? 4 : 2)) ||
  !(LEAD_SEC >= 3) ||
  !(JACK_STALL_MS >= 0 && JACK_STALL_MS <= 500)
) {
  console.error(
    'usage: start-error.ts [--runs N] [--load idle|cpu|overload] [--clicks S>=2, >=4 with a stall] [--lead S>=3] [--keep DIR] [--jack-stall MS<=500]',
  );
  process.exit(2);
}
const JUMP_US = 1000;
/**
 * The rig held when its JACK-native reference reads within this of its schedule (µs; idle it reads ~20-40):
 * a quarter of a jump, so a player's jump is never the rig's. Past it the run is invalid and repeated.
 */
const REF_MAX_US = 250;

// ---- build the JACK clients ----
const build = join(PACKAGE_DIR, 'bench', 'build');
mkdirSync(build, { recursive: true });
function cc(name: string): string {
  const src = join(PACKAGE_DIR, 'bench', `${name}.c`),
    bin = join(build, name);
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs)
    execFileSync('cc', ['-O2', '-o', bin, src, '-ljack', '-lm'], { stdio: 'inherit' });
  return bin;
}
const rec = cc('jack-rec-stamped'),
  clickRef = cc('jack-click-ref');

// ---- the rig: JACK -R at period 1024 ----
const dir = mkdtempSync(join(tmpdir(), 'jas-start-'));
const rig = join(PACKAGE_DIR, 'scripts', 'audio-rig.sh');
const rigEnv = { ...process.env, RIG_PERIOD: String(PERIOD), RIG_REQUIRE_RT: '1' };
execFileSync('bash', [rig, 'start', dir], { stdio: 'inherit', env: rigEnv });
/** Every process the bench started: stopped, with the rig, when it is interrupted (Ctrl-C, SIGTERM). */
const children = new Set<ChildProcess>();
let stopping = false;
function own<C extends ChildProcess>(c: C): C {
  if (stopping) c.kill('SIGTERM');
  children.add(c);
  c.on('exit', () => children.delete(c));
  return c;
}
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.once(sig, async () => {
    stopping = true; // no further run starts
    console.error(`start-error bench: ${sig}: stopping its players, recorder, load and JACK rig`);
    // SIGTERM first: a player fades out and stops its simulated GPS and RTC as it exits; then SIGKILL.
    for (const c of children) c.kill('SIGTERM');
    for (let waitedMs = 0; children.size && waitedMs < 5000; waitedMs += 100)
      await new Promise((r) => setTimeout(r, 100));
    for (const c of children) c.kill('SIGKILL');
    execFileSync('bash', [rig, 'stop', dir]);
    rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  });
const sock = join(dir, 'pulse.sock');
// One HOME per player, each with a default PCM into its own recorder ports (the reference is in_5).
const homes = [1, 2].map((n) => {
  const home = join(dir, `player${n}`);
  mkdirSync(home, { recursive: true });
  writeFileSync(
    join(home, '.asoundrc'),
    `pcm.!default { type plug slave.pcm "j" }\npcm.j { type jack playback_ports { 0 stamprec:in_${2 * n - 1} 1 stamprec:in_${2 * n} } }\nctl.!default { type pulse server "unix:${sock}" }\n`,
  );
  return home;
});
const ffmpeg = existsSync('/usr/bin/ffmpeg') ? '/usr/bin/ffmpeg' : 'ffmpeg';
// A 2 ms pulse at 0.5 every second, starting with the first frame.
execFileSync(ffmpeg, [
  '-loglevel',
  'error',
  '-y',
  '-f',
  'lavfi',
  '-i',
  `aevalsrc=0.5*lt(mod(n\\,${RATE})\\,${PULSE_FRAMES}):s=${RATE}:d=${clicks}`,
  '-ac',
  '2',
  '-sample_fmt',
  's16',
  join(dir, 'clicks.flac'),
]);
writeFileSync(join(dir, 'list.m3u8'), 'clicks.flac\n');

// ---- load ----
const loaders: ChildProcess[] = [];
const hasStressNg = spawnSync('sh', ['-c', 'command -v stress-ng']).status === 0;
function startLoad(): string {
  if (load === 'idle') return 'no added load';
  if (load === 'overload' && !hasStressNg)
    throw new Error(
      'the overload variant needs stress-ng (apt-get install stress-ng; scripts/setup.sh --test installs it)',
    );
  const how: string[] = [];
  if (hasStressNg) {
    loaders.push(own(spawn('stress-ng', ['--cpu', '2', '--quiet'], { stdio: 'ignore' })));
    how.push('stress-ng --cpu 2');
  } else {
    for (let i = 0; i < 2; i++) loaders.push(own(spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' })));
    how.push('two shell busy loops');
  }
  if (load === 'overload') {
    const scratch = join(dir, 'stress');
    mkdirSync(scratch);
    loaders.push(
      own(
        spawn(
          'stress-ng',
          [
            '--vm',
            '1',
            '--vm-bytes',
            '40%',
            '--io',
            '1',
            '--hdd',
            '1',
            '--hdd-bytes',
            '256M',
            '--temp-path',
            scratch,
            '--quiet',
          ],
          { stdio: 'ignore' },
        ),
      ),
    );
    how.push('stress-ng --vm 1 --vm-bytes 40% --io 1 --hdd 1 (memory and I/O pressure)');
  }
  return how.join(' + ');
}
function stopLoad(): void {
  for (const p of loaders) {
    try {
      p.kill('SIGTERM');
    } catch {
      /* gone */
    }
  }
}

function runPlayer(home: string, startIso: string): Promise<{ code: number | null; out: string }> {
  writeFileSync(
    join(home, 'c.toml'),
    `[hardware]\nmode = "simulated"\n[schedule]\nstart = "${startIso}"\n[playlist]\npath = "${join(dir, 'list.m3u8')}"\n[audio]\nperiod_frames = ${PERIOD}\n`,
  );
  return new Promise((resolve) => {
    // Its own runtime folder: two players must not share one status socket.
    const c = own(
      spawn(process.execPath, [join(PACKAGE_DIR, 'bin', 'jaudiosync.js'), 'run', '--config', join(home, 'c.toml')], {
        env: { ...process.env, HOME: home, XDG_RUNTIME_DIR: home, XDG_STATE_HOME: join(home, 'state') },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    let out = '';
    c.stdout.on('data', (d) => {
      out += d;
    });
    c.stderr.on('data', (d) => {
      out += d;
    });
    c.on('close', (code) => resolve({ code, out }));
  });
}

interface Source {
  name: string;
  startUs: number;
  /** The same start on the schedule anchored at JACK's cycle times instead of the earliest callback (NaN: too few). */
  startDllUs: number;
  worstUs: number;
  devUs: number[];
}
interface RunResult {
  valid: boolean;
  why: string[];
  sources: Source[];
  /** Cycles in which JACK found a player's ALSA plugin client not finished (the player was late). */
  playerLate: number;
  /** What JACK's log and the recording say happened to the rig (xruns, missed cycles). */
  rigSaid: string[];
  /** Times JACK's driver restarted its schedule during the run (its log): each moves the device's periods. */
  driverRestarts: number;
  load1: number;
  /** Each player's starting DAC rate and its σ, as its log said ('none': nothing saved yet). */
  priors: string[];
}

/**
 * What JACK's log says went wrong since `from`: the driver itself late (its schedule restarts: the
 * recording's time base moves), one of the rig's own clients late (recorder or reference: the
 * recording may miss a cycle), or a player's client late (the player's own trouble, to be measured).
 */
function jackXruns(from: number): { driver: number; rig: number; player: number; next: number } {
  const text = readFileSync(join(dir, 'jackd.log'), 'utf8');
  const lines = text.slice(from).split('\n');
  const late = lines.map((l) => /XRun: client (?:= )?(\S+)/.exec(l)?.[1]).filter((c) => c !== undefined);
  const rig = late.filter((c) => c === 'stamprec' || c === 'clickref').length;
  return {
    driver: lines.filter((l) => /JackTimedDriver::Process XRun/.test(l)).length,
    rig,
    player: late.length - rig,
    next: text.length,
  };
}
let jackLogAt = 0;

/** --jack-stall: stops jackd for JACK_STALL_MS between two clicks in the middle of the track. */
function stallJack(startMs: number, run: number): NodeJS.Timeout {
  const jackPid = Number(readFileSync(join(dir, 'jackd.pid'), 'utf8'));
  const atMs = startMs + Math.floor(clicks / 2) * 1000 + 100 + Math.random() * 800;
  return setTimeout(() => {
    process.kill(jackPid, 'SIGSTOP');
    const until = performance.now() + JACK_STALL_MS;
    while (performance.now() < until); // a timer could add ms to the stall
    process.kill(jackPid, 'SIGCONT');
    stallsDone[run] = atMs - startMs;
  }, atMs - Date.now());
}
const stallsDone: number[] = [];

async function oneRun(i: number): Promise<RunResult> {
  const prefix = join(dir, `run${i}`);
  const recSeconds = LEAD_SEC + 1 + clicks + 3;
  const recorder = own(
    spawn(rec, ['stamprec', '5', String(recSeconds), prefix], { stdio: ['ignore', 'pipe', 'inherit'] }),
  );
  const recorderDone = new Promise((r) => recorder.on('close', r));
  await new Promise<void>((r) => recorder.stdout.once('data', () => r()));
  const startMs = Date.now() + LEAD_SEC * 1000 + Math.floor(Math.random() * 1000);
  const startNs = BigInt(startMs) * 1_000_000n;
  const ref = own(
    spawn(
      clickRef,
      ['clickref', 'stamprec:in_5', String(startNs), '1000000000', String(clicks), String(PULSE_FRAMES)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    ),
  );
  let refOut = '';
  ref.stdout.on('data', (d: Buffer) => (refOut += d.toString()));
  const refDone = new Promise((r) => ref.on('close', r));
  const startIso = new Date(startMs).toISOString();
  const stall = JACK_STALL_MS > 0 ? stallJack(startMs, i) : undefined;
  const players = await Promise.all(homes.map((h) => runPlayer(h, startIso)));
  clearTimeout(stall);
  // --keep DIR: the players' own output per run (with JAUDIOSYNC_TRACE_ALIGN=1, their per-period trace).
  if (keepDir) players.forEach((p, k) => writeFileSync(join(keepDir, `run${i + 1}-player${k + 1}.log`), p.out));
  await refDone;
  recorder.kill('SIGTERM');
  await recorderDone;
  const why: string[] = [];
  players.forEach((p, k) => {
    if (p.code !== 0) why.push(`player ${k + 1} exited ${p.code}: ${p.out.trim().split('\n').at(-1)}`);
    if (/joined late/.test(p.out)) why.push(`player ${k + 1} joined late (not ready ${LEAD_SEC} s ahead)`);
  });
  const x = jackXruns(jackLogAt);
  jackLogAt = x.next;
  // A late player does not move the driver's schedule: then one anchor holds for the whole run.
  const r = readScheduledRecording(prefix, { splitAtXruns: x.driver > 0 || x.rig > 0 });
  // What happened to the rig, said with the run; the reference's clicks decide whether it held.
  const rigSaid: string[] = [];
  if (x.driver) rigSaid.push(`${x.driver} JACK driver xrun(s) (its schedule restarted)`);
  if (x.rig) rigSaid.push(`the recorder or reference late in ${x.rig} JACK cycle(s)`);
  if (r.lateCycles) rigSaid.push(`the recorder's callback ran in a later JACK cycle ${r.lateCycles} time(s)`);
  if (r.xrunFrames.length && !x.driver && !x.rig && !x.player)
    rigSaid.push(`${r.xrunFrames.length} JACK xrun(s) its log does not explain`);
  const sources: Source[] = [];
  for (const [name, ch] of [
    ['player 1', 0],
    ['player 2', 2],
    ['reference', 4],
  ] as const) {
    const onFrames = pulseOnsets(r, ch);
    const on = onFrames.map((f) => frameRealtimeNs(r, f));
    const said = (re: RegExp) =>
      ch < 4
        ? players[ch / 2]!.out.split('\n')
            .filter((l) => re.test(l) && !/^ALSA lib|PulseAudio|capture_ports/.test(l))
            .slice(-3)
            .join(' / ')
        : '';
    // Each onset belongs to the click of its whole second after the start (latency and any jump are far below 0.5 s).
    const byClick = new Map<number, number>();
    let extra = 0;
    for (const t of on) {
      const k = Math.round((t - Number(startNs)) / 1e9);
      if (k < 0 || k >= clicks || byClick.has(k)) extra++;
      else byClick.set(k, t);
    }
    const missing = clicks - byClick.size;
    if ((missing || extra) && ch === 4) {
      why.push(`${name}: ${on.length} of ${clicks} clicks heard`);
      continue;
    }
    if (byClick.size === 0) {
      why.push(
        `${name}: no click heard${said(/warn|error|joined/i) ? ` (it said: ${said(/warn|error|joined/i)})` : ''}`,
      );
      continue;
    }
    const ks = [...byClick.keys()].sort((a, b) => a - b);
    const k0 = ks[0]!,
      t0 = byClick.get(k0)!;
    const startUs = (t0 - k0 * 1e9 - Number(startNs)) / 1000;
    const f0 = onFrames[on.indexOf(t0)]!;
    const startDllUs = (frameRealtimeNs(r, f0, 'dll') - k0 * 1e9 - Number(startNs)) / 1000;
    const devUs = ks.map((k) => (byClick.get(k)! - t0 - (k - k0) * 1e9) / 1000);
    // A click lost or doubled is the music not where it belongs: a jump, whatever the others read.
    const worstUs = missing || extra ? Infinity : Math.max(...devUs.map(Math.abs));
    if (worstUs > JUMP_US && !stopping) {
      const told = said(/gap|xrun|underrun|re-seek|re-placed|moved/i);
      console.log(
        `  ${name} jumped in run ${i + 1}: ${missing ? `${missing} click(s) lost; ` : ''}${extra ? `${extra} extra; ` : ''}${devUs.map((d) => d.toFixed(0)).join(' ')} µs${told ? `; it said: ${told}` : '; it said nothing'}`,
      );
    }
    sources.push({ name, startUs, startDllUs, devUs, worstUs });
  }
  const refRead = sources.find((x) => x.name === 'reference');
  if (refRead && (refRead.worstUs > REF_MAX_US || Math.abs(refRead.startUs) > REF_MAX_US))
    why.push(
      `the reference read ${refRead.worstUs.toFixed(0)} µs off in-track, ${refRead.startUs.toFixed(0)} µs at start: the rig's time base did not hold${rigSaid.length ? ` (${rigSaid.join('; ')})` : ''}`,
    );
  // --keep: the recorder's cycle stamps and the reference's own anchor, to take the rig's time base apart.
  if (keepDir) {
    for (const f of ['stamps', 'meta']) copyFileSync(`${prefix}.${f}`, join(keepDir, `run${i + 1}.${f}`));
    writeFileSync(join(keepDir, `run${i + 1}.reference`), refOut);
  }
  for (const f of ['f32', 'stamps', 'meta']) rmSync(`${prefix}.${f}`, { force: true });
  // The DAC rate each player started from (what its last run saved, weighed by what can have moved it).
  const priors = players.map(
    (p) => /audio device rate from the last run: (\S+ ± [\d.]+) ppm/.exec(p.out)?.[1] ?? 'none',
  );
  return {
    valid: why.length === 0,
    why,
    sources,
    priors,
    playerLate: x.player,
    rigSaid,
    driverRestarts: x.driver,
    load1: loadavg()[0]!,
  };
}

const q = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
/**
 * The same starts on the schedule anchored at JACK's cycle times (the driver's own wake-ups, their
 * median per segment) instead of the recorder's earliest callback: what the rig's per-run anchor adds
 * to the spread. Said beside the issue's figure, never instead of it.
 */
function dllAnchorSummary(valid: RunResult[]): void {
  const ok = valid.filter((x) => x.sources.every((s) => Number.isFinite(s.startDllUs)));
  const ps = ok.flatMap((x) => x.sources.filter((s) => s.name !== 'reference').map((s) => s.startDllUs));
  const rs = ok.flatMap((x) => x.sources.filter((s) => s.name === 'reference').map((s) => s.startDllUs));
  if (ps.length < 4)
    return console.log(`anchored at JACK's cycle times: ${ok.length} of ${valid.length} runs measurable`);
  console.log(
    `anchored at JACK's cycle times instead of the earliest callback (${ok.length} of ${valid.length} runs): start spread p99 ${spreadP99(ps).toFixed(1)} µs (${ps.length} starts; reference ${spreadP99(rs).toFixed(1)} µs)`,
  );
}
const meanOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
/** The spread the issue's table asks for: p99 of |x − mean|. */
const spreadP99 = (xs: number[]) => {
  const m = meanOf(xs);
  return q(
    xs.map((x) => Math.abs(x - m)),
    0.99,
  );
};
// Emulator VMs on the machine (the arm64 check's qemu, say) are part of the load: name them.
// A VM paused with SIGSTOP (to keep a measurement quiet) is said to be paused: it takes no CPU.
const vms = spawnSync('sh', ['-c', 'pgrep -a "^qemu-system" | cut -c1-80'], { encoding: 'utf8' })
  .stdout.trim()
  .split('\n')
  .filter(Boolean)
  .map((line) => {
    const stat = existsSync(`/proc/${line.split(' ')[0]}/stat`)
      ? readFileSync(`/proc/${line.split(' ')[0]}/stat`, 'utf8')
      : '';
    return / T /.test(stat.slice(stat.lastIndexOf(')'), stat.lastIndexOf(')') + 4)) ? `${line} [paused]` : line;
  });
const loadHow =
  startLoad() +
  (vms.length
    ? `; beside it: ${vms.length} emulator VM(s)${vms.every((v) => v.endsWith('[paused]')) ? ', paused' : ''} (${vms[0]}…)`
    : '');
console.log(
  `start-error bench: ${runs} valid runs wanted, load ${load} (${loadHow}), ${clicks} clicks per run; JACK dummy 48 kHz period ${PERIOD} -R; ${cpus()[0]?.model} x${cpus().length}; load average at start ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
);
const results: RunResult[] = [];
try {
  for (let attempt = 0; results.filter((x) => x.valid).length < runs && attempt < 2 * runs && !stopping; attempt++) {
    const res = await oneRun(attempt);
    if (stopping) break; // interrupted: this run was cut short
    results.push(res);
    const s = res.sources
      .map(
        (x) =>
          `${x.name} start ${x.startUs.toFixed(1)} µs (on JACK's cycle times ${x.startDllUs.toFixed(1)}), in-track worst ${x.worstUs.toFixed(1)} µs`,
      )
      .join('; ');
    console.log(
      `run ${attempt + 1}${res.valid ? '' : ' INVALID'}: ${s}${res.why.length ? ` [${res.why.join('; ')}]` : ''}${res.playerLate ? ` (a player's JACK client late in ${res.playerLate} cycle(s))` : ''}${res.valid && res.rigSaid.length ? ` (rig: ${res.rigSaid.join('; ')}; the reference held)` : ''} (load ${res.load1.toFixed(1)}; DAC priors ${res.priors.join(', ')} ppm)${stallsDone[attempt] !== undefined ? `; jackd stopped ${JACK_STALL_MS} ms at ${(stallsDone[attempt]! / 1000).toFixed(2)} s into the track` : ''}`,
    );
  }
} finally {
  stopLoad();
  execFileSync('bash', [rig, 'stop', dir]);
  rmSync(dir, { recursive: true, force: true });
}
// Interrupted: the signal handler ends the process once its players are gone; no figures from a cut run.
if (stopping) await new Promise(() => {});

const valid = results.filter((x) => x.valid);
const invalid = results.length - valid.length;
const of = (name: string) => valid.flatMap((x) => x.sources.filter((s) => s.name === name));
const players = [...of('player 1'), ...of('player 2')];
if (players.length === 0) {
  console.log('\nno valid run');
  process.exit(1);
}
const starts = players.map((s) => s.startUs);
const mean = meanOf(starts);
const lost = players.filter((s) => !Number.isFinite(s.worstUs)).length;
const worst = Math.max(...players.filter((s) => Number.isFinite(s.worstUs)).map((s) => s.worstUs));
const jumps = valid.filter((x) => x.sources.some((s) => s.name !== 'reference' && s.worstUs > JUMP_US)).length;
const ref = of('reference');
const vsRef = valid.flatMap((x) => {
  const r = x.sources.find((s) => s.name === 'reference');
  return r ? x.sources.filter((s) => s.name !== 'reference').map((s) => s.startUs - r.startUs) : [];
});
console.log(
  `\n${valid.length} valid runs, ${invalid} invalid and repeated (${
    results
      .filter((x) => !x.valid)
      .flatMap((x) => x.why)
      .join('; ') || 'none'
  })`,
);
const lateCycles = valid.reduce((a, x) => a + x.playerLate, 0);
console.log(
  `valid runs in which the rig had trouble and its reference held: ${valid.filter((x) => x.rigSaid.length).length}`,
);
console.log(
  `a player's JACK client late (JACK's log): ${lateCycles} cycle(s) in ${valid.filter((x) => x.playerLate).length} of the valid runs`,
);
console.log(
  `mean start error ${mean.toFixed(1)} µs (systematic: the ALSA jack plugin's latency, removed by audio.latency_trim_ms); players − reference: mean ${meanOf(vsRef).toFixed(1)} µs`,
);
console.log(
  `reference (JACK-native): start spread p99 ${spreadP99(ref.map((s) => s.startUs)).toFixed(1)} µs, in-track worst ${Math.max(...ref.map((s) => s.worstUs)).toFixed(1)} µs: the rig's own floor`,
);
// What the spread is made of: each player against the reference of its run (the rig's time base
// out), and the two players of a run against each other (what two devices side by side hear).
const pairApart = valid.flatMap((x) => {
  const [a, b] = x.sources.filter((s) => s.name !== 'reference');
  return a && b ? [Math.abs(a.startUs - b.startUs)] : [];
});
console.log(
  `start: players − reference spread p99 ${spreadP99(vsRef).toFixed(1)} µs; the two players of a run apart: median ${q(pairApart, 0.5).toFixed(1)} µs, p99 ${q(pairApart, 0.99).toFixed(1)} µs`,
);
const inTrack = players.filter((s) => Number.isFinite(s.worstUs)).map((s) => s.worstUs);
console.log(
  `in-track worst per player-run: median ${q(inTrack, 0.5).toFixed(1)} µs, p90 ${q(inTrack, 0.9).toFixed(1)} µs, ${inTrack.filter((u) => u <= 50).length} of ${inTrack.length} within 50 µs`,
);
// The runs in which JACK's driver never restarted its schedule: one anchor for the whole recording, no
// device periods that moved under the players. On a real DAC the periods never move.
const held = valid.filter((x) => x.driverRestarts === 0);
const heldPlayers = held.flatMap((x) => x.sources.filter((s) => s.name !== 'reference'));
if (heldPlayers.length >= 4) {
  const heldRef = held.flatMap((x) => x.sources.filter((s) => s.name === 'reference'));
  const fin = heldPlayers.filter((s) => Number.isFinite(s.worstUs)).map((s) => s.worstUs);
  console.log(
    `runs in which JACK's driver held its schedule throughout: ${held.length} of ${valid.length}: start spread p99 ${spreadP99(heldPlayers.map((s) => s.startUs)).toFixed(1)} µs (reference ${spreadP99(heldRef.map((s) => s.startUs)).toFixed(1)} µs); in-track worst ${Math.max(...fin).toFixed(1)} µs, ${fin.filter((u) => u <= 50).length} of ${fin.length} within 50 µs`,
  );
} else console.log(`runs in which JACK's driver held its schedule throughout: ${held.length} of ${valid.length}`);
dllAnchorSummary(valid);
console.log('\n| | jaudiosync on this machine |');
console.log('| --- | --- |');
console.log(
  `| start error spread (p99 of \\|start − mean\\|), ${load} | ${spreadP99(starts).toFixed(0)} µs (${players.length} starts) |`,
);
console.log(
  `| worst in-track deviation of a later click from the first, ${load} | ${worst.toFixed(0)} µs${lost ? ` (where every click was heard; ${lost} player-run(s) lost or doubled a click)` : ''} |`,
);
console.log(`| runs with an in-track jump > 1 ms, ${load} | ${jumps} / ${valid.length} |`);
