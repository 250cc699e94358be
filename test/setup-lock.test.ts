import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_DIR } from '../src/service/config.js';
import { tempDir } from './helpers/tmp.js';

/**
 * setup.sh waits for another package manager (a fresh Pi's apt-daily or unattended-upgrades) instead
 * of failing on dpkg's lock or taking its half-done install for an interrupted one. Run on a lock
 * file of the test's own, held through a real fcntl lock (as dpkg takes it) by a real process.
 */

const LIB = join(PACKAGE_DIR, 'scripts', 'lib', 'dpkg-lock.sh');

/** A process holding an fcntl write lock on `file` for `holdS` seconds, then touching `released`. */
async function holder(file: string, holdS: number, released: string): Promise<ChildProcess> {
  const py = `import fcntl,sys,time
f = open(sys.argv[1], 'w'); fcntl.lockf(f, fcntl.LOCK_EX); print('held', flush=True)
time.sleep(float(sys.argv[2])); open(sys.argv[3], 'w').close()`;
  const p = spawn('python3', ['-c', py, file, String(holdS), released], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    p.stdout!.once('data', () => resolve());
    p.once('exit', (code) => reject(new Error(`the lock holder exited ${code}`)));
  });
  return p;
}

/**
 * wait_dpkg_lock in bash as setup.sh runs it (set -euo pipefail, its stdout to /dev/null as the
 * apt-get lines it guards), on `file` beside a lock file that does not exist (a fresh system's
 * lists lock); what it said, its exit code, and whether `released` existed when it returned.
 * `prelude` may stub a function after the library is sourced.
 */
function waitLock(
  file: string,
  waitS: number,
  released: string,
  prelude = '',
): Promise<{ out: string; code: number; after: boolean }> {
  const script = `set -euo pipefail; say() { printf 'setup: %s\\n' "$*"; }
. "$1"; ${prelude}
wait_dpkg_lock >/dev/null; if [ -e "$2" ]; then echo RELEASED-BEFORE-RETURN; fi; exit 0`;
  const p = spawn('bash', ['-c', script, 'bash', LIB, released], {
    env: {
      ...process.env,
      JAUDIOSYNC_DPKG_LOCK_FILES: `${file}.none ${file}`,
      JAUDIOSYNC_DPKG_LOCK_WAIT_S: String(waitS),
    },
  });
  let out = '';
  p.stdout.on('data', (b: Buffer) => (out += b.toString()));
  p.stderr.on('data', (b: Buffer) => (out += b.toString()));
  return new Promise((resolve) =>
    p.on('exit', (code) => resolve({ out, code: code ?? -1, after: out.includes('RELEASED-BEFORE-RETURN') })),
  );
}

function files() {
  const dir = tempDir('jas-dpkg-lock-');
  const lock = join(dir, 'lock-frontend');
  writeFileSync(lock, '');
  return { lock, released: join(dir, 'released') };
}

test('another package manager holding the lock: setup says who and waits until it lets go', async (t) => {
  const { lock, released } = files();
  const h = await holder(lock, 2, released);
  const r = await waitLock(lock, 30, released);
  t.is(r.code, 0, r.out);
  t.regex(r.out, new RegExp(`another package manager holds apt's or dpkg's lock \\(pid ${h.pid}: .*python3`));
  t.true(r.after, `it returned only once the holder had let go:\n${r.out}`);
  t.regex(r.out, /the other package manager finished after \d+ s/);
});

test('a lock held beyond the wait: setup says who still holds it and what to do, and exits 1', async (t) => {
  const { lock, released } = files();
  const h = await holder(lock, 30, released);
  t.teardown(() => h.kill());
  const r = await waitLock(lock, 1, released);
  t.is(r.code, 1, r.out);
  t.regex(
    r.out,
    new RegExp(`pid ${h.pid} still holds the lock after 1 s: let it finish \\(or stop it\\), then run this again`),
  );
  t.false(existsSync(released));
});

test('a holder gone before it could be named: no error under set -e, only the wait', async (t) => {
  const { lock, released } = files();
  // /proc/locks named a pid that had exited by the time ps looked (twice), then nobody.
  // (It runs in a $(...) subshell: the count lives in a file.)
  const stub = [
    'count="$2.count"; echo 0 > "$count"',
    'dpkg_lock_holder() { local n; n=$(($(cat "$count") + 1)); echo "$n" > "$count"',
    '  if [ "$n" -le 2 ]; then echo 999999999; else return 1; fi; }',
  ].join('\n');
  const r = await waitLock(lock, 30, released, stub);
  t.is(r.code, 0, r.out);
  t.regex(r.out, /holds apt's or dpkg's lock \(pid 999999999\): waiting/);
  t.regex(r.out, /finished after \d+ s/);
});

test('nobody holding the lock: no wait, nothing said', async (t) => {
  const { lock, released } = files();
  const r = await waitLock(lock, 30, released);
  t.is(r.code, 0);
  t.is(r.out, '');
});
