import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ConfigError,
  embeddedConfig,
  loadConfigFile,
  PACKAGE_DIR,
  parseConfig,
  parseStartSpec,
  resolveStart,
  resolvePath,
} from '../src/service/config.js';
import { tempDir } from './helpers/tmp.js';

const S = 1_000_000_000n;

function errorOf(toml: string, file = '/etc/jaudiosync/config.toml'): ConfigError {
  const e = (() => {
    try {
      parseConfig(toml, file, '/etc/jaudiosync');
    } catch (err) {
      return err;
    }
    return undefined;
  })();
  if (!(e instanceof ConfigError)) throw new Error(`expected a ConfigError for:\n${toml}`);
  return e;
}

test('the embedded default is valid: auto hardware, bundled playlist, next whole 10 s', (t) => {
  const c = embeddedConfig();
  t.is(c.hardware.mode, 'auto');
  t.is(c.schedule.start, 'next-10s');
  t.true(resolvePath(c, c.playlist.path).endsWith('/Music/Playlist.m3u8'));
  t.is(c.audio.sample_rate, 48000);
});

test('an unknown key is rejected naming the file and the key', (t) => {
  const e = errorOf('[audio]\nvolum = 3\n');
  t.true(e.message.includes('/etc/jaudiosync/config.toml'));
  t.true(e.message.includes('"audio.volum"'), e.message);
  const top = errorOf('[audoi]\n');
  t.true(top.message.includes('"audoi"') && top.message.includes('top level'), top.message);
});

test('a wrong type names the key, the value and what is expected', (t) => {
  const e = errorOf('[gps]\nbaud = "9600"\n');
  t.regex(e.message, /gps\.baud = "9600": expected number, got string/);
});

test('impossible values are rejected with what is expected', (t) => {
  t.regex(errorOf('[gps]\nbaud = 1234\n').message, /gps\.baud = 1234: expected a standard baud rate/);
  t.regex(errorOf('[audio]\nsample_rate = 12345\n').message, /audio\.sample_rate = 12345: expected 44100, 48000/);
  t.regex(errorOf('[audio]\nperiod_frames = 300\n').message, /power of two/);
  t.regex(
    errorOf('[hardware]\nmode = "maybe"\n').message,
    /hardware\.mode = "maybe": expected one of "auto", "real", "simulated"/,
  );
  t.regex(
    errorOf('[schedule]\nstart = "2026-06-27T18:55:00"\n').message,
    /schedule\.start.*ISO 8601 instant with offset/,
  );
});

test('broken TOML says where', (t) => {
  t.regex(errorOf('[audio\nrate = 3\n').message, /not valid TOML at line 1/);
});

test('a missing config file says so and how to run without one', (t) => {
  const e = t.throws(() => loadConfigFile('/nonexistent/jaudiosync.toml'), { instanceOf: ConfigError });
  t.regex(e!.message, /\/nonexistent\/jaudiosync\.toml.*file not found/s);
});

test('relative paths resolve against the config file folder', (t) => {
  const dir = tempDir('jas-cfg-');
  const file = join(dir, 'c.toml');
  writeFileSync(file, '[playlist]\npath = "songs/list.m3u8"\ngap_ms = 500\n');
  const c = loadConfigFile(file);
  t.is(resolvePath(c, c.playlist.path), join(dir, 'songs/list.m3u8'));
  t.is(c.playlist.gap_ms, 500);
});

test('start specs: next whole 10 s at least 5 s away, relative, absolute with offset', (t) => {
  const next = parseStartSpec('next-10s')!;
  t.is(resolveStart(next, 1000n * S + 4n * S), 1010n * S); // 1004 -> earliest 1009 -> 1010
  t.is(resolveStart(next, 1000n * S + 6n * S), 1020n * S); // 1006 -> earliest 1011 -> 1020
  t.is(resolveStart(next, 1005n * S), 1010n * S); // exactly 5 s away is allowed
  t.is(resolveStart(parseStartSpec('+2.5')!, 100n * S), 102n * S + 500_000_000n);
  t.is(
    resolveStart(parseStartSpec('2026-06-27T18:55:00+02:00')!, 0n),
    BigInt(Date.UTC(2026, 5, 27, 16, 55)) * 1_000_000n,
  );
  t.is(parseStartSpec('2026-06-27T18:55:00'), undefined, 'a local time without offset differs per device');
  t.is(parseStartSpec('next-0s'), undefined);
});

test('the shipped example config is valid and states the defaults (real hardware); only the embedded demo default is "auto"', (t) => {
  const example = loadConfigFile(join(PACKAGE_DIR, 'examples', 'config.toml'));
  const def = parseConfig('', 'defaults', PACKAGE_DIR);
  t.is(example.hardware.mode, 'real', 'what install writes: a ride device never runs on twins unasked');
  t.is(embeddedConfig().hardware.mode, 'auto');
  const { source: _a, baseDir: _b, playlist: pa, ...exampleRest } = example;
  const { source: _c, baseDir: _d, playlist: pd, ...defaultRest } = def;
  t.deepEqual(exampleRest, defaultRest);
  t.is(pa.gap_ms, pd.gap_ms);
});
