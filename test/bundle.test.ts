import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PACKAGE_DIR } from '../src/service/config.js';
import { tempDir } from './helpers/tmp.js';

/**
 * The offline bundle: scripts/bundle.sh packs the built project with its production node_modules;
 * unpacked alone in another folder it runs (its own wrapper, no compiler, no network, no sources)
 * and installs into a folder with `jaudiosync install --root`. The arm64 check does the same in an
 * emulated arm64 guest with the network cut, with the Debian packages (--debs) and the demo.
 */

const run = promisify(execFile);

test('bundle: built project + production node_modules; unpacked elsewhere it runs and installs', async (t) => {
  const out = tempDir('jas-bundle-');
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const b = await run('bash', [join(PACKAGE_DIR, 'scripts', 'bundle.sh'), '--out', out], { maxBuffer: 1 << 24 });
  const file = readdirSync(out).find((f) => /^jaudiosync-.*\.tar\.gz$/.test(f));
  t.truthy(file, b.stdout + b.stderr);
  t.regex(b.stdout, /wrote .*jaudiosync-.*\.tar\.gz \(\S+\): on the Pi: tar -xzf/);

  const where = join(out, 'x');
  mkdirSync(where);
  await run('tar', ['-xzf', join(out, file!), '-C', where]);
  const root = join(where, 'jaudiosync');
  for (const p of [
    'dist/src/cli/main.js',
    'bin/jaudiosync.js',
    'Music/Playlist.m3u8',
    'systemd/install.sh',
    'node_modules/audify',
    'node_modules/serialport',
    'node_modules/smol-toml',
    'BUNDLE.txt',
    'jaudiosync',
  ]) {
    t.true(existsSync(join(root, p)), p);
  }
  for (const dev of ['typescript', 'ava', 'tsx', 'fast-check'])
    t.false(existsSync(join(root, 'node_modules', dev)), `${dev} (dev only) stays behind`);
  t.false(existsSync(join(root, 'test')), 'no tests');
  t.false(existsSync(join(root, 'src')), 'no TypeScript sources: it runs from dist');
  t.true(
    readdirSync(join(root, 'node_modules', 'audify'), { recursive: true }).some((f) => String(f).endsWith('.node')),
    "audify's compiled addon",
  );

  // It runs from there: the CLI, a config check on the bundled playlist (ffmpeg found, files there).
  const help = await run(join(root, 'jaudiosync'), ['--help']);
  t.regex(help.stdout, /Usage: jaudiosync/);
  const cfg = join(where, 'c.toml');
  writeFileSync(
    cfg,
    `[playlist]\npath = "${join(root, 'Music', 'Playlist.m3u8')}"\n[audio]\noutput = "wav"\n[service]\nstate_dir = "${join(where, 'state')}"\n`,
  );
  const check = await run(join(root, 'jaudiosync'), ['config', 'check', cfg]);
  t.regex(check.stdout, /# next start/);

  // `jaudiosync install` from the bundle (into a folder: --root) needs no Node to start.
  const sys = join(where, 'sysroot');
  mkdirSync(join(sys, 'etc'), { recursive: true });
  writeFileSync(join(sys, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  writeFileSync(join(sys, 'etc', 'group'), 'root:x:0:\naudio:x:29:\ndialout:x:20:\n');
  writeFileSync(join(sys, 'etc', 'shadow'), 'root:*:19000:0:99999:7:::\n');
  writeFileSync(join(sys, 'etc', 'gshadow'), 'root:*::\naudio:*::\ndialout:*::\n');
  // Its Debian packages: only those not installed are put in (with --root, only said).
  for (const name of ['jas-test-missing', 'bash']) {
    const pkg = join(where, name);
    mkdirSync(join(pkg, 'DEBIAN'), { recursive: true });
    writeFileSync(
      join(pkg, 'DEBIAN', 'control'),
      `Package: ${name}\nVersion: 1.0\nArchitecture: all\nMaintainer: test <t@example.invalid>\nDescription: test\n`,
    );
    mkdirSync(join(root, 'debs'), { recursive: true });
    await run('dpkg-deb', ['--build', pkg, join(root, 'debs', `${name}_1.0_all.deb`)]);
  }
  const inst = await run(join(root, 'jaudiosync'), ['install', '--root', sys]);
  t.regex(
    inst.stdout,
    /would install 1 Debian packages from .*debs \(not with --root\)/,
    'bash is installed, the other is not',
  );
  t.regex(inst.stdout, /copied the project to .*opt\/jaudiosync/);
  t.false(existsSync(join(sys, 'opt', 'jaudiosync', 'debs')), 'the packages are not copied to /opt');
  t.true(existsSync(join(sys, 'opt', 'jaudiosync', 'node_modules', 'audify')));
  t.regex(
    readFileSync(join(sys, 'etc', 'systemd', 'system', 'jaudiosync.service'), 'utf8'),
    /^ExecStart=\S*node \/opt\/jaudiosync\/bin\/jaudiosync\.js run --service$/m,
  );
});
