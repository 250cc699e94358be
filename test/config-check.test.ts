import test from 'ava';
import { chmodSync, cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { checkConfig, configProblems, ntpServerProblem, type CheckEnv } from '../src/cli/config-check.js';
import { doctor } from '../src/cli/doctor.js';
import { findFfmpeg } from '../src/player/ffmpeg.js';
import { probeAlsaOutputs } from '../src/player/sinks/alsa-probe.js';
import {
  BOOT_CONFIG_PATH,
  DEFAULT_CONFIG_PATH,
  decodeConfigText,
  loadConfigFile,
  PACKAGE_DIR,
  parseConfig,
  systemConfigPath,
} from '../src/service/config.js';
import { runCli } from './helpers/cli.js';
import { FakePi, HEADPHONES, HIFIBERRY } from './helpers/fake-pi.js';
import { tempDir } from './helpers/tmp.js';
import { noise } from './helpers/noise.js';

/**
 * Configs the schema accepts but that cannot work (issue 14): `config check` and `doctor` catch each,
 * name the key and the fix, and exit non-zero. The system config on the boot partition wins over
 * /etc's, and Windows editors' BOM and CRLF are accepted.
 */

const NOW_NS = BigInt(Date.parse('2026-06-01T12:00:00Z')) * 1_000_000n;
const dirs: string[] = [];
const tmp = () => {
  const d = tempDir('jas-cc-');
  dirs.push(d);
  return d;
};
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A folder with the bundled music and a config whose keys the test overrides. */
function setup(extra = ''): { dir: string; file: string } {
  const dir = tmp();
  cpSync(join(PACKAGE_DIR, 'Music'), join(dir, 'Music'), { recursive: true });
  const file = join(dir, 'c.toml');
  const state = `[service]\nstate_dir = "${join(dir, 'state')}"\n`;
  const body = extra.includes('[service]\n') ? extra.replace('[service]\n', state) : `${state}${extra}`;
  writeFileSync(file, `${body.includes('[playlist]') ? '' : '[playlist]\npath = "Music/Playlist.m3u8"\n'}${body}`);
  return { dir, file };
}

const FFMPEG = findFfmpeg().path;
const env = (over: Partial<CheckEnv> = {}): CheckEnv => ({
  findFfmpeg: () => ({ path: FFMPEG }),
  audioOutputs: async () => [{ name: 'Default ALSA Device' }],
  utcNowNs: NOW_NS,
  processEnv: {},
  ...over,
});
const keys = async (toml: string, over: Partial<CheckEnv> = {}) =>
  (await configProblems(loadConfigFile(setup(toml).file), env(over))).map((p) => p.key);

test('a config that can work has no problems', async (t) => {
  t.deepEqual(
    await keys(
      '[schedule]\nstart = "2026-06-27T18:55:00+02:00"\nstop = "2026-06-27T22:00:00+02:00"\n[ntp]\nservers = ["pool.ntp.org", "192.168.1.10:123", "[fe80::1]:123"]\n',
    ),
    [],
  );
});

test('each config that cannot work is caught, naming the key', async (t) => {
  const missing = await configProblems(parseConfig('[playlist]\npath = "nowhere.m3u8"\n', '/x/c.toml', tmp()), env());
  t.deepEqual(
    missing.map((p) => p.key),
    ['playlist.path'],
  );
  t.regex(missing[0]!.message, /playlist\.path = "nowhere\.m3u8" \(.*nowhere\.m3u8\): file not found/);

  t.deepEqual(
    await keys('', {
      findFfmpeg: () => {
        throw new Error('ffmpeg not found. Install it with "sudo apt-get install ffmpeg"');
      },
    }),
    ['audio.ffmpeg'],
  );
  t.deepEqual(await keys('[audio]\ndevice = "hw:CARD=Nope,DEV=0"\n'), ['audio.device']);
  const dev = await configProblems(loadConfigFile(setup('[audio]\ndevice = "USB Thing (USB Audio)"\n').file), env());
  t.regex(
    dev[0]!.message,
    /audio\.device = "USB Thing \(USB Audio\)": no such audio output here; there are: "Default ALSA Device"/,
  );
  t.deepEqual(await keys('[audio]\ndevice = "Default ALSA Device"\n'), [], 'an output that exists');
  t.deepEqual(
    await keys('[audio]\noutput = "wav"\ndevice = "hw:CARD=Nope,DEV=0"\n'),
    [],
    'the device is not used with output = "wav"',
  );

  const { dir, file } = setup();
  writeFileSync(join(dir, 'afile'), '');
  const c = loadConfigFile(file);
  const unwritable = await configProblems(
    { ...c, service: { ...c.service, state_dir: join(dir, 'afile', 'state') } },
    env(),
  );
  t.deepEqual(
    unwritable.map((p) => p.key),
    ['service.state_dir'],
  );
  t.regex(unwritable[0]!.message, /afile is a file, not a folder/);

  t.deepEqual(
    await keys('[schedule]\nstart = "2026-06-27T18:55:00+02:00"\nstop = "2026-06-27T18:00:00+02:00"\n'),
    ['schedule.stop'],
    'stop before start',
  );
  t.deepEqual(
    await keys('[schedule]\nstart = "daily 18:00"\ntimezone = "UTC"\nstop = "2026-06-01T11:00:00Z"\n'),
    ['schedule.stop'],
    'stop before the next daily start',
  );
  t.deepEqual(await keys('[ntp]\nservers = ["pool.ntp.org:abc", "ntp://x", "a b", "300.1.2.3"]\n'), [
    'ntp.servers[0]',
    'ntp.servers[1]',
    'ntp.servers[2]',
    'ntp.servers[3]',
  ]);
});

test('NTP server syntax', (t) => {
  for (const ok of ['pool.ntp.org', 'de.pool.ntp.org:123', '10.0.0.1', '[2001:db8::1]:123', '2001:db8::1', 'leader'])
    t.is(ntpServerProblem(ok), undefined, ok);
  t.regex(ntpServerProblem('pool.ntp.org:99999')!, /port "99999"/);
  t.regex(ntpServerProblem('-bad-.org')!, /not a host name/);
});

test('config check (CLI): exit 1 with one message and fix per problem; 0 for a good one; --no-machine checks the file alone', async (t) => {
  const bad = setup(
    '[audio]\noutput = "wav"\nffmpeg = "/nonexistent/ffmpeg"\n[schedule]\nstart = "2026-06-27T18:55:00+02:00"\nstop = "2026-06-27T18:00:00+02:00"\n[ntp]\nservers = ["ntp://x"]\n',
  );
  writeFileSync(
    join(bad.dir, 'c.toml'),
    `${'[playlist]\npath = "gone.m3u8"\n'}${'[audio]\noutput = "wav"\nffmpeg = "/nonexistent/ffmpeg"\n[schedule]\nstart = "2026-06-27T18:55:00+02:00"\nstop = "2026-06-27T18:00:00+02:00"\n[ntp]\nservers = ["ntp://x"]\n'}`,
  );
  const r = await runCli(['config', 'check', bad.file]);
  t.is(r.code, 1, r.stderr);
  for (const re of [
    /playlist\.path = "gone\.m3u8".*file not found\n {2}fix: /,
    /ffmpeg at \/nonexistent\/ffmpeg .*does not exist/,
    /schedule\.stop = .* is not after the start/,
    /ntp\.servers\[0\] = "ntp:\/\/x"/,
    /4 problems: this config cannot work on this machine/,
  ])
    t.regex(r.stderr, re);
  t.notRegex(r.stderr, /\n\s+at /, 'no stack trace');
  const fileOnly = await runCli(['config', 'check', '--no-machine', bad.file]);
  t.is(fileOnly.code, 1);
  t.regex(fileOnly.stderr, /2 problems: this config cannot work\n/);

  const good = setup('[audio]\noutput = "wav"\n');
  const ok = await runCli(['config', 'check', good.file]);
  t.is(ok.code, 0, ok.stderr);
  t.regex(ok.stdout, /# resolved from .*c\.toml/);
});

const MP3 = join(PACKAGE_DIR, 'Music', '02 - Arpeggio in Fifths.mp3');
/** A valid MP3's first frames, then junk: ffmpeg stops with "Header missing", as the player does. */
const junkAfterHeader = () => Buffer.concat([readFileSync(MP3).subarray(0, 4096), noise(200_000, 7)]);
const playlistConfig = (m3u: string) => {
  const s = setup('[audio]\noutput = "wav"\n[playlist]\npath = "l.m3u8"\n');
  writeFileSync(join(s.dir, 'l.m3u8'), m3u);
  return s;
};

test('config check: a playlist none of whose entries can play (random bytes, a URL) is an error naming each', async (t) => {
  const { dir, file } = playlistConfig('#EXTM3U\ncorrupt.mp3\nhttp://example.com/a.mp3\n');
  writeFileSync(join(dir, 'corrupt.mp3'), noise(100_000));
  const problems = await configProblems(loadConfigFile(file), env());
  t.deepEqual(
    problems.map((p) => p.key),
    ['playlist.path'],
  );
  t.regex(problems[0]!.message, /playlist\.path = "l\.m3u8" .*: none of its 2 entries can play/);
  t.regex(problems[0]!.message, /line 2 \(corrupt\.mp3\): not decodable audio \(ffmpeg could not decode/);
  t.regex(
    problems[0]!.message,
    /line 3: "http:\/\/example\.com\/a\.mp3" is a network stream; jaudiosync plays local files only/,
  );
  const r = await runCli(['config', 'check', file]);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /none of its 2 entries can play/);
});

test('config check: entries that cannot play beside one that can are each a warning, exit 0', async (t) => {
  const { dir, file } = playlistConfig(
    '#EXTM3U\nMusic/01 - Click Track.flac\nhttp://example.com/a.mp3\ncorrupt.mp3\njunk.mp3\nMusic\ngone.flac\nlocked.flac\n',
  );
  writeFileSync(join(dir, 'corrupt.mp3'), noise(100_000));
  writeFileSync(join(dir, 'junk.mp3'), junkAfterHeader());
  cpSync(join(dir, 'Music', '01 - Click Track.flac'), join(dir, 'locked.flac'));
  chmodSync(join(dir, 'locked.flac'), 0);
  // Root reads a file whatever its mode bits: the unreadable case is only checked as another user.
  const root = process.getuid?.() === 0;
  if (root) t.log('running as root: mode 000 does not stop root reading locked.flac, so that case is not checked');
  const { problems, warnings } = await checkConfig(loadConfigFile(file), env());
  t.deepEqual(problems, []);
  const said = warnings.map((w) => w.message).join('\n');
  for (const re of [
    /line 3: "http:\/\/example\.com\/a\.mp3" is a network stream/,
    /line 4 \(corrupt\.mp3\): not decodable audio/,
    /line 5 \(junk\.mp3\): not decodable audio .*Header missing/,
    /line 6 \(Music\): is a folder, not a music file/,
    /line 7 \(gone\.flac\): file not found/,
    ...(root ? [] : [/line 8 \(locked\.flac\): permission denied/]),
  ])
    t.regex(said, re);
  t.notRegex(said, /line 2\b/, 'the good entry');
  t.true(
    warnings.every((w) => w.key === 'playlist.path' && w.fix !== ''),
    'each with a fix',
  );
  const r = await runCli(['config', 'check', file]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /config check: .*c\.toml: warning: .*line 4 \(corrupt\.mp3\): not decodable audio.*\n {2}fix: /);
  t.regex(r.stderr, new RegExp(`${root ? 5 : 6} warnings: this config can work, but not all of it as written`));
});

test('config check: ALSA with no sound card fails with hardware.mode = "real", is a warning in a demo, is not asked with --no-machine', async (t) => {
  const none = env({ audioOutputs: async () => [] });
  const real = loadConfigFile(setup('[hardware]\nmode = "real"\n[audio]\noutput = "alsa"\ndevice = "default"\n').file);
  const r1 = await checkConfig(real, none);
  t.deepEqual(
    r1.problems.map((p) => p.key),
    ['audio.device'],
  );
  t.regex(r1.problems[0]!.message, /audio\.device = "default": no ALSA output device found on this machine/);
  t.deepEqual(await configProblems(real, env()), [], 'an output exists');
  t.deepEqual(await configProblems(real, none, false), [], '--no-machine');
  const demo = await checkConfig(
    loadConfigFile(setup('[hardware]\nmode = "simulated"\n[audio]\noutput = "alsa"\n').file),
    none,
  );
  t.deepEqual(demo.problems, []);
  t.regex(demo.warnings.map((w) => w.message).join('\n'), /no ALSA output device found.*writes .*\.wav instead/);

  // The same on this machine: whether it has an output decides (as `run` decides, through the same probe).
  const { file } = setup('[hardware]\nmode = "real"\n[audio]\noutput = "alsa"\ndevice = "default"\n');
  const outputs = await probeAlsaOutputs();
  t.log(
    outputs.length ? `this machine's ALSA outputs: ${outputs.map((o) => o.name).join(', ')}` : 'no ALSA output here',
  );
  const r = await runCli(['config', 'check', file]);
  if (outputs.length) t.is(r.code, 0, r.stderr);
  else {
    t.is(r.code, 1, r.stderr);
    t.regex(r.stderr, /audio\.device = "default": no ALSA output device found on this machine\n {2}fix: /);
  }
  const fileOnly = await runCli(['config', 'check', '--no-machine', file]);
  t.is(fileOnly.code, 0, fileOnly.stderr);
});

test('the boot partition config wins over /etc, and says so; BOM and CRLF accepted; config check and doctor use it', async (t) => {
  const root = tmp();
  t.is(systemConfigPath(root), undefined);
  mkdirSync(join(root, 'etc/jaudiosync'), { recursive: true });
  writeFileSync(join(root, DEFAULT_CONFIG_PATH), '[audio]\nvolume_db = -3\n');
  t.deepEqual(systemConfigPath(root), { path: join(root, DEFAULT_CONFIG_PATH) });
  mkdirSync(join(root, 'boot/firmware'), { recursive: true });
  // As Notepad saves it: a BOM, CRLF line ends (a multi-line string must not keep the CRs).
  writeFileSync(
    join(root, BOOT_CONFIG_PATH),
    '\uFEFF[audio]\r\nvolume_db = -6\r\n[schedule]\r\nstart = "2026-06-27T18:55:00+02:00"\r\n[playlist]\r\npath = """Music/\r\nPlaylist.m3u8"""\r\n',
  );
  t.deepEqual(systemConfigPath(root), { path: join(root, BOOT_CONFIG_PATH), shadows: join(root, DEFAULT_CONFIG_PATH) });
  const c = loadConfigFile(join(root, BOOT_CONFIG_PATH));
  t.is(c.audio.volume_db, -6);
  t.is(c.playlist.path, 'Music/\nPlaylist.m3u8');
  t.is(
    decodeConfigText(
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('[audio]\r\nvolume_db = -9\r\n', 'utf16le')]),
    ),
    '[audio]\nvolume_db = -9\n',
    'UTF-16 (Notepad "Unicode")',
  );

  const r = await runCli(['config', 'check', '--no-machine'], { env: { JAUDIOSYNC_ROOT: root } });
  t.is(r.code, 0, r.stderr);
  t.regex(
    r.stdout,
    new RegExp(
      `^# config: ${join(root, BOOT_CONFIG_PATH)} \\(on the boot partition: it takes precedence over ${join(root, DEFAULT_CONFIG_PATH)}\\)`,
      'm',
    ),
  );
  t.regex(r.stdout, /^volume_db = -6$/m);
  const d = await runCli(['doctor', '--json'], { env: { JAUDIOSYNC_ROOT: root } });
  const checks = (JSON.parse(d.stdout) as { checks: Array<{ name: string; detail: string }> }).checks;
  t.is(
    checks
      .find((c) => c.name === 'config')
      ?.detail.startsWith(`${join(root, BOOT_CONFIG_PATH)} (on the boot partition`),
    true,
  );
});

async function runDoctor(pi: FakePi, toml: string, over: Partial<CheckEnv> = {}) {
  const { file } = setup(toml);
  const out = new PassThrough();
  let text = '';
  out.on('data', (d) => {
    text += d;
  });
  const code = await doctor(loadConfigFile(file), { root: pi.root, env: env(over), ppsWatchMs: 5, out });
  return { code, text };
}

test('doctor reads the config it is given (I2C bus and address, ports, PPS files) and the Pi from its tree', async (t) => {
  const pi = new FakePi('pi5-6.6').serial0('ttyS0').pps(0, 18).cards([HEADPHONES]);
  dirs.push(pi.root);
  pi.file('dev/i2c-3', '');
  const r = await runDoctor(
    pi,
    '[rtc]\nbus = 3\naddress = 0x51\nsqw = "/sys/class/pps/pps1/assert"\n[service]\nled_gpio = 23\n',
  );
  t.is(r.code, 1, 'no time source in a fake tree');
  t.regex(r.text, /\[ok {2}\] board: Raspberry Pi 5 Model B Rev 1\.0, kernel 6\.6\.51\+rpt-rpi-2712/);
  t.regex(r.text, /\[ok {2}\] I2C bus: \/dev\/i2c-3\n/, 'rtc.bus, not a hard-coded 1');
  t.regex(
    r.text,
    /\[WARN\] UART: \/dev\/serial0 is ttyS0, the mini-UART: its baud rate follows the VPU core clock.*\n {7}fix: add dtoverlay=disable-bt/,
  );
  t.regex(
    r.text,
    /\[WARN\] PPS \(GPS\): \/sys\/class\/pps\/pps0\/assert \(GPIO18\) exists but has never pulsed.*\n {7}fix: check the wire to GPIO18/,
  );
  t.regex(
    r.text,
    /\[WARN\] PPS \(DS3231 SQW\): \/sys\/class\/pps\/pps1\/assert does not exist \(PPS devices here: pps0 \(GPIO18\)\)\n {7}fix: add dtoverlay=pps-gpio,gpiopin=17/,
  );
  t.regex(
    r.text,
    /\[ok {2}\] GPIO: gpiochip571 "pinctrl-rp1" base 571 \(kernel 6\.6\+ numbering\): GPIO18 = sysfs 589, GPIO23 = sysfs 594/,
  );
  t.regex(r.text, /\[WARN\] audio latency: the onboard headphone jack/);
  t.regex(r.text, /\[FAIL\] time source/);
});

test('doctor: a PPS that pulsed but stopped, a HAT DAC, a config that cannot work (exit 1, each problem named)', async (t) => {
  const pi = new FakePi('pi4-6.6')
    .serial0('ttyAMA0')
    .pps(0, 18, '1780000000.000001234#42')
    .cards([HEADPHONES, HIFIBERRY]);
  dirs.push(pi.root);
  const rtaudio = [
    { name: 'bcm2835 Headphones (bcm2835 Headphones)' },
    { name: 'snd_rpi_hifiberry_dacplus (HiFiBerry DAC+ HiFi pcm512x-hifi-0)' },
  ];
  const good = await runDoctor(pi, '[audio]\ndevice = "hw:CARD=sndrpihifiberry,DEV=0"\n', {
    audioOutputs: async () => rtaudio,
  });
  t.notRegex(good.text, /\[FAIL\] audio\.device/, 'the HAT by its ALSA name is found');
  // The HAT unplugged (its overlay not loaded): only the jack is left.
  const r = await runDoctor(pi, '[audio]\ndevice = "hw:CARD=Device,DEV=0"\n[ntp]\nservers = ["a b"]\n', {
    audioOutputs: async () => rtaudio,
  });
  t.is(r.code, 1);
  t.regex(r.text, /\[ok {2}\] UART: \/dev\/serial0 -> ttyAMA0 \(PL011\)/);
  t.regex(r.text, /pulsed before \(seq 42\) but not in the last/);
  t.regex(
    r.text,
    /\[FAIL\] audio\.device: audio\.device = "hw:CARD=Device,DEV=0": no such audio output here; there are: "hw:CARD=Headphones,DEV=0", "hw:CARD=sndrpihifiberry,DEV=0"\n/,
  );
  t.regex(r.text, /\[FAIL\] ntp\.servers\[0\]/);
  t.regex(
    good.text,
    /audio: hw:CARD=Headphones,DEV=0 \[onboard-headphones\], hw:CARD=sndrpihifiberry,DEV=0 \[i2s-hat\]/,
  );
  t.notRegex(good.text, /audio latency/, 'the HAT is used, not the jack');
});
