import test from 'ava';
import { rmSync } from 'node:fs';
import { readStatus, startStatusServer } from '../src/service/status-server.js';
import { VirtualClock } from '../src/time/clock.js';
import { tempDir } from './helpers/tmp.js';

/** The status socket reuses one snapshot for a burst of clients, but never across a change a user must see. */

test('a burst within STATUS_REUSE_MS shares one snapshot; a counted change (a problem, a reload) is in the very next status', async (t) => {
  const dir = tempDir('jas-stsrv-');
  const clock = new VirtualClock(0n);
  let built = 0,
    changes = 0;
  const problems: string[] = [];
  const server = await startStatusServer(
    dir,
    () => {
      built++;
      return { problems: [...problems] };
    },
    clock,
    () => changes,
  );
  t.teardown(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  for (let i = 0; i < 5; i++) await readStatus(server.path);
  t.is(built, 1, 'five clients at the same instant: one snapshot');
  problems.push('SIGHUP: the config could not be reloaded');
  t.deepEqual(await readStatus(server.path), { problems: [] }, 'an uncounted change waits for the next snapshot');
  changes++;
  t.deepEqual(await readStatus(server.path), { problems: ['SIGHUP: the config could not be reloaded'] });
  t.is(built, 2);
  clock.advance(60_000_000n);
  await readStatus(server.path);
  t.is(built, 3, 'past STATUS_REUSE_MS: built afresh');
});
