import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PACKAGE_DIR } from '../src/service/config.js';
import { tempDir } from './helpers/tmp.js';

/**
 * The unit file is valid for systemd and hardened (exposure <= 3.0); the installer is idempotent,
 * never overwrites a config, prints (or, asked, adds) the boot-config lines, and uninstalls.
 * The installer runs against a folder (--root), never the machine running the tests.
 */

const run = promisify(execFile);
const UNIT = join(PACKAGE_DIR, 'systemd', 'jaudiosync.service');
const MAX_EXPOSURE = 3.0;

/** The unit as it would be installed here: this node, this checkout. */
function localUnit(): string {
  const dir = tempDir('jas-unit-');
  const path = join(dir, 'jaudiosync.service');
  writeFileSync(
    path,
    readFileSync(UNIT, 'utf8').replace('/usr/bin/node /opt/jaudiosync', `${process.execPath} ${PACKAGE_DIR}`),
  );
  return path;
}

test('systemd-analyze verify accepts the unit', async (t) => {
  const r = await run('systemd-analyze', ['verify', localUnit()]).catch((e: { stderr: string; code: number }) => e);
  t.falsy('code' in r && r.code, 'stderr' in r ? r.stderr : '');
  t.notRegex(r.stderr ?? '', /jaudiosync\.service:\d+:/, 'no warnings about our lines');
});

test(`systemd-analyze security rates the unit's exposure <= ${MAX_EXPOSURE}`, async (t) => {
  const r = await run('systemd-analyze', ['security', '--offline=true', localUnit()]).catch(
    (e: { stdout: string }) => e,
  );
  const m = /Overall exposure level for jaudiosync\.service: (\d+\.\d+)/.exec(r.stdout ?? '');
  t.truthy(m, r.stdout);
  t.log(`exposure ${m![1]}`);
  t.true(Number(m![1]) <= MAX_EXPOSURE);
  // The properties the issue names, each present.
  const unit = readFileSync(UNIT, 'utf8');
  for (const line of [
    'User=jaudiosync',
    'Restart=always',
    'ProtectSystem=strict',
    'ProtectHome=yes',
    'PrivateTmp=yes',
    'NoNewPrivileges=yes',
    'DevicePolicy=closed',
    'StateDirectory=jaudiosync',
    'RuntimeDirectory=jaudiosync',
    'LimitRTPRIO=',
  ]) {
    t.regex(unit, new RegExp(`^${line}`, 'm'), line);
  }
});

function fakeRoot(bootConfig: string) {
  const root = tempDir('jas-root-');
  mkdirSync(join(root, 'etc'));
  mkdirSync(join(root, 'boot', 'firmware'), { recursive: true });
  writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\naudio:x:29:\ndialout:x:20:\n');
  writeFileSync(join(root, 'etc', 'shadow'), 'root:*:19000:0:99999:7:::\n');
  writeFileSync(join(root, 'etc', 'gshadow'), 'root:*::\naudio:*::\ndialout:*::\n');
  writeFileSync(join(root, 'boot', 'firmware', 'config.txt'), bootConfig);
  return root;
}

const install = (root: string, ...args: string[]) =>
  run('bash', [join(PACKAGE_DIR, 'systemd', 'install.sh'), '--root', root, ...args]);

test('install: user, groups, project, config, unit; twice changes nothing; boot-config lines printed, then added with a backup', async (t) => {
  const root = fakeRoot('dtparam=audio=on\nenable_uart=1\ndtoverlay=i2c-rtc,ds3231\n');
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const first = await install(root);
  t.regex(first.stdout, /created user jaudiosync/);
  t.regex(
    first.stdout,
    /add these lines to .*config\.txt[\s\S]*dtparam=i2c_arm=on[\s\S]*dtoverlay=pps-gpio,gpiopin=18/,
  );
  t.notRegex(first.stdout, /^\s+enable_uart=1$/m, 'a line already there is not asked for');
  t.regex(first.stdout, /WARNING: .*i2c-rtc.*takes the DS3231 at 0x68/);
  const passwd = () => readFileSync(join(root, 'etc', 'passwd'), 'utf8');
  const group = () => readFileSync(join(root, 'etc', 'group'), 'utf8');
  t.regex(passwd(), /^jaudiosync:x:\d+:\d+::\/var\/lib\/jaudiosync:\/usr\/sbin\/nologin$/m);
  for (const g of ['audio', 'dialout', 'i2c', 'gpio'])
    t.regex(group(), new RegExp(`^${g}:x:\\d+:.*jaudiosync`, 'm'), g);
  t.true(existsSync(join(root, 'opt', 'jaudiosync', 'dist', 'src', 'cli', 'main.js')));
  t.true(existsSync(join(root, 'var', 'lib', 'jaudiosync', 'Music', 'Playlist.m3u8')));
  const unit = readFileSync(join(root, 'etc', 'systemd', 'system', 'jaudiosync.service'), 'utf8');
  t.regex(
    unit,
    /^ExecStart=\S+node \/opt\/jaudiosync\/bin\/jaudiosync\.js run --service$/m,
    'no --config: the boot partition file, else /etc/jaudiosync/config.toml',
  );

  // The rider edits the config; a second install keeps it and adds no second user.
  const cfg = join(root, 'etc', 'jaudiosync', 'config.toml');
  writeFileSync(cfg, readFileSync(cfg, 'utf8') + '\n# mine\n');
  const before = { passwd: passwd(), group: group() };
  const second = await install(root);
  t.regex(second.stdout, /kept the existing .*config\.toml/);
  t.regex(second.stdout, /unit unchanged/);
  t.regex(readFileSync(cfg, 'utf8'), /# mine/);
  t.deepEqual({ passwd: passwd(), group: group() }, before);

  await install(root, '--edit-boot-config');
  const boot = readFileSync(join(root, 'boot', 'firmware', 'config.txt'), 'utf8');
  for (const l of ['dtparam=i2c_arm=on', 'dtoverlay=pps-gpio,gpiopin=18', 'dtoverlay=pps-gpio,gpiopin=17'])
    t.is(boot.split('\n').filter((x) => x === l).length, 1, l);
  t.is(boot.split('\n').filter((x) => x === 'enable_uart=1').length, 1);
  t.true(
    readdirSync(join(root, 'boot', 'firmware')).some((f) => f.startsWith('config.txt.jaudiosync-backup-')),
    'backed up first',
  );
  const again = await install(root, '--edit-boot-config');
  t.regex(again.stdout, /has I2C, the UART and PPS/);
  t.is(readFileSync(join(root, 'boot', 'firmware', 'config.txt'), 'utf8'), boot, 'a second edit adds nothing');
});

test('uninstall keeps config and state; --purge removes them and the user', async (t) => {
  const root = fakeRoot('dtparam=i2c_arm=on\n');
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  await install(root);
  const u = await install(root, '--uninstall');
  t.regex(u.stdout, /kept .*etc\/jaudiosync/);
  t.false(existsSync(join(root, 'etc', 'systemd', 'system', 'jaudiosync.service')));
  t.false(existsSync(join(root, 'opt', 'jaudiosync')));
  t.true(existsSync(join(root, 'etc', 'jaudiosync', 'config.toml')));
  await install(root, '--uninstall');
  t.pass('a second uninstall is fine');
  await install(root, '--uninstall', '--purge');
  t.false(existsSync(join(root, 'etc', 'jaudiosync')));
  t.false(existsSync(join(root, 'var', 'lib', 'jaudiosync')));
  t.notRegex(readFileSync(join(root, 'etc', 'passwd'), 'utf8'), /^jaudiosync:/m);
});
