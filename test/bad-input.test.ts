import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PACKAGE_DIR } from '../src/service/config.js';
import { tempDir } from './helpers/tmp.js';

/**
 * Bad input, as users bring it, through the real CLI process: configs, playlists, audio files,
 * command-line options and PPS files. For each: a non-zero exit, a message that names the thing
 * and what to do, no stack trace or internal text, and nothing left behind (no jaudiosync-* temp
 * folder, no socat child of the simulated GPS). Each case runs in a folder of its own, which is
 * also its current directory, TMPDIR, runtime and state folder.
 */

interface Case {
  name: string;
  args: string[];
  /** Files to create in the case's folder before the run (name -> content; "@flac" a FLAC, "@fifo" a named
   * pipe, "@zeros" 3 GiB of zeros). */
  files?: Record<string, string | Buffer>;
  /** The message: the thing named and what to do. Matched against stderr + stdout. */
  says: RegExp;
  /** What must not be there: e.g. the timing chain started for a run that could never play. */
  saysNot?: RegExp;
  timeoutMs?: number;
}

const FLAC = join(PACKAGE_DIR, 'Music', '01 - Click Track.flac');
const simulatedConfig = (extra: string) =>
  `[hardware]\nmode = "simulated"\n[schedule]\nstart = "+1"\n[audio]\noutput = "wav"\nwav_path = "out.wav"\n${extra}`;

const cases: Case[] = [
  // Configs
  {
    name: 'config file missing',
    args: ['config', 'check', 'nope.toml'],
    says: /nope\.toml: invalid config\n.*file not found \(check the path; `jaudiosync config example` prints one to start from\)/,
  },
  {
    name: 'config not TOML',
    args: ['config', 'check', 'c.toml'],
    files: { 'c.toml': '[audio\nvolume_db = 1\n' },
    says: /c\.toml: invalid config\n.*not valid TOML at line 1/,
  },
  {
    name: 'config unknown key',
    args: ['config', 'check', 'c.toml'],
    files: { 'c.toml': '[audio]\nvolume = -6\n' },
    says: /unknown key "audio\.volume" in \[audio\]; see "jaudiosync config example"/,
  },
  {
    name: 'config value out of range',
    args: ['config', 'check', 'c.toml'],
    files: { 'c.toml': '[audio]\nlatency_trim_ms = 5000\n' },
    says: /audio\.latency_trim_ms = 5000: expected at most 1000/,
  },
  {
    name: 'config cron that never happens',
    args: ['config', 'check', 'c.toml'],
    files: { 'c.toml': '[schedule]\nstart = "cron 0 0 31 2 *"\n' },
    says: /schedule\.start = "cron 0 0 31 2 \*": cron expression "0 0 31 2 \*" never happens: .*check the day of month and the month/,
  },
  {
    name: 'config start without an offset',
    args: ['config', 'check', 'c.toml'],
    files: { 'c.toml': '[schedule]\nstart = "2026-12-24T18:00"\n' },
    says: /schedule\.start = "2026-12-24T18:00": expected an ISO 8601 instant with offset/,
  },
  {
    name: 'config bad time zone',
    args: ['config', 'check', 'c.toml'],
    files: { 'c.toml': '[schedule]\nstart = "daily 18:00"\ntimezone = "Europe/Berlln"\n' },
    says: /schedule\.timezone = "Europe\/Berlln": expected an IANA time zone .*timedatectl list-timezones/,
  },
  {
    name: 'run with a playlist that is not there (simulated hardware started, then cleaned up)',
    args: ['run', '-c', 'c.toml'],
    files: { 'c.toml': simulatedConfig('[playlist]\npath = "gone.m3u8"\n') },
    says: /cannot read the playlist .*gone\.m3u8.*Set playlist\.path in the config/,
    timeoutMs: 120_000,
  },

  // Folders the service cannot make: named, with the setting that moves them (was a bare "EEXIST: mkdir").
  {
    name: 'state folder where a file is',
    args: ['run', '-c', 'c.toml'],
    files: {
      'c.toml': simulatedConfig(
        `[service]\nstate_dir = "c.toml"\n[playlist]\npath = ${JSON.stringify(join(PACKAGE_DIR, 'Music', 'Playlist.m3u8'))}\n`,
      ),
    },
    says: /cannot create the state folder \S+c\.toml: a file of that name is in the way \(EEXIST\); set service\.state_dir/,
  },
  {
    name: 'runtime folder below a file',
    args: ['run', '-c', 'c.toml'],
    files: {
      'c.toml': simulatedConfig(
        `[service]\nruntime_dir = "c.toml/run"\n[playlist]\npath = ${JSON.stringify(join(PACKAGE_DIR, 'Music', 'Playlist.m3u8'))}\n`,
      ),
    },
    says: /cannot create the runtime folder \S+c\.toml\/run: part of the path is a file, not a folder \(ENOTDIR\); set service\.runtime_dir/,
  },
  {
    // The demo falls back to a WAV file when there is no device; a device the user names never does.
    name: 'play on a named audio device that is not there',
    args: ['play', 'p.m3u8', '--device', 'hw:CARD=nope', '--at', '+1', '-c', 'c.toml'],
    files: { 'c.toml': simulatedConfig('').replace('output = "wav"', 'output = "alsa"'), 'p.m3u8': `${FLAC}\n` },
    says: /hw:CARD=nope/,
    timeoutMs: 30_000,
  },
  {
    name: 'timeline build into a folder that does not exist',
    args: ['timeline', 'build', join(PACKAGE_DIR, 'Music', 'Playlist.m3u8'), '--out', 'nodir/x.json'],
    says: /cannot write the manifest \S*nodir\/x\.json: its folder \S*nodir does not exist \(create it first: mkdir -p \S*nodir\); no track was decoded/,
  },
  {
    // A plain run whose one start is long over plays nothing: a failure, as in `play` (it exited 0).
    name: 'run with a start whose playlist is long over',
    args: ['run', '-c', 'c.toml', '--at', new Date(Date.now() - 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z')],
    files: {
      'c.toml': simulatedConfig(`[playlist]\npath = ${JSON.stringify(join(PACKAGE_DIR, 'Music', 'Playlist.m3u8'))}\n`),
    },
    says: /the playlist ended before this device was ready .*: nothing to join; give a start that is still to come/,
    timeoutMs: 60_000,
  },
  {
    name: 'gps monitor --replay of a file that is no NMEA capture',
    args: ['gps', 'monitor', '--replay', 'song.mp3'],
    files: { 'song.mp3': Buffer.from(Array.from({ length: 4000 }, (_, i) => (i * 7919) % 251)) },
    says: /song\.mp3 holds no NMEA sentence: not a capture of a GPS's serial output/,
  },
  {
    name: 'timeline show --at that is not an instant, said before the missing manifest',
    args: ['timeline', 'show', 'nope.m3u8', '--start', '2026-06-27T18:55:00+02:00', '--at', 'garbage'],
    says: /--at "garbage": expected an ISO 8601 instant with offset, e\.g\./,
  },
  {
    // A plain run says what it cannot play before it starts the clock (it waited for a lock first).
    name: 'run --from-track beyond the playlist',
    args: ['run', '-c', 'c.toml', '--from-track', '99'],
    files: { 'c.toml': simulatedConfig('[playlist]\npath = "l.m3u8"\n'), 'l.m3u8': 'a.flac\n', 'a.flac': '@flac' },
    says: /--from-track 99: the playlist has tracks 1 to 1/,
    saysNot: /^(timing|clock): /m,
  },
  {
    name: 'run on an empty playlist',
    args: ['run', '-c', 'c.toml'],
    files: { 'c.toml': simulatedConfig('[playlist]\npath = "l.m3u8"\n'), 'l.m3u8': '' },
    says: /cannot read the playlist \S+l\.m3u8: empty file \(0 bytes\)/,
    saysNot: /^(timing|clock): /m,
  },
  {
    // Nobody writes to it: a read would block for ever.
    name: 'playlist that is a named pipe',
    args: ['playlist', 'p.m3u8'],
    files: { 'p.m3u8': '@fifo' },
    says: /playlist p\.m3u8 is not a regular file \(a pipe or a device\)/,
    timeoutMs: 30_000,
  },
  {
    name: 'config check of a playlist that is a named pipe',
    args: ['config', 'check', 'c.toml'],
    files: { 'c.toml': '[playlist]\npath = "p.m3u8"\n', 'p.m3u8': '@fifo' },
    says: /playlist\.path = "p\.m3u8" \(\S+\) is not a regular file \(a pipe or a device\)/,
    timeoutMs: 30_000,
  },
  {
    name: 'config check with an audio.ffmpeg that does not run',
    args: ['config', 'check', 'c.toml'],
    files: {
      'c.toml': `[audio]\nffmpeg = "not-ffmpeg"\n[playlist]\npath = ${JSON.stringify(join(PACKAGE_DIR, 'Music', 'Playlist.m3u8'))}\n`,
      'not-ffmpeg': '#!/bin/sh\nexit 3\n',
    },
    says: /not-ffmpeg does not run: it is not executable \(chmod \+x/,
    saysNot: /not decodable audio/,
  },
  {
    name: 'gps monitor --replay of a capture whose every sentence has a bad checksum',
    args: ['gps', 'monitor', '--replay', 'gps.log'],
    files: { 'gps.log': '$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6B\r\n'.repeat(3) },
    says: /gps\.log: every one of its 3 NMEA sentences has a bad checksum/,
  },
  {
    // An interrupted, preallocated copy: ffmpeg would read all 3 GiB looking for a frame.
    name: 'config check of a playlist whose one file is gigabytes of zeros',
    args: ['config', 'check', 'c.toml'],
    files: {
      'c.toml': '[audio]\noutput = "wav"\n[playlist]\npath = "l.m3u8"\n',
      'l.m3u8': 'z.mp3\n',
      'z.mp3': '@zeros',
    },
    says: /line 1 \(z\.mp3\): not decodable audio \(ffmpeg found no audio in it within 10 s\)/,
  },
  // Playlists
  { name: 'playlist missing', args: ['playlist', 'nope.m3u8'], says: /playlist nope\.m3u8: file not found/ },
  {
    name: 'playlist of 0 bytes',
    args: ['playlist', 'empty.m3u8'],
    files: { 'empty.m3u8': '' },
    says: /empty\.m3u8: empty file \(0 bytes\): write one music file per line/,
  },
  {
    name: 'an audio file given as the playlist',
    args: ['playlist', 'song.flac'],
    files: { 'song.flac': '@flac' },
    says: /song\.flac is an audio file \(FLAC\), not a playlist: give an \.m3u\/\.m3u8 that lists it/,
  },
  {
    name: 'playlist of comments only',
    args: ['playlist', 'c.m3u8'],
    files: { 'c.m3u8': '#EXTM3U\n# to do\n' },
    says: /c\.m3u8 lists no music files .*write one music file per line/,
  },
  {
    name: 'binary data as the playlist',
    args: ['playlist', 'b.m3u8'],
    files: { 'b.m3u8': Buffer.from([0x23, 0x00, 0x01, 0x02, 0x0a]) },
    says: /b\.m3u8 is binary data, not a text playlist/,
  },
  {
    name: 'a folder as the playlist',
    args: ['playlist', 'Music'],
    files: { 'Music/a.txt': 'x' },
    says: /playlist Music: is a folder, not a playlist file \(give the \.m3u\/\.m3u8 inside it\)/,
  },
  {
    name: 'playlist entry missing (listed, summed up, exit 1)',
    args: ['playlist', 'l.m3u8'],
    files: { 'l.m3u8': '#EXTM3U\nthere.flac\nnot-there.flac\n', 'there.flac': '@flac' },
    says: /not-there\.flac\n\s+PROBLEM: file not found[\s\S]*2 entries, total length 0:30 \(without 1 of unknown length\), 1 problem/,
  },
  {
    name: 'playlist with a Windows drive path that is nowhere here',
    args: ['playlist', 'l.m3u8'],
    files: { 'l.m3u8': 'C:\\Music\\Ride\\x.flac\n' },
    says: /PROBLEM: file not found\n\s+\("C:\\Music\\Ride\\x\.flac" is a Windows path: copy the music beside the playlist .*forward slashes\)/,
  },
  {
    name: 'timeline build where nothing decodes',
    args: ['timeline', 'build', 'l.m3u8'],
    files: { 'l.m3u8': 'a.mp3\nb.mp3\n', 'a.mp3': 'not audio', 'b.mp3': 'neither' },
    says: /no entry of l\.m3u8 could be decoded: no manifest written/,
  },
  {
    name: 'timeline show without a manifest',
    args: ['timeline', 'show', 'l.m3u8'],
    files: { 'l.m3u8': 'a.flac\n' },
    says: /no timeline manifest at l\.m3u8\.manifest\.json: build it with "jaudiosync timeline build l\.m3u8"/,
  },
  {
    name: 'timeline show with a broken manifest',
    args: ['timeline', 'show', 'l.m3u8'],
    files: { 'l.m3u8': 'a.flac\n', 'l.m3u8.manifest.json': '{"v":1,"entries":"x"' },
    says: /timeline manifest l\.m3u8\.manifest\.json: .*JSON.*\(rebuild it: jaudiosync timeline build PLAYLIST\)/,
  },

  // Audio files
  {
    name: 'a music file of 0 bytes (timeline build)',
    args: ['timeline', 'build', 'l.m3u8'],
    files: { 'l.m3u8': 'a.flac\nzero.flac\n', 'a.flac': '@flac', 'zero.flac': '' },
    says: /line 2 \(zero\.flac\): .*zero\.flac: empty file \(0 bytes\)[\s\S]*no manifest written/,
  },
  {
    name: 'a music file of 0 bytes (playlist)',
    args: ['playlist', 'l.m3u8'],
    files: { 'l.m3u8': 'zero.flac\n', 'zero.flac': '' },
    says: /PROBLEM: empty file \(0 bytes\)/,
  },
  {
    name: 'a text file named .mp3 (play: every track undecodable)',
    args: ['play', 'l.m3u8', '--output', 'wav', '--at', '+1', '-c', 'c.toml'],
    files: { 'l.m3u8': 'fake.mp3\n', 'fake.mp3': 'this is not an mp3\n', 'c.toml': '[hardware]\nmode = "simulated"\n' },
    says: /line 1 \(fake\.mp3\): [^\n]*this device is now off the shared timeline[\s\S]*no track of .*l\.m3u8 could be decoded \(see the warnings above\)/,
    timeoutMs: 120_000,
  },

  {
    name: 'play given an audio file instead of a playlist',
    args: ['play', 'song.mp3'],
    files: {
      'song.mp3': Buffer.concat([Buffer.from('ID3'), Buffer.from([4, 0, 0, 0, 0, 0, 0]), Buffer.alloc(64, 0x20)]),
    },
    says: /song\.mp3 is an audio file \(MP3\), not a playlist/,
  },

  // Command-line options
  {
    name: 'run --at without an offset',
    args: ['run', '--at', '2026-12-24T18:00'],
    says: /--at "2026-12-24T18:00" has no UTC offset.*add one, e\.g\. "2026-12-24T18:00\+01:00"/,
  },
  {
    name: 'run --at +abc',
    args: ['run', '--at', '+abc'],
    says: /--at "\+abc": expected \+SECONDS, a number of seconds from now, e\.g\. \+30/,
  },
  {
    name: 'run --from-track 0',
    args: ['run', '--from-track', '0'],
    says: /--from-track "0": expected a track number from 1/,
  },
  {
    name: 'run --output mp3',
    args: ['run', '--output', 'mp3'],
    says: /option '--output <kind>' argument 'mp3' is invalid\. Allowed choices are alsa, wav/,
  },
  {
    name: 'play --from-track abc',
    args: ['play', 'l.m3u8', '--from-track', 'abc'],
    files: { 'l.m3u8': 'a.flac\n' },
    says: /--from-track "abc": expected a track number/,
  },
  {
    name: 'play --trim-ms 99999 (the config allows ±1000)',
    args: ['play', 'l.m3u8', '--trim-ms', '99999'],
    files: { 'l.m3u8': 'a.flac\n' },
    says: /--trim-ms "99999": expected at most 1000 \(as audio\.latency_trim_ms in the config\)/,
  },
  {
    name: 'play --trim-ms abc',
    args: ['play', 'l.m3u8', '--trim-ms', 'abc'],
    files: { 'l.m3u8': 'a.flac\n' },
    says: /--trim-ms "abc": expected a number of milliseconds/,
  },
  {
    name: 'clock monitor --duration abc',
    args: ['clock', 'monitor', '--duration', 'abc'],
    says: /--duration "abc": expected a duration in seconds, or with a unit: 90s, 30m, 6h, 2d/,
  },
  {
    name: 'rtc info --bus abc',
    args: ['rtc', 'info', '--bus', 'abc'],
    says: /--bus "abc": expected an I2C bus number/,
  },
  {
    name: 'rtc info --address 0x99',
    args: ['rtc', 'info', '--simulate', '--address', '0x99'],
    says: /--address "0x99": expected at most 119 \(as rtc\.address in the config\)/,
  },
  {
    name: 'gps monitor --baud 1234',
    args: ['gps', 'monitor', '--simulate', '--baud', '1234'],
    says: /--baud "1234": expected a standard baud rate: 4800, 9600/,
  },
  {
    name: 'gps monitor --seconds abc',
    args: ['gps', 'monitor', '--simulate', '--seconds', 'abc'],
    says: /--seconds "abc": expected a duration/,
  },
  {
    name: 'gps monitor --replay of a file not there',
    args: ['gps', 'monitor', '--replay', 'nope.log'],
    says: /cannot read the capture nope\.log: ENOENT/,
  },
  {
    name: 'pps monitor --gpio 99',
    args: ['pps', 'monitor', '--gpio', '99'],
    says: /--gpio "99": expected a BCM GPIO number from 0 to 53/,
  },
  {
    name: 'timeline show --start without an offset',
    args: ['timeline', 'show', 'l.m3u8', '--start', '2026-06-27T18:55', '--at', '2026-06-27T18:56:00Z'],
    files: {
      'l.m3u8': 'a.flac\n',
      'l.m3u8.manifest.json': JSON.stringify({
        v: 1,
        sampleRate: 48000,
        channels: 2,
        totalFrames: 48000,
        entries: [{ line: 1, path: 'a.flac', sha256: 'a'.repeat(64), frames: 48000 }],
      }),
    },
    says: /--start "2026-06-27T18:55" has no UTC offset/,
  },
  { name: 'an unknown command', args: ['frobnicate'], says: /unknown command 'frobnicate'/ },

  // PPS files
  {
    name: 'PPS file not there',
    args: ['pps', 'monitor', '--path', 'pps0-assert', '--seconds', '1'],
    says: /PPS device .*pps0-assert: ENOENT.*Is dtoverlay=pps-gpio,gpiopin=18 in \/boot\/firmware\/config\.txt/,
  },
  {
    name: 'PPS file with garbage',
    args: ['pps', 'monitor', '--path', 'assert', '--seconds', '1'],
    files: { assert: 'GPS PPS OK\n' },
    says: /assert reads "GPS PPS OK", not "SECONDS\.NANOSECONDS#SEQUENCE": Is it a kernel PPS assert file[\s\S]*no PPS pulse seen/,
  },
  {
    name: 'PPS file frozen',
    args: ['pps', 'monitor', '--path', 'assert', '--seconds', '4.5'],
    files: { assert: '1790000000.000000123#42\n' },
    says: /no new pulse for 3 s \(sequence stuck at 42\): the GPS lost its fix or its PPS wire is loose/,
    timeoutMs: 90_000,
  },
  {
    name: 'PPS path that is a folder',
    args: ['pps', 'monitor', '--path', 'ppsdir', '--seconds', '1'],
    files: { 'ppsdir/x': '' },
    says: /PPS device .*ppsdir: EISDIR.*Is it a kernel PPS assert file/,
  },
];

/** Stack frames and the runtime's own words: never for a user. */
const INTERNAL =
  /^\s+at .+:\d+:\d+\)?$|Cannot read propert|is not a function|is not defined|TypeError|RangeError|SyntaxError|Unhandled|ERR_[A-Z_]{3,}|\bNaN\b|BigInt|undefined/m;

const TSX = pathToFileURL(join(PACKAGE_DIR, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const BIN = join(PACKAGE_DIR, 'src', 'cli', 'bin.ts');

function runIn(dir: string, args: string[], timeoutMs: number): Promise<{ code: number | null; out: string }> {
  const env = {
    ...process.env,
    TMPDIR: join(dir, 'tmp'),
    XDG_RUNTIME_DIR: join(dir, 'run'),
    XDG_STATE_HOME: join(dir, 'state'),
    JAUDIOSYNC_DEBUG: '',
  };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, BIN, ...args], {
      cwd: dir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `jaudiosync ${args.join(' ')} did not end within ${timeoutMs} ms (a hang is a bad-input failure too)\n${out}`,
        ),
      );
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/** At most this many CLI processes at once: each is a Node with tsx, on a shared 2-core machine. */
const PARALLEL = 2;
let running = 0;
const queue: Array<() => void> = [];
async function slot<T>(f: () => Promise<T>): Promise<T> {
  if (running >= PARALLEL) await new Promise<void>((r) => queue.push(r));
  running++;
  try {
    return await f();
  } finally {
    running--;
    queue.shift()?.();
  }
}

function socatsIn(dir: string): string[] {
  const ps = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  return ps.split('\n').filter((l) => l.includes('socat') && l.includes(dir));
}

test('the bad-input table has a few dozen cases, each with its own message', (t) => {
  t.true(cases.length >= 36, `${cases.length} cases`);
  t.is(new Set(cases.map((c) => c.name)).size, cases.length);
  t.log(`${cases.length} bad inputs`);
});

for (const c of cases) {
  test(`bad input: ${c.name}`, async (t) => {
    const dir = tempDir('jas-bad-');
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    for (const sub of ['tmp', 'run', 'state']) mkdirSync(join(dir, sub));
    for (const [name, content] of Object.entries(c.files ?? {})) {
      mkdirSync(join(dir, name, '..'), { recursive: true });
      if (content === '@flac') copyFileSync(FLAC, join(dir, name));
      else if (content === '@fifo') execFileSync('mkfifo', [join(dir, name)]);
      else if (content === '@zeros') {
        writeFileSync(join(dir, name), '');
        truncateSync(join(dir, name), 3 * 2 ** 30); // sparse: no disk used
      } else writeFileSync(join(dir, name), content);
    }
    const r = await slot(() => runIn(dir, c.args, c.timeoutMs ?? 90_000));
    t.not(r.code, 0, `exit code ${r.code}\n${r.out}`);
    t.regex(r.out, c.says);
    if (c.saysNot) t.notRegex(r.out, c.saysNot);
    t.notRegex(r.out, INTERNAL, 'no stack trace or internal text');
    const left = readdirSync(join(dir, 'tmp')).filter((f) => f.startsWith('jaudiosync-'));
    t.deepEqual(left, [], 'no temp folder left behind');
    t.deepEqual(socatsIn(dir), [], 'no socat left behind');
  });
}
