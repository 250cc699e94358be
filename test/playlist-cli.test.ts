import test from 'ava';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_DIR } from '../src/service/config.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

/** `jaudiosync playlist` on a playlist as people have them: VLC escapes, Latin-1, a summary line. */

const FLAC = join(PACKAGE_DIR, 'Music', '01 - Click Track.flac');

test('playlist: a Latin-1 file with a VLC percent-encoded entry is read, said so, and summed up', async (t) => {
  const dir = tempDir('jas-plcli-');
  mkdirSync(join(dir, 'sub dir'));
  copyFileSync(FLAC, join(dir, 'sub dir', 'a.flac'));
  copyFileSync(FLAC, join(dir, 'Chéri.flac'));
  writeFileSync(
    join(dir, 'l.m3u'),
    Buffer.concat([Buffer.from('#EXTM3U\nsub%20dir/a.flac\nCh'), Buffer.from([0xe9]), Buffer.from('ri.flac\n')]),
  );
  const r = await runCli(['playlist', join(dir, 'l.m3u')]);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /^note: .*l\.m3u is not UTF-8: read as Latin-1\/Windows-1252/);
  t.regex(
    r.stdout,
    /sub dir\/a\.flac\n\s+FLAC 48000 Hz 30\.0 s .*\n\s+\(percent-encoded \(as VLC writes it\): read as "sub dir\/a\.flac"\)/,
  );
  t.regex(r.stdout, /Chéri\.flac\n\s+FLAC 48000 Hz 30\.0 s/);
  t.regex(r.stdout, /\n2 entries, total length 1:00, no problems\n$/);
  const j = JSON.parse((await runCli(['playlist', join(dir, 'l.m3u'), '--json'])).stdout) as {
    encoding: string;
    summary: string;
    entries: unknown[];
  };
  t.is(j.encoding, 'windows-1252');
  t.is(j.summary, '2 entries, total length 1:00, no problems');
  t.is(j.entries.length, 2);
});
